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

/// Counters of one rule (managed sub-rules have their own, named `Group/Rule`).
#[derive(Debug, Default)]
pub struct RuleCounters {
    pub allowed: AtomicU64,
    pub blocked: AtomicU64,
    pub counted: AtomicU64,
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
