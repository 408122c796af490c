//! The warm pool of one function: which environments exist, which are idle, and how many may
//! run at once.
//!
//! Scaling rule, as Lambda's: an invocation takes an idle (warm) environment when there is
//! one, else starts a new one (a cold start), as long as fewer than the concurrency limit
//! (reserved concurrency, else the account limit) are busy. A semaphore holds the limit:
//! synchronous invokes that find no permit get `TooManyRequestsException`; queued (Event)
//! invokes wait for one. Environments idle longer than the idle timeout are stopped by
//! [`Pool::scale_in`]. The semaphore is this node's limit; on a store shared by several nodes
//! an invocation also takes a cluster-wide slot ([`crate::slots`]), held in its [`Lease`]. Must not: talk to the runtime (see [`crate::invoke`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::environment::{Environment, Launch, ProcessGroups};
use crate::error::{Error, Result, Throttle};
use crate::logs::LogSink;
use crate::model::FunctionRecord;

/// Counters a pool exposes (`/_nuvem/health` under `stats.lambda.functions.<name>`, tests).
/// They count from the pool's creation: the function's first invocation after it was created
/// or last changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Environments alive (idle + busy).
    pub environments: u32,
    /// Invocations running now (Lambda's `ConcurrentExecutions`).
    #[serde(rename = "concurrency")]
    pub busy: u32,
    /// The most invocations that ran at once.
    #[serde(rename = "peak_concurrency")]
    pub peak_busy: u32,
    /// Invocations that started a new environment.
    pub cold_starts: u64,
    /// Invocations served by a warm environment.
    pub warm_starts: u64,
    /// Reserved concurrency, else the account limit.
    #[serde(rename = "concurrency_limit")]
    pub limit: u32,
}

pub struct Pool {
    pub record: FunctionRecord,
    pub launch: Launch,
    pub sink: Arc<LogSink>,
    /// The service's registry of environment process groups (see [`ProcessGroups`]).
    pub groups: Arc<ProcessGroups>,
    permits: Arc<Semaphore>,
    /// The function's reserved concurrency, shared by the pools of all its versions
    /// (`$LATEST`'s and each published version's count against one reservation).
    function_permits: Option<Arc<Semaphore>>,
    limit: u32,
    /// Provisioned concurrency: environments kept initialised (never scaled in below this,
    /// counting busy ones; see [`crate::provisioned`]).
    provisioned: AtomicU32,
    idle: Mutex<Vec<Arc<Environment>>>,
    busy: AtomicU32,
    peak: AtomicU32,
    cold: AtomicU64,
    warm: AtomicU64,
    /// Microseconds invocations held a lease, summed: its increase over a window divided by
    /// the window is the average concurrency in use (provisioned concurrency utilization).
    busy_micros: AtomicU64,
}

/// The right to run one invocation, with the environment to run it in (if a warm one was
/// free). Dropping it frees the concurrency slot.
pub struct Lease {
    pub pool: Arc<Pool>,
    pub env: Option<Arc<Environment>>,
    /// The cluster-wide slot, on a shared store (see [`crate::slots`]).
    pub slot: Option<crate::slots::Slot>,
    _permit: OwnedSemaphorePermit,
    _function_permit: Option<OwnedSemaphorePermit>,
    since: std::time::Instant,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.busy.fetch_sub(1, Ordering::Relaxed);
        let micros = u64::try_from(self.since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.pool.busy_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

impl Pool {
    pub fn new(
        record: FunctionRecord,
        launch: Launch,
        sink: Arc<LogSink>,
        groups: Arc<ProcessGroups>,
        limit: u32,
    ) -> Self {
        Self {
            record,
            launch,
            sink,
            groups,
            permits: Arc::new(Semaphore::new(limit as usize)),
            function_permits: None,
            limit,
            provisioned: AtomicU32::new(0),
            idle: Mutex::new(Vec::new()),
            busy: AtomicU32::new(0),
            peak: AtomicU32::new(0),
            cold: AtomicU64::new(0),
            warm: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
        }
    }

    /// Seconds invocations held leases of this pool, summed (see `busy_micros`).
    pub fn busy_seconds(&self) -> f64 {
        self.busy_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Shares the function's reservation with its other versions' pools (see
    /// [`crate::service`]).
    pub fn with_function_permits(mut self, permits: Arc<Semaphore>) -> Self {
        self.function_permits = Some(permits);
        self
    }

    /// Which limit throttles this function: its reserved concurrency, else the account's.
    pub fn throttle(&self) -> Throttle {
        if self.record.reserved_concurrency.is_some() {
            Throttle::Reserved
        } else {
            Throttle::Account
        }
    }

    /// A slot now, or `TooManyRequests` (synchronous invokes); `None` when the pool was
    /// retired meanwhile (the function changed: ask for its pool again).
    pub fn try_lease(self: &Arc<Self>) -> Result<Option<Lease>> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let shared = match &self.function_permits {
                    None => None,
                    Some(s) => Some(
                        s.clone()
                            .try_acquire_owned()
                            .map_err(|_| Error::TooManyRequests(self.throttle()))?,
                    ),
                };
                Ok(Some(self.lease(permit, shared)))
            }
            Err(tokio::sync::TryAcquireError::Closed) => Ok(None),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                Err(Error::TooManyRequests(self.throttle()))
            }
        }
    }

    /// A slot when one frees up (queued invokes). `None` if the pool was shut down.
    pub async fn wait_lease(self: &Arc<Self>) -> Option<Lease> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let shared = match &self.function_permits {
            None => None,
            Some(s) => Some(s.clone().acquire_owned().await.ok()?),
        };
        Some(self.lease(permit, shared))
    }

    fn lease(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        function_permit: Option<OwnedSemaphorePermit>,
    ) -> Lease {
        let busy = self.busy.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(busy, Ordering::Relaxed);
        let env = self.take_idle();
        if env.is_some() {
            self.warm.fetch_add(1, Ordering::Relaxed);
        } else {
            self.cold.fetch_add(1, Ordering::Relaxed);
        }
        Lease {
            pool: self.clone(),
            env,
            slot: None,
            _permit: permit,
            _function_permit: function_permit,
            since: std::time::Instant::now(),
        }
    }

    /// The most recently used idle environment that is still alive (most recent first keeps
    /// the rest idle long enough to be scaled in).
    fn take_idle(&self) -> Option<Arc<Environment>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(env) = idle.pop() {
            if !env.has_exited() && !env.credentials_expiring() {
                return Some(env);
            }
        }
        None
    }

    /// Returns a healthy environment to the warm pool.
    pub fn release(&self, env: Arc<Environment>) {
        if env.has_exited() || env.revision != self.record.revision_id || env.credentials_expiring()
        {
            return;
        }
        env.mark_idle();
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(env);
        }
    }

    /// Stops environments idle for longer than `idle_timeout`, but not below the provisioned
    /// number (busy ones included); returns how many.
    pub fn scale_in(&self, idle_timeout: Duration) -> usize {
        let keep = self
            .provisioned
            .load(Ordering::Relaxed)
            .saturating_sub(self.busy.load(Ordering::Relaxed)) as usize;
        let Ok(mut idle) = self.idle.lock() else {
            return 0;
        };
        let before = idle.len();
        idle.retain(|env| !env.has_exited());
        let fresh = idle
            .iter()
            .filter(|env| env.idle_for() < idle_timeout)
            .count();
        let mut spare = keep.saturating_sub(fresh);
        idle.retain(|env| {
            if env.idle_for() < idle_timeout {
                true
            } else if spare > 0 {
                spare -= 1;
                true
            } else {
                false
            }
        });
        before - idle.len()
    }

    /// How many environments provisioned concurrency keeps in this pool.
    pub fn set_provisioned(&self, n: u32) {
        self.provisioned.store(n, Ordering::Relaxed);
    }

    /// Stops every idle environment and refuses new queued leases (function updated or
    /// deleted). Busy environments finish their invocation and are then dropped.
    pub fn shut_down(&self) {
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    pub fn stats(&self) -> PoolStats {
        let idle = self.idle.lock().map(|i| i.len()).unwrap_or(0) as u32;
        let busy = self.busy.load(Ordering::Relaxed);
        PoolStats {
            environments: idle + busy,
            busy,
            peak_busy: self.peak.load(Ordering::Relaxed),
            cold_starts: self.cold.load(Ordering::Relaxed),
            warm_starts: self.warm.load(Ordering::Relaxed),
            limit: self.limit,
        }
    }
}
