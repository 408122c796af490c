//! The crate's one error type: why a WebACL (or a resource it references) was rejected.
//! Messages follow WAFv2's `WAFInvalidParameterException` ("Error reason: …, field: …,
//! parameter: …"), so the `wafv2` API (`crate::api`) hands them to clients unchanged. Must not
//! carry request data: evaluating a request never fails.

use http::StatusCode;
use nuvem_aws::{AwsError, IntoAwsError};

/// A rejected WebACL, rule group, IP set or regex pattern set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WafError {
    /// A parameter has a value WAF does not accept. `field` is WAFv2's `ParameterExceptionField`
    /// (e.g. `RULE`, `BYTE_MATCH_STATEMENT`, `TEXT_TRANSFORMATION`); `parameter` names the JSON
    /// path of the offending value.
    /// <https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html#API_CreateWebACL_Errors>
    #[error("Error reason: {reason}, field: {field}, parameter: {parameter}")]
    InvalidParameter {
        field: &'static str,
        parameter: String,
        reason: String,
    },
    /// A reference (IP set, regex pattern set, rule group, managed rule group) names nothing
    /// that exists. WAFv2 answers `WAFNonexistentItemException`.
    #[error("AWS WAF couldn’t perform the operation because your resource doesn’t exist. ({0})")]
    NonexistentItem(String),
}

impl WafError {
    pub(crate) fn invalid(
        field: &'static str,
        parameter: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        WafError::InvalidParameter {
            field,
            parameter: parameter.into(),
            reason: reason.into(),
        }
    }

    /// The AWS error code a wafv2 client expects.
    pub fn code(&self) -> &'static str {
        match self {
            WafError::InvalidParameter { .. } => "WAFInvalidParameterException",
            WafError::NonexistentItem(_) => "WAFNonexistentItemException",
        }
    }
}

impl IntoAwsError for WafError {
    fn into_aws_error(self) -> AwsError {
        let err = AwsError::new(StatusCode::BAD_REQUEST, self.code(), self.to_string());
        match self {
            // WAFInvalidParameterException's own members, as the SDKs parse them.
            WafError::InvalidParameter {
                field,
                parameter,
                reason,
            } => err
                .with_member("Field", field)
                .with_member("Parameter", parameter)
                .with_member("Reason", reason),
            WafError::NonexistentItem(_) => err,
        }
    }
}
