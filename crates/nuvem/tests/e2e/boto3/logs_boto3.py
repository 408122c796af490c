"""boto3's `logs` client against nuvem, with a function's logs in it.

Run by crates/nuvem/tests/e2e/logs.rs as `python3 logs_boto3.py <endpoint>`. Creates the Python
function `logs-fn` (which prints a line per invocation), invokes it (Tail still answers the
invocation's log), then finds its START/END/REPORT and printed lines in FilterLogEvents and
GetLogEvents within two seconds; checks GetLogEvents' tokens (the same forward token at the
end), DescribeLogStreams' order, PutLogEvents' rejected events, retention values, the
paginators. Prints "boto3 logs: ok"; any failure raises.
"""

import base64
import io
import json
import sys
import time
import zipfile

import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
logs = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1")
lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
GROUP = "/aws/lambda/logs-fn"


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response}"
        return e.response["Error"]["Message"]
    raise AssertionError(f"expected {code}, the call succeeded")


buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr(
        "app.py",
        "def handler(event, context):\n"
        "    print(f\"handled {event['n']}\")\n"
        "    return {'n': event['n']}\n",
    )
lam.create_function(
    FunctionName="logs-fn",
    Runtime="python3.12",
    Handler="app.handler",
    Role="arn:aws:iam::000000000000:role/lambda",
    Code={"ZipFile": buf.getvalue()},
)
out = lam.invoke(FunctionName="logs-fn", Payload=json.dumps({"n": 1}), LogType="Tail")
tail = base64.b64decode(out["LogResult"]).decode()
assert "START RequestId: " in tail and "REPORT RequestId: " in tail, tail
assert "handled 1" in tail, tail
request_id = out["ResponseMetadata"]["RequestId"]

# The invocation's lines are in the group within two seconds (written asynchronously, as
# Lambda's are: until the first round lands, the group does not exist yet).
deadline = time.time() + 2
while True:
    try:
        got = logs.filter_log_events(logGroupName=GROUP)
    except logs.exceptions.ResourceNotFoundException:
        if time.time() > deadline:
            raise
        time.sleep(0.05)
        continue
    messages = [e["message"] for e in got["events"]]
    if any(m.startswith("REPORT") for m in messages) or time.time() > deadline:
        break
    time.sleep(0.05)
start = [m for m in messages if m.startswith("START ")]
assert start == [f"START RequestId: {request_id} Version: $LATEST\n"], messages
assert "handled 1\n" in messages, messages
assert f"END RequestId: {request_id}\n" in messages, messages
report = [m for m in messages if m.startswith("REPORT ")]
assert len(report) == 1 and report[0].startswith(f"REPORT RequestId: {request_id}\tDuration: "), report
for part in ["\tBilled Duration: ", "\tMemory Size: 128 MB\t", "\tMax Memory Used: ", "\tInit Duration: "]:
    assert part in report[0], report
assert messages.index(start[0]) < messages.index("handled 1\n") < messages.index(f"END RequestId: {request_id}\n")
assert all(e["logStreamName"] == got["events"][0]["logStreamName"] for e in got["events"])

# The group and its stream as Lambda names them.
groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
assert [g["logGroupName"] for g in groups] == [GROUP], groups
assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:*"
streams = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", descending=True)["logStreams"]
assert len(streams) == 1, streams
stream = streams[0]["logStreamName"]
date, version_id = stream.rsplit("/", 1)
assert time.strftime("%Y/%m/%d", time.gmtime()) == date, stream
assert version_id.startswith("[$LATEST]") and len(version_id) == len("[$LATEST]") + 32, stream

# A warm invocation: same environment, same stream; no Init Duration.
lam.invoke(FunctionName="logs-fn", Payload=json.dumps({"n": 2}))
deadline = time.time() + 2
while True:
    page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    messages = [e["message"] for e in page["events"]]
    if "handled 2\n" in messages and sum(m.startswith("REPORT") for m in messages) == 2:
        break
    assert time.time() < deadline, messages
    time.sleep(0.05)
assert "Init Duration" not in [m for m in messages if m.startswith("REPORT")][1]
# At the end of the stream the same forward token comes back.
again = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken=page["nextForwardToken"], startFromHead=True)
assert again["events"] == [] and again["nextForwardToken"] == page["nextForwardToken"], again
older = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken=again["nextBackwardToken"], limit=2)
assert [e["message"] for e in older["events"]] == messages[-2:], older

# A filter pattern over the group, and the paginator.
hits = logs.filter_log_events(logGroupName=GROUP, filterPattern="?handled ?nothing -2")
assert [e["message"] for e in hits["events"]] == ["handled 1\n"], hits
pages = logs.get_paginator("filter_log_events").paginate(logGroupName=GROUP, PaginationConfig={"PageSize": 1})
assert [e["message"] for p in pages for e in p["events"]] == messages

# Writing a group of one's own.
logs.create_log_group(logGroupName="app", tags={"team": "web"})
logs.create_log_stream(logGroupName="app", logStreamName="s")
now = int(time.time() * 1000)
put = logs.put_log_events(
    logGroupName="app",
    logStreamName="s",
    logEvents=[
        {"timestamp": now - 15 * 86400000, "message": "too old"},
        {"timestamp": now, "message": "kept"},
        {"timestamp": now + 3 * 3600000, "message": "too new"},
    ],
)
assert put["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 2}, put
kept = logs.get_log_events(logGroupName="app", logStreamName="s")
assert [e["message"] for e in kept["events"]] == ["kept"], kept
msg = expect_error(
    "InvalidParameterException",
    logs.put_log_events,
    logGroupName="app",
    logStreamName="s",
    logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}],
)
assert "chronological" in msg, msg
expect_error("ResourceNotFoundException", logs.put_log_events, logGroupName="app", logStreamName="none", logEvents=[{"timestamp": now, "message": "x"}])
expect_error("ResourceAlreadyExistsException", logs.create_log_group, logGroupName="app")

# Retention: AWS's values only.
msg = expect_error("InvalidParameterException", logs.put_retention_policy, logGroupName="app", retentionInDays=2)
assert "enum value set" in msg, msg
logs.put_retention_policy(logGroupName="app", retentionInDays=7)
app = logs.describe_log_groups(logGroupNamePrefix="app")["logGroups"][0]
assert app["retentionInDays"] == 7, app
logs.delete_retention_policy(logGroupName="app")
assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix="app")["logGroups"][0]
assert logs.list_tags_for_resource(resourceArn="arn:aws:logs:us-east-1:000000000000:log-group:app")["tags"] == {"team": "web"}
logs.delete_log_group(logGroupName="app")
expect_error("ResourceNotFoundException", logs.describe_log_streams, logGroupName="app")

print("boto3 logs: ok")
