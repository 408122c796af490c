//! Event source mappings on DynamoDB streams in depth, end to end with aws-sdk-lambda,
//! aws-sdk-dynamodb and aws-sdk-s3 and real Python functions: `ReportBatchItemFailures`
//! (a partial failure retried from the lowest failed record, a malformed response failing
//! the whole batch), the S3 on-failure destination (Lambda's invocation record under
//! `aws/lambda/<uuid>/<shard>/YYYY/MM/DD/...`), `ParallelizationFactor` (lanes keep each
//! item's records in order, each delivered once), `MaximumRecordAgeInSeconds` (old records
//! discarded to the destination), and Lambda's refusals (SQS/SNS destinations, ranges,
//! tumbling windows, a role that may not write the bucket).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    DestinationConfig, EventSourcePosition, FunctionCode, FunctionResponseType, OnFailure, Runtime,
};
use nuvem_testkit::Nuvem;
use serde_json::Value;

use super::dynamo_triggers::create_table;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// Records every call (`Calls`: first sequence number and request id → keys); reports the
/// first delivery of each `once*` record as a batch item failure (remembered in `Tried`),
/// and answers a batch holding a `bad*` record with a malformed response.
const PARTIAL: &str = r#"import boto3

ddb = boto3.client("dynamodb")

def handler(event, context):
    records = event["Records"]
    keys = [r["dynamodb"]["Keys"]["id"]["S"] for r in records]
    ddb.put_item(TableName="Calls", Item={
        "at": {"S": records[0]["dynamodb"]["SequenceNumber"] + "-" + context.aws_request_id},
        "keys": {"S": ",".join(keys)}})
    if any(k.startswith("bad") for k in keys):
        return {"batchItemFailures": [{"itemIdentifier": ""}]}
    failures = []
    for r in records:
        k = r["dynamodb"]["Keys"]["id"]["S"]
        if k.startswith("once"):
            try:
                ddb.put_item(TableName="Tried", Item={"id": {"S": k}},
                             ConditionExpression="attribute_not_exists(id)")
                failures.append({"itemIdentifier": r["dynamodb"]["SequenceNumber"]})
            except ddb.exceptions.ConditionalCheckFailedException:
                pass
    return {"batchItemFailures": failures}
"#;

/// Appends each record's `n` to its item's list in `LaneLog`, in delivery order.
const LANES: &str = r#"import boto3

ddb = boto3.client("dynamodb")

def handler(event, context):
    for r in event["Records"]:
        ddb.update_item(TableName="LaneLog", Key={"id": r["dynamodb"]["Keys"]["id"]},
            UpdateExpression="SET seen = list_append(if_not_exists(seen, :e), :v)",
            ExpressionAttributeValues={":e": {"L": []},
                                       ":v": {"L": [r["dynamodb"]["NewImage"]["n"]]}})
"#;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

async fn stream_arn(ddb: &aws_sdk_dynamodb::Client, table: &str) -> String {
    ddb.describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.latest_stream_arn())
        .unwrap()
        .to_owned()
}

async fn create_function(lambda: &aws_sdk_lambda::Client, name: &str, code: &str, role: &str) {
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role(role)
        .timeout(30)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(crate::functions::zip_of(&[("app.py", code)])))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The calls `PARTIAL` recorded, in stream order of their first record: the keys of each.
async fn calls(ddb: &aws_sdk_dynamodb::Client) -> Vec<String> {
    let mut items: Vec<(String, String)> = ddb
        .scan()
        .table_name("Calls")
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let text = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap();
            (text("at"), text("keys"))
        })
        .collect();
    items.sort();
    items.into_iter().map(|(_, keys)| keys).collect()
}

async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The on-failure records under `prefix` in bucket `failures`: `(key, JSON)`.
async fn failure_objects(s3: &aws_sdk_s3::Client, prefix: &str) -> Vec<(String, Value)> {
    let listed = s3
        .list_objects_v2()
        .bucket("failures")
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for o in listed.contents() {
        let key = o.key().unwrap().to_owned();
        let body = s3
            .get_object()
            .bucket("failures")
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        out.push((key, serde_json::from_slice(&body).unwrap()));
    }
    out
}

/// Checks an on-failure object's key layout and record shape.
fn check_failure(key: &str, record: &Value, uuid: &str, shard: &str, stream: &str, keys: &[&str]) {
    let rest = key
        .strip_prefix(&format!("aws/lambda/{uuid}/{shard}/"))
        .unwrap_or_else(|| panic!("{key} is not under aws/lambda/{uuid}/{shard}/"));
    // YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>
    let (date, name) = rest.split_at(11);
    assert_eq!(&name[..10], date[..10].replace('/', "-"), "{key}");
    assert_eq!(&name[10..11], "T", "{key}");
    assert_eq!(name.as_bytes()[13], b'.', "{key}");
    assert_eq!(name.len(), 19 + 1 + 36, "{key}");
    let info = &record["DDBStreamBatchInfo"];
    assert_eq!(info["shardId"], shard);
    assert_eq!(info["streamArn"], stream);
    assert_eq!(info["batchSize"], keys.len());
    assert!(
        info["startSequenceNumber"].as_str().unwrap()
            <= info["endSequenceNumber"].as_str().unwrap()
    );
    assert_eq!(record["version"], "1.0");
    assert!(
        record["requestContext"]["functionArn"]
            .as_str()
            .unwrap()
            .contains(":function:")
    );
    let payload: Value = serde_json::from_str(record["payload"].as_str().unwrap()).unwrap();
    let got: Vec<&str> = payload["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dynamodb"]["Keys"]["id"]["S"].as_str().unwrap())
        .collect();
    assert_eq!(got, keys);
}

fn code(e: &dyn aws_sdk_lambda::error::ProvideErrorMetadata) -> (String, String) {
    (
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mappings_partial_failures_destinations_and_lanes() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    let lambda = nuvem.lambda();
    let s3 = nuvem.s3();
    let streams = nuvem.dynamodbstreams();
    for (name, key, stream) in [
        ("Orders", "id", true),
        ("Lanes", "id", true),
        ("Aged", "id", true),
        ("Calls", "at", false),
        ("Tried", "id", false),
        ("LaneLog", "id", false),
    ] {
        create_table(&ddb, name, key, stream).await;
    }
    // Records that will be more than a minute old when their mapping starts.
    for id in ["old1", "old2"] {
        ddb.put_item()
            .table_name("Aged")
            .item("id", s(id))
            .item("n", AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
    }
    let aged_written = Instant::now();
    s3.create_bucket().bucket("failures").send().await.unwrap();
    let role = "arn:aws:iam::000000000000:role/lambda";
    create_function(&lambda, "partial", PARTIAL, role).await;
    create_function(&lambda, "laner", LANES, role).await;
    let orders = stream_arn(&ddb, "Orders").await;
    let bucket = "arn:aws:s3:::failures";
    let on_failure = |arn: &str| {
        DestinationConfig::builder()
            .on_failure(OnFailure::builder().destination(arn).build())
            .build()
    };

    // Lambda's refusals.
    let create = || {
        lambda
            .create_event_source_mapping()
            .function_name("partial")
            .event_source_arn(&orders)
            .starting_position(EventSourcePosition::TrimHorizon)
    };
    let refusals = [
        (
            create().destination_config(on_failure("arn:aws:sqs:us-east-1:000000000000:dlq")),
            "Amazon S3 bucket",
        ),
        (
            create().destination_config(on_failure("arn:aws:sns:us-east-1:000000000000:topic")),
            "Amazon S3 bucket",
        ),
        (
            create().destination_config(on_failure("arn:aws:s3:::no-such-bucket")),
            "does not exist",
        ),
        (create().parallelization_factor(11), "parallelizationFactor"),
        (
            create().maximum_record_age_in_seconds(30),
            "between 60 and 604800",
        ),
        (
            create().maximum_record_age_in_seconds(604_801),
            "maximumRecordAgeInSeconds",
        ),
        (
            create().tumbling_window_in_seconds(60),
            "TumblingWindowInSeconds is not supported",
        ),
    ];
    for (request, needle) in refusals {
        let err = request.send().await.unwrap_err();
        let (c, message) = code(&err);
        assert_eq!(c, "InvalidParameterValueException", "{message}");
        assert!(message.contains(needle), "{message} lacks {needle}");
    }

    // A batch of four in one transaction, then the mapping: one partial failure.
    let writes: Vec<WriteRequest> = ["k1", "k2", "once1", "k4"]
        .iter()
        .map(|id| {
            let item = [("id".to_owned(), s(id))].into_iter().collect();
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    ddb.batch_write_item()
        .request_items("Orders", writes)
        .send()
        .await
        .unwrap();
    let created = create()
        .batch_size(10)
        .maximum_retry_attempts(1)
        .function_response_types(FunctionResponseType::ReportBatchItemFailures)
        .destination_config(on_failure(bucket))
        .send()
        .await
        .unwrap();
    let uuid = created.uuid().unwrap().to_owned();
    assert_eq!(
        created.function_response_types(),
        [FunctionResponseType::ReportBatchItemFailures]
    );
    assert_eq!(
        created
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination()),
        Some(bucket)
    );
    wait_until("the partial failure's retry", || async {
        calls(&ddb).await.len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = calls(&ddb).await;
    let first: Vec<&str> = got[0].split(',').collect();
    assert_eq!(first.len(), 4, "{got:?}");
    let from = first.iter().position(|k| *k == "once1").unwrap();
    assert_eq!(
        got,
        [got[0].clone(), first[from..].join(",")],
        "retried from the failed record on, and only once"
    );

    // A malformed response fails the whole batch: retried once, then to the bucket; the
    // records after it are delivered.
    ddb.put_item()
        .table_name("Orders")
        .item("id", s("bad1"))
        .send()
        .await
        .unwrap();
    wait_until("the failed batch's retry", || async {
        calls(&ddb)
            .await
            .iter()
            .filter(|c| c.contains("bad1"))
            .count()
            >= 2
    })
    .await;
    ddb.put_item()
        .table_name("Orders")
        .item("id", s("after1"))
        .send()
        .await
        .unwrap();
    wait_until("the record after the failed batch", || async {
        calls(&ddb).await.iter().any(|c| c.contains("after1"))
    })
    .await;
    let got = calls(&ddb).await;
    assert_eq!(&got[2..], ["bad1", "bad1", "after1"], "{got:?}");
    let shard = streams
        .describe_stream()
        .stream_arn(&orders)
        .send()
        .await
        .unwrap()
        .stream_description()
        .unwrap()
        .shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let failures = failure_objects(&s3, &format!("aws/lambda/{uuid}/")).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (key, record) = &failures[0];
    check_failure(key, record, &uuid, &shard, &orders, &["bad1"]);
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(record["responseContext"]["statusCode"], 200);
    let got = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(got.maximum_retry_attempts(), Some(1));
    assert_eq!(got.parallelization_factor(), Some(1));

    // Four lanes: every record once, each item's in order.
    for round in 1..=5 {
        for item in 0..8 {
            ddb.put_item()
                .table_name("Lanes")
                .item("id", s(&format!("item{item}")))
                .item("n", AttributeValue::N(round.to_string()))
                .send()
                .await
                .unwrap();
        }
    }
    let lanes = lambda
        .create_event_source_mapping()
        .function_name("laner")
        .event_source_arn(stream_arn(&ddb, "Lanes").await)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(3)
        .parallelization_factor(4)
        .send()
        .await
        .unwrap();
    assert_eq!(lanes.parallelization_factor(), Some(4));
    let logged = || async {
        ddb.scan()
            .table_name("LaneLog")
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                let id = i["id"].as_s().unwrap().clone();
                let seen: Vec<String> = i["seen"]
                    .as_l()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_n().unwrap().clone())
                    .collect();
                (id, seen)
            })
            .collect::<std::collections::BTreeMap<String, Vec<String>>>()
    };
    wait_until("every lane's records", || async {
        logged().await.values().map(Vec::len).sum::<usize>() >= 40
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let log = logged().await;
    assert_eq!(log.len(), 8);
    for (id, seen) in &log {
        assert_eq!(seen, &["1", "2", "3", "4", "5"], "{id}");
    }

    // Records past MaximumRecordAgeInSeconds go to the bucket, not to the function.
    let aged = stream_arn(&ddb, "Aged").await;
    let wait = Duration::from_secs(62).saturating_sub(aged_written.elapsed());
    tokio::time::sleep(wait).await;
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("laner")
        .event_source_arn(&aged)
        .starting_position(EventSourcePosition::TrimHorizon)
        .maximum_record_age_in_seconds(60)
        .destination_config(on_failure(bucket))
        .send()
        .await
        .unwrap();
    let aged_uuid = mapping.uuid().unwrap().to_owned();
    assert_eq!(mapping.maximum_record_age_in_seconds(), Some(60));
    ddb.put_item()
        .table_name("Aged")
        .item("id", s("new1"))
        .item("n", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    wait_until("the fresh record", || async {
        logged().await.contains_key("new1")
    })
    .await;
    let log = logged().await;
    assert!(
        !log.contains_key("old1") && !log.contains_key("old2"),
        "{log:?}"
    );
    let aged_shard = streams
        .describe_stream()
        .stream_arn(&aged)
        .send()
        .await
        .unwrap()
        .stream_description()
        .unwrap()
        .shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let failures = failure_objects(&s3, &format!("aws/lambda/{aged_uuid}/")).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (key, record) = &failures[0];
    check_failure(
        key,
        record,
        &aged_uuid,
        &aged_shard,
        &aged,
        &["old1", "old2"],
    );
    assert_eq!(record["requestContext"]["condition"], "RecordAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
}

/// A function whose IAM role may read the stream but not write the bucket cannot have an
/// S3 on-failure destination; allowed `s3:PutObject`, it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_destination_needs_the_roles_put_object() {
    use super::gateway_permissions::iam;
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    let lambda = nuvem.lambda();
    nuvem
        .s3()
        .create_bucket()
        .bucket("failures")
        .send()
        .await
        .unwrap();
    create_table(&ddb, "Orders", "id", true).await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam(
        &nuvem,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "esm"),
            ("AssumeRolePolicyDocument", trust),
        ],
    )
    .await;
    let read = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:DescribeStream","dynamodb:GetShardIterator","dynamodb:GetRecords","dynamodb:ListStreams"],"Resource":"*"}]}"#;
    iam(
        &nuvem,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "esm"),
            ("PolicyName", "read"),
            ("PolicyDocument", read),
        ],
    )
    .await;
    create_function(&lambda, "fn", LANES, "arn:aws:iam::000000000000:role/esm").await;
    let orders = stream_arn(&ddb, "Orders").await;
    let create = || {
        lambda
            .create_event_source_mapping()
            .function_name("fn")
            .event_source_arn(&orders)
            .starting_position(EventSourcePosition::Latest)
            .destination_config(
                DestinationConfig::builder()
                    .on_failure(
                        OnFailure::builder()
                            .destination("arn:aws:s3:::failures")
                            .build(),
                    )
                    .build(),
            )
    };
    let err = create().send().await.unwrap_err();
    let (c, message) = code(&err);
    assert_eq!(c, "InvalidParameterValueException");
    assert!(
        message.contains("does not have permissions to call PutObject"),
        "{message}"
    );
    let put = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::failures/*"}]}"#;
    iam(
        &nuvem,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "esm"),
            ("PolicyName", "put"),
            ("PolicyDocument", put),
        ],
    )
    .await;
    let created = create().send().await.unwrap();
    assert_eq!(created.state(), Some("Creating"));
}
