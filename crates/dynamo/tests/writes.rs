//! BatchGetItem, BatchWriteItem, TransactWriteItems, TransactGetItems, the legacy write
//! parameters (Expected, AttributeUpdates, AttributesToGet) and tags, at the service's
//! public API on the real engine.

mod support;

use serde_json::{Value, json};
use support::{Env, VALIDATION, env};

fn key(pk: &str) -> Value {
    json!({"pk": {"S": pk}})
}

fn fixture() -> Env {
    let e = env();
    e.create("tbl", ("pk", "S"), None);
    e.create("utb", ("pk", "S"), None);
    e
}

#[test]
fn batch_write_then_get() {
    let e = fixture();
    let puts: Vec<Value> = (0..20)
        .map(|i| json!({"PutRequest": {"Item": {"pk": {"S": format!("k{i}")}, "n": {"N": i.to_string()}}}}))
        .collect();
    let out = e.ok("BatchWriteItem", json!({"RequestItems": {"tbl": puts, "utb": [{"PutRequest": {"Item": {"pk": {"S": "x"}}}}]}, "ReturnConsumedCapacity": "TOTAL"}));
    assert_eq!(
        out,
        json!({"UnprocessedItems": {}, "ConsumedCapacity": [{"TableName": "tbl", "CapacityUnits": 20.0}, {"TableName": "utb", "CapacityUnits": 1.0}]})
    );
    e.ok(
        "BatchWriteItem",
        json!({"RequestItems": {"tbl": [{"DeleteRequest": {"Key": key("k0")}}]}}),
    );
    let out = e.ok("BatchGetItem", json!({"RequestItems": {
        "tbl": {"Keys": [key("k0"), key("k1"), key("k2")], "ProjectionExpression": "#n", "ExpressionAttributeNames": {"#n": "n"}},
        "utb": {"Keys": [key("x")], "AttributesToGet": ["pk"]},
    }}));
    let mut got = out["Responses"]["tbl"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    got.sort_by_key(|v| v.to_string());
    assert_eq!(got, [json!({"n": {"N": "1"}}), json!({"n": {"N": "2"}})]);
    assert_eq!(out["Responses"]["utb"], json!([{"pk": {"S": "x"}}]));
    assert_eq!(out["UnprocessedKeys"], json!({}));
}

#[test]
fn batch_errors() {
    let e = fixture();
    let put = |pk: &str| json!({"PutRequest": {"Item": {"pk": {"S": pk}}}});
    let many: Vec<Value> = (0..26).map(|i| put(&format!("k{i}"))).collect();
    e.err(
        "BatchWriteItem",
        json!({"RequestItems": {"tbl": many}}),
        VALIDATION,
        "Too many items requested for the BatchWriteItem call",
    );
    e.err(
        "BatchWriteItem",
        json!({"RequestItems": {"tbl": [put("a"), {"DeleteRequest": {"Key": key("a")}}]}}),
        VALIDATION,
        "One or more parameter values were invalid: Provided list of item keys contains duplicates",
    );
    e.err("BatchWriteItem", json!({"RequestItems": {}}), VALIDATION, "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1");
    e.err("BatchWriteItem", json!({"RequestItems": {"tbl": [put("ok"), {"PutRequest": {"Item": {"other": {"S": "x"}}}}]}}), VALIDATION, "One or more parameter values were invalid: Missing the key pk in the item");
    e.err(
        "BatchWriteItem",
        json!({"RequestItems": {"tbl": [put("ok")], "missing": [put("a")]}}),
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    // A failed batch wrote nothing.
    assert_eq!(e.get("tbl", key("ok")), Value::Null);
    let keys: Vec<Value> = (0..101).map(|i| key(&format!("k{i}"))).collect();
    e.err(
        "BatchGetItem",
        json!({"RequestItems": {"tbl": {"Keys": keys}}}),
        VALIDATION,
        "Too many items requested for the BatchGetItem call",
    );
    e.err(
        "BatchGetItem",
        json!({"RequestItems": {"tbl": {"Keys": [key("a"), key("a")]}}}),
        VALIDATION,
        "One or more parameter values were invalid: Provided list of item keys contains duplicates",
    );
    e.err(
        "BatchGetItem",
        json!({"RequestItems": {"tbl": {"Keys": [{"pk": {"N": "1"}}]}}}),
        VALIDATION,
        "The provided key element does not match the schema",
    );
}

fn transfer(from: &str, to: &str, amount: i64) -> Value {
    let upd = |pk: &str, expr: &str, cond: Option<&str>| {
        let mut u = json!({"TableName": "tbl", "Key": key(pk), "UpdateExpression": expr, "ExpressionAttributeValues": {":a": {"N": amount.to_string()}}});
        if let Some(c) = cond {
            u["ConditionExpression"] = json!(c);
        }
        json!({"Update": u})
    };
    json!({"TransactItems": [
        upd(from, "SET bal = bal - :a", Some("bal >= :a")),
        upd(to, "SET bal = bal + :a", None),
    ]})
}

fn balance(e: &Env, pk: &str) -> i64 {
    e.get("tbl", key(pk))["bal"]["N"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(i64::MIN)
}

#[test]
fn transactions_commit_or_cancel() {
    let e = fixture();
    e.put("tbl", json!({"pk": {"S": "a"}, "bal": {"N": "100"}}));
    e.put("tbl", json!({"pk": {"S": "b"}, "bal": {"N": "0"}}));
    e.ok("TransactWriteItems", transfer("a", "b", 60));
    assert_eq!((balance(&e, "a"), balance(&e, "b")), (40, 60));
    match e
        .svc
        .execute_op("TransactWriteItems", transfer("a", "b", 60))
    {
        Err(nuvem_dynamo::Error::TransactionCanceled(reasons)) => {
            let codes: Vec<&str> = reasons.iter().map(|r| r.code).collect();
            assert_eq!(codes, ["ConditionalCheckFailed", "None"]);
        }
        other => panic!("expected a cancelled transaction, got {other:?}"),
    }
    let err = e
        .svc
        .execute("TransactWriteItems", transfer("a", "b", 60))
        .err();
    assert_eq!(err.map(|e| (e.code, e.message)), Some(("TransactionCanceledException", "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]".to_owned())));
    assert_eq!((balance(&e, "a"), balance(&e, "b")), (40, 60));
    // Put, Delete and ConditionCheck across two tables, all at once.
    e.ok("TransactWriteItems", json!({"TransactItems": [
        {"Put": {"TableName": "utb", "Item": {"pk": {"S": "new"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Delete": {"TableName": "tbl", "Key": key("b")}},
        {"ConditionCheck": {"TableName": "tbl", "Key": key("a"), "ConditionExpression": "bal = :v", "ExpressionAttributeValues": {":v": {"N": "40"}}}},
    ]}));
    assert_eq!(e.get("utb", key("new")), json!({"pk": {"S": "new"}}));
    assert_eq!(e.get("tbl", key("b")), Value::Null);
    let out = e.ok(
        "TransactGetItems",
        json!({"TransactItems": [
            {"Get": {"TableName": "tbl", "Key": key("a"), "ProjectionExpression": "bal"}},
            {"Get": {"TableName": "tbl", "Key": key("b")}},
        ]}),
    );
    assert_eq!(
        out,
        json!({"Responses": [{"Item": {"bal": {"N": "40"}}}, {}]})
    );
}

#[test]
fn transaction_tokens_are_idempotent() {
    let e = fixture();
    e.put("tbl", json!({"pk": {"S": "a"}, "bal": {"N": "100"}}));
    e.put("tbl", json!({"pk": {"S": "b"}, "bal": {"N": "0"}}));
    let mut req = transfer("a", "b", 10);
    req["ClientRequestToken"] = json!("tok-1");
    e.ok("TransactWriteItems", req.clone());
    e.ok("TransactWriteItems", req.clone());
    assert_eq!((balance(&e, "a"), balance(&e, "b")), (90, 10));
    let mut other = transfer("a", "b", 20);
    other["ClientRequestToken"] = json!("tok-1");
    e.err("TransactWriteItems", other, "IdempotentParameterMismatchException", "Specified idempotency token was used with different request parameters within the 10 minute time window");
}

#[test]
fn transaction_errors() {
    let e = fixture();
    let put = |pk: &str| json!({"Put": {"TableName": "tbl", "Item": {"pk": {"S": pk}}}});
    e.err(
        "TransactWriteItems",
        json!({"TransactItems": [put("a"), {"Delete": {"TableName": "tbl", "Key": key("a")}}]}),
        VALIDATION,
        "Transaction request cannot include multiple operations on one item",
    );
    let many: Vec<Value> = (0..101).map(|i| put(&format!("k{i}"))).collect();
    e.err("TransactWriteItems", json!({"TransactItems": many}), VALIDATION, "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100");
    e.err("TransactWriteItems", json!({"TransactItems": [{"Put": {"TableName": "tbl", "Item": {"pk": {"S": "x"}}}, "Delete": {"TableName": "tbl", "Key": key("x")}}]}), VALIDATION, "TransactItems can only contain one of Check, Put, Update or Delete");
    e.err("TransactWriteItems", json!({"TransactItems": [{"ConditionCheck": {"TableName": "tbl", "Key": key("x")}}]}), VALIDATION, "1 validation error detected: Value null at 'conditionExpression' failed to satisfy constraint: Member must not be null");
    e.err("TransactWriteItems", json!({"TransactItems": [{"Update": {"TableName": "tbl", "Key": key("x"), "UpdateExpression": "SET pk = :v", "ExpressionAttributeValues": {":v": {"S": "y"}}}}]}), VALIDATION, "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key");
    e.err("TransactWriteItems", json!({"TransactItems": [put("a"), {"Put": {"TableName": "missing", "Item": {"pk": {"S": "a"}}}}]}), "ResourceNotFoundException", "Requested resource not found");
    assert_eq!(e.get("tbl", key("a")), Value::Null);
}

#[test]
fn concurrent_transfers_conserve_the_total() {
    let e = std::sync::Arc::new(fixture());
    const ACCOUNTS: usize = 8;
    for i in 0..ACCOUNTS {
        e.put(
            "tbl",
            json!({"pk": {"S": format!("acct{i}")}, "bal": {"N": "100"}}),
        );
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                for n in 0..100usize {
                    let from = (t * 7 + n * 3) % ACCOUNTS;
                    let to = (from + 1 + n % (ACCOUNTS - 1)) % ACCOUNTS;
                    let req = transfer(
                        &format!("acct{from}"),
                        &format!("acct{to}"),
                        (n % 50) as i64 + 1,
                    );
                    match e.svc.execute("TransactWriteItems", req) {
                        Ok(_) => {}
                        Err(err) => assert_eq!(err.code, "TransactionCanceledException"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().is_ok());
    }
    let balances: Vec<i64> = (0..ACCOUNTS)
        .map(|i| balance(&e, &format!("acct{i}")))
        .collect();
    assert!(balances.iter().all(|b| *b >= 0), "{balances:?}");
    assert_eq!(balances.iter().sum::<i64>(), 100 * ACCOUNTS as i64);
}

#[track_caller]
fn check_legacy(e: &Env, op: &str, extra: Value, expected_item: Value) {
    let mut req = json!({"TableName": "tbl", "Key": key("l")});
    for (k, v) in extra.as_object().into_iter().flatten() {
        req[k] = v.clone();
    }
    if op == "PutItem"
        && let Some(o) = req.as_object_mut()
    {
        o.remove("Key");
    }
    e.ok(op, req);
    assert_eq!(e.get("tbl", key("l")), expected_item);
}

#[test]
fn legacy_write_parameters() {
    let e = fixture();
    let item = |n: &str| json!({"pk": {"S": "l"}, "n": {"N": n}});
    check_legacy(
        &e,
        "PutItem",
        json!({"Item": item("1"), "Expected": {"pk": {"Exists": false}}}),
        item("1"),
    );
    check_legacy(
        &e,
        "PutItem",
        json!({"Item": item("2"), "Expected": {"n": {"Value": {"N": "1"}}}}),
        item("2"),
    );
    check_legacy(
        &e,
        "PutItem",
        json!({"Item": item("3"), "Expected": {"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "2"}]}}}),
        item("3"),
    );
    check_legacy(
        &e,
        "PutItem",
        json!({"Item": item("4"), "ConditionalOperator": "OR", "Expected": {"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "0"}]}, "pk": {"ComparisonOperator": "NOT_NULL"}}}),
        item("4"),
    );
    check_legacy(
        &e,
        "UpdateItem",
        json!({"AttributeUpdates": {"n": {"Action": "ADD", "Value": {"N": "5"}}, "s": {"Value": {"SS": ["x", "y"]}}}}),
        json!({"pk": {"S": "l"}, "n": {"N": "9"}, "s": {"SS": ["x", "y"]}}),
    );
    check_legacy(
        &e,
        "UpdateItem",
        json!({"AttributeUpdates": {"s": {"Action": "DELETE", "Value": {"SS": ["x"]}}, "n": {"Action": "DELETE"}}, "Expected": {"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "8"}]}}}),
        json!({"pk": {"S": "l"}, "s": {"SS": ["y"]}}),
    );
    let out = e.ok(
        "GetItem",
        json!({"TableName": "tbl", "Key": key("l"), "AttributesToGet": ["s", "zz"]}),
    );
    assert_eq!(out, json!({"Item": {"s": {"SS": ["y"]}}}));
    e.err("PutItem", json!({"TableName": "tbl", "Item": item("5"), "Expected": {"n": {"Exists": true, "Value": {"N": "100"}}}}), "ConditionalCheckFailedException", "The conditional request failed");
    e.err("DeleteItem", json!({"TableName": "tbl", "Key": key("l"), "Expected": {"n": {"Exists": false, "Value": {"N": "1"}}}}), VALIDATION, "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: n");
    e.err("PutItem", json!({"TableName": "tbl", "Item": item("5"), "Expected": {"n": {"Exists": false}}, "ConditionExpression": "attribute_exists(pk)"}), VALIDATION, "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}");
    e.err("UpdateItem", json!({"TableName": "tbl", "Key": key("l"), "AttributeUpdates": {"n": {"Action": "PUT", "Value": {"N": "1"}}}, "UpdateExpression": "SET n = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}}), VALIDATION, "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}");
    e.err("GetItem", json!({"TableName": "tbl", "Key": key("l"), "AttributesToGet": ["n"], "ProjectionExpression": "n"}), VALIDATION, "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}");
    e.err("UpdateItem", json!({"TableName": "tbl", "Key": key("l"), "AttributeUpdates": {"pk": {"Value": {"S": "z"}}}}), VALIDATION, "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key");
}

#[test]
fn tags_and_informational_operations() {
    let e = fixture();
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/tbl";
    e.ok("TagResource", json!({"ResourceArn": arn, "Tags": [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}]}));
    e.ok(
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "b"}]}),
    );
    assert_eq!(
        e.ok("ListTagsOfResource", json!({"ResourceArn": arn})),
        json!({"Tags": [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "b"}]})
    );
    e.ok(
        "UntagResource",
        json!({"ResourceArn": arn, "TagKeys": ["env"]}),
    );
    assert_eq!(
        e.ok("ListTagsOfResource", json!({"ResourceArn": arn})),
        json!({"Tags": [{"Key": "team", "Value": "b"}]})
    );
    let missing = "arn:aws:dynamodb:us-east-1:000000000000:table/nope";
    e.err(
        "TagResource",
        json!({"ResourceArn": missing, "Tags": []}),
        "ResourceNotFoundException",
        &format!("Requested resource not found: ResourcArn: {missing} not found"),
    );
    e.err(
        "ListTagsOfResource",
        json!({"ResourceArn": "t"}),
        VALIDATION,
        "Invalid TableArn: t",
    );
    assert_eq!(
        e.ok("DescribeEndpoints", json!({})),
        json!({"Endpoints": [{"Address": "dynamodb.us-east-1.amazonaws.com", "CachePeriodInMinutes": 1440}]})
    );
    assert_eq!(
        e.ok("DescribeLimits", json!({}))["TableMaxReadCapacityUnits"],
        40000
    );
}

/// Provisioned capacity in batches, as DynamoDB answers them: the requests of a table short
/// of capacity come back unprocessed while the other tables' run; a batch of throttled
/// tables only is refused. Buckets hold one second (`burst_secs = 1`); a 20 KB item puts a
/// 1-WCU table 19 units in debt (about 19 s), a consistent read of it a 1-RCU table 4 in debt.
#[test]
fn throttled_tables_of_a_batch_come_back_unprocessed() {
    use nuvem_dynamo::{DynamoConfig, DynamoService};
    use nuvem_store::{Durability, FjallEngine, Store};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).unwrap());
    let config = DynamoConfig {
        burst_secs: 1,
        ..DynamoConfig::default()
    };
    let e = Env::from(DynamoService::open(store, config).unwrap());
    e.create("free", ("pk", "S"), None);
    e.ok(
        "CreateTable",
        json!({"TableName": "tiny", "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}),
    );
    let big = json!({"pk": {"S": "big"}, "blob": {"S": "x".repeat(20 * 1024 - 10)}});
    e.put("tiny", big);
    let exceeded = "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.";
    let put = |k: &str| json!({"PutRequest": {"Item": {"pk": {"S": k}}}});
    e.err(
        "PutItem",
        json!({"TableName": "tiny", "Item": {"pk": {"S": "a"}}}),
        "ProvisionedThroughputExceededException",
        exceeded,
    );
    let out = e.ok(
        "BatchWriteItem",
        json!({"RequestItems": {"tiny": [put("t1")], "free": [put("f1")]}}),
    );
    assert_eq!(out["UnprocessedItems"], json!({"tiny": [put("t1")]}));
    assert!(e.get("free", json!({"pk": {"S": "f1"}})).is_object());
    e.err(
        "BatchWriteItem",
        json!({"RequestItems": {"tiny": [put("t2")]}}),
        "ProvisionedThroughputExceededException",
        exceeded,
    );
    // Reads: a consistent read of the 20 KB item costs 5 RCU of 1.
    e.ok(
        "GetItem",
        json!({"TableName": "tiny", "Key": {"pk": {"S": "big"}}, "ConsistentRead": true}),
    );
    let keys = json!({"Keys": [{"pk": {"S": "big"}}], "ProjectionExpression": "pk"});
    let out = e.ok(
        "BatchGetItem",
        json!({"RequestItems": {"tiny": keys, "free": {"Keys": [{"pk": {"S": "f1"}}]}}}),
    );
    assert_eq!(out["UnprocessedKeys"], json!({"tiny": keys}));
    assert_eq!(out["Responses"]["free"].as_array().unwrap().len(), 1);
}
