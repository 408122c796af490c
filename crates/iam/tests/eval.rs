//! Policy evaluation, table-driven: one `check` per area, one line per case.

use nuvem_iam::{Context, Decision, Kind, Policy, Principal, Request, evaluate};
use serde_json::json;

const ACCOUNT: &str = "111122223333";

fn user(name: &str) -> Principal {
    Principal::User {
        account: ACCOUNT.into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
    }
}

fn session(role: &str) -> Principal {
    Principal::AssumedRole {
        account: ACCOUNT.into(),
        arn: format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/s1"),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
    }
}

fn identity(statements: serde_json::Value) -> Policy {
    Policy::parse(
        &json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
        Kind::Identity,
    )
    .unwrap()
}

fn resource_policy(statements: serde_json::Value) -> Policy {
    Policy::parse(
        &json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
        Kind::Resource,
    )
    .unwrap()
}

#[track_caller]
fn check(
    policies: &[&Policy],
    resource: Option<&Policy>,
    who: &Principal,
    action: &str,
    arn: &str,
    ctx: &Context,
    expected: Decision,
) {
    let req = Request {
        principal: who,
        action,
        resource: arn,
        context: ctx,
    };
    assert_eq!(
        evaluate(policies, resource, &req).decision,
        expected,
        "{action} on {arn} by {who:?}"
    );
}

const ITEMS: &str = "arn:aws:dynamodb:us-east-1:111122223333:table/items";
const SECRETS: &str = "arn:aws:dynamodb:us-east-1:111122223333:table/secrets";

#[test]
fn actions_resources_and_explicit_deny() {
    use Decision::*;
    let read_items = identity(json!([{
        "Effect": "Allow",
        "Action": ["dynamodb:Get*", "dynamodb:Query"],
        "Resource": "arn:aws:dynamodb:*:*:table/items"
    }]));
    let deny_delete = identity(json!({
        "Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"
    }));
    let all = identity(json!({"Effect": "Allow", "Action": "*", "Resource": "*"}));
    let not_action = identity(json!({
        "Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"
    }));
    let not_resource = identity(json!({
        "Effect": "Allow", "Action": "dynamodb:*", "NotResource": SECRETS
    }));
    let u = user("alice");
    let c = Context::new();
    check(
        &[&read_items],
        None,
        &u,
        "dynamodb:GetItem",
        ITEMS,
        &c,
        Allow,
    );
    check(
        &[&read_items],
        None,
        &u,
        "DynamoDB:getitem",
        ITEMS,
        &c,
        Allow,
    );
    check(
        &[&read_items],
        None,
        &u,
        "dynamodb:PutItem",
        ITEMS,
        &c,
        ImplicitDeny,
    );
    check(
        &[&read_items],
        None,
        &u,
        "dynamodb:GetItem",
        SECRETS,
        &c,
        ImplicitDeny,
    );
    check(
        &[&read_items],
        None,
        &u,
        "dynamodb:GetItem",
        &format!("{ITEMS}/index/byDate"),
        &c,
        ImplicitDeny,
    );
    check(
        &[&all, &deny_delete],
        None,
        &u,
        "dynamodb:DeleteItem",
        ITEMS,
        &c,
        ExplicitDeny,
    );
    check(
        &[&all, &deny_delete],
        None,
        &u,
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        &c,
        Allow,
    );
    check(&[], None, &u, "dynamodb:GetItem", ITEMS, &c, ImplicitDeny);
    check(
        &[&not_action],
        None,
        &u,
        "dynamodb:DeleteTable",
        ITEMS,
        &c,
        ImplicitDeny,
    );
    check(
        &[&not_action],
        None,
        &u,
        "s3:PutObject",
        "arn:aws:s3:::b/k",
        &c,
        Allow,
    );
    check(
        &[&not_resource],
        None,
        &u,
        "dynamodb:PutItem",
        ITEMS,
        &c,
        Allow,
    );
    check(
        &[&not_resource],
        None,
        &u,
        "dynamodb:PutItem",
        SECRETS,
        &c,
        ImplicitDeny,
    );
    // Root needs no policy; only an explicit deny in a resource policy stops it.
    let root = Principal::Root {
        account: ACCOUNT.into(),
    };
    check(&[], None, &root, "dynamodb:DeleteTable", ITEMS, &c, Allow);
    check(
        &[&read_items],
        None,
        &Principal::Anonymous,
        "dynamodb:GetItem",
        ITEMS,
        &c,
        ImplicitDeny,
    );
}

#[test]
fn resource_policies_and_principals() {
    use Decision::*;
    let obj = "arn:aws:s3:::media/photo.jpg";
    let public_read = resource_policy(json!({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::media/*"
    }));
    let to_alice = resource_policy(json!({
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
        "Action": "s3:*", "Resource": ["arn:aws:s3:::media", "arn:aws:s3:::media/*"]
    }));
    let to_account = resource_policy(json!({
        "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "s3:*", "Resource": "*"
    }));
    let to_role = resource_policy(json!({
        "Effect": "Allow",
        "Principal": {"AWS": [format!("arn:aws:iam::{ACCOUNT}:role/reader")]},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::media/*"
    }));
    let deny_all_but_alice = resource_policy(json!([
        {"Effect": "Deny",
         "NotPrincipal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
         "Action": "s3:*", "Resource": "*"}
    ]));
    let service = resource_policy(json!({
        "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": "arn:aws:lambda:us-east-1:111122223333:function:api"
    }));
    let allow_s3 = identity(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}));
    let c = Context::new();
    let (alice, bob) = (user("alice"), user("bob"));
    check(
        &[],
        Some(&public_read),
        &Principal::Anonymous,
        "s3:GetObject",
        obj,
        &c,
        Allow,
    );
    check(
        &[],
        Some(&public_read),
        &Principal::Anonymous,
        "s3:PutObject",
        obj,
        &c,
        ImplicitDeny,
    );
    check(&[], Some(&to_alice), &alice, "s3:PutObject", obj, &c, Allow);
    check(
        &[],
        Some(&to_alice),
        &bob,
        "s3:PutObject",
        obj,
        &c,
        ImplicitDeny,
    );
    // Naming the account delegates to identity policies.
    check(
        &[],
        Some(&to_account),
        &bob,
        "s3:PutObject",
        obj,
        &c,
        ImplicitDeny,
    );
    check(
        &[&allow_s3],
        Some(&to_account),
        &bob,
        "s3:PutObject",
        obj,
        &c,
        Allow,
    );
    // A role principal covers its sessions.
    check(
        &[],
        Some(&to_role),
        &session("reader"),
        "s3:GetObject",
        obj,
        &c,
        Allow,
    );
    check(
        &[],
        Some(&to_role),
        &session("writer"),
        "s3:GetObject",
        obj,
        &c,
        ImplicitDeny,
    );
    // NotPrincipal with Deny: everyone else is denied, even with an identity allow.
    check(
        &[&allow_s3],
        Some(&deny_all_but_alice),
        &bob,
        "s3:GetObject",
        obj,
        &c,
        ExplicitDeny,
    );
    check(
        &[&allow_s3],
        Some(&deny_all_but_alice),
        &alice,
        "s3:GetObject",
        obj,
        &c,
        Allow,
    );
    let root = Principal::Root {
        account: ACCOUNT.into(),
    };
    check(
        &[],
        Some(&deny_all_but_alice),
        &root,
        "s3:GetObject",
        obj,
        &c,
        ExplicitDeny,
    );
    let apigw = Principal::Service {
        name: "apigateway.amazonaws.com".into(),
    };
    let f = "arn:aws:lambda:us-east-1:111122223333:function:api";
    check(
        &[],
        Some(&service),
        &apigw,
        "lambda:InvokeFunction",
        f,
        &c,
        Allow,
    );
    check(
        &[],
        Some(&service),
        &apigw,
        "lambda:InvokeFunction",
        &format!("{f}2"),
        &c,
        ImplicitDeny,
    );
    let other = Principal::Service {
        name: "events.amazonaws.com".into(),
    };
    check(
        &[],
        Some(&service),
        &other,
        "lambda:InvokeFunction",
        f,
        &c,
        ImplicitDeny,
    );
}

/// One condition block against one context: does the Allow statement apply?
#[track_caller]
fn cond(block: serde_json::Value, ctx: &[(&str, &[&str])], expected: bool) {
    let p = identity(json!({
        "Effect": "Allow", "Action": "*", "Resource": "*", "Condition": block
    }));
    let mut c = Context::new();
    for (k, vs) in ctx {
        c.set_all(k, vs.iter().map(|s| s.to_string()));
    }
    let req = Request {
        principal: &user("alice"),
        action: "s3:ListBucket",
        resource: "arn:aws:s3:::b",
        context: &c,
    };
    let got = evaluate(&[&p], None, &req).decision == Decision::Allow;
    assert_eq!(got, expected, "{block} with {ctx:?}");
}

#[test]
fn string_conditions() {
    cond(
        json!({"StringEquals": {"s3:prefix": "home/"}}),
        &[("s3:prefix", &["home/"])],
        true,
    );
    cond(
        json!({"StringEquals": {"s3:prefix": "home/"}}),
        &[("s3:prefix", &["Home/"])],
        false,
    );
    cond(
        json!({"StringEquals": {"S3:Prefix": ["a", "home/"]}}),
        &[("s3:prefix", &["home/"])],
        true,
    );
    cond(json!({"StringEquals": {"s3:prefix": "home/"}}), &[], false);
    cond(
        json!({"StringNotEquals": {"s3:prefix": ["a", "b"]}}),
        &[("s3:prefix", &["c"])],
        true,
    );
    cond(
        json!({"StringNotEquals": {"s3:prefix": ["a", "b"]}}),
        &[("s3:prefix", &["b"])],
        false,
    );
    cond(json!({"StringNotEquals": {"s3:prefix": "a"}}), &[], true);
    cond(
        json!({"StringEqualsIgnoreCase": {"s3:prefix": "HOME/"}}),
        &[("s3:prefix", &["home/"])],
        true,
    );
    cond(
        json!({"StringNotEqualsIgnoreCase": {"s3:prefix": "HOME/"}}),
        &[("s3:prefix", &["home/"])],
        false,
    );
    cond(
        json!({"StringLike": {"s3:prefix": "home/*"}}),
        &[("s3:prefix", &["home/a/b"])],
        true,
    );
    cond(
        json!({"StringLike": {"s3:prefix": "home/?"}}),
        &[("s3:prefix", &["home/ab"])],
        false,
    );
    cond(
        json!({"StringNotLike": {"s3:prefix": "home/*"}}),
        &[("s3:prefix", &["etc/x"])],
        true,
    );
    cond(json!({"StringNotLike": {"s3:prefix": "home/*"}}), &[], true);
    // Policy variables.
    cond(
        json!({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}),
        &[
            ("s3:prefix", &["home/alice/x"]),
            ("aws:username", &["alice"]),
        ],
        true,
    );
    cond(
        json!({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}),
        &[("s3:prefix", &["home/bob/x"]), ("aws:username", &["alice"])],
        false,
    );
    cond(
        json!({"StringLike": {"s3:prefix": "${*}"}}),
        &[("s3:prefix", &["*"])],
        true,
    );
    cond(
        json!({"StringLike": {"s3:prefix": "${*}"}}),
        &[("s3:prefix", &["x"])],
        false,
    );
    // Operators AND, keys AND, values OR.
    cond(
        json!({"StringEquals": {"s3:prefix": "a", "s3:delimiter": "/"}}),
        &[("s3:prefix", &["a"]), ("s3:delimiter", &["/"])],
        true,
    );
    cond(
        json!({"StringEquals": {"s3:prefix": "a", "s3:delimiter": "/"}}),
        &[("s3:prefix", &["a"])],
        false,
    );
    cond(
        json!({"StringEquals": {"s3:prefix": "a"}, "Bool": {"aws:SecureTransport": "true"}}),
        &[("s3:prefix", &["a"]), ("aws:SecureTransport", &["false"])],
        false,
    );
}

#[test]
fn numeric_date_bool_ip_arn_null_conditions() {
    cond(
        json!({"NumericLessThanEquals": {"s3:max-keys": "10"}}),
        &[("s3:max-keys", &["10"])],
        true,
    );
    cond(
        json!({"NumericLessThan": {"s3:max-keys": 10}}),
        &[("s3:max-keys", &["10"])],
        false,
    );
    cond(
        json!({"NumericGreaterThan": {"s3:max-keys": "9.5"}}),
        &[("s3:max-keys", &["10"])],
        true,
    );
    cond(
        json!({"NumericEquals": {"s3:max-keys": "10"}}),
        &[("s3:max-keys", &["ten"])],
        false,
    );
    cond(
        json!({"NumericNotEquals": {"s3:max-keys": "10"}}),
        &[("s3:max-keys", &["11"])],
        true,
    );
    cond(
        json!({"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}),
        &[("aws:CurrentTime", &["2026-12-06T05:00:00Z"])],
        true,
    );
    cond(
        json!({"DateGreaterThan": {"aws:CurrentTime": "2027-01-01"}}),
        &[("aws:CurrentTime", &["2026-12-06T05:00:00Z"])],
        false,
    );
    cond(
        json!({"DateEquals": {"aws:EpochTime": "1798761600"}}),
        &[("aws:EpochTime", &["2027-01-01T00:00:00Z"])],
        true,
    );
    cond(
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        &[("aws:SecureTransport", &["TRUE"])],
        true,
    );
    cond(
        json!({"Bool": {"aws:SecureTransport": true}}),
        &[("aws:SecureTransport", &["false"])],
        false,
    );
    cond(
        json!({"Bool": {"aws:SecureTransport": "false"}}),
        &[],
        false,
    );
    cond(
        json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}),
        &[],
        true,
    );
    cond(
        json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}),
        &[("aws:MultiFactorAuthPresent", &["false"])],
        false,
    );
    cond(
        json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.1.1"]}}),
        &[("aws:SourceIp", &["10.2.3.4"])],
        true,
    );
    cond(
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        &[("aws:SourceIp", &["11.0.0.1"])],
        false,
    );
    cond(
        json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        &[("aws:SourceIp", &["11.0.0.1"])],
        true,
    );
    cond(
        json!({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}),
        &[("aws:SourceIp", &["2001:db8::1"])],
        true,
    );
    cond(
        json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ci-*"}}),
        &[(
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/ci-deploy"],
        )],
        true,
    );
    cond(
        json!({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ci-*"}}),
        &[(
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:user/alice"],
        )],
        true,
    );
    cond(
        json!({"ArnEquals": {"lambda:FunctionArn": "arn:aws:lambda:us-east-1:111122223333:function:f"}}),
        &[(
            "lambda:FunctionArn",
            &["arn:aws:lambda:us-east-1:111122223333:function:g"],
        )],
        false,
    );
    cond(json!({"Null": {"aws:TokenIssueTime": "true"}}), &[], true);
    cond(
        json!({"Null": {"aws:TokenIssueTime": "true"}}),
        &[("aws:TokenIssueTime", &["x"])],
        false,
    );
    cond(
        json!({"Null": {"aws:TokenIssueTime": "false"}}),
        &[("aws:TokenIssueTime", &["x"])],
        true,
    );
    cond(
        json!({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}),
        &[],
        true,
    );
    cond(
        json!({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}),
        &[("s3:x-amz-acl", &["public-read"])],
        false,
    );
}

#[test]
fn multivalued_keys() {
    let attrs = |vs: &'static [&'static str]| [("dynamodb:Attributes", vs)];
    let allowed = json!({"ForAllValues:StringEquals": {"dynamodb:Attributes": ["id", "name"]}});
    cond(allowed.clone(), &attrs(&["id"]), true);
    cond(allowed.clone(), &attrs(&["id", "name"]), true);
    cond(allowed.clone(), &attrs(&["id", "secret"]), false);
    // ForAllValues over a missing key holds (which is why Deny statements pair it with Null).
    cond(allowed, &[], true);
    let any = json!({"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["secret"]}});
    cond(any.clone(), &attrs(&["id", "secret"]), true);
    cond(any.clone(), &attrs(&["id"]), false);
    cond(any, &[], false);
    let leading =
        json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}});
    cond(
        leading.clone(),
        &[
            ("dynamodb:LeadingKeys", &["alice"]),
            ("aws:username", &["alice"]),
        ],
        true,
    );
    cond(
        leading,
        &[
            ("dynamodb:LeadingKeys", &["bob"]),
            ("aws:username", &["alice"]),
        ],
        false,
    );
    cond(
        json!({"ForAllValues:StringNotLike": {"aws:TagKeys": ["secret*"]}}),
        &[("aws:TagKeys", &["team", "env"])],
        true,
    );
    cond(
        json!({"ForAnyValue:StringLike": {"aws:TagKeys": ["secret*"]}}),
        &[("aws:TagKeys", &["team", "secret-x"])],
        true,
    );
}

#[track_caller]
fn malformed(doc: serde_json::Value, kind: Kind, message: &str) {
    let err = Policy::parse(&doc.to_string(), kind).unwrap_err();
    assert!(err.0.contains(message), "{doc}: {err}");
}

#[test]
fn malformed_documents() {
    let st = |s: serde_json::Value| json!({"Version": "2012-10-17", "Statement": s});
    assert!(Policy::parse("{", Kind::Identity).is_err());
    malformed(
        json!({"Version": "2012-10-17"}),
        Kind::Identity,
        "Missing required field Statement",
    );
    malformed(
        json!({"Version": "2099-01-01", "Statement": []}),
        Kind::Identity,
        "valid version",
    );
    malformed(
        st(json!({"Action": "s3:*", "Resource": "*"})),
        Kind::Identity,
        "Effect",
    );
    malformed(
        st(json!({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"})),
        Kind::Identity,
        "Invalid effect",
    );
    malformed(
        st(json!({"Effect": "Allow", "Resource": "*"})),
        Kind::Identity,
        "Action",
    );
    malformed(
        st(json!({"Effect": "Allow", "Action": "s3:*"})),
        Kind::Identity,
        "Resource",
    );
    malformed(
        st(json!({"Effect": "Allow", "Action": "GetObject", "Resource": "*"})),
        Kind::Identity,
        "vendor",
    );
    malformed(
        st(json!({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"})),
        Kind::Identity,
        "should not specify a principal",
    );
    malformed(
        st(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})),
        Kind::Resource,
        "Principal",
    );
    malformed(
        st(json!({"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"})),
        Kind::Identity,
        "both Action and NotAction",
    );
    malformed(
        st(
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringSorta": {"s3:prefix": "a"}}}),
        ),
        Kind::Identity,
        "Invalid Condition type",
    );
    malformed(
        st(
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "s3:*", "Resource": "*"}),
        ),
        Kind::Resource,
        "Invalid principal",
    );
    malformed(
        st(
            json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole", "Resource": "*"}),
        ),
        Kind::Trust,
        "Resource",
    );
    // The 2008 version leaves variables as text.
    let p = Policy::parse(
        &json!({"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:username}"}}).to_string(),
        Kind::Identity,
    )
    .unwrap();
    let mut c = Context::new();
    c.set("aws:username", "alice");
    let req = Request {
        principal: &user("alice"),
        action: "s3:ListBucket",
        resource: "arn:aws:s3:::alice",
        context: &c,
    };
    assert_eq!(evaluate(&[&p], None, &req).decision, Decision::ImplicitDeny);
}
