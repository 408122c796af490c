//! Query and Scan at the service's public API: key conditions, sort order, filters,
//! projections, Select, paging (Limit, ExclusiveStartKey, the 1 MB page), parallel scan and
//! the legacy KeyConditions/QueryFilter/ScanFilter/AttributesToGet forms.

mod support;

use serde_json::{Value, json};
use support::{Env, VALIDATION, env};

/// A table `t` (pk S, sk N) with partitions "a" (sk 1..=10, odd ones tagged) and "b" (sk 1..=3).
fn fixture() -> Env {
    let e = env();
    e.create("tbl", ("pk", "S"), Some(("sk", "N")));
    for sk in 1..=10 {
        let mut item =
            json!({"pk": {"S": "a"}, "sk": {"N": sk.to_string()}, "v": {"S": format!("v{sk}")}});
        if sk % 2 == 1 {
            item["odd"] = json!({"BOOL": true});
        }
        e.put("tbl", item);
    }
    for sk in 1..=3 {
        e.put(
            "tbl",
            json!({"pk": {"S": "b"}, "sk": {"N": sk.to_string()}}),
        );
    }
    e
}

/// The sort keys of a Query/Scan output's items, in order.
fn sks(out: &Value) -> Vec<i64> {
    out["Items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["sk"]["N"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn check_query(e: &Env, extra: Value, expected: &[i64]) {
    let mut input = json!({"TableName": "tbl", "ExpressionAttributeValues": {":p": {"S": "a"}}});
    if let (Some(obj), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if k == "ExpressionAttributeValues" && v.is_object() {
                for (vk, vv) in v.as_object().into_iter().flatten() {
                    obj["ExpressionAttributeValues"][vk] = vv.clone();
                }
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    let out = e.ok("Query", input);
    assert_eq!(sks(&out), expected);
}

#[test]
fn query_key_conditions() {
    let e = fixture();
    let kc = |k: &str| json!({"KeyConditionExpression": k});
    let n = |x: &str| json!({"N": x});
    let all: Vec<i64> = (1..=10).collect();
    check_query(&e, kc("pk = :p"), &all);
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ScanIndexForward": false}),
        &(1..=10).rev().collect::<Vec<_>>(),
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk < :x", "ExpressionAttributeValues": {":x": n("3")}}),
        &[1, 2],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk <= :x", "ExpressionAttributeValues": {":x": n("3")}}),
        &[1, 2, 3],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk > :x", "ExpressionAttributeValues": {":x": n("8")}}),
        &[9, 10],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk >= :x", "ExpressionAttributeValues": {":x": n("8")}}),
        &[8, 9, 10],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk = :x", "ExpressionAttributeValues": {":x": n("4")}}),
        &[4],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "sk = :x AND pk = :p", "ExpressionAttributeValues": {":x": n("4")}}),
        &[4],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi", "ExpressionAttributeValues": {":lo": n("4"), ":hi": n("6")}}),
        &[4, 5, 6],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi", "ScanIndexForward": false, "ExpressionAttributeValues": {":lo": n("4"), ":hi": n("6")}}),
        &[6, 5, 4],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk > :x", "ExpressionAttributeValues": {":x": n("100")}}),
        &[],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "#k = :p", "ExpressionAttributeNames": {"#k": "pk"}}),
        &all,
    );
    // Filters run after the key condition; Limit counts evaluated items.
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "FilterExpression": "attribute_exists(odd)"}),
        &[1, 3, 5, 7, 9],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "FilterExpression": "attribute_exists(odd)", "Limit": 4}),
        &[1, 3],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "Limit": 3, "ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "3"}}}),
        &[4, 5, 6],
    );
    check_query(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ScanIndexForward": false, "Limit": 2, "ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "3"}}}),
        &[2, 1],
    );
    // The legacy KeyConditions and QueryFilter.
    check_query(
        &e,
        json!({"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "b"}]}}, "ExpressionAttributeValues": null}),
        &[1, 2, 3],
    );
    check_query(
        &e,
        json!({"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}, "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [n("2"), n("5")]}}, "QueryFilter": {"odd": {"ComparisonOperator": "NOT_NULL"}}, "ExpressionAttributeValues": null}),
        &[3, 5],
    );
}

#[test]
fn query_strings_begin_with() {
    let e = env();
    e.create("str", ("pk", "S"), Some(("sk", "S")));
    for sk in ["a", "ab", "abc", "abd", "b", "a\u{0}x", "ac"] {
        e.put("str", json!({"pk": {"S": "p"}, "sk": {"S": sk}}));
    }
    let out = e.ok("Query", json!({"TableName": "str", "KeyConditionExpression": "pk = :p AND begins_with(sk, :b)", "ExpressionAttributeValues": {":p": {"S": "p"}, ":b": {"S": "ab"}}}));
    let got: Vec<&str> = out["Items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["sk"]["S"].as_str())
        .collect();
    assert_eq!(got, ["ab", "abc", "abd"]);
    let out = e.ok("Query", json!({"TableName": "str", "KeyConditionExpression": "pk = :p AND begins_with(sk, :b)", "ExpressionAttributeValues": {":p": {"S": "p"}, ":b": {"S": "a"}}}));
    assert_eq!(out["Count"], 6);
}

#[test]
fn query_select_projection_and_counts() {
    let e = fixture();
    let base = |extra: Value| {
        let mut q = json!({"TableName": "tbl", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "b"}}});
        for (k, v) in extra.as_object().into_iter().flatten() {
            q[k] = v.clone();
        }
        q
    };
    let out = e.ok("Query", base(json!({"Select": "COUNT"})));
    assert_eq!(out, json!({"Count": 3, "ScannedCount": 3}));
    let out = e.ok(
        "Query",
        base(json!({"ProjectionExpression": "sk", "Limit": 1})),
    );
    assert_eq!(
        out,
        json!({"Items": [{"sk": {"N": "1"}}], "Count": 1, "ScannedCount": 1, "LastEvaluatedKey": {"pk": {"S": "b"}, "sk": {"N": "1"}}})
    );
    let out = e.ok("Query", base(json!({"AttributesToGet": ["sk"], "Limit": 1, "ExpressionAttributeValues": null, "KeyConditionExpression": null, "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "b"}]}}})));
    assert_eq!(out["Items"], json!([{"sk": {"N": "1"}}]));
    let out = e.ok(
        "Query",
        base(json!({"ReturnConsumedCapacity": "TOTAL", "ConsistentRead": true})),
    );
    assert_eq!(
        out["ConsumedCapacity"],
        json!({"TableName": "tbl", "CapacityUnits": 1.0})
    );
    // The last page has no LastEvaluatedKey.
    let out = e.ok("Query", base(json!({"Limit": 3})));
    assert_eq!(out.get("LastEvaluatedKey"), None);
}

#[track_caller]
fn check_query_err(e: &Env, input: Value, message: &str) {
    let mut q = json!({"TableName": "tbl"});
    for (k, v) in input.as_object().into_iter().flatten() {
        q[k] = v.clone();
    }
    e.err("Query", q, VALIDATION, message);
}

#[test]
fn query_errors() {
    let e = fixture();
    let p = json!({":p": {"S": "a"}});
    check_query_err(
        &e,
        json!({}),
        "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "sk = :p", "ExpressionAttributeValues": {":p": {"N": "1"}}}),
        "Query condition missed key schema element: pk",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"N": "1"}}}),
        "One or more parameter values were invalid: Condition parameter type does not match schema type",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND foo = :p", "ExpressionAttributeValues": p}),
        "Query condition missed key schema element: sk",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND begins_with(sk, :n)", "ExpressionAttributeValues": {":p": {"S": "a"}, ":n": {"N": "1"}}}),
        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p AND sk BETWEEN :hi AND :lo", "ExpressionAttributeValues": {":p": {"S": "a"}, ":lo": {"N": "1"}, ":hi": {"N": "5"}}}),
        "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "Limit": 0}),
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "Select": "COUNT", "ProjectionExpression": "v"}),
        "Cannot specify the ProjectionExpression when choosing to get COUNT",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "Select": "ALL_ATTRIBUTES", "ProjectionExpression": "v"}),
        "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "Select": "SPECIFIC_ATTRIBUTES"}),
        "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "Select": "SOME"}),
        "1 validation error detected: Value 'SOME' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "AttributesToGet": ["v"]}),
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {KeyConditionExpression}",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "QueryFilter": {"v": {"ComparisonOperator": "NULL"}}}),
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {QueryFilter} Expression parameters: {KeyConditionExpression}",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "ExclusiveStartKey": {"pk": {"S": "a"}}}),
        "The provided starting key is invalid",
    );
    check_query_err(
        &e,
        json!({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p, "IndexName": "nope"}),
        "The table does not have the specified index: nope",
    );
    check_query_err(
        &e,
        json!({"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": []}}}),
        "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator",
    );
    e.err("Query", json!({"TableName": "missing", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": p}), "ResourceNotFoundException", "Requested resource not found");
}

/// Pages through `op` until LastEvaluatedKey is absent; returns every item's (pk, sk) and
/// the number of pages.
fn drain(e: &Env, op: &str, input: Value) -> (Vec<(String, i64)>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut start: Option<Value> = None;
    loop {
        let mut req = input.clone();
        if let Some(s) = start.take() {
            req["ExclusiveStartKey"] = s;
        }
        let out = e.ok(op, req);
        pages += 1;
        for i in out["Items"].as_array().into_iter().flatten() {
            let pk = i["pk"]["S"].as_str().unwrap_or_default().to_owned();
            seen.push((
                pk,
                i["sk"]["N"]
                    .as_str()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(-1),
            ));
        }
        match out.get("LastEvaluatedKey") {
            Some(k) => start = Some(k.clone()),
            None => return (seen, pages),
        }
        assert!(pages < 10_000, "paging does not end");
    }
}

#[test]
fn scan_pages_and_segments() {
    let e = fixture();
    let (all, pages) = drain(&e, "Scan", json!({"TableName": "tbl", "Limit": 4}));
    assert_eq!(all.len(), 13);
    assert_eq!(pages, 4);
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 13);
    // Every item is in exactly one of the segments, and a partition is never split.
    for total in [1, 2, 3, 7] {
        let mut union = Vec::new();
        for segment in 0..total {
            let (items, _) = drain(
                &e,
                "Scan",
                json!({"TableName": "tbl", "Segment": segment, "TotalSegments": total, "Limit": 2}),
            );
            let mut pks: Vec<&String> = items.iter().map(|(p, _)| p).collect();
            pks.dedup();
            for pk in &pks {
                assert_eq!(
                    items.iter().filter(|(p, _)| p == *pk).count(),
                    if *pk == "a" { 10 } else { 3 }
                );
            }
            union.extend(items);
        }
        union.sort();
        assert_eq!(union, sorted, "TotalSegments {total}");
    }
    // ScanFilter and FilterExpression agree.
    let a = e.ok("Scan", json!({"TableName": "tbl", "FilterExpression": "sk > :n AND pk = :p", "ExpressionAttributeValues": {":n": {"N": "2"}, ":p": {"S": "b"}}}));
    let b = e.ok("Scan", json!({"TableName": "tbl", "ScanFilter": {"sk": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "2"}]}, "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "b"}]}}}));
    assert_eq!(a, b);
    assert_eq!(sks(&a), [3]);
    assert_eq!(a["ScannedCount"], 13);
    let or = e.ok("Scan", json!({"TableName": "tbl", "ConditionalOperator": "OR", "ScanFilter": {"sk": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "9"}]}, "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "b"}]}}}));
    assert_eq!(or["Count"], 4);
}

#[test]
fn scan_errors() {
    let e = fixture();
    let t = |extra: Value| {
        let mut q = json!({"TableName": "tbl"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            q[k] = v.clone();
        }
        q
    };
    e.err("Scan", t(json!({"Segment": 2, "TotalSegments": 2})), VALIDATION, "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 2 is not less than TotalSegments: 2");
    e.err("Scan", t(json!({"Segment": 0})), VALIDATION, "The TotalSegments parameter is required but was not present in the request when Segment parameter is present");
    e.err("Scan", t(json!({"TotalSegments": 0, "Segment": 0})), VALIDATION, "1 validation error detected: Value '0' at 'totalSegments' failed to satisfy constraint: Member must have value greater than or equal to 1");
    e.err("Scan", t(json!({"FilterExpression": "a = :v", "ScanFilter": {}, "ExpressionAttributeValues": {":v": {"S": "x"}}})), VALIDATION, "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}");
    e.err("Scan", t(json!({"ScanFilter": {"sk": {"ComparisonOperator": "GT", "AttributeValueList": [{"SS": ["x"]}]}}})), VALIDATION, "One or more parameter values were invalid: ComparisonOperator GT is not valid for SS AttributeValue type");
    e.err("Scan", t(json!({"ScanFilter": {"sk": {"ComparisonOperator": "LIKE", "AttributeValueList": []}}})), VALIDATION, "1 validation error detected: Value 'LIKE' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]");
    e.err(
        "Scan",
        t(json!({"ExclusiveStartKey": {"pk": {"N": "1"}, "sk": {"N": "1"}}})),
        VALIDATION,
        "The provided starting key is invalid: The provided key element does not match the schema",
    );
}

#[test]
fn pages_stop_at_one_megabyte() {
    let e = env();
    e.create("big", ("pk", "S"), Some(("sk", "N")));
    let blob = "x".repeat(100 * 1024);
    for sk in 0..25 {
        e.put(
            "big",
            json!({"pk": {"S": "p"}, "sk": {"N": sk.to_string()}, "blob": {"S": blob}}),
        );
    }
    let q = json!({"TableName": "big", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}, "Select": "COUNT"});
    let first = e.ok("Query", q.clone());
    // 100 KB items: the page that reaches 1 MB holds 11 of them.
    assert_eq!(first["Count"], 11);
    assert_eq!(
        first["LastEvaluatedKey"],
        json!({"pk": {"S": "p"}, "sk": {"N": "10"}})
    );
    let (items, pages) = drain(
        &e,
        "Query",
        json!({"TableName": "big", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}, "ProjectionExpression": "pk, sk"}),
    );
    assert_eq!((items.len(), pages), (25, 3));
    let (items, _) = drain(
        &e,
        "Scan",
        json!({"TableName": "big", "ProjectionExpression": "pk, sk"}),
    );
    assert_eq!(items.len(), 25);
}
