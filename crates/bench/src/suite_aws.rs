//! The AWS-API groups of `nuvem-bench run`: start-up time and idle memory (nuvem vs moto),
//! DynamoDB and S3 through the real SDKs (nuvem vs moto), and Lambda cold and warm invokes
//! (nuvem alone: no peer runs functions here without Docker). Must not: print the report.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::load::{self, Mode};
use crate::report::{Metric, Ratio, Report};
use crate::suite::Ctx;
use crate::{dynamo, functions, procs, s3};

/// The load-bearing servers of one group: nuvem, then moto when it is available.
struct Servers {
    nuvem: procs::Nuvem,
    moto: Option<procs::Moto>,
}

impl Servers {
    fn start(ctx: &Ctx, report: &mut Report) -> anyhow::Result<Self> {
        let launch = procs::Launch {
            pin: ctx.pin(),
            ..Default::default()
        };
        let nuvem = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
        let moto = ctx
            .moto_bin
            .as_ref()
            .map(|b| procs::Moto::start_pinned(b, ctx.pin()))
            .transpose()?;
        for c in std::iter::once(&nuvem.command).chain(moto.as_ref().map(|m| &m.command)) {
            if !report.notes.iter().any(|n| n.ends_with(&format!("`{c}`"))) {
                report.notes.push(format!("server: `{c}`"));
            }
        }
        Ok(Self { nuvem, moto })
    }

    /// (name, endpoint, pid) of each server.
    fn targets(&self) -> Vec<(&'static str, String, u32)> {
        let mut t = vec![("nuvem", self.nuvem.url.clone(), self.nuvem.pid())];
        if let Some(m) = &self.moto {
            t.push(("moto", m.url.clone(), m.pid));
        }
        t
    }
}

/// Time from spawning the server to its health answer, several times; and idle RSS.
pub async fn startup(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let samples = if ctx.smoke { 1 } else { 5 };
    let mut series = vec![("nuvem", Vec::new())];
    if ctx.moto_bin.is_some() {
        series.push(("moto", Vec::new()));
    }
    for (target, lat) in &mut series {
        for _ in 0..samples {
            let dir = tempfile::tempdir()?;
            let port = procs::free_port()?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let took = if *target == "nuvem" {
                let manifest = dir.path().join("nuvem.toml");
                std::fs::write(&manifest, "")?;
                let mut cmd = procs::pinned(&ctx.nuvem_bin, ctx.pin());
                cmd.arg("up")
                    .arg("--manifest")
                    .arg(&manifest)
                    .arg("--data-dir")
                    .arg(dir.path().join("data"))
                    .args([
                        "--api-addr",
                        &addr.to_string(),
                        "--edge-addr",
                        "127.0.0.1:0",
                    ]);
                procs::startup_time(cmd, addr, "/_nuvem/health", "nuvem")?
            } else {
                let bin = ctx.moto_bin.as_deref().context("no moto")?;
                let mut cmd = procs::pinned(bin, ctx.pin());
                cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
                procs::startup_time(cmd, addr, "/moto-api/", "moto_server")?
            };
            lat.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        }
    }
    for (target, lat) in series {
        let elapsed = Duration::from_micros(lat.iter().sum());
        let stats = load::from_latencies(Mode::Closed { concurrency: 1 }, &lat, 0, None, elapsed);
        report.push("startup.spawn→health OK", target, stats, Metric::Latency);
    }

    // Idle memory: a fresh server, a moment after it answered its first request.
    let servers = Servers::start(ctx, report)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut idle = Vec::new();
    for (name, _, pid) in servers.targets() {
        let kib = procs::status_kib(pid, "VmRSS:")?;
        report
            .notes
            .push(format!("idle RSS: {name} {:.1} MiB", kib as f64 / 1024.0));
        idle.push((name, kib));
    }
    if let [(n, a), (m, b)] = idle.as_slice() {
        report.extra_ratios.push(Ratio {
            scenario: "startup.idle RSS".into(),
            mode: "idle".into(),
            subject: (*n).into(),
            subject_value: format!("{:.1} MiB", *a as f64 / 1024.0),
            peer: (*m).into(),
            peer_value: format!("{:.1} MiB", *b as f64 / 1024.0),
            ratio: (*a > 0).then(|| *b as f64 / *a as f64),
            headline: None,
        });
    }
    Ok(())
}

pub async fn dynamodb(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let servers = Servers::start(ctx, report)?;
    let targets = servers.targets();
    let mut clients = Vec::new();
    for (name, url, pid) in &targets {
        let c = dynamo::client(url);
        let began = Instant::now();
        dynamo::create_tables(&c)
            .await
            .with_context(|| format!("creating and filling the tables on {name}"))?;
        eprintln!(
            "{name}: tables ready in {:.1} s",
            began.elapsed().as_secs_f64()
        );
        clients.push((*name, c, *pid));
    }
    let mut phase = 0;
    for op in dynamo::Op::ALL {
        for mode in [ctx.closed(1), ctx.closed(64)] {
            for (name, c, pid) in &clients {
                phase += 1;
                let o = dynamo::load_op(c, op, phase);
                ctx.measure(
                    report,
                    op.scenario(),
                    name,
                    &o,
                    mode,
                    Some(*pid),
                    Metric::Throughput,
                )
                .await;
            }
        }
    }
    // A rate both can sustain: the latency a client sees when the server is not saturated.
    for (name, c, pid) in &clients {
        let o = dynamo::load_op(c, dynamo::Op::Get, 0);
        let scenario = dynamo::Op::Get.scenario();
        ctx.measure(
            report,
            scenario,
            name,
            &o,
            ctx.open(200.0),
            Some(*pid),
            Metric::TailLatency,
        )
        .await;
    }
    Ok(())
}

pub async fn s3(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    const SIZES: [(usize, &str); 2] = [(4 << 10, "4KiB"), (8 << 20, "8MiB")];
    {
        let servers = Servers::start(ctx, report)?;
        let mut clients = Vec::new();
        for (name, url, pid) in servers.targets() {
            let c = s3::client(&url);
            s3::prepare(&c, &SIZES.map(|s| s.0))
                .await
                .with_context(|| format!("creating the bucket on {name}"))?;
            clients.push((name, c, pid));
        }
        for (size, label) in SIZES {
            for op in [s3::Op::Put, s3::Op::Get] {
                let scenario = format!("s3.{} {label}", op.name());
                for mode in [ctx.closed(1), ctx.closed(16)] {
                    for (name, c, pid) in &clients {
                        let o = s3::load_op(c, op, size);
                        ctx.measure(
                            report,
                            &scenario,
                            name,
                            &o,
                            mode,
                            Some(*pid),
                            Metric::Throughput,
                        )
                        .await;
                    }
                }
            }
        }
    }
    // Streaming: memory must not grow with object size or count of concurrent uploads.
    let (uploads, mib) = if ctx.smoke { (2, 8) } else { (16, 256) };
    let m = s3::memory(&ctx.nuvem_bin, ctx.pin(), uploads, mib).await?;
    report.notes.push(format!(
        "s3 streaming: {} concurrent presigned PUTs of {} MiB to a fresh nuvem: RSS {:.1} MiB before, peak {:.1} MiB; {:.0} MiB/s in total",
        m.uploads,
        m.mib,
        m.rss_before_kib as f64 / 1024.0,
        m.peak_kib as f64 / 1024.0,
        (m.uploads as f64 * m.mib as f64) / m.elapsed.as_secs_f64().max(1e-9),
    ));
    Ok(())
}

/// Lambda Invoke of the Rust echo function and a Python handler, cold and warm, through
/// the functions workload (crate::functions), recorded as rows of this report.
pub async fn lambda(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let launch = procs::Launch {
        pin: ctx.pin(),
        ..Default::default()
    };
    let nuvem = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
    let dir = tempfile::tempdir()?;
    let client = functions::client(&nuvem.url);
    functions::create_functions(&client, &ctx.echo_bin, dir.path()).await?;
    let cold = if ctx.smoke { 2 } else { 20 };
    for subject in functions::Subject::ALL {
        let reset = procs::reset_peak_rss(nuvem.pid());
        let mut series = vec![functions::cold_starts(&client, subject, cold).await?];
        for c in [1, 16] {
            eprintln!("lambda.Invoke warm {} c={c}", subject.name());
            series.push(functions::warm(&client, subject, c, ctx.budget).await?);
        }
        // nuvem's own peak over this function's series (the function processes are not in it).
        let peak = reset
            .then(|| procs::status_kib(nuvem.pid(), "VmHWM:").ok())
            .flatten();
        for s in series {
            let stats = load::from_latencies(
                Mode::Closed {
                    concurrency: s.concurrency,
                },
                &s.latencies_us,
                s.errors,
                s.first_error.clone(),
                s.elapsed,
            );
            let scenario = format!("lambda.Invoke {} {}", s.what, s.subject);
            // A cold start is a latency, not a rate.
            let metric = if s.what == "cold start" {
                Metric::Latency
            } else {
                Metric::Throughput
            };
            report.push(&scenario, "nuvem", stats, metric);
            report.set_peak_rss(peak);
        }
    }
    Ok(())
}
