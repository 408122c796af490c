//! One cache tier: a size-bounded in-memory map (moka, TinyLFU admission with LRU eviction)
//! from cache key to the stored variants of that key; and how a request becomes a cache key
//! under a behavior's cache policy.
//!
//! Must not: talk to origins or decide freshness. Only whole bodies are inserted, so an entry's
//! weight is known when it is admitted.

use std::sync::Arc;

use http::HeaderMap;
use http::request::Parts;

use crate::distribution::{CachePolicy, Names, pattern_matches};
use crate::entry::{CacheKey, Entry, KeyHash};

/// Variants are few in practice (Vary on a header outside the key); a bound keeps a
/// pathological origin from growing one slot without limit.
const MAX_VARIANTS: usize = 8;

#[derive(Debug, Default)]
struct Slot {
    variants: Vec<Arc<Entry>>,
}

#[derive(Clone)]
pub struct Tier {
    cache: moka::sync::Cache<CacheKey, Arc<Slot>, KeyHash>,
}

impl Tier {
    pub fn new(max_bytes: u64) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &CacheKey, s: &Arc<Slot>| {
                s.variants
                    .iter()
                    .fold(0u32, |acc, e| acc.saturating_add(e.weight()))
            })
            .build_with_hasher(KeyHash::default());
        Self { cache }
    }

    /// The stored variant of `key` that the request selects.
    pub fn get(&self, key: &CacheKey, req: &HeaderMap) -> Option<Arc<Entry>> {
        let slot = self.cache.get(key)?;
        slot.variants.iter().find(|e| e.matches(req)).cloned()
    }

    /// Stores an entry, replacing the variant with the same Vary values.
    pub fn insert(&self, entry: Arc<Entry>) {
        let key = entry.key.clone();
        let mut variants: Vec<Arc<Entry>> = self
            .cache
            .get(&key)
            .map(|s| {
                s.variants
                    .iter()
                    .filter(|e| e.vary != entry.vary)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        variants.insert(0, entry);
        variants.truncate(MAX_VARIANTS);
        self.cache.insert(key, Arc::new(Slot { variants }));
    }

    /// Drops every variant of a key.
    pub fn remove(&self, key: &CacheKey) {
        self.cache.invalidate(key);
    }

    /// Drops every key whose path matches one of the patterns (CloudFront invalidation paths:
    /// exact, or with `*` wildcards).
    pub fn invalidate(&self, patterns: &[String]) {
        self.drop_where(|path| patterns.iter().any(|p| pattern_matches(p, path)));
    }

    /// Drops every path (or every key of one path, any query).
    pub fn invalidate_path(&self, path: &str) {
        self.drop_where(|p| p == path);
    }

    /// Removes, before returning, every key present now whose path matches. (moka's
    /// `invalidate_entries_if` is lazy: an entry whose insertion was still queued when the
    /// predicate's scan ran could outlive it, and a reader then found an invalidated object.)
    /// Entries inserted from now on are the inserter's business (see `fills`).
    fn drop_where(&self, matches: impl Fn(&str) -> bool) {
        let doomed: Vec<Arc<CacheKey>> = self
            .cache
            .iter()
            .filter(|(k, _)| matches(k.path()))
            .map(|(k, _)| k)
            .collect();
        for k in doomed {
            self.cache.invalidate(&*k);
        }
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    pub fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }
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
