//! The private plane (issue 17): the AWS endpoint's security group refuses connections at
//! accept time, and `up` will not expose the endpoint on a non-loopback address unasked.

use std::io::{Read, Write};
use std::time::Duration;

use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

fn start(ingress: &str) -> Nuvem {
    Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(ingress.to_owned()),
            ..Default::default()
        },
    )
}

/// Sends a plain HTTP request to `url`'s host and port; `None` when the server closed the
/// connection without answering.
fn raw_get(url: &str) -> Option<String> {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!(
        "GET /_nuvem/health HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: nuvem-e2e\r\nConnection: close\r\n\r\n"
    );
    // A refused connection may already be closed: the write or the read fails.
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    match s.read_to_string(&mut out) {
        Ok(_) if !out.is_empty() => Some(out),
        _ => None,
    }
}

#[tokio::test]
async fn issue_17_security_group_refuses_at_accept() {
    // Only 10.0.0.0/8 may connect: this test's loopback client is refused.
    let closed = start("[[network.ingress]]\ncidr = \"10.0.0.0/8\"\n");
    assert_eq!(raw_get(&closed.api_url), None, "refused before any answer");
    let err = closed.dynamodb().list_tables().send().await;
    assert!(err.is_err(), "the SDK cannot get in either");
    // The public edge has no such group.
    assert!(
        raw_get(&closed.edge_url).is_some(),
        "the edge still answers"
    );

    // Loopback, but only to another port of the group: refused.
    let wrong_port = start("[[network.ingress]]\ncidr = \"127.0.0.0/8\"\nports = [1]\n");
    assert_eq!(raw_get(&wrong_port.api_url), None);

    // Allowed by address: served.
    let open = start("[[network.ingress]]\ncidr = \"127.0.0.1\"\n");
    assert!(raw_get(&open.api_url).unwrap().starts_with("HTTP/1.1 200"));
    open.dynamodb().list_tables().send().await.unwrap();
}

#[test]
fn issue_17_private_plane_is_not_exposed_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("nuvem.toml");
    std::fs::write(&manifest, "").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["up", "--manifest"])
        .arg(&manifest)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--api-addr", "0.0.0.0:0", "--edge-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "up refused: {stderr}");
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("expose_private = true"),
        "{stderr}"
    );
}
