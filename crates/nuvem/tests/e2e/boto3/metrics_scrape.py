"""/_nuvem/metrics: who may read it, that the Prometheus client library parses it, and that
its counters move with traffic. Args: the AWS endpoint; env EDGE_URL, METRICS_TOKEN."""
import os
import sys
import urllib.error
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from prometheus_client.parser import text_string_to_metric_families

ep, edge, token = sys.argv[1], os.environ["EDGE_URL"], os.environ["METRICS_TOKEN"]
UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) metrics-e2e"}


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


# Nobody reads it anonymously or with a wrong token.
st, h, _ = get(ep + "/_nuvem/metrics")
assert st == 401 and h.get("WWW-Authenticate", "").startswith("Bearer"), (st, h)
st, _, _ = get(ep + "/_nuvem/metrics", {"Authorization": "Bearer not-the-token-at-all-0000"})
assert st == 403, st


def parse(body):
    samples = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def scrape():
    st, h, body = get(ep + "/_nuvem/metrics", {"Authorization": "Bearer " + token})
    assert st == 200, (st, body)
    assert h["Content-Type"].startswith("text/plain; version=0.0.4"), h
    return parse(body)


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# A SigV4-signed request reads it too (no token needed).
signed = AWSRequest(method="GET", url=ep + "/_nuvem/metrics")
SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(signed)
st, _, body = get(ep + "/_nuvem/metrics", dict(signed.headers.items()))
assert st == 200 and "nuvem_uptime_seconds" in body, (st, body[:300])

before = scrape()
ddb = boto3.client("dynamodb", endpoint_url=ep, region_name="us-east-1")
ddb.create_table(
    TableName="metered",
    KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)
for _ in range(3):
    ddb.get_item(TableName="metered", Key={"k": {"S": "x"}})
try:
    ddb.get_item(TableName="absent", Key={"k": {"S": "x"}})
    raise AssertionError("GetItem on a missing table succeeded")
except ddb.exceptions.ResourceNotFoundException:
    pass

# S3's errors, rendered by s3s, are counted by their S3 error code (a HEAD's too, though its
# answer has no body to carry it).
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1")
s3.create_bucket(Bucket="metered")
for call in (
    lambda: s3.get_object(Bucket="metered", Key="absent"),
    lambda: s3.head_object(Bucket="metered", Key="absent"),
    lambda: s3.get_object(Bucket="no-such-bucket-here", Key="k"),
):
    try:
        call()
        raise AssertionError("an S3 call on a missing object or bucket succeeded")
    except s3.exceptions.ClientError:
        pass

# The edge: a miss, then a hit of the same page and of an image (the `/img/*` behavior); a
# SQL injection the default WebACL blocks.
for _ in range(2):
    for path in ("/page.html", "/img/logo.png"):
        st, _, _ = get(edge + path, UA)
        assert st == 200, st
st, _, _ = get(edge + "/search?q=1%27%20OR%201%3D1--", UA)
assert st == 403, st

# The manifest's function `metered`, through its HTTP API route and through a function URL
# (once throttled: reserved concurrency 0; once failing), not the Invoke API.
port = ep.rsplit(":", 1)[1]
apigw = boto3.client("apigatewayv2", endpoint_url=ep, region_name="us-east-1")
api_id = next(a["ApiId"] for a in apigw.get_apis()["Items"] if a["Name"] == "metered")
st, _, body = get(ep + "/hello", {"Host": f"{api_id}.execute-api.localhost.localstack.cloud:{port}"})
assert (st, body) == (200, "metered /hello"), (st, body)
lam = boto3.client("lambda", endpoint_url=ep, region_name="us-east-1")
url = lam.create_function_url_config(FunctionName="metered", AuthType="NONE")["FunctionUrl"]
lam.add_permission(
    FunctionName="metered",
    StatementId="public-url",
    Action="lambda:InvokeFunctionUrl",
    Principal="*",
    FunctionUrlAuthType="NONE",
)
lam.add_permission(
    FunctionName="metered",
    StatementId="public-url-invoke",
    Action="lambda:InvokeFunction",
    Principal="*",
    InvokedViaFunctionUrl=True,
)
url_host = {"Host": url.split("//", 1)[1].rstrip("/")}
lam.put_function_concurrency(FunctionName="metered", ReservedConcurrentExecutions=0)
st, _, _ = get(ep + "/ok", url_host)
assert st == 429, st
lam.delete_function_concurrency(FunctionName="metered")
st, _, body = get(ep + "/ok", url_host)
assert (st, body) == (200, "metered /ok"), (st, body)
st, _, _ = get(ep + "/fail", url_host)
assert st == 502, st
# A name that is no function mints no series.
try:
    lam.invoke(FunctionName="made-up-function-4711", Payload=b"{}")
    raise AssertionError("invoking a missing function succeeded")
except lam.exceptions.ResourceNotFoundException:
    pass

after = scrape()
d = lambda name, **l: val(after, name, **l) - val(before, name, **l)
assert d("nuvem_api_requests_total", service="dynamodb", operation="GetItem", status="200") == 3, after
assert d("nuvem_api_requests_total", service="dynamodb", operation="GetItem", status="400") == 1
assert d("nuvem_api_errors_total", service="dynamodb", operation="GetItem", code="ResourceNotFoundException") == 1
assert d("nuvem_api_request_duration_seconds_count", service="dynamodb", operation="GetItem") == 4
assert d("nuvem_api_requests_total", service="dynamodb", operation="CreateTable", status="200") == 1
assert d("nuvem_api_errors_total", service="s3", operation="", code="NoSuchKey") == 2, [
    (k, v) for k, v in after.items() if k[0] == "nuvem_api_errors_total"
]
assert d("nuvem_api_errors_total", service="s3", operation="", code="NoSuchBucket") == 1
assert d("nuvem_api_errors_total", service="s3", operation="", code="4xx") == 0
for behavior in ("*", "/img/*"):
    e = lambda name, **l: d(name, location="edge", behavior=behavior, **l)
    assert e("nuvem_edge_requests_total", cache="miss") == 1, (behavior, after)
    assert e("nuvem_edge_requests_total", cache="hit") == 1, behavior
    assert e("nuvem_edge_response_bytes_total", cache="hit") > 0, behavior
    assert e("nuvem_edge_response_duration_seconds_count") == (3 if behavior == "*" else 2)
# The blocked request (x-cache: Error, as CloudFront says) is counted under the behavior its
# path falls to.
assert d("nuvem_edge_requests_total", location="edge", behavior="*", cache="error") == 1, [(k, v) for k, v in after.items() if k[0] == "nuvem_edge_requests_total"]
blocked = sum(
    v - before.get(k, 0.0)
    for k, v in after.items()
    if k[0] == "nuvem_waf_rule_matches_total" and ("action", "block") in k[1]
)
assert blocked == 1, blocked
assert val(after, "nuvem_dynamodb_consumed_capacity_units_total", table="metered", index="", side="read") > 0
assert val(after, "nuvem_storage_reachable", engine="fjall") == 1
assert val(after, "nuvem_listener_accepted_connections_total", listener="edge") >= 3
fn = lambda name, **l: d(name, function="metered", **l)
runs = fn("nuvem_lambda_invocations_total", start="cold") + fn("nuvem_lambda_invocations_total", start="warm")
assert runs == 3, [(k, v) for k, v in after.items() if k[0].startswith("nuvem_lambda")]
assert fn("nuvem_lambda_invocations_total", start="cold") >= 1
assert fn("nuvem_lambda_errors_total") == 1
assert fn("nuvem_lambda_throttles_total") == 1
assert fn("nuvem_lambda_duration_seconds_count") == 3
assert fn("nuvem_lambda_duration_seconds_sum") > 0
assert ("nuvem_lambda_concurrent_executions", (("function", "metered"),)) in after
assert not [k for k in after if "made-up-function-4711" in str(k)]
print("metrics ok")
