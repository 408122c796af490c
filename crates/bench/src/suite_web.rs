//! The edge group of `nuvem-bench run` (the gateway group is `suite_gateway`, the WAF against
//! ModSecurity `suite_waf`): the edge in front of the bench's in-process origin: cache hits
//! and misses of a 1 KiB and a 100 KiB object, nuvem (WAF off; and a `--baseline-bin` build
//! beside it) against nginx and Varnish, and hits with the default WebACL on against off. All
//! through the manifest (`[distribution]`, `[waf]`), as a user would; the load through the
//! lean client (`lean`), so the servers, not the generator, set the rates. Must not: print the
//! report.

use std::sync::atomic::Ordering;

use anyhow::Context;
use http::StatusCode;

use crate::load;
use crate::report::{Metric, Report};
use crate::suite::{self, Ctx};
use crate::{edge_peers, lean, procs, web};

/// The objects the edge scenarios fetch: a scenario label, the origin's path prefix, the size.
const OBJECTS: [(&str, &str, usize); 2] =
    [("1KiB", "/obj/", 1024), ("100KiB", "/big/", 100 * 1024)];

/// A target of the edge group: its name, base URL and pid.
type Target = (String, String, u32);

pub async fn edge(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let sizes: Vec<(&str, usize)> = OBJECTS.iter().map(|(_, p, n)| (*p, *n)).collect();
    let origin = web::Origin::start_sized(&sizes).await?;
    let distribution = origin.distribution();
    // The cache against nginx's and Varnish's: no WAF, as they have none.
    let without_waf = format!("{distribution}\n[waf]\nenabled = false\n");
    let launch = procs::Launch {
        manifest: &without_waf,
        pin: ctx.pin(),
        ..Default::default()
    };
    let nuvem = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
    let nuvem_url = nuvem.edge_url.clone().context("nuvem printed no edge")?;
    // No `[waf]` section: nuvem's default WebACL (every managed group), as a site gets it.
    let launch = procs::Launch {
        manifest: &distribution,
        pin: ctx.pin(),
        ..Default::default()
    };
    let waf = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
    let waf_url = waf.edge_url.clone().context("nuvem printed no edge")?;

    let mut targets: Vec<Target> = vec![("nuvem".into(), nuvem_url.clone(), nuvem.pid())];
    // `--baseline-bin`: another build beside it (same manifest), compared with it and with
    // the peers, so a before/after comparison is one run on one machine state.
    let baseline = match &ctx.baseline {
        Some((bin, label)) => {
            let launch = procs::Launch {
                manifest: &without_waf,
                pin: ctx.pin(),
                ..Default::default()
            };
            let b = procs::Nuvem::launch(bin, &launch)?;
            let url = b.edge_url.clone().context("the baseline printed no edge")?;
            targets.push((label.clone(), url, b.pid()));
            if !report.subjects.contains(label) {
                report.subjects.push(label.clone());
            }
            Some(b)
        }
        None => None,
    };
    let mut peers = Vec::new();
    if let Some(bin) = &ctx.nginx_bin {
        peers.push(edge_peers::nginx(bin, origin.addr, ctx.pin())?);
    }
    if let Some(bin) = &ctx.varnish_bin {
        peers.push(edge_peers::varnish(bin, origin.addr, ctx.pin())?);
    }
    for p in &peers {
        targets.push((p.name.into(), p.url.clone(), p.pid()));
        report.notes.push(format!("{}: `{}`", p.name, p.command));
    }

    let client = web::client(256);
    // The load itself goes through the lean client (see `lean`): hyper's client cost more per
    // 100 KiB response than the servers did, so every server came out at its rate.
    let leans = targets
        .iter()
        .map(|(_, url, _)| lean::Lean::new(url))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (waf_lean, nuvem_lean) = (lean::Lean::new(&waf_url)?, lean::Lean::new(&nuvem_url)?);
    report.notes.push(format!(
        "edge: every phase runs {} round(s) per target, the targets' order rotated each round; a row is the target's median round (ops/s, or p99 for open-loop rows) with the median server CPU per request and the highest peak RSS of its rounds",
        ctx.rounds
    ));
    report.notes.push(
        "edge load: the bench's lean HTTP/1.1 client (`crates/bench/src/lean.rs`): one write per request head, the response head parsed with httparse, the body discarded in the kernel (`recv` with `MSG_TRUNC`) and counted against its Content-Length or chunks; hyper's client cost more per 100 KiB response than the servers did".into(),
    );
    // Is the edge serving at all, and does the WAF block? Asked once, reported plainly.
    web::get(
        &client,
        &format!("{nuvem_url}/obj/hit"),
        None,
        StatusCode::OK,
    )
    .await
    .context("the edge does not serve the origin through [distribution]")?;
    let attack = format!("{waf_url}/obj/hit?q=1%27%20OR%20%271%27%3D%271");
    match web::get(&client, &attack, None, StatusCode::FORBIDDEN).await {
        Ok(_) => report.notes.push("waf: an SQL injection in the query is blocked (403)".into()),
        Err(_) => report.notes.push(format!(
            "waf: NOT enforced by this build (an SQL injection in the query was not answered 403), so the `waf on/off` rows measure the edge without it; nuvem said: {:?}",
            waf.notes
        )),
    }

    let round_targets: Vec<suite::RoundTarget> = targets
        .iter()
        .map(|(name, _, pid)| suite::RoundTarget {
            name: name.clone(),
            pid: Some(*pid),
        })
        .collect();
    for (size, prefix, _) in OBJECTS {
        let hit_path = format!("{prefix}hit");
        let scenario = format!("edge.hit {size}");
        // The 1 KiB object also gets the open-loop tail and the WAF comparison.
        let small = size == "1KiB";
        let mut modes = vec![ctx.closed(1), ctx.closed(64)];
        if small {
            modes.push(ctx.open(2000.0));
        }
        for mode in modes {
            let metric = if matches!(mode, load::Mode::Open { .. }) {
                Metric::TailLatency
            } else {
                Metric::Throughput
            };
            let before = origin.hits.load(Ordering::Relaxed);
            let op = |t: usize, _round: usize| {
                let path = hit_path.clone();
                leans[t].fresh().get_op(move |_| path.clone())
            };
            ctx.measure_rounds(report, &scenario, &round_targets, op, mode, metric)
                .await;
            let fetched = origin.hits.load(Ordering::Relaxed) - before;
            if fetched > targets.len() as u64 {
                report.notes.push(format!(
                    "{scenario} {}: the origin served {fetched} requests (expected at most one per target)",
                    mode.label()
                ));
            }
            if !small {
                continue;
            }
            // WAF on against the same edge without it, in the same rounds.
            let pair = [
                suite::RoundTarget {
                    name: "nuvem waf=on".into(),
                    pid: Some(waf.pid()),
                },
                suite::RoundTarget {
                    name: "nuvem waf=off".into(),
                    pid: Some(nuvem.pid()),
                },
            ];
            let pair_leans = [&waf_lean, &nuvem_lean];
            let op = |t: usize, _round: usize| pair_leans[t].fresh().get_op(|_| "/obj/hit".into());
            ctx.measure_rounds(report, "edge.hit 1KiB waf on/off", &pair, op, mode, metric)
                .await;
        }
    }
    for (size, prefix, _) in OBJECTS {
        let scenario = format!("edge.miss {size}");
        for (phase, mode) in [ctx.closed(1), ctx.closed(64)].into_iter().enumerate() {
            // Every request a path no target has fetched before, in any phase or round.
            let op = |t: usize, round: usize| {
                let tag: String = targets[t]
                    .0
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                let prefix = format!("{prefix}miss-{tag}-{phase}-{round}-");
                leans[t].fresh().get_op(move |i| format!("{prefix}{i}"))
            };
            ctx.measure_rounds(
                report,
                &scenario,
                &round_targets,
                op,
                mode,
                Metric::Throughput,
            )
            .await;
        }
    }
    drop(baseline);
    Ok(())
}
