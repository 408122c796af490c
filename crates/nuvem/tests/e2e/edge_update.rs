//! CloudFront's UpdateDistribution through the AWS CLI, the way its docs tell users to do it:
//! `get-distribution-config`, edit the JSON, `update-distribution --if-match <ETag>`. The
//! change (a behavior's DefaultTTL, a custom error response, then another WebACL) shows on
//! served traffic at once, survives a restart, and a stale ETag is refused with 412's
//! PreconditionFailed. With two nodes on one PostgreSQL database, the other node applies it
//! within the watch interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use nuvem_testkit::{Nuvem, Options};
use serde_json::{Value, json};

use crate::s3_cli::{aws, aws_raw, have};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// An origin that sends no Cache-Control (so the behavior's DefaultTTL decides), answers
/// `/missing*` with 404 and `/sorry.html` with the error page; counts requests.
async fn origin() -> (String, Arc<AtomicUsize>) {
    crate::edge::origin_with(|path| {
        let (status, body) = if path.starts_with("/missing") {
            (404, "nope".to_string())
        } else if path == "/sorry.html" {
            (200, "sorry".to_string())
        } else {
            (200, format!("page {path}"))
        };
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r
    })
    .await
}

/// (status, x-cache, body) of a GET through the edge.
async fn get(client: &reqwest::Client, nuvem: &Nuvem, path: &str) -> (u16, String, String) {
    let r = client
        .get(format!("{}{path}", nuvem.edge_url))
        .header("user-agent", "edge-update-test")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, cache, r.text().await.unwrap())
}

fn cli(nuvem: &Nuvem, args: &[&str]) -> Value {
    let out = tokio::task::block_in_place(|| aws(nuvem, args));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("aws {args:?}: {e}\n{out}"))
}

/// `update-distribution` with `config`; the CLI's stderr when it fails.
fn update(nuvem: &Nuvem, config: &Value, if_match: &str) -> Result<Value, String> {
    let file = nuvem.dir().join("distribution-config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let arg = format!("file://{}", file.display());
    let out = tokio::task::block_in_place(|| {
        aws_raw(
            nuvem,
            &[
                "cloudfront",
                "update-distribution",
                "--id",
                "EDFDVBD6EXAMPLE",
                "--if-match",
                if_match,
                "--distribution-config",
                &arg,
            ],
        )
    });
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn get_config(nuvem: &Nuvem) -> (Value, String) {
    let got = cli(
        nuvem,
        &[
            "cloudfront",
            "get-distribution-config",
            "--id",
            "EDFDVBD6EXAMPLE",
        ],
    );
    (
        got["DistributionConfig"].clone(),
        got["ETag"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_distribution_with_the_aws_cli_applies_live_and_survives_a_restart() {
    if !have("aws", &["--version"]) {
        nuvem_testkit::missing_tool(
            "update_distribution_with_the_aws_cli_applies_live_and_survives_a_restart",
            "the AWS CLI is not installed (pip install awscli)",
        );
        return;
    }
    let (url, hits) = origin().await;
    let manifest = format!(
        r#"
[[distribution.behaviors]]
path_pattern = "default"
origin = "{url}"
default_ttl = 0
"#
    );
    let mut nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let client = crate::meusite::visitor();

    // Before: DefaultTTL 0 keeps nothing; a 404 is the origin's.
    assert_eq!(get(&client, &nuvem, "/a").await.1, "Miss from nuvem");
    assert_eq!(get(&client, &nuvem, "/a").await.1, "Miss from nuvem");
    assert_eq!(get(&client, &nuvem, "/missing").await.2, "nope");

    let (mut config, etag) = get_config(&nuvem);
    assert_eq!(config["DefaultCacheBehavior"]["DefaultTTL"], 0);
    let manifest_acl = config["WebACLId"].as_str().unwrap().to_string();
    assert!(
        manifest_acl.contains(":global/webacl/"),
        "the manifest's (default) WebACL is shown: {manifest_acl:?}"
    );
    config["DefaultCacheBehavior"]["DefaultTTL"] = json!(3600);
    config["CustomErrorResponses"] = json!({
        "Quantity": 1,
        "Items": [{"ErrorCode": 404, "ResponsePagePath": "/sorry.html",
                   "ResponseCode": "404", "ErrorCachingMinTTL": 5}]
    });
    config["Comment"] = json!("cache pages for an hour");
    let updated = update(&nuvem, &config, &etag).expect("update-distribution");
    let new_etag = updated["ETag"].as_str().unwrap().to_string();
    assert_ne!(new_etag, etag);
    assert_eq!(
        updated["Distribution"]["DistributionConfig"]["DefaultCacheBehavior"]["DefaultTTL"],
        3600
    );
    // The ETag it was made from is stale now.
    let stale = update(&nuvem, &config, &etag).unwrap_err();
    assert!(stale.contains("PreconditionFailed"), "{stale}");
    // Without If-Match's counterpart in the JSON: a field nuvem takes from the manifest.
    let mut moved = config.clone();
    moved["DefaultCacheBehavior"]["ViewerProtocolPolicy"] = json!("https-only");
    let illegal = update(&nuvem, &moved, &new_etag).unwrap_err();
    assert!(illegal.contains("IllegalUpdate"), "{illegal}");

    // After: pages are kept for an hour, and a 404 serves the error page.
    let before = hits.load(Ordering::SeqCst);
    assert_eq!(get(&client, &nuvem, "/b").await.1, "Miss from nuvem");
    assert_eq!(get(&client, &nuvem, "/b").await.1, "Hit from nuvem");
    assert_eq!(hits.load(Ordering::SeqCst), before + 1);
    let (status, _, body) = get(&client, &nuvem, "/missing-too").await;
    assert_eq!((status, body.as_str()), (404, "sorry"));

    // A restart keeps the update (and its ETag).
    nuvem.restart();
    let (config, etag_after) = get_config(&nuvem);
    assert_eq!(etag_after, new_etag);
    assert_eq!(config["DefaultCacheBehavior"]["DefaultTTL"], 3600);
    assert_eq!(config["Comment"], "cache pages for an hour");
    assert_eq!(get(&client, &nuvem, "/c").await.1, "Miss from nuvem");
    assert_eq!(get(&client, &nuvem, "/c").await.1, "Hit from nuvem");
    let (status, _, body) = get(&client, &nuvem, "/missing-three").await;
    assert_eq!((status, body.as_str()), (404, "sorry"));

    // Another WebACL (made with the wafv2 API) in front of the distribution, live; an ARN
    // that names nothing is refused.
    let created = cli(
        &nuvem,
        &[
            "wafv2",
            "create-web-acl",
            "--name",
            "block-all",
            "--scope",
            "CLOUDFRONT",
            "--default-action",
            "Block={}",
            "--visibility-config",
            "SampledRequestsEnabled=false,CloudWatchMetricsEnabled=false,MetricName=block-all",
        ],
    );
    let arn = created["Summary"]["ARN"].as_str().unwrap().to_string();
    let mut config = config;
    config["WebACLId"] = json!(format!("{arn}0"));
    let bad = update(&nuvem, &config, &etag_after).unwrap_err();
    assert!(bad.contains("InvalidWebACLId"), "{bad}");
    config["WebACLId"] = json!(arn);
    update(&nuvem, &config, &etag_after).expect("switching the WebACL");
    assert_eq!(get(&client, &nuvem, "/c").await.0, 403, "block-all applies");
    // And back to the manifest's.
    let (mut config, etag) = get_config(&nuvem);
    config["WebACLId"] = json!(manifest_acl);
    update(&nuvem, &config, &etag).expect("back to the manifest's WebACL");
    assert_eq!(get(&client, &nuvem, "/c").await.0, 200);
}

/// Two nodes on one PostgreSQL database: an update made through one node's AWS endpoint
/// applies on the other within the watch interval, and the other refuses the ETag it
/// replaced (If-Match is checked against the store, not a node's memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_distribution_reaches_every_node_sharing_the_store() {
    let test = "update_distribution_reaches_every_node_sharing_the_store";
    if !have("aws", &["--version"]) {
        nuvem_testkit::missing_tool(test, "the AWS CLI is not installed (pip install awscli)");
        return;
    }
    let Some(server) = crate::storage_postgres::pg_server::PgServer::start(test, true) else {
        return;
    };
    let (url, _hits) = origin().await;
    let manifest = format!(
        r#"
[server]
storage = "{}"

[[distribution.behaviors]]
path_pattern = "default"
origin = "{url}"
default_ttl = 0
"#,
        server.url()
    );
    let options = Options {
        manifest: Some(manifest),
        ..Default::default()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Nuvem::start_with(BIN, options.clone()));
        let b = s.spawn(|| Nuvem::start_with(BIN, options.clone()));
        (a.join().unwrap(), b.join().unwrap())
    });
    let client = crate::meusite::visitor();

    let (mut config, etag) = get_config(&a);
    assert_eq!(
        get_config(&b).1,
        etag,
        "one manifest, one ETag on both nodes"
    );
    config["DefaultCacheBehavior"]["DefaultTTL"] = json!(3600);
    let new_etag = update(&a, &config, &etag).expect("update on A")["ETag"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while get_config(&b).1 != new_etag {
        assert!(
            std::time::Instant::now() < deadline,
            "B did not pick the update up within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(get(&client, &b, "/shared").await.1, "Miss from nuvem");
    assert_eq!(get(&client, &b, "/shared").await.1, "Hit from nuvem");
    let stale = update(&b, &config, &etag).unwrap_err();
    assert!(stale.contains("PreconditionFailed"), "{stale}");
}
