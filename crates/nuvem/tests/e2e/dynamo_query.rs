//! DynamoDB part 2 end to end: Query and Scan through aws-sdk-dynamodb's paginators over
//! thousands of items, parallel scan, batches, transactions (including concurrent transfers
//! that must conserve the total), tags, and boto3 driving the legacy parameters and the
//! `boto3.dynamodb.conditions` helpers.

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, Select, Tag, TransactWriteItem, Update, WriteRequest,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn create(ddb: &Client, name: &str, sort: bool) {
    let mut req = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    if sort {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::N)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            );
    }
    req.send().await.unwrap();
}

/// Writes `count` items with partition keys `p0..p{parts}` and sort keys 0.., 25 at a time.
async fn fill(ddb: &Client, table: &str, parts: usize, count: usize) {
    let items: Vec<WriteRequest> = (0..count)
        .map(|i| {
            let put = PutRequest::builder()
                .item("pk", s(&format!("p{}", i % parts)))
                .item("sk", n(i as i64))
                .item("even", AttributeValue::Bool(i % 2 == 0))
                .build()
                .unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    for chunk in items.chunks(25) {
        let out = ddb
            .batch_write_item()
            .request_items(table, chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
}

#[tokio::test]
async fn dynamo_paginators_query_and_scan() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create(&ddb, "Big", true).await;
    fill(&ddb, "Big", 2, 3000).await;

    // Query one partition, 100 items a page, newest first.
    let pages: Vec<_> = ddb
        .query()
        .table_name("Big")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p1"))
        .scan_index_forward(false)
        .limit(100)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let sks: Vec<i64> = pages
        .iter()
        .flat_map(|p| p.items().iter())
        .map(|i| i["sk"].as_n().unwrap().parse().unwrap())
        .collect();
    assert_eq!(sks.len(), 1500);
    assert!(sks.windows(2).all(|w| w[0] > w[1]));
    assert!(sks.iter().all(|sk| sk % 2 == 1));
    assert!(pages.len() >= 15);

    // Filter and count.
    let count: i32 = ddb
        .query()
        .table_name("Big")
        .key_condition_expression("pk = :p AND sk BETWEEN :lo AND :hi")
        .filter_expression("even = :t")
        .expression_attribute_values(":p", s("p0"))
        .expression_attribute_values(":lo", n(100))
        .expression_attribute_values(":hi", n(199))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .select(Select::Count)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|p| p.count())
        .sum();
    assert_eq!(count, 50);

    // A full scan and a 4-segment parallel scan see every item exactly once.
    let scanned: usize = ddb
        .scan()
        .table_name("Big")
        .limit(250)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .len();
    assert_eq!(scanned, 3000);
    let mut seen = HashSet::new();
    for segment in 0..4 {
        let items = ddb
            .scan()
            .table_name("Big")
            .segment(segment)
            .total_segments(4)
            .projection_expression("pk, sk")
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
        for i in items {
            assert!(seen.insert(i["sk"].as_n().unwrap().clone()));
        }
    }
    assert_eq!(seen.len(), 3000);

    let err = ddb
        .query()
        .table_name("Big")
        .key_condition_expression("sk = :s")
        .expression_attribute_values(":s", n(1))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("Query condition missed key schema element: pk")
    );
}

fn transfer(from: &str, to: &str, amount: i64) -> Vec<TransactWriteItem> {
    let update = |pk: &str, expr: &str, cond: Option<&str>| {
        let mut u = Update::builder()
            .table_name("Accounts")
            .key("pk", s(pk))
            .update_expression(expr)
            .expression_attribute_values(":a", n(amount));
        if let Some(c) = cond {
            u = u.condition_expression(c);
        }
        TransactWriteItem::builder()
            .update(u.build().unwrap())
            .build()
    };
    vec![
        update(from, "SET bal = bal - :a", Some("bal >= :a")),
        update(to, "SET bal = bal + :a", None),
    ]
}

#[tokio::test]
async fn dynamo_concurrent_transfers_conserve_the_total() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create(&ddb, "Accounts", false).await;
    const ACCOUNTS: usize = 6;
    for i in 0..ACCOUNTS {
        ddb.put_item()
            .table_name("Accounts")
            .item("pk", s(&format!("a{i}")))
            .item("bal", n(100))
            .send()
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let ddb = ddb.clone();
            tokio::spawn(async move {
                let (mut ok, mut cancelled) = (0, 0);
                for i in 0..40usize {
                    let from = (t + i) % ACCOUNTS;
                    let to = (from + 1 + i % (ACCOUNTS - 1)) % ACCOUNTS;
                    let amount = ((t * 13 + i * 7) % 60) as i64 + 1;
                    let res = ddb
                        .transact_write_items()
                        .set_transact_items(Some(transfer(
                            &format!("a{from}"),
                            &format!("a{to}"),
                            amount,
                        )))
                        .send()
                        .await;
                    match res {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            let e = e.into_service_error();
                            assert!(e.is_transaction_canceled_exception(), "{e:?}");
                            cancelled += 1;
                        }
                    }
                }
                (ok, cancelled)
            })
        })
        .collect();
    let mut committed = 0;
    for t in tasks {
        committed += t.await.unwrap().0;
    }
    assert!(committed > 0);
    let items = ddb
        .scan()
        .table_name("Accounts")
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    let balances: Vec<i64> = items
        .iter()
        .map(|i| i["bal"].as_n().unwrap().parse().unwrap())
        .collect();
    assert_eq!(balances.len(), ACCOUNTS);
    assert!(balances.iter().all(|b| *b >= 0), "{balances:?}");
    assert_eq!(balances.iter().sum::<i64>(), 100 * ACCOUNTS as i64);

    // A cancelled transaction reports one reason per action, in order.
    let err = ddb
        .transact_write_items()
        .set_transact_items(Some(transfer("a0", "a1", 1_000_000)))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let reasons = match err {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => e.cancellation_reasons.unwrap_or_default(),
        other => panic!("{other:?}"),
    };
    let codes: Vec<_> = reasons.iter().map(|r| r.code().unwrap_or("?")).collect();
    assert_eq!(codes, ["ConditionalCheckFailed", "None"]);
}

#[tokio::test]
async fn dynamo_batch_get_and_tags() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create(&ddb, "Items", true).await;
    fill(&ddb, "Items", 1, 100).await;
    let keys: Vec<_> = (0..100)
        .map(|i| {
            [("pk".to_owned(), s("p0")), ("sk".to_owned(), n(i))]
                .into_iter()
                .collect()
        })
        .collect();
    let out = ddb
        .batch_get_item()
        .request_items(
            "Items",
            aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("sk")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.responses().and_then(|r| r.get("Items")).map(Vec::len),
        Some(100)
    );

    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/Items";
    ddb.tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key("env").value("test").build().unwrap())
        .send()
        .await
        .unwrap();
    let tags = ddb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    ddb.untag_resource()
        .resource_arn(arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = ddb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert!(tags.tags().is_empty());
    let limits = ddb.describe_limits().send().await.unwrap();
    assert_eq!(limits.table_max_read_capacity_units(), Some(40000));
}

/// boto3 against the real binary: the legacy parameters and `boto3.dynamodb.conditions`.
/// Skips (with a note) when boto3 is not installed; CI installs it.
#[test]
fn dynamo_boto3() {
    if !crate::have_boto3("dynamo_boto3") {
        return;
    }
    let nuvem = Nuvem::start(BIN);
    crate::run_boto3("dynamo_legacy.py", &nuvem.api_url, "boto3 dynamo: ok");
}
