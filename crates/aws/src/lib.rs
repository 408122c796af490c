//! AWS protocol plumbing shared by every nuvem service.
//!
//! Owns: SigV4 verification ([`sigv4`]), deciding which service a request is for
//! ([`routing`]), AWS error shapes ([`AwsError`], [`Protocol`], [`IntoAwsError`]), request ids,
//! and the [`Service`] trait through which the endpoint hands a verified request to a service.
//!
//! Must not: open sockets or files, know about any one service's operations, or hold state.
//! The listener that uses all this lives in the binary.

pub mod error;
pub mod json_api;
pub mod request_id;
pub mod routing;
pub mod sigv4;
pub mod time;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};

pub use error::{AwsError, ErrorCode, IntoAwsError, Protocol};
pub use request_id::RequestId;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response inside nuvem: streamed, boxed.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A complete body from bytes.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty_body() -> Body {
    full_body(Bytes::new())
}

/// Who sent a request, as established by the endpoint before the service sees it.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No signature: only what is public may be served (e.g. a public-read bucket).
    Anonymous,
    /// A valid SigV4 signature by this access key.
    Signed(sigv4::Verified),
}

impl Caller {
    pub fn access_key_id(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Signed(v) => Some(&v.access_key_id),
        }
    }

    /// The region the client signed for, or the default one for anonymous callers.
    pub fn region<'a>(&'a self, default: &'a str) -> &'a str {
        match self {
            Caller::Anonymous => default,
            Caller::Signed(v) => &v.region,
        }
    }
}

/// Marks a request signed with the account's root credentials (the manifest's keys): the
/// endpoint puts it in the request's extensions after authentication, for services whose
/// behaviour differs for the root (Lambda's execution-role fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootCaller;

/// How a request arrived, in its extensions (the listener puts it there): services whose
/// rules depend on it read it (`aws:SecureTransport`; S3 refuses SSE-C keys over plain HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    /// Over TLS.
    pub secure: bool,
}

/// A request that passed authentication, on its way to a service.
pub struct AwsRequest {
    pub parts: http::request::Parts,
    pub body: Body,
    pub request_id: RequestId,
    pub caller: Caller,
    /// The payload mode the client declared. For [`Service::streams_body`] services the body
    /// is still unchecked against it; otherwise the endpoint already checked it.
    pub payload: sigv4::PayloadMode,
}

/// How a service wants the endpoint to treat request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyHandling {
    /// The endpoint reads the whole body (up to the limit, else 413; held against its budget
    /// of buffered bytes, else 503) and checks it against the signed payload hash before the
    /// service is called. The body's own hash is what is signed: `UNSIGNED-PAYLOAD` and the
    /// streaming modes are refused. For JSON APIs.
    Buffered { limit: usize },
    /// The body is passed on as a stream; the service checks it (S3 uploads, aws-chunked).
    Streamed,
}

/// The readiness a service reports on `/_nuvem/health`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ready,
    Degraded(String),
}

/// One AWS service behind the shared endpoint. Each service crate implements it; the binary
/// registers the implementations under their SigV4 scope names.
pub trait Service: Send + Sync + 'static {
    /// The SigV4 scope name (`dynamodb`, `s3`, `lambda`, ...).
    fn name(&self) -> &'static str;
    /// The wire protocol, which decides how errors (including auth errors) look.
    fn protocol(&self) -> Protocol;
    fn body_handling(&self) -> BodyHandling {
        BodyHandling::Buffered {
            limit: 16 * 1024 * 1024,
        }
    }
    /// Whether requests without a signature reach the service (S3 public reads). Services
    /// that return false never see anonymous requests.
    fn accepts_anonymous(&self) -> bool {
        false
    }
    fn health(&self) -> Health {
        Health::Ready
    }
    /// Live counters shown under `stats.<name>` on `/_nuvem/health` (current and peak
    /// concurrency, cold/warm starts...), or `None` for a service without any.
    fn stats(&self) -> Option<serde_json::Value> {
        None
    }
    /// Handles one request. Every failure must come back as a response (an [`AwsError`]
    /// rendered in the service's protocol), never as a panic.
    fn call(&self, request: AwsRequest) -> BoxFuture<'_, http::Response<Body>>;
}
