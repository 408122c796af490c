//! The endpoint's task: one tokio task owns the UDP socket, every peer's WireGuard state
//! (`boringtun::noise::Tunn`) and the inside of the tunnel (`inside`: the smoltcp interface
//! that terminates TCP).
//!
//! In: a datagram is matched to its peer (a handshake initiation by the static key it
//! carries, anything else by the session index boringtun gave the peer), decrypted, and its
//! inner packet kept only when its source is one of that peer's `allowed_ips`. The interface
//! accepts only packets to nuvem's own address, and TCP only to the configured ports (smoltcp
//! answers anything else with a RST); each connection that completes its handshake is handed
//! out on [`Incoming`]. Out: each packet the interface emits goes to the peer whose
//! `allowed_ips` hold its destination, encrypted; packets for no peer are dropped. Nothing is
//! ever forwarded anywhere else: the only sockets here are the UDP one and the in-process
//! streams.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::config::{Cidr, Config};
use crate::inside::Inside;
use crate::stream::TunnelStream;
use crate::{Error, Key};

/// How often boringtun's timers run (handshake retries, rekeying, keepalives), as in
/// boringtun's own device.
const TIMER_TICK: Duration = Duration::from_millis(250);
/// Accepted connections the binary has not taken yet; past that, new ones are reset.
const BACKLOG: usize = 64;
/// Handshake messages per second (all peers, all sources) past which the endpoint answers
/// with cookies instead of doing Diffie-Hellman (WireGuard's DoS defence). Each message is
/// counted twice (checked before the peer is known, then by its `Tunn`), so this is about 100
/// handshakes a second, boringtun's own default.
const HANDSHAKE_RATE_LIMIT: u64 = 200;

/// A connection accepted inside the tunnel.
pub struct Accepted {
    pub stream: TunnelStream,
    /// The peer's inner address and port (one of its `allowed_ips`).
    pub peer: SocketAddr,
    /// The private plane's port it was addressed to.
    pub port: u16,
}

/// The connections peers open; the endpoint stops when this is dropped.
pub struct Incoming {
    rx: mpsc::Receiver<Accepted>,
}

impl Incoming {
    /// The next connection; `None` once the endpoint stopped.
    pub async fn accept(&mut self) -> Option<Accepted> {
        self.rx.recv().await
    }
}

/// A running WireGuard endpoint. Dropping it stops the task.
pub struct Vpn {
    local_addr: SocketAddr,
    public_key: Key,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

/// What the endpoint refused and accepted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that belong to no configured peer (unknown keys, unknown sessions, noise).
    pub unknown_peer: u64,
    /// Datagrams of a known peer that failed its checks (bad MAC, replay, wrong preshared
    /// key, expired session).
    pub refused: u64,
    /// Inner packets dropped because their source is outside the sender's `allowed_ips`.
    pub spoofed_source: u64,
    /// Connections handed out.
    pub accepted: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    unknown_peer: AtomicU64,
    refused: AtomicU64,
    spoofed_source: AtomicU64,
    pub(crate) accepted: AtomicU64,
}

pub(crate) fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Vpn {
    /// Validates `config`, binds its UDP address and starts the task.
    pub async fn start(config: Config) -> Result<(Vpn, Incoming), Error> {
        config.validate()?;
        let udp = UdpSocket::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = udp.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let (tx, rx) = mpsc::channel(BACKLOG);
        let public_key = config.private_key.public();
        let counters = Arc::new(Counters::default());
        let engine = Engine::new(&config, tx, counters.clone());
        let task = tokio::spawn(engine.run(udp));
        Ok((
            Vpn {
                local_addr,
                public_key,
                counters,
                task,
            },
            Incoming { rx },
        ))
    }

    /// The UDP address it listens on (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// nuvem's public key, for the peers' configuration.
    pub fn public_key(&self) -> &Key {
        &self.public_key
    }

    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            unknown_peer: c.unknown_peer.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            spoofed_source: c.spoofed_source.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Vpn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct PeerState {
    tunn: Tunn,
    public: [u8; 32],
    allowed: Vec<Cidr>,
    endpoint: Option<SocketAddr>,
    /// For logs: the first characters of the public key (public, never a secret).
    name: String,
}

impl PeerState {
    fn allows(&self, ip: Ipv4Addr) -> bool {
        self.allowed.iter().any(|c| c.contains(ip))
    }
}

struct Engine {
    secret: StaticSecret,
    public: PublicKey,
    /// Shared by every peer's `Tunn`: checks MAC1 (the sender knows our public key) and,
    /// under load, demands a cookie, before any expensive work.
    limiter: Arc<RateLimiter>,
    peers: Vec<PeerState>,
    inside: Inside,
    counters: Arc<Counters>,
}

impl Engine {
    fn new(config: &Config, accepted: mpsc::Sender<Accepted>, counters: Arc<Counters>) -> Self {
        let secret = config.private_key.secret();
        let public = PublicKey::from(&secret);
        let limiter = Arc::new(RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT));
        let peers = config
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| PeerState {
                tunn: Tunn::new(
                    secret.clone(),
                    PublicKey::from(*p.public_key.as_bytes()),
                    p.preshared_key.as_ref().map(|k| *k.as_bytes()),
                    p.persistent_keepalive,
                    // boringtun puts this in the top 24 bits of the peer's session indexes,
                    // which is how a data packet finds its peer.
                    u32::try_from(i).expect("fewer than 2^24 peers"),
                    Some(limiter.clone()),
                ),
                public: *p.public_key.as_bytes(),
                allowed: p.allowed_ips.clone(),
                endpoint: p.endpoint,
                name: p.public_key.to_base64()[..8].to_string(),
            })
            .collect();
        Engine {
            secret,
            public,
            limiter,
            peers,
            inside: Inside::new(config, accepted, counters.clone()),
            counters,
        }
    }

    async fn run(mut self, udp: UdpSocket) {
        tracing::debug!(
            listen = ?udp.local_addr().ok(),
            address = %self.inside.address,
            peers = self.peers.len(),
            "WireGuard endpoint started"
        );
        let mut datagram = vec![0u8; 65536];
        let mut out = vec![0u8; 65536 + 64];
        let mut timers = tokio::time::interval(TIMER_TICK);
        timers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.tick_timers(&udp, &mut out);
        loop {
            let busy = self.drive(&udp, &mut out);
            let delay = if busy {
                Duration::ZERO
            } else {
                self.inside.poll_delay()
            };
            let wake = self.inside.wake.clone();
            tokio::select! {
                r = udp.recv_from(&mut datagram) => match r {
                    Ok((n, from)) => self.datagram(&udp, &datagram[..n], from, &mut out),
                    Err(e) => tracing::debug!(error = %e, "WireGuard socket receive failed"),
                },
                _ = wake.notified() => {}
                _ = timers.tick() => self.tick_timers(&udp, &mut out),
                _ = tokio::time::sleep(delay) => {}
                _ = self.inside.accepted.closed() => break,
            }
        }
        tracing::debug!("WireGuard endpoint stopped");
    }

    /// One UDP datagram from the network.
    fn datagram(&mut self, udp: &UdpSocket, data: &[u8], from: SocketAddr, out: &mut [u8]) {
        let packet = match self.limiter.verify_packet(Some(from.ip()), data, out) {
            Ok(packet) => Ok(packet),
            Err(TunnResult::WriteToNetwork(cookie)) => {
                send(udp, cookie, from);
                return;
            }
            Err(_) => Err(()),
        };
        let (index, is_data, is_init) = match packet {
            Ok(Packet::HandshakeInit(p)) => {
                let index = parse_handshake_anon(&self.secret, &self.public, &p)
                    .ok()
                    .and_then(|half| {
                        self.peers
                            .iter()
                            .position(|peer| peer.public == half.peer_static_public)
                    });
                (index, false, true)
            }
            Ok(Packet::HandshakeResponse(p)) => (Some(peer_of(p.receiver_idx)), false, false),
            Ok(Packet::PacketCookieReply(p)) => (Some(peer_of(p.receiver_idx)), false, false),
            Ok(Packet::PacketData(p)) => (Some(peer_of(p.receiver_idx)), true, false),
            Err(_) => (None, false, false),
        };
        let Some(peer) = index.and_then(|i| self.peers.get_mut(i)) else {
            tracing::trace!(%from, "datagram from no known peer dropped");
            count(&self.counters.unknown_peer);
            return;
        };
        let mut first = true;
        loop {
            let input = if first { data } else { &[][..] };
            let src = first.then_some(from.ip());
            match peer.tunn.decapsulate(src, input, out) {
                TunnResult::Done => {
                    // A keepalive: authenticated data, so the peer is where it came from.
                    if first && is_data {
                        peer.endpoint = Some(from);
                    }
                    break;
                }
                TunnResult::Err(e) => {
                    tracing::debug!(peer = %peer.name, %from, error = ?e, "WireGuard packet refused");
                    count(&self.counters.refused);
                    break;
                }
                TunnResult::WriteToNetwork(packet) => {
                    // A handshake response (type 2) proves the initiation was the peer's; a
                    // cookie reply (type 3, under load) proves nothing.
                    if first && is_init && packet.first() == Some(&2) {
                        peer.endpoint = Some(from);
                    }
                    send(udp, packet, from);
                    first = false;
                }
                TunnResult::WriteToTunnelV4(packet, source) => {
                    peer.endpoint = Some(from);
                    if peer.allows(source) {
                        self.inside.device.rx.push_back(packet.to_vec());
                    } else {
                        tracing::debug!(
                            peer = %peer.name, %source,
                            "inner packet from outside the peer's allowed_ips dropped"
                        );
                        count(&self.counters.spoofed_source);
                    }
                    break;
                }
                TunnResult::WriteToTunnelV6(_, source) => {
                    peer.endpoint = Some(from);
                    tracing::debug!(peer = %peer.name, %source, "inner IPv6 packet dropped");
                    break;
                }
            }
        }
    }

    fn tick_timers(&mut self, udp: &UdpSocket, out: &mut [u8]) {
        // A shared limiter is reset by its owner (at most once a second, it checks).
        self.limiter.reset_count();
        for peer in &mut self.peers {
            match peer.tunn.update_timers(out) {
                TunnResult::WriteToNetwork(packet) => {
                    if let Some(to) = peer.endpoint {
                        send(udp, packet, to);
                    }
                }
                TunnResult::Err(WireGuardError::ConnectionExpired) | TunnResult::Done => {}
                TunnResult::Err(e) => {
                    tracing::debug!(peer = %peer.name, error = ?e, "WireGuard timers");
                }
                TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => {}
            }
        }
    }

    /// Runs the interface until it has nothing more to do: packets in, connections moved,
    /// packets out.
    /// Whether it stopped with work left.
    fn drive(&mut self, udp: &UdpSocket, out: &mut [u8]) -> bool {
        // Bounded, so that the UDP socket and the timers are served even if some socket kept
        // reporting progress; `run` comes back at once when there is more.
        for _ in 0..64 {
            let progressed = self.inside.poll();
            let sent = self.flush(udp, out);
            if !progressed && !sent {
                return false;
            }
        }
        true
    }

    /// Encrypts what the interface emitted, each packet for the peer that its destination
    /// belongs to. Whether anything was sent.
    fn flush(&mut self, udp: &UdpSocket, out: &mut [u8]) -> bool {
        let mut sent = false;
        while let Some(packet) = self.inside.device.tx.pop_front() {
            let Some(dst) = ipv4_destination(&packet) else {
                continue;
            };
            // Allowed addresses never overlap between peers (validated), so the first match
            // is the only one.
            let Some(peer) = self.peers.iter_mut().find(|p| p.allows(dst)) else {
                tracing::trace!(%dst, "packet for no peer dropped");
                continue;
            };
            match peer.tunn.encapsulate(&packet, out) {
                TunnResult::WriteToNetwork(datagram) => {
                    if let Some(to) = peer.endpoint {
                        send(udp, datagram, to);
                        sent = true;
                    }
                }
                TunnResult::Err(e) => {
                    tracing::debug!(peer = %peer.name, error = ?e, "WireGuard encapsulation failed")
                }
                _ => {}
            }
        }
        sent
    }
}

/// The peer a session index belongs to: boringtun's `Tunn` puts its index in the top 24 bits.
fn peer_of(receiver_idx: u32) -> usize {
    (receiver_idx >> 8) as usize
}

fn ipv4_destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() >= 20 && packet[0] >> 4 == 4 {
        Some(Ipv4Addr::new(
            packet[16], packet[17], packet[18], packet[19],
        ))
    } else {
        None
    }
}

/// UDP is lossy by nature: a datagram the socket cannot take now is dropped (TCP inside
/// retransmits, WireGuard retries its handshakes).
fn send(udp: &UdpSocket, datagram: &[u8], to: SocketAddr) {
    if let Err(e) = udp.try_send_to(datagram, to) {
        tracing::trace!(%to, error = %e, "WireGuard datagram dropped");
    }
}
