//! One cache tier: a size-bounded in-memory map (quick_cache: S3-FIFO, a small queue that
//! new keys enter and leave unless read again, a main one for the rest, and the keys evicted
//! recently remembered so that their return is admitted to the main queue) from cache key to
//! the stored variants of that key; and how a request becomes a cache key under a behavior's
//! cache policy.
//!
//! Must not: talk to origins or decide freshness. Only whole bodies are inserted, so an entry's
//! weight is known when it is admitted.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use http::HeaderMap;
use http::request::Parts;

use crate::distribution::{CachePolicy, Names, pattern_matches};
use crate::entry::{CacheKey, Entry, KeyHash};

/// Variants are few in practice (Vary on a header outside the key); a bound keeps a
/// pathological origin from growing one slot without limit.
const MAX_VARIANTS: usize = 8;

/// What one entry weighs on average, for sizing the table (the fixed part of an entry's
/// weight is about 3 KiB; see `Entry::weight`).
const TYPICAL_WEIGHT: u64 = 4096;

#[derive(Debug, Default)]
struct Slot {
    variants: Vec<Arc<Entry>>,
    /// The variants' weights when the slot was stored: an entry's own weight grows when a
    /// compressed form is added to it, and the map requires an item's weight not to change.
    weight: u64,
}

#[derive(Clone, Copy)]
struct SlotWeight;

impl quick_cache::Weighter<CacheKey, Arc<Slot>> for SlotWeight {
    fn weight(&self, _key: &CacheKey, slot: &Arc<Slot>) -> u64 {
        slot.weight
    }
}

/// How many entries of each path a map holds — never fewer than it holds: an entry is
/// counted before it goes in and uncounted after it is gone — so that invalidating a path the
/// map has nothing of (a write to an API path, the usual case of a successful POST, PUT or
/// DELETE through the edge) skips the scan of every entry. A fixed table of counters indexed
/// by a hash of the path (a counting Bloom filter: no lock, no allocation per entry); paths
/// that share a counter only make a scan that finds nothing. Sized at one counter per KiB of
/// the map's bound, so a full map (an entry weighs 3 KiB and more) leaves most counters at zero.
pub struct PathCounts {
    counters: Box<[AtomicU32]>,
    /// Right shift that turns a 64-bit hash into an index (the table's size is a power of two).
    shift: u32,
}

impl PathCounts {
    /// A table for a map bounded at `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        let slots = (max_bytes / 1024).clamp(1024, 1 << 22).next_power_of_two();
        Self {
            counters: (0..slots).map(|_| AtomicU32::new(0)).collect(),
            shift: 64 - slots.trailing_zeros(),
        }
    }

    fn counter(&self, path: &str) -> &AtomicU32 {
        // The high bits, which index, are the ones the hasher's multiplication mixes most.
        let h = KeyHash::default().hash_one(path);
        let i = usize::try_from(h >> self.shift).unwrap_or(0);
        &self.counters[i % self.counters.len()]
    }

    /// Counts an entry of `path`, before it is inserted.
    pub fn add(&self, path: &str) {
        self.counter(path).fetch_add(1, Ordering::SeqCst);
    }

    /// Uncounts an entry of `path`, after it is gone (never below zero).
    pub fn remove(&self, path: &str) {
        let _ = self
            .counter(path)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Whether the map may hold an entry of `path`.
    pub fn any(&self, path: &str) -> bool {
        self.counter(path).load(Ordering::SeqCst) > 0
    }
}

/// Uncounts what the map evicts, replaces or refuses (after its lock is released), and drops
/// the slots there too, not under the lock.
#[derive(Clone)]
struct Uncount(Arc<PathCounts>);

#[derive(Default)]
struct Gone {
    first: Option<(CacheKey, Arc<Slot>)>,
    more: Vec<(CacheKey, Arc<Slot>)>,
}

impl quick_cache::Lifecycle<CacheKey, Arc<Slot>> for Uncount {
    type RequestState = Gone;

    fn begin_request(&self) -> Gone {
        Gone::default()
    }

    fn on_evict(&self, state: &mut Gone, key: CacheKey, slot: Arc<Slot>) {
        if state.first.is_none() {
            state.first = Some((key, slot));
        } else {
            state.more.push((key, slot));
        }
    }

    fn end_request(&self, state: Gone) {
        for (key, _) in state.first.iter().chain(&state.more) {
            self.0.remove(key.path());
        }
    }
}

type Map = quick_cache::sync::Cache<CacheKey, Arc<Slot>, SlotWeight, KeyHash, Uncount>;

#[derive(Clone)]
pub struct Tier {
    cache: Arc<Map>,
    paths: Arc<PathCounts>,
}

impl Tier {
    /// A tier holding up to `max_bytes`, into which entries whose bodies have up to
    /// `max_body` bytes are inserted.
    pub fn new(max_bytes: u64, max_body: u64) -> Self {
        let items = usize::try_from(max_bytes / TYPICAL_WEIGHT)
            .unwrap_or(usize::MAX)
            .max(1);
        let options = quick_cache::OptionsBuilder::new()
            .weight_capacity(max_bytes)
            .estimated_items_capacity(items)
            .shards(shards(max_bytes, max_body))
            .build();
        let paths = Arc::new(PathCounts::new(max_bytes));
        let uncount = Uncount(paths.clone());
        let cache = match options {
            Ok(o) => Map::with_options(o, SlotWeight, KeyHash::default(), uncount),
            // Only for a capacity or an estimate left unset, and both are set: the default
            // shards then.
            Err(_) => Map::with(items, max_bytes, SlotWeight, KeyHash::default(), uncount),
        };
        Self {
            cache: Arc::new(cache),
            paths,
        }
    }

    /// The stored variant of `key` that the request selects.
    pub fn get(&self, key: &CacheKey, req: &HeaderMap) -> Option<Arc<Entry>> {
        let slot = self.cache.get(key)?;
        slot.variants.iter().find(|e| e.matches(req)).cloned()
    }

    /// Stores an entry, replacing the variant with the same Vary values.
    pub fn insert(&self, entry: Arc<Entry>) {
        let key = entry.key.clone();
        let mut variants: Vec<Arc<Entry>> = match self.cache.peek(&key) {
            Some(s) => s
                .variants
                .iter()
                .filter(|e| e.vary != entry.vary)
                .cloned()
                .collect(),
            None => Vec::with_capacity(1),
        };
        variants.insert(0, entry);
        variants.truncate(MAX_VARIANTS);
        let weight = variants.iter().map(|e| u64::from(e.weight())).sum::<u64>();
        // Counted before it goes in; what this insert evicts, replaces (the key's slot before
        // it, counted when it went in) or refuses is uncounted by `Uncount`.
        self.paths.add(key.path());
        self.cache.insert(key, Arc::new(Slot { variants, weight }));
    }

    /// Drops every variant of a key.
    pub fn remove(&self, key: &CacheKey) {
        if let Some((k, _)) = self.cache.remove(key) {
            self.paths.remove(k.path());
        }
    }

    /// Drops every key whose path matches one of the patterns (CloudFront invalidation paths:
    /// exact, or with `*` wildcards).
    pub fn invalidate(&self, patterns: &[String]) {
        self.drop_where(|path| patterns.iter().any(|p| pattern_matches(p, path)));
    }

    /// Drops every key of one path (any query). Without a scan when the tier holds none.
    pub fn invalidate_path(&self, path: &str) {
        if self.paths.any(path) {
            self.drop_where(|p| p == path);
        }
    }

    /// Removes, before returning, every key present now whose path matches (under each
    /// shard's lock in turn). Entries inserted from now on are the inserter's business (see
    /// `fills`).
    fn drop_where(&self, matches: impl Fn(&str) -> bool) {
        let dropped = RefCell::new(Vec::new());
        self.cache.retain(|k, _| {
            let keep = !matches(k.path());
            if !keep {
                dropped.borrow_mut().push(k.clone());
            }
            keep
        });
        for k in dropped.into_inner() {
            self.paths.remove(k.path());
        }
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.len() as u64
    }

    pub fn weighted_size(&self) -> u64 {
        self.cache.weight()
    }
}

/// How many shards (each with its own lock and an equal part of the bound) a tier has: as
/// many as keep the heaviest entry within 90 % of one shard (the map admits nothing over 97 %
/// of a shard), at most four per CPU. An entry weighs up to twice its body and some headers
/// (see `Entry::weight`).
fn shards(max_bytes: u64, max_body: u64) -> usize {
    let heaviest = max_body.saturating_mul(2).saturating_add(64 * 1024);
    let most = std::thread::available_parallelism().map_or(1, |n| n.get()) * 4;
    let mut n = 1usize;
    while n * 2 <= most && max_bytes / (n as u64 * 2) * 9 / 10 >= heaviest {
        n *= 2;
    }
    n
}

/// The cache key of a request under a behavior's policy: the path, then the selected query
/// strings (sorted, so order does not split the cache), headers and cookies.
pub fn key_for(behavior: usize, path: &str, parts: &Parts, policy: &CachePolicy) -> CacheKey {
    // The path, then the rest, in one string.
    let mut text = String::with_capacity(path.len() + 16);
    text.push_str(path);
    if let Some(q) = parts.uri.query() {
        let mut pairs: Vec<&str> = q
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split_once('=').map_or(*p, |(n, _)| n);
                policy.query_strings.includes(name)
            })
            .collect();
        pairs.sort_unstable();
        for (i, p) in pairs.iter().enumerate() {
            if i > 0 {
                text.push('&');
            }
            text.push_str(p);
        }
    }
    text.push('\n');
    for h in &policy.headers {
        text.push_str(h.as_str());
        text.push(':');
        for v in parts.headers.get_all(h) {
            text.push_str(&String::from_utf8_lossy(v.as_bytes()));
            text.push(',');
        }
        text.push('\n');
    }
    if policy.cookies != Names::None {
        let mut cookies: Vec<&str> = parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| {
                let name = c.split_once('=').map_or(*c, |(n, _)| n);
                policy.cookies.includes(name)
            })
            .collect();
        cookies.sort_unstable();
        for (i, c) in cookies.iter().enumerate() {
            if i > 0 {
                text.push(';');
            }
            text.push_str(c);
        }
    }
    CacheKey::from_text(behavior, text, path.len())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use http::{HeaderName, HeaderValue, StatusCode};

    use super::*;
    use crate::body::SharedBody;
    use crate::entry::Representation;
    use crate::freshness::Freshness;

    fn entry(path: &str, body: usize, vary: Option<&'static str>) -> Arc<Entry> {
        entry_with_rest(path, "", body, vary)
    }

    fn entry_with_rest(
        path: &str,
        rest: &str,
        body: usize,
        vary: Option<&'static str>,
    ) -> Arc<Entry> {
        let shared = SharedBody::arriving();
        shared.push(Bytes::from(vec![b'x'; body]));
        shared.finish(Ok(()));
        Arc::new(Entry {
            key: CacheKey::new(0, path.into(), rest.into()),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            repr: Representation::new(shared),
            response_time: SystemTime::now(),
            initial_age: 0,
            freshness: Freshness {
                lifetime: Duration::from_secs(60),
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
                no_stale: false,
                stale_on_error: true,
            },
            vary: vary
                .map(|v| {
                    vec![(
                        HeaderName::from_static("accept-language"),
                        Some(HeaderValue::from_static(v)),
                    )]
                })
                .unwrap_or_default(),
        })
    }

    fn request(lang: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(l) = lang {
            h.insert("accept-language", HeaderValue::from_static(l));
        }
        h
    }

    /// Whatever is inserted, the tier's weight stays within its bound, and what it reports
    /// is what it holds.
    #[test]
    fn the_bound_holds() {
        const MIB: u64 = 1024 * 1024;
        for (max, body, n) in [(4 * MIB, 1024, 10_000), (64 * MIB, 100 * 1024, 2_000)] {
            let tier = Tier::new(max, MIB);
            for i in 0..n {
                tier.insert(entry(&format!("/o/{i}"), body, None));
                assert!(tier.weighted_size() <= max, "{max} {body} at {i}");
            }
            assert!(
                tier.weighted_size() > max / 2,
                "{max} {body}: the tier stays near empty"
            );
            let held = (0..n)
                .filter(|i| {
                    let e = entry(&format!("/o/{i}"), 0, None);
                    tier.get(&e.key, &request(None)).is_some()
                })
                .count();
            assert_eq!(held as u64, tier.entry_count(), "{max} {body}");
        }
    }

    /// The largest entry a tier is made for is admitted, into a tier of any size that can
    /// hold it (one weighs up to twice its body: `Entry::weight`).
    #[test]
    fn the_largest_entry_fits() {
        const MIB: u64 = 1024 * 1024;
        for (max, largest) in [
            (4 * MIB, MIB),
            (256 * MIB, 32 * MIB),
            (4096 * MIB, 32 * MIB),
        ] {
            let tier = Tier::new(max, largest);
            let body = usize::try_from(largest).unwrap() - 8 * 1024;
            let e = entry("/big", body, None);
            tier.insert(e.clone());
            assert!(
                tier.get(&e.key, &request(None)).is_some(),
                "{max} {largest}: {} shards",
                tier.cache.num_shards()
            );
        }
    }

    /// Variants of one key: each request finds its own; a new one with the same Vary values
    /// replaces the old.
    #[test]
    fn variants() {
        let tier = Tier::new(16 * 1024 * 1024, 1024 * 1024);
        let (pt, en) = (entry("/v", 10, Some("pt")), entry("/v", 20, Some("en")));
        tier.insert(pt.clone());
        tier.insert(en.clone());
        let found = |lang| {
            tier.get(&pt.key, &request(Some(lang)))
                .map(|e| e.repr.body.held())
        };
        assert_eq!(
            (found("pt"), found("en"), found("de")),
            (Some(10), Some(20), None)
        );
        tier.insert(entry("/v", 30, Some("pt")));
        assert_eq!((found("pt"), found("en")), (Some(30), Some(20)));
        assert_eq!(tier.entry_count(), 1);
    }

    /// Invalidations remove what matches before they return, and nothing else.
    #[test]
    fn invalidations_remove_at_once() {
        let tier = Tier::new(16 * 1024 * 1024, 1024 * 1024);
        let paths = ["/a/1", "/a/2", "/b/1", "/c"];
        for p in paths {
            tier.insert(entry(p, 10, None));
        }
        let present = || {
            paths
                .iter()
                .filter(|p| tier.get(&entry(p, 0, None).key, &request(None)).is_some())
                .copied()
                .collect::<Vec<_>>()
        };
        tier.invalidate(&["/a/*".into()]);
        assert_eq!(present(), ["/b/1", "/c"]);
        tier.invalidate_path("/c");
        assert_eq!(present(), ["/b/1"]);
        tier.remove(&entry("/b/1", 0, None).key);
        assert!(present().is_empty());
        assert_eq!((tier.entry_count(), tier.weighted_size()), (0, 0));
    }

    /// The per-path counts follow what the tier holds through inserts, replacements,
    /// evictions, removals and invalidations: a path is counted while a key of it is in the
    /// tier, and uncounted once none is (but where it shares a counter with a path still held),
    /// so an invalidation of a path with none can skip the scan.
    #[test]
    fn path_counts_follow_the_entries() {
        let tier = Tier::new(2 * 1024 * 1024, 64 * 1024);
        let key = |p: &str| CacheKey::new(0, p.into(), String::new());
        let held = |p: &str| tier.get(&key(p), &request(None)).is_some();
        // Replacing a key keeps one count.
        for _ in 0..3 {
            tier.insert(entry("/same", 10, None));
        }
        tier.remove(&key("/same"));
        assert!(!tier.paths.any("/same") && !held("/same"));
        // Two keys of one path (another query), one invalidation for both.
        tier.insert(entry("/q", 10, None));
        tier.insert(entry_with_rest("/q", "a=1\n", 10, None));
        assert!(tier.paths.any("/q"));
        tier.invalidate_path("/q");
        assert!(!tier.paths.any("/q") && tier.entry_count() == 0);
        // Far more than fits: evictions uncount what they drop.
        for i in 0..3_000 {
            tier.insert(entry(&format!("/e/{i}"), 2048, None));
        }
        let (mut counted, mut shared) = (0, 0);
        for i in 0..3_000 {
            let p = format!("/e/{i}");
            // Never fewer than are there; more only where a counter is shared with a path
            // still held.
            assert!(
                !held(&p) || tier.paths.any(&p),
                "{p} is held but not counted"
            );
            counted += usize::from(held(&p));
            shared += usize::from(!held(&p) && tier.paths.any(&p));
        }
        assert_eq!(counted as u64, tier.entry_count());
        assert!(counted > 0 && counted < 3_000);
        assert!(
            shared < (3_000 - counted) / 2,
            "{shared} of {} evicted paths still counted",
            3_000 - counted
        );
        tier.invalidate(&["/e/*".into()]);
        assert!((0..3_000).all(|i| !tier.paths.any(&format!("/e/{i}"))));
    }

    #[test]
    fn shard_counts() {
        const MIB: u64 = 1024 * 1024;
        let most = std::thread::available_parallelism().map_or(1, |n| n.get()) * 4;
        // A shard must hold the largest entry with room to spare.
        for (max, largest) in [(MIB, MIB), (64 * MIB, 32 * MIB), (256 * MIB, 32 * MIB)] {
            let n = shards(max, largest);
            assert!(
                n.is_power_of_two() && n <= most.max(1),
                "{max} {largest}: {n}"
            );
            assert!(
                n == 1 || max / n as u64 * 9 / 10 >= largest,
                "{max} {largest}: {n}"
            );
        }
        assert_eq!(shards(64 * MIB, 32 * MIB), 1);
        assert_eq!(
            shards(4096 * MIB, MIB),
            most.next_power_of_two().min(most).max(1)
        );
    }
}
