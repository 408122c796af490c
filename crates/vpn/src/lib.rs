//! nuvem's VPN (issue 17): a userspace WireGuard endpoint that places configured peers on the
//! private plane, and nowhere else.
//!
//! What it owns: one UDP socket, the WireGuard protocol with each configured peer (noise
//! handshakes, sessions, rekeying, keepalives: boringtun's `Tunn`, without its `device`: no
//! TUN interface, no threads of its own), cryptokey routing (a peer's inner packets count only
//! from its `allowed_ips`, and replies go to the peer whose `allowed_ips` hold their
//! destination), and a userspace TCP/IP stack (smoltcp, IPv4 and TCP only) that terminates TCP
//! at nuvem's inner address on the private plane's ports. Each connection a peer completes is
//! handed to the caller as an in-process stream ([`Accepted`] on [`Incoming`]), with the
//! peer's inner address; the binary serves it like a connection to that private listener,
//! through the same security group and limits.
//!
//! What it must not do: forward anything. There is no route out of the tunnel: a packet to
//! another address is dropped, a connection to another port is reset, and nothing is ever
//! relayed to the host's network or loopback. It needs no privileges (no TUN, no kernel
//! module) and reads no files or environment: the binary passes a validated [`Config`]. Keys
//! never appear in logs or errors ([`Key`]'s `Debug` is redacted; only the first characters
//! of a peer's public key name it in debug logs).

mod config;
mod device;
mod endpoint;
mod inside;
mod keys;
mod stream;

pub use config::{Cidr, Config, Peer};
pub use endpoint::{Accepted, Incoming, Stats, Vpn};
pub use keys::Key;
pub use stream::TunnelStream;

/// What can go wrong configuring or starting the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key that is not 32 bytes of standard base64 (the key itself is never repeated).
    #[error("bad WireGuard key: {0}")]
    BadKey(&'static str),
    #[error("{0:?} is not an IPv4 address or CIDR block (the tunnel carries IPv4)")]
    BadCidr(String),
    /// A peer that cannot be routed unambiguously.
    #[error("peer {index}: {reason}")]
    Peer { index: usize, reason: String },
    #[error("cannot listen on {addr} (UDP) for the VPN: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
