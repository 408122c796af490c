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

#[test]
fn issue_18_invalid_input_accepted() {
    let e = table();
    let query = |filter: Value, extra: Value| {
        let mut input = json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}});
        if let Some(f) = filter.as_str() {
            input["FilterExpression"] = json!(f);
        }
        for (k, v) in extra.as_object().into_iter().flatten() {
            if k == "Values" {
                for (vk, vv) in v.as_object().into_iter().flatten() {
                    input["ExpressionAttributeValues"][vk] = vv.clone();
                }
            } else {
                input[k] = v.clone();
            }
        }
        input
    };
    let invalid =
        |kind: &str, detail: &str| format!("ValidationException: Invalid {kind}: {detail}");
    // Filters on key attributes.
    check(
        &e,
        "Query",
        query(json!("sk > :v"), json!({"Values": {":v": {"N": "1"}}})),
        Err(
            "ValidationException: Filter Expression can only contain non-primary key attributes: Primary key attribute: sk",
        ),
    );
    check(
        &e,
        "Query",
        query(
            json!("x > :v OR attribute_exists(pk)"),
            json!({"Values": {":v": {"N": "1"}}}),
        ),
        Err(
            "ValidationException: Filter Expression can only contain non-primary key attributes: Primary key attribute: pk",
        ),
    );
    check(
        &e,
        "Query",
        json!({"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}}, "QueryFilter": {"sk": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]}}}),
        Err(
            "ValidationException: QueryFilter can only contain non-primary key attributes: Primary key attribute: sk",
        ),
    );
    check(
        &e,
        "Scan",
        json!({"FilterExpression": "sk > :v", "ExpressionAttributeValues": {":v": {"N": "3"}}}),
        Ok(json!({"Count": 2})),
    );
    // ExclusiveStartKey outside the query's partition or range, or not a full key.
    let start =
        |pk: &str, sk: &str| json!({"ExclusiveStartKey": {"pk": {"S": pk}, "sk": {"N": sk}}});
    check(
        &e,
        "Query",
        query(Value::Null, start("a", "2")),
        Ok(json!({"Count": 3})),
    );
    check(
        &e,
        "Query",
        query(Value::Null, start("b", "2")),
        Err(
            "ValidationException: The provided starting key is outside query boundaries based on provided conditions",
        ),
    );
    let ranged = json!({"KeyConditionExpression": "pk = :p AND sk > :v", "ExpressionAttributeValues": {":p": {"S": "a"}, ":v": {"N": "3"}}, "ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "2"}}});
    check(
        &e,
        "Query",
        ranged,
        Err(
            "ValidationException: The provided starting key is outside query boundaries based on provided conditions",
        ),
    );
    check(
        &e,
        "Query",
        query(
            Value::Null,
            json!({"ExclusiveStartKey": {"pk": {"S": "a"}}}),
        ),
        Err("ValidationException: The provided starting key is invalid"),
    );
    check(
        &e,
        "Query",
        query(
            Value::Null,
            json!({"ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"N": "1"}}}),
        ),
        Err("ValidationException: The provided starting key is invalid"),
    );
    check(
        &e,
        "Scan",
        json!({"ExclusiveStartKey": {"pk": {"S": "a"}}}),
        Err(
            "ValidationException: The provided starting key is invalid: The provided key element does not match the schema",
        ),
    );
    // Partition "a" is in exactly one of two segments.
    let seg = |s: u32| json!({"Segment": s, "TotalSegments": 2, "ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "1"}}});
    let outcomes: Vec<bool> = (0..2).map(|s| e.svc.execute("Scan", json!({"TableName": "tbl", "Segment": s, "TotalSegments": 2, "ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "1"}}})).is_ok()).collect();
    let wrong = outcomes
        .iter()
        .position(|ok| !ok)
        .expect("one segment refuses the key") as u32;
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1);
    check(
        &e,
        "Scan",
        seg(wrong),
        Err(&format!(
            "ValidationException: The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: 2 Segment: {wrong}"
        )),
    );
    check(&e, "Scan", seg(1 - wrong), Ok(json!({"Count": 4})));
    // The expression checks DynamoDB performs.
    let filter = |expr: &str, values: Value| query(json!(expr), json!({"Values": values}));
    let n = json!({":v": {"N": "1"}});
    check(
        &e,
        "Query",
        filter("((x = :v))", n.clone()),
        Err(&invalid(
            "FilterExpression",
            "The expression has redundant parentheses;",
        )),
    );
    check(
        &e,
        "Query",
        filter("_x = :v", n.clone()),
        Err(&invalid(
            "FilterExpression",
            "Syntax error; token: \"_x\", near: \"_x =\"",
        )),
    );
    check(
        &e,
        "Query",
        filter("contains(x, x)", Value::Null),
        Err(&invalid(
            "FilterExpression",
            "The first operand must be distinct from the remaining operands for this operator or function; operator: contains, first operand: [x]",
        )),
    );
    check(
        &e,
        "Query",
        filter("x = x", Value::Null),
        Err(&invalid(
            "FilterExpression",
            "The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [x]",
        )),
    );
    check(
        &e,
        "Query",
        filter("x BETWEEN :v AND x", n.clone()),
        Err(&invalid(
            "FilterExpression",
            "The first operand must be distinct from the remaining operands for this operator or function; operator: BETWEEN, first operand: [x]",
        )),
    );
    check(
        &e,
        "Query",
        filter("x IN (:v, x)", n.clone()),
        Err(&invalid(
            "FilterExpression",
            "The first operand must be distinct from the remaining operands for this operator or function; operator: IN, first operand: [x]",
        )),
    );
    check(
        &e,
        "Query",
        filter(
            "x BETWEEN :v AND :s",
            json!({":v": {"N": "1"}, ":s": {"S": "a"}}),
        ),
        Err(&invalid(
            "FilterExpression",
            "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}",
        )),
    );
    check(
        &e,
        "Query",
        filter(
            "x BETWEEN :w AND :v",
            json!({":v": {"N": "1"}, ":w": {"N": "2"}}),
        ),
        Err(&invalid(
            "FilterExpression",
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {N:1}",
        )),
    );
    check(
        &e,
        "Query",
        filter("attribute_type(x, y)", Value::Null),
        Err(&invalid(
            "FilterExpression",
            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}",
        )),
    );
    check(
        &e,
        "Query",
        filter("attribute_type(x, size(y))", Value::Null),
        Err(&invalid(
            "FilterExpression",
            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N",
        )),
    );
    check(
        &e,
        "Query",
        filter("size(x)", Value::Null),
        Err(&invalid(
            "FilterExpression",
            "The function is not allowed to be used this way in an expression; function: size",
        )),
    );
    check(
        &e,
        "Query",
        filter("x = :v AND size(x)", n.clone()),
        Err(&invalid(
            "FilterExpression",
            "The function is not allowed to be used this way in an expression; function: size",
        )),
    );
    check(
        &e,
        "Query",
        filter("attribute_exists(x) = :v", n.clone()),
        Err(&invalid(
            "FilterExpression",
            "The function is not allowed to be used this way in an expression; function: attribute_exists",
        )),
    );
    check(
        &e,
        "Query",
        filter("size(contains(x, :v)) > :v", n.clone()),
        Err(&invalid(
            "FilterExpression",
            "The function is not allowed to be used this way in an expression; function: contains",
        )),
    );
    let key = json!({"pk": {"S": "a"}, "sk": {"N": "1"}});
    check(
        &e,
        "UpdateItem",
        json!({"Key": key, "UpdateExpression": "REMOVE nope.deeper"}),
        Err(
            "ValidationException: The document path provided in the update expression is invalid for update",
        ),
    );
    check(
        &e,
        "UpdateItem",
        json!({"Key": key, "UpdateExpression": "REMOVE nope"}),
        Ok(json!({})),
    );
}

#[test]
fn issue_18_response_shapes() {
    let e = table();
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/tbl";
    let tag = |key: &str, value: &str| json!({"ResourceArn": arn, "Tags": [{"Key": key, "Value": value}]});
    // TagResource and UntagResource have no output members: an empty body.
    assert_eq!(
        e.svc.execute("TagResource", tag("env", "dev")).ok(),
        Some(Value::Null)
    );
    assert_eq!(
        e.svc
            .execute(
                "UntagResource",
                json!({"ResourceArn": arn, "TagKeys": ["env"]})
            )
            .ok(),
        Some(Value::Null)
    );
    // Tag keys and values: lengths and characters, in AWS's constraint wording.
    let pattern = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$";
    check(
        &e,
        "TagResource",
        tag("a b_c.d:e/f=g+h-i@j", "ünï cödé 1"),
        Ok(json!({})),
    );
    check(
        &e,
        "TagResource",
        tag("", "v"),
        Err(
            "ValidationException: 1 validation error detected: Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
    );
    check(
        &e,
        "TagResource",
        tag(&"k".repeat(129), "v"),
        Err(&format!(
            "ValidationException: 1 validation error detected: Value '{}' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128",
            "k".repeat(129)
        )),
    );
    check(
        &e,
        "TagResource",
        tag("k!", "v"),
        Err(&format!(
            "ValidationException: 1 validation error detected: Value 'k!' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
        )),
    );
    check(
        &e,
        "TagResource",
        tag("k", "tab\there"),
        Err(&format!(
            "ValidationException: 1 validation error detected: Value 'tab\there' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
        )),
    );
    check(
        &e,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "ok", "Value": "v"}, {"Key": "k"}]}),
        Err(
            "ValidationException: 1 validation error detected: Value null at 'tags.2.member.value' failed to satisfy constraint: Member must not be null",
        ),
    );
    // DeleteTable's description has no key schema, attribute definitions or creation time;
    // on-demand tables date their billing mode.
    let described = e
        .svc
        .execute("DescribeTable", json!({"TableName": "tbl"}))
        .expect("describe");
    let created = described["Table"]["CreationDateTime"].as_f64();
    assert_eq!(
        described["Table"]["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"].as_f64(),
        created
    );
    let deleted = e
        .svc
        .execute("DeleteTable", json!({"TableName": "tbl"}))
        .expect("delete");
    let d = &deleted["TableDescription"];
    for absent in ["KeySchema", "AttributeDefinitions", "CreationDateTime"] {
        assert_eq!(d.get(absent), None, "{absent} in {d}");
    }
    assert_eq!(
        (d["TableStatus"].as_str(), d["ItemCount"].as_u64()),
        (Some("DELETING"), Some(5))
    );
}

#[test]
fn issue_18_size_limits() {
    let e = table();
    let key = json!({"pk": {"S": "a"}, "sk": {"N": "1"}});
    let long = "n".repeat(65536);
    let fits = "n".repeat(65535);
    let too_large = "ValidationException: 1 validation error detected: Attribute name is too large, must be less than 65536 bytes";
    let item = |name: &str| json!({"pk": {"S": "a"}, "sk": {"N": "7"}, name: {"S": "v"}});
    check(&e, "PutItem", json!({"Item": item(&fits)}), Ok(json!({})));
    check(&e, "PutItem", json!({"Item": item(&long)}), Err(too_large));
    check(
        &e,
        "PutItem",
        json!({"Item": {"pk": {"S": "a"}, "sk": {"N": "7"}, "m": {"M": {long.as_str(): {"S": "v"}}}}}),
        Err(too_large),
    );
    check(
        &e,
        "UpdateItem",
        json!({"Key": key, "UpdateExpression": "SET #n = :v", "ExpressionAttributeNames": {"#n": long}, "ExpressionAttributeValues": {":v": {"S": "v"}}}),
        Err(too_large),
    );
    check(
        &e,
        "UpdateItem",
        json!({"Key": key, "UpdateExpression": "SET m = :v", "ExpressionAttributeValues": {":v": {"M": {long.as_str(): {"S": "v"}}}}}),
        Err(too_large),
    );
    // A transaction carries at most 4 MB of items: eleven puts of 390 KB are 4.2 MB.
    let big = "x".repeat(390 * 1024);
    let puts = |n: usize| -> Value {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"Put": {"TableName": "tbl", "Item": {"pk": {"S": "big"}, "sk": {"N": i.to_string()}, "x": {"S": big}}}}))
            .collect();
        json!({"TransactItems": items})
    };
    check(&e, "TransactWriteItems", puts(10), Ok(json!({})));
    check(
        &e,
        "TransactWriteItems",
        puts(11),
        Err(
            "ValidationException: Transaction request size has exceeded the maximum allowed size of 4 MB",
        ),
    );
}

#[test]
fn issue_18_key_attribute_names() {
    let e = env();
    let create = |name: &str| {
        json!({"TableName": "named", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}]})
    };
    let long = "k".repeat(256);
    let msg = |bound: &str, name: &str| {
        format!(
            "ValidationException: 2 validation errors detected: Value '{name}' at 'keySchema.1.member.attributeName' failed to satisfy constraint: Member must have length {bound}; Value '{name}' at 'attributeDefinitions.1.member.attributeName' failed to satisfy constraint: Member must have length {bound}"
        )
    };
    check(
        &e,
        "CreateTable",
        create(&long),
        Err(&msg("less than or equal to 255", &long)),
    );
    check(
        &e,
        "CreateTable",
        create(""),
        Err(&msg("greater than or equal to 1", "")),
    );
    check(&e, "CreateTable", create(&"k".repeat(255)), Ok(json!({})));
}
