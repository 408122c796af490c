//! Buckets: create, look up, list, delete, and their configuration documents (policy,
//! CORS, website). Bucket names follow
//! https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html.

use nuvem_store::{Direction, KeyRange};

use super::{BucketMeta, ObjectStore, decode, encode, keys, now_millis};
use crate::acl::{Acl, Ownership};
use crate::error::Error;

/// Checks the general-purpose bucket naming rules; the error says which rule failed.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::InvalidBucketName(format!("{name}: {why}")));
    if !(3..=63).contains(&name.len()) {
        return bad("must be between 3 and 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return bad("may contain only lowercase letters, numbers, dots and hyphens");
    }
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !name.bytes().next().is_some_and(edge_ok) || !name.bytes().last().is_some_and(edge_ok) {
        return bad("must begin and end with a letter or number");
    }
    if name.contains("..") {
        return bad("must not contain two adjacent periods");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("must not be formatted as an IP address");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") {
        return bad("must not start with a reserved prefix");
    }
    if name.ends_with("-s3alias") || name.ends_with("--ol-s3") || name.ends_with(".mrap") {
        return bad("must not end with a reserved suffix");
    }
    Ok(())
}

impl ObjectStore {
    /// Creates a bucket. Creating one you already own is `BucketAlreadyOwnedByYou`
    /// (nuvem has one account, so every existing bucket is yours).
    /// New buckets have ownership `BucketOwnerEnforced` (ACLs disabled), S3's default since
    /// April 2023.
    pub async fn create_bucket(&self, name: &str, region: &str) -> Result<BucketMeta, Error> {
        self.create_bucket_with(
            name,
            region,
            Some(Ownership::BucketOwnerEnforced),
            None,
            false,
        )
        .await
    }

    /// Creates a bucket with the ownership and ACL its request chose (already checked
    /// against each other); with `object_lock`, with object lock enabled (and so versioning
    /// Enabled), in the same transaction.
    pub async fn create_bucket_with(
        &self,
        name: &str,
        region: &str,
        ownership: Option<Ownership>,
        acl: Option<Acl>,
        object_lock: bool,
    ) -> Result<BucketMeta, Error> {
        validate_name(name)?;
        let key = keys::bucket(name);
        let meta = BucketMeta {
            name: name.to_string(),
            created_ms: now_millis(),
            region: region.to_string(),
            ownership,
            acl,
            versioning: object_lock.then_some(super::versions::Versioning::Enabled),
            object_lock: object_lock.then(super::lock::BucketLock::default),
            ..Default::default()
        };
        self.run(move |s| {
            let value = encode(&meta);
            s.store.transact(|tx| {
                if tx.get(&key)?.is_some() {
                    return Err(Error::BucketAlreadyOwnedByYou(meta.name.clone()));
                }
                tx.put(&key, &value);
                Ok(())
            })?;
            Ok(meta)
        })
        .await
    }

    pub async fn bucket(&self, name: &str) -> Result<BucketMeta, Error> {
        let name = name.to_owned();
        self.run(move |s| s.bucket_sync(&name)).await
    }

    /// [`ObjectStore::bucket`] for work already inside [`nuvem_store::Store::run`].
    pub fn bucket_sync(&self, name: &str) -> Result<BucketMeta, Error> {
        match self.store.get(&keys::bucket(name))? {
            Some(v) => decode(&v),
            None => Err(Error::NoSuchBucket(name.to_string())),
        }
    }

    /// Every bucket, in name order.
    pub async fn list_buckets(&self) -> Result<Vec<BucketMeta>, Error> {
        self.run(|s| {
            let snap = s.store.snapshot();
            snap.scan(KeyRange::prefix(keys::BUCKETS), Direction::Forward)
                .map(|e| decode(&e?.1))
                .collect()
        })
        .await
    }

    /// Deletes an empty bucket (in-progress multipart uploads are aborted with it).
    pub async fn delete_bucket(&self, name: &str) -> Result<(), Error> {
        let name = name.to_owned();
        let orphans = self
            .run(move |s| {
                let key = keys::bucket(&name);
                let objects = keys::objects_of(&name);
                let versions = keys::versions_of(&name);
                let uploads = keys::uploads_of(&name);
                s.store.transact(|tx| {
                    if tx.get(&key)?.is_none() {
                        return Err(Error::NoSuchBucket(name.clone()));
                    }
                    // Noncurrent versions and delete markers count: S3 deletes only a bucket
                    // without any version.
                    for prefix in [&objects, &versions] {
                        if tx
                            .scan(KeyRange::prefix(prefix), Direction::Forward)
                            .next()
                            .is_some()
                        {
                            return Err(Error::BucketNotEmpty(name.clone()));
                        }
                    }
                    let mut orphans = Vec::new();
                    let upload_keys: Vec<Vec<u8>> = tx
                        .scan(KeyRange::prefix(&uploads), Direction::Forward)
                        .map(|e| e.map(|(k, _)| k))
                        .collect::<Result<_, _>>()?;
                    for uk in upload_keys {
                        if let Some(id) = uk.strip_prefix(uploads.as_slice()) {
                            let id = String::from_utf8_lossy(id).into_owned();
                            orphans.extend(Self::drop_parts(tx, &id)?);
                        }
                        tx.delete(&uk);
                    }
                    // The records of completed uploads (a day's worth at most) go with it.
                    let completed: Vec<Vec<u8>> = tx
                        .scan(
                            KeyRange::prefix(&keys::completed_of(&name)),
                            Direction::Forward,
                        )
                        .map(|e| e.map(|(k, _)| k))
                        .collect::<Result<_, _>>()?;
                    for ck in completed {
                        tx.delete(&ck);
                    }
                    tx.delete(&key);
                    Ok(orphans)
                })
            })
            .await?;
        for id in orphans {
            self.blobs.remove(&id).await;
        }
        Ok(())
    }

    /// Changes a bucket's configuration in one transaction.
    pub async fn update_bucket(
        &self,
        name: &str,
        change: impl Fn(&mut BucketMeta) -> Result<(), Error> + Send + 'static,
    ) -> Result<(), Error> {
        let name = name.to_owned();
        self.run(move |s| {
            let key = keys::bucket(&name);
            s.store.transact(|tx| {
                let mut meta: BucketMeta = match tx.get(&key)? {
                    Some(v) => decode(&v)?,
                    None => return Err(Error::NoSuchBucket(name.clone())),
                };
                change(&mut meta)?;
                tx.put(&key, &encode(&meta));
                Ok(())
            })
        })
        .await
    }
}
