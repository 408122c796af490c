//! AWS's JSON 1.1 protocol, shared by the services that speak it (wafv2, logs, kms,
//! application-autoscaling): on the request side the operation named by `X-Amz-Target` after
//! the service's prefix and the body as a JSON object (an empty body is `{}`); on the answer
//! side a successful output ([`ok_response`]). Must not: know any service's operations or
//! errors (each maps [`JsonRequestError`] to its own).

use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::{AwsRequest, Body, RequestId, full_body};

/// Why a request is not a JSON-protocol call of the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonRequestError {
    /// `X-Amz-Target` is missing or names another service: carries what it held.
    #[error("unknown operation {0}")]
    UnknownOperation(String),
    /// The body could not be read, is not JSON, or is not an object.
    #[error("{0}")]
    Serialization(String),
}

/// The operation (the `X-Amz-Target` after `prefix`) and the JSON object body of `request`.
pub async fn operation_and_input(
    request: AwsRequest,
    prefix: &str,
) -> Result<(String, Value), JsonRequestError> {
    let target = request
        .parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some(operation) = target.strip_prefix(prefix) else {
        return Err(JsonRequestError::UnknownOperation(target));
    };
    let operation = operation.to_owned();
    let bytes = request
        .body
        .collect()
        .await
        .map_err(|e| JsonRequestError::Serialization(format!("could not read the body: {e}")))?
        .to_bytes();
    let input: Value = if bytes.is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| JsonRequestError::Serialization(format!("The body is not JSON: {e}")))?
    };
    if !input.is_object() {
        return Err(JsonRequestError::Serialization(
            "The body must be a JSON object.".into(),
        ));
    }
    Ok((operation, input))
}

/// A successful JSON 1.1 answer: `output` as the body, with the request id headers.
pub fn ok_response(output: &Value, request_id: &RequestId) -> Response<Body> {
    let mut resp = Response::new(full_body(Bytes::from(output.to_string())));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    request_id.add_headers(resp.headers_mut());
    resp
}
