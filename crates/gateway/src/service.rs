//! The management API on the AWS endpoint: apigatewayv2's REST JSON paths under `/v2/apis`
//! mapped to the operations in `manage` and `import`, and the per-route metrics the health
//! endpoint shows. Also answers execute-api host requests handed to it
//! by the endpoint (`{apiId}.execute-api.localhost.localstack.cloud`), which are anonymous.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use nuvem_aws::{
    AwsRequest, Body, BodyHandling, BoxFuture, IntoAwsError, Protocol, Service, full_body,
};
use serde_json::Value;

use crate::Gateway;
use crate::error::Error;

/// The `Service` the binary registers: management API under the `apigateway` scope.
pub struct GatewayService(pub Arc<Gateway>);

impl Service for GatewayService {
    fn name(&self) -> &'static str {
        "apigateway"
    }

    fn protocol(&self) -> Protocol {
        Protocol::RestJson
    }

    fn body_handling(&self) -> BodyHandling {
        BodyHandling::Buffered { limit: 6 << 20 }
    }

    /// Per-route metrics: `{"<apiId>": {"<routeKey>": {"count", "4xx", "5xx", "p50_us",
    /// "p99_us"}}}` (`stats.apigateway` on `/_nuvem/health`).
    fn stats(&self) -> Option<Value> {
        Some(self.0.metrics())
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(async move {
            let AwsRequest {
                parts,
                body,
                request_id,
                ..
            } = request;
            if let Some(port) = parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.rsplit_once(':'))
                .and_then(|(_, p)| p.parse().ok())
            {
                self.0.set_endpoint_port(port);
            }
            let bytes = match http_body_util::BodyExt::collect(body).await {
                Ok(c) => c.to_bytes(),
                Err(_) => Bytes::new(),
            };
            let input: Value = if bytes.is_empty() {
                Value::Object(Default::default())
            } else {
                match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    Err(_) => {
                        return Error::BadRequest("Invalid JSON in request body".into())
                            .into_aws_error()
                            .to_response(Protocol::RestJson, &request_id);
                    }
                }
            };
            let gateway = self.0.clone();
            // Quick create with a Lambda target and no role: API Gateway may invoke the
            // function once the API exists, as the console arranges on AWS.
            let quick = (parts.method == http::Method::POST
                && parts.uri.path().trim_end_matches('/') == "/v2/apis"
                && input.get("credentialsArn").is_none())
            .then(|| {
                let target = input.get("target").and_then(Value::as_str)?;
                let route = input
                    .get("routeKey")
                    .and_then(Value::as_str)
                    .unwrap_or("$default");
                crate::manage::is_lambda_uri(target).then(|| (target.to_owned(), route.to_owned()))
            })
            .flatten();
            let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
            let outcome = self
                .0
                .registry
                .store()
                .run(move || gateway.route_management(&method, &path, &input))
                .await;
            if let (Ok((_, api)), Some((target, route))) = (&outcome, quick) {
                let api_id = api.get("apiId").and_then(Value::as_str).unwrap_or_default();
                self.0.grant_quick_create(api_id, &target, &route).await;
            }
            match outcome {
                Ok((status, value)) => {
                    let body = if status == StatusCode::NO_CONTENT {
                        Bytes::new()
                    } else {
                        Bytes::from(value.to_string())
                    };
                    let mut resp = Response::new(full_body(body));
                    *resp.status_mut() = status;
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    resp
                }
                Err(e) => {
                    if matches!(e, Error::Store(_) | Error::Corrupt(_)) {
                        tracing::error!(error = %e, "apigateway management operation failed");
                    }
                    e.into_aws_error()
                        .to_response(Protocol::RestJson, &request_id)
                }
            }
        })
    }
}

const PARTS: &[&str] = &["routes", "integrations", "stages", "authorizers"];

impl Gateway {
    /// Runs the management operation a method and path name.
    pub fn route_management(
        &self,
        method: &Method,
        path: &str,
        input: &Value,
    ) -> Result<(StatusCode, Value), Error> {
        let segs: Vec<&str> = path
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let decoded: Vec<String> = segs
            .iter()
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let d: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let ok = |v| Ok((StatusCode::OK, v));
        let created = |v| Ok((StatusCode::CREATED, v));
        let deleted = Ok((StatusCode::NO_CONTENT, Value::Null));
        match (method.as_str(), d.as_slice()) {
            ("POST", ["v2", "apis"]) => created(self.create_api(input)?),
            ("PUT", ["v2", "apis"]) => created(self.import_api(input)?),
            ("PUT", ["v2", "apis", id]) => created(self.reimport_api(id, input)?),
            ("GET", ["v2", "apis"]) => ok(self.get_apis()),
            ("GET", ["v2", "apis", id]) => ok(self.get_api(id)?),
            ("PATCH", ["v2", "apis", id]) => ok(self.update_api(id, input)?),
            ("DELETE", ["v2", "apis", id]) => {
                self.delete_api(id)?;
                deleted
            }
            ("POST", ["v2", "apis", id, "routes"]) => created(self.create_route(id, input)?),
            ("POST", ["v2", "apis", id, "integrations"]) => {
                created(self.create_integration(id, input)?)
            }
            ("POST", ["v2", "apis", id, "stages"]) => created(self.create_stage(id, input)?),
            ("POST", ["v2", "apis", id, "authorizers"]) => {
                created(self.create_authorizer(id, input)?)
            }
            ("GET", ["v2", "apis", id, kind]) if PARTS.contains(kind) => {
                ok(self.list_parts(id, kind)?)
            }
            ("GET", ["v2", "apis", id, kind, part]) if PARTS.contains(kind) => {
                ok(self.part(id, kind, part, false)?)
            }
            ("DELETE", ["v2", "apis", id, kind, part]) if PARTS.contains(kind) => {
                self.part(id, kind, part, true)?;
                deleted
            }
            _ => Err(Error::NotFound(format!(
                "nuvem does not implement {method} {path} of API Gateway v2"
            ))),
        }
    }
}
