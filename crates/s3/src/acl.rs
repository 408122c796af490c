//! Access control lists, object ownership and the public access block, as S3 evaluates them
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html,
//! https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html,
//! https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html).
//!
//! nuvem has one account, so the owner of every bucket and object is that account's canonical
//! user ([`canonical_id`]). An ACL is stored as its grants (the owner's `FULL_CONTROL` grant
//! included, as S3 lists it); no stored ACL means the default, private one.
//!
//! Must not: know the s3s types (`api` converts) or touch the store.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The group of everyone, signed or not.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The group of every signed caller of any AWS account.
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// The log delivery group (the `log-delivery-write` canned ACL).
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// The canonical user id of an account: 64 hex digits, as S3's. nuvem derives it from the
/// account id (`server.account_id`): the SHA-256 of `nuvem canonical user <account id>`, so
/// it is stable across restarts and nodes and differs between accounts.
pub fn canonical_id(account_id: &str) -> String {
    hex::encode(Sha256::digest(
        format!("nuvem canonical user {account_id}").as_bytes(),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

impl Permission {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "FULL_CONTROL" => Self::FullControl,
            "READ" => Self::Read,
            "WRITE" => Self::Write,
            "READ_ACP" => Self::ReadAcp,
            "WRITE_ACP" => Self::WriteAcp,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullControl => "FULL_CONTROL",
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::ReadAcp => "READ_ACP",
            Self::WriteAcp => "WRITE_ACP",
        }
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// A canonical user id.
    User(String),
    /// A predefined group, by URI ([`ALL_USERS`], [`AUTHENTICATED_USERS`], [`LOG_DELIVERY`]).
    Group(String),
}

impl Grantee {
    /// A canonical user id: 64 hex digits.
    pub fn user(id: &str) -> Result<Self, Error> {
        if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self::User(id.to_ascii_lowercase()))
        } else {
            Err(Error::InvalidArgument("Invalid id".into()))
        }
    }

    pub fn group(uri: &str) -> Result<Self, Error> {
        if [ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY].contains(&uri) {
            Ok(Self::Group(uri.to_string()))
        } else {
            Err(Error::InvalidArgument("Invalid group uri".into()))
        }
    }

    /// Everyone or every signed caller: a grant to either makes an ACL public.
    pub fn is_public(&self) -> bool {
        matches!(self, Self::Group(g) if g == ALL_USERS || g == AUTHENTICATED_USERS)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An access control list: its grants, in order (at most 100, as S3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub grants: Vec<Grant>,
}

/// "An ACL can have up to 100 grants"
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html).
pub const MAX_GRANTS: usize = 100;

impl Acl {
    /// The default ACL: the owner has full control, nobody else anything.
    pub fn private(owner: &str) -> Self {
        Self {
            grants: vec![Grant {
                grantee: Grantee::User(owner.to_string()),
                permission: Permission::FullControl,
            }],
        }
    }

    /// A canned ACL (`x-amz-acl`) for an object or, with `bucket`, a bucket
    /// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#canned-acl).
    /// In one account, `bucket-owner-read` and `bucket-owner-full-control` are `private`, and
    /// `aws-exec-read` (EC2's read of AMI bundles) grants nothing more.
    pub fn canned(name: &str, owner: &str, bucket: bool) -> Result<Self, Error> {
        let mut acl = Self::private(owner);
        let mut add = |uri: &str, permission| {
            acl.grants.push(Grant {
                grantee: Grantee::Group(uri.to_string()),
                permission,
            })
        };
        match name {
            "private" => {}
            "public-read" => add(ALL_USERS, Permission::Read),
            "public-read-write" => {
                add(ALL_USERS, Permission::Read);
                add(ALL_USERS, Permission::Write);
            }
            "authenticated-read" => add(AUTHENTICATED_USERS, Permission::Read),
            "log-delivery-write" if bucket => {
                add(LOG_DELIVERY, Permission::Write);
                add(LOG_DELIVERY, Permission::ReadAcp);
            }
            "aws-exec-read" | "bucket-owner-read" | "bucket-owner-full-control" if !bucket => {}
            other => {
                return Err(Error::InvalidArgument(format!(
                    "{other} is not a valid canned ACL for a {}",
                    if bucket { "bucket" } else { "object" }
                )));
            }
        }
        Ok(acl)
    }

    /// An ACL from `x-amz-grant-*` headers: `(permission, header value)`, each value a comma
    /// separated list of `id="..."`, `uri="..."` or `emailAddress="..."`. The owner keeps no
    /// implicit grant: as S3, the headers are the whole ACL.
    pub fn from_grant_headers(headers: &[(Permission, &str)]) -> Result<Self, Error> {
        let mut acl = Self::default();
        for (permission, value) in headers {
            for item in value.split(',') {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let Some((kind, v)) = item.split_once('=') else {
                    return Err(Error::InvalidArgument(format!("Invalid grant: {item}")));
                };
                let v = v.trim().trim_matches('"');
                let grantee = match kind.trim().to_ascii_lowercase().as_str() {
                    "id" => Grantee::user(v)?,
                    "uri" => Grantee::group(v)?,
                    "emailaddress" => return Err(unresolvable_email()),
                    _ => return Err(Error::InvalidArgument(format!("Invalid grant: {item}"))),
                };
                acl.grants.push(Grant {
                    grantee,
                    permission: *permission,
                });
            }
        }
        acl.check_size()?;
        Ok(acl)
    }

    pub fn check_size(&self) -> Result<(), Error> {
        if self.grants.len() > MAX_GRANTS {
            return Err(Error::MalformedAcl(format!(
                "An ACL can have at most {MAX_GRANTS} grants"
            )));
        }
        Ok(())
    }

    /// Whether the ACL grants anything to everyone or to every signed caller.
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| g.grantee.is_public())
    }

    /// Whether the ACL grants only to the owner (what a bucket with ACLs disabled accepts).
    pub fn owner_only(&self, owner: &str) -> bool {
        self.grants
            .iter()
            .all(|g| g.grantee == Grantee::User(owner.to_string()))
    }

    /// Whether the ACL gives anonymous callers `permission` (through a grant to AllUsers).
    pub fn allows_anonymous(&self, permission: Permission) -> bool {
        self.grants.iter().any(|g| {
            g.grantee == Grantee::Group(ALL_USERS.to_string())
                && (g.permission == permission || g.permission == Permission::FullControl)
        })
    }
}

fn unresolvable_email() -> Error {
    Error::UnresolvableGrantByEmailAddress
}

/// Object ownership (https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ownership {
    /// ACLs are disabled: they neither grant nor can be set (the default for new buckets
    /// since April 2023).
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

impl Ownership {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BucketOwnerEnforced" => Self::BucketOwnerEnforced,
            "BucketOwnerPreferred" => Self::BucketOwnerPreferred,
            "ObjectWriter" => Self::ObjectWriter,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BucketOwnerEnforced => "BucketOwnerEnforced",
            Self::BucketOwnerPreferred => "BucketOwnerPreferred",
            Self::ObjectWriter => "ObjectWriter",
        }
    }
}

/// Whether a bucket's ACLs take part in access decisions: not when ownership is
/// `BucketOwnerEnforced`. A bucket without ownership controls (deleted, or created before
/// nuvem knew them) has ACLs enabled, as S3's buckets without the setting.
pub fn acls_enabled(ownership: Option<Ownership>) -> bool {
    ownership != Some(Ownership::BucketOwnerEnforced)
}

/// A bucket's public access block (all four settings off when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// PUTs carrying a public ACL are refused (AccessDenied).
    pub block_public_acls: bool,
    /// Public ACL grants are ignored when access is decided.
    pub ignore_public_acls: bool,
    /// A public bucket policy is refused (AccessDenied).
    pub block_public_policy: bool,
    /// With a public policy, only the account's own principals get in.
    pub restrict_public_buckets: bool,
}

/// Checks an ACL a request wants to set on a bucket or an object, against the bucket's
/// ownership controls and public access block, in S3's order: ACLs disabled is 400
/// `AccessControlListNotSupported`, a public ACL under `BlockPublicAcls` 403 AccessDenied.
pub fn check_settable(
    acl: &Acl,
    owner: &str,
    ownership: Option<Ownership>,
    block: Option<&PublicAccessBlock>,
) -> Result<(), Error> {
    if !acls_enabled(ownership) && !acl.owner_only(owner) {
        return Err(Error::AccessControlListNotSupported);
    }
    if block.is_some_and(|b| b.block_public_acls) && acl.is_public() {
        return Err(Error::AccessDenied);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[track_caller]
    fn check_canned(name: &str, bucket: bool, expected: Result<(bool, usize), &str>) {
        let got = Acl::canned(name, OWNER, bucket).map(|a| (a.is_public(), a.grants.len()));
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{name}"),
            (Err(g), Err(e)) => assert_eq!(g.code(), e, "{name}"),
            (g, e) => panic!("{name}: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn canned_acls() {
        check_canned("private", false, Ok((false, 1)));
        check_canned("public-read", false, Ok((true, 2)));
        check_canned("public-read-write", true, Ok((true, 3)));
        check_canned("authenticated-read", false, Ok((true, 2)));
        check_canned("bucket-owner-full-control", false, Ok((false, 1)));
        check_canned("bucket-owner-full-control", true, Err("InvalidArgument"));
        check_canned("log-delivery-write", true, Ok((false, 3)));
        check_canned("log-delivery-write", false, Err("InvalidArgument"));
        check_canned("world-readable", false, Err("InvalidArgument"));
    }

    #[track_caller]
    fn check_headers(headers: &[(Permission, &str)], expected: Result<usize, &str>) {
        match (Acl::from_grant_headers(headers), expected) {
            (Ok(acl), Ok(n)) => assert_eq!(acl.grants.len(), n),
            (Err(e), Err(code)) => assert_eq!(e.code(), code),
            (g, e) => panic!("got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn grant_headers() {
        let id = format!("id=\"{OWNER}\"");
        check_headers(&[(Permission::Read, &id)], Ok(1));
        check_headers(
            &[(Permission::Read, &format!("{id}, uri=\"{ALL_USERS}\""))],
            Ok(2),
        );
        check_headers(
            &[(Permission::Read, "id=\"short\"")],
            Err("InvalidArgument"),
        );
        check_headers(
            &[(Permission::Read, "uri=\"http://example.com/x\"")],
            Err("InvalidArgument"),
        );
        check_headers(
            &[(Permission::Read, "emailAddress=\"a@b.c\"")],
            Err("UnresolvableGrantByEmailAddress"),
        );
        check_headers(&[(Permission::Read, "nonsense")], Err("InvalidArgument"));
    }

    #[test]
    fn settable_under_ownership_and_block() {
        let public = Acl::canned("public-read", OWNER, false).unwrap();
        let private = Acl::private(OWNER);
        let enforced = Some(Ownership::BucketOwnerEnforced);
        let block = PublicAccessBlock {
            block_public_acls: true,
            ..Default::default()
        };
        let code = |r: Result<(), Error>| r.map_err(|e| e.code());
        assert_eq!(
            code(check_settable(&private, OWNER, enforced, None)),
            Ok(())
        );
        assert_eq!(
            code(check_settable(&public, OWNER, enforced, None)),
            Err("AccessControlListNotSupported")
        );
        assert_eq!(
            code(check_settable(
                &public,
                OWNER,
                Some(Ownership::ObjectWriter),
                None
            )),
            Ok(())
        );
        assert_eq!(
            code(check_settable(&public, OWNER, None, Some(&block))),
            Err("AccessDenied")
        );
        assert!(public.allows_anonymous(Permission::Read));
        assert!(!public.allows_anonymous(Permission::Write));
        assert_eq!(canonical_id("000000000000").len(), 64);
        assert_ne!(canonical_id("000000000000"), canonical_id("111111111111"));
    }

    /// Records written before ACLs existed load as "no ownership controls, private".
    #[test]
    fn old_records_load_without_acl_fields() {
        let bucket: crate::store::BucketMeta =
            serde_json::from_str(r#"{"name":"old","created_ms":1,"region":"us-east-1"}"#).unwrap();
        assert_eq!(
            (bucket.acl, bucket.ownership, bucket.public_access_block),
            (None, None, None)
        );
        assert!(acls_enabled(bucket.ownership));
        let object: crate::store::ObjectMeta =
            serde_json::from_str(r#"{"size":1,"etag":"e","last_modified_ms":1,"blobs":[]}"#)
                .unwrap();
        assert_eq!(object.acl, None);
        // And a record written now carries them.
        let mut b = crate::store::BucketMeta {
            ownership: Some(Ownership::ObjectWriter),
            acl: Some(Acl::canned("public-read", OWNER, true).unwrap()),
            ..Default::default()
        };
        let text = serde_json::to_string(&b).unwrap();
        b = serde_json::from_str(&text).unwrap();
        assert_eq!(b.ownership, Some(Ownership::ObjectWriter));
        assert!(b.acl.unwrap().is_public());
    }
}
