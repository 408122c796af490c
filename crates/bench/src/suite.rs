//! `nuvem-bench run`: every scenario group against nuvem and, where one runs here, its peer,
//! alternately (for each scenario and load, nuvem then the peer), then one report: the ratio
//! table, every row with its percentiles and peak RSS, as Markdown and JSON. A group that fails
//! is reported and the others still run. Must not: build or install anything (`bench/run.sh`
//! does).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::load::{self, Budget, Mode};
use crate::report::{Metric, Report};
use crate::{edge_peers, procs};

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Group {
    Startup,
    Dynamodb,
    S3,
    Lambda,
    Gateway,
    Edge,
    Waf,
    Limits,
    Iam,
    Indexes,
    Streams,
    Sse,
    Capacity,
}

impl Group {
    pub const ALL: [Group; 13] = [
        Group::Startup,
        Group::Dynamodb,
        Group::S3,
        Group::Lambda,
        Group::Gateway,
        Group::Edge,
        Group::Waf,
        Group::Limits,
        Group::Iam,
        Group::Indexes,
        Group::Streams,
        Group::Sse,
        Group::Capacity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Startup => "startup",
            Group::Dynamodb => "dynamodb",
            Group::S3 => "s3",
            Group::Lambda => "lambda",
            Group::Gateway => "gateway",
            Group::Edge => "edge",
            Group::Waf => "waf",
            Group::Limits => "limits",
            Group::Iam => "iam",
            Group::Indexes => "indexes",
            Group::Streams => "streams",
            Group::Sse => "sse",
            Group::Capacity => "capacity",
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The nuvem binary [default: $CARGO_TARGET_DIR/release/nuvem or target/release/nuvem].
    #[arg(long, value_name = "PATH")]
    pub nuvem_bin: Option<PathBuf>,
    /// The echo function (examples/functions/echo) [default: nuvem-fn-echo next to nuvem].
    #[arg(long, value_name = "PATH")]
    pub echo_bin: Option<PathBuf>,
    /// The moto_server executable (`pip install 'moto[server]'`); without it, no DynamoDB/S3 peer.
    #[arg(long, value_name = "PATH", default_value = "moto_server")]
    pub moto_bin: PathBuf,
    /// AWS's Lambda runtime interface emulator, the lambda group's warm-invoke peer [default:
    /// `aws-lambda-rie` on PATH]; without it, nuvem's invokes are measured alone.
    #[arg(long, value_name = "PATH", default_value = "aws-lambda-rie")]
    pub rie_bin: PathBuf,
    /// Measure nuvem alone (no moto, nginx, Varnish, aws-lambda-rie).
    #[arg(long)]
    pub no_peers: bool,
    /// Also measure nuvem on PostgreSQL (`--storage postgres://…`; target `nuvem-pg`) in the
    /// DynamoDB and S3 groups, on a throwaway PostgreSQL this run starts (initdb, pg_ctl).
    #[arg(long)]
    pub postgres: bool,
    /// Also measure this other nuvem build (embedded engine) in the DynamoDB, S3, SSE, capacity and edge groups,
    /// as target `--baseline-label`: a before/after comparison in one run.
    #[arg(long, value_name = "PATH")]
    pub baseline_bin: Option<PathBuf>,
    /// The baseline's target name.
    #[arg(long, value_name = "NAME", default_value = "nuvem-baseline")]
    pub baseline_label: String,
    /// A few requests per scenario: checks that every scenario works, measures nothing.
    #[arg(long)]
    pub smoke: bool,
    /// Only these groups (comma-separated) [default: all].
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Group>,
    /// Seconds per phase (one scenario, load and target), at most.
    #[arg(long, value_name = "S", default_value_t = 3)]
    pub phase_secs: u64,
    /// Rounds of the edge group's phases: every target runs each phase this many times, the
    /// targets' order rotated each round, and the report keeps each target's median round
    /// (one phase against one peer moves ±20 % between runs on a shared 2-core machine).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub rounds: usize,
    /// CPUs (a `taskset -c` list) for the servers; run the bench itself on the others.
    #[arg(long, value_name = "CPUS")]
    pub server_cpus: Option<String>,
    /// Write the Markdown report here, and the JSON next to it (`.json`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// What every group needs.
pub struct Ctx {
    pub nuvem_bin: PathBuf,
    pub echo_bin: PathBuf,
    pub moto_bin: Option<PathBuf>,
    pub nginx_bin: Option<PathBuf>,
    pub varnish_bin: Option<PathBuf>,
    pub rie_bin: Option<PathBuf>,
    pub pin: Option<String>,
    /// The throwaway PostgreSQL for the `nuvem-pg` target (`--postgres`).
    pub postgres: Option<crate::pg::PgServer>,
    /// Another nuvem build and its target name (`--baseline-bin`).
    pub baseline: Option<(PathBuf, String)>,
    pub budget: Budget,
    pub warm_up: u64,
    pub smoke: bool,
    /// See [`Args::rounds`]; 1 in smoke runs.
    pub rounds: usize,
}

/// One target of [`Ctx::measure_rounds`]: its name and the process whose CPU time and
/// memory count.
pub struct RoundTarget {
    pub name: String,
    pub pid: Option<u32>,
}

/// One phase's outcome with the server's CPU µs per request and peak RSS (KiB).
struct Phase {
    stats: load::Stats,
    cpu: Option<f64>,
    peak_kib: Option<u64>,
}

impl Ctx {
    pub fn pin(&self) -> Option<&str> {
        self.pin.as_deref()
    }

    /// A closed-loop load at `c`.
    pub fn closed(&self, c: usize) -> Mode {
        Mode::Closed { concurrency: c }
    }

    /// An open-loop load at `rate`/s (a tenth of it in smoke runs), at most 256 in flight.
    pub fn open(&self, rate: f64) -> Mode {
        Mode::Open {
            rate: if self.smoke { rate / 10.0 } else { rate },
            max_in_flight: 256,
        }
    }

    /// Runs one phase on one target: its stats, the server's CPU time per request (warm-up
    /// included: what a request costs the server, which other load on the machine disturbs
    /// less than throughput) and its peak RSS.
    async fn phase(&self, op: &load::Op, mode: Mode, pid: Option<u32>) -> anyhow::Result<Phase> {
        let reset = pid.is_some_and(procs::reset_peak_rss);
        let cpu_before = pid.and_then(procs::cpu_ticks_tree);
        let stats = load::run(op, mode, self.budget, self.warm_up).await?;
        let requests = stats.ok() + stats.errors + self.warm_up;
        let cpu = cpu_before
            .zip(pid.and_then(procs::cpu_ticks_tree))
            .filter(|_| requests > 0)
            .map(|(a, b)| {
                b.saturating_sub(a) as f64 / procs::TICKS_PER_SEC * 1e6 / requests as f64
            });
        let peak_kib = pid
            .filter(|_| reset)
            .and_then(|p| procs::status_kib(p, "VmHWM:").ok());
        Ok(Phase {
            stats,
            cpu,
            peak_kib,
        })
    }

    /// Runs one phase on every target [`Self::rounds`] times, the targets' order rotated
    /// each round (`make_op(target, round)` gives the load; misses need new paths each
    /// round), and adds one row per target in the order given: its median round by the
    /// metric (ops/s, p99 for open-loop rows, p50 for latency rows), with the median of the rounds' CPU time
    /// per request and the highest peak RSS.
    pub async fn measure_rounds(
        &self,
        report: &mut Report,
        scenario: &str,
        targets: &[RoundTarget],
        make_op: impl Fn(usize, usize) -> load::Op,
        mode: Mode,
        metric: Metric,
    ) {
        let n = targets.len();
        let mut phases: Vec<Vec<Phase>> = (0..n).map(|_| Vec::new()).collect();
        let mut failed = vec![false; n];
        for round in 0..self.rounds {
            for k in 0..n {
                let t = (k + round) % n;
                if failed[t] {
                    continue;
                }
                let target = &targets[t];
                eprintln!(
                    "{scenario} {} → {} (round {}/{})",
                    mode.label(),
                    target.name,
                    round + 1,
                    self.rounds
                );
                match self.phase(&make_op(t, round), mode, target.pid).await {
                    Ok(p) => phases[t].push(p),
                    Err(e) => {
                        failed[t] = true;
                        report.failures.push(format!(
                            "{scenario} {} on {}: {e:#}",
                            mode.label(),
                            target.name
                        ));
                    }
                }
            }
        }
        for (t, mut rounds) in phases.into_iter().enumerate() {
            if failed[t] || rounds.is_empty() {
                continue;
            }
            let mut cpus: Vec<f64> = rounds.iter().filter_map(|p| p.cpu).collect();
            cpus.sort_by(f64::total_cmp);
            let cpu = (!cpus.is_empty()).then(|| cpus[cpus.len() / 2]);
            let peak = rounds.iter().filter_map(|p| p.peak_kib).max();
            // Best first by what the row reports: the lowest p99 (tail rows) or p50
            // (latency rows), else the most ops/s.
            let key = |p: &Phase| match metric {
                Metric::TailLatency => -(p.stats.quantile_us(0.99).unwrap_or(u64::MAX) as f64),
                Metric::Latency => -(p.stats.quantile_us(0.5).unwrap_or(u64::MAX) as f64),
                _ => p.stats.ops_per_sec(),
            };
            rounds.sort_by(|a, b| key(b).total_cmp(&key(a)));
            let median = rounds.swap_remove(rounds.len() / 2);
            report.push(scenario, &targets[t].name, median.stats, metric);
            report.set_peak_rss(peak);
            report.set_cpu_per_op(cpu);
        }
    }

    /// Runs one phase and adds its row; with `pid`, the row gets that process's peak RSS.
    // Each argument is one column of the row; a struct for them would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub async fn measure(
        &self,
        report: &mut Report,
        scenario: &str,
        target: &str,
        op: &load::Op,
        mode: Mode,
        pid: Option<u32>,
        metric: Metric,
    ) {
        eprintln!("{scenario} {} → {target}", mode.label());
        match self.phase(op, mode, pid).await {
            Ok(p) => {
                report.push(scenario, target, p.stats, metric);
                report.set_peak_rss(p.peak_kib);
                report.set_cpu_per_op(p.cpu);
            }
            Err(e) => report
                .failures
                .push(format!("{scenario} {} on {target}: {e:#}", mode.label())),
        }
    }
}

pub async fn run(args: Args, command_line: String) -> anyhow::Result<()> {
    let nuvem_bin = args
        .nuvem_bin
        .clone()
        .unwrap_or_else(procs::default_nuvem_bin);
    let echo_bin = args
        .echo_bin
        .clone()
        .unwrap_or_else(|| nuvem_bin.with_file_name("nuvem-fn-echo"));
    // Absolute, because manifests resolve relative paths against their own folder.
    let (nuvem_bin, echo_bin) = (absolute(nuvem_bin), absolute(echo_bin));
    let peer = |found: Option<PathBuf>| found.filter(|_| !args.no_peers);
    let moto_bin = peer(
        edge_peers::find(&args.moto_bin.to_string_lossy())
            .or_else(|| args.moto_bin.is_file().then(|| args.moto_bin.clone())),
    );
    let ctx = Ctx {
        nuvem_bin,
        echo_bin,
        moto_bin,
        nginx_bin: peer(edge_peers::find("nginx")),
        varnish_bin: peer(edge_peers::find("varnishd")),
        rie_bin: peer(
            edge_peers::find(&args.rie_bin.to_string_lossy()).or_else(|| {
                args.rie_bin
                    .is_file()
                    .then(|| absolute(args.rie_bin.clone()))
            }),
        ),
        pin: args.server_cpus.clone(),
        postgres: match args.postgres {
            true => Some(crate::pg::PgServer::start(args.server_cpus.as_deref())?),
            false => None,
        },
        baseline: args
            .baseline_bin
            .clone()
            .map(|b| (absolute(b), args.baseline_label.clone())),
        budget: if args.smoke {
            Budget {
                ops: 10,
                duration: Duration::from_secs(2),
            }
        } else {
            Budget {
                ops: 10_000_000,
                duration: Duration::from_secs(args.phase_secs.max(1)),
            }
        },
        warm_up: if args.smoke { 2 } else { 50 },
        smoke: args.smoke,
        rounds: if args.smoke { 1 } else { args.rounds.max(1) },
    };
    let groups: Vec<Group> = if args.only.is_empty() {
        Group::ALL.to_vec()
    } else {
        args.only.clone()
    };

    let mut report = Report::default();
    header(&mut report, &ctx, &command_line);
    for g in groups {
        eprintln!("== {}", g.name());
        let outcome = match g {
            Group::Startup => crate::suite_aws::startup(&ctx, &mut report).await,
            Group::Dynamodb => crate::suite_aws::dynamodb(&ctx, &mut report).await,
            Group::S3 => crate::suite_aws::s3(&ctx, &mut report).await,
            Group::Lambda => crate::suite_aws::lambda(&ctx, &mut report).await,
            Group::Gateway => crate::suite_gateway::gateway(&ctx, &mut report).await,
            Group::Edge => crate::suite_web::edge(&ctx, &mut report).await,
            Group::Waf => crate::suite_waf::waf(&ctx, &mut report).await,
            Group::Limits => crate::suite_limits::limits(&ctx, &mut report).await,
            Group::Iam => crate::suite_aws::iam(&ctx, &mut report).await,
            Group::Indexes => crate::suite_aws::indexes(&ctx, &mut report).await,
            Group::Streams => crate::suite_aws::streams(&ctx, &mut report).await,
            Group::Sse => crate::suite_aws::sse(&ctx, &mut report).await,
            Group::Capacity => crate::suite_aws::capacity(&ctx, &mut report).await,
        };
        if let Err(e) = outcome {
            report.failures.push(format!("{}: {e:#}", g.name()));
        }
    }

    let markdown = markdown(&report, args.smoke);
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
        let json = serde_json::to_string_pretty(&report.to_json())?;
        std::fs::write(out.with_extension("json"), json)?;
        eprintln!("wrote {} and its .json", out.display());
    } else {
        print!("{markdown}");
    }
    println!("\n{}", report.ratio_lines());
    for f in &report.failures {
        println!("FAILED: {f}");
    }
    let errors: u64 = report.rows.iter().map(|r| r.stats.errors).sum();
    anyhow::ensure!(
        report.failures.is_empty() && (!args.smoke || errors == 0),
        "{} groups or phases failed, {errors} requests failed (see above)",
        report.failures.len()
    );
    Ok(())
}

fn header(report: &mut Report, ctx: &Ctx, command_line: &str) {
    // The machine's CPUs, not this process's share (the driver pins it to some of them).
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let model = Some(cpuinfo)
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let n = &mut report.notes;
    n.push(format!("command: `{command_line}`"));
    n.push(format!("machine: {cpus} CPUs ({model})"));
    n.push(match &ctx.pin {
        Some(cpus) => format!(
            "servers (nuvem and the functions it starts, moto, nginx, nginx + ModSecurity, Varnish, aws-lambda-rie and the function it starts) pinned to CPUs {cpus} with taskset; the load generator and the in-process origin run on the others"
        ),
        None => "nothing pinned: load generator and servers share every CPU".into(),
    });
    let found = |b: &Option<PathBuf>| {
        b.as_ref()
            .map_or("not found".into(), |p| p.display().to_string())
    };
    if let Some(pg) = &ctx.postgres {
        n.push(format!(
            "nuvem-pg: the same nuvem with `--storage postgres://…` (a fresh database per server) on a throwaway {}, pinned with the servers",
            pg.describe()
        ));
    }
    if let Some((bin, label)) = &ctx.baseline {
        n.push(format!("{label}: {}", bin.display()));
    }
    n.push(format!(
        "peers: moto {}, nginx {}, varnishd {}, aws-lambda-rie {}",
        found(&ctx.moto_bin),
        found(&ctx.nginx_bin),
        found(&ctx.varnish_bin),
        found(&ctx.rie_bin)
    ));
    n.push(format!(
        "each phase: {} s or {} requests, whichever first, after {} untimed requests; latencies in HDR histograms (1 µs … 10 min, 3 significant digits); open-loop latencies count from the scheduled start",
        ctx.budget.duration.as_secs(),
        ctx.budget.ops,
        ctx.warm_up
    ));
}

fn markdown(report: &Report, smoke: bool) -> String {
    let mut out = String::from("# nuvem benchmark\n\n");
    if smoke {
        out.push_str("**Smoke run**: a few requests per scenario; the numbers mean nothing.\n\n");
    }
    for n in &report.notes {
        let _ = writeln!(out, "- {n}");
    }
    out.push_str("\n## Ratios (above 1x: nuvem is better)\n\n");
    out.push_str(&report.ratio_table(|scenario| {
        let group = scenario.split(['.', ' ']).next().unwrap_or(scenario);
        format!("bench/run.sh --only {group}")
    }));
    if !report.round_trips.is_empty() {
        out.push_str(
            "\n## Database round trips per request (nuvem-pg)\n\nThe storage engine's `round_trips` counter (statement batches sent and awaited) over the phase and its warm-up, divided by the requests.\n\n| scenario | load | round trips per request |\n|---|---|---:|\n",
        );
        for (scenario, load, per) in &report.round_trips {
            let _ = writeln!(out, "| {scenario} | {load} | {per} |");
        }
    }
    out.push_str("\n## Every phase\n\n");
    out.push_str(&report.full_table());
    if !report.failures.is_empty() {
        out.push_str("\n## Failures\n\n");
        for f in &report.failures {
            let _ = writeln!(out, "- {f}");
        }
    }
    out
}

fn absolute(p: PathBuf) -> PathBuf {
    std::fs::canonicalize(&p).unwrap_or(p)
}
