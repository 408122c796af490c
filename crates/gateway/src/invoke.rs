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
    /// Neither the function's resource-based policy nor the integration's role lets API
    /// Gateway invoke it (API Gateway answers 500 and logs why).
    #[error("not permitted: {0}")]
    Denied(String),
    #[error("invocation failed: {0}")]
    Failed(String),
}

/// On whose behalf the gateway invokes a function, as Lambda sees it: the service principal
/// `apigateway.amazonaws.com` with the calling route's ARN (`aws:SourceArn`), or, when the
/// integration names a role (`credentialsArn`), that role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>` for a route
    /// (`<api>/<stage>/$default` for the default route), `<api>/authorizers/<id>` for an
    /// authorizer.
    pub source_arn: String,
    /// The integration's (or authorizer's) `credentialsArn`: API Gateway assumes that role
    /// and the role's policies decide instead of the function's resource policy.
    pub credentials_arn: Option<String>,
}

/// Invokes a function synchronously. `function` is a name, a partial ARN or a full ARN, as in
/// Lambda's `Invoke`; the gateway passes what the integration names.
pub trait LambdaInvoker: Send + Sync {
    fn invoke(
        &self,
        function: &str,
        payload: Bytes,
        caller: &Caller,
    ) -> BoxFuture<'_, Result<InvokeResult, InvokeError>>;

    /// Adds a statement to `function`'s resource-based policy that lets API Gateway invoke
    /// it from `source_arn` (what quick create does, as the console does on AWS).
    fn grant(
        &self,
        function: &str,
        statement_id: &str,
        source_arn: &str,
    ) -> BoxFuture<'_, Result<(), String>>;
}

/// The execute-api ARN of a request on `route_key` (`GET /items/{id}`, `ANY /{proxy+}`,
/// `$default`) of `api` at `stage`: what `aws:SourceArn` is when the gateway invokes the
/// route's function. `ANY` stands as `*`, as in the permissions the console adds.
pub fn route_source_arn(
    region: &str,
    account: &str,
    api: &str,
    stage: &str,
    route_key: &str,
) -> String {
    let tail = match route_key.split_once(' ') {
        Some((method, path)) => {
            let method = if method == "ANY" { "*" } else { method };
            format!("{method}/{}", path.trim_start_matches('/'))
        }
        None => route_key.to_string(),
    };
    format!("arn:aws:execute-api:{region}:{account}:{api}/{stage}/{tail}")
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
