//! The edge group of `nuvem-bench run` (the gateway group is `suite_gateway`, the WAF against
//! ModSecurity `suite_waf`): the edge in front of the bench's in-process origin: cache hits
//! and misses, nuvem (WAF off) against nginx and Varnish, and hits with the default WebACL
//! on against off. All through the manifest (`[distribution]`, `[waf]`), as
//! a user would. Must not: print the report.

use std::sync::atomic::Ordering;

use anyhow::Context;
use http::StatusCode;

use crate::load;
use crate::report::{Metric, Report};
use crate::suite::Ctx;
use crate::{edge_peers, procs, web};

/// Size of the object the edge scenarios fetch.
const OBJECT: usize = 1024;

/// A target of the edge group: its name, base URL and pid.
type Target = (String, String, u32);

pub async fn edge(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let origin = web::Origin::start(OBJECT).await?;
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

    for mode in [ctx.closed(1), ctx.closed(64), ctx.open(2000.0)] {
        let metric = if matches!(mode, load::Mode::Open { .. }) {
            Metric::TailLatency
        } else {
            Metric::Throughput
        };
        let before = origin.hits.load(Ordering::Relaxed);
        for (name, url, pid) in &targets {
            let op = web::get_op(&client, url, None, |_| "/obj/hit".into());
            ctx.measure(report, "edge.hit 1KiB", name, &op, mode, Some(*pid), metric)
                .await;
        }
        let fetched = origin.hits.load(Ordering::Relaxed) - before;
        if fetched > targets.len() as u64 {
            report.notes.push(format!(
                "edge.hit {}: the origin served {fetched} requests (expected at most one per target)",
                mode.label()
            ));
        }
        // WAF on, then the same edge without it, back to back.
        let on = web::get_op(&client, &waf_url, None, |_| "/obj/hit".into());
        ctx.measure(
            report,
            "edge.hit 1KiB waf on/off",
            "nuvem waf=on",
            &on,
            mode,
            Some(waf.pid()),
            metric,
        )
        .await;
        let off = web::get_op(&client, &nuvem_url, None, |_| "/obj/hit".into());
        ctx.measure(
            report,
            "edge.hit 1KiB waf on/off",
            "nuvem waf=off",
            &off,
            mode,
            Some(nuvem.pid()),
            metric,
        )
        .await;
    }
    for (phase, mode) in [ctx.closed(1), ctx.closed(64)].into_iter().enumerate() {
        for (name, url, pid) in &targets {
            let prefix = format!("/obj/miss-{name}-{phase}-");
            let op = web::get_op(&client, url, None, move |i| format!("{prefix}{i}"));
            ctx.measure(
                report,
                "edge.miss 1KiB",
                name,
                &op,
                mode,
                Some(*pid),
                Metric::Throughput,
            )
            .await;
        }
    }
    Ok(())
}
