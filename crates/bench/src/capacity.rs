//! What provisioned capacity accounting costs (issue 21): PutItem and GetItem of ~200 byte
//! items on an on-demand table beside a PROVISIONED one whose capacity (40,000 RCU and WCU)
//! no load here reaches, so every request goes through the token buckets and none is
//! throttled. Each is a [`load::Op`] over one aws-sdk-dynamodb client. Must not: time anything.

use std::collections::HashMap;

use anyhow::bail;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ProvisionedThroughput, PutRequest, ScalarAttributeType, WriteRequest,
};

use crate::load;

/// The two tables: (name, provisioned).
pub const TABLES: [(&str, bool); 2] = [
    ("nuvem-bench-on-demand", false),
    ("nuvem-bench-provisioned", true),
];
const SEEDED: u64 = 1000;

fn item(k: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(k.into())),
        ("payload".to_owned(), AttributeValue::S("x".repeat(180))),
    ])
}

/// Creates both tables and seeds the items GetItem reads.
pub async fn create_tables(client: &Client) -> anyhow::Result<()> {
    for (name, provisioned) in TABLES {
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
        req = if provisioned {
            req.billing_mode(BillingMode::Provisioned)
                .provisioned_throughput(
                    ProvisionedThroughput::builder()
                        .read_capacity_units(40_000)
                        .write_capacity_units(40_000)
                        .build()?,
                )
        } else {
            req.billing_mode(BillingMode::PayPerRequest)
        };
        req.send()
            .await
            .map_err(|e| anyhow::anyhow!("CreateTable: {}", DisplayErrorContext(&e)))?;
        for first in (0..SEEDED).step_by(25) {
            let puts: Vec<WriteRequest> = (first..first + 25)
                .map(|i| {
                    let put = PutRequest::builder()
                        .set_item(Some(item(&format!("seed-{i}"))))
                        .build()?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<anyhow::Result<_>>()?;
            client
                .batch_write_item()
                .request_items(name, puts)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("BatchWriteItem: {}", DisplayErrorContext(&e)))?;
        }
    }
    Ok(())
}

/// PutItem of new items into `table`.
pub fn put_op(client: &Client, table: &'static str, phase: u64) -> load::Op {
    let c = client.clone();
    load::op(move |i| {
        let c = c.clone();
        async move {
            c.put_item()
                .table_name(table)
                .set_item(Some(item(&format!("p{phase}-{i}"))))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("PutItem: {}", DisplayErrorContext(&e)))?;
            Ok(0)
        }
    })
}

/// GetItem of the seeded items of `table`.
pub fn get_op(client: &Client, table: &'static str) -> load::Op {
    let c = client.clone();
    load::op(move |i| {
        let c = c.clone();
        async move {
            let k = format!("seed-{}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % SEEDED);
            let out = c
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(k.clone()))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GetItem: {}", DisplayErrorContext(&e)))?;
            if out.item().is_none() {
                bail!("GetItem {k}: item not found");
            }
            Ok(0)
        }
    })
}
