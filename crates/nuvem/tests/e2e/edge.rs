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
pub(crate) async fn origin() -> (String, Arc<AtomicUsize>) {
    origin_with(|path| {
        let page = format!("<p>{path}</p>").repeat(200);
        let mut r = Response::new(Full::new(Bytes::from(page)));
        r.headers_mut()
            .insert("cache-control", "max-age=300".parse().unwrap());
        r.headers_mut()
            .insert("content-type", "text/html".parse().unwrap());
        r
    })
    .await
}

/// An origin on 127.0.0.1:0 answering each request with `answer(path)`; counts requests.
pub(crate) async fn origin_with(
    answer: fn(&str) -> Response<Full<Bytes>>,
) -> (String, Arc<AtomicUsize>) {
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
            let svc =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    h.fetch_add(1, Ordering::SeqCst);
                    let r = answer(req.uri().path());
                    async move { Ok::<_, Infallible>(r) }
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
    let client = crate::meusite::visitor();
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
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one origin request for three views"
    );
    // Compression and ranges from the cache.
    let r = get(
        second.clone(),
        "/index.html",
        vec![("accept-encoding", "gzip")],
    )
    .await;
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
        assert!(
            err.contains(want),
            "{text:?}: {err:?} should contain {want:?}"
        );
    }
}

/// A request signed for the `cloudfront` scope, the way aws-sdk-rust signs it.
fn signed(method: &str, url: &str, body: &str) -> http::Request<String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new("test", "test", None, None, "e2e").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("cloudfront")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut req = http::Request::builder()
        .method(method)
        .uri(url)
        .body(body.to_string())
        .unwrap();
    let signable = SignableRequest::new(
        method,
        url,
        std::iter::empty(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    req
}

async fn send_signed(method: &str, url: &str, body: &str) -> (u16, String) {
    let req = signed(method, url, body);
    let (parts, body) = req.into_parts();
    let client = reqwest::Client::builder()
        .user_agent("nuvem-e2e")
        .use_preconfigured_tls(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .build()
        .unwrap();
    let mut r = client
        .request(parts.method, parts.uri.to_string())
        .body(body);
    for (k, v) in &parts.headers {
        r = r.header(k, v);
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudfront_invalidation_api_clears_every_location() {
    let (url, hits) = origin().await;
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest(&url)),
            ..Default::default()
        },
    );
    let page = format!("{}/images/a.png", nuvem.edge_url);
    let plain = reqwest::Client::builder()
        .user_agent("nuvem-e2e")
        .use_preconfigured_tls(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .build()
        .unwrap();
    let x_cache = |r: reqwest::Response| r.headers()["x-cache"].to_str().unwrap().to_string();
    assert_eq!(
        x_cache(plain.get(&page).send().await.unwrap()),
        "Miss from nuvem"
    );
    assert_eq!(
        x_cache(plain.get(&page).send().await.unwrap()),
        "Hit from nuvem"
    );

    let base = format!(
        "{}/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation",
        nuvem.api_url
    );
    let batch = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
        <Paths><Quantity>1</Quantity><Items><Path>/images/*</Path></Items></Paths>\
        <CallerReference>deploy-1</CallerReference></InvalidationBatch>";
    let (status, body) = send_signed("POST", &base, batch).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("<Status>Completed</Status>"), "{body}");
    let id = body
        .split("<Id>")
        .nth(1)
        .and_then(|s| s.split("</Id>").next())
        .unwrap()
        .to_string();
    // The same CallerReference and paths: the same invalidation.
    let (status, again) = send_signed("POST", &base, batch).await;
    assert_eq!(status, 201);
    assert!(again.contains(&format!("<Id>{id}</Id>")));
    let (status, got) = send_signed("GET", &format!("{base}/{id}"), "").await;
    assert_eq!(status, 200);
    assert!(got.contains("<Path>/images/*</Path>"), "{got}");
    let (status, list) = send_signed("GET", &base, "").await;
    assert_eq!(status, 200);
    assert!(list.contains("<Quantity>1</Quantity>"), "{list}");
    // Errors in CloudFront's shape.
    let (status, err) = send_signed("GET", &format!("{base}/INOPE"), "").await;
    assert_eq!(status, 404);
    assert!(err.contains("<Code>NoSuchInvalidation</Code>"), "{err}");
    let other = base.replace("EDFDVBD6EXAMPLE", "EOTHER");
    let (status, err) = send_signed("GET", &other, "").await;
    assert_eq!(status, 404);
    assert!(err.contains("<Code>NoSuchDistribution</Code>"), "{err}");
    let bad = batch.replace("/images/*", "images");
    let (status, err) = send_signed("POST", &base, &bad.replace("deploy-1", "deploy-2")).await;
    assert_eq!(status, 400);
    assert!(err.contains("<Code>InvalidArgument</Code>"), "{err}");

    assert_eq!(
        x_cache(plain.get(&page).send().await.unwrap()),
        "Miss from nuvem"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(
        x_cache(plain.get(&page).send().await.unwrap()),
        "Hit from nuvem"
    );

    // The CLI is one more client of the same API.
    let out = std::process::Command::new(BIN)
        .args([
            "invalidate",
            "--endpoint",
            &nuvem.api_url,
            "/images/*",
            "/index.html",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Completed (2 paths)"), "{stdout}");
    assert_eq!(
        x_cache(plain.get(&page).send().await.unwrap()),
        "Miss from nuvem"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let out = std::process::Command::new(BIN)
        .args(["invalidate", "--endpoint", &nuvem.api_url, "no-slash"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidArgument"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_regional_tier_survives_a_restart() {
    let (url, hits) = origin().await;
    let mut nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest(&url)),
            ..Default::default()
        },
    );
    let client = reqwest::Client::builder()
        .user_agent("nuvem-e2e")
        .use_preconfigured_tls(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/kept.html", nuvem.edge_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-cache"], "Miss from nuvem");
    // The disk write happens beside the response; wait (bounded) for it to land.
    let cache = nuvem.dir().join("data").join("edge-cache");
    for _ in 0..500 {
        // The file is written under a `.tmp` name and renamed: only the renamed one counts.
        let stored = std::fs::read_dir(&cache)
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
                    .count()
            })
            .unwrap_or(0);
        if stored == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    nuvem.restart();
    let r = client
        .get(format!("{}/kept.html", nuvem.edge_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-cache"], "Hit from nuvem");
    assert!(r.text().await.unwrap().starts_with("<p>/kept.html</p>"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_viewers_and_redirect_to_https() {
    let (url, _hits) = origin().await;
    let manifest = format!(
        r#"
[[distribution.locations]]
name = "GRU1"
https_addr = "127.0.0.1:0"

[[distribution.behaviors]]
path_pattern = "default"
origin = "{url}"
viewer_protocol_policy = "redirect-to-https"
"#
    );
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let https = nuvem
        .banner
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("https://")))
        .expect("the HTTPS listener is in the banner")
        .replace("127.0.0.1", "localhost");
    let mut roots = rustls::RootCertStore::empty();
    {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        for c in CertificateDer::pem_file_iter(nuvem.dir().join("data/tls/cert.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .user_agent("nuvem-e2e")
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/page?x=1", nuvem.edge_url))
        .header("host", "site.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "https://site.example/page?x=1");
    let r = client.get(format!("{https}/page")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-amz-cf-pop"], "GRU1");
}

/// boto3 finds the distribution (ListDistributions), reads its config with an ETag, updates
/// it (and is refused stale, missing and illegal updates with CloudFront's errors), and
/// invalidates through the id it found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudfront_api_with_boto3() {
    if !crate::have_boto3("cloudfront_api_with_boto3") {
        return;
    }
    let (url, _hits) = origin().await;
    let manifest = format!(
        r#"
[distribution]
[[distribution.behaviors]]
path_pattern = "/images/*"
origin = "{url}"
default_ttl = 3600
[[distribution.behaviors]]
path_pattern = "default"
origin = "{url}"
"#
    );
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let api = nuvem.api_url.clone();
    tokio::task::spawn_blocking(move || {
        crate::run_boto3("cloudfront_boto3.py", &api, "boto3 cloudfront: ok")
    })
    .await
    .unwrap();
}

/// The public HTTP caching conformance suite (npm `http-cache-tests`) through the edge:
/// every required test passes but the documented exceptions (bench/cache-tests.sh lists them).
#[test]
fn http_cache_tests_required_pass() {
    let have = |p: &str| {
        std::process::Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(have("node") && have("npm")) {
        nuvem_testkit::missing_tool("http_cache_tests_required_pass", "needs node and npm");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/cache-tests.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(BIN)
        .output()
        .expect("run bench/cache-tests.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) {
        nuvem_testkit::missing_tool("http_cache_tests_required_pass", &stderr);
        return;
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("required "), "{stdout}\n{stderr}");
}
