//! The Logs operations on the real embedded engine in a temp dir: tokens, validations,
//! filter patterns over streams, retention, describe paging.

use nuvem_logs::{LogsConfig, LogsService};
use nuvem_store::{Durability, FjallEngine, Store};
use serde_json::{Value, json};

const NOW: i64 = 1_760_000_000_000;
const DAY: i64 = 86_400_000;

fn service() -> (tempfile::TempDir, LogsService) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).unwrap());
    (dir, LogsService::new(store, LogsConfig::default()))
}

#[track_caller]
fn ok(svc: &LogsService, op: &str, input: Value) -> Value {
    svc.execute_at(op, &input, NOW)
        .unwrap_or_else(|e| panic!("{op} {input}: {e}"))
}

/// `op` fails with `code` and a message containing `message`.
#[track_caller]
fn refused(svc: &LogsService, op: &str, input: Value, code: &str, message: &str) {
    use nuvem_aws::IntoAwsError;
    let e = svc
        .execute_at(op, &input, NOW)
        .expect_err(&format!("{op} {input} should fail"))
        .into_aws_error();
    assert_eq!(e.code, code, "{op} {input}: {}", e.message);
    assert!(
        e.message.contains(message),
        "{op} {input}: {:?} lacks {message:?}",
        e.message
    );
}

fn put(svc: &LogsService, group: &str, stream: &str, events: &[(i64, &str)]) -> Value {
    let events: Vec<Value> = events
        .iter()
        .map(|(t, m)| json!({"timestamp": t, "message": m}))
        .collect();
    ok(
        svc,
        "PutLogEvents",
        json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
    )
}

fn setup(svc: &LogsService, group: &str, streams: &[&str]) {
    ok(svc, "CreateLogGroup", json!({"logGroupName": group}));
    for s in streams {
        ok(
            svc,
            "CreateLogStream",
            json!({"logGroupName": group, "logStreamName": s}),
        );
    }
}

fn messages(out: &Value) -> Vec<String> {
    out["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

/// One GetLogEvents page: `(messages, nextForwardToken, nextBackwardToken)`.
fn page(svc: &LogsService, extra: Value) -> (Vec<String>, String, String) {
    let mut input = json!({"logGroupName": "g", "logStreamName": "s"});
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    let out = ok(svc, "GetLogEvents", input);
    (
        messages(&out),
        out["nextForwardToken"].as_str().unwrap().to_owned(),
        out["nextBackwardToken"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn get_log_events_tokens() {
    let (_dir, svc) = service();
    setup(&svc, "g", &["s"]);
    // An empty stream: no events, tokens anyway, and reading on from them sees later events.
    let (got, f_empty, b_empty) = page(&svc, json!({"startFromHead": true}));
    assert!(got.is_empty());
    assert!(f_empty.starts_with("f/") && b_empty.starts_with("b/"));
    let names = ["e0", "e1", "e2", "e3", "e4", "e5"];
    let events: Vec<(i64, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, m)| (NOW - 6000 + i as i64 * 1000, *m))
        .collect();
    put(&svc, "g", "s", &events);
    let (got, ..) = page(&svc, json!({"nextToken": f_empty}));
    assert_eq!(got, names);

    #[track_caller]
    fn check(svc: &LogsService, input: Value, want: &[&str]) -> (String, String) {
        let (got, f, b) = page(svc, input.clone());
        assert_eq!(got, want, "{input}");
        (f, b)
    }
    // From the head, two at a time, to the end: the same forward token comes back.
    let (f, b0) = check(
        &svc,
        json!({"startFromHead": true, "limit": 2}),
        &["e0", "e1"],
    );
    let (f, _) = check(&svc, json!({"nextToken": f, "limit": 2}), &["e2", "e3"]);
    let (f, b) = check(&svc, json!({"nextToken": f, "limit": 2}), &["e4", "e5"]);
    let (f_end, b_end) = check(&svc, json!({"nextToken": f, "limit": 2}), &[]);
    assert_eq!(f_end, f, "the end returns the token passed in");
    // Backward from the end's backward token: everything before the boundary.
    check(&svc, json!({"nextToken": b_end, "limit": 2}), &["e4", "e5"]);
    check(&svc, json!({"nextToken": b, "limit": 2}), &["e2", "e3"]);
    // Before the first event: nothing, and the same backward token.
    let (_, b_start) = check(&svc, json!({"nextToken": b0, "limit": 2}), &[]);
    assert_eq!(b_start, b0);
    // The default reads the latest events; backward from there, then forward again.
    let (f_tail, b) = check(&svc, json!({"limit": 2}), &["e4", "e5"]);
    let (_, b) = check(&svc, json!({"nextToken": b, "limit": 2}), &["e2", "e3"]);
    let (f_back, b) = check(&svc, json!({"nextToken": b, "limit": 3}), &["e0", "e1"]);
    check(&svc, json!({"nextToken": b}), &[]);
    check(&svc, json!({"nextToken": f_back, "limit": 1}), &["e2"]);
    // Reading on from the end sees an event written later, and only it.
    put(&svc, "g", "s", &[(NOW, "late")]);
    check(&svc, json!({"nextToken": f_tail}), &["late"]);
    check(&svc, json!({"nextToken": f_end}), &["late"]);
    // startTime is inclusive, endTime exclusive.
    check(
        &svc,
        json!({"startTime": NOW - 5000, "endTime": NOW - 3000, "startFromHead": true}),
        &["e1", "e2"],
    );
    check(
        &svc,
        json!({"startTime": NOW - 5000, "endTime": NOW - 3000}),
        &["e1", "e2"],
    );
    check(
        &svc,
        json!({"startTime": NOW - 3000, "endTime": NOW - 3000}),
        &[],
    );
    // Events of one timestamp keep their order.
    setup(&svc, "same", &["s"]);
    put(&svc, "same", "s", &[(NOW, "a"), (NOW, "b"), (NOW, "c")]);
    let out = ok(
        &svc,
        "GetLogEvents",
        json!({"logGroupName": "same", "logStreamName": "s", "startFromHead": true}),
    );
    assert_eq!(messages(&out), ["a", "b", "c"]);
    assert_eq!(out["events"][0]["timestamp"], NOW);
    assert_eq!(out["events"][0]["ingestionTime"], NOW);

    refused(
        &svc,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "nextToken": "x/zz"}),
        "InvalidParameterException",
        "nextToken",
    );
    refused(
        &svc,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "nope"}),
        "ResourceNotFoundException",
        "log stream does not exist",
    );
    refused(
        &svc,
        "GetLogEvents",
        json!({"logGroupName": "g", "logGroupIdentifier": "g", "logStreamName": "s"}),
        "InvalidParameterException",
        "mutually exclusive",
    );
    // The group by ARN.
    let out = ok(
        &svc,
        "GetLogEvents",
        json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:same", "logStreamName": "s"}),
    );
    assert_eq!(messages(&out), ["a", "b", "c"]);
}

#[test]
fn put_log_events_validation() {
    let (_dir, svc) = service();
    setup(&svc, "g", &["s"]);
    let base =
        |events: Value| json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events});
    #[track_caller]
    fn check_rejected(svc: &LogsService, events: &[(i64, &str)], want: Value, stored: &[&str]) {
        let group = format!("r{}", uuid_like(events));
        setup(svc, &group, &["s"]);
        let out = put(svc, &group, "s", events);
        assert_eq!(out["rejectedLogEventsInfo"], want, "{out}");
        assert!(out["nextSequenceToken"].is_string());
        let got = ok(
            svc,
            "GetLogEvents",
            json!({"logGroupName": group, "logStreamName": "s", "startFromHead": true}),
        );
        assert_eq!(messages(&got), stored);
    }
    fn uuid_like(events: &[(i64, &str)]) -> String {
        events.iter().map(|e| e.1).collect::<Vec<_>>().join("-")
    }
    check_rejected(&svc, &[(NOW, "a")], Value::Null, &["a"]);
    check_rejected(
        &svc,
        &[(NOW - 15 * DAY, "old"), (NOW - DAY, "b"), (NOW, "c")],
        json!({"tooOldLogEventEndIndex": 1}),
        &["b", "c"],
    );
    check_rejected(
        &svc,
        &[
            (NOW, "d"),
            (NOW + 3_600_000, "e"),
            (NOW + 3 * 3_600_000, "new"),
        ],
        json!({"tooNewLogEventStartIndex": 2}),
        &["d", "e"],
    );
    check_rejected(
        &svc,
        &[(NOW - 20 * DAY, "o1"), (NOW + 5 * 3_600_000, "n1")],
        json!({"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 1}),
        &[],
    );
    // Events before the group's retention are expired.
    ok(&svc, "CreateLogGroup", json!({"logGroupName": "kept1"}));
    ok(
        &svc,
        "CreateLogStream",
        json!({"logGroupName": "kept1", "logStreamName": "s"}),
    );
    ok(
        &svc,
        "PutRetentionPolicy",
        json!({"logGroupName": "kept1", "retentionInDays": 1}),
    );
    let out = put(&svc, "kept1", "s", &[(NOW - 2 * DAY, "x"), (NOW, "y")]);
    assert_eq!(
        out["rejectedLogEventsInfo"],
        json!({"expiredLogEventEndIndex": 1})
    );

    refused(
        &svc,
        "PutLogEvents",
        base(json!([{"timestamp": NOW, "message": "b"}, {"timestamp": NOW - 1, "message": "a"}])),
        "InvalidParameterException",
        "chronological order",
    );
    refused(
        &svc,
        "PutLogEvents",
        base(
            json!([{"timestamp": NOW - 2 * DAY, "message": "a"}, {"timestamp": NOW, "message": "b"}]),
        ),
        "InvalidParameterException",
        "cannot span more than 24 hours",
    );
    refused(
        &svc,
        "PutLogEvents",
        base(json!([])),
        "InvalidParameterException",
        "length",
    );
    let many: Vec<Value> = (0..10_001)
        .map(|_| json!({"timestamp": NOW, "message": "m"}))
        .collect();
    refused(
        &svc,
        "PutLogEvents",
        base(json!(many)),
        "InvalidParameterException",
        "10000",
    );
    let big = "x".repeat(600_000);
    refused(
        &svc,
        "PutLogEvents",
        base(json!([{"timestamp": NOW, "message": big}, {"timestamp": NOW, "message": big}])),
        "InvalidParameterException",
        "Upload too large: 1200052 bytes exceeds limit of 1048576",
    );
    refused(
        &svc,
        "PutLogEvents",
        base(json!([{"timestamp": NOW, "message": ""}])),
        "InvalidParameterException",
        "message",
    );
    refused(
        &svc,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "none", "logEvents": [{"timestamp": NOW, "message": "a"}]}),
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    );
    refused(
        &svc,
        "PutLogEvents",
        json!({"logGroupName": "none", "logStreamName": "s", "logEvents": [{"timestamp": NOW, "message": "a"}]}),
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
}

#[test]
fn groups_streams_and_retention() {
    let (_dir, svc) = service();
    setup(
        &svc,
        "/aws/lambda/f",
        &["2026/01/01/[$LATEST]aa", "2026/01/01/[$LATEST]bb"],
    );
    refused(
        &svc,
        "CreateLogGroup",
        json!({"logGroupName": "/aws/lambda/f"}),
        "ResourceAlreadyExistsException",
        "already exists",
    );
    refused(
        &svc,
        "CreateLogGroup",
        json!({"logGroupName": "bad name"}),
        "InvalidParameterException",
        "regular expression",
    );
    refused(
        &svc,
        "CreateLogGroup",
        json!({"logGroupName": "aws/x"}),
        "InvalidParameterException",
        "aws/",
    );
    refused(
        &svc,
        "CreateLogStream",
        json!({"logGroupName": "/aws/lambda/f", "logStreamName": "a:b"}),
        "InvalidParameterException",
        "[^:*]*",
    );
    refused(
        &svc,
        "CreateLogStream",
        json!({"logGroupName": "/aws/lambda/f", "logStreamName": "2026/01/01/[$LATEST]aa"}),
        "ResourceAlreadyExistsException",
        "already exists",
    );
    refused(
        &svc,
        "CreateLogStream",
        json!({"logGroupName": "nope", "logStreamName": "x"}),
        "ResourceNotFoundException",
        "log group does not exist",
    );
    put(
        &svc,
        "/aws/lambda/f",
        "2026/01/01/[$LATEST]bb",
        &[(NOW - 10, "first")],
    );
    put(
        &svc,
        "/aws/lambda/f",
        "2026/01/01/[$LATEST]aa",
        &[(NOW, "second")],
    );

    // Retention: only AWS's values.
    for days in [0, 2, 4000, -1] {
        refused(
            &svc,
            "PutRetentionPolicy",
            json!({"logGroupName": "/aws/lambda/f", "retentionInDays": days}),
            "InvalidParameterException",
            "Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]",
        );
    }
    refused(
        &svc,
        "PutRetentionPolicy",
        json!({"logGroupName": "nope", "retentionInDays": 1}),
        "ResourceNotFoundException",
        "log group does not exist",
    );
    ok(
        &svc,
        "PutRetentionPolicy",
        json!({"logGroupName": "/aws/lambda/f", "retentionInDays": 3}),
    );

    let groups = ok(
        &svc,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/aws/lambda/"}),
    );
    let g = &groups["logGroups"][0];
    assert_eq!(g["logGroupName"], "/aws/lambda/f");
    assert_eq!(g["retentionInDays"], 3);
    assert_eq!(
        g["arn"],
        "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f:*"
    );
    assert_eq!(
        g["logGroupArn"],
        "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f"
    );
    assert_eq!(g["storedBytes"], 11);

    // Streams by last event time, newest first; by name; with a prefix; paged.
    let names = |out: &Value| -> Vec<String> {
        out["logStreams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["logStreamName"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_time = ok(
        &svc,
        "DescribeLogStreams",
        json!({"logGroupName": "/aws/lambda/f", "orderBy": "LastEventTime", "descending": true}),
    );
    assert_eq!(
        names(&by_time),
        ["2026/01/01/[$LATEST]aa", "2026/01/01/[$LATEST]bb"]
    );
    assert_eq!(by_time["logStreams"][0]["lastEventTimestamp"], NOW);
    assert_eq!(by_time["logStreams"][1]["firstEventTimestamp"], NOW - 10);
    let by_time = ok(
        &svc,
        "DescribeLogStreams",
        json!({"logGroupName": "/aws/lambda/f", "orderBy": "LastEventTime"}),
    );
    assert_eq!(
        names(&by_time),
        ["2026/01/01/[$LATEST]bb", "2026/01/01/[$LATEST]aa"]
    );
    let first = ok(
        &svc,
        "DescribeLogStreams",
        json!({"logGroupName": "/aws/lambda/f", "limit": 1}),
    );
    assert_eq!(names(&first), ["2026/01/01/[$LATEST]aa"]);
    let second = ok(
        &svc,
        "DescribeLogStreams",
        json!({"logGroupName": "/aws/lambda/f", "limit": 1, "nextToken": first["nextToken"]}),
    );
    assert_eq!(names(&second), ["2026/01/01/[$LATEST]bb"]);
    assert!(second.get("nextToken").is_none());
    let prefixed = ok(
        &svc,
        "DescribeLogStreams",
        json!({"logGroupName": "/aws/lambda/f", "logStreamNamePrefix": "2026/01/01/[$LATEST]b"}),
    );
    assert_eq!(names(&prefixed), ["2026/01/01/[$LATEST]bb"]);
    refused(
        &svc,
        "DescribeLogStreams",
        json!({"logGroupName": "/aws/lambda/f", "orderBy": "LastEventTime", "logStreamNamePrefix": "x"}),
        "InvalidParameterException",
        "Cannot order by LastEventTime",
    );
    refused(
        &svc,
        "DescribeLogStreams",
        json!({"logGroupName": "/aws/lambda/f", "limit": 51}),
        "InvalidParameterException",
        "between 1 and 50",
    );

    // Groups: prefix and paging.
    for g in ["a1", "a2", "a3", "b1"] {
        ok(&svc, "CreateLogGroup", json!({"logGroupName": g}));
    }
    let p1 = ok(
        &svc,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "a", "limit": 2}),
    );
    let gnames = |out: &Value| -> Vec<String> {
        out["logGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["logGroupName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(gnames(&p1), ["a1", "a2"]);
    let p2 = ok(
        &svc,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "a", "limit": 2, "nextToken": p1["nextToken"]}),
    );
    assert_eq!(gnames(&p2), ["a3"]);
    assert!(p2.get("nextToken").is_none());
    assert_eq!(
        gnames(&ok(
            &svc,
            "DescribeLogGroups",
            json!({"logGroupNamePattern": "1"})
        )),
        ["a1", "b1"]
    );

    // The sweep: nothing is past 3 days yet; 4 days later both events are.
    assert_eq!(svc.sweep_at(NOW, 1000).unwrap(), 0);
    assert_eq!(svc.sweep_at(NOW + 3 * DAY - 5, 1000).unwrap(), 1);
    assert_eq!(svc.sweep_at(NOW + 4 * DAY, 1000).unwrap(), 1);
    let left = ok(
        &svc,
        "FilterLogEvents",
        json!({"logGroupName": "/aws/lambda/f"}),
    );
    assert_eq!(messages(&left), Vec::<String>::new());
    let left = ok(
        &svc,
        "GetLogEvents",
        json!({"logGroupName": "/aws/lambda/f", "logStreamName": "2026/01/01/[$LATEST]aa"}),
    );
    assert_eq!(messages(&left), Vec::<String>::new());
    ok(
        &svc,
        "DeleteRetentionPolicy",
        json!({"logGroupName": "/aws/lambda/f"}),
    );
    let groups = ok(
        &svc,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/aws"}),
    );
    assert!(groups["logGroups"][0].get("retentionInDays").is_none());

    // Tags, by ARN and by name.
    let arn = "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f";
    ok(
        &svc,
        "TagResource",
        json!({"resourceArn": arn, "tags": {"team": "web", "env": "dev"}}),
    );
    ok(
        &svc,
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["env"]}),
    );
    assert_eq!(
        ok(&svc, "ListTagsForResource", json!({"resourceArn": arn}))["tags"],
        json!({"team": "web"})
    );
    assert_eq!(
        ok(
            &svc,
            "ListTagsLogGroup",
            json!({"logGroupName": "/aws/lambda/f"})
        )["tags"],
        json!({"team": "web"})
    );

    // Deletes.
    ok(
        &svc,
        "DeleteLogStream",
        json!({"logGroupName": "/aws/lambda/f", "logStreamName": "2026/01/01/[$LATEST]aa"}),
    );
    refused(
        &svc,
        "DeleteLogStream",
        json!({"logGroupName": "/aws/lambda/f", "logStreamName": "2026/01/01/[$LATEST]aa"}),
        "ResourceNotFoundException",
        "log stream does not exist",
    );
    ok(
        &svc,
        "DeleteLogGroup",
        json!({"logGroupName": "/aws/lambda/f"}),
    );
    refused(
        &svc,
        "DeleteLogGroup",
        json!({"logGroupName": "/aws/lambda/f"}),
        "ResourceNotFoundException",
        "log group does not exist",
    );
    refused(
        &svc,
        "DescribeLogStreams",
        json!({"logGroupName": "/aws/lambda/f"}),
        "ResourceNotFoundException",
        "log group does not exist",
    );
    refused(
        &svc,
        "StartLiveTail",
        json!({}),
        "UnknownOperationException",
        "StartLiveTail",
    );
}

#[test]
fn filter_log_events() {
    let (_dir, svc) = service();
    setup(&svc, "g", &["a", "b", "c"]);
    put(
        &svc,
        "g",
        "a",
        &[
            (NOW - 50, "START a"),
            (NOW - 30, "ERROR disk full"),
            (NOW - 10, "END a"),
        ],
    );
    put(
        &svc,
        "g",
        "b",
        &[
            (NOW - 40, "START b"),
            (NOW - 20, "WARN slow"),
            (NOW, "END b"),
        ],
    );
    put(&svc, "g", "c", &[(NOW - 45, "other")]);
    #[track_caller]
    fn check(svc: &LogsService, input: Value, want: &[&str]) {
        let mut all = Vec::new();
        let mut input = input;
        input["logGroupName"] = json!("g");
        loop {
            let out = ok(svc, "FilterLogEvents", input.clone());
            for e in out["events"].as_array().unwrap() {
                all.push(format!(
                    "{}:{}",
                    e["logStreamName"].as_str().unwrap(),
                    e["message"].as_str().unwrap()
                ));
                assert!(e["eventId"].is_string());
            }
            match out.get("nextToken") {
                Some(t) => input["nextToken"] = t.clone(),
                None => break,
            }
        }
        assert_eq!(all, want, "{input}");
    }
    // Interleaved in time across streams.
    let everything = [
        "a:START a",
        "c:other",
        "b:START b",
        "a:ERROR disk full",
        "b:WARN slow",
        "a:END a",
        "b:END b",
    ];
    check(&svc, json!({}), &everything);
    check(&svc, json!({"limit": 2}), &everything);
    check(&svc, json!({"limit": 1, "interleaved": true}), &everything);
    check(
        &svc,
        json!({"logStreamNames": ["b", "c"]}),
        &["c:other", "b:START b", "b:WARN slow", "b:END b"],
    );
    check(
        &svc,
        json!({"logStreamNamePrefix": "a"}),
        &["a:START a", "a:ERROR disk full", "a:END a"],
    );
    check(
        &svc,
        json!({"filterPattern": "?ERROR ?WARN"}),
        &["a:ERROR disk full", "b:WARN slow"],
    );
    check(
        &svc,
        json!({"filterPattern": "\"disk full\""}),
        &["a:ERROR disk full"],
    );
    check(&svc, json!({"filterPattern": "START -b"}), &["a:START a"]);
    check(
        &svc,
        json!({"filterPattern": "END", "limit": 1}),
        &["a:END a", "b:END b"],
    );
    // startTime and endTime are both inclusive.
    check(
        &svc,
        json!({"startTime": NOW - 40, "endTime": NOW - 20}),
        &["b:START b", "a:ERROR disk full", "b:WARN slow"],
    );
    refused(
        &svc,
        "FilterLogEvents",
        json!({"logGroupName": "g", "logStreamNames": ["a"], "logStreamNamePrefix": "a"}),
        "InvalidParameterException",
        "mutually exclusive",
    );
    refused(
        &svc,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "[ip, user]"}),
        "InvalidParameterException",
        "space-delimited",
    );
    refused(
        &svc,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "{ $.x = }"}),
        "InvalidParameterException",
        "Invalid JSON filter pattern",
    );
    // JSON patterns over structured lines (and not over the others).
    setup(&svc, "j", &["s"]);
    put(
        &svc,
        "j",
        "s",
        &[
            (NOW - 3, r#"{"level":"INFO","ms":12}"#),
            (NOW - 2, "level ERROR, not JSON"),
            (NOW - 1, "{\"level\":\"ERROR\",\"ms\":900}\n"),
        ],
    );
    let out = ok(
        &svc,
        "FilterLogEvents",
        json!({"logGroupName": "j", "filterPattern": "{ $.level = \"ERROR\" || $.ms > 100 }"}),
    );
    assert_eq!(messages(&out), ["{\"level\":\"ERROR\",\"ms\":900}\n"]);
    refused(
        &svc,
        "FilterLogEvents",
        json!({"logGroupName": "nope"}),
        "ResourceNotFoundException",
        "log group does not exist",
    );
    refused(
        &svc,
        "FilterLogEvents",
        json!({"logGroupName": "g", "nextToken": "zz"}),
        "InvalidParameterException",
        "nextToken",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_creates_and_writes() {
    let (_dir, svc) = service();
    let ingest = svc.ingest();
    let now = nuvem_logs::now_ms();
    for i in 0..100 {
        ingest.push(
            "/aws/lambda/q",
            "2026/01/01/[$LATEST]00",
            now + i,
            format!("line {i}\n"),
        );
    }
    for _ in 0..200 {
        if ingest.ingested() == 100 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!((ingest.ingested(), ingest.dropped()), (100, 0));
    let out = svc
        .execute("GetLogEvents", &json!({"logGroupName": "/aws/lambda/q", "logStreamName": "2026/01/01/[$LATEST]00", "startFromHead": true}))
        .unwrap();
    let got = messages(&out);
    assert_eq!(got.len(), 100);
    assert_eq!(got[0], "line 0\n");
    assert_eq!(got[99], "line 99\n");
}

/// One round holds several streams and groups; a stream with an invalid name is dropped and
/// counted while the others of the same round are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_writes_every_stream_of_a_round() {
    let (_dir, svc) = service();
    let ingest = svc.ingest();
    let now = nuvem_logs::now_ms();
    for i in 0..30 {
        let group = format!("/aws/lambda/f{}", i % 2);
        let stream = format!("2026/01/01/[$LATEST]{:02}", i % 3);
        ingest.push(&group, &stream, now + i, format!("line {i}"));
    }
    ingest.push("/aws/lambda/f0", "bad:name", now, "lost".into());
    for _ in 0..200 {
        if ingest.ingested() + ingest.dropped() == 31 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!((ingest.ingested(), ingest.dropped()), (30, 1));
    for (g, st, want) in [
        (0, 0, vec![0, 6, 12, 18, 24]),
        (1, 2, vec![5, 11, 17, 23, 29]),
    ] {
        let out = svc
            .execute(
                "GetLogEvents",
                &json!({"logGroupName": format!("/aws/lambda/f{g}"), "logStreamName": format!("2026/01/01/[$LATEST]{st:02}"), "startFromHead": true}),
            )
            .unwrap();
        let want: Vec<String> = want.iter().map(|i| format!("line {i}")).collect();
        assert_eq!(messages(&out), want);
    }
}

/// Without a runtime to write them, pushed events are dropped and counted, never blocking.
#[test]
fn ingest_drops_are_counted() {
    let (_dir, svc) = service();
    let ingest = nuvem_logs::Ingest::start(svc);
    for i in 0..3 {
        ingest.push("/aws/lambda/q", "s", i, "x".into());
    }
    assert_eq!((ingest.ingested(), ingest.dropped()), (0, 3));
}
