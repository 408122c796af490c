//! Function URLs' data plane on the AWS endpoint: a request whose `Host` is
//! `<url-id>.lambda-url.<region>.localhost.localstack.cloud[:port]` is the `lambda-url`
//! service. The endpoint verifies its signature when it has one (and decides an IAM key's
//! `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` with its policies, see
//! [`crate::authorize`]); this service then applies the URL's `AuthType` and the function's
//! resource-based policy as Lambda documents them
//! (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html): `AWS_IAM` needs a signed
//! request; `NONE` needs the function's policy to allow everyone both actions (with the
//! `lambda:FunctionUrlAuthType` and `lambda:InvokedViaFunctionUrl` keys). The function gets a
//! payload 2.0 event (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html) and its
//! answer is mapped back like an HTTP API's; CORS preflights are answered from the URL's `Cors`.
//!
//! Built here, in the binary, because it joins three crates that must not know each other: the
//! functions service (the URL and the invoke), the gateway's payload 2.0 and CORS code, and the
//! policy engine.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Response, StatusCode};
use nuvem_aws::{AwsRequest, Body, BodyHandling, BoxFuture, Caller, Protocol, Service, full_body};
use nuvem_functions::function_url::UrlConfig;
use serde_json::json;

/// The URL a request's host names, put on the request by the endpoint before it is
/// authenticated.
#[derive(Debug, Clone)]
pub struct UrlTarget(pub Arc<UrlConfig>);

impl UrlTarget {
    pub fn function_arn(&self, region: &str, account: &str) -> String {
        let base = format!(
            "arn:aws:lambda:{region}:{account}:function:{}",
            self.0.function
        );
        match &self.0.qualifier {
            Some(q) => format!("{base}:{q}"),
            None => base,
        }
    }
}

/// Who calls a URL, as far as its `AuthType` is concerned.
pub enum UrlCaller {
    Anonymous,
    /// A request whose SigV4 signature the endpoint verified (IAM keys also authorized).
    Signed {
        access_key_id: String,
    },
    /// The edge, on behalf of a distribution (CloudFront's origin access control: an
    /// `AWS_IAM` URL needs the function's policy to allow `cloudfront.amazonaws.com` from it).
    Edge {
        distribution_arn: String,
    },
}

pub struct FunctionUrlService {
    pub functions: Arc<nuvem_functions::FunctionsService>,
    pub region: String,
    pub account: String,
    /// Resource policies parsed once per document (a public URL weighs one per request).
    pub parsed: moka::sync::Cache<String, Arc<nuvem_iam::Policy>>,
}

/// Lambda's largest synchronous request payload.
const MAX_BODY: usize = 6 * 1024 * 1024;

fn message(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(full_body(Bytes::from(json!({"Message": text}).to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A host that names no function URL.
pub fn not_found() -> Response<Body> {
    message(StatusCode::NOT_FOUND, "Not Found")
}

fn forbidden() -> Response<Body> {
    message(StatusCode::FORBIDDEN, "Forbidden")
}

fn gateway_cors(c: &nuvem_functions::function_url::Cors) -> nuvem_gateway::model::Cors {
    nuvem_gateway::model::Cors {
        allow_origins: c.allow_origins.clone().unwrap_or_default(),
        allow_methods: c.allow_methods.clone().unwrap_or_default(),
        allow_headers: c.allow_headers.clone().unwrap_or_default(),
        expose_headers: c.expose_headers.clone().unwrap_or_default(),
        max_age: c.max_age,
        allow_credentials: c.allow_credentials.unwrap_or(false),
    }
}

impl FunctionUrlService {
    /// Whether the function's resource-based policy lets `principal` call the URL: both
    /// `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` (anyone, for a `NONE` URL).
    async fn permitted(
        &self,
        target: &UrlTarget,
        principal: &nuvem_iam::Principal,
        source_arn: Option<&str>,
    ) -> Result<bool, String> {
        // A URL on an alias is governed by the alias's own policy.
        let reference = match &target.0.qualifier {
            Some(q) => format!("{}:{q}", target.0.function),
            None => target.0.function.clone(),
        };
        let document = self
            .functions
            .resource_policy(&reference)
            .await
            .map_err(|e| e.to_string())?;
        let Some(document) = document else {
            return Ok(false);
        };
        let policy = match self.parsed.get(&document) {
            Some(p) => p,
            None => {
                let p = Arc::new(
                    nuvem_iam::Policy::parse(&document, nuvem_iam::Kind::Resource)
                        .map_err(|e| format!("the function's policy does not parse: {e}"))?,
                );
                self.parsed.insert(document, p.clone());
                p
            }
        };
        let arn = target.function_arn(&self.region, &self.account);
        let mut ctx = nuvem_iam::Context::new();
        ctx.set("lambda:FunctionUrlAuthType", target.0.auth_type.clone());
        ctx.set("lambda:InvokedViaFunctionUrl", "true".to_string());
        if let Some(source) = source_arn {
            ctx.set("aws:SourceArn", source.to_string());
            ctx.set("aws:SourceAccount", self.account.clone());
        }
        let allowed = |action: &str| {
            nuvem_iam::evaluate(
                &[],
                Some(policy.as_ref()),
                &nuvem_iam::Request {
                    principal,
                    action,
                    resource: &arn,
                    context: &ctx,
                },
            )
            .decision
                == nuvem_iam::Decision::Allow
        };
        Ok(allowed("lambda:InvokeFunctionUrl") && allowed("lambda:InvokeFunction"))
    }

    /// Serves one request to the URL in its `UrlTarget` extension.
    pub async fn serve(
        &self,
        parts: http::request::Parts,
        body: Body,
        request_id: String,
        caller: UrlCaller,
    ) -> Response<Body> {
        let Some(target) = parts.extensions.get::<UrlTarget>().cloned() else {
            return message(StatusCode::NOT_FOUND, "Not Found");
        };
        let config = &target.0;
        let cors = config.cors.as_ref().map(gateway_cors);
        // Preflights are answered from the URL's CORS settings, without authentication.
        if nuvem_gateway::cors::is_preflight(&parts.method, &parts.headers) {
            return match &cors {
                Some(c) => {
                    // Lambda answers a URL's preflight 200 (API Gateway, whose CORS code
                    // this is, 204).
                    let mut r = nuvem_gateway::cors::preflight(c, &parts.headers);
                    *r.status_mut() = StatusCode::OK;
                    r
                }
                None => {
                    let mut r = Response::new(nuvem_aws::empty_body());
                    *r.status_mut() = StatusCode::OK;
                    r
                }
            };
        }
        let iam_context = match (&*config.auth_type, &caller) {
            ("AWS_IAM", UrlCaller::Anonymous) => return forbidden(),
            ("AWS_IAM", UrlCaller::Signed { access_key_id }) => Some(json!({
                "iam": {
                    "accessKey": access_key_id,
                    "accountId": self.account,
                    "callerId": access_key_id,
                    "cognitoIdentity": null,
                    "principalOrgId": null,
                    "userArn": format!("arn:aws:iam::{}:root", self.account),
                    "userId": self.account,
                }
            })),
            ("AWS_IAM", UrlCaller::Edge { distribution_arn }) => {
                let cloudfront = nuvem_iam::Principal::Service {
                    name: "cloudfront.amazonaws.com".into(),
                };
                match self
                    .permitted(&target, &cloudfront, Some(distribution_arn))
                    .await
                {
                    Ok(true) => Some(json!({
                        "iam": {
                            "accessKey": null,
                            "accountId": self.account,
                            "callerId": "cloudfront.amazonaws.com",
                            "cognitoIdentity": null,
                            "principalOrgId": null,
                            "userArn": null,
                            "userId": "cloudfront.amazonaws.com",
                        }
                    })),
                    Ok(false) => {
                        tracing::info!(
                            function = %config.function,
                            "function URL refused to the edge: AuthType AWS_IAM needs the function's policy to allow cloudfront.amazonaws.com (with the distribution as AWS:SourceArn) lambda:InvokeFunctionUrl and lambda:InvokeFunction"
                        );
                        return forbidden();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "function URL: cannot read the function's policy");
                        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                    }
                }
            }
            _ => {
                match self
                    .permitted(&target, &nuvem_iam::Principal::Anonymous, None)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(
                            function = %config.function,
                            "function URL refused: AuthType NONE needs the function's policy to allow lambda:InvokeFunctionUrl and lambda:InvokeFunction to everyone (AddPermission --principal '*' --function-url-auth-type NONE, and --invoked-via-function-url)"
                        );
                        return forbidden();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "function URL: cannot read the function's policy");
                        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                    }
                }
                None
            }
        };
        let bytes = match http_body_util::BodyExt::collect(body).await {
            Ok(b) => b.to_bytes(),
            Err(_) => return message(StatusCode::BAD_REQUEST, "Bad Request"),
        };
        if bytes.len() > MAX_BODY {
            return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let domain = host.rsplit_once(':').map_or(host, |(h, _)| h).to_string();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let path = parts.uri.path().to_string();
        let info = nuvem_gateway::payload::RequestInfo {
            method: parts.method.as_str().to_string(),
            raw_path: path.clone(),
            route_path: path,
            raw_query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts.headers.clone(),
            body: bytes,
            source_ip: parts
                .extensions
                .get::<std::net::SocketAddr>()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "127.0.0.1".into()),
            protocol: match parts.version {
                http::Version::HTTP_2 => "HTTP/2.0",
                http::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            }
            .into(),
            request_id: request_id.to_string(),
            account_id: if iam_context.is_some() {
                self.account.clone()
            } else {
                "anonymous".into()
            },
            api_id: config.url_id.clone(),
            domain_name: domain,
            stage: "$default".into(),
            route_key: "$default".into(),
            resource: String::new(),
            path_parameters: Default::default(),
            stage_variables: Default::default(),
            authorizer: iam_context,
            time_epoch_ms: now_ms,
        };
        let event = nuvem_gateway::payload::event_v2(&info);
        use nuvem_functions::Invoker as _;
        let invoked = self
            .functions
            .invoke(nuvem_functions::InvokeRequest {
                function: config.function.clone(),
                qualifier: config.qualifier.clone(),
                payload: Bytes::from(event.to_string()),
                kind: nuvem_functions::InvocationType::RequestResponse,
                tail: false,
                client_context: None,
                request_id: request_id.to_string(),
            })
            .await;
        let mut response = match invoked {
            Ok(r) if r.function_error.is_some() => {
                message(StatusCode::BAD_GATEWAY, "Internal Server Error")
            }
            Ok(r) => match nuvem_gateway::response::from_lambda("2.0", &r.payload) {
                Ok(resp) => resp,
                Err(e) => {
                    tracing::info!(function = %config.function, error = %e, "function URL: the function's answer is not an HTTP response");
                    message(StatusCode::BAD_GATEWAY, "Internal Server Error")
                }
            },
            Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
                message(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded.")
            }
            Err(e) if e.code == "ResourceNotFoundException" => forbidden(),
            Err(e) => {
                tracing::info!(function = %config.function, error = %e, "function URL: invoke failed");
                message(StatusCode::BAD_GATEWAY, "Internal Server Error")
            }
        };
        if let Some(c) = &cors {
            nuvem_gateway::cors::decorate(c, &parts.headers, response.headers_mut());
        }
        response
    }
}

impl Service for FunctionUrlService {
    fn name(&self) -> &'static str {
        "lambda-url"
    }

    fn protocol(&self) -> Protocol {
        Protocol::RestJson
    }

    fn body_handling(&self) -> BodyHandling {
        BodyHandling::Buffered { limit: MAX_BODY }
    }

    fn accepts_anonymous(&self) -> bool {
        true
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        let caller = match &request.caller {
            Caller::Signed(v) => UrlCaller::Signed {
                access_key_id: v.access_key_id.clone(),
            },
            _ => UrlCaller::Anonymous,
        };
        Box::pin(self.serve(
            request.parts,
            request.body,
            request.request_id.to_string(),
            caller,
        ))
    }
}
