//! The public listeners: one per edge location of the manifest's `[distribution]`, each
//! serving that location of the [`nuvem_edge::Edge`]; without a distribution, one listener
//! that answers every visitor with a clear 404. Never exposes the AWS endpoint or anything
//! private: only what the distribution declares is reachable. Every viewer request passes
//! the distribution's WebACL (`guard`) before the cache; bucket and API origins are the s3
//! service and the gateway, in process (`origins`).

mod guard;
mod origins;

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use http::{Request, Response, StatusCode};
use nuvem_aws::{Body, full_body};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::metrics::EdgeSeries;

pub struct Placeholder;

impl crate::listen::Handler for Placeholder {
    async fn handle(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        tracing::debug!(path = %req.uri().path(), "edge request with no distribution");
        let mut resp = Response::new(full_body(
            "<!doctype html><title>nuvem</title><h1>No distribution is configured</h1>\
             <p>This is nuvem's public edge. Declare a <code>[distribution]</code> in nuvem.toml to serve a site here.</p>\n",
        ));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        resp
    }
}

/// One location's listener.
struct EdgeLocation {
    location: nuvem_edge::Location,
    /// Whether this listener terminates TLS (for viewer protocol policies).
    secure: bool,
    /// The location's name, and where its requests are counted.
    name: String,
    metrics: Arc<crate::metrics::Metrics>,
    /// The series of each behavior (by index) and cache result, resolved at their first
    /// request: counting a request then costs no label lookup.
    series: Vec<[OnceLock<Option<EdgeSeries>>; CACHE_RESULTS.len()]>,
}

/// The `cache` label's values, by the `X-Cache` header that says them.
const CACHE_RESULTS: [(&[u8], &str); 5] = [
    (b"Hit from nuvem", "hit"),
    (b"Miss from nuvem", "miss"),
    (b"RefreshHit from nuvem", "refresh_hit"),
    (b"Error from nuvem", "error"),
    (b"", "other"),
];

impl EdgeLocation {
    fn new(
        location: nuvem_edge::Location,
        secure: bool,
        name: String,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let series = (0..location.behavior_count())
            .map(|_| Default::default())
            .collect();
        EdgeLocation {
            location,
            secure,
            name,
            metrics,
            series,
        }
    }
}

impl crate::listen::Handler for EdgeLocation {
    async fn handle(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        let start = std::time::Instant::now();
        let (resp, behavior) = self.location.handle_with_behavior(req, self.secure).await;
        if !self.metrics.enabled() {
            return resp;
        }
        let x_cache = resp
            .headers()
            .get(nuvem_edge::X_CACHE)
            .map_or(&b""[..], |v| v.as_bytes());
        let result = CACHE_RESULTS
            .iter()
            .position(|(header, _)| *header == x_cache)
            .unwrap_or(CACHE_RESULTS.len() - 1);
        let bytes = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let seconds = start.elapsed().as_secs_f64();
        let resolve = || {
            let pattern = self.location.behavior_pattern(behavior).unwrap_or_default();
            self.metrics
                .edge_series(&self.name, &pattern, CACHE_RESULTS[result].1)
        };
        match self.series.get(behavior) {
            Some(cells) => {
                if let Some(s) = cells[result].get_or_init(resolve) {
                    s.record(bytes, seconds);
                }
            }
            None => {
                if let Some(s) = resolve() {
                    s.record(bytes, seconds);
                }
            }
        }
        resp
    }
}

/// Builds the edge the manifest declares, and registers its CloudFront API (invalidations)
/// on the AWS endpoint.
pub fn build(
    config: &Config,
    endpoint: &mut crate::endpoint::Endpoint,
    services: &crate::services::Services,
) -> anyhow::Result<Option<Arc<nuvem_edge::Edge>>> {
    let Some(spec) = &config.manifest.distribution else {
        return Ok(None);
    };
    let mut dist = nuvem_edge::Distribution::from_spec(spec).context("invalid manifest")?;
    dist.disk_dir = Some(config.data_dir.join("edge-cache"));
    dist.extra_ca_pem = config.upstream_ca_pem(spec.extra_ca_file.as_deref())?;
    let origins = origins::Origins {
        s3: services.s3.clone(),
        gateway: services.gateway.clone(),
        functions: services.functions.clone(),
        function_urls: services.function_urls.clone(),
    };
    let enabled = config.manifest.waf.as_ref().is_none_or(|w| w.enabled);
    let mut web_acl_arn = String::new();
    let guard: Option<Arc<dyn nuvem_edge::Guard>> = if enabled {
        let (json, body_limit, source) = web_acl(config)?;
        // Registered in the wafv2 API (Scope CLOUDFRONT, by its Name, keeping its Id across
        // restarts): UpdateWebACL on it reaches the guard through the shared handle.
        let acl = services
            .waf
            .attach(nuvem_waf::Scope::Cloudfront, &json)
            .map_err(|e| anyhow::anyhow!("at `waf.web_acl` ({source}): {e}"))?;
        web_acl_arn = services.waf.arn_of(&acl).unwrap_or_default();
        Some(Arc::new(guard::WafGuard { acl, body_limit }))
    } else {
        if config
            .manifest
            .waf
            .as_ref()
            .is_some_and(|w| w.web_acl.is_some())
        {
            anyhow::bail!("at `waf`: `web_acl` is set but `enabled = false`; remove one of them");
        }
        None
    };
    let edge = nuvem_edge::Edge::new(dist, &origins, guard).context("starting the edge")?;
    endpoint.add_metrics_source(Arc::new(crate::metrics::EdgeSource { edge: edge.clone() }));
    endpoint.add_metrics_source(Arc::new(crate::metrics::WafSource {
        waf: services.waf.clone(),
    }));
    // UpdateDistribution may name another WebACL (`WebACLId`) of the wafv2 API.
    edge.set_web_acls(
        Arc::new(WafAcls {
            waf: services.waf.clone(),
        }),
        &web_acl_arn,
    );
    let id = edge.distribution().id.clone();
    endpoint.register(Arc::new(nuvem_edge::CloudFrontApi::new(edge.clone(), id)));
    Ok(Some(edge))
}

/// The WebACLs UpdateDistribution may put in front of the distribution: the wafv2 API's, of
/// scope CLOUDFRONT, each as a guard that follows its later UpdateWebACL calls.
struct WafAcls {
    waf: Arc<nuvem_waf::WafApi>,
}

impl nuvem_edge::WebAcls for WafAcls {
    fn guard(&self, web_acl_id: &str) -> Result<Arc<dyn nuvem_edge::Guard>, String> {
        if !web_acl_id.contains(":global/webacl/") {
            return Err(
                "a distribution's WebACL is a WAFv2 WebACL ARN of scope CLOUDFRONT (…:global/webacl/<name>/<id>)"
                    .into(),
            );
        }
        let (acl, json) = self
            .waf
            .use_web_acl(web_acl_id)
            .map_err(|e| e.to_string())?;
        let body_limit = guard::body_limit(&json.to_string())?;
        Ok(Arc::new(guard::WafGuard { acl, body_limit }))
    }
}

/// The distribution's WebACL JSON: the manifest's `[waf] web_acl` file (WAFv2 JSON, relative
/// to the manifest), else nuvem's default for distributions (its managed rule groups), so
/// every site is protected unless its manifest says how. With it, how many body bytes it
/// inspects. The wafv2 API validates and compiles it (a manifest WebACL may reference IP sets
/// and regex pattern sets created through the API, by ARN).
/// And where it comes from, for errors.
fn web_acl(config: &Config) -> anyhow::Result<(String, usize, String)> {
    let Some(path) = config
        .manifest
        .waf
        .as_ref()
        .and_then(|w| w.web_acl.as_ref())
    else {
        return Ok((
            default_web_acl(),
            nuvem_edge::DEFAULT_BODY_LIMIT,
            "the default WebACL".into(),
        ));
    };
    let path = config.base_dir.join(path);
    let json = std::fs::read_to_string(&path)
        .with_context(|| format!("at `waf.web_acl`: reading {}", path.display()))?;
    let limit = guard::body_limit(&json)
        .map_err(|e| anyhow::anyhow!("at `waf.web_acl` ({}): {e}", path.display()))?;
    Ok((json, limit, path.display().to_string()))
}

/// Rules of nuvem's default WebACL that count instead of block. AWS's KnownBadInputs group
/// blocks `Host: localhost`; on AWS that never reaches a distribution from a developer's
/// machine, but nuvem's edge is usually opened as `http://localhost:8080`, and a default must
/// not refuse that. A request without a User-Agent is blocked as on AWS (`NoUserAgent_HEADER`):
/// browsers and HTTP tools (curl, wget, the SDKs) send one; a program whose HTTP library sends
/// none (.NET's HttpClient, hyper, reqwest by default) must set it. A manifest's own `[waf]`
/// WebACL decides for itself.
const DEFAULT_COUNTED: [(&str, &str); 1] = [(
    "AWSManagedRulesKnownBadInputsRuleSet",
    "Host_localhost_HEADER",
)];

/// nuvem's default WebACL for distributions, with [`DEFAULT_COUNTED`] as Count overrides
/// (WAFv2's `RuleActionOverrides` of a `ManagedRuleGroupStatement`), as WAFv2 JSON.
fn default_web_acl() -> String {
    let Ok(mut acl) =
        serde_json::from_str::<serde_json::Value>(nuvem_waf::DEFAULT_DISTRIBUTION_ACL)
    else {
        return nuvem_waf::DEFAULT_DISTRIBUTION_ACL.to_string();
    };
    if let Some(rules) = acl["Rules"].as_array_mut() {
        for rule in rules {
            let group = &mut rule["Statement"]["ManagedRuleGroupStatement"];
            let counted: Vec<_> = DEFAULT_COUNTED
                .iter()
                .filter(|(g, _)| group["Name"] == *g)
                .map(|(_, r)| serde_json::json!({"Name": r, "ActionToUse": {"Count": {}}}))
                .collect();
            if !counted.is_empty() {
                group["RuleActionOverrides"] = serde_json::Value::Array(counted);
            }
        }
    }
    acl.to_string()
}

/// One public listener, as the banner shows it.
pub struct Listening {
    pub location: String,
    /// `http://addr` or `https://addr`.
    pub url: String,
}

/// Binds the public listeners and starts serving them, in the distribution's order (the
/// first location listens on `edge_addr`); HTTPS listeners follow their location.
pub async fn start(
    config: &Config,
    edge: Option<Arc<nuvem_edge::Edge>>,
    gate: &Arc<nuvem_waf::shield::Gate>,
    tasks: &mut JoinSet<()>,
    stop: &watch::Receiver<bool>,
    metrics: Arc<crate::metrics::Metrics>,
) -> anyhow::Result<Vec<Listening>> {
    let Some(edge) = edge else {
        let l = crate::listen::bind(config.edge_addr, "edge").await?;
        let addr = l.local_addr()?;
        tasks.spawn(crate::listen::serve(
            l,
            None,
            Arc::new(Placeholder),
            gate.clone(),
            stop.clone(),
        ));
        return Ok(vec![Listening {
            location: "edge".into(),
            url: format!("http://{addr}"),
        }]);
    };
    let mut out = Vec::new();
    let mut acceptor = None;
    for (i, loc) in edge.distribution().locations.iter().enumerate() {
        let addr = match (i, loc.addr) {
            // The flag / env / server.edge_addr decide where the first location listens.
            (0, _) => config.edge_addr,
            (_, Some(a)) => a,
            (_, None) => anyhow::bail!(
                "at `distribution.locations[{i}].addr`: every location after the first needs an address"
            ),
        };
        let location = edge
            .location(i)
            .context("a location the distribution lists")?;
        let l = crate::listen::bind(addr, &format!("edge location {}", loc.name)).await?;
        out.push(Listening {
            location: loc.name.clone(),
            url: format!("http://{}", l.local_addr()?),
        });
        let handler = Arc::new(EdgeLocation::new(
            location.clone(),
            false,
            loc.name.clone(),
            metrics.clone(),
        ));
        tasks.spawn(crate::listen::serve(
            l,
            None,
            handler,
            gate.clone(),
            stop.clone(),
        ));
        if let Some(https) = loc.https_addr {
            if acceptor.is_none() {
                acceptor =
                    Some(crate::tls::acceptor(config.tls_cert.as_ref(), &config.data_dir)?.0);
            }
            let l =
                crate::listen::bind(https, &format!("edge location {} (HTTPS)", loc.name)).await?;
            out.push(Listening {
                location: loc.name.clone(),
                url: format!("https://{}", l.local_addr()?),
            });
            let handler = Arc::new(EdgeLocation::new(
                location,
                true,
                loc.name.clone(),
                metrics.clone(),
            ));
            tasks.spawn(crate::listen::serve(
                l,
                acceptor.clone(),
                handler,
                gate.clone(),
                stop.clone(),
            ));
        }
    }
    Ok(out)
}
