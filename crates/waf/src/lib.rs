//! nuvem's WAF engine: AWS WAFv2 WebACLs (the JSON model), nuvem's built-in managed rule
//! groups, attack detection (libinjection SQLi/XSS plus nuvem's own family detectors), rate
//! based rules, per-rule counters and sampled requests, and Shield-like listener limits.
//! A pure engine: a request view in, a verdict out. It opens no sockets and reads no files;
//! the edge (which owns the listener and the clock) calls it before the cache.
//!
//! ```no_run
//! # use nuvem_waf::{WebAcl, Request};
//! let acl = WebAcl::default_for_distribution();
//! # let req: Request<'_> = todo!();
//! let verdict = acl.evaluate(&req);
//! if verdict.is_blocked() { /* answer 403 with the request id */ }
//! ```

mod acl;
mod compile;
mod detect;
mod error;
mod fields;
mod inspect;
mod managed;
mod model;
mod rate;
mod request;
pub mod shield;
mod stats;
mod transform;

pub use acl::{Action, BlockResponse, Verdict, WebAcl};
pub use compile::{RATE_MAX_KEYS, Resources};
pub use detect::{is_sqli, is_xss};
pub use error::WafError;
pub use managed::{DEFAULT_DISTRIBUTION_ACL, GROUPS as MANAGED_RULE_GROUPS};
pub use request::Request;
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
