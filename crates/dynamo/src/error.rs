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
    /// A per-table or per-account limit (index builds at once, index count).
    #[error("{0}")]
    LimitExceeded(String),
    /// A provisioned table's (or one of its global indexes') capacity is spent for now
    /// (see [`crate::throughput`]); the SDKs back off and retry.
    #[error("{0}")]
    ProvisionedThroughputExceeded(String),
    /// An item collection of a table with local indexes would pass 10 GB.
    #[error("{0}")]
    ItemCollectionSizeLimitExceeded(String),
    /// A `ConditionExpression` evaluated to false. `item` is the old item when the client
    /// asked for it with `ReturnValuesOnConditionCheckFailure: ALL_OLD` and there was one.
    #[error("The conditional request failed")]
    ConditionalCheckFailed { item: Option<Box<Item>> },
    /// A TransactWriteItems was cancelled: one reason per action, in request order.
    #[error("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", reason_codes(.0))]
    TransactionCanceled(Vec<CancellationReason>),
    /// A `ClientRequestToken` was reused with a different request within 10 minutes.
    #[error(
        "Specified idempotency token was used with different request parameters within the 10 minute time window"
    )]
    IdempotentParameterMismatch,
    /// DynamoDB Streams: a shard iterator used after its 15 minutes.
    #[error("{0}")]
    ExpiredIterator(String),
    /// DynamoDB Streams: a position before the shard's trim horizon (records past their 24
    /// hours were removed).
    #[error("{0}")]
    TrimmedDataAccess(String),
    #[error(transparent)]
    Store(#[from] nuvem_store::Error),
    /// Bytes in the store that this crate wrote but cannot read back.
    #[error("corrupt table data: {0}")]
    Corrupt(String),
}

/// Why one action of a cancelled transaction failed (or `None` when it did not), as in
/// <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CancellationReason.html>.
#[derive(Debug, Clone, PartialEq)]
pub struct CancellationReason {
    pub code: &'static str,
    pub message: Option<String>,
    pub item: Option<Item>,
}

fn reason_codes(reasons: &[CancellationReason]) -> String {
    reasons
        .iter()
        .map(|r| r.code)
        .collect::<Vec<_>>()
        .join(", ")
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
        let reasons = match &self {
            Error::TransactionCanceled(reasons) => Some(cancellation_reasons(reasons)),
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
        if let (Some(reasons), Some(obj)) = (reasons, body.as_object_mut()) {
            obj.insert("CancellationReasons".into(), reasons);
        }
        let mut resp =
            crate::service::json_response(aws.status, body.to_string().into_bytes(), request_id);
        resp.extensions_mut()
            .insert(nuvem_aws::ErrorCode(aws.code.into()));
        resp
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
            Error::LimitExceeded(m) => AwsError::new(bad, "LimitExceededException", m),
            Error::ProvisionedThroughputExceeded(m) => {
                AwsError::new(bad, "ProvisionedThroughputExceededException", m)
            }
            Error::ItemCollectionSizeLimitExceeded(m) => {
                AwsError::new(bad, "ItemCollectionSizeLimitExceededException", m)
            }
            e @ Error::ConditionalCheckFailed { .. } => {
                AwsError::new(bad, "ConditionalCheckFailedException", e.to_string())
            }
            e @ Error::TransactionCanceled(_) => {
                AwsError::new(bad, "TransactionCanceledException", e.to_string())
            }
            e @ Error::IdempotentParameterMismatch => {
                AwsError::new(bad, "IdempotentParameterMismatchException", e.to_string())
            }
            Error::ExpiredIterator(m) => AwsError::new(bad, "ExpiredIteratorException", m),
            Error::TrimmedDataAccess(m) => AwsError::new(bad, "TrimmedDataAccessException", m),
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

/// The `CancellationReasons` member of a `TransactionCanceledException` body.
pub fn cancellation_reasons(reasons: &[CancellationReason]) -> serde_json::Value {
    reasons
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            o.insert("Code".into(), r.code.into());
            if let Some(m) = &r.message {
                o.insert("Message".into(), m.clone().into());
            }
            if let Some(item) = &r.item {
                o.insert("Item".into(), item_to_json(item));
            }
            serde_json::Value::Object(o)
        })
        .collect()
}

/// DynamoDB's 500: `InternalServerError`
/// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html).
fn internal() -> AwsError {
    let mut e = AwsError::internal();
    e.code = "InternalServerError";
    e
}
