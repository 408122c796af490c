//! One stored response: its status, headers, shared body, how old it is and how long it stays
//! fresh (RFC 9111 §4.2), and the compressed forms made from it (stored once per encoding).
//!
//! Must not: decide storability (that is `freshness`) or touch the caches.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::body::SharedBody;
use crate::freshness::Freshness;

/// What a cache key stands for: the behavior, the path and the rest of the key (selected query
/// strings, headers, cookies, normalized). The path is kept apart so invalidations can match
/// it.
///
/// A key is hashed once, when it is made (SipHash with this process's random keys, so
/// visitors cannot choose colliding paths); the caches and maps it is looked up in take that
/// hash as it is ([`KeyHash`]) instead of hashing the strings again at every lookup and
/// insert (a miss looked its key up about ten times). It is shared, not copied: a miss hands
/// its key to the in-flight map, the entry and both tiers, and a clone is a reference count.
/// Its parts are read-only for both reasons.
#[derive(Debug, Clone)]
pub struct CacheKey(Arc<KeyParts>);

#[derive(Debug)]
struct KeyParts {
    behavior: usize,
    /// The path, then the rest.
    text: String,
    /// Where the path ends in `text`.
    split: usize,
    hash: u64,
}

impl CacheKey {
    pub fn new(behavior: usize, path: String, rest: String) -> Self {
        let split = path.len();
        let mut text = path;
        text.push_str(&rest);
        Self::from_text(behavior, text, split)
    }

    /// A key from the path followed by the rest in one string (`text[..split]` the path).
    pub fn from_text(behavior: usize, text: String, split: usize) -> Self {
        use std::hash::BuildHasher as _;
        static KEYS: OnceLock<std::hash::RandomState> = OnceLock::new();
        let split = if text.is_char_boundary(split) {
            split
        } else {
            text.len()
        };
        let (path, rest) = text.split_at(split);
        let hash = KEYS
            .get_or_init(std::hash::RandomState::new)
            .hash_one((behavior, path, rest));
        Self(Arc::new(KeyParts {
            behavior,
            text,
            split,
            hash,
        }))
    }

    pub fn behavior(&self) -> usize {
        self.0.behavior
    }

    pub fn path(&self) -> &str {
        &self.0.text[..self.0.split]
    }

    /// Everything else the key holds (query strings, headers, cookies).
    pub fn rest(&self) -> &str {
        &self.0.text[self.0.split..]
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&*self.0, &*other.0);
        Arc::ptr_eq(&self.0, &other.0)
            || (a.hash == b.hash
                && a.behavior == b.behavior
                && a.split == b.split
                && a.text == b.text)
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

/// The hasher of maps keyed by [`CacheKey`]: the key's own hash, mixed once. (Anything
/// else hashed with it is folded in FxHash's way; only cache keys are.)
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Builds [`KeyHasher`]s.
pub type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

/// The bytes of a representation and its compressed forms, shared by the entries a 304
/// refreshes (the representation did not change).
#[derive(Debug)]
pub struct Representation {
    pub body: Arc<SharedBody>,
    pub gzip: OnceLock<Option<Bytes>>,
    pub br: OnceLock<Option<Bytes>>,
}

impl Representation {
    pub fn new(body: Arc<SharedBody>) -> Arc<Self> {
        Arc::new(Self {
            body,
            gzip: OnceLock::new(),
            br: OnceLock::new(),
        })
    }
}

/// `headers` as an entry keeps them: every value copied out of the buffer the response was
/// read into, and room in the hash table for the few headers a response to a viewer adds.
///
/// A value parsed by hyper is a slice of the connection's read buffer, and a slice keeps the
/// whole buffer alive (8 KiB to 128 KiB and more, with the body's bytes) for as long as the
/// entry is cached, while the caches weigh only the headers and the body: with 100 KiB
/// objects the edge's resident memory was 500 MB against bounds of 320 MB. The room: a clone
/// keeps the table's size, so serving a hit adds its headers without growing the table again
/// (a rehash of every header, 3 % of a hit's instructions). The values are copied into one
/// buffer of their total length and each stored value is a slice of it: one allocation per
/// entry instead of one per value.
pub fn stored_headers(headers: &HeaderMap) -> HeaderMap {
    let mut all = BytesMut::with_capacity(headers.values().map(HeaderValue::len).sum());
    for value in headers.values() {
        all.extend_from_slice(value.as_bytes());
    }
    let all = all.freeze();
    let mut out = HeaderMap::with_capacity(headers.len() + crate::respond::ADDED);
    let mut at = 0;
    for (name, value) in headers {
        let end = at + value.len();
        let copied = match HeaderValue::from_maybe_shared(all.slice(at..end)) {
            Ok(mut v) => {
                v.set_sensitive(value.is_sensitive());
                v
            }
            Err(_) => value.clone(),
        };
        at = end;
        out.append(name.clone(), copied);
    }
    out
}

/// The fixed part of an entry's weight (see [`Entry::weight`]).
pub const ENTRY_OVERHEAD: usize = 3 * 1024;

#[derive(Debug)]
pub struct Entry {
    pub key: CacheKey,
    pub status: StatusCode,
    /// As received, less hop-by-hop fields and `Age` (recomputed when served); made by
    /// [`stored_headers`].
    pub headers: HeaderMap,
    pub repr: Arc<Representation>,
    pub response_time: SystemTime,
    /// The corrected initial age, seconds (RFC 9111 §4.2.3).
    pub initial_age: u64,
    pub freshness: Freshness,
    /// The request's values of the headers the response varies on (beyond the cache key).
    pub vary: Vec<(HeaderName, Option<HeaderValue>)>,
}

impl Entry {
    /// Age in whole seconds now.
    pub fn age(&self, now: SystemTime) -> u64 {
        let resident = now
            .duration_since(self.response_time)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.initial_age.saturating_add(resident)
    }

    pub fn is_fresh(&self, now: SystemTime) -> bool {
        Duration::from_secs(self.age(now)) < self.freshness.lifetime
    }

    /// How long past its lifetime this entry is (zero while fresh).
    pub fn staleness(&self, now: SystemTime) -> Duration {
        Duration::from_secs(self.age(now)).saturating_sub(self.freshness.lifetime)
    }

    /// Stale, but `stale-while-revalidate` lets it be served while a refresh runs.
    pub fn may_serve_while_revalidating(&self, now: SystemTime) -> bool {
        !self.freshness.no_stale
            && self.staleness(now) <= self.freshness.stale_while_revalidate
            && !self.freshness.stale_while_revalidate.is_zero()
    }

    /// Stale, but it may stand in for a failed origin: within `stale-if-error` when the
    /// origin set it, else as CloudFront does unless revalidation is required (see
    /// [`crate::Freshness::stale_on_error`]).
    pub fn may_serve_on_error(&self, now: SystemTime) -> bool {
        if self.freshness.no_stale {
            return false;
        }
        if !self.freshness.stale_if_error.is_zero() {
            return self.staleness(now) <= self.freshness.stale_if_error;
        }
        self.freshness.stale_on_error
    }

    /// Whether the request selects this variant (RFC 9111 §4.1).
    pub fn matches(&self, req: &HeaderMap) -> bool {
        self.vary.iter().all(|(name, want)| {
            let got = joined(req, name);
            got.as_ref() == want.as_ref()
        })
    }

    pub fn etag(&self) -> Option<&HeaderValue> {
        self.headers.get(header::ETAG)
    }

    pub fn last_modified(&self) -> Option<&HeaderValue> {
        self.headers.get(header::LAST_MODIFIED)
    }

    /// Can be revalidated with a conditional request.
    pub fn has_validator(&self) -> bool {
        self.etag().is_some() || self.last_modified().is_some()
    }

    /// Bytes this entry holds, for the caches' size bounds. The fixed part is what an entry
    /// costs beyond its key, headers and body: the structs, the header table, the body's
    /// channel, both tiers' map nodes, the disk tier's index entry and the allocator's share.
    /// Measured: the edge's resident memory grew by 4.2 KiB per 1 KiB object over 73,497
    /// misses (`nuvem-bench edge-cpu --scenarios miss1k`, 2026-12-07), of which the key,
    /// headers and body weighed about 1.4 KiB.
    pub fn weight(&self) -> u32 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        let compressed = self
            .repr
            .gzip
            .get()
            .and_then(|b| b.as_ref())
            .map_or(0, Bytes::len)
            + self
                .repr
                .br
                .get()
                .and_then(|b| b.as_ref())
                .map_or(0, Bytes::len);
        let total = ENTRY_OVERHEAD
            + self.key.path().len()
            + self.key.rest().len()
            + headers
            + self.repr.body.held() as usize
            + compressed;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// A request header's value as variant matching compares it, or `None` when absent: every
/// field line combined, list members trimmed and joined with ", " (so `1,2`, ` 1 , 2` and two
/// lines `1` and `2` select the same variant), and language tags compared without case.
pub fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let caseless = *name == header::ACCEPT_LANGUAGE;
    let mut out: Vec<u8> = Vec::new();
    for v in values {
        for member in v.as_bytes().split(|b| *b == b',') {
            let member = member.trim_ascii();
            if member.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.extend_from_slice(b", ");
            }
            if caseless {
                out.extend(member.iter().map(u8::to_ascii_lowercase));
            } else {
                out.extend_from_slice(member);
            }
        }
    }
    HeaderValue::from_bytes(&out).ok()
}

/// Whether `name` is one of the hop-by-hop fields every message loses (RFC 9110 §7.6.1).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::PROXY_AUTHENTICATE
        || name == header::PROXY_AUTHORIZATION
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Hop-by-hop fields (RFC 9110 §7.6.1), never stored or forwarded: the fixed ones and
/// whatever `Connection` lists.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages have none: one pass over the names instead of a lookup per field. Fields
    // that `Connection` lists need a `Connection` field, which is one of the fixed ones.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    let gone: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n) || listed.contains(n))
        .cloned()
        .collect();
    for n in gone {
        headers.remove(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::hash::BuildHasher as _;

    /// A key's hash is made from all three parts once; the maps' hasher keeps keys that are
    /// equal together and spreads keys that differ in any part.
    #[test]
    fn keys_hash_by_every_part() {
        let key = |b: usize, p: &str, r: &str| CacheKey::new(b, p.into(), r.into());
        let h = |k: &CacheKey| KeyHash::default().hash_one(k);
        let a = key(0, "/a", "q=1\n");
        assert_eq!(a, key(0, "/a", "q=1\n"));
        assert_eq!(h(&a), h(&key(0, "/a", "q=1\n")));
        for other in [
            key(1, "/a", "q=1\n"),
            key(0, "/b", "q=1\n"),
            key(0, "/a", "q=2\n"),
        ] {
            assert_ne!(a, other);
            assert_ne!(h(&a), h(&other), "{other:?}");
        }
        // The parts are not merely concatenated: moving a byte from path to rest is another key.
        assert_ne!(h(&key(0, "/ab", "")), h(&key(0, "/a", "b")));
        let mut map: std::collections::HashMap<CacheKey, u8, KeyHash> = Default::default();
        map.insert(a.clone(), 1);
        assert_eq!(map.get(&key(0, "/a", "q=1\n")), Some(&1));
        assert_eq!(map.get(&key(0, "/a", "q=2\n")), None);
    }

    /// Hop-by-hop fields go, with whatever `Connection` lists; everything else stays, in
    /// order, and a message without any is left as it was.
    #[test]
    fn hop_by_hop_fields_are_stripped() {
        fn check(given: &[(&str, &str)], kept: &[(&str, &str)]) {
            let mut headers = HeaderMap::new();
            for (n, v) in given {
                headers.append(
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            strip_hop_by_hop(&mut headers);
            let got: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
                .collect();
            let want: Vec<(String, String)> = kept
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "from {given:?}");
        }
        let plain = [
            ("content-type", "text/html"),
            ("etag", "\"a\""),
            ("x-a", "1"),
        ];
        check(&plain, &plain);
        for hop in [
            "connection",
            "transfer-encoding",
            "te",
            "trailer",
            "upgrade",
            "proxy-authenticate",
            "proxy-authorization",
            "keep-alive",
            "proxy-connection",
        ] {
            check(
                &[("x-a", "1"), (hop, "x"), ("x-b", "2")],
                &[("x-a", "1"), ("x-b", "2")],
            );
        }
        check(
            &[
                ("connection", "x-secret, Keep-Alive"),
                ("x-secret", "s"),
                ("x-other", "o"),
                ("keep-alive", "timeout=5"),
                ("connection", "x-too"),
                ("x-too", "t"),
            ],
            &[("x-other", "o")],
        );
        // A field named in a value of another field is not a `Connection` option.
        check(
            &[("vary", "x-a"), ("x-a", "1")],
            &[("vary", "x-a"), ("x-a", "1")],
        );
    }

    /// Stored headers own their bytes (none is a slice of the buffer the response was read
    /// into), keep their values, order and sensitivity, and have room for the added ones.
    #[test]
    fn stored_headers_are_copied_out_of_the_read_buffer() {
        let buffer = Bytes::from_static(b"text/html\"abc\"secret");
        let value = |range: std::ops::Range<usize>| {
            HeaderValue::from_maybe_shared(buffer.slice(range)).unwrap()
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, value(0..9));
        headers.insert(header::ETAG, value(9..14));
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        headers.append(header::VARY, HeaderValue::from_static("Accept"));
        let mut secret = value(14..20);
        secret.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, secret);

        let stored = stored_headers(&headers);
        assert_eq!(stored, headers);
        let within = |v: &HeaderValue| {
            let p = v.as_bytes().as_ptr() as usize;
            let start = buffer.as_ptr() as usize;
            (start..start + buffer.len()).contains(&p)
        };
        assert!(headers.values().any(within), "the test's values are slices");
        assert!(
            !stored.values().any(within),
            "a stored value is still a slice"
        );
        let vary: Vec<_> = stored.get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["Origin", "Accept"]);
        assert!(stored[header::AUTHORIZATION].is_sensitive());
        assert!(stored.capacity() >= headers.len() + crate::respond::ADDED);
    }
}
