//! Object lock on the wire: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold, the `x-amz-object-lock-*` headers of PutObject, CopyObject and
//! CreateMultipartUpload, and the lock headers of GET/HEAD
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html).

use s3s::S3Request;
use s3s::dto::*;

use super::Handler;
use super::lifecycle::timestamp_ms;
use super::timestamp;
use crate::error::Error;
use crate::store::ObjectMeta;
use crate::store::lock::{BucketLock, Change, DefaultRetention, Mode, ObjectLock, Retention};
use crate::store::now_millis;
use crate::store::versions::Versioning;

type Res<T> = Result<T, Error>;

/// The operations S3 marks `httpChecksumRequired` (object lock and lifecycle configurations,
/// retention, legal hold) refuse a body without `Content-MD5` or a checksum, header or trailer.
pub(crate) fn require_integrity(headers: &http::HeaderMap) -> Res<()> {
    let present = headers.contains_key("content-md5")
        || headers.contains_key("x-amz-trailer")
        || headers
            .keys()
            .any(|k| k.as_str().starts_with("x-amz-checksum-"));
    if present {
        Ok(())
    } else {
        Err(Error::InvalidRequest(
            "Missing required header for this request: Content-Md5.".into(),
        ))
    }
}

fn future(until: &Timestamp) -> Res<i64> {
    let ms = timestamp_ms(until).ok_or(Error::MalformedXml)?;
    if ms <= now_millis() {
        return Err(Error::InvalidArgument(
            "The retain until date must be in the future!".into(),
        ));
    }
    Ok(ms)
}

fn hold(status: &str) -> Res<bool> {
    match status {
        ObjectLockLegalHoldStatus::ON => Ok(true),
        ObjectLockLegalHoldStatus::OFF => Ok(false),
        _ => Err(Error::MalformedXml),
    }
}

/// The lock a write asks for with `x-amz-object-lock-mode`, `-retain-until-date` and
/// `-legal-hold`. S3 wants the first two together, a date in the future, and the body's
/// integrity declared (`Content-MD5` or a checksum) when any is present: `integrity` says
/// whether it is (`None`: no body, as for CopyObject and CreateMultipartUpload).
pub(crate) fn request(
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    legal_hold: Option<&ObjectLockLegalHoldStatus>,
    integrity: Option<bool>,
) -> Res<Option<ObjectLock>> {
    if mode.is_none() && until.is_none() && legal_hold.is_none() {
        return Ok(None);
    }
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(m), Some(u)) => Some(Retention {
            mode: Mode::parse(m.as_str())
                .ok_or_else(|| Error::InvalidArgument("Unknown wormMode directive.".into()))?,
            until_ms: future(u)?,
        }),
        _ => {
            return Err(Error::InvalidArgument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
                    .into(),
            ));
        }
    };
    let legal_hold = legal_hold
        .map(|h| {
            hold(h.as_str()).map_err(|_| {
                Error::InvalidArgument("Legal Hold must be either of 'ON' or 'OFF'".into())
            })
        })
        .transpose()?;
    if integrity == Some(false) {
        return Err(Error::InvalidRequest(
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters".into(),
        ));
    }
    Ok(Some(ObjectLock {
        retention,
        legal_hold,
    }))
}

/// The lock headers of GET/HEAD: (mode, retain until, legal hold).
pub(crate) fn headers(
    meta: &ObjectMeta,
) -> (
    Option<ObjectLockMode>,
    Option<Timestamp>,
    Option<ObjectLockLegalHoldStatus>,
) {
    let Some(l) = &meta.lock else {
        return (None, None, None);
    };
    (
        l.retention
            .map(|r| ObjectLockMode::from(r.mode.as_str().to_string())),
        l.retention.map(|r| timestamp(r.until_ms)),
        l.legal_hold.map(|h| {
            ObjectLockLegalHoldStatus::from_static(if h {
                ObjectLockLegalHoldStatus::ON
            } else {
                ObjectLockLegalHoldStatus::OFF
            })
        }),
    )
}

fn positive(n: Option<i32>) -> Res<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n) if n > 0 => Ok(u32::try_from(n).ok()),
        Some(_) => Err(Error::InvalidArgument(
            "Default retention period must be a positive integer value.".into(),
        )),
    }
}

impl Handler {
    /// Enables object lock on a bucket whose versioning is Enabled (S3 allows it since 2023) and
    /// sets or clears its default retention.
    pub(crate) async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> Res<PutObjectLockConfigurationOutput> {
        require_integrity(&req.headers)?;
        let input = req.input;
        let Some(config) = input.object_lock_configuration else {
            return Err(Error::MalformedXml);
        };
        if config
            .object_lock_enabled
            .as_ref()
            .is_none_or(|e| e.as_str() != ObjectLockEnabled::ENABLED)
        {
            return Err(Error::MalformedXml);
        }
        let default = match config.rule.and_then(|r| r.default_retention) {
            None => None,
            Some(d) => {
                let mode = d
                    .mode
                    .as_ref()
                    .and_then(|m| Mode::parse(m.as_str()))
                    .ok_or(Error::MalformedXml)?;
                let (days, years) = (positive(d.days)?, positive(d.years)?);
                if days.is_some() == years.is_some() {
                    return Err(Error::MalformedXml);
                }
                Some(DefaultRetention { mode, days, years })
            }
        };
        self.store
            .update_bucket(&input.bucket, move |b| {
                if b.versioning != Some(Versioning::Enabled) {
                    return Err(Error::InvalidBucketState(
                        "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".into(),
                    ));
                }
                b.object_lock = Some(BucketLock {
                    default: default.clone(),
                });
                Ok(())
            })
            .await?;
        Ok(PutObjectLockConfigurationOutput::default())
    }

    pub(crate) async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> Res<GetObjectLockConfigurationOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(l) = b.object_lock else {
            return Err(Error::ObjectLockConfigurationNotFound(b.name));
        };
        let rule = l.default.map(|d| ObjectLockRule {
            default_retention: Some(s3s::dto::DefaultRetention {
                days: d.days.and_then(|n| i32::try_from(n).ok()),
                mode: Some(ObjectLockRetentionMode::from(d.mode.as_str().to_string())),
                years: d.years.and_then(|n| i32::try_from(n).ok()),
            }),
        });
        Ok(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(
                    ObjectLockEnabled::ENABLED,
                )),
                rule,
            }),
        })
    }

    pub(crate) async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> Res<PutObjectRetentionOutput> {
        require_integrity(&req.headers)?;
        let input = req.input;
        let retention = match input.retention {
            None => None,
            Some(r) => match (r.mode, r.retain_until_date) {
                (None, None) => None,
                (Some(m), Some(u)) => Some(Retention {
                    mode: Mode::parse(m.as_str()).ok_or(Error::MalformedXml)?,
                    until_ms: future(&u)?,
                }),
                _ => return Err(Error::MalformedXml),
            },
        };
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        self.store
            .set_object_lock(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                Change::Retention { retention, bypass },
            )
            .await?;
        Ok(PutObjectRetentionOutput::default())
    }

    pub(crate) async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> Res<GetObjectRetentionOutput> {
        let input = req.input;
        let (meta, bucket) = self
            .store
            .head_version_in(&input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        if bucket.object_lock.is_none() {
            return Err(Error::InvalidRequest(
                "Bucket is missing Object Lock Configuration".into(),
            ));
        }
        let Some(r) = meta.lock.and_then(|l| l.retention) else {
            return Err(Error::NoSuchObjectLockConfiguration);
        };
        Ok(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(r.mode.as_str().to_string())),
                retain_until_date: Some(timestamp(r.until_ms)),
            }),
        })
    }

    pub(crate) async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> Res<PutObjectLegalHoldOutput> {
        require_integrity(&req.headers)?;
        let input = req.input;
        let on = hold(
            input
                .legal_hold
                .and_then(|h| h.status)
                .as_ref()
                .map_or("", |s| s.as_str()),
        )?;
        self.store
            .set_object_lock(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                Change::LegalHold(on),
            )
            .await?;
        Ok(PutObjectLegalHoldOutput::default())
    }

    pub(crate) async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> Res<GetObjectLegalHoldOutput> {
        let input = req.input;
        let (meta, bucket) = self
            .store
            .head_version_in(&input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        if bucket.object_lock.is_none() {
            return Err(Error::InvalidRequest(
                "Bucket is missing Object Lock Configuration".into(),
            ));
        }
        let Some(on) = meta.lock.and_then(|l| l.legal_hold) else {
            return Err(Error::NoSuchObjectLockConfiguration);
        };
        Ok(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(ObjectLockLegalHoldStatus::from_static(if on {
                    ObjectLockLegalHoldStatus::ON
                } else {
                    ObjectLockLegalHoldStatus::OFF
                })),
            }),
        })
    }
}
