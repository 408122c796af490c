//! A viewer's `Expect: 100-continue` through the edge's listener (hyper's server): the edge
//! answers `100 Continue` when it starts reading the body (for the WAF's inspection, then
//! the origin), and the origin gets every byte; a request whose final status the headers
//! decide (a method the behavior does not allow) gets that status at once, without `100`.

use std::convert::Infallible;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use nuvem_testkit::{Nuvem, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// An origin that answers every request with its body, prefixed by `got `.
async fn echo_origin() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc =
                hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let mut out = b"got ".to_vec();
                    out.extend_from_slice(&body);
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(out))))
                });
            tokio::spawn(
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .into_owned(),
            );
        }
    });
    url
}

/// Reads one response head (through the blank line) from `s`.
async fn head(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut byte))
            .await
            .expect("a response head within 10 s")
            .unwrap();
        assert_eq!(
            n,
            1,
            "the connection closed after {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    String::from_utf8(buf).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_through_the_edge() {
    let origin = echo_origin().await;
    let manifest = format!(
        r#"
[[distribution.behaviors]]
path_pattern = "/api/*"
origin = "{origin}"
allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]

[[distribution.behaviors]]
path_pattern = "default"
origin = "{origin}"
"#
    );
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let addr = nuvem.edge_url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /api/form HTTP/1.1\r\nhost: site.example\r\nuser-agent: e2e\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let interim = head(&mut s).await;
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n"),
        "the body is asked for: {interim:?}"
    );
    s.write_all(b"hello").await.unwrap();
    let final_head = head(&mut s).await;
    assert!(final_head.starts_with("HTTP/1.1 200 "), "{final_head:?}");
    let len: usize = final_head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    assert_eq!(body, b"got hello");

    // POST is not allowed on the default behavior: 403 at once, no 100 first.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /page HTTP/1.1\r\nhost: site.example\r\nuser-agent: e2e\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let refused = head(&mut s).await;
    assert!(refused.starts_with("HTTP/1.1 403 "), "{refused:?}");
}
