//! The DynamoDB service at its public API: `DynamoService::execute` (the path every request
//! takes) on the real storage engine in a temp dir, plus the HTTP wrapping through
//! `Service::call`. Expected messages are DynamoDB's own.

use std::sync::Arc;

use http_body_util::BodyExt;
use nuvem_aws::{AwsRequest, Caller, RequestId, Service, full_body, sigv4::PayloadMode};
use nuvem_dynamo::{DynamoConfig, DynamoService, Error};
use nuvem_store::{Direction, Durability, FjallEngine, KeyRange, Store};
use serde_json::{Value, json};

struct Env {
    dir: tempfile::TempDir,
    svc: DynamoService,
}

fn open(dir: &std::path::Path) -> DynamoService {
    let store = Store::new(FjallEngine::open(dir, Durability::Process).expect("open engine"));
    DynamoService::open(store, DynamoConfig::default()).expect("open service")
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = open(dir.path());
    Env { dir, svc }
}

/// Removes the members that differ on every run (ids, timestamps).
fn scrub(mut v: Value) -> Value {
    for wrapper in ["TableDescription", "Table"] {
        if let Some(desc) = v.get_mut(wrapper).and_then(Value::as_object_mut) {
            assert!(
                desc.remove("TableId")
                    .is_some_and(|id| id.as_str().is_some_and(|s| s.len() == 36))
            );
            // DeleteTable's description has no creation time (issue #18).
            let deleting = desc.get("TableStatus") == Some(&json!("DELETING"));
            assert!(
                deleting
                    ^ desc
                        .remove("CreationDateTime")
                        .is_some_and(|t| t.as_f64().is_some_and(|t| t > 1.6e9))
            );
            if let Some(summary) = desc
                .get_mut("BillingModeSummary")
                .and_then(Value::as_object_mut)
                && let Some(t) = summary.remove("LastUpdateToPayPerRequestDateTime")
            {
                assert!(t.as_f64().is_some_and(|t| t > 1.6e9));
                summary.insert("LastUpdateToPayPerRequestDateTime".into(), json!("<date>"));
            }
        }
    }
    v
}

impl Env {
    #[track_caller]
    fn ok(&self, op: &str, input: Value) -> Value {
        match self.svc.execute(op, input.clone()) {
            Ok(v) => v,
            Err(e) => panic!("{op} {input} failed: {e}"),
        }
    }

    /// Runs `op` and compares its output (ids and timestamps removed) with `expected`.
    #[track_caller]
    fn check(&self, op: &str, input: Value, expected: Value) {
        assert_eq!(scrub(self.ok(op, input)), expected);
    }

    /// Runs `op`, which must fail with `code` and `message`.
    #[track_caller]
    fn err(&self, op: &str, input: Value, code: &str, message: &str) {
        match self.svc.execute(op, input.clone()) {
            Ok(v) => panic!("{op} {input} succeeded with {v}, expected {code}"),
            Err(e) => {
                assert_eq!(
                    (e.code, e.message.as_str()),
                    (code, message),
                    "{op} {input}"
                );
                assert_eq!(e.status.as_u16(), 400);
            }
        }
    }

    fn create(&self, name: &str, hash: (&str, &str), range: Option<(&str, &str)>) {
        let mut defs = vec![json!({"AttributeName": hash.0, "AttributeType": hash.1})];
        let mut ks = vec![json!({"AttributeName": hash.0, "KeyType": "HASH"})];
        if let Some(r) = range {
            defs.push(json!({"AttributeName": r.0, "AttributeType": r.1}));
            ks.push(json!({"AttributeName": r.0, "KeyType": "RANGE"}));
        }
        self.ok(
            "CreateTable",
            json!({"TableName": name, "AttributeDefinitions": defs, "KeySchema": ks, "BillingMode": "PAY_PER_REQUEST"}),
        );
    }

    fn put(&self, table: &str, item: Value) {
        self.ok("PutItem", json!({"TableName": table, "Item": item}));
    }

    fn get(&self, table: &str, key: Value) -> Value {
        self.ok(
            "GetItem",
            json!({"TableName": table, "Key": key, "ConsistentRead": true}),
        )
    }

    fn stats(&self, table: &str) -> (u64, u64) {
        let d = self.ok("DescribeTable", json!({"TableName": table}));
        (
            d["Table"]["ItemCount"].as_u64().unwrap_or(u64::MAX),
            d["Table"]["TableSizeBytes"].as_u64().unwrap_or(u64::MAX),
        )
    }
}

const VALIDATION: &str = "ValidationException";

fn description(name: &str, status: &str, count: u64, bytes: u64) -> Value {
    json!({
        "TableName": name,
        "TableArn": format!("arn:aws:dynamodb:us-east-1:000000000000:table/{name}"),
        "TableStatus": status,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "ItemCount": count,
        "TableSizeBytes": bytes,
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": "<date>"},
        "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
        "DeletionProtectionEnabled": false,
    })
}

/// DeleteTable's description: no key schema, attribute definitions or creation time.
fn deleted_description(name: &str, count: u64, bytes: u64) -> Value {
    let mut d = description(name, "DELETING", count, bytes);
    if let Some(obj) = d.as_object_mut() {
        obj.remove("KeySchema");
        obj.remove("AttributeDefinitions");
    }
    d
}

#[test]
fn table_lifecycle() {
    let e = env();
    let create = json!({
        "TableName": "Music",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
    });
    e.check(
        "CreateTable",
        create.clone(),
        json!({"TableDescription": description("Music", "CREATING", 0, 0)}),
    );
    e.err(
        "CreateTable",
        create,
        "ResourceInUseException",
        "Table already exists: Music",
    );
    e.check(
        "DescribeTable",
        json!({"TableName": "Music"}),
        json!({"Table": description("Music", "ACTIVE", 0, 0)}),
    );
    // A table ARN works wherever a name does.
    e.check(
        "DescribeTable",
        json!({"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/Music"}),
        json!({"Table": description("Music", "ACTIVE", 0, 0)}),
    );
    e.check("ListTables", json!({}), json!({"TableNames": ["Music"]}));
    e.put("Music", json!({"pk": {"S": "a"}, "sk": {"N": "1"}}));
    // "pk" 2 + "a" 1 + "sk" 2 + 2 for the number 1 (DynamoDB: 1 byte per two digits, plus 1).
    e.check(
        "DeleteTable",
        json!({"TableName": "Music"}),
        json!({"TableDescription": deleted_description("Music", 1, 7)}),
    );
    e.err(
        "DescribeTable",
        json!({"TableName": "Music"}),
        "ResourceNotFoundException",
        "Requested resource not found: Table: Music not found",
    );
    e.err(
        "DeleteTable",
        json!({"TableName": "Music"}),
        "ResourceNotFoundException",
        "Requested resource not found: Table: Music not found",
    );
    e.err(
        "GetItem",
        json!({"TableName": "Music", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}),
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    e.check("ListTables", json!({}), json!({"TableNames": []}));
}

#[test]
fn create_table_validation() {
    let e = env();
    let defs = json!([{"AttributeName": "id", "AttributeType": "S"}]);
    let ks = json!([{"AttributeName": "id", "KeyType": "HASH"}]);
    #[track_caller]
    fn bad(e: &Env, input: Value, code: &str, msg: &str) {
        e.err("CreateTable", input, code, msg);
    }
    let ppr = "PAY_PER_REQUEST";
    bad(
        &e,
        json!({"TableName": "ab", "AttributeDefinitions": defs, "KeySchema": ks, "BillingMode": ppr}),
        VALIDATION,
        "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3",
    );
    bad(
        &e,
        json!({"TableName": "a b", "AttributeDefinitions": defs, "KeySchema": ks, "BillingMode": ppr}),
        VALIDATION,
        "1 validation error detected: Value 'a b' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    );
    bad(
        &e,
        json!({"AttributeDefinitions": defs, "KeySchema": ks}),
        VALIDATION,
        "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null",
    );
    bad(
        &e,
        json!({"TableName": "t1"}),
        VALIDATION,
        "3 validation errors detected: Value 't1' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null; Value null at 'keySchema' failed to satisfy constraint: Member must not be null",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "X"}], "KeySchema": ks, "BillingMode": ppr}),
        VALIDATION,
        "1 validation error detected: Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": defs, "KeySchema": ks, "BillingMode": "FREE"}),
        VALIDATION,
        "1 validation error detected: Value 'FREE' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": defs, "KeySchema": [{"AttributeName": "id", "KeyType": "RANGE"}], "BillingMode": ppr}),
        VALIDATION,
        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "x", "KeyType": "HASH"}], "BillingMode": ppr}),
        VALIDATION,
        "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": defs,
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}], "BillingMode": ppr}),
        VALIDATION,
        "Both the Hash Key and the Range Key element in the KeySchema have the same name",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "extra", "AttributeType": "S"}], "KeySchema": ks, "BillingMode": ppr}),
        VALIDATION,
        "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": [{"AttributeName": "foo", "AttributeType": "S"}], "KeySchema": ks, "BillingMode": ppr}),
        VALIDATION,
        "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [id], AttributeDefinitions: [foo]",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": defs, "KeySchema": ks}),
        VALIDATION,
        "No provisioned throughput specified for the table",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": defs, "KeySchema": ks, "BillingMode": ppr,
        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}),
        VALIDATION,
        "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
    );
    bad(
        &e,
        json!({"TableName": "t01", "AttributeDefinitions": defs, "KeySchema": ks,
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}}),
        VALIDATION,
        "1 validation error detected: Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    // A member of the wrong JSON type is a serialization error, as in DynamoDB.
    let e2 = e
        .svc
        .execute("CreateTable", json!({"TableName": 5}))
        .unwrap_err();
    assert_eq!(e2.code, "SerializationException");
    e.check("ListTables", json!({}), json!({"TableNames": []}));
}

#[test]
fn provisioned_table_and_update_table() {
    let e = env();
    let out = e.ok(
        "CreateTable",
        json!({
            "TableName": "prov",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "B"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
            "Tags": [{"Key": "env", "Value": "test"}],
        }),
    );
    let d = &out["TableDescription"];
    assert_eq!(
        d["BillingModeSummary"],
        json!({"BillingMode": "PROVISIONED"})
    );
    assert_eq!(
        d["ProvisionedThroughput"],
        json!({"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 5, "WriteCapacityUnits": 7})
    );
    e.err("UpdateTable", json!({"TableName": "prov"}), VALIDATION,
        "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required");
    e.err("UpdateTable", json!({"TableName": "prov", "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7}}), VALIDATION,
        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: 5. Requested ReadCapacityUnits: 5. Current WriteCapacityUnits provisioned for the table: 7. Requested WriteCapacityUnits: 7. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.");
    e.err(
        "UpdateTable",
        json!({"TableName": "nope", "BillingMode": "PAY_PER_REQUEST"}),
        "ResourceNotFoundException",
        "Requested resource not found: Table: nope not found",
    );
    let out = e.ok("UpdateTable", json!({"TableName": "prov", "ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 7}}));
    assert_eq!(out["TableDescription"]["TableStatus"], "UPDATING");
    assert_eq!(
        out["TableDescription"]["ProvisionedThroughput"]["ReadCapacityUnits"],
        10
    );
    assert!(out["TableDescription"]["ProvisionedThroughput"]["LastIncreaseDateTime"].is_f64());
    e.ok(
        "UpdateTable",
        json!({"TableName": "prov", "BillingMode": "PAY_PER_REQUEST"}),
    );
    let d = e.ok("DescribeTable", json!({"TableName": "prov"}));
    // issue #18: the switch to on-demand is dated, after the table's creation.
    let summary = &d["Table"]["BillingModeSummary"];
    assert_eq!(summary["BillingMode"], "PAY_PER_REQUEST");
    assert!(
        summary["LastUpdateToPayPerRequestDateTime"].as_f64()
            >= d["Table"]["CreationDateTime"].as_f64()
    );
    assert_eq!(d["Table"]["ProvisionedThroughput"]["ReadCapacityUnits"], 0);
    e.err("UpdateTable", json!({"TableName": "prov", "BillingMode": "PROVISIONED"}), VALIDATION,
        "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED");
}

#[test]
fn list_tables_pages_in_name_order() {
    let e = env();
    for name in ["ccc", "aaa", "bbb", "a.b", "A-Z"] {
        e.create(name, ("id", "S"), None);
    }
    e.check(
        "ListTables",
        json!({}),
        json!({"TableNames": ["A-Z", "a.b", "aaa", "bbb", "ccc"]}),
    );
    e.check(
        "ListTables",
        json!({"Limit": 2}),
        json!({"TableNames": ["A-Z", "a.b"], "LastEvaluatedTableName": "a.b"}),
    );
    e.check(
        "ListTables",
        json!({"Limit": 2, "ExclusiveStartTableName": "a.b"}),
        json!({"TableNames": ["aaa", "bbb"], "LastEvaluatedTableName": "bbb"}),
    );
    e.check(
        "ListTables",
        json!({"Limit": 2, "ExclusiveStartTableName": "bbb"}),
        json!({"TableNames": ["ccc"]}),
    );
    e.check(
        "ListTables",
        json!({"ExclusiveStartTableName": "zzz"}),
        json!({"TableNames": []}),
    );
    e.err("ListTables", json!({"Limit": 0}), VALIDATION,
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1");
    e.err("ListTables", json!({"Limit": 101}), VALIDATION,
        "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100");
}

#[test]
fn every_type_round_trips() {
    let e = env();
    e.create("types", ("pk", "B"), Some(("sk", "N")));
    let item = json!({
        "pk": {"B": "AAEC/w=="},
        "sk": {"N": "-1.5E+3"},
        "s": {"S": "héllo"},
        "n": {"N": "12345678901234567890123456789012345678"},
        "b": {"B": "AA=="},
        "t": {"BOOL": true},
        "z": {"NULL": true},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": ["AQ==", "Ag=="]},
        "m": {"M": {"l": {"L": [{"S": "x"}, {"M": {}}, {"L": []}, {"N": "0"}]}, "empty": {"S": ""}}},
    });
    e.put("types", item.clone());
    let got = e.get(
        "types",
        json!({"pk": {"B": "AAEC/w=="}, "sk": {"N": "-1500"}}),
    );
    let mut expected = item;
    // Numbers come back normalized.
    expected["sk"] = json!({"N": "-1500"});
    assert_eq!(got, json!({"Item": expected}));
    e.check(
        "GetItem",
        json!({"TableName": "types", "Key": {"pk": {"B": "AAEC/w=="}, "sk": {"N": "1500"}}}),
        json!({}),
    );
}

#[test]
fn item_validation_errors() {
    let e = env();
    e.create("items", ("id", "S"), Some(("n", "N")));
    let put = |item: Value| json!({"TableName": "items", "Item": item});
    e.err(
        "PutItem",
        put(json!({"n": {"N": "1"}})),
        VALIDATION,
        "One or more parameter values were invalid: Missing the key id in the item",
    );
    e.err(
        "PutItem",
        put(json!({"id": {"S": "a"}})),
        VALIDATION,
        "One or more parameter values were invalid: Missing the key n in the item",
    );
    e.err(
        "PutItem",
        put(json!({"id": {"N": "1"}, "n": {"N": "1"}})),
        VALIDATION,
        "One or more parameter values were invalid: Type mismatch for key id expected: S actual: N",
    );
    e.err("PutItem", put(json!({"id": {"S": ""}, "n": {"N": "1"}})), VALIDATION,
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: id");
    e.err("PutItem", put(json!({"id": {"S": "x".repeat(2049)}, "n": {"N": "1"}})), VALIDATION,
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes");
    e.put(
        "items",
        json!({"id": {"S": "x".repeat(2048)}, "n": {"N": "1"}}),
    );
    e.err(
        "PutItem",
        put(json!({"id": {"S": "a"}, "n": {"N": "1"}, "big": {"S": "x".repeat(400 * 1024)}})),
        VALIDATION,
        "Item size has exceeded the maximum allowed size",
    );
    e.err("PutItem", json!({"TableName": "items"}), VALIDATION,
        "1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null");
    e.err(
        "PutItem",
        put(json!({"id": {"S": "a"}, "n": {"N": "1"}, "bad": {}})),
        VALIDATION,
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
    );
    e.err(
        "PutItem",
        json!({"TableName": "nothere", "Item": {"id": {"S": "a"}}}),
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    for key in [
        json!({"id": {"S": "a"}}),
        json!({"id": {"S": "a"}, "n": {"S": "1"}}),
        json!({"id": {"S": "a"}, "n": {"N": "1"}, "x": {"S": "y"}}),
    ] {
        for op in ["GetItem", "DeleteItem", "UpdateItem"] {
            e.err(
                op,
                json!({"TableName": "items", "Key": key}),
                VALIDATION,
                "The provided key element does not match the schema",
            );
        }
    }
    e.err("GetItem", json!({"TableName": "items", "Key": {"id": {"S": ""}, "n": {"N": "1"}}}), VALIDATION,
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: id");
    e.err("PutItem", json!({"TableName": "items", "Item": {"id": {"S": "a"}, "n": {"N": "1"}}, "ReturnValues": "ALL_NEW"}), VALIDATION,
        "Return values set to invalid value");
    e.err("DeleteItem", json!({"TableName": "items", "Key": {"id": {"S": "a"}, "n": {"N": "1"}}, "ReturnValues": "UPDATED_OLD"}), VALIDATION,
        "Return values set to invalid value");
    e.err("UpdateItem", json!({"TableName": "items", "Key": {"id": {"S": "a"}, "n": {"N": "1"}}, "ReturnValues": "SOME"}), VALIDATION,
        "1 validation error detected: Value 'SOME' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]");
    e.err("GetItem", json!({"TableName": "items", "Key": {"id": {"S": "a"}, "n": {"N": "1"}}, "ReturnConsumedCapacity": "ALL"}), VALIDATION,
        "1 validation error detected: Value 'ALL' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]");
    e.err("PutItem", json!({"TableName": "items", "Item": {"id": {"S": "a"}, "n": {"N": "1"}}, "ExpressionAttributeValues": {":v": {"S": "x"}}}), VALIDATION,
        "ExpressionAttributeValues can only be specified when using expressions");
    e.err("PutItem", json!({"TableName": "items", "Item": {"id": {"S": "a"}, "n": {"N": "1"}}, "ConditionExpression": "a = :v", "ExpressionAttributeValues": {}}), VALIDATION,
        "ExpressionAttributeValues must not be empty");
    // Nothing above was written, except the one valid 2048-byte key.
    assert_eq!(e.stats("items").0, 1);
}

#[test]
fn conditions() {
    let e = env();
    e.create("cond", ("id", "S"), None);
    let put_new = |v: &str| {
        json!({
            "TableName": "cond",
            "Item": {"id": {"S": "k"}, "v": {"S": v}},
            "ConditionExpression": "attribute_not_exists(id)",
        })
    };
    e.ok("PutItem", put_new("first"));
    e.err(
        "PutItem",
        put_new("second"),
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    assert_eq!(
        e.get("cond", json!({"id": {"S": "k"}})),
        json!({"Item": {"id": {"S": "k"}, "v": {"S": "first"}}})
    );

    // The old item comes back with the error when asked for.
    let mut with_old = put_new("third");
    with_old["ReturnValuesOnConditionCheckFailure"] = json!("ALL_OLD");
    match e.svc.execute_op("PutItem", with_old) {
        Err(Error::ConditionalCheckFailed { item: Some(item) }) => {
            assert_eq!(item.len(), 2);
        }
        other => panic!("expected a failed condition with the old item, got {other:?}"),
    }

    let upd = |cond: &str, values: Value| {
        json!({
            "TableName": "cond",
            "Key": {"id": {"S": "k"}},
            "UpdateExpression": "SET v = :new",
            "ConditionExpression": cond,
            "ExpressionAttributeValues": values,
        })
    };
    e.err(
        "UpdateItem",
        upd(
            "v = :old",
            json!({":new": {"S": "x"}, ":old": {"S": "nope"}}),
        ),
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    e.ok(
        "UpdateItem",
        upd(
            "v = :old",
            json!({":new": {"S": "x"}, ":old": {"S": "first"}}),
        ),
    );
    assert_eq!(
        e.get("cond", json!({"id": {"S": "k"}})),
        json!({"Item": {"id": {"S": "k"}, "v": {"S": "x"}}})
    );
    e.err("DeleteItem", json!({"TableName": "cond", "Key": {"id": {"S": "k"}}, "ConditionExpression": "attribute_not_exists(v)"}),
        "ConditionalCheckFailedException", "The conditional request failed");
    // A condition on an item that does not exist sees an empty item.
    e.err("DeleteItem", json!({"TableName": "cond", "Key": {"id": {"S": "nope"}}, "ConditionExpression": "attribute_exists(id)"}),
        "ConditionalCheckFailedException", "The conditional request failed");
    e.ok("DeleteItem", json!({"TableName": "cond", "Key": {"id": {"S": "k"}}, "ConditionExpression": "attribute_exists(v)"}));
    assert_eq!(e.get("cond", json!({"id": {"S": "k"}})), json!({}));
    assert_eq!(e.stats("cond"), (0, 0));
}

#[test]
fn return_values() {
    let e = env();
    e.create("rvals", ("id", "S"), None);
    let key = json!({"id": {"S": "k"}});
    let a1 = json!({"id": {"S": "k"}, "a": {"N": "1"}});
    e.check(
        "PutItem",
        json!({"TableName": "rvals", "Item": a1, "ReturnValues": "ALL_OLD"}),
        json!({}),
    );
    e.check("PutItem", json!({"TableName": "rvals", "Item": {"id": {"S": "k"}, "a": {"N": "2"}, "b": {"S": "x"}}, "ReturnValues": "ALL_OLD"}),
        json!({"Attributes": a1}));
    let upd = |rv: &str| {
        json!({
            "TableName": "rvals", "Key": key, "UpdateExpression": "SET a = a + :one REMOVE b", "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": rv,
        })
    };
    e.check(
        "UpdateItem",
        upd("UPDATED_OLD"),
        json!({"Attributes": {"a": {"N": "2"}, "b": {"S": "x"}}}),
    );
    e.check(
        "UpdateItem",
        upd("UPDATED_NEW"),
        json!({"Attributes": {"a": {"N": "4"}}}),
    );
    e.check(
        "UpdateItem",
        upd("ALL_OLD"),
        json!({"Attributes": {"id": {"S": "k"}, "a": {"N": "4"}}}),
    );
    e.check(
        "UpdateItem",
        upd("ALL_NEW"),
        json!({"Attributes": {"id": {"S": "k"}, "a": {"N": "6"}}}),
    );
    e.check("UpdateItem", upd("NONE"), json!({}));
    e.check(
        "DeleteItem",
        json!({"TableName": "rvals", "Key": key, "ReturnValues": "ALL_OLD"}),
        json!({"Attributes": {"id": {"S": "k"}, "a": {"N": "7"}}}),
    );
    e.check(
        "DeleteItem",
        json!({"TableName": "rvals", "Key": key, "ReturnValues": "ALL_OLD"}),
        json!({}),
    );
}

#[test]
fn update_item_upserts_and_protects_keys() {
    let e = env();
    e.create("upd", ("id", "S"), Some(("r", "N")));
    let key = json!({"id": {"S": "k"}, "r": {"N": "1"}});
    e.check(
        "UpdateItem",
        json!({"TableName": "upd", "Key": key, "ReturnValues": "ALL_NEW"}),
        json!({"Attributes": key}),
    );
    e.ok("UpdateItem", json!({
        "TableName": "upd", "Key": key,
        "UpdateExpression": "SET #m = :m, l = :l ADD c :one, s :s",
        "ExpressionAttributeNames": {"#m": "map"},
        "ExpressionAttributeValues": {":m": {"M": {"x": {"N": "1"}}}, ":l": {"L": [{"S": "a"}]}, ":one": {"N": "1"}, ":s": {"SS": ["a", "b", "c"]}},
    }));
    e.ok("UpdateItem", json!({
        "TableName": "upd", "Key": key,
        "UpdateExpression": "SET #m.y = :two, l[1] = :two ADD c :one DELETE s :d",
        "ExpressionAttributeNames": {"#m": "map"},
        "ExpressionAttributeValues": {":two": {"N": "2"}, ":one": {"N": "1"}, ":d": {"SS": ["b"]}},
    }));
    let got = e.get("upd", key.clone());
    let item = &got["Item"];
    assert_eq!(
        item["map"],
        json!({"M": {"x": {"N": "1"}, "y": {"N": "2"}}})
    );
    assert_eq!(item["l"], json!({"L": [{"S": "a"}, {"N": "2"}]}));
    assert_eq!(item["c"], json!({"N": "2"}));
    let mut set: Vec<&str> = item["s"]["SS"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    set.sort();
    assert_eq!(set, ["a", "c"]);
    for (expr, attr) in [
        ("SET id = :v", "id"),
        ("REMOVE r", "r"),
        ("SET extra = :v, r = :v", "r"),
    ] {
        let mut input = json!({"TableName": "upd", "Key": key, "UpdateExpression": expr});
        if expr.contains(":v") {
            input["ExpressionAttributeValues"] = json!({":v": {"N": "5"}});
        }
        e.err("UpdateItem", input, VALIDATION,
            &format!("One or more parameter values were invalid: Cannot update attribute {attr}. This attribute is part of the key"));
    }
    // Projection on GetItem.
    e.check("GetItem", json!({"TableName": "upd", "Key": key, "ProjectionExpression": "#m.y, c, zz", "ExpressionAttributeNames": {"#m": "map"}}),
        json!({"Item": {"map": {"M": {"y": {"N": "2"}}}, "c": {"N": "2"}}}));
}

#[test]
fn consumed_capacity() {
    let e = env();
    e.create("cap", ("id", "S"), None);
    let big = "x".repeat(5000); // id(2)+"a"(1)+v(1)+5000 = 5004 bytes: 5 WCU, 2 RCU
    let put = |v: &str, rcc: &str| json!({"TableName": "cap", "Item": {"id": {"S": "a"}, "v": {"S": v}}, "ReturnConsumedCapacity": rcc});
    e.check(
        "PutItem",
        put(&big, "TOTAL"),
        json!({"ConsumedCapacity": {"TableName": "cap", "CapacityUnits": 5.0}}),
    );
    // Replacing a big item with a small one costs the size of the larger.
    e.check("PutItem", put("small", "INDEXES"), json!({"ConsumedCapacity": {"TableName": "cap", "CapacityUnits": 5.0, "WriteCapacityUnits": 5.0, "Table": {"CapacityUnits": 5.0, "WriteCapacityUnits": 5.0}}}));
    e.check(
        "PutItem",
        put("small", "TOTAL"),
        json!({"ConsumedCapacity": {"TableName": "cap", "CapacityUnits": 1.0}}),
    );
    e.check("PutItem", put("small", "NONE"), json!({}));
    e.ok("PutItem", put(&big, "NONE"));
    let get = |consistent: bool, id: &str| json!({"TableName": "cap", "Key": {"id": {"S": id}}, "ConsistentRead": consistent, "ReturnConsumedCapacity": "TOTAL", "ProjectionExpression": "id"});
    // Reads are priced on the whole item, whatever the projection.
    e.check("GetItem", get(true, "a"), json!({"Item": {"id": {"S": "a"}}, "ConsumedCapacity": {"TableName": "cap", "CapacityUnits": 2.0}}));
    e.check("GetItem", get(false, "a"), json!({"Item": {"id": {"S": "a"}}, "ConsumedCapacity": {"TableName": "cap", "CapacityUnits": 1.0}}));
    e.check(
        "GetItem",
        get(false, "none"),
        json!({"ConsumedCapacity": {"TableName": "cap", "CapacityUnits": 0.5}}),
    );
    e.check("DeleteItem", json!({"TableName": "cap", "Key": {"id": {"S": "none"}}, "ReturnConsumedCapacity": "TOTAL"}),
        json!({"ConsumedCapacity": {"TableName": "cap", "CapacityUnits": 1.0}}));
    e.check("UpdateItem", json!({"TableName": "cap", "Key": {"id": {"S": "a"}}, "UpdateExpression": "REMOVE v", "ReturnConsumedCapacity": "TOTAL"}),
        json!({"ConsumedCapacity": {"TableName": "cap", "CapacityUnits": 5.0}}));
}

#[test]
fn concurrent_adds_are_exact() {
    let e = env();
    e.create("counter", ("id", "S"), None);
    let svc = Arc::new(e.svc);
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let svc = Arc::clone(&svc);
            std::thread::spawn(move || {
                for _ in 0..200 {
                    svc.execute(
                        "UpdateItem",
                        json!({
                            "TableName": "counter",
                            "Key": {"id": {"S": "c"}},
                            "UpdateExpression": "ADD #c :one",
                            "ExpressionAttributeNames": {"#c": "counter"},
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }),
                    )
                    .expect("ADD");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let got = svc
        .execute(
            "GetItem",
            json!({"TableName": "counter", "Key": {"id": {"S": "c"}}}),
        )
        .expect("get");
    assert_eq!(got["Item"]["counter"], json!({"N": "6400"}));
}

#[test]
fn item_count_and_size_are_exact() {
    let e = env();
    e.create("stats", ("id", "S"), None);
    e.put("stats", json!({"id": {"S": "a"}, "x": {"S": "12345"}})); // 2+1 + 1+5 = 9
    assert_eq!(e.stats("stats"), (1, 9));
    e.put("stats", json!({"id": {"S": "b"}})); // 3
    assert_eq!(e.stats("stats"), (2, 12));
    e.put("stats", json!({"id": {"S": "a"}})); // replaces 9 with 3
    assert_eq!(e.stats("stats"), (2, 6));
    e.ok("UpdateItem", json!({"TableName": "stats", "Key": {"id": {"S": "c"}}, "UpdateExpression": "SET y = :v", "ExpressionAttributeValues": {":v": {"S": "ab"}}}));
    assert_eq!(e.stats("stats"), (3, 12)); // + 2+1 + 1+2 = 6
    e.ok(
        "DeleteItem",
        json!({"TableName": "stats", "Key": {"id": {"S": "a"}}}),
    );
    e.ok(
        "DeleteItem",
        json!({"TableName": "stats", "Key": {"id": {"S": "zzz"}}}),
    );
    assert_eq!(e.stats("stats"), (2, 9));
}

#[test]
fn deleted_table_data_never_reappears() {
    let e = env();
    e.create("again", ("id", "S"), None);
    for i in 0..50 {
        e.put("again", json!({"id": {"S": format!("k{i}")}}));
    }
    e.ok("DeleteTable", json!({"TableName": "again"}));
    e.create("again", ("id", "S"), None);
    assert_eq!(e.get("again", json!({"id": {"S": "k1"}})), json!({}));
    assert_eq!(e.stats("again"), (0, 0));
    // Same name, different key type: the old items' encodings must not be found either.
    e.ok("DeleteTable", json!({"TableName": "again"}));
    e.create("again", ("id", "N"), None);
    assert_eq!(e.stats("again"), (0, 0));
}

/// Every key under the per-table prefixes (`dynamodb/t/`, see storage.rs), counted on the raw
/// store: what DeleteTable must leave behind is nothing.
fn table_keys(store: &Store) -> usize {
    let snap = store.snapshot();
    snap.scan(KeyRange::prefix(b"dynamodb/t/"), Direction::Forward)
        .count()
}

#[test]
fn delete_table_removes_every_item() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).expect("engine"));
    let e = Env {
        svc: DynamoService::open(store.clone(), DynamoConfig::default()).expect("open"),
        dir,
    };
    e.create("big", ("id", "N"), None);
    // More than one purge batch.
    for i in 0..2500 {
        e.put("big", json!({"id": {"N": i.to_string()}}));
    }
    assert_eq!(e.stats("big").0, 2500);
    assert_eq!(table_keys(&store), 2501); // the items and the stats record
    e.ok("DeleteTable", json!({"TableName": "big"}));
    assert_eq!(table_keys(&store), 0);
}

#[test]
fn an_interrupted_purge_is_finished_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).expect("engine"));
        // What a crash between DeleteTable's commit and the end of its purge leaves: a purge
        // marker and the dropped table's keys.
        let id = "00000000-0000-4000-8000-000000000000";
        let mut batch = vec![(format!("dynamodb/c/p/{id}").into_bytes(), Some(Vec::new()))];
        for i in 0..10 {
            batch.push((
                format!("dynamodb/t/{id}/i/{i}").into_bytes(),
                Some(b"x".to_vec()),
            ));
        }
        store.apply(&batch).expect("write");
        assert_eq!(table_keys(&store), 10);
    }
    let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).expect("engine"));
    let _svc = DynamoService::open(store.clone(), DynamoConfig::default()).expect("open");
    assert_eq!(table_keys(&store), 0);
    assert_eq!(
        store
            .snapshot()
            .scan(KeyRange::prefix(b"dynamodb/c/p/"), Direction::Forward)
            .count(),
        0
    );
}

#[test]
fn tables_and_items_survive_reopening() {
    let e = env();
    e.create("persist", ("id", "S"), Some(("n", "N")));
    e.create("gone", ("id", "S"), None);
    e.put(
        "persist",
        json!({"id": {"S": "a"}, "n": {"N": "1"}, "v": {"L": [{"S": "x"}]}}),
    );
    e.ok("DeleteTable", json!({"TableName": "gone"}));
    let Env { dir, svc } = e;
    drop(svc);
    let e = Env {
        svc: open(dir.path()),
        dir,
    };
    e.check("ListTables", json!({}), json!({"TableNames": ["persist"]}));
    assert_eq!(
        e.get("persist", json!({"id": {"S": "a"}, "n": {"N": "1"}})),
        json!({"Item": {"id": {"S": "a"}, "n": {"N": "1"}, "v": {"L": [{"S": "x"}]}}})
    );
    assert_eq!(e.stats("persist").0, 1);
}

#[test]
fn unknown_operation() {
    let e = env();
    let err = e.svc.execute("Frobnicate", json!({})).unwrap_err();
    assert_eq!(
        (err.code, err.status.as_u16()),
        ("UnknownOperationException", 400)
    );
}

// ---- The HTTP wrapping -----------------------------------------------------------------------

async fn call(
    svc: &DynamoService,
    target: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, http::HeaderMap, Value) {
    call_encoded(svc, target, content_type, None, body.as_bytes().to_vec()).await
}

async fn call_encoded(
    svc: &DynamoService,
    target: Option<&str>,
    content_type: &str,
    content_encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Value) {
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", content_type);
    if let Some(t) = target {
        req = req.header("x-amz-target", t);
    }
    if let Some(c) = content_encoding {
        req = req.header("content-encoding", c);
    }
    let (parts, ()) = req.body(()).expect("request").into_parts();
    let request = AwsRequest {
        parts,
        body: full_body(body),
        request_id: RequestId::from_string("REQ1".into()),
        caller: Caller::Anonymous,
        payload: PayloadMode::Unsigned,
    };
    let resp = svc.call(request).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let crc = headers
        .get("x-amz-crc32")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    assert_eq!(
        crc,
        Some(crc32fast::hash(&bytes)),
        "x-amz-crc32 must match the body"
    );
    (
        status,
        headers,
        serde_json::from_slice(&bytes).expect("JSON body"),
    )
}

#[tokio::test]
async fn http_protocol() {
    let e = env();
    let ct = "application/x-amz-json-1.0";
    let (status, headers, body) =
        call(&e.svc, Some("DynamoDB_20120810.ListTables"), ct, "{}").await;
    assert_eq!((status, body), (200, json!({"TableNames": []})));
    assert_eq!(headers["content-type"], ct);
    assert_eq!(headers["x-amzn-requestid"], "REQ1");

    let (status, _, body) = call(
        &e.svc,
        Some("DynamoDB_20120810.ListTables"),
        ct,
        "{not json",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#SerializationException"
    );

    let (status, _, body) = call(&e.svc, Some("DynamoDB_20120810.Frobnicate"), ct, "{}").await;
    assert_eq!(
        (status, &body["__type"]),
        (
            400,
            &json!("com.amazon.coral.service#UnknownOperationException")
        )
    );
    let (status, _, _) = call(&e.svc, None, ct, "{}").await;
    assert_eq!(status, 400);

    let (status, _, body) = call(
        &e.svc,
        Some("DynamoDB_20120810.DescribeTable"),
        "application/json",
        r#"{"TableName":"nope"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "message": "Requested resource not found: Table: nope not found",
        })
    );

    // A failed condition carries the old item when asked for.
    e.create("http", ("id", "S"), None);
    e.put("http", json!({"id": {"S": "a"}, "v": {"N": "1"}}));
    let put = r#"{"TableName":"http","Item":{"id":{"S":"a"}},"ConditionExpression":"attribute_not_exists(id)","ReturnValuesOnConditionCheckFailure":"ALL_OLD"}"#;
    let (status, _, body) = call(&e.svc, Some("DynamoDB_20120810.PutItem"), ct, put).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
            "Item": {"id": {"S": "a"}, "v": {"N": "1"}},
        })
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("zlib");
    enc.finish().expect("zlib")
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("deflate");
    enc.finish().expect("deflate")
}

#[tokio::test]
async fn issue_18_content_encoding() {
    let e = env();
    let list = r#"{"Limit": 5}"#.as_bytes();
    let ok = json!({"TableNames": []});
    let serialization = json!("com.amazon.coral.service#SerializationException");
    // (Content-Encoding, body, expected status, expected body or __type)
    let cases: Vec<(Option<&str>, Vec<u8>, u16, Value)> = vec![
        (None, list.to_vec(), 200, ok.clone()),
        (Some("identity"), list.to_vec(), 200, ok.clone()),
        (Some("gzip"), gzip(list), 200, ok.clone()),
        (Some("GZIP"), gzip(list), 200, ok.clone()),
        (Some("deflate"), zlib(list), 200, ok.clone()),
        (Some("deflate"), raw_deflate(list), 200, ok.clone()),
        (Some("gzip, deflate"), zlib(&gzip(list)), 200, ok.clone()),
        (Some("br"), list.to_vec(), 400, serialization.clone()),
        (Some("gzip"), list.to_vec(), 400, serialization.clone()),
        (Some("gzip"), gzip(b"{not json"), 400, serialization.clone()),
    ];
    for (encoding, body, status, expected) in cases {
        let (got_status, _, got) = call_encoded(
            &e.svc,
            Some("DynamoDB_20120810.ListTables"),
            "application/x-amz-json-1.0",
            encoding,
            body,
        )
        .await;
        let got = if got_status == 200 {
            got
        } else {
            got["__type"].clone()
        };
        assert_eq!((got_status, got), (status, expected), "{encoding:?}");
    }
    // A body that expands past 16 MB is refused, not decoded into memory.
    let bomb = gzip(&vec![b' '; 17 * 1024 * 1024]);
    let (status, _, body) = call_encoded(
        &e.svc,
        Some("DynamoDB_20120810.ListTables"),
        "application/x-amz-json-1.0",
        Some("gzip"),
        bomb,
    )
    .await;
    assert_eq!(
        (status, &body["__type"]),
        (
            400,
            &json!("com.amazonaws.dynamodb.v20120810#ValidationException")
        )
    );
}

/// Responses are gzipped for a client that accepts gzip (and the CRC32 is of the bytes sent);
/// small ones, and every response to a client that does not, are sent as they are.
#[tokio::test]
async fn issue_18_response_compression() {
    let e = env();
    for i in 0..40 {
        e.create(
            &format!("a-table-with-a-rather-long-name-{i:02}"),
            ("id", "S"),
            None,
        );
    }
    // (Accept-Encoding, body to ask for, gzipped?)
    let many = r#"{}"#;
    let few = r#"{"Limit": 1}"#;
    for (accept, body, gzipped) in [
        (None, many, false),
        (Some("gzip"), many, true),
        (Some("gzip, deflate, br"), many, true),
        (Some("br;q=1.0, gzip;q=0.5"), many, true),
        (Some("*"), many, true),
        (Some("gzip;q=0"), many, false),
        (Some("identity"), many, false),
        (Some("gzip"), few, false),
    ] {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "DynamoDB_20120810.ListTables");
        if let Some(a) = accept {
            req = req.header("accept-encoding", a);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let resp = e
            .svc
            .call(AwsRequest {
                parts,
                body: full_body(body.as_bytes().to_vec()),
                request_id: RequestId::from_string("REQ1".into()),
                caller: Caller::Anonymous,
                payload: PayloadMode::Unsigned,
            })
            .await;
        assert_eq!(resp.status(), 200);
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let crc = headers["x-amz-crc32"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap();
        assert_eq!(crc, crc32fast::hash(&bytes), "{accept:?}");
        let json = if gzipped {
            assert_eq!(headers["content-encoding"], "gzip", "{accept:?}");
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .unwrap();
            out
        } else {
            assert!(headers.get("content-encoding").is_none(), "{accept:?}");
            bytes.to_vec()
        };
        let v: Value = serde_json::from_slice(&json).unwrap();
        let expected = if body == few { 1 } else { 40 };
        assert_eq!(
            v["TableNames"].as_array().unwrap().len(),
            expected,
            "{accept:?}"
        );
    }
}

#[tokio::test]
async fn issue_18_tag_resource_answers_with_an_empty_body() {
    let e = env();
    e.create("tagged", ("id", "S"), None);
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/tagged";
    for (target, body) in [
        (
            "TagResource",
            json!({"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]}),
        ),
        (
            "UntagResource",
            json!({"ResourceArn": arn, "TagKeys": ["k"]}),
        ),
    ] {
        let (parts, ()) = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{target}"))
            .body(())
            .expect("request")
            .into_parts();
        let resp = e
            .svc
            .call(AwsRequest {
                parts,
                body: full_body(body.to_string()),
                request_id: RequestId::from_string("REQ1".into()),
                caller: Caller::Anonymous,
                payload: PayloadMode::Unsigned,
            })
            .await;
        assert_eq!(resp.status().as_u16(), 200, "{target}");
        assert_eq!(resp.headers()["x-amz-crc32"], "0", "{target}");
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        assert!(bytes.is_empty(), "{target}: {bytes:?}");
    }
}
