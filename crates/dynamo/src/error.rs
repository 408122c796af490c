//! The crate's one error type, and how each variant looks to a DynamoDB client.
//!
//! Owns: the mapping from what went wrong to DynamoDB's error code, HTTP status and message
//! (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html), and the
//! JSON 1.0 error body, which for `ConditionalCheckFailedException` may carry the old item.
//! Must not: decide *when* an error happens; the operations do that.

use http::StatusCode;
use nuvem_aws::{AwsError, IntoAwsError, RequestId};

use crate::value::{Item, item_to_json};

/// DynamoDB's JSON namespace, the prefix of `__type` in error bodies.
pub const NAMESPACE: &str = "com.amazonaws.dynamodb.v20120810";

/// Errors raised by DynamoDB's request front end (before the operation runs) use the Coral
/// service namespace, as AWS does for malformed JSON and unknown targets.
const CORAL_NAMESPACE: &str = "com.amazon.coral.service";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is well-formed JSON but breaks a rule of the operation.
    #[error("{0}")]
    Validation(String),
    /// The JSON does not parse, or a member has the wrong JSON type.
    #[error("{0}")]
    Serialization(String),
    #[error("unknown operation: {0}")]
    UnknownOperation(String),
    /// The table (or another resource) does not exist. The message is the full text.
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    /// A `ConditionExpression` evaluated to false. `item` is the old item when the client
    /// asked for it with `ReturnValuesOnConditionCheckFailure: ALL_OLD` and there was one.
    #[error("The conditional request failed")]
    ConditionalCheckFailed { item: Option<Box<Item>> },
    #[error(transparent)]
    Store(#[from] nuvem_store::Error),
    /// Bytes in the store that this crate wrote but cannot read back.
    #[error("corrupt table data: {0}")]
    Corrupt(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn validation(msg: impl Into<String>) -> Self {
        Error::Validation(msg.into())
    }

    /// `ValidationException` with AWS's "One or more parameter values were invalid: " prefix.
    pub fn invalid_parameter(msg: impl std::fmt::Display) -> Self {
        Error::Validation(format!("One or more parameter values were invalid: {msg}"))
    }

    /// Whether the error is the server's fault (logged, rendered as a bare 500).
    pub fn is_internal(&self) -> bool {
        matches!(self, Error::Store(_) | Error::Corrupt(_))
    }

    /// Renders the error as DynamoDB's JSON 1.0 error response, including the `Item` member
    /// of a failed condition check, which [`AwsError`] has no room for. Internal errors are
    /// logged here with the request id and reach the client only as `InternalServerError`.
    pub fn into_response(self, request_id: &RequestId) -> http::Response<nuvem_aws::Body> {
        let item = match &self {
            Error::ConditionalCheckFailed { item: Some(item) } => Some(item_to_json(item)),
            _ => None,
        };
        let aws = self.into_aws_error();
        let ns = aws.namespace.unwrap_or(NAMESPACE);
        let mut body = serde_json::json!({
            "__type": format!("{ns}#{}", aws.code),
            "message": aws.message,
        });
        if let (Some(item), Some(obj)) = (item, body.as_object_mut()) {
            obj.insert("Item".into(), item);
        }
        crate::service::json_response(aws.status, body.to_string().into_bytes(), request_id)
    }
}

impl From<crate::value::ValueError> for Error {
    fn from(e: crate::value::ValueError) -> Self {
        if e.is_serialization() {
            Error::Serialization(e.to_string())
        } else if e.is_internal() {
            Error::Corrupt(e.to_string())
        } else {
            Error::Validation(e.to_string())
        }
    }
}

impl From<crate::expr::ExprError> for Error {
    fn from(e: crate::expr::ExprError) -> Self {
        Error::Validation(e.to_string())
    }
}

impl IntoAwsError for Error {
    fn into_aws_error(self) -> AwsError {
        let bad = StatusCode::BAD_REQUEST;
        match self {
            Error::Validation(m) => AwsError::new(bad, "ValidationException", m),
            Error::Serialization(m) => {
                AwsError::new(bad, "SerializationException", m).with_namespace(CORAL_NAMESPACE)
            }
            Error::UnknownOperation(op) => AwsError::new(
                bad,
                "UnknownOperationException",
                format!("Unknown operation: {op}"),
            )
            .with_namespace(CORAL_NAMESPACE),
            Error::ResourceNotFound(m) => AwsError::new(bad, "ResourceNotFoundException", m),
            Error::ResourceInUse(m) => AwsError::new(bad, "ResourceInUseException", m),
            e @ Error::ConditionalCheckFailed { .. } => {
                AwsError::new(bad, "ConditionalCheckFailedException", e.to_string())
            }
            Error::Store(e) => {
                tracing::error!(error = %e, "dynamodb: storage engine failed");
                internal()
            }
            Error::Corrupt(e) => {
                tracing::error!(error = %e, "dynamodb: corrupt table data");
                internal()
            }
        }
    }
}

/// DynamoDB's 500: `InternalServerError`
/// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html).
fn internal() -> AwsError {
    let mut e = AwsError::internal();
    e.code = "InternalServerError";
    e
}
