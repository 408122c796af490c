//! What the endpoint runs with: its key, its address inside the tunnel, the ports of the
//! private plane it answers on, and the peers with their allowed addresses (cryptokey
//! routing: a peer may send from, and is sent to, exactly its `allowed_ips`).

use std::net::{Ipv4Addr, SocketAddr};

use crate::Error;
use crate::keys::Key;

/// An IPv4 network: `10.99.0.0/24`, or one address (`10.99.0.2` is `/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: Ipv4Addr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || Error::BadCidr(text.to_string());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, p.trim().parse::<u8>().map_err(|_| bad())?),
            None => (text.trim(), 32),
        };
        let addr: Ipv4Addr = addr.trim().parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Cidr {
            net: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.net)
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn overlaps(&self, other: &Cidr) -> bool {
        let shorter = self.prefix.min(other.prefix);
        u32::from(self.net) & mask(shorter) == u32::from(other.net) & mask(shorter)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// One peer (`[[network.vpn.peers]]`).
#[derive(Debug, Clone)]
pub struct Peer {
    pub public_key: Key,
    /// The inner source addresses the peer may use, and where replies to them go.
    pub allowed_ips: Vec<Cidr>,
    pub preshared_key: Option<Key>,
    /// Where the peer is reached before it has sent anything; afterwards, wherever its last
    /// authenticated packet came from (roaming).
    pub endpoint: Option<SocketAddr>,
    /// Send a keepalive every this many seconds (for peers behind NAT).
    pub persistent_keepalive: Option<u16>,
}

/// The endpoint's configuration (`[network.vpn]`, resolved by the binary).
#[derive(Debug, Clone)]
pub struct Config {
    /// The UDP address WireGuard listens on.
    pub listen: SocketAddr,
    pub private_key: Key,
    /// nuvem's own address inside the tunnel: the only destination the endpoint answers.
    pub address: Ipv4Addr,
    /// The TCP ports of the private plane at `address`. Anything else is refused (RST).
    pub ports: Vec<u16>,
    pub peers: Vec<Peer>,
}

impl Config {
    /// The checks that span peers: one key per peer, not ours, allowed addresses that no two
    /// peers share (routing by destination must be unambiguous) and that never hold nuvem's
    /// own address.
    pub fn validate(&self) -> Result<(), Error> {
        let own = self.private_key.public();
        for (i, p) in self.peers.iter().enumerate() {
            if p.public_key == own {
                return Err(Error::Peer {
                    index: i,
                    reason: "its public key is nuvem's own".into(),
                });
            }
            if p.allowed_ips.is_empty() {
                return Err(Error::Peer {
                    index: i,
                    reason: "allowed_ips is empty: the peer could send nothing".into(),
                });
            }
            if let Some(c) = p.allowed_ips.iter().find(|c| c.contains(self.address)) {
                return Err(Error::Peer {
                    index: i,
                    reason: format!("allowed_ips {c} holds nuvem's own address {}", self.address),
                });
            }
            for (j, q) in self.peers.iter().enumerate().take(i) {
                if p.public_key == q.public_key {
                    return Err(Error::Peer {
                        index: i,
                        reason: format!("same public key as peer {j}"),
                    });
                }
                for a in &p.allowed_ips {
                    if let Some(b) = q.allowed_ips.iter().find(|b| a.overlaps(b)) {
                        return Err(Error::Peer {
                            index: i,
                            reason: format!("allowed_ips {a} overlaps peer {j}'s {b}"),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Option<&str>) {
        assert_eq!(
            Cidr::parse(text).ok().map(|c| c.to_string()).as_deref(),
            expected
        );
    }

    #[test]
    fn cidrs() {
        check("10.99.0.2", Some("10.99.0.2/32"));
        check("10.99.0.7/24", Some("10.99.0.0/24"));
        check("0.0.0.0/0", Some("0.0.0.0/0"));
        check("10.0.0.0/33", None);
        check("fd00::/8", None);
        check("10.0.0/8", None);
        let c = Cidr::parse("10.99.0.0/24").unwrap();
        assert!(c.contains("10.99.0.200".parse().unwrap()));
        assert!(!c.contains("10.99.1.1".parse().unwrap()));
    }

    fn peer(key: u8, ips: &[&str]) -> Peer {
        Peer {
            public_key: Key::from([key; 32]),
            allowed_ips: ips.iter().map(|c| Cidr::parse(c).unwrap()).collect(),
            preshared_key: None,
            endpoint: None,
            persistent_keepalive: None,
        }
    }

    #[track_caller]
    fn validate(peers: Vec<Peer>, expected: Result<(), &str>) {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            private_key: Key::from([9; 32]),
            address: "10.99.0.1".parse().unwrap(),
            ports: vec![4566],
            peers,
        };
        match (config.validate(), expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{e}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn peers() {
        validate(
            vec![peer(1, &["10.99.0.2"]), peer(2, &["10.99.0.3"])],
            Ok(()),
        );
        validate(
            vec![peer(1, &["10.99.0.6"]), peer(2, &["10.99.0.4/30"])],
            Err("peer 1: allowed_ips 10.99.0.4/30 overlaps peer 0's 10.99.0.6/32"),
        );
        validate(
            vec![peer(1, &["10.99.0.2"]), peer(1, &["10.99.0.3"])],
            Err("same public key as peer 0"),
        );
        validate(vec![peer(1, &["10.99.0.0/24"])], Err("nuvem's own address"));
        validate(vec![peer(1, &[])], Err("allowed_ips is empty"));
        let own = Key::from([9; 32]).public();
        let mut me = peer(0, &["10.99.0.2"]);
        me.public_key = own;
        validate(vec![me], Err("nuvem's own"));
    }
}
