//! Provisioned capacity and Application Auto Scaling through the real binary.
//!
//! With aws-sdk-dynamodb: a PROVISIONED table refuses requests past its capacity with
//! `ProvisionedThroughputExceededException` (400) when retries are off, and the SDK's own
//! retries back off and succeed; a global index short of write capacity throttles its
//! table's writes; eventually consistent reads cost half, transactional reads double (the
//! health counters); PAY_PER_REQUEST is never throttled, and UpdateTable switches a table
//! either way. With boto3 (`boto3/autoscaling_boto3.py`, the `application-autoscaling`
//! client: aws-sdk-applicationautoscaling would be one more SDK crate to compile for a
//! handful of calls): the bounded load test of a table and its global index.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, Get, ProvisionedThroughput, TransactGetItem,
};
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

const MANIFEST: &str = r#"
[server]
dynamodb_burst_secs = 1

[[tables]]
name = "slow"
partition_key = { name = "pk", type = "S" }
capacity = { read = 2, write = 2 }

[[tables.global_indexes]]
name = "by_g"
partition_key = { name = "g", type = "S" }
capacity = { read = 1, write = 1 }

[[tables]]
name = "free"
partition_key = { name = "pk", type = "S" }
"#;

fn client(nuvem: &Nuvem, retry: RetryConfig) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(nuvem.credentials())
        .endpoint_url(&nuvem.api_url)
        .retry_config(retry)
        .build();
    Client::from_conf(conf)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// Puts items into `table` without retries until one is throttled; returns how many
/// succeeded first and the throttle's message. Panics on any other error, or when 50 go
/// through.
async fn put_until_throttled(ddb: &Client, table: &str, with_g: bool) -> (usize, String) {
    for i in 0..50 {
        let mut put = ddb
            .put_item()
            .table_name(table)
            .item("pk", s(&format!("item-{i}")));
        if with_g {
            put = put.item("g", s("x"));
        }
        match put.send().await {
            Ok(_) => {}
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let service = e.into_service_error();
                assert!(
                    service.is_provisioned_throughput_exceeded_exception(),
                    "{service:?}"
                );
                assert_eq!(status, Some(400));
                return (i, service.to_string());
            }
        }
    }
    panic!("50 writes to {table} were never throttled");
}

/// Read units consumed on `table` (this node, since it started), from the health counters.
async fn consumed(nuvem: &Nuvem, table: &str, index: Option<&str>) -> serde_json::Value {
    let health = crate::endpoint::health_detail(&nuvem.api_url).await;
    health["stats"]["dynamodb"]["capacity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["table"] == table && u["index"].as_str() == index)
        .cloned()
        .unwrap_or_else(|| panic!("no capacity counters for {table} {index:?}: {health}"))
}

#[tokio::test]
async fn provisioned_capacity_throttles_and_sdk_retries_succeed() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(MANIFEST.into()),
            ..Options::default()
        },
    );
    let strict = client(&nuvem, RetryConfig::disabled());
    let patient = client(
        &nuvem,
        RetryConfig::standard()
            .with_max_attempts(10)
            .with_max_backoff(Duration::from_secs(2)),
    );

    // On demand: never throttled.
    for i in 0..60 {
        strict
            .put_item()
            .table_name("free")
            .item("pk", s(&format!("f{i}")))
            .send()
            .await
            .unwrap();
    }

    // 2 WCU with one second of burst: a few writes, then a refusal.
    let (ok, message) = put_until_throttled(&strict, "slow", false).await;
    assert!(
        (1..=6).contains(&ok),
        "{ok} writes before the first throttle"
    );
    assert!(
        message.contains("provisioned throughput for the table was exceeded"),
        "{message}"
    );

    // The SDK backs off and retries: every write succeeds, at about the provisioned rate.
    let started = Instant::now();
    for i in 0..8 {
        patient
            .put_item()
            .table_name("slow")
            .item("pk", s(&format!("patient-{i}")))
            .send()
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "8 WCU at 2 WCU/s took {:?}",
        started.elapsed()
    );

    // A global index short of write capacity throttles its table's writes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (ok, message) = put_until_throttled(&strict, "slow", true).await;
    assert!(
        (1..=3).contains(&ok),
        "{ok} writes before the index throttled"
    );
    assert!(
        message.contains("global secondary indexes") && message.contains("by_g"),
        "{message}"
    );
    let index = consumed(&nuvem, "slow", Some("by_g")).await;
    assert!(
        index["write"]["throttled"].as_u64().unwrap() >= 1,
        "{index}"
    );

    // Prices: an eventually consistent read of a small item is half a unit, a strongly
    // consistent one a unit, a transactional one two.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = consumed(&nuvem, "slow", None).await["read"]["consumed"]
        .as_f64()
        .unwrap();
    let get = |consistent| {
        strict
            .get_item()
            .table_name("slow")
            .key("pk", s("patient-0"))
            .consistent_read(consistent)
            .send()
    };
    get(false).await.unwrap();
    get(true).await.unwrap();
    strict
        .transact_get_items()
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("slow")
                        .key("pk", s("patient-0"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let table = consumed(&nuvem, "slow", None).await;
    assert_eq!(table["read"]["consumed"].as_f64().unwrap() - before, 3.5);
    assert!(
        table["write"]["throttled"].as_u64().unwrap() >= 2,
        "{table}"
    );
    assert_eq!(table["write"]["provisioned"], 2);
    assert_eq!(table["billing_mode"], "PROVISIONED");

    // UpdateTable: on demand, the table takes whatever comes.
    patient
        .update_table()
        .table_name("slow")
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    for i in 0..40 {
        strict
            .put_item()
            .table_name("slow")
            .item("pk", s(&format!("burst-{i}")))
            .item("g", s("y"))
            .send()
            .await
            .unwrap();
    }
    // And the other way: a table made provisioned is throttled at its new capacity.
    patient
        .update_table()
        .table_name("free")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(1)
                .write_capacity_units(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (ok, _) = put_until_throttled(&strict, "free", false).await;
    assert!(
        (1..=3).contains(&ok),
        "{ok} writes before the first throttle"
    );
}

#[test]
fn autoscaling_boto3_scales_a_table_and_its_index_under_load() {
    if !crate::have_boto3("autoscaling_boto3_scales_a_table_and_its_index_under_load") {
        return;
    }
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(
                r#"
[server]
dynamodb_burst_secs = 1
autoscaling_window_ms = 500

[[tables]]
name = "load"
partition_key = { name = "pk", type = "S" }
capacity = { read = 5, write = 5 }

[[tables.global_indexes]]
name = "by_g"
partition_key = { name = "g", type = "S" }
capacity = { read = 5, write = 5 }

[[tables]]
name = "auto"
partition_key = { name = "pk", type = "S" }
autoscaling = { min = 2, max = 40, target_utilization = 60 }

[[tables]]
name = "ondemand"
partition_key = { name = "pk", type = "S" }
"#
                .into(),
            ),
            ..Options::default()
        },
    );
    crate::run_boto3(
        "autoscaling_boto3.py",
        &nuvem.api_url,
        "boto3 autoscaling: ok",
    );
}

/// Lambda provisioned concurrency under Application Auto Scaling, through boto3: a target on
/// an alias, target tracking on its utilization, scale out under load and back in after.
#[test]
fn autoscaling_boto3_scales_provisioned_concurrency_of_an_alias() {
    if !crate::have_boto3("autoscaling_boto3_scales_provisioned_concurrency_of_an_alias") {
        return;
    }
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some("[server]\nautoscaling_window_ms = 500\n".into()),
            ..Options::default()
        },
    );
    crate::run_boto3(
        "lambda_autoscaling_boto3.py",
        &nuvem.api_url,
        "boto3 lambda autoscaling: ok",
    );
}

/// A manifest function with `provisioned_concurrency`: `up` publishes a version, points the
/// `live` alias at it and keeps that many environments initialised there (SAM's
/// `AutoPublishAlias` with `ProvisionedConcurrencyConfig`); a route names `fn:live`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_provisioned_concurrency_on_an_auto_published_alias() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("app.py"),
        "import os\ndef handler(event, context):\n    return {'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'], 'init': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']}\n",
    )
    .unwrap();
    let manifest = format!(
        "[[functions]]\nname = \"warm\"\nruntime = \"python3.12\"\nhandler = \"app.handler\"\ncode = {:?}\nprovisioned_concurrency = 2\n",
        src.path().display().to_string()
    );
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Options::default()
        },
    );
    let lambda = nuvem.lambda();
    let alias = lambda
        .get_alias()
        .function_name("warm")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(alias.function_version(), Some("1"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let pc = lambda
            .get_provisioned_concurrency_config()
            .function_name("warm")
            .qualifier("live")
            .send()
            .await
            .unwrap();
        assert_eq!(pc.requested_provisioned_concurrent_executions(), Some(2));
        if pc.status().map(|s| s.as_str()) == Some("READY") {
            assert_eq!(pc.available_provisioned_concurrent_executions(), Some(2));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "provisioned concurrency never became READY: {pc:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let out = lambda
        .invoke()
        .function_name("warm")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(out.executed_version(), Some("1"));
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"version": "1", "init": "provisioned-concurrency"})
    );
}
