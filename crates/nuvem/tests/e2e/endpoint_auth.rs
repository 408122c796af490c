//! Issue 15 end to end: the endpoint authenticates before it buffers a body, holds all
//! buffered bodies to one budget, and accepts no more than AWS does (host signed, one
//! signature, every x-amz-* header of an S3 request signed, signed bodies for the JSON APIs,
//! SigV2 URLs for at most seven days), and no log line holds a signature worth replaying.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use hmac::{Hmac, Mac};
use nuvem_aws::sigv4;
use nuvem_aws::time::AmzDate;
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

use crate::s3::http;

fn host(nuvem: &Nuvem) -> &str {
    nuvem.api_url.trim_start_matches("http://")
}

fn amz_now() -> String {
    AmzDate::from_system_time(SystemTime::now()).to_amz_string()
}

/// An answer read off a raw connection: the status line and headers, then the body.
struct Answer {
    head: String,
    body: String,
}

impl Answer {
    /// Whether the error code shows, in the body (JSON 1.0, XML) or in `x-amzn-ErrorType`
    /// (REST-JSON).
    fn names(&self, code: &str) -> bool {
        self.head.contains(code) || self.body.contains(code)
    }

    fn status(&self) -> u16 {
        self.head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

/// Writes `head` and `body` (which may be shorter than the Content-Length the head announces)
/// and reads the answer. `None` when none came within five seconds: the server is still
/// waiting for the rest of the body.
fn exchange(stream: &mut TcpStream, head: &str, body: &[u8]) -> Option<Answer> {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + length]).to_string();
                return Some(Answer { head, body });
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn connect(nuvem: &Nuvem) -> TcpStream {
    TcpStream::connect(host(nuvem)).unwrap()
}

/// A request head announcing `length` body bytes.
fn head(nuvem: &Nuvem, target: &str, extra: &[(&str, String)], length: usize) -> String {
    let mut h = format!(
        "POST {target} HTTP/1.1\r\nhost: {}\r\ncontent-length: {length}\r\n",
        host(nuvem)
    );
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h
}

/// An Authorization header that passes every check but the HMAC (which needs the body).
fn plausible_auth(access_key: &str, service: &str, amz_date: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{}/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        &amz_date[..8],
        "0".repeat(64)
    )
}

const DDB_TARGET: (&str, &str) = ("x-amz-target", "DynamoDB_20120810.ListTables");
const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn issue_15_bodies_are_not_read_before_authentication() {
    let nuvem = Nuvem::start(BIN);
    let ddb = |extra: Vec<(&str, String)>| {
        let mut all = vec![
            (DDB_TARGET.0, DDB_TARGET.1.to_string()),
            ("content-type", "application/x-amz-json-1.0".to_string()),
        ];
        all.extend(extra);
        head(&nuvem, "/", &all, 15 * MIB)
    };
    let amz = amz_now();
    // Unsigned: refused at once, the 15 MiB the head announces never sent.
    let a = exchange(&mut connect(&nuvem), &ddb(vec![]), b"{}").expect("answered at once");
    assert_eq!(a.status(), 400, "{}", a.body);
    assert!(
        a.names("MissingAuthenticationTokenException"),
        "{} {}",
        a.head,
        a.body
    );
    let lambda = head(&nuvem, "/2015-03-31/functions", &[], 64 * MIB);
    let a = exchange(&mut connect(&nuvem), &lambda, b"{").expect("answered at once");
    assert_eq!(a.status(), 403, "{}", a.body);
    assert!(
        a.names("MissingAuthenticationTokenException"),
        "{} {}",
        a.head,
        a.body
    );
    // Signed by a key nobody knows, or a day ago: the cheap checks refuse before the body.
    let unknown = ddb(vec![
        ("x-amz-date", amz.clone()),
        ("authorization", plausible_auth("nobody", "dynamodb", &amz)),
    ]);
    let a = exchange(&mut connect(&nuvem), &unknown, b"{}").expect("answered at once");
    assert_eq!(a.status(), 400, "{}", a.body);
    assert!(
        a.names("UnrecognizedClientException"),
        "{} {}",
        a.head,
        a.body
    );
    let old =
        AmzDate::from_system_time(SystemTime::now() - Duration::from_secs(86_400)).to_amz_string();
    let stale = ddb(vec![
        ("x-amz-date", old.clone()),
        ("authorization", plausible_auth("test", "dynamodb", &old)),
    ]);
    let a = exchange(&mut connect(&nuvem), &stale, b"{}").expect("answered at once");
    assert_eq!(a.status(), 400, "{}", a.body);
    assert!(
        a.names("InvalidSignatureException"),
        "{} {}",
        a.head,
        a.body
    );
    // A known key and a fresh date: now the body is read (and its signature then fails).
    let plausible = ddb(vec![
        ("x-amz-date", amz.clone()),
        ("authorization", plausible_auth("test", "dynamodb", &amz)),
    ]);
    assert!(
        exchange(&mut connect(&nuvem), &plausible, b"{}").is_none(),
        "the server waits for the body it must hash"
    );
}

#[tokio::test]
async fn issue_15_buffered_bodies_share_one_budget() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(format!("[server]\nmax_buffered_bytes = {}\n", 20 * MIB)),
            ..Options::default()
        },
    );
    let amz = amz_now();
    let upload = |length: usize| {
        head(
            &nuvem,
            "/2015-03-31/functions",
            &[
                ("x-amz-date", amz.clone()),
                ("authorization", plausible_auth("test", "lambda", &amz)),
            ],
            length,
        )
    };
    // The first upload holds 15 of the 20 MiB while its body trickles in...
    let mut first = connect(&nuvem);
    assert!(exchange(&mut first, &upload(15 * MIB), b"{").is_none());
    // ...so a second one does not fit: 503, which SDKs retry, and nothing read.
    let a = exchange(&mut connect(&nuvem), &upload(15 * MIB), b"{").expect("answered at once");
    assert_eq!(a.status(), 503, "{}", a.body);
    assert!(a.names("ServiceUnavailable"), "{} {}", a.head, a.body);
    // Requests without a body still pass.
    let lambda = nuvem.lambda();
    lambda.list_functions().send().await.unwrap();
    // When the first connection goes away, its share comes back: the next upload is read.
    drop(first);
    let mut recovered = false;
    for _ in 0..50 {
        match exchange(&mut connect(&nuvem), &upload(15 * MIB), b"{") {
            Some(a) if a.status() == 503 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some(a) => panic!("unexpected answer {}: {}", a.head, a.body),
            None => {
                recovered = true;
                break;
            }
        }
    }
    assert!(recovered, "the budget is given back");
}

#[tokio::test]
async fn issue_15_presigned_put_with_unsigned_amz_headers_is_refused() {
    let nuvem = Nuvem::start(BIN);
    let s3 = nuvem.s3();
    s3.create_bucket().bucket("upload").send().await.unwrap();
    let url = s3
        .put_object()
        .bucket("upload")
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap()
        .uri()
        .to_string();
    let http = http();
    for (name, value) in [("x-amz-meta-owner", "mallory"), ("x-amz-tagging", "a=b")] {
        let resp = http
            .put(&url)
            .header(name, value)
            .body("tampered")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        let body = resp.text().await.unwrap();
        assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
        assert!(
            body.contains(&format!("<HeadersNotSigned>{name}</HeadersNotSigned>")),
            "{body}"
        );
    }
    assert!(
        s3.head_object()
            .bucket("upload")
            .key("k")
            .send()
            .await
            .is_err(),
        "nothing stored"
    );
    // The same URL as signed works, x-amz-content-sha256 (exempt) included.
    let resp = http
        .put(&url)
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .body("as signed")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let got = s3
        .get_object()
        .bucket("upload")
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(got.metadata().is_none_or(|m| m.is_empty()));
}

/// Signs with nuvem's own SigV4 primitives, for requests no SDK makes: `signed_headers` as
/// given (no `host`), the payload hash as declared.
fn sign_by_hand(
    req: &mut http::Request<String>,
    service: &str,
    signed_headers: &[&str],
    payload_hash: &str,
) {
    let amz = amz_now();
    req.headers_mut().insert("x-amz-date", amz.parse().unwrap());
    let (parts, ()) = {
        let mut b = http::Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone());
        for (k, v) in req.headers() {
            b = b.header(k, v);
        }
        b.body(()).unwrap().into_parts()
    };
    let signed = sigv4::SignedRequest {
        access_key_id: "test".into(),
        date: amz[..8].to_string(),
        region: "us-east-1".into(),
        service: service.into(),
        signed_headers: signed_headers.iter().map(|s| s.to_string()).collect(),
        signature: String::new(),
        amz_date: amz.clone(),
        expires: None,
    };
    let canonical = sigv4::canonical_request(&parts, &signed, payload_hash).unwrap();
    let key = sigv4::signing_key("test", &signed.date, "us-east-1", service);
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(sigv4::string_to_sign(&amz, &signed.scope(), &canonical).as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/{}, SignedHeaders={}, Signature={signature}",
        signed.scope(),
        signed_headers.join(";")
    );
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
}

async fn send(req: http::Request<String>) -> (u16, String) {
    let resp = http()
        .execute(reqwest::Request::try_from(req).unwrap())
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn issue_15_host_must_be_signed() {
    let nuvem = Nuvem::start(BIN);
    let empty = sigv4::sha256_hex(b"");
    let mut s3 = http::Request::builder()
        .uri(format!("{}/nosuch?list-type=2", nuvem.api_url))
        .header("x-amz-content-sha256", &empty)
        .body(String::new())
        .unwrap();
    sign_by_hand(
        &mut s3,
        "s3",
        &["x-amz-content-sha256", "x-amz-date"],
        &empty,
    );
    let (status, body) = send(s3).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
    assert!(
        body.contains("must be a &apos;SignedHeader&apos;"),
        "{body}"
    );

    let mut ddb = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", nuvem.api_url))
        .header(DDB_TARGET.0, DDB_TARGET.1)
        .header("content-type", "application/x-amz-json-1.0")
        .body("{}".to_string())
        .unwrap();
    let hash = sigv4::sha256_hex(b"{}");
    sign_by_hand(&mut ddb, "dynamodb", &["x-amz-date", "x-amz-target"], &hash);
    let (status, body) = send(ddb).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("InvalidSignatureException"), "{body}");

    // The same request with host signed is served.
    let mut ok = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", nuvem.api_url))
        .header("host", host(&nuvem))
        .header(DDB_TARGET.0, DDB_TARGET.1)
        .header("content-type", "application/x-amz-json-1.0")
        .body("{}".to_string())
        .unwrap();
    sign_by_hand(
        &mut ok,
        "dynamodb",
        &["host", "x-amz-date", "x-amz-target"],
        &hash,
    );
    let (status, body) = send(ok).await;
    assert_eq!(status, 200, "{body}");
}

/// A DynamoDB ListTables as aws-sigv4 signs it, with `payload` as the signed payload.
fn ddb_signed(
    nuvem: &Nuvem,
    payload: aws_sigv4::http_request::SignableBody<'_>,
) -> http::Request<String> {
    use aws_sigv4::http_request::{PayloadChecksumKind, SignableRequest, SigningSettings, sign};
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", nuvem.api_url))
        .header("host", host(nuvem))
        .header(DDB_TARGET.0, DDB_TARGET.1)
        .header("content-type", "application/x-amz-json-1.0")
        .body("{}".to_string())
        .unwrap();
    let identity = Credentials::new("test", "test", None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("dynamodb")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let signable = SignableRequest::new(
        "POST",
        &uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        payload,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    req
}

#[tokio::test]
async fn issue_15_json_services_need_a_signed_body() {
    use aws_sigv4::http_request::SignableBody;
    let nuvem = Nuvem::start(BIN);
    let (status, body) = send(ddb_signed(&nuvem, SignableBody::Bytes(b"{}"))).await;
    assert_eq!(
        status, 200,
        "a declared, matching body hash is fine: {body}"
    );
    for payload in [
        SignableBody::UnsignedPayload,
        SignableBody::Precomputed(sigv4::STREAMING_UNSIGNED_TRAILER.into()),
    ] {
        let (status, body) = send(ddb_signed(&nuvem, payload)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("InvalidSignatureException"), "{body}");
    }
}

#[tokio::test]
async fn issue_15_one_signature_per_request() {
    use aws_sigv4::http_request::SignableBody;
    let nuvem = Nuvem::start(BIN);
    let mut twice = ddb_signed(&nuvem, SignableBody::Bytes(b"{}"));
    let auth = twice.headers()["authorization"].clone();
    twice.headers_mut().append("authorization", auth);
    let (status, body) = send(twice).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("IncompleteSignatureException"), "{body}");

    let url = nuvem
        .s3()
        .get_object()
        .bucket("sigv2")
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap()
        .uri()
        .to_string();
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap().to_string();
    let resp = http()
        .get(format!("{url}&X-Amz-Signature={signature}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("<Code>AuthorizationQueryParametersError</Code>"),
        "{body}"
    );
}

/// Seconds since the epoch, `ahead` from now.
fn epoch_in(ahead: Duration) -> u64 {
    (SystemTime::now() + ahead)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A SigV2 presigned GET of `/sigv2/k` expiring at `expires`, signed with `secret`; and the
/// signature.
fn sigv2_url(api_url: &str, expires: u64, secret: &str) -> (String, String) {
    let path = format!("/sigv2/k?AWSAccessKeyId=test&Expires={expires}");
    let (parts, ()) = http::Request::builder()
        .uri(&path)
        .body(())
        .unwrap()
        .into_parts();
    let signature = nuvem_s3::sigv2::signature(&parts, None, secret);
    let encoded = signature
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    (format!("{api_url}{path}&Signature={encoded}"), signature)
}

#[tokio::test]
async fn issue_15_sigv2_presigned_urls_live_at_most_seven_days() {
    let nuvem = Nuvem::start(BIN);
    let s3 = nuvem.s3();
    s3.create_bucket().bucket("sigv2").send().await.unwrap();
    s3.put_object()
        .bucket("sigv2")
        .key("k")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();
    let (hour, _) = sigv2_url(&nuvem.api_url, epoch_in(Duration::from_secs(3600)), "test");
    let resp = http().get(hour).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "private");
    let (month, _) = sigv2_url(
        &nuvem.api_url,
        epoch_in(Duration::from_secs(30 * 86_400)),
        "test",
    );
    let resp = http().get(month).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("<Code>AuthorizationQueryParametersError</Code>"),
        "{body}"
    );
}

#[test]
fn issue_15_debug_logs_hold_no_expected_signature() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nuvem.toml"), "").unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["up", "--log", "debug,s3s=trace", "--manifest"])
        .arg(dir.path().join("nuvem.toml"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--api-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut api_url = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.trim_start().starts_with("aws endpoint") {
            api_url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_string);
        }
        if line.starts_with("ready in") {
            break;
        }
    }
    let api_url = api_url.expect("banner names the endpoint");
    // The filter asks for everything, s3s's own lines included: still no signature may show.
    // A SigV2 URL signed with a wrong secret: the right signature must not show up anywhere.
    let expires = epoch_in(Duration::from_secs(3600));
    let (url, _) = sigv2_url(&api_url, expires, "wrong");
    let (_, right) = sigv2_url(&api_url, expires, "test");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async { http().get(url).send().await.unwrap().status() });
    assert_eq!(status, 403);
    // A valid SigV2 URL reaches s3s, which logs requests at DEBUG.
    let (valid, _) = sigv2_url(&api_url, expires, "test");
    let status = rt.block_on(async { http().get(valid).send().await.unwrap().status() });
    assert_eq!(status, 404, "no such bucket");
    // A browser form upload (SigV2 POST policy) with a wrong signature: s3s checks it, and at
    // DEBUG would print the signature it computed.
    use base64::Engine as _;
    let policy = base64::engine::general_purpose::STANDARD
        .encode(r#"{"expiration":"2100-01-01T00:00:00Z","conditions":[{"bucket":"sigv2"}]}"#);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"test");
    let right_form = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, policy.as_bytes()).as_ref());
    let field = |name: &str, value: &str| {
        format!("--XyZ\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let form = [
        field("key", "form.txt"),
        field("AWSAccessKeyId", "test"),
        field("policy", &policy),
        field("signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        "--XyZ\r\ncontent-disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\ncontent-type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n".to_string(),
    ]
    .concat();
    let status = rt.block_on(async {
        http()
            .post(format!("{api_url}/sigv2"))
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(form)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 403);
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DEBUG"), "debug logging is on: {text}");
    assert!(!text.contains(&right), "{text}");
    assert!(!text.contains(&right_form), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.contains("DEBUG") && l.contains("s3s::")),
        "s3s never logs below INFO: {text}"
    );
}
