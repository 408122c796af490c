//! The AWS-API groups of `nuvem-bench run`: start-up time and idle memory (nuvem vs moto),
//! DynamoDB and S3 through the real SDKs (nuvem vs moto), and Lambda cold and warm invokes
//! (the Rust function's warm invokes beside AWS's runtime interface emulator running the same
//! binary, when `aws-lambda-rie` is at hand). Must not: print the report.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::load::{self, Mode};
use crate::report::{Metric, Ratio, Report};
use crate::suite::Ctx;
use crate::{dynamo, functions, procs, s3};

/// The load-bearing servers of one group: nuvem, then nuvem on PostgreSQL (`--postgres`),
/// then a baseline build (`--baseline-bin`), then moto when it is available.
struct Servers {
    nuvems: Vec<(String, procs::Nuvem)>,
    moto: Option<procs::Moto>,
}

/// The target name of nuvem on PostgreSQL.
pub const NUVEM_PG: &str = "nuvem-pg";

/// One server of a group: its name, endpoint and pid.
struct Target {
    name: String,
    url: String,
    pid: u32,
}

impl Target {
    /// Whether round trips to the database are counted for this target.
    fn counts_round_trips(&self) -> bool {
        self.name == NUVEM_PG
    }
}

impl Servers {
    /// nuvem (and with `extra`, nuvem-pg and the baseline) and moto.
    fn start(ctx: &Ctx, report: &mut Report, extra: bool) -> anyhow::Result<Self> {
        let mut nuvems = Vec::new();
        let launch = procs::Launch {
            pin: ctx.pin(),
            ..Default::default()
        };
        nuvems.push((
            "nuvem".to_string(),
            procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?,
        ));
        if let Some(pg) = ctx.postgres.as_ref().filter(|_| extra) {
            let url = pg.new_database()?;
            let launch = procs::Launch {
                pin: ctx.pin(),
                storage: Some(&url),
                ..Default::default()
            };
            nuvems.push((
                NUVEM_PG.to_string(),
                procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?,
            ));
            // nuvem-pg is compared with moto too, not only with the embedded engine.
            if !report.subjects.iter().any(|s| s == NUVEM_PG) {
                report.subjects.push(NUVEM_PG.to_string());
            }
        }
        if let Some((bin, label)) = ctx.baseline.as_ref().filter(|_| extra) {
            nuvems.push((label.clone(), procs::Nuvem::launch(bin, &launch)?));
        }
        let moto = ctx
            .moto_bin
            .as_ref()
            .map(|b| procs::Moto::start_pinned(b, ctx.pin()))
            .transpose()?;
        let commands = nuvems.iter().map(|(_, n)| &n.command);
        for c in commands.chain(moto.as_ref().map(|m| &m.command)) {
            if !report.notes.iter().any(|n| n.ends_with(&format!("`{c}`"))) {
                report.notes.push(format!("server: `{c}`"));
            }
        }
        Ok(Self { nuvems, moto })
    }

    fn targets(&self) -> Vec<Target> {
        let mut t: Vec<Target> = self
            .nuvems
            .iter()
            .map(|(name, n)| Target {
                name: name.clone(),
                url: n.url.clone(),
                pid: n.pid(),
            })
            .collect();
        if let Some(m) = &self.moto {
            t.push(Target {
                name: "moto".into(),
                url: m.url.clone(),
                pid: m.pid,
            });
        }
        t
    }
}

/// [`Ctx::measure`], and for a target on PostgreSQL the database round trips per request
/// (the engine's `round_trips` counter over the phase and its warm-up), as a note.
// One argument per column of the row, as `Ctx::measure`.
#[allow(clippy::too_many_arguments)]
async fn measure_counted(
    ctx: &Ctx,
    report: &mut Report,
    scenario: &str,
    target: &Target,
    op: &load::Op,
    mode: Mode,
    metric: Metric,
) {
    let before = match target.counts_round_trips() {
        true => crate::pg::round_trips(&target.url).await.ok(),
        false => None,
    };
    let rows = report.rows.len();
    ctx.measure(
        report,
        scenario,
        &target.name,
        op,
        mode,
        Some(target.pid),
        metric,
    )
    .await;
    let (Some(before), Some(row)) = (before, report.rows.get(rows)) else {
        return;
    };
    let requests = row.stats.ok() + row.stats.errors + ctx.warm_up;
    if let Ok(after) = crate::pg::round_trips(&target.url).await
        && requests > 0
    {
        let per = (after - before) as f64 / requests as f64;
        report
            .round_trips
            .push((scenario.to_string(), mode.label(), format!("{per:.2}")));
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
    let servers = Servers::start(ctx, report, false)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut idle = Vec::new();
    for Target { name, pid, .. } in servers.targets() {
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
            subject: n.clone(),
            subject_value: format!("{:.1} MiB", *a as f64 / 1024.0),
            peer: m.clone(),
            peer_value: format!("{:.1} MiB", *b as f64 / 1024.0),
            ratio: (*a > 0).then(|| *b as f64 / *a as f64),
            headline: None,
        });
    }
    Ok(())
}

pub async fn dynamodb(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let servers = Servers::start(ctx, report, true)?;
    let mut clients = Vec::new();
    for target in servers.targets() {
        let c = dynamo::client(&target.url);
        let began = Instant::now();
        dynamo::create_tables(&c)
            .await
            .with_context(|| format!("creating and filling the tables on {}", target.name))?;
        eprintln!(
            "{}: tables ready in {:.1} s",
            target.name,
            began.elapsed().as_secs_f64()
        );
        clients.push((target, c));
    }
    let mut phase = 0;
    for op in dynamo::Op::ALL {
        for mode in [ctx.closed(1), ctx.closed(64)] {
            for (target, c) in &clients {
                phase += 1;
                let o = dynamo::load_op(c, op, phase);
                let metric = Metric::Throughput;
                measure_counted(ctx, report, op.scenario(), target, &o, mode, metric).await;
            }
        }
    }
    // A rate both can sustain: the latency a client sees when the server is not saturated.
    for (target, c) in &clients {
        let o = dynamo::load_op(c, dynamo::Op::Get, 0);
        let scenario = dynamo::Op::Get.scenario();
        let (mode, metric) = (ctx.open(200.0), Metric::TailLatency);
        measure_counted(ctx, report, scenario, target, &o, mode, metric).await;
    }
    Ok(())
}

pub async fn s3(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    const SIZES: [(usize, &str); 2] = [(4 << 10, "4KiB"), (8 << 20, "8MiB")];
    {
        let servers = Servers::start(ctx, report, true)?;
        let mut clients = Vec::new();
        for target in servers.targets() {
            let c = s3::client(&target.url);
            s3::prepare(&c, &SIZES.map(|s| s.0))
                .await
                .with_context(|| format!("creating the bucket on {}", target.name))?;
            clients.push((target, c));
        }
        for (size, label) in SIZES {
            for op in [s3::Op::Put, s3::Op::Get] {
                let scenario = format!("s3.{} {label}", op.name());
                for mode in [ctx.closed(1), ctx.closed(16)] {
                    for (target, c) in &clients {
                        let o = s3::load_op(c, op, size);
                        let metric = Metric::Throughput;
                        measure_counted(ctx, report, &scenario, target, &o, mode, metric).await;
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

/// Encryption at rest's cost: PutObject and GetObject of 4 KiB and 8 MiB in a bucket with
/// SSE-S3 default encryption beside the same in a plain bucket, on nuvem and the peer (moto
/// accepts the configuration and stores in clear, so it is the plain baseline there).
pub async fn sse(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    const SIZES: [(usize, &str); 2] = [(4 << 10, "4KiB"), (8 << 20, "8MiB")];
    let servers = Servers::start(ctx, report, true)?;
    let mut clients = Vec::new();
    for target in servers.targets() {
        let c = s3::client(&target.url);
        for (bucket, sse) in [(s3::BUCKET, false), (s3::SSE_BUCKET, true)] {
            s3::prepare_bucket(&c, bucket, &SIZES.map(|s| s.0), sse)
                .await
                .with_context(|| format!("creating {bucket} on {}", target.name))?;
        }
        clients.push((target, c));
    }
    for (size, label) in SIZES {
        for op in [s3::Op::Put, s3::Op::Get] {
            for (bucket, kind) in [(s3::BUCKET, "plain"), (s3::SSE_BUCKET, "SSE-S3")] {
                let scenario = format!("s3.{} {label} {kind}", op.name());
                for mode in [ctx.closed(1), ctx.closed(16)] {
                    for (target, c) in &clients {
                        let o = s3::load_op_in(c, bucket, op, size);
                        let metric = Metric::Throughput;
                        measure_counted(ctx, report, &scenario, target, &o, mode, metric).await;
                    }
                }
            }
        }
    }
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
    beside_rie(ctx, report, &nuvem).await?;
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
        let rie_cold = cold_under_rie(ctx, report, subject, cold).await?;
        for s in series.into_iter().chain(rie_cold) {
            let target = s.target;
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
            report.push(&scenario, target, stats, metric);
            report.set_peak_rss(if target == "nuvem" { peak } else { None });
        }
    }
    Ok(())
}

/// Cold starts of `subject` under AWS's runtime interface emulator, the peer of nuvem's cold
/// starts: for each sample a fresh `aws-lambda-rie <bootstrap>` (pinned like nuvem) is
/// started and waited for until it answers HTTP (the emulator's own start-up is not timed);
/// the emulator starts the bootstrap on the first invoke, so the timed first invoke →
/// response covers the runtime's start, its init and the invoke, as nuvem's cold start
/// does. The Rust echo runs as its own bootstrap; the Python handler runs under AWS's
/// runtime interface client (`python3 -m awslambdaric app.handler`), as AWS documents for
/// the emulator. None when the emulator (or, for Python, awslambdaric) is missing.
async fn cold_under_rie(
    ctx: &Ctx,
    report: &mut Report,
    subject: functions::Subject,
    samples: u64,
) -> anyhow::Result<Option<functions::Series>> {
    let Some(rie_bin) = &ctx.rie_bin else {
        return Ok(None);
    };
    let dir = tempfile::tempdir()?;
    let bootstrap = match subject {
        functions::Subject::Rust => ctx.echo_bin.clone(),
        functions::Subject::Python => {
            let has_ric = std::process::Command::new("python3")
                .args(["-c", "import awslambdaric"])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !has_ric {
                report.notes.push(
                    "lambda: awslambdaric is not installed for python3: no Python cold-start peer"
                        .into(),
                );
                return Ok(None);
            }
            std::fs::write(dir.path().join("app.py"), functions::PYTHON_HANDLER)?;
            let script = dir.path().join("bootstrap");
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\ncd '{}'\nexec python3 -m awslambdaric app.handler\n",
                    dir.path().display()
                ),
            )?;
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
            script
        }
    };
    let client = crate::web::client(1);
    let mut series = functions::Series {
        subject: subject.name(),
        what: "cold start",
        target: "aws-lambda-rie",
        concurrency: 1,
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    eprintln!(
        "lambda.Invoke cold start {} under aws-lambda-rie",
        subject.name()
    );
    for _ in 0..samples {
        let rie = procs::Rie::start_pinned(rie_bin, &bootstrap, ctx.pin())?;
        let request = crate::suite_gateway::signed_invoke(
            &rie.url,
            procs::RIE_FUNCTION,
            bytes::Bytes::from_static(b"{}"),
        )?;
        let began = Instant::now();
        let answer =
            crate::web::send(&client, crate::web::copy(&request), http::StatusCode::OK).await;
        let took = began.elapsed();
        series.elapsed += took;
        match answer {
            Ok(body) if subject.answered(&body) => {
                series.latencies_us.push(took.as_micros() as u64)
            }
            Ok(body) => {
                series.errors += 1;
                series.first_error.get_or_insert_with(|| {
                    format!(
                        "not the function's answer: {}",
                        String::from_utf8_lossy(body.get(..200).unwrap_or(&body))
                    )
                });
            }
            Err(e) => {
                series.errors += 1;
                series.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
        // A new emulator (and runtime) for the next sample; its connection goes with it.
        drop(rie);
    }
    series.latencies_us.sort_unstable();
    report.notes.push(format!(
        "lambda cold start vs RIE ({}): a fresh aws-lambda-rie per sample, timed from the first invoke (which starts the bootstrap) to its answer{}",
        subject.name(),
        if subject == functions::Subject::Python {
            "; the handler runs under awslambdaric (AWS's runtime interface client), nuvem's under its own Python runtime client"
        } else {
            ""
        }
    ));
    Ok(Some(series))
}

/// The warm-invoke comparison with AWS's runtime interface emulator.
pub const RIE_SCENARIO: &str = "lambda.Invoke warm rust-echo, Invoke API vs RIE";

/// Warm invokes of the Rust echo function (examples/functions/echo, `lambda_runtime`) end to
/// end: nuvem's Invoke API (`rust-echo`, SigV4-signed) beside the very same binary run by
/// AWS's runtime interface emulator (`aws-lambda-rie <bootstrap>`, pinned like nuvem), at
/// c=1, through one keep-alive HTTP/1.1 client and load generator. Each side's request (the
/// event `{}`) is built and signed once and replayed, so neither pays client-side signing in
/// the loop; nuvem verifies the signature on every invoke (the emulator checks none). Both
/// answers are checked to be the function's echo first.
async fn beside_rie(ctx: &Ctx, report: &mut Report, nuvem: &procs::Nuvem) -> anyhow::Result<()> {
    let Some(rie_bin) = &ctx.rie_bin else {
        report
            .notes
            .push("lambda: aws-lambda-rie not found (--rie-bin): no warm-invoke peer".into());
        return Ok(());
    };
    let rie = procs::Rie::start_pinned(rie_bin, &ctx.echo_bin, ctx.pin())?;
    report.notes.push(format!("server: `{}`", rie.command));
    let client = crate::web::client(1);
    let event = bytes::Bytes::from_static(b"{}");
    let targets = [
        (
            "nuvem",
            crate::suite_gateway::signed_invoke(
                &nuvem.url,
                functions::Subject::Rust.name(),
                event.clone(),
            )?,
            nuvem.pid(),
        ),
        (
            "aws-lambda-rie",
            crate::suite_gateway::signed_invoke(&rie.url, procs::RIE_FUNCTION, event)?,
            rie.pid,
        ),
    ];
    for (target, request, _) in &targets {
        let answer = crate::web::send(&client, crate::web::copy(request), http::StatusCode::OK)
            .await
            .with_context(|| format!("the first invoke on {target}"))?;
        let echoed = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v.get("echo").cloned());
        anyhow::ensure!(
            echoed == Some(serde_json::json!({})),
            "{target} did not answer with the function's echo: {}",
            String::from_utf8_lossy(answer.get(..200).unwrap_or(&answer))
        );
    }
    for (target, request, pid) in targets {
        let op = crate::web::replay_op(&client, request);
        ctx.measure(
            report,
            RIE_SCENARIO,
            target,
            &op,
            ctx.closed(1),
            Some(pid),
            Metric::Latency,
        )
        .await;
    }
    report.notes.push(
        "lambda vs RIE: one keep-alive HTTP/1.1 client; each side's Invoke (event `{}`) signed once and replayed; nuvem verifies SigV4 on every invoke, aws-lambda-rie checks nothing; peak RSS is the server's own process (not the function's)".into(),
    );
    Ok(())
}

/// IAM's cost end to end: GetItem signed by an IAM user with a 20-statement policy, then by
/// the root key (never checked), on one nuvem; the ratio is the user's throughput over the
/// root's.
pub async fn iam(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let launch = procs::Launch {
        pin: ctx.pin(),
        ..Default::default()
    };
    let nuvem = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
    let root = dynamo::client(&nuvem.url);
    dynamo::create_tables(&root)
        .await
        .context("creating and filling the tables")?;
    let user = crate::iam::limited_user(&nuvem.url, dynamo::TABLE).await?;
    let limited = dynamo::client_with(&nuvem.url, user);
    let clients = [
        ("nuvem iam-user (20 statements)", &limited),
        ("nuvem root key", &root),
    ];
    let scenario = "iam.GetItem, 20-statement policy vs root key";
    for mode in [ctx.closed(1), ctx.closed(64)] {
        for (name, c) in clients {
            let o = dynamo::load_op(c, dynamo::Op::Get, 0);
            ctx.measure(
                report,
                scenario,
                name,
                &o,
                mode,
                Some(nuvem.pid()),
                Metric::Throughput,
            )
            .await;
        }
    }
    Ok(())
}

/// Provisioned capacity's cost: PutItem and GetItem on an on-demand table beside a
/// provisioned one no load reaches (every request through the token buckets), nuvem beside
/// moto (which does not enforce capacity).
pub async fn capacity(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    // With `--baseline-bin` (a build from before capacity was enforced) beside it: what the
    // accounting costs.
    let servers = Servers::start(ctx, report, true)?;
    let mut clients = Vec::new();
    for target in servers.targets() {
        let c = dynamo::client(&target.url);
        crate::capacity::create_tables(&c)
            .await
            .with_context(|| format!("creating the capacity tables on {}", target.name))?;
        clients.push((target, c));
    }
    let mut phase = 0;
    for (table, provisioned) in crate::capacity::TABLES {
        let mode_name = if provisioned {
            "provisioned table"
        } else {
            "on-demand table"
        };
        for mode in [ctx.closed(1), ctx.closed(64)] {
            for (target, c) in &clients {
                phase += 1;
                let scenario = format!("capacity.PutItem, {mode_name}");
                let o = crate::capacity::put_op(c, table, phase);
                measure_counted(ctx, report, &scenario, target, &o, mode, Metric::Throughput).await;
                let scenario = format!("capacity.GetItem, {mode_name}");
                let o = crate::capacity::get_op(c, table);
                measure_counted(ctx, report, &scenario, target, &o, mode, Metric::Throughput).await;
            }
        }
    }
    Ok(())
}

/// Secondary indexes' cost: PutItem on tables with 0, 1 and 5 global indexes (write
/// amplification), and Query of a 100-item page of a global index, nuvem beside moto.
pub async fn indexes(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let servers = Servers::start(ctx, report, false)?;
    let mut clients = Vec::new();
    for target in servers.targets() {
        let c = dynamo::client(&target.url);
        crate::indexes::create_tables(&c)
            .await
            .with_context(|| format!("creating the indexed tables on {}", target.name))?;
        clients.push((target, c));
    }
    let mut phase = 0;
    for n in crate::indexes::COUNTS {
        let scenario = format!("indexes.PutItem, {n} global indexes");
        for mode in [ctx.closed(1), ctx.closed(16)] {
            for (target, c) in &clients {
                phase += 1;
                let o = crate::indexes::put_op(c, n, phase);
                measure_counted(ctx, report, &scenario, target, &o, mode, Metric::Throughput).await;
            }
        }
    }
    for mode in [ctx.closed(1), ctx.closed(16)] {
        for (target, c) in &clients {
            let o = crate::indexes::query_op(c);
            let scenario = "indexes.Query 100 items of a global index";
            measure_counted(ctx, report, scenario, target, &o, mode, Metric::Throughput).await;
        }
    }
    Ok(())
}

/// Streams: GetRecords of 1000-record pages (records/s = ops/s × 1000) and PutItem on a
/// table with a stream beside one without, nuvem beside moto (moto_server serves the
/// DynamoDB Streams API too).
pub async fn streams(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let servers = Servers::start(ctx, report, false)?;
    let mut clients = Vec::new();
    for target in servers.targets() {
        let c = dynamo::client(&target.url);
        let s = crate::streams::client(&target.url);
        let iterator = crate::streams::prepare(&c, &s)
            .await
            .with_context(|| format!("creating the streamed tables on {}", target.name))?;
        clients.push((target, c, s, iterator));
    }
    for mode in [ctx.closed(1), ctx.closed(16)] {
        for (target, _, s, iterator) in &clients {
            let o = crate::streams::get_records_op(s, iterator);
            let scenario = "streams.GetRecords 1000-record page";
            measure_counted(ctx, report, scenario, target, &o, mode, Metric::Throughput).await;
        }
    }
    let mut phase = 0;
    for stream in [false, true] {
        let scenario = if stream {
            "streams.PutItem, table with a stream"
        } else {
            "streams.PutItem, table without a stream"
        };
        for mode in [ctx.closed(1), ctx.closed(16)] {
            for (target, c, _, _) in &clients {
                phase += 1;
                let o = crate::streams::put_op(c, stream, phase);
                measure_counted(ctx, report, scenario, target, &o, mode, Metric::Throughput).await;
            }
        }
    }
    Ok(())
}
