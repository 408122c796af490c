//! The API gateway through the real binary: manifest APIs answer on the AWS endpoint by
//! host name (`{apiId}.execute-api.localhost.localstack.cloud`), without SigV4.

use nuvem_testkit::{Nuvem, Options};

#[tokio::test]
async fn manifest_api_answers_by_execute_api_host() {
    let manifest = r#"
[[apis]]
name = "site"
[[apis.routes]]
key = "GET /items/{id}"
function = "not-deployed"
"#;
    let n = Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        Options {
            manifest: Some(manifest.into()),
            ..Default::default()
        },
    );
    let line = n
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("api site at "))
        .expect("the banner names the API's URL");
    let url = line.trim().trim_start_matches("api site at ").to_string();
    let host = url.trim_start_matches("http://").to_string();
    assert!(
        host.contains(".execute-api.localhost.localstack.cloud:"),
        "{host}"
    );
    // Plain HTTP, but reqwest still wants a TLS provider chosen.
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
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
    let get = |path: &str| {
        client
            .get(format!("{}{path}", n.api_url))
            .header("host", host.clone())
            .send()
    };
    // The function does not exist: API Gateway's 500, not a SigV4 refusal.
    let r = get("/items/1").await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"Internal Server Error"}"#
    );
    let r = get("/nothing").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Not Found"}"#);
}
