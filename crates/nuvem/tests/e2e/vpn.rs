//! The VPN (issue 17): a WireGuard peer (the testkit's, a second boringtun) reaches the real
//! binary's private plane through `[network.vpn]`, the AWS endpoint at nuvem's inner address,
//! and nothing else; the security group decides on the peer's inner address.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use nuvem_testkit::wireguard::{Exchange, WgPeer};
use nuvem_testkit::{Nuvem, Options};
use nuvem_vpn::Key;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const INNER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

struct Tunnel {
    nuvem: Nuvem,
    peer: WgPeer,
    api_port: u16,
}

/// nuvem with a VPN of one peer (10.99.0.2), the manifest's other sections in `rest`.
fn start(rest: &str) -> Tunnel {
    start_with(rest, false)
}

fn start_with(rest: &str, tls: bool) -> Tunnel {
    let server = Key::generate();
    let client = Key::generate();
    let manifest = format!(
        "[network.vpn]\nlisten = \"127.0.0.1:0\"\nprivate_key = \"{}\"\naddress = \"{INNER}\"\n\
         [[network.vpn.peers]]\npublic_key = \"{}\"\nallowed_ips = [\"10.99.0.2/32\"]\n{rest}",
        server.to_base64(),
        client.public().to_base64(),
    );
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            tls,
            ..Default::default()
        },
    );
    let line = nuvem
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("vpn"))
        .unwrap_or_else(|| panic!("a vpn line in {:#?}", nuvem.banner));
    assert!(line.contains("1 peer(s)") && line.contains(&server.public().to_base64()));
    assert!(
        !line.contains(&server.to_base64()),
        "the private key is never printed"
    );
    let udp: SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("udp://"))
        .expect("udp:// address")
        .parse()
        .unwrap();
    let api_port = port_of(&nuvem.api_url);
    let peer = WgPeer::new(
        *client.as_bytes(),
        *server.public().as_bytes(),
        None,
        udp,
        Ipv4Addr::new(10, 99, 0, 2),
        INNER,
    );
    Tunnel {
        nuvem,
        peer,
        api_port,
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

#[track_caller]
fn text(got: Exchange) -> String {
    match got {
        Exchange::Response(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        other => panic!("expected a response, got {other:?}"),
    }
}

fn health() -> Vec<u8> {
    b"GET /_nuvem/health HTTP/1.1\r\nHost: nuvem\r\nConnection: close\r\n\r\n".to_vec()
}

#[test]
fn issue_17_vpn_peer_reaches_the_private_plane_and_nothing_else() {
    let mut t = start("");
    assert!(t.peer.handshake(Duration::from_secs(5)), "handshake");
    let api = SocketAddrV4::new(INNER, t.api_port);

    let got = text(t.peer.exchange(api, &health(), Duration::from_secs(20)));
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.contains("\"status\""), "the health document: {got}");
    assert!(
        !got.contains("\"stats\""),
        "counters are for signed callers"
    );

    // A signed request through the tunnel: the signature is checked, and the signed
    // caller sees the health document's counters.
    let url = format!("http://{api}/_nuvem/health");
    let mut req = "GET /_nuvem/health HTTP/1.1\r\nConnection: close\r\n".to_string();
    for (k, v) in nuvem_testkit::sigv4_headers("GET", &url) {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Host: {api}\r\n\r\n"));
    let got = text(
        t.peer
            .exchange(api, req.as_bytes(), Duration::from_secs(20)),
    );
    assert!(
        got.starts_with("HTTP/1.1 200") && got.contains("\"stats\""),
        "{got}"
    );
    // Its counters: the two connections so far (this one included).
    assert!(got.contains("\"vpn\":{\"accepted\":2,"), "{got}");

    // The public edge is not on the private plane: its port is refused inside the tunnel.
    let edge = SocketAddrV4::new(INNER, port_of(&t.nuvem.edge_url));
    assert_eq!(
        t.peer.exchange(edge, &health(), Duration::from_secs(10)),
        Exchange::Reset
    );
    // Nor is the host's loopback reachable through the tunnel.
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, t.api_port);
    assert_eq!(
        t.peer.exchange(loopback, &health(), Duration::from_secs(2)),
        Exchange::TimedOut
    );
    // The VPN stops with the rest.
    let status = t.nuvem.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn issue_17_vpn_keygen_prints_a_key_pair() {
    let out = std::process::Command::new(BIN)
        .arg("vpn-keygen")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {text}"));
        line.split('"').nth(1).unwrap().to_string()
    };
    let private = Key::from_base64(&value("private_key")).unwrap();
    let public = Key::from_base64(&value("public_key")).unwrap();
    assert_eq!(
        private.public(),
        public,
        "the public key is the private key's"
    );
}

#[test]
fn issue_17_vpn_peers_pass_the_security_group() {
    // Only loopback may connect: the peer's inner address is not loopback, so its connection
    // is refused at accept like any other outsider's.
    let mut closed = start("[[network.ingress]]\ncidr = \"127.0.0.1\"\n");
    let api = SocketAddrV4::new(INNER, closed.api_port);
    assert_eq!(
        closed
            .peer
            .exchange(api, &health(), Duration::from_secs(10)),
        Exchange::Response(Vec::new()),
        "closed without an answer"
    );
    // A rule for the VPN's addresses admits it.
    let mut open = start("[[network.ingress]]\ncidr = \"10.99.0.0/24\"\n");
    let api = SocketAddrV4::new(INNER, open.api_port);
    let got = text(open.peer.exchange(api, &health(), Duration::from_secs(20)));
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

#[test]
fn issue_17_vpn_reaches_the_tls_endpoint() {
    // The TLS listener's port is on the private plane too: TLS inside the tunnel.
    let mut t = start_with("", true);
    let line = t
        .nuvem
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("vpn"))
        .unwrap();
    let tls_port = port_of(t.nuvem.api_tls_url.as_deref().expect("TLS listener"));
    assert!(line.contains(&format!(", {tls_port};")), "{line}");
    let cert = t.nuvem.dir().join("data/tls/cert.pem");
    let config = std::sync::Arc::new(crate::endpoint::tls_config(Some(&cert)));
    let stream = t
        .peer
        .connect(SocketAddrV4::new(INNER, tls_port), Duration::from_secs(20))
        .expect("connected");
    let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, stream);
    use std::io::{Read, Write};
    tls.write_all(&health()).unwrap();
    let mut got = Vec::new();
    // The server closes after its answer (`Connection: close`); without close_notify is fine.
    let _ = tls.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}
