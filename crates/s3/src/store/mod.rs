//! The object store without any protocol: buckets, objects, multipart uploads and listings
//! over the `Store` (metadata, an ordered index keyed by bucket then key) and a blob tier
//! (object data as immutable blobs: local files, or chunks in a shared store; see
//! [`blobs`]).
//!
//! Versions ([`versions`]) and encryption at rest ([`sealing`]: data sealed in chunks under
//! per-object keys; the master key comes from the binary, never from the blob directory) are
//! part of every write and read path here.
//!
//! Must not: use s3s or any wire type, so the protocol layer can change without touching
//! storage. Every metadata change is one store transaction; blobs are written before the
//! transaction that makes them visible (which adopts them) and removed after the one that
//! makes them unreachable (garbage collection, in [`garbage`], catches what a crash leaves).
//! Async callers never call the store directly: every store call is inside [`Store::run`]
//! (the `*_sync` methods are for work already inside it), so a remote engine never blocks an
//! async worker.

pub mod blobs;
pub mod buckets;
pub mod checksum;
pub mod garbage;
pub mod keys;
pub mod lifecycle;
pub mod listing;
pub mod lock;
pub mod multipart;
pub mod multipart_checksum;
pub mod objects;
pub mod sealing;
pub mod versions;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nuvem_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::events::ObjectEvents;
use blobs::{BlobDir, Blobs, StoreBlobs};
use checksum::Checksum;

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A bucket and its configuration documents (stored as the client sent them, re-validated
/// on write).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BucketMeta {
    pub name: String,
    pub created_ms: i64,
    pub region: String,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub cors: Option<Vec<CorsRule>>,
    #[serde(default)]
    pub website: Option<Website>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// `None` until versioning is first configured; a bucket never returns to `None`.
    #[serde(default)]
    pub versioning: Option<versions::Versioning>,
    /// The bucket's default encryption (PutBucketEncryption).
    #[serde(default)]
    pub encryption: Option<sealing::DefaultEncryption>,
    /// The bucket's ACL; `None`: private (the owner's full control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::Acl>,
    /// Object ownership; `None`: no ownership controls (ACLs enabled, as for buckets stored
    /// before nuvem knew the setting). New buckets get `BucketOwnerEnforced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<crate::acl::Ownership>,
    /// The bucket's public access block; `None`: none configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<crate::acl::PublicAccessBlock>,
    /// The lifecycle rules (PutBucketLifecycleConfiguration), validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Vec<lifecycle::Rule>>,
    /// Present when object lock is enabled (then versioning is Enabled for good).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<lock::BucketLock>,
}

/// One CORS rule (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CorsRule {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// Static website hosting: index and error documents.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Website {
    pub index_document: Option<String>,
    pub error_document: Option<String>,
}

/// The HTTP headers S3 stores with an object and returns on GET/HEAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Headers {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    /// `x-amz-meta-*` without the prefix.
    pub user: BTreeMap<String, String>,
}

/// One stretch of an object's data: a whole blob.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobRef {
    pub id: String,
    /// The length of the data (plaintext); an encrypted blob is longer on disk
    /// ([`sealing::sealed_len`]).
    pub len: u64,
    /// Set when the blob is encrypted: the hex salt its key is derived with (see [`sealing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

impl BlobRef {
    /// The blob's length in its tier.
    pub fn stored_len(&self) -> u64 {
        if self.sealed.is_some() {
            sealing::sealed_len(self.len)
        } else {
            self.len
        }
    }
}

/// An object as stored in the metadata index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub size: u64,
    /// Without quotes: hex MD5, or `hex-N` for multipart.
    pub etag: String,
    pub last_modified_ms: i64,
    /// The data, in order. One blob for single-part objects; one per part for multipart.
    pub blobs: Vec<BlobRef>,
    /// Set for multipart objects: the number of parts (`partNumber` reads, `PartsCount`).
    #[serde(default)]
    pub parts: Option<u32>,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default)]
    pub checksum: Option<Checksum>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The version id: `None` for objects written before the bucket's versioning was first
    /// configured (their id is `null`, not reported in headers), `Some("null")` for null
    /// versions written since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Orders the versions of one key: larger is newer (see [`versions`]).
    #[serde(default)]
    pub seq: u64,
    /// A delete marker: no data, only a version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// How the data is encrypted at rest, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<sealing::Encryption>,
    /// The object's ACL; `None`: private (the owner's full control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::Acl>,
    /// Retention and legal hold (buckets with object lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<lock::ObjectLock>,
}

impl ObjectMeta {
    /// The version id as S3 reports it (`null` for the null version).
    pub fn version(&self) -> &str {
        self.version_id.as_deref().unwrap_or(versions::NULL)
    }

    /// Whether this is the null version.
    pub fn is_null_version(&self) -> bool {
        self.version() == versions::NULL
    }
}

/// Where object data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobTier {
    /// Files under the object store's data dir (one node; the embedded engine's tier).
    Local { fsync: bool },
    /// Chunks in the store itself (every node sharing a remote store). `grace`: how long an
    /// upload may stay idle, and readers of a removed object keep reading, before a sweep
    /// deletes the data.
    Store { grace: Duration },
}

/// The object store: metadata in the `Store`, data in a blob tier.
#[derive(Clone)]
pub struct ObjectStore {
    store: Store,
    blobs: Arc<dyn Blobs>,
    /// The store tier, when that is where data lives: swept by [`ObjectStore::sweep`].
    shared: Option<StoreBlobs>,
    events: Option<Arc<dyn ObjectEvents>>,
    garbage: garbage::Report,
    /// The key that wraps SSE-S3 data keys; `None`: SSE-S3 is refused.
    master: Option<Arc<sealing::MasterKey>>,
    /// The key service of SSE-KMS (shared by clones, set once wired); `None`: SSE-KMS is
    /// refused.
    kms: Arc<std::sync::RwLock<Option<Arc<dyn crate::kms::KeyService>>>>,
    /// The length of a lifecycle day (shared by clones).
    lifecycle: lifecycle::Clock,
}

impl ObjectStore {
    /// Opens the store on `data_dir` (local blobs live under it) and cleans up after a crash,
    /// removing at most [`garbage::DEFAULT_LIMIT`] unreferenced blobs.
    pub fn open(store: Store, data_dir: &Path, fsync: bool) -> Result<Self, Error> {
        Self::open_with_limit(store, data_dir, fsync, garbage::DEFAULT_LIMIT)
    }

    /// Opens the store, removing unreferenced blobs only when there are at most `gc_limit`
    /// of them (see [`garbage`]).
    pub fn open_with_limit(
        store: Store,
        data_dir: &Path,
        fsync: bool,
        gc_limit: usize,
    ) -> Result<Self, Error> {
        Self::open_tier(store, data_dir, BlobTier::Local { fsync }, gc_limit)
    }

    /// Opens the store with its data in `tier` and collects garbage: for local blobs what a
    /// crash left (at most `gc_limit`), for the store tier one sweep (see [`garbage`]). Start-up
    /// code: its store calls may block.
    pub fn open_tier(
        store: Store,
        data_dir: &Path,
        tier: BlobTier,
        gc_limit: usize,
    ) -> Result<Self, Error> {
        let (blobs, shared, garbage): (Arc<dyn Blobs>, _, _) = match tier {
            BlobTier::Local { fsync } => {
                let blobs = BlobDir::open(data_dir, fsync)?;
                let garbage = garbage::collect(&store, data_dir, gc_limit)?;
                (Arc::new(blobs), None, garbage)
            }
            BlobTier::Store { grace } => {
                let shared = StoreBlobs::new(store.clone(), grace);
                let garbage = garbage::sweep(&shared)?;
                (Arc::new(shared.clone()), Some(shared), garbage)
            }
        };
        let this = Self {
            store,
            blobs,
            shared,
            events: None,
            garbage,
            master: None,
            kms: Arc::default(),
            lifecycle: lifecycle::Clock::default(),
        };
        if this.shared.is_some()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(this.clone().sweep_forever());
        }
        Ok(this)
    }

    /// The tier's name ("local", "store").
    pub fn blob_tier(&self) -> &'static str {
        self.blobs.name()
    }

    /// What opening found and did about unreferenced blobs.
    pub fn garbage_report(&self) -> &garbage::Report {
        &self.garbage
    }

    /// Installs the key that wraps the data keys of SSE-S3 objects (kept outside the blob
    /// directory by the binary). Without it, SSE-S3 requests are refused. The store records
    /// the id of the key SSE-S3 objects are under (`s3/k/master`, written with the first
    /// one, see [`record_master`]); another key is refused here, so a node given the wrong
    /// key file does not start rather than fail every read. Start-up code: may block.
    pub fn set_master_key(&mut self, key: Arc<sealing::MasterKey>) -> Result<(), Error> {
        if let Some(stored) = self.store.get(keys::MASTER_KEY)?
            && stored != key.id().as_bytes()
        {
            return Err(Error::MasterKeyMismatch {
                stored: String::from_utf8_lossy(&stored).into_owned(),
                given: key.id().to_string(),
            });
        }
        self.master = Some(key);
        Ok(())
    }

    /// Installs the key service SSE-KMS objects get their data keys from (the binary wires
    /// KMS). Without it, SSE-KMS requests are refused.
    pub fn set_key_service(&self, kms: Arc<dyn crate::kms::KeyService>) {
        if let Ok(mut slot) = self.kms.write() {
            *slot = Some(kms);
        }
    }

    /// The key service, or SSE-KMS's refusal when none is wired.
    pub(crate) fn key_service(&self) -> Result<Arc<dyn crate::kms::KeyService>, Error> {
        self.kms.read().ok().and_then(|s| s.clone()).ok_or_else(|| {
            Error::NotImplemented(
                "SSE-KMS (aws:kms) needs a key service, and none is wired.".into(),
            )
        })
    }

    /// Installs the hook told about created and removed objects.
    pub fn set_events(&mut self, events: Arc<dyn ObjectEvents>) {
        self.events = Some(events);
    }

    /// Runs `work` with this object store where an async caller may (see [`Store::run`]):
    /// in place on the embedded engine, on the blocking pool for a remote one.
    pub(crate) async fn run<T, F>(&self, work: F) -> T
    where
        F: FnOnce(&ObjectStore) -> T + Send + 'static,
        T: Send + 'static,
    {
        if !self.store.is_remote() {
            // What `Store::run` would do, without cloning the handles.
            return work(self);
        }
        let this = self.clone();
        self.store.run(move || work(&this)).await
    }
}

/// Inside the transaction that stores an SSE-S3 object or upload: records the id of the master
/// key it is under when none is recorded, and refuses a key other than the recorded one (nodes
/// of one store with different key files).
pub(crate) fn record_master(
    tx: &mut dyn nuvem_store::Tx,
    encryption: Option<&sealing::Encryption>,
) -> Result<(), Error> {
    let Some(sealing::Encryption::S3 { key_id, .. }) = encryption else {
        return Ok(());
    };
    match tx.get(keys::MASTER_KEY)? {
        Some(v) if v == key_id.as_bytes() => Ok(()),
        Some(v) => Err(Error::MasterKeyMismatch {
            stored: String::from_utf8_lossy(&v).into_owned(),
            given: key_id.clone(),
        }),
        None => {
            tx.put(keys::MASTER_KEY, key_id.as_bytes());
            Ok(())
        }
    }
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}
