//! 1xx interim responses from an origin (RFC 9110 §15.2): a `103 Early Hints` before a GET's
//! final response and a `100 Continue` before a POST's. hyper's client reads past them (it
//! hands informational responses only to an `on_informational` callback, which the edge does
//! not set, and hyper's server has no way to send one: see the README), so the viewer gets
//! the final response, and the cache stores the final response only, never an interim one or
//! its headers.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{edge, runtime, send, send_body, simple};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP/1.1 origin written by hand: for each request, `interim` (raw 1xx responses), then
/// a final 200 (GET, cacheable, body `page <path>`) or 201 (other methods, the request body
/// echoed). Counts requests.
async fn raw_origin(interim: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let h = h.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = buf[head_end..head_end + len].to_vec();
                    buf.drain(..head_end + len);
                    h.fetch_add(1, Ordering::SeqCst);
                    let mut words = head.split_whitespace();
                    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                    let (status, extra, body) = if method == "GET" {
                        (
                            "200 OK",
                            "cache-control: max-age=600\r\n",
                            format!("page {path}").into_bytes(),
                        )
                    } else {
                        ("201 Created", "", body)
                    };
                    let out = format!(
                        "{interim}HTTP/1.1 {status}\r\n{extra}content-length: {}\r\n\r\n",
                        body.len()
                    );
                    if s.write_all(out.as_bytes()).await.is_err()
                        || s.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, hits)
}

#[test]
fn interim_responses_from_the_origin_are_dropped_and_never_cached() {
    let rt = runtime();
    rt.block_on(async {
        let check = |interim: &'static str| async move {
            let (url, hits) = raw_origin(interim).await;
            let e = edge(
                &simple(r#"allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]"#),
                &url,
            );
            let got = send(&e, 0, "GET", "/page", &[]).await;
            assert_eq!((got.status, &got.body[..]), (200, &b"page /page"[..]), "{interim:?}");
            assert_eq!(got.x_cache(), "Miss");
            assert_eq!(got.header("link"), "", "{interim:?}: an interim header leaked");
            let again = send(&e, 0, "GET", "/page", &[]).await;
            assert_eq!((again.status, again.x_cache()), (200, "Hit"), "{interim:?}");
            assert_eq!(&again.body[..], b"page /page");
            assert_eq!(again.header("link"), "");
            assert_eq!(hits.load(Ordering::SeqCst), 1);
            let posted = send_body(
                &e,
                0,
                "POST",
                "/form",
                &[("expect", "100-continue"), ("content-length", "5")],
                "hello",
            )
            .await;
            assert_eq!((posted.status, &posted.body[..]), (201, &b"hello"[..]), "{interim:?}");
            assert_eq!(hits.load(Ordering::SeqCst), 2);
        };
        check("").await;
        check("HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n").await;
        check("HTTP/1.1 100 Continue\r\n\r\n").await;
        check(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </b.js>; rel=preload\r\n\r\n",
        )
        .await;
    });
}

/// Methods the behavior does not list, unknown ones included (`M-SEARCH`), get 403 as on
/// CloudFront, without reaching the origin.
#[test]
fn unknown_methods_are_forbidden() {
    let rt = runtime();
    rt.block_on(async {
        let (url, hits) = raw_origin("").await;
        let e = edge(&simple(""), &url);
        for method in ["M-SEARCH", "PURGE", "POST", "DELETE"] {
            assert_eq!(
                send(&e, 0, method, "/page", &[]).await.status,
                403,
                "{method}"
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    });
}
