//! The guard hook (where the WAF plugs in) and request bodies: the guard sees the first
//! `body_limit` bytes of a body and whether there was more, a blocked request never reaches
//! the origin, and the origin still receives every byte of what passes, streamed (the edge
//! waits for the body's head only). The origin is an in-process one that keeps what it got.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use nuvem_aws::{Body, BoxError, BoxFuture, full_body};
use nuvem_edge::{Distribution, Edge, Guard, Origin, OriginProvider, spec::DistributionSpec};

const DIST: &str = r#"
[[behaviors]]
path_pattern = "default"
origin = "api:sink"
allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
"#;

/// What the guard saw of one request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    body: Vec<u8>,
    oversize: bool,
    /// How many chunks the viewer's body had yielded when the guard ran.
    pulled: usize,
}

struct Recorder {
    limit: Option<usize>,
    seen: Mutex<Vec<Seen>>,
    pulled: Arc<AtomicUsize>,
}

impl Guard for Recorder {
    fn body_limit(&self) -> usize {
        self.limit.unwrap_or(nuvem_edge::DEFAULT_BODY_LIMIT)
    }

    fn inspect(
        &self,
        _req: &Parts,
        body: &[u8],
        oversize: bool,
        _location: &str,
    ) -> Option<Response<Body>> {
        self.seen.lock().unwrap().push(Seen {
            body: body.to_vec(),
            oversize,
            pulled: self.pulled.load(Ordering::SeqCst),
        });
        body.windows(4).any(|w| w == b"evil").then(|| {
            let mut r = Response::new(full_body("blocked"));
            *r.status_mut() = StatusCode::FORBIDDEN;
            r
        })
    }
}

/// Keeps every body it receives, and the length the body announced.
#[derive(Default)]
struct Sink {
    got: Mutex<Vec<(Bytes, Option<u64>)>>,
}

impl Origin for Sink {
    fn fetch(
        &self,
        req: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, nuvem_edge::Error>> {
        Box::pin(async move {
            let hint = http_body::Body::size_hint(req.body()).exact();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            self.got.lock().unwrap().push((body, hint));
            Ok(Response::new(full_body("ok")))
        })
    }
}

struct Provider(Arc<Sink>);

impl OriginProvider for Provider {
    fn bucket_reader(&self) -> Option<Arc<dyn nuvem_edge::BucketReader>> {
        None
    }
    fn api(&self, _name: &str) -> Option<Arc<dyn Origin>> {
        Some(self.0.clone())
    }
}

struct Setup {
    edge: Arc<Edge>,
    guard: Arc<Recorder>,
    sink: Arc<Sink>,
}

fn setup(limit: Option<usize>) -> Setup {
    let spec: DistributionSpec = toml::from_str(DIST).unwrap();
    let dist = Distribution::from_spec(&spec).unwrap();
    let sink = Arc::new(Sink::default());
    let guard = Arc::new(Recorder {
        limit,
        seen: Mutex::default(),
        pulled: Arc::default(),
    });
    let edge = Edge::new(dist, &Provider(sink.clone()), Some(guard.clone())).unwrap();
    Setup { edge, guard, sink }
}

/// A viewer body that yields `chunks` one at a time, counting how many were taken.
fn streamed(chunks: Vec<Bytes>, pulled: Arc<AtomicUsize>) -> Body {
    let stream = futures_util::stream::iter(chunks).map(move |c| {
        pulled.fetch_add(1, Ordering::SeqCst);
        Ok::<_, BoxError>(Frame::data(c))
    });
    StreamBody::new(stream).boxed_unsync()
}

/// Sends `chunks` as the body of `method /form`; returns the status and what the guard saw.
async fn send(s: &Setup, method: &str, chunks: Vec<Bytes>) -> (u16, Seen) {
    s.guard.pulled.store(0, Ordering::SeqCst);
    send_body(s, method, streamed(chunks, s.guard.pulled.clone())).await
}

async fn send_body(s: &Setup, method: &str, body: Body) -> (u16, Seen) {
    let req = Request::builder()
        .method(method)
        .uri("/form")
        .body(body)
        .unwrap();
    let resp = s.edge.location(0).unwrap().handle(req, false).await;
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    let seen = s.guard.seen.lock().unwrap().pop().expect("the guard ran");
    (status, seen)
}

fn chunks(sizes: &[usize]) -> Vec<Bytes> {
    let mut n = 0u8;
    sizes
        .iter()
        .map(|&len| {
            let c: Vec<u8> = (0..len)
                .map(|_| {
                    n = n.wrapping_add(1);
                    b'a' + n % 26
                })
                .collect();
            Bytes::from(c)
        })
        .collect()
}

/// `method` with a body of `sizes` chunks through a guard of `limit`: the guard sees the
/// body's first `limit` bytes (nothing for GET/HEAD) and `oversize` when there was more; a
/// POST reaches the origin with every byte.
#[track_caller]
fn check(method: &str, limit: Option<usize>, sizes: &[usize], oversize: bool) {
    let rt = support_runtime();
    let s = setup(limit);
    let body = chunks(sizes);
    let whole: Vec<u8> = body.iter().flat_map(|c| c.iter().copied()).collect();
    let (status, seen) = rt.block_on(send(&s, method, body));
    assert_eq!(status, 200, "{method} {sizes:?}");
    let max = limit.unwrap_or(16 * 1024);
    let expected: &[u8] = if matches!(method, "GET" | "HEAD") {
        &[]
    } else {
        &whole[..whole.len().min(max)]
    };
    assert_eq!(
        seen.body, expected,
        "{method} {sizes:?}: the inspected prefix"
    );
    assert_eq!(seen.oversize, oversize, "{method} {sizes:?}: oversize");
    if method == "POST" {
        let got = s.sink.got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert!(
            got[0].0 == whole,
            "{sizes:?}: the origin got the body whole"
        );
    }
}

fn support_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_guard_sees_the_head_of_the_body() {
    const K16: usize = 16 * 1024;
    check("POST", None, &[], false);
    check("POST", None, &[3], false);
    check("POST", None, &[1000, 2000, 3000], false);
    check("POST", None, &[K16], false);
    check("POST", None, &[K16 - 1, 1], false);
    check("POST", None, &[K16 + 1], true);
    check("POST", None, &[K16, 1], true);
    check("POST", None, &[4096; 5], true);
    check("POST", None, &[1, 0, 1], false);
    check("PUT", None, &[K16 * 2], true);
    check("PATCH", None, &[10], false);
    check("POST", Some(4), &[3], false);
    check("POST", Some(4), &[4], false);
    check("POST", Some(4), &[2, 3], true);
    check("POST", Some(64 * 1024), &[40_000, 24_000], false);
    check("POST", Some(64 * 1024), &[40_000, 30_000], true);
    // GET and HEAD are answered by the cache and their bodies never forwarded.
    check("GET", None, &[100], false);
    check("HEAD", None, &[100], false);
}

/// A multi-MiB upload: the guard runs once the first chunk is in (not after the whole
/// body), and the origin receives all of it.
#[test]
fn a_large_upload_streams_through_after_the_guard() {
    let rt = support_runtime();
    let s = setup(None);
    let body = chunks(&[64 * 1024; 64]);
    let whole: Vec<u8> = body.iter().flat_map(|c| c.iter().copied()).collect();
    let (status, seen) = rt.block_on(send(&s, "POST", body));
    assert_eq!(status, 200);
    assert_eq!(seen.body, &whole[..16 * 1024]);
    assert!(seen.oversize);
    assert_eq!(seen.pulled, 1, "the guard ran after the first chunk only");
    let got = s.sink.got.lock().unwrap();
    assert_eq!(got[0].0.len(), 4 * 1024 * 1024);
    assert!(got[0].0 == whole, "the origin got every byte in order");
}

/// A body of known length still announces it to the origin after its head was read, so a
/// `Content-Length` upload is not turned into a chunked one.
#[test]
fn the_origin_sees_the_length_of_the_body() {
    let rt = support_runtime();
    let s = setup(None);
    for len in [0usize, 10, 16 * 1024, 100_000] {
        let (status, seen) = rt.block_on(send_body(&s, "POST", full_body(vec![b'z'; len])));
        assert_eq!((status, seen.oversize), (200, len > 16 * 1024), "{len}");
        let got = s.sink.got.lock().unwrap().pop().unwrap();
        assert_eq!((got.0.len(), got.1), (len, Some(len as u64)));
    }
}

/// A blocked POST gets the guard's response and never reaches the origin; the same request
/// with a clean body does.
#[test]
fn a_blocked_body_never_reaches_the_origin() {
    let rt = support_runtime();
    let s = setup(None);
    let (status, _) = rt.block_on(send(&s, "POST", vec![Bytes::from("q=evil")]));
    assert_eq!(status, 403);
    assert!(s.sink.got.lock().unwrap().is_empty());
    let (status, _) = rt.block_on(send(&s, "POST", vec![Bytes::from("q=good")]));
    assert_eq!(status, 200);
    assert_eq!(s.sink.got.lock().unwrap().len(), 1);
    // Past the inspected head, the guard cannot see it (WAF's oversize handling decides).
    let mut late = vec![Bytes::from(vec![b'x'; 16 * 1024])];
    late.push(Bytes::from("evil"));
    let (status, seen) = rt.block_on(send(&s, "POST", late));
    assert_eq!((status, seen.oversize), (200, true));
}
