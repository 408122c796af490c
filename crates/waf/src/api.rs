//! The AWS WAFv2 API on the AWS endpoint (SigV4 scope `wafv2`, JSON 1.1,
//! `X-Amz-Target: AWSWAF_20190729.<Operation>`), for Scope `CLOUDFRONT` and `REGIONAL`:
//! WebACLs, IP sets and regex pattern sets (Create/Get/Update/Delete/List),
//! GetSampledRequests and ListAvailableManagedRuleGroups
//! (<https://docs.aws.amazon.com/waf/latest/APIReference/API_Operations_AWS_WAFV2.html>).
//!
//! Owns: the stored resources (JSON records under `wafv2/` in the store, see `records`), their
//! lock tokens, and the live WebACLs that resources use ([`WafApi::attach`] hands out a
//! [`SharedWebAcl`] that follows every later UpdateWebACL, and every update of a set the
//! WebACL references). Must not: evaluate requests or know who does (the binary wires the
//! handle into the edge), read files, or open sockets.

mod crud;
mod records;
mod sampled;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::{Response, StatusCode};
use nuvem_aws::{
    AwsError, AwsRequest, Body, BodyHandling, BoxFuture, IntoAwsError, Protocol, Service,
};
use nuvem_store::Store;
use nuvem_store::cluster::Watcher;
use serde_json::Value;

use crate::error::WafError;
use crate::shared::SharedWebAcl;

use records::Kind;
pub use records::Scope;

/// The `X-Amz-Target` prefix of every WAFv2 operation.
const TARGET_PREFIX: &str = "AWSWAF_20190729.";
const NAMESPACE: &str = "com.amazonaws.wafv2";

/// Where the API's ARNs say its resources live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafApiConfig {
    /// The region of `REGIONAL` resources (`CLOUDFRONT` ones are always in us-east-1).
    pub region: String,
    pub account_id: String,
}

impl Default for WafApiConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        }
    }
}

/// The change-notice topic of every stored wafv2 resource: each change touches it in its
/// transaction, and every node recompiles the live WebACLs whose record or sets moved.
pub const TOPIC: &str = "waf/resources";

/// The `wafv2` service of the AWS endpoint. Cheap to clone: clones share everything.
#[derive(Clone)]
pub struct WafApi {
    store: Store,
    config: Arc<WafApiConfig>,
    /// Serializes this node's changes and reloads, so that a commit and the swap of the live
    /// WebACLs it affects happen in one order (a control plane: contention is not a concern).
    writes: Arc<Mutex<()>>,
    /// ARN → the live WebACL of the resource that uses it.
    live: Arc<Mutex<HashMap<String, Live>>>,
}

/// A live WebACL and what it was compiled from (its record's lock token and those of the
/// scope's sets), so that a reload swaps only what changed: a swap starts the WebACL's rate
/// counters and samples afresh.
struct Live {
    acl: SharedWebAcl,
    compiled_from: String,
}

impl std::fmt::Debug for WafApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WafApi")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish()
    }
}

/// Why a wafv2 call failed, as the error AWS would send
/// (<https://docs.aws.amazon.com/waf/latest/APIReference/CommonErrors.html> and each
/// operation's Errors section).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A rejected parameter or rule (`WAFInvalidParameterException`), or a reference to
    /// nothing (`WAFNonexistentItemException`), found while compiling.
    #[error(transparent)]
    Waf(#[from] WafError),
    #[error("AWS WAF couldn’t perform the operation because your resource doesn’t exist. ({0})")]
    Nonexistent(String),
    #[error(
        "AWS WAF couldn’t perform the operation because some resource in your request is a duplicate of an existing one. ({0})"
    )]
    Duplicate(String),
    #[error(
        "AWS WAF couldn’t save your changes because you tried to update or delete a resource that has changed since you last retrieved it. Get the resource again, make any changes you need to make to the new copy, and retry your operation."
    )]
    OptimisticLock,
    #[error(
        "AWS WAF couldn’t perform the operation because your resource is being used by another resource or it’s associated with another resource. ({0})"
    )]
    Associated(String),
    #[error("{0}")]
    Serialization(String),
    #[error("The operation {0} is not supported by nuvem's wafv2.")]
    UnknownOperation(String),
    #[error("storage: {0}")]
    Store(#[from] nuvem_store::Error),
}

impl IntoAwsError for ApiError {
    fn into_aws_error(self) -> AwsError {
        let bad = |code: &'static str, e: &ApiError| {
            AwsError::new(StatusCode::BAD_REQUEST, code, e.to_string())
        };
        match self {
            ApiError::Waf(e) => e.into_aws_error(),
            ApiError::Nonexistent(_) => bad("WAFNonexistentItemException", &self),
            ApiError::Duplicate(_) => bad("WAFDuplicateItemException", &self),
            ApiError::OptimisticLock => bad("WAFOptimisticLockException", &self),
            ApiError::Associated(_) => bad("WAFAssociatedItemException", &self),
            ApiError::Serialization(_) => bad("SerializationException", &self),
            ApiError::UnknownOperation(_) => bad("UnknownOperationException", &self),
            ApiError::Store(_) => AwsError::internal(),
        }
    }
}

/// A `WAFInvalidParameterException`.
fn invalid(field: &'static str, parameter: &str, reason: impl Into<String>) -> ApiError {
    ApiError::Waf(WafError::invalid(field, parameter, reason))
}

/// A required string member of the input.
fn required<'a>(input: &'a Value, name: &str, field: &'static str) -> Result<&'a str, ApiError> {
    match &input[name] {
        Value::String(s) if !s.is_empty() => Ok(s),
        Value::Null => Err(invalid(field, name, format!("{name} is required."))),
        _ => Err(invalid(
            field,
            name,
            format!("{name} must be a non-empty string."),
        )),
    }
}

impl WafApi {
    /// Opens the API on `store`, checking that its records are readable.
    pub fn open(store: Store, config: WafApiConfig) -> Result<Self, ApiError> {
        let mut count = 0;
        {
            let snap = store.snapshot();
            for scope in [Scope::Cloudfront, Scope::Regional] {
                for kind in [Kind::WebAcl, Kind::IpSet, Kind::RegexPatternSet] {
                    count += records::list(&*snap, scope, kind)?.len();
                }
            }
        }
        tracing::debug!(resources = count, "wafv2: resources loaded");
        Ok(Self {
            store,
            config: Arc::new(config),
            writes: Arc::default(),
            live: Arc::default(),
        })
    }

    /// Follows changes that other nodes sharing the store make: on a change notice, the live
    /// WebACLs whose record or sets moved are recompiled and swapped.
    pub fn follow(&self, watcher: &Watcher) {
        let me = self.clone();
        watcher.subscribe(TOPIC, move |_| {
            if let Err(e) = me.reload() {
                tracing::warn!(error = %e, "wafv2: reloading the live WebACLs failed");
            }
        });
    }

    /// Runs one operation ("CreateWebACL", "GetIPSet", ...) on its JSON input, as the HTTP
    /// API does, and returns the JSON output.
    pub fn execute(&self, operation: &str, input: &Value) -> Result<Value, ApiError> {
        use Kind::*;
        match operation {
            "CreateWebACL" => self.create(WebAcl, input),
            "GetWebACL" => self.get(WebAcl, input),
            "UpdateWebACL" => self.update(WebAcl, input),
            "DeleteWebACL" => self.delete(WebAcl, input),
            "ListWebACLs" => self.list(WebAcl, input),
            "CreateIPSet" => self.create(IpSet, input),
            "GetIPSet" => self.get(IpSet, input),
            "UpdateIPSet" => self.update(IpSet, input),
            "DeleteIPSet" => self.delete(IpSet, input),
            "ListIPSets" => self.list(IpSet, input),
            "CreateRegexPatternSet" => self.create(RegexPatternSet, input),
            "GetRegexPatternSet" => self.get(RegexPatternSet, input),
            "UpdateRegexPatternSet" => self.update(RegexPatternSet, input),
            "DeleteRegexPatternSet" => self.delete(RegexPatternSet, input),
            "ListRegexPatternSets" => self.list(RegexPatternSet, input),
            "GetSampledRequests" => self.sampled_requests(input),
            "ListAvailableManagedRuleGroups" => sampled::managed_rule_groups(input),
            other => Err(ApiError::UnknownOperation(other.to_string())),
        }
    }

    async fn handle(&self, request: AwsRequest) -> Result<Value, ApiError> {
        use nuvem_aws::json_api::{JsonRequestError, operation_and_input};
        let (operation, input) =
            operation_and_input(request, TARGET_PREFIX)
                .await
                .map_err(|e| match e {
                    JsonRequestError::UnknownOperation(t) => ApiError::UnknownOperation(t),
                    JsonRequestError::Serialization(m) => ApiError::Serialization(m),
                })?;
        let me = self.clone();
        self.store.run(move || me.execute(&operation, &input)).await
    }
}

impl Service for WafApi {
    fn name(&self) -> &'static str {
        "wafv2"
    }

    fn protocol(&self) -> Protocol {
        Protocol::AwsJson1_1 {
            namespace: NAMESPACE,
        }
    }

    fn body_handling(&self) -> BodyHandling {
        // A WebACL is at most a few hundred KB of JSON.
        BodyHandling::Buffered {
            limit: 4 * 1024 * 1024,
        }
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(async move {
            let request_id = request.request_id.clone();
            match self.handle(request).await {
                Ok(output) => nuvem_aws::json_api::ok_response(&output, &request_id),
                Err(e) => {
                    if let ApiError::Store(cause) = &e {
                        tracing::error!(request_id = request_id.as_str(), %cause, "wafv2: storage failed");
                    }
                    e.into_aws_error().to_response(self.protocol(), &request_id)
                }
            }
        })
    }
}
