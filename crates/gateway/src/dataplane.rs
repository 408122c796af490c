//! The data plane: one request to one API, from stage and route selection through
//! throttling, CORS, authorizers and the integration, to the response and its access log
//! line. Every failure is an API Gateway answer (`{"message": ...}`), never a panic.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use nuvem_aws::Body;
use serde_json::Value;

use crate::body_limit::{self, MAX_BODY};
use crate::payload::RequestInfo;
use crate::registry::Compiled;
use crate::routes::{RouteKey, select};
use crate::throttle::Limit;
use crate::{EXECUTE_API_SUFFIX, Gateway, cors, http_proxy, invoke, jwt, response};

/// How a request reached the API.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// Serve this stage, with no stage prefix in the path (a custom domain's API mapping).
    pub stage: Option<String>,
    /// A base path to strip first (`/api` when the edge maps `/api/*` to the API).
    pub base_path: Option<String>,
}

impl Gateway {
    /// Serves one request for the API `api` (an id or a name). The path carries a named
    /// stage's prefix (`/dev/items`) unless the API has a `$default` stage.
    pub async fn handle(&self, api: &str, req: Request<Body>) -> Response<Body> {
        self.handle_mapped(api, &Mapping::default(), req).await
    }

    /// Serves one request through a base path mapping (the edge's `/api/*` behavior).
    pub async fn handle_mapped(
        &self,
        api: &str,
        mapping: &Mapping,
        req: Request<Body>,
    ) -> Response<Body> {
        let start = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let Some(compiled) = self.registry.get(api) else {
            return response::not_found();
        };
        let (resp, route_key, integration_us) =
            self.serve(&compiled, mapping, req, &request_id).await;
        let mut resp = resp;
        if let Ok(v) = http::HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("apigw-requestid", v);
        }
        let latency = start.elapsed().as_micros() as u64;
        let status = resp.status().as_u16();
        self.metrics
            .record(&compiled.api.api_id, &route_key, status, latency);
        tracing::info!(
            target: "nuvem::gateway::access",
            request_id,
            api = compiled.api.api_id,
            route = route_key,
            status,
            latency_us = latency,
            integration_latency_us = integration_us,
            "access"
        );
        resp
    }

    async fn serve(
        &self,
        c: &Compiled,
        mapping: &Mapping,
        req: Request<Body>,
        request_id: &str,
    ) -> (Response<Body>, String, u64) {
        let (parts, body) = req.into_parts();
        let cors_cfg = c.api.cors_configuration.as_ref();
        if let Some(cfg) = cors_cfg
            && cors::is_preflight(&parts.method, &parts.headers)
        {
            return (cors::preflight(cfg, &parts.headers), "-".into(), 0);
        }
        if body_limit::declared_over(&parts.headers, &body) {
            return (body_limit::too_large(), "-".into(), 0);
        }
        let raw_path = parts.uri.path().to_string();
        let mut path = raw_path.clone();
        if let Some(base) = &mapping.base_path {
            let base = base.trim_end_matches('/');
            match path.strip_prefix(base) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    path = if rest.is_empty() {
                        "/".into()
                    } else {
                        rest.into()
                    };
                }
                _ => return (response::not_found(), "-".into(), 0),
            }
        }
        // The stage: the mapping's, the first path segment if it names a stage, else `$default`.
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let (stage, route_path, event_path) = match &mapping.stage {
            Some(s) => (
                c.api.stages.iter().find(|x| &x.stage_name == s),
                path.clone(),
                path.clone(),
            ),
            None => match c
                .api
                .stages
                .iter()
                .find(|s| s.stage_name != "$default" && s.stage_name == first)
            {
                Some(s) => {
                    let rest = path
                        .strip_prefix('/')
                        .and_then(|p| p.strip_prefix(first))
                        .unwrap_or("");
                    let rest = if rest.is_empty() { "/" } else { rest };
                    (Some(s), rest.to_string(), path.clone())
                }
                None => (
                    c.api.stages.iter().find(|s| s.stage_name == "$default"),
                    path.clone(),
                    path.clone(),
                ),
            },
        };
        let Some(stage) = stage else {
            return (response::not_found(), "-".into(), 0);
        };
        let method = parts.method.as_str().to_string();
        let Some(m) = select(
            c.routes.iter().map(|(k, r)| (k, (k, r))),
            &method,
            &route_path,
        ) else {
            return (response::not_found(), "-".into(), 0);
        };
        let (key, route) = m.route;
        let route_key = route.route_key.clone();
        let source_ip = parts
            .extensions
            .get::<SocketAddr>()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "127.0.0.1".into());

        // Throttling: the route's own settings, else the stage's defaults.
        let settings = stage
            .route_settings
            .get(&route_key)
            .filter(|s| s.throttling_rate_limit.is_some() || s.throttling_burst_limit.is_some())
            .unwrap_or(&stage.default_route_settings);
        if let (Some(rate), Some(burst)) = (
            settings.throttling_rate_limit,
            settings.throttling_burst_limit,
        ) {
            let mut bucket = format!("{}|{}|{}", c.api.api_id, stage.stage_name, route_key);
            if settings.throttling_per_client {
                bucket.push('|');
                bucket.push_str(&source_ip);
            }
            if !self
                .throttle
                .admit(&bucket, Limit { rate, burst }, Instant::now())
            {
                return (
                    self.finish(cors_cfg, &parts.headers, response::too_many_requests()),
                    route_key,
                    0,
                );
            }
        }

        let Some(integration) = route.target.as_deref().and_then(|t| {
            let id = t.strip_prefix("integrations/").unwrap_or(t);
            c.api.integrations.iter().find(|i| i.integration_id == id)
        }) else {
            return (response::not_found(), route_key, 0);
        };

        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut info = RequestInfo {
            method: method.clone(),
            raw_path: event_path,
            route_path: route_path.clone(),
            raw_query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts.headers.clone(),
            body: Bytes::new(),
            source_ip: source_ip.clone(),
            protocol: match parts.version {
                http::Version::HTTP_2 => "HTTP/2.0",
                http::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            }
            .into(),
            request_id: request_id.to_string(),
            account_id: self.config.account_id.clone(),
            api_id: c.api.api_id.clone(),
            domain_name: format!("{}{EXECUTE_API_SUFFIX}", c.api.api_id),
            stage: stage.stage_name.clone(),
            route_key: route_key.clone(),
            resource: key.resource(),
            path_parameters: m.path_parameters.clone(),
            stage_variables: stage.stage_variables.clone(),
            authorizer: None,
            time_epoch_ms: now_ms,
        };

        // Authorizers.
        match route.authorization_type.as_str() {
            "JWT" | "CUSTOM" => {
                let Some(auth) = route
                    .authorizer_id
                    .as_deref()
                    .and_then(|id| c.api.authorizers.iter().find(|a| a.authorizer_id == id))
                else {
                    return (response::internal_error(), route_key, 0);
                };
                let outcome = if route.authorization_type == "JWT" {
                    self.authorize_jwt(auth, &route.authorization_scopes, &info)
                        .await
                } else {
                    self.authorize_lambda(c, auth, &info).await
                };
                match outcome {
                    Ok(ctx) => info.authorizer = Some(ctx),
                    Err(resp) => {
                        return (self.finish(cors_cfg, &parts.headers, resp), route_key, 0);
                    }
                }
            }
            _ => {}
        }

        let timeout = Duration::from_millis(integration.timeout_in_millis.clamp(50, 30_000));
        let started = Instant::now();
        let resp = if integration.integration_type == "HTTP_PROXY" {
            let url = http_proxy::target_url(
                &integration.integration_uri,
                matches!(key, RouteKey::Default),
                &route_path,
                &info.raw_query,
                &info.path_parameters,
                &info.stage_variables,
            );
            let headers = parts.headers.clone();
            let (body, over) = body_limit::capped(body);
            let resp = http_proxy::forward(
                &self.http,
                &url,
                parts.method.clone(),
                headers,
                body,
                &source_ip,
                timeout,
            )
            .await;
            // The body was cut at the limit: whatever the backend made of it, the client
            // gets API Gateway's answer.
            if over.load(std::sync::atomic::Ordering::Relaxed) {
                body_limit::too_large()
            } else {
                resp
            }
        } else {
            match read_body(body).await {
                Ok(bytes) => info.body = bytes,
                Err(resp) => return (resp, route_key, 0),
            }
            self.invoke_lambda(
                &integration.integration_uri,
                integration.credentials_arn.as_deref(),
                &integration.payload_format_version,
                &info,
                timeout,
            )
            .await
        };
        let integration_us = started.elapsed().as_micros() as u64;
        (
            self.finish(cors_cfg, &parts.headers, resp),
            route_key,
            integration_us,
        )
    }

    fn finish(
        &self,
        cors_cfg: Option<&crate::model::Cors>,
        request: &http::HeaderMap,
        mut resp: Response<Body>,
    ) -> Response<Body> {
        if let Some(cfg) = cors_cfg {
            cors::decorate(cfg, request, resp.headers_mut());
        }
        resp
    }

    /// Invokes the function with the event of `version` and maps its output. A function
    /// error is a 500, a malformed output a 502, a timeout a 503.
    async fn invoke_lambda(
        &self,
        uri: &str,
        credentials_arn: Option<&str>,
        version: &str,
        info: &RequestInfo,
        timeout: Duration,
    ) -> Response<Body> {
        let event = if version == "1.0" {
            crate::payload::event_v1(info)
        } else {
            crate::payload::event_v2(info)
        };
        let payload = Bytes::from(event.to_string());
        let caller = invoke::Caller {
            source_arn: invoke::route_source_arn(
                &self.config.region,
                &info.account_id,
                &info.api_id,
                &info.stage,
                &info.route_key,
            ),
            credentials_arn: credentials_arn.map(str::to_owned),
        };
        match self.call_function(uri, payload, timeout, &caller).await {
            Err(resp) => resp,
            Ok(out) => match response::from_lambda(version, &out) {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(function = uri, error = %e, "malformed Lambda proxy response");
                    response::bad_gateway()
                }
            },
        }
    }

    /// Calls a function and returns its output, or the gateway's answer for a failure.
    pub(crate) async fn call_function(
        &self,
        uri: &str,
        payload: Bytes,
        timeout: Duration,
        caller: &invoke::Caller,
    ) -> Result<Bytes, Response<Body>> {
        let invoker = self.invoker.read().ok().and_then(|i| i.clone());
        let Some(invoker) = invoker else {
            tracing::warn!(
                function = uri,
                "no functions service is wired to the gateway"
            );
            return Err(response::internal_error());
        };
        let function = invoke::function_of_uri(uri);
        match tokio::time::timeout(timeout, invoker.invoke(function, payload, caller)).await {
            Err(_) => Err(response::service_unavailable()),
            Ok(Err(invoke::InvokeError::Throttled)) => Err(response::too_many_requests()),
            Ok(Err(invoke::InvokeError::NotReady(why))) => {
                tracing::info!(function, why, "Lambda integration not ready");
                Err(response::not_ready(&why))
            }
            Ok(Err(invoke::InvokeError::Denied(why))) => {
                // API Gateway's access log says: "The IAM role configured on the integration
                // or API Gateway doesn't have permissions to call the integration."
                tracing::warn!(
                    function,
                    source_arn = caller.source_arn,
                    why,
                    "API Gateway may not invoke the function: add a permission for \
                     apigateway.amazonaws.com (lambda add-permission) or give the integration \
                     a credentialsArn role that may"
                );
                Err(response::internal_error())
            }
            Ok(Err(e)) => {
                tracing::info!(function, error = %e, "Lambda integration failed");
                Err(response::internal_error())
            }
            Ok(Ok(r)) if r.function_error.is_some() => {
                tracing::info!(function, "function returned an error");
                Err(response::internal_error())
            }
            Ok(Ok(r)) => Ok(r.payload),
        }
    }

    async fn authorize_jwt(
        &self,
        auth: &crate::model::Authorizer,
        scopes: &[String],
        info: &RequestInfo,
    ) -> Result<Value, Response<Body>> {
        let Some(cfg) = &auth.jwt_configuration else {
            return Err(response::internal_error());
        };
        let sources = identity_values(&auth.identity_source, info);
        let Some(raw) = sources.first() else {
            return Err(response::unauthorized());
        };
        let token = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
        let jwks = match &cfg.jwks {
            Some(j) => j.clone(),
            None => self.jwks(cfg).await.ok_or_else(response::unauthorized)?,
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let expect = jwt::Expect {
            issuer: cfg.issuer.as_deref(),
            audiences: &cfg.audience,
            scopes,
            now_seconds: now,
        };
        jwt::verify(token, &jwks, &expect).map_err(|e| {
            tracing::info!(error = %e, "JWT refused");
            if e == jwt::JwtError::MissingScope {
                response::forbidden()
            } else {
                let mut r = response::unauthorized();
                let value =
                    format!("Bearer scope=\"\" error=\"invalid_token\" error_description=\"{e}\"");
                if let Ok(v) = http::HeaderValue::from_str(&value) {
                    r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
                }
                r
            }
        })
    }

    /// The JWKS for a JWT authorizer: `jwksUri`, else OIDC discovery under the issuer.
    /// Cached for five minutes.
    async fn jwks(&self, cfg: &crate::model::JwtConfiguration) -> Option<Value> {
        let url = match &cfg.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let issuer = cfg.issuer.as_deref()?.trim_end_matches('/');
                let disc = self
                    .fetch_json(&format!("{issuer}/.well-known/openid-configuration"))
                    .await?;
                disc.get("jwks_uri")?.as_str()?.to_string()
            }
        };
        if let Ok(cache) = self.jwks_cache.lock()
            && let Some((at, v)) = cache.get(&url)
            && at.elapsed() < Duration::from_secs(300)
        {
            return Some(v.clone());
        }
        let v = self.fetch_json(&url).await?;
        if let Ok(mut cache) = self.jwks_cache.lock() {
            cache.insert(url, (Instant::now(), v.clone()));
        }
        Some(v)
    }

    async fn fetch_json(&self, url: &str) -> Option<Value> {
        let uri: http::Uri = url.parse().ok()?;
        let req = Request::get(uri).body(nuvem_aws::empty_body()).ok()?;
        let resp = tokio::time::timeout(Duration::from_secs(5), self.http.request(req))
            .await
            .ok()?
            .ok()?;
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.ok()?.into_data() {
                if buf.len() + data.len() > 1 << 20 {
                    return None;
                }
                buf.extend_from_slice(&data);
            }
        }
        serde_json::from_slice(&buf).ok()
    }
}

/// The values of an authorizer's identity sources (`$request.header.X`,
/// `$request.querystring.x`, `$context.x`, `$stageVariables.x`); empty when any is missing.
pub(crate) fn identity_values(sources: &[String], info: &RequestInfo) -> Vec<String> {
    let mut out = Vec::new();
    let query: BTreeMap<String, String> = info
        .raw_query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for s in sources {
        let v = if let Some(h) = s.strip_prefix("$request.header.") {
            info.headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        } else if let Some(q) = s.strip_prefix("$request.querystring.") {
            query.get(q).cloned()
        } else if let Some(v) = s.strip_prefix("$stageVariables.") {
            info.stage_variables.get(v).cloned()
        } else if s == "$context.routeKey" {
            Some(info.route_key.clone())
        } else {
            None
        };
        match v {
            Some(v) if !v.is_empty() => out.push(v),
            _ => return Vec::new(),
        }
    }
    out
}

async fn read_body(mut body: Body) -> Result<Bytes, Response<Body>> {
    // A frame loop rather than `Limited`: its boxed-error conversion trips the compiler's
    // `Send` proof for futures that hold it (rust-lang/rust#102211).
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(response::message(StatusCode::BAD_REQUEST, "Bad Request"));
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY {
                return Err(body_limit::too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
