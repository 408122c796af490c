//! DynamoDB secondary indexes end to end with aws-sdk-dynamodb: a table created with a
//! global and a local index, Query through the paginator on both, DescribeTable's index
//! descriptions, ConsistentRead refused on the global index, and an index added by
//! UpdateTable that the SDK waits for until it is ACTIVE; per-index ConsumedCapacity.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, PutRequest, ReturnConsumedCapacity,
    ScalarAttributeType, WriteRequest,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn def(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .unwrap()
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}

fn projection(kind: ProjectionType, non_key: &[&str]) -> Projection {
    let mut p = Projection::builder().projection_type(kind);
    for a in non_key {
        p = p.non_key_attributes(*a);
    }
    p.build()
}

/// The sort keys `sk` of a paginated Query, in order.
async fn query_sks(
    ddb: &Client,
    index: &str,
    cond: &str,
    values: &[(&str, AttributeValue)],
) -> Vec<i64> {
    let mut req = ddb
        .query()
        .table_name("Orders")
        .index_name(index)
        .key_condition_expression(cond)
        .limit(7);
    for (k, v) in values {
        req = req.expression_attribute_values(*k, v.clone());
    }
    req.into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|i| i["sk"].as_n().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn dynamo_secondary_indexes() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    ddb.create_table()
        .table_name("Orders")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(def("pk", ScalarAttributeType::S))
        .attribute_definitions(def("sk", ScalarAttributeType::N))
        .attribute_definitions(def("customer", ScalarAttributeType::S))
        .attribute_definitions(def("amount", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_customer")
                .key_schema(key("customer", KeyType::Hash))
                .key_schema(key("amount", KeyType::Range))
                .projection(projection(ProjectionType::Include, &["note"]))
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_amount")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("amount", KeyType::Range))
                .projection(projection(ProjectionType::KeysOnly, &[]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // 100 orders in 4 shops; customer c0..c4 on all but every tenth order (sparse).
    let items: Vec<WriteRequest> = (0..100)
        .map(|i| {
            let mut put = PutRequest::builder()
                .item("pk", s(&format!("shop{}", i % 4)))
                .item("sk", n(i))
                .item("amount", n(1000 - i))
                .item("note", s("n"))
                .item("secret", s("x"));
            if i % 10 != 0 {
                put = put.item("customer", s(&format!("c{}", i % 5)));
            }
            WriteRequest::builder()
                .put_request(put.build().unwrap())
                .build()
        })
        .collect();
    for chunk in items.chunks(25) {
        ddb.batch_write_item()
            .request_items("Orders", chunk.to_vec())
            .send()
            .await
            .unwrap();
    }

    // Global index: one customer's orders, by amount, across pages.
    let c1 = query_sks(&ddb, "by_customer", "customer = :c", &[(":c", s("c1"))]).await;
    let expected: Vec<i64> = (0..100)
        .rev()
        .filter(|i| i % 5 == 1 && i % 10 != 0)
        .collect();
    assert_eq!(c1, expected);
    // c0's orders are every fifth, minus those without a customer.
    let c0 = query_sks(&ddb, "by_customer", "customer = :c", &[(":c", s("c0"))]).await;
    assert!(c0.iter().all(|i| i % 10 == 5) && c0.len() == 10);
    // Local index: one shop by amount, bounded.
    let shop = query_sks(
        &ddb,
        "by_amount",
        "pk = :p AND amount BETWEEN :lo AND :hi",
        &[(":p", s("shop2")), (":lo", n(950)), (":hi", n(990))],
    )
    .await;
    assert_eq!(shop, [50, 46, 42, 38, 34, 30, 26, 22, 18, 14, 10]);

    // Projection: INCLUDE note, not secret.
    let out = ddb
        .query()
        .table_name("Orders")
        .index_name("by_customer")
        .key_condition_expression("customer = :c")
        .expression_attribute_values(":c", s("c2"))
        .limit(1)
        .send()
        .await
        .unwrap();
    let item = &out.items()[0];
    assert!(item.contains_key("note") && !item.contains_key("secret"));
    let last = out.last_evaluated_key().unwrap();
    let mut names: Vec<&str> = last.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["amount", "customer", "pk", "sk"]);

    // ReturnConsumedCapacity INDEXES through the SDK: a write moving an item between the
    // global index's keys costs a delete and a put there, one write on the local index (its
    // key changes too: delete and put), one on the table; TOTAL is the sum. A Query of the
    // global index is charged to it.
    let out = ddb
        .update_item()
        .table_name("Orders")
        .key("pk", s("shop1"))
        .key("sk", n(1))
        .update_expression("SET customer = :c, amount = :a")
        .expression_attribute_values(":c", s("c9"))
        .expression_attribute_values(":a", n(5000))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let c = out.consumed_capacity().unwrap();
    assert_eq!(c.table_name(), Some("Orders"));
    assert_eq!(c.capacity_units(), Some(5.0));
    assert_eq!(c.write_capacity_units(), Some(5.0));
    assert_eq!(c.table().and_then(|t| t.capacity_units()), Some(1.0));
    let units =
        |m: Option<&std::collections::HashMap<String, aws_sdk_dynamodb::types::Capacity>>,
         name: &str| {
            m.and_then(|m| m.get(name))
                .and_then(|c| c.write_capacity_units())
        };
    assert_eq!(
        units(c.global_secondary_indexes(), "by_customer"),
        Some(2.0)
    );
    assert_eq!(units(c.local_secondary_indexes(), "by_amount"), Some(2.0));
    let out = ddb
        .query()
        .table_name("Orders")
        .index_name("by_customer")
        .key_condition_expression("customer = :c")
        .expression_attribute_values(":c", s("c9"))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let c = out.consumed_capacity().unwrap();
    assert_eq!(c.capacity_units(), Some(0.5));
    assert_eq!(c.table().and_then(|t| t.capacity_units()), Some(0.0));
    assert_eq!(
        c.global_secondary_indexes()
            .and_then(|m| m.get("by_customer"))
            .and_then(|c| c.read_capacity_units()),
        Some(0.5)
    );
    // Undo, so that the checks below see the 100 orders as written.
    ddb.update_item()
        .table_name("Orders")
        .key("pk", s("shop1"))
        .key("sk", n(1))
        .update_expression("SET customer = :c, amount = :a")
        .expression_attribute_values(":c", s("c1"))
        .expression_attribute_values(":a", n(999))
        .send()
        .await
        .unwrap();

    // ConsistentRead on a global index is AWS's ValidationException.
    let err = ddb
        .query()
        .table_name("Orders")
        .index_name("by_customer")
        .key_condition_expression("customer = :c")
        .expression_attribute_values(":c", s("c2"))
        .consistent_read(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("Consistent reads are not supported on global secondary indexes")
    );

    // DescribeTable: counts, sizes, ARNs, statuses.
    let table = ddb
        .describe_table()
        .table_name("Orders")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let gsi = &table.global_secondary_indexes()[0];
    assert_eq!(gsi.index_status(), Some(&IndexStatus::Active));
    assert_eq!(gsi.item_count(), Some(90));
    assert!(gsi.index_size_bytes().unwrap_or(0) > 0);
    assert!(
        gsi.index_arn()
            .unwrap()
            .ends_with(":table/Orders/index/by_customer")
    );
    assert_eq!(table.local_secondary_indexes()[0].item_count(), Some(100));

    // UpdateTable adds an index; it backfills, then serves.
    ddb.update_table()
        .table_name("Orders")
        .attribute_definitions(def("note", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by_note")
                        .key_schema(key("note", KeyType::Hash))
                        .projection(projection(ProjectionType::KeysOnly, &[]))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut active = false;
    for _ in 0..500 {
        let t = ddb
            .describe_table()
            .table_name("Orders")
            .send()
            .await
            .unwrap();
        let by_note = t
            .table()
            .unwrap()
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some("by_note"))
            .cloned()
            .unwrap();
        if by_note.index_status() == Some(&IndexStatus::Active) {
            assert_eq!(by_note.item_count(), Some(100));
            active = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(active, "by_note never became ACTIVE");
    let notes = query_sks(&ddb, "by_note", "note = :n", &[(":n", s("n"))]).await;
    assert_eq!(notes.len(), 100);
}

/// Waits until global index `name` of `table` is ACTIVE; returns its ItemCount.
async fn wait_active(ddb: &Client, table: &str, name: &str) -> i64 {
    for _ in 0..1000 {
        let t = ddb.describe_table().table_name(table).send().await.unwrap();
        let index = t
            .table()
            .unwrap()
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(name))
            .cloned()
            .unwrap();
        if index.index_status() == Some(&IndexStatus::Active) {
            return index.item_count().unwrap_or(-1);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{name} never became ACTIVE");
}

#[tokio::test]
async fn dynamo_index_backfill_survives_a_crash() {
    let mut nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    ddb.create_table()
        .table_name("Events")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(def("pk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .send()
        .await
        .unwrap();
    // 3000 items, two in three with the future index key `g`.
    let items: Vec<WriteRequest> = (0..3000)
        .map(|i| {
            let mut put = PutRequest::builder().item("pk", s(&format!("e{i}")));
            if i % 3 != 0 {
                put = put.item("g", n(i % 10));
            }
            WriteRequest::builder()
                .put_request(put.build().unwrap())
                .build()
        })
        .collect();
    for chunk in items.chunks(25) {
        ddb.batch_write_item()
            .request_items("Events", chunk.to_vec())
            .send()
            .await
            .unwrap();
    }
    ddb.update_table()
        .table_name("Events")
        .attribute_definitions(def("g", ScalarAttributeType::N))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by_g")
                        .key_schema(key("g", KeyType::Hash))
                        .projection(projection(ProjectionType::KeysOnly, &[]))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // SIGKILL, likely while the backfill runs: it resumes when nuvem starts again.
    nuvem.restart();
    let ddb = nuvem.dynamodb();
    assert_eq!(wait_active(&ddb, "Events", "by_g").await, 2000);
    let sevens = ddb
        .query()
        .table_name("Events")
        .index_name("by_g")
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", n(7))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    // i % 10 == 7 and i % 3 != 0, below 3000.
    let expected = (0..3000).filter(|i| i % 10 == 7 && i % 3 != 0).count();
    assert_eq!(sevens.len(), expected);
}
