//! Asynchronous invocation configuration end to end with aws-sdk-lambda: retries as
//! configured (counted by the function itself in a table), and Lambda's invocation records
//! delivered to destination functions on success and on failure, as a destination function
//! written with boto3 receives them.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    DestinationConfig, FunctionCode, InvocationType, OnFailure, OnSuccess, Runtime,
};
use nuvem_testkit::Nuvem;
use serde_json::{Value, json};

use super::functions::zip_of;

/// Counts its runs in `records` (`runs-<tag>`), then fails when asked to.
const WORKER: &str = r#"import boto3
ddb = boto3.client("dynamodb")

def handler(event, context):
    ddb.update_item(
        TableName="records",
        Key={"id": {"S": "runs-" + event["tag"]}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    if event.get("fail"):
        raise ValueError("boom " + event["tag"])
    return {"ok": event["tag"]}
"#;

/// Stores each invocation record it receives under `<condition>-<tag>`.
const SINK: &str = r#"import json
import boto3
ddb = boto3.client("dynamodb")

def handler(event, context):
    key = event["requestContext"]["condition"] + "-" + event["requestPayload"]["tag"]
    ddb.put_item(TableName="records", Item={"id": {"S": key}, "record": {"S": json.dumps(event)}})
"#;

async fn create(c: &aws_sdk_lambda::Client, name: &str, code: &str) -> String {
    c.create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of(&[("app.py", code)])))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .function_arn
        .unwrap()
}

/// Waits (at most 30 s) for item `id` of `records`.
async fn item(
    ddb: &aws_sdk_dynamodb::Client,
    id: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    for _ in 0..300 {
        let got = ddb
            .get_item()
            .table_name("records")
            .key("id", AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        if let Some(item) = got.item {
            return item;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no item {id}");
}

fn record(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    serde_json::from_str(item["record"].as_s().unwrap()).unwrap()
}

async fn invoke_async(c: &aws_sdk_lambda::Client, name: &str, event: Value) {
    let out = c
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_destinations_follow_the_event_invoke_config() {
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let ddb = n.dynamodb();
    crate::id_table(&ddb, "records").await;
    let c = n.lambda();
    let worker_arn = create(&c, "worker", WORKER).await;
    let sink = create(&c, "sink", SINK).await;

    // No configuration yet: Get is not found, List is empty.
    let err = c
        .get_function_event_invoke_config()
        .function_name("worker")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err:?}");
    let listed = c
        .list_function_event_invoke_configs()
        .function_name("worker")
        .send()
        .await
        .unwrap();
    assert!(listed.function_event_invoke_configs().is_empty());

    // Refusals: out of range, a destination of a service nuvem does not have.
    let err = c
        .put_function_event_invoke_config()
        .function_name("worker")
        .maximum_retry_attempts(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let err = c
        .put_function_event_invoke_config()
        .function_name("worker")
        .destination_config(
            DestinationConfig::builder()
                .on_failure(
                    OnFailure::builder()
                        .destination("arn:aws:sqs:us-east-1:000000000000:dlq")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("InvalidParameterValueException"),
        "{err:?}"
    );

    // One retry, records to the sink both ways.
    let put = c
        .put_function_event_invoke_config()
        .function_name("worker")
        .maximum_retry_attempts(1)
        .destination_config(
            DestinationConfig::builder()
                .on_failure(OnFailure::builder().destination(&sink).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.maximum_retry_attempts, Some(1));
    assert_eq!(
        put.function_arn(),
        Some(format!("{worker_arn}:$LATEST").as_str())
    );
    let updated = c
        .update_function_event_invoke_config()
        .function_name("worker")
        .destination_config(
            DestinationConfig::builder()
                .on_success(OnSuccess::builder().destination(&sink).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.maximum_retry_attempts,
        Some(1),
        "Update keeps the rest"
    );
    let dest = updated.destination_config().unwrap();
    assert_eq!(
        dest.on_failure().unwrap().destination(),
        Some(sink.as_str())
    );
    assert_eq!(
        dest.on_success().unwrap().destination(),
        Some(sink.as_str())
    );

    invoke_async(&c, "worker", json!({"tag": "bad", "fail": true})).await;
    invoke_async(&c, "worker", json!({"tag": "good"})).await;

    let failed = record(&item(&ddb, "RetriesExhausted-bad").await);
    assert_eq!(failed["version"], "1.0");
    assert_eq!(
        failed["requestContext"]["functionArn"],
        format!("{worker_arn}:$LATEST")
    );
    assert_eq!(failed["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(
        failed["requestPayload"],
        json!({"tag": "bad", "fail": true})
    );
    assert_eq!(failed["responseContext"]["functionError"], "Unhandled");
    assert_eq!(failed["responsePayload"]["errorMessage"], "boom bad");
    let runs = item(&ddb, "runs-bad").await;
    assert_eq!(
        runs["n"].as_n().unwrap(),
        "2",
        "the first run and one retry"
    );

    let succeeded = record(&item(&ddb, "Success-good").await);
    assert_eq!(succeeded["responsePayload"], json!({"ok": "good"}));
    assert_eq!(succeeded["responseContext"]["statusCode"], 200);
    assert!(succeeded["responseContext"].get("functionError").is_none());

    // No retries at all.
    c.put_function_event_invoke_config()
        .function_name("worker")
        .maximum_retry_attempts(0)
        .destination_config(
            DestinationConfig::builder()
                .on_failure(OnFailure::builder().destination(&sink).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    invoke_async(&c, "worker", json!({"tag": "once", "fail": true})).await;
    let once = record(&item(&ddb, "RetriesExhausted-once").await);
    assert_eq!(once["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(item(&ddb, "runs-once").await["n"].as_n().unwrap(), "1");

    let listed = c
        .list_function_event_invoke_configs()
        .function_name("worker")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.function_event_invoke_configs().len(), 1);
    c.delete_function_event_invoke_config()
        .function_name("worker")
        .send()
        .await
        .unwrap();
    let err = c
        .get_function_event_invoke_config()
        .function_name("worker")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err:?}");
}
