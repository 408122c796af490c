//! The object store's public API on the real embedded engine in a temp dir: listing order and
//! paging, crash leftovers cleaned at open (and no more than that: issue 15), damaged blobs
//! refused before they stream, and the bucket policy language.

use futures_util::StreamExt;
use nuvem_s3::policy::{self, Decision};
use nuvem_s3::store::ObjectStore;
use nuvem_s3::store::blobs::BlobDir;
use nuvem_s3::store::garbage;
use nuvem_s3::store::listing::ListQuery;
use nuvem_s3::store::objects::PutOptions;

fn open(dir: &std::path::Path) -> ObjectStore {
    let engine =
        nuvem_store::FjallEngine::open(&dir.join("store"), nuvem_store::Durability::Process)
            .unwrap();
    ObjectStore::open(nuvem_store::Store::new(engine), &dir.join("s3"), false).unwrap()
}

async fn put(s: &ObjectStore, bucket: &str, key: &str, data: &[u8]) {
    let body = futures_util::stream::iter([Ok::<_, nuvem_s3::Error>(
        bytes::Bytes::copy_from_slice(data),
    )]);
    s.put_object(bucket, key, body, PutOptions::default(), |_| Ok(()))
        .await
        .unwrap();
}

const KEYS: &[&str] = &["a", "a/b", "a/b/c", "a//d", "b", "b/x", "c/", "é"];

/// (Async, so not `#[track_caller]`: a failure names the query instead.)
async fn check(
    s: &ObjectStore,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
    expected: &str,
) {
    let page = s
        .list_objects(
            "bkt",
            &ListQuery {
                prefix: prefix.into(),
                delimiter: delimiter.map(Into::into),
                start_after: after.map(Into::into),
                max_keys: max,
            },
        )
        .await
        .unwrap();
    let mut got: Vec<String> = page.objects.iter().map(|(k, _)| k.clone()).collect();
    got.extend(page.common_prefixes.iter().map(|p| format!("[{p}]")));
    let got = format!(
        "{}{}",
        got.join(" "),
        if page.truncated { " …" } else { "" }
    );
    assert_eq!(
        got, expected,
        "prefix {prefix:?} delimiter {delimiter:?} after {after:?} max {max}"
    );
}

#[tokio::test]
async fn listing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_bucket("bkt", "us-east-1").await.unwrap();
    for k in KEYS {
        put(&s, "bkt", k, k.as_bytes()).await;
    }
    check(&s, "", None, None, 1000, "a a//d a/b a/b/c b b/x c/ é").await;
    check(&s, "", Some("/"), None, 1000, "a b é [a/] [b/] [c/]").await;
    check(&s, "a/", Some("/"), None, 1000, "a/b [a//] [a/b/]").await;
    check(&s, "", None, None, 3, "a a//d a/b …").await;
    check(&s, "", None, Some("a/b"), 1000, "a/b/c b b/x c/ é").await;
    check(&s, "", Some("/"), Some("a/"), 2, "b [b/] …").await;
    check(&s, "zz", None, None, 1000, "").await;
    check(&s, "", None, None, 0, " …").await;
}

#[tokio::test]
async fn crash_leftovers_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        s.create_bucket("bkt", "us-east-1").await.unwrap();
        put(&s, "bkt", "kept", b"data").await;
    }
    // What a kill -9 can leave: a half-written temp file, and a renamed blob whose metadata
    // transaction never committed.
    std::fs::write(dir.path().join("s3/tmp/partial"), b"half").unwrap();
    std::fs::create_dir_all(dir.path().join("s3/blobs/ff")).unwrap();
    std::fs::write(dir.path().join("s3/blobs/ff/fforphan"), b"orphan").unwrap();
    let s = open(dir.path());
    assert!(!dir.path().join("s3/tmp/partial").exists());
    assert!(!dir.path().join("s3/blobs/ff/fforphan").exists());
    let meta = s.head_object("bkt", "kept").await.unwrap();
    let mut data = Vec::new();
    let mut stream = Box::pin(
        s.read_object("bkt", "kept", &meta, 0, meta.size)
            .await
            .unwrap(),
    );
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(data, b"data");
}

#[tokio::test]
async fn failed_verification_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_bucket("bkt", "us-east-1").await.unwrap();
    let body =
        futures_util::stream::iter([Ok::<_, nuvem_s3::Error>(bytes::Bytes::from_static(b"x"))]);
    let err = s
        .put_object("bkt", "k", body, PutOptions::default(), |_| {
            Err(nuvem_s3::Error::BadDigest("Content-MD5"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BadDigest");
    assert_eq!(
        s.head_object("bkt", "k").await.unwrap_err().code(),
        "NoSuchKey"
    );
    let blobs = walk(&dir.path().join("s3/blobs"));
    assert_eq!(blobs, 0, "no blob left behind");
}

/// Writes `n` blob files no metadata refers to, as a store that lost commits leaves them.
fn orphans(dir: &std::path::Path, n: usize) -> Vec<std::path::PathBuf> {
    let fan = dir.join("s3/blobs/ee");
    std::fs::create_dir_all(&fan).unwrap();
    (0..n)
        .map(|i| {
            let p = fan.join(format!("ee{i:030}"));
            std::fs::write(&p, b"lost").unwrap();
            p
        })
        .collect()
}

#[tokio::test]
async fn issue_15_many_unreferenced_blobs_are_kept_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        s.create_bucket("bkt", "us-east-1").await.unwrap();
        put(&s, "bkt", "kept", b"data").await;
    }
    let lost = orphans(dir.path(), garbage::DEFAULT_LIMIT + 1);
    let s = open(dir.path());
    assert!(lost.iter().all(|p| p.exists()), "start-up deleted blobs");
    let report = s.garbage_report();
    assert_eq!(
        (report.removed, report.kept, report.kept_bytes),
        (0, 17, 17 * 4)
    );
    drop(s);
    // What `nuvem repair` lists and, told to, deletes: exactly those.
    let store = nuvem_store::Store::new(
        nuvem_store::FjallEngine::open(&dir.path().join("store"), Default::default()).unwrap(),
    );
    let listed = garbage::unreferenced(Some(&store), &dir.path().join("s3")).unwrap();
    let paths: Vec<_> = listed.iter().map(|f| f.path.clone()).collect();
    assert_eq!(paths, lost);
    BlobDir::remove_files(&listed).unwrap();
    assert!(lost.iter().all(|p| !p.exists()));
    assert_eq!(walk(&dir.path().join("s3/blobs")), 1);
}

#[tokio::test]
async fn issue_15_few_unreferenced_blobs_are_removed_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        s.create_bucket("bkt", "us-east-1").await.unwrap();
    }
    let lost = orphans(dir.path(), garbage::DEFAULT_LIMIT);
    let s = open(dir.path());
    assert!(lost.iter().all(|p| !p.exists()));
    assert_eq!(s.garbage_report().removed, garbage::DEFAULT_LIMIT);
}

#[tokio::test]
async fn issue_15_blobs_without_any_bucket_are_kept_at_open() {
    // A blob is only ever written into an existing bucket: blobs and no bucket at all mean
    // the metadata was lost, however few they are.
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let lost = orphans(dir.path(), 2);
    let s = open(dir.path());
    assert!(lost.iter().all(|p| p.exists()), "start-up deleted blobs");
    assert_eq!(s.garbage_report().kept, 2);
}

#[tokio::test]
async fn issue_15_truncated_blob_is_refused_before_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_bucket("bkt", "us-east-1").await.unwrap();
    put(&s, "bkt", "k", &[7u8; 1000]).await;
    let meta = s.head_object("bkt", "k").await.unwrap();
    let blob = dir
        .path()
        .join("s3/blobs")
        .join(&meta.blobs[0].id[..2])
        .join(&meta.blobs[0].id);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .unwrap()
        .set_len(500)
        .unwrap();
    for (start, end) in [(0, 1000), (0, 10), (900, 1000)] {
        let err = match s.read_object("bkt", "k", &meta, start, end).await {
            Ok(_) => panic!("{start}..{end} of a truncated blob was opened"),
            Err(e) => e,
        };
        assert_eq!((err.code(), err.status().as_u16()), ("InternalError", 500));
    }
    std::fs::remove_file(&blob).unwrap();
    let err = match s.read_object("bkt", "k", &meta, 0, 1000).await {
        Ok(_) => panic!("a missing blob was opened"),
        Err(e) => e,
    };
    assert_eq!((err.code(), err.status().as_u16()), ("InternalError", 500));
}

fn walk(p: &std::path::Path) -> usize {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[track_caller]
fn check_policy(anonymous: bool, action: &str, resource: &str, expected: Decision) {
    let doc = r#"{"Statement":[
        {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"},
        {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":"arn:aws:s3:::site/private/*"}]}"#;
    assert_eq!(policy::evaluate(doc, anonymous, action, resource), expected);
}

#[test]
fn policy_public_read_and_deny() {
    check_policy(
        true,
        "s3:GetObject",
        "arn:aws:s3:::site/index.html",
        Decision::Allow,
    );
    check_policy(
        true,
        "s3:PutObject",
        "arn:aws:s3:::site/index.html",
        Decision::Default,
    );
    check_policy(
        true,
        "s3:ListBucket",
        "arn:aws:s3:::site",
        Decision::Default,
    );
    check_policy(
        true,
        "s3:GetObject",
        "arn:aws:s3:::site/private/a",
        Decision::Deny,
    );
    check_policy(
        false,
        "s3:DeleteObject",
        "arn:aws:s3:::site/private/a",
        Decision::Deny,
    );
    check_policy(
        false,
        "s3:GetObject",
        "arn:aws:s3:::other/x",
        Decision::Default,
    );
    assert!(policy::validate(&policy::public_read("site"), "site").is_ok());
    assert_eq!(
        policy::validate("nope", "site").unwrap_err().code(),
        "MalformedPolicy"
    );
    assert_eq!(
        policy::validate(&policy::public_read("other"), "site")
            .unwrap_err()
            .code(),
        "MalformedPolicy"
    );
}
