//! [`Invoker`]: the small in-process API to invoke a function, for consumers such as the API
//! gateway. It lives here for now; when the gateway lands, the trait moves to the consumer
//! (or a tiny shared crate) and the binary wires [`crate::FunctionsService`] in, so the two
//! services never depend on each other. Must not: grow beyond what a caller of Invoke needs.

use bytes::Bytes;
use nuvem_aws::{AwsError, BoxFuture};

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// Synchronous: wait for the function's answer.
    RequestResponse,
    /// Asynchronous: queued, answered 202, retried twice on error.
    Event,
    /// Only check that the function exists and may be invoked: 204.
    DryRun,
}

/// One Invoke call.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// A name, `name:qualifier`, or a full or partial ARN.
    pub function: String,
    pub qualifier: Option<String>,
    pub payload: Bytes,
    pub kind: InvocationType,
    /// Return the last 4 KB of the invocation's log.
    pub tail: bool,
    /// `X-Amz-Client-Context`: base64 of a JSON object.
    pub client_context: Option<String>,
    /// The invocation's request id (the function sees it as its `aws_request_id`).
    pub request_id: String,
}

/// What the Invoke API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeResponse {
    /// 200 (RequestResponse), 202 (Event) or 204 (DryRun).
    pub status: u16,
    pub payload: Bytes,
    /// `Some("Unhandled")` when the function failed (`X-Amz-Function-Error`).
    pub function_error: Option<String>,
    /// base64 of the log tail (`X-Amz-Log-Result`), when asked for.
    pub log_result: Option<String>,
    /// The version that ran (`X-Amz-Executed-Version`: `$LATEST` or a number), for
    /// synchronous invocations.
    pub executed_version: Option<String>,
}

/// Invokes functions in-process, with the semantics of the Invoke API. Errors are the API
/// errors a client would get (not found, throttled, bad payload); function errors are
/// successful responses with `function_error` set.
pub trait Invoker: Send + Sync {
    fn invoke(&self, request: InvokeRequest) -> BoxFuture<'_, Result<InvokeResponse, AwsError>>;
}
