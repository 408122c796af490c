//! Functions end to end: aws-sdk-lambda against the real binary, running a Rust function
//! built with `lambda_runtime` (examples/functions/echo, a `provided` runtime declared in the
//! manifest) and a Python function uploaded as a zip: sync, Event, DryRun, errors, timeouts,
//! Tail logs, the control plane, and concurrency limits.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, InvocationType, LogType, Runtime};
use base64::Engine as _;
use nuvem_testkit::{Nuvem, Options};
use serde_json::{Value, json};

/// The echo function's binary, built once per test process (a no-op when the workspace
/// build already made it). `CARGO_BIN_EXE_*` only exists for this package's own binaries,
/// so the function is built with cargo into the same target folder as `nuvem`.
pub(super) fn echo_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let nuvem = Path::new(env!("CARGO_BIN_EXE_nuvem"));
        let out = nuvem.parent().expect("target profile folder");
        let mut cmd =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "--quiet", "-p", "nuvem-fn-echo"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if out.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = out.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building nuvem-fn-echo failed");
        out.join("nuvem-fn-echo")
    })
}

fn start_with_echo(extra: &str) -> Nuvem {
    let manifest = format!(
        "[[functions]]\nname = \"echo\"\nruntime = \"provided.al2023\"\ncode = {:?}\ntimeout_seconds = 1\nenv = {{ GREETING = \"ola\" }}\n{extra}",
        echo_binary().display().to_string()
    );
    Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    )
}

pub(super) struct Answer {
    pub status: i32,
    pub payload: Value,
    pub function_error: Option<String>,
    pub log: String,
}

pub(super) async fn invoke(
    client: &aws_sdk_lambda::Client,
    name: &str,
    payload: Value,
    kind: InvocationType,
) -> Result<Answer, String> {
    let out = client
        .invoke()
        .function_name(name)
        .invocation_type(kind)
        .log_type(LogType::Tail)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_lambda::error::ProvideErrorMetadata;
            format!(
                "{}: {}",
                e.code().unwrap_or("?"),
                e.message().unwrap_or("?")
            )
        })?;
    let bytes = out
        .payload()
        .map(|b| b.as_ref().to_vec())
        .unwrap_or_default();
    let log = out
        .log_result()
        .map(|l| {
            String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(l).unwrap())
                .into_owned()
        })
        .unwrap_or_default();
    Ok(Answer {
        status: out.status_code(),
        payload: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        function_error: out.function_error().map(str::to_string),
        log,
    })
}

/// `expected` is a subset of the payload (strings: substrings); `log` must be in the tail.
#[track_caller]
pub(super) fn check(got: &Answer, status: i32, expected: Value, error: bool, log: &str) {
    assert_eq!(got.status, status);
    assert!(
        subset(&expected, &got.payload),
        "payload {} should contain {expected}",
        got.payload
    );
    assert_eq!(
        got.function_error.as_deref(),
        error.then_some("Unhandled"),
        "payload {}",
        got.payload
    );
    assert!(
        got.log.contains(log),
        "log {:?} should contain {log:?}",
        got.log
    );
}

fn subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        (Value::String(w), Value::String(g)) => g.contains(w.as_str()),
        _ => want == got,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_function_with_lambda_runtime() {
    let n = start_with_echo("");
    assert!(
        n.banner.iter().any(|l| l.contains("created function echo")),
        "{:?}",
        n.banner
    );
    let c = n.lambda();
    let rr = InvocationType::RequestResponse;
    let first = invoke(
        &c,
        "echo",
        json!({"hello": "world", "log": "a log line"}),
        rr.clone(),
    )
    .await
    .unwrap();
    check(
        &first,
        200,
        json!({"echo": {"hello": "world"}, "function_arn": "arn:aws:lambda:us-east-1:000000000000:function:echo"}),
        false,
        "a log line",
    );
    for part in [
        "START RequestId: ",
        "END RequestId: ",
        "REPORT RequestId: ",
        "Init Duration: ",
    ] {
        assert!(first.log.contains(part), "{:?} lacks {part}", first.log);
    }
    let warm = invoke(&c, "echo", json!({}), rr.clone()).await.unwrap();
    assert_eq!(
        warm.payload["environment"], first.payload["environment"],
        "warm reuse"
    );
    assert!(!warm.log.contains("Init Duration"));
    check(&invoke(&c, "echo", json!({"env": ["AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME", "GREETING", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]}), rr.clone()).await.unwrap(), 200,
        json!({"AWS_ENDPOINT_URL": n.api_url.clone(), "AWS_LAMBDA_FUNCTION_NAME": "echo", "GREETING": "ola", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}), false, "");
    check(
        &invoke(&c, "echo", json!({"fail": "no good"}), rr.clone())
            .await
            .unwrap(),
        200,
        json!({"errorMessage": "no good"}),
        true,
        "END RequestId",
    );
    check(
        &invoke(&c, "echo", json!({"sleep_ms": 3000}), rr.clone())
            .await
            .unwrap(),
        200,
        json!({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 1.00 seconds"}),
        true,
        "Status: timeout",
    );
    check(
        &invoke(&c, "echo", json!({"exit": 2}), rr.clone())
            .await
            .unwrap(),
        200,
        json!({"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited with error: exit status 2"}),
        true,
        "",
    );
    check(
        &invoke(&c, "echo", json!({"after": "crash"}), rr.clone())
            .await
            .unwrap(),
        200,
        json!({"echo": {"after": "crash"}}),
        false,
        "Init Duration",
    );
    let shared = crate::shared_dir();
    let marker = shared.path().join("ran");
    let ev = invoke(&c, "echo", json!({"append": marker}), InvocationType::Event)
        .await
        .unwrap();
    assert_eq!((ev.status, ev.payload.clone()), (202, Value::Null));
    let dry = invoke(&c, "echo", json!({}), InvocationType::DryRun)
        .await
        .unwrap();
    assert_eq!(dry.status, 204);
    for _ in 0..200 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "x",
        "the queued event ran once"
    );
    let e = invoke(&c, "nope", json!({}), rr.clone())
        .await
        .err()
        .unwrap();
    assert_eq!(
        e,
        "ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    );
    let e = c
        .invoke()
        .function_name("echo")
        .payload(Blob::new("{bad"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&e),
        Some("InvalidRequestContentException")
    );
}

pub(super) fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in files {
        // `bootstrap` files (and a layer's `bin/`) are executables, as in a real package.
        let mode = if name.ends_with("bootstrap") || name.starts_with("bin/") {
            0o755
        } else {
            0o644
        };
        let options = zip::write::SimpleFileOptions::default().unix_permissions(mode);
        w.start_file(*name, options).unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_with_the_sdk() {
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let c = n.lambda();
    let v1 = zip_of(&[(
        "app.py",
        "import os\ndef handler(event, context):\n    return {'v': 1, 'event': event, 'greeting': os.environ.get('GREETING')}\n",
    )]);
    let created = c
        .create_function()
        .function_name("py")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .code(FunctionCode::builder().zip_file(Blob::new(v1)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.function_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:py")
    );
    assert_eq!(
        (created.timeout(), created.memory_size(), created.version()),
        (Some(3), Some(128), Some("$LATEST"))
    );
    let again = c
        .create_function()
        .function_name("py")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("r")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of(&[("a", "b")])))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&again),
        Some("ResourceConflictException")
    );
    let rr = InvocationType::RequestResponse;
    check(
        &invoke(&c, "py", json!({"k": 1}), rr.clone()).await.unwrap(),
        200,
        json!({"v": 1, "event": {"k": 1}}),
        false,
        "REPORT",
    );
    let updated = c
        .update_function_configuration()
        .function_name("py")
        .timeout(10)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("GREETING", "oi")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(updated.timeout(), Some(10));
    check(
        &invoke(&c, "py", json!({}), rr.clone()).await.unwrap(),
        200,
        json!({"greeting": "oi"}),
        false,
        "Init Duration",
    );
    let v2 = zip_of(&[(
        "app.py",
        "def handler(event, context):\n    return {'v': 2}\n",
    )]);
    let code = c
        .update_function_code()
        .function_name("py")
        .zip_file(Blob::new(v2))
        .send()
        .await
        .unwrap();
    assert_ne!(code.code_sha256(), created.code_sha256());
    check(
        &invoke(&c, "py", json!({}), rr.clone()).await.unwrap(),
        200,
        json!({"v": 2}),
        false,
        "",
    );
    let got = c.get_function().function_name("py").send().await.unwrap();
    assert_eq!(
        got.configuration().and_then(|c| c.handler()),
        Some("app.handler")
    );
    let listed = c.list_functions().send().await.unwrap();
    let names: Vec<_> = listed
        .functions()
        .iter()
        .filter_map(|f| f.function_name())
        .collect();
    assert_eq!(names, ["py"]);
    let conc = c
        .put_function_concurrency()
        .function_name("py")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    assert_eq!(conc.reserved_concurrent_executions(), Some(0));
    let throttled = invoke(&c, "py", json!({}), rr.clone()).await.err().unwrap();
    assert!(
        throttled.starts_with("TooManyRequestsException"),
        "{throttled}"
    );
    c.delete_function()
        .function_name("py")
        .send()
        .await
        .unwrap();
    let gone = c
        .get_function()
        .function_name("py")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&gone),
        Some("ResourceNotFoundException")
    );
}

/// 50 concurrent invokes of a 200 ms function limited to 10 environments: 10 run, the rest are
/// throttled; queued (Event) invokes beyond the limit all run eventually.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit() {
    let n = start_with_echo("");
    // No SDK retries: the standard retry mode retries TooManyRequestsException, which would
    // turn the throttled invokes into late successes.
    let c = aws_sdk_lambda::Client::from_conf(
        n.lambda()
            .config()
            .to_builder()
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build(),
    );
    c.put_function_concurrency()
        .function_name("echo")
        .reserved_concurrent_executions(10)
        .send()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            invoke(
                &c,
                "echo",
                json!({"sleep_ms": 200}),
                InvocationType::RequestResponse,
            )
            .await
        }));
    }
    let mut pids = std::collections::BTreeSet::new();
    let (mut ok, mut throttled) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => {
                ok += 1;
                pids.insert(a.payload["environment"].to_string());
            }
            Err(e) if e.starts_with("TooManyRequestsException") => throttled += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(ok + throttled, 50);
    assert!(ok >= 10 && throttled >= 1, "ok {ok}, throttled {throttled}");
    assert_eq!(
        pids.len(),
        10,
        "exactly the limit of environments: {pids:?}"
    );
    // The pool's counters on the health endpoint: every successful invoke was either a cold
    // start (one per environment) or a warm one, never more than the limit at once.
    let health: Value = crate::endpoint::health_detail(&n.api_url).await;
    let stats = &health["stats"]["lambda"];
    let echo = &stats["functions"]["echo"];
    assert_eq!(
        (
            &echo["concurrency"],
            &echo["peak_concurrency"],
            &echo["concurrency_limit"],
            &echo["cold_starts"],
            &echo["environments"],
        ),
        (&json!(0), &json!(10), &json!(10), &json!(10), &json!(10)),
        "{health}"
    );
    assert_eq!(echo["warm_starts"], json!(ok - 10), "{health}");
    assert_eq!(
        (&stats["peak_concurrency"], &stats["environments"]),
        (&json!(10), &json!(10)),
        "{health}"
    );
    let shared = crate::shared_dir();
    let counter = shared.path().join("events");
    for _ in 0..30 {
        let r = invoke(
            &c,
            "echo",
            json!({"sleep_ms": 50, "append": counter}),
            InvocationType::Event,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 202);
    }
    for _ in 0..400 {
        if std::fs::read_to_string(&counter)
            .map(|s| s.len())
            .unwrap_or(0)
            == 30
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().len(),
        30,
        "every queued event ran once"
    );
}

/// The README's first command runs in the project's folder with the default, relative data
/// dir (`.nuvem`): a function's code and task root under it must still be found once the
/// runtime starts in its own directory (it was `bootstrap: Permission denied` there, every
/// invocation an error, while tests with absolute paths passed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_run_with_a_relative_data_dir() {
    let n = Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        Options {
            manifest: Some(format!(
                "[[functions]]\nname = \"echo\"\nruntime = \"provided.al2023\"\ncode = {:?}\ntimeout_seconds = 5\n",
                echo_binary().display().to_string()
            )),
            relative: true,
            ..Default::default()
        },
    );
    assert!(n.dir().join(".nuvem").is_dir(), "the data dir is `.nuvem`");
    let c = n.lambda();
    let got = invoke(
        &c,
        "echo",
        json!({"relative": 1}),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    check(&got, 200, json!({"echo": {"relative": 1}}), false, "");
}
