//! Index consistency as a property (issue 18): after any sequence of puts, updates, deletes,
//! batch writes and transactions, every secondary index holds exactly its definition applied
//! to the base table: the items that have all of its key attributes (sparse), projected to the
//! table's keys, the index's keys and its projection.

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use support::{Env, env};

/// Table `tab` (pk S, sk N): global `g_owner` (owner S, ts N; INCLUDE title), global `g_status`
/// (status S; KEYS_ONLY), local `l_ts` (pk, ts N; ALL).
fn create(e: &Env) {
    e.ok("CreateTable", json!({
        "TableName": "tab",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": "g_owner",
             "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]}},
            {"IndexName": "g_status",
             "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ],
        "LocalSecondaryIndexes": [
            {"IndexName": "l_ts",
             "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
    }));
}

/// One write.
#[derive(Debug, Clone)]
enum Op {
    Put {
        key: (u8, u8),
        owner: Option<u8>,
        ts: Option<u8>,
        status: Option<u8>,
        title: Option<u8>,
    },
    SetOwnerTs {
        key: (u8, u8),
        owner: u8,
        ts: u8,
    },
    RemoveOwner {
        key: (u8, u8),
    },
    SetStatus {
        key: (u8, u8),
        status: u8,
    },
    RemoveStatusAndTitle {
        key: (u8, u8),
    },
    Delete {
        key: (u8, u8),
    },
    /// A transaction: a put of the first key and a delete of the second (when distinct).
    Transact {
        put: (u8, u8),
        delete: (u8, u8),
        owner: u8,
    },
    /// A batch: puts of the distinct keys.
    Batch {
        keys: Vec<(u8, u8)>,
        status: u8,
    },
}

fn key_json(k: (u8, u8)) -> Value {
    json!({"pk": {"S": format!("p{}", k.0)}, "sk": {"N": k.1.to_string()}})
}

fn item_json(
    k: (u8, u8),
    owner: Option<u8>,
    ts: Option<u8>,
    status: Option<u8>,
    title: Option<u8>,
) -> Value {
    let mut item = key_json(k);
    if let Some(o) = owner {
        item["owner"] = json!({"S": format!("o{o}")});
    }
    if let Some(t) = ts {
        item["ts"] = json!({"N": t.to_string()});
    }
    if let Some(s) = status {
        item["status"] = json!({"S": format!("s{s}")});
    }
    if let Some(t) = title {
        item["title"] = json!({"S": format!("title {t}")});
    }
    item["body"] = json!({"S": "never projected by g_owner"});
    item
}

fn apply(e: &Env, op: &Op) {
    // `owner` and `status` are reserved words in DynamoDB's expressions: `#o` and `#s`.
    let update = |key: (u8, u8), expr: &str, values: Option<Value>| {
        let mut names = serde_json::Map::new();
        if expr.contains("#o") {
            names.insert("#o".into(), json!("owner"));
        }
        if expr.contains("#s") {
            names.insert("#s".into(), json!("status"));
        }
        let mut input = json!({"TableName": "tab", "Key": key_json(key), "UpdateExpression": expr});
        if !names.is_empty() {
            input["ExpressionAttributeNames"] = Value::Object(names);
        }
        if let Some(v) = values {
            input["ExpressionAttributeValues"] = v;
        }
        e.ok("UpdateItem", input);
    };
    match op.clone() {
        Op::Put {
            key,
            owner,
            ts,
            status,
            title,
        } => {
            e.ok(
                "PutItem",
                json!({"TableName": "tab", "Item": item_json(key, owner, ts, status, title)}),
            );
        }
        Op::SetOwnerTs { key, owner, ts } => update(
            key,
            "SET #o = :o, ts = :t",
            Some(json!({":o": {"S": format!("o{owner}")}, ":t": {"N": ts.to_string()}})),
        ),
        Op::RemoveOwner { key } => update(key, "REMOVE #o", None),
        Op::SetStatus { key, status } => update(
            key,
            "SET #s = :s",
            Some(json!({":s": {"S": format!("s{status}")}})),
        ),
        Op::RemoveStatusAndTitle { key } => update(key, "REMOVE #s, title", None),
        Op::Delete { key } => {
            e.ok(
                "DeleteItem",
                json!({"TableName": "tab", "Key": key_json(key)}),
            );
        }
        Op::Transact { put, delete, owner } => {
            let mut items = vec![json!({"Put": {"TableName": "tab",
                "Item": item_json(put, Some(owner), Some(owner), None, Some(owner))}})];
            if delete != put {
                items.push(json!({"Delete": {"TableName": "tab", "Key": key_json(delete)}}));
            }
            e.ok("TransactWriteItems", json!({"TransactItems": items}));
        }
        Op::Batch { mut keys, status } => {
            keys.sort_unstable();
            keys.dedup();
            let writes: Vec<Value> = keys
                .iter()
                .map(|k| json!({"PutRequest": {"Item": item_json(*k, None, Some(status), Some(status), None)}}))
                .collect();
            if !writes.is_empty() {
                e.ok("BatchWriteItem", json!({"RequestItems": {"tab": writes}}));
            }
        }
    }
}

/// Every page of a Scan (of the table, or of an index).
fn scan(e: &Env, index: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut start: Option<Value> = None;
    loop {
        let mut input = json!({"TableName": "tab", "Limit": 7});
        if let Some(i) = index {
            input["IndexName"] = json!(i);
        }
        if let Some(s) = start.take() {
            input["ExclusiveStartKey"] = s;
        }
        let page = e.ok("Scan", input);
        out.extend(page["Items"].as_array().cloned().unwrap_or_default());
        match page.get("LastEvaluatedKey") {
            Some(k) => start = Some(k.clone()),
            None => return out,
        }
    }
}

/// Items as comparable text, in order.
fn canonical(items: Vec<Value>) -> Vec<String> {
    let mut v: Vec<String> = items
        .into_iter()
        .map(|i| {
            let m: BTreeMap<String, Value> = serde_json::from_value(i).unwrap();
            serde_json::to_string(&m).unwrap()
        })
        .collect();
    v.sort();
    v
}

/// What index `keys`/`projected` must hold for `base`: the items with every key attribute,
/// projected (`None`: all attributes).
fn expected(base: &[Value], keys: &[&str], projected: Option<&[&str]>) -> Vec<String> {
    let items = base
        .iter()
        .filter(|i| keys.iter().all(|k| i.get(*k).is_some()))
        .map(|i| match projected {
            None => i.clone(),
            Some(extra) => {
                let mut out = serde_json::Map::new();
                for a in ["pk", "sk"].iter().chain(keys).chain(extra) {
                    if let Some(v) = i.get(*a) {
                        out.insert((*a).to_string(), v.clone());
                    }
                }
                Value::Object(out)
            }
        })
        .collect();
    canonical(items)
}

fn key() -> impl Strategy<Value = (u8, u8)> {
    (0u8..2, 0u8..4)
}

fn op() -> impl Strategy<Value = Op> {
    let small = || proptest::option::of(0u8..3);
    prop_oneof![
        (key(), small(), small(), small(), small()).prop_map(|(key, owner, ts, status, title)| {
            Op::Put {
                key,
                owner,
                ts,
                status,
                title,
            }
        }),
        (key(), 0u8..3, 0u8..3).prop_map(|(key, owner, ts)| Op::SetOwnerTs { key, owner, ts }),
        key().prop_map(|key| Op::RemoveOwner { key }),
        (key(), 0u8..3).prop_map(|(key, status)| Op::SetStatus { key, status }),
        key().prop_map(|key| Op::RemoveStatusAndTitle { key }),
        key().prop_map(|key| Op::Delete { key }),
        (key(), key(), 0u8..3).prop_map(|(put, delete, owner)| Op::Transact { put, delete, owner }),
        (proptest::collection::vec(key(), 1..5), 0u8..3)
            .prop_map(|(keys, status)| Op::Batch { keys, status }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_index_is_its_definition_applied_to_the_table(ops in proptest::collection::vec(op(), 1..30)) {
        let e = env();
        create(&e);
        for op in &ops {
            apply(&e, op);
        }
        let base = scan(&e, None);
        prop_assert_eq!(canonical(scan(&e, Some("g_owner"))), expected(&base, &["owner", "ts"], Some(&["title"])));
        prop_assert_eq!(canonical(scan(&e, Some("g_status"))), expected(&base, &["status"], Some(&[])));
        prop_assert_eq!(canonical(scan(&e, Some("l_ts"))), expected(&base, &["ts"], None));
    }
}
