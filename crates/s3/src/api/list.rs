//! Listings: ListObjectsV2, ListObjects (v1, marker), ListObjectVersions (versions, delete
//! markers, key and version-id markers), with `encoding-type=url`.

use base64::Engine as _;
use s3s::S3Request;
use s3s::dto::*;

use super::{Handler, quoted, timestamp};
use crate::error::Error;
use crate::store::listing::{ListPage, ListQuery, VersionQuery};

type Res<T> = Result<T, Error>;

const MAX_KEYS: usize = 1000;

/// nuvem's single account, as S3 reports owners.
/// The owner of every bucket and object: the account's canonical user
/// ([`crate::acl::canonical_id`]).
pub(crate) fn owner(id: &str) -> Owner {
    Owner {
        display_name: Some("nuvem".into()),
        id: Some(id.to_string()),
    }
}

const URL_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

pub(crate) struct Encoder(bool);

impl Encoder {
    pub(crate) fn new(e: Option<&EncodingType>) -> Self {
        Self(e.is_some_and(|e| e.as_str() == EncodingType::URL))
    }
    pub(crate) fn apply(&self, s: String) -> String {
        if self.0 {
            percent_encoding::utf8_percent_encode(&s, URL_ENCODE).to_string()
        } else {
            s
        }
    }
}

fn max_keys(m: Option<i32>) -> Res<usize> {
    match m {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(Error::InvalidArgument("max-keys cannot be negative".into())),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS)),
    }
}

/// An empty `delimiter` is no delimiter: not applied, and not echoed (AWS omits it).
fn delimiter(d: Option<String>) -> Option<String> {
    d.filter(|d| !d.is_empty())
}

fn contents(page: &ListPage, enc: &Encoder, fetch_owner: Option<&str>) -> Vec<Object> {
    page.objects
        .iter()
        .map(|(k, m)| Object {
            key: Some(enc.apply(k.clone())),
            e_tag: Some(quoted(&m.etag)),
            last_modified: Some(timestamp(m.last_modified_ms)),
            size: i64::try_from(m.size).ok(),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            owner: fetch_owner.map(owner),
            checksum_algorithm: m
                .checksum
                .as_ref()
                .map(|c| vec![ChecksumAlgorithm::from(c.algorithm.name().to_string())]),
            ..Default::default()
        })
        .collect()
}

fn prefixes(page: &ListPage, enc: &Encoder) -> Option<Vec<CommonPrefix>> {
    Some(
        page.common_prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc.apply(p.clone())),
            })
            .collect::<Vec<_>>(),
    )
    .filter(|v| !v.is_empty())
}

impl Handler {
    pub(crate) async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> Res<ListObjectsV2Output> {
        let input = req.input;
        let start_after = match &input.continuation_token {
            Some(t) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        Error::InvalidArgument(
                            "The continuation token provided is incorrect".into(),
                        )
                    })?,
            ),
            None => input.start_after.clone(),
        };
        let q = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: delimiter(input.delimiter.clone()),
            start_after,
            max_keys: max_keys(input.max_keys)?,
        };
        let page = self.store.list_objects(&input.bucket, &q).await?;
        let enc = Encoder::new(input.encoding_type.as_ref());
        // `max-keys=0` asks for nothing and is answered complete, as AWS does.
        let truncated = page.truncated && q.max_keys > 0;
        let next = truncated
            .then(|| {
                page.last
                    .as_ref()
                    .map(|l| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(l))
            })
            .flatten();
        Ok(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc.apply(q.prefix.clone())),
            max_keys: input.max_keys.or(Some(1000)),
            key_count: i32::try_from(page.objects.len() + page.common_prefixes.len()).ok(),
            continuation_token: input.continuation_token,
            is_truncated: Some(truncated),
            next_continuation_token: next,
            contents: Some(contents(
                &page,
                &enc,
                input
                    .fetch_owner
                    .unwrap_or(false)
                    .then_some(self.owner_id.as_str()),
            )),
            common_prefixes: prefixes(&page, &enc),
            delimiter: q.delimiter.map(|d| enc.apply(d)),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(|s| enc.apply(s)),
            ..Default::default()
        })
    }

    pub(crate) async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> Res<ListObjectsOutput> {
        let input = req.input;
        let q = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: delimiter(input.delimiter.clone()),
            start_after: input.marker.clone().filter(|m| !m.is_empty()),
            max_keys: max_keys(input.max_keys)?,
        };
        let page = self.store.list_objects(&input.bucket, &q).await?;
        let enc = Encoder::new(input.encoding_type.as_ref());
        let truncated = page.truncated && q.max_keys > 0;
        // NextMarker is only returned when a delimiter was given
        // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjects.html).
        let next_marker = (truncated && q.delimiter.is_some())
            .then(|| page.last.clone().map(|l| enc.apply(l)))
            .flatten();
        // With `encoding-type=url`, v1 encodes Delimiter, Marker, NextMarker, Key and
        // CommonPrefixes but not Prefix (the members SDKs decode for ListObjects).
        Ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(q.prefix.clone()),
            marker: Some(enc.apply(input.marker.unwrap_or_default())),
            max_keys: input.max_keys.or(Some(1000)),
            is_truncated: Some(truncated),
            contents: Some(contents(&page, &enc, Some(&self.owner_id))),
            common_prefixes: prefixes(&page, &enc),
            delimiter: q.delimiter.map(|d| enc.apply(d)),
            next_marker,
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }

    pub(crate) async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> Res<ListObjectVersionsOutput> {
        let input = req.input;
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        let version_id_marker = input.version_id_marker.clone().filter(|m| !m.is_empty());
        if version_id_marker.is_some() && key_marker.is_none() {
            return Err(Error::InvalidArgument(
                "A version-id marker cannot be specified without a key marker.".into(),
            ));
        }
        let q = VersionQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: delimiter(input.delimiter.clone()),
            key_marker,
            version_id_marker,
            max_keys: max_keys(input.max_keys)?,
        };
        let page = self.store.list_versions(&input.bucket, &q).await?;
        let enc = Encoder::new(input.encoding_type.as_ref());
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for v in &page.versions {
            let m = &v.meta;
            if m.delete_marker {
                markers.push(DeleteMarkerEntry {
                    is_latest: Some(v.is_latest),
                    key: Some(enc.apply(v.key.clone())),
                    last_modified: Some(timestamp(m.last_modified_ms)),
                    owner: Some(owner(&self.owner_id)),
                    version_id: Some(m.version().to_string()),
                });
                continue;
            }
            versions.push(ObjectVersion {
                key: Some(enc.apply(v.key.clone())),
                e_tag: Some(quoted(&m.etag)),
                is_latest: Some(v.is_latest),
                last_modified: Some(timestamp(m.last_modified_ms)),
                owner: Some(owner(&self.owner_id)),
                size: i64::try_from(m.size).ok(),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some(m.version().to_string()),
                checksum_algorithm: m
                    .checksum
                    .as_ref()
                    .map(|c| vec![ChecksumAlgorithm::from(c.algorithm.name().to_string())]),
                ..Default::default()
            });
        }
        let common_prefixes = Some(
            page.common_prefixes
                .iter()
                .map(|p| CommonPrefix {
                    prefix: Some(enc.apply(p.clone())),
                })
                .collect::<Vec<_>>(),
        )
        .filter(|v| !v.is_empty());
        Ok(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(enc.apply(q.prefix.clone())),
            key_marker: Some(enc.apply(input.key_marker.unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: input.max_keys.or(Some(1000)),
            is_truncated: Some(page.truncated && q.max_keys > 0),
            next_key_marker: page.next_key_marker.map(|k| enc.apply(k)),
            next_version_id_marker: page.next_version_id_marker,
            versions: Some(versions).filter(|v| !v.is_empty()),
            delete_markers: Some(markers).filter(|v| !v.is_empty()),
            common_prefixes,
            delimiter: q.delimiter.map(|d| enc.apply(d)),
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }
}
