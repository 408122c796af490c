//! UpdateDistribution on the edge: a changed DistributionConfig (TTLs, cache key, custom error
//! responses) applies to the next viewer request, gets a new ETag, is kept in the store for a
//! restarted node and for other nodes, gives way to a changed manifest, and every refusal
//! leaves the config as it was.

mod support;

use std::sync::Arc;

use nuvem_edge::{Edge, UpdateError};
use nuvem_store::{Durability, FjallEngine, Store};
use support::{Reply, TestOrigin, edge, runtime, send, simple};

fn store(dir: &std::path::Path) -> Store {
    Store::new(FjallEngine::open(dir, Durability::Process).unwrap())
}

/// The edge's config with `from` replaced by `to` (which must be there).
fn edited(e: &Arc<Edge>, edits: &[(&str, &str)]) -> (String, String) {
    let (mut xml, etag) = e.distribution_config();
    for (from, to) in edits {
        assert!(xml.contains(from), "{from} is not in {xml}");
        xml = xml.replacen(from, to, 1);
    }
    (xml, etag)
}

const TTLS: &str = "<MinTTL>0</MinTTL><DefaultTTL>0</DefaultTTL>";
const NO_HEADERS: &str = "<Headers><Quantity>0</Quantity></Headers>";
const NO_ERRORS: &str = "<CustomErrorResponses><Quantity>0</Quantity></CustomErrorResponses>";

#[test]
fn an_update_applies_live_persists_and_yields_to_a_changed_manifest() {
    let rt = runtime();
    rt.block_on(async {
        let db = tempfile::tempdir().unwrap();
        let store = store(db.path());
        let o = TestOrigin::start().await;
        o.set("/a", Reply::ok(&[], "A"));
        o.set("/k", Reply::ok(&[("cache-control", "max-age=600")], "K"));
        o.set("/missing", Reply::status(404, &[], "nope"));
        o.set("/sorry.html", Reply::ok(&[], "sorry"));
        let manifest = simple("default_ttl = 0");
        let one = edge(&manifest, &o.url);
        one.share_invalidations(store.clone(), "one").unwrap();
        one.load_config(true);
        let two = edge(&manifest, &o.url);
        two.share_invalidations(store.clone(), "two").unwrap();
        two.load_config(true);

        // Before: nothing without Cache-Control is kept; the key ignores X-Variant.
        assert_eq!(send(&one, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
        assert_eq!(send(&one, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
        let v = |x: &'static str| [("x-variant", x)];
        assert_eq!(send(&one, 0, "GET", "/k", &v("1")).await.x_cache(), "Miss");
        assert_eq!(send(&one, 0, "GET", "/k", &v("2")).await.x_cache(), "Hit");
        assert_eq!(send(&one, 0, "GET", "/missing", &[]).await.status, 404);

        let (xml, etag) = edited(
            &one,
            &[
                (TTLS, "<MinTTL>0</MinTTL><DefaultTTL>3600</DefaultTTL>"),
                (
                    NO_HEADERS,
                    "<Headers><Quantity>1</Quantity><Items><Name>X-Variant</Name></Items></Headers>",
                ),
                (
                    NO_ERRORS,
                    "<CustomErrorResponses><Quantity>1</Quantity><Items><CustomErrorResponse><ErrorCode>404</ErrorCode><ResponsePagePath>/sorry.html</ResponsePagePath><ResponseCode>404</ResponseCode><ErrorCachingMinTTL>5</ErrorCachingMinTTL></CustomErrorResponse></Items></CustomErrorResponses>",
                ),
                ("<Comment>from nuvem.toml</Comment>", "<Comment>longer TTLs</Comment>"),
            ],
        );
        assert_eq!(etag, two.distribution_config().1, "one manifest, one ETag");
        assert!(matches!(
            one.update_distribution(None, xml.as_bytes()),
            Err(UpdateError::MissingIfMatch)
        ));
        assert!(matches!(
            one.update_distribution(Some("ESTALE"), xml.as_bytes()),
            Err(UpdateError::PreconditionFailed)
        ));
        one.update_distribution(Some(&etag), xml.as_bytes()).unwrap();
        let (now, new_etag) = one.distribution_config();
        assert_ne!(new_etag, etag, "a new ETag");
        assert!(now.contains("<DefaultTTL>3600</DefaultTTL>"), "{now}");
        assert!(now.contains("<Name>x-variant</Name>"), "{now}");
        assert!(now.contains("<Comment>longer TTLs</Comment>"), "{now}");
        // The same If-Match again is stale now.
        assert!(matches!(
            one.update_distribution(Some(&etag), xml.as_bytes()),
            Err(UpdateError::PreconditionFailed)
        ));

        // After: the default TTL keeps /a; X-Variant splits /k; 404 serves the page.
        assert_eq!(send(&one, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
        assert_eq!(send(&one, 0, "GET", "/a", &[]).await.x_cache(), "Hit");
        assert_eq!(send(&one, 0, "GET", "/k", &v("1")).await.x_cache(), "Miss");
        assert_eq!(send(&one, 0, "GET", "/k", &v("1")).await.x_cache(), "Hit");
        assert_eq!(send(&one, 0, "GET", "/k", &v("2")).await.x_cache(), "Miss");
        let got = send(&one, 0, "GET", "/missing", &[]).await;
        assert_eq!((got.status, &got.body[..]), (404, &b"sorry"[..]));

        // Another node picks it up on the change notice; until then it serves the old one.
        assert_eq!(two.distribution_config().1, etag);
        two.load_config(false);
        assert_eq!(two.distribution_config().1, new_etag);
        // And a stale ETag is refused there too (checked against the store).
        assert!(matches!(
            two.update_distribution(Some(&etag), xml.as_bytes()),
            Err(UpdateError::PreconditionFailed)
        ));

        // A restarted node with the same manifest applies the stored update.
        let again = edge(&manifest, &o.url);
        again.share_invalidations(store.clone(), "again").unwrap();
        again.load_config(true);
        assert_eq!(again.distribution_config().1, new_etag);
        assert_eq!(send(&again, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
        assert_eq!(send(&again, 0, "GET", "/a", &[]).await.x_cache(), "Hit");

        // A node whose manifest changed: the manifest wins, and the stored update is gone.
        let changed = edge(&simple("default_ttl = 5"), &o.url);
        changed.share_invalidations(store.clone(), "changed").unwrap();
        changed.load_config(true);
        let (cfg, _) = changed.distribution_config();
        assert!(cfg.contains("<DefaultTTL>5</DefaultTTL>"), "{cfg}");
        let back = edge(&manifest, &o.url);
        back.share_invalidations(store.clone(), "back").unwrap();
        back.load_config(true);
        assert_eq!(back.distribution_config().1, etag, "the update was dropped");
    });
}

#[test]
fn refused_updates_name_the_problem_and_change_nothing() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        let manifest = format!(
            "[[behaviors]]\npath_pattern = \"/img/*\"\norigin = \"{{origin}}\"\n{}",
            simple("")
        );
        let e = edge(&manifest, &o.url);
        let (_, etag) = e.distribution_config();
        let check = |edits: &[(&str, &str)], code: &str| {
            let (xml, _) = edited(&e, edits);
            match e.update_distribution(Some(&etag), xml.as_bytes()) {
                Err(UpdateError::Refused(r)) => {
                    assert_eq!(r.code, code, "{edits:?}: {}", r.message);
                    assert!(!r.message.is_empty());
                }
                other => panic!("{edits:?}: expected {code}, got {other:?}"),
            }
            assert_eq!(e.distribution_config().1, etag, "{edits:?} changed the config");
        };
        let origin_id = o.url.clone();
        check(&[("<DistributionConfig", "<Distribution"), ("</DistributionConfig>", "</Distribution>")], "MalformedInput");
        check(&[("</DistributionConfig>", "")], "MalformedInput");
        check(&[("<Enabled>true</Enabled>", "<Enabled>false</Enabled>")], "IllegalUpdate");
        check(&[("nuvem-manifest", "other")], "IllegalUpdate");
        check(&[("<PathPattern>/img/*</PathPattern>", "<PathPattern>/pics/*</PathPattern>")], "IllegalUpdate");
        check(
            &[(
                &format!("<TargetOriginId>{origin_id}</TargetOriginId>"),
                "<TargetOriginId>http://elsewhere</TargetOriginId>",
            )],
            "IllegalUpdate",
        );
        check(&[("<Compress>true</Compress>", "<Compress>false</Compress>")], "IllegalUpdate");
        check(&[("<MinTTL>0</MinTTL>", "<MinTTL>90000</MinTTL>")], "InvalidTTLOrder");
        check(&[("<MinTTL>0</MinTTL>", "<MinTTL>soon</MinTTL>")], "InvalidArgument");
        check(&[(NO_HEADERS, "<Headers><Quantity>2</Quantity><Items><Name>A</Name></Items></Headers>")], "InconsistentQuantities");
        check(&[(NO_HEADERS, "<Headers><Quantity>1</Quantity><Items><Name>*</Name></Items></Headers>")], "InvalidArgument");
        check(&[("<Forward>none</Forward>", "<Forward>whitelist</Forward>")], "InvalidForwardCookies");
        check(&[("<FieldLevelEncryptionId>", "<CachePolicyId>nope</CachePolicyId><FieldLevelEncryptionId>")], "NoSuchCachePolicy");
        check(&[("<WebACLId></WebACLId>", "<WebACLId>arn:aws:wafv2:us-east-1:000000000000:global/webacl/x/1</WebACLId>")], "InvalidWebACLId");
        check(
            &[(NO_ERRORS, "<CustomErrorResponses><Quantity>1</Quantity><Items><CustomErrorResponse><ErrorCode>200</ErrorCode></CustomErrorResponse></Items></CustomErrorResponses>")],
            "InvalidErrorCode",
        );
        check(
            &[(NO_ERRORS, "<CustomErrorResponses><Quantity>1</Quantity><Items><CustomErrorResponse><ErrorCode>404</ErrorCode><ResponsePagePath>/x.html</ResponsePagePath></CustomErrorResponse></Items></CustomErrorResponses>")],
            "InvalidResponseCode",
        );
        match e.update_distribution(Some(&etag), b"") {
            Err(UpdateError::Refused(r)) => assert_eq!(r.code, "MissingBody"),
            other => panic!("expected MissingBody, got {other:?}"),
        }
        // A managed cache policy by id: CachingDisabled puts every TTL at 0.
        let (xml, _) = edited(
            &e,
            &[("<FieldLevelEncryptionId>", "<CachePolicyId>4135ea2d-6df8-44a3-9df3-4b5a84be39ad</CachePolicyId><FieldLevelEncryptionId>")],
        );
        e.update_distribution(Some(&etag), xml.as_bytes()).unwrap();
        let (now, _) = e.distribution_config();
        assert!(now.contains("<MinTTL>0</MinTTL><DefaultTTL>0</DefaultTTL><MaxTTL>0</MaxTTL>"), "{now}");
    });
}
