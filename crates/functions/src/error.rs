//! The crate's one error type and how each variant looks to a Lambda client.
//!
//! Codes and statuses are the ones the Lambda API reference lists per operation
//! (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors,
//! https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html#API_CreateFunction_Errors).
//! Must not: carry function errors (those are successful invocations with
//! `X-Amz-Function-Error`, see [`crate::invoke`]).

use http::StatusCode;
use nuvem_aws::{AwsError, IntoAwsError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The function (or the qualifier) does not exist; carries the ARN AWS names.
    #[error("Function not found: {0}")]
    FunctionNotFound(String),
    #[error("Function already exist: {0}")]
    FunctionExists(String),
    /// A parameter is well-formed but not acceptable (unknown runtime, missing handler).
    #[error("{0}")]
    InvalidParameter(String),
    /// A parameter breaks a modelled constraint (length, range, pattern).
    #[error("{0}")]
    Validation(String),
    /// The request body is not what the operation takes (not JSON, wrong shape).
    #[error("{0}")]
    InvalidRequestContent(String),
    #[error("{0}")]
    RequestTooLarge(String),
    /// A synchronous invoke found every allowed environment busy.
    /// The function's code is not in place yet (still building, or it could not be built);
    /// carries the function's name and why. Lambda's message for a `Pending` function
    /// (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html), then why.
    #[error(
        "The operation cannot be performed at this time. The function is currently in the following state: Pending ({0}: {1})"
    )]
    Pending(String, String),
    /// Every slot the function may use is taken (cluster-wide); carries Lambda's `Reason`.
    #[error("Rate Exceeded.")]
    TooManyRequests(Throttle),
    #[error("The resource you requested does not exist.")]
    UnknownOperation,
    /// A resource-policy statement id that exists already (AddPermission).
    #[error("{0}")]
    Conflict(String),
    /// Something other than a function that does not exist (a policy, a statement).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PolicyTooLong(String),
    /// No provisioned concurrency configuration on that qualifier.
    #[error("{0}")]
    ProvisionedNotFound(String),
    /// A `RevisionId` or `CodeSha256` precondition that does not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("storage: {0}")]
    Store(#[from] nuvem_store::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt function record: {0}")]
    Corrupt(String),
    /// The package a record was about to point at was collected meanwhile (another node
    /// deleted the last function using it); the writer stores it again.
    #[error("package {0} was collected while the function was being written")]
    PackageGone(String),
}

/// Which limit throttled an invocation: the `Reason` member of Lambda's
/// `TooManyRequestsException`
/// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The function's reserved concurrency.
    Reserved,
    /// The account's (unreserved) concurrency.
    Account,
}

impl Throttle {
    pub fn reason(self) -> &'static str {
        match self {
            Throttle::Reserved => "ReservedFunctionConcurrentInvocationLimitExceeded",
            Throttle::Account => "ConcurrentInvocationLimitExceeded",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl IntoAwsError for Error {
    fn into_aws_error(self) -> AwsError {
        let (status, code) = match &self {
            Error::FunctionNotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            Error::PolicyTooLong(_) => (StatusCode::BAD_REQUEST, "PolicyLengthExceededException"),
            Error::ProvisionedNotFound(_) => (
                StatusCode::NOT_FOUND,
                "ProvisionedConcurrencyConfigNotFoundException",
            ),
            Error::PreconditionFailed(_) => (
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
            ),
            Error::FunctionExists(_) | Error::Pending(..) | Error::Conflict(_) => {
                (StatusCode::CONFLICT, "ResourceConflictException")
            }
            Error::InvalidParameter(_) => {
                (StatusCode::BAD_REQUEST, "InvalidParameterValueException")
            }
            Error::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
            Error::InvalidRequestContent(_) => {
                (StatusCode::BAD_REQUEST, "InvalidRequestContentException")
            }
            Error::RequestTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException")
            }
            Error::TooManyRequests(why) => {
                return AwsError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequestsException",
                    self.to_string(),
                )
                .with_member("Reason", why.reason());
            }
            Error::UnknownOperation => (StatusCode::NOT_FOUND, "UnknownOperationException"),
            Error::Store(_) | Error::Io(_) | Error::Corrupt(_) | Error::PackageGone(_) => {
                tracing::error!(error = %self, "lambda: internal failure");
                return AwsError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceException",
                    "The AWS Lambda service encountered an internal error.",
                );
            }
        };
        AwsError::new(status, code, self.to_string())
    }
}
