"""boto3 against Application Auto Scaling of Lambda provisioned concurrency: a bounded load test.

Run by crates/nuvem/tests/e2e/capacity.rs as `python3 lambda_autoscaling_boto3.py <endpoint>`
against a nuvem with `[server] autoscaling_window_ms = 500`.

1. A Python function sleeping 0.25 s per invocation, version 1, alias `live`.
2. RegisterScalableTarget `function:slow:live` (min 1, max 6): the scaler provisions 1.
   Refusals: `$LATEST`, a TargetValue outside 0.1..0.9.
3. TargetTrackingScaling on LambdaProvisionedConcurrencyUtilization at 0.5.
4. Load: 3 clients invoking the alias back to back (~3 busy environments): the scaler raises
   the provisioned concurrency above 1.
5. Load ends: it comes back to 1.
6. DescribeScalingActivities shows the steps with their causes.
Prints "boto3 lambda autoscaling: ok"; any failure raises. Bounded: well under a minute.
"""

import io
import sys
import threading
import time
import zipfile

import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
aas = boto3.client("application-autoscaling", endpoint_url=endpoint, region_name="us-east-1")
RESOURCE = "function:slow:live"
DIM = "lambda:function:ProvisionedConcurrency"


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response}"
        return
    raise AssertionError(f"expected {code}, the call succeeded")


def provisioned():
    try:
        c = lam.get_provisioned_concurrency_config(FunctionName="slow", Qualifier="live")
        return c["RequestedProvisionedConcurrentExecutions"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException":
            return 0
        raise


def wait_for(what, pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = provisioned()
        if pred(value):
            log(what, "->", value)
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}: provisioned {provisioned()}")


# 1. The function, a version, an alias.
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "import time\ndef handler(event, context):\n    time.sleep(0.25)\n    return 'ok'\n")
lam.create_function(
    FunctionName="slow",
    Runtime="python3.12",
    Handler="app.handler",
    Role="arn:aws:iam::000000000000:role/lambda",
    Code={"ZipFile": buf.getvalue()},
    Timeout=30,
)
version = lam.publish_version(FunctionName="slow")["Version"]
lam.create_alias(FunctionName="slow", Name="live", FunctionVersion=version)

# 2. The scalable target, and what is refused.
expect_error(
    "ValidationException",
    aas.register_scalable_target,
    ServiceNamespace="lambda",
    ResourceId="function:slow:$LATEST",
    ScalableDimension=DIM,
    MinCapacity=1,
    MaxCapacity=6,
)
aas.register_scalable_target(
    ServiceNamespace="lambda", ResourceId=RESOURCE, ScalableDimension=DIM, MinCapacity=1, MaxCapacity=6
)
wait_for("the minimum provisioned", lambda v: v == 1, 15)

# 3. Target tracking at 0.5 (a ratio, as Lambda's metric is).
tracking = lambda value: {  # noqa: E731
    "TargetValue": value,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"},
    "ScaleOutCooldown": 0,
    "ScaleInCooldown": 0,
}
expect_error(
    "ValidationException",
    aas.put_scaling_policy,
    PolicyName="too-high",
    ServiceNamespace="lambda",
    ResourceId=RESOURCE,
    ScalableDimension=DIM,
    PolicyType="TargetTrackingScaling",
    TargetTrackingScalingPolicyConfiguration=tracking(50.0),
)
aas.put_scaling_policy(
    PolicyName="half",
    ServiceNamespace="lambda",
    ResourceId=RESOURCE,
    ScalableDimension=DIM,
    PolicyType="TargetTrackingScaling",
    TargetTrackingScalingPolicyConfiguration=tracking(0.5),
)

# 4. Load: three clients back to back.
stop = threading.Event()
invokes = [0]


def client():
    c = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
    while not stop.is_set():
        r = c.invoke(FunctionName="slow", Qualifier="live", Payload=b"{}")
        assert r["StatusCode"] == 200, r
        invokes[0] += 1


threads = [threading.Thread(target=client) for _ in range(3)]
for t in threads:
    t.start()
try:
    raised = wait_for("scaled out under load", lambda v: v > 1, 25)
finally:
    stop.set()
    for t in threads:
        t.join()
log("invocations under load:", invokes[0])
assert raised <= 6, raised

# 5. Load ends: back to the minimum.
wait_for("scaled in after the load", lambda v: v == 1, 30)

# 6. The activities say why.
acts = aas.describe_scaling_activities(ServiceNamespace="lambda", ResourceId=RESOURCE)["ScalingActivities"]
causes = [a["Cause"] for a in acts]
log("activities:\n  " + "\n  ".join(causes))
assert any("above the target" in c for c in causes), causes
assert any("below the target" in c for c in causes), causes
assert all(a["StatusCode"] == "Successful" for a in acts), acts
print("boto3 lambda autoscaling: ok")
