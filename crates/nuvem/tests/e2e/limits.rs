//! Listener limits (issue 15) through the real binary: slowloris and silent connections are
//! cut after the header timeout, a connection flood from one source is refused beyond the
//! per-IP cap, an edge flood beyond the edge's total cap leaves the AWS endpoint reachable, a
//! slow request body is cut, oversize heads and duplicate `Host` headers are refused. A
//! normal client on 127.0.0.1 is served throughout on both ports; attackers connect from
//! other loopback addresses (127.0.0.2…), which Linux routes to the same listeners.
//!
//! No speed is asserted: the bounds (every normal request answered within 20 s, every cut
//! within 30 s) are an order of magnitude above the configured timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use nuvem_testkit::{Nuvem, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// Far above any configured timeout: reaching it means the limit did not work.
const BOUND: Duration = Duration::from_secs(30);

fn start(limits: &str) -> Nuvem {
    Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(format!("[server.limits]\n{limits}")),
            ..Default::default()
        },
    )
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection to `url` from the loopback address `from`.
async fn connect_from(from: &str, url: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr(url)).await.unwrap()
}

/// Sends `raw` on a new connection from 127.0.0.1 and returns what came back until the
/// server closed (the status line first).
async fn exchange(url: &str, raw: &[u8]) -> String {
    let mut s = connect_from("127.0.0.1", url).await;
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(BOUND, s.read_to_end(&mut out))
        .await
        .expect("the server answers and closes");
    String::from_utf8_lossy(&out).into_owned()
}

/// A normal client's request: a GET on a fresh connection, answered in full.
async fn get_status(url: &str, path: &str) -> u16 {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: nuvem-e2e\r\nConnection: close\r\n\r\n"
    );
    let resp = exchange(url, raw.as_bytes()).await;
    resp.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"))
}

/// `/_nuvem/health` as a signed caller sees it (the `listeners` counters are details).
async fn health(nuvem: &Nuvem) -> serde_json::Value {
    let url = format!("{}/_nuvem/health", nuvem.api_url);
    let mut raw = format!(
        "GET /_nuvem/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        addr(&nuvem.api_url)
    );
    for (k, v) in nuvem_testkit::sigv4_headers("GET", &url) {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    let resp = exchange(&nuvem.api_url, raw.as_bytes()).await;
    let body = resp.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).unwrap()
}

/// Polls health until `group.counter` reaches `at_least`; returns the last health.
async fn wait_for(nuvem: &Nuvem, group: &str, counter: &str, at_least: u64) -> serde_json::Value {
    let give_up = tokio::time::Instant::now() + BOUND;
    loop {
        let h = health(nuvem).await;
        let n = h["listeners"][group][counter].as_u64().unwrap_or(0);
        if n >= at_least {
            return h;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "{group}.{counter} stayed at {n} (< {at_least}): {h:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls health until `group` has exactly `n` open connections.
async fn wait_open(nuvem: &Nuvem, group: &str, n: u64) {
    let give_up = tokio::time::Instant::now() + BOUND;
    loop {
        let h = health(nuvem).await;
        if h["listeners"][group]["open"].as_u64() == Some(n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "{group} never had {n} open connections: {h:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the server closed `s` within [`BOUND`] (reading and discarding what it sends).
async fn closed_by_server(mut s: TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read_until_eof = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(BOUND, read_until_eof).await.is_ok()
}

/// A slowloris connection: a request head that never ends, one header line every 200 ms,
/// until the server closes it. Returns whether it did.
async fn slowloris(from: &'static str, url: String) -> bool {
    let s = connect_from(from, &url).await;
    let (mut rd, mut wr) = s.into_split();
    let dribble = async move {
        let _ = wr.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await;
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if wr
                .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let closed = async move {
        let mut buf = [0u8; 256];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        _ = closed => true,
        _ = tokio::time::sleep(BOUND) => false,
        _ = dribble => {
            // Writing failed: the server is gone.
            true
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_slowloris_and_silent_connections_are_cut() {
    let nuvem = start("header_read_timeout_seconds = 1\n");
    let mut attackers = tokio::task::JoinSet::new();
    for url in [nuvem.api_url.clone(), nuvem.edge_url.clone()] {
        for _ in 0..20 {
            attackers.spawn(slowloris("127.0.0.2", url.clone()));
            let silent = connect_from("127.0.0.3", &url).await;
            attackers.spawn(closed_by_server(silent));
        }
    }
    // A normal client is served on both ports while the attack runs.
    for _ in 0..10 {
        assert_eq!(get_status(&nuvem.api_url, "/_nuvem/health").await, 200);
        assert_eq!(
            get_status(&nuvem.edge_url, "/").await,
            404,
            "the placeholder"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut cut = 0;
    while let Some(r) = attackers.join_next().await {
        cut += usize::from(r.unwrap());
    }
    assert_eq!(cut, 80, "every slowloris and silent connection was closed");
    let h = wait_for(&nuvem, "api", "header_timeout", 40).await;
    let h_edge = &h["listeners"]["edge"];
    assert!(h_edge["header_timeout"].as_u64().unwrap() >= 40, "{h:#}");
    assert_eq!(get_status(&nuvem.edge_url, "/").await, 404);
}

/// After a first request, an HTTP/1.1 connection gets `header_read_timeout` for its next head
/// too (`keep_alive_idle` is 60 s here, above `BOUND`): a kept-alive connection that then
/// dribbles a head, or says nothing, is cut, and counted as idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_a_slow_or_missing_second_head_is_cut() {
    let nuvem = start("header_read_timeout_seconds = 1\nkeep_alive_idle_seconds = 60\n");
    for url in [nuvem.api_url.clone(), nuvem.edge_url.clone()] {
        for dribble in [true, false] {
            let s = connect_from("127.0.0.4", &url).await;
            let (mut rd, mut wr) = s.into_split();
            let mut first = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
            if dribble {
                first.extend_from_slice(b"GET / HTTP/1.1\r\nHost: localhost\r\n");
            }
            wr.write_all(&first).await.unwrap();
            let writer = tokio::spawn(async move {
                for i in 0.. {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if dribble
                        && wr
                            .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            });
            let mut seen = Vec::new();
            let read_until_eof = async {
                let mut buf = [0u8; 4096];
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
            };
            let closed = tokio::time::timeout(BOUND, read_until_eof).await.is_ok();
            writer.abort();
            assert!(
                closed,
                "{url} (dribble: {dribble}) kept the connection open"
            );
            let text = String::from_utf8_lossy(&seen);
            assert!(
                text.starts_with("HTTP/1.1 "),
                "the first request was answered: {text}"
            );
            assert_eq!(
                text.matches("HTTP/1.1 ").count(),
                1,
                "only the first request: {text}"
            );
        }
    }
    let h = wait_for(&nuvem, "api", "idle_closed", 2).await;
    assert!(
        h["listeners"]["edge"]["idle_closed"].as_u64().unwrap() >= 2,
        "{h:#}"
    );
    // Normal clients are still served.
    assert_eq!(get_status(&nuvem.edge_url, "/").await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_connection_flood_is_capped_per_source_and_in_total() {
    // Held connections send nothing; a long header timeout keeps them open for the test.
    let nuvem = start(
        "header_read_timeout_seconds = 120\nmax_connections_per_ip = 20\n\
         api_max_connections_per_ip = 20\nmax_connections = 50\n",
    );
    // One source opens 60 connections to each port: 20 are admitted, 40 refused.
    let mut held = Vec::new();
    for url in [&nuvem.api_url, &nuvem.edge_url] {
        for _ in 0..60 {
            held.push(connect_from("127.0.0.2", url).await);
        }
    }
    let h = wait_for(&nuvem, "api", "refused_per_ip_cap", 40).await;
    let h = if h["listeners"]["edge"]["refused_per_ip_cap"].as_u64() >= Some(40) {
        h
    } else {
        wait_for(&nuvem, "edge", "refused_per_ip_cap", 40).await
    };
    assert_eq!(h["listeners"]["api"]["refused_per_ip_cap"], 40, "{h:#}");
    assert_eq!(h["listeners"]["edge"]["refused_per_ip_cap"], 40, "{h:#}");
    // The flood's admitted connections are still held, and normal clients are served.
    assert_eq!(h["listeners"]["edge"]["open"], 20, "{h:#}");
    for _ in 0..5 {
        assert_eq!(get_status(&nuvem.api_url, "/_nuvem/health").await, 200);
        assert_eq!(get_status(&nuvem.edge_url, "/").await, 404);
    }
    // The normal client's connections are released once their tasks end.
    wait_open(&nuvem, "edge", 20).await;

    // Two more sources fill the edge's total of 50: 30 more admitted, the rest refused.
    for from in ["127.0.0.3", "127.0.0.4"] {
        for _ in 0..20 {
            held.push(connect_from(from, &nuvem.edge_url).await);
        }
    }
    let h = wait_for(&nuvem, "edge", "refused_global_cap", 10).await;
    assert_eq!(h["listeners"]["edge"]["refused_global_cap"], 10, "{h:#}");
    assert_eq!(h["listeners"]["edge"]["open"], 50, "{h:#}");
    // The edge is full, the AWS endpoint has its own budget: still served.
    for _ in 0..5 {
        assert_eq!(get_status(&nuvem.api_url, "/_nuvem/health").await, 200);
    }
    // Closing the flood frees the edge.
    drop(held);
    wait_open(&nuvem, "edge", 0).await;
    assert_eq!(get_status(&nuvem.edge_url, "/").await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_slow_request_body_is_cut() {
    let nuvem = start("min_body_bytes_per_second = 1000\nbody_rate_grace_seconds = 1\n");
    // A DynamoDB request signed by a known key without a payload hash header has its body
    // read (to hash it) before the signature is checked; 100 bytes every 200 ms (500 B/s)
    // is too slow.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: 100000\r\n{}\r\n",
        addr(&nuvem.api_url),
        dynamodb_auth(&nuvem.api_url)
    );
    let s = connect_from("127.0.0.1", &nuvem.api_url).await;
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(head.as_bytes()).await.unwrap();
    let dribble = async move {
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if wr.write_all(&[b' '; 100]).await.is_err() {
                return;
            }
        }
    };
    let answer = async move {
        let mut out = Vec::new();
        let _ = rd.read_to_end(&mut out).await;
        out
    };
    let out = tokio::select! {
        out = answer => out,
        _ = dribble => panic!("the server read 100 KB at 500 B/s without cutting it"),
        _ = tokio::time::sleep(BOUND) => panic!("the slow body was not cut"),
    };
    // The connection is closed; the handler may have had time to answer the broken body.
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.is_empty() || out.starts_with("HTTP/1.1 400") && out.contains("IncompleteBody"),
        "cut: {out:?}"
    );
    wait_for(&nuvem, "api", "slow_body", 1).await;

    // A small body sent in one go is read and answered (here: refused for its signature).
    let body = "{}";
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n{body}",
        addr(&nuvem.api_url),
        body.len(),
        dynamodb_auth(&nuvem.api_url)
    );
    let resp = exchange(&nuvem.api_url, raw.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
}

/// `Authorization` and `X-Amz-Date` header lines of a DynamoDB request by the test key, signed
/// over an empty body: valid enough for nuvem to read the body, wrong for any real body.
fn dynamodb_auth(api_url: &str) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity =
        aws_credential_types::Credentials::new("test", "test", None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("dynamodb")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let url = format!("{api_url}/");
    let signable =
        SignableRequest::new("POST", &url, std::iter::empty(), SignableBody::Bytes(b"")).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_oversize_head_and_duplicate_host_are_refused() {
    let nuvem = start("");
    for url in [&nuvem.api_url, &nuvem.edge_url] {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
            "a".repeat(70_000)
        );
        let resp = exchange(url, big.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 431"), "{url}: {resp}");
        let twice = "GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n";
        let resp = exchange(url, twice.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{url}: {resp}");
        // A head just under the limit is served.
        let fits = format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(15_000)
        );
        let resp = exchange(url, fits.as_bytes()).await;
        assert!(!resp.starts_with("HTTP/1.1 431"), "{url}: {resp}");
    }
    let h = health(&nuvem).await;
    for group in ["api", "edge"] {
        assert_eq!(h["listeners"][group]["duplicate_host"], 1, "{h:#}");
        assert_eq!(h["listeners"][group]["head_too_large"], 1, "{h:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_idle_http2_connections_and_stalled_tls_handshakes_are_closed() {
    let mut nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(
                "[server.limits]\nheader_read_timeout_seconds = 1\nkeep_alive_idle_seconds = 1\n"
                    .into(),
            ),
            tls: true,
            ..Default::default()
        },
    );
    // An HTTP/2 (cleartext, prior knowledge) client is served, then its idle connection is
    // closed.
    // reqwest wants a TLS configuration even for cleartext.
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let h2 = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .get(format!("{}/_nuvem/health", nuvem.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    wait_for(&nuvem, "api", "idle_closed", 1).await;
    // The client reconnects as if nothing happened.
    let resp = h2
        .get(format!("{}/_nuvem/health", nuvem.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // TLS: connections that never start their handshake are closed after the header timeout.
    let tls_url = nuvem.api_tls_url.clone().expect("a TLS endpoint");
    let plain = tls_url.replace("https://", "http://");
    let mut silent = tokio::task::JoinSet::new();
    for _ in 0..10 {
        silent.spawn(closed_by_server(connect_from("127.0.0.2", &plain).await));
    }
    while let Some(closed) = silent.join_next().await {
        assert!(closed.unwrap(), "a stalled TLS handshake was closed");
    }
    wait_for(&nuvem, "api", "header_timeout", 10).await;
    assert!(nuvem.terminate().success());
}
