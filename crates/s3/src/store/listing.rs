//! Listing a bucket (and its versions: [`ObjectStore::list_versions`]) from the metadata index in UTF-8 binary key order: prefix, delimiter
//! (common prefixes), a start-after marker and a page size
//! (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). A common prefix
//! is skipped in one seek, so a page costs what it returns, not what the bucket holds.

use nuvem_store::{Direction, KeyRange, prefix_successor};

use super::{ObjectMeta, ObjectStore, decode, keys};
use crate::error::Error;

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Keys (and common prefixes) up to and including this one are skipped.
    pub start_after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<(String, ObjectMeta)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned (the marker of the next page).
    pub last: Option<String>,
}

impl ObjectStore {
    pub async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, Error> {
        let (b, q) = (bucket.to_owned(), q.clone());
        self.run(move |s| s.list_objects_sync(&b, &q)).await
    }

    fn list_objects_sync(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, Error> {
        self.bucket_sync(bucket)?;
        let base = keys::objects_of(bucket);
        let mut start = base.clone();
        start.extend_from_slice(q.prefix.as_bytes());
        let end = prefix_successor(&start);
        if let Some(after) = &q.start_after
            && after.as_str() >= q.prefix.as_str()
        {
            let mut s = base.clone();
            s.extend_from_slice(after.as_bytes());
            s.push(0); // the smallest key after `after`
            start = s;
        }
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let snap = self.store.snapshot();
        let mut page = ListPage::default();
        'outer: loop {
            let range = KeyRange {
                start: std::ops::Bound::Included(start.clone()),
                end: end
                    .clone()
                    .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            };
            for entry in snap.scan(range, Direction::Forward) {
                let (k, v) = entry?;
                let Some(key) = keys::object_key(&base, &k) else {
                    continue;
                };
                let rest = key.get(q.prefix.len()..).unwrap_or("");
                let common = delimiter
                    .and_then(|d| rest.find(d).map(|i| q.prefix.len() + i + d.len()))
                    .and_then(|cut| key.get(..cut));
                if page.objects.len() + page.common_prefixes.len() >= q.max_keys {
                    page.truncated = true;
                    break 'outer;
                }
                match common {
                    Some(cp) => {
                        let skip = q.start_after.as_deref().is_some_and(|a| a.starts_with(cp));
                        if !skip {
                            page.common_prefixes.push(cp.to_string());
                            page.last = Some(cp.to_string());
                        }
                        let mut next = base.clone();
                        next.extend_from_slice(cp.as_bytes());
                        match prefix_successor(&next) {
                            Some(n) => start = n,
                            None => break 'outer,
                        }
                        continue 'outer;
                    }
                    None => {
                        page.objects.push((key.to_string(), decode(&v)?));
                        page.last = Some(key.to_string());
                    }
                }
            }
            break;
        }
        Ok(page)
    }
}

/// A ListObjectVersions query (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html).
#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Versions of keys up to this one are skipped; with `version_id_marker`, only the
    /// versions of this key up to and including that one.
    pub key_marker: Option<String>,
    pub version_id_marker: Option<String>,
    pub max_keys: usize,
}

/// One version in a listing.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub key: String,
    pub meta: ObjectMeta,
    pub is_latest: bool,
}

#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    /// Versions and delete markers, by key then newest first.
    pub versions: Vec<VersionEntry>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

impl ObjectStore {
    pub async fn list_versions(
        &self,
        bucket: &str,
        q: &VersionQuery,
    ) -> Result<VersionPage, Error> {
        let (b, q) = (bucket.to_owned(), q.clone());
        self.run(move |s| s.list_versions_sync(&b, &q)).await
    }

    /// Merges the current objects (`s3/o/`) and the other versions (`s3/v/`) of the range in
    /// key order; for one key the current object is the newest, then `s3/v/` order.
    fn list_versions_sync(&self, bucket: &str, q: &VersionQuery) -> Result<VersionPage, Error> {
        self.bucket_sync(bucket)?;
        let obase = keys::objects_of(bucket);
        let vbase = keys::versions_of(bucket);
        let from = match &q.key_marker {
            Some(m) if m.as_str() > q.prefix.as_str() => m.clone(),
            _ => q.prefix.clone(),
        };
        let range = |base: &[u8]| {
            let mut prefix = base.to_vec();
            prefix.extend_from_slice(q.prefix.as_bytes());
            let mut start = base.to_vec();
            start.extend_from_slice(from.as_bytes());
            KeyRange {
                start: std::ops::Bound::Included(start),
                end: prefix_successor(&prefix)
                    .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            }
        };
        let snap = self.store.snapshot();
        let mut current = snap
            .scan(range(&obase), Direction::Forward)
            .filter_map(|e| match e {
                Ok((k, v)) => keys::object_key(&obase, &k).map(|key| Ok((key.to_string(), v))),
                Err(e) => Some(Err(e)),
            })
            .peekable();
        let mut others = snap
            .scan(range(&vbase), Direction::Forward)
            .filter_map(|e| match e {
                Ok((k, v)) => keys::version_key(&vbase, &k).map(|key| Ok((key.to_string(), v))),
                Err(e) => Some(Err(e)),
            })
            .peekable();
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut page = VersionPage::default();
        let mut last_key: Option<String> = None;
        // Skipping the marker key's versions up to the version id marker.
        let mut skipping_marker = q.version_id_marker.is_some();
        loop {
            let take_current = match (current.peek(), others.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(Ok((a, _))), Some(Ok((b, _)))) => a <= b,
                (Some(Err(_)), _) => true,
                (_, Some(Err(_))) => false,
            };
            let next = if take_current {
                current.next()
            } else {
                others.next()
            };
            let Some(next) = next else { break };
            let (key, value) = next?;
            let is_latest = last_key.as_deref() != Some(key.as_str());
            last_key = Some(key.clone());
            if let Some(marker) = &q.key_marker {
                if key.as_str() < marker.as_str() {
                    continue;
                }
                if key == *marker {
                    let Some(vm) = &q.version_id_marker else {
                        continue; // every version of the marker key was listed
                    };
                    if skipping_marker {
                        let meta: ObjectMeta = decode(&value)?;
                        skipping_marker = meta.version() != vm;
                        continue;
                    }
                }
            }
            let rest = key.get(q.prefix.len()..).unwrap_or("");
            let common = delimiter
                .and_then(|d| rest.find(d).map(|i| q.prefix.len() + i + d.len()))
                .and_then(|cut| key.get(..cut));
            if let Some(cp) = common {
                let seen = page.common_prefixes.last().is_some_and(|l| l == cp)
                    || q.key_marker.as_deref().is_some_and(|m| m.starts_with(cp));
                if seen {
                    continue;
                }
            }
            if page.versions.len() + page.common_prefixes.len() >= q.max_keys {
                page.truncated = true;
                break;
            }
            match common {
                Some(cp) => {
                    page.common_prefixes.push(cp.to_string());
                    page.next_key_marker = Some(cp.to_string());
                    page.next_version_id_marker = None;
                }
                None => {
                    let meta: ObjectMeta = decode(&value)?;
                    page.next_key_marker = Some(key.clone());
                    page.next_version_id_marker = Some(meta.version().to_string());
                    page.versions.push(VersionEntry {
                        key,
                        meta,
                        is_latest,
                    });
                }
            }
        }
        if !page.truncated {
            page.next_key_marker = None;
            page.next_version_id_marker = None;
        }
        Ok(page)
    }
}
