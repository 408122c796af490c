//! The WAF inspects request bodies at the edge, through the real binary: how far into a POST
//! body a body rule sees follows the WebACL's
//! `AssociationConfig.RequestBody.CLOUDFRONT.DefaultSizeInspectionLimit` (16 KB by default),
//! and a value AWS does not accept is refused at start. The origin is unreachable, so a
//! request the WAF lets through answers 502 and a blocked one 403.

use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// A WebACL blocking bodies that contain `evil` (past the limit: WAF's CONTINUE, inspect what
/// was read), with `association` spliced in at the top level.
fn web_acl(association: &str) -> String {
    format!(
        r#"{{
  "Name": "body", "DefaultAction": {{ "Allow": {{}} }}, {association}
  "VisibilityConfig": {{ "SampledRequestsEnabled": false, "CloudWatchMetricsEnabled": false, "MetricName": "body" }},
  "Rules": [{{
    "Name": "evil-body", "Priority": 0, "Action": {{ "Block": {{}} }},
    "Statement": {{ "ByteMatchStatement": {{
      "SearchString": "evil", "PositionalConstraint": "CONTAINS",
      "FieldToMatch": {{ "Body": {{ "OversizeHandling": "CONTINUE" }} }},
      "TextTransformations": [{{ "Priority": 0, "Type": "NONE" }}] }} }},
    "VisibilityConfig": {{ "SampledRequestsEnabled": false, "CloudWatchMetricsEnabled": false, "MetricName": "evil" }}
  }}]
}}"#
    )
}

fn limit(value: &str) -> String {
    format!(
        r#""AssociationConfig": {{ "RequestBody": {{ "CLOUDFRONT": {{ "DefaultSizeInspectionLimit": "{value}" }} }} }},"#
    )
}

fn manifest(dir: &std::path::Path, acl: &str) -> String {
    let path = dir.join("waf.json");
    std::fs::write(&path, acl).unwrap();
    format!(
        "[waf]\nweb_acl = {:?}\n\n[[distribution.behaviors]]\npath_pattern = \"default\"\n\
         origin = \"http://127.0.0.1:1\"\nallowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"PATCH\", \"POST\", \"DELETE\"]\n",
        path.display().to_string()
    )
}

/// `evil` after `padding` bytes: blocked (403) or let through to the dead origin (502).
#[track_caller]
fn check(rt: &tokio::runtime::Runtime, n: &Nuvem, padding: usize, status: u16) {
    let body = format!("{}evil", "x".repeat(padding));
    let got = rt.block_on(async {
        crate::meusite::visitor()
            .post(format!("{}/form", n.edge_url))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(got, status, "evil after {padding} bytes");
}

#[test]
fn body_rules_see_as_far_as_the_web_acl_says() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest(dir.path(), &web_acl(""))),
            ..Default::default()
        },
    );
    check(&rt, &n, 0, 403);
    check(&rt, &n, 16 * 1024 - 4, 403);
    check(&rt, &n, 16 * 1024 - 3, 502);
    check(&rt, &n, 20 * 1024, 502);
    drop(n);

    let n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest(dir.path(), &web_acl(&limit("KB_32")))),
            ..Default::default()
        },
    );
    check(&rt, &n, 20 * 1024, 403);
    check(&rt, &n, 32 * 1024 - 4, 403);
    check(&rt, &n, 40 * 1024, 502);
}

#[test]
fn an_inspection_limit_aws_does_not_accept_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nuvem.toml");
    std::fs::write(&path, manifest(dir.path(), &web_acl(&limit("KB_99")))).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["up", "--manifest"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--api-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("DefaultSizeInspectionLimit"), "{err}");
}
