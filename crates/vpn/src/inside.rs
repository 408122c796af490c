//! The inside of the tunnel: the smoltcp interface that holds nuvem's inner address, its
//! listening sockets on the private plane's ports, and the connections handed out. Packets
//! come in through `device.rx` (already decrypted and checked by the endpoint) and leave
//! through `device.tx` (the endpoint encrypts them for their peer). There is no other way
//! out: smoltcp drops packets for other addresses and resets SYNs to other ports.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use smoltcp::iface::{Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use tokio::sync::{Notify, mpsc};

use crate::config::Config;
use crate::device::Queues;
use crate::endpoint::{Accepted, Counters, count};
use crate::stream::{self, PIPE_CAP, Pipe, Shared, TunnelStream};

/// Listening sockets kept ready per port: connections that start at the same moment each
/// need one (a SYN that finds none is answered with a RST).
const LISTENERS_PER_PORT: usize = 4;
/// Listening and half-open sockets per port, at most.
const MAX_HALF_OPEN: usize = 32;
/// Each TCP socket's buffers inside smoltcp.
const SOCKET_BUF: usize = 64 * 1024;
/// A connection whose stream is gone gets this long to close politely, then is aborted.
const LINGER: Duration = Duration::from_secs(30);
/// Inner packets taken from the device per interface poll, so listeners are replenished
/// between bursts of SYNs.
const RX_BUDGET: usize = 32;

struct Conn {
    handle: SocketHandle,
    pipe: Shared,
    /// Since when the stream has been dropped.
    orphaned: Option<tokio::time::Instant>,
}

pub(crate) struct Inside {
    pub address: std::net::Ipv4Addr,
    ports: Vec<u16>,
    iface: Interface,
    pub device: Queues,
    sockets: SocketSet<'static>,
    listeners: Vec<(u16, SocketHandle)>,
    conns: Vec<Conn>,
    pub accepted: mpsc::Sender<Accepted>,
    /// Notified by the streams when they wrote, read or went away.
    pub wake: Arc<Notify>,
    counters: Arc<Counters>,
}

impl Inside {
    pub fn new(config: &Config, accepted: mpsc::Sender<Accepted>, counters: Arc<Counters>) -> Self {
        let mut device = Queues::default();
        let mut iface_config = smoltcp::iface::Config::new(HardwareAddress::Ip);
        iface_config.random_seed = OsRng.next_u64();
        let mut iface = Interface::new(iface_config, &mut device, smoltcp::time::Instant::now());
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(config.address), 32))
                .expect("one address");
        });
        // Every reply goes into the device; which peer gets it is decided by cryptokey
        // routing in `flush`, not by the interface.
        iface
            .routes_mut()
            .add_default_ipv4_route(config.address)
            .expect("one route");
        let mut inside = Inside {
            address: config.address,
            ports: config.ports.clone(),
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            listeners: Vec::new(),
            conns: Vec::new(),
            accepted,
            wake: Arc::new(Notify::new()),
            counters,
        };
        inside.replenish();
        inside
    }

    /// One pass: some received packets through the interface, connections moved, listeners
    /// replenished. Whether anything happened (or is left to do).
    pub fn poll(&mut self) -> bool {
        let mut rx = std::mem::take(&mut self.device.rx);
        let rest = rx.split_off(rx.len().min(RX_BUDGET));
        self.device.rx = rx;
        let polled = self.iface.poll(
            smoltcp::time::Instant::now(),
            &mut self.device,
            &mut self.sockets,
        );
        self.device.rx.extend(rest);
        let moved = self.pump();
        self.replenish();
        polled != PollResult::None || moved || !self.device.rx.is_empty()
    }

    /// When the interface next needs a poll (retransmissions, keepalives), at most a second.
    pub fn poll_delay(&mut self) -> Duration {
        self.iface
            .poll_delay(smoltcp::time::Instant::now(), &self.sockets)
            .map_or(Duration::from_secs(1), |d| {
                Duration::from_micros(d.total_micros())
            })
            .min(Duration::from_secs(1))
    }

    /// Keeps `LISTENERS_PER_PORT` sockets listening on each port.
    /// Half-open connections (SYN received) are bounded per port: past `MAX_HALF_OPEN`, no
    /// socket listens and new SYNs are reset, so a peer's SYN flood costs a bounded memory.
    fn replenish(&mut self) {
        for &port in &self.ports {
            let (mut listening, mut half_open) = (0, 0);
            for (p, h) in &self.listeners {
                if *p == port {
                    match self.sockets.get::<tcp::Socket>(*h).state() {
                        tcp::State::Listen => listening += 1,
                        _ => half_open += 1,
                    }
                }
            }
            let room = MAX_HALF_OPEN.saturating_sub(half_open + listening);
            for _ in 0..LISTENERS_PER_PORT.saturating_sub(listening).min(room) {
                let mut socket = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; SOCKET_BUF]),
                    tcp::SocketBuffer::new(vec![0; SOCKET_BUF]),
                );
                socket
                    .listen((IpAddress::Ipv4(self.address), port))
                    .expect("a fresh socket listens");
                // A handshake the peer never completes frees its socket soon; `pump` gives an
                // established connection longer.
                socket.set_timeout(Some(smoltcp::time::Duration::from_secs(10)));
                socket.set_keep_alive(Some(smoltcp::time::Duration::from_secs(25)));
                let handle = self.sockets.add(socket);
                self.listeners.push((port, handle));
            }
        }
    }

    /// Hands out the connections that completed their handshake, and moves bytes between
    /// each connection's socket and its stream. Whether anything happened.
    fn pump(&mut self) -> bool {
        let mut moved = false;
        // Listeners whose connection is established become connections.
        let mut i = 0;
        while i < self.listeners.len() {
            let (port, handle) = self.listeners[i];
            let socket = self.sockets.get_mut::<tcp::Socket>(handle);
            match socket.state() {
                tcp::State::Listen | tcp::State::SynReceived => {
                    i += 1;
                    continue;
                }
                tcp::State::Established | tcp::State::CloseWait => {}
                // Reset or closed before it was handed out.
                _ => {
                    self.listeners.swap_remove(i);
                    self.sockets.remove(handle);
                    continue;
                }
            }
            self.listeners.swap_remove(i);
            moved = true;
            // A peer that vanished (or never acknowledges) does not hold a socket forever.
            socket.set_timeout(Some(smoltcp::time::Duration::from_secs(60)));
            let peer = match socket.remote_endpoint() {
                Some(ep) => match ep.addr {
                    IpAddress::Ipv4(a) => SocketAddr::from((a, ep.port)),
                },
                None => {
                    self.sockets.remove(handle);
                    continue;
                }
            };
            let pipe: Shared = Arc::new(Mutex::new(Pipe::default()));
            let accepted = Accepted {
                stream: TunnelStream::new(pipe.clone(), self.wake.clone()),
                peer,
                port,
            };
            if self.accepted.try_send(accepted).is_err() {
                tracing::debug!(%peer, port, "tunnel connection reset: backlog full");
                socket.abort();
            } else {
                tracing::debug!(%peer, port, "tunnel connection accepted");
                count(&self.counters.accepted);
            }
            // The stream (sent, or dropped with the refused `Accepted`) owns its side.
            self.conns.push(Conn {
                handle,
                pipe,
                orphaned: None,
            });
        }

        let now = tokio::time::Instant::now();
        let mut i = 0;
        while i < self.conns.len() {
            let conn = &mut self.conns[i];
            let socket = self.sockets.get_mut::<tcp::Socket>(conn.handle);
            let mut p = stream::lock(&conn.pipe);
            let mut read_more = false;
            let mut wrote = false;
            // From the peer to the stream (or nowhere, once the stream is gone).
            while socket.can_recv() && (p.dropped || p.inbound.len() < PIPE_CAP) {
                let room = if p.dropped {
                    usize::MAX
                } else {
                    PIPE_CAP - p.inbound.len()
                };
                let taken = socket.recv(|data| {
                    let n = data.len().min(room);
                    if !p.dropped {
                        p.inbound.extend(&data[..n]);
                    }
                    (n, n)
                });
                match taken {
                    Ok(n) if n > 0 => read_more = true,
                    _ => break,
                }
            }
            // From the stream to the peer.
            while socket.can_send() && !p.outbound.is_empty() {
                let (front, _) = p.outbound.as_slices();
                match socket.send_slice(front) {
                    Ok(n) if n > 0 => {
                        p.outbound.drain(..n);
                        wrote = true;
                    }
                    _ => break,
                }
            }
            if (p.write_closed || p.dropped) && p.outbound.is_empty() && socket.may_send() {
                socket.close();
                wrote = true;
            }
            let state = socket.state();
            if !p.eof && !socket.may_recv() && !socket.can_recv() {
                p.eof = true;
                read_more = true;
            }
            // Both directions are over (or the peer reset): writes fail from now on. Said
            // once, so a socket lingering in TIME-WAIT is not news on every pass.
            if !p.reset && matches!(state, tcp::State::Closed | tcp::State::TimeWait) {
                p.reset = true;
                wrote = true;
            }
            if read_more {
                p.wake_reader();
            }
            if wrote {
                p.wake_writer();
            }
            moved |= read_more || wrote;
            if p.dropped && conn.orphaned.is_none() {
                conn.orphaned = Some(now);
            }
            let linger_over = conn
                .orphaned
                .is_some_and(|t| now.duration_since(t) > LINGER);
            drop(p);
            if linger_over && state != tcp::State::Closed {
                socket.abort();
            }
            if state == tcp::State::Closed || (linger_over && state == tcp::State::TimeWait) {
                let conn = self.conns.swap_remove(i);
                self.sockets.remove(conn.handle);
                let mut p = stream::lock(&conn.pipe);
                p.eof = true;
                p.reset = true;
                p.wake_reader();
                p.wake_writer();
                continue;
            }
            i += 1;
        }
        moved
    }
}
