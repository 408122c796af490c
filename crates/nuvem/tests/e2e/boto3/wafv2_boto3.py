"""boto3 against nuvem's wafv2 API and the edge it protects.

Run by crates/nuvem/tests/e2e/waf_api.rs as `python3 wafv2_boto3.py <endpoint> <edge> <phase>`.
Phase `live`: the distribution's WebACL is listed; an IP set is created; UpdateWebACL makes the
WebACL block it (127.0.0.1/32), which turns the edge's 200 into a 403 at once; GetSampledRequests
shows the blocked request. Phase `restarted`: the IP set is still there, and the manifest's
WebACL is back on the edge (200). Prints "boto3 wafv2 <phase>: ok"; any failure raises.
"""

import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3
from botocore.exceptions import ClientError

endpoint, edge, phase = sys.argv[1], sys.argv[2], sys.argv[3]
waf = boto3.client("wafv2", endpoint_url=endpoint, region_name="us-east-1")
CF = "CLOUDFRONT"


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response}"
        return e.response
    raise AssertionError(f"expected {code}, the call succeeded")


def get(path):
    try:
        with urllib.request.urlopen(edge + path) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def distribution_acl():
    acls = waf.list_web_acls(Scope=CF)["WebACLs"]
    assert [a["Name"] for a in acls] == ["nuvem-default"], acls
    return acls[0]


if phase == "live":
    summary = distribution_acl()
    assert len(summary["Id"]) == 36, summary
    assert summary["ARN"].startswith("arn:aws:wafv2:us-east-1:000000000000:global/webacl/nuvem-default/"), summary
    assert get("/index.html") == 200

    ip_set = waf.create_ip_set(
        Name="blocked", Scope=CF, IPAddressVersion="IPV4", Addresses=["127.0.0.1/32"],
        Description="loopback",
    )["Summary"]
    expect_error(
        "WAFDuplicateItemException", waf.create_ip_set,
        Name="blocked", Scope=CF, IPAddressVersion="IPV4", Addresses=[],
    )
    bad = expect_error(
        "WAFInvalidParameterException", waf.create_ip_set,
        Name="bad", Scope=CF, IPAddressVersion="IPV4", Addresses=["300.0.0.1/32"],
    )
    assert bad["Field"] == "IP_ADDRESS" and bad["Parameter"] == "Addresses[0]", bad

    got = waf.get_web_acl(Name=summary["Name"], Scope=CF, Id=summary["Id"])
    acl, token = got["WebACL"], got["LockToken"]
    rules = [{
        "Name": "block-listed-ips", "Priority": 0, "Action": {"Block": {}},
        "Statement": {"IPSetReferenceStatement": {"ARN": ip_set["ARN"]}},
        "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": False,
                             "MetricName": "block-listed-ips"},
    }] + acl["Rules"]
    update = dict(
        Name=acl["Name"], Scope=CF, Id=acl["Id"], DefaultAction=acl["DefaultAction"],
        Rules=rules, VisibilityConfig=acl["VisibilityConfig"],
    )
    expect_error("WAFOptimisticLockException", waf.update_web_acl, LockToken="0" * 36, **update)
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    next_token = waf.update_web_acl(LockToken=token, **update)["NextLockToken"]
    assert next_token != token
    assert waf.get_web_acl(Name=acl["Name"], Scope=CF, Id=acl["Id"])["LockToken"] == next_token

    # No restart: the next request meets the updated WebACL.
    assert get("/index.html") == 403

    sampled = waf.get_sampled_requests(
        WebAclArn=acl["ARN"], RuleMetricName="block-listed-ips", Scope=CF,
        TimeWindow={"StartTime": since, "EndTime": datetime.now(timezone.utc) + timedelta(minutes=1)},
        MaxItems=100,
    )
    reqs = sampled["SampledRequests"]
    assert sampled["PopulationSize"] >= 1 and reqs, sampled
    r = reqs[-1]
    assert r["Action"] == "BLOCK", r
    assert r["Request"]["ClientIP"] == "127.0.0.1", r
    assert r["Request"]["URI"] == "/index.html", r
    assert r["Request"]["Method"] == "GET", r
    assert any(h["Name"].lower() == "user-agent" for h in r["Request"]["Headers"]), r
    assert abs(r["Timestamp"].timestamp() - time.time()) < 120, r

    expect_error(
        "WAFAssociatedItemException", waf.delete_ip_set,
        Name="blocked", Scope=CF, Id=ip_set["Id"], LockToken=ip_set["LockToken"],
    )
    groups = waf.list_available_managed_rule_groups(Scope=CF)["ManagedRuleGroups"]
    assert "AWSManagedRulesCommonRuleSet" in [g["Name"] for g in groups], groups
elif phase == "restarted":
    sets = waf.list_ip_sets(Scope=CF)["IPSets"]
    assert [s["Name"] for s in sets] == ["blocked"], sets
    got = waf.get_ip_set(Name="blocked", Scope=CF, Id=sets[0]["Id"])["IPSet"]
    assert got["Addresses"] == ["127.0.0.1/32"] and got["Description"] == "loopback", got
    distribution_acl()
    # The manifest's WebACL (nuvem's default) is what the edge enforces after a start.
    assert get("/index.html") == 200
else:
    raise SystemExit(f"unknown phase {phase}")

print(f"boto3 wafv2 {phase}: ok")
