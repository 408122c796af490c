//! Secondary indexes at the service's public API: definitions in CreateTable (and their
//! errors), DescribeTable's index descriptions, index maintenance on every write path, and
//! Query/Scan with IndexName (key conditions, projections, Select, paging, parallel scan).

mod support;

use serde_json::{Value, json};
use support::{Env, VALIDATION, env};

/// Table `t` (pk S, sk N) with three global indexes and one local one:
/// `by_owner` (owner S, ts N; INCLUDE title), `by_status` (status S; KEYS_ONLY),
/// `by_kind` (kind S; ALL), and the local `by_ts` (pk, ts N; KEYS_ONLY).
fn create_fixture(e: &Env) {
    e.ok("CreateTable", json!({
        "TableName": "tab",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": "by_owner",
             "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]}},
            {"IndexName": "by_status",
             "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "by_kind",
             "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
        "LocalSecondaryIndexes": [
            {"IndexName": "by_ts",
             "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ],
    }));
}

/// Items a/1..=6: owner "ann" for odd sk, "bob" for even; ts = 100 - sk; status "open"
/// for sk <= 3; kind "doc" for every item but a/6 (sparse); a title and a body each.
fn fixture() -> Env {
    let e = env();
    create_fixture(&e);
    for sk in 1..=6 {
        let mut item = json!({
            "pk": {"S": "a"}, "sk": {"N": sk.to_string()},
            "owner": {"S": if sk % 2 == 1 { "ann" } else { "bob" }},
            "ts": {"N": (100 - sk).to_string()},
            "title": {"S": format!("t{sk}")}, "body": {"S": format!("b{sk}")},
        });
        if sk <= 3 {
            item["status"] = json!({"S": "open"});
        }
        if sk != 6 {
            item["kind"] = json!({"S": "doc"});
        }
        e.put("tab", item);
    }
    e
}

/// The sk of each item of a Query/Scan output, in order.
fn sks(out: &Value) -> Vec<i64> {
    out["Items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["sk"]["N"].as_str()?.parse().ok())
        .collect()
}

/// The attribute names of each item of an output, sorted.
fn attrs(out: &Value) -> Vec<Vec<String>> {
    out["Items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let mut names: Vec<String> = i
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            names.sort();
            names
        })
        .collect()
}

fn q(index: &str, cond: &str, values: Value) -> Value {
    json!({"TableName": "tab", "IndexName": index, "KeyConditionExpression": cond, "ExpressionAttributeValues": values})
}

#[track_caller]
fn check_query(e: &Env, input: Value, expected: &[i64]) {
    assert_eq!(sks(&e.ok("Query", input.clone())), expected, "{input}");
}

#[test]
fn query_on_indexes() {
    let e = fixture();
    // Non-unique index keys, sorted by the index's sort key (ts = 100 - sk).
    check_query(
        &e,
        q("by_owner", "#o = :o", json!({":o": {"S": "ann"}}))
            .merge(json!({"ExpressionAttributeNames": {"#o": "owner"}})),
        &[5, 3, 1],
    );
    check_query(
        &e,
        q(
            "by_owner",
            "#o = :o AND ts > :t",
            json!({":o": {"S": "bob"}, ":t": {"N": "95"}}),
        )
        .merge(json!({"ExpressionAttributeNames": {"#o": "owner"}})),
        &[4, 2],
    );
    check_query(
        &e,
        q("by_owner", "#o = :o", json!({":o": {"S": "bob"}}))
            .merge(json!({"ExpressionAttributeNames": {"#o": "owner"}, "ScanIndexForward": false})),
        &[2, 4, 6],
    );
    // A hash-only index: entries with equal keys in table key order.
    check_query(
        &e,
        q("by_status", "#s = :s", json!({":s": {"S": "open"}}))
            .merge(json!({"ExpressionAttributeNames": {"#s": "status"}})),
        &[1, 2, 3],
    );
    // Sparse: a/6 has no kind.
    check_query(
        &e,
        q("by_kind", "kind = :k", json!({":k": {"S": "doc"}})),
        &[1, 2, 3, 4, 5],
    );
    // The local index: same partition, other sort key.
    check_query(
        &e,
        q(
            "by_ts",
            "pk = :p AND ts BETWEEN :lo AND :hi",
            json!({":p": {"S": "a"}, ":lo": {"N": "95"}, ":hi": {"N": "97"}}),
        ),
        &[5, 4, 3],
    );
    check_query(
        &e,
        q("by_ts", "pk = :p", json!({":p": {"S": "a"}}))
            .merge(json!({"ConsistentRead": true, "Limit": 2})),
        &[6, 5],
    );
    // Filters see what the index holds.
    check_query(
        &e,
        q(
            "by_kind",
            "kind = :k",
            json!({":k": {"S": "doc"}, ":b": {"S": "b2"}}),
        )
        .merge(json!({"FilterExpression": "body = :b"})),
        &[2],
    );
}

#[test]
fn projections_and_select() {
    let e = fixture();
    let owner = |extra: Value| {
        q("by_owner", "#o = :o", json!({":o": {"S": "bob"}}))
            .merge(json!({"ExpressionAttributeNames": {"#o": "owner"}}))
            .merge(extra)
    };
    let include = vec!["owner", "pk", "sk", "title", "ts"];
    // Default and ALL_PROJECTED_ATTRIBUTES: the entry as projected.
    assert_eq!(
        attrs(&e.ok("Query", owner(json!({})))),
        vec![include.clone(); 3]
    );
    assert_eq!(
        attrs(&e.ok(
            "Query",
            owner(json!({"Select": "ALL_PROJECTED_ATTRIBUTES"}))
        )),
        vec![include; 3]
    );
    // A projection expression picks among projected attributes; others are absent.
    assert_eq!(
        attrs(&e.ok(
            "Query",
            owner(json!({"ProjectionExpression": "title, body"}))
        )),
        vec![vec!["title"]; 3]
    );
    let count = e.ok("Query", owner(json!({"Select": "COUNT"})));
    assert_eq!(
        (count["Count"].clone(), count.get("Items")),
        (json!(3), None)
    );
    // KEYS_ONLY: the table's keys and the index's.
    let keys = e.ok(
        "Scan",
        json!({"TableName": "tab", "IndexName": "by_status"}),
    );
    assert_eq!(attrs(&keys), vec![vec!["pk", "sk", "status"]; 3]);
    // ALL: everything.
    let all = e.ok(
        "Query",
        q("by_kind", "kind = :k", json!({":k": {"S": "doc"}})).merge(json!({"Limit": 1})),
    );
    assert_eq!(
        attrs(&all),
        vec![vec![
            "body", "kind", "owner", "pk", "sk", "status", "title", "ts"
        ]]
    );
    // A local index fetches what it does not project from the table.
    let lsi = |extra: Value| {
        q("by_ts", "pk = :p", json!({":p": {"S": "a"}}))
            .merge(json!({"Limit": 1}))
            .merge(extra)
    };
    assert_eq!(
        attrs(&e.ok("Query", lsi(json!({})))),
        vec![vec!["pk", "sk", "ts"]]
    );
    assert_eq!(
        attrs(&e.ok("Query", lsi(json!({"Select": "ALL_ATTRIBUTES"})))),
        vec![vec!["body", "owner", "pk", "sk", "title", "ts"]]
    );
    assert_eq!(
        attrs(&e.ok("Query", lsi(json!({"ProjectionExpression": "body"})))),
        vec![vec!["body"]]
    );
}

#[test]
fn index_read_errors() {
    let e = fixture();
    let k = json!({":k": {"S": "doc"}});
    e.err(
        "Query",
        q("by_kind", "kind = :k", k.clone()).merge(json!({"ConsistentRead": true})),
        VALIDATION,
        "Consistent reads are not supported on global secondary indexes",
    );
    e.err(
        "Scan",
        json!({"TableName": "tab", "IndexName": "by_kind", "ConsistentRead": true}),
        VALIDATION,
        "Consistent reads are not supported on global secondary indexes",
    );
    e.err(
        "Query",
        q("nope", "kind = :k", k.clone()),
        VALIDATION,
        "The table does not have the specified index: nope",
    );
    e.err("Query", q("by_status", "#s = :s", json!({":s": {"S": "open"}})).merge(json!({"ExpressionAttributeNames": {"#s": "status"}, "Select": "ALL_ATTRIBUTES"})), VALIDATION, "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index by_status because its projection type is not ALL");
    e.err(
        "Query",
        q("by_kind", "kind = :k", k.clone())
            .merge(json!({"Select": "ALL_PROJECTED_ATTRIBUTES", "ProjectionExpression": "pk"})),
        VALIDATION,
        "Cannot specify the ProjectionExpression when choosing to get ALL_PROJECTED_ATTRIBUTES",
    );
    e.err("Query", json!({"TableName": "tab", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}, "Select": "ALL_PROJECTED_ATTRIBUTES"}), VALIDATION, "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName");
    // The key condition is on the index's keys.
    e.err(
        "Query",
        q("by_kind", "pk = :k", k.clone()),
        VALIDATION,
        "Query condition missed key schema element: kind",
    );
    e.err(
        "Query",
        q(
            "by_owner",
            "#o = :o AND sk = :s",
            json!({":o": {"S": "ann"}, ":s": {"N": "1"}}),
        )
        .merge(json!({"ExpressionAttributeNames": {"#o": "owner"}})),
        VALIDATION,
        "Query condition missed key schema element: ts",
    );
    e.err("Query", q("by_kind", "kind = :k", json!({":k": {"N": "1"}})), VALIDATION, "One or more parameter values were invalid: Condition parameter type does not match schema type");
    // A Query on an index filters on anything but the index's keys (the table's are fine).
    e.err("Query", q("by_kind", "kind = :k", json!({":k": {"S": "doc"}, ":x": {"S": "doc"}})).merge(json!({"FilterExpression": "kind = :x"})), VALIDATION, "Filter Expression can only contain non-primary key attributes: Primary key attribute: kind");
    check_query(
        &e,
        q(
            "by_kind",
            "kind = :k",
            json!({":k": {"S": "doc"}, ":p": {"S": "a"}}),
        )
        .merge(json!({"FilterExpression": "pk = :p"})),
        &[1, 2, 3, 4, 5],
    );
    // A start key outside the key condition.
    e.err("Query", q("by_kind", "kind = :k", json!({":k": {"S": "doc"}})).merge(json!({"ExclusiveStartKey": {"kind": {"S": "zzz"}, "pk": {"S": "a"}, "sk": {"N": "1"}}})), VALIDATION, "The provided starting key is outside query boundaries based on provided conditions");
    // A start key needs the index's keys and the table's.
    e.err(
        "Query",
        q("by_kind", "kind = :k", k)
            .merge(json!({"ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "1"}}})),
        VALIDATION,
        "The provided starting key is invalid",
    );
}

/// Pages through `input` with Limit 2; returns the sks seen and the LastEvaluatedKeys.
fn drain(e: &Env, op: &str, input: Value) -> (Vec<i64>, Vec<Value>) {
    let (mut seen, mut keys) = (Vec::new(), Vec::new());
    let mut req = input.merge(json!({"Limit": 2}));
    loop {
        let out = e.ok(op, req.clone());
        seen.extend(sks(&out));
        match out.get("LastEvaluatedKey") {
            Some(k) => {
                keys.push(k.clone());
                req["ExclusiveStartKey"] = k.clone();
            }
            None => return (seen, keys),
        }
        assert!(keys.len() < 100, "paging does not end");
    }
}

#[test]
fn paging_and_parallel_scan_on_an_index() {
    let e = fixture();
    let (seen, keys) = drain(
        &e,
        "Query",
        q("by_owner", "#o = :o", json!({":o": {"S": "bob"}}))
            .merge(json!({"ExpressionAttributeNames": {"#o": "owner"}})),
    );
    assert_eq!(seen, [6, 4, 2]);
    // LastEvaluatedKey holds the index keys and the table keys.
    assert_eq!(
        keys,
        [json!({"owner": {"S": "bob"}, "ts": {"N": "96"}, "pk": {"S": "a"}, "sk": {"N": "4"}})]
    );
    let (seen, _) = drain(
        &e,
        "Scan",
        json!({"TableName": "tab", "IndexName": "by_status"}),
    );
    assert_eq!(seen, [1, 2, 3]);
    let (mut seen, _) = drain(
        &e,
        "Query",
        q("by_ts", "pk = :p", json!({":p": {"S": "a"}})).merge(json!({"ScanIndexForward": false})),
    );
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
    // Segments of a parallel scan partition the index.
    seen.clear();
    for segment in 0..3 {
        let (s, _) = drain(
            &e,
            "Scan",
            json!({"TableName": "tab", "IndexName": "by_owner", "Segment": segment, "TotalSegments": 3}),
        );
        seen.extend(s);
    }
    seen.sort();
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
}

/// Index name → (ItemCount, IndexSizeBytes > 0) from DescribeTable.
fn index_counts(e: &Env) -> Vec<(String, u64, bool)> {
    let t = e.ok("DescribeTable", json!({"TableName": "tab"}))["Table"].clone();
    ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"]
        .iter()
        .flat_map(|m| t[*m].as_array().cloned().unwrap_or_default())
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap_or_default().to_owned(),
                i["ItemCount"].as_u64().unwrap_or(u64::MAX),
                i["IndexSizeBytes"].as_u64().unwrap_or(0) > 0,
            )
        })
        .collect()
}

#[track_caller]
fn check_counts(e: &Env, expected: [u64; 4]) {
    let got: Vec<(String, u64)> = index_counts(e)
        .into_iter()
        .map(|(n, c, _)| (n, c))
        .collect();
    let names = ["by_owner", "by_status", "by_kind", "by_ts"];
    let want: Vec<(String, u64)> = names
        .iter()
        .zip(expected)
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn describe_table_describes_indexes() {
    let e = fixture();
    let t = e.ok("DescribeTable", json!({"TableName": "tab"}))["Table"].clone();
    assert_eq!(
        t["AttributeDefinitions"],
        json!([
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
        ])
    );
    let gsi = &t["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"], "by_owner");
    assert_eq!(gsi["IndexStatus"], "ACTIVE");
    assert_eq!(
        gsi["IndexArn"],
        "arn:aws:dynamodb:us-east-1:000000000000:table/tab/index/by_owner"
    );
    assert_eq!(
        gsi["Projection"],
        json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]})
    );
    assert_eq!(
        gsi["KeySchema"],
        json!([{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}])
    );
    let lsi = &t["LocalSecondaryIndexes"][0];
    assert_eq!(lsi["IndexName"], "by_ts");
    assert_eq!(lsi.get("IndexStatus"), None);
    assert!(index_counts(&e).iter().all(|(_, _, sized)| *sized));
    check_counts(&e, [6, 3, 5, 6]);
}

#[test]
fn every_write_path_maintains_indexes() {
    let e = fixture();
    let key = |sk: i64| json!({"pk": {"S": "a"}, "sk": {"N": sk.to_string()}});
    let kind_q = || q("by_kind", "kind = :k", json!({":k": {"S": "doc"}}));
    // UpdateItem: moving an index key moves the entry; removing it leaves the index.
    e.ok("UpdateItem", json!({"TableName": "tab", "Key": key(1), "UpdateExpression": "SET #o = :o", "ExpressionAttributeNames": {"#o": "owner"}, "ExpressionAttributeValues": {":o": {"S": "bob"}}}));
    check_query(
        &e,
        q("by_owner", "#o = :o", json!({":o": {"S": "bob"}}))
            .merge(json!({"ExpressionAttributeNames": {"#o": "owner"}})),
        &[6, 4, 2, 1],
    );
    e.ok(
        "UpdateItem",
        json!({"TableName": "tab", "Key": key(2), "UpdateExpression": "REMOVE kind"}),
    );
    check_query(&e, kind_q(), &[1, 3, 4, 5]);
    // A projected attribute changes in the entry too.
    e.ok("UpdateItem", json!({"TableName": "tab", "Key": key(1), "UpdateExpression": "SET title = :t", "ExpressionAttributeValues": {":t": {"S": "new"}}}));
    let out = e.ok(
        "Query",
        q(
            "by_owner",
            "#o = :o AND ts = :t",
            json!({":o": {"S": "bob"}, ":t": {"N": "99"}}),
        )
        .merge(json!({"ExpressionAttributeNames": {"#o": "owner"}})),
    );
    assert_eq!(out["Items"][0]["title"], json!({"S": "new"}));
    // DeleteItem, PutItem over an item.
    e.ok("DeleteItem", json!({"TableName": "tab", "Key": key(3)}));
    e.put("tab", json!({"pk": {"S": "a"}, "sk": {"N": "4"}}));
    check_query(&e, kind_q(), &[1, 5]);
    check_counts(&e, [4, 2, 2, 4]);
    // BatchWriteItem and TransactWriteItems.
    e.ok(
        "BatchWriteItem",
        json!({"RequestItems": {"tab": [
            {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": "1"}, "kind": {"S": "doc"}}}},
            {"DeleteRequest": {"Key": key(5)}},
        ]}}),
    );
    e.ok("TransactWriteItems", json!({"TransactItems": [
        {"Put": {"TableName": "tab", "Item": {"pk": {"S": "b"}, "sk": {"N": "2"}, "kind": {"S": "doc"}, "status": {"S": "open"}}}},
        {"Update": {"TableName": "tab", "Key": key(1), "UpdateExpression": "REMOVE kind"}},
    ]}));
    check_query(&e, kind_q(), &[1, 2]);
    let out = e.ok("Query", kind_q());
    assert_eq!(out["Items"][0]["pk"], json!({"S": "b"}));
    check_counts(&e, [3, 3, 2, 3]);
    // A write with an index key of the wrong type is refused whole.
    e.err("PutItem", json!({"TableName": "tab", "Item": {"pk": {"S": "c"}, "sk": {"N": "1"}, "kind": {"N": "1"}}}), VALIDATION, "One or more parameter values were invalid: Type mismatch for Index Key kind Expected: S Actual: N IndexName: by_kind");
    e.err("PutItem", json!({"TableName": "tab", "Item": {"pk": {"S": "c"}, "sk": {"N": "1"}, "kind": {"S": ""}}}), VALIDATION, "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by_kind, IndexKey: kind");
    assert_eq!(
        e.get("tab", json!({"pk": {"S": "c"}, "sk": {"N": "1"}})),
        Value::Null
    );
    // Deleting the table purges its indexes: a new table of the same name starts empty.
    e.ok("DeleteTable", json!({"TableName": "tab"}));
    create_fixture(&e);
    check_query(&e, kind_q(), &[]);
    check_counts(&e, [0, 0, 0, 0]);
}

fn gsi(name: &str, keys: &[(&str, &str)], projection: Value) -> Value {
    let ks: Vec<Value> = keys
        .iter()
        .map(|(n, t)| json!({"AttributeName": n, "KeyType": t}))
        .collect();
    json!({"IndexName": name, "KeySchema": ks, "Projection": projection})
}

#[track_caller]
fn check_create_err(defs: &[&str], global: Option<Value>, local: Option<Value>, message: &str) {
    let e = env();
    let defs: Vec<Value> = defs
        .iter()
        .map(|n| json!({"AttributeName": n, "AttributeType": "S"}))
        .collect();
    let mut input = json!({
        "TableName": "tbl", "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": defs,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    });
    if let Some(g) = global {
        input["GlobalSecondaryIndexes"] = g;
    }
    if let Some(l) = local {
        input["LocalSecondaryIndexes"] = l;
    }
    e.err("CreateTable", input, VALIDATION, message);
}

#[test]
fn bad_index_definitions() {
    let all = json!({"ProjectionType": "ALL"});
    let g =
        |keys: &[(&str, &str)]| Some(json!([gsi("gs1", keys, json!({"ProjectionType": "ALL"}))]));
    check_create_err(
        &["pk", "sk"],
        Some(json!([])),
        None,
        "One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty",
    );
    check_create_err(
        &["pk", "sk", "x"],
        g(&[("x", "HASH")]).map(|v| json!([v[0], v[0]])),
        None,
        "One or more parameter values were invalid: Duplicate index name: gs1",
    );
    check_create_err(
        &["pk", "sk"],
        g(&[("x", "HASH")]),
        None,
        "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [x], AttributeDefinitions: [pk, sk]",
    );
    check_create_err(
        &["pk", "sk", "x", "y"],
        g(&[("x", "HASH")]),
        None,
        "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [pk, sk, x, y], keys used: [pk, sk, x]",
    );
    check_create_err(
        &["pk", "sk", "x"],
        g(&[("x", "RANGE")]),
        None,
        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
    );
    check_create_err(
        &["pk", "sk", "x"],
        g(&[("x", "HASH"), ("x", "RANGE")]),
        None,
        "Both the Hash Key and the Range Key element in the KeySchema have the same name",
    );
    check_create_err(
        &["pk", "sk", "x"],
        Some(json!([gsi(
            "gs1",
            &[("x", "HASH")],
            json!({"ProjectionType": "INCLUDE"})
        )])),
        None,
        "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
    );
    check_create_err(
        &["pk", "sk", "x"],
        Some(json!([gsi(
            "gs1",
            &[("x", "HASH")],
            json!({"ProjectionType": "ALL", "NonKeyAttributes": ["a"]})
        )])),
        None,
        "One or more parameter values were invalid: ProjectionType is ALL, but NonKeyAttributes is specified",
    );
    check_create_err(
        &["pk", "sk", "x"],
        Some(json!([gsi(
            "gs1",
            &[("x", "HASH")],
            json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "a"]})
        )])),
        None,
        "One or more parameter values were invalid: Duplicate element in NonKeyAttributes: a",
    );
    check_create_err(
        &["pk", "sk", "x"],
        Some(json!([gsi(
            "gs1",
            &[("x", "HASH")],
            json!({"ProjectionType": "SOME"})
        )])),
        None,
        "1 validation error detected: Value 'SOME' at 'globalSecondaryIndexes.1.member.projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, KEYS_ONLY, INCLUDE]",
    );
    check_create_err(
        &["pk", "sk", "x"],
        Some(json!([{"IndexName": "g", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]}])),
        None,
        "2 validation errors detected: Value 'g' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value null at 'globalSecondaryIndexes.1.member.projection' failed to satisfy constraint: Member must not be null",
    );
    check_create_err(
        &["pk", "sk", "x"],
        Some(
            json!([{"IndexName": "gs1", "KeySchema": [{"AttributeName": "x", "KeyType": "SORT"}], "Projection": {"ProjectionType": "ALL"}}]),
        ),
        None,
        "1 validation error detected: Value 'SORT' at 'globalSecondaryIndexes.1.member.keySchema.1.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]",
    );
    check_create_err(
        &["pk", "sk", "x"],
        Some(
            json!([{"IndexName": "gs1", "KeySchema": [], "Projection": {"ProjectionType": "ALL"}}]),
        ),
        None,
        "1 validation error detected: Value '0' at 'globalSecondaryIndexes.1.member.keySchema' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    let many: Vec<Value> = (0..21)
        .map(|i| gsi(&format!("gsi{i:02}"), &[("x", "HASH")], all.clone()))
        .collect();
    check_create_err(
        &["pk", "sk", "x"],
        Some(json!(many)),
        None,
        "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20",
    );
    let wide: Vec<Value> = (0..3)
        .map(|i| {
            let attrs: Vec<String> = (0..34).map(|a| format!("a{a}")).collect();
            gsi(
                &format!("gsi{i:02}"),
                &[("x", "HASH")],
                json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": attrs}),
            )
        })
        .collect();
    check_create_err(
        &["pk", "sk", "x"],
        Some(json!(wide)),
        None,
        "One or more parameter values were invalid: Number of projected attributes in all indexes exceeds limit of 100",
    );
    // Local indexes.
    check_create_err(
        &["pk", "sk", "x"],
        None,
        Some(json!([gsi(
            "ls1",
            &[("x", "HASH"), ("sk", "RANGE")],
            all.clone()
        )])),
        "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: ls1. index hash key: x, table hash key: pk",
    );
    check_create_err(
        &["pk", "sk"],
        None,
        Some(json!([gsi("ls1", &[("pk", "HASH")], all.clone())])),
        "One or more parameter values were invalid: Index KeySchema does not have a range key for index: ls1",
    );
    let six: Vec<Value> = (0..6)
        .map(|i| {
            gsi(
                &format!("lsi{i:02}"),
                &[("pk", "HASH"), ("x", "RANGE")],
                all.clone(),
            )
        })
        .collect();
    check_create_err(
        &["pk", "sk", "x"],
        None,
        Some(json!(six)),
        "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5",
    );
    // A provisioned table's global indexes need throughput; an on-demand table's must not have it.
    let e = env();
    e.err("CreateTable", json!({
        "TableName": "ppp", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [gsi("gs1", &[("x", "HASH")], all.clone())],
    }), VALIDATION, "One or more parameter values were invalid: ProvisionedThroughput is not specified for index: gs1");
    let mut with_units = gsi("gs1", &[("x", "HASH")], all.clone());
    with_units["ProvisionedThroughput"] = json!({"ReadCapacityUnits": 1, "WriteCapacityUnits": 1});
    e.err("CreateTable", json!({
        "TableName": "ppp", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [with_units.clone()],
    }), VALIDATION, "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: gs1 when BillingMode is PAY_PER_REQUEST");
    // Without indexes, an unused definition keeps the older message.
    check_create_err(
        &["pk", "sk", "x"],
        None,
        None,
        "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
    );
    let out = e.ok("CreateTable", json!({
        "TableName": "ppp", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [with_units],
    }));
    assert_eq!(
        out["TableDescription"]["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"],
        1
    );
    assert_eq!(
        out["TableDescription"]["GlobalSecondaryIndexes"][0]["IndexStatus"],
        "CREATING"
    );
}

#[test]
fn local_index_needs_a_table_sort_key() {
    let e = env();
    e.err("CreateTable", json!({
        "TableName": "ppp", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "LocalSecondaryIndexes": [gsi("ls1", &[("pk", "HASH"), ("x", "RANGE")], json!({"ProjectionType": "ALL"}))],
    }), VALIDATION, "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex");
}

/// Merges the members of `extra` into a request.
trait Merge {
    fn merge(self, extra: Value) -> Value;
}

impl Merge for Value {
    fn merge(mut self, extra: Value) -> Value {
        if let (Some(obj), Some(extra)) = (self.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                match (obj.get_mut(k), v) {
                    (Some(Value::Object(into)), Value::Object(more)) => {
                        into.extend(more.clone());
                    }
                    _ => {
                        obj.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        self
    }
}

/// Polls DescribeTable until index `name` is ACTIVE; returns its description.
fn wait_active(e: &Env, table: &str, name: &str) -> Value {
    for _ in 0..2000 {
        let t = e.ok("DescribeTable", json!({"TableName": table}))["Table"].clone();
        let index = t["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["IndexName"] == name)
            .cloned()
            .unwrap_or(Value::Null);
        if index["IndexStatus"] == "ACTIVE" {
            return index;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("index {name} never became ACTIVE");
}

fn create_gsi(name: &str, attr: &str, projection: Value) -> Value {
    json!({"Create": gsi(name, &[(attr, "HASH")], projection)})
}

#[test]
fn update_table_creates_and_deletes_global_indexes() {
    let e = env();
    e.create("tab", ("pk", "S"), Some(("sk", "N")));
    // More items than one backfill transaction copies; every third lacks the index key.
    let mut with_key = 0u64;
    for sk in 0..1200 {
        let mut item = json!({"pk": {"S": format!("p{}", sk % 7)}, "sk": {"N": sk.to_string()}, "other": {"S": "x"}});
        if sk % 3 != 0 {
            item["color"] = json!({"S": if sk % 2 == 0 { "red" } else { "blue" }});
            with_key += 1;
        }
        e.put("tab", item);
    }
    let out = e.ok("UpdateTable", json!({
        "TableName": "tab",
        "AttributeDefinitions": [{"AttributeName": "color", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [create_gsi("by_color", "color", json!({"ProjectionType": "KEYS_ONLY"}))],
    }));
    let created = &out["TableDescription"]["GlobalSecondaryIndexes"][0];
    assert_eq!(
        (
            created["IndexStatus"].clone(),
            created["Backfilling"].clone()
        ),
        (json!("CREATING"), json!(true))
    );
    // Writes go on while the index fills.
    e.put(
        "tab",
        json!({"pk": {"S": "new"}, "sk": {"N": "1"}, "color": {"S": "red"}}),
    );
    e.ok(
        "DeleteItem",
        json!({"TableName": "tab", "Key": {"pk": {"S": "p1"}, "sk": {"N": "1"}}}),
    );
    let index = wait_active(&e, "tab", "by_color");
    assert_eq!(index.get("Backfilling"), None);
    assert_eq!(index["ItemCount"], json!(with_key));
    let red = |e: &Env| {
        let mut n = 0;
        let mut req = json!({"TableName": "tab", "IndexName": "by_color", "KeyConditionExpression": "color = :c", "ExpressionAttributeValues": {":c": {"S": "red"}}, "Select": "COUNT"});
        loop {
            let out = e.ok("Query", req.clone());
            n += out["Count"].as_u64().unwrap_or(0);
            match out.get("LastEvaluatedKey") {
                Some(k) => req["ExclusiveStartKey"] = k.clone(),
                None => return n,
            }
        }
    };
    // sk even and not a multiple of 3, below 1200: 400; plus the new item.
    assert_eq!(red(&e), 401);
    // A second index while none is building; errors for bad updates.
    e.err("UpdateTable", json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": [create_gsi("by_color", "color", json!({"ProjectionType": "ALL"}))]}), VALIDATION, "Attempting to create an index which already exists");
    e.err("UpdateTable", json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": [create_gsi("by_size", "size", json!({"ProjectionType": "ALL"}))]}), VALIDATION, "One or more parameter values were invalid: AttributeDefinitions is not specified for index: by_size");
    e.err(
        "UpdateTable",
        json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": []}),
        VALIDATION,
        "One or more parameter values were invalid: List of GlobalSecondaryIndexUpdates is empty",
    );
    e.err("UpdateTable", json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": [{}]}), VALIDATION, "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null");
    e.err("UpdateTable", json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "by_color"}}, {"Delete": {"IndexName": "by_color"}}]}), VALIDATION, "One or more parameter values were invalid: Only one global secondary index update per index is allowed simultaneously. Index: by_color");
    e.err("UpdateTable", json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "by_color"}}, create_gsi("by_other", "other", json!({"ProjectionType": "ALL"}))], "AttributeDefinitions": [{"AttributeName": "other", "AttributeType": "S"}]}), "LimitExceededException", "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table");
    e.err("UpdateTable", json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "nope"}}]}), "ResourceNotFoundException", "Requested resource not found: Index: nope not found");
    // Delete: gone from the description and from reads at once.
    let out = e.ok("UpdateTable", json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "by_color"}}]}));
    assert_eq!(out["TableDescription"].get("GlobalSecondaryIndexes"), None);
    e.err("Query", json!({"TableName": "tab", "IndexName": "by_color", "KeyConditionExpression": "color = :c", "ExpressionAttributeValues": {":c": {"S": "red"}}}), VALIDATION, "The table does not have the specified index: by_color");
    // Created again under the same name, it starts from the table, not the old entries.
    e.ok("UpdateTable", json!({
        "TableName": "tab",
        "AttributeDefinitions": [{"AttributeName": "color", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [create_gsi("by_color", "color", json!({"ProjectionType": "ALL"}))],
    }));
    let index = wait_active(&e, "tab", "by_color");
    assert_eq!(index["ItemCount"], json!(with_key));
    assert_eq!(red(&e), 401);
    // Writes keep the index afterwards; table writes are counted once.
    e.ok(
        "DeleteItem",
        json!({"TableName": "tab", "Key": {"pk": {"S": "new"}, "sk": {"N": "1"}}}),
    );
    assert_eq!(red(&e), 400);
    assert_eq!(
        wait_active(&e, "tab", "by_color")["ItemCount"],
        json!(with_key - 1)
    );
}

#[test]
fn item_collection_metrics_with_local_indexes() {
    let e = fixture();
    let put = |table: &str| json!({"TableName": table, "Item": {"pk": {"S": "a"}, "sk": {"N": "9"}, "ts": {"N": "1"}}, "ReturnItemCollectionMetrics": "SIZE"});
    let out = e.ok("PutItem", put("tab"));
    assert_eq!(
        out["ItemCollectionMetrics"],
        json!({"ItemCollectionKey": {"pk": {"S": "a"}}, "SizeEstimateRangeGB": [0.0, 1.0]})
    );
    let out = e.ok("DeleteItem", json!({"TableName": "tab", "Key": {"pk": {"S": "a"}, "sk": {"N": "9"}}, "ReturnItemCollectionMetrics": "SIZE"}));
    assert_eq!(
        out["ItemCollectionMetrics"]["ItemCollectionKey"],
        json!({"pk": {"S": "a"}})
    );
    // Not asked for, or no local index: none.
    let out = e.ok("UpdateItem", json!({"TableName": "tab", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "UpdateExpression": "SET x = :x", "ExpressionAttributeValues": {":x": {"S": "y"}}}));
    assert_eq!(out.get("ItemCollectionMetrics"), None);
    // Batches and transactions: each touched collection once, by table.
    let a = json!({"ItemCollectionKey": {"pk": {"S": "a"}}, "SizeEstimateRangeGB": [0.0, 1.0]});
    let b = json!({"ItemCollectionKey": {"pk": {"S": "b"}}, "SizeEstimateRangeGB": [0.0, 1.0]});
    let out = e.ok(
        "BatchWriteItem",
        json!({"RequestItems": {"tab": [
        {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": "1"}}}},
        {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "11"}}}},
        {"DeleteRequest": {"Key": {"pk": {"S": "b"}, "sk": {"N": "2"}}}},
    ]}, "ReturnItemCollectionMetrics": "SIZE"}),
    );
    assert_eq!(
        out["ItemCollectionMetrics"],
        json!({"tab": [b.clone(), a.clone()]})
    );
    let out = e.ok(
        "TransactWriteItems",
        json!({"TransactItems": [
        {"Put": {"TableName": "tab", "Item": {"pk": {"S": "a"}, "sk": {"N": "12"}}}},
        {"Delete": {"TableName": "tab", "Key": {"pk": {"S": "a"}, "sk": {"N": "11"}}}},
    ], "ReturnItemCollectionMetrics": "SIZE"}),
    );
    assert_eq!(out["ItemCollectionMetrics"], json!({"tab": [a]}));
    e.create("plain", ("pk", "S"), Some(("sk", "N")));
    let out = e.ok("PutItem", put("plain"));
    assert_eq!(out.get("ItemCollectionMetrics"), None);
}

#[test]
fn global_indexes_follow_the_billing_mode() {
    let e = fixture();
    let units = json!({"ReadCapacityUnits": 3, "WriteCapacityUnits": 4});
    e.err("UpdateTable", json!({"TableName": "tab", "BillingMode": "PROVISIONED", "ProvisionedThroughput": units}), VALIDATION, "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: by_owner");
    let updates: Vec<Value> = ["by_owner", "by_status", "by_kind"]
        .iter()
        .map(|n| json!({"Update": {"IndexName": n, "ProvisionedThroughput": units}}))
        .collect();
    let out = e.ok("UpdateTable", json!({"TableName": "tab", "BillingMode": "PROVISIONED", "ProvisionedThroughput": units, "GlobalSecondaryIndexUpdates": updates}));
    let gsi = &out["TableDescription"]["GlobalSecondaryIndexes"][2];
    assert_eq!(
        (
            gsi["ProvisionedThroughput"]["ReadCapacityUnits"].clone(),
            gsi["ProvisionedThroughput"]["WriteCapacityUnits"].clone()
        ),
        (json!(3), json!(4))
    );
    e.err("UpdateTable", json!({"TableName": "tab", "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "by_ts", "ProvisionedThroughput": units}}]}), VALIDATION, "Cannot update an index that is not a GlobalSecondaryIndex: by_ts");
    let out = e.ok(
        "UpdateTable",
        json!({"TableName": "tab", "BillingMode": "PAY_PER_REQUEST"}),
    );
    assert_eq!(
        out["TableDescription"]["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"],
        json!(0)
    );
}

/// A service opened on a store where an index is still backfilling (a restart, or another
/// node on a shared store) takes the backfill up; two backfills of one index at once still
/// count every entry once.
#[test]
fn a_reopened_service_resumes_a_backfill() {
    use nuvem_dynamo::{DynamoConfig, DynamoService};
    use nuvem_store::{Durability, FjallEngine, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).expect("engine"));
    let first = DynamoService::open(store.clone(), DynamoConfig::default()).expect("open");
    let e = Env::from(first);
    e.create("tab", ("pk", "S"), None);
    let items: Vec<Value> = (0..2000)
        .map(|i| json!({"PutRequest": {"Item": {"pk": {"S": format!("k{i}")}, "g": {"N": (i % 4).to_string()}}}}))
        .collect();
    for chunk in items.chunks(25) {
        e.ok("BatchWriteItem", json!({"RequestItems": {"tab": chunk}}));
    }
    e.ok("UpdateTable", json!({
        "TableName": "tab",
        "AttributeDefinitions": [{"AttributeName": "g", "AttributeType": "N"}],
        "GlobalSecondaryIndexUpdates": [create_gsi("by_g", "g", json!({"ProjectionType": "KEYS_ONLY"}))],
    }));
    let second = Env::from(DynamoService::open(store, DynamoConfig::default()).expect("reopen"));
    assert_eq!(
        wait_active(&second, "tab", "by_g")["ItemCount"],
        json!(2000)
    );
    let out = second.ok("Query", json!({"TableName": "tab", "IndexName": "by_g", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"N": "3"}}, "Select": "COUNT"}));
    assert_eq!(out["Count"], json!(500));
    drop(dir);
}

/// A `ConsumedCapacity` with `ReturnConsumedCapacity: INDEXES`: the total, the table's share
/// and each index's (`units` names `ReadCapacityUnits` or `WriteCapacityUnits`).
fn capacity(units: &str, table: f64, global: &[(&str, f64)], local: &[(&str, f64)]) -> Value {
    let part = |n: f64| json!({"CapacityUnits": n, units: n});
    let total = table + global.iter().chain(local).map(|(_, n)| n).sum::<f64>();
    let mut out =
        json!({"TableName": "tab", "CapacityUnits": total, units: total, "Table": part(table)});
    for (member, list) in [
        ("GlobalSecondaryIndexes", global),
        ("LocalSecondaryIndexes", local),
    ] {
        if !list.is_empty() {
            let map: serde_json::Map<String, Value> = list
                .iter()
                .map(|(name, n)| (name.to_string(), part(*n)))
                .collect();
            out[member] = Value::Object(map);
        }
    }
    out
}

/// Per-index consumed capacity, as DynamoDB charges it: a write costs on each index whose
/// entry it adds, changes or removes, per started KB of the projected entry (an index key
/// change is a delete and a put), nothing on an index whose entry stays the same; a Query or
/// Scan of an index is charged to the index; TOTAL is the sum; transactions cost twice.
#[test]
fn consumed_capacity_per_index() {
    let e = env();
    create_fixture(&e);
    let body = "x".repeat(3000);
    let w = "WriteCapacityUnits";
    let key = json!({"pk": {"S": "a"}, "sk": {"N": "1"}});
    let update = |expr: &str, values: Value| {
        let mut input = json!({"TableName": "tab", "Key": key, "UpdateExpression": expr, "ReturnConsumedCapacity": "INDEXES"});
        if values != Value::Null {
            input["ExpressionAttributeValues"] = values;
        }
        input
    };
    // (operation, input, expected ConsumedCapacity)
    let cases: Vec<(&str, Value, Value)> = vec![
        // A new item in every index: the ALL projection costs what the item does (3 KB), the
        // others one unit.
        (
            "PutItem",
            json!({"TableName": "tab", "ReturnConsumedCapacity": "INDEXES", "Item": {
            "pk": {"S": "a"}, "sk": {"N": "1"}, "owner": {"S": "ann"}, "ts": {"N": "10"},
            "status": {"S": "open"}, "kind": {"S": "doc"}, "title": {"S": "t"}, "body": {"S": body}}}),
            capacity(
                w,
                3.0,
                &[("by_kind", 3.0), ("by_owner", 1.0), ("by_status", 1.0)],
                &[("by_ts", 1.0)],
            ),
        ),
        // An attribute only the ALL index projects.
        (
            "UpdateItem",
            update("SET body = :b", json!({":b": {"S": "short"}})),
            capacity(w, 3.0, &[("by_kind", 3.0)], &[]),
        ),
        // by_owner's key changes: a delete and a put there.
        (
            "UpdateItem",
            update("SET #o = :o", json!({":o": {"S": "bob"}})),
            capacity(w, 1.0, &[("by_kind", 1.0), ("by_owner", 2.0)], &[]),
        ),
        // An included attribute.
        (
            "UpdateItem",
            update("SET title = :t", json!({":t": {"S": "t2"}})),
            capacity(w, 1.0, &[("by_kind", 1.0), ("by_owner", 1.0)], &[]),
        ),
        // Out of the sparse index.
        (
            "UpdateItem",
            update("REMOVE #s", Value::Null),
            capacity(w, 1.0, &[("by_kind", 1.0), ("by_status", 1.0)], &[]),
        ),
        // Nothing changes: the table write only.
        (
            "UpdateItem",
            update("SET title = :t", json!({":t": {"S": "t2"}})),
            capacity(w, 1.0, &[], &[]),
        ),
        (
            "DeleteItem",
            json!({"TableName": "tab", "Key": key, "ReturnConsumedCapacity": "INDEXES"}),
            capacity(
                w,
                1.0,
                &[("by_kind", 1.0), ("by_owner", 1.0)],
                &[("by_ts", 1.0)],
            ),
        ),
        (
            "PutItem",
            json!({"TableName": "tab", "ReturnConsumedCapacity": "TOTAL", "Item": {
            "pk": {"S": "a"}, "sk": {"N": "2"}, "owner": {"S": "ann"}, "ts": {"N": "10"}, "kind": {"S": "doc"}}}),
            json!({"TableName": "tab", "CapacityUnits": 4.0}),
        ),
        // Transactions cost twice, per index too.
        (
            "TransactWriteItems",
            json!({"ReturnConsumedCapacity": "INDEXES", "TransactItems": [
            {"Put": {"TableName": "tab", "Item": {"pk": {"S": "a"}, "sk": {"N": "3"}, "status": {"S": "open"}}}}]}),
            json!([capacity(w, 2.0, &[("by_status", 2.0)], &[])]),
        ),
        (
            "BatchWriteItem",
            json!({"ReturnConsumedCapacity": "INDEXES", "RequestItems": {"tab": [
            {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "4"}, "status": {"S": "open"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "5"}, "kind": {"S": "doc"}}}}]}}),
            json!([capacity(
                w,
                2.0,
                &[("by_kind", 1.0), ("by_status", 1.0)],
                &[]
            )]),
        ),
        // Reads of an index are charged to it.
        (
            "Query",
            json!({"TableName": "tab", "IndexName": "by_status", "ReturnConsumedCapacity": "INDEXES",
            "KeyConditionExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": "open"}}}),
            capacity("ReadCapacityUnits", 0.0, &[("by_status", 0.5)], &[]),
        ),
        (
            "Query",
            json!({"TableName": "tab", "IndexName": "by_ts", "ConsistentRead": true, "ReturnConsumedCapacity": "INDEXES",
            "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}),
            capacity("ReadCapacityUnits", 0.0, &[], &[("by_ts", 1.0)]),
        ),
        (
            "Scan",
            json!({"TableName": "tab", "IndexName": "by_kind", "ReturnConsumedCapacity": "INDEXES"}),
            capacity("ReadCapacityUnits", 0.0, &[("by_kind", 0.5)], &[]),
        ),
        (
            "Scan",
            json!({"TableName": "tab", "IndexName": "by_kind", "ReturnConsumedCapacity": "TOTAL"}),
            json!({"TableName": "tab", "CapacityUnits": 0.5}),
        ),
        (
            "GetItem",
            json!({"TableName": "tab", "Key": {"pk": {"S": "a"}, "sk": {"N": "2"}}, "ReturnConsumedCapacity": "INDEXES"}),
            capacity("ReadCapacityUnits", 0.5, &[], &[]),
        ),
    ];
    for (op, mut input, expected) in cases {
        match input["UpdateExpression"].as_str() {
            Some("REMOVE #s") => input["ExpressionAttributeNames"] = json!({"#s": "status"}),
            Some("SET #o = :o") => input["ExpressionAttributeNames"] = json!({"#o": "owner"}),
            _ => {}
        }
        let out = e.ok(op, input.clone());
        assert_eq!(out["ConsumedCapacity"], expected, "{op} {input}");
    }
}
