//! DynamoDB Streams at the service's public API: StreamSpecification on CreateTable and
//! UpdateTable (and its errors), the records every write path leaves (and those it must not:
//! unchanged items, failed conditions, cancelled transactions), the Streams API (ListStreams,
//! DescribeStream, GetShardIterator with each iterator type, GetRecords), TTL deletions as
//! service REMOVEs, iterator expiry and trimming after 24 hours.

mod support;

use nuvem_dynamo::ops::streams::GetRecordsInput;
use serde_json::{Value, json};
use support::{Env, VALIDATION, env};

const HOUR_MS: u64 = 3600 * 1000;

fn now_ms() -> u64 {
    nuvem_dynamo::streams::now_ms()
}

/// Table `tab` (pk S, sk N) with a stream of `view`.
fn streamed(view: &str) -> Env {
    let e = env();
    e.ok("CreateTable", json!({
        "TableName": "tab",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "StreamSpecification": {"StreamEnabled": true, "StreamViewType": view},
    }));
    e
}

fn stream_arn(e: &Env) -> String {
    let t = e.ok("DescribeTable", json!({"TableName": "tab"}));
    t["Table"]["LatestStreamArn"].as_str().unwrap().to_owned()
}

fn shard(e: &Env, arn: &str) -> String {
    let d = e.ok("DescribeStream", json!({"StreamArn": arn}));
    d["StreamDescription"]["Shards"][0]["ShardId"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn iterator(e: &Env, arn: &str, kind: &str, seq: Option<&str>) -> String {
    let mut input = json!({"StreamArn": arn, "ShardId": shard(e, arn), "ShardIteratorType": kind});
    if let Some(seq) = seq {
        input["SequenceNumber"] = json!(seq);
    }
    e.ok("GetShardIterator", input)["ShardIterator"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every record from `iterator` on, following NextShardIterator until a page comes back
/// empty (an open shard) or there is no next iterator (a closed one).
fn drain(e: &Env, mut iterator: String) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = e.ok("GetRecords", json!({"ShardIterator": iterator, "Limit": 2}));
        let records = page["Records"].as_array().unwrap().clone();
        let empty = records.is_empty();
        out.extend(records);
        match page["NextShardIterator"].as_str() {
            Some(next) if !empty => iterator = next.to_owned(),
            _ => return out,
        }
    }
}

fn all_records(e: &Env) -> Vec<Value> {
    let arn = stream_arn(e);
    drain(e, iterator(e, &arn, "TRIM_HORIZON", None))
}

/// `(eventName, pk/sk)` of each record.
fn events(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            let keys = &r["dynamodb"]["Keys"];
            (
                r["eventName"].as_str().unwrap().to_owned(),
                format!(
                    "{}/{}",
                    keys["pk"]["S"].as_str().unwrap(),
                    keys["sk"]["N"].as_str().unwrap()
                ),
            )
        })
        .collect()
}

fn item(pk: &str, sk: i64, v: &str) -> Value {
    json!({"pk": {"S": pk}, "sk": {"N": sk.to_string()}, "v": {"S": v}})
}

fn key(pk: &str, sk: i64) -> Value {
    json!({"pk": {"S": pk}, "sk": {"N": sk.to_string()}})
}

#[test]
fn stream_specification_in_table_descriptions() {
    let e = streamed("NEW_AND_OLD_IMAGES");
    let t = &e.ok("DescribeTable", json!({"TableName": "tab"}))["Table"];
    assert_eq!(
        t["StreamSpecification"],
        json!({"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    );
    let label = t["LatestStreamLabel"].as_str().unwrap();
    // AWS's label shape: the creation time to the millisecond.
    assert_eq!(label.len(), "2024-01-01T00:00:00.000".len(), "{label}");
    assert_eq!(
        t["LatestStreamArn"],
        json!(format!(
            "arn:aws:dynamodb:us-east-1:000000000000:table/tab/stream/{label}"
        ))
    );
    let update = |spec: Value| json!({"TableName": "tab", "StreamSpecification": spec});
    e.err(
        "UpdateTable",
        update(json!({"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"})),
        VALIDATION,
        "Table already has an enabled stream: TableName: tab",
    );
    e.err(
        "UpdateTable",
        update(json!({"StreamEnabled": true})),
        VALIDATION,
        "One or more parameter values were invalid: If stream is being enabled then UpdateViewType is required",
    );
    e.err(
        "UpdateTable",
        update(json!({"StreamEnabled": false, "StreamViewType": "KEYS_ONLY"})),
        VALIDATION,
        "One or more parameter values were invalid: If stream is being disabled, then UpdateViewType must not be specified",
    );
    e.err(
        "UpdateTable",
        update(json!({"StreamEnabled": true, "StreamViewType": "ALL"})),
        VALIDATION,
        "1 validation error detected: Value 'ALL' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]",
    );
    let first = stream_arn(&e);
    let out = e.ok("UpdateTable", update(json!({"StreamEnabled": false})));
    assert_eq!(
        out["TableDescription"].get("StreamSpecification"),
        None,
        "a disabled stream is not in StreamSpecification"
    );
    assert_eq!(out["TableDescription"]["LatestStreamArn"], json!(first));
    e.err(
        "UpdateTable",
        update(json!({"StreamEnabled": false})),
        VALIDATION,
        "Table has no stream to disable: TableName: tab",
    );
    // Enabled again: a new stream, with a new label and ARN.
    e.ok(
        "UpdateTable",
        update(json!({"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"})),
    );
    let second = stream_arn(&e);
    assert_ne!(first, second);
    let streams = e.ok("ListStreams", json!({"TableName": "tab"}))["Streams"].clone();
    let arns: Vec<&str> = streams
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["StreamArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns, [first.as_str(), second.as_str()]);
    let old = &e.ok("DescribeStream", json!({"StreamArn": first}))["StreamDescription"];
    assert_eq!(old["StreamStatus"], json!("DISABLED"));
    assert!(old["Shards"][0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string());
    let new = &e.ok("DescribeStream", json!({"StreamArn": second}))["StreamDescription"];
    assert_eq!(new["StreamStatus"], json!("ENABLED"));
    assert_eq!(new["StreamViewType"], json!("KEYS_ONLY"));
    assert_eq!(new["TableName"], json!("tab"));
    assert_eq!(
        new["KeySchema"],
        json!([{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    );
}

#[test]
fn create_table_stream_errors() {
    let e = env();
    let create = |spec: Value| {
        json!({
            "TableName": "tab", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "StreamSpecification": spec,
        })
    };
    e.err(
        "CreateTable",
        create(json!({"StreamEnabled": true})),
        VALIDATION,
        "One or more parameter values were invalid: Table is being created with a stream enabled, UpdateViewType is required",
    );
    e.err(
        "CreateTable",
        create(json!({"StreamEnabled": false, "StreamViewType": "NEW_IMAGE"})),
        VALIDATION,
        "One or more parameter values were invalid: Table is being created with a stream disabled, UpdateViewType should not be specified",
    );
    // A disabled StreamSpecification creates a table without a stream.
    let t = e.ok("CreateTable", create(json!({"StreamEnabled": false})));
    assert_eq!(t["TableDescription"].get("LatestStreamArn"), None);
    assert_eq!(e.ok("ListStreams", json!({})), json!({"Streams": []}));
}

#[test]
fn every_write_path_leaves_its_records_in_commit_order() {
    let e = streamed("NEW_AND_OLD_IMAGES");
    e.put("tab", item("a", 1, "one"));
    // The same item again: unchanged, no record (as DynamoDB).
    e.put("tab", item("a", 1, "one"));
    e.ok(
        "UpdateItem",
        json!({"TableName": "tab", "Key": key("a", 1), "UpdateExpression": "SET v = :v",
               "ExpressionAttributeValues": {":v": {"S": "uno"}}}),
    );
    // An update that changes nothing: no record.
    e.ok(
        "UpdateItem",
        json!({"TableName": "tab", "Key": key("a", 1), "UpdateExpression": "SET v = :v",
               "ExpressionAttributeValues": {":v": {"S": "uno"}}}),
    );
    // A failed condition writes nothing, so records nothing.
    let failed = e.svc.execute(
        "PutItem",
        json!({"TableName": "tab", "Item": item("a", 1, "x"), "ConditionExpression": "attribute_not_exists(pk)"}),
    );
    assert_eq!(failed.unwrap_err().code, "ConditionalCheckFailedException");
    e.ok(
        "DeleteItem",
        json!({"TableName": "tab", "Key": key("a", 1)}),
    );
    // Deleting a missing item: no record.
    e.ok(
        "DeleteItem",
        json!({"TableName": "tab", "Key": key("a", 1)}),
    );
    e.ok(
        "BatchWriteItem",
        json!({"RequestItems": {"tab": [
            {"PutRequest": {"Item": item("b", 1, "x")}},
            {"PutRequest": {"Item": item("b", 2, "y")}},
        ]}}),
    );
    e.ok(
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Delete": {"TableName": "tab", "Key": key("b", 1)}},
            {"Put": {"TableName": "tab", "Item": item("c", 1, "z")}},
        ]}),
    );
    // A cancelled transaction records nothing.
    let cancelled = e.svc.execute(
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Put": {"TableName": "tab", "Item": item("d", 1, "w")}},
            {"ConditionCheck": {"TableName": "tab", "Key": key("zz", 1), "ConditionExpression": "attribute_exists(pk)"}},
        ]}),
    );
    assert_eq!(cancelled.unwrap_err().code, "TransactionCanceledException");

    let records = all_records(&e);
    let ev = |name: &str, k: &str| (name.to_owned(), k.to_owned());
    assert_eq!(
        events(&records),
        [
            ev("INSERT", "a/1"),
            ev("MODIFY", "a/1"),
            ev("REMOVE", "a/1"),
            ev("INSERT", "b/1"),
            ev("INSERT", "b/2"),
            ev("REMOVE", "b/1"),
            ev("INSERT", "c/1"),
        ]
    );
    // Sequence numbers: numeric strings of 21 digits, increasing.
    let seqs: Vec<&str> = records
        .iter()
        .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap())
        .collect();
    assert!(
        seqs.iter()
            .all(|s| s.len() == 21 && s.bytes().all(|b| b.is_ascii_digit()))
    );
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // The shape of one record, exactly.
    let modify = &records[1];
    let mut shape = modify.clone();
    for volatile in ["ApproximateCreationDateTime", "SequenceNumber"] {
        assert!(shape["dynamodb"][volatile].is_number() || shape["dynamodb"][volatile].is_string());
        shape["dynamodb"].as_object_mut().unwrap().remove(volatile);
    }
    assert_eq!(shape["eventID"].as_str().unwrap().len(), 32);
    shape.as_object_mut().unwrap().remove("eventID");
    assert_eq!(
        shape,
        json!({
            "eventName": "MODIFY",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": key("a", 1),
                "NewImage": item("a", 1, "uno"),
                "OldImage": item("a", 1, "one"),
                "SizeBytes": modify["dynamodb"]["SizeBytes"],
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        })
    );
    assert!(modify["dynamodb"]["SizeBytes"].as_u64().unwrap() > 0);
    assert!(records[0]["dynamodb"].get("OldImage").is_none());
    assert!(records[2]["dynamodb"].get("NewImage").is_none());
}

#[test]
fn view_types_decide_the_images() {
    for (view, new, old) in [
        ("KEYS_ONLY", false, false),
        ("NEW_IMAGE", true, false),
        ("OLD_IMAGE", false, true),
        ("NEW_AND_OLD_IMAGES", true, true),
    ] {
        let e = streamed(view);
        e.put("tab", item("a", 1, "one"));
        e.put("tab", item("a", 1, "two"));
        let records = all_records(&e);
        let modify = &records[1]["dynamodb"];
        assert_eq!(modify["StreamViewType"], json!(view));
        assert_eq!(modify.get("NewImage").is_some(), new, "{view}");
        assert_eq!(modify.get("OldImage").is_some(), old, "{view}");
        assert_eq!(modify["Keys"], key("a", 1));
    }
}

#[test]
fn shard_iterator_types() {
    let e = streamed("KEYS_ONLY");
    for sk in 1..=3 {
        e.put("tab", item("a", sk, "v"));
    }
    let arn = stream_arn(&e);
    let records = all_records(&e);
    let seq = |i: usize| {
        records[i]["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let sks = |rs: Vec<Value>| -> Vec<String> { events(&rs).into_iter().map(|(_, k)| k).collect() };
    assert_eq!(
        sks(drain(
            &e,
            iterator(&e, &arn, "AT_SEQUENCE_NUMBER", Some(&seq(1)))
        )),
        ["a/2", "a/3"]
    );
    assert_eq!(
        sks(drain(
            &e,
            iterator(&e, &arn, "AFTER_SEQUENCE_NUMBER", Some(&seq(1)))
        )),
        ["a/3"]
    );
    // LATEST: only what is written after the iterator was taken.
    let latest = iterator(&e, &arn, "LATEST", None);
    assert_eq!(drain(&e, latest.clone()), Vec::<Value>::new());
    e.put("tab", item("a", 4, "v"));
    assert_eq!(sks(drain(&e, latest)), ["a/4"]);

    let shard_id = shard(&e, &arn);
    let get = |kind: &str, seq: Option<&str>| {
        let mut input = json!({"StreamArn": arn, "ShardId": shard_id, "ShardIteratorType": kind});
        if let Some(s) = seq {
            input["SequenceNumber"] = json!(s);
        }
        input
    };
    e.err(
        "GetShardIterator",
        get("AT_SEQUENCE_NUMBER", None),
        VALIDATION,
        "SequenceNumber is required for ShardIteratorType AT_SEQUENCE_NUMBER",
    );
    e.err(
        "GetShardIterator",
        get("FIRST", None),
        VALIDATION,
        "1 validation error detected: Value 'FIRST' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER]",
    );
    e.err(
        "GetShardIterator",
        get("AT_SEQUENCE_NUMBER", Some("999999999999999999999")),
        VALIDATION,
        &format!("Invalid SequenceNumber 999999999999999999999 for shard {shard_id}"),
    );
    let mut other_shard = get("LATEST", None);
    other_shard["ShardId"] = json!("shardId-00000000000000000000-00000000");
    e.err(
        "GetShardIterator",
        other_shard,
        "ResourceNotFoundException",
        "Requested resource not found: Shard does not exist: shardId-00000000000000000000-00000000",
    );
    let gone = format!("{}x", arn);
    e.err(
        "DescribeStream",
        json!({"StreamArn": gone}),
        "ResourceNotFoundException",
        &format!("Requested resource not found: Stream: {gone} not found"),
    );
    e.err(
        "GetRecords",
        json!({"ShardIterator": "not-an-iterator"}),
        VALIDATION,
        "Invalid ShardIterator",
    );
    e.err(
        "GetRecords",
        json!({"ShardIterator": iterator(&e, &arn, "LATEST", None), "Limit": 1001}),
        VALIDATION,
        "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000",
    );
}

#[test]
fn iterators_expire_after_fifteen_minutes() {
    let e = streamed("KEYS_ONLY");
    e.put("tab", item("a", 1, "v"));
    let arn = stream_arn(&e);
    let it = iterator(&e, &arn, "TRIM_HORIZON", None);
    let input = |it: &str| -> GetRecordsInput {
        serde_json::from_value(json!({"ShardIterator": it})).unwrap()
    };
    let at = |ms: u64| nuvem_dynamo::ops::streams::get_records_at(&e.svc, input(&it), ms);
    assert_eq!(
        at(now_ms() + 14 * 60 * 1000).unwrap()["Records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let err = nuvem_aws::IntoAwsError::into_aws_error(at(now_ms() + 16 * 60 * 1000).unwrap_err());
    assert_eq!(err.code, "ExpiredIteratorException");
}

#[test]
fn ttl_deletions_are_service_removes() {
    let e = streamed("NEW_AND_OLD_IMAGES");
    e.ok(
        "UpdateTimeToLive",
        json!({"TableName": "tab", "TimeToLiveSpecification": {"AttributeName": "exp", "Enabled": true}}),
    );
    let past = (now_ms() / 1000 - 60).to_string();
    e.put(
        "tab",
        json!({"pk": {"S": "a"}, "sk": {"N": "1"}, "exp": {"N": past}}),
    );
    e.put("tab", item("a", 2, "stays"));
    e.ok(
        "DeleteItem",
        json!({"TableName": "tab", "Key": key("a", 2)}),
    );
    assert_eq!(e.svc.sweep().unwrap(), (1, 0));
    let records = all_records(&e);
    let removes: Vec<&Value> = records
        .iter()
        .filter(|r| r["eventName"] == json!("REMOVE"))
        .collect();
    assert_eq!(removes.len(), 2);
    // The user's delete has no userIdentity; the TTL one names the service.
    assert_eq!(removes[0].get("userIdentity"), None);
    assert_eq!(
        removes[1]["userIdentity"],
        json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"})
    );
    assert_eq!(removes[1]["dynamodb"]["Keys"], key("a", 1));
    assert_eq!(
        removes[1]["dynamodb"]["OldImage"]["exp"],
        json!({"N": past})
    );
}

#[test]
fn records_are_trimmed_after_24_hours() {
    let e = streamed("KEYS_ONLY");
    e.put("tab", item("a", 1, "v"));
    e.put("tab", item("a", 2, "v"));
    let arn = stream_arn(&e);
    let records = all_records(&e);
    let first = records[0]["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_iterator = iterator(&e, &arn, "TRIM_HORIZON", None);
    // Nothing is trimmed before 24 hours.
    assert_eq!(e.svc.sweep_at(now_ms() + 23 * HOUR_MS).unwrap(), (0, 0));
    assert_eq!(e.svc.sweep_at(now_ms() + 25 * HOUR_MS).unwrap(), (0, 2));
    e.err(
        "GetRecords",
        json!({"ShardIterator": old_iterator}),
        "TrimmedDataAccessException",
        "The iterator points before the trim horizon of the shard: its records were removed after 24 hours",
    );
    let shard_id = shard(&e, &arn);
    e.err(
        "GetShardIterator",
        json!({"StreamArn": arn, "ShardId": shard_id, "ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": first}),
        "TrimmedDataAccessException",
        &format!("The sequence number {first} is before the trim horizon of the shard; its record was removed after 24 hours"),
    );
    // TRIM_HORIZON now starts after what was trimmed, and new records still come.
    let horizon = iterator(&e, &arn, "TRIM_HORIZON", None);
    e.put("tab", item("a", 3, "v"));
    assert_eq!(
        events(&drain(&e, horizon)),
        [("INSERT".to_owned(), "a/3".to_owned())]
    );
}

#[test]
fn a_disabled_stream_is_a_closed_shard() {
    let e = streamed("KEYS_ONLY");
    e.put("tab", item("a", 1, "v"));
    let arn = stream_arn(&e);
    e.ok(
        "UpdateTable",
        json!({"TableName": "tab", "StreamSpecification": {"StreamEnabled": false}}),
    );
    // Writes after disabling are not in the old stream.
    e.put("tab", item("a", 2, "v"));
    let it = iterator(&e, &arn, "TRIM_HORIZON", None);
    let page = e.ok("GetRecords", json!({"ShardIterator": it}));
    assert_eq!(page["Records"].as_array().unwrap().len(), 1);
    assert_eq!(
        page.get("NextShardIterator"),
        None,
        "closed and read to its end"
    );
    // A disabled stream past 24 hours is forgotten once its records are trimmed, but the
    // latest one stays the table's LatestStreamArn.
    e.ok(
        "UpdateTable",
        json!({"TableName": "tab", "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"}}),
    );
    e.svc.sweep_at(now_ms() + 25 * HOUR_MS).unwrap();
    let listed = e.ok("ListStreams", json!({}))["Streams"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_ne!(listed[0]["StreamArn"], json!(arn));
}

/// DeleteTable leaves the table's stream readable for 24 hours, as DynamoDB does: listed by
/// ListStreams (with or without TableName, also once a new table of that name exists),
/// DISABLED with a closed shard in DescribeStream, its remaining records returned by
/// GetRecords (with an iterator taken before or after the delete); then the sweep removes
/// it with its last records.
#[test]
fn a_deleted_tables_stream_stays_readable_for_24_hours() {
    let e = streamed("NEW_IMAGE");
    e.put("tab", item("a", 1, "v"));
    e.put("tab", item("a", 2, "v"));
    let arn = stream_arn(&e);
    let before = iterator(&e, &arn, "TRIM_HORIZON", None);
    let deleted = e.ok("DeleteTable", json!({"TableName": "tab"}));
    assert_eq!(
        deleted["TableDescription"]["TableStatus"],
        json!("DELETING")
    );
    e.err(
        "DescribeTable",
        json!({"TableName": "tab"}),
        "ResourceNotFoundException",
        "Requested resource not found: Table: tab not found",
    );
    let listed = e.ok("ListStreams", json!({}))["Streams"].clone();
    assert_eq!(
        listed,
        json!([{"StreamArn": arn, "StreamLabel": arn.rsplit('/').next().unwrap(), "TableName": "tab"}])
    );
    let by_name = e.ok("ListStreams", json!({"TableName": "tab"}))["Streams"].clone();
    assert_eq!(by_name.as_array().unwrap().len(), 1);
    let d = e.ok("DescribeStream", json!({"StreamArn": arn}))["StreamDescription"].clone();
    assert_eq!(d["StreamStatus"], json!("DISABLED"));
    assert_eq!(d["TableName"], json!("tab"));
    let range = &d["Shards"][0]["SequenceNumberRange"];
    let records = drain(&e, before);
    assert_eq!(
        events(&records),
        [
            ("INSERT".to_owned(), "a/1".to_owned()),
            ("INSERT".to_owned(), "a/2".to_owned())
        ]
    );
    assert_eq!(
        range["EndingSequenceNumber"], records[1]["dynamodb"]["SequenceNumber"],
        "the shard is closed at the last record"
    );
    let page = e.ok(
        "GetRecords",
        json!({"ShardIterator": iterator(&e, &arn, "TRIM_HORIZON", None)}),
    );
    assert_eq!(page["Records"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["Records"][1]["dynamodb"]["NewImage"],
        item("a", 2, "v")
    );
    assert_eq!(
        page.get("NextShardIterator"),
        None,
        "closed and read to its end"
    );

    // A new table of that name has a stream of its own; the old one is still listed.
    std::thread::sleep(std::time::Duration::from_millis(5));
    e.ok("CreateTable", json!({
        "TableName": "tab",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"},
    }));
    let new_arn = stream_arn(&e);
    assert_ne!(new_arn, arn);
    e.put("tab", item("b", 1, "v"));
    let by_name = e.ok("ListStreams", json!({"TableName": "tab"}))["Streams"].clone();
    let arns: Vec<&str> = by_name
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["StreamArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns, [new_arn.as_str(), arn.as_str()]);
    assert_eq!(
        events(&drain(&e, iterator(&e, &arn, "TRIM_HORIZON", None))).len(),
        2,
        "the new table's writes are not in the old stream"
    );
    assert_eq!(
        events(&all_records(&e)),
        [("INSERT".to_owned(), "b/1".to_owned())]
    );
    // Nothing goes before 24 hours; then the old stream goes with its records.
    assert_eq!(e.svc.sweep_at(now_ms() + 23 * HOUR_MS).unwrap(), (0, 0));
    assert_eq!(e.svc.sweep_at(now_ms() + 25 * HOUR_MS).unwrap(), (0, 3));
    e.err(
        "DescribeStream",
        json!({"StreamArn": arn}),
        "ResourceNotFoundException",
        &format!("Requested resource not found: Stream: {arn} not found"),
    );
    let by_name = e.ok("ListStreams", json!({"TableName": "tab"}))["Streams"].clone();
    assert_eq!(by_name[0]["StreamArn"], json!(new_arn));
    assert_eq!(by_name.as_array().unwrap().len(), 1);
    // A deleted table without a stream leaves nothing behind.
    e.ok("DeleteTable", json!({"TableName": "tab"}));
    e.svc.sweep_at(now_ms() + 50 * HOUR_MS).unwrap();
    assert_eq!(e.ok("ListStreams", json!({}))["Streams"], json!([]));
}

/// UpdateTable disabling a stream leaves it readable and DISABLED until past retention.
#[test]
fn a_disabled_stream_is_described_disabled_until_retention() {
    let e = streamed("KEYS_ONLY");
    e.put("tab", item("a", 1, "v"));
    let arn = stream_arn(&e);
    e.ok(
        "UpdateTable",
        json!({"TableName": "tab", "StreamSpecification": {"StreamEnabled": false}}),
    );
    let d = e.ok("DescribeStream", json!({"StreamArn": arn}))["StreamDescription"].clone();
    assert_eq!(d["StreamStatus"], json!("DISABLED"));
    assert!(d["Shards"][0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string());
    assert_eq!(
        e.ok("ListStreams", json!({"TableName": "tab"}))["Streams"][0]["StreamArn"],
        json!(arn)
    );
    assert_eq!(e.svc.sweep_at(now_ms() + 23 * HOUR_MS).unwrap(), (0, 0));
    assert_eq!(
        events(&drain(&e, iterator(&e, &arn, "TRIM_HORIZON", None))).len(),
        1
    );
}

#[test]
fn list_streams_pages() {
    let e = env();
    for name in ["t-a", "t-b", "t-c"] {
        e.ok(
            "CreateTable",
            json!({
                "TableName": name, "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"},
            }),
        );
    }
    let page = e.ok("ListStreams", json!({"Limit": 2}));
    let names: Vec<&str> = page["Streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["TableName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t-a", "t-b"]);
    let last = page["LastEvaluatedStreamArn"].as_str().unwrap();
    let rest = e.ok(
        "ListStreams",
        json!({"Limit": 2, "ExclusiveStartStreamArn": last}),
    );
    assert_eq!(rest["Streams"][0]["TableName"], json!("t-c"));
    assert_eq!(rest.get("LastEvaluatedStreamArn"), None);
    e.err(
        "ListStreams",
        json!({"TableName": "nope"}),
        "ResourceNotFoundException",
        "Requested resource not found: Table: nope not found",
    );
}

/// Concurrent writers: every committed write has exactly one record, and the sequence
/// numbers have no gaps (the counter is taken in each write's transaction).
#[test]
fn concurrent_writes_leave_gapless_records() {
    let e = streamed("KEYS_ONLY");
    std::thread::scope(|s| {
        for t in 0..4 {
            let svc = &e.svc;
            s.spawn(move || {
                for i in 0..50 {
                    svc.execute(
                        "PutItem",
                        json!({"TableName": "tab", "Item": item(&format!("w{t}"), i, "v")}),
                    )
                    .expect("put");
                }
            });
        }
    });
    let records = all_records(&e);
    assert_eq!(records.len(), 200);
    let seqs: Vec<u128> = records
        .iter()
        .map(|r| {
            r["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gapless");
    let mut keys: Vec<(String, String)> = events(&records);
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 200, "one record per write");
}
