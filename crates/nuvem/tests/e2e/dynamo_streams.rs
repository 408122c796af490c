//! DynamoDB Streams and Time to Live end to end, with aws-sdk-dynamodb and
//! aws-sdk-dynamodbstreams against the real binary: a table created with a stream, TTL
//! enabled, writes of every kind, then a stream consumer (ListStreams, DescribeStream,
//! GetShardIterator, GetRecords) that sees each change in order, including the background
//! sweep's deletion of the expired item as a service REMOVE (`[server] ttl_sweep_ms` short).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_dynamodbstreams::error::ProvideErrorMetadata;
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn epoch_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `(eventName, id)` of stream records.
fn events(records: &[Record]) -> Vec<(OperationType, String)> {
    records
        .iter()
        .map(|r| {
            let keys = r.dynamodb().and_then(|d| d.keys()).unwrap();
            let id = match keys.get("id") {
                Some(aws_sdk_dynamodbstreams::types::AttributeValue::S(v)) => v.clone(),
                other => panic!("key id: {other:?}"),
            };
            (r.event_name().unwrap().clone(), id)
        })
        .collect()
}

#[tokio::test]
async fn dynamo_streams_and_ttl() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some("[server]\nttl_sweep_ms = 200\n".into()),
            ..Options::default()
        },
    );
    let ddb = nuvem.dynamodb();
    let streams = nuvem.dynamodbstreams();
    let created = ddb
        .create_table()
        .table_name("Sessions")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let table = created.table_description().unwrap();
    let stream_arn = table.latest_stream_arn().unwrap().to_owned();
    assert_eq!(
        table
            .stream_specification()
            .and_then(|s| s.stream_view_type()),
        Some(&StreamViewType::NewAndOldImages)
    );

    let ttl = ddb
        .update_time_to_live()
        .table_name("Sessions")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_specification().map(|s| s.attribute_name()),
        Some("expires")
    );
    let described = ddb
        .describe_time_to_live()
        .table_name("Sessions")
        .send()
        .await
        .unwrap();
    let d = described.time_to_live_description().unwrap();
    assert_eq!(d.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(d.attribute_name(), Some("expires"));
    let again = ddb
        .update_time_to_live()
        .table_name("Sessions")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::message(&again),
        Some("TimeToLive is already enabled")
    );

    // A consumer that starts at the end sees only what follows.
    let listed = streams
        .list_streams()
        .table_name("Sessions")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.streams().len(), 1);
    assert_eq!(listed.streams()[0].stream_arn(), Some(stream_arn.as_str()));
    let description = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    let description = description.stream_description().unwrap();
    assert_eq!(description.table_name(), Some("Sessions"));
    let shard = description.shards()[0].shard_id().unwrap().to_owned();
    let latest = streams
        .get_shard_iterator()
        .stream_arn(&stream_arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::Latest)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_owned();

    let now = epoch_secs();
    ddb.put_item()
        .table_name("Sessions")
        .item("id", s("keep"))
        .item("expires", AttributeValue::N((now + 3600).to_string()))
        .send()
        .await
        .unwrap();
    ddb.update_item()
        .table_name("Sessions")
        .key("id", s("keep"))
        .update_expression("SET note = :n")
        .expression_attribute_values(":n", s("hello"))
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name("Sessions")
        .item("id", s("gone"))
        .item("note", s("bye"))
        .send()
        .await
        .unwrap();
    ddb.delete_item()
        .table_name("Sessions")
        .key("id", s("gone"))
        .send()
        .await
        .unwrap();
    // Expired a minute ago: the sweep (every 200 ms here) deletes it.
    ddb.put_item()
        .table_name("Sessions")
        .item("id", s("expired"))
        .item("expires", AttributeValue::N((now - 60).to_string()))
        .send()
        .await
        .unwrap();

    let mut records: Vec<Record> = Vec::new();
    let mut iterator = Some(latest);
    let deadline = Instant::now() + Duration::from_secs(20);
    while records.len() < 6 {
        assert!(
            Instant::now() < deadline,
            "the TTL deletion never reached the stream: {:?}",
            events(&records)
        );
        let page = streams
            .get_records()
            .shard_iterator(iterator.take().expect("an open shard has a next iterator"))
            .limit(3)
            .send()
            .await
            .unwrap();
        if page.records().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        records.extend(page.records().iter().cloned());
        iterator = page.next_shard_iterator().map(str::to_owned);
    }
    let ev = |op: OperationType, id: &str| (op, id.to_owned());
    assert_eq!(
        events(&records),
        [
            ev(OperationType::Insert, "keep"),
            ev(OperationType::Modify, "keep"),
            ev(OperationType::Insert, "gone"),
            ev(OperationType::Remove, "gone"),
            ev(OperationType::Insert, "expired"),
            ev(OperationType::Remove, "expired"),
        ]
    );
    // Only the TTL deletion is the service's.
    let services: Vec<Option<&str>> = records
        .iter()
        .map(|r| r.user_identity().and_then(|u| u.principal_id()))
        .collect();
    assert_eq!(
        services,
        [None, None, None, None, None, Some("dynamodb.amazonaws.com")]
    );
    assert_eq!(
        records[5].user_identity().and_then(|u| u.r#type()),
        Some("Service")
    );
    let modify = records[1].dynamodb().unwrap();
    assert!(modify.old_image().unwrap().get("note").is_none());
    assert!(modify.new_image().unwrap().get("note").is_some());
    assert_eq!(records[0].event_source(), Some("aws:dynamodb"));
    assert_eq!(records[0].event_version(), Some("1.1"));
    assert_eq!(records[0].aws_region(), Some("us-east-1"));
    let created_at = modify.approximate_creation_date_time().unwrap().secs();
    assert!((created_at - now).abs() < 60, "{created_at} vs {now}");
    let seqs: Vec<&str> = records
        .iter()
        .map(|r| r.dynamodb().unwrap().sequence_number().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // The expired item is gone from the table; the other stays.
    let got = ddb
        .get_item()
        .table_name("Sessions")
        .key("id", s("expired"))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_none());

    // AT_SEQUENCE_NUMBER replays from a record on.
    let replay = streams
        .get_shard_iterator()
        .stream_arn(&stream_arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(seqs[4])
        .send()
        .await
        .unwrap();
    let page = streams
        .get_records()
        .shard_iterator(replay.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(events(page.records()), events(&records[4..]));

    // Errors reach the SDK with AWS's codes.
    let err = streams
        .get_records()
        .shard_iterator("bogus")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let err = streams
        .describe_stream()
        .stream_arn(format!("{stream_arn}0"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception())
    );
}

/// The manifest declares a table's stream and TTL (applied through CreateTable and
/// UpdateTimeToLive, kept as they are on the next `up`), and boto3 consumes the stream.
/// Skips (with a note) when boto3 is not installed; CI installs it.
#[tokio::test]
async fn dynamo_streams_manifest_and_boto3() {
    let mut nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(
                "[server]\nttl_sweep_ms = 200\n\n[[tables]]\nname = \"Events\"\n\
                 partition_key = { name = \"id\", type = \"S\" }\n\
                 stream = \"NEW_IMAGE\"\nttl_attribute = \"expires\"\n"
                    .into(),
            ),
            ..Options::default()
        },
    );
    let arn = |ddb: aws_sdk_dynamodb::Client| async move {
        ddb.describe_table()
            .table_name("Events")
            .send()
            .await
            .unwrap()
            .table()
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_owned)
            .unwrap()
    };
    let before = arn(nuvem.dynamodb()).await;
    // A second `up` keeps the table, its stream (same ARN) and its TTL.
    nuvem.restart();
    assert_eq!(arn(nuvem.dynamodb()).await, before);
    if !crate::have_boto3("dynamo_streams_manifest_and_boto3") {
        return;
    }
    let url = nuvem.api_url.clone();
    tokio::task::spawn_blocking(move || {
        crate::run_boto3("dynamo_streams.py", &url, "boto3 streams: ok")
    })
    .await
    .unwrap();
}
