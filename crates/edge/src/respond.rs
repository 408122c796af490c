//! Serving a stored entry to a viewer: `Age`, conditional requests (If-None-Match,
//! If-Modified-Since → 304; If-Match, If-Unmodified-Since → 412), single byte ranges (206,
//! 416), HEAD, compression, and the CloudFront-style headers every response carries
//! (`X-Cache`, `Via`, `X-Amz-Cf-Pop`, `X-Amz-Cf-Id`).
//!
//! Must not: go to the origin. Multipart ranges are answered with the whole body (RFC 9110
//! §14.2 allows ignoring Range).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use nuvem_aws::{Body, BoxError, empty_body, full_body};

use crate::compress::{self, Encoding};
use crate::entry::Entry;
use crate::regional::{Cached, add_via};

/// `X-Cache`: whether the cache answered (`Hit from nuvem`, `Miss from nuvem`,
/// `RefreshHit from nuvem`, `Error from nuvem`). Header names are made once: a name given
/// as a string is parsed, and a non-standard one copied, on every insert.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const X_AMZ_CF_POP: HeaderName = HeaderName::from_static("x-amz-cf-pop");
const X_AMZ_CF_ID: HeaderName = HeaderName::from_static("x-amz-cf-id");

/// Headers a response to a viewer may get beyond its stored ones (`Age`, `Vary`, `X-Cache`,
/// `Via`, `X-Amz-Cf-Pop`, `X-Amz-Cf-Id`, `Accept-Ranges`, `Content-Length`): room made once.
pub(crate) const ADDED: usize = 8;

pub struct Viewer<'a> {
    pub headers: &'a HeaderMap,
    pub head: bool,
    /// The behavior compresses.
    pub compress: bool,
    pub pop: &'a str,
}

/// The response for a stored entry.
pub async fn serve(entry: &Arc<Entry>, v: &Viewer<'_>, cached: Cached) -> Response<Body> {
    let mut headers = entry.headers.clone();
    headers.reserve(ADDED);
    headers.insert(
        header::AGE,
        small_value(decimal(&mut [0; 20], entry.age(SystemTime::now()))),
    );
    let mut status = entry.status;
    let mut body = None;
    if status == StatusCode::OK {
        // RFC 9110 §7.7: `no-transform` forbids changing the content coding; bodies outside
        // the size window are never compressed, so they do not vary by Accept-Encoding.
        let encodable = v.compress
            && compress::compressible(&headers)
            && !crate::freshness::header_has_token(&headers, header::CACHE_CONTROL, "no-transform")
            && size_hint(entry)
                .is_none_or(|n| (compress::MIN_SIZE..=compress::MAX_SIZE).contains(&n));
        if encodable
            && !crate::freshness::header_has_token(&headers, header::VARY, "accept-encoding")
        {
            headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        let encoding = if encodable {
            compress::choose(v.headers)
        } else {
            None
        };
        let has_range = v.headers.contains_key(header::RANGE);
        // Conditionals compare against the representation the viewer would get.
        if let Some(enc) = encoding.filter(|_| !has_range)
            && let Some(bytes) = encoded(entry, enc).await
        {
            weaken_etag(&mut headers);
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(enc.token()),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            body = Some(full_body(bytes));
        }
        if let Some(s) = precondition(v.headers, &headers) {
            let mut r = Response::new(empty_body());
            *r.status_mut() = s;
            if s == StatusCode::NOT_MODIFIED {
                for h in [
                    header::CONTENT_LENGTH,
                    header::CONTENT_ENCODING,
                    header::CONTENT_RANGE,
                ] {
                    headers.remove(h);
                }
            } else {
                headers.clear();
            }
            *r.headers_mut() = headers;
            decorate(&mut r, v.pop, cached);
            return r;
        }
        if body.is_none() && has_range && !v.head && if_range_ok(v.headers, &headers) {
            match entry.repr.body.wait().await {
                Ok(chunks) => {
                    let len: u64 = chunks.iter().map(|c| c.len() as u64).sum();
                    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                    match parse_range(v.headers.get(header::RANGE), len) {
                        RangeResult::Ignore => {}
                        RangeResult::Unsatisfiable => {
                            status = StatusCode::RANGE_NOT_SATISFIABLE;
                            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
                            if let Ok(cr) = HeaderValue::from_str(&format!("bytes */{len}")) {
                                headers.insert(header::CONTENT_RANGE, cr);
                            }
                            body = Some(empty_body());
                        }
                        RangeResult::Range(start, end) => {
                            status = StatusCode::PARTIAL_CONTENT;
                            if let Ok(cr) =
                                HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
                            {
                                headers.insert(header::CONTENT_RANGE, cr);
                            }
                            headers
                                .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
                            body = Some(slice(&chunks, start, end));
                        }
                    }
                }
                Err(_) => return error_response(StatusCode::BAD_GATEWAY, v.pop),
            }
        }
    }
    let body = match body {
        Some(b) => b,
        None => {
            let shared = &entry.repr.body;
            if !headers.contains_key(header::CONTENT_LENGTH) && shared.state() == Some(true) {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(shared.received()));
            }
            if v.head {
                empty_body()
            } else {
                shared.reader()
            }
        }
    };
    let body = if v.head { empty_body() } else { body };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    decorate(&mut r, v.pop, cached);
    r
}

/// The body's length when known now: whole, or declared by the origin.
fn size_hint(entry: &Entry) -> Option<u64> {
    if entry.repr.body.state() == Some(true) {
        return Some(entry.repr.body.received());
    }
    entry
        .headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The compressed form of an entry, made once and kept. `None` when the body is outside
/// CloudFront's size window or failed.
async fn encoded(entry: &Arc<Entry>, enc: Encoding) -> Option<Bytes> {
    let cell = match enc {
        Encoding::Br => &entry.repr.br,
        Encoding::Gzip => &entry.repr.gzip,
    };
    if let Some(done) = cell.get() {
        return done.clone();
    }
    let chunks = entry.repr.body.wait().await.ok()?;
    let len: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    if !(compress::MIN_SIZE..=compress::MAX_SIZE).contains(&len) {
        return None;
    }
    let repr = entry.repr.clone();
    // Compression is CPU work: off the async workers. Racing requests may both compress; the
    // first result is kept.
    let out = tokio::task::spawn_blocking(move || compress::encode(enc, &chunks).ok())
        .await
        .ok()
        .flatten();
    let cell = match enc {
        Encoding::Br => &repr.br,
        Encoding::Gzip => &repr.gzip,
    };
    cell.get_or_init(|| out).clone()
}

fn weaken_etag(headers: &mut HeaderMap) {
    if let Some(e) = headers.get(header::ETAG).and_then(|v| v.to_str().ok())
        && !e.starts_with("W/")
        && let Ok(w) = HeaderValue::from_str(&format!("W/{e}"))
    {
        headers.insert(header::ETAG, w);
    }
}

/// RFC 9110 §13.2.2 order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.
fn precondition(req: &HeaderMap, resp: &HeaderMap) -> Option<StatusCode> {
    // Most requests carry none: nothing of the response is parsed for them.
    if ![
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
    ]
    .iter()
    .any(|h| req.contains_key(h))
    {
        return None;
    }
    let etag = resp.get(header::ETAG).and_then(|v| v.to_str().ok());
    let lm = date(resp.get(header::LAST_MODIFIED));
    if let Some(im) = req.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        if !etag_list_matches(im, etag, true) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let (Some(ius), Some(lm)) = (date(req.get(header::IF_UNMODIFIED_SINCE)), lm)
        && lm > ius
    {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if let Some(inm) = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        if etag_list_matches(inm, etag, false) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    } else if let Some(ims) = date(req.get(header::IF_MODIFIED_SINCE))
        // RFC 9111 §4.3.2: without a Last-Modified, a cache compares with the stored
        // response's Date.
        && let Some(modified) = lm.or_else(|| date(resp.get(header::DATE)))
        && modified <= ims
    {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

fn date(v: Option<&HeaderValue>) -> Option<SystemTime> {
    httpdate::parse_http_date(v?.to_str().ok()?).ok()
}

fn etag_list_matches(list: &str, etag: Option<&str>, strong: bool) -> bool {
    if list.trim() == "*" {
        return etag.is_some();
    }
    let Some(etag) = etag else { return false };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if strong && etag.starts_with("W/") {
        return false;
    }
    list.split(',').any(|t| {
        let t = t.trim();
        if strong && t.starts_with("W/") {
            return false;
        }
        opaque(t) == opaque(etag)
    })
}

/// If-Range: the range applies only if the validator still matches (strong comparison).
fn if_range_ok(req: &HeaderMap, resp: &HeaderMap) -> bool {
    let Some(ir) = req.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if ir.starts_with('"') || ir.starts_with("W/") {
        let etag = resp.get(header::ETAG).and_then(|v| v.to_str().ok());
        return !ir.starts_with("W/") && etag == Some(ir);
    }
    match (
        httpdate::parse_http_date(ir).ok(),
        date(resp.get(header::LAST_MODIFIED)),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RangeResult {
    /// Absent, malformed or multipart: serve the whole body.
    Ignore,
    Unsatisfiable,
    /// Inclusive byte positions.
    Range(u64, u64),
}

pub fn parse_range(v: Option<&HeaderValue>, len: u64) -> RangeResult {
    let Some(spec) = v.and_then(|v| v.to_str().ok()) else {
        return RangeResult::Ignore;
    };
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return RangeResult::Ignore;
    };
    if set.contains(',') {
        return RangeResult::Ignore;
    }
    let Some((a, b)) = set.trim().split_once('-') else {
        return RangeResult::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last N bytes.
        let Ok(n) = b.parse::<u64>() else {
            return RangeResult::Ignore;
        };
        if n == 0 || len == 0 {
            return RangeResult::Unsatisfiable;
        }
        return RangeResult::Range(len.saturating_sub(n), len - 1);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeResult::Ignore;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return RangeResult::Ignore,
        }
    };
    if start >= len {
        return RangeResult::Unsatisfiable;
    }
    RangeResult::Range(start, end.min(len - 1))
}

fn slice(chunks: &[Bytes], start: u64, end: u64) -> Body {
    let mut out: Vec<Result<Frame<Bytes>, BoxError>> = Vec::new();
    let mut pos = 0u64;
    for c in chunks {
        let (cs, ce) = (pos, pos + c.len() as u64);
        pos = ce;
        if ce <= start || cs > end {
            continue;
        }
        let from = start.saturating_sub(cs) as usize;
        let to = ((end + 1).min(ce) - cs) as usize;
        out.push(Ok(Frame::data(c.slice(from..to))));
    }
    StreamBody::new(stream::iter(out)).boxed_unsync()
}

/// The headers CloudFront adds to every response.
pub fn decorate(r: &mut Response<Body>, pop: &str, cached: Cached) {
    let h = r.headers_mut();
    let x = match cached {
        Cached::Hit => "Hit from nuvem",
        Cached::Miss => "Miss from nuvem",
        Cached::RefreshHit => "RefreshHit from nuvem",
    };
    h.insert(X_CACHE, HeaderValue::from_static(x));
    finish_headers(h, pop);
}

pub fn finish_headers(h: &mut HeaderMap, pop: &str) {
    match pop_headers(pop) {
        Some((via, p)) => {
            h.append(header::VIA, via);
            h.insert(X_AMZ_CF_POP, p);
        }
        None => add_via(h, pop),
    }
    h.insert(X_AMZ_CF_ID, request_id());
}

/// The `Via` and `X-Amz-Cf-Pop` values of a location, made once per thread and location
/// rather than formatted for every response.
fn pop_headers(pop: &str) -> Option<(HeaderValue, HeaderValue)> {
    thread_local! {
        static MADE: std::cell::RefCell<Vec<(String, HeaderValue, HeaderValue)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    MADE.with_borrow_mut(|made| {
        if let Some((_, via, p)) = made.iter().find(|(name, _, _)| name == pop) {
            return Some((via.clone(), p.clone()));
        }
        let via = HeaderValue::from_str(&format!("1.1 {pop}.nuvem (nuvem)")).ok()?;
        let p = HeaderValue::from_str(pop).ok()?;
        // A handful of locations in practice; the bound only guards against misuse.
        if made.len() < 64 {
            made.push((pop.to_string(), via.clone(), p.clone()));
        }
        Some((via, p))
    })
}

/// A unique id for `X-Amz-Cf-Id` (32 hex digits): a per-thread 128-bit counter stepped by
/// an odd constant and mixed (splitmix64), seeded once from the OS's random source. Ids are
/// for correlating logs, not secrets; this costs no system call per response (a v4 UUID
/// asked the kernel for randomness every time).
fn request_id() -> HeaderValue {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<(u64, u64)> = Cell::new(uuid::Uuid::new_v4().as_u64_pair());
    }
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (a, b) = STATE.with(|s| {
        let (a, b) = s.get();
        let a = a.wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set((a, b));
        (mix(a), mix(a ^ b))
    });
    let mut out = [0u8; 32];
    let hex = b"0123456789abcdef";
    for (i, byte) in a
        .to_be_bytes()
        .into_iter()
        .chain(b.to_be_bytes())
        .enumerate()
    {
        out[2 * i] = hex[usize::from(byte >> 4)];
        out[2 * i + 1] = hex[usize::from(byte & 15)];
    }
    small_value(&out)
}

/// `n` in decimal digits, written into the end of `buf`.
fn decimal(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// A header value made of a few visible ASCII bytes (digits, hex), cut from a per-thread
/// buffer shared by many values instead of allocated one by one: a response's `Age` and
/// `X-Amz-Cf-Id` cost no allocation (the buffer, 4 KiB, is freed when the last value cut
/// from it is dropped).
fn small_value(bytes: &[u8]) -> HeaderValue {
    use std::cell::RefCell;
    const POOL: usize = 4096;
    thread_local! {
        static BUF: RefCell<bytes::BytesMut> = RefCell::new(bytes::BytesMut::new());
    }
    if bytes.len() > 64 {
        return HeaderValue::from_bytes(bytes).unwrap_or_else(|_| HeaderValue::from_static("0"));
    }
    let cut = BUF.with_borrow_mut(|buf| {
        if buf.capacity() < bytes.len() {
            *buf = bytes::BytesMut::with_capacity(POOL);
        }
        buf.extend_from_slice(bytes);
        buf.split_to(bytes.len()).freeze()
    });
    HeaderValue::from_maybe_shared(cut).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// An error made by the edge itself (`X-Cache: Error from nuvem`).
pub fn error_response(status: StatusCode, pop: &str) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut r = Response::new(full_body(format!(
        "<!DOCTYPE html><title>{} {reason}</title><h1>{} {reason}</h1><p>Generated by nuvem (edge {pop}).</p>\n",
        status.as_u16(),
        status.as_u16()
    )));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(X_CACHE, HeaderValue::from_static("Error from nuvem"));
    finish_headers(h, pop);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// If-Modified-Since against the stored Last-Modified, or its Date when there is none.
    #[test]
    fn if_modified_since() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        let (before, at, after) = (
            "Sun, 06 Dec 2026 10:00:00 GMT",
            "Sun, 06 Dec 2026 11:00:00 GMT",
            "Sun, 06 Dec 2026 12:00:00 GMT",
        );
        let not_modified = Some(StatusCode::NOT_MODIFIED);
        for (stored, ims, want) in [
            (h(&[("last-modified", at)]), at, not_modified),
            (h(&[("last-modified", at)]), after, not_modified),
            (h(&[("last-modified", at)]), before, None),
            // Last-Modified decides when both are there.
            (
                h(&[("last-modified", before), ("date", after)]),
                at,
                not_modified,
            ),
            (h(&[("date", at)]), at, not_modified),
            (h(&[("date", at)]), before, None),
            (h(&[]), after, None),
            (h(&[("date", at)]), "not a date", None),
        ] {
            let req = h(&[("if-modified-since", ims)]);
            assert_eq!(precondition(&req, &stored), want, "{stored:?} vs {ims}");
        }
    }

    #[test]
    fn request_ids_are_distinct_hex() {
        let ids: std::collections::HashSet<HeaderValue> =
            (0..10_000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(10) {
            let s = id.to_str().unwrap();
            assert_eq!(s.len(), 32);
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
    }

    /// Values cut from the shared buffer keep their bytes while thousands more are cut
    /// after them (across many buffers).
    #[test]
    fn small_values_are_their_own_bytes() {
        for (n, text) in [(0, "0"), (9, "9"), (10, "10"), (12345, "12345")] {
            assert_eq!(decimal(&mut [0; 20], n), text.as_bytes());
        }
        assert_eq!(
            decimal(&mut [0; 20], u64::MAX),
            u64::MAX.to_string().as_bytes()
        );
        let kept: Vec<(u64, HeaderValue)> = (0..5000u64)
            .map(|n| (n, small_value(decimal(&mut [0; 20], n * 7919))))
            .collect();
        for (n, v) in &kept {
            assert_eq!(v.to_str().unwrap(), (n * 7919).to_string());
        }
    }

    #[test]
    fn every_response_names_its_location() {
        for pop in ["IAD89-C1", "GRU3-P2", "IAD89-C1"] {
            let mut h = HeaderMap::new();
            finish_headers(&mut h, pop);
            assert_eq!(h["x-amz-cf-pop"], pop);
            assert_eq!(h[header::VIA], format!("1.1 {pop}.nuvem (nuvem)").as_str());
        }
    }
}
