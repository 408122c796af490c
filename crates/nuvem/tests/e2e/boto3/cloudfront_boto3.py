"""boto3 against nuvem's CloudFront API: find the distribution without knowing its id, read
its config (with the ETag), update it, invalidate through it, and the AWS errors for what is
refused.

Run by crates/nuvem/tests/e2e/edge.rs as `python3 cloudfront_boto3.py <endpoint>`.
Prints "boto3 cloudfront: ok" when every check passed; any failure raises.
"""

import sys
import time

import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
cf = boto3.client("cloudfront", endpoint_url=endpoint, region_name="us-east-1")


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


listing = cf.list_distributions()["DistributionList"]
assert listing["Quantity"] == 1, listing
summary = listing["Items"][0]
dist_id = summary["Id"]
assert dist_id == "EDFDVBD6EXAMPLE", summary
assert summary["Status"] == "Deployed", summary
assert summary["ARN"].endswith(f":distribution/{dist_id}"), summary
assert summary["DefaultCacheBehavior"]["TargetOriginId"].startswith("http://"), summary
patterns = [b["PathPattern"] for b in summary["CacheBehaviors"].get("Items", [])]
assert patterns == ["/images/*"], patterns

got = cf.get_distribution(Id=dist_id)
assert got["ETag"].startswith("E"), got
config = got["Distribution"]["DistributionConfig"]
assert config["Enabled"] is True, config
assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "allow-all", config
images = config["CacheBehaviors"]["Items"][0]
assert images["MinTTL"] == 0 and images["DefaultTTL"] == 3600, images
assert images["ForwardedValues"]["QueryString"] is True, images

cfg = cf.get_distribution_config(Id=dist_id)
assert cfg["ETag"] == got["ETag"], (cfg["ETag"], got["ETag"])
assert cfg["DistributionConfig"] == config

expect_error("NoSuchDistribution", cf.get_distribution, Id="E000000000000")

# UpdateDistribution: a behavior's TTL changes, the ETag moves, a stale or missing one and
# a change of what the manifest decides are refused with CloudFront's errors.
changed = cfg["DistributionConfig"]
changed["CacheBehaviors"]["Items"][0]["DefaultTTL"] = 60
updated = cf.update_distribution(Id=dist_id, IfMatch=cfg["ETag"], DistributionConfig=changed)
assert updated["ETag"] != cfg["ETag"], updated
new_config = cf.get_distribution_config(Id=dist_id)
assert new_config["ETag"] == updated["ETag"], new_config
assert new_config["DistributionConfig"]["CacheBehaviors"]["Items"][0]["DefaultTTL"] == 60
e = expect_error(
    "PreconditionFailed",
    cf.update_distribution,
    Id=dist_id,
    IfMatch=cfg["ETag"],
    DistributionConfig=changed,
)
assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 412, e.response
expect_error(
    "InvalidIfMatchVersion",
    cf.update_distribution,
    Id=dist_id,
    IfMatch="",
    DistributionConfig=changed,
)
moved = new_config["DistributionConfig"]
moved["CacheBehaviors"]["Items"][0]["PathPattern"] = "/pictures/*"
expect_error(
    "IllegalUpdate",
    cf.update_distribution,
    Id=dist_id,
    IfMatch=new_config["ETag"],
    DistributionConfig=moved,
)

inv = cf.create_invalidation(
    DistributionId=dist_id,
    InvalidationBatch={
        "Paths": {"Quantity": 1, "Items": ["/images/*"]},
        "CallerReference": f"boto3-{time.time()}",
    },
)["Invalidation"]
assert inv["Status"] == "Completed", inv
listed = cf.list_invalidations(DistributionId=dist_id)["InvalidationList"]
assert any(i["Id"] == inv["Id"] for i in listed["Items"]), listed

print("boto3 cloudfront: ok")
