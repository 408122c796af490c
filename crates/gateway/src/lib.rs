//! The API gateway: API Gateway v2 HTTP APIs on nuvem.
//!
//! Owns the HTTP API model (`model`), route selection (`routes`), the Lambda proxy payloads
//! (`payload`, `response`), HTTP proxy integrations (`http_proxy`), the 10 MB payload limit
//! (`body_limit`), throttling, CORS, JWT and
//! Lambda authorizers, the management API (`manage`, `service`), OpenAPI 3 import
//! (`import`), and the data plane ([`Gateway::handle`]) that the edge calls in-process and
//! the AWS endpoint calls for `{apiId}.execute-api.localhost.localstack.cloud` hosts.
//!
//! Must not: import another service. Functions are reached through the [`LambdaInvoker`]
//! port, which the binary wires to the functions service.

mod body_limit;
pub mod cors;
mod dataplane;
pub mod error;
pub mod http_proxy;
mod import;
pub mod invoke;
pub mod jwt;
mod lambda_auth;
mod manage;
pub mod metrics;
pub mod model;
pub mod payload;
mod registry;
pub mod response;
pub mod routes;
pub mod service;
pub mod throttle;
mod tls;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

pub use dataplane::Mapping;
pub use error::Error;
pub use invoke::{Caller, InvokeError, InvokeResult, LambdaInvoker, route_source_arn};
pub use manage::ApiDefinition;
pub use service::GatewayService;

/// The host name suffix under which APIs answer on the AWS endpoint (the LocalStack
/// convention; public DNS resolves `*.localhost.localstack.cloud` to 127.0.0.1).
pub const EXECUTE_API_SUFFIX: &str = ".execute-api.localhost.localstack.cloud";

/// The API id a `Host` header names, for `{apiId}.execute-api.localhost.localstack.cloud[:port]`.
pub fn api_id_from_host(host: &str) -> Option<&str> {
    let name = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let id = name
        .strip_suffix(EXECUTE_API_SUFFIX)
        .or_else(|| name.strip_suffix(".execute-api.localhost"))?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub region: String,
    pub account_id: String,
    /// PEM certificates trusted for `https://` integrations and JWKS besides Mozilla's roots
    /// (the manifest's `server.upstream_ca_file`, read by the binary).
    pub extra_ca_pem: Option<Vec<u8>>,
}

/// The gateway service: management API and data plane over the stored APIs.
pub struct Gateway {
    config: GatewayConfig,
    registry: registry::Registry,
    invoker: RwLock<Option<Arc<dyn LambdaInvoker>>>,
    throttle: throttle::Throttle,
    http: http_proxy::HttpClient,
    /// Lambda authorizer results by (authorizer, identity), with their expiry.
    auth_cache: Mutex<HashMap<String, (Instant, Option<serde_json::Value>)>>,
    /// JWKS documents by URL, with when they were fetched.
    jwks_cache: Mutex<HashMap<String, (Instant, serde_json::Value)>>,
    metrics: metrics::Metrics,
    /// The AWS endpoint's port as clients last reached it, for `apiEndpoint` URLs.
    endpoint_port: AtomicU16,
}

impl Gateway {
    /// Opens the gateway on the shared store, loading every stored API. Fails when the extra
    /// CA bundle holds no usable certificate.
    pub fn open(store: nuvem_store::Store, config: GatewayConfig) -> Result<Self, Error> {
        let http = http_proxy::client(config.extra_ca_pem.as_deref())?;
        Ok(Self {
            config,
            registry: registry::Registry::open(store)?,
            invoker: RwLock::new(None),
            throttle: throttle::Throttle::default(),
            http,
            auth_cache: Mutex::new(HashMap::new()),
            jwks_cache: Mutex::new(HashMap::new()),
            metrics: metrics::Metrics::default(),
            endpoint_port: AtomicU16::new(4566),
        })
    }

    /// Follows changes that other nodes sharing the store make to the APIs: on a change
    /// notice, every stored API is read again.
    pub fn follow(self: &Arc<Self>, watcher: &nuvem_store::cluster::Watcher) {
        let me = Arc::downgrade(self);
        watcher.subscribe(registry::TOPIC, move |_| {
            if let Some(me) = me.upgrade()
                && let Err(e) = me.registry.reload()
            {
                tracing::warn!(error = %e, "apigateway: reloading the APIs failed");
            }
        });
    }

    /// Connects the functions service (wired by the binary).
    pub fn set_invoker(&self, invoker: Arc<dyn LambdaInvoker>) {
        if let Ok(mut slot) = self.invoker.write() {
            *slot = Some(invoker);
        }
    }

    /// Lets API Gateway invoke a quick-created API's Lambda target: a statement in the
    /// function's resource policy for `apigateway.amazonaws.com` from the API's route on any
    /// stage. A failure (the function does not exist yet) is logged: the API is created all
    /// the same, as on AWS, and answers 500 until a permission exists.
    pub(crate) async fn grant_quick_create(&self, api_id: &str, target: &str, route_key: &str) {
        let invoker = self.invoker.read().ok().and_then(|i| i.clone());
        let Some(invoker) = invoker else { return };
        let source_arn = invoke::route_source_arn(
            &self.config.region,
            &self.config.account_id,
            api_id,
            "*",
            route_key,
        );
        let function = invoke::function_of_uri(target);
        let sid = format!("nuvem-quick-create-{api_id}");
        if let Err(e) = invoker.grant(function, &sid, &source_arn).await {
            tracing::warn!(
                api = api_id,
                function,
                error = %e,
                "quick create could not let API Gateway invoke the function"
            );
        }
    }

    /// Tells the gateway the AWS endpoint's port, for the `apiEndpoint` of APIs.
    pub fn set_endpoint_port(&self, port: u16) {
        self.endpoint_port.store(port, Ordering::Relaxed);
    }

    /// `http://{apiId}.execute-api.localhost.localstack.cloud:{port}`.
    pub fn api_endpoint(&self, api_id: &str) -> String {
        format!(
            "http://{api_id}{EXECUTE_API_SUFFIX}:{}",
            self.endpoint_port.load(Ordering::Relaxed)
        )
    }

    /// The id of an API by id or name.
    pub fn resolve(&self, id_or_name: &str) -> Option<String> {
        self.registry.get(id_or_name).map(|c| c.api.api_id.clone())
    }

    /// Per-route request metrics of every API.
    pub fn metrics(&self) -> serde_json::Value {
        self.metrics.snapshot()
    }
}
