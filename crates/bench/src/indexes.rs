//! What secondary indexes cost (issue 18): PutItem on tables with 0, 1 and 5 global indexes
//! (each index a projection of the whole item, so every write is also written to each index:
//! the write amplification), and Query of one 100-item page of a global index's partition.
//! Each is a [`load::Op`] over one aws-sdk-dynamodb client. Must not: time anything.

use std::time::{Duration, Instant};

use anyhow::bail;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, PutRequest, ScalarAttributeType, TableStatus,
    WriteRequest,
};

use crate::load;

/// The index counts measured.
pub const COUNTS: [usize; 3] = [0, 1, 5];
/// Distinct values of each index's key: the Query table's 1600 items make 100 per value.
const VALUES: u64 = 16;
const QUERY_ITEMS: u64 = 1600;

pub fn table(indexes: usize) -> String {
    format!("nuvem-bench-gsi-{indexes}")
}

/// Creates the tables with 0, 1 and 5 global indexes (`g0`…`g4`, key attributes of the same
/// names), waits for them, and fills the one-index table for the Query.
pub async fn create_tables(client: &Client) -> anyhow::Result<()> {
    for n in COUNTS {
        create_one(client, &table(n), n).await?;
    }
    let requests: Vec<WriteRequest> = (0..QUERY_ITEMS)
        .map(|i| {
            let put = PutRequest::builder()
                .set_item(Some(item(&format!("seed-{i}"), i, 1)))
                .build()?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<anyhow::Result<_>>()?;
    for chunk in requests.chunks(25) {
        client
            .batch_write_item()
            .request_items(table(1), chunk.to_vec())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("BatchWriteItem: {}", DisplayErrorContext(&e)))?;
    }
    Ok(())
}

async fn create_one(client: &Client, name: &str, indexes: usize) -> anyhow::Result<()> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let hash = |n: &str| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(KeyType::Hash)
            .build()
    };
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .key_schema(hash("pk")?);
    for i in 0..indexes {
        let g = format!("g{i}");
        req = req
            .attribute_definitions(attr(&g)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(format!("by-{g}"))
                    .key_schema(hash(&g)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
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

/// An item of about 200 bytes with a value for each of the first `indexes` index keys.
fn item(pk: &str, i: u64, indexes: usize) -> std::collections::HashMap<String, AttributeValue> {
    let mut item = std::collections::HashMap::new();
    item.insert("pk".into(), AttributeValue::S(pk.into()));
    item.insert("payload".into(), AttributeValue::S("x".repeat(150)));
    for g in 0..indexes {
        item.insert(
            format!("g{g}"),
            AttributeValue::S(format!("v{}", i % VALUES)),
        );
    }
    item
}

/// PutItem of new items into the table with `indexes` global indexes.
pub fn put_op(client: &Client, indexes: usize, phase: u64) -> load::Op {
    let c = client.clone();
    load::op(move |i| {
        let c = c.clone();
        async move {
            c.put_item()
                .table_name(table(indexes))
                .set_item(Some(item(&format!("p{phase}-{i}"), i, indexes)))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("PutItem: {}", DisplayErrorContext(&e)))?;
            Ok(0)
        }
    })
}

/// Query of one 100-item page of index `g0`'s partition `v<i mod 16>`.
pub fn query_op(client: &Client) -> load::Op {
    let c = client.clone();
    load::op(move |i| {
        let c = c.clone();
        async move {
            let out = c
                .query()
                .table_name(table(1))
                .index_name("by-g0")
                .key_condition_expression("g0 = :v")
                .expression_attribute_values(":v", AttributeValue::S(format!("v{}", i % VALUES)))
                .limit(100)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("Query: {}", DisplayErrorContext(&e)))?;
            if out.count() < 100 {
                bail!("Query on g0 returned {} items, not 100", out.count());
            }
            Ok(0)
        }
    })
}
