//! The regional tier, shared by every location, and the only door to the origins for
//! cacheable requests: lookup, request coalescing (concurrent misses for one key make one
//! origin request; the others are streamed the same body while it arrives), revalidation by
//! ETag/Last-Modified (a 304 refreshes the stored entry), stale-while-revalidate,
//! stale-if-error, and "hit-for-pass" (keys found uncacheable go straight to the origin for a
//! while instead of queueing behind each other).
//!
//! Must not: store a body before it arrived whole, or store anything fetched before an
//! invalidation of its path that happened while it was in flight (`fills`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use nuvem_aws::{Body, empty_body};
use tokio::sync::watch;

use crate::Error;
use crate::body::{FinishGuard, SharedBody};
use crate::cache::Tier;
use crate::disk::DiskTier;
use crate::entry::{
    CacheKey, Entry, KeyHash, Representation, joined, stored_headers, strip_hop_by_hop,
};
use crate::fills::Fills;
use crate::freshness::{self, NoStore, RequestFacts};
use crate::origin::Origin;

/// How long a key found uncacheable skips coalescing.
const PASS_TTL: Duration = Duration::from_secs(60);

/// How many keys the hit-for-pass set remembers (the least recent are forgotten first).
const PASS_KEYS: usize = 100_000;

/// Bodies up to this size (by `Content-Length`) are read whole before the leading viewer is
/// answered; larger ones stream to it while they arrive.
const INLINE_BODY: u64 = 16 * 1024;

/// How a response was obtained, as `X-Cache` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    Hit,
    Miss,
    RefreshHit,
}

/// What one cacheable request needs to reach the origin.
#[derive(Clone)]
pub struct FetchReq {
    pub key: CacheKey,
    /// Path and query sent to the origin.
    pub path_and_query: String,
    /// The viewer's headers (the leader's, for a coalesced fetch).
    pub headers: HeaderMap,
    pub origin: Arc<dyn Origin>,
    pub policy: crate::distribution::CachePolicy,
    pub facts: RequestFacts,
    /// Error-caching TTLs of the custom error responses, by status.
    pub error_ttls: Arc<Vec<(u16, u64)>>,
    pub pop: Arc<str>,
}

pub enum Fetched {
    Entry(Arc<Entry>, Cached),
    /// Not cacheable: the origin's response, streamed through.
    Pass(Response<Body>),
    Failed(Error),
}

#[derive(Clone)]
enum Outcome {
    Stored(Arc<Entry>, Cached),
    Pass,
    Failed(StatusCode, String),
}

type Waiters = watch::Receiver<Option<Outcome>>;

pub struct Regional {
    pub tier: Tier,
    inflight: Mutex<HashMap<CacheKey, Waiters, KeyHash>>,
    /// Keys found uncacheable, each with the moment it stops skipping coalescing.
    pass: quick_cache::sync::Cache<CacheKey, Instant, quick_cache::UnitWeighter, KeyHash>,
    /// Invalidations by path and pattern; a fill spoiled while in flight is not stored.
    pub fills: Arc<Fills>,
    /// Larger bodies are streamed through, not stored.
    pub max_object: u64,
    /// Whole entries also written to disk, found again after a restart.
    pub disk: Option<DiskTier>,
}

impl Regional {
    pub fn new(max_bytes: u64, disk: Option<DiskTier>) -> Arc<Self> {
        let max_object = Self::max_object(max_bytes);
        Arc::new(Self {
            tier: Tier::new(max_bytes, max_object),
            inflight: Mutex::new(HashMap::default()),
            pass: quick_cache::sync::Cache::with(
                PASS_KEYS,
                PASS_KEYS as u64,
                quick_cache::UnitWeighter,
                KeyHash::default(),
                Default::default(),
            ),
            fills: Arc::default(),
            max_object,
            disk,
        })
    }

    /// The largest body a regional tier of `max_bytes` stores: an eighth of it, at least
    /// 1 MiB.
    pub fn max_object(max_bytes: u64) -> u64 {
        (max_bytes / 8).max(1024 * 1024)
    }

    /// Whether the key was found uncacheable less than [`PASS_TTL`] ago.
    fn is_pass(&self, key: &CacheKey) -> bool {
        match self.pass.get(key) {
            None => false,
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                self.pass.remove(key);
                false
            }
        }
    }

    /// Queues a whole entry for the disk layer's writer (see `disk`: never waits, and under
    /// a flood of misses some entries are only kept in memory); an invalidation of its path
    /// that lands while the file is written removes it again (insert, then check).
    fn write_to_disk(&self, e: &Arc<Entry>, start: u64) {
        if let Some(disk) = &self.disk {
            let (fills, path) = (self.fills.clone(), e.key.path().to_string());
            disk.store_later(e.clone(), move |files| {
                if !fills.still_valid(&path, start) {
                    files.invalidate_path(&path);
                }
            });
        }
    }

    /// Stores a whole entry that a fill started at tick `start` produced, unless its path
    /// was invalidated meanwhile (see [`Fills`]: insert, then check again).
    fn store(&self, e: &Arc<Entry>, start: u64) {
        if self.store_in_memory(e, start) {
            self.write_to_disk(e, start);
        }
    }

    /// The memory half of [`Self::store`]: whether the entry was stored.
    fn store_in_memory(&self, e: &Arc<Entry>, start: u64) -> bool {
        if !self.fills.still_valid(e.key.path(), start) {
            return false;
        }
        self.tier.insert(e.clone());
        if self.fills.still_valid(e.key.path(), start) {
            true
        } else {
            self.tier.remove(&e.key);
            false
        }
    }

    /// Drops paths from memory and disk, and from the in-flight map: a request that comes
    /// after the invalidation must not follow a fill that started before it (that fill will
    /// not be stored, and its response may be what the write replaced).
    pub fn invalidate(&self, patterns: &[String]) {
        self.lock().retain(|k, _| {
            !patterns
                .iter()
                .any(|p| crate::distribution::pattern_matches(p, k.path()))
        });
        self.tier.invalidate(patterns);
        if let Some(d) = &self.disk {
            d.invalidate(patterns);
        }
    }

    /// When the oldest file of the disk layer was written, if there is one.
    pub fn oldest_disk_file(&self) -> Option<SystemTime> {
        self.disk.as_ref().and_then(DiskTier::oldest)
    }

    /// Deletes the disk layer's files for the patterns' paths written before `before` (at
    /// start-up: the invalidations made while this node was down).
    pub fn invalidate_disk_before(&self, patterns: &[String], before: SystemTime) {
        if let Some(d) = &self.disk {
            d.invalidate_before(patterns, before);
        }
    }

    pub fn invalidate_path(&self, path: &str) {
        self.lock().retain(|k, _| k.path() != path);
        self.tier.invalidate_path(path);
        if let Some(d) = &self.disk {
            d.invalidate_path(path);
        }
    }

    pub fn forget_pass(&self) {
        self.pass.clear();
    }

    /// A cacheable GET: from this tier, or from the origin (coalesced).
    pub async fn get(self: &Arc<Self>, req: FetchReq) -> Fetched {
        let now = SystemTime::now();
        let mut stale = None;
        let mut found = self.tier.get(&req.key, &req.headers);
        if found.is_none()
            && let Some(disk) = &self.disk
            && let Some(e) = disk.load(&req.key).await
            && e.matches(&req.headers)
        {
            self.tier.insert(e.clone());
            found = Some(e);
        }
        if let Some(e) = found {
            if e.is_fresh(now) {
                return Fetched::Entry(e, Cached::Hit);
            }
            if e.may_serve_while_revalidating(now) {
                let this = self.clone();
                let (bg, stale) = (req.clone(), e.clone());
                tokio::spawn(async move {
                    this.coalesced(bg, Some(stale)).await;
                });
                return Fetched::Entry(e, Cached::Hit);
            }
            stale = Some(e);
        }
        if self.is_pass(&req.key) {
            return self.pass_through(&req).await;
        }
        self.coalesced(req, stale).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Waiters, KeyHash>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A GET straight to the origin, nothing stored.
    pub async fn pass_through(&self, req: &FetchReq) -> Fetched {
        match fetch(req, None).await {
            Ok(resp) => {
                let facts = facts_for(req, resp.status());
                if freshness::decide(resp.status(), resp.headers(), &req.policy, facts).is_ok() {
                    // Cacheable again: the next miss coalesces and stores.
                    self.pass.remove(&req.key);
                }
                Fetched::Pass(resp)
            }
            Err(e) => Fetched::Failed(e),
        }
    }

    async fn coalesced(self: &Arc<Self>, req: FetchReq, stale: Option<Arc<Entry>>) -> Fetched {
        let leader = {
            let mut map = self.lock();
            match map.get(&req.key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(req.key.clone(), rx);
                    Ok(tx)
                }
            }
        };
        match leader {
            Ok(tx) => self.lead(req, stale, tx).await,
            Err(mut rx) => {
                let outcome = match rx.wait_for(Option::is_some).await {
                    Ok(o) => o.clone(),
                    Err(_) => None,
                };
                match outcome {
                    // A follower made no origin request of its own: a hit on the leader's
                    // response (still arriving, perhaps) — while it is fresh. A response
                    // stale on arrival (max-age=0, a past Expires) is not reused without the
                    // origin: the follower makes its own request.
                    Some(Outcome::Stored(e, c))
                        if e.matches(&req.headers) && e.is_fresh(SystemTime::now()) =>
                    {
                        let c = if c == Cached::Miss { Cached::Hit } else { c };
                        Fetched::Entry(e, c)
                    }
                    Some(Outcome::Failed(status, msg)) => match stale {
                        Some(s) if s.may_serve_on_error(SystemTime::now()) => {
                            Fetched::Entry(s, Cached::Hit)
                        }
                        _ => Fetched::Failed(if status == StatusCode::GATEWAY_TIMEOUT {
                            Error::OriginTimeout
                        } else {
                            Error::OriginUnreachable(msg)
                        }),
                    },
                    // Uncacheable, another variant, or the leader vanished: our own request.
                    _ => self.pass_through(&req).await,
                }
            }
        }
    }

    async fn lead(
        self: &Arc<Self>,
        req: FetchReq,
        stale: Option<Arc<Entry>>,
        tx: watch::Sender<Option<Outcome>>,
    ) -> Fetched {
        let done = Leader {
            regional: self.clone(),
            key: req.key.clone(),
            tx,
        };
        let epoch = self.fills.start();
        let request_time = SystemTime::now();
        let validators = stale.as_ref().filter(|s| s.has_validator()).cloned();
        let resp = fetch(&req, validators.as_deref()).await;
        let response_time = SystemTime::now();
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                if let Some(s) = stale.filter(|s| s.may_serve_on_error(response_time)) {
                    done.publish(Outcome::Stored(s.clone(), Cached::Hit));
                    return Fetched::Entry(s, Cached::Hit);
                }
                done.publish(Outcome::Failed(e.status(), e.to_string()));
                return Fetched::Failed(e);
            }
        };
        let status = resp.status();
        if let Some(old) = &stale {
            if status == StatusCode::NOT_MODIFIED {
                let e = refreshed(old, resp.headers(), &req, request_time, response_time);
                self.store(&e, epoch);
                done.publish(Outcome::Stored(e.clone(), Cached::RefreshHit));
                return Fetched::Entry(e, Cached::RefreshHit);
            }
            if status.is_server_error() && old.may_serve_on_error(response_time) {
                done.publish(Outcome::Stored(old.clone(), Cached::Hit));
                return Fetched::Entry(old.clone(), Cached::Hit);
            }
        }
        let facts = facts_for(&req, status);
        let decision = freshness::decide(status, resp.headers(), &req.policy, facts);
        let too_big = content_length(resp.headers()).is_some_and(|n| n > self.max_object);
        let freshness = match decision {
            Ok(f)
                if !too_big
                    && status != StatusCode::NOT_MODIFIED
                    && status != StatusCode::PARTIAL_CONTENT =>
            {
                f
            }
            other => {
                // RFC 9111 §4.4-like: the stored response is superseded.
                if stale.is_some() {
                    self.tier.remove(&req.key);
                }
                if !matches!(other, Err(NoStore::Authorization)) {
                    self.pass.insert(req.key.clone(), Instant::now() + PASS_TTL);
                }
                done.publish(Outcome::Pass);
                return Fetched::Pass(resp);
            }
        };
        let (parts, body) = resp.into_parts();
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        let initial_age = freshness::initial_age(&headers, request_time, response_time);
        headers.remove(header::AGE);
        let vary = vary_values(&headers, &req.headers, &req.policy);
        let shared = SharedBody::arriving();
        let entry = Arc::new(Entry {
            key: req.key.clone(),
            status,
            headers: stored_headers(&headers),
            repr: Representation::new(shared.clone()),
            response_time,
            initial_age,
            freshness,
            vary,
        });
        // A small body is read here before the viewer is answered: one piece, no task, no
        // wake-ups per chunk, and the location cache takes it at once. Followers learn of it
        // only once it is whole (if this viewer goes away first, they fetch their own).
        let inline = content_length(&entry.headers).is_some_and(|n| n <= INLINE_BODY);
        if !inline {
            done.publish(Outcome::Stored(entry.clone(), Cached::Miss));
        }
        let stored = entry.clone();
        let fill = async move {
            let guard = FinishGuard(shared.clone());
            let mut body = body;
            let result = loop {
                match body.frame().await {
                    None => break Ok(()),
                    Some(Err(e)) => break Err(format!("origin body: {e}")),
                    Some(Ok(f)) => {
                        if let Ok(data) = f.into_data() {
                            shared.push(data);
                        }
                    }
                }
            };
            // Store first, leave the in-flight map, and only then let the readers finish:
            // a request that follows a completed one finds the entry in the tier. The disk
            // writer gets it once whole.
            let regional = done.regional.clone();
            let stored_ok = result.is_ok()
                && shared.received() <= regional.max_object
                && regional.store_in_memory(&stored, epoch);
            if inline {
                done.publish(Outcome::Stored(stored.clone(), Cached::Miss));
            }
            drop(done);
            shared.finish(result);
            drop(guard);
            if stored_ok {
                regional.write_to_disk(&stored, epoch);
            }
        };
        if inline {
            fill.await;
        } else {
            tokio::spawn(fill);
        }
        Fetched::Entry(entry, Cached::Miss)
    }
}

/// The leader's duty: publish an outcome and leave the in-flight map, even when the leading
/// request is dropped half-way (the viewer went away).
struct Leader {
    regional: Arc<Regional>,
    key: CacheKey,
    tx: watch::Sender<Option<Outcome>>,
}

impl Leader {
    fn publish(&self, o: Outcome) {
        self.tx.send_replace(Some(o));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if self.tx.borrow().is_none() {
            self.tx.send_replace(Some(Outcome::Pass));
        }
        let mut map = self.regional.lock();
        if map
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.tx.subscribe()))
        {
            map.remove(&self.key);
        }
    }
}

fn facts_for(req: &FetchReq, status: StatusCode) -> RequestFacts {
    let mut f = req.facts;
    f.error_caching_ttl = req
        .error_ttls
        .iter()
        .find(|(s, _)| *s == status.as_u16())
        .map(|(_, t)| *t);
    f
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The request's values of the Vary headers beyond what the cache key already holds.
/// `Accept-Encoding` is normalized by the edge (the origin is always asked for identity).
fn vary_values(
    resp: &HeaderMap,
    req: &HeaderMap,
    policy: &crate::distribution::CachePolicy,
) -> Vec<(http::HeaderName, Option<HeaderValue>)> {
    let mut out = Vec::new();
    for v in resp.get_all(header::VARY) {
        let Ok(v) = v.to_str() else { continue };
        for name in v.split(',') {
            let Ok(name) =
                http::HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
            else {
                continue;
            };
            if name == header::ACCEPT_ENCODING || policy.headers.contains(&name) {
                continue;
            }
            let value = joined(req, &name);
            out.push((name, value));
        }
    }
    out
}

/// A stored entry refreshed by a 304: its headers updated from the 304 (RFC 9111 §4.3.4),
/// its age and freshness recomputed, its body kept.
fn refreshed(
    old: &Entry,
    fresh: &HeaderMap,
    req: &FetchReq,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Arc<Entry> {
    let mut headers = old.headers.clone();
    let mut update = fresh.clone();
    strip_hop_by_hop(&mut update);
    // What describes the stored body, not the message, stays as stored: a 304 validates
    // the representation it names (RFC 9111 §3.2).
    for skip in [
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::CONTENT_RANGE,
        header::ETAG,
    ] {
        update.remove(skip);
    }
    update.remove("content-md5");
    let initial_age = freshness::initial_age(&update, request_time, response_time);
    update.remove(header::AGE);
    let names: Vec<http::HeaderName> = update.keys().cloned().collect();
    for n in names {
        headers.remove(&n);
        for v in update.get_all(&n) {
            headers.append(n.clone(), v.clone());
        }
    }
    let facts = facts_for(req, old.status);
    let freshness =
        freshness::decide(old.status, &headers, &req.policy, facts).unwrap_or(old.freshness);
    Arc::new(Entry {
        key: old.key.clone(),
        status: old.status,
        headers: stored_headers(&headers),
        repr: old.repr.clone(),
        response_time,
        initial_age,
        freshness,
        vary: old.vary.clone(),
    })
}

/// Request headers never sent to the origin on a cacheable fetch: the cache answers range and
/// conditional requests itself, and compresses itself.
const NOT_FORWARDED: [header::HeaderName; 10] = [
    header::HOST,
    header::RANGE,
    header::IF_RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::ACCEPT_ENCODING,
    header::CACHE_CONTROL,
    header::PRAGMA,
];

/// The viewer's headers a cacheable origin request carries: those of the cache key and of
/// the origin request policy, with only the cookies either names (CloudFront's rule, so that
/// a response personalised by one viewer's cookie or header never lands under a key that
/// other viewers share).
fn forwarded_headers(viewer: &HeaderMap, policy: &crate::distribution::CachePolicy) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in viewer {
        if *name == header::COOKIE || !policy.forwards_header(name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    let cookies: Vec<&str> = viewer
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| policy.forwards_cookie(c.split_once('=').map_or(*c, |(n, _)| n)))
        .collect();
    if !cookies.is_empty()
        && let Ok(v) = HeaderValue::from_str(&cookies.join("; "))
    {
        out.insert(header::COOKIE, v);
    }
    strip_hop_by_hop(&mut out);
    for h in NOT_FORWARDED {
        out.remove(h);
    }
    out
}

/// The path and query a cacheable origin request carries: only the query strings that the
/// cache key or the origin request policy name, in the viewer's order.
fn forwarded_path_and_query(pq: &str, policy: &crate::distribution::CachePolicy) -> String {
    let Some((path, query)) = pq.split_once('?') else {
        return pq.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| policy.forwards_query(p.split_once('=').map_or(*p, |(n, _)| n)))
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// One GET to the origin, conditional on `validators` when revalidating.
async fn fetch(req: &FetchReq, validators: Option<&Entry>) -> Result<Response<Body>, Error> {
    let mut headers = forwarded_headers(&req.headers, &req.policy);
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    add_via(&mut headers, &req.pop);
    add_surrogate_capability(&mut headers);
    if let Some(e) = validators {
        if let Some(etag) = e.etag() {
            headers.insert(header::IF_NONE_MATCH, etag.clone());
        }
        if let Some(lm) = e.last_modified() {
            headers.insert(header::IF_MODIFIED_SINCE, lm.clone());
        }
    }
    let mut r = Request::new(empty_body());
    *r.method_mut() = Method::GET;
    *r.uri_mut() = forwarded_path_and_query(&req.path_and_query, &req.policy)
        .parse()
        .map_err(|e| Error::OriginProtocol(format!("bad path: {e}")))?;
    *r.headers_mut() = headers;
    req.origin.fetch(r).await
}

/// Announces this cache to the origin as a surrogate (W3C Edge Architecture), after any
/// surrogate in front of it: an origin can then aim `Surrogate-Control` directives at it.
pub fn add_surrogate_capability(headers: &mut HeaderMap) {
    const NAME: http::HeaderName = http::HeaderName::from_static("surrogate-capability");
    headers.append(
        NAME,
        HeaderValue::from_static(freshness::SURROGATE_CAPABILITY),
    );
}

pub fn add_via(headers: &mut HeaderMap, pop: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("1.1 {pop}.nuvem (nuvem)")) {
        headers.append(header::VIA, v);
    }
}
