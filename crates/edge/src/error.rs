//! The edge's errors. Configuration errors stop start-up; origin errors become the responses
//! CloudFront gives a viewer (502 when the origin cannot be reached or answers badly, 504 when
//! it does not answer in time).
//!
//! Must not: carry response bodies; `respond` renders them.

use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("the origin could not be reached: {0}")]
    OriginUnreachable(String),
    #[error("the origin did not answer in time")]
    OriginTimeout,
    #[error("the origin answered badly: {0}")]
    OriginProtocol(String),
    #[error("no origin is available for {0}")]
    NoOrigin(String),
}

impl Error {
    /// The status CloudFront returns to the viewer for this failure
    /// (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-502-bad-gateway.html>,
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-504-gateway-timeout.html>).
    pub fn status(&self) -> StatusCode {
        match self {
            Error::OriginTimeout => StatusCode::GATEWAY_TIMEOUT,
            Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::OriginUnreachable(_) | Error::OriginProtocol(_) | Error::NoOrigin(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }
}
