//! A table's stream triggering a function (Lambda event source mappings) end to end, with
//! aws-sdk-lambda and aws-sdk-dynamodb: a Python function that records every record it gets
//! into another table, a mapping from LATEST with a filter, a poisoned record given up on after
//! its retry (bisected out of its batch, so its neighbours are delivered), in-order delivery,
//! disabling (the position is kept) and deleting the mapping.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{EventSourcePosition, Filter, FilterCriteria, FunctionCode, Runtime};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

const HANDLER: &str = r#"import boto3

ddb = boto3.client("dynamodb")

def handler(event, context):
    keys = [r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]]
    if any(k.startswith("poison") for k in keys):
        raise Exception("poisoned batch: " + ",".join(keys))
    for r in event["Records"]:
        ddb.put_item(TableName="Seen", Item={
            "seq": {"S": r["dynamodb"]["SequenceNumber"]},
            "key": {"S": r["dynamodb"]["Keys"]["id"]["S"]},
            "name": {"S": r["eventName"]},
            "source": {"S": r["eventSource"]},
            "arn": {"S": r["eventSourceARN"]},
            "image": {"S": r["dynamodb"].get("NewImage", {}).get("v", {}).get("S", "")},
        })
"#;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub(super) async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    key: &str,
    stream: bool,
) {
    let mut req = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    if stream {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

/// What the function recorded, in stream order: `(key, eventName, image)`.
async fn seen(ddb: &aws_sdk_dynamodb::Client) -> Vec<(String, String, String)> {
    let items = ddb
        .scan()
        .table_name("Seen")
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let text = |i: &std::collections::HashMap<String, AttributeValue>, k: &str| {
        i.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let by_seq: BTreeMap<String, (String, String, String)> = items
        .iter()
        .map(|i| {
            (
                text(i, "seq"),
                (text(i, "key"), text(i, "name"), text(i, "image")),
            )
        })
        .collect();
    by_seq.into_values().collect()
}

async fn wait_for_seen(
    ddb: &aws_sdk_dynamodb::Client,
    expected: &[(&str, &str, &str)],
) -> Vec<(String, String, String)> {
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let got = seen(ddb).await;
        if got == expected || Instant::now() > deadline {
            assert_eq!(got, expected);
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_stream_triggers_a_function() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    let lambda = nuvem.lambda();
    create_table(&ddb, "Orders", "id", true).await;
    create_table(&ddb, "Seen", "seq", false).await;
    let stream_arn = ddb
        .describe_table()
        .table_name("Orders")
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.latest_stream_arn())
        .unwrap()
        .to_owned();
    lambda
        .create_function()
        .function_name("recorder")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .timeout(30)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(crate::functions::zip_of(&[("app.py", HANDLER)])))
                .build(),
        )
        .send()
        .await
        .unwrap();

    // Written before the mapping: LATEST does not deliver it.
    ddb.put_item()
        .table_name("Orders")
        .item("id", s("before"))
        .item("v", s("0"))
        .send()
        .await
        .unwrap();
    let created = lambda
        .create_event_source_mapping()
        .function_name("recorder")
        .event_source_arn(&stream_arn)
        .starting_position(EventSourcePosition::Latest)
        .batch_size(10)
        .maximum_retry_attempts(1)
        .bisect_batch_on_function_error(true)
        .filter_criteria(
            FilterCriteria::builder()
                .filters(
                    Filter::builder()
                        .pattern(r#"{"eventName": ["INSERT", "MODIFY"]}"#)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let uuid = created.uuid().unwrap().to_owned();
    assert_eq!(created.state(), Some("Creating"));
    assert_eq!(created.batch_size(), Some(10));
    assert_eq!(created.event_source_arn(), Some(stream_arn.as_str()));
    assert_eq!(
        created.function_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:recorder")
    );
    let again = lambda
        .create_event_source_mapping()
        .function_name("recorder")
        .event_source_arn(&stream_arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&again),
        Some("ResourceConflictException")
    );
    // Lambda's errors for what it refuses.
    let code = |e: &dyn aws_sdk_lambda::error::ProvideErrorMetadata| e.code().map(str::to_owned);
    let not_a_stream = lambda
        .create_event_source_mapping()
        .function_name("recorder")
        .event_source_arn("arn:aws:sqs:us-east-1:000000000000:queue")
        .starting_position(EventSourcePosition::Latest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&not_a_stream).as_deref(),
        Some("InvalidParameterValueException")
    );
    let no_position = lambda
        .create_event_source_mapping()
        .function_name("recorder")
        .event_source_arn(&stream_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&no_position).as_deref(),
        Some("InvalidParameterValueException")
    );
    let no_function = lambda
        .create_event_source_mapping()
        .function_name("nope")
        .event_source_arn(&stream_arn)
        .starting_position(EventSourcePosition::Latest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&no_function).as_deref(),
        Some("ResourceNotFoundException")
    );
    let bad_size = lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .batch_size(0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&bad_size).as_deref(),
        Some("InvalidParameterValueException")
    );
    let listed = lambda
        .list_event_source_mappings()
        .function_name("recorder")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.event_source_mappings().len(), 1);
    let got = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(got.state(), Some("Enabled"));

    for (id, v) in [("a1", "1"), ("a2", "2")] {
        ddb.put_item()
            .table_name("Orders")
            .item("id", s(id))
            .item("v", s(v))
            .send()
            .await
            .unwrap();
    }
    ddb.update_item()
        .table_name("Orders")
        .key("id", s("a1"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", s("1b"))
        .send()
        .await
        .unwrap();
    // A REMOVE: filtered out.
    ddb.delete_item()
        .table_name("Orders")
        .key("id", s("a2"))
        .send()
        .await
        .unwrap();
    // The function fails every batch holding it: bisected out, retried once, given up on.
    ddb.put_item()
        .table_name("Orders")
        .item("id", s("poison1"))
        .item("v", s("x"))
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name("Orders")
        .item("id", s("after"))
        .item("v", s("3"))
        .send()
        .await
        .unwrap();
    wait_for_seen(
        &ddb,
        &[
            ("a1", "INSERT", "1"),
            ("a2", "INSERT", "2"),
            ("a1", "MODIFY", "1b"),
            ("after", "INSERT", "3"),
        ],
    )
    .await;
    let items = ddb
        .scan()
        .table_name("Seen")
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert!(items.iter().all(|i| {
        i.get("source") == Some(&s("aws:dynamodb")) && i.get("arn") == Some(&s(&stream_arn))
    }));

    // Disabled: nothing is delivered; enabled again, it goes on from where it stood.
    let updated = lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(false)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.state(), Some("Updating"));
    let got = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(got.state(), Some("Disabled"));
    // Let a poller that was between two reads notice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    ddb.put_item()
        .table_name("Orders")
        .item("id", s("while-off"))
        .item("v", s("4"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        seen(&ddb).await.len(),
        4,
        "nothing delivered while disabled"
    );
    lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(true)
        .send()
        .await
        .unwrap();
    wait_for_seen(
        &ddb,
        &[
            ("a1", "INSERT", "1"),
            ("a2", "INSERT", "2"),
            ("a1", "MODIFY", "1b"),
            ("after", "INSERT", "3"),
            ("while-off", "INSERT", "4"),
        ],
    )
    .await;

    let deleted = lambda
        .delete_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.state(), Some("Deleting"));
    let gone = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&gone),
        Some("ResourceNotFoundException")
    );
}

/// The manifest declares a table's stream and a function it triggers (with a filter): `up`
/// creates the mapping, a second `up` keeps it (no duplicate), and the function gets the
/// matching records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_stream_trigger() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("app.py"), HANDLER).unwrap();
    let manifest = format!(
        "[[tables]]\nname = \"Orders\"\npartition_key = {{ name = \"id\", type = \"S\" }}\n\
         stream = \"NEW_IMAGE\"\n\n\
         [[tables]]\nname = \"Seen\"\npartition_key = {{ name = \"seq\", type = \"S\" }}\n\n\
         [[functions]]\nname = \"recorder\"\nruntime = \"python3.12\"\nhandler = \"app.handler\"\n\
         code = {:?}\ntimeout_seconds = 30\n\
         [[functions.stream_triggers]]\ntable = \"Orders\"\nbatch_size = 5\n\
         filters = ['{{\"dynamodb\": {{\"NewImage\": {{\"v\": {{\"S\": [{{\"prefix\": \"keep\"}}]}}}}}}}}']\n",
        src.path().display().to_string()
    );
    let mut nuvem = Nuvem::start_with(
        BIN,
        nuvem_testkit::Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let lambda = nuvem.lambda();
    let count = |l: aws_sdk_lambda::Client| async move {
        l.list_event_source_mappings()
            .function_name("recorder")
            .send()
            .await
            .unwrap()
            .event_source_mappings()
            .len()
    };
    assert_eq!(count(lambda.clone()).await, 1);
    nuvem.restart();
    assert_eq!(
        count(nuvem.lambda()).await,
        1,
        "a second up keeps the one mapping"
    );
    let ddb = nuvem.dynamodb();
    for (id, v) in [("x1", "keep-1"), ("x2", "drop"), ("x3", "keep-3")] {
        ddb.put_item()
            .table_name("Orders")
            .item("id", s(id))
            .item("v", s(v))
            .send()
            .await
            .unwrap();
    }
    wait_for_seen(
        &ddb,
        &[("x1", "INSERT", "keep-1"), ("x3", "INSERT", "keep-3")],
    )
    .await;
}

const RAW_HANDLER: &str = r#"import json
import boto3

ddb = boto3.client("dynamodb")

def handler(event, context):
    first = event["Records"][0]["dynamodb"]["SequenceNumber"]
    ddb.put_item(TableName="Raw", Item={"seq": {"S": first}, "event": {"S": json.dumps(event)}})
"#;

/// The events a stream-triggered function receives parse as Lambda's own Rust types
/// (`aws_lambda_events::dynamodb::Event`), in order, with the TTL sweep's deletion as a
/// service REMOVE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_parse_as_lambda_events() {
    use aws_lambda_events::event::dynamodb::Event;
    let nuvem = Nuvem::start_with(
        BIN,
        nuvem_testkit::Options {
            manifest: Some("[server]\nttl_sweep_ms = 200\n".into()),
            ..Default::default()
        },
    );
    let ddb = nuvem.dynamodb();
    let lambda = nuvem.lambda();
    create_table(&ddb, "Orders", "id", true).await;
    create_table(&ddb, "Raw", "seq", false).await;
    ddb.update_time_to_live()
        .table_name("Orders")
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name("expires")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let stream_arn = ddb
        .describe_table()
        .table_name("Orders")
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.latest_stream_arn())
        .unwrap()
        .to_owned();
    lambda
        .create_function()
        .function_name("raw")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .timeout(30)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(crate::functions::zip_of(&[(
                    "app.py",
                    RAW_HANDLER,
                )])))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ddb.put_item()
        .table_name("Orders")
        .item("id", s("a"))
        .item("v", s("1"))
        .send()
        .await
        .unwrap();
    ddb.update_item()
        .table_name("Orders")
        .key("id", s("a"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", s("2"))
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name("Orders")
        .item("id", s("old"))
        .item("expires", AttributeValue::N((now - 60).to_string()))
        .send()
        .await
        .unwrap();
    // From the start of the stream: every change so far, then the sweep's deletion.
    lambda
        .create_event_source_mapping()
        .function_name("raw")
        .event_source_arn(&stream_arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(100)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    let records = loop {
        let items = ddb
            .scan()
            .table_name("Raw")
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        let mut events: BTreeMap<String, Event> = BTreeMap::new();
        for i in &items {
            let text = i["event"].as_s().unwrap();
            let event: Event = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("not a Lambda DynamoDB event: {e}: {text}"));
            events.insert(i["seq"].as_s().unwrap().clone(), event);
        }
        let records: Vec<_> = events.into_values().flat_map(|e| e.records).collect();
        if records.len() >= 4 || Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let names: Vec<(&str, String)> = records
        .iter()
        .map(|r| {
            // serde_dynamo's Item serializes as DynamoDB JSON.
            let keys = serde_json::to_value(&r.change.keys).unwrap();
            (
                r.event_name.as_str(),
                keys["id"]["S"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("INSERT", "a".to_owned()),
            ("MODIFY", "a".to_owned()),
            ("INSERT", "old".to_owned()),
            ("REMOVE", "old".to_owned()),
        ]
    );
    for r in &records {
        assert_eq!(r.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(r.event_source_arn.as_deref(), Some(stream_arn.as_str()));
        assert_eq!(r.aws_region, "us-east-1");
        assert!(r.change.size_bytes > 0);
        assert!((r.change.approximate_creation_date_time.timestamp() - now as i64).abs() < 120);
    }
    let modify = &records[1].change;
    let old = serde_json::to_value(&modify.old_image).unwrap();
    let new = serde_json::to_value(&modify.new_image).unwrap();
    assert_eq!(
        (old["v"]["S"].as_str(), new["v"]["S"].as_str()),
        (Some("1"), Some("2"))
    );
    let identity = records[3]
        .user_identity
        .as_ref()
        .expect("a TTL deletion's identity");
    assert_eq!(
        (identity.type_.as_str(), identity.principal_id.as_str()),
        ("Service", "dynamodb.amazonaws.com")
    );
    assert!(records[0].user_identity.is_none());
}
