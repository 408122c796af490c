//! Mapping a Lambda proxy integration's output back to an HTTP response, and the gateway's
//! own answers (`{"message": "..."}` with the status API Gateway uses).
//!
//! Format 2.0 (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html#http-api-develop-integrations-lambda.response):
//! an object with `statusCode` is a full response (`headers`, `multiValueHeaders`,
//! `cookies` → one `set-cookie` each, `body`, `isBase64Encoded`); any other valid JSON is
//! inferred to be a 200 `application/json` body as-is. Format 1.0 requires `statusCode`.
//! Anything malformed is a 502 `{"message":"Internal Server Error"}`.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use nuvem_aws::{Body, full_body};
use serde_json::Value;

/// A response the gateway itself produces: API Gateway's `{"message": ...}` JSON.
pub fn message(status: StatusCode, text: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": text }).to_string();
    let mut resp = Response::new(full_body(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn not_found() -> Response<Body> {
    message(StatusCode::NOT_FOUND, "Not Found")
}

pub fn internal_error() -> Response<Body> {
    message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// A malformed integration response.
pub fn bad_gateway() -> Response<Body> {
    message(StatusCode::BAD_GATEWAY, "Internal Server Error")
}

pub fn service_unavailable() -> Response<Body> {
    message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
}

/// The integration's function cannot run yet (its code is still building): 503 with
/// `Retry-After`, and why, so whoever calls the API during `nuvem up` knows to wait. API
/// Gateway itself has no such state (a function exists or not); this is nuvem's.
pub fn not_ready(why: &str) -> Response<Body> {
    let mut resp = message(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("Service Unavailable: {why}"),
    );
    resp.headers_mut().insert(
        http::header::RETRY_AFTER,
        HeaderValue::from_static(NOT_READY_RETRY_AFTER),
    );
    resp
}

/// Seconds a caller waits before retrying a function that is not ready.
const NOT_READY_RETRY_AFTER: &str = "5";

pub fn gateway_timeout() -> Response<Body> {
    message(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout")
}

pub fn too_many_requests() -> Response<Body> {
    message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
}

pub fn unauthorized() -> Response<Body> {
    message(StatusCode::UNAUTHORIZED, "Unauthorized")
}

pub fn forbidden() -> Response<Body> {
    message(StatusCode::FORBIDDEN, "Forbidden")
}

/// Why a function's output could not be mapped (logged; the client gets a 502).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the function returned invalid JSON")]
    NotJson,
    #[error("the function's response is not an object with a statusCode")]
    NoStatusCode,
    #[error("invalid statusCode")]
    BadStatus,
    #[error("invalid header {0}")]
    BadHeader(String),
    #[error("body must be a string")]
    BadBody,
    #[error("body is not valid base64")]
    BadBase64,
}

/// Maps a function's output in payload format `version` to the client's response.
pub fn from_lambda(version: &str, payload: &[u8]) -> Result<Response<Body>, Malformed> {
    let value: Value = serde_json::from_slice(payload).map_err(|_| Malformed::NotJson)?;
    let full = value.as_object().filter(|o| o.contains_key("statusCode"));
    let Some(obj) = full else {
        if version == "1.0" {
            return Err(Malformed::NoStatusCode);
        }
        // 2.0 inference: the whole output is a JSON body.
        let mut resp = Response::new(full_body(Bytes::copy_from_slice(payload)));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(resp);
    };
    let status = match obj.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .and_then(|n| StatusCode::from_u16(n).ok())
    .ok_or(Malformed::BadStatus)?;
    let b64 = obj
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if b64 => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Bytes::from)
            .map_err(|_| Malformed::BadBase64)?,
        Some(Value::String(s)) => Bytes::from(s.clone()),
        // 2.0 stringifies a non-string body; 1.0 refuses it.
        Some(other) if version != "1.0" => Bytes::from(other.to_string()),
        Some(_) => return Err(Malformed::BadBody),
    };
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    if let Some(h) = obj.get("headers").filter(|h| !h.is_null()) {
        let map = h
            .as_object()
            .ok_or(Malformed::BadHeader("headers".into()))?;
        for (k, v) in map {
            headers.insert(header_name(k)?, header_value(k, v)?);
        }
    }
    if let Some(h) = obj.get("multiValueHeaders").filter(|h| !h.is_null()) {
        let map = h
            .as_object()
            .ok_or(Malformed::BadHeader("multiValueHeaders".into()))?;
        for (k, vs) in map {
            let name = header_name(k)?;
            let list = vs.as_array().ok_or(Malformed::BadHeader(k.clone()))?;
            // multiValueHeaders win over headers of the same name, as in API Gateway.
            headers.remove(&name);
            for v in list {
                headers.append(name.clone(), header_value(k, v)?);
            }
        }
    }
    if version != "1.0"
        && let Some(c) = obj.get("cookies").filter(|c| !c.is_null())
    {
        let list = c.as_array().ok_or(Malformed::BadHeader("cookies".into()))?;
        for v in list {
            headers.append(http::header::SET_COOKIE, header_value("cookies", v)?);
        }
    }
    Ok(resp)
}

fn header_name(k: &str) -> Result<HeaderName, Malformed> {
    HeaderName::from_bytes(k.as_bytes()).map_err(|_| Malformed::BadHeader(k.to_string()))
}

fn header_value(k: &str, v: &Value) -> Result<HeaderValue, Malformed> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(Malformed::BadHeader(k.to_string())),
    };
    HeaderValue::from_str(&text).map_err(|_| Malformed::BadHeader(k.to_string()))
}
