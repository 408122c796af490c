//! The gateway's error type and how management API errors look to an apigatewayv2 client
//! (https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis.html#apis-errors).
//! Data-plane failures are not errors of this type: they are `{"message": ...}` responses
//! built in `response`.

use http::StatusCode;
use nuvem_aws::{AwsError, IntoAwsError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage: {0}")]
    Store(#[from] nuvem_store::Error),
    #[error("stored API is unreadable: {0}")]
    Corrupt(String),
    /// The configured extra CA bundle for `https://` upstreams is unusable (start-up only).
    #[error("the upstream CA bundle is unusable: {0}")]
    UpstreamCa(String),
}

impl IntoAwsError for Error {
    fn into_aws_error(self) -> AwsError {
        match self {
            Error::NotFound(m) => AwsError::new(StatusCode::NOT_FOUND, "NotFoundException", m),
            Error::BadRequest(m) => {
                AwsError::new(StatusCode::BAD_REQUEST, "BadRequestException", m)
            }
            Error::Conflict(m) => AwsError::new(StatusCode::CONFLICT, "ConflictException", m),
            Error::Store(_) | Error::Corrupt(_) | Error::UpstreamCa(_) => AwsError::internal(),
        }
    }
}
