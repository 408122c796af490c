//! Request ids: one per request, in every response's headers and every log line of its span.

use http::{HeaderMap, HeaderValue};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random id (a UUID, the format DynamoDB and Lambda use).
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn from_string(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Adds the id under the names AWS services use: `x-amzn-RequestId` (JSON services),
    /// `x-amz-request-id` (S3).
    pub fn add_headers(&self, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&self.0) {
            headers.insert("x-amzn-requestid", v.clone());
            headers.insert("x-amz-request-id", v);
        }
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
