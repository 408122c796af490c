//! Running one invocation in an environment, Lambda's way: cold start with an init timeout,
//! the event through the Runtime API, the per-invocation timeout, crash detection, the
//! START/END/REPORT log lines, and the last 4 KB of log for `X-Amz-Log-Type: Tail`.
//!
//! Error payloads are the ones Lambda returns with `X-Amz-Function-Error: Unhandled`
//! (https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html,
//! https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html):
//! `Sandbox.Timedout` "Task timed out after N.NN seconds", `Runtime.ExitError` "Runtime exited
//! with error: exit status 1", and the runtime's own error JSON for handler and init errors.
//! Must not: choose environments (see [`crate::pool`]) or parse HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::json;

use crate::environment::Environment;
use crate::error::Result;
use crate::pool::Lease;
use crate::runtime_api::{Event, Outcome, Phase};

/// What an invocation carries into the function.
#[derive(Debug, Clone)]
pub struct Call {
    pub request_id: String,
    pub payload: Bytes,
    pub function_arn: String,
    /// Decoded `X-Amz-Client-Context` JSON.
    pub client_context: Option<String>,
}

/// How an invocation ended, as the Invoke API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub payload: Bytes,
    /// `Some("Unhandled")` for every function error (`X-Amz-Function-Error`).
    pub function_error: Option<String>,
    /// The invocation's log (what Tail's last 4 KB come from).
    pub log: Vec<u8>,
    /// It started a new environment.
    pub cold: bool,
    /// The time the function spent on the event (the REPORT line's `Duration`).
    pub duration: Duration,
}

impl Completed {
    /// The last 4 KB of the log, base64, for `X-Amz-Log-Result`.
    pub fn log_tail(&self) -> String {
        let start = self.log.len().saturating_sub(4096);
        base64::engine::general_purpose::STANDARD.encode(self.log.get(start..).unwrap_or_default())
    }
}

/// The limits an invocation runs under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub init_timeout: Duration,
}

enum Failure {
    Timeout,
    Exited(String),
    Init(Bytes),
    Abandoned,
}

fn error_json(error_type: &str, message: String) -> Bytes {
    Bytes::from(json!({"errorType": error_type, "errorMessage": message}).to_string())
}

/// Runs `call` on the lease's environment (starting one when the lease has none).
pub async fn run(mut lease: Lease, call: Call, limits: Limits) -> Result<Completed> {
    let pool = lease.pool.clone();
    let started = Instant::now();
    let (env, init) = match lease.env.take() {
        Some(env) => (env, false),
        None => {
            let env = Environment::start(
                &pool.launch,
                pool.record.revision_id.clone(),
                pool.sink.clone(),
                pool.groups.clone(),
            )
            .await
                .map_err(|e| {
                    tracing::warn!(error = %e, function = %pool.record.name, "lambda: cannot start the runtime");
                    e
                });
            match env {
                Ok(env) => (Arc::new(env), true),
                Err(e) => {
                    // A missing or non-executable bootstrap is the function's problem, and
                    // Lambda reports it as a function error, not an API error.
                    let payload = error_json(
                        "Runtime.InvalidEntrypoint",
                        format!(
                            "RequestId: {} Error: fork/exec {}: {e}",
                            call.request_id,
                            pool.launch.program.display()
                        ),
                    );
                    return Ok(Completed {
                        payload,
                        function_error: Some("Unhandled".into()),
                        log: Vec::new(),
                        cold: true,
                        duration: Duration::ZERO,
                    });
                }
            }
        }
    };
    env.touch();
    let mut init_duration = None;
    let mut failure = None;
    if init {
        match wait_ready(&env, limits.init_timeout).await {
            Ok(()) => init_duration = Some(started.elapsed()),
            Err(f) => failure = Some(f),
        }
    }
    let id = call.request_id.clone();
    env.logs.write(
        format!(
            "START RequestId: {id} Version: {}\n",
            pool.record.version_label()
        )
        .as_bytes(),
    );
    let invoke_start = Instant::now();
    let outcome = match failure {
        Some(f) => Err(f),
        None => dispatch(&env, call, limits.timeout).await,
    };
    let duration = invoke_start.elapsed();
    let timed_out = matches!(outcome, Err(Failure::Timeout));
    let (payload, function_error, keep) = match outcome {
        Ok(Outcome::Response(p)) => (p, None, true),
        Ok(Outcome::Error(p)) => (p, Some("Unhandled".to_string()), true),
        Err(Failure::Timeout) => (
            error_json(
                "Sandbox.Timedout",
                format!(
                    "RequestId: {id} Error: Task timed out after {:.2} seconds",
                    limits.timeout.as_secs_f64()
                ),
            ),
            Some("Unhandled".into()),
            false,
        ),
        Err(Failure::Exited(reason)) => (
            error_json(
                "Runtime.ExitError",
                format!("RequestId: {id} Error: Runtime exited with error: {reason}"),
            ),
            Some("Unhandled".into()),
            false,
        ),
        Err(Failure::Init(body)) => (body, Some("Unhandled".into()), false),
        Err(Failure::Abandoned) => (
            error_json(
                "Runtime.ExitError",
                format!("RequestId: {id} Error: Runtime exited without providing a reason"),
            ),
            Some("Unhandled".into()),
            false,
        ),
    };
    if !keep {
        env.kill();
    }
    env.logs.drain();
    let memory = env.max_memory_mb();
    let ms = duration.as_secs_f64() * 1000.0;
    let mut report = format!(
        "END RequestId: {id}\nREPORT RequestId: {id}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {memory} MB\t",
        ms.ceil().max(1.0) as u64,
        pool.record.memory_size,
    );
    if let Some(init) = init_duration {
        report.push_str(&format!(
            "Init Duration: {:.2} ms\t",
            init.as_secs_f64() * 1000.0
        ));
    }
    if !keep {
        report.push_str(if timed_out {
            "Status: timeout"
        } else {
            "Status: error"
        });
    }
    report.push('\n');
    env.logs.write(report.as_bytes());
    let log = env.logs.take();
    if keep {
        pool.release(env);
    }
    drop(lease);
    Ok(Completed {
        payload,
        function_error,
        log,
        cold: init,
        duration,
    })
}

/// Starts one environment for `pool` and waits for its runtime to initialise, then leaves it
/// idle in the pool (provisioned concurrency).
pub fn prewarm(
    pool: &Arc<crate::pool::Pool>,
    limits: Limits,
) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
    let pool = pool.clone();
    async move {
        // What the function sees of how it was started, as on Lambda.
        let mut launch = pool.launch.clone();
        for (k, v) in &mut launch.env {
            if k == "AWS_LAMBDA_INITIALIZATION_TYPE" {
                *v = "provisioned-concurrency".into();
            }
        }
        let env = Environment::start(
            &launch,
            pool.record.revision_id.clone(),
            pool.sink.clone(),
            pool.groups.clone(),
        )
        .await?;
        match wait_ready(&env, limits.init_timeout).await {
            Ok(()) => {
                pool.release(Arc::new(env));
                Ok(())
            }
            Err(f) => Err(crate::Error::InvalidParameter(format!(
                "the runtime did not initialise: {}",
                match f {
                    Failure::Timeout => "init timed out".to_owned(),
                    Failure::Exited(why) => why,
                    Failure::Init(body) => String::from_utf8_lossy(&body).into_owned(),
                    Failure::Abandoned => "abandoned".to_owned(),
                }
            ))),
        }
    }
}

async fn wait_ready(env: &Environment, init_timeout: Duration) -> Result<(), Failure> {
    let mut phase = env.api.phase.clone();
    let mut exit = env.exit.clone();
    let deadline = tokio::time::Instant::now() + init_timeout;
    loop {
        match &*phase.borrow_and_update() {
            Phase::Ready => return Ok(()),
            Phase::InitFailed(body) => return Err(Failure::Init(body.clone())),
            Phase::Starting => {}
        }
        if let Some(reason) = exit.borrow_and_update().clone() {
            return Err(Failure::Exited(reason));
        }
        tokio::select! {
            r = phase.changed() => if r.is_err() { return Err(Failure::Abandoned) },
            r = exit.changed() => if r.is_err() { return Err(Failure::Abandoned) },
            _ = tokio::time::sleep_until(deadline) => return Err(Failure::Timeout),
        }
    }
}

async fn dispatch(env: &Environment, call: Call, timeout: Duration) -> Result<Outcome, Failure> {
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let deadline_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d + timeout).as_millis())
        .unwrap_or_default();
    let event = Event {
        trace_id: trace_id(),
        request_id: call.request_id,
        payload: call.payload,
        deadline_ms,
        function_arn: call.function_arn,
        client_context: call.client_context,
        cognito_identity: None,
        done: done_tx,
    };
    if env.api.events.send(event).await.is_err() {
        return Err(Failure::Abandoned);
    }
    let mut exit = env.exit.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(reason) = exit.borrow_and_update().clone() {
            // The process may have answered just before exiting.
            return match done_rx.try_recv() {
                Ok(o) => Ok(o),
                Err(_) => Err(Failure::Exited(reason)),
            };
        }
        tokio::select! {
            biased;
            outcome = &mut done_rx => return outcome.map_err(|_| Failure::Abandoned),
            r = exit.changed() => if r.is_err() { return Err(Failure::Abandoned) },
            _ = tokio::time::sleep_until(deadline) => return Err(Failure::Timeout),
        }
    }
}

/// An X-Ray trace header of the shape Lambda passes (`Root=1-<time>-<id>;Parent=..;Sampled=0`).
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let root = id.get(..24).unwrap_or_default();
    let parent = id.get(16..).unwrap_or_default();
    format!("Root=1-{secs:08x}-{root};Parent={parent};Sampled=0")
}
