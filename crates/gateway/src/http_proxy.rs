//! HTTP_PROXY integrations (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-http.html):
//! the request goes to the integration URL with `{param}` path variables and
//! `${stageVariables.x}` substituted; for `$default` routes, and URLs without a path, the
//! client's path is appended. The query string passes through; hop-by-hop headers and `Host`
//! are not forwarded; `Forwarded`/`X-Forwarded-For` tell the backend who called. Bodies are
//! streamed both ways. `https://` backends are verified against the roots `tls` trusts.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nuvem_aws::{Body, BoxError};

use crate::{Error, response, tls};

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

/// The pooled client for integrations and JWKS, over `http://` and `https://`.
pub fn client(extra_ca_pem: Option<&[u8]>) -> Result<HttpClient, Error> {
    Ok(Client::builder(TokioExecutor::new()).build(tls::connector(extra_ca_pem)?))
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
}

/// The URL a request is sent to.
pub fn target_url(
    uri_template: &str,
    is_default_route: bool,
    route_path: &str,
    raw_query: &str,
    path_parameters: &BTreeMap<String, String>,
    stage_variables: &BTreeMap<String, String>,
) -> String {
    let mut url = uri_template.to_string();
    for (k, v) in stage_variables {
        url = url.replace(&format!("${{stageVariables.{k}}}"), v);
    }
    for (k, v) in path_parameters {
        let encoded: String = percent_encoding::utf8_percent_encode(v, PATH_VALUE).to_string();
        url = url.replace(&format!("{{{k}}}"), &encoded);
        url = url.replace(&format!("{{{k}+}}"), &encoded);
    }
    let has_path = url
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/').contains('/'))
        .unwrap_or(false);
    if is_default_route || !has_path {
        url = format!("{}{}", url.trim_end_matches('/'), route_path);
    }
    if !raw_query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(raw_query);
    }
    url
}

/// Path parameter values are encoded except for `/`, so a greedy `{proxy}` keeps its
/// segments.
const PATH_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%');

/// Sends the request and maps failures to API Gateway's answers: a timeout is 504, an
/// unreachable backend 503, and so is a backend whose TLS certificate is not trusted (the
/// handshake fails while connecting).
pub async fn forward(
    client: &HttpClient,
    url: &str,
    method: http::Method,
    mut headers: HeaderMap,
    body: Body,
    source_ip: &str,
    timeout: Duration,
) -> Response<Body> {
    let Ok(uri) = url.parse::<Uri>() else {
        tracing::warn!(url, "integration URL is invalid");
        return response::internal_error();
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    strip_hop_by_hop(&mut headers);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "by={source_ip};for={source_ip};host={host};proto=http"
    )) {
        headers.insert(http::header::FORWARDED, v);
    }
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {source_ip}"),
        None => source_ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    match tokio::time::timeout(timeout, client.request(req)).await {
        Err(_) => response::gateway_timeout(),
        Ok(Err(e)) => {
            tracing::info!(url, error = %e, "HTTP integration unreachable");
            response::service_unavailable()
        }
        Ok(Ok(resp)) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let body = body.map_err(|e| Box::new(e) as BoxError).boxed_unsync();
            Response::from_parts(parts, body)
        }
    }
}
