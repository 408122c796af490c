//! Put/Get/DeleteBucketLifecycleConfiguration: the wire form of [`crate::store::lifecycle`]'s
//! rules, with the checks S3 makes of a configuration, and the `x-amz-expiration` header.

use s3s::S3Request;
use s3s::dto::*;

use super::{Handler, timestamp};
use crate::error::Error;
use crate::store::lifecycle::{
    self, Expiration, Filter, NoncurrentExpiration, NoncurrentTransition, Rule,
};
use crate::store::{BucketMeta, ObjectMeta, ObjectStore};

type Res<T> = Result<T, Error>;

/// Milliseconds since the epoch of an s3s timestamp (to the millisecond).
pub(crate) fn timestamp_ms(t: &Timestamp) -> Option<i64> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::EpochSeconds, &mut buf).ok()?;
    let secs: f64 = std::str::from_utf8(&buf).ok()?.parse().ok()?;
    #[allow(clippy::cast_possible_truncation)]
    Some((secs * 1000.0).round() as i64)
}

fn date(t: Option<&Timestamp>) -> Res<Option<i64>> {
    t.map(|t| {
        let ms = timestamp_ms(t).ok_or(Error::MalformedXml)?;
        lifecycle::midnight(ms, "Date")
    })
    .transpose()
}

fn tag(t: &Tag) -> Res<(String, String)> {
    match (&t.key, &t.value) {
        (Some(k), Some(v)) => Ok((k.clone(), v.clone())),
        _ => Err(Error::MalformedXml),
    }
}

fn size(n: Option<i64>) -> Res<Option<u64>> {
    n.map(|n| {
        u64::try_from(n).map_err(|_| {
            Error::InvalidArgument("Object size filter must be a non-negative integer".into())
        })
    })
    .transpose()
}

fn filter_from(f: &LifecycleRuleFilter) -> Res<Filter> {
    let set = [
        f.and.is_some(),
        f.object_size_greater_than.is_some(),
        f.object_size_less_than.is_some(),
        f.prefix.is_some(),
        f.tag.is_some(),
    ]
    .into_iter()
    .filter(|s| *s)
    .count();
    if set > 1 {
        return Err(Error::MalformedXml);
    }
    Ok(if let Some(and) = &f.and {
        Filter::And {
            prefix: and.prefix.clone(),
            tags: and.tags.iter().flatten().map(tag).collect::<Res<_>>()?,
            greater_than: size(and.object_size_greater_than)?,
            less_than: size(and.object_size_less_than)?,
        }
    } else if let Some(n) = size(f.object_size_greater_than)? {
        Filter::GreaterThan(n)
    } else if let Some(n) = size(f.object_size_less_than)? {
        Filter::LessThan(n)
    } else if let Some(p) = &f.prefix {
        Filter::Prefix(p.clone())
    } else if let Some(t) = &f.tag {
        let (k, v) = tag(t)?;
        Filter::Tag(k, v)
    } else {
        Filter::All
    })
}

fn rule_from(r: &LifecycleRule) -> Res<Rule> {
    let filter = match (&r.filter, &r.prefix) {
        (Some(_), Some(_)) | (None, None) => return Err(Error::MalformedXml),
        (None, Some(p)) => Filter::Legacy(p.clone()),
        (Some(f), None) => filter_from(f)?,
    };
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(Error::MalformedXml),
    };
    let expiration = r
        .expiration
        .as_ref()
        .map(|e| {
            Ok::<_, Error>(Expiration {
                days: lifecycle::positive_days(e.days, "Days", "Expiration")?,
                date_ms: date(e.date.as_ref())?,
                expired_object_delete_marker: e.expired_object_delete_marker,
            })
        })
        .transpose()?;
    let noncurrent_expiration = r
        .noncurrent_version_expiration
        .as_ref()
        .map(|n| {
            Ok::<_, Error>(NoncurrentExpiration {
                days: lifecycle::positive_days(
                    n.noncurrent_days,
                    "NoncurrentDays",
                    "NoncurrentVersionExpiration",
                )?,
                newer_versions: newer(n.newer_noncurrent_versions)?,
            })
        })
        .transpose()?;
    let abort_after_days = match &r.abort_incomplete_multipart_upload {
        Some(a) => Some(
            lifecycle::positive_days(
                a.days_after_initiation,
                "DaysAfterInitiation",
                "AbortIncompleteMultipartUpload",
            )?
            .ok_or(Error::MalformedXml)?,
        ),
        None => None,
    };
    let transitions = r
        .transitions
        .iter()
        .flatten()
        .map(|t| {
            if t.days.is_some() == t.date.is_some() {
                return Err(Error::MalformedXml);
            }
            Ok(lifecycle::Transition {
                days: t
                    .days
                    .map(|d| {
                        u32::try_from(d).map_err(|_| {
                            Error::InvalidArgument(
                                "'Days' in Transition action must be nonnegative".into(),
                            )
                        })
                    })
                    .transpose()?,
                date_ms: date(t.date.as_ref())?,
                storage_class: t.storage_class.as_ref().map(|c| c.as_str().to_string()),
            })
        })
        .collect::<Res<_>>()?;
    let noncurrent_transitions = r
        .noncurrent_version_transitions
        .iter()
        .flatten()
        .map(|t| {
            Ok(NoncurrentTransition {
                days: t
                    .noncurrent_days
                    .map(|d| {
                        u32::try_from(d).map_err(|_| {
                            Error::InvalidArgument(
                                "'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative".into(),
                            )
                        })
                    })
                    .transpose()?,
                newer_versions: newer(t.newer_noncurrent_versions)?,
                storage_class: t.storage_class.as_ref().map(|c| c.as_str().to_string()),
            })
        })
        .collect::<Res<_>>()?;
    Ok(Rule {
        // S3 names a rule sent without an ID.
        id: r
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        enabled,
        filter,
        expiration,
        noncurrent_expiration,
        abort_after_days,
        transitions,
        noncurrent_transitions,
    })
}

/// NewerNoncurrentVersions: 1 to 100.
fn newer(n: Option<i32>) -> Res<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n @ 1..=100) => Ok(u32::try_from(n).ok()),
        Some(_) => Err(Error::InvalidArgument(
            "'NewerNoncurrentVersions' must be a positive integer up to 100".into(),
        )),
    }
}

fn ts(ms: i64) -> Timestamp {
    timestamp(ms)
}

fn days_out(d: Option<u32>) -> Option<i32> {
    d.and_then(|d| i32::try_from(d).ok())
}

fn tag_out((k, v): &(String, String)) -> Tag {
    Tag {
        key: Some(k.clone()),
        value: Some(v.clone()),
    }
}

fn rule_out(r: &Rule) -> LifecycleRule {
    let (filter, prefix) = match &r.filter {
        Filter::Legacy(p) => (None, Some(p.clone())),
        f => (
            Some(match f {
                Filter::All | Filter::Legacy(_) => LifecycleRuleFilter::default(),
                Filter::Prefix(p) => LifecycleRuleFilter {
                    prefix: Some(p.clone()),
                    ..Default::default()
                },
                Filter::Tag(k, v) => LifecycleRuleFilter {
                    tag: Some(tag_out(&(k.clone(), v.clone()))),
                    ..Default::default()
                },
                Filter::GreaterThan(n) => LifecycleRuleFilter {
                    object_size_greater_than: i64::try_from(*n).ok(),
                    ..Default::default()
                },
                Filter::LessThan(n) => LifecycleRuleFilter {
                    object_size_less_than: i64::try_from(*n).ok(),
                    ..Default::default()
                },
                Filter::And {
                    prefix,
                    tags,
                    greater_than,
                    less_than,
                } => LifecycleRuleFilter {
                    and: Some(LifecycleRuleAndOperator {
                        prefix: prefix.clone(),
                        tags: Some(tags.iter().map(tag_out).collect())
                            .filter(|t: &Vec<_>| !t.is_empty()),
                        object_size_greater_than: greater_than.and_then(|n| i64::try_from(n).ok()),
                        object_size_less_than: less_than.and_then(|n| i64::try_from(n).ok()),
                    }),
                    ..Default::default()
                },
            }),
            None,
        ),
    };
    LifecycleRule {
        abort_incomplete_multipart_upload: r.abort_after_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: days_out(Some(d)),
            }
        }),
        expiration: r.expiration.as_ref().map(|e| LifecycleExpiration {
            date: e.date_ms.map(ts),
            days: days_out(e.days),
            expired_object_delete_marker: e.expired_object_delete_marker,
        }),
        filter,
        id: Some(r.id.clone()),
        noncurrent_version_expiration: r.noncurrent_expiration.as_ref().map(|n| {
            NoncurrentVersionExpiration {
                newer_noncurrent_versions: days_out(n.newer_versions),
                noncurrent_days: days_out(n.days),
            }
        }),
        noncurrent_version_transitions: Some(
            r.noncurrent_transitions
                .iter()
                .map(|t| NoncurrentVersionTransition {
                    newer_noncurrent_versions: days_out(t.newer_versions),
                    noncurrent_days: days_out(t.days),
                    storage_class: t.storage_class.clone().map(TransitionStorageClass::from),
                })
                .collect(),
        )
        .filter(|v: &Vec<_>| !v.is_empty()),
        prefix,
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        transitions: Some(
            r.transitions
                .iter()
                .map(|t| Transition {
                    date: t.date_ms.map(ts),
                    days: days_out(t.days),
                    storage_class: t.storage_class.clone().map(TransitionStorageClass::from),
                })
                .collect(),
        )
        .filter(|v: &Vec<_>| !v.is_empty()),
    }
}

/// The `x-amz-expiration` header of the current version `meta` of `key`, when a rule expires it.
pub(crate) fn expiration_header(
    store: &ObjectStore,
    bucket: &BucketMeta,
    key: &str,
    meta: &ObjectMeta,
) -> Option<String> {
    let (at, rule) = store.expiration_of(bucket, key, meta)?;
    format_expiration(at, &rule)
}

/// `x-amz-expiration` of a GET or HEAD: of the current version without `versionId`; with
/// one, of the version named, current or noncurrent (a NoncurrentVersionExpiration's date).
pub(crate) async fn read_expiration_header(
    store: &ObjectStore,
    bucket: &BucketMeta,
    key: &str,
    meta: &ObjectMeta,
    version_id: Option<&str>,
) -> Option<String> {
    if version_id.is_none() {
        return expiration_header(store, bucket, key, meta);
    }
    let (at, rule) = store.version_expiration(bucket, key, meta).await?;
    format_expiration(at, &rule)
}

fn format_expiration(at: i64, rule: &str) -> Option<String> {
    let mut buf = Vec::new();
    timestamp(at)
        .format(TimestampFormat::HttpDate, &mut buf)
        .ok()?;
    let date = String::from_utf8(buf).ok()?;
    let rule = rule.replace('"', "%22");
    Some(format!("expiry-date=\"{date}\", rule-id=\"{rule}\""))
}

impl Handler {
    pub(crate) async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> Res<PutBucketLifecycleConfigurationOutput> {
        super::lock::require_integrity(&req.headers)?;
        let input = req.input;
        let Some(config) = input.lifecycle_configuration else {
            return Err(Error::MalformedXml);
        };
        if config.rules.len() > lifecycle::MAX_RULES {
            return Err(Error::MalformedXml);
        }
        let rules: Vec<Rule> = config.rules.iter().map(rule_from).collect::<Res<_>>()?;
        lifecycle::validate(&rules)?;
        self.store
            .update_bucket(&input.bucket, move |b| {
                b.lifecycle = Some(rules.clone());
                Ok(())
            })
            .await?;
        Ok(PutBucketLifecycleConfigurationOutput {
            transition_default_minimum_object_size: None,
        })
    }

    pub(crate) async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> Res<GetBucketLifecycleConfigurationOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(rules) = b.lifecycle else {
            return Err(Error::NoSuchLifecycleConfiguration(b.name));
        };
        Ok(GetBucketLifecycleConfigurationOutput {
            rules: Some(rules.iter().map(rule_out).collect()),
            transition_default_minimum_object_size: None,
        })
    }

    pub(crate) async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> Res<DeleteBucketLifecycleOutput> {
        self.store
            .update_bucket(&req.input.bucket, |b| {
                b.lifecycle = None;
                Ok(())
            })
            .await?;
        Ok(DeleteBucketLifecycleOutput {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(f: impl FnOnce(&mut LifecycleRule)) -> LifecycleRule {
        let mut r = LifecycleRule {
            abort_incomplete_multipart_upload: None,
            expiration: Some(LifecycleExpiration {
                days: Some(1),
                ..Default::default()
            }),
            filter: Some(LifecycleRuleFilter::default()),
            id: Some("r".into()),
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            transitions: None,
        };
        f(&mut r);
        r
    }

    /// Converts and validates `rules`, as PutBucketLifecycleConfiguration does, and returns
    /// `Ok(())` or `"<code> <message>"`.
    #[track_caller]
    fn check(rules: Vec<LifecycleRule>, expected: Result<(), &str>) {
        let got = rules
            .iter()
            .map(rule_from)
            .collect::<Res<Vec<_>>>()
            .and_then(|r| lifecycle::validate(&r))
            .map_err(|e| format!("{} {e}", e.code()));
        assert_eq!(got, expected.map_err(str::to_string));
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(TimestampFormat::DateTime, s).unwrap()
    }

    #[test]
    fn configurations_are_checked_as_s3_does() {
        check(vec![rule(|_| {})], Ok(()));
        check(
            vec![rule(|r| r.expiration.as_mut().unwrap().days = Some(0))],
            Err("InvalidArgument 'Days' for Expiration action must be a positive integer"),
        );
        check(
            vec![rule(|r| {
                r.expiration = Some(LifecycleExpiration {
                    date: Some(at("2030-01-01T10:00:00Z")),
                    ..Default::default()
                })
            })],
            Err("InvalidArgument 'Date' must be at midnight GMT"),
        );
        check(
            vec![rule(|r| {
                r.expiration = Some(LifecycleExpiration {
                    date: Some(at("2030-01-01T00:00:00.001Z")),
                    ..Default::default()
                })
            })],
            Err("InvalidArgument 'Date' must be at midnight GMT"),
        );
        check(
            vec![rule(|r| {
                r.expiration = Some(LifecycleExpiration {
                    date: Some(at("2030-01-01T00:00:00Z")),
                    ..Default::default()
                })
            })],
            Ok(()),
        );
        check(
            vec![rule(|r| {
                r.expiration.as_mut().unwrap().date = Some(at("2030-01-01T00:00:00Z"))
            })],
            Err(
                "MalformedXML The XML you provided was not well-formed or did not validate against our published schema.",
            ),
        );
        check(
            vec![rule(|_| {}), rule(|_| {})],
            Err("InvalidArgument Rule ID must be unique. Found same ID for more than one rule"),
        );
        check(
            vec![rule(|r| r.id = Some("x".repeat(256)))],
            Err("InvalidArgument ID length should not exceed allowed limit of 255"),
        );
        check(
            vec![rule(|r| r.prefix = Some("a/".into()))],
            Err(
                "MalformedXML The XML you provided was not well-formed or did not validate against our published schema.",
            ),
        );
        check(
            vec![rule(|r| {
                r.filter = Some(LifecycleRuleFilter {
                    prefix: Some("a/".into()),
                    object_size_greater_than: Some(10),
                    ..Default::default()
                })
            })],
            Err(
                "MalformedXML The XML you provided was not well-formed or did not validate against our published schema.",
            ),
        );
        check(
            vec![rule(|r| r.expiration = None)],
            Err("InvalidRequest At least one action needs to be specified in a rule"),
        );
        check(
            vec![rule(|r| {
                r.filter = Some(LifecycleRuleFilter {
                    tag: Some(Tag {
                        key: Some("k".into()),
                        value: Some("v".into()),
                    }),
                    ..Default::default()
                });
                r.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload {
                    days_after_initiation: Some(1),
                });
            })],
            Err("InvalidRequest AbortIncompleteMultipartUpload cannot be specified with Tags."),
        );
        check(
            vec![rule(|r| {
                r.noncurrent_version_expiration = Some(NoncurrentVersionExpiration {
                    noncurrent_days: Some(-1),
                    newer_noncurrent_versions: None,
                })
            })],
            Err(
                "InvalidArgument 'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            ),
        );
        check(
            vec![rule(|r| {
                r.filter = Some(LifecycleRuleFilter {
                    and: Some(LifecycleRuleAndOperator {
                        object_size_greater_than: Some(100),
                        object_size_less_than: Some(10),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            })],
            Err("InvalidArgument ObjectSizeGreaterThan must be less than ObjectSizeLessThan"),
        );
        let many: Vec<LifecycleRule> = (0..1001)
            .map(|i| rule(|r| r.id = Some(format!("r{i}"))))
            .collect();
        check(many[..1000].to_vec(), Ok(()));
        check(
            many,
            Err(
                "MalformedXML The XML you provided was not well-formed or did not validate against our published schema.",
            ),
        );
    }

    #[test]
    fn rules_read_back_as_sent() {
        let sent = vec![
            rule(|r| {
                r.filter = None;
                r.prefix = Some("logs/".into());
            }),
            rule(|r| {
                r.id = Some("and".into());
                r.filter = Some(LifecycleRuleFilter {
                    and: Some(LifecycleRuleAndOperator {
                        prefix: Some("p/".into()),
                        tags: Some(vec![Tag {
                            key: Some("k".into()),
                            value: Some("v".into()),
                        }]),
                        object_size_greater_than: Some(1),
                        object_size_less_than: Some(1000),
                    }),
                    ..Default::default()
                });
                r.transitions = Some(vec![Transition {
                    days: Some(30),
                    date: None,
                    storage_class: Some(TransitionStorageClass::from_static("GLACIER")),
                }]);
            }),
        ];
        let back: Vec<LifecycleRule> = sent
            .iter()
            .map(|r| rule_out(&rule_from(r).unwrap()))
            .collect();
        assert_eq!(back, sent);
    }
}
