//! The edge as a whole ([`Edge`]: the live distribution config and its updates, its origins,
//! one cache per location and the shared regional tier, the invalidations) and the viewer
//! request pipeline of one location ([`Location::handle`]): the live config (loaded once) →
//! default root object → behavior → guard (the WAF hook, with the body's head unless the
//! headers already decide a refusal) → viewer protocol and allowed methods → location cache →
//! regional tier (coalesced) → origin; custom error responses; invalidation after unsafe
//! methods (RFC 9111 §4.4).
//!
//! Must not: parse the wire formats of the stored responses (`respond`) or decide
//! cacheability (`freshness`).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use nuvem_aws::Body;

use crate::Error;
use crate::cache::{Tier, key_for};
use crate::cluster::{self, Shared};
use crate::config::{self, Live, Stored, UpdateError, WebAcls};
use crate::disk::DiskTier;
use crate::distribution::{Behavior, CustomError, Distribution, Names, OriginRef, ViewerProtocol};
use crate::entry::{Entry, strip_hop_by_hop};
use crate::freshness::RequestFacts;
use crate::guard::{Guard, peek};
use crate::invalidation::{Invalidation, InvalidationError, Invalidations, validate};
use crate::origin::{BucketOrigin, HttpOrigin, Origin, OriginProvider, Unavailable};
use crate::regional::{Cached, FetchReq, Fetched, Regional, add_surrogate_capability, add_via};
use crate::respond::{self, Viewer};

pub struct Edge {
    /// The manifest's distribution, as validated.
    manifest: Arc<Distribution>,
    /// What serves now: the manifest's distribution, or it with an UpdateDistribution
    /// applied (`config`). Loaded once per viewer request.
    live: ArcSwap<Live>,
    /// The manifest's WebACL guard (the one `new` was given).
    manifest_guard: Option<Arc<dyn Guard>>,
    /// Resolves other WebACL ids, and the manifest's WebACL ARN (set by the binary).
    web_acls: OnceLock<(Arc<dyn WebAcls>, String)>,
    /// Orders this node's updates and reloads of the config with their swaps.
    config_lock: Mutex<()>,
    /// One per behavior, in the same order.
    origins: Vec<Arc<dyn Origin>>,
    regional: Arc<Regional>,
    locations: Vec<Tier>,
    names: Vec<Arc<str>>,
    /// This process's invalidations, until the binary shares a store (`shared`).
    invalidations: Invalidations,
    /// The invalidations every node serving the distribution applies, in the store.
    shared: OnceLock<Shared>,
}

/// Sizes of the caches, for `/_nuvem/health`-style reporting and the memory benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierStats {
    pub name: String,
    pub entries: u64,
    pub bytes: u64,
}

impl Edge {
    /// Builds the edge: resolves each behavior's origin (in-process ones through `provider`).
    pub fn new(
        dist: Distribution,
        provider: &dyn OriginProvider,
        guard: Option<Arc<dyn Guard>>,
    ) -> Result<Arc<Self>, Error> {
        let mut origins: Vec<Arc<dyn Origin>> = Vec::new();
        // Built (and the extra CA checked) even without custom origins, so a bad bundle is
        // reported at start-up rather than never.
        let tls = crate::tls::client_config(dist.extra_ca_pem.as_deref())?;
        let mut by_url: Vec<(String, Arc<dyn Origin>)> = Vec::new();
        for b in &dist.behaviors {
            let o: Arc<dyn Origin> = match &b.origin {
                OriginRef::Url(u) => match by_url.iter().find(|(x, _)| x == u) {
                    // One pooled client per origin, shared by its behaviors.
                    Some((_, o)) => o.clone(),
                    None => {
                        let o: Arc<dyn Origin> = Arc::new(HttpOrigin::new(u, tls.clone())?);
                        by_url.push((u.clone(), o.clone()));
                        o
                    }
                },
                OriginRef::Bucket(name) => match provider.bucket_reader() {
                    Some(reader) => Arc::new(BucketOrigin {
                        bucket: name.clone(),
                        reader,
                    }),
                    None => Arc::new(Unavailable(format!(
                        "bucket {name:?}: the object store is not available to the edge"
                    ))),
                },
                OriginRef::Api(name) => provider.api(name).unwrap_or_else(|| {
                    Arc::new(Unavailable(format!(
                        "API {name:?}: the gateway is not available to the edge"
                    )))
                }),
                OriginRef::Function(name) => provider
                    .function_url(
                        name,
                        &format!("arn:aws:cloudfront::000000000000:distribution/{}", dist.id),
                    )
                    .unwrap_or_else(|| {
                        Arc::new(Unavailable(format!(
                            "function {name:?}: function URLs are not available to the edge"
                        )))
                    }),
            };
            origins.push(o);
        }
        let locations = dist
            .locations
            .iter()
            .map(|_| {
                Tier::new(
                    dist.location_cache_bytes,
                    Regional::max_object(dist.regional_memory_bytes),
                )
            })
            .collect();
        let names = dist
            .locations
            .iter()
            .map(|l| Arc::<str>::from(l.name.as_str()))
            .collect();
        let disk = match &dist.disk_dir {
            Some(dir) if dist.regional_disk_bytes > 0 => {
                let disk = DiskTier::open(dir, dist.regional_disk_bytes).map_err(|e| {
                    Error::Config(format!("the edge cache folder {}: {e}", dir.display()))
                })?;
                // Large bodies sent with `sendfile` are filed there too (see `sendfile`).
                crate::sendfile::file_in(dir);
                Some(disk)
            }
            _ => None,
        };
        let manifest = Arc::new(dist);
        Ok(Arc::new(Self {
            regional: Regional::new(manifest.regional_memory_bytes, disk),
            live: ArcSwap::from_pointee(config::manifest_live(
                &manifest,
                guard.clone(),
                "",
                SystemTime::now(),
            )),
            manifest,
            manifest_guard: guard,
            web_acls: OnceLock::new(),
            config_lock: Mutex::new(()),
            origins,
            locations,
            names,
            invalidations: Invalidations::default(),
            shared: OnceLock::new(),
        }))
    }

    /// The distribution as it serves now (the manifest's, or it updated through the API).
    pub fn distribution(&self) -> Arc<Distribution> {
        self.live.load().dist.clone()
    }

    pub(crate) fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// GetDistributionConfig: the live `DistributionConfig` document (with its namespace) and
    /// its ETag.
    pub fn distribution_config(&self) -> (String, String) {
        let live = self.live();
        let xml = crate::api_config::config_xml(
            &live.dist,
            live.meta(),
            " xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"",
        );
        (
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}"),
            live.etag.clone(),
        )
    }

    /// Lets UpdateDistribution name other WebACLs (`acls` resolves them) and says which one
    /// the manifest's guard applies (its ARN, shown as the config's `WebACLId`). Call once,
    /// before [`Self::load_config`].
    pub fn set_web_acls(&self, acls: Arc<dyn WebAcls>, manifest_web_acl_id: &str) {
        let _l = self.lock_config();
        if self
            .web_acls
            .set((acls, manifest_web_acl_id.to_string()))
            .is_ok()
            && self.live.load().version == 0
        {
            let started = self.live.load().modified;
            self.live.store(Arc::new(config::manifest_live(
                &self.manifest,
                self.manifest_guard.clone(),
                manifest_web_acl_id,
                started,
            )));
        }
    }

    fn lock_config(&self) -> std::sync::MutexGuard<'_, ()> {
        self.config_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn manifest_web_acl_id(&self) -> &str {
        self.web_acls.get().map_or("", |(_, id)| id.as_str())
    }

    /// The ETag of the manifest's config as it is (what a stored update was made on).
    fn manifest_etag(&self) -> String {
        let meta = crate::api_config::Meta {
            web_acl_id: self.manifest_web_acl_id(),
            comment: crate::api_config::MANIFEST_COMMENT,
        };
        crate::api_config::etag(&crate::api_config::config_xml(&self.manifest, meta, ""), 0)
    }

    /// The guard of a WebACL id: none for empty, the manifest's for its own.
    fn guard_for(&self, id: &str) -> Result<Option<Arc<dyn Guard>>, String> {
        if id.is_empty() {
            return Ok(None);
        }
        if id == self.manifest_web_acl_id() {
            return Ok(self.manifest_guard.clone());
        }
        match self.web_acls.get() {
            Some((acls, _)) => acls.guard(id).map(Some),
            None => Err("this edge has no WAF to take WebACLs from".into()),
        }
    }

    /// The manifest's config with a stored update applied; `None` (logged) when the update
    /// no longer applies.
    fn live_of(&self, stored: &Stored) -> Option<Live> {
        let dist = stored.update.apply(&self.manifest)?;
        let guard = match self.guard_for(&stored.update.web_acl_id) {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(web_acl = %stored.update.web_acl_id, error = %e,
                    "edge: the updated distribution's WebACL is unavailable; keeping the manifest's config");
                return None;
            }
        };
        Some(Live::new(
            Arc::new(dist),
            guard,
            stored.update.web_acl_id.clone(),
            stored.update.comment.clone(),
            stored.version,
            config::time_of(stored.modified_ms),
        ))
    }

    /// UpdateDistribution: checks `if_match` against the current ETag, reads the
    /// `DistributionConfig` in `body`, persists it (when the edge shares a store) and applies
    /// it to the next viewer request. Store calls block: call inside
    /// [`nuvem_store::Store::run`] once shared.
    pub fn update_distribution(
        &self,
        if_match: Option<&str>,
        body: &[u8],
    ) -> Result<(), UpdateError> {
        let if_match = if_match
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(UpdateError::MissingIfMatch)?;
        let _l = self.lock_config();
        // Without a store, this node's config is the only one. With one, the stored ETag
        // decides (in the write transaction): a node that has not yet heard of another's
        // update still takes an If-Match made from it.
        if self.store().is_none() && if_match != self.live.load().etag {
            return Err(UpdateError::PreconditionFailed);
        }
        let update = crate::api_update::parse(
            body,
            &self.manifest,
            &crate::api_config::origin_ids(&self.manifest),
            crate::api_config::default_index(&self.manifest),
        )?;
        // Resolved before anything is stored: an unknown WebACL is refused.
        let guard = self.guard_for(&update.web_acl_id).map_err(|e| {
            UpdateError::Refused(crate::api_update::Refusal {
                code: "InvalidWebACLId",
                message: format!(
                    "WebACLId {:?} does not name a WebACL of scope CLOUDFRONT: {e}",
                    update.web_acl_id
                ),
            })
        })?;
        let dist = Arc::new(update.apply(&self.manifest).ok_or_else(|| {
            UpdateError::Unavailable("the update does not fit the manifest's behaviors".into())
        })?);
        let base = self.manifest_etag();
        let modified_ms = config::now_ms();
        // Pure: the transaction body may run more than once.
        let make = |version: u64| -> (Stored, Live) {
            let live = Live::new(
                dist.clone(),
                guard.clone(),
                update.web_acl_id.clone(),
                update.comment.clone(),
                version,
                config::time_of(modified_ms),
            );
            let stored = Stored {
                base: base.clone(),
                version,
                modified_ms,
                etag: live.etag.clone(),
                update: update.clone(),
            };
            (stored, live)
        };
        let live = match self.store() {
            Some(store) => {
                let key = config::key(&self.manifest.id);
                store.transact(|tx| {
                    let prev: Option<Stored> =
                        tx.get(&key)?.and_then(|v| serde_json::from_slice(&v).ok());
                    let expected = match &prev {
                        Some(p) if p.base == base => p.etag.as_str(),
                        _ => base.as_str(),
                    };
                    if expected != if_match {
                        return Err(UpdateError::PreconditionFailed);
                    }
                    let version = prev.as_ref().map_or(0, |p| p.version) + 1;
                    let (stored, live) = make(version);
                    let bytes = serde_json::to_vec(&stored)
                        .map_err(|e| UpdateError::Unavailable(e.to_string()))?;
                    tx.put(&key, &bytes);
                    nuvem_store::cluster::touch(tx, config::TOPIC)?;
                    Ok(live)
                })?
            }
            None => make(self.live.load().version + 1).1,
        };
        self.live.store(Arc::new(live));
        Ok(())
    }

    /// Applies the stored config (an UpdateDistribution made here before a restart, or on
    /// another node): at start-up after [`Self::share_invalidations`], and on change
    /// notices. `at_start` drops a stored update made on another manifest. Blocks on the
    /// store.
    pub fn load_config(&self, at_start: bool) {
        let Some(store) = self.store() else { return };
        let _l = self.lock_config();
        let key = config::key(&self.manifest.id);
        let stored: Option<Stored> = match store.get(&key) {
            Ok(v) => v.and_then(|v| match serde_json::from_slice(&v) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "edge: the stored distribution config is unreadable; ignoring it");
                    None
                }
            }),
            Err(e) => {
                tracing::warn!(error = %e, "edge: reading the stored distribution config failed");
                return;
            }
        };
        let base = self.manifest_etag();
        let current = self.live.load_full();
        match stored {
            Some(s) if s.base == base => {
                if s.etag != current.etag
                    && let Some(live) = self.live_of(&s)
                {
                    tracing::info!(etag = %live.etag, "edge: the distribution's updated config applies");
                    self.live.store(Arc::new(live));
                }
            }
            other => {
                if let Some(s) = other
                    && at_start
                {
                    tracing::warn!(
                        "edge: nuvem.toml's [distribution] changed since the last UpdateDistribution; the manifest wins and the stored update is dropped"
                    );
                    let dropped = store.transact(|tx| {
                        let still = tx
                            .get(&key)?
                            .and_then(|v| serde_json::from_slice::<Stored>(&v).ok())
                            .is_some_and(|x| x.etag == s.etag);
                        if still {
                            tx.delete(&key);
                            nuvem_store::cluster::touch(tx, config::TOPIC)?;
                        }
                        Ok::<_, nuvem_store::Error>(())
                    });
                    if let Err(e) = dropped {
                        tracing::warn!(error = %e, "edge: dropping the stored distribution config failed");
                    }
                }
                if current.version != 0 {
                    self.live.store(Arc::new(config::manifest_live(
                        &self.manifest,
                        self.manifest_guard.clone(),
                        self.manifest_web_acl_id(),
                        SystemTime::now(),
                    )));
                }
            }
        }
    }

    /// The handler of location `index` (as listed in the distribution).
    pub fn location(self: &Arc<Self>, index: usize) -> Option<Location> {
        (index < self.locations.len()).then(|| Location {
            edge: self.clone(),
            index,
        })
    }

    /// Keeps invalidations in `store`, shared with every other node that serves this
    /// distribution from it, as node `node` (see `cluster`): replays on the disk tier the
    /// batches made after its oldest file was written, then registers the node. Call once,
    /// at start-up (it may block on the store); from then on the store calls of
    /// [`Self::invalidate`], [`Self::get_invalidation`], [`Self::list_invalidations`] and
    /// [`Self::sync_invalidations`] belong inside [`nuvem_store::Store::run`].
    pub fn share_invalidations(
        &self,
        store: nuvem_store::Store,
        node: &str,
    ) -> Result<(), InvalidationError> {
        let shared = Shared::new(store, &self.manifest.id, node);
        shared.join(self.regional.oldest_disk_file(), |patterns, before| {
            self.regional.invalidate_disk_before(patterns, before)
        })?;
        let _ = self.shared.set(shared);
        Ok(())
    }

    /// The store the invalidations are kept in, once shared.
    pub fn store(&self) -> Option<&nuvem_store::Store> {
        self.shared.get().map(Shared::store)
    }

    /// Follows the invalidations other nodes make: on a change notice, applies them.
    pub fn follow(self: &Arc<Self>, watcher: &nuvem_store::cluster::Watcher) {
        let me = Arc::downgrade(self);
        watcher.subscribe(cluster::TOPIC, move |_| {
            if let Some(me) = me.upgrade() {
                me.sync_invalidations();
            }
        });
        let me = Arc::downgrade(self);
        watcher.subscribe(config::TOPIC, move |_| {
            if let Some(me) = me.upgrade() {
                me.load_config(false);
            }
        });
    }

    /// Applies the stored invalidations this node has not applied yet, then acknowledges
    /// them and heartbeats (every [`cluster::HEARTBEAT`], and on a change notice).
    pub fn sync_invalidations(&self) {
        if let Some(shared) = self.shared.get()
            && let Err(e) = shared.catch_up(|patterns| self.clear(patterns))
        {
            tracing::debug!(error = %e, "edge: syncing invalidations failed; retrying");
        }
    }

    /// Removes this node from the shared invalidations (a clean shutdown).
    pub fn leave(&self) {
        if let Some(shared) = self.shared.get()
            && let Err(e) = shared.leave()
        {
            tracing::warn!(error = %e, "edge: leaving the shared invalidations failed");
        }
    }

    /// Clears the paths from every location and the regional tier, then records the
    /// invalidation (CreateInvalidation). With shared invalidations, records it first, then
    /// applies it here; other nodes apply it on the change notice, and it is `Completed`
    /// once every live node has.
    pub fn invalidate(
        &self,
        caller_reference: &str,
        paths: Vec<String>,
    ) -> Result<Invalidation, InvalidationError> {
        validate(&paths)?;
        if let Some(shared) = self.shared.get() {
            let seq = shared.create(caller_reference, &paths)?;
            shared.catch_up(|patterns| self.clear(patterns))?;
            return shared.by_seq(seq);
        }
        if let Some(existing) = self.invalidations.existing(caller_reference, &paths)? {
            return Ok(existing);
        }
        self.clear(&paths);
        Ok(self.invalidations.record(caller_reference, paths))
    }

    fn clear(&self, patterns: &[String]) {
        self.regional.fills.invalidate_patterns(patterns);
        self.regional.invalidate(patterns);
        for t in &self.locations {
            t.invalidate(patterns);
        }
        self.regional.forget_pass();
    }

    pub fn get_invalidation(&self, id: &str) -> Result<Invalidation, InvalidationError> {
        match self.shared.get() {
            Some(shared) => shared.get(id),
            None => self.invalidations.get(id),
        }
    }

    pub fn list_invalidations(&self) -> Result<Vec<Invalidation>, InvalidationError> {
        match self.shared.get() {
            Some(shared) => shared.list(),
            None => Ok(self.invalidations.list()),
        }
    }

    pub fn stats(&self) -> Vec<TierStats> {
        let mut out: Vec<TierStats> = self
            .locations
            .iter()
            .zip(&self.names)
            .map(|(t, n)| TierStats {
                name: n.to_string(),
                entries: t.entry_count(),
                bytes: t.weighted_size(),
            })
            .collect();
        out.push(TierStats {
            name: "regional".into(),
            entries: self.regional.tier.entry_count(),
            bytes: self.regional.tier.weighted_size(),
        });
        out
    }

    fn fetch_req(
        &self,
        live: &Live,
        bi: usize,
        key: crate::entry::CacheKey,
        pq: String,
        parts: &Parts,
        pop: &Arc<str>,
    ) -> FetchReq {
        let b = &live.dist.behaviors[bi];
        FetchReq {
            key,
            path_and_query: pq,
            headers: parts.headers.clone(),
            origin: self.origins[bi].clone(),
            policy: b.policy.clone(),
            facts: RequestFacts {
                had_authorization: parts.headers.contains_key(header::AUTHORIZATION),
                cookies_in_key: b.policy.cookies != Names::None,
                error_caching_ttl: None,
            },
            error_ttls: live.error_ttls.clone(),
            pop: pop.clone(),
        }
    }
}

/// What the origin is asked for: the (possibly rewritten) path and the viewer's query.
fn path_and_query(path: &str, parts: &Parts) -> String {
    match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

/// One edge location: its own cache in front of the shared regional tier.
#[derive(Clone)]
pub struct Location {
    edge: Arc<Edge>,
    index: usize,
}

/// A looked-up response before it is rendered.
enum Got {
    Entry(Arc<Entry>, Cached),
    Pass(Response<Body>),
    Failed(Error),
}

impl Location {
    pub fn name(&self) -> &str {
        &self.edge.names[self.index]
    }

    /// Serves one viewer request. `secure` says whether it came over HTTPS.
    pub async fn handle(&self, req: Request<Body>, secure: bool) -> Response<Body> {
        self.handle_with_behavior(req, secure).await.0
    }

    /// Serves one viewer request, and says which cache behavior answered it: its index in
    /// the distribution's behaviors (see [`Location::behavior_pattern`]), how the metrics
    /// count per behavior.
    pub async fn handle_with_behavior(
        &self,
        req: Request<Body>,
        secure: bool,
    ) -> (Response<Body>, usize) {
        let live = self.edge.live.load_full();
        let (parts, body) = req.into_parts();
        let mut path = parts.uri.path().to_string();
        if path == "/"
            && let Some(o) = &live.dist.default_root_object
        {
            path = format!("/{o}");
        }
        let (bi, _) = live.dist.behavior_for(&path);
        (self.serve(&live, bi, path, parts, body, secure).await, bi)
    }

    /// The path pattern of the behavior at `index` (`*` for the default behavior): a value
    /// of the distribution's configuration, never a viewer's path. Updates never change a
    /// behavior's pattern or place (`IllegalUpdate`), so an index keeps its pattern.
    pub fn behavior_pattern(&self, index: usize) -> Option<String> {
        let live = self.edge.live.load();
        live.dist.behaviors.get(index).map(|b| b.pattern.clone())
    }

    /// How many cache behaviors the distribution has.
    pub fn behavior_count(&self) -> usize {
        self.edge.live.load().dist.behaviors.len()
    }

    async fn serve(
        &self,
        live: &Live,
        bi: usize,
        path: String,
        parts: Parts,
        mut body: Body,
        secure: bool,
    ) -> Response<Body> {
        let edge = &self.edge;
        let pop = edge.names[self.index].clone();
        let behavior = &live.dist.behaviors[bi];
        // Refused on its headers alone (a method the behavior does not allow, plain HTTP
        // where HTTPS is required): the body is not read, so a viewer's `Expect:
        // 100-continue` gets the final status at once (RFC 9110 §10.1.1), not `100`.
        let refused = !behavior.methods.contains(&parts.method)
            || (!secure && behavior.viewer_protocol != ViewerProtocol::AllowAll);
        if let Some(g) = &live.guard {
            // GET and HEAD bodies are never forwarded (the cache answers those), so only
            // the other methods wait for their body's head.
            let limit = g.body_limit();
            let (inspected, oversize) =
                if matches!(parts.method, Method::GET | Method::HEAD) || limit == 0 || refused {
                    (Vec::new(), false)
                } else {
                    match peek(body, limit).await {
                        Ok(p) => {
                            body = p.body;
                            (p.inspected, p.oversize)
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "reading the request body failed");
                            return respond::error_response(StatusCode::BAD_REQUEST, &pop);
                        }
                    }
                };
            if let Some(r) = g.inspect(&parts, &inspected, oversize, &pop) {
                return r;
            }
        }
        if !secure && behavior.viewer_protocol != ViewerProtocol::AllowAll {
            return self.insecure(behavior, &parts);
        }
        if !behavior.methods.contains(&parts.method) {
            // CloudFront answers methods a behavior does not allow with 403.
            return respond::error_response(StatusCode::FORBIDDEN, &pop);
        }
        let head = parts.method == Method::HEAD;
        if parts.method != Method::GET && !head {
            let pq = path_and_query(&path, &parts);
            return self.forward(bi, &path, pq, parts, body).await;
        }
        let got = self.lookup(live, bi, &path, None, &parts, &pop).await;
        let viewer = Viewer {
            headers: &parts.headers,
            head,
            compress: behavior.compress,
            pop: &pop,
        };
        self.render(live, got, &viewer, &parts).await
    }

    async fn lookup(
        &self,
        live: &Live,
        bi: usize,
        path: &str,
        pq: Option<String>,
        parts: &Parts,
        pop: &Arc<str>,
    ) -> Got {
        let edge = &self.edge;
        let key = key_for(bi, path, parts, &live.dist.behaviors[bi].policy);
        let tier = &edge.locations[self.index];
        if let Some(e) = tier.get(&key, &parts.headers)
            && e.is_fresh(SystemTime::now())
        {
            return Got::Entry(e, Cached::Hit);
        }
        // Taken before the regional tier is asked: an invalidation of the path while the
        // fill is in flight keeps it out of this location too.
        let start = edge.regional.fills.start();
        let pq = pq.unwrap_or_else(|| path_and_query(path, parts));
        match edge
            .regional
            .get(edge.fetch_req(live, bi, key, pq, parts, pop))
            .await
        {
            Fetched::Entry(e, c) => {
                self.admit(e.clone(), start);
                Got::Entry(e, c)
            }
            Fetched::Pass(r) => Got::Pass(r),
            Fetched::Failed(e) => Got::Failed(e),
        }
    }

    /// Copies an entry into this location's cache once its body is whole, unless its path
    /// was invalidated since `start` (see `fills`).
    fn admit(&self, e: Arc<Entry>, start: u64) {
        let edge = self.edge.clone();
        let index = self.index;
        let insert = move |edge: &Edge, e: Arc<Entry>| {
            let fills = &edge.regional.fills;
            if fills.still_valid(e.key.path(), start) {
                let key = e.key.clone();
                edge.locations[index].insert(e);
                if !fills.still_valid(key.path(), start) {
                    edge.locations[index].remove(&key);
                }
            }
        };
        match e.repr.body.state() {
            Some(true) => insert(&edge, e),
            Some(false) => {}
            None => {
                tokio::spawn(async move {
                    if e.repr.body.wait().await.is_ok()
                        && e.repr.body.received() <= edge.regional.max_object
                    {
                        insert(&edge, e);
                    }
                });
            }
        }
    }

    async fn render(
        &self,
        live: &Live,
        got: Got,
        viewer: &Viewer<'_>,
        parts: &Parts,
    ) -> Response<Body> {
        let status = match &got {
            Got::Entry(e, _) => e.status,
            Got::Pass(r) => r.status(),
            Got::Failed(e) => e.status(),
        };
        if status.as_u16() >= 400
            && let Some(ce) = live.dist.custom_error(status.as_u16())
            && ce.page.is_some()
            && let Some(r) = self.error_page(live, ce, status, viewer, parts).await
        {
            return r;
        }
        match got {
            Got::Entry(e, c) => respond::serve(&e, viewer, c).await,
            Got::Pass(mut r) => {
                strip_hop_by_hop(r.headers_mut());
                if viewer.head {
                    *r.body_mut() = nuvem_aws::empty_body();
                }
                respond::decorate(&mut r, viewer.pop, Cached::Miss);
                r
            }
            Got::Failed(e) => {
                tracing::debug!(error = %e, "origin failed");
                respond::error_response(e.status(), viewer.pop)
            }
        }
    }

    /// A custom error response: the configured page, fetched through the cache, with the
    /// configured status. `None` (serve the original error) when the page itself fails.
    async fn error_page(
        &self,
        live: &Live,
        ce: &CustomError,
        status: StatusCode,
        viewer: &Viewer<'_>,
        parts: &Parts,
    ) -> Option<Response<Body>> {
        let page = ce.page.as_ref()?;
        let (bi, behavior) = live.dist.behavior_for(page);
        let mut page_parts = Request::new(()).into_parts().0;
        page_parts.uri = page.parse().ok()?;
        page_parts.headers = only_accept_encoding(&parts.headers);
        let got = self
            .lookup(
                live,
                bi,
                page,
                Some(page.clone()),
                &page_parts,
                &Arc::from(viewer.pop),
            )
            .await;
        let Got::Entry(e, c) = got else { return None };
        if e.status != StatusCode::OK {
            return None;
        }
        let page_viewer = Viewer {
            headers: &page_parts.headers,
            head: viewer.head,
            compress: behavior.compress,
            pop: viewer.pop,
        };
        let mut r = respond::serve(&e, &page_viewer, c).await;
        *r.status_mut() = ce
            .response_code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(status);
        Some(r)
    }

    fn insecure(&self, behavior: &Behavior, parts: &Parts) -> Response<Body> {
        let pop = self.name();
        if behavior.viewer_protocol == ViewerProtocol::HttpsOnly {
            return respond::error_response(StatusCode::FORBIDDEN, pop);
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.host())
            .unwrap_or("localhost");
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut r = Response::new(nuvem_aws::empty_body());
        *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(loc) = HeaderValue::from_str(&format!("https://{host}{pq}")) {
            r.headers_mut().insert(header::LOCATION, loc);
        }
        respond::finish_headers(r.headers_mut(), pop);
        r
    }

    /// Methods the cache does not answer: forwarded with their body. A non-error answer to
    /// an unsafe method invalidates the URL and its Location/Content-Location (RFC 9111 §4.4).
    async fn forward(
        &self,
        bi: usize,
        path: &str,
        pq: String,
        parts: Parts,
        body: Body,
    ) -> Response<Body> {
        let edge = &self.edge;
        let pop = self.name().to_string();
        let mut headers = parts.headers.clone();
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        add_via(&mut headers, &pop);
        add_surrogate_capability(&mut headers);
        let mut req = Request::new(body);
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = match pq.parse() {
            Ok(u) => u,
            Err(_) => return respond::error_response(StatusCode::BAD_REQUEST, &pop),
        };
        *req.headers_mut() = headers;
        let mut r = match edge.origins[bi].fetch(req).await {
            Ok(r) => r,
            Err(e) => return respond::error_response(e.status(), &pop),
        };
        let unsafe_method = !matches!(parts.method, Method::OPTIONS | Method::TRACE);
        if unsafe_method && (r.status().is_success() || r.status().is_redirection()) {
            let mut paths = vec![path.to_string()];
            for h in [header::LOCATION, header::CONTENT_LOCATION] {
                if let Some(p) = same_host_path(r.headers(), h, &parts) {
                    paths.push(p);
                }
            }
            edge.regional
                .fills
                .invalidate_paths(paths.iter().map(String::as_str));
            for p in &paths {
                edge.regional.invalidate_path(p);
                for t in &edge.locations {
                    t.invalidate_path(p);
                }
            }
        }
        strip_hop_by_hop(r.headers_mut());
        respond::decorate(&mut r, &pop, Cached::Miss);
        r
    }
}

/// The path of a Location/Content-Location on the same host as the request.
fn same_host_path(h: &HeaderMap, name: header::HeaderName, parts: &Parts) -> Option<String> {
    let v = h.get(name)?.to_str().ok()?;
    let uri: http::Uri = v.parse().ok()?;
    if let Some(host) = uri.host() {
        let req_host = parts.headers.get(header::HOST)?.to_str().ok()?;
        let req_host = req_host.split(':').next().unwrap_or(req_host);
        if !host.eq_ignore_ascii_case(req_host) {
            return None;
        }
    }
    Some(uri.path().to_string())
}

fn only_accept_encoding(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for v in h.get_all(header::ACCEPT_ENCODING) {
        out.append(header::ACCEPT_ENCODING, v.clone());
    }
    out
}
