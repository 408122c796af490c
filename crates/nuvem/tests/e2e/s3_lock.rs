//! S3 object lock end to end with aws-sdk-s3
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html): a bucket created
//! with object lock has versioning Enabled for good; retention (GOVERNANCE, COMPLIANCE) and
//! legal holds refuse the permanent deletion of a version, by DeleteObject and DeleteObjects,
//! while a plain delete adds a delete marker; GOVERNANCE yields to
//! `x-amz-bypass-governance-retention`, COMPLIANCE never shortens; default retention applies
//! to new versions; lifecycle never removes a locked version.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, Delete, LifecycleRuleFilter,
    NoncurrentVersionExpiration, ObjectIdentifier, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use nuvem_testkit::{Nuvem, Options};

use crate::s3_lifecycle::{FAST, put, rule, set_rules, versions};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const B: &str = "locked";

fn in_secs(secs: i64) -> DateTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    DateTime::from_secs(i64::try_from(now).unwrap() + secs)
}

async fn delete_version(c: &Client, key: &str, v: &str, bypass: bool) -> Result<(), String> {
    let mut req = c.delete_object().bucket(B).key(key).version_id(v);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{} {}", e.code().unwrap_or("?"), e.message().unwrap_or("")))
}

async fn retain(
    c: &Client,
    key: &str,
    v: &str,
    mode: ObjectLockRetentionMode,
    secs: i64,
    bypass: bool,
) -> Result<(), String> {
    let mut req = c
        .put_object_retention()
        .bucket(B)
        .key(key)
        .version_id(v)
        .retention(
            ObjectLockRetention::builder()
                .mode(mode)
                .retain_until_date(in_secs(secs))
                .build(),
        );
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| e.code().unwrap_or("?").to_string())
}

#[tokio::test]
async fn s3_object_lock() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(FAST.into()),
            ..Options::default()
        },
    );
    let c = nuvem.s3();
    c.create_bucket()
        .bucket(B)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let v = c.get_bucket_versioning().bucket(B).send().await.unwrap();
    assert_eq!(v.status, Some(BucketVersioningStatus::Enabled));
    let conf = c
        .get_object_lock_configuration()
        .bucket(B)
        .send()
        .await
        .unwrap();
    assert_eq!(
        conf.object_lock_configuration()
            .unwrap()
            .object_lock_enabled(),
        Some(&ObjectLockEnabled::Enabled)
    );
    let e = c
        .put_bucket_versioning()
        .bucket(B)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidBucketState"));
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 409);

    // PUT with lock headers (the SDK sends a checksum, which S3 requires with them).
    let until = in_secs(3600);
    let g = c
        .put_object()
        .bucket(B)
        .key("gov")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"g"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let head = c.head_object().bucket(B).key("gov").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(
        head.object_lock_retain_until_date().map(DateTime::secs),
        Some(until.secs())
    );
    let got = c
        .get_object_retention()
        .bucket(B)
        .key("gov")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.retention().unwrap().mode(),
        Some(&ObjectLockRetentionMode::Governance)
    );

    // GOVERNANCE: refused without bypass, shortened and removed only with it.
    assert_eq!(
        delete_version(&c, "gov", &g, false).await,
        Err("AccessDenied Access Denied because object protected by object lock.".into())
    );
    assert_eq!(
        retain(
            &c,
            "gov",
            &g,
            ObjectLockRetentionMode::Governance,
            60,
            false
        )
        .await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        retain(
            &c,
            "gov",
            &g,
            ObjectLockRetentionMode::Governance,
            7200,
            false
        )
        .await,
        Ok(()),
        "extending is always allowed"
    );
    // A plain DELETE adds a delete marker; the version stays.
    let marker = c.delete_object().bucket(B).key("gov").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    assert_eq!(delete_version(&c, "gov", &g, true).await, Ok(()));

    // COMPLIANCE: never shortened, not even with bypass.
    let k = put(&c, B, "comp", "c").await.unwrap();
    assert_eq!(
        retain(
            &c,
            "comp",
            &k,
            ObjectLockRetentionMode::Compliance,
            3600,
            false
        )
        .await,
        Ok(())
    );
    assert_eq!(
        retain(
            &c,
            "comp",
            &k,
            ObjectLockRetentionMode::Compliance,
            60,
            true
        )
        .await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        retain(
            &c,
            "comp",
            &k,
            ObjectLockRetentionMode::Governance,
            7200,
            true
        )
        .await,
        Err("AccessDenied".into()),
        "COMPLIANCE is never weakened to GOVERNANCE"
    );
    assert!(delete_version(&c, "comp", &k, true).await.is_err());

    // Legal hold: refused whatever the bypass, until it is lifted.
    let h = put(&c, B, "held", "h").await.unwrap();
    let e = c
        .get_object_legal_hold()
        .bucket(B)
        .key("held")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchObjectLockConfiguration"));
    let set_hold = |on: bool| {
        c.put_object_legal_hold()
            .bucket(B)
            .key("held")
            .version_id(&h)
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(if on {
                        ObjectLockLegalHoldStatus::On
                    } else {
                        ObjectLockLegalHoldStatus::Off
                    })
                    .build(),
            )
            .send()
    };
    set_hold(true).await.unwrap();
    let head = c.head_object().bucket(B).key("held").send().await.unwrap();
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert!(delete_version(&c, "held", &h, true).await.is_err());
    // DeleteObjects reports the refusal per key.
    let out = c
        .delete_objects()
        .bucket(B)
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("held")
                        .version_id(&h)
                        .build()
                        .unwrap(),
                )
                .objects(ObjectIdentifier::builder().key("plain").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let errors: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    assert_eq!(errors, [("held", "AccessDenied")]);
    assert_eq!(out.deleted().len(), 1);
    set_hold(false).await.unwrap();
    assert_eq!(delete_version(&c, "held", &h, false).await, Ok(()));

    // Default retention applies to new versions.
    c.put_object_lock_configuration()
        .bucket(B)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = put(&c, B, "nc/defaulted", "d1").await.unwrap();
    let r = c
        .get_object_retention()
        .bucket(B)
        .key("nc/defaulted")
        .send()
        .await
        .unwrap();
    let until = r.retention().unwrap().retain_until_date().unwrap().secs();
    let day_ahead = in_secs(86_400).secs();
    assert!((day_ahead - until).abs() < 60, "{until} vs {day_ahead}");
    assert!(delete_version(&c, "nc/defaulted", &d, false).await.is_err());

    // Lifecycle never removes a locked version: the noncurrent one stays.
    put(&c, B, "nc/defaulted", "d2").await.unwrap();
    set_rules(
        &c,
        B,
        vec![
            rule("nc", LifecycleRuleFilter::builder().prefix("nc/").build())
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        versions(&c, B, "nc/").await,
        [
            ("nc/defaulted".into(), false),
            ("nc/defaulted".into(), false)
        ]
    );

    // A multipart upload's lock is the object's once completed.
    let up = c
        .create_multipart_upload()
        .bucket(B)
        .key("multi")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let part = c
        .upload_part()
        .bucket(B)
        .key("multi")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"only part"))
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket(B)
        .key("multi")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = c.head_object().bucket(B).key("multi").send().await.unwrap();
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert!(
        delete_version(&c, "multi", done.version_id().unwrap(), true)
            .await
            .is_err()
    );

    // Lock headers on a bucket without object lock are refused.
    c.create_bucket().bucket("unlocked").send().await.unwrap();
    let e = c
        .put_object()
        .bucket("unlocked")
        .key("k")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequest"));
    let e = c
        .get_object_lock_configuration()
        .bucket("unlocked")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ObjectLockConfigurationNotFoundError"));
    // Object lock on an existing bucket needs versioning Enabled first.
    let e = c
        .put_object_lock_configuration()
        .bucket("unlocked")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidBucketState"));
}
