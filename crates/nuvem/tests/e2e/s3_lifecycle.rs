//! S3 lifecycle end to end with aws-sdk-s3
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lifecycle-mgmt.html): the
//! configuration API and its errors, then the background sweep with days shortened to one
//! second (`[server] lifecycle_day_secs = 1`): current versions expire (deleted, or hidden by a
//! delete marker in a versioned bucket), noncurrent versions beyond NewerNoncurrentVersions go,
//! a lone delete marker goes, incomplete uploads are aborted; filters by prefix, tag and size
//! decide which; `x-amz-expiration` names the rule and the midnight the object expires at.

use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, Tag,
    Transition, TransitionStorageClass,
};
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// A day of one second, swept ten times a second.
pub(crate) const FAST: &str = "[server]\nlifecycle_day_secs = 1\nlifecycle_sweep_ms = 100\n";

pub(crate) fn rule(
    id: &str,
    filter: LifecycleRuleFilter,
) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(filter)
}

fn prefix(p: &str) -> LifecycleRuleFilter {
    LifecycleRuleFilter::builder().prefix(p).build()
}

fn days(n: i32) -> LifecycleExpiration {
    LifecycleExpiration::builder().days(n).build()
}

pub(crate) async fn set_rules(c: &Client, bucket: &str, rules: Vec<LifecycleRule>) {
    c.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

pub(crate) async fn put(c: &Client, bucket: &str, key: &str, body: &str) -> Option<String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap()
        .version_id
}

pub(crate) async fn exists(c: &Client, bucket: &str, key: &str) -> bool {
    c.head_object().bucket(bucket).key(key).send().await.is_ok()
}

/// Waits (up to 15 s) until `done` holds.
pub(crate) async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(15), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (key, is a delete marker) of every version under `prefix`.
pub(crate) async fn versions(c: &Client, bucket: &str, prefix: &str) -> Vec<(String, bool)> {
    let out = c
        .list_object_versions()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut all: Vec<(String, bool)> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap().to_string(), false))
        .chain(
            out.delete_markers()
                .iter()
                .map(|m| (m.key().unwrap().to_string(), true)),
        )
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn s3_lifecycle_configuration_api() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("lcy").send().await.unwrap();
    let e = c
        .get_bucket_lifecycle_configuration()
        .bucket("lcy")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchLifecycleConfiguration"));

    let rules = vec![
        rule("logs", prefix("logs/"))
            .expiration(days(30))
            .transitions(
                Transition::builder()
                    .days(10)
                    .storage_class(TransitionStorageClass::Glacier)
                    .build(),
            )
            .build()
            .unwrap(),
        rule(
            "tagged",
            LifecycleRuleFilter::builder()
                .tag(Tag::builder().key("tmp").value("yes").build().unwrap())
                .build(),
        )
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(7)
                .newer_noncurrent_versions(2)
                .build(),
        )
        .build()
        .unwrap(),
        rule("uploads", prefix(""))
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(3)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    set_rules(&c, "lcy", rules.clone()).await;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("lcy")
        .send()
        .await
        .unwrap();
    assert_eq!(got.rules(), rules.as_slice());

    // The errors S3 gives: (rules, code, message).
    let bad: Vec<(Vec<LifecycleRule>, &str, &str)> = vec![
        (
            vec![rule("a", prefix("")).expiration(days(0)).build().unwrap()],
            "InvalidArgument",
            "'Days' for Expiration action must be a positive integer",
        ),
        (
            vec![
                rule("a", prefix("x/")).expiration(days(1)).build().unwrap(),
                rule("a", prefix("y/")).expiration(days(1)).build().unwrap(),
            ],
            "InvalidArgument",
            "Rule ID must be unique. Found same ID for more than one rule",
        ),
        (
            vec![rule("a", prefix("")).build().unwrap()],
            "InvalidRequest",
            "At least one action needs to be specified in a rule",
        ),
        (
            vec![
                rule("a", prefix(""))
                    .expiration(
                        LifecycleExpiration::builder()
                            .date(aws_sdk_s3::primitives::DateTime::from_secs(1_900_000_000))
                            .build(),
                    )
                    .build()
                    .unwrap(),
            ],
            "InvalidArgument",
            "'Date' must be at midnight GMT",
        ),
    ];
    for (rules, code, message) in bad {
        let e = c
            .put_bucket_lifecycle_configuration()
            .bucket("lcy")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.message()), (Some(code), Some(message)));
    }
    let too_many: Vec<LifecycleRule> = (0..1001)
        .map(|i| {
            rule(&format!("r{i}"), prefix(&format!("p{i}/")))
                .expiration(days(1))
                .build()
                .unwrap()
        })
        .collect();
    let e = c
        .put_bucket_lifecycle_configuration()
        .bucket("lcy")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(too_many))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("MalformedXML"));
    // A refused configuration left the old one in place.
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("lcy")
        .send()
        .await
        .unwrap();
    assert_eq!(got.rules().len(), 3);

    // x-amz-expiration: creation + 30 days, rounded up to the next midnight UTC.
    let put = c
        .put_object()
        .bucket("lcy")
        .key("logs/a")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let header = put
        .expiration()
        .expect("x-amz-expiration on PUT")
        .to_string();
    let head = c
        .head_object()
        .bucket("lcy")
        .key("logs/a")
        .send()
        .await
        .unwrap();
    assert_eq!(head.expiration(), Some(header.as_str()));
    let modified = head.last_modified().unwrap().secs();
    let expected = (modified + 30 * 86_400) / 86_400 * 86_400 + 86_400;
    let date = aws_sdk_s3::primitives::DateTime::from_secs(expected)
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::HttpDate)
        .unwrap();
    assert_eq!(
        header,
        format!("expiry-date=\"{date}\", rule-id=\"logs\""),
        "{header}"
    );
    let got = c
        .get_object()
        .bucket("lcy")
        .key("logs/a")
        .send()
        .await
        .unwrap();
    assert_eq!(got.expiration(), Some(header.as_str()));
    // Outside every rule's filter: no header.
    let other = c
        .put_object()
        .bucket("lcy")
        .key("other")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.expiration(), None);

    c.delete_bucket_lifecycle()
        .bucket("lcy")
        .send()
        .await
        .unwrap();
    let e = c
        .get_bucket_lifecycle_configuration()
        .bucket("lcy")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchLifecycleConfiguration"));
    let head = c
        .head_object()
        .bucket("lcy")
        .key("logs/a")
        .send()
        .await
        .unwrap();
    assert_eq!(head.expiration(), None);
}

#[tokio::test]
async fn s3_lifecycle_sweep_expires_what_the_rules_say() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(FAST.into()),
            ..Options::default()
        },
    );
    let c = nuvem.s3();

    // An unversioned bucket: prefix, tag and size filters.
    c.create_bucket().bucket("plain").send().await.unwrap();
    set_rules(
        &c,
        "plain",
        vec![
            rule("tmp", prefix("tmp/"))
                .expiration(days(1))
                .build()
                .unwrap(),
            rule(
                "tagged",
                LifecycleRuleFilter::builder()
                    .tag(Tag::builder().key("expire").value("yes").build().unwrap())
                    .build(),
            )
            .expiration(days(1))
            .build()
            .unwrap(),
            rule(
                "big",
                LifecycleRuleFilter::builder()
                    .object_size_greater_than(10)
                    .build(),
            )
            .expiration(days(1))
            .build()
            .unwrap(),
            rule("uploads", prefix("mp/"))
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    put(&c, "plain", "tmp/a", "a").await;
    put(&c, "plain", "keep/b", "b").await;
    put(&c, "plain", "keep/big", "more than ten bytes").await;
    c.put_object()
        .bucket("plain")
        .key("keep/tagged")
        .tagging("expire=yes")
        .body(ByteStream::from_static(b"t"))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("plain")
        .key("keep/other-tag")
        .tagging("expire=no")
        .body(ByteStream::from_static(b"t"))
        .send()
        .await
        .unwrap();
    let upload = c
        .create_multipart_upload()
        .bucket("plain")
        .key("mp/big")
        .send()
        .await
        .unwrap();
    let kept_upload = c
        .create_multipart_upload()
        .bucket("plain")
        .key("other/big")
        .send()
        .await
        .unwrap();
    for key in ["tmp/a", "keep/big", "keep/tagged"] {
        eventually(key, || async { !exists(&c, "plain", key).await }).await;
    }
    eventually("the upload under mp/ is aborted", || async {
        c.list_parts()
            .bucket("plain")
            .key("mp/big")
            .upload_id(upload.upload_id().unwrap())
            .send()
            .await
            .is_err_and(|e| e.code() == Some("NoSuchUpload"))
    })
    .await;
    for key in ["keep/b", "keep/other-tag"] {
        assert!(exists(&c, "plain", key).await, "{key} matches no rule");
    }
    let uploads = c
        .list_multipart_uploads()
        .bucket("plain")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = uploads
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id())
        .collect();
    assert_eq!(ids, [kept_upload.upload_id().unwrap()]);

    // A versioned bucket: a current version gets a delete marker, noncurrent versions beyond
    // the newest one go, a lone delete marker goes.
    crate::versioned_bucket(&c, "vers").await;
    put(&c, "vers", "cur/x", "x").await;
    for body in ["1", "2", "3", "4"] {
        put(&c, "vers", "nc/y", body).await;
    }
    let dm = put(&c, "vers", "dm/z", "z").await.unwrap();
    c.delete_object()
        .bucket("vers")
        .key("dm/z")
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("vers")
        .key("dm/z")
        .version_id(&dm)
        .send()
        .await
        .unwrap();
    assert_eq!(versions(&c, "vers", "dm/").await, [("dm/z".into(), true)]);
    set_rules(
        &c,
        "vers",
        vec![
            rule("cur", prefix("cur/"))
                .expiration(days(1))
                .build()
                .unwrap(),
            rule("nc", prefix("nc/"))
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .newer_noncurrent_versions(1)
                        .build(),
                )
                .build()
                .unwrap(),
            rule("dm", prefix("dm/"))
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    eventually("cur/x is hidden by a delete marker", || async {
        versions(&c, "vers", "cur/").await == [("cur/x".into(), false), ("cur/x".into(), true)]
    })
    .await;
    eventually(
        "nc/y keeps its current and one noncurrent version",
        || async {
            versions(&c, "vers", "nc/").await == [("nc/y".into(), false), ("nc/y".into(), false)]
        },
    )
    .await;
    eventually("the lone delete marker of dm/z is removed", || async {
        versions(&c, "vers", "dm/").await.is_empty()
    })
    .await;
    let got = c
        .get_object()
        .bucket("vers")
        .key("nc/y")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        &body[..],
        b"4",
        "the current version is never a noncurrent expiry"
    );
    // The marker made for cur/x is not expired again, nor removed (the old version remains).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        versions(&c, "vers", "cur/").await,
        [("cur/x".into(), false), ("cur/x".into(), true)]
    );
}

/// An expiring Days rule on a versioned bucket also removes expired object delete markers
/// once they are as old as its days (S3's "ExpiredObjectDeleteMarker cleanup"), and never a
/// marker that still has versions behind it; a GET/HEAD naming a noncurrent version carries
/// the `x-amz-expiration` of the NoncurrentVersionExpiration that will remove it.
#[tokio::test]
async fn s3_lifecycle_days_rule_removes_expired_markers_and_dates_noncurrent_versions() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(FAST.into()),
            ..Options::default()
        },
    );
    let c = nuvem.s3();
    crate::versioned_bucket(&c, "exp").await;
    // d/lone: only a delete marker left; d/kept: a marker in front of a version.
    let v = put(&c, "exp", "d/lone", "a").await.unwrap();
    c.delete_object()
        .bucket("exp")
        .key("d/lone")
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("exp")
        .key("d/lone")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    put(&c, "exp", "d/kept", "b").await;
    c.delete_object()
        .bucket("exp")
        .key("d/kept")
        .send()
        .await
        .unwrap();
    let v1 = put(&c, "exp", "n/x", "1").await.unwrap();
    let v2 = put(&c, "exp", "n/x", "2").await.unwrap();
    set_rules(
        &c,
        "exp",
        vec![
            rule("days", prefix("d/"))
                .expiration(days(3))
                .build()
                .unwrap(),
            rule("nc", prefix("n/"))
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(100_000)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    // Younger than the rule's days: the lone marker stays for now.
    assert_eq!(
        versions(&c, "exp", "d/lone").await,
        [("d/lone".into(), true)]
    );
    eventually(
        "the lone delete marker ages out under the Days rule",
        || async { versions(&c, "exp", "d/lone").await.is_empty() },
    )
    .await;
    assert_eq!(
        versions(&c, "exp", "d/kept").await,
        [("d/kept".into(), false), ("d/kept".into(), true)],
        "a marker with a version behind it is not an expired object delete marker"
    );

    // The noncurrent version's expiry: NoncurrentDays after it became noncurrent (when v2
    // was made), at the next midnight (here: the next whole second).
    let head = c
        .head_object()
        .bucket("exp")
        .key("n/x")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    let expiration = head.expiration().unwrap_or_default().to_owned();
    assert!(expiration.contains("rule-id=\"nc\""), "{expiration}");
    let newer = c
        .head_object()
        .bucket("exp")
        .key("n/x")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    let made = newer.last_modified().unwrap().secs();
    let date = expiration
        .split('"')
        .nth(1)
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap();
    let at = date
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        i64::try_from(at).unwrap(),
        made + 100_000 + 1,
        "{expiration}"
    );
    assert_eq!(newer.expiration(), None, "the current version has no rule");
    let got = c
        .get_object()
        .bucket("exp")
        .key("n/x")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.expiration(), Some(expiration.as_str()));

    // The object lock token of PutObjectLockConfiguration is accepted and not needed: S3
    // documents no check for it, and enables object lock on an existing versioned bucket.
    c.put_object_lock_configuration()
        .bucket("exp")
        .token("any-token")
        .object_lock_configuration(
            aws_sdk_s3::types::ObjectLockConfiguration::builder()
                .object_lock_enabled(aws_sdk_s3::types::ObjectLockEnabled::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}
