//! The CLI subcommands' one client of a running nuvem's AWS endpoint (`invalidate`, `logs`):
//! a request signed with SigV4 like any AWS client, over a fresh HTTP/1.1 connection, with a
//! deadline and a cap on the answer. Must not: reach a service any other way than its API.

use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use nuvem_aws::sigv4::{canonical_uri, sha256_hex, signing_key, string_to_sign};
use nuvem_aws::time::AmzDate;

/// How long one call may take, connection to the last byte.
const DEADLINE: Duration = Duration::from_secs(30);
/// The largest answer read.
const MAX_ANSWER: usize = 16 << 20;

/// Where and as whom to call.
pub struct Endpoint<'a> {
    /// `http://host:port`.
    pub url: &'a str,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    /// The signing name (`logs`, `cloudfront`).
    pub service: &'a str,
}

/// Sends `method path` with `headers` (lower-case names, all signed) and `body`; the status
/// and the answer's bytes.
pub async fn call(
    to: &Endpoint<'_>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> anyhow::Result<(u16, Bytes)> {
    tokio::time::timeout(DEADLINE, send(to, method, path, headers, body))
        .await
        .with_context(|| format!("no answer from {} within {DEADLINE:?}", to.url))?
}

async fn send(
    to: &Endpoint<'_>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> anyhow::Result<(u16, Bytes)> {
    let base = to.url.trim_end_matches('/');
    let uri: http::Uri = format!("{base}{path}")
        .parse()
        .with_context(|| format!("endpoint {base:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("--endpoint must be an http:// URL");
    }
    let host = uri
        .authority()
        .context("the endpoint has no host")?
        .to_string();
    let payload = sha256_hex(body.as_bytes());
    let amz = AmzDate::from_system_time(SystemTime::now()).to_amz_string();
    let date = &amz[..8];
    let mut signed: Vec<(&str, &str)> = headers.to_vec();
    signed.extend([
        ("host", host.as_str()),
        ("x-amz-content-sha256", payload.as_str()),
        ("x-amz-date", amz.as_str()),
    ]);
    signed.sort_unstable();
    let names: Vec<&str> = signed.iter().map(|(k, _)| *k).collect();
    let names = names.join(";");
    let lines: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!(
        "{method}\n{}\n\n{lines}\n{names}\n{payload}",
        canonical_uri(uri.path(), to.service)
    );
    let scope = format!("{date}/{}/{}/aws4_request", to.region, to.service);
    let to_sign = string_to_sign(&amz, &scope, &canonical);
    let key = signing_key(to.secret_access_key, date, to.region, to.service);
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).context("HMAC takes any key")?;
    mac.update(to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let mut req = http::Request::builder().method(method).uri(uri.path());
    for (k, v) in &signed {
        req = req.header(*k, *v);
    }
    let req = req
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={names}, Signature={signature}",
                to.access_key_id
            ),
        )
        .body(Full::new(Bytes::from(body)))
        .context("building the request")?;
    let stream = tokio::net::TcpStream::connect(&host)
        .await
        .with_context(|| format!("connecting to {host} (is `nuvem up` running?)"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
    tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .with_context(|| format!("sending {method} {path}"))?;
    let status = resp.status().as_u16();
    let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the response: {e}"))?
        .to_bytes();
    Ok((status, bytes))
}
