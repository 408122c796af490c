//! RFC 9111 as CloudFront applies it: may a response be stored, for how long is it fresh,
//! may it be served stale. Pure functions of headers, the cache policy and the clock.
//!
//! Must not: touch caches or sockets. CloudFront's rules on top of the RFC
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html>):
//! the origin's max-age/s-maxage/Expires are clamped into [min TTL, max TTL]; with none of
//! them the default TTL applies (no heuristic freshness); `no-store`/`private`/`no-cache` are
//! honoured while min TTL is 0 and overridden by a positive min TTL. RFC 9213's
//! `CDN-Cache-Control` replaces `Cache-Control` for this cache when present.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header};

use crate::distribution::CachePolicy;

/// The directives of one `Cache-Control`-like field that a shared cache acts on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub no_cache: bool,
    pub no_store: bool,
    pub private: bool,
    pub public: bool,
    pub must_revalidate: bool,
    pub proxy_revalidate: bool,
    pub immutable: bool,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

impl Directives {
    /// Parses every line of `name`. Unknown directives are ignored; a malformed delta-seconds
    /// makes its directive count as 0 (RFC 9111 §4.2.1: treat invalid freshness as stale).
    pub fn parse(headers: &HeaderMap, name: &str) -> Option<Self> {
        let mut found = false;
        let mut d = Directives::default();
        for v in headers.get_all(name) {
            found = true;
            let Ok(v) = v.to_str() else { continue };
            for item in split_outside_quotes(v) {
                let (k, arg) = match item.split_once('=') {
                    Some((k, a)) => (k.trim(), Some(a.trim().trim_matches('"'))),
                    None => (item.trim(), None),
                };
                let secs = || arg.map(|a| a.parse::<u64>().unwrap_or(0)).unwrap_or(0);
                match k.to_ascii_lowercase().as_str() {
                    "max-age" => d.max_age = Some(d.max_age.map_or(secs(), |m| m.min(secs()))),
                    "s-maxage" => d.s_maxage = Some(secs()),
                    // `no-cache="Set-Cookie"` (qualified) only forbids reusing those fields
                    // without revalidation; we treat it as unqualified, the safe reading.
                    "no-cache" => d.no_cache = true,
                    "no-store" => d.no_store = true,
                    "private" => d.private = true,
                    "public" => d.public = true,
                    "must-revalidate" => d.must_revalidate = true,
                    "proxy-revalidate" => d.proxy_revalidate = true,
                    "immutable" => d.immutable = true,
                    "stale-while-revalidate" => d.stale_while_revalidate = Some(secs()),
                    "stale-if-error" => d.stale_if_error = Some(secs()),
                    _ => {}
                }
            }
        }
        found.then_some(d)
    }

    /// The directives that govern this cache: `CDN-Cache-Control` when present, else
    /// `Cache-Control` (RFC 9213 §2.1).
    pub fn effective(headers: &HeaderMap) -> Self {
        Self::parse(headers, "cdn-cache-control")
            .or_else(|| Self::parse(headers, "cache-control"))
            .unwrap_or_default()
    }
}

fn split_outside_quotes(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// Statuses RFC 9110 §15.1 calls heuristically cacheable: stored without explicit freshness
/// (with the default TTL, since heuristics are off).
const HEURISTIC: [u16; 11] = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414];
/// 501 is heuristically cacheable too, but CloudFront treats it as an error response.
const ERROR_CACHED_BY_DEFAULT: [u16; 6] = [404, 405, 410, 414, 501, 400];

/// How a stored response ages and may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub lifetime: Duration,
    pub stale_while_revalidate: Duration,
    pub stale_if_error: Duration,
    /// must-revalidate / proxy-revalidate: never served stale.
    pub no_stale: bool,
}

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoStore {
    NoStore,
    Private,
    VaryStar,
    Authorization,
    SetCookie,
    Status,
}

/// What the request looked like, as far as storing its response is concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts {
    pub had_authorization: bool,
    /// Cookies are part of the cache key, so a `Set-Cookie` belongs to this key's variant.
    pub cookies_in_key: bool,
    /// A custom error response's error-caching TTL for this status, if one is configured.
    pub error_caching_ttl: Option<u64>,
}

/// Decides whether a response may be stored and for how long it is fresh (RFC 9111 §3 and
/// §4.2.1, with CloudFront's TTL clamps).
pub fn decide(
    status: StatusCode,
    headers: &HeaderMap,
    policy: &CachePolicy,
    req: RequestFacts,
) -> Result<Freshness, NoStore> {
    let d = Directives::effective(headers);
    let forced = policy.min_ttl > 0;
    if header_has_token(headers, header::VARY, "*") {
        return Err(NoStore::VaryStar);
    }
    if d.no_store && !forced {
        return Err(NoStore::NoStore);
    }
    if d.private && !forced {
        return Err(NoStore::Private);
    }
    // RFC 9111 §3.5.
    if req.had_authorization && !(d.public || d.s_maxage.is_some() || d.must_revalidate) {
        return Err(NoStore::Authorization);
    }
    // A shared cache must not hand one visitor's cookie to another.
    if headers.contains_key(header::SET_COOKIE) && !req.cookies_in_key {
        return Err(NoStore::SetCookie);
    }
    let explicit = explicit_lifetime(&d, headers);
    let code = status.as_u16();
    let lifetime = match (explicit, req.error_caching_ttl) {
        // A configured error-caching TTL is what CloudFront uses for that status.
        (_, Some(ttl)) if code >= 400 => ttl,
        (Some(secs), _) => secs.clamp(policy.min_ttl, policy.max_ttl),
        (None, _) if ERROR_CACHED_BY_DEFAULT.contains(&code) => 10,
        (None, _) if HEURISTIC.contains(&code) || d.public => policy.default_ttl,
        (None, _) => return Err(NoStore::Status),
    };
    let lifetime = if d.no_cache && !forced { 0 } else { lifetime };
    let no_stale = d.must_revalidate || d.proxy_revalidate;
    Ok(Freshness {
        lifetime: Duration::from_secs(lifetime),
        stale_while_revalidate: Duration::from_secs(d.stale_while_revalidate.unwrap_or(0)),
        stale_if_error: Duration::from_secs(d.stale_if_error.unwrap_or(0)),
        no_stale,
    })
}

/// s-maxage, then max-age, then Expires − Date (RFC 9111 §4.2.1). An invalid or past
/// Expires gives 0: stale.
fn explicit_lifetime(d: &Directives, headers: &HeaderMap) -> Option<u64> {
    if let Some(s) = d.s_maxage {
        return Some(s);
    }
    if let Some(m) = d.max_age {
        return Some(m);
    }
    let expires = headers.get(header::EXPIRES)?;
    let Some(expires) = expires
        .to_str()
        .ok()
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return Some(0);
    };
    let date = date_header(headers).unwrap_or_else(SystemTime::now);
    Some(
        expires
            .duration_since(date)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

pub fn date_header(headers: &HeaderMap) -> Option<SystemTime> {
    headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
}

/// The upstream `Age` in seconds; invalid values count as 0 (RFC 9111 §5.1 says a cache
/// should ignore them).
pub fn age_header(headers: &HeaderMap) -> u64 {
    headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The corrected initial age of a response (RFC 9111 §4.2.3).
pub fn initial_age(
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> u64 {
    let apparent = date_header(headers)
        .and_then(|d| response_time.duration_since(d).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let delay = response_time
        .duration_since(request_time)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    apparent.max(age_header(headers) + delay)
}

/// Whether a comma-separated header lists `token` (case-insensitive).
pub fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}
