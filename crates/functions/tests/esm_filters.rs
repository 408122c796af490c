//! Event source mappings' pure parts at the crate's public API: Lambda's event filter syntax
//! (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html>) applied to
//! DynamoDB stream records, and the record shape Lambda delivers.

use nuvem_functions::esm::{lambda_record, matches_filters};
use serde_json::{Value, json};

fn record() -> Value {
    json!({
        "eventID": "e1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"id": {"S": "order-17"}},
            "NewImage": {"id": {"S": "order-17"}, "status": {"S": "OPEN"}, "tags": {"SS": ["a", "b"]}},
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 40,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "n": 7,
    })
}

#[track_caller]
fn check(patterns: &[Value], expected: bool) {
    let patterns: Vec<String> = patterns.iter().map(Value::to_string).collect();
    assert_eq!(
        matches_filters(&patterns, &record()),
        expected,
        "{patterns:?}"
    );
}

#[test]
fn filter_patterns() {
    check(&[], true);
    check(&[json!({"eventName": ["MODIFY"]})], true);
    check(&[json!({"eventName": ["INSERT", "REMOVE"]})], false);
    // Filters are alternatives; the fields of one filter must all match.
    check(
        &[
            json!({"eventName": ["INSERT"]}),
            json!({"eventName": ["MODIFY"]}),
        ],
        true,
    );
    check(
        &[
            json!({"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["CLOSED"]}}}}),
        ],
        false,
    );
    check(
        &[json!({"dynamodb": {"NewImage": {"status": {"S": ["OPEN"]}}}})],
        true,
    );
    check(
        &[json!({"dynamodb": {"Keys": {"id": {"S": [{"prefix": "order-"}]}}}})],
        true,
    );
    check(
        &[json!({"dynamodb": {"Keys": {"id": {"S": [{"suffix": "-17"}]}}}})],
        true,
    );
    check(
        &[json!({"dynamodb": {"NewImage": {"status": {"S": [{"equals-ignore-case": "open"}]}}}})],
        true,
    );
    check(
        &[json!({"eventName": [{"anything-but": ["REMOVE"]}]})],
        true,
    );
    check(&[json!({"eventName": [{"anything-but": "MODIFY"}]})], false);
    check(
        &[json!({"eventName": [{"anything-but": {"prefix": "MOD"}}]})],
        false,
    );
    check(&[json!({"n": [{"numeric": [">", 5, "<=", 7]}]})], true);
    check(&[json!({"n": [{"numeric": ["<", 5]}]})], false);
    check(
        &[json!({"dynamodb": {"OldImage": [{"exists": false}]}})],
        true,
    );
    check(
        &[json!({"dynamodb": {"NewImage": [{"exists": true}]}})],
        true,
    );
    check(
        &[json!({"dynamodb": {"NewImage": {"missing": [{"exists": true}]}}})],
        false,
    );
    // A field holding a list matches when one of its elements does.
    check(
        &[json!({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}})],
        true,
    );
    // A field the record lacks never matches a value.
    check(&[json!({"nope": ["x"]})], false);
}

#[test]
fn records_as_lambda_delivers_them() {
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000";
    let mut ttl = record();
    ttl["userIdentity"] = json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"});
    let out = lambda_record(&ttl, arn);
    assert_eq!(out["eventSourceARN"], json!(arn));
    assert_eq!(
        out["userIdentity"],
        json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
    );
    assert_eq!(out["dynamodb"], record()["dynamodb"]);
    assert_eq!(lambda_record(&record(), arn).get("userIdentity"), None);
}

/// A batch of three records with sequence numbers ...01, ...02, ...03.
fn batch() -> Vec<Value> {
    (1..=3)
        .map(|i| json!({"dynamodb": {"SequenceNumber": format!("10000000000000000000{i}")}}))
        .collect()
}

/// `ReportBatchItemFailures` responses
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>):
/// success, a failure from the lowest failed record on, or the whole batch failed.
#[test]
fn batch_item_failure_responses() {
    use nuvem_functions::esm::failed_from;
    #[track_caller]
    fn check(response: &str, expected: Result<Option<usize>, ()>) {
        let got = failed_from(response.as_bytes(), &batch()).map_err(|_| ());
        assert_eq!(got, expected, "{response}");
    }
    let seq = |i: u32| format!("10000000000000000000{i}");
    // Success: no response, null, no or a null or empty list.
    for ok in [
        "",
        "null",
        "{}",
        r#"{"batchItemFailures": null}"#,
        r#"{"batchItemFailures": []}"#,
        r#""done""#,
    ] {
        check(ok, Ok(None));
    }
    // The lowest failed record, whatever the order of the list.
    check(
        &format!(
            r#"{{"batchItemFailures": [{{"itemIdentifier": "{}"}}, {{"itemIdentifier": "{}"}}]}}"#,
            seq(3),
            seq(2)
        ),
        Ok(Some(1)),
    );
    check(
        &format!(
            r#"{{"batchItemFailures": [{{"itemIdentifier": "{}"}}]}}"#,
            seq(1)
        ),
        Ok(Some(0)),
    );
    // The whole batch failed: an empty or null identifier, a wrong key name, one that is not
    // in the batch, a list that is not one.
    for bad in [
        r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
        r#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
        r#"{"batchItemFailures": [{"itemId": "100000000000000000001"}]}"#,
        r#"{"batchItemFailures": [{"itemIdentifier": "999"}]}"#,
        r#"{"batchItemFailures": "100000000000000000001"}"#,
    ] {
        check(bad, Err(()));
    }
}
