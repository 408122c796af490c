//! The AWS-compatible endpoint: one HTTP handler in front of every service.
//!
//! For each request: give it a request id and a tracing span, answer `/_nuvem/health`,
//! find the signature, decide the service (scope, `X-Amz-Target`, path), check the payload
//! hash and the signature, then hand the request to the service. Every refusal is the AWS
//! error of the protocol the client speaks. This module owns no service logic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use nuvem_aws::sigv4::{self, AuthError, Keyring, PayloadMode};
use nuvem_aws::{
    AwsError, AwsRequest, Body, BodyHandling, Caller, Protocol, RequestId, Service, full_body,
};
use tracing::Instrument;

/// The registered services and what every request needs.
pub struct Endpoint {
    services: BTreeMap<&'static str, Arc<dyn Service>>,
    keyring: Keyring,
    /// Where access keys that the manifest does not hold are looked up: IAM users' keys and
    /// STS credentials.
    identities: Option<nuvem_iam::api::IamApi>,
    /// Resource-based policies (functions', buckets') for IAM principals' requests.
    resource_policies: Option<Arc<dyn crate::authorize::ResourcePolicies>>,
    condition_keys: Option<Arc<dyn crate::authorize::ConditionKeys>>,
    /// KMS, to authorize a request naming a key by alias on the key's ARN.
    kms: Option<nuvem_kms::Kms>,
    started: Instant,
    store: nuvem_store::Store,
    /// API Gateway's data plane, for `{apiId}.execute-api.localhost.localstack.cloud` hosts.
    execute_api: Option<Arc<nuvem_gateway::Gateway>>,
    /// Function URLs' host names resolve through the functions service (see
    /// [`crate::function_url`]).
    function_urls: Option<Arc<nuvem_functions::FunctionsService>>,
    /// The listeners' limits and counters, shown on `/_nuvem/health`.
    listeners: Option<Arc<crate::listen::Listeners>>,
    /// Set once `up` has applied the manifest: until then health answers `starting` (503).
    ready: AtomicBool,
    /// The bytes all requests may hold in memory at once while their bodies are buffered for
    /// hashing, as permits of one KiB.
    buffer_budget: Arc<Semaphore>,
    /// `/_nuvem/metrics`: what is recorded per request, what is read at scrape time, and
    /// the bearer token that lets a scraper in without signing.
    metrics: Arc<crate::metrics::Metrics>,
    metric_sources: Vec<Arc<dyn crate::metrics::Source>>,
    metrics_token: Option<String>,
    /// `/_nuvem/console/`: its sessions and one-time link (see [`crate::console`]).
    console: Option<Arc<crate::console::Console>>,
}

/// Where the dispatcher sent a request, for the metrics: the service's name (`unknown` for
/// one nuvem does not serve, `_nuvem` for its own paths, `execute-api` for HTTP APIs).
#[derive(Default)]
struct Route {
    service: Option<&'static str>,
}

/// The protocol of AWS services that nuvem may not provide, so that even a refusal for
/// them is in a shape their SDK understands.
fn protocol_of(service: &str, parts: &http::request::Parts) -> Protocol {
    match service {
        "s3" => Protocol::RestXml,
        "dynamodb" => Protocol::AwsJson1_0 {
            namespace: "com.amazonaws.dynamodb.v20120810",
        },
        "lambda" | "apigateway" => Protocol::RestJson,
        "wafv2" => Protocol::AwsJson1_1 {
            namespace: "com.amazonaws.wafv2",
        },
        "kms" => Protocol::AwsJson1_1 {
            namespace: "com.amazonaws.kms",
        },
        _ if parts.headers.contains_key("x-amz-target") => Protocol::AwsJson1_1 {
            namespace: "com.amazonaws.nuvem",
        },
        _ => Protocol::RestXml,
    }
}

impl Endpoint {
    /// `max_buffered_bytes` bounds the request bodies held in memory at once, all requests
    /// together; requests are recorded into `metrics` ([`Metrics::off`] records nothing and
    /// `/_nuvem/metrics` answers 404).
    ///
    /// [`Metrics::off`]: crate::metrics::Metrics::off
    pub fn new(
        keyring: Keyring,
        store: nuvem_store::Store,
        max_buffered_bytes: usize,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        Self {
            services: BTreeMap::new(),
            keyring,
            identities: None,
            resource_policies: None,
            condition_keys: None,
            kms: None,
            started: Instant::now(),
            store,
            execute_api: None,
            function_urls: None,
            listeners: None,
            ready: AtomicBool::new(false),
            buffer_budget: Arc::new(Semaphore::new(kib(max_buffered_bytes) as usize)),
            metrics: Arc::new(metrics),
            metric_sources: Vec::new(),
            metrics_token: None,
            console: None,
        }
    }

    /// Serves the console at `/_nuvem/console/`.
    pub fn set_console(&mut self, console: Arc<crate::console::Console>) {
        self.console = Some(console);
    }

    /// The per-request series, shared with the edge's listeners.
    pub fn metrics(&self) -> Arc<crate::metrics::Metrics> {
        self.metrics.clone()
    }

    /// Adds counters read at each scrape of `/_nuvem/metrics`.
    pub fn add_metrics_source(&mut self, source: Arc<dyn crate::metrics::Source>) {
        self.metric_sources.push(source);
    }

    /// The bearer token a scraper may use instead of a signature.
    pub fn set_metrics_token(&mut self, token: Option<String>) {
        self.metrics_token = token;
    }

    /// Called by `up` once the manifest is applied: health turns from `starting` to `ok`.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn set_listeners(&mut self, listeners: Arc<crate::listen::Listeners>) {
        self.listeners = Some(listeners);
    }

    /// Serves HTTP APIs on their execute-api host names (anonymous, like API Gateway's
    /// default endpoint: authorization is the API's own business).
    pub fn set_function_urls(&mut self, functions: Arc<nuvem_functions::FunctionsService>) {
        self.function_urls = Some(functions);
    }

    pub fn set_execute_api(&mut self, gateway: Arc<nuvem_gateway::Gateway>) {
        self.execute_api = Some(gateway);
    }

    /// Decides a request by an IAM user or role session with its identity policies: every
    /// action it takes must be allowed and none explicitly denied. The root credentials never
    /// come here.
    async fn authorize(
        &self,
        identity: &nuvem_iam::api::Identity,
        service: &str,
        parts: &http::request::Parts,
        body: Option<&[u8]>,
        region: &str,
        protocol: Protocol,
    ) -> Result<(), AwsError> {
        if matches!(identity.principal, nuvem_iam::Principal::Root { .. }) {
            return Ok(());
        }
        let account = self
            .identities
            .as_ref()
            .map(|i| i.account())
            .unwrap_or_default();
        let who = identity.principal.arn().unwrap_or_default();
        let denied = |message: String| match protocol {
            Protocol::RestXml => AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", message),
            Protocol::AwsQuery { .. } => {
                AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
            }
            Protocol::RestJson => {
                AwsError::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
            }
            _ => AwsError::new(StatusCode::BAD_REQUEST, "AccessDeniedException", message),
        };
        let Some(mut acts) = crate::authorize::acts(service, parts, body, region, account) else {
            return Err(denied(format!(
                "User: {who} is not authorized to perform this {service} operation: nuvem \
                 does not yet evaluate IAM policies for it, so only the root credentials may call it"
            )));
        };
        // A KMS request naming a key by its alias is authorized on the key's ARN, as on AWS
        // (https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html);
        // the alias operations themselves act on the alias.
        if service == "kms"
            && let Some(kms) = &self.kms
        {
            for (action, resource) in acts.iter_mut() {
                let on_alias = matches!(
                    action.as_str(),
                    "kms:CreateAlias" | "kms:UpdateAlias" | "kms:DeleteAlias"
                );
                if !on_alias && resource.contains(":alias/") {
                    let (kms, alias) = (kms.clone(), resource.clone());
                    if let Some(arn) = self.store.run(move || kms.resolve_arn(&alias)).await {
                        *resource = arn;
                    }
                }
            }
        }
        let ctx = crate::authorize::context(parts, identity, account);
        let policies: Vec<&nuvem_iam::Policy> = identity.policies.iter().collect();
        for (action, resource) in &acts {
            let resource_policy = match &self.resource_policies {
                Some(rp) if resource != "*" => rp
                    .policy_for(service, resource)
                    .await
                    .and_then(|doc| {
                        nuvem_iam::Policy::parse(&doc, nuvem_iam::Kind::Resource)
                            .map_err(|e| {
                                tracing::warn!(%resource, error = %e, "a resource policy does not parse as IAM's grammar; ignored");
                            })
                            .ok()
                    }),
                _ => None,
            };
            let extra = match (&self.condition_keys, body) {
                (Some(keys), Some(body)) => keys
                    .keys(service, action, resource, body)
                    .await
                    .ok_or_else(|| {
                        AwsError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "ServiceUnavailable",
                            "The request could not be authorized for now; try again",
                        )
                    })?,
                _ => Vec::new(),
            };
            let act_ctx = if extra.is_empty() {
                std::borrow::Cow::Borrowed(&ctx)
            } else {
                let mut c = ctx.clone();
                for (k, v) in extra {
                    c.set_all(&k, v);
                }
                std::borrow::Cow::Owned(c)
            };
            let decision = nuvem_iam::evaluate(
                &policies,
                resource_policy.as_ref(),
                &nuvem_iam::Request {
                    principal: &identity.principal,
                    action,
                    resource,
                    context: &act_ctx,
                },
            )
            .decision;
            let why = match decision {
                nuvem_iam::Decision::Allow => continue,
                nuvem_iam::Decision::ExplicitDeny => {
                    "with an explicit deny in an identity-based or resource-based policy"
                }
                nuvem_iam::Decision::ImplicitDeny => {
                    "because no identity-based or resource-based policy allows the action"
                }
            };
            tracing::info!(principal = %who, %action, %resource, "access denied");
            return Err(denied(format!(
                "User: {who} is not authorized to perform: {action} on resource: {resource} {why}"
            )));
        }
        // A role passed to a function must exist and trust Lambda (Lambda checks by assuming
        // it): the root's keys are no fallback for what an IAM principal sets up.
        if let Some((_, role)) = acts.iter().find(|(a, _)| a == "iam:PassRole")
            && let Some(iam) = &self.identities
        {
            let (api, arn) = (iam.clone(), role.clone());
            let found = iam
                .store()
                .run(move || api.service_role(&arn, "lambda.amazonaws.com"))
                .await;
            match found {
                Ok(Some(_)) => {}
                Ok(None) | Err(nuvem_iam::api::ApiError::AccessDenied(_)) => {
                    return Err(AwsError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameterValueException",
                        "The role defined for the function cannot be assumed by Lambda.",
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not look the execution role up");
                    return Err(AwsError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ServiceException",
                        "The execution role could not be checked; try again",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Lets KMS requests that name a key by alias be authorized on the key's ARN.
    pub fn set_kms(&mut self, kms: nuvem_kms::Kms) {
        self.kms = Some(kms);
    }

    /// Lets services add their condition keys to IAM principals' requests.
    pub fn set_condition_keys(&mut self, keys: Arc<dyn crate::authorize::ConditionKeys>) {
        self.condition_keys = Some(keys);
    }

    /// Lets resource-based policies take part in IAM principals' requests.
    pub fn set_resource_policies(&mut self, policies: Arc<dyn crate::authorize::ResourcePolicies>) {
        self.resource_policies = Some(policies);
    }

    /// Lets IAM users' access keys and STS credentials sign requests.
    pub fn set_identities(&mut self, iam: nuvem_iam::api::IamApi) {
        self.identities = Some(iam);
    }

    /// The keyring that verifies `signed`: the manifest's, or, for a key that IAM or STS
    /// issued, a keyring of that one key. A temporary key counts only with its session
    /// token (`X-Amz-Security-Token`, header or query), as on AWS.
    async fn keyring_for(
        &self,
        parts: &http::request::Parts,
        signed: Option<&sigv4::SignedRequest>,
    ) -> Result<
        (
            std::borrow::Cow<'_, Keyring>,
            Option<Arc<nuvem_iam::api::Identity>>,
        ),
        AwsError,
    > {
        let manifest = Ok((std::borrow::Cow::Borrowed(&self.keyring), None));
        let (Some(signed), Some(iam)) = (signed, &self.identities) else {
            return manifest;
        };
        if self.keyring.secret(&signed.access_key_id).is_some() {
            return manifest;
        }
        let id = signed.access_key_id.clone();
        let api = iam.clone();
        let found = self.store.run(move || api.identity(&id)).await;
        let identity = match found {
            Ok(Some(identity)) => identity,
            Ok(None) => return manifest,
            Err(e) => {
                // The key may well exist: the store could not say. A retryable answer, not
                // "unknown key".
                tracing::error!(error = %e, "looking up an access key failed");
                return Err(AwsError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The service could not check the access key. Retry the request.",
                ));
            }
        };
        if let Some(token) = &identity.session_token {
            let presented = parts
                .headers
                .get("x-amz-security-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or_else(|| {
                    parts.uri.query().and_then(|q| {
                        q.split('&').find_map(|kv| {
                            let (k, v) = kv.split_once('=')?;
                            (k == "X-Amz-Security-Token").then(|| {
                                percent_encoding::percent_decode_str(v)
                                    .decode_utf8_lossy()
                                    .into_owned()
                            })
                        })
                    })
                });
            let ok = presented.is_some_and(|p| {
                use subtle::ConstantTimeEq;
                bool::from(p.as_bytes().ct_eq(token.as_bytes()))
            });
            if !ok {
                return manifest;
            }
        }
        let Some(secret) = identity.secret.clone() else {
            return manifest;
        };
        let mut one = Keyring::new();
        one.insert(signed.access_key_id.clone(), secret);
        Ok((std::borrow::Cow::Owned(one), Some(identity)))
    }

    pub fn register(&mut self, service: Arc<dyn Service>) {
        self.services.insert(service.name(), service);
    }

    /// Handles one request; never fails (every failure is an AWS error response).
    pub async fn handle(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        let request_id = RequestId::new();
        let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path());
        // A client that sent `Expect: 100-continue` and gets a refusal before its body was
        // read does not send the body (RFC 9110 §10.1.1); the connection then cannot carry
        // another request, or its first bytes would be read as the unsent body (botocore,
        // which reuses it at once, then got a bare `400 Bad Request` from the HTTP layer for
        // its next request). The refusal says the connection closes.
        let expects_continue = req.version() <= http::Version::HTTP_11
            && req
                .headers()
                .get(http::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        async move {
            let start = Instant::now();
            // The console's pages answer here; its API calls come back signed and go on like
            // any client's.
            let req = match &self.console {
                Some(console) if !on_data_plane_host(&req) => {
                    match console.route(&*self, req).await {
                        crate::console::Outcome::Forward(req) => req,
                        crate::console::Outcome::Answer(mut resp) => {
                            request_id.add_headers(resp.headers_mut());
                            return resp;
                        }
                    }
                }
                _ => req,
            };
            let console_call = req
                .extensions()
                .get::<crate::console::Forwarded>()
                .is_some();
            let operation = operation_of(&req);
            let mut route = Route::default();
            let mut resp = self.dispatch(req, &request_id, &mut route).await;
            self.record(&route, &operation, &resp, start.elapsed());
            if console_call {
                resp = crate::console::secured(resp);
            }
            if expects_continue
                && (resp.status().is_client_error() || resp.status().is_server_error())
            {
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            request_id.add_headers(resp.headers_mut());
            tracing::debug!(
                status = resp.status().as_u16(),
                micros = start.elapsed().as_micros() as u64,
                "done"
            );
            resp
        }
        .instrument(span)
        .await
    }

    /// Records one answered request in the metrics.
    fn record(
        &self,
        route: &Route,
        operation: &Operation,
        resp: &Response<Body>,
        took: std::time::Duration,
    ) {
        let service = route.service.unwrap_or("unknown");
        let status = resp.status().as_u16();
        let code = resp
            .extensions()
            .get::<nuvem_aws::ErrorCode>()
            .map(|c| c.0.as_ref());
        // An operation the service did not recognise is not a label value (clients choose
        // what they send).
        let unknown = matches!(
            code,
            Some(
                "UnknownOperationException"
                    | "InvalidAction"
                    | "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "MissingAuthenticationTokenException"
            )
        ) || service == "unknown";
        let op = if unknown { "" } else { operation.name.as_str() };
        let seconds = took.as_secs_f64();
        self.metrics.api(&crate::metrics::ApiRecord {
            service,
            operation: op,
            status,
            error_code: code,
            seconds,
        });
        if let Some(function) = &operation.function
            && service == "lambda"
            && status != 404
            && !unknown
        {
            let outcome = match status {
                200..=299 if resp.headers().contains_key("x-amz-function-error") => {
                    "function_error"
                }
                200..=299 => "ok",
                429 => "throttled",
                _ => "error",
            };
            self.metrics
                .invoke(function, outcome, (200..300).contains(&status), seconds);
        }
    }

    /// `GET /_nuvem/metrics`: for signed callers and holders of the metrics token.
    fn metrics_response(&self, parts: &http::request::Parts) -> Response<Body> {
        if !self.metrics.enabled() {
            let mut resp = Response::new(full_body(Bytes::from_static(
                b"{\"message\":\"metrics are off on this node ([server] metrics = false or NUVEM_METRICS=off)\"}",
            )));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return resp;
        }
        let bearer = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let allowed = match (bearer, &self.metrics_token) {
            (Some(given), Some(token)) => {
                subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.as_bytes()).into()
            }
            (Some(_), None) => false,
            (None, _) => self.health_detail_allowed(parts),
        };
        if !allowed {
            let mut resp = Response::new(full_body(Bytes::from_static(
                b"{\"message\":\"/_nuvem/metrics needs a SigV4-signed request or the metrics bearer token ([server] metrics_token)\"}",
            )));
            *resp.status_mut() = if bearer.is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            let h = resp.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            h.insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"nuvem\""),
            );
            return resp;
        }
        let mut snapshot = crate::metrics::Snapshot::default();
        for (name, s) in &self.services {
            if let Some(stats) = s.stats() {
                crate::metrics::service_stats(name, &stats, &mut snapshot);
            }
        }
        for source in &self.metric_sources {
            source.collect(&mut snapshot);
        }
        if let Some(l) = &self.listeners {
            crate::metrics::listener_stats(&l.health(), &mut snapshot);
        }
        let storage = self.store.health();
        for (name, n) in &storage.counters {
            snapshot.add(
                "nuvem_storage_events",
                "The storage engine's counters since it opened (commits, conflicts, retries...)",
                crate::metrics::Kind::Counter,
                &[("engine", self.store.engine_name()), ("event", name)],
                *n as f64,
            );
        }
        snapshot.add(
            "nuvem_storage_reachable",
            "1 while the storage engine reaches its storage, 0 while it cannot",
            crate::metrics::Kind::Gauge,
            &[("engine", self.store.engine_name())],
            if storage.unreachable.is_some() {
                0.0
            } else {
                1.0
            },
        );
        snapshot.add(
            "nuvem_uptime_seconds",
            "Seconds since this nuvem started",
            crate::metrics::Kind::Gauge,
            &[],
            self.started.elapsed().as_secs_f64(),
        );
        let mut resp = Response::new(full_body(Bytes::from(self.metrics.render(snapshot))));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        );
        resp
    }

    async fn dispatch(
        &self,
        req: Request<Body>,
        request_id: &RequestId,
        route: &mut Route,
    ) -> Response<Body> {
        if let Some(gateway) = &self.execute_api {
            let host = req
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| req.uri().authority().map(|a| a.as_str()));
            if let Some(api_id) = host.and_then(nuvem_gateway::api_id_from_host) {
                route.service = Some("execute-api");
                let api_id = api_id.to_string();
                return gateway.handle(&api_id, req).await;
            }
            // LocalStack's path-style address of the same data plane:
            // `/_aws/execute-api/{apiId}/{stage}/{path}` on any host of the endpoint.
            let path_style = execute_api_path(req.uri().path())
                .map(|(id, rest)| (id.to_string(), rest.to_string()));
            if let Some((api_id, rest)) = path_style {
                route.service = Some("execute-api");
                return match with_path(req, &rest) {
                    Some(req) => gateway.handle(&api_id, req).await,
                    None => nuvem_gateway::response::not_found(),
                };
            }
        }
        let (mut parts, body) = req.into_parts();
        // A function URL's host: the `lambda-url` service, with the URL it names.
        let mut function_url = false;
        // A `NONE` URL does not authenticate: a signature on the request is not evaluated.
        let mut public_url = false;
        if let Some(functions) = &self.function_urls {
            let id = parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str()))
                .and_then(nuvem_functions::function_url::id_from_host)
                .map(str::to_owned);
            if let Some(id) = id {
                match functions.function_url(&id).await {
                    Ok(Some(config)) => {
                        public_url = config.auth_type == "NONE";
                        parts
                            .extensions
                            .insert(crate::function_url::UrlTarget(Arc::new(config)));
                        function_url = true;
                    }
                    Ok(None) => {
                        return crate::function_url::not_found();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "function URL lookup failed");
                        return AwsError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "ServiceUnavailable",
                            "Try again",
                        )
                        .to_response(Protocol::RestJson, request_id);
                    }
                }
            }
        }
        if parts.uri.path() == "/_nuvem/health"
            && parts.method == http::Method::GET
            && !function_url
        {
            route.service = Some("_nuvem");
            return self.health(self.health_detail_allowed(&parts));
        }
        if parts.uri.path() == "/_nuvem/metrics"
            && parts.method == http::Method::GET
            && !function_url
        {
            route.service = Some("_nuvem");
            return self.metrics_response(&parts);
        }
        // A CORS preflight carries no credentials: browsers send it unsigned, to the very URL
        // of the request it asks about, a presigned URL's signature query included
        // (https://fetch.spec.whatwg.org/#cors-preflight-fetch). It is anonymous, and the
        // service answers it from its CORS rules.
        let preflight = parts.method == http::Method::OPTIONS
            && parts.headers.contains_key(http::header::ORIGIN)
            && parts
                .headers
                .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD);
        let signed = if preflight || public_url {
            Ok(None)
        } else {
            sigv4::parse(&parts)
        };
        let service_name = if function_url {
            "lambda-url".to_string()
        } else {
            nuvem_aws::routing::service_for(&parts, signed.as_ref().ok().and_then(Option::as_ref))
        };
        let service = self.services.get(service_name.as_str()).cloned();
        route.service = if function_url {
            Some("lambda-url")
        } else {
            service.as_ref().map(|s| s.name())
        };
        let protocol = service
            .as_ref()
            .map(|s| s.protocol())
            .unwrap_or_else(|| protocol_of(&service_name, &parts));
        let refuse = |e: AwsError| e.to_response(protocol, request_id);
        let auth_refusal = |e: AuthError| {
            tracing::info!(error = %e, "authentication refused");
            e.to_aws_error(protocol).to_response(protocol, request_id)
        };

        let signed = match signed {
            Ok(s) => s,
            Err(e) => return auth_refusal(e),
        };
        let declared = match parts
            .headers
            .get("x-amz-content-sha256")
            .map(|v| v.to_str())
        {
            None => None,
            Some(Ok(v)) => match PayloadMode::parse(v) {
                Ok(mode) => Some((v.to_string(), mode)),
                Err(e) => return auth_refusal(e),
            },
            Some(Err(_)) => return auth_refusal(AuthError::InvalidContentSha256),
        };

        // A request nobody signed is refused before a byte of its body is read, unless the
        // service serves anonymous callers (public-read buckets, which stream).
        let handling = service
            .as_ref()
            .map(|s| s.body_handling())
            .unwrap_or(BodyHandling::Buffered { limit: 1 << 20 });
        let anonymous_ok = service.as_ref().is_some_and(|s| s.accepts_anonymous());
        if signed.is_none() && !anonymous_ok {
            return refuse(missing_auth(protocol));
        }
        let now = SystemTime::now();
        let (keyring, identity) = match self.keyring_for(&parts, signed.as_ref()).await {
            Ok(k) => k,
            Err(e) => return refuse(e),
        };
        let verify = |signed: &sigv4::SignedRequest, hash: &str| {
            sigv4::verify(&parts, signed, hash, &keyring, now)
        };

        let (body, payload, caller, _budget, buffered) = match handling {
            // Streamed services (S3) check the body themselves while it streams; the signature
            // covers the declared `x-amz-content-sha256`, so it is verified now.
            BodyHandling::Streamed => {
                let mode = match &declared {
                    Some((_, mode)) => mode.clone(),
                    None => PayloadMode::Unsigned,
                };
                let caller = match &signed {
                    None => Caller::Anonymous,
                    Some(signed) => {
                        let hash = match &declared {
                            Some((v, _)) => v.as_str(),
                            None if signed.is_presigned() => sigv4::UNSIGNED_PAYLOAD,
                            None => {
                                return refuse(AwsError::new(
                                    StatusCode::BAD_REQUEST,
                                    "InvalidRequest",
                                    "Missing required header for this request: x-amz-content-sha256",
                                ));
                            }
                        };
                        match verify(signed, hash) {
                            Ok(v) => Caller::Signed(v),
                            Err(e) => return auth_refusal(e),
                        }
                    }
                };
                (body, mode, caller, None, None)
            }
            // Buffered services (the JSON APIs, and unknown services, so that their signature
            // is checked before they learn the service does not exist) sign the body itself:
            // their canonical request holds the body's SHA-256, whatever the client declared.
            BodyHandling::Buffered { limit } => {
                let declared_hash = match (&signed, &declared) {
                    (_, Some((v, PayloadMode::Sha256(_)))) => Some(v.clone()),
                    // UNSIGNED-PAYLOAD and the streaming modes are S3's: AWS computes these
                    // services' canonical request over the body's hash, which a signature over
                    // a payload mode cannot match (InvalidSignatureException).
                    (Some(_), Some(_)) => return auth_refusal(AuthError::SignatureMismatch),
                    _ => None,
                };
                // With a declared hash the signature is checked before the body is read; the
                // body must then match it. Without one the body must be read to be hashed: only
                // once the signature's cheap parts hold (known key, date within the window).
                let mut caller = Caller::Anonymous;
                if let Some(signed) = &signed {
                    let early = match &declared_hash {
                        Some(hash) => verify(signed, hash).map(|v| caller = Caller::Signed(v)),
                        None => sigv4::precheck(signed, &keyring, now),
                    };
                    if let Err(e) = early {
                        return auth_refusal(e);
                    }
                }
                let (bytes, budget) = match self.read_body(body, &parts, limit).await {
                    Ok(read) => read,
                    Err(e) => return refuse(e.to_aws_error(protocol, limit)),
                };
                let hash = sigv4::sha256_hex(&bytes);
                if let Some(declared) = &declared_hash
                    && *declared != hash
                {
                    return refuse(match protocol {
                        Protocol::RestXml => AwsError::new(
                            StatusCode::BAD_REQUEST,
                            "XAmzContentSHA256Mismatch",
                            "The provided 'x-amz-content-sha256' header does not match what was computed.",
                        ),
                        _ => AuthError::SignatureMismatch.to_aws_error(protocol),
                    });
                }
                if let Some(signed) = &signed
                    && declared_hash.is_none()
                {
                    match verify(signed, &hash) {
                        Ok(v) => caller = Caller::Signed(v),
                        Err(e) => return auth_refusal(e),
                    }
                }
                let payload = PayloadMode::parse(&hash).unwrap_or(PayloadMode::Unsigned);
                (
                    full_body(bytes.clone()),
                    payload,
                    caller,
                    Some(budget),
                    Some(bytes),
                )
            }
        };
        let Some(service) = service else {
            return refuse(AwsError::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!("nuvem does not provide the service '{service_name}'"),
            ));
        };
        tracing::debug!(
            service = service.name(),
            access_key = caller.access_key_id().unwrap_or("-"),
            "authenticated"
        );
        if let (Some(identity), Caller::Signed(verified)) = (&identity, &caller)
            && let Err(e) = self
                .authorize(
                    identity,
                    service.name(),
                    &parts,
                    buffered.as_deref(),
                    &verified.region,
                    protocol,
                )
                .await
        {
            return refuse(e);
        }
        let mut parts = parts;
        // Signed with a manifest key (no IAM identity) or a root identity.
        if matches!(caller, Caller::Signed(_))
            && identity
                .as_ref()
                .is_none_or(|i| matches!(i.principal, nuvem_iam::Principal::Root { .. }))
        {
            parts.extensions.insert(nuvem_aws::RootCaller);
        }
        service
            .call(AwsRequest {
                parts,
                body,
                request_id: request_id.clone(),
                caller,
                payload,
            })
            .await
    }

    /// Whether a health request may see the details (function names, per-route metrics,
    /// counters): only a caller whose SigV4 signature verifies with a known key. Anonymous
    /// callers (a load balancer) get the status, version, uptime and per-service state.
    fn health_detail_allowed(&self, parts: &http::request::Parts) -> bool {
        let Ok(Some(signed)) = sigv4::parse(parts) else {
            return false;
        };
        let hash = match parts.headers.get("x-amz-content-sha256") {
            Some(v) => match v.to_str() {
                Ok(v) => v.to_string(),
                Err(_) => return false,
            },
            None if signed.is_presigned() => sigv4::UNSIGNED_PAYLOAD.to_string(),
            None => sigv4::sha256_hex(b""),
        };
        sigv4::verify(parts, &signed, &hash, &self.keyring, SystemTime::now()).is_ok()
    }

    /// `/_nuvem/health`: 503 `starting` until the manifest is applied, then 200 `ok`.
    /// `storage_state` is `unreachable` while a database engine cannot reach its database
    /// (requests then fail with retryable errors); the process itself stays `ok`.
    fn health(&self, detail: bool) -> Response<Body> {
        let storage = self.store.health();
        let ready = self.ready.load(Ordering::SeqCst);
        let services: serde_json::Map<String, serde_json::Value> = self
            .services
            .iter()
            .map(|(name, s)| {
                (
                    name.to_string(),
                    serde_json::to_value(s.health()).unwrap_or_default(),
                )
            })
            .collect();
        let mut body = serde_json::json!({
            "status": if ready { "ok" } else { "starting" },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "storage": self.store.engine_name(),
            "storage_state": if storage.unreachable.is_some() { "unreachable" } else { "ok" },
            "services": services,
        });
        if detail {
            let stats: serde_json::Map<String, serde_json::Value> = self
                .services
                .iter()
                .filter_map(|(name, s)| Some((name.to_string(), s.stats()?)))
                .collect();
            body["stats"] = serde_json::Value::Object(stats);
            let mut storage_detail: serde_json::Map<String, serde_json::Value> = storage
                .counters
                .iter()
                .map(|(name, n)| (name.to_string(), (*n).into()))
                .collect();
            if let Some(why) = storage.unreachable {
                storage_detail.insert("unreachable".into(), why.into());
            }
            body["storage_detail"] = serde_json::Value::Object(storage_detail);
            if let Some(l) = &self.listeners {
                body["listeners"] = l.health();
            }
        }
        let mut resp = Response::new(full_body(Bytes::from(body.to_string())));
        if !ready {
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    }
}

impl crate::console::Keys for Endpoint {
    /// The manifest's keys, then IAM users' long-term keys; temporary credentials are not
    /// accepted (the console would have to keep their token too).
    fn key_matches<'a>(
        &'a self,
        access_key_id: &'a str,
        secret: &'a str,
    ) -> nuvem_aws::BoxFuture<'a, Result<bool, ()>> {
        Box::pin(async move {
            let same = |a: &str| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    a.as_bytes(),
                    secret.as_bytes(),
                ))
            };
            if let Some(known) = self.keyring.secret(access_key_id) {
                return Ok(same(known));
            }
            let Some(iam) = &self.identities else {
                return Ok(false);
            };
            let (api, id) = (iam.clone(), access_key_id.to_owned());
            match self.store.run(move || api.identity(&id)).await {
                Ok(Some(identity)) => Ok(identity.session_token.is_none()
                    && identity.secret.as_deref().is_some_and(same)),
                Ok(None) => Ok(false),
                Err(e) => {
                    tracing::error!(error = %e, "looking up an access key failed");
                    Err(())
                }
            }
        })
    }
}

enum ReadError {
    TooLarge,
    Busy,
    Broken,
}

impl ReadError {
    fn to_aws_error(&self, protocol: Protocol, limit: usize) -> AwsError {
        match self {
            ReadError::TooLarge => AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("Request body is larger than the {limit} bytes this API accepts"),
            ),
            // 503 is what SDKs retry with backoff (S3's SlowDown, the JSON services'
            // ServiceUnavailable), which is the point: come back when memory is free.
            ReadError::Busy => match protocol {
                Protocol::RestXml => AwsError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "Please reduce your request rate.",
                ),
                _ => AwsError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The service is busy with other request bodies. Retry the request.",
                ),
            },
            ReadError::Broken => AwsError::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "Could not read the request body",
            ),
        }
    }
}

/// Permits of the buffered-bytes budget count KiB, so that a `u32` covers any body limit.
const KIB: usize = 1024;

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(KIB)).unwrap_or(u32::MAX)
}

impl Endpoint {
    /// Reads a whole body into memory, refusing more than `limit` bytes without reading past
    /// them, and holding the bytes against the endpoint's budget of concurrently buffered
    /// bytes: a body that does not fit in what is left is refused (503) rather than read. A
    /// `Content-Length` is reserved up front; a body of unknown length reserves as it arrives.
    /// The returned permit keeps the bytes counted until it is dropped.
    async fn read_body(
        &self,
        mut body: Body,
        parts: &http::request::Parts,
        limit: usize,
    ) -> Result<(Bytes, OwnedSemaphorePermit), ReadError> {
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ReadError::TooLarge);
        }
        let reserve = declared.map_or(0, |n| n as usize);
        let mut permit = self.reserve(kib(reserve))?;
        let mut buf = bytes::BytesMut::with_capacity(reserve);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ReadError::Broken)?;
            if let Ok(data) = frame.into_data() {
                let len = buf.len() + data.len();
                if len > limit {
                    return Err(ReadError::TooLarge);
                }
                let held = permit.num_permits() as u32;
                if kib(len) > held {
                    permit.merge(self.reserve(kib(len) - held)?);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok((buf.freeze(), permit))
    }

    fn reserve(&self, kib: u32) -> Result<OwnedSemaphorePermit, ReadError> {
        self.buffer_budget
            .clone()
            .try_acquire_many_owned(kib)
            .map_err(|_| ReadError::Busy)
    }
}

/// The error for an unsigned request to a service that needs a signature.
fn missing_auth(protocol: Protocol) -> AwsError {
    match protocol {
        Protocol::RestXml => AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"),
        Protocol::RestJson => AwsError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        Protocol::AwsQuery { .. } => AwsError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ),
        _ => AwsError::new(
            StatusCode::BAD_REQUEST,
            "MissingAuthenticationTokenException",
            "Request is missing Authentication Token",
        )
        .with_namespace("com.amazon.coral.service"),
    }
}

/// Whether the request is for an HTTP API's or a function URL's host name, whose paths are
/// the application's (the console is not served there).
fn on_data_plane_host(req: &Request<Body>) -> bool {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    host.is_some_and(|h| {
        nuvem_gateway::api_id_from_host(h).is_some()
            || nuvem_functions::function_url::id_from_host(h).is_some()
    })
}

/// `/_aws/execute-api/{apiId}/{rest}` → (`apiId`, `/{rest}`).
fn execute_api_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/_aws/execute-api/")?;
    let (id, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (!id.is_empty()).then_some((id, tail))
}

/// The request with its path replaced (the query kept).
fn with_path(req: Request<Body>, path: &str) -> Option<Request<Body>> {
    let (mut parts, body) = req.into_parts();
    let pq = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut uri = http::uri::Parts::default();
    uri.path_and_query = Some(pq.parse().ok()?);
    parts.uri = http::Uri::from_parts(uri).ok()?;
    Some(Request::from_parts(parts, body))
}

/// What a request names before any service reads it, for the metrics: the operation of a
/// JSON-protocol call (`X-Amz-Target` after its last `.`), of a query-protocol call in its
/// URL (`Action=`), Lambda's Invoke (by its path) with the function it names.
#[derive(Debug, Default)]
struct Operation {
    name: String,
    /// The function a Lambda Invoke names (its name, whatever form the path used).
    function: Option<String>,
}

fn operation_of(req: &Request<Body>) -> Operation {
    let plausible =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if let Some(target) = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        let op = target.rsplit('.').next().unwrap_or_default();
        return Operation {
            name: if plausible(op) {
                op.to_owned()
            } else {
                String::new()
            },
            function: None,
        };
    }
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/2015-03-31/functions/")
        && let Some(function) = rest.strip_suffix("/invocations")
        && req.method() == http::Method::POST
        && !function.contains('/')
    {
        let function = percent_encoding::percent_decode_str(function).decode_utf8_lossy();
        // An ARN (`arn:aws:lambda:region:account:function:name[:qualifier]`), a partial one
        // (`account:function:name`) or `name[:qualifier]`: the name.
        let parts: Vec<&str> = function.split(':').collect();
        let name = match parts.iter().position(|p| *p == "function") {
            Some(i) => parts.get(i + 1).copied().unwrap_or_default(),
            None => parts[0],
        };
        return Operation {
            name: "Invoke".into(),
            function: (!name.is_empty() && name.len() <= 140).then(|| name.to_owned()),
        };
    }
    let action = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .filter(|a| plausible(a))
    });
    Operation {
        name: action.unwrap_or_default().to_owned(),
        function: None,
    }
}
