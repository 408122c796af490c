//! What streams cost and give (issue 18): GetRecords of 1000-record pages from a table's
//! stream (records read per second), and PutItem on a table with a stream beside one
//! without (the cost of writing the stream record in the item's transaction). Each is a
//! [`load::Op`] over one aws-sdk client. Must not: time anything.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus, WriteRequest,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;

use crate::load;

/// Records in the stream before the GetRecords phases: a few pages' worth.
const RECORDS: u64 = 5000;
/// GetRecords' largest page.
pub const PAGE: i32 = 1000;

/// The table with (`true`) or without a stream.
pub fn table(stream: bool) -> &'static str {
    if stream {
        "nuvem-bench-streamed"
    } else {
        "nuvem-bench-unstreamed"
    }
}

/// A Streams API client for `endpoint` (the credentials the other groups use).
pub fn client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    let conf = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test",
            "test",
            None,
            None,
            "nuvem-bench",
        ))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_dynamodbstreams::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(conf)
}

/// Creates both tables, fills the streamed one with [`RECORDS`] items (one record each),
/// and returns a TRIM_HORIZON shard iterator of its stream (a GetRecords with it reads the
/// first page, every time: iterators are not consumed).
pub async fn prepare(
    ddb: &Client,
    streams: &aws_sdk_dynamodbstreams::Client,
) -> anyhow::Result<String> {
    for stream in [true, false] {
        create_one(ddb, table(stream), stream).await?;
    }
    let requests: Vec<WriteRequest> = (0..RECORDS)
        .map(|i| {
            let put = PutRequest::builder()
                .set_item(Some(item(&format!("seed-{i}"))))
                .build()?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<anyhow::Result<_>>()?;
    for chunk in requests.chunks(25) {
        ddb.batch_write_item()
            .request_items(table(true), chunk.to_vec())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("BatchWriteItem: {}", DisplayErrorContext(&e)))?;
    }
    let arn = ddb
        .describe_table()
        .table_name(table(true))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeTable: {}", DisplayErrorContext(&e)))?
        .table()
        .and_then(|t| t.latest_stream_arn())
        .map(str::to_owned)
        .context("the table has no LatestStreamArn")?;
    let described = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeStream: {}", DisplayErrorContext(&e)))?;
    let shard = described
        .stream_description()
        .and_then(|d| d.shards().first())
        .and_then(|s| s.shard_id())
        .map(str::to_owned)
        .context("the stream has no shard")?;
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetShardIterator: {}", DisplayErrorContext(&e)))?
        .shard_iterator
        .context("no ShardIterator")?;
    Ok(iterator)
}

async fn create_one(client: &Client, name: &str, stream: bool) -> anyhow::Result<()> {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()?,
        );
    if stream {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()?,
        );
    }
    req.send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateTable: {}", DisplayErrorContext(&e)))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("DescribeTable: {}", DisplayErrorContext(&e)))?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("table {name} is not ACTIVE after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An item of about 200 bytes.
fn item(pk: &str) -> std::collections::HashMap<String, AttributeValue> {
    let mut item = std::collections::HashMap::new();
    item.insert("pk".into(), AttributeValue::S(pk.into()));
    item.insert("payload".into(), AttributeValue::S("x".repeat(150)));
    item
}

/// GetRecords of one full page (1000 records) with `iterator`.
pub fn get_records_op(client: &aws_sdk_dynamodbstreams::Client, iterator: &str) -> load::Op {
    let (c, iterator) = (client.clone(), iterator.to_owned());
    load::op(move |_| {
        let (c, iterator) = (c.clone(), iterator.clone());
        async move {
            let out = c
                .get_records()
                .shard_iterator(iterator)
                .limit(PAGE)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GetRecords: {}", DisplayErrorContext(&e)))?;
            if out.records().len() != PAGE as usize {
                bail!(
                    "GetRecords returned {} records, not {PAGE}",
                    out.records().len()
                );
            }
            Ok(0)
        }
    })
}

/// PutItem of new items into the table with or without a stream.
pub fn put_op(client: &Client, stream: bool, phase: u64) -> load::Op {
    let c = client.clone();
    load::op(move |i| {
        let c = c.clone();
        async move {
            c.put_item()
                .table_name(table(stream))
                .set_item(Some(item(&format!("p{phase}-{i}"))))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("PutItem: {}", DisplayErrorContext(&e)))?;
            Ok(0)
        }
    })
}
