//! Lambda (REQUEST) authorizers for HTTP APIs
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html):
//! the authorizer function gets the request as an authorizer event (format 2.0 or 1.0) and
//! answers `{"isAuthorized": bool, "context": {...}}` (simple responses) or an IAM policy.
//! Missing identity sources are a 401 without calling the function; a refusal is a 403; a
//! failing authorizer is a 500. Results are cached by identity for the configured TTL; the
//! context reaches the integration as `requestContext.authorizer.lambda`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Response;
use nuvem_aws::Body;
use serde_json::{Value, json};

use crate::dataplane::identity_values;
use crate::model::Authorizer;
use crate::payload::RequestInfo;
use crate::registry::Compiled;
use crate::{Gateway, response};

/// Authorizer invocations time out like API Gateway's (10 seconds).
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

impl Gateway {
    pub(crate) async fn authorize_lambda(
        &self,
        c: &Compiled,
        auth: &Authorizer,
        info: &RequestInfo,
    ) -> Result<Value, Response<Body>> {
        let identity = identity_values(&auth.identity_source, info);
        if !auth.identity_source.is_empty() && identity.is_empty() {
            return Err(response::unauthorized());
        }
        let ttl = Duration::from_secs(auth.authorizer_result_ttl_in_seconds);
        let cache_key = format!(
            "{}|{}|{}",
            c.api.api_id,
            auth.authorizer_id,
            identity.join("\u{1f}")
        );
        // Without identity sources there is nothing to cache by (API Gateway requires them
        // for caching).
        let cacheable = !ttl.is_zero() && !identity.is_empty();
        if cacheable
            && let Ok(cache) = self.auth_cache.lock()
            && let Some((expires, result)) = cache.get(&cache_key)
            && *expires > Instant::now()
        {
            return result.clone().ok_or_else(response::forbidden);
        }
        let event = authorizer_event(&self.config.region, c, auth, info, &identity);
        let uri = auth.authorizer_uri.as_deref().unwrap_or("");
        let caller = crate::invoke::Caller {
            source_arn: format!(
                "arn:aws:execute-api:{}:{}:{}/authorizers/{}",
                self.config.region, info.account_id, c.api.api_id, auth.authorizer_id
            ),
            credentials_arn: auth.authorizer_credentials_arn.clone(),
        };
        let out = self
            .call_function(
                uri,
                Bytes::from(event.to_string()),
                AUTHORIZER_TIMEOUT,
                &caller,
            )
            .await
            .map_err(|_| response::internal_error())?;
        let verdict: Value =
            serde_json::from_slice(&out).map_err(|_| response::internal_error())?;
        let (allowed, context) = if auth.enable_simple_responses {
            let Some(allowed) = verdict.get("isAuthorized").and_then(Value::as_bool) else {
                return Err(response::internal_error());
            };
            (allowed, verdict.get("context").cloned())
        } else {
            (policy_allows(&verdict), verdict.get("context").cloned())
        };
        let result = allowed.then(|| json!({ "lambda": context.unwrap_or(Value::Null) }));
        if cacheable && let Ok(mut cache) = self.auth_cache.lock() {
            if cache.len() > 10_000 {
                let now = Instant::now();
                cache.retain(|_, (exp, _)| *exp > now);
            }
            cache.insert(cache_key, (Instant::now() + ttl, result.clone()));
        }
        result.ok_or_else(response::forbidden)
    }
}

/// An IAM policy response allows when some statement allows `execute-api:Invoke` and none
/// denies it.
fn policy_allows(v: &Value) -> bool {
    let statements = v
        .get("policyDocument")
        .and_then(|p| p.get("Statement"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let effect = |s: &Value| s.get("Effect").and_then(Value::as_str).map(str::to_string);
    let any_allow = statements
        .iter()
        .any(|s| effect(s).as_deref() == Some("Allow"));
    let any_deny = statements
        .iter()
        .any(|s| effect(s).as_deref() == Some("Deny"));
    any_allow && !any_deny
}

fn authorizer_event(
    region: &str,
    c: &Compiled,
    auth: &Authorizer,
    info: &RequestInfo,
    identity: &[String],
) -> Value {
    let route_arn = format!(
        "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
        region, info.account_id, c.api.api_id, info.stage, info.method, info.route_path
    );
    if auth.authorizer_payload_format_version.as_deref() == Some("1.0") {
        let mut ev = crate::payload::event_v1(info);
        if let Some(o) = ev.as_object_mut() {
            o.insert("type".into(), json!("REQUEST"));
            o.insert("methodArn".into(), json!(route_arn));
            o.insert("identitySource".into(), json!(identity.join(",")));
            o.insert("authorizationToken".into(), json!(identity.first()));
        }
        return ev;
    }
    let mut ev = crate::payload::event_v2(info);
    if let Some(o) = ev.as_object_mut() {
        o.insert("type".into(), json!("REQUEST"));
        o.insert("routeArn".into(), json!(route_arn));
        o.insert("identitySource".into(), json!(identity));
        o.remove("body");
        o.remove("isBase64Encoded");
    }
    ev
}
