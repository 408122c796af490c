//! Origins: where the edge fetches what it does not have. One trait for every kind, so the
//! edge runs the same in process (bucket and API origins, wired by the binary) and as a
//! separate process in front of remote HTTP origins.
//!
//! Must not: cache or decide cacheability; an origin only answers requests.

mod bucket;
mod http_origin;

use http::{Request, Response};
use nuvem_aws::{Body, BoxFuture};

pub use bucket::{BucketError, BucketOrigin, BucketReader, ObjectRequest, Website};
pub use http_origin::HttpOrigin;

use crate::Error;

/// Request in, streamed response out. The request's URI is the path and query only (what
/// the viewer asked, after the default root object); headers are what the behavior's origin
/// request policy forwards.
pub trait Origin: Send + Sync + 'static {
    fn fetch(&self, req: Request<Body>) -> BoxFuture<'_, Result<Response<Body>, Error>>;
}

/// The origins a distribution can name that live in other services. The binary implements
/// it over the s3 service and the gateway; the edge never imports them.
pub trait OriginProvider: Send + Sync + 'static {
    /// A bucket of the object store, read as the distribution (origin access control).
    fn bucket_reader(&self) -> Option<std::sync::Arc<dyn BucketReader>>;
    /// An HTTP API of the gateway by name, called in process.
    fn api(&self, name: &str) -> Option<std::sync::Arc<dyn Origin>>;
    /// A function's URL by function name, called in process on behalf of the distribution
    /// `distribution_arn`.
    fn function_url(
        &self,
        _name: &str,
        _distribution_arn: &str,
    ) -> Option<std::sync::Arc<dyn Origin>> {
        None
    }
}

/// No in-process origins (the edge as its own process, or before the services are wired).
pub struct NoProvider;

impl OriginProvider for NoProvider {
    fn bucket_reader(&self) -> Option<std::sync::Arc<dyn BucketReader>> {
        None
    }
    fn api(&self, _name: &str) -> Option<std::sync::Arc<dyn Origin>> {
        None
    }
}

/// Stands in for an origin that is declared but not available in this build: every request
/// gets a 502 that says why, instead of a failed start.
pub struct Unavailable(pub String);

impl Origin for Unavailable {
    fn fetch(&self, _req: Request<Body>) -> BoxFuture<'_, Result<Response<Body>, Error>> {
        Box::pin(async move { Err(Error::NoOrigin(self.0.clone())) })
    }
}
