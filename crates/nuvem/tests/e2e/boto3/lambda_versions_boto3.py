"""boto3 against nuvem's Lambda versions and aliases.

Run by crates/nuvem/tests/e2e/functions_versions.rs as `python3 lambda_versions_boto3.py
<endpoint>`: creates a Python function from a zip, publishes version 1, updates the code and
publishes version 2, points an alias at version 1, and checks what runs (payload and
ExecutedVersion) by alias, by version and as $LATEST. Prints "boto3 lambda versions: ok";
any failure raises.
"""

import io
import json
import sys
import zipfile

import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")


def package(v):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            "app.py",
            "import os\n"
            "def handler(event, context):\n"
            f"    return {{'v': {v}, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION']}}\n",
        )
    return buf.getvalue()


def invoke(**kwargs):
    out = lam.invoke(Payload=b"{}", **kwargs)
    assert out["StatusCode"] == 200, out
    return json.loads(out["Payload"].read()), out["ExecutedVersion"]


lam.create_function(
    FunctionName="bv",
    Runtime="python3.12",
    Handler="app.handler",
    Role="arn:aws:iam::000000000000:role/lambda",
    Code={"ZipFile": package(1)},
)
v1 = lam.publish_version(FunctionName="bv", Description="one")
assert v1["Version"] == "1", v1
assert v1["FunctionArn"].endswith(":function:bv:1"), v1
lam.update_function_code(FunctionName="bv", ZipFile=package(2))
v2 = lam.publish_version(FunctionName="bv")
assert v2["Version"] == "2", v2
alias = lam.create_alias(FunctionName="bv", Name="prod", FunctionVersion="1")
assert alias["AliasArn"].endswith(":function:bv:prod"), alias
assert lam.get_alias(FunctionName="bv", Name="prod")["FunctionVersion"] == "1"

assert invoke(FunctionName="bv", Qualifier="prod") == ({"v": 1, "version": "1"}, "1")
assert invoke(FunctionName="bv:2") == ({"v": 2, "version": "2"}, "2")
assert invoke(FunctionName="bv") == ({"v": 2, "version": "$LATEST"}, "$LATEST")

try:
    lam.delete_function(FunctionName="bv", Qualifier="1")
    raise AssertionError("deleted a version an alias points to")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceConflictException", e.response

versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="bv")["Versions"]]
assert versions == ["$LATEST", "1", "2"], versions
lam.delete_function(FunctionName="bv")
print("boto3 lambda versions: ok")
