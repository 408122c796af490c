//! Shield-like listener protection as plain data and logic: per-IP and total connection caps,
//! per-IP accept rates, a minimum request-body rate, counters of what was refused or cut, a
//! total in-flight cap with fast 503 shedding, and request-head/URL/body size checks with
//! CloudFront's limits. No sockets and no timers here: the listener (`nuvem`'s `listen.rs`)
//! calls these and owns the clock.
//!
//! What the listener does (in this order):
//! 1. On accept: `Gate::admit(ip, now)`; on `Err` it counts the refusal and closes the socket
//!    at once. The returned `Admission` is kept alive for the connection's life.
//! 2. It configures hyper with `Limits`: `header_read_timeout` (hyper only enforces it when a
//!    timer is set: `.timer(TokioTimer::new())`), `max_head_bytes` (HTTP/1 `max_buf_size`,
//!    HTTP/2 `max_header_list_size`), HTTP/2 `max_concurrent_streams`,
//!    `max_pending_accept_reset_streams` and `max_local_error_reset_streams` (rapid reset).
//!    It closes a connection that completes no request within `header_read_timeout` of its
//!    accept (TLS handshake and protocol detection included), or that stays idle (no request
//!    in flight) for `keep_alive_idle`.
//! 3. Per request: a second `Host` header is a 400.
//! 4. While reading a body: `BodyRate`, fed with the bytes and with the time spent waiting for
//!    the client; when `allowance()` runs out, the connection is cut.
//!
//! `InflightLimiter` and `check_head` are not wired into the listener: the services bound
//! their own bodies, and hyper bounds heads and URLs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The numbers. Defaults follow CloudFront's quotas where it has one:
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html>.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open connections of one listener group (all edge locations, or the AWS endpoint).
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// New connections per IP per second (token bucket rate) and burst; 0 turns it off.
    pub accepts_per_ip_per_sec: u32,
    pub accept_burst: u32,
    pub header_read_timeout: Duration,
    /// Bodies must arrive at least this fast (on average, counting only the time spent
    /// waiting for the client) beyond `body_rate_grace`. 0 turns it off.
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
    /// Streams the client reset before the server accepted them (CVE-2023-44487).
    pub h2_max_pending_reset_streams: usize,
    /// Streams the server had to reset because of the client's protocol errors.
    pub h2_max_local_error_reset_streams: usize,
    pub max_in_flight: usize,
    /// IPs tracked by the connection tracker before idle ones are evicted.
    pub max_tracked_ips: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_connections_per_ip: 256,
            accepts_per_ip_per_sec: 0,
            accept_burst: 200,
            header_read_timeout: Duration::from_secs(10),
            min_body_bytes_per_sec: 1024,
            body_rate_grace: Duration::from_secs(10),
            max_head_bytes: 20_480,
            max_url_bytes: 8_192,
            max_body_bytes: 64 << 20,
            keep_alive_idle: Duration::from_secs(60),
            max_requests_per_connection: 10_000,
            h2_max_concurrent_streams: 128,
            h2_max_pending_reset_streams: 20,
            h2_max_local_error_reset_streams: 1024,
            max_in_flight: 10_000,
            max_tracked_ips: 100_000,
        }
    }
}

/// A security group's inbound rules: who may open connections to a listener group. A
/// connection is admitted when one rule's network holds its source address and, if the rule
/// names ports, its local port is one of them; with no rule, nothing is admitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingress {
    rules: Vec<IngressRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct IngressRule {
    net: IpAddr,
    prefix: u8,
    /// Empty: every port of the group.
    ports: Vec<u16>,
}

impl Ingress {
    /// Adds a rule: `cidr` is `10.0.0.0/8`, `2001:db8::/32` or one address.
    pub fn allow(&mut self, cidr: &str, ports: &[u16]) -> Result<(), String> {
        let (addr, prefix) = match cidr.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (cidr, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{cidr:?} is not an address or CIDR block"))?;
        let width = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("{cidr:?}: the prefix length must be 0 to {width}"))?,
            None => width,
        };
        self.rules.push(IngressRule {
            net,
            prefix,
            ports: ports.to_vec(),
        });
        Ok(())
    }

    pub fn allows(&self, ip: IpAddr, port: u16) -> bool {
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.rules
            .iter()
            .any(|r| (r.ports.is_empty() || r.ports.contains(&port)) && in_net(ip, r.net, r.prefix))
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let shift = width - u32::from(prefix);
    shift >= width || (ip >> shift) == (net >> shift)
}

/// Why a connection was refused or cut, or a request refused: the counters' keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Refused at accept: the source IP has `max_connections_per_ip` open.
    RefusedPerIp,
    /// Refused at accept: the group has `max_connections` open.
    RefusedGlobal,
    /// Refused at accept: the source IP opens connections faster than its accept rate.
    RefusedAcceptRate,
    /// Cut: no complete request head within `header_read_timeout` (TLS handshake included).
    HeaderTimeout,
    /// Closed: idle (no request in flight) for `keep_alive_idle`.
    IdleClosed,
    /// Cut: a request body arrived slower than `min_body_bytes_per_sec`.
    SlowBody,
    /// A request head over `max_head_bytes` (431).
    HeadTooLarge,
    /// A request with more than one `Host` header (400).
    DuplicateHost,
    /// Refused at accept: no rule of the listener group's security group admits the source
    /// address and port.
    RefusedSecurityGroup,
}

impl Event {
    pub const ALL: [Event; 9] = [
        Event::RefusedPerIp,
        Event::RefusedGlobal,
        Event::RefusedAcceptRate,
        Event::HeaderTimeout,
        Event::IdleClosed,
        Event::SlowBody,
        Event::HeadTooLarge,
        Event::DuplicateHost,
        Event::RefusedSecurityGroup,
    ];

    /// The counter's name on `/_nuvem/health`.
    pub fn name(self) -> &'static str {
        match self {
            Event::RefusedPerIp => "refused_per_ip_cap",
            Event::RefusedGlobal => "refused_global_cap",
            Event::RefusedAcceptRate => "refused_accept_rate",
            Event::HeaderTimeout => "header_timeout",
            Event::IdleClosed => "idle_closed",
            Event::SlowBody => "slow_body",
            Event::HeadTooLarge => "head_too_large",
            Event::DuplicateHost => "duplicate_host",
            Event::RefusedSecurityGroup => "refused_security_group",
        }
    }
}

/// One listener group's limits, open connections and counters. Accepting takes one atomic
/// add and one uncontended lock of a 16th of the per-IP table; requests touch neither.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    ingress: Option<Ingress>,
    open: AtomicUsize,
    shards: [Mutex<HashMap<IpAddr, PerIp>>; SHARDS],
    counts: [AtomicU64; Event::ALL.len()],
    accepted: AtomicU64,
}

const SHARDS: usize = 16;

#[derive(Debug)]
struct PerIp {
    open: usize,
    tokens: f64,
    refilled: Instant,
}

/// Held for a connection's life; releases its slots on drop.
#[derive(Debug)]
pub struct Admission {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::AcqRel);
        let mut ips = self.gate.shard(self.ip);
        if let Some(e) = ips.get_mut(&self.ip) {
            e.open = e.open.saturating_sub(1);
        }
    }
}

fn shard_of(ip: IpAddr) -> usize {
    let folded = match ip {
        IpAddr::V4(v4) => v4.octets().iter().fold(0u8, |a, b| a.rotate_left(3) ^ b),
        IpAddr::V6(v6) => v6.octets().iter().fold(0u8, |a, b| a.rotate_left(3) ^ b),
    };
    usize::from(folded) % SHARDS
}

impl Gate {
    pub fn new(limits: Limits) -> Arc<Self> {
        Self::with_ingress(limits, None)
    }

    /// A gate that admits only what `ingress` allows (`None`: every source).
    pub fn with_ingress(limits: Limits, ingress: Option<Ingress>) -> Arc<Self> {
        Arc::new(Gate {
            limits,
            ingress,
            open: AtomicUsize::new(0),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            accepted: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn shard(&self, ip: IpAddr) -> std::sync::MutexGuard<'_, HashMap<IpAddr, PerIp>> {
        self.shards[shard_of(ip)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a new connection from `ip` to the local port `port`: first the security group,
    /// then the limits of [`admit`](Self::admit).
    pub fn admit_to(
        self: &Arc<Self>,
        ip: IpAddr,
        port: u16,
        now: Instant,
    ) -> Result<Admission, Event> {
        if let Some(ingress) = &self.ingress
            && !ingress.allows(ip, port)
        {
            return Err(self.refuse(Event::RefusedSecurityGroup));
        }
        self.admit(ip, now)
    }

    /// Admits a new connection from `ip` at `now`, or says why not (and counts it).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<Admission, Event> {
        let l = &self.limits;
        if self.open.fetch_add(1, Ordering::AcqRel) >= l.max_connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refuse(Event::RefusedGlobal));
        }
        let verdict = {
            let mut ips = self.shard(ip);
            if !ips.contains_key(&ip) && ips.len() >= (l.max_tracked_ips / SHARDS).max(1) {
                // Forget addresses with no open connection and a full bucket: they are idle.
                let full = f64::from(l.accept_burst);
                ips.retain(|_, e| {
                    e.open > 0
                        || e.tokens < full
                            && now.duration_since(e.refilled) < Duration::from_secs(60)
                });
            }
            let e = ips.entry(ip).or_insert(PerIp {
                open: 0,
                tokens: f64::from(l.accept_burst),
                refilled: now,
            });
            if e.open >= l.max_connections_per_ip {
                Err(Event::RefusedPerIp)
            } else if l.accepts_per_ip_per_sec == 0 {
                e.open += 1;
                Ok(())
            } else {
                let elapsed = now.saturating_duration_since(e.refilled).as_secs_f64();
                e.tokens = (e.tokens + elapsed * f64::from(l.accepts_per_ip_per_sec))
                    .min(f64::from(l.accept_burst));
                e.refilled = now;
                if e.tokens < 1.0 {
                    Err(Event::RefusedAcceptRate)
                } else {
                    e.tokens -= 1.0;
                    e.open += 1;
                    Ok(())
                }
            }
        };
        match verdict {
            Ok(()) => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(Admission {
                    gate: Arc::clone(self),
                    ip,
                })
            }
            Err(event) => {
                self.open.fetch_sub(1, Ordering::AcqRel);
                Err(self.refuse(event))
            }
        }
    }

    fn refuse(&self, event: Event) -> Event {
        self.count(event);
        event
    }

    /// Counts one `event`.
    pub fn count(&self, event: Event) {
        self.counts[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many times `event` happened.
    pub fn counted(&self, event: Event) -> u64 {
        self.counts[event as usize].load(Ordering::Relaxed)
    }

    /// Open connections in this group.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Connections admitted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Open connections from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.shard(ip).get(&ip).map_or(0, |e| e.open)
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

/// Minimum body rate (slow POST). The reader feeds it the bytes it received and the time it
/// spent waiting for the client (not the time the server took to consume them), and asks how
/// much longer it may wait: `body_rate_grace` plus one second per `min_body_bytes_per_sec`
/// bytes received, minus the time already waited. `None` when the rate is off.
#[derive(Debug)]
pub struct BodyRate {
    received: u64,
    waited: Duration,
    min_rate: u64,
    grace: Duration,
}

impl BodyRate {
    pub fn new(limits: &Limits) -> Self {
        BodyRate {
            received: 0,
            waited: Duration::ZERO,
            min_rate: limits.min_body_bytes_per_sec,
            grace: limits.body_rate_grace,
        }
    }

    /// `bytes` more arrived.
    pub fn received(&mut self, bytes: usize) {
        self.received = self.received.saturating_add(bytes as u64);
    }

    /// The reader waited `d` for the client.
    pub fn waited(&mut self, d: Duration) {
        self.waited = self.waited.saturating_add(d);
    }

    /// How much longer the reader may wait for the client's next bytes; zero means the body
    /// is too slow. `None` when there is no minimum rate.
    pub fn allowance(&self) -> Option<Duration> {
        if self.min_rate == 0 {
            return None;
        }
        let earned_nanos = u128::from(self.received) * 1_000_000_000 / u128::from(self.min_rate);
        let earned = Duration::from_nanos(u64::try_from(earned_nanos).unwrap_or(u64::MAX));
        Some(
            self.grace
                .saturating_add(earned)
                .saturating_sub(self.waited),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn limits(per_ip: usize, total: usize, rate: u32, burst: u32) -> Limits {
        Limits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            accepts_per_ip_per_sec: rate,
            accept_burst: burst,
            ..Limits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn security_group_rules() {
        let mut g = Ingress::default();
        g.allow("10.0.0.0/8", &[]).unwrap();
        g.allow("192.168.1.7", &[4566]).unwrap();
        g.allow("2001:db8::/32", &[443, 4566]).unwrap();
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(g.allows(a("10.9.8.7"), 4566));
        assert!(g.allows(a("10.9.8.7"), 1));
        assert!(g.allows(a("::ffff:10.1.2.3"), 4566), "IPv4-mapped");
        assert!(!g.allows(a("11.0.0.1"), 4566));
        assert!(g.allows(a("192.168.1.7"), 4566));
        assert!(!g.allows(a("192.168.1.7"), 4567), "port not in the rule");
        assert!(!g.allows(a("192.168.1.8"), 4566));
        assert!(g.allows(a("2001:db8:5::1"), 443));
        assert!(!g.allows(a("2001:db9::1"), 443));
        assert!(
            !Ingress::default().allows(a("127.0.0.1"), 4566),
            "no rule, no entry"
        );
        let mut all = Ingress::default();
        all.allow("0.0.0.0/0", &[]).unwrap();
        assert!(all.allows(a("8.8.8.8"), 1));
        assert!(Ingress::default().allow("10.0.0.0/33", &[]).is_err());
        assert!(Ingress::default().allow("ten", &[]).is_err());
        let gate = Gate::with_ingress(limits(10, 10, 0, 1), Some(g));
        let now = Instant::now();
        assert_eq!(
            gate.admit_to(a("11.0.0.1"), 4566, now).err(),
            Some(Event::RefusedSecurityGroup)
        );
        assert!(gate.admit_to(a("10.0.0.1"), 4566, now).is_ok());
    }

    /// Admits `attempts` connections from `from` at `t0`, keeps them, and checks the outcomes.
    #[track_caller]
    fn check(
        gate: &Arc<Gate>,
        from: IpAddr,
        attempts: usize,
        expected: &[Result<(), Event>],
    ) -> Vec<Admission> {
        let t0 = Instant::now();
        let mut kept = Vec::new();
        let mut got = Vec::new();
        for _ in 0..attempts {
            match gate.admit(from, t0) {
                Ok(a) => {
                    kept.push(a);
                    got.push(Ok(()));
                }
                Err(e) => got.push(Err(e)),
            }
        }
        assert_eq!(got, expected);
        kept
    }

    #[test]
    fn per_ip_and_total_caps() {
        let gate = Gate::new(limits(2, 3, 0, 0));
        let a = check(&gate, ip(1), 3, &[Ok(()), Ok(()), Err(Event::RefusedPerIp)]);
        let b = check(&gate, ip(2), 2, &[Ok(()), Err(Event::RefusedGlobal)]);
        assert_eq!(gate.open(), 3);
        assert_eq!(gate.open_from(ip(1)), 2);
        assert_eq!(gate.counted(Event::RefusedPerIp), 1);
        assert_eq!(gate.counted(Event::RefusedGlobal), 1);
        drop(a);
        assert_eq!(gate.open(), 1, "closing releases both slots");
        assert_eq!(gate.open_from(ip(1)), 0);
        let _c = check(&gate, ip(1), 1, &[Ok(())]);
        drop(b);
        assert_eq!(gate.open(), 1);
        assert_eq!(gate.accepted(), 4);
    }

    #[test]
    fn accept_rate() {
        let gate = Gate::new(limits(100, 100, 1, 2));
        let kept = check(
            &gate,
            ip(1),
            3,
            &[Ok(()), Ok(()), Err(Event::RefusedAcceptRate)],
        );
        drop(kept);
        // Refused attempts take no slot, and another address has its own bucket.
        assert_eq!(gate.open(), 0);
        let _k = check(&gate, ip(2), 1, &[Ok(())]);
    }

    #[track_caller]
    fn rate(steps: &[(usize, u64)], expected: Option<u64>) {
        let l = Limits {
            min_body_bytes_per_sec: 1000,
            body_rate_grace: Duration::from_secs(2),
            ..Limits::default()
        };
        let mut r = BodyRate::new(&l);
        for &(bytes, waited_ms) in steps {
            r.received(bytes);
            r.waited(Duration::from_millis(waited_ms));
        }
        assert_eq!(r.allowance(), expected.map(Duration::from_millis));
    }

    #[test]
    fn body_rate() {
        rate(&[], Some(2000));
        rate(&[(0, 1500)], Some(500));
        rate(&[(0, 2500)], Some(0));
        // 1000 bytes earn one second of waiting.
        rate(&[(0, 1500), (1000, 0)], Some(1500));
        rate(&[(500, 1000), (500, 1000), (500, 1000)], Some(500));
        rate(&[(10, 1000), (10, 1000), (10, 1000)], Some(0));
        let off = BodyRate::new(&Limits {
            min_body_bytes_per_sec: 0,
            ..Limits::default()
        });
        assert_eq!(off.allowance(), None);
    }
}
