//! The DynamoDB condition keys of a request, for IAM policies
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html#amazondynamodb-policy-keys>,
//! fine-grained access control:
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html>):
//!
//! - `dynamodb:LeadingKeys`: the partition key values of the items a request touches on the
//!   table (keys of GetItem/UpdateItem/DeleteItem, items of PutItem, every item of a batch or
//!   transaction on that table, the partition of a Query on the table). Not set for Scan, nor
//!   for a Query on an index (its partition key is the index's, not the table's).
//! - `dynamodb:Attributes`: the top-level attribute names a request names: the projection
//!   (ProjectionExpression or AttributesToGet), a PutItem's item, an UpdateItem's key and the
//!   attributes its update names (UpdateExpression or AttributeUpdates).
//! - `dynamodb:Select` of reads, the effective one: as given, else SPECIFIC_ATTRIBUTES with a
//!   projection, ALL_PROJECTED_ATTRIBUTES on an index, ALL_ATTRIBUTES otherwise;
//!   `dynamodb:ReturnValues`, `dynamodb:ReturnConsumedCapacity`.
//!
//! Must not: decide anything. The endpoint evaluates policies with these keys.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::expr::lexer::{Tok, tokenize};

/// The condition keys of operation `op` on `table`, whose partition key attribute is
/// `hash_key`, from the request's JSON input.
pub fn condition_keys(
    op: &str,
    table: &str,
    hash_key: &str,
    input: &Value,
) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    let names = input
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object);
    let leading = leading_keys(op, table, hash_key, input);
    if !leading.is_empty() || matches!(op, "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem") {
        out.push(("dynamodb:LeadingKeys", leading));
    }
    let mut attributes = BTreeSet::new();
    let projection = match op {
        "BatchGetItem" => input
            .get("RequestItems")
            .and_then(|r| r.get(table))
            .unwrap_or(&Value::Null),
        _ => input,
    };
    if let Some(p) = projection
        .get("ProjectionExpression")
        .and_then(Value::as_str)
    {
        let names = projection
            .get("ExpressionAttributeNames")
            .and_then(Value::as_object);
        attributes.extend(top_level_names(p, names));
    }
    if let Some(list) = projection.get("AttributesToGet").and_then(Value::as_array) {
        attributes.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    match op {
        "PutItem" => {
            if let Some(item) = input.get("Item").and_then(Value::as_object) {
                attributes.extend(item.keys().cloned());
            }
        }
        "UpdateItem" => {
            if let Some(key) = input.get("Key").and_then(Value::as_object) {
                attributes.extend(key.keys().cloned());
            }
            if let Some(u) = input.get("UpdateExpression").and_then(Value::as_str) {
                attributes.extend(top_level_names(u, names));
            }
            if let Some(u) = input.get("AttributeUpdates").and_then(Value::as_object) {
                attributes.extend(u.keys().cloned());
            }
        }
        _ => {}
    }
    let has_projection = !attributes.is_empty() && !matches!(op, "PutItem" | "UpdateItem");
    if !attributes.is_empty() {
        out.push(("dynamodb:Attributes", attributes.into_iter().collect()));
    }
    // The effective Select of a read: as given, else what DynamoDB defaults it to.
    let reads = matches!(op, "GetItem" | "BatchGetItem" | "Query" | "Scan");
    let select = match projection.get("Select").and_then(Value::as_str) {
        Some(s) => Some(s.to_owned()),
        None if has_projection => Some("SPECIFIC_ATTRIBUTES".to_owned()),
        None if reads && input.get("IndexName").is_some() => {
            Some("ALL_PROJECTED_ATTRIBUTES".to_owned())
        }
        None if reads => Some("ALL_ATTRIBUTES".to_owned()),
        None => None,
    };
    if let Some(s) = select {
        out.push(("dynamodb:Select", vec![s]));
    }
    for (param, key) in [
        ("ReturnValues", "dynamodb:ReturnValues"),
        ("ReturnConsumedCapacity", "dynamodb:ReturnConsumedCapacity"),
    ] {
        if let Some(v) = input.get(param).and_then(Value::as_str) {
            out.push((key, vec![v.to_owned()]));
        }
    }
    out
}

/// The partition key values of the items a request touches on `table`.
fn leading_keys(op: &str, table: &str, hash_key: &str, input: &Value) -> Vec<String> {
    let mut values = BTreeSet::new();
    let mut take = |item: Option<&Value>| {
        if let Some(v) = item.and_then(|i| i.get(hash_key)).and_then(scalar) {
            values.insert(v);
        }
    };
    match op {
        "GetItem" | "UpdateItem" | "DeleteItem" => take(input.get("Key")),
        "PutItem" => take(input.get("Item")),
        "BatchGetItem" => {
            let keys = input
                .pointer(&format!("/RequestItems/{}/Keys", escape(table)))
                .and_then(Value::as_array);
            for k in keys.into_iter().flatten() {
                take(Some(k));
            }
        }
        "BatchWriteItem" => {
            let writes = input
                .pointer(&format!("/RequestItems/{}", escape(table)))
                .and_then(Value::as_array);
            for w in writes.into_iter().flatten() {
                take(w.pointer("/PutRequest/Item"));
                take(w.pointer("/DeleteRequest/Key"));
            }
        }
        "TransactWriteItems" | "TransactGetItems" => {
            let items = input.get("TransactItems").and_then(Value::as_array);
            for entry in items.into_iter().flatten().filter_map(Value::as_object) {
                for inner in entry.values() {
                    if inner.get("TableName").and_then(Value::as_str) == Some(table) {
                        take(inner.get("Key"));
                        take(inner.get("Item"));
                    }
                }
            }
        }
        "Query" if input.get("IndexName").is_none() => {
            if let Some(v) = query_partition(hash_key, input) {
                values.insert(v);
            }
        }
        _ => {}
    }
    values.into_iter().collect()
}

/// The partition value of a Query on the table: `pk = :v` (either way round) in its
/// KeyConditionExpression, or the legacy KeyConditions' EQ on the partition key.
fn query_partition(hash_key: &str, input: &Value) -> Option<String> {
    if let Some(expr) = input.get("KeyConditionExpression").and_then(Value::as_str) {
        let names = input
            .get("ExpressionAttributeNames")
            .and_then(Value::as_object);
        let values = input.get("ExpressionAttributeValues")?;
        let tokens = tokenize(expr);
        let text = |i: usize| tokens.get(i).map(|t| &expr[t.start..t.end]);
        let is_key = |i: usize| match tokens.get(i).map(|t| &t.tok) {
            Some(Tok::Ident) => text(i) == Some(hash_key),
            Some(Tok::Name) => text(i)
                .and_then(|n| names?.get(n)?.as_str())
                .is_some_and(|n| n == hash_key),
            _ => false,
        };
        let value_at = |i: usize| match tokens.get(i).map(|t| &t.tok) {
            Some(Tok::Value) => values.get(text(i)?).and_then(scalar),
            _ => None,
        };
        for i in 0..tokens.len() {
            if text(i + 1) == Some("=")
                && matches!(tokens.get(i + 1).map(|t| &t.tok), Some(Tok::Punct(_)))
            {
                if is_key(i)
                    && let Some(v) = value_at(i + 2)
                {
                    return Some(v);
                }
                if is_key(i + 2)
                    && let Some(v) = value_at(i)
                {
                    return Some(v);
                }
            }
        }
        return None;
    }
    let cond = input.get("KeyConditions")?.get(hash_key)?;
    if cond.get("ComparisonOperator").and_then(Value::as_str) != Some("EQ") {
        return None;
    }
    scalar(cond.get("AttributeValueList")?.get(0)?)
}

/// A key value as a policy compares it: the string of an `S`, `N` or (base64) `B`.
fn scalar(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    ["S", "N", "B"]
        .iter()
        .find_map(|t| o.get(*t))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A table name as a JSON pointer segment.
fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Expression keywords that are never attribute names where they stand.
const KEYWORDS: &[&str] = &[
    "SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN",
];

/// The top-level attribute names an expression names: the first element of every path
/// (`a` of `a.b[1]`), `#name` placeholders resolved, function names and keywords left out.
pub fn top_level_names(expr: &str, names: Option<&Map<String, Value>>) -> Vec<String> {
    let tokens = tokenize(expr);
    let mut out = BTreeSet::new();
    for (i, t) in tokens.iter().enumerate() {
        let after_dot = i > 0 && matches!(tokens[i - 1].tok, Tok::Punct("."));
        let before_paren = matches!(tokens.get(i + 1).map(|t| &t.tok), Some(Tok::Punct("(")));
        if after_dot || before_paren {
            continue;
        }
        let text = &expr[t.start..t.end];
        match t.tok {
            Tok::Ident if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(text)) => {
                out.insert(text.to_owned());
            }
            Tok::Name => {
                if let Some(n) = names.and_then(|m| m.get(text)).and_then(Value::as_str) {
                    out.insert(n.to_owned());
                }
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check(op: &str, input: Value, want: &[(&str, &[&str])]) {
        let got = condition_keys(op, "t", "pk", &input);
        let got: Vec<(&str, Vec<&str>)> = got
            .iter()
            .map(|(k, v)| (*k, v.iter().map(String::as_str).collect()))
            .collect();
        let want: Vec<(&str, Vec<&str>)> = want.iter().map(|(k, v)| (*k, v.to_vec())).collect();
        assert_eq!(got, want, "{op} {input}");
    }

    #[test]
    fn keys_per_operation() {
        check(
            "GetItem",
            json!({"TableName": "t", "Key": {"pk": {"S": "alice"}, "sk": {"N": "1"}},
                   "ProjectionExpression": "#a, b.c, d[0]", "ExpressionAttributeNames": {"#a": "a"}}),
            &[
                ("dynamodb:LeadingKeys", &["alice"]),
                ("dynamodb:Attributes", &["a", "b", "d"]),
                ("dynamodb:Select", &["SPECIFIC_ATTRIBUTES"]),
            ],
        );
        check(
            "GetItem",
            json!({"TableName": "t", "Key": {"pk": {"N": "42"}}}),
            &[
                ("dynamodb:LeadingKeys", &["42"]),
                ("dynamodb:Select", &["ALL_ATTRIBUTES"]),
            ],
        );
        check(
            "PutItem",
            json!({"TableName": "t", "Item": {"pk": {"S": "bob"}, "x": {"S": "1"}}, "ReturnValues": "ALL_OLD"}),
            &[
                ("dynamodb:LeadingKeys", &["bob"]),
                ("dynamodb:Attributes", &["pk", "x"]),
                ("dynamodb:ReturnValues", &["ALL_OLD"]),
            ],
        );
        check(
            "UpdateItem",
            json!({"TableName": "t", "Key": {"pk": {"S": "bob"}},
                   "UpdateExpression": "SET #s = if_not_exists(score, :z) + :one REMOVE old.x ADD tags :t",
                   "ExpressionAttributeNames": {"#s": "total"}}),
            &[
                ("dynamodb:LeadingKeys", &["bob"]),
                (
                    "dynamodb:Attributes",
                    &["old", "pk", "score", "tags", "total"],
                ),
            ],
        );
        check(
            "Query",
            json!({"TableName": "t", "KeyConditionExpression": "sk > :s AND :p = #k",
                   "ExpressionAttributeNames": {"#k": "pk"},
                   "ExpressionAttributeValues": {":p": {"S": "carol"}, ":s": {"N": "1"}},
                   "Select": "COUNT"}),
            &[
                ("dynamodb:LeadingKeys", &["carol"]),
                ("dynamodb:Select", &["COUNT"]),
            ],
        );
        check(
            "Query",
            json!({"TableName": "t", "KeyConditions": {"pk": {"ComparisonOperator": "EQ",
                   "AttributeValueList": [{"S": "dave"}]}}}),
            &[
                ("dynamodb:LeadingKeys", &["dave"]),
                ("dynamodb:Select", &["ALL_ATTRIBUTES"]),
            ],
        );
        // A query on an index partitions on the index's key: no leading keys.
        check(
            "Query",
            json!({"TableName": "t", "IndexName": "by-x", "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": "carol"}}}),
            &[("dynamodb:Select", &["ALL_PROJECTED_ATTRIBUTES"])],
        );
        check(
            "Scan",
            json!({"TableName": "t", "ReturnConsumedCapacity": "TOTAL"}),
            &[
                ("dynamodb:Select", &["ALL_ATTRIBUTES"]),
                ("dynamodb:ReturnConsumedCapacity", &["TOTAL"]),
            ],
        );
        check(
            "BatchWriteItem",
            json!({"RequestItems": {"t": [
                {"PutRequest": {"Item": {"pk": {"S": "a"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}],
                "other": [{"PutRequest": {"Item": {"pk": {"S": "z"}}}}]}}),
            &[("dynamodb:LeadingKeys", &["a", "b"])],
        );
        check(
            "BatchGetItem",
            json!({"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "c"}}],
                   "AttributesToGet": ["pk", "v"]}}}),
            &[
                ("dynamodb:LeadingKeys", &["a", "c"]),
                ("dynamodb:Attributes", &["pk", "v"]),
                ("dynamodb:Select", &["SPECIFIC_ATTRIBUTES"]),
            ],
        );
        check(
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "p"}}}},
                {"Update": {"TableName": "other", "Key": {"pk": {"S": "q"}}}},
                {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "r"}}}}]}),
            &[("dynamodb:LeadingKeys", &["p", "r"])],
        );
    }
}
