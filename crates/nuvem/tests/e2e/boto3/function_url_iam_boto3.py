"""boto3 against a function URL with AuthType AWS_IAM called by IAM users.

Run by crates/nuvem/tests/e2e/functions_urls.rs as `python3 function_url_iam_boto3.py <endpoint>`.
A user whose policy allows lambda:InvokeFunctionUrl and lambda:InvokeFunction on the function
gets the function's answer; a user allowed only lambda:InvokeFunctionUrl, one without any
policy, and a wrong secret are refused (403). Prints "boto3 function url iam: ok".
"""

import http.client
import io
import json
import sys
import time
import zipfile
from urllib.parse import urlparse

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint = sys.argv[1]
port = urlparse(endpoint).port
lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")

buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr(
        "app.py",
        "def handler(event, context):\n"
        "    return {'caller': event['requestContext']['authorizer']['iam']['accessKey']}\n",
    )
fn = lam.create_function(
    FunctionName="private",
    Runtime="python3.12",
    Handler="app.handler",
    Role="arn:aws:iam::000000000000:role/lambda",
    Code={"ZipFile": buf.getvalue()},
    Timeout=30,
)
url = lam.create_function_url_config(FunctionName="private", AuthType="AWS_IAM")["FunctionUrl"]
host = urlparse(url).netloc


def user(name, actions):
    iam.create_user(UserName=name)
    if actions:
        iam.put_user_policy(
            UserName=name,
            PolicyName="url",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": actions, "Resource": fn["FunctionArn"]}],
                }
            ),
        )
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(k["AccessKeyId"], k["SecretAccessKey"])


def call(creds):
    req = AWSRequest(method="GET", url=f"http://{host}/hello", headers={"host": host})
    SigV4Auth(creds, "lambda", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/hello", headers=dict(req.headers.items()))
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


both = user("both", ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"])
url_only = user("url-only", ["lambda:InvokeFunctionUrl"])
nothing = user("nothing", None)
time.sleep(2.5)  # IAM identities are cached for up to 2 s per node

status, body = call(both)
assert status == 200, (status, body)
assert json.loads(body) == {"caller": both.access_key}, body
for who, creds in [("url-only", url_only), ("nothing", nothing)]:
    status, body = call(creds)
    assert status == 403, (who, status, body)
status, body = call(Credentials(both.access_key, "wrong-secret"))
assert status == 403, (status, body)
print("boto3 function url iam: ok")
