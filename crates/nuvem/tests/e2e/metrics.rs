//! `GET /_nuvem/metrics` through the real binary: refused without a signature or the bearer
//! token, parsed by the Prometheus client library's text parser (`prometheus_client`, in
//! `boto3/metrics_scrape.py`), and its counters move with DynamoDB calls, S3 errors (counted
//! by their S3 error code), edge misses and hits (per location and cache behavior), a
//! request the WAF blocks, and a function's invocations through an HTTP API route and a
//! function URL (runs, errors, throttles and durations, not only the Invoke API's).

use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const TOKEN: &str = "e2e-metrics-token-0123456789";

/// Answers HTTP APIs and function URLs; `/fail` raises (a function error).
const HANDLER: &str = r#"def handler(event, context):
    if event.get("rawPath") == "/fail":
        raise RuntimeError("boom")
    return {"statusCode": 200, "body": "metered " + event.get("rawPath", "")}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_with_traffic() {
    if !crate::have_python_modules(
        "metrics_parse_and_move_with_traffic",
        &["boto3", "prometheus_client"],
    ) {
        return;
    }
    let (origin, _hits) = crate::edge::origin().await;
    let src = crate::shared_dir();
    std::fs::write(src.path().join("index.py"), HANDLER).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            src.path().join("index.py"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let manifest = format!(
        "[server]\nmetrics_token = \"{TOKEN}\"\n\n\
         [[functions]]\nname = \"metered\"\nruntime = \"python3.12\"\nhandler = \"index.handler\"\ncode = {:?}\ntimeout_seconds = 30\n\n\
         [[apis]]\nname = \"metered\"\nroutes = [{{ key = \"GET /hello\", function = \"metered\" }}]\n\n\
         [[distribution.behaviors]]\npath_pattern = \"/img/*\"\norigin = \"{origin}\"\n\n[[distribution.behaviors]]\npath_pattern = \"default\"\norigin = \"{origin}\"\n",
        src.path().display().to_string()
    );
    let n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/boto3/metrics_scrape.py");
    let (api, edge) = (n.api_url.clone(), n.edge_url.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(&api)
            .env("EDGE_URL", &edge)
            .env("METRICS_TOKEN", TOKEN)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent/nuvem-e2e-aws-config")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("metrics ok"),
        "metrics_scrape.py failed\n{stdout}\n{stderr}"
    );
}

/// A metrics token shorter than 16 characters is refused at start, naming the setting.
#[test]
fn a_short_metrics_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nuvem.toml");
    std::fs::write(&path, "[server]\nmetrics_token = \"short\"\n").unwrap();
    let out = std::process::Command::new(BIN)
        .arg("up")
        .arg("--manifest")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--api-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0"])
        .env_remove("NUVEM_METRICS_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("server.metrics_token"), "{stderr}");
}

/// With `[server] metrics = false` nothing is recorded and `/_nuvem/metrics` answers 404 with
/// a message naming the setting, even to the token's holder; `NUVEM_METRICS=on` turns them
/// back on over the manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let manifest = format!("[server]\nmetrics = false\nmetrics_token = \"{TOKEN}\"\n");
    // A client with its TLS provider chosen (reqwest's own default would need one installed).
    let client = crate::nodes::http();
    let off = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest.clone()),
            env: vec![("NUVEM_METRICS".into(), None)],
            ..Default::default()
        },
    );
    let scrape = |api: String| {
        let client = client.clone();
        async move {
            let resp = client
                .get(format!("{api}/_nuvem/metrics"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    // Traffic first: a DynamoDB call that would be counted with metrics on.
    let _ = off.dynamodb().list_tables().send().await.unwrap();
    let (status, body) = scrape(off.api_url.clone()).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("metrics = false"), "{body}");
    drop(off);

    let on = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            env: vec![("NUVEM_METRICS".into(), Some("on".into()))],
            ..Default::default()
        },
    );
    let _ = on.dynamodb().list_tables().send().await.unwrap();
    let (status, body) = scrape(on.api_url.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("nuvem_api_requests_total{service=\"dynamodb\",operation=\"ListTables\",status=\"200\"} 1"),
        "{body}"
    );
}
