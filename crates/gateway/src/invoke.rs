//! The gateway's port to the functions service: what it needs to invoke a function, and
//! nothing more. The binary wires an adapter over the functions service; tests plug in
//! closures. This module must not know how functions run.

use bytes::Bytes;
use nuvem_aws::BoxFuture;

/// The outcome of a synchronous (RequestResponse) invocation that reached the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeResult {
    /// What the function returned (or the error document it produced).
    pub payload: Bytes,
    /// `Some("Unhandled")`/`Some("Handled")` when Lambda would set `X-Amz-Function-Error`.
    pub function_error: Option<String>,
}

impl InvokeResult {
    pub fn ok(payload: impl Into<Bytes>) -> Self {
        Self {
            payload: payload.into(),
            function_error: None,
        }
    }

    pub fn function_error(payload: impl Into<Bytes>) -> Self {
        Self {
            payload: payload.into(),
            function_error: Some("Unhandled".into()),
        }
    }
}

/// Why an invocation did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    #[error("function not found: {0}")]
    NotFound(String),
    /// The function's concurrency or the service's capacity is exhausted.
    #[error("function throttled")]
    Throttled,
    /// The function cannot run yet (its code is still being built, or could not be): a
    /// retryable condition, with why.
    #[error("function not ready: {0}")]
    NotReady(String),
    #[error("invocation failed: {0}")]
    Failed(String),
}

/// Invokes a function synchronously. `function` is a name, a partial ARN or a full ARN, as in
/// Lambda's `Invoke`; the gateway passes what the integration names.
pub trait LambdaInvoker: Send + Sync {
    fn invoke(
        &self,
        function: &str,
        payload: Bytes,
    ) -> BoxFuture<'_, Result<InvokeResult, InvokeError>>;
}

/// The function name inside an integration URI: a plain name, a Lambda function ARN
/// (`arn:aws:lambda:us-east-1:000000000000:function:name[:qualifier]`) or the API Gateway
/// invocation URI that wraps one
/// (`arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/<arn>/invocations`).
pub fn function_of_uri(uri: &str) -> &str {
    match uri.split_once("/functions/") {
        Some((_, rest)) => rest.strip_suffix("/invocations").unwrap_or(rest),
        None => uri,
    }
}
