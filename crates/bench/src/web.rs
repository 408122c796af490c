//! Plain HTTP for the visitor-side scenarios (edge, gateway): a keep-alive HTTP/1.1 client
//! whose GETs are [`load::Op`]s, and the custom origin the edges sit in front of, served
//! in-process (hyper) so every edge and peer fetches the very same bytes. Must not: speak any
//! AWS protocol.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::load;

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A client that keeps up to `pool` idle connections per host.
pub fn client(pool: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(pool)
        .build(connector)
}

/// One GET of `url` (with `host` as the Host header when given); the body's length, or an
/// error when the status is not `expect`.
pub async fn get(
    c: &HttpClient,
    url: &str,
    host: Option<&str>,
    expect: StatusCode,
) -> anyhow::Result<u64> {
    // A browser-like visitor: AWS's common managed rule set blocks requests without a
    // User-Agent (NoUserAgent_HEADER), and so does nuvem's WAF.
    let mut req = Request::get(url).header(http::header::USER_AGENT, "nuvem-bench/0.1");
    if let Some(h) = host {
        req = req.header(http::header::HOST, h);
    }
    let req = req.body(Empty::new()).context("building the request")?;
    let resp = c.request(req).await.with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the body of GET {url}"))?
        .to_bytes();
    if status != expect {
        let text = String::from_utf8_lossy(body.get(..200).unwrap_or(&body));
        bail!("GET {url}: HTTP {status} (expected {expect}): {text}");
    }
    Ok(body.len() as u64)
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

/// The origin: `/obj/<anything>` answers `size` bytes, cacheable for an hour, with an ETag;
/// everything else 404. Counts the requests that reached it.
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the origin")?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicU64::new(0));
        let body = Bytes::from(vec![b'x'; size]);
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (body, counter) = (body.clone(), counter.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<_>| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        let found = req.uri().path().starts_with("/obj/");
                        let resp = Response::builder()
                            .status(if found {
                                StatusCode::OK
                            } else {
                                StatusCode::NOT_FOUND
                            })
                            .header("content-type", "application/octet-stream")
                            .header("cache-control", "max-age=3600")
                            .header("etag", "\"bench\"")
                            .body(Full::new(if found { body.clone() } else { Bytes::new() }));
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
}
