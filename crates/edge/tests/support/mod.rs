//! Test support: a real HTTP origin on 127.0.0.1:0 (hyper) that counts its requests and
//! answers from a per-path script, and an edge built from manifest text in front of it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use nuvem_aws::{Body, full_body};
use nuvem_edge::{Distribution, Edge, NoProvider, OriginProvider, spec::DistributionSpec};

/// What the origin answers for a path.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// How long the origin waits before it answers (a fill stays in flight that long).
    pub delay: std::time::Duration,
}

impl Reply {
    pub fn delayed(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn ok(headers: &[(&str, &str)], body: &str) -> Self {
        Self::status(200, headers, body)
    }

    pub fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        Self {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Bytes::from(body.to_string()),
            delay: std::time::Duration::ZERO,
        }
    }
}

type Handler = Arc<dyn Fn(&http::request::Parts) -> Option<Response<Full<Bytes>>> + Send + Sync>;

/// A counting origin.
pub struct TestOrigin {
    pub url: String,
    script: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    pub total: Arc<AtomicUsize>,
    /// The last request's headers.
    pub last: Arc<Mutex<Option<http::request::Parts>>>,
}

impl TestOrigin {
    /// Answers from the script; ETag / Last-Modified conditionals are honoured with 304.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// `custom` answers first when it returns `Some`.
    pub async fn start_with(custom: Option<Handler>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let total = Arc::new(AtomicUsize::new(0));
        let last: Arc<Mutex<Option<http::request::Parts>>> = Arc::default();
        let (s, h, t, l) = (script.clone(), hits.clone(), total.clone(), last.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, h, t, l, custom) =
                    (s.clone(), h.clone(), t.clone(), l.clone(), custom.clone());
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (s, h, t, l, custom) =
                        (s.clone(), h.clone(), t.clone(), l.clone(), custom.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let _ = body.collect().await;
                        t.fetch_add(1, Ordering::SeqCst);
                        *h.lock()
                            .unwrap()
                            .entry(parts.uri.path().to_string())
                            .or_default() += 1;
                        *l.lock().unwrap() = Some(parts.clone());
                        if let Some(c) = &custom
                            && let Some(r) = c(&parts)
                        {
                            return Ok::<_, Infallible>(r);
                        }
                        let reply = s.lock().unwrap().get(parts.uri.path()).cloned();
                        if let Some(d) = reply.as_ref().map(|r| r.delay)
                            && !d.is_zero()
                        {
                            tokio::time::sleep(d).await;
                        }
                        Ok(render(&parts, reply))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            url,
            script,
            hits,
            total,
            last,
        }
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.script.lock().unwrap().insert(path.to_string(), reply);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn render(parts: &http::request::Parts, reply: Option<Reply>) -> Response<Full<Bytes>> {
    let Some(reply) = reply else {
        let mut r = Response::new(Full::new(Bytes::from_static(b"not found")));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    let mut r = Response::new(Full::new(reply.body.clone()));
    *r.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    let mut has_date = false;
    for (k, v) in &reply.headers {
        has_date |= k.eq_ignore_ascii_case("date");
        r.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    if !has_date {
        r.headers_mut().insert(
            http::header::DATE,
            httpdate::fmt_http_date(std::time::SystemTime::now())
                .parse()
                .unwrap(),
        );
    }
    let etag = r.headers().get("etag").cloned();
    if let (Some(inm), Some(etag)) = (parts.headers.get("if-none-match"), etag)
        && inm == etag
    {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        *r.body_mut() = Full::new(Bytes::new());
    }
    r
}

/// An edge built from `[distribution]` TOML text (`{origin}` is replaced by the origin URL).
pub fn edge(toml_text: &str, origin: &str) -> Arc<Edge> {
    edge_with(toml_text, origin, &NoProvider)
}

pub fn edge_with(toml_text: &str, origin: &str, provider: &dyn OriginProvider) -> Arc<Edge> {
    let text = toml_text.replace("{origin}", origin);
    let spec: DistributionSpec = toml::from_str(&text).expect("valid distribution TOML");
    let dist = Distribution::from_spec(&spec).expect("valid distribution");
    Edge::new(dist, provider, None).expect("edge")
}

/// A simple distribution: one default behavior to the origin, plus `extra` behavior keys.
pub fn simple(extra: &str) -> String {
    format!("[[behaviors]]\npath_pattern = \"default\"\norigin = \"{{origin}}\"\n{extra}\n")
}

/// A response with its body collected.
pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    pub fn x_cache(&self) -> &str {
        self.header("x-cache")
            .strip_suffix(" from nuvem")
            .unwrap_or(self.header("x-cache"))
    }
}

pub async fn send(
    edge: &Arc<Edge>,
    location: usize,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Got {
    send_body(edge, location, method, uri, headers, "").await
}

pub async fn send_body(
    edge: &Arc<Edge>,
    location: usize,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Got {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req: Request<Body> = b.body(full_body(body.to_string())).unwrap();
    let resp = edge.location(location).unwrap().handle(req, false).await;
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Got {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An edge whose regional tier keeps a disk layer in `dir`.
pub fn edge_on_disk(toml_text: &str, origin: &str, dir: &std::path::Path) -> Arc<Edge> {
    let text = toml_text.replace("{origin}", origin);
    let spec: DistributionSpec = toml::from_str(&text).expect("valid distribution TOML");
    let mut dist = Distribution::from_spec(&spec).expect("valid distribution");
    dist.disk_dir = Some(dir.to_path_buf());
    Edge::new(dist, &NoProvider, None).expect("edge")
}

/// Files in a folder (bounded wait for background writes to land).
pub async fn wait_for_files(dir: &std::path::Path, n: usize) -> usize {
    let count = || std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    for _ in 0..500 {
        if count() == n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    count()
}
