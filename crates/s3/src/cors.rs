//! CORS for browsers (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html):
//! answers preflight `OPTIONS` from the bucket's rules and adds `Access-Control-*` headers
//! to responses for a matching origin. Without a matching rule, preflight is 403.

use http::{HeaderMap, HeaderValue, StatusCode};
use nuvem_aws::{Body, empty_body};

use crate::error::Error;
use crate::policy::wildcard;
use crate::store::{CorsRule, ObjectStore};

fn find<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                r.allowed_headers
                    .iter()
                    .any(|a| wildcard(&a.to_ascii_lowercase(), &h.to_ascii_lowercase()))
            })
    })
}

fn put(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn allow_headers(h: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    put(
        h,
        "access-control-allow-origin",
        if any { "*" } else { origin },
    );
    put(
        h,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        put(
            h,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        put(h, "access-control-max-age", &age.to_string());
    }
    if !any {
        put(
            h,
            "vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        );
    }
}

/// The answer to a preflight request for `bucket` (the one the request addresses, path style
/// or virtual-hosted: [`crate::service::addressed`]).
pub async fn preflight(
    store: &ObjectStore,
    parts: &http::request::Parts,
    bucket: Option<String>,
) -> Result<http::Response<Body>, Error> {
    let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(method)) = (header("origin"), header("access-control-request-method"))
    else {
        return Err(Error::InvalidRequest(
            "Insufficient information. Origin request header needed.".into(),
        ));
    };
    let bucket = bucket.ok_or(Error::AccessDenied)?;
    let meta = store.bucket(&bucket).await?;
    let requested: Vec<String> = header("access-control-request-headers")
        .map(|h| {
            h.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let rules = meta.cors.unwrap_or_default();
    let Some(rule) = find(&rules, origin, method, &requested) else {
        return Err(Error::CorsForbidden);
    };
    let mut resp = http::Response::new(empty_body());
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    allow_headers(h, rule, origin);
    if !requested.is_empty() {
        put(h, "access-control-allow-headers", &requested.join(", "));
    }
    Ok(resp)
}

/// CORS headers for an actual (non-preflight) request from a browser to `bucket`.
pub async fn response_headers(
    store: &ObjectStore,
    parts: &http::request::Parts,
    bucket: Option<String>,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    let Some(origin) = parts.headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return h;
    };
    let Some(bucket) = bucket else {
        return h;
    };
    let Some(rules) = store.bucket(&bucket).await.ok().and_then(|b| b.cors) else {
        return h;
    };
    if let Some(rule) = find(&rules, origin, parts.method.as_str(), &[]) {
        allow_headers(&mut h, rule, origin);
    }
    h
}
