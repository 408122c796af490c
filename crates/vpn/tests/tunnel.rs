//! The endpoint from outside (issue 17): a WireGuard peer (the testkit's, a second boringtun
//! with its own smoltcp) over loopback UDP reaches the private plane's ports at nuvem's inner
//! address, and nothing else; unknown keys and sources outside `allowed_ips` get nothing.
//!
//! Accepted connections are spliced to a TCP server on `127.0.0.1:<the same port>`, standing
//! in for the private listener; a second server on a port the endpoint does not serve shows
//! that nothing reaches what the private plane does not list.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nuvem_testkit::wireguard::{Exchange, WgPeer};
use nuvem_vpn::{Cidr, Config, Key, Peer, Vpn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const INNER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const PEER_INNER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const BODY_LEN: usize = 300_000;

struct Setup {
    vpn: Vpn,
    /// The port the endpoint serves, where the stand-in private listener is.
    private_port: u16,
    /// A port on loopback with a listener, that the endpoint does not serve.
    other_port: u16,
    /// (inner peer address, port) of every connection the endpoint handed out.
    accepted: Arc<Mutex<Vec<(SocketAddr, u16)>>>,
    /// Connections the listener on `other_port` received.
    other_hits: Arc<Mutex<usize>>,
    peer_private: [u8; 32],
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A stand-in for the private listener: reads a request (and its body, when it has a
/// `Content-Length`), answers with a large body and the number of body bytes it received.
async fn private_listener(l: TcpListener, hits: Arc<Mutex<usize>>) {
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        *hits.lock().unwrap() += 1;
        tokio::spawn(async move {
            let mut got = Vec::new();
            let mut b = [0u8; 16384];
            let end = loop {
                if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                }
            };
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let want: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse().unwrap());
            let mut received = got.len() - end;
            while received < want {
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received += n,
                }
            }
            let body: Vec<u8> = (0..BODY_LEN).map(|i| b'a' + (i % 26) as u8).collect();
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {BODY_LEN}\r\nX-Received: {received}\r\n\
                 Connection: close\r\n\r\n"
            );
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.write_all(&body).await;
            let _ = s.shutdown().await;
        });
    }
}

async fn start(allowed: &str, preshared: Option<[u8; 32]>) -> Setup {
    start_with(&[allowed], preshared).await
}

/// The endpoint with one peer per entry of `allowed` (its `allowed_ips`); the first one's
/// private key is `peer_private`, the others' are `[i; 32]`.
async fn start_with(allowed: &[&str], preshared: Option<[u8; 32]>) -> Setup {
    let private = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let private_port = private.local_addr().unwrap().port();
    let other_port = other.local_addr().unwrap().port();
    let other_hits = Arc::new(Mutex::new(0));
    let peer_private = *Key::generate().as_bytes();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        private_key: Key::generate(),
        address: INNER,
        ports: vec![private_port],
        peers: allowed
            .iter()
            .enumerate()
            .map(|(i, allowed)| Peer {
                public_key: Key::from(WgPeer::public_of(if i == 0 {
                    peer_private
                } else {
                    [i as u8; 32]
                })),
                allowed_ips: vec![Cidr::parse(allowed).unwrap()],
                preshared_key: preshared.map(Key::from),
                endpoint: None,
                persistent_keepalive: None,
            })
            .collect(),
    };
    let (vpn, mut incoming) = Vpn::start(config).await.unwrap();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let splice = {
        let accepted = accepted.clone();
        tokio::spawn(async move {
            while let Some(a) = incoming.accept().await {
                accepted.lock().unwrap().push((a.peer, a.port));
                let mut stream = a.stream;
                tokio::spawn(async move {
                    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", a.port)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut s).await;
                });
            }
        })
    };
    let tasks = vec![
        tokio::spawn(private_listener(private, Arc::new(Mutex::new(0)))),
        tokio::spawn(private_listener(other, other_hits.clone())),
        splice,
    ];
    Setup {
        vpn,
        private_port,
        other_port,
        accepted,
        other_hits,
        peer_private,
        _tasks: tasks,
    }
}

impl Setup {
    fn peer(&self, private: [u8; 32], source: Ipv4Addr, preshared: Option<[u8; 32]>) -> WgPeer {
        WgPeer::new(
            private,
            *self.vpn.public_key().as_bytes(),
            preshared,
            self.vpn.local_addr(),
            source,
            INNER,
        )
    }
}

const GET: &[u8] = b"GET /_nuvem/health HTTP/1.1\r\nHost: nuvem\r\nConnection: close\r\n\r\n";

/// Runs the blocking peer off the runtime that drives the endpoint.
async fn exchange(peer: WgPeer, to: SocketAddrV4, wait: Duration) -> (WgPeer, Exchange) {
    send(peer, to, GET.to_vec(), wait).await
}

async fn send(
    mut peer: WgPeer,
    to: SocketAddrV4,
    request: Vec<u8>,
    wait: Duration,
) -> (WgPeer, Exchange) {
    tokio::task::spawn_blocking(move || {
        let r = peer.exchange(to, &request, wait);
        (peer, r)
    })
    .await
    .unwrap()
}

async fn handshake(mut peer: WgPeer, wait: Duration) -> (WgPeer, bool) {
    tokio::task::spawn_blocking(move || {
        let ok = peer.handshake(wait);
        (peer, ok)
    })
    .await
    .unwrap()
}

#[track_caller]
fn assert_body(got: &Exchange) {
    let Exchange::Response(bytes) = got else {
        panic!("expected a response, got {got:?}");
    };
    let text = String::from_utf8_lossy(bytes);
    assert!(
        text.starts_with("HTTP/1.1 200 OK"),
        "{} bytes: {}",
        bytes.len(),
        &text[..text.len().min(200)]
    );
    let body = &bytes[bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(body.len(), BODY_LEN, "the whole body came back");
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, b)| *b == b'a' + (i % 26) as u8)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_peer_reaches_the_private_port() {
    let psk = *Key::generate().as_bytes();
    let s = start("10.99.0.2/32", Some(psk)).await;
    let peer = s.peer(s.peer_private, PEER_INNER, Some(psk));
    let (peer, ok) = handshake(peer, Duration::from_secs(5)).await;
    assert!(ok, "the handshake completes");
    let to = SocketAddrV4::new(INNER, s.private_port);
    let (peer, got) = exchange(peer, to, Duration::from_secs(20)).await;
    assert_body(&got);
    // A second connection on the same session, with a body larger than every buffer on the
    // way (the endpoint's socket and stream buffers, the splice's).
    let upload = 400_000;
    let mut post = format!("POST /up HTTP/1.1\r\nHost: nuvem\r\nContent-Length: {upload}\r\n\r\n")
        .into_bytes();
    post.extend((0..upload).map(|i| (i % 251) as u8));
    let (_, again) = send(peer, to, post, Duration::from_secs(30)).await;
    assert_body(&again);
    let Exchange::Response(bytes) = &again else {
        unreachable!()
    };
    assert!(
        String::from_utf8_lossy(&bytes[..200]).contains(&format!("X-Received: {upload}\r\n")),
        "the whole upload arrived"
    );
    let accepted = s.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 2);
    assert_eq!(
        s.vpn.stats(),
        nuvem_vpn::Stats {
            accepted: 2,
            ..Default::default()
        }
    );
    for (peer, port) in accepted {
        assert_eq!(
            peer.ip(),
            std::net::IpAddr::V4(PEER_INNER),
            "the inner source"
        );
        assert_eq!(port, s.private_port);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_nothing_but_the_private_ports() {
    let s = start("10.99.0.2/32", None).await;
    let peer = s.peer(s.peer_private, PEER_INNER, None);
    // A port that is not on the private plane (though something listens there on
    // loopback): reset at once.
    let (peer, got) = exchange(
        peer,
        SocketAddrV4::new(INNER, s.other_port),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(got, Exchange::Reset);
    // Another address inside the tunnel, and the host's loopback through it: nothing
    // answers, nothing is forwarded.
    let (peer, got) = exchange(
        peer,
        SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 9), s.private_port),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(got, Exchange::TimedOut);
    let (peer, got) = exchange(
        peer,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, s.private_port),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(got, Exchange::TimedOut);
    assert!(s.accepted.lock().unwrap().is_empty(), "nothing handed out");
    assert_eq!(s.vpn.stats().accepted, 0);
    assert_eq!(
        *s.other_hits.lock().unwrap(),
        0,
        "nothing reached the other port"
    );
    // The private port still answers the same peer: the refusals were the ports', not the
    // tunnel's.
    let (_, got) = exchange(
        peer,
        SocketAddrV4::new(INNER, s.private_port),
        Duration::from_secs(20),
    )
    .await;
    assert_body(&got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_unknown_key_gets_nothing() {
    let s = start("10.99.0.2/32", None).await;
    let stranger = s.peer(*Key::generate().as_bytes(), PEER_INNER, None);
    let (stranger, ok) = handshake(stranger, Duration::from_secs(2)).await;
    assert!(!ok, "no handshake answer for an unknown key");
    let (_, got) = exchange(
        stranger,
        SocketAddrV4::new(INNER, s.private_port),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(got, Exchange::TimedOut);
    assert!(s.vpn.stats().unknown_peer > 0, "{:?}", s.vpn.stats());
    // The right key with a wrong preshared key: no session either.
    let wrong_psk = s.peer(s.peer_private, PEER_INNER, Some([7; 32]));
    let (_, ok) = handshake(wrong_psk, Duration::from_secs(2)).await;
    assert!(!ok, "no handshake with a wrong preshared key");
    assert!(s.accepted.lock().unwrap().is_empty());
    // (The endpoint answers the initiation, which names a known key; the peer cannot read
    // the answer, which mixes in the preshared key.)
    assert_eq!(s.vpn.stats().accepted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_source_outside_allowed_ips_is_dropped() {
    let s = start("10.99.0.2/32", None).await;
    // The peer's key, but an inner source address it was not given.
    let spoofing = s.peer(s.peer_private, Ipv4Addr::new(10, 99, 0, 77), None);
    let (spoofing, ok) = handshake(spoofing, Duration::from_secs(5)).await;
    assert!(ok, "the key is known: the handshake completes");
    let (_, got) = exchange(
        spoofing,
        SocketAddrV4::new(INNER, s.private_port),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(got, Exchange::TimedOut, "its packets were dropped");
    assert!(s.accepted.lock().unwrap().is_empty());
    // Dropped on the way in, not merely unanswerable (the replies would have no peer
    // either): a spoofed packet never reaches the TCP stack.
    assert!(s.vpn.stats().spoofed_source > 0, "{:?}", s.vpn.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_each_peer_gets_its_own_replies() {
    // Two peers at once: replies are routed by their destination to the peer whose
    // allowed_ips hold it (cryptokey routing), never to the other one.
    let s = start_with(&["10.99.0.2/32", "10.99.0.3/32"], None).await;
    let first = s.peer(s.peer_private, PEER_INNER, None);
    let second = s.peer([1; 32], Ipv4Addr::new(10, 99, 0, 3), None);
    let to = SocketAddrV4::new(INNER, s.private_port);
    let wait = Duration::from_secs(20);
    let (a, b) = tokio::join!(exchange(first, to, wait), exchange(second, to, wait));
    assert_body(&a.1);
    assert_body(&b.1);
    let mut sources: Vec<_> = s
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(peer, _)| peer.ip())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        [Ipv4Addr::new(10, 99, 0, 2), Ipv4Addr::new(10, 99, 0, 3)].map(std::net::IpAddr::V4)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_endpoint_initiates_to_a_configured_peer() {
    // A peer with a configured endpoint and persistent keepalive hears from nuvem first
    // (a peer behind NAT keeps its mapping open that way).
    let private = *Key::generate().as_bytes();
    let server = Key::generate();
    let placeholder = "127.0.0.1:9".parse().unwrap();
    let mut peer = WgPeer::new(
        private,
        *server.public().as_bytes(),
        None,
        placeholder,
        PEER_INNER,
        INNER,
    );
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        private_key: server,
        address: INNER,
        ports: vec![],
        peers: vec![Peer {
            public_key: Key::from(WgPeer::public_of(private)),
            allowed_ips: vec![Cidr::parse("10.99.0.2").unwrap()],
            preshared_key: None,
            endpoint: Some(peer.local_addr()),
            persistent_keepalive: Some(1),
        }],
    };
    let (_vpn, _incoming) = Vpn::start(config).await.unwrap();
    let ok = tokio::task::spawn_blocking(move || peer.wait_for_session(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(ok, "nuvem initiated the handshake");
}
