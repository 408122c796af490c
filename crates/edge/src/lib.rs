//! The edge: a CloudFront-like caching reverse proxy. A [`Distribution`] (from the manifest's
//! `[distribution]`, see [`spec`]) routes viewer paths to origins through ordered cache
//! behaviors; each edge [`Location`] has its own size-bounded cache in front of one shared
//! regional tier; the caching follows RFC 9111 the way CloudFront applies it (`freshness`),
//! with request coalescing, compression, range and conditional requests, and invalidations.
//!
//! Owns: the viewer pipeline, the caches, the [`Origin`] trait and the custom HTTP origin, the
//! [`BucketReader`] trait the binary implements over the object store.
//! Invalidations are kept in the store when the binary shares one ([`Edge::share_invalidations`]),
//! so that every node serving the distribution applies them (`cluster`).
//! Must not: depend on other services (origins in other services come in through
//! [`OriginProvider`]), read files, env or flags, or open listeners (the binary serves each
//! location's handler).

mod api;
mod api_config;
mod api_update;
mod body;
mod cache;
mod cluster;
mod compress;
mod config;
mod disk;
mod distribution;
mod edge;
mod entry;
mod error;
mod fills;
mod freshness;
mod guard;
mod invalidation;
mod origin;
mod regional;
mod respond;
mod sendfile;
pub mod spec;
mod tls;

pub use api::CloudFrontApi;
pub use api_update::Refusal;
pub use cluster::{HEARTBEAT, LIVE_MS};
pub use config::{UpdateError, WebAcls};
pub use distribution::CachePolicy;
pub use distribution::{Distribution, OriginRef, pattern_matches};
pub use edge::{Edge, Location, TierStats};
pub use error::Error;
pub use freshness::{Directives, Freshness, NoStore, RequestFacts, decide};
pub use guard::{DEFAULT_BODY_LIMIT, Guard};
pub use invalidation::{Invalidation, InvalidationError};
pub use origin::{
    BucketError, BucketOrigin, BucketReader, HttpOrigin, NoProvider, ObjectRequest, Origin,
    OriginProvider, Website,
};
pub use respond::{RangeResult, X_CACHE, parse_range};
pub use sendfile::SendfileStream;
