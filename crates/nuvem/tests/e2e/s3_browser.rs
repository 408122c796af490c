//! What browsers and plain HTTP clients see of the object store: CORS preflight and response
//! headers from the bucket's CORS rules, the website configuration round trip, and S3's
//! refusal of a plain `Transfer-Encoding: chunked` upload (411 MissingContentLength).

use std::io::{Read as _, Write as _};
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CorsConfiguration, CorsRule, ErrorDocument, IndexDocument, WebsiteConfiguration,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const SITE: &str = "https://site.example";

/// Checks a response's status and headers; `None` means the header must be absent.
#[track_caller]
fn check(resp: &reqwest::Response, status: u16, headers: &[(&str, Option<&str>)]) {
    assert_eq!(resp.status().as_u16(), status, "{resp:?}");
    for (name, want) in headers {
        let got = resp.headers().get(*name).and_then(|v| v.to_str().ok());
        assert_eq!(got, *want, "header {name} of {resp:?}");
    }
}

async fn preflight(
    http: &reqwest::Client,
    url: &str,
    origin: Option<&str>,
    method: &str,
    headers: Option<&str>,
) -> reqwest::Response {
    let mut req = http
        .request(reqwest::Method::OPTIONS, url)
        .header("access-control-request-method", method);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    if let Some(h) = headers {
        req = req.header("access-control-request-headers", h);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn cors_preflight_and_response_headers() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("media").send().await.unwrap();
    c.put_object()
        .bucket("media")
        .key("a.txt")
        .body(ByteStream::from_static(b"hi"))
        .send()
        .await
        .unwrap();
    let rules = CorsConfiguration::builder()
        .cors_rules(
            CorsRule::builder()
                .allowed_origins(SITE)
                .allowed_methods("GET")
                .allowed_methods("PUT")
                .allowed_headers("content-type")
                .allowed_headers("x-amz-*")
                .expose_headers("ETag")
                .max_age_seconds(600)
                .build()
                .unwrap(),
        )
        .cors_rules(
            CorsRule::builder()
                .allowed_origins("*")
                .allowed_methods("GET")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    c.put_bucket_cors()
        .bucket("media")
        .cors_configuration(rules)
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_cors().bucket("media").send().await.unwrap();
    assert_eq!(got.cors_rules().len(), 2);
    assert_eq!(got.cors_rules()[0].allowed_methods(), ["GET", "PUT"]);
    assert_eq!(got.cors_rules()[0].max_age_seconds(), Some(600));

    let http = super::s3::http();
    let url = format!("{}/media/a.txt", nuvem.api_url);
    let ok = [
        ("access-control-allow-origin", Some(SITE)),
        ("access-control-allow-methods", Some("GET, PUT")),
        ("access-control-expose-headers", Some("ETag")),
        ("access-control-max-age", Some("600")),
    ];
    let r = preflight(
        &http,
        &url,
        Some(SITE),
        "PUT",
        Some("Content-Type, x-amz-meta-a"),
    )
    .await;
    check(&r, 200, &ok);
    check(
        &r,
        200,
        &[(
            "access-control-allow-headers",
            Some("Content-Type, x-amz-meta-a"),
        )],
    );
    // Any other origin may only GET, and gets the wildcard answer.
    let r = preflight(&http, &url, Some("https://other.example"), "GET", None).await;
    check(
        &r,
        200,
        &[
            ("access-control-allow-origin", Some("*")),
            ("access-control-allow-methods", Some("GET")),
            ("access-control-max-age", None),
        ],
    );
    let r = preflight(&http, &url, Some("https://other.example"), "PUT", None).await;
    check(&r, 403, &[("access-control-allow-origin", None)]);
    assert!(r.text().await.unwrap().contains("AccessForbidden"));
    let r = preflight(&http, &url, Some(SITE), "DELETE", None).await;
    check(&r, 403, &[]);
    let r = preflight(&http, &url, Some(SITE), "PUT", Some("x-secret")).await;
    check(&r, 403, &[]);
    let r = preflight(&http, &url, None, "GET", None).await;
    check(&r, 400, &[]);
    let r = preflight(
        &http,
        &format!("{}/nobucket/k", nuvem.api_url),
        Some(SITE),
        "GET",
        None,
    )
    .await;
    check(&r, 404, &[]);

    // The actual request (presigned, as a browser would send it) carries the headers too.
    let conf = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let get = c
        .get_object()
        .bucket("media")
        .key("a.txt")
        .presigned(conf)
        .await
        .unwrap();
    let r = http
        .get(get.uri())
        .header("origin", SITE)
        .send()
        .await
        .unwrap();
    check(&r, 200, &ok);
    let r = http.get(get.uri()).send().await.unwrap();
    check(&r, 200, &[("access-control-allow-origin", None)]);

    c.delete_bucket_cors().bucket("media").send().await.unwrap();
    let gone = c.get_bucket_cors().bucket("media").send().await;
    assert_eq!(gone.unwrap_err().code(), Some("NoSuchCORSConfiguration"));
    let r = preflight(&http, &url, Some(SITE), "GET", None).await;
    check(&r, 403, &[]);
}

#[tokio::test]
async fn website_configuration_round_trip() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("www").send().await.unwrap();
    let missing = c.get_bucket_website().bucket("www").send().await;
    assert_eq!(
        missing.unwrap_err().code(),
        Some("NoSuchWebsiteConfiguration")
    );
    let conf = WebsiteConfiguration::builder()
        .index_document(
            IndexDocument::builder()
                .suffix("index.html")
                .build()
                .unwrap(),
        )
        .error_document(ErrorDocument::builder().key("404.html").build().unwrap())
        .build();
    c.put_bucket_website()
        .bucket("www")
        .website_configuration(conf)
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_website().bucket("www").send().await.unwrap();
    assert_eq!(got.index_document().map(|d| d.suffix()), Some("index.html"));
    assert_eq!(got.error_document().map(|d| d.key()), Some("404.html"));
    c.delete_bucket_website()
        .bucket("www")
        .send()
        .await
        .unwrap();
    let gone = c.get_bucket_website().bucket("www").send().await;
    assert_eq!(gone.unwrap_err().code(), Some("NoSuchWebsiteConfiguration"));
    let no_bucket = c.get_bucket_website().bucket("nope").send().await;
    assert_eq!(no_bucket.unwrap_err().code(), Some("NoSuchBucket"));
}

/// Sends one raw HTTP/1.1 request and returns the response head and body as text.
fn raw_request(addr: &str, head: &str, body: &[u8]) -> String {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(body).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // The server answers with Connection: close or a Content-Length; read what arrives.
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if text.contains("</Error>")
            || text.contains("\r\n\r\n") && text.starts_with("HTTP/1.1 200")
        {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// S3 accepts a body of unknown length only as aws-chunked with
/// `x-amz-decoded-content-length`; a plain `Transfer-Encoding: chunked` PUT is refused with
/// 411 MissingContentLength
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList), and
/// nothing is stored.
#[tokio::test]
async fn plain_chunked_put_without_content_length_is_411() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("uploads").send().await.unwrap();
    let conf = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let url: http::Uri = c
        .put_object()
        .bucket("uploads")
        .key("chunked.txt")
        .presigned(conf)
        .await
        .unwrap()
        .uri()
        .parse()
        .unwrap();
    let addr = url.authority().unwrap().to_string();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        url.path_and_query().unwrap()
    );
    let resp = raw_request(&addr, &head, b"5\r\nhello\r\n0\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 411"), "{resp}");
    assert!(resp.contains("<Code>MissingContentLength</Code>"), "{resp}");
    let head = c
        .head_object()
        .bucket("uploads")
        .key("chunked.txt")
        .send()
        .await;
    assert_eq!(
        head.unwrap_err()
            .raw_response()
            .map(|r| r.status().as_u16()),
        Some(404)
    );
}
