"""boto3 against nuvem's provisioned capacity and Application Auto Scaling: a bounded load test.

Run by crates/nuvem/tests/e2e/capacity.rs as `python3 autoscaling_boto3.py <endpoint>`, against
a nuvem whose manifest declares table `load` (5 WCU, a global index `by_g` of 5 WCU), table
`auto` (with `autoscaling` in the manifest) and table `ondemand`, with
`[server] dynamodb_burst_secs = 1` and `autoscaling_window_ms = 500`.

1. The API refuses what it must (a function that does not exist, unregistered targets,
   a metric of the wrong dimension, an on-demand table, cron schedules) and shows the
   manifest's targets and policies.
2. Write targets and target tracking policies (50 %) for `load` and `by_g`, through the API.
3. A scheduled action raises the read minimum of `load`: the scaler applies it.
4. Load: ~40 writes/s (each 1 WCU on the table and 1 on the index) with retries off.
   Throttles appear; the scaler raises both capacities; throttles stop.
5. Load ends: both capacities come back down to the minimum.
6. DescribeScalingActivities shows each step with its cause; health shows the counters.
Prints "boto3 autoscaling: ok"; any failure raises. Bounded: about a minute at most.
"""

import json
import sys
import threading
import time
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
no_retries = Config(retries={"total_max_attempts": 1, "mode": "standard"})
ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=no_retries)
aas = boto3.client("application-autoscaling", endpoint_url=endpoint, region_name="us-east-1")
NS = "dynamodb"
TABLE, INDEX = "table/load", "table/load/index/by_g"
T_WRITE, I_WRITE = "dynamodb:table:WriteCapacityUnits", "dynamodb:index:WriteCapacityUnits"
T_READ = "dynamodb:table:ReadCapacityUnits"


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def expect_error(code, fn, contains=None, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response}"
        msg = e.response["Error"].get("Message", "")
        assert contains is None or contains in msg, f"{contains!r} not in {msg!r}"
        return e.response
    raise AssertionError(f"expected {code}, the call succeeded")


def capacities():
    t = ddb.describe_table(TableName="load")["Table"]
    g = t["GlobalSecondaryIndexes"][0]
    return (
        t["ProvisionedThroughput"]["WriteCapacityUnits"],
        g["ProvisionedThroughput"]["WriteCapacityUnits"],
        t["ProvisionedThroughput"]["ReadCapacityUnits"],
    )


def health():
    url = endpoint + "/_nuvem/health"
    creds = boto3.Session().get_credentials()
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(creds, "dynamodb", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, headers=dict(req.headers.items()))
    with urllib.request.urlopen(r) as resp:
        return json.loads(resp.read())


# 1. Refusals, and the manifest's targets.
expect_error(
    "ValidationException",
    aas.register_scalable_target,
    contains="does not exist",
    ServiceNamespace="lambda",
    ResourceId="function:f:live",
    ScalableDimension="lambda:function:ProvisionedConcurrency",
    MinCapacity=1,
    MaxCapacity=5,
)
expect_error(
    "ValidationException",
    aas.register_scalable_target,
    contains="PAY_PER_REQUEST",
    ServiceNamespace=NS,
    ResourceId="table/ondemand",
    ScalableDimension=T_WRITE,
    MinCapacity=1,
    MaxCapacity=5,
)
expect_error(
    "ValidationException",
    aas.register_scalable_target,
    contains="does not exist",
    ServiceNamespace=NS,
    ResourceId="table/nope",
    ScalableDimension=T_WRITE,
    MinCapacity=1,
    MaxCapacity=5,
)
expect_error(
    "ValidationException",
    aas.register_scalable_target,
    ServiceNamespace=NS,
    ResourceId=TABLE,
    ScalableDimension=T_WRITE,
    MinCapacity=10,
    MaxCapacity=5,
)
tracking = lambda metric, target=50.0: {  # noqa: E731
    "TargetValue": target,
    "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
    "ScaleInCooldown": 0,
    "ScaleOutCooldown": 0,
}
expect_error(
    "ObjectNotFoundException",
    aas.put_scaling_policy,
    PolicyName="p",
    ServiceNamespace=NS,
    ResourceId=TABLE,
    ScalableDimension=T_WRITE,
    PolicyType="TargetTrackingScaling",
    TargetTrackingScalingPolicyConfiguration=tracking("DynamoDBWriteCapacityUtilization"),
)
manifest = aas.describe_scalable_targets(ServiceNamespace=NS, ResourceIds=["table/auto"])
dims = sorted(t["ScalableDimension"] for t in manifest["ScalableTargets"])
assert dims == [T_READ, T_WRITE], manifest
assert all(t["MinCapacity"] == 2 and t["MaxCapacity"] == 40 for t in manifest["ScalableTargets"])
policies = aas.describe_scaling_policies(ServiceNamespace=NS, ResourceId="table/auto")
assert len(policies["ScalingPolicies"]) == 2, policies
assert {p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] for p in policies["ScalingPolicies"]} == {60.0}
assert ddb.describe_table(TableName="auto")["Table"]["ProvisionedThroughput"]["WriteCapacityUnits"] == 2

# 2. Targets and policies for the load test.
for resource, dim, metric in [
    (TABLE, T_WRITE, "DynamoDBWriteCapacityUtilization"),
    (INDEX, I_WRITE, "DynamoDBWriteCapacityUtilization"),
]:
    arn = aas.register_scalable_target(
        ServiceNamespace=NS, ResourceId=resource, ScalableDimension=dim, MinCapacity=5, MaxCapacity=200
    )["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/"), arn
    expect_error(
        "ValidationException",
        aas.put_scaling_policy,
        contains="Unsupported metric",
        PolicyName="wrong",
        ServiceNamespace=NS,
        ResourceId=resource,
        ScalableDimension=dim,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=tracking("DynamoDBReadCapacityUtilization"),
    )
    out = aas.put_scaling_policy(
        PolicyName=f"write-{dim}",
        ServiceNamespace=NS,
        ResourceId=resource,
        ScalableDimension=dim,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=tracking("DynamoDBWriteCapacityUtilization"),
    )
    assert out["PolicyARN"].startswith("arn:aws:autoscaling:"), out
    assert len(out["Alarms"]) == 2, out

# 3. A scheduled action raises the read minimum.
aas.register_scalable_target(
    ServiceNamespace=NS, ResourceId=TABLE, ScalableDimension=T_READ, MinCapacity=5, MaxCapacity=50
)
expect_error(
    "ValidationException",
    aas.put_scheduled_action,
    contains="cron",
    ServiceNamespace=NS,
    ScheduledActionName="nightly",
    ResourceId=TABLE,
    ScalableDimension=T_READ,
    Schedule="cron(0 12 * * ? *)",
    ScalableTargetAction={"MinCapacity": 7},
)
at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 2))
aas.put_scheduled_action(
    ServiceNamespace=NS,
    ScheduledActionName="morning",
    ResourceId=TABLE,
    ScalableDimension=T_READ,
    Schedule=f"at({at})",
    ScalableTargetAction={"MinCapacity": 7, "MaxCapacity": 50},
)
actions = aas.describe_scheduled_actions(ServiceNamespace=NS, ResourceId=TABLE)["ScheduledActions"]
assert [a["ScheduledActionName"] for a in actions] == ["morning"], actions
deadline = time.time() + 10
while capacities()[2] != 7:
    assert time.time() < deadline, f"the scheduled action did not raise the read capacity: {capacities()}"
    time.sleep(0.25)
log("scheduled action applied: read capacity 7")

# 4. Load past capacity.
stop = threading.Event()
lock = threading.Lock()
throttles = []  # times of throttled writes
writes = [0]
RATE = 40  # writes per second, all threads together
THREADS = 4


def load(n):
    i = 0
    period = THREADS / RATE
    next_at = time.time()
    while not stop.is_set():
        next_at += period
        try:
            ddb.put_item(
                TableName="load",
                Item={"pk": {"S": f"{n}-{i % 500}"}, "g": {"S": f"g{i % 7}"}, "v": {"N": str(i)}},
            )
            with lock:
                writes[0] += 1
        except ClientError as e:
            code = e.response["Error"]["Code"]
            assert code == "ProvisionedThroughputExceededException", e.response
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            with lock:
                throttles.append(time.time())
        i += 1
        time.sleep(max(0.0, next_at - time.time()))


threads = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(THREADS)]
started = time.time()
for t in threads:
    t.start()
try:
    deadline = started + 35
    calm_since = None
    while True:
        assert time.time() < deadline, f"throttles did not stop: capacities {capacities()}, {len(throttles)} throttles"
        time.sleep(0.5)
        table_w, index_w, _ = capacities()
        with lock:
            recent = [t for t in throttles if t > time.time() - 2.0]
        log(f"table {table_w} WCU, index {index_w} WCU, {len(throttles)} throttles, {len(recent)} in the last 2 s, {writes[0]} writes")
        # Throttles stop once both capacities carry the load.
        if throttles and table_w > 5 and index_w > 5 and not recent:
            calm_since = calm_since or time.time()
            if time.time() - calm_since >= 2.0:
                break
        else:
            calm_since = None
finally:
    stop.set()
    for t in threads:
        t.join()
assert throttles and throttles[0] - started < 10, "throttles never appeared"
peak_table, peak_index, _ = capacities()
assert peak_table >= 40 * 100 / 50 / 2 and peak_index >= 40 * 100 / 50 / 2, capacities()
log(f"load ended after {time.time() - started:.1f}s: table {peak_table}, index {peak_index}")

# 5. Capacity comes back down (15 windows of 0.5 s well below the target).
deadline = time.time() + 25
while capacities()[:2] != (5, 5):
    assert time.time() < deadline, f"capacity did not come back down: {capacities()}"
    time.sleep(0.5)
log("capacity back at the minimum")

# 6. Every step, with its cause.
for resource, dim in [(TABLE, T_WRITE), (INDEX, I_WRITE)]:
    acts = aas.describe_scaling_activities(ServiceNamespace=NS, ResourceId=resource, ScalableDimension=dim)[
        "ScalingActivities"
    ]
    assert all(a["StatusCode"] == "Successful" for a in acts), acts
    outs = [a for a in acts if "AlarmHigh" in a["Cause"]]
    ins = [a for a in acts if "AlarmLow" in a["Cause"]]
    assert outs and ins, acts
    # Newest first: the last step is the scale-in to the minimum.
    assert acts[0] in ins and acts[0]["Description"] == "Setting write capacity units to 5.", acts[0]
    assert "above the target 50%" in outs[-1]["Cause"], outs[-1]
    log(f"{resource}: {len(outs)} scale-outs, {len(ins)} scale-ins")
reads = aas.describe_scaling_activities(ServiceNamespace=NS, ResourceId=TABLE, ScalableDimension=T_READ)
causes = [a["Cause"] for a in reads["ScalingActivities"]]
assert any("scheduled action name morning" in c for c in causes), causes
assert any("below the minimum capacity 7" in c for c in causes), causes
page = aas.describe_scaling_activities(ServiceNamespace=NS, MaxResults=1)
assert len(page["ScalingActivities"]) == 1 and "NextToken" in page, page

h = health()
usage = {(u["table"], u.get("index")): u for u in h["stats"]["dynamodb"]["capacity"]}
assert usage[("load", None)]["write"]["throttled"] > 0, usage
# The table and its index have the same capacity and scale together: which of the two runs
# out first depends on timing, so only the table's count (which an index throttle also
# raises) is certain here; the index's own back-pressure is asserted in capacity.rs.
assert usage[("load", "by_g")]["write"]["consumed"] >= writes[0], usage
assert usage[("load", None)]["write"]["provisioned"] == 5, usage
assert usage[("load", None)]["write"]["consumed"] >= writes[0], usage
scaler = h["stats"]["application-autoscaling"]
assert scaler["recent_activities"], scaler
assert any(t["resource_id"] == TABLE for t in scaler["targets"]), scaler

# Deregistering removes the target's policies; activities stay.
aas.deregister_scalable_target(ServiceNamespace=NS, ResourceId=INDEX, ScalableDimension=I_WRITE)
assert not aas.describe_scaling_policies(ServiceNamespace=NS, ResourceId=INDEX)["ScalingPolicies"]
assert aas.describe_scaling_activities(ServiceNamespace=NS, ResourceId=INDEX)["ScalingActivities"]
expect_error(
    "ObjectNotFoundException",
    aas.deregister_scalable_target,
    ServiceNamespace=NS,
    ResourceId=INDEX,
    ScalableDimension=I_WRITE,
)
print("boto3 autoscaling: ok")
