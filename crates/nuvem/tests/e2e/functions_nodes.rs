//! Functions on several nodes: two `nuvem up` on one PostgreSQL database, each with its own
//! data dir. A function created on one node runs on the other (its package comes from the
//! store), a change on one node reaches the other's next invocations (versions and aliases
//! too), a function's reserved concurrency holds across both nodes, and no store call blocks
//! an async worker.

use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, InvocationType, Runtime, ThrottleReason};
use nuvem_testkit::{Nuvem, Options};
use serde_json::{Value, json};

use crate::functions::zip_of;

use crate::storage_postgres::pg_server;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// Two nodes on one fresh database.
fn two_nodes(server: &pg_server::PgServer) -> (Nuvem, Nuvem) {
    let options = Options {
        manifest: Some(format!("[server]\nstorage = \"{}\"\n", server.url())),
        ..Options::default()
    };
    (
        Nuvem::start_with(BIN, options.clone()),
        Nuvem::start_with(BIN, options),
    )
}

/// A Lambda client without SDK retries: the standard retry mode retries
/// TooManyRequestsException, which would hide the throttling under test.
fn lambda(n: &Nuvem) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(
        n.lambda()
            .config()
            .to_builder()
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build(),
    )
}

#[derive(Debug)]
enum Outcome {
    Ok(Value),
    Throttled(Option<ThrottleReason>),
    Failed(String),
}

async fn invoke(c: &aws_sdk_lambda::Client, name: &str, payload: Value) -> Outcome {
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    use aws_sdk_lambda::operation::invoke::InvokeError;
    match c
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
    {
        Ok(out) => {
            let bytes = out
                .payload()
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default();
            match out.function_error() {
                Some(e) => Outcome::Failed(format!("{e}: {}", String::from_utf8_lossy(&bytes))),
                None => Outcome::Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
            }
        }
        Err(e) => match e.into_service_error() {
            InvokeError::TooManyRequestsException(t) => Outcome::Throttled(t.reason().cloned()),
            other => Outcome::Failed(format!(
                "{}: {}",
                other.code().unwrap_or("?"),
                other.message().unwrap_or("?")
            )),
        },
    }
}

#[track_caller]
fn ok(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Ok(v) => v,
        other => panic!("expected a successful invocation, got {other:?}"),
    }
}

async fn create(c: &aws_sdk_lambda::Client, name: &str, code: &str) {
    c.create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of(&[("app.py", code)])))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Invokes on `node` until `done` holds for the answer, for at most `limit`; returns how long
/// it took.
async fn until(
    c: &aws_sdk_lambda::Client,
    name: &str,
    limit: Duration,
    done: impl Fn(&Outcome) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = invoke(c, name, json!({})).await;
        if done(&got) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not seen within {limit:?}; last answer {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[track_caller]
fn no_worker_calls(health: &Value) {
    assert_eq!(
        health["storage_detail"]["worker_calls"],
        json!(0),
        "no store call blocked an async worker: {health}"
    );
}

const V1: &str = "import os\ndef handler(event, context):\n    return {'v': 1, 'greeting': os.environ.get('GREETING')}\n";
const V2: &str = "import os\ndef handler(event, context):\n    return {'v': 2, 'greeting': os.environ.get('GREETING'), 'data': len(open('data.txt').read())}\n";

/// 4 MiB of text that deflates to about 3 MiB: a package of several chunks.
fn bulky() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..4 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 64) as usize] as char
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_changed_on_one_node_is_run_as_changed_on_the_other() {
    let test = "a_function_changed_on_one_node_is_run_as_changed_on_the_other";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let (a, b) = two_nodes(&server);
    let (ca, cb) = (lambda(&a), lambda(&b));
    create(&ca, "py", V1).await;

    // Created on A, run on B: B unpacks the package from the store into its own data dir.
    assert_eq!(
        ok(invoke(&cb, "py", json!({})).await),
        json!({"v": 1, "greeting": null})
    );
    let unpacked = b.dir().join("data/functions/code/.pkg");
    assert_eq!(
        std::fs::read_dir(&unpacked).map(|d| d.count()).unwrap_or(0),
        1,
        "B unpacked one package under {}",
        unpacked.display()
    );

    // A configuration change on A: B's warm environment is retired, its next invocations
    // see the new variable (B's change watcher polls four times a second).
    ca.update_function_configuration()
        .function_name("py")
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("GREETING", "oi")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let took = until(
        &cb,
        "py",
        Duration::from_secs(3),
        |o| matches!(o, Outcome::Ok(v) if v["greeting"] == "oi"),
    )
    .await;
    eprintln!("B ran the new configuration {took:?} after A changed it");

    // New code on A (a package of several 1 MiB chunks in the store), run on B.
    let data = bulky();
    let zip = zip_of(&[("app.py", V2), ("data.txt", &data)]);
    assert!(zip.len() > 2 << 20, "{} bytes", zip.len());
    ca.update_function_code()
        .function_name("py")
        .zip_file(Blob::new(zip))
        .send()
        .await
        .unwrap();
    let v2 = json!({"v": 2, "greeting": "oi", "data": 4 << 20});
    until(
        &cb,
        "py",
        Duration::from_secs(5),
        |o| matches!(o, Outcome::Ok(v) if *v == v2),
    )
    .await;

    // Deleted on A: gone on B.
    ca.delete_function()
        .function_name("py")
        .send()
        .await
        .unwrap();
    until(
        &cb,
        "py",
        Duration::from_secs(3),
        |o| matches!(o, Outcome::Failed(e) if e.starts_with("ResourceNotFoundException")),
    )
    .await;

    no_worker_calls(&crate::endpoint::health_detail(&a.api_url).await);
    no_worker_calls(&crate::endpoint::health_detail(&b.api_url).await);
}

/// A slow function that counts, in a folder shared by both nodes' environments, how many of
/// its invocations run at once, and answers with that count as it found it on entry.
const OVERLAP: &str = r#"import fcntl, os, time
def bump(folder, delta):
    with open(os.path.join(folder, 'lock'), 'a+') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = os.path.join(folder, 'running')
        running = int(open(path).read()) if os.path.exists(path) else 0
        running += delta
        with open(path, 'w') as f:
            f.write(str(running))
        return running
def handler(event, context):
    running = bump(event['folder'], 1)
    try:
        time.sleep(event.get('sleep', 1.5))
    finally:
        bump(event['folder'], -1)
    return {'running': running}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_concurrency_holds_across_nodes() {
    let test = "reserved_concurrency_holds_across_nodes";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let (a, b) = two_nodes(&server);
    let (ca, cb) = (lambda(&a), lambda(&b));
    create(&ca, "slow", OVERLAP).await;
    ca.put_function_concurrency()
        .function_name("slow")
        .reserved_concurrent_executions(2)
        .send()
        .await
        .unwrap();
    let shared = crate::shared_dir();
    let folder = shared.path().to_path_buf();
    let event = json!({"folder": folder, "sleep": 1.5});

    // Six slow invocations at once, three on each node: two run, cluster-wide.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let c = if i % 2 == 0 { ca.clone() } else { cb.clone() };
        let event = event.clone();
        tasks.push(tokio::spawn(async move { invoke(&c, "slow", event).await }));
    }
    let (mut ran, mut throttled, mut peak) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Ok(v) => {
                ran += 1;
                peak = peak.max(v["running"].as_u64().unwrap());
            }
            Outcome::Throttled(reason) => {
                throttled += 1;
                assert_eq!(
                    reason,
                    Some(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)
                );
            }
            Outcome::Failed(e) => panic!("unexpected failure {e}"),
        }
    }
    assert_eq!(ran + throttled, 6);
    assert!(
        peak <= 2,
        "at most 2 ran at once across both nodes, saw {peak}"
    );
    assert!(
        ran >= 2 && throttled >= 1,
        "ran {ran}, throttled {throttled}"
    );

    // Idle slots go back to the cluster: after a moment each node runs one again, and
    // then one on each node at once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let quick = json!({"folder": folder, "sleep": 0});
    ok(invoke(&cb, "slow", quick.clone()).await);
    ok(invoke(&ca, "slow", quick.clone()).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (x, y) = tokio::join!(
        invoke(&ca, "slow", json!({"folder": folder, "sleep": 0.5})),
        invoke(&cb, "slow", json!({"folder": folder, "sleep": 0.5}))
    );
    assert!(ok(x)["running"].as_u64().unwrap() <= 2);
    assert!(ok(y)["running"].as_u64().unwrap() <= 2);

    no_worker_calls(&crate::endpoint::health_detail(&a.api_url).await);
    no_worker_calls(&crate::endpoint::health_detail(&b.api_url).await);
}

/// Appends which node ran it (the endpoint its environment was given) and the event's `n` to
/// the file `log`, after sleeping `sleep` seconds; fails when asked to.
const RECORDER: &str = r#"import os, time
def handler(event, context):
    time.sleep(event.get('sleep', 0))
    with open(event['log'], 'a') as f:
        f.write('%s %s\n' % (os.environ.get('AWS_ENDPOINT_URL'), event.get('n')))
    if event.get('fail'):
        raise Exception('failing on purpose')
    return {'n': event.get('n')}
"#;

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until `path` has `n` lines (at most `limit`), then a little longer to see no more.
async fn lines_settle(path: &std::path::Path, n: usize, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    while lines(path).len() < n && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    lines(path)
}

async fn event(c: &aws_sdk_lambda::Client, name: &str, payload: Value) {
    let out = c
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_run_once_across_nodes_and_outlive_the_node_that_took_them() {
    let test = "events_run_once_across_nodes_and_outlive_the_node_that_took_them";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let (mut a, b) = two_nodes(&server);
    let (ca, cb) = (lambda(&a), lambda(&b));
    create(&ca, "rec", RECORDER).await;
    let logs = crate::shared_dir();

    // A failing event and its two retries (1 s, then 2 s later) run three times in all,
    // whichever nodes run them.
    let failing = logs.path().join("failing");
    event(&ca, "rec", json!({"log": failing, "n": 1, "fail": true})).await;
    let ran = lines_settle(&failing, 3, Duration::from_secs(15)).await;
    assert_eq!(
        ran.len(),
        3,
        "one run and two retries in the cluster: {ran:?}"
    );

    // An event that A took but could not start (B holds the function's only slot) is run
    // by B after A is killed.
    ca.put_function_concurrency()
        .function_name("rec")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    // B retires its unreserved pool when its watcher hears of the change (within 250 ms).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let busy = logs.path().join("busy");
    let slow = {
        let (cb, busy) = (cb.clone(), busy.clone());
        tokio::spawn(async move {
            // The first slot may still be lingering with A (from the retries): retry.
            loop {
                match invoke(&cb, "rec", json!({"log": busy, "n": 0, "sleep": 2})).await {
                    Outcome::Throttled(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    other => return other,
                }
            }
        })
    };
    let orphan = logs.path().join("orphan");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    event(&ca, "rec", json!({"log": orphan, "n": 2})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    ok(slow.await.unwrap());
    let ran = lines_settle(&orphan, 1, Duration::from_secs(15)).await;
    assert_eq!(ran.len(), 1, "run once: {ran:?}");
    assert!(
        ran[0].starts_with(&b.api_url) && ran[0].ends_with(" 2"),
        "run by B ({}): {ran:?}",
        b.api_url
    );
    no_worker_calls(&crate::endpoint::health_detail(&b.api_url).await);
}

const COUNTER: &str = r#"import boto3

ddb = boto3.client("dynamodb")

def handler(event, context):
    for r in event["Records"]:
        ddb.update_item(TableName="Deliveries",
            Key={"seq": {"S": r["dynamodb"]["SequenceNumber"]}},
            UpdateExpression="ADD n :one SET k = :k",
            ExpressionAttributeValues={":one": {"N": "1"}, ":k": r["dynamodb"]["Keys"]["id"]})
"#;

/// How many times each stream record was delivered, by key.
async fn deliveries(ddb: &aws_sdk_dynamodb::Client) -> std::collections::BTreeMap<String, u32> {
    let mut out = std::collections::BTreeMap::new();
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name("Deliveries")
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let key = item["k"].as_s().unwrap().clone();
            let n: u32 = item["n"].as_n().unwrap().parse().unwrap();
            *out.entry(key).or_insert(0) += n;
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return out;
        }
    }
}

/// An event source mapping on two nodes sharing one database: both run the mapping
/// supervisor, one poller holds its lease, so every record is delivered exactly once
/// (records written through either node); when the node that created it stops, the mapping
/// goes on from its stored position on the other, still once per record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_mapping_on_two_nodes_delivers_each_record_once() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let test = "a_stream_mapping_on_two_nodes_delivers_each_record_once";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let (mut a, b) = two_nodes(&server);
    let (da, db) = (a.dynamodb(), b.dynamodb());
    crate::dynamo_triggers::create_table(&da, "Orders", "id", true).await;
    crate::dynamo_triggers::create_table(&da, "Deliveries", "seq", false).await;
    create(&lambda(&a), "counter", COUNTER).await;
    let arn = da
        .describe_table()
        .table_name("Orders")
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.latest_stream_arn())
        .unwrap()
        .to_owned();
    lambda(&a)
        .create_event_source_mapping()
        .function_name("counter")
        .event_source_arn(&arn)
        .starting_position(aws_sdk_lambda::types::EventSourcePosition::TrimHorizon)
        .batch_size(5)
        .send()
        .await
        .unwrap();
    let put = |c: aws_sdk_dynamodb::Client, id: String| async move {
        c.put_item()
            .table_name("Orders")
            .item("id", AttributeValue::S(id))
            .send()
            .await
            .unwrap();
    };
    for i in 0..30 {
        let node = if i % 2 == 0 { da.clone() } else { db.clone() };
        put(node, format!("r{i:02}")).await;
    }
    let wait_for = |n: usize| {
        let db = db.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let got = deliveries(&db).await;
                if got.len() >= n || Instant::now() > deadline {
                    return got;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    let got = wait_for(30).await;
    assert_eq!(got.len(), 30, "{got:?}");
    // Time for a second delivery to show, were there one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = deliveries(&db).await;
    assert!(got.values().all(|n| *n == 1), "each record once: {got:?}");

    // The node that created the mapping stops; the other goes on from the position (after
    // the lease, 10 s, if the stopped node held it).
    a.terminate();
    for i in 30..40 {
        put(db.clone(), format!("r{i:02}")).await;
    }
    let got = wait_for(40).await;
    assert_eq!(got.len(), 40, "{got:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = deliveries(&db).await;
    assert!(got.values().all(|n| *n == 1), "each record once: {got:?}");
}

/// Versions and aliases on two nodes: a version published on A keeps its package in the store
/// after A's code update (B, which never ran it, unpacks it), an alias moved on A routes B's
/// next invocations to the new version, and a version deleted on A is gone on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_aliases_across_nodes() {
    let test = "versions_and_aliases_across_nodes";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let (a, b) = two_nodes(&server);
    let (ca, cb) = (lambda(&a), lambda(&b));
    let code = |v: u32| {
        format!(
            "import os\ndef handler(event, context):\n    return {{'v': {v}, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION']}}\n"
        )
    };
    create(&ca, "vn", &code(1)).await;
    ca.publish_version()
        .function_name("vn")
        .send()
        .await
        .unwrap();
    let v2 = ca
        .update_function_code()
        .function_name("vn")
        .zip_file(Blob::new(zip_of(&[("app.py", &code(2))])))
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(v2.version(), Some("2"));
    ca.create_alias()
        .function_name("vn")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    // B runs version 1's package, still in the store after $LATEST moved on.
    assert_eq!(
        ok(invoke(&cb, "vn:live", json!({})).await),
        json!({"v": 1, "version": "1"})
    );
    assert_eq!(
        ok(invoke(&cb, "vn", json!({})).await),
        json!({"v": 2, "version": "$LATEST"})
    );
    ca.update_alias()
        .function_name("vn")
        .name("live")
        .function_version("2")
        .send()
        .await
        .unwrap();
    until(
        &cb,
        "vn:live",
        Duration::from_secs(3),
        |o| matches!(o, Outcome::Ok(v) if v["version"] == "2"),
    )
    .await;
    ca.delete_function()
        .function_name("vn")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    until(
        &cb,
        "vn:1",
        Duration::from_secs(3),
        |o| matches!(o, Outcome::Failed(e) if e.starts_with("ResourceNotFoundException")),
    )
    .await;
    no_worker_calls(&crate::endpoint::health_detail(&a.api_url).await);
    no_worker_calls(&crate::endpoint::health_detail(&b.api_url).await);
}
