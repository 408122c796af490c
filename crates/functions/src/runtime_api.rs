//! The Lambda Runtime API (2018-06-01) one execution environment talks to
//! (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
//!
//! Each environment gets its own listener, because runtimes learn the API only as `host:port`
//! (`AWS_LAMBDA_RUNTIME_API`) and build the paths themselves: a shared listener could not tell
//! environments apart. With a network namespace of its own ([`crate::netns`]) the listener is
//! `127.0.0.1:9001` inside it, as on AWS, and exists nowhere else; otherwise it is
//! `127.0.0.1:<ephemeral>` on the host's loopback. The listener lives and dies with its
//! environment. Status codes and error bodies follow AWS's runtime interface
//! emulator: 202 `{"status":"OK"}` for accepted posts, 400 `InvalidRequestID`, 403
//! `InvalidStateTransition`, 413 `RequestEntityTooLarge`.
//!
//! Only the environment's own processes are served: each connection's peer must belong to the
//! environment's process group ([`RuntimeApi::serve_only`], checked once per connection
//! through `/proc`, see [`crate::peer`]); any other local process is disconnected before a
//! byte is read, so it can neither take the environment's events nor answer them.
//!
//! Must not: decide anything about pools, timeouts or logs; it only moves events and outcomes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::sync::{mpsc, oneshot, watch};

/// Lambda's limit on a synchronous response payload, as the runtime API enforces it.
pub const MAX_RESPONSE: usize = 6_291_556;

/// One invocation on its way into an environment.
pub struct Event {
    pub request_id: String,
    pub payload: Bytes,
    /// Milliseconds since the Unix epoch.
    pub deadline_ms: u128,
    pub function_arn: String,
    pub trace_id: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub done: oneshot::Sender<Outcome>,
}

/// How the runtime finished one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response(Bytes),
    /// A function error: the runtime's error JSON (or one built from its error-type header).
    Error(Bytes),
}

/// Where the environment's runtime is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Starting,
    /// Asked for its first event: initialization is over.
    Ready,
    /// Reported `/runtime/init/error` with this error JSON.
    InitFailed(Bytes),
}

struct State {
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    current: Mutex<Option<(String, oneshot::Sender<Outcome>)>>,
    phase: watch::Sender<Phase>,
}

/// A running Runtime API listener. Dropping it stops the listener.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    pub events: mpsc::Sender<Event>,
    pub phase: watch::Receiver<Phase>,
    owner: watch::Sender<Option<u32>>,
    task: tokio::task::JoinHandle<()>,
}

/// How long a connection waits for [`RuntimeApi::serve_only`] (the environment's process is
/// being started; its runtime cannot connect before it exists).
const OWNER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the peer of a new connection is the owner's. `/proc` is read off the async worker.
async fn admitted(
    peer: SocketAddr,
    local: SocketAddr,
    mut owner: watch::Receiver<Option<u32>>,
) -> bool {
    let pgid = match tokio::time::timeout(OWNER_WAIT, owner.wait_for(Option::is_some)).await {
        Ok(Ok(p)) => p.unwrap_or_default(),
        _ => return false,
    };
    let verdict =
        tokio::task::spawn_blocking(move || crate::peer::in_process_group(peer, local, pgid))
            .await
            .ok()
            .flatten();
    match verdict {
        Some(true) => true,
        Some(false) => {
            tracing::warn!(%peer, "lambda: Runtime API refused a connection from a process outside its environment");
            false
        }
        // No /proc (not Linux): the check cannot be made; said once at start-up.
        None => true,
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// A listener on the host's loopback, at an ephemeral port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        Self::serve(listener)
    }

    /// Serves `listener` (non-blocking; made in an environment's network namespace, or on
    /// the host by [`RuntimeApi::start`]). Inside a Tokio runtime.
    pub fn serve(listener: std::net::TcpListener) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let (events_tx, events_rx) = mpsc::channel(1);
        let (phase_tx, phase_rx) = watch::channel(Phase::Starting);
        let (owner_tx, owner_rx) = watch::channel(None);
        let state = Arc::new(State {
            events: tokio::sync::Mutex::new(events_rx),
            current: Mutex::new(None),
            phase: phase_tx,
        });
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let owner = owner_rx.clone();
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, req).await) }
                });
                connections.spawn(async move {
                    if !admitted(peer, addr, owner).await {
                        return;
                    }
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
                // Reap finished connection tasks so a long-lived environment does not grow.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            addr,
            events: events_tx,
            phase: phase_rx,
            owner: owner_tx,
            task,
        })
    }

    /// Serves only the processes of process group `pgid` (the environment's runtime and what
    /// it starts). Until this is called, connections wait (up to a few seconds).
    pub fn serve_only(&self, pgid: u32) {
        self.owner.send_replace(Some(pgid));
    }
}

type Resp = Response<Full<Bytes>>;

fn json(status: StatusCode, body: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn accepted() -> Resp {
    json(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Resp {
    json(
        status,
        &serde_json::json!({"errorMessage": message, "errorType": error_type}).to_string(),
    )
}

async fn handle(state: &State, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return error(StatusCode::NOT_FOUND, "NotFound", "Not Found");
    };
    match (req.method(), rest) {
        (&Method::GET, "invocation/next") => next(state).await,
        (&Method::POST, "init/error") => init_error(state, req).await,
        (&Method::POST, rest) => match rest.strip_prefix("invocation/").and_then(|r| {
            r.strip_suffix("/response")
                .map(|id| (id, true))
                .or_else(|| r.strip_suffix("/error").map(|id| (id, false)))
        }) {
            Some((id, is_response)) => {
                let id = id.to_string();
                post_outcome(state, req, &id, is_response).await
            }
            None => error(StatusCode::NOT_FOUND, "NotFound", "Not Found"),
        },
        _ => error(StatusCode::NOT_FOUND, "NotFound", "Not Found"),
    }
}

async fn next(state: &State) -> Resp {
    state.phase.send_if_modified(|p| {
        if *p == Phase::Starting {
            *p = Phase::Ready;
            true
        } else {
            false
        }
    });
    // Asking for the next event without answering the current one abandons it; its invoker
    // sees the closed channel and reports a runtime error.
    drop(state.current.lock().ok().and_then(|mut c| c.take()));
    let event = {
        let mut events = state.events.lock().await;
        events.recv().await
    };
    let Some(event) = event else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "The environment is shutting down",
        );
    };
    let mut resp = Response::new(Full::new(event.payload));
    let h = resp.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &event.request_id);
    set("lambda-runtime-deadline-ms", &event.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &event.function_arn);
    set("lambda-runtime-trace-id", &event.trace_id);
    if let Some(c) = &event.client_context {
        set("lambda-runtime-client-context", c);
    }
    if let Some(c) = &event.cognito_identity {
        set("lambda-runtime-cognito-identity", c);
    }
    set("content-type", "application/json");
    if let Ok(mut current) = state.current.lock() {
        *current = Some((event.request_id, event.done));
    }
    resp
}

/// The error JSON of an `/error` or `/init/error` post: the body when there is one, else one
/// built from the `Lambda-Runtime-Function-Error-Type` header, as the API specification says.
fn error_body(headers: &http::HeaderMap, body: Bytes) -> Bytes {
    if !body.is_empty() {
        return body;
    }
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Runtime.Unknown");
    Bytes::from(serde_json::json!({"errorMessage": "", "errorType": error_type}).to_string())
}

async fn read_body(req: Request<Incoming>) -> Result<(http::HeaderMap, Bytes), Resp> {
    let (parts, body) = req.into_parts();
    match Limited::new(body, MAX_RESPONSE).collect().await {
        Ok(b) => Ok((parts.headers, b.to_bytes())),
        Err(_) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."),
        )),
    }
}

async fn init_error(state: &State, req: Request<Incoming>) -> Resp {
    let (headers, body) = match read_body(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let body = error_body(&headers, body);
    let moved = state.phase.send_if_modified(|p| {
        if *p == Phase::Starting {
            *p = Phase::InitFailed(body.clone());
            true
        } else {
            false
        }
    });
    if moved {
        accepted()
    } else {
        error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed",
        )
    }
}

async fn post_outcome(state: &State, req: Request<Incoming>, id: &str, is_response: bool) -> Resp {
    let known = state
        .current
        .lock()
        .map(|c| c.as_ref().is_some_and(|(cur, _)| cur == id))
        .unwrap_or(false);
    if !known {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    }
    let outcome = match read_body(req).await {
        Ok((_, body)) if is_response => Outcome::Response(body),
        Ok((headers, body)) => Outcome::Error(error_body(&headers, body)),
        Err(resp) => {
            // The invoker learns why it gets no payload, as Lambda reports it.
            let msg = format!(
                "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."
            );
            let body = serde_json::json!({"errorMessage": msg, "errorType": "Function.ResponseSizeTooLarge"});
            finish(state, id, Outcome::Error(Bytes::from(body.to_string())));
            return resp;
        }
    };
    if finish(state, id, outcome) {
        accepted()
    } else {
        error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        )
    }
}

/// Hands the outcome to the invoker if `id` is still the current invocation.
fn finish(state: &State, id: &str, outcome: Outcome) -> bool {
    let taken = state.current.lock().ok().and_then(|mut c| {
        if c.as_ref().is_some_and(|(cur, _)| cur == id) {
            c.take()
        } else {
            None
        }
    });
    match taken {
        Some((_, done)) => {
            let _ = done.send(outcome);
            true
        }
        None => false,
    }
}
