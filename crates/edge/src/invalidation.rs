//! Invalidation records, with CloudFront's rules
//! (<https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreateInvalidation.html>):
//! paths start with `/`, a `*` may only end a path, a batch holds 1 to 3,000 paths, and the
//! same CallerReference with the same paths returns the existing invalidation, with other
//! paths `InvalidationBatchAlreadyExists`.
//!
//! Must not: touch caches (the edge clears them, then records the invalidation here).

use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    pub id: String,
    pub caller_reference: String,
    pub paths: Vec<String>,
    /// `Completed` once every node serving the distribution cleared its tiers (on one node:
    /// before CreateInvalidation returns), else `InProgress`.
    pub status: &'static str,
    pub create_time: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidationError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("The CallerReference {0} was used with a different batch of paths.")]
    BatchAlreadyExists(String),
    #[error("The specified invalidation does not exist.")]
    NoSuchInvalidation,
    /// The store that holds the invalidations failed (the database is down): retryable.
    #[error("CloudFront could not reach its storage, try again: {0}")]
    Unavailable(String),
}

impl From<nuvem_store::Error> for InvalidationError {
    fn from(e: nuvem_store::Error) -> Self {
        InvalidationError::Unavailable(e.to_string())
    }
}

impl InvalidationError {
    /// CloudFront's error code and status.
    pub fn code(&self) -> (&'static str, u16) {
        match self {
            InvalidationError::InvalidArgument(_) => ("InvalidArgument", 400),
            InvalidationError::BatchAlreadyExists(_) => ("InvalidationBatchAlreadyExists", 409),
            InvalidationError::NoSuchInvalidation => ("NoSuchInvalidation", 404),
            InvalidationError::Unavailable(_) => ("ServiceUnavailable", 503),
        }
    }
}

#[derive(Debug, Default)]
pub struct Invalidations {
    records: Mutex<Vec<Invalidation>>,
}

/// Checks one batch of paths.
pub fn validate(paths: &[String]) -> Result<(), InvalidationError> {
    if paths.is_empty() || paths.len() > 3000 {
        return Err(InvalidationError::InvalidArgument(
            "An invalidation batch holds 1 to 3000 paths.".into(),
        ));
    }
    for p in paths {
        if !p.starts_with('/') {
            return Err(InvalidationError::InvalidArgument(format!(
                "Invalidation path {p:?} must start with /."
            )));
        }
        if p.trim_end_matches('*').contains('*') {
            return Err(InvalidationError::InvalidArgument(format!(
                "Invalidation path {p:?}: the * wildcard must be the last character."
            )));
        }
    }
    Ok(())
}

impl Invalidations {
    /// Finds a batch already made with this CallerReference: `Ok(Some)` to return it again.
    pub fn existing(
        &self,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<Option<Invalidation>, InvalidationError> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        match records
            .iter()
            .find(|r| r.caller_reference == caller_reference)
        {
            Some(r) if r.paths == paths => Ok(Some(r.clone())),
            Some(_) => Err(InvalidationError::BatchAlreadyExists(
                caller_reference.into(),
            )),
            None => Ok(None),
        }
    }

    pub fn record(&self, caller_reference: &str, paths: Vec<String>) -> Invalidation {
        let id = format!(
            "I{}",
            uuid::Uuid::new_v4().simple().to_string()[..13].to_ascii_uppercase()
        );
        let inv = Invalidation {
            id,
            caller_reference: caller_reference.to_string(),
            paths,
            status: "Completed",
            create_time: SystemTime::now(),
        };
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(inv.clone());
        inv
    }

    pub fn get(&self, id: &str) -> Result<Invalidation, InvalidationError> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or(InvalidationError::NoSuchInvalidation)
    }

    /// Newest first, as ListInvalidations returns them.
    pub fn list(&self) -> Vec<Invalidation> {
        let mut v = self
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        v.reverse();
        v
    }
}
