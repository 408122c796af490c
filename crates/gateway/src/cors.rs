//! CORS for HTTP APIs (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html):
//! with a CORS configuration, API Gateway answers preflight `OPTIONS` requests itself, without
//! invoking any integration, and adds the CORS headers to every response whose `Origin` is
//! allowed (replacing the integration's own CORS headers).

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use nuvem_aws::{Body, empty_body};

use crate::model::Cors;

/// Whether this request is a CORS preflight.
pub fn is_preflight(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::OPTIONS
        && headers.contains_key(http::header::ORIGIN)
        && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn allowed_origin(cors: &Cors, origin: &str) -> Option<String> {
    if cors.allow_origins.iter().any(|o| o == "*") {
        // A wildcard cannot be combined with credentials; echo the origin then.
        return Some(if cors.allow_credentials {
            origin.to_string()
        } else {
            "*".to_string()
        });
    }
    cors.allow_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
}

fn set(headers: &mut HeaderMap, name: http::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The answer to a preflight: 204 with the allowed methods and headers when the origin is
/// allowed, a bare 204 otherwise (the browser then refuses the actual request).
pub fn preflight(cors: &Cors, request: &HeaderMap) -> Response<Body> {
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let Some(origin) = origin_of(request).and_then(|o| allowed_origin(cors, o)) else {
        return resp;
    };
    let h = resp.headers_mut();
    set(h, http::header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
    if !cors.allow_methods.is_empty() {
        set(
            h,
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            &cors.allow_methods.join(","),
        );
    }
    if !cors.allow_headers.is_empty() {
        set(
            h,
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            &cors.allow_headers.join(","),
        );
    }
    if let Some(age) = cors.max_age {
        set(h, http::header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
    }
    if cors.allow_credentials {
        set(h, http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    }
    if origin != "*" {
        set(h, http::header::VARY, "Origin");
    }
    resp
}

/// Adds the CORS headers of an actual (non-preflight) response.
pub fn decorate(cors: &Cors, request: &HeaderMap, response: &mut HeaderMap) {
    let Some(origin) = origin_of(request).and_then(|o| allowed_origin(cors, o)) else {
        return;
    };
    set(response, http::header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
    if !cors.expose_headers.is_empty() {
        set(
            response,
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            &cors.expose_headers.join(","),
        );
    }
    if cors.allow_credentials {
        set(
            response,
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            "true",
        );
    }
    if origin != "*" {
        set(response, http::header::VARY, "Origin");
    }
}
