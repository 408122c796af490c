//! `nuvem-bench edge-cpu`: what one edge request costs the server, in CPU time, for one or
//! more nuvem builds and nginx side by side: cache hits and misses of a 1 KiB and a 100 KiB
//! object, several rounds, the targets' order rotated each round. Every phase reads the
//! server's user + system time (its whole process tree, so nginx's worker counts) from
//! `/proc` before and after and divides by the requests answered: on a machine shared with
//! other work this moves far less than requests per second do. Must not: decide anything
//! from throughput.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::load::{self, Budget, Mode};
use crate::{edge_peers, lean, procs, web};

#[derive(clap::Args)]
pub struct Args {
    /// A nuvem build to measure, as `LABEL=PATH` (or a path, labelled `nuvem`); repeat it to
    /// compare builds.
    #[arg(long = "nuvem", value_name = "LABEL=PATH", required = true)]
    pub nuvem: Vec<String>,
    /// Leave nginx out.
    #[arg(long)]
    pub no_nginx: bool,
    /// Run nuvem with its default WebACL (every managed rule group) instead of without a WAF.
    #[arg(long)]
    pub waf: bool,
    /// Scenarios, comma-separated: hit1k, hit100k, miss1k, miss100k.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "hit1k,hit100k,miss1k,miss100k"
    )]
    pub scenarios: Vec<String>,
    /// Closed-loop concurrency.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds per phase (one scenario, one target, one round).
    #[arg(long, default_value_t = 4)]
    pub secs: u64,
    /// Rounds; each runs every scenario against every target.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// CPUs (a `taskset -c` list) for the servers; run the bench itself on the others.
    #[arg(long, value_name = "CPUS")]
    pub server_cpus: Option<String>,
    /// Also write the Markdown table here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// One scenario on one target: (scenario, target, per round: (µs of server CPU per
/// request, requests per second)).
type Series = (String, String, Vec<(f64, f64)>);

struct Target {
    label: String,
    url: String,
    pid: u32,
}

/// (scenario, origin prefix, is a hit).
fn scenario(name: &str) -> anyhow::Result<(&'static str, bool)> {
    Ok(match name {
        "hit1k" => ("/obj/", true),
        "hit100k" => ("/big/", true),
        "miss1k" => ("/obj/", false),
        "miss100k" => ("/big/", false),
        other => anyhow::bail!("unknown scenario {other:?} (hit1k, hit100k, miss1k, miss100k)"),
    })
}

pub async fn run(args: Args, command_line: String) -> anyhow::Result<()> {
    for s in &args.scenarios {
        scenario(s)?;
    }
    let origin = web::Origin::start_sized(&[("/obj/", 1024), ("/big/", 100 * 1024)]).await?;
    let manifest = if args.waf {
        origin.distribution()
    } else {
        format!("{}\n[waf]\nenabled = false\n", origin.distribution())
    };
    let pin = args.server_cpus.as_deref();
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for spec in &args.nuvem {
        let (label, path) = match spec.split_once('=') {
            Some((l, p)) => (l.to_string(), PathBuf::from(p)),
            None => ("nuvem".to_string(), PathBuf::from(spec)),
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        let launch = procs::Launch {
            manifest: &manifest,
            pin,
            ..Default::default()
        };
        let n = procs::Nuvem::launch(&path, &launch)
            .with_context(|| format!("starting {}", path.display()))?;
        let url = n.edge_url.clone().context("nuvem printed no edge")?;
        eprintln!("{label}: pid {} at {url} ({})", n.pid(), n.command);
        targets.push(Target {
            label,
            url,
            pid: n.pid(),
        });
        servers.push(n);
    }
    let mut peers = Vec::new();
    if !args.no_nginx {
        let bin = edge_peers::find("nginx").context("nginx not found (or pass --no-nginx)")?;
        let p = edge_peers::nginx(&bin, origin.addr, pin)?;
        eprintln!("nginx: pid {} at {} ({})", p.pid(), p.url, p.command);
        targets.push(Target {
            label: "nginx".into(),
            url: p.url.clone(),
            pid: p.pid(),
        });
        peers.push(p);
    }

    let client = web::client(args.concurrency.max(1) * 2);
    let mode = Mode::Closed {
        concurrency: args.concurrency,
    };
    let budget = Budget {
        ops: u64::MAX,
        duration: Duration::from_secs(args.secs),
    };
    let mut results: Vec<Series> = Vec::new();
    for round in 0..args.rounds {
        for name in &args.scenarios {
            let (prefix, hit) = scenario(name)?;
            for k in 0..targets.len() {
                let t = &targets[(k + round) % targets.len()];
                let tag: String = t
                    .label
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                let op = if hit {
                    let path = format!("{prefix}hit");
                    web::get(
                        &client,
                        &format!("{}{path}", t.url),
                        None,
                        http::StatusCode::OK,
                    )
                    .await
                    .with_context(|| format!("{} does not serve {path}", t.label))?;
                    lean::Lean::new(&t.url)?.get_op(move |_| path.clone())
                } else {
                    let p = format!("{prefix}miss-{tag}-{round}-");
                    lean::Lean::new(&t.url)?.get_op(move |i| format!("{p}{i}"))
                };
                let before = procs::cpu_ticks_tree(t.pid).context("reading /proc")?;
                let stats = load::run(&op, mode, budget, 0).await?;
                let after = procs::cpu_ticks_tree(t.pid).context("reading /proc")?;
                let n = stats.ok() + stats.errors;
                anyhow::ensure!(
                    stats.errors == 0,
                    "{name} on {}: {} errors, first: {:?}",
                    t.label,
                    stats.errors,
                    stats.first_error
                );
                let us = after.saturating_sub(before) as f64 / procs::TICKS_PER_SEC * 1e6
                    / n.max(1) as f64;
                let rate = stats.ops_per_sec();
                eprintln!(
                    "round {round} {name} c={} {}: {n} requests, {rate:.0}/s, {us:.1} µs CPU/request",
                    args.concurrency, t.label
                );
                match results
                    .iter_mut()
                    .find(|(s, l, _)| s == name && *l == t.label)
                {
                    Some((_, _, v)) => v.push((us, rate)),
                    None => results.push((name.clone(), t.label.clone(), vec![(us, rate)])),
                }
            }
        }
    }
    let table = render(&args, &results, &command_line);
    print!("{table}");
    if let Some(out) = &args.out {
        std::fs::write(out, &table).with_context(|| format!("writing {}", out.display()))?;
    }
    drop(peers);
    drop(servers);
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn render(args: &Args, results: &[Series], command: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "- command: `{command}`");
    let _ = writeln!(
        out,
        "- c={}, {} s per phase, {} rounds (targets' order rotated each round); server CPU = user + system time of the server's process tree ÷ requests; load from the lean client (bodies discarded with `MSG_TRUNC`)",
        args.concurrency, args.secs, args.rounds
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | target | server CPU µs/request, each round | median | req/s (median) | nginx ÷ target CPU |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|");
    for (s, label, v) in results {
        let cpu = median(v.iter().map(|x| x.0).collect());
        let rate = median(v.iter().map(|x| x.1).collect());
        let nginx = results
            .iter()
            .find(|(s2, l, _)| s2 == s && l == "nginx")
            .map(|(_, _, v)| median(v.iter().map(|x| x.0).collect()));
        let ratio = nginx.map_or("–".to_string(), |n| format!("**{:.2}x**", n / cpu));
        let rounds: Vec<String> = v.iter().map(|x| format!("{:.1}", x.0)).collect();
        let _ = writeln!(
            out,
            "| {s} | {label} | {} | {cpu:.1} | {rate:.0} | {ratio} |",
            rounds.join(" / ")
        );
    }
    out
}
