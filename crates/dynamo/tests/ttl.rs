//! Time to Live at the service's public API: UpdateTimeToLive/DescribeTimeToLive (shapes and
//! AWS's errors), and the sweep that deletes exactly the expired items, keeping the table's
//! stats and its secondary indexes as a DeleteItem would.

mod support;

use serde_json::{Value, json};
use support::{Env, VALIDATION, env};

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn enable(e: &Env, table: &str, attr: &str) -> Value {
    e.ok(
        "UpdateTimeToLive",
        json!({"TableName": table, "TimeToLiveSpecification": {"AttributeName": attr, "Enabled": true}}),
    )
}

#[test]
fn update_and_describe_time_to_live() {
    let e = env();
    e.create("tab", ("pk", "S"), None);
    assert_eq!(
        e.ok("DescribeTimeToLive", json!({"TableName": "tab"})),
        json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}})
    );
    assert_eq!(
        enable(&e, "tab", "expires"),
        json!({"TimeToLiveSpecification": {"AttributeName": "expires", "Enabled": true}})
    );
    assert_eq!(
        e.ok("DescribeTimeToLive", json!({"TableName": "tab"})),
        json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}})
    );
    let update = |attr: &str, enabled: bool| json!({"TableName": "tab", "TimeToLiveSpecification": {"AttributeName": attr, "Enabled": enabled}});
    e.err(
        "UpdateTimeToLive",
        update("expires", true),
        VALIDATION,
        "TimeToLive is already enabled",
    );
    e.err(
        "UpdateTimeToLive",
        update("other", true),
        VALIDATION,
        "TimeToLive is active on a different AttributeName: current AttributeName is expires",
    );
    e.err(
        "UpdateTimeToLive",
        update("other", false),
        VALIDATION,
        "TimeToLive is active on a different AttributeName: current AttributeName is expires",
    );
    assert_eq!(
        e.ok("UpdateTimeToLive", update("expires", false)),
        json!({"TimeToLiveSpecification": {"AttributeName": "expires", "Enabled": false}})
    );
    e.err(
        "UpdateTimeToLive",
        update("expires", false),
        VALIDATION,
        "TimeToLive is already disabled",
    );
    // Once disabled, another attribute may be chosen.
    enable(&e, "tab", "other");
    // A table ARN names the table too.
    assert_eq!(
        e.ok(
            "DescribeTimeToLive",
            json!({"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/tab"})
        )["TimeToLiveDescription"]["AttributeName"],
        json!("other")
    );
}

#[test]
fn time_to_live_input_errors() {
    let e = env();
    e.create("tab", ("pk", "S"), None);
    e.err(
        "UpdateTimeToLive",
        json!({"TableName": "tab"}),
        VALIDATION,
        "1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null",
    );
    e.err(
        "UpdateTimeToLive",
        json!({"TableName": "tab", "TimeToLiveSpecification": {"AttributeName": ""}}),
        VALIDATION,
        "2 validation errors detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null; Value '' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    e.err(
        "UpdateTimeToLive",
        json!({"TableName": "nope", "TimeToLiveSpecification": {"AttributeName": "a", "Enabled": true}}),
        "ResourceNotFoundException",
        "Requested resource not found: Table: nope not found",
    );
    e.err(
        "DescribeTimeToLive",
        json!({"TableName": "nope"}),
        "ResourceNotFoundException",
        "Requested resource not found: Table: nope not found",
    );
}

/// The keys `pk` of the items a Query or Scan output holds, sorted.
fn pks(out: &Value) -> Vec<String> {
    let mut v: Vec<String> = out["Items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["pk"]["S"].as_str().map(str::to_owned))
        .collect();
    v.sort();
    v
}

#[test]
fn sweep_deletes_exactly_the_expired_items_and_their_index_entries() {
    let e = env();
    e.ok(
        "CreateTable",
        json!({
            "TableName": "tab",
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [{
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
        }),
    );
    let now = now_secs();
    let items = [
        ("expired", json!({"N": (now - 100).to_string()})),
        ("expired-fraction", json!({"N": format!("{}.5", now - 10)})),
        ("future", json!({"N": (now + 3600).to_string()})),
        ("string", json!({"S": (now - 100).to_string()})),
        // More than five years in the past: ignored, as by DynamoDB.
        (
            "ancient",
            json!({"N": (now - 6 * 365 * 86_400).to_string()}),
        ),
        ("list", json!({"L": [{"N": "1"}]})),
    ];
    for (pk, ttl) in &items {
        e.put("tab", json!({"pk": {"S": pk}, "g": {"S": "x"}, "exp": ttl}));
    }
    e.put("tab", json!({"pk": {"S": "no-ttl"}, "g": {"S": "x"}}));

    // Without TTL enabled, nothing expires.
    assert_eq!(e.svc.sweep().unwrap(), (0, 0));
    enable(&e, "tab", "exp");
    // Expired items are still readable until swept, as in DynamoDB.
    assert_ne!(e.get("tab", json!({"pk": {"S": "expired"}})), Value::Null);

    assert_eq!(e.svc.sweep().unwrap(), (2, 0));
    let left = vec!["ancient", "future", "list", "no-ttl", "string"];
    assert_eq!(pks(&e.ok("Scan", json!({"TableName": "tab"}))), left);
    // The index lost the same entries, in the same transactions.
    let q = e.ok(
        "Query",
        json!({"TableName": "tab", "IndexName": "by_g", "KeyConditionExpression": "g = :g",
               "ExpressionAttributeValues": {":g": {"S": "x"}}}),
    );
    assert_eq!(pks(&q), left);
    let table = &e.ok("DescribeTable", json!({"TableName": "tab"}))["Table"];
    assert_eq!(table["ItemCount"], json!(5));
    assert_eq!(table["GlobalSecondaryIndexes"][0]["ItemCount"], json!(5));
    // A second sweep finds nothing more.
    assert_eq!(e.svc.sweep().unwrap(), (0, 0));
}

#[test]
fn sweep_pages_through_a_large_table() {
    let e = env();
    e.create("tab", ("pk", "S"), Some(("sk", "N")));
    enable(&e, "tab", "exp");
    let now = now_secs();
    let n = nuvem_dynamo::ttl::SWEEP_PAGE * 2 + 7;
    for i in 0..n {
        let exp = if i % 3 == 0 { now - 60 } else { now + 3600 };
        e.put(
            "tab",
            json!({"pk": {"S": "p"}, "sk": {"N": i.to_string()}, "exp": {"N": exp.to_string()}}),
        );
    }
    let expired = n.div_ceil(3);
    assert_eq!(e.svc.sweep().unwrap(), (expired, 0));
    let table = &e.ok("DescribeTable", json!({"TableName": "tab"}))["Table"];
    assert_eq!(table["ItemCount"], json!(n - expired));
}

#[test]
fn an_item_whose_ttl_moved_is_not_swept() {
    let e = env();
    e.create("tab", ("pk", "S"), None);
    enable(&e, "tab", "exp");
    let now = now_secs();
    e.put(
        "tab",
        json!({"pk": {"S": "a"}, "exp": {"N": (now - 5).to_string()}}),
    );
    // Moved into the future before the sweep: kept.
    e.ok(
        "UpdateItem",
        json!({"TableName": "tab", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET exp = :e",
               "ExpressionAttributeValues": {":e": {"N": (now + 600).to_string()}}}),
    );
    assert_eq!(e.svc.sweep().unwrap(), (0, 0));
    assert_ne!(e.get("tab", json!({"pk": {"S": "a"}})), Value::Null);
    // Swept once it is in the past at the sweep's time.
    let later = ((now + 601) * 1000) as u64;
    assert_eq!(e.svc.sweep_at(later).unwrap(), (1, 0));
    assert_eq!(e.get("tab", json!({"pk": {"S": "a"}})), Value::Null);
}
