//! nuvem's WAF engine: AWS WAFv2 WebACLs (the JSON model), nuvem's built-in managed rule
//! groups, attack detection (libinjection SQLi/XSS plus nuvem's own family detectors), rate
//! based rules, per-rule counters and sampled requests, and Shield-like listener limits.
//! A pure engine: a request view in, a verdict out. It opens no sockets and reads no files;
//! the edge (which owns the listener and the clock) calls it before the cache.
//!
//! The one stateful part is [`api`]: the AWS WAFv2 API ([`WafApi`], the endpoint's `wafv2`
//! service), which owns the WebACLs, IP sets and regex pattern sets created through it (kept
//! in the store) and hands live WebACLs out as [`SharedWebAcl`] handles that it swaps on
//! update. The engine modules never touch the store.
//!
//! ```no_run
//! # use nuvem_waf::{WebAcl, Request};
//! let acl = WebAcl::default_for_distribution();
//! # let req: Request<'_> = todo!();
//! let verdict = acl.evaluate(&req);
//! if verdict.is_blocked() { /* answer 403 with the request id */ }
//! ```

mod acl;
pub mod api;
mod compile;
mod detect;
mod error;
mod fields;
mod inspect;
mod managed;
mod model;
mod rate;
mod request;
mod shared;
pub mod shield;
mod stats;
mod transform;

pub use acl::{Action, BlockResponse, Verdict, WebAcl};
pub use api::{ApiError, Scope, WafApi, WafApiConfig};
pub use compile::{RATE_MAX_KEYS, Resources};
pub use detect::{explain, is_sqli, is_xss};
pub use error::WafError;
pub use managed::{DEFAULT_DISTRIBUTION_ACL, GROUPS as MANAGED_RULE_GROUPS};
pub use request::Request;
pub use shared::SharedWebAcl;
pub use stats::{RuleStats, SAMPLE_CAPACITY, Sample};
pub use transform::{Transformation, apply_all as apply_transformations};

impl WebAcl {
    /// Parses and validates a WebACL in the WAFv2 JSON model (no ARN references).
    pub fn from_json(json: &str) -> Result<WebAcl, WafError> {
        compile::web_acl(json, &Resources::default())
    }

    /// Parses a WebACL whose statements reference IP sets, regex pattern sets or rule groups.
    pub fn from_json_with(json: &str, resources: &Resources) -> Result<WebAcl, WafError> {
        compile::web_acl(json, resources)
    }

    /// The WebACL a distribution gets by default: Allow, after nuvem's managed rule groups.
    pub fn default_for_distribution() -> WebAcl {
        WebAcl::from_json(DEFAULT_DISTRIBUTION_ACL)
            .unwrap_or_else(|e| panic!("the built-in default WebACL must compile: {e}"))
    }
}
