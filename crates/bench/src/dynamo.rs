//! The DynamoDB operations the benchmark drives: on one table (hash key `pk` of type S),
//! PutItem of distinct ~200 byte items, GetItem of items seeded before measuring, and
//! BatchWriteItem of 25 new items; Query of one 100-item page of a partition (on a second
//! table with a sort key, filled before measuring). Each is a [`load::Op`] over one
//! aws-sdk-dynamodb client shared by the load generator's tasks. Must not: time anything
//! (the load generator does).

use std::time::{Duration, Instant};

use anyhow::bail;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, TableStatus, WriteRequest,
};

use crate::load;
pub use crate::load::Budget;

pub const TABLE: &str = "nuvem-bench";
/// The Query table: `QUERY_PARTS` partitions (`pk`) of `QUERY_ITEMS` items each (`sk` N).
pub const QUERY_TABLE: &str = "nuvem-bench-query";
const QUERY_PARTS: u64 = 10;
const QUERY_ITEMS: u64 = 300;
/// Items per Query page and per BatchWriteItem call.
const QUERY_PAGE: i32 = 100;
const BATCH: u64 = 25;

/// The operations measured, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
    Query,
    BatchWrite,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Put, Op::Get, Op::Query, Op::BatchWrite];

    /// The scenario name in the report.
    pub fn scenario(self) -> &'static str {
        match self {
            Op::Put => "dynamodb.PutItem",
            Op::Get => "dynamodb.GetItem",
            Op::Query => "dynamodb.Query 100 items",
            Op::BatchWrite => "dynamodb.BatchWriteItem 25 items",
        }
    }
}

/// Items written before measuring, which GetItem reads.
const SEEDED: u64 = 1000;

/// An SDK client for `endpoint` with the test/test credentials and no retries, so every
/// recorded latency is exactly one request and every error is seen.
pub fn client(endpoint: &str) -> Client {
    client_with(
        endpoint,
        Credentials::new("test", "test", None, None, "nuvem-bench"),
    )
}

/// [`client`] signing with other credentials (an IAM user's).
pub fn client_with(endpoint: &str, credentials: Credentials) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

/// Creates both tables, waits until they are ACTIVE, writes the items GetItem reads and
/// fills the Query table.
pub async fn create_tables(client: &Client) -> anyhow::Result<()> {
    create_one(client, TABLE, false).await?;
    create_one(client, QUERY_TABLE, true).await?;
    seed(client).await?;
    for part in 0..QUERY_PARTS {
        let requests: Vec<WriteRequest> = (0..QUERY_ITEMS)
            .map(|sk| {
                let put = PutRequest::builder()
                    .item("pk", AttributeValue::S(format!("part-{part}")))
                    .item("sk", AttributeValue::N(sk.to_string()))
                    .item("payload", AttributeValue::S(payload(sk)))
                    .build()?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<anyhow::Result<_>>()?;
        for chunk in requests.chunks(BATCH as usize) {
            client
                .batch_write_item()
                .request_items(QUERY_TABLE, chunk.to_vec())
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("BatchWriteItem: {}", DisplayErrorContext(&e)))?;
        }
    }
    Ok(())
}

/// Creates one table (with a numeric sort key `sk` if `sorted`) and waits until it is ACTIVE.
async fn create_one(client: &Client, name: &str, sorted: bool) -> anyhow::Result<()> {
    let mut req = client
        .create_table()
        .table_name(name)
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
    if sorted {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::N)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()?,
            );
    }
    let out = req
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateTable: {}", DisplayErrorContext(&e)))?;
    let mut status = out
        .table_description()
        .and_then(|d| d.table_status().cloned());
    let deadline = Instant::now() + Duration::from_secs(30);
    while status != Some(TableStatus::Active) {
        if Instant::now() > deadline {
            bail!("table {name} is not ACTIVE after 30 s (status {status:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("DescribeTable: {}", DisplayErrorContext(&e)))?;
        status = d.table().and_then(|t| t.table_status().cloned());
    }
    Ok(())
}

/// The key of the `i`th item written in the run.
fn key(i: u64) -> String {
    format!("item-{i:012}")
}

/// A filler of a length that makes an item about 200 bytes (attribute names plus values).
fn payload(i: u64) -> String {
    // pk (2 + 17) + n (1 + ~8) + payload (7 + 165) ≈ 200 bytes.
    char::from(b'a' + (i % 26) as u8).to_string().repeat(165)
}

/// `op` as a load-generator operation. `phase` makes the keys PutItem and BatchWriteItem
/// write distinct from every other phase's.
pub fn load_op(client: &Client, op: Op, phase: u64) -> load::Op {
    let c = client.clone();
    match op {
        Op::Put => load::op(move |i| {
            let c = c.clone();
            async move { put(&c, &format!("p{phase}-{i}")).await.map(|()| 0) }
        }),
        // Spread reads over all seeded keys (a multiplicative hash of i).
        Op::Get => load::op(move |i| {
            let c = c.clone();
            async move {
                let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % SEEDED;
                get(&c, &key(k)).await.map(|()| 0)
            }
        }),
        Op::Query => load::op(move |i| {
            let c = c.clone();
            async move { query(&c, i).await.map(|()| 0) }
        }),
        Op::BatchWrite => load::op(move |i| {
            let c = c.clone();
            async move {
                let keys = (0..BATCH).map(|k| format!("b{phase}-{}", i * BATCH + k));
                batch_write(&c, keys.collect()).await.map(|()| 0)
            }
        }),
    }
}

/// Writes the `SEEDED` items GetItem reads, 25 per BatchWriteItem.
async fn seed(client: &Client) -> anyhow::Result<()> {
    for first in (0..SEEDED).step_by(BATCH as usize) {
        batch_write(client, (first..first + BATCH).map(key).collect()).await?;
    }
    Ok(())
}

async fn put(client: &Client, k: &str) -> anyhow::Result<()> {
    client
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S(k.into()))
        .item("n", AttributeValue::N(k.len().to_string()))
        .item("payload", AttributeValue::S(payload(k.len() as u64)))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("PutItem: {}", DisplayErrorContext(&e)))?;
    Ok(())
}

async fn get(client: &Client, k: &str) -> anyhow::Result<()> {
    let out = client
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(k.into()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetItem: {}", DisplayErrorContext(&e)))?;
    match out.item() {
        Some(item) if item.get("pk") == Some(&AttributeValue::S(k.into())) => Ok(()),
        Some(_) => bail!("GetItem {k}: returned a different item"),
        None => bail!("GetItem {k}: item not found"),
    }
}

/// One page of `QUERY_PAGE` items from a partition of the Query table.
async fn query(client: &Client, t: u64) -> anyhow::Result<()> {
    let part = t % QUERY_PARTS;
    let start = (t / QUERY_PARTS) % (QUERY_ITEMS - QUERY_PAGE as u64);
    let out = client
        .query()
        .table_name(QUERY_TABLE)
        .key_condition_expression("pk = :p AND sk >= :s")
        .expression_attribute_values(":p", AttributeValue::S(format!("part-{part}")))
        .expression_attribute_values(":s", AttributeValue::N(start.to_string()))
        .limit(QUERY_PAGE)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("Query: {}", DisplayErrorContext(&e)))?;
    if out.count() != QUERY_PAGE {
        bail!(
            "Query part-{part}: {} items, expected {QUERY_PAGE}",
            out.count()
        );
    }
    Ok(())
}

/// BatchWriteItem of the items `keys` to the main table.
async fn batch_write(client: &Client, keys: Vec<String>) -> anyhow::Result<()> {
    let requests: Vec<WriteRequest> = keys
        .into_iter()
        .map(|k| {
            let put = PutRequest::builder()
                .item("n", AttributeValue::N(k.len().to_string()))
                .item("payload", AttributeValue::S(payload(k.len() as u64)))
                .item("pk", AttributeValue::S(k))
                .build()?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<anyhow::Result<_>>()?;
    let out = client
        .batch_write_item()
        .request_items(TABLE, requests)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("BatchWriteItem: {}", DisplayErrorContext(&e)))?;
    if out.unprocessed_items().is_some_and(|u| !u.is_empty()) {
        bail!("BatchWriteItem: unprocessed items");
    }
    Ok(())
}
