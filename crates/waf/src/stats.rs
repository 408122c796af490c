//! Observability: per-rule counters (allowed, blocked, counted) and a ring of sampled
//! requests (the last N matches with the rule and field that matched), like WAF's
//! GetSampledRequests. Lock-free counters; the sample ring takes a short lock per match only.
//! A sample's wall-clock time is read when it is taken (only on a match), since GetSampledRequests
//! filters by time window and the request view carries a monotonic instant only.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// How many matches the sample ring keeps.
pub const SAMPLE_CAPACITY: usize = 100;

/// How many request headers a sample keeps, and how many bytes of each value.
const SAMPLE_HEADERS: usize = 32;
const SAMPLE_HEADER_BYTES: usize = 512;

/// How many samples one rule may take in a burst, and then one per [`SAMPLE_INTERVAL_US`]:
/// a rule that matches every request of a flood is still sampled (100 a second), without a
/// sample's copies (headers, path, labels) and the ring's lock on every request. WAF's own
/// GetSampledRequests samples too (from the first 5,000 requests of the time range).
const SAMPLE_BURST: u64 = 50;
const SAMPLE_INTERVAL_US: u64 = 10_000;

/// Counters of one rule (managed sub-rules have their own, named `Group/Rule`).
#[derive(Debug, Default)]
pub struct RuleCounters {
    pub allowed: AtomicU64,
    pub blocked: AtomicU64,
    pub counted: AtomicU64,
    /// The sampling bound's state (GCRA's theoretical arrival time, in µs since
    /// [`sample_epoch`]).
    sample_tat: AtomicU64,
}

/// The instant the sampling bounds count from.
fn sample_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// A snapshot of one rule's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStats {
    pub rule: String,
    pub allowed: u64,
    pub blocked: u64,
    pub counted: u64,
}

impl RuleCounters {
    /// Whether a match of this rule at `at` is sampled: every match of a burst of
    /// [`SAMPLE_BURST`], then one per [`SAMPLE_INTERVAL_US`] (a generic cell rate bound).
    pub fn take_sample(&self, at: std::time::Instant) -> bool {
        let now = u64::try_from(at.saturating_duration_since(sample_epoch()).as_micros())
            .unwrap_or(u64::MAX);
        let tolerance = (SAMPLE_BURST - 1) * SAMPLE_INTERVAL_US;
        let mut tat = self.sample_tat.load(Ordering::Relaxed);
        loop {
            if now.saturating_add(tolerance) < tat {
                return false;
            }
            let next = tat.max(now).saturating_add(SAMPLE_INTERVAL_US);
            match self.sample_tat.compare_exchange_weak(
                tat,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }

    pub fn snapshot(&self, rule: &str) -> RuleStats {
        RuleStats {
            rule: rule.to_string(),
            allowed: self.allowed.load(Ordering::Relaxed),
            blocked: self.blocked.load(Ordering::Relaxed),
            counted: self.counted.load(Ordering::Relaxed),
        }
    }
}

/// One sampled match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub rule: String,
    /// Where it matched (`QUERYARGUMENTS:q`, `BODY`, `IP`, …).
    pub field: String,
    pub action: &'static str,
    pub method: String,
    pub path: String,
    pub client_ip: IpAddr,
    /// When the rule matched.
    pub at: SystemTime,
    /// The request's headers (at most 32, values cut at 512 bytes, lossy UTF-8).
    pub headers: Vec<(String, String)>,
    /// The labels the request carried after the rule matched.
    pub labels: Vec<String>,
}

/// The headers a sample keeps of a request.
pub(crate) fn sample_headers(headers: &[(&str, &[u8])]) -> Vec<(String, String)> {
    headers
        .iter()
        .take(SAMPLE_HEADERS)
        .map(|(n, v)| {
            let v = &v[..v.len().min(SAMPLE_HEADER_BYTES)];
            ((*n).to_string(), String::from_utf8_lossy(v).into_owned())
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Samples {
    ring: Mutex<VecDeque<Sample>>,
}

impl Samples {
    pub fn push(&self, s: Sample) {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() >= SAMPLE_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(s);
    }

    pub fn snapshot(&self) -> Vec<Sample> {
        self.ring
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod sampling_tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_rule_is_sampled_in_bursts_then_at_a_bounded_rate() {
        let c = RuleCounters::default();
        // The bound counts from an epoch taken at its first use: before the test's instants.
        let _ = sample_epoch();
        let t0 = Instant::now();
        let taken = (0..200).filter(|_| c.take_sample(t0)).count();
        assert_eq!(taken, SAMPLE_BURST as usize, "a burst at one instant");
        // One interval later, one more; after a quiet second, a full burst again (not more).
        assert!(c.take_sample(t0 + Duration::from_micros(SAMPLE_INTERVAL_US)));
        assert!(!c.take_sample(t0 + Duration::from_micros(SAMPLE_INTERVAL_US)));
        let later = t0 + Duration::from_secs(1) + Duration::from_micros(SAMPLE_INTERVAL_US);
        let taken = (0..1000).filter(|_| c.take_sample(later)).count();
        assert_eq!(taken, SAMPLE_BURST as usize, "the burst refilled, not more");
        // Under a steady flood, one per interval.
        let flood = (0..1000u64)
            .filter(|i| c.take_sample(later + Duration::from_micros(i * 100)))
            .count();
        assert!(flood <= 11, "{flood} samples in 100 ms of a flood");
        // Another rule keeps its own bound.
        assert!(RuleCounters::default().take_sample(later));
    }
}
