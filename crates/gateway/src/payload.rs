//! The Lambda proxy integration's request events, payload format 2.0 and 1.0, field for field
//! as API Gateway fills them for HTTP APIs
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
//! Field names follow `aws_lambda_events`' `ApiGatewayV2httpRequest` and
//! `ApiGatewayProxyRequest`, which `lambda_http` parses.
//!
//! Quirks copied on purpose: 2.0 joins duplicate headers and query values with commas and
//! moves `Cookie` headers into `cookies`; 1.0 keeps every value in `multiValue*` and the last
//! one in the single-value maps; absent maps are omitted in 2.0 and `null` in 1.0; bodies that
//! are not text are base64-encoded with `isBase64Encoded: true`.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

/// Everything about one request that the events are made of.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub method: String,
    /// The path as the client sent it (including a named stage's prefix).
    pub raw_path: String,
    /// The path the route was matched on (without the stage prefix).
    pub route_path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub source_ip: String,
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub protocol: String,
    pub request_id: String,
    pub account_id: String,
    pub api_id: String,
    pub domain_name: String,
    pub stage: String,
    pub route_key: String,
    /// The matched route's path template (`/items/{id}`), payload 1.0's `resource`.
    pub resource: String,
    pub path_parameters: BTreeMap<String, String>,
    pub stage_variables: BTreeMap<String, String>,
    /// What an authorizer established: `{"jwt": {...}}` or a Lambda authorizer's context.
    pub authorizer: Option<Value>,
    pub time_epoch_ms: u64,
}

/// Whether API Gateway passes a body of this content type as text: `text/*`,
/// `application/json`, `application/xml` and `application/javascript` (parameters such as
/// `charset` aside), when the bytes are UTF-8. HTTP APIs base64-encode everything else —
/// a body without `Content-Type` and `application/x-www-form-urlencoded` forms included, as
/// HTTP APIs do (observed behaviour, which lambda_http and Powertools decode).
pub fn is_text(headers: &HeaderMap, body: &[u8]) -> bool {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let textual = essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        );
    textual && std::str::from_utf8(body).is_ok()
}

fn body_fields(info: &RequestInfo) -> (Option<String>, bool) {
    if info.body.is_empty() {
        return (None, false);
    }
    if is_text(&info.headers, &info.body) {
        (
            Some(String::from_utf8_lossy(&info.body).into_owned()),
            false,
        )
    } else {
        (
            Some(base64::engine::general_purpose::STANDARD.encode(&info.body)),
            true,
        )
    }
}

/// Header names (lower case) and all their values, in order.
fn header_values(headers: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        out.entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    out
}

/// Query parameters and all their values, URL-decoded, in order.
fn query_values(raw: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(decode_query(k))
            .or_default()
            .push(decode_query(v));
    }
    out
}

fn decode_query(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// `12/Mar/2020:19:03:58 +0000`, API Gateway's `requestContext.time`.
pub fn clf_time(epoch_ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(epoch_ms);
    // httpdate gives `Thu, 12 Mar 2020 19:03:58 GMT`; reorder its fields.
    let s = httpdate::fmt_http_date(t);
    let f: Vec<&str> = s.split(' ').collect();
    match f.as_slice() {
        [_, day, mon, year, hms, _] => format!("{day}/{mon}/{year}:{hms} +0000"),
        _ => s,
    }
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn user_agent(info: &RequestInfo) -> String {
    info.headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

fn domain_prefix(domain: &str) -> &str {
    domain.split('.').next().unwrap_or(domain)
}

/// The payload format 2.0 event.
pub fn event_v2(info: &RequestInfo) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, values) in header_values(&info.headers) {
        if name == "cookie" {
            for v in &values {
                cookies.extend(
                    v.split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(String::from),
                );
            }
            continue;
        }
        headers.insert(name, Value::String(values.join(",")));
    }
    let mut ev = Map::new();
    ev.insert("version".into(), json!("2.0"));
    ev.insert("routeKey".into(), json!(info.route_key));
    ev.insert("rawPath".into(), json!(info.raw_path));
    ev.insert("rawQueryString".into(), json!(info.raw_query));
    if !cookies.is_empty() {
        ev.insert("cookies".into(), json!(cookies));
    }
    ev.insert("headers".into(), Value::Object(headers));
    let query = query_values(&info.raw_query);
    if !query.is_empty() {
        let q: Map<String, Value> = query
            .into_iter()
            .map(|(k, v)| (k, Value::String(v.join(","))))
            .collect();
        ev.insert("queryStringParameters".into(), Value::Object(q));
    }
    let mut ctx = json!({
        "accountId": info.account_id,
        "apiId": info.api_id,
        "domainName": info.domain_name,
        "domainPrefix": domain_prefix(&info.domain_name),
        "http": {
            "method": info.method,
            "path": info.raw_path,
            "protocol": info.protocol,
            "sourceIp": info.source_ip,
            "userAgent": user_agent(info),
        },
        "requestId": info.request_id,
        "routeKey": info.route_key,
        "stage": info.stage,
        "time": clf_time(info.time_epoch_ms),
        "timeEpoch": info.time_epoch_ms,
    });
    if let (Some(auth), Some(obj)) = (&info.authorizer, ctx.as_object_mut()) {
        obj.insert("authorizer".into(), auth.clone());
    }
    ev.insert("requestContext".into(), ctx);
    let (body, b64) = body_fields(info);
    if let Some(body) = body {
        ev.insert("body".into(), Value::String(body));
    }
    if !info.path_parameters.is_empty() {
        ev.insert("pathParameters".into(), string_map(&info.path_parameters));
    }
    ev.insert("isBase64Encoded".into(), json!(b64));
    if !info.stage_variables.is_empty() {
        ev.insert("stageVariables".into(), string_map(&info.stage_variables));
    }
    Value::Object(ev)
}

fn single_and_multi(values: BTreeMap<String, Vec<String>>) -> (Value, Value) {
    if values.is_empty() {
        return (Value::Null, Value::Null);
    }
    let mut single = Map::new();
    let mut multi = Map::new();
    for (k, v) in values {
        single.insert(k.clone(), json!(v.last().cloned().unwrap_or_default()));
        multi.insert(k, json!(v));
    }
    (Value::Object(single), Value::Object(multi))
}

/// The payload format 1.0 event.
pub fn event_v1(info: &RequestInfo) -> Value {
    let (headers, multi_headers) = single_and_multi(header_values(&info.headers));
    let (query, multi_query) = single_and_multi(query_values(&info.raw_query));
    let (body, b64) = body_fields(info);
    let opt_map = |m: &BTreeMap<String, String>| {
        if m.is_empty() {
            Value::Null
        } else {
            string_map(m)
        }
    };
    let authorizer = info
        .authorizer
        .as_ref()
        .map(|a| match a.get("jwt") {
            // 1.0 puts JWT claims and scopes directly under `authorizer`.
            Some(jwt) => json!({"claims": jwt.get("claims"), "scopes": jwt.get("scopes")}),
            None => a.get("lambda").cloned().unwrap_or_else(|| a.clone()),
        })
        .unwrap_or_else(|| json!({"claims": null, "scopes": null}));
    json!({
        "version": "1.0",
        "resource": info.resource,
        "path": info.raw_path,
        "httpMethod": info.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "requestContext": {
            "accountId": info.account_id,
            "apiId": info.api_id,
            "authorizer": authorizer,
            "domainName": info.domain_name,
            "domainPrefix": domain_prefix(&info.domain_name),
            "extendedRequestId": info.request_id,
            "httpMethod": info.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": info.source_ip,
                "user": null,
                "userAgent": user_agent(info),
                "userArn": null,
            },
            "path": info.raw_path,
            "protocol": info.protocol,
            "requestId": info.request_id,
            "requestTime": clf_time(info.time_epoch_ms),
            "requestTimeEpoch": info.time_epoch_ms,
            "resourceId": info.route_key,
            "resourcePath": info.resource,
            "stage": info.stage,
        },
        "pathParameters": opt_map(&info.path_parameters),
        "stageVariables": opt_map(&info.stage_variables),
        "body": body,
        "isBase64Encoded": b64,
    })
}
