//! The wafv2 API through the real binary, driven by boto3
//! (`tests/e2e/boto3/wafv2_boto3.py`): the distribution's WebACL is in the API, an
//! UpdateWebACL that blocks an API-created IP set turns the edge's 200 into a 403 without a
//! restart, GetSampledRequests shows the blocked request, and after a restart the IP set
//! is still there. Skips with a notice when boto3 is not installed; CI installs it.

use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// A distribution over a bucket, protected by nuvem's default WebACL (no `[waf]`).
const MANIFEST: &str = r#"
[[buckets]]
name = "site"

[distribution]

[[distribution.behaviors]]
path_pattern = "default"
origin = "bucket:site"
"#;

#[track_caller]
fn run(nuvem: &Nuvem, phase: &str) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/boto3/wafv2_boto3.py"
    );
    let out = std::process::Command::new("python3")
        .args([script, &nuvem.api_url, &nuvem.edge_url, phase])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", nuvem.dir().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            nuvem.dir().join("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("boto3 wafv2 {phase}: ok")),
        "boto3 script ({phase}) failed\n{stdout}\n{stderr}"
    );
}

#[test]
fn waf_api_boto3_updates_the_edge_live_and_persists() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        nuvem_testkit::missing_tool(
            "waf_api_boto3_updates_the_edge_live_and_persists",
            "python3 with boto3 is not available (pip install boto3)",
        );
        return;
    }
    let mut nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(MANIFEST.into()),
            ..Options::default()
        },
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        nuvem
            .s3()
            .put_object()
            .bucket("site")
            .key("index.html")
            .content_type("text/html")
            .body(b"<h1>hello</h1>".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    // The health endpoint lists the service.
    let health: serde_json::Value = rt.block_on(async {
        crate::meusite::visitor()
            .get(format!("{}/_nuvem/health", nuvem.api_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert!(
        health["services"].get("wafv2").is_some(),
        "health lists wafv2: {health}"
    );
    run(&nuvem, "live");
    nuvem.restart();
    run(&nuvem, "restarted");
}
