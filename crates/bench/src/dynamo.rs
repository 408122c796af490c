//! The DynamoDB workload: one table (hash key `pk` of type S), then PutItem of distinct ~200
//! byte items, GetItem of existing keys, Query of one 100-item page of a partition (on a
//! second table with a sort key, filled before measuring) and BatchWriteItem of 25 new items,
//! each at a set of concurrencies, through one aws-sdk-dynamodb client shared by tokio tasks.
//! Every call's latency is recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, TableStatus, WriteRequest,
};

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

    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "PutItem",
            Op::Get => "GetItem",
            Op::Query => "Query",
            Op::BatchWrite => "BatchWriteItem",
        }
    }
}

/// When a phase stops: after `ops` operations or `duration`, whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub ops: u64,
    pub duration: Duration,
}

/// The outcome of one (op, concurrency) phase.
pub struct Phase {
    pub op: Op,
    pub concurrency: usize,
    /// Latencies of the successful operations, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Phase {
    pub fn ops_per_sec(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The nearest-rank percentile `p` (0..=100), if any operation succeeded.
    pub fn percentile_us(&self, p: f64) -> Option<u64> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        Some(self.latencies_us[rank.clamp(1, n) - 1])
    }
}

/// An SDK client for `endpoint` with the test/test credentials and no retries, so every
/// recorded latency is exactly one request and every error is seen.
pub fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "nuvem-bench"))
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

/// Creates both tables, waits until they are ACTIVE and fills the Query table.
pub async fn create_table(client: &Client) -> anyhow::Result<()> {
    create_one(client, TABLE, false).await?;
    create_one(client, QUERY_TABLE, true).await?;
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

/// Runs the workload against one target: for each concurrency, PutItem then GetItem.
pub struct Workload {
    client: Client,
    /// How many items have been written so far; the next PutItem writes `key(written)`.
    written: u64,
}

impl Workload {
    pub fn new(client: Client) -> Self {
        Self { client, written: 0 }
    }

    /// A few untimed puts and gets, so connections and caches are set up before measuring.
    pub async fn warm_up(&mut self, n: u64) -> anyhow::Result<()> {
        for _ in 0..n {
            let i = self.written;
            put(&self.client, i).await?;
            self.written += 1;
            get(&self.client, i).await?;
        }
        Ok(())
    }

    pub async fn phase(
        &mut self,
        op: Op,
        concurrency: usize,
        budget: Budget,
    ) -> anyhow::Result<Phase> {
        if op == Op::Get && self.written == 0 {
            bail!("GetItem needs items written before it");
        }
        let tickets = Arc::new(AtomicU64::new(0));
        let base = self.written;
        let start = Instant::now();
        let deadline = start + budget.duration;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let client = self.client.clone();
            let tickets = tickets.clone();
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                loop {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let t = tickets.fetch_add(1, Ordering::Relaxed);
                    if t >= budget.ops {
                        break;
                    }
                    let began = Instant::now();
                    let result = match op {
                        Op::Put => put(&client, base + t).await,
                        // Spread reads over all written keys (a multiplicative hash of t).
                        Op::Get => get(&client, t.wrapping_mul(0x9E37_79B9_7F4A_7C15) % base).await,
                        Op::Query => query(&client, t).await,
                        Op::BatchWrite => batch_write(&client, base + t * BATCH).await,
                    };
                    let took = began.elapsed();
                    match result {
                        Ok(()) => latencies.push(took.as_micros() as u64),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                (latencies, errors, first_error)
            });
        }
        let mut latencies_us = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let (l, e, f) = joined.context("a benchmark task panicked")?;
            latencies_us.extend(l);
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        }
        let elapsed = start.elapsed();
        let per_op = match op {
            Op::Put => 1,
            Op::BatchWrite => BATCH,
            Op::Get | Op::Query => 0,
        };
        if per_op > 0 {
            // Every ticket below the budget was used exactly once (the ones above were not),
            // so keys base..base+used exist, unless a put failed: then trust only the old ones.
            let used = (latencies_us.len() as u64 + errors).min(budget.ops);
            if errors == 0 {
                self.written = base + used * per_op;
            }
        }
        latencies_us.sort_unstable();
        Ok(Phase {
            op,
            concurrency,
            latencies_us,
            errors,
            first_error,
            elapsed,
        })
    }
}

async fn put(client: &Client, i: u64) -> anyhow::Result<()> {
    client
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S(key(i)))
        .item("n", AttributeValue::N(i.to_string()))
        .item("payload", AttributeValue::S(payload(i)))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("PutItem: {}", DisplayErrorContext(&e)))?;
    Ok(())
}

async fn get(client: &Client, i: u64) -> anyhow::Result<()> {
    let out = client
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(key(i)))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetItem: {}", DisplayErrorContext(&e)))?;
    match out.item() {
        Some(item) if item.get("pk") == Some(&AttributeValue::S(key(i))) => Ok(()),
        Some(_) => bail!("GetItem {}: returned a different item", key(i)),
        None => bail!("GetItem {}: item not found", key(i)),
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

/// BatchWriteItem of the `BATCH` new items `first..first + BATCH` of the main table.
async fn batch_write(client: &Client, first: u64) -> anyhow::Result<()> {
    let requests: Vec<WriteRequest> = (first..first + BATCH)
        .map(|i| {
            let put = PutRequest::builder()
                .item("pk", AttributeValue::S(key(i)))
                .item("n", AttributeValue::N(i.to_string()))
                .item("payload", AttributeValue::S(payload(i)))
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
