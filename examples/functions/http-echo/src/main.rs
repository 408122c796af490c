//! A Lambda function written the way users write HTTP functions, with the `lambda_http` crate:
//! nuvem's gateway tests run it behind an API (payload format 1.0 or 2.0; lambda_http tells
//! them apart) and assert every field of the request as lambda_http parsed it from the event.
//!
//! It answers with a JSON document of the parsed request (method, paths, query, headers,
//! cookies, path parameters, stage variables, request context, body). Request headers steer
//! the response, so one function covers every response shape the tests need:
//! `x-echo-fail: msg` returns an error, `x-echo-status: 201` sets the status,
//! `x-echo-set-cookie: a=1|b=2` becomes one `set-cookie` each, `x-echo-header: p|q`
//! becomes repeated `x-echo` response headers, and `x-echo-binary: 1` answers
//! with a binary body (bytes 0..=255) instead of JSON. Must not: be used as a library.

use base64::Engine as _;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Every value of every key, as `{"k": ["v1", "v2"]}`.
fn multi_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        out.entry(k).or_default().push(v);
    }
    json!(out)
}

fn header_values<'a>(req: &'a Request, name: &str) -> impl Iterator<Item = &'a str> {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

fn echo(req: &Request) -> Value {
    let headers = multi_map(
        req.headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );
    let cookies: Vec<&str> = header_values(req, "cookie")
        .flat_map(|h| h.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let (kind, body) = match req.body() {
        Body::Empty => ("empty", Value::Null),
        Body::Text(t) => ("text", Value::String(t.clone())),
        Body::Binary(b) => (
            "binary",
            Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        _ => ("other", Value::Null),
    };
    json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "path": req.uri().path(),
        "raw_path": req.raw_http_path(),
        "query": multi_map(req.query_string_parameters_ref().into_iter().flat_map(|q| q.iter())),
        "headers": headers,
        "cookies": cookies,
        "path_parameters": multi_map(req.path_parameters_ref().into_iter().flat_map(|q| q.iter())),
        "stage_variables": multi_map(req.stage_variables_ref().into_iter().flat_map(|q| q.iter())),
        "request_context": serde_json::to_value(req.request_context_ref()).unwrap_or(Value::Null),
        "body_kind": kind,
        "body": body,
    })
}

async fn handle(req: Request) -> Result<Response<Body>, Error> {
    if let Some(msg) = header_values(&req, "x-echo-fail").next() {
        return Err(msg.to_string().into());
    }
    let status = header_values(&req, "x-echo-status")
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(200);
    let mut resp = Response::builder().status(status);
    // `|`-separated lists: payload 2.0 joins repeated request headers with commas, which
    // cookie attributes may contain.
    for c in header_values(&req, "x-echo-set-cookie").flat_map(|v| v.split('|')) {
        resp = resp.header("set-cookie", c);
    }
    for h in header_values(&req, "x-echo-header").flat_map(|v| v.split('|')) {
        resp = resp.header("x-echo", h);
    }
    if header_values(&req, "x-echo-binary").next().is_some() {
        let bytes: Vec<u8> = (0..=255).collect();
        return Ok(resp
            .header("content-type", "application/octet-stream")
            .body(Body::Binary(bytes))?);
    }
    Ok(resp
        .header("content-type", "application/json")
        .body(Body::Text(echo(&req).to_string()))?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(handle)).await
}
