//! The wafv2 API at its wire boundary: `WafApi` called as the endpoint calls it (an
//! `AwsRequest` with `X-Amz-Target: AWSWAF_20190729.<Operation>`) over a real store in a temp
//! dir. One `check` per call: the status and the members the response must contain
//! (`"*"` stands for any value that is present).

use std::net::IpAddr;
use std::time::Instant;

use http_body_util::BodyExt;
use nuvem_aws::sigv4::PayloadMode;
use nuvem_aws::{AwsRequest, Caller, RequestId, Service, full_body};
use nuvem_store::{Durability, FjallEngine, Store};
use nuvem_waf::{Scope, SharedWebAcl, WafApi, WafApiConfig};
use serde_json::{Value, json};

fn open(dir: &std::path::Path) -> WafApi {
    let store = Store::new(FjallEngine::open(dir, Durability::Process).expect("engine"));
    let config = WafApiConfig {
        region: "eu-west-1".into(),
        account_id: "000000000000".into(),
    };
    WafApi::open(store, config).expect("open")
}

/// Runs a future whose every step is ready (the API's bodies are in memory).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn call(api: &WafApi, op: &str, input: &Value) -> (u16, Value) {
    let (parts, ()) = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("AWSWAF_20190729.{op}"))
        .body(())
        .expect("request")
        .into_parts();
    let resp = block_on(api.call(AwsRequest {
        parts,
        body: full_body(input.to_string()),
        request_id: RequestId::from_string("REQ1".into()),
        caller: Caller::Anonymous,
        payload: PayloadMode::Unsigned,
    }));
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/x-amz-json-1.1");
    let bytes = block_on(resp.into_body().collect())
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

/// Whether `got` has everything `want` has: objects by member, arrays element by element,
/// `"*"` for any value.
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (_, Value::String(s)) if s == "*" => !got.is_null(),
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|x| contains(x, v))),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(x, y)| contains(x, y))
        }
        _ => got == want,
    }
}

/// Calls `op` and checks the status and the response; returns the response.
#[track_caller]
fn check(api: &WafApi, op: &str, input: Value, status: u16, want: Value) -> Value {
    let (got_status, got) = call(api, op, &input);
    assert!(
        got_status == status && contains(&got, &want),
        "{op} {input}\n  got  {got_status} {got}\n  want {status} {want}"
    );
    got
}

/// The error a failed call must carry.
fn error(code: &str) -> Value {
    json!({"__type": format!("com.amazonaws.wafv2#{code}"), "message": "*"})
}

fn invalid(field: &str, parameter: &str) -> Value {
    json!({"__type": "com.amazonaws.wafv2#WAFInvalidParameterException", "message": "*",
           "Field": field, "Parameter": parameter, "Reason": "*"})
}

fn visibility(name: &str) -> Value {
    json!({"SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": false, "MetricName": name})
}

fn ip_rule(name: &str, priority: u32, arn: &Value) -> Value {
    json!({"Name": name, "Priority": priority, "Action": {"Block": {}},
           "Statement": {"IPSetReferenceStatement": {"ARN": arn}},
           "VisibilityConfig": visibility(name)})
}

fn web_acl(name: &str, rules: Value) -> Value {
    json!({"Name": name, "Scope": "CLOUDFRONT", "DefaultAction": {"Allow": {}},
           "Rules": rules, "VisibilityConfig": visibility(name)})
}

fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().cloned().unwrap_or_default() {
        v[k] = x;
    }
    v
}

#[test]
fn web_acl_lifecycle_and_lock_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let api = open(dir.path());
    let created = check(
        &api,
        "CreateWebACL",
        with(
            web_acl("site", json!([])),
            json!({"Description": "the site"}),
        ),
        200,
        json!({"Summary": {"Name": "site", "Id": "*", "ARN": "*", "LockToken": "*", "Description": "the site"}}),
    );
    let s = &created["Summary"];
    let id = s["Id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(
        s["ARN"],
        format!("arn:aws:wafv2:us-east-1:000000000000:global/webacl/site/{id}")
    );
    let token = s["LockToken"].clone();
    let key = json!({"Name": "site", "Scope": "CLOUDFRONT", "Id": id});

    check(
        &api,
        "CreateWebACL",
        web_acl("site", json!([])),
        400,
        error("WAFDuplicateItemException"),
    );
    let regional = check(
        &api,
        "CreateWebACL",
        with(web_acl("site", json!([])), json!({"Scope": "REGIONAL"})),
        200,
        json!({"Summary": {"Name": "site"}}),
    );
    assert!(
        regional["Summary"]["ARN"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:wafv2:eu-west-1:000000000000:regional/webacl/site/")
    );

    check(
        &api,
        "GetWebACL",
        key.clone(),
        200,
        json!({"LockToken": token, "WebACL": {"Name": "site", "Id": id, "ARN": s["ARN"],
               "DefaultAction": {"Allow": {}}, "Rules": [], "Description": "the site",
               "VisibilityConfig": visibility("site")}}),
    );
    check(
        &api,
        "GetWebACL",
        json!({"ARN": s["ARN"]}),
        200,
        json!({"LockToken": token}),
    );
    check(
        &api,
        "GetWebACL",
        with(key.clone(), json!({"Name": "other"})),
        400,
        error("WAFNonexistentItemException"),
    );

    let update = with(
        web_acl("site", json!([])),
        json!({"Id": id, "DefaultAction": {"Block": {}}}),
    );
    check(
        &api,
        "UpdateWebACL",
        with(update.clone(), json!({"LockToken": "stale"})),
        400,
        error("WAFOptimisticLockException"),
    );
    let next = check(
        &api,
        "UpdateWebACL",
        with(update.clone(), json!({"LockToken": token})),
        200,
        json!({"NextLockToken": "*"}),
    )["NextLockToken"]
        .clone();
    assert_ne!(next, token);
    check(
        &api,
        "GetWebACL",
        key.clone(),
        200,
        json!({"LockToken": next, "WebACL": {"DefaultAction": {"Block": {}}}}),
    );
    // The token an update consumed is stale now.
    check(
        &api,
        "UpdateWebACL",
        with(update, json!({"LockToken": token})),
        400,
        error("WAFOptimisticLockException"),
    );

    check(
        &api,
        "CreateWebACL",
        web_acl("blog", json!([])),
        200,
        json!({}),
    );
    check(
        &api,
        "ListWebACLs",
        json!({"Scope": "CLOUDFRONT"}),
        200,
        json!({"WebACLs": [{"Name": "blog"}, {"Name": "site", "LockToken": next}]}),
    );
    check(
        &api,
        "ListWebACLs",
        json!({"Scope": "CLOUDFRONT", "Limit": 1}),
        200,
        json!({"WebACLs": [{"Name": "blog"}], "NextMarker": "site"}),
    );
    check(
        &api,
        "ListWebACLs",
        json!({"Scope": "CLOUDFRONT", "Limit": 1, "NextMarker": "site"}),
        200,
        json!({"WebACLs": [{"Name": "site"}]}),
    );

    check(
        &api,
        "DeleteWebACL",
        with(key.clone(), json!({"LockToken": token})),
        400,
        error("WAFOptimisticLockException"),
    );
    check(
        &api,
        "DeleteWebACL",
        with(key.clone(), json!({"LockToken": next})),
        200,
        json!({}),
    );
    check(
        &api,
        "GetWebACL",
        key,
        400,
        error("WAFNonexistentItemException"),
    );
}

#[test]
fn invalid_input_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let api = open(dir.path());
    let rule = |name: &str, priority: u32| {
        json!({"Name": name, "Priority": priority, "Action": {"Block": {}},
               "Statement": {"ByteMatchStatement": {"SearchString": "x", "PositionalConstraint": "CONTAINS",
                   "FieldToMatch": {"UriPath": {}}, "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}},
               "VisibilityConfig": visibility(name)})
    };
    check(
        &api,
        "CreateWebACL",
        web_acl("dup", json!([rule("a", 1), rule("b", 1)])),
        400,
        invalid("RULE", "Rules[1].Priority"),
    );
    check(
        &api,
        "CreateWebACL",
        web_acl("bad name!", json!([])),
        400,
        invalid("WEB_ACL", "Name"),
    );
    check(
        &api,
        "CreateWebACL",
        with(web_acl("s", json!([])), json!({"Scope": "EVERYWHERE"})),
        400,
        invalid("SCOPE_VALUE", "Scope"),
    );
    check(
        &api,
        "CreateIPSet",
        json!({"Name": "ips", "Scope": "CLOUDFRONT", "IPAddressVersion": "IPV4", "Addresses": ["10.0.0.1"]}),
        400,
        invalid("IP_ADDRESS", "Addresses[0]"),
    );
    check(
        &api,
        "CreateIPSet",
        json!({"Name": "ips", "Scope": "CLOUDFRONT", "IPAddressVersion": "IPV4", "Addresses": ["10.0.0.0/8", "2001:db8::/32"]}),
        400,
        invalid("IP_ADDRESS", "Addresses[1]"),
    );
    check(
        &api,
        "CreateRegexPatternSet",
        json!({"Name": "re", "Scope": "CLOUDFRONT", "RegularExpressionList": [{"RegexString": "a("}]}),
        400,
        invalid("REGEX_PATTERN_SET", "RegularExpressionList[0].RegexString"),
    );
    check(
        &api,
        "CreateWebACL",
        web_acl(
            "refs",
            json!([ip_rule(
                "r",
                0,
                &json!("arn:aws:wafv2:us-east-1:000000000000:global/ipset/none/x")
            )]),
        ),
        400,
        error("WAFNonexistentItemException"),
    );
    check(
        &api,
        "Frobnicate",
        json!({}),
        400,
        error("UnknownOperationException"),
    );
    // Nothing was stored by the failed calls.
    check(
        &api,
        "ListWebACLs",
        json!({"Scope": "CLOUDFRONT"}),
        200,
        json!({"WebACLs": []}),
    );
    check(
        &api,
        "ListIPSets",
        json!({"Scope": "CLOUDFRONT"}),
        200,
        json!({"IPSets": []}),
    );
}

#[test]
fn sets_referenced_by_a_web_acl() {
    let dir = tempfile::tempdir().unwrap();
    let api = open(dir.path());
    let ips = check(
        &api,
        "CreateIPSet",
        json!({"Name": "office", "Scope": "CLOUDFRONT", "IPAddressVersion": "IPV4", "Addresses": ["192.0.2.0/24"]}),
        200,
        json!({"Summary": {"Name": "office", "ARN": "*"}}),
    )["Summary"]
        .clone();
    assert!(
        ips["ARN"]
            .as_str()
            .unwrap()
            .contains(":global/ipset/office/")
    );
    let re = check(
        &api,
        "CreateRegexPatternSet",
        json!({"Name": "bots", "Scope": "CLOUDFRONT", "RegularExpressionList": [{"RegexString": "^curl/"}]}),
        200,
        json!({"Summary": {"Name": "bots"}}),
    )["Summary"]
        .clone();
    check(
        &api,
        "GetRegexPatternSet",
        json!({"Name": "bots", "Scope": "CLOUDFRONT", "Id": re["Id"]}),
        200,
        json!({"RegexPatternSet": {"RegularExpressionList": [{"RegexString": "^curl/"}]}, "LockToken": re["LockToken"]}),
    );
    // An IP set of another scope is not visible to a CLOUDFRONT WebACL.
    check(
        &api,
        "CreateIPSet",
        json!({"Name": "office", "Scope": "REGIONAL", "IPAddressVersion": "IPV6", "Addresses": ["2001:db8::/32"]}),
        200,
        json!({}),
    );
    let rules = json!([
        ip_rule("office", 0, &ips["ARN"]),
        {"Name": "bots", "Priority": 1, "Action": {"Block": {}},
         "Statement": {"RegexPatternSetReferenceStatement": {"ARN": re["ARN"],
             "FieldToMatch": {"SingleHeader": {"Name": "user-agent"}},
             "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}},
         "VisibilityConfig": visibility("bots")}
    ]);
    let acl =
        check(&api, "CreateWebACL", web_acl("site", rules), 200, json!({}))["Summary"].clone();

    let ip_key = json!({"Name": "office", "Scope": "CLOUDFRONT", "Id": ips["Id"], "LockToken": ips["LockToken"]});
    check(
        &api,
        "DeleteIPSet",
        ip_key.clone(),
        400,
        error("WAFAssociatedItemException"),
    );
    let re_key = json!({"Name": "bots", "Scope": "CLOUDFRONT", "Id": re["Id"], "LockToken": re["LockToken"]});
    check(
        &api,
        "DeleteRegexPatternSet",
        re_key.clone(),
        400,
        error("WAFAssociatedItemException"),
    );
    let next = check(
        &api,
        "UpdateIPSet",
        with(
            ip_key.clone(),
            json!({"Addresses": ["192.0.2.0/24", "198.51.100.7/32"]}),
        ),
        200,
        json!({"NextLockToken": "*"}),
    )["NextLockToken"]
        .clone();
    check(
        &api,
        "GetIPSet",
        json!({"Name": "office", "Scope": "CLOUDFRONT", "Id": ips["Id"]}),
        200,
        json!({"IPSet": {"IPAddressVersion": "IPV4", "Addresses": ["192.0.2.0/24", "198.51.100.7/32"]}, "LockToken": next}),
    );

    check(
        &api,
        "DeleteWebACL",
        json!({"Name": "site", "Scope": "CLOUDFRONT", "Id": acl["Id"], "LockToken": acl["LockToken"]}),
        200,
        json!({}),
    );
    check(
        &api,
        "DeleteIPSet",
        ip_key,
        400,
        error("WAFOptimisticLockException"),
    );
    check(
        &api,
        "DeleteIPSet",
        json!({"Name": "office", "Scope": "CLOUDFRONT", "Id": ips["Id"], "LockToken": next}),
        200,
        json!({}),
    );
    check(&api, "DeleteRegexPatternSet", re_key, 200, json!({}));
    check(
        &api,
        "ListIPSets",
        json!({"Scope": "REGIONAL"}),
        200,
        json!({"IPSets": [{"Name": "office"}]}),
    );
    check(
        &api,
        "ListAvailableManagedRuleGroups",
        json!({"Scope": "CLOUDFRONT"}),
        200,
        json!({"ManagedRuleGroups": nuvem_waf::MANAGED_RULE_GROUPS.iter()
            .map(|n| json!({"VendorName": "AWS", "Name": n})).collect::<Vec<_>>()}),
    );
}

fn blocked(acl: &SharedWebAcl, ip: &str) -> bool {
    let headers: [(&str, &[u8]); 1] = [("user-agent", b"test")];
    let req = nuvem_waf::Request {
        method: "GET",
        path: "/page",
        query: "",
        headers: &headers,
        body: b"",
        body_oversize: false,
        client_ip: ip.parse::<IpAddr>().unwrap(),
        at: Instant::now(),
    };
    acl.evaluate(&req).is_blocked()
}

/// The WebACL a resource uses (the manifest's) is registered under its name, follows
/// UpdateWebACL and set updates live, samples what it matched, and keeps its Id (with the
/// caller's JSON winning) across a restart, while API-created sets persist.
#[test]
fn live_web_acl_follows_updates_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_acl = web_acl("dist", json!([])).to_string();
    let (id, ips_id) = {
        let api = open(dir.path());
        let live = api
            .attach(Scope::Cloudfront, &manifest_acl)
            .expect("attach");
        assert!(!blocked(&live, "127.0.0.1"));
        let listed = check(
            &api,
            "ListWebACLs",
            json!({"Scope": "CLOUDFRONT"}),
            200,
            json!({"WebACLs": [{"Name": "dist"}]}),
        );
        let acl = listed["WebACLs"][0].clone();
        let ips = check(
            &api,
            "CreateIPSet",
            json!({"Name": "deny", "Scope": "CLOUDFRONT", "IPAddressVersion": "IPV4", "Addresses": ["203.0.113.0/24"]}),
            200,
            json!({}),
        )["Summary"]
            .clone();
        let got = check(
            &api,
            "GetWebACL",
            json!({"Name": "dist", "Scope": "CLOUDFRONT", "Id": acl["Id"]}),
            200,
            json!({}),
        );
        let mut update = got["WebACL"].clone();
        update["Rules"] = json!([ip_rule("deny-ips", 0, &ips["ARN"])]);
        update["Scope"] = json!("CLOUDFRONT");
        update["LockToken"] = got["LockToken"].clone();
        check(
            &api,
            "UpdateWebACL",
            update,
            200,
            json!({"NextLockToken": "*"}),
        );
        assert!(!blocked(&live, "127.0.0.1"));
        assert!(
            blocked(&live, "203.0.113.9"),
            "UpdateWebACL applies to the live WebACL"
        );

        // Updating the set recompiles the live WebACL that references it.
        check(
            &api,
            "UpdateIPSet",
            json!({"Name": "deny", "Scope": "CLOUDFRONT", "Id": ips["Id"], "LockToken": ips["LockToken"],
                   "Addresses": ["127.0.0.1/32"]}),
            200,
            json!({}),
        );
        assert!(
            blocked(&live, "127.0.0.1"),
            "the set update reached the live WebACL"
        );
        assert!(!blocked(&live, "203.0.113.9"));

        let window = json!({"StartTime": 0, "EndTime": 4_000_000_000u64});
        let query = |metric: &str| {
            json!({"WebAclArn": acl["ARN"], "Scope": "CLOUDFRONT", "RuleMetricName": metric,
                   "TimeWindow": window, "MaxItems": 100})
        };
        check(
            &api,
            "GetSampledRequests",
            query("deny-ips"),
            200,
            json!({"PopulationSize": 1, "TimeWindow": window, "SampledRequests": [{
                "Request": {"ClientIP": "127.0.0.1", "URI": "/page", "Method": "GET",
                            "Headers": [{"Name": "user-agent", "Value": "test"}]},
                "Weight": 1, "Timestamp": "*", "Action": "BLOCK", "Labels": []}]}),
        );
        check(
            &api,
            "GetSampledRequests",
            query("dist"),
            200,
            json!({"PopulationSize": 1}),
        );
        check(
            &api,
            "GetSampledRequests",
            query("other-rule"),
            200,
            json!({"PopulationSize": 0}),
        );

        let current = check(
            &api,
            "GetWebACL",
            json!({"Name": "dist", "Scope": "CLOUDFRONT", "Id": acl["Id"]}),
            200,
            json!({}),
        );
        check(
            &api,
            "DeleteWebACL",
            json!({"Name": "dist", "Scope": "CLOUDFRONT", "Id": acl["Id"], "LockToken": current["LockToken"]}),
            400,
            error("WAFAssociatedItemException"),
        );
        (acl["Id"].clone(), ips["Id"].clone())
    };

    // A restart: the same store, the manifest's WebACL registered again.
    let api = open(dir.path());
    let live = api
        .attach(Scope::Cloudfront, &manifest_acl)
        .expect("attach");
    assert!(!blocked(&live, "127.0.0.1"), "the manifest wins at start");
    check(
        &api,
        "ListWebACLs",
        json!({"Scope": "CLOUDFRONT"}),
        200,
        json!({"WebACLs": [{"Name": "dist", "Id": id}]}),
    );
    check(
        &api,
        "GetIPSet",
        json!({"Name": "deny", "Scope": "CLOUDFRONT", "Id": ips_id}),
        200,
        json!({"IPSet": {"Addresses": ["127.0.0.1/32"]}}),
    );
}

/// Two nodes on one store: UpdateWebACL on one reaches the other's live WebACL on the change
/// notice (`WafApi::follow`), and only then.
#[test]
fn another_nodes_update_reaches_the_live_web_acl() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).expect("engine"));
    let watcher = nuvem_store::cluster::Watcher::new(store.clone());
    watcher.poll().unwrap();
    let node = || WafApi::open(store.clone(), WafApiConfig::default()).expect("open");
    let (one, two) = (node(), node());
    two.follow(&watcher);
    let manifest_acl = web_acl("dist", json!([])).to_string();
    one.attach(Scope::Cloudfront, &manifest_acl)
        .expect("attach");
    let live_two = two
        .attach(Scope::Cloudfront, &manifest_acl)
        .expect("attach");
    watcher.poll().unwrap();

    let ips = check(
        &one,
        "CreateIPSet",
        json!({"Name": "deny", "Scope": "CLOUDFRONT", "IPAddressVersion": "IPV4", "Addresses": ["203.0.113.0/24"]}),
        200,
        json!({}),
    )["Summary"]
        .clone();
    let acl = check(
        &one,
        "ListWebACLs",
        json!({"Scope": "CLOUDFRONT"}),
        200,
        json!({}),
    )["WebACLs"][0]
        .clone();
    let got = check(
        &one,
        "GetWebACL",
        json!({"Name": "dist", "Scope": "CLOUDFRONT", "Id": acl["Id"]}),
        200,
        json!({}),
    );
    let mut update = got["WebACL"].clone();
    update["Rules"] = json!([ip_rule("deny-ips", 0, &ips["ARN"])]);
    update["Scope"] = json!("CLOUDFRONT");
    update["LockToken"] = got["LockToken"].clone();
    check(&one, "UpdateWebACL", update, 200, json!({}));
    assert!(
        !blocked(&live_two, "203.0.113.9"),
        "not before the change notice"
    );
    assert_eq!(watcher.poll().unwrap(), ["waf/resources"]);
    assert!(blocked(&live_two, "203.0.113.9"), "after it");

    // A set updated on one node reaches the other's WebACL the same way.
    let ips = check(
        &one,
        "GetIPSet",
        json!({"Name": "deny", "Scope": "CLOUDFRONT", "Id": ips["Id"]}),
        200,
        json!({}),
    );
    check(
        &one,
        "UpdateIPSet",
        json!({"Name": "deny", "Scope": "CLOUDFRONT", "Id": ips["IPSet"]["Id"],
               "LockToken": ips["LockToken"], "Addresses": ["127.0.0.1/32"]}),
        200,
        json!({}),
    );
    watcher.poll().unwrap();
    assert!(blocked(&live_two, "127.0.0.1"));
    assert!(!blocked(&live_two, "203.0.113.9"));
}
