//! DynamoDB-compatible tables end to end: aws-sdk-dynamodb against the real binary. What the
//! SDK sees is the contract: shapes, types, error codes, and atomic updates under concurrency.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnConsumedCapacity, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    TableStatus,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

/// Creates an on-demand table with a string partition key `pk` and, if given, a sort key `sk`
/// of the given type.
async fn create_table(ddb: &Client, name: &str, sort: Option<ScalarAttributeType>) {
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
    if let Some(t) = sort {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(t)
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

#[tokio::test]
async fn dynamo_table_lifecycle() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create_table(&ddb, "Music", Some(ScalarAttributeType::N)).await;

    let err = ddb
        .create_table()
        .table_name("Music")
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
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");

    let table = ddb
        .describe_table()
        .table_name("Music")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.table_status, Some(TableStatus::Active));
    assert_eq!(
        table.table_arn.as_deref(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/Music")
    );
    assert_eq!(table.key_schema().len(), 2);
    assert_eq!(table.item_count, Some(0));
    assert_eq!(
        table.billing_mode_summary.and_then(|b| b.billing_mode),
        Some(BillingMode::PayPerRequest)
    );
    assert!(table.creation_date_time.is_some());

    ddb.put_item()
        .table_name("Music")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .send()
        .await
        .unwrap();
    let table = ddb
        .describe_table()
        .table_name("Music")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.item_count, Some(1));

    create_table(&ddb, "Albums", None).await;
    let names = ddb
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names
        .unwrap_or_default();
    assert_eq!(names, ["Albums", "Music"]);
    let page = ddb.list_tables().limit(1).send().await.unwrap();
    assert_eq!(page.table_names(), ["Albums"]);
    assert_eq!(page.last_evaluated_table_name(), Some("Albums"));

    let updated = ddb
        .update_table()
        .table_name("Albums")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                .read_capacity_units(3)
                .write_capacity_units(4)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let pt = updated
        .table_description
        .unwrap()
        .provisioned_throughput
        .unwrap();
    assert_eq!(
        (pt.read_capacity_units, pt.write_capacity_units),
        (Some(3), Some(4))
    );

    let deleted = ddb.delete_table().table_name("Music").send().await.unwrap();
    assert_eq!(
        deleted.table_description.unwrap().table_status,
        Some(TableStatus::Deleting)
    );
    let err = ddb
        .describe_table()
        .table_name("Music")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = ddb
        .get_item()
        .table_name("Music")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());

    // A new table under the old name starts empty.
    create_table(&ddb, "Music", Some(ScalarAttributeType::N)).await;
    let got = ddb
        .get_item()
        .table_name("Music")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item, None);
}

#[tokio::test]
async fn dynamo_every_type_round_trips() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create_table(&ddb, "types", Some(ScalarAttributeType::B)).await;
    let nested = AttributeValue::M(HashMap::from([
        (
            "list".to_owned(),
            AttributeValue::L(vec![
                s("x"),
                n("-0.5"),
                AttributeValue::Bool(false),
                AttributeValue::L(vec![]),
            ]),
        ),
        (
            "inner".to_owned(),
            AttributeValue::M(HashMap::from([(
                "deep".to_owned(),
                AttributeValue::Null(true),
            )])),
        ),
        ("empty".to_owned(), s("")),
    ]));
    let item = HashMap::from([
        ("pk".to_owned(), s("key")),
        (
            "sk".to_owned(),
            AttributeValue::B(Blob::new(vec![0u8, 1, 255])),
        ),
        (
            "big".to_owned(),
            n("12345678901234567890123456789012345678"),
        ),
        (
            "small".to_owned(),
            n("-0.00000000000000000000000000000000000001"),
        ),
        (
            "huge".to_owned(),
            n("9.9999999999999999999999999999999999999E+125"),
        ),
        (
            "bin".to_owned(),
            AttributeValue::B(Blob::new(b"\x00binary\xff".to_vec())),
        ),
        ("yes".to_owned(), AttributeValue::Bool(true)),
        ("nothing".to_owned(), AttributeValue::Null(true)),
        (
            "ss".to_owned(),
            AttributeValue::Ss(vec!["a".into(), "b".into()]),
        ),
        (
            "ns".to_owned(),
            AttributeValue::Ns(vec!["1".into(), "2.5".into()]),
        ),
        (
            "bs".to_owned(),
            AttributeValue::Bs(vec![Blob::new(vec![1u8]), Blob::new(vec![2u8])]),
        ),
        ("nested".to_owned(), nested),
        ("unicode".to_owned(), s("ação ✓ 𝄞")),
    ]);
    ddb.put_item()
        .table_name("types")
        .set_item(Some(item.clone()))
        .send()
        .await
        .unwrap();
    let got = ddb
        .get_item()
        .table_name("types")
        .key("pk", s("key"))
        .key("sk", AttributeValue::B(Blob::new(vec![0u8, 1, 255])))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let mut got = got.item.unwrap();
    let mut expected = item;
    // Numbers come back normalized: DynamoDB drops exponents and redundant zeros.
    expected.insert(
        "huge".into(),
        n(&format!(
            "99999999999999999999999999999999999999{}",
            "0".repeat(88)
        )),
    );
    for set in ["ss", "ns", "bs"] {
        // Sets are unordered; compare them sorted.
        for map in [&mut got, &mut expected] {
            if let Some(v) = map.get_mut(set) {
                match v {
                    AttributeValue::Ss(x) | AttributeValue::Ns(x) => x.sort(),
                    AttributeValue::Bs(x) => x.sort_by(|a, b| a.as_ref().cmp(b.as_ref())),
                    _ => {}
                }
            }
        }
    }
    assert_eq!(got, expected);
}

#[tokio::test]
async fn dynamo_expressions() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create_table(&ddb, "expr", None).await;

    let put_new = || {
        ddb.put_item()
            .table_name("expr")
            .item("pk", s("k"))
            .item("tags", AttributeValue::Ss(vec!["a".into(), "b".into()]))
            .item(
                "info",
                AttributeValue::M(HashMap::from([("rating".to_owned(), n("5"))])),
            )
            .item("gone", s("soon"))
            .condition_expression("attribute_not_exists(pk)")
    };
    put_new().send().await.unwrap();
    let err = put_new().send().await.unwrap_err().into_service_error();
    assert!(err.is_conditional_check_failed_exception(), "{err:?}");

    // The old item comes back with the failure when asked for.
    let err = put_new()
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match err {
        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e) => {
            assert_eq!(e.item().and_then(|i| i.get("gone")), Some(&s("soon")));
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }

    let out = ddb
        .update_item()
        .table_name("expr")
        .key("pk", s("k"))
        .update_expression("SET #i.rating = #i.rating + :one, #l = list_append(if_not_exists(#l, :empty), :l) REMOVE gone ADD visits :one, tags :c")
        .condition_expression("#i.rating >= :five AND contains(tags, :a)")
        .expression_attribute_names("#i", "info")
        .expression_attribute_names("#l", "log")
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":five", n("5"))
        .expression_attribute_values(":empty", AttributeValue::L(vec![]))
        .expression_attribute_values(":l", AttributeValue::L(vec![s("first")]))
        .expression_attribute_values(":a", s("a"))
        .expression_attribute_values(":c", AttributeValue::Ss(vec!["c".into()]))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    let item = out.attributes.unwrap();
    assert_eq!(
        item.get("info"),
        Some(&AttributeValue::M(HashMap::from([(
            "rating".to_owned(),
            n("6")
        )])))
    );
    assert_eq!(item.get("log"), Some(&AttributeValue::L(vec![s("first")])));
    assert_eq!(item.get("visits"), Some(&n("1")));
    assert_eq!(item.get("gone"), None);
    let mut tags = item
        .get("tags")
        .and_then(|t| t.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    tags.sort();
    assert_eq!(tags, ["a", "b", "c"]);

    let out = ddb
        .update_item()
        .table_name("expr")
        .key("pk", s("k"))
        .update_expression("DELETE tags :ab")
        .expression_attribute_values(":ab", AttributeValue::Ss(vec!["a".into(), "b".into()]))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attributes,
        Some(HashMap::from([(
            "tags".to_owned(),
            AttributeValue::Ss(vec!["c".into()])
        )]))
    );

    let out = ddb
        .update_item()
        .table_name("expr")
        .key("pk", s("k"))
        .update_expression("ADD visits :one")
        .expression_attribute_values(":one", n("1"))
        .return_values(ReturnValue::UpdatedOld)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attributes,
        Some(HashMap::from([("visits".to_owned(), n("1"))]))
    );
    assert_eq!(
        out.consumed_capacity.and_then(|c| c.capacity_units),
        Some(1.0)
    );

    let got = ddb
        .get_item()
        .table_name("expr")
        .key("pk", s("k"))
        .projection_expression("info.rating, visits, #n")
        .expression_attribute_names("#n", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.item,
        Some(HashMap::from([
            (
                "info".to_owned(),
                AttributeValue::M(HashMap::from([("rating".to_owned(), n("6"))]))
            ),
            ("visits".to_owned(), n("2")),
        ]))
    );

    // Deleting with a false condition changes nothing; with a true one, the item goes.
    let err = ddb
        .delete_item()
        .table_name("expr")
        .key("pk", s("k"))
        .condition_expression("visits > :v")
        .expression_attribute_values(":v", n("10"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_conditional_check_failed_exception());
    let old = ddb
        .delete_item()
        .table_name("expr")
        .key("pk", s("k"))
        .condition_expression("visits = :v")
        .expression_attribute_values(":v", n("2"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.attributes.and_then(|a| a.get("visits").cloned()),
        Some(n("2"))
    );
    let got = ddb
        .get_item()
        .table_name("expr")
        .key("pk", s("k"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item, None);
}

#[tokio::test]
async fn dynamo_errors_as_the_sdk_sees_them() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create_table(&ddb, "errs", Some(ScalarAttributeType::N)).await;

    #[track_caller]
    fn validation(err: impl ProvideErrorMetadata + std::fmt::Debug, message: &str) {
        assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
        assert_eq!(err.message(), Some(message), "{err:?}");
    }
    let err = ddb
        .put_item()
        .table_name("errs")
        .item("pk", s("a"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    validation(
        err,
        "One or more parameter values were invalid: Missing the key sk in the item",
    );
    let err = ddb
        .put_item()
        .table_name("errs")
        .item("pk", n("1"))
        .item("sk", n("1"))
        .send()
        .await
        .unwrap_err();
    validation(
        err.into_service_error(),
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N",
    );
    let err = ddb
        .put_item()
        .table_name("errs")
        .item("pk", s(""))
        .item("sk", n("1"))
        .send()
        .await
        .unwrap_err();
    validation(
        err.into_service_error(),
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
    );
    let err = ddb
        .get_item()
        .table_name("errs")
        .key("pk", s("a"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    validation(err, "The provided key element does not match the schema");
    let err = ddb
        .update_item()
        .table_name("errs")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .update_expression("SET pk = :v")
        .expression_attribute_values(":v", s("b"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    validation(
        err,
        "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key",
    );
    let err = ddb
        .put_item()
        .table_name("errs")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("big", s(&"x".repeat(400 * 1024)))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    validation(err, "Item size has exceeded the maximum allowed size");
    let err = ddb
        .put_item()
        .table_name("errs")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .condition_expression("attribute_not_exists(")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let err = ddb
        .put_item()
        .table_name("nothere")
        .item("pk", s("a"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = ddb
        .create_table()
        .table_name("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    // Nothing above was written.
    let table = ddb
        .describe_table()
        .table_name("errs")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.item_count, Some(0));
}

#[tokio::test]
async fn dynamo_concurrent_adds_are_exact() {
    let nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create_table(&ddb, "counter", None).await;
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let ddb = ddb.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    ddb.update_item()
                        .table_name("counter")
                        .key("pk", s("c"))
                        .update_expression("ADD #c :one")
                        .expression_attribute_names("#c", "counter")
                        .expression_attribute_values(":one", n("1"))
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let got = ddb
        .get_item()
        .table_name("counter")
        .key("pk", s("c"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.item.and_then(|i| i.get("counter").cloned()),
        Some(n("6400"))
    );
}

#[tokio::test]
async fn dynamo_tables_survive_a_crash() {
    let mut nuvem = Nuvem::start(BIN);
    let ddb = nuvem.dynamodb();
    create_table(&ddb, "durable", None).await;
    ddb.put_item()
        .table_name("durable")
        .item("pk", s("k"))
        .item("v", n("42"))
        .send()
        .await
        .unwrap();
    // restart() kills the process with SIGKILL: acknowledged writes must survive it.
    nuvem.restart();
    let ddb = nuvem.dynamodb();
    let got = ddb
        .get_item()
        .table_name("durable")
        .key("pk", s("k"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item.and_then(|i| i.get("v").cloned()), Some(n("42")));
    let table = ddb
        .describe_table()
        .table_name("durable")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.item_count, Some(1));
}
