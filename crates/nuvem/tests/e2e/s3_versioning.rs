//! S3 versioning end to end with aws-sdk-s3
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html): version ids,
//! delete markers and their 404/405 answers, reads, copies and deletes by `versionId`,
//! ListObjectVersions with its paging, the null version of never-versioned and suspended
//! buckets, multipart uploads getting a version, and old versions' data kept on disk until
//! the version is deleted for good.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, MfaDelete,
    ObjectIdentifier, VersioningConfiguration,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const B: &str = "ver";

/// The number of blob files under `dir`.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() { files_under(&p) } else { 1 }
        })
        .sum()
}

async fn put(c: &Client, key: &str, body: &str) -> Option<String> {
    c.put_object()
        .bucket(B)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap()
        .version_id
}

async fn get(c: &Client, key: &str, version: Option<&str>) -> (String, Option<String>) {
    let out = c
        .get_object()
        .bucket(B)
        .key(key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
        .unwrap();
    let v = out.version_id.clone();
    let body = out.body.collect().await.unwrap().into_bytes();
    (String::from_utf8(body.to_vec()).unwrap(), v)
}

async fn set_versioning(c: &Client, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(B)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

/// (key, version id, is latest, is a delete marker) of every version, in listing order.
async fn versions(c: &Client, prefix: &str) -> Vec<(String, String, bool, bool)> {
    let out = c
        .list_object_versions()
        .bucket(B)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut all: Vec<(String, String, bool, bool)> = Vec::new();
    for v in out.versions() {
        all.push((
            v.key().unwrap().to_string(),
            v.version_id().unwrap().to_string(),
            v.is_latest().unwrap(),
            false,
        ));
    }
    for m in out.delete_markers() {
        all.push((
            m.key().unwrap().to_string(),
            m.version_id().unwrap().to_string(),
            m.is_latest().unwrap(),
            true,
        ));
    }
    // Versions and markers are separate lists in the XML: merge them by key, latest first
    // (a stable sort keeps the server's newest-first order among the rest).
    all.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
    all
}

fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map_or(0, |r| r.status().as_u16())
}

fn header<E>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    name: &str,
) -> Option<String> {
    e.raw_response()
        .and_then(|r| r.headers().get(name))
        .map(str::to_string)
}

#[tokio::test]
async fn s3_versioning_lifecycle() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    let blobs = nuvem.dir().join("data").join("s3").join("blobs");
    c.create_bucket().bucket(B).send().await.unwrap();
    let v = c.get_bucket_versioning().bucket(B).send().await.unwrap();
    assert_eq!(v.status, None, "never configured: no Status");

    // Before versioning: the null version, no version id reported.
    assert_eq!(put(&c, "k", "v0").await, None);
    assert_eq!(get(&c, "k", None).await, ("v0".into(), None));

    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let v = c.get_bucket_versioning().bucket(B).send().await.unwrap();
    assert_eq!(v.status, Some(BucketVersioningStatus::Enabled));

    let v1 = put(&c, "k", "v1").await.expect("a version id");
    let v2 = put(&c, "k", "v2").await.expect("a version id");
    assert_ne!(v1, v2);
    assert!(
        v1.len() >= 16
            && v1
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "opaque and URL-safe: {v1}"
    );
    assert_eq!(get(&c, "k", None).await, ("v2".into(), Some(v2.clone())));
    assert_eq!(
        get(&c, "k", Some(&v1)).await,
        ("v1".into(), Some(v1.clone()))
    );
    // The object from before versioning is now reported as the null version.
    assert_eq!(
        get(&c, "k", Some("null")).await,
        ("v0".into(), Some("null".into()))
    );
    // Every version keeps its data.
    assert_eq!(files_under(&blobs), 3);
    // Newest first, only the newest is latest.
    assert_eq!(
        versions(&c, "k").await,
        vec![
            ("k".to_string(), v2.clone(), true, false),
            ("k".to_string(), v1.clone(), false, false),
            ("k".to_string(), "null".to_string(), false, false),
        ]
    );
    let listed = versions(&c, "k").await;
    assert_eq!(listed.len(), 3);
    assert_eq!(listed.iter().filter(|v| v.2).count(), 1, "{listed:?}");
    let ids: Vec<&str> = listed.iter().map(|v| v.1.as_str()).collect();
    for id in [v1.as_str(), v2.as_str(), "null"] {
        assert!(ids.contains(&id), "{listed:?}");
    }

    // DELETE without a version id: a delete marker.
    let d = c.delete_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(d.delete_marker, Some(true));
    let marker = d.version_id.expect("the marker's version id");
    let e = c.get_object().bucket(B).key("k").send().await.unwrap_err();
    assert_eq!(status(&e), 404);
    assert_eq!(e.code(), Some("NoSuchKey"));
    assert_eq!(header(&e, "x-amz-delete-marker").as_deref(), Some("true"));
    assert_eq!(
        header(&e, "x-amz-version-id").as_deref(),
        Some(marker.as_str())
    );
    let e = c
        .head_object()
        .bucket(B)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 405);
    assert_eq!(header(&e, "x-amz-delete-marker").as_deref(), Some("true"));
    let e = c
        .get_object()
        .bucket(B)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 405);
    assert_eq!(e.code(), Some("MethodNotAllowed"));
    // A version that never existed, and one that is malformed.
    let e = c
        .get_object()
        .bucket(B)
        .key("k")
        .version_id("AAAAAAAAAAAAAAAAAAAAAA")
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (404, Some("NoSuchVersion")));
    let e = c
        .get_object()
        .bucket(B)
        .key("k")
        .version_id("not a version")
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (400, Some("InvalidArgument")));
    // Listings show only current, non-deleted objects.
    let l = c.list_objects_v2().bucket(B).send().await.unwrap();
    assert!(l.contents().is_empty(), "{l:?}");
    let listed = versions(&c, "k").await;
    assert_eq!(listed.len(), 4);
    assert!(
        listed.contains(&("k".into(), marker.clone(), true, true)),
        "{listed:?}"
    );

    // CopyObject from an old version.
    let copied = c
        .copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(format!("{B}/k?versionId={v1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.copy_source_version_id.as_deref(), Some(v1.as_str()));
    assert!(copied.version_id.is_some());
    assert_eq!(get(&c, "copy", None).await.0, "v1");

    // Deleting the marker brings v2 back; deleting v2 for good makes v1 current.
    let d = c
        .delete_object()
        .bucket(B)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (d.delete_marker, d.version_id),
        (Some(true), Some(marker.clone()))
    );
    assert_eq!(get(&c, "k", None).await.0, "v2");
    let before = files_under(&blobs);
    c.delete_object()
        .bucket(B)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "k", None).await, ("v1".into(), Some(v1.clone())));
    assert_eq!(files_under(&blobs), before - 1, "v2's data is removed");

    // Suspended: a PUT writes the null version, replacing the old null version (v0).
    set_versioning(&c, BucketVersioningStatus::Suspended).await;
    assert_eq!(put(&c, "k", "v3").await.as_deref(), Some("null"));
    assert_eq!(get(&c, "k", Some("null")).await.0, "v3");
    let listed = versions(&c, "k").await;
    assert_eq!(
        listed
            .iter()
            .map(|v| v.1.as_str())
            .collect::<Vec<_>>()
            .len(),
        2,
        "{listed:?}"
    );
    assert!(listed.contains(&("k".into(), "null".into(), true, false)));
    assert!(listed.contains(&("k".into(), v1.clone(), false, false)));
    // A DELETE makes a null delete marker, removing the null version.
    let d = c.delete_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(
        (d.delete_marker, d.version_id.as_deref()),
        (Some(true), Some("null"))
    );
    let listed = versions(&c, "k").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&("k".into(), "null".into(), true, true)));
    assert_eq!(get(&c, "k", Some(&v1)).await.0, "v1");

    // MFA delete is refused.
    let e = c
        .put_bucket_versioning()
        .bucket(B)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .mfa_delete(MfaDelete::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (403, Some("AccessDenied")));

    // A bucket with versions is not empty; DeleteObjects by version empties it.
    let e = c.delete_bucket().bucket(B).send().await.unwrap_err();
    assert_eq!(e.code(), Some("BucketNotEmpty"));
    let all = c.list_object_versions().bucket(B).send().await.unwrap();
    let mut ids = Vec::new();
    for v in all.versions() {
        ids.push((
            v.key().unwrap().to_string(),
            v.version_id().unwrap().to_string(),
        ));
    }
    for m in all.delete_markers() {
        ids.push((
            m.key().unwrap().to_string(),
            m.version_id().unwrap().to_string(),
        ));
    }
    let objects = ids
        .iter()
        .map(|(k, v)| {
            ObjectIdentifier::builder()
                .key(k)
                .version_id(v)
                .build()
                .unwrap()
        })
        .collect();
    let out = c
        .delete_objects()
        .bucket(B)
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{out:?}");
    assert_eq!(out.deleted().len(), ids.len());
    assert_eq!(files_under(&blobs), 0, "no version left, no data left");
    c.delete_bucket().bucket(B).send().await.unwrap();
}

#[tokio::test]
async fn s3_versioning_list_paging_and_multipart() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket(B).send().await.unwrap();
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    for key in ["a", "d/1", "d/2", "b"] {
        for n in 0..3 {
            put(&c, key, &format!("{key}{n}")).await;
        }
    }
    c.delete_object().bucket(B).key("b").send().await.unwrap();
    // The whole listing in one page.
    let full = c.list_object_versions().bucket(B).send().await.unwrap();
    assert_eq!(full.versions().len(), 12);
    assert_eq!(full.delete_markers().len(), 1);
    assert_eq!(full.is_truncated(), Some(false));
    // Paged one entry at a time: the same entries, each once.
    let mut seen = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    for _ in 0..40 {
        let page = c
            .list_object_versions()
            .bucket(B)
            .max_keys(1)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .unwrap();
        let n = page.versions().len() + page.delete_markers().len();
        assert_eq!(n, 1, "{page:?}");
        for v in page.versions() {
            seen.push((
                v.key().unwrap().to_string(),
                v.version_id().unwrap().to_string(),
            ));
        }
        for m in page.delete_markers() {
            seen.push((
                m.key().unwrap().to_string(),
                m.version_id().unwrap().to_string(),
            ));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        km = page.next_key_marker;
        vm = page.next_version_id_marker;
    }
    assert_eq!(seen.len(), 13, "{seen:?}");
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 13);
    let keys: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "key order");
    // Delimiter: the d/ versions roll up into one common prefix.
    let rolled = c
        .list_object_versions()
        .bucket(B)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = rolled
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(prefixes, ["d/"]);
    assert_eq!(rolled.versions().len(), 6);
    let under = c
        .list_object_versions()
        .bucket(B)
        .prefix("d/")
        .send()
        .await
        .unwrap();
    assert_eq!(under.versions().len(), 6);
    assert_eq!(
        under
            .versions()
            .iter()
            .filter(|v| v.is_latest() == Some(true))
            .count(),
        2
    );

    // A multipart upload completed in a versioned bucket is a new version.
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("a")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let p = c
        .upload_part()
        .bucket(B)
        .key("a")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"multipart"))
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket(B)
        .key("a")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p.e_tag.unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vid = done.version_id.expect("a version id");
    assert_eq!(get(&c, "a", None).await, ("multipart".into(), Some(vid)));
    assert_eq!(get(&c, "a", None).await.0, "multipart");
    let a = versions(&c, "a").await;
    assert_eq!(a.len(), 4, "{a:?}");
}

/// Total bytes of the regular files under `dir` (0 when it does not exist).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                bytes_under(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// `kill -9` while a new version of an encrypted, versioned key is streaming in: after the
/// restart every acknowledged version is there and reads back, the half-sent one is not, and
/// no data leaked.
#[tokio::test]
async fn s3_versioning_kill_9_during_an_overwrite_loses_no_version() {
    use std::io::Write as _;
    use std::time::Duration;

    use aws_sdk_s3::presigning::PresigningConfig;
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };

    let mut nuvem = Nuvem::start(BIN);
    let s3_dir = nuvem.dir().join("data/s3");
    let c = nuvem.s3();
    c.create_bucket().bucket(B).send().await.unwrap();
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .unwrap(),
        )
        .build();
    c.put_bucket_encryption()
        .bucket(B)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let v1 = put(&c, "k", "first version").await.unwrap();
    let v2 = put(&c, "k", "second version").await.unwrap();
    let committed = files_under(&s3_dir.join("blobs"));
    assert_eq!(committed, 2);

    // A presigned PUT of a third version announcing 256 MiB, of which 40 MiB arrive.
    let conf = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let url: http::Uri = c
        .put_object()
        .bucket(B)
        .key("k")
        .presigned(conf)
        .await
        .unwrap()
        .uri()
        .parse()
        .unwrap();
    let addr = url.authority().unwrap().to_string();
    let target = url.path_and_query().unwrap().to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "PUT {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        256u64 << 20
    )
    .unwrap();
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..40 {
        conn.write_all(&chunk).unwrap();
    }
    conn.flush().unwrap();
    let tmp = s3_dir.join("tmp");
    let mut waited = 0;
    while bytes_under(&tmp) < 8 << 20 {
        assert!(waited < 3000, "the upload never reached the temp dir");
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    nuvem.kill();
    drop(conn);

    nuvem.restart();
    let c = nuvem.s3();
    assert_eq!(
        get(&c, "k", None).await,
        ("second version".into(), Some(v2.clone()))
    );
    assert_eq!(get(&c, "k", Some(&v1)).await.0, "first version");
    let listed = versions(&c, "k").await;
    assert_eq!(
        listed,
        vec![
            ("k".to_string(), v2, true, false),
            ("k".to_string(), v1, false, false),
        ]
    );
    assert_eq!(bytes_under(&tmp), 0, "temp space leaked");
    assert_eq!(files_under(&s3_dir.join("blobs")), committed, "blob leaked");
}
