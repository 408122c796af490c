//! The gateway group of `nuvem-bench run`: what the API gateway adds, measured as "through the
//! gateway vs direct" pairs with the same load generator and the same keep-alive HTTP/1.1
//! client on both sides:
//!
//! - a route to the warm Rust echo function (payload 2.0) vs the same function invoked
//!   straight through the Lambda Invoke API (`POST /2015-03-31/functions/echo/invocations`)
//!   with the very event the gateway builds, so the function does the same work;
//! - an HTTP-integration route to the bench's in-process backend vs that backend hit directly.
//!
//! The Invoke request is SigV4-signed once, up front, and replayed unchanged (SigV4 accepts a
//! signature for 15 minutes and Invoke has no replay check), so neither side pays client-side
//! signing in the loop; nuvem still verifies the signature on every direct invoke, as it must.
//! Must not: print the report.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Request, StatusCode};

use crate::report::{Metric, Report};
use crate::suite::Ctx;
use crate::{procs, web};

/// The row labels: the subject (through the gateway) comes first, so the ratio column is the
/// p50 the gateway adds over the direct path.
const FUNCTION: &str = "gateway.GET→function vs direct Invoke (p50 added)";
const HTTP: &str = "gateway.GET→HTTP integration vs direct backend (p50 added)";
/// Size of the body the HTTP backend answers.
const OBJECT: usize = 1024;

pub async fn gateway(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    if !ctx.echo_bin.is_file() {
        bail!(
            "no echo function at {} (cargo build --release -p nuvem-fn-echo, or --echo-bin)",
            ctx.echo_bin.display()
        );
    }
    let backend = web::Origin::start(OBJECT).await?;
    let manifest = format!(
        r#"[[functions]]
name = "echo"
runtime = "provided.al2023"
code = {code:?}

[[apis]]
name = "bench"
routes = [
  {{ key = "GET /echo", function = "echo" }},
  {{ key = "GET /obj/hit", url = "{backend}/obj/hit" }},
]
"#,
        code = ctx.echo_bin.display().to_string(),
        backend = backend.url(),
    );
    let launch = procs::Launch {
        manifest: &manifest,
        pin: ctx.pin(),
        ..Default::default()
    };
    let nuvem = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
    let (_, api_url) = nuvem
        .apis
        .first()
        .context("nuvem printed no API for the manifest's [[apis]]")?;
    // `http://{id}.execute-api.localhost.localstack.cloud:PORT`: reach it on 127.0.0.1 with
    // that Host, so no resolver is involved.
    let host = api_url.trim_start_matches("http://").to_string();
    let client = web::client(64);

    // The event the gateway hands the function, as the function saw it: the direct invoke
    // sends exactly this, so both sides run the same handler on the same bytes.
    let echoed = web::get_body(
        &client,
        &format!("{}/echo", nuvem.url),
        Some(&host),
        StatusCode::OK,
    )
    .await
    .context("GET /echo through the gateway")?;
    let event = serde_json::from_slice::<serde_json::Value>(&echoed)
        .ok()
        .and_then(|v| v.get("echo").cloned())
        .context("the echo function's answer through the gateway has no `echo` event")?;
    let invoke = signed_invoke(&nuvem.url, "echo", Bytes::from(event.to_string()))?;
    // A function error is a 200 too (X-Amz-Function-Error): check the echo came back.
    let answer = web::send(&client, web::copy(&invoke), StatusCode::OK)
        .await
        .context("the direct Invoke")?;
    let echoed_back = serde_json::from_slice::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v.get("echo").cloned());
    if echoed_back.as_ref() != Some(&event) {
        bail!(
            "the direct Invoke did not echo the event: {}",
            String::from_utf8_lossy(answer.get(..200).unwrap_or(&answer))
        );
    }
    web::get(
        &client,
        &format!("{}/obj/hit", nuvem.url),
        Some(&host),
        StatusCode::OK,
    )
    .await
    .context("GET /obj/hit through the gateway's HTTP integration")?;

    let through_fn = web::get_op(&client, &nuvem.url, Some(host.clone()), |_| "/echo".into());
    let direct_fn = web::replay_op(&client, invoke);
    let through_http = web::get_op(&client, &nuvem.url, Some(host), |_| "/obj/hit".into());
    let direct_http = web::get_op(&client, &backend.url(), None, |_| "/obj/hit".into());
    let pid = Some(nuvem.pid());
    for c in [1, 16] {
        let mode = ctx.closed(c);
        let m = Metric::Overhead;
        ctx.measure(report, FUNCTION, "gateway", &through_fn, mode, pid, m)
            .await;
        ctx.measure(report, FUNCTION, "direct Invoke", &direct_fn, mode, pid, m)
            .await;
        ctx.measure(report, HTTP, "gateway", &through_http, mode, pid, m)
            .await;
        // The backend lives in this process: no server RSS to report for it.
        ctx.measure(report, HTTP, "direct", &direct_http, mode, None, m)
            .await;
    }
    report.notes.push(
        "gateway: the direct Invoke is SigV4-signed once and replayed (no client signing in the loop on either side; nuvem verifies it every time); the HTTP backend runs in the bench process, on the load generator's CPUs".into(),
    );
    Ok(())
}

/// A synchronous Invoke of `function` on `endpoint` with `payload`, signed now with the
/// bench's test/test credentials, the way aws-sdk-lambda signs it (no payload-hash header).
pub(crate) fn signed_invoke(
    endpoint: &str,
    function: &str,
    payload: Bytes,
) -> anyhow::Result<Request<Bytes>> {
    let uri = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        endpoint.trim_end_matches('/')
    );
    let mut req = Request::post(&uri)
        .header(http::header::HOST, crate::web::authority(endpoint))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "nuvem-bench/0.1")
        .body(payload)
        .context("building the Invoke request")?;
    crate::web::sign(&mut req, "lambda")?;
    Ok(req)
}
