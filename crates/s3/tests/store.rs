//! The object store's public API on the real embedded engine in a temp dir: listing order and
//! paging, crash leftovers cleaned at open, and the bucket policy language.

use futures_util::StreamExt;
use nuvem_s3::policy::{self, Decision};
use nuvem_s3::store::ObjectStore;
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

#[track_caller]
fn check(
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
        .unwrap();
    let mut got: Vec<String> = page.objects.iter().map(|(k, _)| k.clone()).collect();
    got.extend(page.common_prefixes.iter().map(|p| format!("[{p}]")));
    let got = format!(
        "{}{}",
        got.join(" "),
        if page.truncated { " …" } else { "" }
    );
    assert_eq!(got, expected);
}

#[tokio::test]
async fn listing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_bucket("bkt", "us-east-1").unwrap();
    for k in KEYS {
        put(&s, "bkt", k, k.as_bytes()).await;
    }
    check(&s, "", None, None, 1000, "a a//d a/b a/b/c b b/x c/ é");
    check(&s, "", Some("/"), None, 1000, "a b é [a/] [b/] [c/]");
    check(&s, "a/", Some("/"), None, 1000, "a/b [a//] [a/b/]");
    check(&s, "", None, None, 3, "a a//d a/b …");
    check(&s, "", None, Some("a/b"), 1000, "a/b/c b b/x c/ é");
    check(&s, "", Some("/"), Some("a/"), 2, "b [b/] …");
    check(&s, "zz", None, None, 1000, "");
    check(&s, "", None, None, 0, " …");
}

#[tokio::test]
async fn crash_leftovers_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        s.create_bucket("bkt", "us-east-1").unwrap();
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
    let meta = s.head_object("bkt", "kept").unwrap();
    let mut data = Vec::new();
    let mut stream = Box::pin(s.read_object(&meta, 0, meta.size).await.unwrap());
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(data, b"data");
}

#[tokio::test]
async fn failed_verification_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_bucket("bkt", "us-east-1").unwrap();
    let body =
        futures_util::stream::iter([Ok::<_, nuvem_s3::Error>(bytes::Bytes::from_static(b"x"))]);
    let err = s
        .put_object("bkt", "k", body, PutOptions::default(), |_| {
            Err(nuvem_s3::Error::BadDigest("Content-MD5"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BadDigest");
    assert_eq!(s.head_object("bkt", "k").unwrap_err().code(), "NoSuchKey");
    let blobs = walk(&dir.path().join("s3/blobs"));
    assert_eq!(blobs, 0, "no blob left behind");
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
