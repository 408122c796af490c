//! Plain HTTP for the visitor-side scenarios (edge, gateway): a keep-alive HTTP/1.1 client
//! whose requests are [`load::Op`]s, and the custom origin the edges and the gateway's HTTP
//! integration sit in front of, served in-process (hyper) so every proxy and the direct
//! client fetch the very same bytes. Must not: sign or parse any AWS protocol (callers hand
//! over finished requests).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::load;

/// One client type for GETs (empty body) and POSTs, so every side of a comparison goes through
/// the very same connection pool and code.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client that keeps up to `pool` idle connections per host.
pub fn client(pool: usize) -> HttpClient {
    client_from(pool, None)
}

/// The same client with its connections coming from `local` (any 127.0.0.0/8 address is
/// local on Linux): how the WAF bench plays two visitors with different IPs.
pub fn client_from(pool: usize, local: Option<std::net::IpAddr>) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_local_address(local);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(pool)
        .build(connector)
}

/// One GET of `url` (with `host` as the Host header when given); the body's length, or an
/// error when the status is not `expect`. The body is counted as it arrives, not gathered:
/// as a load generator, the client must not spend a copy of every 100 KiB response on
/// itself (with two CPUs, its work is taken from what the server under test could have).
pub async fn get(
    c: &HttpClient,
    url: &str,
    host: Option<&str>,
    expect: StatusCode,
) -> anyhow::Result<u64> {
    let what = format!("GET {url}");
    let resp = c
        .request(get_request(url, host)?)
        .await
        .with_context(|| what.clone())?;
    if resp.status() != expect {
        let status = resp.status();
        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
        return Err(unexpected(&what, status, expect, &body.unwrap_or_default()));
    }
    let mut body = resp.into_body();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.with_context(|| format!("reading the body of {what}"))?;
        if let Some(data) = frame.data_ref() {
            len += data.len() as u64;
        }
    }
    Ok(len)
}

/// A GET of `url` as a visitor sends it.
fn get_request(url: &str, host: Option<&str>) -> anyhow::Result<Request<Full<Bytes>>> {
    // A browser-like visitor: AWS's common managed rule set blocks requests without a
    // User-Agent (NoUserAgent_HEADER), and so does nuvem's WAF.
    let mut req = Request::get(url).header(http::header::USER_AGENT, "nuvem-bench/0.1");
    if let Some(h) = host {
        req = req.header(http::header::HOST, h);
    }
    req.body(Full::default()).context("building the request")
}

/// One GET of `url`; the whole body.
pub async fn get_body(
    c: &HttpClient,
    url: &str,
    host: Option<&str>,
    expect: StatusCode,
) -> anyhow::Result<Bytes> {
    send(c, get_request(url, host)?, expect).await
}

/// Sends a finished request; the whole body, or an error when the status is not `expect`.
pub async fn send(
    c: &HttpClient,
    req: Request<Full<Bytes>>,
    expect: StatusCode,
) -> anyhow::Result<Bytes> {
    let what = format!("{} {}", req.method(), req.uri());
    let resp = c.request(req).await.with_context(|| what.clone())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the body of {what}"))?
        .to_bytes();
    if status != expect {
        return Err(unexpected(&what, status, expect, &body));
    }
    Ok(body)
}

/// The error for an answer with another status than expected, with the start of its body.
fn unexpected(what: &str, status: StatusCode, expect: StatusCode, body: &[u8]) -> anyhow::Error {
    let text = String::from_utf8_lossy(body.get(..200).unwrap_or(body));
    anyhow::anyhow!("{what}: HTTP {status} (expected {expect}): {text}")
}

/// The same request, cloned from `template` each time, as a load-generator operation: for
/// requests signed once up front (no signing cost in the loop).
pub fn replay_op(c: &HttpClient, template: Request<Bytes>) -> load::Op {
    let (c, template) = (c.clone(), Arc::new(template));
    load::op(move |_| {
        let (c, req) = (c.clone(), copy(&template));
        async move {
            let body = send(&c, req, StatusCode::OK).await?;
            Ok(body.len() as u64)
        }
    })
}

/// A sendable copy of a finished request (method, URI, headers, body).
pub fn copy(template: &Request<Bytes>) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(template.body().clone()));
    *req.method_mut() = template.method().clone();
    *req.uri_mut() = template.uri().clone();
    *req.headers_mut() = template.headers().clone();
    req
}

/// GETs of `base` + `path(i)` as a load-generator operation.
pub fn get_op(
    c: &HttpClient,
    base: &str,
    host: Option<String>,
    path: impl Fn(u64) -> String + Send + Sync + 'static,
) -> load::Op {
    let (c, base) = (c.clone(), base.trim_end_matches('/').to_string());
    load::op(move |i| {
        let (c, url, host) = (c.clone(), format!("{base}{}", path(i)), host.clone());
        async move { get(&c, &url, host.as_deref(), StatusCode::OK).await }
    })
}

/// The origin: `/obj/<anything>` answers `size` bytes (or other prefixes other sizes, see
/// [`Origin::start_sized`]), cacheable for an hour, with an ETag; everything else 404. Counts
/// the requests that reached it.
pub struct Origin {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    pub async fn start(size: usize) -> anyhow::Result<Self> {
        Self::start_sized(&[("/obj/", size)]).await
    }

    /// An origin whose paths under each prefix answer that many bytes (the first prefix
    /// that matches), cacheable for an hour, with an ETag; every other path 404.
    pub async fn start_sized(sizes: &[(&str, usize)]) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the origin")?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicU64::new(0));
        let bodies: Arc<Vec<(String, Bytes)>> = Arc::new(
            sizes
                .iter()
                .map(|(prefix, size)| (prefix.to_string(), Bytes::from(vec![b'x'; *size])))
                .collect(),
        );
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (bodies, counter) = (bodies.clone(), counter.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<_>| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        let body = bodies
                            .iter()
                            .find(|(prefix, _)| req.uri().path().starts_with(prefix.as_str()))
                            .map(|(_, b)| b.clone());
                        let resp = Response::builder()
                            .status(if body.is_some() {
                                StatusCode::OK
                            } else {
                                StatusCode::NOT_FOUND
                            })
                            .header("content-type", "application/octet-stream")
                            .header("cache-control", "max-age=3600")
                            .header("etag", "\"bench\"")
                            .body(Full::new(body.unwrap_or_default()));
                        async move { Ok::<_, Infallible>(resp.unwrap_or_default()) }
                    });
                    // A proxy closing an idle connection is not an error worth reporting.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, hits, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A manifest `[distribution]` whose one behavior caches this origin (no compression).
    pub fn distribution(&self) -> String {
        format!(
            "[[distribution.behaviors]]\npath_pattern = \"default\"\norigin = \"{}\"\ncompress = false\n",
            self.url()
        )
    }
}

/// Signs `req` (every header it has, and its body) with the bench's test/test credentials
/// for `service`, as the SDKs sign (no payload-hash header).
pub fn sign(req: &mut Request<Bytes>, service: &str) -> anyhow::Result<()> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
    let identity =
        aws_credential_types::Credentials::new("test", "test", None, None, "nuvem-bench").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .context("SigV4 signing parameters")?
        .into();
    let uri = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| Ok((k.as_str(), v.to_str()?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let signable = SignableRequest::new(
        req.method().as_str(),
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(req.body()),
    )
    .context("a signable request")?;
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
        .context("signing a request")?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

/// The `host:port` of an endpoint URL.
pub fn authority(endpoint: &str) -> String {
    endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest.trim_end_matches('/'))
        .to_string()
}
