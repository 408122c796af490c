//! `nuvem-bench`: the benchmark harness. `nuvem-bench run` measures every service of nuvem
//! side by side with a peer that runs on the same machine (moto_server for DynamoDB and S3,
//! nginx and Varnish for the edge), writes the report (Markdown + JSON) and prints the ratio
//! rows; `bench/run.sh` builds, installs the peers and calls it. `nuvem-bench functions` is
//! the detailed Lambda report. See README.md. Must not: run under `cargo test` (it is a
//! program you run by hand or from the driver).

mod capacity;
mod dynamo;
mod edge_cpu;
mod edge_peers;
mod functions;
mod iam;
mod indexes;
mod lean;
mod load;
mod pg;
mod procs;
mod report;
mod s3;
mod streams;
mod suite;
mod suite_aws;
mod suite_gateway;
mod suite_limits;
mod suite_waf;
mod suite_web;
mod web;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nuvem-bench",
    about = "Benchmarks nuvem side by side with moto_server, nginx and Varnish."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every scenario (or --only some groups) against nuvem and its peers; the report.
    Run(suite::Args),
    /// Lambda cold starts and warm invokes (concurrency 1 and 16) of a Rust and a Python
    /// function through aws-sdk-lambda.
    Functions(functions::Args),
    /// Server CPU time per edge request (hits and misses, 1 KiB and 100 KiB) of nuvem builds
    /// and nginx, interleaved over several rounds.
    EdgeCpu(edge_cpu::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let command_line = std::env::args().map(quote).collect::<Vec<_>>().join(" ");
    match cli.command {
        Cmd::Run(args) => runtime.block_on(suite::run(args, command_line)),
        Cmd::Functions(args) => runtime.block_on(functions::run(args, command_line)),
        Cmd::EdgeCpu(args) => runtime.block_on(edge_cpu::run(args, command_line)),
    }
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
