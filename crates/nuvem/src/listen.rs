//! Sockets: accept loops for the AWS endpoint (plain and TLS) and the public edge, serving
//! HTTP/1.1 and HTTP/2 with hyper, the listener limits, and a graceful shutdown that lets
//! in-flight requests finish.
//!
//! The limits are nuvem-waf's `shield`, applied here (its module doc is the contract): each
//! listener belongs to a group (`Listeners::api` for the AWS endpoint and its TLS listener,
//! `Listeners::edge` for every edge location) whose `Gate` caps open connections in total and
//! per source IP, refusing extra ones at accept. A connection that completes no request head
//! within `header_read_timeout` of its accept (TLS handshake and HTTP version detection
//! included) is cut, and so is an HTTP/1.1 connection that sends no next head within
//! `header_read_timeout` of its last response (both by the connection's watchdog, no timer per
//! request) and an HTTP/2 one idle for `keep_alive_idle`; hyper enforces the head size and
//! the HTTP/2 stream limits. Request
//! bodies go through [`RateBody`], which cuts the connection when the client sends slower
//! than the minimum rate. Every refusal and cut is counted per reason for `/_nuvem/health`.
//! Per request this costs a few atomic operations on the connection's own state.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use nuvem_aws::{Body, BoxError};
use nuvem_waf::shield::{BodyRate, Event, Gate, Limits};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// How long in-flight requests get to finish after a shutdown signal.
pub const GRACE: Duration = Duration::from_secs(10);

/// How long an idle HTTP/2 connection gets to send its GOAWAY before it is dropped.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// A request handler shared by every connection of one listener.
pub trait Handler: Send + Sync + 'static {
    fn handle(self: Arc<Self>, req: Request<Body>) -> impl Future<Output = Response<Body>> + Send;
}

impl Handler for crate::endpoint::Endpoint {
    fn handle(self: Arc<Self>, req: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        crate::endpoint::Endpoint::handle(self, req)
    }
}

/// The two listener groups and the descriptor limit their budgets came from; the VPN, whose
/// connections join the `api` group, once it runs.
pub struct Listeners {
    pub api: Arc<Gate>,
    pub edge: Arc<Gate>,
    pub fd_limit: u64,
    pub vpn: std::sync::OnceLock<nuvem_vpn::Vpn>,
}

impl Listeners {
    /// The `listeners` object of `/_nuvem/health`.
    pub fn health(&self) -> serde_json::Value {
        let group = |g: &Gate| {
            let l = g.limits();
            let mut o = serde_json::Map::new();
            o.insert("open".into(), g.open().into());
            o.insert("accepted".into(), g.accepted().into());
            o.insert("max_connections".into(), l.max_connections.into());
            o.insert(
                "max_connections_per_ip".into(),
                l.max_connections_per_ip.into(),
            );
            for e in Event::ALL {
                o.insert(e.name().into(), g.counted(e).into());
            }
            serde_json::Value::Object(o)
        };
        let mut health = serde_json::json!({
            "fd_limit": self.fd_limit,
            "api": group(&self.api),
            "edge": group(&self.edge),
        });
        if let Some(vpn) = self.vpn.get() {
            let s = vpn.stats();
            health["vpn"] = serde_json::json!({
                "accepted": s.accepted,
                "unknown_peer": s.unknown_peer,
                "refused": s.refused,
                "spoofed_source": s.spoofed_source,
            });
        }
        health
    }
}

/// Raises the soft limit on open files to the hard limit; returns the limit in force.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

fn builder(l: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    // No head timer for HTTP/1: the connection's watchdog (`Conn::drive`) gives each head,
    // the first and those after it, `header_read_timeout`, at no cost per request (hyper's
    // timer boxed and armed a sleep for every request).
    b.http1()
        // hyper-util exposes no head size for HTTP/1, but a head must fit in the read
        // buffer: over it, hyper answers 431 and closes. Bodies are read through the same
        // buffer, hence the AWS endpoint's bigger default (fewer reads per upload).
        .max_buf_size(l.max_head_bytes.max(8192));
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(l.max_head_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(l.h2_max_concurrent_streams)
        .max_pending_accept_reset_streams(l.h2_max_pending_reset_streams)
        .max_local_error_reset_streams(l.h2_max_local_error_reset_streams);
    b
}

/// Serves `listener` under `gate`'s limits until `shutdown` flips to true, then waits (up to
/// [`GRACE`]) for open connections to finish their requests.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: Arc<H>,
    gate: Arc<Gate>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(builder(gate.limits()));
    let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                while conns.try_join_next().is_some() {}
                let admission = match gate.admit_to(peer.ip(), local_port, Instant::now()) {
                    Ok(a) => a,
                    Err(event) => {
                        tracing::debug!(%peer, reason = event.name(), "connection refused");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = Conn {
                    peer,
                    secure: false,
                    gate: gate.clone(),
                    state: Arc::new(ConnState::new()),
                    shutdown: shutdown.clone(),
                };
                let handler = handler.clone();
                let builder = builder.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    let _admission = admission;
                    match tls {
                        // Plain HTTP: the edge's large cached bodies go out with sendfile.
                        None => conn.drive(&builder, nuvem_edge::SendfileStream::new(stream), handler).await,
                        Some(acceptor) => conn.handshake(&builder, acceptor, stream, handler).await,
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    drain(conns).await;
}

/// Waits (up to [`GRACE`]) for open connections to finish their requests.
async fn drain(mut conns: JoinSet<()>) {
    let drained = tokio::time::timeout(GRACE, async { while conns.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!("some connections did not finish within the grace period");
        conns.abort_all();
    }
}

/// The private listeners as the VPN's peers reach them: `plain_port` (and the TLS listener's
/// port, when there is one) at nuvem's inner address.
pub struct TunnelPorts {
    pub plain: u16,
    pub tls: Option<(u16, tokio_rustls::TlsAcceptor)>,
}

/// Serves the connections VPN peers open inside the tunnel exactly as the private listener
/// of the port they addressed serves its own: the same security group (deciding on the
/// peer's inner address, which is also the request's source address), the same limits and
/// deadlines, TLS on the TLS listener's port. Stops, like [`serve`], on `shutdown`; dropping
/// `incoming` then stops the VPN's task.
pub async fn serve_tunnel<H: Handler>(
    mut incoming: nuvem_vpn::Incoming,
    ports: TunnelPorts,
    handler: Arc<H>,
    gate: Arc<Gate>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(builder(gate.limits()));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = incoming.accept() => {
                let Some(a) = accepted else { break };
                while conns.try_join_next().is_some() {}
                let tls = match &ports.tls {
                    _ if a.port == ports.plain => None,
                    Some((port, acceptor)) if *port == a.port => Some(acceptor.clone()),
                    // The VPN only accepts the ports it was given: not reached.
                    _ => continue,
                };
                let admission = match gate.admit_to(a.peer.ip(), a.port, Instant::now()) {
                    Ok(a) => a,
                    Err(event) => {
                        tracing::debug!(peer = %a.peer, reason = event.name(), "VPN connection refused");
                        continue;
                    }
                };
                let conn = Conn {
                    peer: a.peer,
                    secure: false,
                    gate: gate.clone(),
                    state: Arc::new(ConnState::new()),
                    shutdown: shutdown.clone(),
                };
                let handler = handler.clone();
                let builder = builder.clone();
                conns.spawn(async move {
                    let _admission = admission;
                    match tls {
                        None => conn.drive(&builder, a.stream, handler).await,
                        Some(acceptor) => conn.handshake(&builder, acceptor, a.stream, handler).await,
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(incoming);
    drain(conns).await;
}

/// Binds a listener, with the address in the error.
pub async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the {what}: {e}"))
}

/// What the deadlines of one connection look at, shared by its requests (HTTP/2 streams run
/// in tasks of their own).
struct ConnState {
    accepted: Instant,
    in_flight: AtomicU32,
    requests: AtomicU64,
    /// When the last response ended, in milliseconds since `accepted`.
    last_done_ms: AtomicU64,
    /// Notified when a request body was too slow: the connection is cut.
    cut: Notify,
    /// Whether requests arrive over HTTP/2 (set by the first one).
    http2: AtomicBool,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            accepted: Instant::now(),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            last_done_ms: AtomicU64::new(0),
            cut: Notify::new(),
            http2: AtomicBool::new(false),
        }
    }

    /// When the connection is to be closed if nothing happens, and why; `None` while a
    /// request is in flight.
    fn deadline(&self, l: &Limits) -> Option<(Instant, Event)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if self.requests.load(Ordering::Acquire) == 0 {
            return Some((self.accepted + l.header_read_timeout, Event::HeaderTimeout));
        }
        let done = Duration::from_millis(self.last_done_ms.load(Ordering::Acquire));
        // An HTTP/1.1 connection waits for its next request head at most
        // `header_read_timeout` (a head sent slowly after a first request is cut like a first
        // one); an HTTP/2 connection stays open `keep_alive_idle` without streams.
        let idle = if self.http2.load(Ordering::Relaxed) {
            l.keep_alive_idle
        } else {
            l.keep_alive_idle.min(l.header_read_timeout)
        };
        Some((self.accepted + done + idle, Event::IdleClosed))
    }
}

/// One request in flight on a connection; dropped when its response body ends (or the
/// request is abandoned).
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn start(state: &Arc<ConnState>) -> Self {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.requests.fetch_add(1, Ordering::AcqRel);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_done_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it has been sent.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body held to the minimum rate: when the reader has waited for the client longer
/// than `BodyRate` allows, the body fails and the connection is cut.
struct RateBody {
    inner: Incoming,
    rate: BodyRate,
    waiting_since: Option<Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    state: Arc<ConnState>,
    gate: Arc<Gate>,
}

impl hyper::body::Body for RateBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(since) = this.waiting_since.take() {
                    this.rate.waited(since.elapsed());
                }
                if let Some(Ok(f)) = &frame
                    && let Some(data) = f.data_ref()
                {
                    this.rate.received(data.len());
                }
                Poll::Ready(frame.map(|r| r.map_err(|e| Box::new(e) as BoxError)))
            }
            Poll::Pending => {
                let Some(allowance) = this.rate.allowance() else {
                    return Poll::Pending;
                };
                let since = *this.waiting_since.get_or_insert_with(Instant::now);
                let deadline = tokio::time::Instant::from_std(since + allowance);
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    this.gate.count(Event::SlowBody);
                    this.state.cut.notify_one();
                    return Poll::Ready(Some(Err("the request body arrived too slowly".into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One accepted connection.
/// Whether `req` asks for `100 Continue` but has no body, so hyper answers it without one (RFC
/// 9110 §10.1.1 allows that). botocore then keeps the early final status on the pooled
/// connection and misreads the next `Expect` request's response on it (an S3 `UploadPart`
/// after an empty `PutObject`: a 200 without its headers, then a 10 s wait), so such an
/// answer closes the connection: the client opens a new one. HTTP/1.1 only (HTTP/2 has no
/// `Connection` header and no such client state).
fn answers_expect_without_continue<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_11
        && req
            .headers()
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
        && !req.headers().contains_key(http::header::TRANSFER_ENCODING)
        && req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0")
}

/// How a request arrived, in its extensions beside the peer's address.
pub use nuvem_aws::Transport;

struct Conn {
    peer: SocketAddr,
    /// Whether requests arrive over TLS (set by the handshake).
    secure: bool,
    gate: Arc<Gate>,
    state: Arc<ConnState>,
    shutdown: watch::Receiver<bool>,
}

impl Conn {
    /// The TLS handshake counts against the first request's head deadline.
    async fn handshake<H: Handler, IO>(
        mut self,
        builder: &auto::Builder<TokioExecutor>,
        acceptor: tokio_rustls::TlsAcceptor,
        stream: IO,
        handler: Arc<H>,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let deadline = self.state.accepted + self.gate.limits().header_read_timeout;
        let stream = tokio::select! {
            s = tokio::time::timeout_at(deadline.into(), acceptor.accept(stream)) => match s {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => { tracing::debug!(%peer, error = %e, "TLS handshake failed"); return; }
                Err(_) => {
                    self.gate.count(Event::HeaderTimeout);
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
            _ = self.shutdown.changed() => return,
        };
        self.secure = true;
        self.drive(builder, stream, handler).await
    }

    /// Serves the connection until it ends, a deadline passes, a body is too slow, or
    /// shutdown (graceful).
    async fn drive<H: Handler, IO>(
        mut self,
        builder: &auto::Builder<TokioExecutor>,
        io: IO,
        handler: Arc<H>,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (peer, gate, state) = (self.peer, self.gate.clone(), self.state.clone());
        let transport = Transport {
            secure: self.secure,
        };
        let limits = gate.limits().clone();
        let svc = {
            let (gate, state) = (gate.clone(), state.clone());
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let (handler, gate, state) = (handler.clone(), gate.clone(), state.clone());
                async move {
                    let in_flight = InFlight::start(&state);
                    if req.version() == http::Version::HTTP_2 {
                        state.http2.store(true, Ordering::Relaxed);
                    }
                    let mut hosts = req.headers().get_all(http::header::HOST).iter();
                    if hosts.next().is_some() && hosts.next().is_some() {
                        gate.count(Event::DuplicateHost);
                        return Ok::<_, Infallible>(refusal(
                            StatusCode::BAD_REQUEST,
                            "more than one Host header",
                            in_flight,
                        ));
                    }
                    let early_final = answers_expect_without_continue(&req);
                    let rate = BodyRate::new(gate.limits());
                    let mut req = req.map(|inner| {
                        RateBody {
                            inner,
                            rate,
                            waiting_since: None,
                            timer: None,
                            state: state.clone(),
                            gate: gate.clone(),
                        }
                        .boxed_unsync()
                    });
                    // The client's address, for the gateway's `sourceIp` and per-client
                    // throttling (and anything else that needs the real peer).
                    req.extensions_mut().insert(peer);
                    req.extensions_mut().insert(transport);
                    let mut resp = handler.handle(req).await;
                    if early_final {
                        resp.headers_mut().insert(
                            http::header::CONNECTION,
                            http::HeaderValue::from_static("close"),
                        );
                    }
                    Ok(resp.map(|body| Tracked {
                        body,
                        _in_flight: in_flight,
                    }))
                }
            })
        };
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
        let mut conn = std::pin::pin!(conn);
        let first = state.accepted + limits.header_read_timeout;
        let watchdog = tokio::time::sleep_until(first.into());
        let mut watchdog = std::pin::pin!(watchdog);
        let mut draining = false;
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        if let Some(h) = e.downcast_ref::<hyper::Error>() {
                            if h.is_timeout() {
                                // Only HTTP/2 has a hyper timer (the watchdog below times
                                // HTTP/1.1 heads); after a first request, a timeout is most
                                // often an idle connection.
                                gate.count(if state.requests.load(Ordering::Acquire) == 0 {
                                    Event::HeaderTimeout
                                } else {
                                    Event::IdleClosed
                                });
                            } else if h.is_parse_too_large() {
                                gate.count(Event::HeadTooLarge);
                            }
                        }
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = watchdog.as_mut() => {
                    let now = Instant::now();
                    match state.deadline(&limits) {
                        Some((at, event)) if at <= now => {
                            gate.count(event);
                            tracing::debug!(%peer, reason = event.name(), "closing connection");
                            if event == Event::IdleClosed && state.http2.load(Ordering::Relaxed) {
                                // HTTP/2 clients get a GOAWAY; HTTP/1.1 closes at once.
                                conn.as_mut().graceful_shutdown();
                                let _ = tokio::time::timeout(GOAWAY_GRACE, conn.as_mut()).await;
                            }
                            return;
                        }
                        Some((at, _)) => watchdog.as_mut().reset(at.into()),
                        // Busy: look again later (the idle clock starts when it ends).
                        None => {
                            let again = limits.keep_alive_idle.min(limits.header_read_timeout);
                            watchdog.as_mut().reset((now + again).into());
                        }
                    }
                }
                _ = state.cut.notified() => {
                    tracing::debug!(%peer, "cutting connection: request body too slow");
                    return;
                }
                _ = self.shutdown.changed(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A refusal answered by the listener itself (before any handler).
fn refusal(status: StatusCode, message: &'static str, in_flight: InFlight) -> Response<Tracked> {
    let mut resp = Response::new(Tracked {
        body: nuvem_aws::full_body(format!("{message}\n")),
        _in_flight: in_flight,
    });
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}
