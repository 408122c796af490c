//! The public edge through the real binary: a manifest `[distribution]` with a custom HTTP
//! origin (a counting hyper server in this test) and two edge locations; a real HTTP client
//! sees misses, hits, the regional tier shared by the locations, compression, ranges, and
//! distribution errors refused at start.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// An origin on 127.0.0.1:0 answering every path with a cacheable page; counts requests.
async fn origin() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let h = h.clone();
            let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                h.fetch_add(1, Ordering::SeqCst);
                let page = format!("<p>{}</p>", req.uri().path()).repeat(200);
                async move {
                    let mut r = Response::new(Full::new(Bytes::from(page)));
                    r.headers_mut().insert("cache-control", "max-age=300".parse().unwrap());
                    r.headers_mut().insert("content-type", "text/html".parse().unwrap());
                    Ok::<_, Infallible>(r)
                }
            });
            tokio::spawn(
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .into_owned(),
            );
        }
    });
    (url, hits)
}

fn manifest(origin: &str) -> String {
    format!(
        r#"
[distribution]
default_root_object = "index.html"

[[distribution.locations]]
name = "GRU1"

[[distribution.locations]]
name = "GIG1"
addr = "127.0.0.1:0"

[[distribution.behaviors]]
path_pattern = "default"
origin = "{origin}"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_caches_a_custom_origin_across_locations() {
    let (url, hits) = origin().await;
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest(&url)),
            ..Default::default()
        },
    );
    let second = nuvem
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("location"))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .expect("the second location is in the banner")
        .to_string();
    // Plain HTTP, but reqwest still wants a TLS provider chosen.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap();
    let get = |base: String, path: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let client = client.clone();
        async move {
            let mut req = client.get(format!("{base}{path}"));
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.unwrap()
        }
    };
    let r = get(nuvem.edge_url.clone(), "/", vec![]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "Miss from nuvem");
    assert_eq!(r.headers()["x-amz-cf-pop"], "GRU1");
    assert!(r.text().await.unwrap().starts_with("<p>/index.html</p>"));
    let r = get(nuvem.edge_url.clone(), "/index.html", vec![]).await;
    assert_eq!(r.headers()["x-cache"], "Hit from nuvem");
    // The other location has its own cache, filled from the shared regional tier.
    let r = get(second.clone(), "/index.html", vec![]).await;
    assert_eq!(r.headers()["x-amz-cf-pop"], "GIG1");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one origin request for three views");
    // Compression and ranges from the cache.
    let r = get(second.clone(), "/index.html", vec![("accept-encoding", "gzip")]).await;
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let r = get(second, "/index.html", vec![("range", "bytes=0-2")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.text().await.unwrap(), "<p>");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn invalid_distributions_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[distribution]\n", "at least a default behavior"),
        (
            "[[distribution.behaviors]]\npath_pattern = \"default\"\norigin = \"ftp://x\"\n",
            "must be `bucket:<name>`",
        ),
        (
            "[[distribution.behaviors]]\npath_pattern = \"default\"\norigin = \"http://127.0.0.1:1\"\nmin_ttl = 10\nmax_ttl = 5\n",
            "min_ttl <= default_ttl <= max_ttl",
        ),
        ("[distribution]\ntypo = 1\n", "unknown field `typo`"),
    ];
    for (text, want) in cases {
        let path = dir.path().join("nuvem.toml");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["up", "--manifest"])
            .arg(&path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--api-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text:?} should be refused");
        assert!(err.contains(want), "{text:?}: {err:?} should contain {want:?}");
    }
}
