//! Rate-based rule state: a sliding window of request counts per aggregation key. Decided on
//! every request, unlike AWS (which lags by up to 30 s): a key is over the limit the moment
//! its window count passes `limit`, and back under as soon as old buckets slide out.
//! <https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-high-level-settings.html>
//! Bounded memory: at most `max_keys` keys; idle keys are evicted first, and when every
//! tracked key is active a new key is not tracked (it fails open rather than evicting a
//! flooder's history).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets per window: a 60 s window slides in 6 s steps.
const BUCKETS: usize = 10;

#[derive(Debug)]
struct Window {
    /// Index (in bucket units since `origin`) of the newest bucket.
    head: u64,
    counts: [u32; BUCKETS],
    total: u64,
}

impl Window {
    fn advance(&mut self, now_bucket: u64) {
        if now_bucket <= self.head {
            return;
        }
        let steps = (now_bucket - self.head).min(BUCKETS as u64);
        for k in 1..=steps {
            let slot = ((self.head + k) % BUCKETS as u64) as usize;
            if let Some(c) = self.counts.get_mut(slot) {
                self.total -= u64::from(*c);
                *c = 0;
            }
        }
        self.head = now_bucket;
    }
}

/// The counters of one rate-based statement.
#[derive(Debug)]
pub struct RateTracker {
    limit: u64,
    bucket: Duration,
    max_keys: usize,
    origin: Instant,
    keys: Mutex<HashMap<Vec<u8>, Window>>,
}

impl RateTracker {
    pub fn new(limit: u64, window: Duration, max_keys: usize, origin: Instant) -> Self {
        let bucket = (window / BUCKETS as u32).max(Duration::from_millis(1));
        RateTracker {
            limit,
            bucket,
            max_keys,
            origin,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn bucket_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.origin);
        (since.as_nanos() / self.bucket.as_nanos().max(1)) as u64
    }

    /// Counts one request for `key` at `at`; true when the key is now over the limit.
    pub fn hit(&self, key: &[u8], at: Instant) -> bool {
        let now = self.bucket_of(at);
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if !keys.contains_key(key) && keys.len() >= self.max_keys {
            // Evict every key whose window is empty (idle for a whole window).
            keys.retain(|_, w| now.saturating_sub(w.head) < BUCKETS as u64);
            if keys.len() >= self.max_keys {
                return false;
            }
        }
        let w = keys.entry(key.to_vec()).or_insert_with(|| Window {
            head: now,
            counts: [0; BUCKETS],
            total: 0,
        });
        w.advance(now);
        if let Some(c) = w.counts.get_mut((now % BUCKETS as u64) as usize) {
            *c = c.saturating_add(1);
        }
        w.total += 1;
        w.total > self.limit
    }
}
