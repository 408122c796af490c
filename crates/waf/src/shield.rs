//! Shield-like listener protection as plain data and logic, applied before any parsing cost:
//! per-IP connection caps and accept rates, a total in-flight cap with fast 503 shedding, and
//! request-head/URL/body size checks with CloudFront's limits. No sockets and no timers here:
//! the listener calls these and owns the clock.
//!
//! What the listener must do (in this order):
//! 1. On accept: `ConnectionTracker::try_accept(ip, now)`; on `Err` close the socket at once.
//!    Keep the returned `ConnectionGuard` alive for the connection's life.
//! 2. Configure hyper with `Limits`: `header_read_timeout` (hyper only enforces it when a
//!    timer is set: `.timer(TokioTimer::new())`), `keep_alive_idle`, `max_requests_per_connection`,
//!    HTTP/2 `max_concurrent_streams` and `max_pending_accept_reset_streams`.
//! 3. Per request, before routing: `InflightLimiter::try_acquire()`; `None` → 503 at once.
//!    Then `check_head(&limits, url_len, head_len, content_length)` → its status on `Err`.
//! 4. While reading a body: `BodyRate::observe(bytes, now)`; `false` → drop the connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The numbers. Defaults follow CloudFront's quotas where it has one:
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html>.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_connections_per_ip: usize,
    /// New connections per IP per second (token bucket rate) and burst.
    pub accepts_per_ip_per_sec: u32,
    pub accept_burst: u32,
    pub header_read_timeout: Duration,
    /// Bodies must arrive at least this fast after `body_rate_grace`.
    pub min_body_bytes_per_sec: u64,
    pub body_rate_grace: Duration,
    /// Request line + headers (CloudFront: 20,480 bytes).
    pub max_head_bytes: usize,
    /// URL incl. query (CloudFront: 8,192 bytes).
    pub max_url_bytes: usize,
    pub max_body_bytes: u64,
    pub keep_alive_idle: Duration,
    pub max_requests_per_connection: usize,
    pub h2_max_concurrent_streams: u32,
    pub h2_max_pending_reset_streams: usize,
    pub max_in_flight: usize,
    /// IPs tracked by the connection tracker before idle ones are evicted.
    pub max_tracked_ips: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections_per_ip: 128,
            accepts_per_ip_per_sec: 50,
            accept_burst: 200,
            header_read_timeout: Duration::from_secs(10),
            min_body_bytes_per_sec: 1024,
            body_rate_grace: Duration::from_secs(5),
            max_head_bytes: 20_480,
            max_url_bytes: 8_192,
            max_body_bytes: 64 << 20,
            keep_alive_idle: Duration::from_secs(60),
            max_requests_per_connection: 10_000,
            h2_max_concurrent_streams: 128,
            h2_max_pending_reset_streams: 64,
            max_in_flight: 10_000,
            max_tracked_ips: 100_000,
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManyConnections,
    AcceptRateExceeded,
}

#[derive(Debug)]
struct PerIp {
    open: usize,
    tokens: f64,
    refilled: Instant,
}

/// Per-IP open connection counts and accept token buckets.
#[derive(Debug)]
pub struct ConnectionTracker {
    limits: Limits,
    ips: Mutex<HashMap<IpAddr, PerIp>>,
}

/// Held for a connection's life; releases its slot on drop.
#[derive(Debug)]
pub struct ConnectionGuard {
    tracker: Arc<ConnectionTracker>,
    ip: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut ips = self.tracker.ips.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = ips.get_mut(&self.ip) {
            e.open = e.open.saturating_sub(1);
        }
    }
}

impl ConnectionTracker {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(ConnectionTracker {
            limits,
            ips: Mutex::new(HashMap::new()),
        })
    }

    /// Admits a new connection from `ip` at `now`, or says why not.
    pub fn try_accept(
        self: &Arc<Self>,
        ip: IpAddr,
        now: Instant,
    ) -> Result<ConnectionGuard, Refusal> {
        let l = &self.limits;
        let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        if !ips.contains_key(&ip) && ips.len() >= l.max_tracked_ips {
            // Forget addresses with no open connection and a full bucket: they are idle.
            let full = f64::from(l.accept_burst);
            ips.retain(|_, e| {
                e.open > 0
                    || e.tokens < full && now.duration_since(e.refilled) < Duration::from_secs(60)
            });
        }
        let e = ips.entry(ip).or_insert(PerIp {
            open: 0,
            tokens: f64::from(l.accept_burst),
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(e.refilled).as_secs_f64();
        e.tokens = (e.tokens + elapsed * f64::from(l.accepts_per_ip_per_sec))
            .min(f64::from(l.accept_burst));
        e.refilled = now;
        if e.open >= l.max_connections_per_ip {
            return Err(Refusal::TooManyConnections);
        }
        if e.tokens < 1.0 {
            return Err(Refusal::AcceptRateExceeded);
        }
        e.tokens -= 1.0;
        e.open += 1;
        Ok(ConnectionGuard {
            tracker: Arc::clone(self),
            ip,
        })
    }

    /// Open connections from `ip`.
    pub fn open_connections(&self, ip: IpAddr) -> usize {
        self.ips
            .lock()
            .map(|m| m.get(&ip).map_or(0, |e| e.open))
            .unwrap_or(0)
    }
}

/// Total requests in flight; over the cap, requests are shed with 503 before any work.
#[derive(Debug)]
pub struct InflightLimiter {
    max: usize,
    current: AtomicUsize,
}

/// Held while a request is in flight.
#[derive(Debug)]
pub struct InflightGuard {
    limiter: Arc<InflightLimiter>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.limiter.current.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InflightLimiter {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(InflightLimiter {
            max,
            current: AtomicUsize::new(0),
        })
    }

    pub fn try_acquire(self: &Arc<Self>) -> Option<InflightGuard> {
        let prev = self.current.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max {
            self.current.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InflightGuard {
            limiter: Arc::clone(self),
        })
    }
}

/// A request head over a limit: the status to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadRejection {
    /// 414 URI Too Long.
    UrlTooLong,
    /// 431 Request Header Fields Too Large.
    HeadTooLarge,
    /// 413 Content Too Large.
    BodyTooLarge,
}

impl HeadRejection {
    pub fn status(self) -> u16 {
        match self {
            HeadRejection::UrlTooLong => 414,
            HeadRejection::HeadTooLarge => 431,
            HeadRejection::BodyTooLarge => 413,
        }
    }
}

/// Checks a request head's sizes: `url_len` (path + query), `head_len` (request line and all
/// header lines), `content_length` when declared.
pub fn check_head(
    limits: &Limits,
    url_len: usize,
    head_len: usize,
    content_length: Option<u64>,
) -> Result<(), HeadRejection> {
    if url_len > limits.max_url_bytes {
        return Err(HeadRejection::UrlTooLong);
    }
    if head_len > limits.max_head_bytes {
        return Err(HeadRejection::HeadTooLarge);
    }
    if content_length.is_some_and(|n| n > limits.max_body_bytes) {
        return Err(HeadRejection::BodyTooLarge);
    }
    Ok(())
}

/// Minimum body rate (slow POST): feed it every chunk; `false` means too slow or too big.
#[derive(Debug)]
pub struct BodyRate {
    started: Instant,
    received: u64,
    min_rate: u64,
    grace: Duration,
    max: u64,
}

impl BodyRate {
    pub fn new(limits: &Limits, started: Instant) -> Self {
        BodyRate {
            started,
            received: 0,
            min_rate: limits.min_body_bytes_per_sec,
            grace: limits.body_rate_grace,
            max: limits.max_body_bytes,
        }
    }

    pub fn observe(&mut self, bytes: usize, now: Instant) -> bool {
        self.received = self.received.saturating_add(bytes as u64);
        if self.received > self.max {
            return false;
        }
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed <= self.grace {
            return true;
        }
        self.received as f64 >= self.min_rate as f64 * elapsed.as_secs_f64()
    }
}
