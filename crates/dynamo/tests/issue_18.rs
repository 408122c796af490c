//! Issue #18, "Exactness": cases a public suite written against real DynamoDB found, through
//! the service's operations. One `check` per area, one line per case; expected errors are
//! `"Code: message"`.

mod support;

use serde_json::{Value, json};
use support::{Env, env};

/// A table `tbl` (pk S, sk N) holding `pk = "a"`, `sk` 1 to 5, each with `x` = `sk * 10`.
fn table() -> Env {
    let e = env();
    e.create("tbl", ("pk", "S"), Some(("sk", "N")));
    for i in 1..=5 {
        e.put(
            "tbl",
            json!({"pk": {"S": "a"}, "sk": {"N": i.to_string()}, "x": {"N": (i * 10).to_string()}}),
        );
    }
    e
}

/// Runs `op` on `input` (with `"TableName": "tbl"` added when missing); on success every
/// member of `expected` must equal the output's member of the same name.
#[track_caller]
fn check(e: &Env, op: &str, mut input: Value, expected: Result<Value, &str>) {
    if let Some(obj) = input.as_object_mut()
        && !obj.contains_key("TableName")
        && !op.starts_with("Transact")
        && !op.starts_with("Batch")
        && !op.ends_with("Resource")
    {
        obj.insert("TableName".into(), json!("tbl"));
    }
    let got = e
        .svc
        .execute(op, input.clone())
        .map_err(|err| format!("{}: {}", err.code, err.message));
    match (got, expected) {
        (Ok(out), Ok(want)) => {
            for (k, v) in want.as_object().into_iter().flatten() {
                assert_eq!(out.get(k), Some(v), "{op} {input}: member {k} of {out}");
            }
        }
        (Err(got), Err(want)) => assert_eq!(got, want, "{op} {input}"),
        (got, want) => panic!("{op} {input}: got {got:?}, expected {want:?}"),
    }
}

#[test]
fn issue_18_valid_requests_refused() {
    let e = table();
    let q = |expr: &str| {
        let mut values = json!({":p": {"S": "a"}});
        if expr.contains(":v") {
            values[":v"] = json!({"N": "3"});
        }
        json!({"KeyConditionExpression": expr, "ExpressionAttributeValues": values})
    };
    let legacy = json!({"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}});
    // Legacy KeyConditions mix with ProjectionExpression, FilterExpression and Select.
    check(
        &e,
        "Query",
        json!({"KeyConditions": legacy, "ProjectionExpression": "x"}),
        Ok(json!({"Count": 5})),
    );
    check(
        &e,
        "Query",
        json!({"KeyConditions": legacy, "FilterExpression": "x > :v", "ExpressionAttributeValues": {":v": {"N": "30"}}}),
        Ok(json!({"Count": 2, "ScannedCount": 5})),
    );
    check(
        &e,
        "Query",
        json!({"KeyConditions": legacy, "Select": "COUNT"}),
        Ok(json!({"Count": 5})),
    );
    check(
        &e,
        "Query",
        json!({"KeyConditions": legacy, "Select": "SPECIFIC_ATTRIBUTES", "ProjectionExpression": "x"}),
        Ok(json!({"Count": 5})),
    );
    // Key conditions with the operands reversed.
    check(&e, "Query", q(":p = pk"), Ok(json!({"Count": 5})));
    check(
        &e,
        "Query",
        q("pk = :p AND :v < sk"),
        Ok(json!({"Count": 2})),
    );
    check(
        &e,
        "Query",
        q(":v >= sk AND :p = pk"),
        Ok(json!({"Count": 3})),
    );
    check(
        &e,
        "Query",
        q("pk = :p AND :v = sk"),
        Ok(json!({"Count": 1})),
    );
    // Functions whose first operand is a value.
    let f = |expr: &str, v: Value| json!({"KeyConditionExpression": "pk = :p", "FilterExpression": expr, "ExpressionAttributeValues": v});
    check(
        &e,
        "Query",
        f(
            "size(:s) = :n",
            json!({":p": {"S": "a"}, ":s": {"S": "abc"}, ":n": {"N": "3"}}),
        ),
        Ok(json!({"Count": 5})),
    );
    check(
        &e,
        "Query",
        f(
            "begins_with(:s, :b)",
            json!({":p": {"S": "a"}, ":s": {"S": "abc"}, ":b": {"S": "ab"}}),
        ),
        Ok(json!({"Count": 5})),
    );
    check(
        &e,
        "Query",
        f(
            "attribute_type(:s, :t)",
            json!({":p": {"S": "a"}, ":s": {"S": "abc"}, ":t": {"S": "N"}}),
        ),
        Ok(json!({"Count": 0})),
    );
    check(
        &e,
        "Query",
        f(
            "size(:s) > x",
            json!({":p": {"S": "a"}, ":s": {"L": [{"N": "1"}, {"N": "1"}]}}),
        ),
        Ok(json!({"Count": 0})),
    );
    // Deep nesting within DynamoDB's own limits: 149 levels of parentheses, 299 NOTs.
    let nested = format!("{}x = :v{}", "(x = :v OR ".repeat(149), ")".repeat(149));
    check(
        &e,
        "Query",
        f(&nested, json!({":p": {"S": "a"}, ":v": {"N": "30"}})),
        Ok(json!({"Count": 1})),
    );
    let nots = format!("{}x = :v", "NOT ".repeat(299));
    check(
        &e,
        "Query",
        f(&nots, json!({":p": {"S": "a"}, ":v": {"N": "30"}})),
        Ok(json!({"Count": 4})),
    );
}

#[test]
fn issue_18_wrong_semantics() {
    let e = table();
    let key = |sk: &str| json!({"pk": {"S": "a"}, "sk": {"N": sk}});
    let upd = |sk: &str, expr: &str, values: Value| {
        let mut input =
            json!({"Key": key(sk), "UpdateExpression": expr, "ReturnValues": "ALL_NEW"});
        if !values.is_null() {
            input["ExpressionAttributeValues"] = values;
        }
        input
    };
    // An update that only removes or deletes does not create a missing item.
    check(
        &e,
        "UpdateItem",
        upd("9", "REMOVE x", Value::Null),
        Ok(json!({})),
    );
    check(
        &e,
        "UpdateItem",
        upd("9", "DELETE s :s", json!({":s": {"SS": ["a"]}})),
        Ok(json!({})),
    );
    check(
        &e,
        "UpdateItem",
        upd("9", "REMOVE x DELETE s :s", json!({":s": {"SS": ["a"]}})),
        Ok(json!({})),
    );
    check(
        &e,
        "UpdateItem",
        json!({"Key": key("9"), "AttributeUpdates": {"x": {"Action": "DELETE"}}}),
        Ok(json!({})),
    );
    check(
        &e,
        "TransactWriteItems",
        json!({"TransactItems": [{"Update": {"TableName": "tbl", "Key": key("9"), "UpdateExpression": "REMOVE x"}}]}),
        Ok(json!({})),
    );
    check(&e, "Scan", json!({}), Ok(json!({"Count": 5})));
    // ...but SET and ADD do, and a REMOVE of an existing item's attribute still works.
    check(
        &e,
        "UpdateItem",
        upd("8", "ADD n :one", json!({":one": {"N": "1"}})),
        Ok(json!({"Attributes": {"pk": {"S": "a"}, "sk": {"N": "8"}, "n": {"N": "1"}}})),
    );
    check(
        &e,
        "UpdateItem",
        upd("1", "REMOVE x", Value::Null),
        Ok(json!({"Attributes": key("1")})),
    );
    // Indexes past the end of a list append in index order.
    let list =
        json!({":l": {"L": [{"S": "a"}]}, ":x": {"S": "x"}, ":y": {"S": "y"}, ":z": {"S": "z"}});
    check(
        &e,
        "UpdateItem",
        upd("2", "SET l = :l", json!({":l": list[":l"]})),
        Ok(json!({})),
    );
    check(
        &e,
        "UpdateItem",
        upd(
            "2",
            "SET l[9] = :x, l[5] = :y, l[7] = :z",
            json!({":x": list[":x"], ":y": list[":y"], ":z": list[":z"]}),
        ),
        Ok(
            json!({"Attributes": {"pk": {"S": "a"}, "sk": {"N": "2"}, "x": {"N": "20"}, "l": {"L": [{"S": "a"}, {"S": "y"}, {"S": "z"}, {"S": "x"}]}}}),
        ),
    );
    check(
        &e,
        "UpdateItem",
        upd(
            "2",
            "SET l[0] = :x, l[3] = :z, l[1] = :y",
            json!({":x": list[":x"], ":y": list[":y"], ":z": list[":z"]}),
        ),
        Ok(
            json!({"Attributes": {"pk": {"S": "a"}, "sk": {"N": "2"}, "x": {"N": "20"}, "l": {"L": [{"S": "x"}, {"S": "y"}, {"S": "z"}, {"S": "z"}]}}}),
        ),
    );
    // Per-item validation failures cancel the transaction with a ValidationError reason.
    let cancelled = |codes: &str| {
        format!(
            "TransactionCanceledException: Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
        )
    };
    let put_ok = json!({"Put": {"TableName": "tbl", "Item": {"pk": {"S": "b"}, "sk": {"N": "1"}}}});
    check(
        &e,
        "TransactWriteItems",
        json!({"TransactItems": [put_ok, {"Put": {"TableName": "tbl", "Item": {"pk": {"S": "b"}}}}]}),
        Err(&cancelled("None, ValidationError")),
    );
    check(
        &e,
        "TransactWriteItems",
        json!({"TransactItems": [{"Delete": {"TableName": "tbl", "Key": {"pk": {"S": "b"}, "sk": {"S": "1"}}}}, put_ok]}),
        Err(&cancelled("ValidationError, None")),
    );
    check(
        &e,
        "TransactWriteItems",
        json!({"TransactItems": [put_ok, {"Put": {"TableName": "tbl", "Item": {"pk": {"S": "b"}, "sk": {"S": "2"}}}}]}),
        Err(&cancelled("None, ValidationError")),
    );
    check(
        &e,
        "TransactWriteItems",
        json!({"TransactItems": [put_ok, {"Put": {"TableName": "tbl", "Item": {"pk": {"S": ""}, "sk": {"N": "2"}}}}]}),
        Err(
            "ValidationException: One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
        ),
    );
    let big = "x".repeat(300 * 1024);
    check(
        &e,
        "TransactWriteItems",
        json!({"TransactItems": [{"Update": {"TableName": "tbl", "Key": key("1"), "UpdateExpression": "SET a = :b, c = :b", "ExpressionAttributeValues": {":b": {"S": big}}}}, put_ok]}),
        Err(&cancelled("ValidationError, None")),
    );
    check(
        &e,
        "TransactWriteItems",
        json!({"TransactItems": [put_ok, {"Update": {"TableName": "tbl", "Key": key("1"), "UpdateExpression": "SET y = x + :s", "ExpressionAttributeValues": {":s": {"N": "1"}}}}, {"ConditionCheck": {"TableName": "tbl", "Key": key("3"), "ConditionExpression": "attribute_not_exists(x)"}}]}),
        Err(&cancelled("None, ValidationError, ConditionalCheckFailed")),
    );
    assert_eq!(
        e.get("tbl", json!({"pk": {"S": "b"}, "sk": {"N": "1"}})),
        Value::Null
    );
}
