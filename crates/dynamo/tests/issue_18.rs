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
