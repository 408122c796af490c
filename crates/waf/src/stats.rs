//! Observability: per-rule counters (allowed, blocked, counted) and a ring of sampled
//! requests (the last N matches with the rule and field that matched), like WAF's
//! GetSampledRequests. Lock-free counters; the sample ring takes a short lock per match only.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many matches the sample ring keeps.
pub const SAMPLE_CAPACITY: usize = 100;

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
