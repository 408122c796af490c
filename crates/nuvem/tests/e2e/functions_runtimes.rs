//! Functions end to end, with code users bring unchanged: a boto3 handler that reaches nuvem's
//! DynamoDB through `AWS_ENDPOINT_URL` and the function's own credentials, AWS's official
//! Python runtime interface client (`awslambdaric`) as a `provided` bootstrap, and the
//! process-group cleanup of environments whose runtime starts helpers of its own.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, InvocationType, Runtime};
use nuvem_testkit::Nuvem;
use serde_json::json;

use super::functions::{check, echo_binary, invoke, zip_of};

async fn create(
    c: &aws_sdk_lambda::Client,
    name: &str,
    runtime: Runtime,
    handler: &str,
    files: &[(&str, &str)],
    env: &[(&str, &str)],
    timeout: i32,
) {
    let mut vars = Environment::builder();
    for (k, v) in env {
        vars = vars.variables(*k, *v);
    }
    c.create_function()
        .function_name(name)
        .runtime(runtime)
        .handler(handler)
        .role("arn:aws:iam::000000000000:role/lambda")
        .timeout(timeout)
        .environment(vars.build())
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of(files)))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Whether `python3` can import `module` (optional tools print a skip notice without it).
fn python_has(module: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const BOTO3_HANDLER: &str = r#"import os
import boto3

# Created at init, as real functions do: boto3 reads AWS_ENDPOINT_URL, the region and the
# role's credentials from the environment Lambda (here nuvem) provides.
ddb = boto3.client("dynamodb")

def handler(event, context):
    key = {"id": {"S": event["id"]}}
    ddb.put_item(
        TableName=event["table"],
        Item={**key, "by": {"S": context.function_name}, "n": {"N": "7"}},
    )
    got = ddb.get_item(TableName=event["table"], Key=key, ConsistentRead=True)
    return {"item": got.get("Item"), "endpoint": os.environ.get("AWS_ENDPOINT_URL")}
"#;

/// A Python function whose boto3 client writes and reads a table created by the test, with
/// nothing but the environment nuvem gives it; the item is then read back with the Rust SDK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_function_reads_and_writes_dynamodb_through_aws_endpoint_url() {
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let ddb = n.dynamodb();
    crate::id_table(&ddb, "visits").await;
    let c = n.lambda();
    create(
        &c,
        "writer",
        Runtime::Python312,
        "app.handler",
        &[("app.py", BOTO3_HANDLER)],
        &[],
        30,
    )
    .await;
    let rr = InvocationType::RequestResponse;
    let got = invoke(
        &c,
        "writer",
        json!({"table": "visits", "id": "a1"}),
        rr.clone(),
    )
    .await
    .unwrap();
    check(
        &got,
        200,
        json!({"item": {"id": {"S": "a1"}, "by": {"S": "writer"}, "n": {"N": "7"}}, "endpoint": n.api_url.clone()}),
        false,
        "REPORT",
    );
    let item = ddb
        .get_item()
        .table_name("visits")
        .key("id", AttributeValue::S("a1".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    assert_eq!(item.get("by"), Some(&AttributeValue::S("writer".into())));
    assert_eq!(item.get("n"), Some(&AttributeValue::N("7".into())));
    // A table that does not exist: boto3 raises DynamoDB's own error inside the function, and
    // the Python runtime reports it as the function's error.
    let missing = invoke(&c, "writer", json!({"table": "nope", "id": "x"}), rr)
        .await
        .unwrap();
    check(
        &missing,
        200,
        json!({"errorType": "ResourceNotFoundException"}),
        true,
        "",
    );
}

const RIC_BOOTSTRAP: &str = "#!/bin/sh\nexec python3 -m awslambdaric \"$_HANDLER\"\n";

const RIC_HANDLER: &str = r#"import os

# This environment's id (a process id says nothing in a PID namespace).
ENVIRONMENT = os.urandom(8).hex()

def fn(event, context):
    print("hello from awslambdaric")
    if event.get("fail"):
        raise ValueError(event["fail"])
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "time_left": context.get_remaining_time_in_millis() > 0,
        "environment": ENVIRONMENT,
    }
"#;

/// AWS's runtime interface client, packaged as container-image users do: a `provided`
/// function whose `bootstrap` execs `python3 -m awslambdaric handler.fn`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awslambdaric_as_a_provided_bootstrap() {
    if !python_has("awslambdaric") {
        nuvem_testkit::missing_tool(
            "awslambdaric_as_a_provided_bootstrap",
            "python3 has no awslambdaric module (pip install awslambdaric)",
        );
        return;
    }
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let c = n.lambda();
    create(
        &c,
        "ric",
        Runtime::Providedal2023,
        "handler.fn",
        &[("bootstrap", RIC_BOOTSTRAP), ("handler.py", RIC_HANDLER)],
        &[],
        10,
    )
    .await;
    let failed = check_ric(&c, "ric", "ValueError", "hello from awslambdaric").await;
    assert!(failed["stackTrace"].is_array(), "{failed}");
}

/// A runtime interface client's function `name` (its handler logs `hello` and returns the
/// event, its request id, ARN, time left and environment id, or throws `event.fail`):
/// a cold invoke, a handler error of `error_type` that keeps the environment, a warm
/// invoke. Returns the error's payload.
async fn check_ric(
    c: &aws_sdk_lambda::Client,
    name: &str,
    error_type: &str,
    hello: &str,
) -> serde_json::Value {
    let rr = InvocationType::RequestResponse;
    let first = invoke(c, name, json!({"k": [1, 2]}), rr.clone())
        .await
        .unwrap();
    check(
        &first,
        200,
        json!({"event": {"k": [1, 2]}, "arn": format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"), "time_left": true}),
        false,
        hello,
    );
    assert!(first.log.contains("Init Duration"), "{}", first.log);
    let request_id = first.payload["request_id"].as_str().unwrap_or_default();
    assert!(
        first
            .log
            .contains(&format!("START RequestId: {request_id}")),
        "the runtime saw the invocation's request id: {}",
        first.log
    );
    let failed = invoke(c, name, json!({"fail": "no way"}), rr.clone())
        .await
        .unwrap();
    check(
        &failed,
        200,
        json!({"errorType": error_type, "errorMessage": "no way"}),
        true,
        "END RequestId",
    );
    let warm = invoke(c, name, json!({}), rr).await.unwrap();
    assert_eq!(
        warm.payload["environment"], first.payload["environment"],
        "a handler error keeps the environment warm"
    );
    assert!(!warm.log.contains("Init Duration"), "{}", warm.log);
    failed.payload
}

/// Where AWS's Node.js runtime interface client (`aws-lambda-ric`, npm; a native addon built
/// at install) is installed for the tests: `scripts/test` puts it there, world-readable, so
/// that functions running as users of their own reach it.
fn aws_lambda_ric_dir() -> std::path::PathBuf {
    std::env::var_os("NUVEM_TEST_AWS_LAMBDA_RIC")
        .map(Into::into)
        .unwrap_or_else(|| "/var/tmp/nuvem-test-tools/aws-lambda-ric".into())
}

const NODE_RIC_BOOTSTRAP: &str =
    "#!/bin/sh\nexec node \"$RIC_DIR/node_modules/aws-lambda-ric/bin/index.mjs\" \"$_HANDLER\"\n";

const NODE_RIC_HANDLER: &str = r#"const crypto = require("crypto");

// This environment's id (a process id says nothing in a PID namespace).
const ENVIRONMENT = crypto.randomBytes(8).toString("hex");

exports.fn = async (event, context) => {
  console.log("hello from aws-lambda-ric");
  if (event.fail) {
    throw new Error(event.fail);
  }
  return {
    event,
    request_id: context.awsRequestId,
    arn: context.invokedFunctionArn,
    time_left: context.getRemainingTimeInMillis() > 0,
    environment: ENVIRONMENT,
  };
};
"#;

/// AWS's Node.js runtime interface client as container-image users package it: a `provided`
/// function whose `bootstrap` execs `node …/aws-lambda-ric/bin/index.mjs index.fn`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_lambda_ric_as_a_provided_bootstrap() {
    let ric = aws_lambda_ric_dir();
    if !ric
        .join("node_modules/aws-lambda-ric/dist/rapid-client.node")
        .is_file()
    {
        nuvem_testkit::missing_tool(
            "aws_lambda_ric_as_a_provided_bootstrap",
            &format!(
                "aws-lambda-ric is not installed at {} (scripts/test installs it: npm install --prefix <dir> aws-lambda-ric, with cmake, autoconf, automake and libtool)",
                ric.display()
            ),
        );
        return;
    }
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let c = n.lambda();
    let ric = ric.display().to_string();
    create(
        &c,
        "node-ric",
        Runtime::Providedal2023,
        "index.fn",
        &[
            ("bootstrap", NODE_RIC_BOOTSTRAP),
            ("index.js", NODE_RIC_HANDLER),
        ],
        &[("RIC_DIR", ric.as_str())],
        10,
    )
    .await;
    let failed = check_ric(&c, "node-ric", "Error", "hello from aws-lambda-ric").await;
    assert!(failed["trace"].is_array(), "{failed}");
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs no code).
fn dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// The host's ids of the live processes whose command line is `sleep <seconds>` (found in
/// the host's `/proc`: a process in a PID namespace knows only its id in there).
fn sleeping(seconds: &str) -> Vec<String> {
    let wanted = format!("sleep\0{seconds}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            (pid.bytes().all(|b| b.is_ascii_digit()) && cmdline == wanted.as_bytes() && !dead(&pid))
                .then_some(pid)
        })
        .collect()
}

/// Waits (at most ten seconds) for every `sleep <seconds>` to be gone; the ones left.
async fn all_dead(seconds: &str) -> Vec<String> {
    for _ in 0..400 {
        if sleeping(seconds).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    sleeping(seconds)
}

/// A `bootstrap` that starts a helper process before exec'ing the real runtime: the helper
/// dies with its environment when the invocation times out, and when nuvem stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_process_group_is_killed_on_timeout_and_shutdown() {
    let mut n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let c = n.lambda();
    // A helper no other test starts: `sleep` for a duration of this test's own.
    let seconds = format!("600.{}", std::process::id());
    // The runtime it execs sits where any user can reach it: an isolated environment sees
    // nothing of private folders such as a target dir under /root.
    let shared = crate::shared_dir();
    let runtime = shared.path().join("nuvem-fn-echo");
    std::fs::copy(echo_binary(), &runtime).unwrap();
    let bootstrap = format!(
        "#!/bin/sh\nsleep {seconds} &\nexec {:?}\n",
        runtime.display().to_string()
    );
    create(
        &c,
        "spawner",
        Runtime::Providedal2023,
        "unused",
        &[("bootstrap", &bootstrap)],
        &[],
        1,
    )
    .await;
    let rr = InvocationType::RequestResponse;
    let ok = invoke(&c, "spawner", json!({"hi": 1}), rr.clone())
        .await
        .unwrap();
    check(&ok, 200, json!({"echo": {"hi": 1}}), false, "");
    let alive = sleeping(&seconds);
    assert_eq!(
        alive.len(),
        1,
        "the helper runs while the environment is warm"
    );
    let timed_out = invoke(&c, "spawner", json!({"sleep_ms": 5000}), rr.clone())
        .await
        .unwrap();
    check(
        &timed_out,
        200,
        json!({"errorType": "Sandbox.Timedout"}),
        true,
        "Status: timeout",
    );
    assert_eq!(
        all_dead(&seconds).await,
        Vec::<String>::new(),
        "the timed-out environment's helper was killed with it"
    );
    // A new environment (a new helper), then nuvem stops: nothing of it survives.
    let again = invoke(&c, "spawner", json!({}), rr).await.unwrap();
    check(&again, 200, json!({}), false, "Init Duration");
    let status = n.terminate();
    assert!(status.success(), "{status}");
    assert_eq!(
        all_dead(&seconds).await,
        Vec::<String>::new(),
        "no helper outlives nuvem"
    );
}

/// Nothing a function started outlives nuvem, even when nuvem is killed with SIGKILL and
/// cannot clean up: the lifeline's watcher kills the environment's process group (and, in
/// namespaces, a daemon that left the group with `setsid`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_a_function_started_outlives_a_killed_nuvem() {
    let mut n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let c = n.lambda();
    let (in_group, detached) = (
        format!("601.{}", std::process::id()),
        format!("602.{}", std::process::id()),
    );
    let shared = crate::shared_dir();
    let runtime = shared.path().join("nuvem-fn-echo");
    std::fs::copy(echo_binary(), &runtime).unwrap();
    let bootstrap = format!(
        "#!/bin/sh\nsleep {in_group} &\nsetsid sleep {detached} </dev/null >/dev/null 2>&1 &\nexec {:?}\n",
        runtime.display().to_string()
    );
    create(
        &c,
        "daemons",
        Runtime::Providedal2023,
        "unused",
        &[("bootstrap", &bootstrap)],
        &[],
        1,
    )
    .await;
    let ok = invoke(
        &c,
        "daemons",
        json!({"hi": 1}),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    check(&ok, 200, json!({"echo": {"hi": 1}}), false, "");
    for _ in 0..200 {
        if !sleeping(&detached).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(sleeping(&in_group).len(), 1, "the helper runs");
    assert_eq!(sleeping(&detached).len(), 1, "the daemon runs");
    n.kill();
    assert_eq!(
        all_dead(&in_group).await,
        Vec::<String>::new(),
        "the environment's group dies with nuvem"
    );
    // In namespaces (root with util-linux's unshare) the whole PID namespace goes, daemons
    // included; on the host a daemon that left the group is out of reach (README).
    let namespaced = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let left = all_dead(&detached).await;
    if namespaced {
        assert_eq!(left, Vec::<String>::new(), "the setsid daemon dies too");
    } else {
        for pid in left {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
    }
}

/// `python3`'s version here, as `3.11.7`.
fn python3_version() -> (String, String) {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.executable); print('.'.join(map(str, sys.version_info[:3])))",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
    )
}

/// A runtime identifier runs the interpreter the manifest names for it, and the function's
/// configuration says when that is not the version the identifier names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_say_which_interpreter_runs_them() {
    let (python3, version) = python3_version();
    let mut n = Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        nuvem_testkit::Options {
            manifest: Some(format!("[runtimes]\n\"python3.12\" = {python3:?}\n")),
            ..Default::default()
        },
    );
    let c = n.lambda();
    create(
        &c,
        "py",
        Runtime::Python312,
        "app.handler",
        &[(
            "app.py",
            "import sys\ndef handler(event, context):\n    return {'version': '.'.join(map(str, sys.version_info[:3]))}\n",
        )],
        &[],
        10,
    )
    .await;
    let got = invoke(&c, "py", json!({}), InvocationType::RequestResponse)
        .await
        .unwrap();
    check(&got, 200, json!({"version": version}), false, "");
    let config = c
        .get_function_configuration()
        .function_name("py")
        .send()
        .await
        .unwrap();
    let rv = config
        .runtime_version_config()
        .expect("RuntimeVersionConfig");
    assert!(
        rv.runtime_version_arn()
            .is_some_and(|a| a.starts_with("arn:aws:lambda:us-east-1::runtime:"))
    );
    match rv.error() {
        // The manifest's interpreter is another version: said, with what to do.
        Some(e) if !version.starts_with("3.12.") => {
            let m = e.message().unwrap();
            assert!(m.contains("Python 3.12") && m.contains(&version), "{m}");
        }
        None if version.starts_with("3.12.") => {}
        other => panic!("python3 is {version}, error {other:?}"),
    }
    n.kill();
}
