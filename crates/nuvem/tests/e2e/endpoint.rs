//! The shared AWS endpoint: health, routing to services, SigV4 as real SDKs sign it, presigned
//! URLs, TLS, graceful shutdown.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_s3::presigning::PresigningConfig;
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("nuvem-e2e")
        .use_preconfigured_tls(tls_config(None))
        .build()
        .unwrap()
}

pub(crate) fn tls_config(trust: Option<&std::path::Path>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(cert) = trust {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        for c in CertificateDer::pem_file_iter(cert).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// `/_nuvem/health` as a signed caller sees it (with `stats`).
pub async fn health_detail(api_url: &str) -> serde_json::Value {
    let url = format!("{api_url}/_nuvem/health");
    let mut req = http().get(&url);
    for (k, v) in nuvem_testkit::sigv4_headers("GET", &url) {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Anonymous callers see the status and each service's state, not the counters (function
/// names, routes); a signed caller sees those too; a wrong signature gets the short form.
#[tokio::test]
async fn health_details_need_a_signature() {
    let nuvem = Nuvem::start(BIN);
    let url = format!("{}/_nuvem/health", nuvem.api_url);
    let anonymous: serde_json::Value = http().get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(anonymous["status"], "ok");
    assert!(anonymous.get("stats").is_none(), "{anonymous}");
    let signed = health_detail(&nuvem.api_url).await;
    assert!(signed["stats"]["lambda"].is_object(), "{signed}");
    let mut req = http().get(&url);
    for (k, v) in nuvem_testkit::sigv4_headers("GET", &url) {
        let v = if k == "authorization" {
            v.replace("Signature=", "Signature=0")
        } else {
            v
        };
        req = req.header(k, v);
    }
    let forged: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
    assert!(forged.get("stats").is_none(), "{forged}");
}

/// Health says `starting` (503) until the manifest is applied: a client that waits for 200
/// never sees the site's bucket missing. The manifest's bucket upload is slowed by many files.
#[test]
fn health_is_starting_until_the_manifest_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    for i in 0..4000 {
        std::fs::write(site.join(format!("f{i}.txt")), vec![b'x'; 1024]).unwrap();
    }
    std::fs::write(
        dir.path().join("nuvem.toml"),
        "[server]\nedge_addr = \"127.0.0.1:0\"\n\n[[buckets]]\nname = \"site\"\nfiles = \"site\"\n",
    )
    .unwrap();
    // The endpoint's address must be known before the banner: a port that was free a moment ago.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["up", "--api-addr", &addr.to_string()])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let statuses = rt.block_on(async {
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let Ok(r) = http()
                .get(format!("http://{addr}/_nuvem/health"))
                .send()
                .await
            else {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            };
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            seen.push((status, body["status"].as_str().unwrap_or("").to_string()));
            if status == 200 {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        seen
    });
    let _ = child.kill();
    let _ = child.wait();
    let seen = &statuses;
    assert_eq!(
        seen.last().map(|s| s.0),
        Some(200),
        "became ready: {seen:?}"
    );
    assert!(
        seen.iter().any(|(s, b)| *s == 503 && b == "starting"),
        "503 starting before the manifest was applied: {:?}",
        &seen[..seen.len().min(5)]
    );
    assert!(
        seen.iter()
            .all(|(s, b)| (*s == 503 && b == "starting") || (*s == 200 && b == "ok"))
    );
}

#[tokio::test]
async fn health_lists_services_and_banner_says_where() {
    let nuvem = Nuvem::start(BIN);
    let resp = http()
        .get(format!("{}/_nuvem/health", nuvem.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["storage"], "fjall");
    assert_eq!(body["services"]["dynamodb"], "ready", "{body}");
    assert!(
        nuvem.api_url.starts_with("http://127.0.0.1:"),
        "private by default: {}",
        nuvem.api_url
    );
    assert!(nuvem.banner.iter().any(|l| l.starts_with("ready in")));
}

/// Signs a request with the real aws-sigv4 signer, for services nuvem has no SDK client for.
fn sign(req: &mut http::Request<String>, service: &str, secret: &str) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = Credentials::new("test", secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
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
        req.method().as_str(),
        &uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(req.body().as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(req);
}

#[tokio::test]
async fn signed_request_for_a_missing_service_gets_an_aws_error() {
    let nuvem = Nuvem::start(BIN);
    // SQS is not part of nuvem: the signed request passes SigV4, reaches the router and gets
    // an AWS-style JSON error rather than a 404 page.
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", nuvem.api_url))
        .header("host", nuvem.api_url.trim_start_matches("http://"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "AmazonSQS.ListQueues")
        .body("{}".to_string())
        .unwrap();
    sign(&mut req, "sqs", "test");
    let resp = http()
        .execute(reqwest::Request::try_from(req.clone()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["__type"], "com.amazonaws.nuvem#NotImplemented",
        "{body}"
    );

    // The same request with a wrong secret learns nothing about the service.
    let mut bad = req;
    bad.headers_mut().remove("authorization");
    bad.headers_mut().remove("x-amz-date");
    sign(&mut bad, "sqs", "wrong");
    let resp = http()
        .execute(reqwest::Request::try_from(bad).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["__type"], "com.amazon.coral.service#InvalidSignatureException",
        "{body}"
    );
}

#[tokio::test]
async fn wrong_secret_and_unknown_key_are_refused() {
    let nuvem = Nuvem::start(BIN);
    let wrong = Credentials::new("test", "not-the-secret", None, None, "test");
    let err = nuvem
        .s3_with(wrong)
        .list_buckets()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("SignatureDoesNotMatch"),
        "{err:?}"
    );

    let unknown = Credentials::new("AKIDUNKNOWN", "x", None, None, "test");
    let err = nuvem
        .s3_with(unknown)
        .list_buckets()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("InvalidAccessKeyId"),
        "{err:?}"
    );

    // JSON services answer in their own shape (DynamoDB: 400 InvalidSignatureException).
    let wrong = Credentials::new("test", "not-the-secret", None, None, "test");
    let err = nuvem
        .dynamodb_with(wrong)
        .list_tables()
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().map(|r| r.status().as_u16());
    let err = err.into_service_error();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&err),
        Some("InvalidSignatureException"),
        "{err:?}"
    );
    assert_eq!(raw, Some(400));
}

#[tokio::test]
async fn presigned_urls_are_checked() {
    let nuvem = Nuvem::start(BIN);
    let s3 = nuvem.s3();
    let fresh = s3
        .get_object()
        .bucket("photos")
        .key("a b.jpg")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let resp = http().get(fresh.uri()).send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(
        status, 404,
        "a valid presigned URL reaches the S3 service: {body}"
    );
    assert!(body.contains("<Code>NoSuchBucket</Code>"), "{body}");

    let expired = s3
        .get_object()
        .bucket("photos")
        .key("a b.jpg")
        .presigned(
            PresigningConfig::builder()
                .start_time(SystemTime::now() - Duration::from_secs(3600))
                .expires_in(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let resp = http().get(expired.uri()).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("<Code>AccessDenied</Code>") && body.contains("Request has expired"),
        "{body}"
    );

    let tampered = fresh.uri().replace("photos", "other");
    let resp = http().get(tampered).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>SignatureDoesNotMatch</Code>")
    );
}

#[tokio::test]
async fn unsigned_and_malformed_requests_get_aws_errors() {
    let nuvem = Nuvem::start(BIN);
    let resp = http()
        .post(&nuvem.api_url)
        .header("x-amz-target", "DynamoDB_20120810.ListTables")
        .header("content-type", "application/x-amz-json-1.0")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#MissingAuthenticationTokenException"
    );

    let resp = http()
        .get(format!("{}/bucket/key", nuvem.api_url))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>AuthorizationHeaderMalformed</Code>")
    );
}

#[tokio::test]
async fn tls_endpoint_serves_with_a_generated_certificate() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            tls: true,
            ..Default::default()
        },
    );
    let url = nuvem.api_tls_url.clone().expect("TLS address printed");
    let cert = nuvem.dir().join("data/tls/cert.pem");
    let client = reqwest::Client::builder()
        .user_agent("nuvem-e2e")
        .use_preconfigured_tls(tls_config(Some(&cert)))
        .build()
        .unwrap();
    let url = url.replace("127.0.0.1", "localhost");
    let resp = client
        .get(format!("{url}/_nuvem/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn sigterm_shuts_down_gracefully_with_exit_0() {
    let mut nuvem = Nuvem::start(BIN);
    let status = nuvem.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn bad_manifest_is_refused_with_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("nuvem.toml");
    std::fs::write(
        &manifest,
        "[[tables]]\nname = \"t\"\npartition_key = { name = \"id\", typo = \"S\" }\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("up")
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tables[0].partition_key.typo"), "{stderr}");
}

#[test]
fn version_and_help() {
    let out = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("nuvem "));
    let out = std::process::Command::new(BIN)
        .args(["up", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--api-addr") && help.contains("Examples:"),
        "{help}"
    );
}
