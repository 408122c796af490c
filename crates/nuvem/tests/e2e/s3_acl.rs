//! S3 access control end to end with aws-sdk-s3 and anonymous HTTP callers: object ownership
//! (BucketOwnerEnforced by default, ACLs refused with 400 AccessControlListNotSupported),
//! bucket and object ACLs (canned, `x-amz-grant-*`, AccessControlPolicy bodies) and how they
//! open objects and listings to anonymous callers, an explicit policy Deny winning over an
//! ACL, the public access block's four settings, GetBucketPolicyStatus, and the edge reading
//! a bucket as its distribution (CloudFront's origin access control) whatever the block says,
//! a policy Deny still winning there.
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html,
//! https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html,
//! https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html)

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, CompletedMultipartUpload, CompletedPart, Grant, Grantee,
    ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule, Permission,
    PublicAccessBlockConfiguration, Type,
};
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// A plain HTTP client (no redirects followed).
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("nuvem-e2e")
        .use_preconfigured_tls(crate::endpoint::tls_config(None))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The status of an anonymous GET of `path` on `base`.
async fn anon(base: &str, path: &str) -> u16 {
    http()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The error code of a failed SDK call (panics on success).
fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, aws_sdk_s3::error::SdkError<E>>,
) -> String {
    let e = r.expect_err("the call should fail");
    e.as_service_error()
        .and_then(|s| s.code())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{e:?}"))
}

fn status<T, E>(r: &Result<T, aws_sdk_s3::error::SdkError<E>>) -> u16 {
    match r {
        Err(aws_sdk_s3::error::SdkError::ServiceError(e)) => e.raw().status().as_u16(),
        Err(_) => 0,
        Ok(_) => 200,
    }
}

async fn put(c: &Client, bucket: &str, key: &str, acl: Option<ObjectCannedAcl>) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .set_acl(acl)
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
}

async fn set_ownership(c: &Client, bucket: &str, o: ObjectOwnership) -> Result<(), String> {
    c.put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(o)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.code().unwrap_or_default().to_string())
}

/// (grantee id or uri, permission) of an ACL's grants.
fn grants(g: &[Grant]) -> Vec<(String, String)> {
    g.iter()
        .map(|g| {
            let who = g
                .grantee()
                .map(|e| e.id().or(e.uri()).map(str::to_string).unwrap_or_default());
            (
                who.unwrap_or_default(),
                g.permission()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_ownership_controls_and_acls_decide_anonymous_reads() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    let api = nuvem.api_url.clone();

    // New buckets: BucketOwnerEnforced, ACLs refused (400) except the owner's full control.
    c.create_bucket().bucket("enforced").send().await.unwrap();
    let o = c
        .get_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    let rules = o.ownership_controls().unwrap().rules();
    assert_eq!(
        rules[0].object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );
    let r = c
        .put_object()
        .bucket("enforced")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status(&r), 400);
    assert_eq!(code(r), "AccessControlListNotSupported");
    put(
        &c,
        "enforced",
        "k",
        Some(ObjectCannedAcl::BucketOwnerFullControl),
    )
    .await;
    put(&c, "enforced", "k2", None).await;
    assert_eq!(anon(&api, "/enforced/k").await, 403);
    let acl = c
        .get_object_acl()
        .bucket("enforced")
        .key("k")
        .send()
        .await
        .unwrap();
    let owner = acl.owner().unwrap().id().unwrap().to_string();
    assert_eq!(owner.len(), 64, "a canonical user id: {owner}");
    assert_eq!(
        grants(acl.grants()),
        vec![(owner.clone(), "FULL_CONTROL".into())]
    );
    let r = c
        .put_object_acl()
        .bucket("enforced")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(code(r), "AccessControlListNotSupported");
    let r = c
        .put_bucket_acl()
        .bucket("enforced")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(code(r), "AccessControlListNotSupported");
    // A public bucket ACL cannot come with BucketOwnerEnforced.
    let r = c
        .create_bucket()
        .bucket("clash")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(code(r), "InvalidBucketAclWithObjectOwnership");

    // ObjectWriter: ACLs decide.
    c.create_bucket()
        .bucket("writer")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    put(&c, "writer", "pub", Some(ObjectCannedAcl::PublicRead)).await;
    put(&c, "writer", "priv", None).await;
    assert_eq!(anon(&api, "/writer/pub").await, 200);
    assert_eq!(anon(&api, "/writer/priv").await, 403);
    assert_eq!(
        anon(&api, "/writer").await,
        403,
        "the bucket ACL is private"
    );
    let acl = c
        .get_object_acl()
        .bucket("writer")
        .key("pub")
        .send()
        .await
        .unwrap();
    assert_eq!(
        grants(acl.grants()),
        vec![
            (owner.clone(), "FULL_CONTROL".into()),
            (ALL_USERS.into(), "READ".into())
        ]
    );
    // x-amz-grant-read makes the private object readable...
    c.put_object_acl()
        .bucket("writer")
        .key("priv")
        .grant_read(format!("uri=\"{ALL_USERS}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer/priv").await, 200);
    // ... and an AccessControlPolicy body with only the owner closes it again.
    c.put_object_acl()
        .bucket("writer")
        .key("priv")
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(aws_sdk_s3::types::Owner::builder().id(&owner).build())
                .grants(
                    Grant::builder()
                        .grantee(
                            Grantee::builder()
                                .r#type(Type::CanonicalUser)
                                .id(&owner)
                                .build()
                                .unwrap(),
                        )
                        .permission(Permission::FullControl)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer/priv").await, 403);
    let r = c
        .put_object_acl()
        .bucket("writer")
        .key("priv")
        .acl(ObjectCannedAcl::PublicRead)
        .grant_read(format!("uri=\"{ALL_USERS}\""))
        .send()
        .await;
    assert_eq!(
        code(r),
        "InvalidRequest",
        "canned and header grants together"
    );
    let r = c
        .put_object_acl()
        .bucket("writer")
        .key("priv")
        .grant_read("emailAddress=\"a@example.com\"")
        .send()
        .await;
    assert_eq!(code(r), "UnresolvableGrantByEmailAddress");

    // An explicit Deny in the bucket policy wins over the ACL.
    let deny = serde_json::json!({"Statement": [{"Effect": "Deny", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::writer/pub"}]});
    c.put_bucket_policy()
        .bucket("writer")
        .policy(deny.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer/pub").await, 403);
    c.delete_bucket_policy()
        .bucket("writer")
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer/pub").await, 200);

    // A public-read bucket ACL opens the listing, not the objects.
    c.put_bucket_acl()
        .bucket("writer")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer").await, 200);
    assert_eq!(anon(&api, "/writer/priv").await, 403);

    // Copies and multipart uploads take the ACL of their request, not the source's.
    c.copy_object()
        .bucket("writer")
        .key("copy")
        .copy_source("writer/priv")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer/copy").await, 200);
    c.copy_object()
        .bucket("writer")
        .key("copy2")
        .copy_source("writer/pub")
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer/copy2").await, 403);
    let up = c
        .create_multipart_upload()
        .bucket("writer")
        .key("mp")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket("writer")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("writer")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer/mp").await, 200);

    // BucketOwnerEnforced is refused while the bucket ACL is public; once private, it
    // disables the objects' ACLs, and deleting the controls brings them back.
    assert_eq!(
        set_ownership(&c, "writer", ObjectOwnership::BucketOwnerEnforced).await,
        Err("InvalidBucketAclWithObjectOwnership".into())
    );
    c.put_bucket_acl()
        .bucket("writer")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    set_ownership(&c, "writer", ObjectOwnership::BucketOwnerEnforced)
        .await
        .unwrap();
    assert_eq!(anon(&api, "/writer/pub").await, 403);
    let acl = c
        .get_object_acl()
        .bucket("writer")
        .key("pub")
        .send()
        .await
        .unwrap();
    assert_eq!(
        grants(acl.grants()).len(),
        1,
        "only the owner while disabled"
    );
    c.delete_bucket_ownership_controls()
        .bucket("writer")
        .send()
        .await
        .unwrap();
    let r = c
        .get_bucket_ownership_controls()
        .bucket("writer")
        .send()
        .await;
    assert_eq!(status(&r), 404);
    assert_eq!(code(r), "OwnershipControlsNotFoundError");
    assert_eq!(anon(&api, "/writer/pub").await, 200);
}

/// A bucket served by a distribution, for the edge half of the public access block test.
const MANIFEST: &str = r#"
[[buckets]]
name = "pab"

[distribution]

[[distribution.behaviors]]
path_pattern = "default"
origin = "bucket:pab"
"#;

async fn set_block(c: &Client, acls: bool, ignore: bool, policy: bool, restrict: bool) {
    c.put_public_access_block()
        .bucket("pab")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(acls)
                .ignore_public_acls(ignore)
                .block_public_policy(policy)
                .restrict_public_buckets(restrict)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_public_access_block_and_policy_status_at_the_endpoint_and_the_edge() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(MANIFEST.into()),
            ..Options::default()
        },
    );
    let c = nuvem.s3();
    let (api, edge) = (nuvem.api_url.clone(), nuvem.edge_url.clone());
    set_ownership(&c, "pab", ObjectOwnership::ObjectWriter)
        .await
        .unwrap();
    let r = c.get_public_access_block().bucket("pab").send().await;
    assert_eq!(status(&r), 404);
    assert_eq!(code(r), "NoSuchPublicAccessBlockConfiguration");
    let r = c.get_bucket_policy_status().bucket("pab").send().await;
    assert_eq!(code(r), "NoSuchBucketPolicy");

    put(&c, "pab", "a", Some(ObjectCannedAcl::PublicRead)).await;
    put(&c, "pab", "b", None).await;
    assert_eq!(anon(&api, "/pab/a").await, 200);

    // IgnorePublicAcls: the public ACL no longer opens the object.
    set_block(&c, false, true, false, false).await;
    let got = c
        .get_public_access_block()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    let cfg = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            cfg.block_public_acls(),
            cfg.ignore_public_acls(),
            cfg.block_public_policy(),
            cfg.restrict_public_buckets()
        ),
        (Some(false), Some(true), Some(false), Some(false))
    );
    assert_eq!(anon(&api, "/pab/a").await, 403);

    // BlockPublicAcls: public ACLs are refused with 403 AccessDenied, private ones pass.
    set_block(&c, true, false, false, false).await;
    assert_eq!(
        anon(&api, "/pab/a").await,
        200,
        "only IgnorePublicAcls hides it"
    );
    let r = c
        .put_object()
        .bucket("pab")
        .key("c")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status(&r), 403);
    assert_eq!(code(r), "AccessDenied");
    let r = c
        .put_object_acl()
        .bucket("pab")
        .key("b")
        .grant_read(format!("uri=\"{ALL_USERS}\""))
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied");
    let r = c
        .put_bucket_acl()
        .bucket("pab")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied");
    put(&c, "pab", "c", Some(ObjectCannedAcl::Private)).await;

    // BlockPublicPolicy: a public policy is refused, one naming the account is not.
    let public = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pab/*"}]})
    .to_string();
    let account = serde_json::json!({"Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pab/*"}]})
    .to_string();
    set_block(&c, false, false, true, false).await;
    let r = c
        .put_bucket_policy()
        .bucket("pab")
        .policy(&public)
        .send()
        .await;
    assert_eq!(status(&r), 403);
    assert_eq!(code(r), "AccessDenied");
    c.put_bucket_policy()
        .bucket("pab")
        .policy(&account)
        .send()
        .await
        .unwrap();
    let s = c
        .get_bucket_policy_status()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    assert_eq!(s.policy_status().unwrap().is_public(), Some(false));

    // Without the block the public policy goes in and opens the private object...
    c.delete_public_access_block()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    c.put_bucket_policy()
        .bucket("pab")
        .policy(&public)
        .send()
        .await
        .unwrap();
    let s = c
        .get_bucket_policy_status()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    assert_eq!(s.policy_status().unwrap().is_public(), Some(true));
    assert_eq!(anon(&api, "/pab/b").await, 200);
    // ... until RestrictPublicBuckets limits it to the account's own callers.
    set_block(&c, false, false, false, true).await;
    assert_eq!(anon(&api, "/pab/b").await, 403);
    assert_eq!(anon(&api, "/pab/a").await, 200, "the ACL still speaks");
    c.get_object().bucket("pab").key("b").send().await.unwrap();

    // The edge reads as the distribution (origin access control): the block, which keeps
    // anonymous callers out at the endpoint, does not stop it, as it does not stop
    // CloudFront...
    set_block(&c, true, true, true, true).await;
    assert_eq!(anon(&api, "/pab/a").await, 403);
    assert_eq!(anon(&api, "/pab/b").await, 403);
    assert_eq!(anon(&edge, "/a").await, 200);
    assert_eq!(anon(&edge, "/b").await, 200);
    // ... but an explicit Deny in the bucket policy stops both (a Deny is not public, so
    // BlockPublicPolicy lets it in). `d` was never fetched through the edge, so no cached
    // copy answers for it.
    put(&c, "pab", "d", None).await;
    let deny = serde_json::json!({"Statement": [{"Effect": "Deny", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pab/d"}]})
    .to_string();
    c.put_bucket_policy()
        .bucket("pab")
        .policy(&deny)
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&edge, "/d").await, 403);
    assert_eq!(anon(&api, "/pab/d").await, 403);
    c.delete_public_access_block()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    assert_eq!(anon(&api, "/pab/a").await, 200);
    assert_eq!(anon(&api, "/pab/d").await, 403);
}

/// The AWS CLI as scripts use it: `aws s3 cp --acl public-read` works on a bucket with ACLs
/// enabled and is refused on a default one; the s3api ownership, ACL and block commands.
#[test]
fn s3_acls_with_the_aws_cli() {
    use crate::s3_cli::{aws, aws_raw, have};
    if !have("aws", &["--version"]) {
        nuvem_testkit::missing_tool(
            "s3_acls_with_the_aws_cli",
            "the AWS CLI is not installed (pip install awscli)",
        );
        return;
    }
    let nuvem = Nuvem::start(BIN);
    let file = nuvem.dir().join("page.html");
    std::fs::write(&file, "<h1>hi</h1>").unwrap();
    let file = file.to_str().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    aws(&nuvem, &["s3", "mb", "s3://cli-default"]);
    let out = aws_raw(
        &nuvem,
        &[
            "s3",
            "cp",
            file,
            "s3://cli-default/p.html",
            "--acl",
            "public-read",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AccessControlListNotSupported"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    aws(
        &nuvem,
        &[
            "s3api",
            "create-bucket",
            "--bucket",
            "cli-acl",
            "--object-ownership",
            "ObjectWriter",
        ],
    );
    aws(
        &nuvem,
        &[
            "s3",
            "cp",
            file,
            "s3://cli-acl/p.html",
            "--acl",
            "public-read",
        ],
    );
    assert_eq!(rt.block_on(anon(&nuvem.api_url, "/cli-acl/p.html")), 200);
    let acl = aws(
        &nuvem,
        &[
            "s3api",
            "get-object-acl",
            "--bucket",
            "cli-acl",
            "--key",
            "p.html",
        ],
    );
    assert!(acl.contains(ALL_USERS) && acl.contains("READ"), "{acl}");
    let own = aws(
        &nuvem,
        &[
            "s3api",
            "get-bucket-ownership-controls",
            "--bucket",
            "cli-acl",
        ],
    );
    assert!(own.contains("ObjectWriter"), "{own}");
    aws(
        &nuvem,
        &[
            "s3api",
            "put-public-access-block",
            "--bucket",
            "cli-acl",
            "--public-access-block-configuration",
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
        ],
    );
    assert_eq!(rt.block_on(anon(&nuvem.api_url, "/cli-acl/p.html")), 403);
    let block = aws(
        &nuvem,
        &["s3api", "get-public-access-block", "--bucket", "cli-acl"],
    );
    assert!(block.contains("\"IgnorePublicAcls\": true"), "{block}");
    let out = aws_raw(
        &nuvem,
        &["s3api", "get-bucket-policy-status", "--bucket", "cli-acl"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchBucketPolicy"));
}
