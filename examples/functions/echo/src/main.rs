//! A Lambda function written the way users write them, with the `lambda_runtime` crate: nuvem's
//! tests and benchmarks run it as a `provided` runtime `bootstrap` through the Runtime API.
//!
//! The event decides what it does, so one function covers every behaviour the tests need:
//! `{"fail": "msg"}` returns an error, `{"sleep_ms": 200}` sleeps first, `{"log": "line"}`
//! prints a log line, `{"env": ["NAME"]}` answers with those environment variables,
//! `{"append": "/path"}` appends a byte to a file (to count runs), `{"exit": 3}` crashes the process, `{"alloc_mb": 300}` touches that much memory; anything
//! else is echoed back as `{"echo": event, "request_id": ..., "environment": ...}`, where
//! `environment` is a random id of this process (a process id says nothing in a PID
//! namespace, where every environment's runtime has the same one). Must not: be used as a
//! library.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if let Some(line) = payload.get("log").and_then(Value::as_str) {
        println!("{line}");
    }
    if let Some(path) = payload.get("append").and_then(Value::as_str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(b"x")?;
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(message.into());
    }
    if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }
    if let Some(mb) = payload.get("alloc_mb").and_then(Value::as_u64) {
        let size = usize::try_from(mb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20);
        let mut block: Vec<u8> = Vec::new();
        if block.try_reserve_exact(size).is_err() {
            // What a real allocation failure does to a Rust program: abort.
            std::process::abort();
        }
        block.resize(size, 1);
        return Ok(
            json!({"allocated_mb": mb, "sum": block.iter().map(|&b| u64::from(b)).sum::<u64>()}),
        );
    }
    if let Some(names) = payload.get("env").and_then(Value::as_array) {
        let vars: serde_json::Map<String, Value> = names
            .iter()
            .filter_map(Value::as_str)
            .map(|n| {
                (
                    n.to_string(),
                    std::env::var(n).map_or(Value::Null, Value::String),
                )
            })
            .collect();
        return Ok(Value::Object(vars));
    }
    Ok(json!({
        "echo": payload,
        "request_id": context.request_id,
        "function_arn": context.invoked_function_arn,
        "deadline": context.deadline,
        "pid": std::process::id(),
        "environment": environment(),
    }))
}

/// This process's random id (std's hasher keys are random per process).
fn environment() -> String {
    use std::hash::BuildHasher;
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        format!(
            "{:016x}",
            std::collections::hash_map::RandomState::new().hash_one(std::process::id())
        )
    })
    .clone()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
