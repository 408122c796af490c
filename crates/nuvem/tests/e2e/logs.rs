//! CloudWatch Logs end to end: a function's START/END/REPORT and printed lines in the Logs API
//! (boto3's `logs` client, `tests/e2e/boto3/logs_boto3.py`), the AWS CLI's `aws logs` commands
//! (the CLI installed here is v1, without `tail`: `filter-log-events`, `get-log-events`, what v2's
//! `tail` calls), `nuvem logs NAME [--follow]`, and a manifest function's role writing its own
//! log group with boto3 as AWSLambdaBasicExecutionRole allows (and no other group).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::InvocationType;
use nuvem_testkit::{Nuvem, Options};
use serde_json::{Value, json};

use crate::functions::invoke;
use crate::s3_cli::{aws, aws_raw, have};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_logs_through_boto3_the_cli_and_nuvem_logs() {
    let test = "function_logs_through_boto3_the_cli_and_nuvem_logs";
    if !crate::have_boto3(test) {
        return;
    }
    let n = Nuvem::start(BIN);
    crate::run_boto3("logs_boto3.py", &n.api_url, "boto3 logs: ok");
    let group = "/aws/lambda/logs-fn";

    if have("aws", &["--version"]) {
        let out: Value = serde_json::from_str(&aws(
            &n,
            &[
                "logs",
                "filter-log-events",
                "--log-group-name",
                group,
                "--filter-pattern",
                "REPORT",
            ],
        ))
        .unwrap();
        let reports = out["events"].as_array().unwrap();
        assert_eq!(reports.len(), 2, "{out}");
        let streams: Value = serde_json::from_str(&aws(
            &n,
            &[
                "logs",
                "describe-log-streams",
                "--log-group-name",
                group,
                "--order-by",
                "LastEventTime",
                "--descending",
            ],
        ))
        .unwrap();
        let stream = streams["logStreams"][0]["logStreamName"].as_str().unwrap();
        let events: Value = serde_json::from_str(&aws(
            &n,
            &[
                "logs",
                "get-log-events",
                "--log-group-name",
                group,
                "--log-stream-name",
                stream,
                "--start-from-head",
            ],
        ))
        .unwrap();
        let messages: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        assert!(messages.contains(&"handled 1\n"), "{messages:?}");
        assert!(messages[0].starts_with("START RequestId: "), "{messages:?}");
        let refused = aws_raw(
            &n,
            &[
                "logs",
                "put-retention-policy",
                "--log-group-name",
                group,
                "--retention-in-days",
                "2",
            ],
        );
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("InvalidParameterException"), "{stderr}");
        aws(
            &n,
            &[
                "logs",
                "put-retention-policy",
                "--log-group-name",
                group,
                "--retention-in-days",
                "14",
            ],
        );
    } else {
        nuvem_testkit::missing_tool(test, "the AWS CLI is not installed (pip install awscli)");
    }

    // `nuvem logs NAME`: what the function printed, in `aws logs tail`'s format.
    let nuvem_logs = |args: &[&str]| {
        Command::new(BIN)
            .arg("logs")
            .args(args)
            .args(["--endpoint", &n.api_url])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .unwrap()
    };
    let out = nuvem_logs(&["logs-fn"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.ends_with(" handled 1"))
            && lines
                .iter()
                .filter(|l| l.contains(" REPORT RequestId: "))
                .count()
                == 2,
        "{stdout}"
    );
    let first: Vec<&str> = lines[0].splitn(3, ' ').collect();
    assert!(
        first[0].ends_with("+00:00") && first[1].contains("/[$LATEST]"),
        "{stdout}"
    );
    assert!(first[2].starts_with("START RequestId: "), "{stdout}");
    let filtered = nuvem_logs(&["logs-fn", "--filter-pattern", "handled"]);
    let filtered = String::from_utf8_lossy(&filtered.stdout);
    assert_eq!(filtered.lines().count(), 2, "{filtered}");
    let missing = nuvem_logs(&["nobody"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("has no logs yet"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    // `--follow` prints an invocation made after it started.
    let mut follow = Command::new(BIN)
        .args(["logs", "logs-fn", "--follow", "--since", "1m"])
        .args(["--endpoint", &n.api_url])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    // Wait for what is there already (two invocations, so two REPORT lines), then invoke.
    let started = Instant::now();
    let mut history = Vec::new();
    while history
        .iter()
        .filter(|l: &&String| l.contains(" REPORT RequestId: "))
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no history: {history:?}"
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            history.push(line);
        }
    }
    assert!(
        history.iter().any(|l| l.ends_with(" handled 2")),
        "{history:?}"
    );
    let lambda = n.lambda();
    invoke(
        &lambda,
        "logs-fn",
        json!({"n": 3}),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut reports_after = 0;
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains(" REPORT RequestId: ") {
                reports_after += 1;
            }
            seen.push(line.clone());
            if line.contains(" REPORT RequestId: ") && seen.iter().any(|l| l.ends_with("handled 3"))
            {
                break;
            }
        }
    }
    follow.kill().unwrap();
    let _ = follow.wait();
    assert!(
        seen.iter().any(|l| l.ends_with(" handled 3")) && reports_after == 1,
        "followed: {seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|l| l.ends_with("handled 1") || l.ends_with("handled 2")),
        "printed once: {seen:?}"
    );
}

const WRITER: &str = r#"
import os, time
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    logs = boto3.client("logs")
    own = "/aws/lambda/" + context.function_name
    out = {}
    try:
        logs.create_log_stream(logGroupName=own, logStreamName="custom")
        logs.put_log_events(logGroupName=own, logStreamName="custom",
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": "from the role"}])
        out["own"] = "ok"
    except ClientError as e:
        out["own"] = e.response["Error"]["Code"]
    try:
        logs.create_log_group(logGroupName="/aws/lambda/someone-else")
        out["other"] = "ok"
    except ClientError as e:
        out["other"] = e.response["Error"]["Code"]
    try:
        logs.filter_log_events(logGroupName=own)
        out["read"] = "ok"
    except ClientError as e:
        out["read"] = e.response["Error"]["Code"]
    return out
"#;

/// A manifest function with `permissions` gets AWSLambdaBasicExecutionRole's log rights on its
/// own group (create streams, put events), nothing more on logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_role_writes_its_own_log_group() {
    if !crate::have_boto3("manifest_role_writes_its_own_log_group") {
        return;
    }
    let src = crate::shared_dir();
    std::fs::write(src.path().join("index.py"), WRITER).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            src.path().join("index.py"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let manifest = format!(
        "[[functions]]\nname = \"writer\"\nruntime = \"python3.12\"\nhandler = \"index.handler\"\ncode = {:?}\ntimeout_seconds = 30\n\
         permissions = [{{ actions = [\"lambda:ListFunctions\"], resources = [\"*\"] }}]\n",
        src.path().display().to_string()
    );
    let n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let got = invoke(
        &n.lambda(),
        "writer",
        json!({}),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert_eq!(got.function_error, None, "{}", got.log);
    assert_eq!(
        got.payload,
        json!({"own": "ok", "other": "AccessDeniedException", "read": "AccessDeniedException"}),
        "{}",
        got.log
    );
    if !have("aws", &["--version"]) {
        return;
    }
    let out = aws(
        &n,
        &[
            "logs",
            "get-log-events",
            "--log-group-name",
            "/aws/lambda/writer",
            "--log-stream-name",
            "custom",
        ],
    );
    assert!(out.contains("from the role"), "{out}");
}
