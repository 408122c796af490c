//! Test harness: a gateway on a real store in a temp dir, an in-test functions port whose
//! functions are closures, and a small HTTP backend that echoes what it received.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use nuvem_aws::{BoxFuture, full_body};
use nuvem_gateway::{Caller, Gateway, GatewayConfig, InvokeError, InvokeResult, LambdaInvoker};
use nuvem_store::{Durability, FjallEngine, Store};
use serde_json::{Value, json};

pub type Function =
    Arc<dyn Fn(Value) -> BoxFuture<'static, Result<InvokeResult, InvokeError>> + Send + Sync>;

/// The functions port for tests: named closures, every event they received and on whose
/// behalf, the permissions quick create asked for, and functions whose policy refuses API
/// Gateway.
#[derive(Default)]
pub struct Functions {
    pub functions: Mutex<HashMap<String, Function>>,
    pub events: Mutex<Vec<(String, Value)>>,
    pub callers: Mutex<Vec<Caller>>,
    /// `(function, statement id, source ARN)` per grant.
    pub grants: Mutex<Vec<(String, String, String)>>,
    pub refused: Mutex<Vec<String>>,
}

impl LambdaInvoker for Functions {
    fn grant(
        &self,
        function: &str,
        statement_id: &str,
        source_arn: &str,
    ) -> BoxFuture<'_, Result<(), String>> {
        self.grants.lock().unwrap().push((
            function.to_owned(),
            statement_id.to_owned(),
            source_arn.to_owned(),
        ));
        Box::pin(async { Ok(()) })
    }

    fn invoke(
        &self,
        function: &str,
        payload: Bytes,
        caller: &Caller,
    ) -> BoxFuture<'_, Result<InvokeResult, InvokeError>> {
        let name = function.rsplit(':').next().unwrap_or(function).to_string();
        self.callers.lock().unwrap().push(caller.clone());
        if self.refused.lock().unwrap().contains(&name) {
            return Box::pin(async move { Err(InvokeError::Denied(name)) });
        }
        let event: Value = serde_json::from_slice(&payload).expect("events are JSON");
        self.events
            .lock()
            .unwrap()
            .push((name.clone(), event.clone()));
        let f = self.functions.lock().unwrap().get(&name).cloned();
        Box::pin(async move {
            match f {
                Some(f) => f(event).await,
                None => Err(InvokeError::NotFound(name)),
            }
        })
    }
}

pub struct Harness {
    pub gw: Arc<Gateway>,
    pub fns: Arc<Functions>,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::trusting(None)
    }

    /// A gateway that also trusts the PEM certificates of `extra_ca_pem` upstream.
    pub fn trusting(extra_ca_pem: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).unwrap());
        let gw = Gateway::open(
            store,
            GatewayConfig {
                region: "us-east-1".into(),
                account_id: "000000000000".into(),
                extra_ca_pem: extra_ca_pem.map(|p| p.as_bytes().to_vec()),
            },
        )
        .unwrap();
        let fns = Arc::new(Functions::default());
        gw.set_invoker(fns.clone());
        Self {
            gw: Arc::new(gw),
            fns,
            _dir: dir,
        }
    }

    /// Registers a function that answers every event with `f(event)`.
    pub fn function(
        &self,
        name: &str,
        f: impl Fn(Value) -> Result<InvokeResult, InvokeError> + Send + Sync + 'static,
    ) {
        let f = Arc::new(f);
        self.fns.functions.lock().unwrap().insert(
            name.into(),
            Arc::new(move |ev| {
                let f = f.clone();
                Box::pin(async move { f(ev) })
            }),
        );
    }

    /// Registers a function that always returns `output`.
    pub fn canned(&self, name: &str, output: &str) {
        let output = output.to_string();
        self.function(name, move |_| Ok(InvokeResult::ok(output.clone())));
    }

    pub fn last_event(&self) -> Value {
        self.fns
            .events
            .lock()
            .unwrap()
            .last()
            .map(|e| e.1.clone())
            .unwrap_or(Value::Null)
    }

    /// A management operation that must succeed.
    pub fn op(&self, method: &str, path: &str, input: Value) -> Value {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        match self.gw.route_management(&m, path, &input) {
            Ok((_, v)) => v,
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    /// An API with one integration per (route key, integration) and a `$default` stage.
    pub fn api(&self, routes: &[(&str, Value)]) -> String {
        self.api_with(
            json!({"name": "t", "protocolType": "HTTP"}),
            routes,
            json!({"stageName": "$default"}),
        )
    }

    pub fn api_with(&self, create: Value, routes: &[(&str, Value)], stage: Value) -> String {
        let api = self.op("POST", "/v2/apis", create);
        let id = api["apiId"].as_str().unwrap().to_string();
        for (key, integration) in routes {
            let i = self.op(
                "POST",
                &format!("/v2/apis/{id}/integrations"),
                integration.clone(),
            );
            self.op(
                "POST",
                &format!("/v2/apis/{id}/routes"),
                json!({"routeKey": key, "target": format!("integrations/{}", i["integrationId"].as_str().unwrap())}),
            );
        }
        self.op("POST", &format!("/v2/apis/{id}/stages"), stage);
        id
    }

    pub async fn send(&self, api: &str, req: Request<Bytes>) -> Reply {
        let (parts, body) = req.into_parts();
        self.send_body(api, Request::from_parts(parts, full_body(body)))
            .await
    }

    /// Sends a request whose body is any `Body` (a stream of unknown length, say).
    pub async fn send_body(&self, api: &str, req: Request<nuvem_aws::Body>) -> Reply {
        let resp = self.gw.handle(api, req).await;
        let (parts, body) = resp.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default(),
        }
    }

    pub async fn get(&self, api: &str, uri: &str) -> Reply {
        self.send(api, Request::get(uri).body(Bytes::new()).unwrap())
            .await
    }
}

pub fn lambda(name: &str, version: &str) -> Value {
    json!({
        "integrationType": "AWS_PROXY",
        "integrationUri": format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"),
        "payloadFormatVersion": version,
    })
}

pub fn http_integration(url: &str) -> Value {
    json!({"integrationType": "HTTP_PROXY", "integrationUri": url, "integrationMethod": "ANY"})
}

/// A backend on 127.0.0.1:0 that answers with a JSON echo of the request (method, path
/// with query, headers, body) and `x-backend: yes`; `/slow` waits a second first.
pub async fn echo_backend() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let (parts, body) = req.into_parts();
                        if parts.uri.path() == "/slow" {
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let headers: serde_json::Map<String, Value> = parts
                            .headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                            .collect();
                        let echo = json!({
                            "method": parts.method.as_str(),
                            "uri": parts.uri.to_string(),
                            "headers": headers,
                            "body": String::from_utf8_lossy(&body),
                        });
                        let resp = hyper::Response::builder()
                            .status(if parts.uri.path() == "/teapot" {
                                418
                            } else {
                                200
                            })
                            .header("content-type", "application/json")
                            .header("x-backend", "yes")
                            .header("set-cookie", "a=1")
                            .header("set-cookie", "b=2")
                            .body(http_body_util::Full::new(Bytes::from(echo.to_string())))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// A backend on 127.0.0.1:0 that answers 200 to every request and counts the bodies it
/// received whole.
pub async fn counting_backend() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let whole = Arc::new(AtomicUsize::new(0));
    let counter = whole.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        if req.into_body().collect().await.is_ok() {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), whole)
}

/// A body of `count` chunks of `size` bytes that does not say how long it is, like a
/// `Transfer-Encoding: chunked` upload.
pub fn chunked_body(count: usize, size: usize) -> nuvem_aws::Body {
    struct Chunks {
        left: usize,
        chunk: Bytes,
    }
    impl hyper::body::Body for Chunks {
        type Data = Bytes;
        type Error = nuvem_aws::BoxError;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            if self.left == 0 {
                return std::task::Poll::Ready(None);
            }
            self.left -= 1;
            let chunk = self.chunk.clone();
            std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
        }
    }
    Chunks {
        left: count,
        chunk: Bytes::from(vec![b'x'; size]),
    }
    .boxed_unsync()
}

/// A certificate authority made for one test, and server certificates it signs.
pub struct TestCa {
    /// The CA certificate, PEM (what a gateway is told to trust).
    pub pem: String,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            cert,
            key,
        }
    }

    /// A TLS acceptor with a certificate for `127.0.0.1` and `localhost` signed by this CA.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// What an HTTPS backend answers: a JSON body for the request and its base URL.
pub type Answer = Arc<dyn Fn(&http::request::Parts, &str) -> Value + Send + Sync>;

/// An HTTPS backend on 127.0.0.1:0 with a certificate from `ca`; answers 200 with
/// `answer(request, base_url)` as JSON and `x-backend: tls`. Returns `https://127.0.0.1:port`.
pub async fn https_backend(ca: &TestCa, answer: Answer) -> String {
    let acceptor = ca.acceptor();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let b = base.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, answer, base) = (acceptor.clone(), answer.clone(), b.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (parts, _) = req.into_parts();
                    let body = answer(&parts, &base);
                    async move {
                        let resp = hyper::Response::builder()
                            .header("content-type", "application/json")
                            .header("x-backend", "tls")
                            .body(http_body_util::Full::new(Bytes::from(body.to_string())))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    base
}
