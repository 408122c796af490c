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
    pub must_understand: bool,
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
                    "must-understand" => d.must_understand = true,
                    "stale-while-revalidate" => d.stale_while_revalidate = Some(secs()),
                    "stale-if-error" => d.stale_if_error = Some(secs()),
                    _ => {}
                }
            }
        }
        found.then_some(d)
    }

    /// The directives that govern this cache: `CDN-Cache-Control` when present and valid
    /// (RFC 9213 §2.1: a field that is not a valid structured-field Dictionary is ignored as
    /// a whole), else untargeted `Surrogate-Control` directives (W3C Edge Architecture, as
    /// other CDNs honour it), else `Cache-Control`.
    pub fn effective(headers: &HeaderMap) -> Self {
        let cdn: Vec<&str> = headers
            .get_all("cdn-cache-control")
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{0}"))
            .collect();
        if !cdn.is_empty() && sf::is_dictionary(&cdn.join(", ")) {
            return Self::parse(headers, "cdn-cache-control").unwrap_or_default();
        }
        if let Some(d) = Self::surrogate(headers) {
            return d;
        }
        Self::parse(headers, "cache-control").unwrap_or_default()
    }

    /// `Surrogate-Control`'s directives for this cache (W3C Edge Architecture): those
    /// targeted at [`SURROGATE_TOKEN`] (`max-age=60;nuvem`, the token nuvem announces in
    /// `Surrogate-Capability`) when there are any, the most specific; else those that target
    /// every surrogate (no `;target`). Directives targeted at other devices are skipped.
    /// `None` when no directive is for this cache.
    fn surrogate(headers: &HeaderMap) -> Option<Self> {
        let all: Vec<(&str, Option<&str>)> = headers
            .get_all("surrogate-control")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(split_outside_quotes)
            .map(split_target)
            .collect();
        let mine: Vec<&str> = all
            .iter()
            .filter(|(_, t)| t.is_some_and(|t| t.eq_ignore_ascii_case(SURROGATE_TOKEN)))
            .map(|(d, _)| *d)
            .collect();
        let chosen = if mine.is_empty() {
            all.iter()
                .filter(|(_, t)| t.is_none())
                .map(|(d, _)| *d)
                .collect()
        } else {
            mine
        };
        if chosen.is_empty() {
            return None;
        }
        let mut h = HeaderMap::new();
        h.insert(
            "surrogate-control",
            http::HeaderValue::from_str(&chosen.join(",")).ok()?,
        );
        Self::parse(&h, "surrogate-control")
    }
}

/// The device token nuvem's edge announces to origins in `Surrogate-Capability`, and answers
/// to in targeted `Surrogate-Control` directives (W3C Edge Architecture).
pub const SURROGATE_TOKEN: &str = "nuvem";

/// `Surrogate-Capability`'s value for this cache: its token and the base capability every
/// surrogate has.
pub const SURROGATE_CAPABILITY: &str = "nuvem=\"Surrogate/1.0\"";

/// A `Surrogate-Control` directive and the device it targets: `max-age=60;abc` is
/// (`max-age=60`, `abc`); the `;` is the last one outside quotes.
fn split_target(d: &str) -> (&str, Option<&str>) {
    let mut quoted = false;
    let mut at = None;
    for (i, c) in d.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => at = Some(i),
            _ => {}
        }
    }
    match at {
        Some(i) => (d[..i].trim(), Some(d[i + 1..].trim())),
        None => (d.trim(), None),
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
/// Statuses whose caching semantics this cache implements (for `must-understand`).
const UNDERSTOOD: [u16; 16] = [
    200, 203, 204, 206, 300, 301, 302, 303, 307, 308, 400, 404, 405, 410, 414, 501,
];
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
    /// CloudFront serves an expired object when the origin fails (cannot be reached, or
    /// answers 5xx) — unless a directive asks for revalidation every time: must-revalidate,
    /// proxy-revalidate, no-cache, or s-maxage (which implies proxy-revalidate, RFC 9111
    /// §5.2.2.10). `stale-if-error` bounds it when present.
    pub stale_on_error: bool,
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
    // RFC 9111 §5.2.2.3: with must-understand, a status whose caching rules the cache knows
    // overrides no-store; any other status is not stored.
    let understood = UNDERSTOOD.contains(&status.as_u16());
    if d.must_understand && !understood {
        return Err(NoStore::Status);
    }
    if d.no_store && !forced && !(d.must_understand && understood) {
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
    let stale_on_error = !no_stale && !d.no_cache && d.s_maxage.is_none();
    Ok(Freshness {
        lifetime: Duration::from_secs(lifetime),
        stale_while_revalidate: Duration::from_secs(d.stale_while_revalidate.unwrap_or(0)),
        stale_if_error: Duration::from_secs(d.stale_if_error.unwrap_or(0)),
        no_stale,
        stale_on_error,
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

/// RFC 9111 §1.2.2: an age past 2^31 is sent (and kept) as 2^31.
const MAX_AGE: u64 = 1 << 31;

/// The upstream `Age` in seconds. Anything but one field line holding one non-negative
/// integer — a list (`7200, 0`), several lines, a sign, a fraction, parameters, letters — is
/// not trusted: the response counts as already stale (2^31 s old), so it is revalidated
/// rather than served for longer than its origin meant (what the public cache conformance
/// suite requires; RFC 9111 §5.1 would read a list by its first member).
pub fn age_header(headers: &HeaderMap) -> u64 {
    let mut lines = headers.get_all(header::AGE).iter();
    let Some(first) = lines.next() else {
        return 0;
    };
    if lines.next().is_some() {
        return MAX_AGE;
    }
    match first.to_str().map(str::trim) {
        Ok(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            v.parse().unwrap_or(MAX_AGE).min(MAX_AGE)
        }
        _ => MAX_AGE,
    }
}

/// RFC 8941 structured fields, as far as `CDN-Cache-Control` needs: is a field value a valid
/// Dictionary?
mod sf {
    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn eat(&mut self, c: u8) -> bool {
            if self.peek() == Some(c) {
                self.i += 1;
                true
            } else {
                false
            }
        }
        fn ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.i += 1;
            }
        }
        fn sp(&mut self) {
            while self.peek() == Some(b' ') {
                self.i += 1;
            }
        }
        fn key(&mut self) -> bool {
            match self.peek() {
                Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
                _ => return false,
            }
            while let Some(c) = self.peek() {
                if c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c) {
                    self.i += 1;
                } else {
                    break;
                }
            }
            true
        }
        fn bare_item(&mut self) -> bool {
            match self.peek() {
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(b'"') => self.string(),
                Some(b':') => self.bytes(),
                Some(b'?') => {
                    self.i += 1;
                    self.eat(b'0') || self.eat(b'1')
                }
                Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                    self.i += 1;
                    while let Some(c) = self.peek() {
                        if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c) {
                            self.i += 1;
                        } else {
                            break;
                        }
                    }
                    true
                }
                _ => false,
            }
        }
        fn number(&mut self) -> bool {
            self.eat(b'-');
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let int = self.i - start;
            if int == 0 {
                return false;
            }
            if self.eat(b'.') {
                let fs = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let frac = self.i - fs;
                int <= 12 && (1..=3).contains(&frac)
            } else {
                int <= 15
            }
        }
        fn string(&mut self) -> bool {
            self.i += 1;
            loop {
                match self.peek() {
                    None => return false,
                    Some(b'"') => {
                        self.i += 1;
                        return true;
                    }
                    Some(b'\\') => {
                        self.i += 1;
                        if !(self.eat(b'"') || self.eat(b'\\')) {
                            return false;
                        }
                    }
                    Some(c) if (0x20..0x7f).contains(&c) => self.i += 1,
                    Some(_) => return false,
                }
            }
        }
        fn bytes(&mut self) -> bool {
            self.i += 1;
            while let Some(c) = self.peek() {
                if c == b':' {
                    self.i += 1;
                    return true;
                }
                if c.is_ascii_alphanumeric() || b"+/=".contains(&c) {
                    self.i += 1;
                } else {
                    return false;
                }
            }
            false
        }
        fn parameters(&mut self) -> bool {
            while self.eat(b';') {
                self.sp();
                if !self.key() {
                    return false;
                }
                if self.eat(b'=') && !self.bare_item() {
                    return false;
                }
            }
            true
        }
        fn item_or_inner_list(&mut self) -> bool {
            if self.eat(b'(') {
                loop {
                    self.sp();
                    if self.eat(b')') {
                        break;
                    }
                    if !(self.bare_item() && self.parameters()) {
                        return false;
                    }
                    if !matches!(self.peek(), Some(b' ' | b')')) {
                        return false;
                    }
                }
                self.parameters()
            } else {
                self.bare_item() && self.parameters()
            }
        }
    }

    pub fn is_dictionary(v: &str) -> bool {
        let mut p = P {
            s: v.as_bytes(),
            i: 0,
        };
        p.sp();
        if p.peek().is_none() {
            return true;
        }
        loop {
            if !p.key() {
                return false;
            }
            let ok = if p.eat(b'=') {
                p.item_or_inner_list()
            } else {
                p.parameters()
            };
            if !ok {
                return false;
            }
            p.ows();
            if p.peek().is_none() {
                return true;
            }
            if !p.eat(b',') {
                return false;
            }
            p.ows();
            if p.peek().is_none() {
                return false;
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn dictionaries() {
            for ok in [
                "max-age=60",
                "max-age=60, stale-while-revalidate=30",
                "no-store",
                "private, max-age=0",
                "a=\"x\\\"y\", b=?1, c=:aGk=:, d=(1 2);p=3, e;f=1.5",
                "  max-age=60  ",
                "",
            ] {
                assert!(super::is_dictionary(ok), "{ok:?} is valid");
            }
            for bad in [
                "max-age=60,",
                "MAX-AGE=60",
                "max-age=60 stale",
                "max-age==60",
                "max-age=\"60",
                ", max-age=60",
                "max-age=1234567890123456",
                "max-age=6 0",
                "max-age=60;;",
            ] {
                assert!(!super::is_dictionary(bad), "{bad:?} is invalid");
            }
        }
    }
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
    apparent.max(age_header(headers).saturating_add(delay))
}

/// Whether a comma-separated header lists `token` (case-insensitive).
pub fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}
