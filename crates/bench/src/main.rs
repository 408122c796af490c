//! `nuvem-bench`: measures nuvem side by side with moto_server through the real AWS SDK.
//!
//! `nuvem-bench dynamo [--moto]` starts `nuvem up` (and `moto_server`) on 127.0.0.1, runs
//! DynamoDB PutItem and GetItem at concurrency 1 and 64 against each, and prints a Markdown
//! table of throughput and latency percentiles with nuvem÷moto ratios. See README.md.

mod dynamo;
mod functions;
mod procs;
mod s3;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use dynamo::{Budget, Op, Phase, Workload};

#[derive(Parser)]
#[command(
    name = "nuvem-bench",
    about = "Benchmarks nuvem side by side with moto_server."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// DynamoDB PutItem and GetItem at concurrency 1 and 64.
    Dynamo(DynamoArgs),
    /// S3 PutObject and GetObject of 4 KiB and 8 MiB at concurrency 1 and 16, and nuvem's
    /// peak RSS under 16 concurrent 1 GiB uploads.
    S3(s3::Args),
    /// Lambda cold starts and warm invokes (concurrency 1 and 16) of a Rust and a Python
    /// function through aws-sdk-lambda.
    Functions(functions::Args),
}

#[derive(clap::Args)]
struct DynamoArgs {
    /// The nuvem binary [default: $CARGO_TARGET_DIR/release/nuvem or target/release/nuvem].
    #[arg(long, value_name = "PATH")]
    nuvem_bin: Option<PathBuf>,
    /// Also run against moto_server (`pip install 'moto[server]'`).
    #[arg(long)]
    moto: bool,
    /// The moto_server executable.
    #[arg(long, value_name = "PATH", default_value = "moto_server")]
    moto_bin: PathBuf,
    /// Operations per phase (one op at one concurrency on one target), at most.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    ops: u64,
    /// Seconds per phase, at most; whichever of --ops and this comes first ends the phase.
    #[arg(long, value_name = "S", default_value_t = 10)]
    duration_secs: u64,
}

/// The concurrencies measured (tokio tasks sharing one client).
const CONCURRENCY: [usize; 2] = [1, 64];
/// Untimed put+get pairs before the first phase of each target.
const WARM_UP: u64 = 100;

/// One server and what the run against it produced.
struct Target {
    name: &'static str,
    url: String,
    outcome: anyhow::Result<Vec<Phase>>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Cmd::Dynamo(args) => runtime.block_on(dynamo_bench(args)),
        Cmd::Functions(args) => {
            let command_line = std::env::args().map(quote).collect::<Vec<_>>().join(" ");
            runtime.block_on(functions::run(args, command_line))
        }
        Cmd::S3(args) => {
            let command_line = std::env::args().map(quote).collect::<Vec<_>>().join(" ");
            runtime.block_on(s3::run(args, command_line))
        }
    }
}

async fn dynamo_bench(args: DynamoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.ops > 0 && args.duration_secs > 0,
        "--ops and --duration-secs must be positive"
    );
    let budget = Budget {
        ops: args.ops,
        duration: Duration::from_secs(args.duration_secs),
    };
    let command_line = std::env::args().map(quote).collect::<Vec<_>>().join(" ");

    // Both servers are up before anything is measured; dropping them kills them, also on
    // the error paths below.
    let nuvem_bin = args.nuvem_bin.unwrap_or_else(procs::default_nuvem_bin);
    eprintln!("starting {}", nuvem_bin.display());
    let nuvem = procs::Nuvem::start(&nuvem_bin)?;
    let moto = if args.moto {
        eprintln!("starting {}", args.moto_bin.display());
        Some(procs::Moto::start(&args.moto_bin)?)
    } else {
        None
    };

    let commands: Vec<String> = std::iter::once(nuvem.command.clone())
        .chain(moto.as_ref().map(|m| m.command.clone()))
        .collect();
    let mut targets = vec![Target {
        name: "nuvem",
        url: nuvem.url.clone(),
        outcome: run_target("nuvem", &nuvem.url, budget).await,
    }];
    if let Some(m) = &moto {
        targets.push(Target {
            name: "moto",
            url: m.url.clone(),
            outcome: run_target("moto", &m.url, budget).await,
        });
    }
    drop(moto);
    drop(nuvem);

    let mut out = String::new();
    let _ = writeln!(out, "command: `{command_line}`\n");
    for (t, cmd) in targets.iter().zip(&commands) {
        let _ = writeln!(out, "- {}: `{cmd}` → {}", t.name, t.url);
    }
    let _ = writeln!(
        out,
        "- each phase: {} ops or {} s, whichever first; {WARM_UP} untimed put+get pairs first; \
         {} CPUs available to client and servers together\n",
        budget.ops,
        budget.duration.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    out.push_str(&table(&targets));
    let mut failed = false;
    for t in &targets {
        match &t.outcome {
            Err(e) => {
                failed = true;
                let _ = writeln!(out, "\n{} failed: {e:#}", t.name);
            }
            Ok(phases) => {
                for p in phases.iter().filter(|p| p.errors > 0) {
                    let _ = writeln!(
                        out,
                        "\n{} {} c={}: {} errors; first: {}",
                        t.name,
                        p.op.name(),
                        p.concurrency,
                        p.errors,
                        p.first_error.as_deref().unwrap_or("?"),
                    );
                }
            }
        }
    }
    print!("{out}");
    anyhow::ensure!(!failed, "a target failed (see above)");
    Ok(())
}

async fn run_target(name: &str, url: &str, budget: Budget) -> anyhow::Result<Vec<Phase>> {
    let client = dynamo::client(url);
    dynamo::create_table(&client).await?;
    let mut w = Workload::new(client);
    w.warm_up(WARM_UP).await.context("warm-up")?;
    let mut phases = Vec::new();
    for c in CONCURRENCY {
        for op in Op::ALL {
            eprintln!("{name}: {} at concurrency {c}", op.name());
            let p = w.phase(op, c, budget).await?;
            eprintln!(
                "  {} ops in {:.1} s, {} errors",
                p.latencies_us.len(),
                p.elapsed.as_secs_f64(),
                p.errors
            );
            phases.push(p);
        }
    }
    Ok(phases)
}

/// The Markdown table: per op and concurrency a row per target, then the nuvem÷moto ratios.
fn table(targets: &[Target]) -> String {
    let mut out = String::new();
    out.push_str("| target | op | concurrency | ops | errors | ops/s | p50 µs | p99 µs |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for op in Op::ALL {
        for c in CONCURRENCY {
            for t in targets {
                let Some(p) = find(t, op, c) else {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {c} | – | – | failed | – | – |",
                        t.name,
                        op.name()
                    );
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {c} | {} | {} | {:.0} | {} | {} |",
                    t.name,
                    op.name(),
                    p.latencies_us.len(),
                    p.errors,
                    p.ops_per_sec(),
                    opt(p.percentile_us(50.0)),
                    opt(p.percentile_us(99.0)),
                );
            }
            if let [n, m] = targets
                && let (Some(n), Some(m)) = (find(n, op, c), find(m, op, c))
            {
                let ratio = |a: Option<u64>, b: Option<u64>| match (a, b) {
                    (Some(a), Some(b)) if b > 0 => format!("{:.2}×", a as f64 / b as f64),
                    _ => "–".into(),
                };
                let ops = if m.ops_per_sec() > 0.0 {
                    format!("**{:.1}×**", n.ops_per_sec() / m.ops_per_sec())
                } else {
                    "–".into()
                };
                let _ = writeln!(
                    out,
                    "| nuvem÷moto | {} | {c} | | | {ops} | {} | {} |",
                    op.name(),
                    ratio(n.percentile_us(50.0), m.percentile_us(50.0)),
                    ratio(n.percentile_us(99.0), m.percentile_us(99.0)),
                );
            }
        }
    }
    out
}

/// The phase of `op` at concurrency `c` of a target that did not fail.
fn find(t: &Target, op: Op, c: usize) -> Option<&Phase> {
    t.outcome
        .as_ref()
        .ok()?
        .iter()
        .find(|p| p.op == op && p.concurrency == c)
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

/// An argument as a POSIX shell would need it typed.
fn quote(arg: String) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        arg
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}
