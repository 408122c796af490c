//! The live configuration of the distribution ([`Live`]): the manifest's distribution, or it
//! with an UpdateDistribution applied, with the WebACL guard, the comment and the ETag that go
//! with it; and how an update is persisted and picked up.
//!
//! An accepted update is one transaction that writes `cloudfront-config/<distribution id>` (a
//! [`Stored`] record: the [`Update`], the ETag of the manifest's config it was made on, a version
//! and the new ETag) and touches [`TOPIC`]; every node sharing the store reloads it on the change
//! notice (within `watch_interval_ms`), and a restarted node at start-up. If-Match is checked
//! against the stored ETag inside that transaction, so two updates racing on two nodes cannot
//! both win.
//!
//! The manifest and a stored update: the update applies only while the manifest's distribution
//! is the one it was made on (same rendered config and WebACL). Once `nuvem.toml`'s
//! `[distribution]` changes, the manifest wins: at start-up the stored update is dropped (and
//! logged), because the manifest is what the user edited last.
//!
//! Must not: parse request documents (`api_update`) or touch caches: a new TTL applies to what
//! is fetched from then on, a new cache key makes new keys (entries under the old ones are
//! never found again and age out), as on CloudFront.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::api_config::{self, MANIFEST_COMMENT, Meta};
use crate::api_update::{Refusal, Update};
use crate::distribution::Distribution;
use crate::guard::Guard;

/// The change-notice topic of the stored distribution config.
pub const TOPIC: &str = "edge/config";

/// Resolves a `WebACLId` (a WAFv2 WebACL ARN of scope CLOUDFRONT) into the guard that
/// applies it; the binary implements it over the wafv2 API, so the guard follows later
/// UpdateWebACL calls of that WebACL.
pub trait WebAcls: Send + Sync + 'static {
    fn guard(&self, web_acl_id: &str) -> Result<Arc<dyn Guard>, String>;
}

/// What serves now.
pub(crate) struct Live {
    pub dist: Arc<Distribution>,
    /// (status, ErrorCachingMinTTL) of the custom error responses.
    pub error_ttls: Arc<Vec<(u16, u64)>>,
    pub guard: Option<Arc<dyn Guard>>,
    pub web_acl_id: String,
    pub comment: String,
    /// 0 for the manifest's config; each update adds one.
    pub version: u64,
    pub modified: SystemTime,
    pub etag: String,
}

impl Live {
    pub fn new(
        dist: Arc<Distribution>,
        guard: Option<Arc<dyn Guard>>,
        web_acl_id: String,
        comment: String,
        version: u64,
        modified: SystemTime,
    ) -> Self {
        let error_ttls = Arc::new(
            dist.custom_errors
                .iter()
                .map(|c| (c.error_code, c.caching_min_ttl))
                .collect(),
        );
        let meta = Meta {
            web_acl_id: &web_acl_id,
            comment: &comment,
        };
        let etag = api_config::etag(&api_config::config_xml(&dist, meta, ""), version);
        Self {
            dist,
            error_ttls,
            guard,
            web_acl_id,
            comment,
            version,
            modified,
            etag,
        }
    }

    pub fn meta(&self) -> Meta<'_> {
        Meta {
            web_acl_id: &self.web_acl_id,
            comment: &self.comment,
        }
    }
}

/// The stored update of one distribution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Stored {
    /// The ETag of the manifest's config the update was made on.
    pub base: String,
    pub version: u64,
    pub modified_ms: u64,
    /// The ETag of the config with the update applied.
    pub etag: String,
    pub update: Update,
}

pub(crate) fn key(distribution_id: &str) -> Vec<u8> {
    format!("cloudfront-config/{distribution_id}").into_bytes()
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The manifest's distribution as it serves before any update.
pub(crate) fn manifest_live(
    manifest: &Arc<Distribution>,
    guard: Option<Arc<dyn Guard>>,
    web_acl_id: &str,
    started: SystemTime,
) -> Live {
    Live::new(
        manifest.clone(),
        guard,
        web_acl_id.to_string(),
        MANIFEST_COMMENT.to_string(),
        0,
        started,
    )
}

/// Why UpdateDistribution failed.
#[derive(Debug)]
pub enum UpdateError {
    /// The body, or what it asks for (CloudFront's code and a message).
    Refused(Refusal),
    /// If-Match is not the current ETag.
    PreconditionFailed,
    /// If-Match is missing.
    MissingIfMatch,
    /// The store could not be read or written.
    Unavailable(String),
}

impl From<Refusal> for UpdateError {
    fn from(r: Refusal) -> Self {
        UpdateError::Refused(r)
    }
}

impl From<nuvem_store::Error> for UpdateError {
    fn from(e: nuvem_store::Error) -> Self {
        UpdateError::Unavailable(e.to_string())
    }
}
