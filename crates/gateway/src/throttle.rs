//! Token-bucket throttling, as API Gateway applies stage and route limits
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html):
//! a bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one
//! token or is refused with 429. Buckets are kept per (stage, route) and, with the per-client
//! option, per source IP as well.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// One limit: `rate` requests per second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: u32,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Many buckets by key. Bucket state lives in memory: limits restart full after a restart,
/// like a new deployment does in API Gateway.
#[derive(Debug, Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Beyond this many buckets (per-client limits under a spray of source addresses) the idle
/// full ones are forgotten, so memory stays bounded.
const MAX_BUCKETS: usize = 100_000;

impl Throttle {
    /// Takes a token from the bucket `key` at `now`; false when the request must be refused.
    pub fn admit(&self, key: &str, limit: Limit, now: Instant) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                let refill = now.saturating_duration_since(b.last).as_secs_f64() * limit.rate;
                b.tokens + refill < f64::from(limit.burst)
            });
        }
        let burst = f64::from(limit.burst);
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets every bucket (the API's settings changed).
    pub fn reset(&self) {
        if let Ok(mut b) = self.buckets.lock() {
            b.clear();
        }
    }
}
