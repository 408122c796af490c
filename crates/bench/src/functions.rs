//! The functions workload: through one aws-sdk-lambda client (retries off), for the Rust
//! `provided` echo function (examples/functions/echo, built with `lambda_runtime`) and a
//! one-line Python handler, both registered in place with the `hot-reload` code location:
//!
//! - **cold start**: invoke → response on a new environment. Before each timed invoke an
//!   untimed UpdateFunctionConfiguration changes an environment variable, which retires the
//!   warm environment, so the invoke starts a fresh process (checked: the environment id it
//!   answers, random per process, must be new, else the sample counts as an error; a pid
//!   would not do: in a PID namespace every environment's runtime has the same one);
//! - **warm invoke**: invoke → response on warm environments, at concurrency 1 and 16 (16
//!   environments are warmed first, so no cold start is in the timed phase).
//!
//! Also measures what the Python target is compared with: `python3 -c pass`, the
//! interpreter's own start-up, spawned and waited for.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};

use crate::dynamo::Budget;
use crate::procs;

#[derive(clap::Args)]
pub struct Args {
    /// The nuvem binary [default: $CARGO_TARGET_DIR/release/nuvem or target/release/nuvem].
    #[arg(long, value_name = "PATH")]
    nuvem_bin: Option<PathBuf>,
    /// The echo function (examples/functions/echo) [default: nuvem-fn-echo next to nuvem].
    #[arg(long, value_name = "PATH")]
    echo_bin: Option<PathBuf>,
    /// Cold starts measured per function.
    #[arg(long, value_name = "N", default_value_t = 50)]
    cold: u64,
    /// Warm invokes per phase, at most.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    ops: u64,
    /// Seconds per warm phase, at most.
    #[arg(long, value_name = "S", default_value_t = 5)]
    duration_secs: u64,
}

/// The warm-invoke concurrencies.
const CONCURRENCY: [usize; 2] = [1, 16];

/// Runs the whole workload and prints the Markdown report.
pub async fn run(args: Args, command_line: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.ops > 0 && args.duration_secs > 0 && args.cold > 0,
        "--cold, --ops and --duration-secs must be positive"
    );
    let budget = Budget {
        ops: args.ops,
        duration: Duration::from_secs(args.duration_secs),
    };
    let nuvem_bin = args.nuvem_bin.unwrap_or_else(procs::default_nuvem_bin);
    let echo_bin = args
        .echo_bin
        .unwrap_or_else(|| nuvem_bin.with_file_name("nuvem-fn-echo"));
    eprintln!("starting {}", nuvem_bin.display());
    let nuvem = procs::Nuvem::start(&nuvem_bin)?;
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let client = client(&nuvem.url);
    create_functions(&client, &echo_bin, dir.path()).await?;
    let mut all = vec![python_startup("python3".into(), args.cold)?];
    if let Some(real) = python_executable() {
        all.push(python_startup(real, args.cold)?);
    }
    for subject in Subject::ALL {
        eprintln!("{}: {} cold starts", subject.name(), args.cold);
        all.push(cold_starts(&client, subject, args.cold).await?);
        for c in CONCURRENCY {
            eprintln!("{}: warm invokes at concurrency {c}", subject.name());
            all.push(warm(&client, subject, c, budget).await?);
        }
    }
    let nuvem_command = nuvem.command.clone();
    drop(nuvem);

    let mut out = String::new();
    let _ = writeln!(out, "command: `{command_line}`\n");
    let _ = writeln!(out, "- nuvem: `{nuvem_command}`");
    let _ = writeln!(
        out,
        "- functions: {} (`provided.al2023`, lambda_runtime) and a one-line Python handler \
         (`python3.12` runtime on {}); {} cold starts each; warm phases: {} invokes or {} s, \
         whichever first; {} CPUs for client, nuvem and functions together\n",
        echo_bin.display(),
        python_version(),
        args.cold,
        budget.ops,
        budget.duration.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    out.push_str(
        "| function | measurement | concurrency | n | errors | invokes/s | p50 µs | p99 µs |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for s in &all {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} |",
            s.subject,
            s.what,
            s.concurrency,
            s.latencies_us.len(),
            s.errors,
            s.ops_per_sec(),
            opt(s.percentile_us(50.0)),
            opt(s.percentile_us(99.0)),
        );
    }
    for s in all.iter().filter(|s| s.errors > 0) {
        let _ = writeln!(
            out,
            "\n{} {} c={}: {} errors; first: {}",
            s.subject,
            s.what,
            s.concurrency,
            s.errors,
            s.first_error.as_deref().unwrap_or("?")
        );
    }
    print!("{out}");
    Ok(())
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

fn python_version() -> String {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "python3 ?".into())
}

/// The Python function: answers with its process's random id (to tell cold from warm).
pub const PYTHON_HANDLER: &str = "import os\n\nENVIRONMENT = os.urandom(8).hex()\n\ndef handler(event, context):\n    return {\"pid\": os.getpid(), \"environment\": ENVIRONMENT}\n";

/// A function under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Rust,
    Python,
}

impl Subject {
    pub const ALL: [Subject; 2] = [Subject::Rust, Subject::Python];

    pub fn name(self) -> &'static str {
        match self {
            Subject::Rust => "rust-echo",
            Subject::Python => "python",
        }
    }

    /// Whether `body` is this function's answer: JSON naming the environment that ran it.
    pub fn answered(self, body: &[u8]) -> bool {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("environment").map(serde_json::Value::is_string))
            .unwrap_or(false)
    }
}

/// One measured series: latencies (µs, sorted) and how fast they came.
pub struct Series {
    pub subject: &'static str,
    pub what: &'static str,
    /// Who ran it: "nuvem", or the peer ("aws-lambda-rie").
    pub target: &'static str,
    pub concurrency: usize,
    pub latencies_us: Vec<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Series {
    pub fn ops_per_sec(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nearest-rank percentile `p` (0..=100).
    pub fn percentile_us(&self, p: f64) -> Option<u64> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies_us.get(rank.clamp(1, n) - 1).copied()
    }
}

/// An SDK client with test/test credentials and no retries (one latency = one request).
pub fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "nuvem-bench"))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

/// Registers both functions in place (`S3Bucket=hot-reload`, `S3Key=<local path>`); the
/// Python handler is written into `dir`.
pub async fn create_functions(client: &Client, echo_bin: &Path, dir: &Path) -> anyhow::Result<()> {
    if !echo_bin.is_file() {
        bail!(
            "no echo function at {} (build it with `cargo build --release -p nuvem-fn-echo`, or pass --echo-bin)",
            echo_bin.display()
        );
    }
    let py = dir.join("python-fn");
    std::fs::create_dir_all(&py).context("creating the Python function's folder")?;
    std::fs::write(py.join("app.py"), PYTHON_HANDLER).context("writing app.py")?;
    for (subject, runtime, handler, path) in [
        (
            Subject::Rust,
            Runtime::Providedal2023,
            "bootstrap",
            echo_bin.to_path_buf(),
        ),
        (Subject::Python, Runtime::Python312, "app.handler", py),
    ] {
        client
            .create_function()
            .function_name(subject.name())
            .runtime(runtime)
            .handler(handler)
            .role("arn:aws:iam::000000000000:role/bench")
            .timeout(30)
            .code(
                FunctionCode::builder()
                    .s3_bucket("hot-reload")
                    .s3_key(path.to_string_lossy())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("CreateFunction: {}", DisplayErrorContext(&e)))?;
    }
    Ok(())
}

/// One synchronous invoke; the environment id the function answered with.
async fn invoke(client: &Client, subject: Subject) -> anyhow::Result<String> {
    let out = client
        .invoke()
        .function_name(subject.name())
        .payload(Blob::new("{}"))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("Invoke: {}", DisplayErrorContext(&e)))?;
    if let Some(err) = out.function_error() {
        let body = out
            .payload()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned());
        bail!("function error {err}: {body:?}");
    }
    let body: serde_json::Value = out
        .payload()
        .map(|p| serde_json::from_slice(p.as_ref()))
        .transpose()
        .context("the function's answer is not JSON")?
        .unwrap_or_default();
    body.get("environment")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no environment id in the answer {body}"))
}

/// `samples` cold starts of `subject`.
pub async fn cold_starts(
    client: &Client,
    subject: Subject,
    samples: u64,
) -> anyhow::Result<Series> {
    let mut seen = HashSet::new();
    let mut series = Series {
        subject: subject.name(),
        what: "cold start",
        target: "nuvem",
        concurrency: 1,
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for i in 0..samples {
        client
            .update_function_configuration()
            .function_name(subject.name())
            .environment(
                Environment::builder()
                    .variables("BENCH_GENERATION", i.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("UpdateFunctionConfiguration: {}", DisplayErrorContext(&e))
            })?;
        let began = Instant::now();
        let result = invoke(client, subject).await;
        let took = began.elapsed();
        series.elapsed += took;
        match result {
            Ok(id) if seen.insert(id.clone()) => series.latencies_us.push(took.as_micros() as u64),
            Ok(id) => {
                series.errors += 1;
                series.first_error.get_or_insert_with(|| {
                    format!("environment {id} answered twice: not a cold start")
                });
            }
            Err(e) => {
                series.errors += 1;
                series.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    series.latencies_us.sort_unstable();
    Ok(series)
}

/// Warm invokes at `concurrency` for `budget`, after warming `concurrency` environments.
pub async fn warm(
    client: &Client,
    subject: Subject,
    concurrency: usize,
    budget: Budget,
) -> anyhow::Result<Series> {
    // Warm-up: `concurrency` invokes at once start that many environments, then a few rounds
    // let connections and environments settle.
    for _ in 0..3 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let c = client.clone();
            set.spawn(async move { invoke(&c, subject).await });
        }
        while let Some(r) = set.join_next().await {
            r.context("a warm-up task panicked")?.context("warm-up")?;
        }
    }
    let tickets = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + budget.duration;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let c = client.clone();
        let tickets = tickets.clone();
        set.spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            while Instant::now() < deadline && tickets.fetch_add(1, Ordering::Relaxed) < budget.ops
            {
                let began = Instant::now();
                match invoke(&c, subject).await {
                    Ok(_) => latencies.push(began.elapsed().as_micros() as u64),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (latencies, errors, first_error)
        });
    }
    let mut series = Series {
        subject: subject.name(),
        what: "warm invoke",
        target: "nuvem",
        concurrency,
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    while let Some(joined) = set.join_next().await {
        let (l, e, f) = joined.context("a benchmark task panicked")?;
        series.latencies_us.extend(l);
        series.errors += e;
        if series.first_error.is_none() {
            series.first_error = f;
        }
    }
    series.elapsed = start.elapsed();
    series.latencies_us.sort_unstable();
    Ok(series)
}

/// `sys.executable` of the `python3` on `PATH` (what nuvem runs), when it differs from it.
fn python_executable() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}

/// `<python> -c pass`, `samples` times: the interpreter's own start-up.
pub fn python_startup(python: PathBuf, samples: u64) -> anyhow::Result<Series> {
    let mut series = Series {
        subject: if python == Path::new("python3") {
            "python3 -c pass (PATH)"
        } else {
            "sys.executable -c pass"
        },
        what: "interpreter start-up",
        target: "python3",
        concurrency: 1,
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for _ in 0..samples {
        let began = Instant::now();
        let status = std::process::Command::new(&python)
            .args(["-c", "pass"])
            .status()
            .context("running python3")?;
        let took = began.elapsed();
        series.elapsed += took;
        if status.success() {
            series.latencies_us.push(took.as_micros() as u64);
        } else {
            series.errors += 1;
        }
    }
    series.latencies_us.sort_unstable();
    Ok(series)
}
