//! The load generator every scenario runs on: an operation (an async closure of the request
//! number) driven closed-loop (N workers, each sends its next request when the previous one
//! answered) or open-loop (requests start on a fixed schedule whatever the server does, at
//! most N in flight), for a request count or a duration, after an untimed warm-up, with every
//! latency in an HDR histogram.
//!
//! Open-loop latencies are measured from the moment a request was *scheduled*, not from when
//! it was sent, so a server that falls behind is charged for the queue it builds (no
//! "coordinated omission"). Must not: know any service or wire protocol.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::json;

/// When a phase stops: after `ops` operations or `duration`, whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub ops: u64,
    pub duration: Duration,
}

/// How requests are started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// `concurrency` workers, each with one request in flight.
    Closed { concurrency: usize },
    /// `rate` requests per second on a fixed schedule, at most `max_in_flight` at once.
    Open { rate: f64, max_in_flight: usize },
}

impl Mode {
    /// `c=64` or `open 500/s`, as the report shows it.
    pub fn label(&self) -> String {
        match self {
            Mode::Closed { concurrency } => format!("c={concurrency}"),
            Mode::Open { rate, .. } => format!("open {rate:.0}/s"),
        }
    }
}

/// What one request did: its payload bytes (for MiB/s), or why it failed.
pub type OpResult = anyhow::Result<u64>;
pub type OpFuture = Pin<Box<dyn Future<Output = OpResult> + Send>>;
/// The operation under load: called with the request number (0, 1, 2…, unique per phase).
pub type Op = Arc<dyn Fn(u64) -> OpFuture + Send + Sync>;

/// Wraps an async closure as an [`Op`].
pub fn op<F, Fut>(f: F) -> Op
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = OpResult> + Send + 'static,
{
    Arc::new(move |i| Box::pin(f(i)))
}

/// One phase's outcome.
pub struct Stats {
    pub mode: Mode,
    /// Successful requests' latencies in microseconds.
    pub hist: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Stats {
    fn new(mode: Mode) -> Self {
        Self {
            mode,
            // 1 µs to 10 min at 3 significant digits; values above are clamped.
            hist: Histogram::new_with_bounds(1, 600_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
            errors: 0,
            first_error: None,
            bytes: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// Records one request's outcome.
    pub fn record(&mut self, took: Duration, result: OpResult) {
        match result {
            Ok(bytes) => {
                let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
                self.hist.saturating_record(us);
                self.bytes += bytes;
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }

    fn merge(&mut self, other: Stats) {
        let _ = self.hist.add(&other.hist);
        self.errors += other.errors;
        self.bytes += other.bytes;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn ok(&self) -> u64 {
        self.hist.len()
    }

    pub fn ops_per_sec(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / f64::from(1u32 << 20) / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0..=1) in µs, if anything succeeded.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        (self.ok() > 0).then(|| self.hist.value_at_quantile(q))
    }

    pub fn max_us(&self) -> Option<u64> {
        (self.ok() > 0).then(|| self.hist.max())
    }

    pub fn to_json(&self) -> serde_json::Value {
        let q = |q| self.quantile_us(q);
        json!({
            "mode": self.mode.label(),
            "ok": self.ok(),
            "errors": self.errors,
            "first_error": self.first_error,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.ops_per_sec(),
            "mib_per_sec": self.mib_per_sec(),
            "p50_us": q(0.5), "p90_us": q(0.9), "p99_us": q(0.99), "p999_us": q(0.999),
            "max_us": self.max_us(),
        })
    }
}

/// Runs `warm_up` untimed requests one after the other (connections, caches), then the phase.
/// Request numbers continue after the warm-up's, so they stay unique across both.
pub async fn run(op: &Op, mode: Mode, budget: Budget, warm_up: u64) -> anyhow::Result<Stats> {
    for i in 0..warm_up {
        op(i).await.context("warm-up")?;
    }
    match mode {
        Mode::Closed { concurrency } => closed(op, mode, concurrency, budget, warm_up).await,
        Mode::Open {
            rate,
            max_in_flight,
        } => open(op, mode, rate, max_in_flight, budget, warm_up).await,
    }
}

async fn closed(
    op: &Op,
    mode: Mode,
    concurrency: usize,
    budget: Budget,
    first: u64,
) -> anyhow::Result<Stats> {
    let tickets = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + budget.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (op, tickets) = (op.clone(), tickets.clone());
        tasks.spawn(async move {
            let mut stats = Stats::new(mode);
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let t = tickets.fetch_add(1, Ordering::Relaxed);
                if t >= budget.ops {
                    break;
                }
                let began = Instant::now();
                let result = op(first + t).await;
                stats.record(began.elapsed(), result);
            }
            stats
        });
    }
    let mut stats = Stats::new(mode);
    while let Some(joined) = tasks.join_next().await {
        stats.merge(joined.context("a load task panicked")?);
    }
    stats.elapsed = start.elapsed();
    Ok(stats)
}

async fn open(
    op: &Op,
    mode: Mode,
    rate: f64,
    max_in_flight: usize,
    budget: Budget,
    first: u64,
) -> anyhow::Result<Stats> {
    anyhow::ensure!(rate > 0.0, "an open-loop rate must be positive");
    let interval = Duration::from_secs_f64(1.0 / rate);
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let start = Instant::now();
    let deadline = start + budget.duration;
    let mut tasks = tokio::task::JoinSet::new();
    let mut stats = Stats::new(mode);
    let mut i = 0u64;
    while i < budget.ops {
        let scheduled = start + interval.mul_f64(i as f64);
        if scheduled >= deadline {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        // At the in-flight limit the schedule slips, but the latency still counts from the
        // scheduled time: the wait is part of what a visitor would see.
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .context("the in-flight limit closed")?;
        let op = op.clone();
        tasks.spawn(async move {
            let result = op(first + i).await;
            drop(permit);
            (scheduled.elapsed(), result)
        });
        i += 1;
        while let Some(done) = tasks.try_join_next() {
            let (took, result) = done.context("a load task panicked")?;
            stats.record(took, result);
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (took, result) = done.context("a load task panicked")?;
        stats.record(took, result);
    }
    stats.elapsed = start.elapsed();
    Ok(stats)
}

/// Records a series measured elsewhere (e.g. cold starts, one at a time) as a [`Stats`].
pub fn from_latencies(
    mode: Mode,
    latencies_us: &[u64],
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
) -> Stats {
    let mut stats = Stats::new(mode);
    for us in latencies_us {
        stats.hist.saturating_record((*us).max(1));
    }
    stats.errors = errors;
    stats.first_error = first_error;
    stats.elapsed = elapsed;
    stats
}
