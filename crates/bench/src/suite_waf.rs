//! The waf group of `nuvem-bench run`: nuvem's edge with its default WebACL against nginx +
//! ModSecurity v3 + OWASP CRS (paranoia level 1), both caching the same origin: benign cache
//! hits and blocked attacks; then a flood: one client at full speed and one at 2 requests/s,
//! each from its own loopback address, against a WebACL with a rate rule of 50 requests/s per
//! IP (3,000 per 60-second window). Must not: print the report.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::report::{Metric, Ratio, Report};
use crate::suite::Ctx;
use crate::{edge_peers, load, procs, web};

/// Size of the object the scenarios fetch.
const OBJECT: usize = 1024;

/// A benign request of a search page: a query string the detectors have to read.
const BENIGN: &str = "/obj/search?q=cheap+flights+to+lisbon&page=2&sort=price";
/// An SQL injection in the query string: both WAFs answer 403.
const ATTACK: &str = "/obj/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--";

/// The flood's rate: 50 requests/s per IP, as AWS WAF states limits: per evaluation window.
const RATE_LIMIT: u64 = 3000;
const RATE_WINDOW_SECS: u64 = 60;

/// nuvem's default managed groups plus the rate rule, first. `Host: 127.0.0.1` is counted, not
/// blocked (as in nuvem's default WebACL), because the bench talks to the loopback address.
fn flood_acl() -> String {
    let vis = |name: &str| {
        format!(
            r#""VisibilityConfig":{{"SampledRequestsEnabled":true,"CloudWatchMetricsEnabled":false,"MetricName":"{name}"}}"#
        )
    };
    let group = |name: &str, priority: u32, overrides: &str| {
        format!(
            r#"{{"Name":"{name}","Priority":{priority},"OverrideAction":{{"None":{{}}}},{},"Statement":{{"ManagedRuleGroupStatement":{{"VendorName":"AWS","Name":"{name}"{overrides}}}}}}}"#,
            vis(name)
        )
    };
    let rules = [
        format!(
            r#"{{"Name":"per-ip-50-per-second","Priority":0,"Action":{{"Block":{{}}}},{},"Statement":{{"RateBasedStatement":{{"Limit":{RATE_LIMIT},"EvaluationWindowSec":{RATE_WINDOW_SECS},"AggregateKeyType":"IP"}}}}}}"#,
            vis("rate")
        ),
        group(
            "AWSManagedRulesKnownBadInputsRuleSet",
            10,
            r#","RuleActionOverrides":[{"Name":"Host_localhost_HEADER","ActionToUse":{"Count":{}}}]"#,
        ),
        group("AWSManagedRulesCommonRuleSet", 20, ""),
        group("AWSManagedRulesSQLiRuleSet", 30, ""),
        group("AWSManagedRulesUnixRuleSet", 40, ""),
        group("AWSManagedRulesPHPRuleSet", 50, ""),
    ];
    format!(
        r#"{{"Name":"flood","DefaultAction":{{"Allow":{{}}}},{},"Rules":[{}]}}"#,
        vis("flood"),
        rules.join(",")
    )
}

pub async fn waf(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let origin = web::Origin::start(OBJECT).await?;
    let dist = origin.distribution();
    // No `[waf]` section: the distribution gets nuvem's default WebACL.
    let launch = procs::Launch {
        manifest: &dist,
        pin: ctx.pin(),
        ..Default::default()
    };
    let nuvem = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
    let nuvem_url = nuvem.edge_url.clone().context("nuvem printed no edge")?;
    let mut targets = vec![("nuvem".to_string(), nuvem_url, nuvem.pid())];
    let mut peer = None;
    match &ctx.nginx_bin {
        Some(bin) if edge_peers::modsecurity_installed() => {
            let p = edge_peers::nginx_modsecurity(bin, origin.addr, ctx.pin())?;
            targets.push((p.name.into(), p.url.clone(), p.pid()));
            report.notes.push(format!(
                "{}: `{}` (CRS from Debian's modsecurity-crs, paranoia level 1, blocking, audit log off)",
                p.name, p.command
            ));
            peer = Some(p);
        }
        _ => report.notes.push(
            "nginx + ModSecurity: not installed (Debian's libnginx-mod-http-modsecurity, modsecurity-crs), so the waf rows run without that peer".into(),
        ),
    }

    let client = web::client(256);
    for (name, url, _) in &targets {
        web::get(&client, &format!("{url}{BENIGN}"), None, StatusCode::OK)
            .await
            .with_context(|| format!("{name} does not serve a benign search request"))?;
        web::get(
            &client,
            &format!("{url}{ATTACK}"),
            None,
            StatusCode::FORBIDDEN,
        )
        .await
        .with_context(|| format!("{name} does not block an SQL injection"))?;
    }
    report.notes.push(format!(
        "waf: every target serves `{BENIGN}` (200, cached) and blocks `{ATTACK}` (403)"
    ));
    for mode in [ctx.closed(1), ctx.closed(64)] {
        for (name, url, pid) in &targets {
            let op = expect_op(&client, url, BENIGN, StatusCode::OK);
            ctx.measure(
                report,
                "waf.hit 1KiB benign GET",
                name,
                &op,
                mode,
                Some(*pid),
                Metric::Throughput,
            )
            .await;
        }
    }
    for (name, url, pid) in &targets {
        let op = expect_op(&client, url, ATTACK, StatusCode::FORBIDDEN);
        ctx.measure(
            report,
            "waf.blocked SQLi GET (403)",
            name,
            &op,
            ctx.closed(64),
            Some(*pid),
            Metric::Throughput,
        )
        .await;
    }
    drop(peer);
    drop(nuvem);
    flood(ctx, report, &origin).await
}

/// GETs of one path that must answer `expect`.
fn expect_op(c: &web::HttpClient, base: &str, path: &str, expect: StatusCode) -> load::Op {
    let (c, url) = (c.clone(), format!("{base}{path}"));
    load::op(move |_| {
        let (c, url) = (c.clone(), url.clone());
        async move { web::get(&c, &url, None, expect).await }
    })
}

/// Status of one GET (0 when the request failed).
async fn status(c: &web::HttpClient, url: &str) -> u16 {
    let Ok(req) = Request::get(url)
        .header(http::header::USER_AGENT, "nuvem-bench/0.1")
        .body(Full::<Bytes>::default())
    else {
        return 0;
    };
    match c.request(req).await {
        Ok(resp) => {
            let s = resp.status().as_u16();
            let _ = resp.into_body().collect().await;
            s
        }
        Err(_) => 0,
    }
}

async fn flood(ctx: &Ctx, report: &mut Report, origin: &web::Origin) -> anyhow::Result<()> {
    let acl = flood_acl();
    let manifest = format!(
        "{}\n[waf]\nweb_acl = \"flood.json\"\n",
        origin.distribution()
    );
    let launch = procs::Launch {
        manifest: &manifest,
        files: &[("flood.json", &acl)],
        pin: ctx.pin(),
        storage: None,
    };
    let nuvem = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
    let url = format!(
        "{}/obj/flood",
        nuvem.edge_url.clone().context("nuvem printed no edge")?
    );
    let secs = if ctx.smoke { 3 } else { 10 };
    let duration = Duration::from_secs(secs);
    let flooders = 32;
    let start = Instant::now();

    // The flooder: `flooders` connections from 127.0.0.2, each sending back to back.
    let fast = web::client_from(64, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))));
    let mut tasks = Vec::new();
    for _ in 0..flooders {
        let (c, url) = (fast.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while start.elapsed() < duration {
                let s = status(&c, &url).await;
                seen.push((start.elapsed(), s));
            }
            seen
        }));
    }
    // The ordinary visitor: 2 requests/s from 127.0.0.3, throughout.
    let slow = web::client_from(64, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))));
    let slow_url = Arc::new(url.clone());
    let visitor = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        while start.elapsed() < duration {
            tick.tick().await;
            seen.push(status(&slow, &slow_url).await);
        }
        seen
    });
    let mut flood = Vec::new();
    for t in tasks {
        flood.extend(t.await.context("a flood task failed")?);
    }
    let visitor = visitor.await.context("the visitor task failed")?;

    let after: Vec<u16> = flood
        .iter()
        .filter(|(at, _)| *at >= Duration::from_secs(1))
        .map(|(_, s)| *s)
        .collect();
    let blocked_after = after.iter().filter(|s| **s == 403).count();
    let served_total = flood.iter().filter(|(_, s)| *s == 200).count();
    let failed = flood.iter().filter(|(_, s)| *s == 0).count();
    let share = blocked_after as f64 / after.len().max(1) as f64;
    let visitor_blocked = visitor.iter().filter(|s| **s != 200).count();
    let pass = share >= 0.95 && visitor_blocked == 0 && !visitor.is_empty();
    report.notes.push(format!(
        "waf.flood: {} flood requests in {secs} s ({:.0}/s), {served_total} served (200), {failed} failed at the connection; after the first second {blocked_after} of {} blocked; the 2/s visitor got {} answers, {visitor_blocked} not 200",
        flood.len(),
        flood.len() as f64 / secs as f64,
        after.len(),
        visitor.len()
    ));
    report.extra_ratios.push(Ratio {
        scenario: format!("waf.flood rate rule {RATE_LIMIT}/{RATE_WINDOW_SECS} s per IP (50/s)"),
        mode: format!("1 IP c={flooders} flat out + 1 IP at 2/s, {secs} s"),
        subject: "nuvem".into(),
        subject_value: format!("{:.1} % of the flood blocked after 1 s", 100.0 * share),
        peer: "visitor at 2/s:".into(),
        peer_value: format!("{visitor_blocked} of {} blocked", visitor.len()),
        ratio: None,
        headline: Some(if pass { "pass" } else { "FAIL" }.into()),
    });
    Ok(())
}
