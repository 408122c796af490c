"""boto3 against nuvem's IAM and STS APIs: users and their keys (which then sign requests),
inline and managed policies, roles with trust policies, AssumeRole and GetSessionToken
credentials, and IAM's errors.

Run by crates/nuvem/tests/e2e/iam.rs as `python3 iam_boto3.py <endpoint>`.
Prints "boto3 iam: ok" when every check passed; any failure raises.
"""

import json
import sys
import urllib.parse

import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


def client(service, creds):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
    )


me = sts.get_caller_identity()
assert me["Arn"] == f"arn:aws:iam::{me['Account']}:root", me
account = me["Account"]

user = iam.create_user(UserName="ci-deployer", Path="/ci/")["User"]
assert user["Arn"] == f"arn:aws:iam::{account}:user/ci/ci-deployer", user
assert user["UserId"].startswith("AIDA"), user
expect_error("EntityAlreadyExists", iam.create_user, UserName="CI-Deployer")
expect_error("NoSuchEntity", iam.get_user, UserName="nobody")
expect_error("ValidationError", iam.create_user, UserName="bad name!")
assert [u["UserName"] for u in iam.list_users()["Users"]] == ["ci-deployer"]

key = iam.create_access_key(UserName="ci-deployer")["AccessKey"]
assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40, key
iam.create_access_key(UserName="ci-deployer")
expect_error("LimitExceeded", iam.create_access_key, UserName="ci-deployer")
listed = iam.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]
assert len(listed) == 2 and all(k["Status"] == "Active" for k in listed), listed
second = [k["AccessKeyId"] for k in listed if k["AccessKeyId"] != key["AccessKeyId"]][0]
iam.delete_access_key(UserName="ci-deployer", AccessKeyId=second)

# The new key signs requests: the caller is the user.
as_user = client("sts", key)
who = as_user.get_caller_identity()
assert who["Arn"] == user["Arn"] and who["UserId"] == user["UserId"], who
# Signing is not permission: without a policy the user may do nothing but ask who it is.
expect_error("AccessDenied", client("iam", key).get_user)
expect_error("AccessDenied", client("iam", key).create_user, UserName="escalate")
expect_error("AccessDenied", client("s3", key).list_buckets)
expect_error("AccessDeniedException", client("lambda", key).list_functions)
# A deactivated key does not.
iam.update_access_key(UserName="ci-deployer", AccessKeyId=key["AccessKeyId"], Status="Inactive")
expect_error("InvalidClientTokenId", as_user.get_caller_identity)
iam.update_access_key(UserName="ci-deployer", AccessKeyId=key["AccessKeyId"], Status="Active")

read_items = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                   "Resource": f"arn:aws:dynamodb:us-east-1:{account}:table/items"}],
}
iam.put_user_policy(UserName="ci-deployer", PolicyName="read-items",
                    PolicyDocument=json.dumps(read_items))
got = iam.get_user_policy(UserName="ci-deployer", PolicyName="read-items")
assert got["PolicyDocument"] == read_items, got
assert iam.list_user_policies(UserName="ci-deployer")["PolicyNames"] == ["read-items"]
expect_error("MalformedPolicyDocument", iam.put_user_policy, UserName="ci-deployer",
             PolicyName="bad", PolicyDocument=json.dumps({"Version": "2012-10-17"}))

# The policy is enforced: reads of `items` only.
ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
for table in ["items", "secrets"]:
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=table, Item={"id": {"S": "a"}, "v": {"S": table}})
user_ddb = client("dynamodb", key)
assert user_ddb.get_item(TableName="items", Key={"id": {"S": "a"}})["Item"]["v"]["S"] == "items"
denied = expect_error("AccessDeniedException", user_ddb.put_item, TableName="items",
                      Item={"id": {"S": "b"}})
assert "dynamodb:PutItem" in str(denied) and user["Arn"] in str(denied), denied
expect_error("AccessDeniedException", user_ddb.get_item, TableName="secrets", Key={"id": {"S": "a"}})
expect_error("AccessDeniedException", user_ddb.batch_get_item,
             RequestItems={"items": {"Keys": [{"id": {"S": "a"}}]},
                           "secrets": {"Keys": [{"id": {"S": "a"}}]}})
assert "b" not in [i["id"]["S"] for i in ddb.scan(TableName="items")["Items"]]

# Conditions see the request: a user may list only its own home prefix (policy variables).
boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="media")
iam.put_user_policy(UserName="ci-deployer", PolicyName="list-home", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::media",
         "Condition": {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": "arn:aws:s3:::media/home/${aws:username}/*"}]}))
user_s3 = client("s3", key)
user_s3.put_object(Bucket="media", Key="home/ci-deployer/docs/a.txt", Body=b"mine")
got = user_s3.get_object(Bucket="media", Key="home/ci-deployer/docs/a.txt")["Body"].read()
assert got == b"mine", got
expect_error("AccessDenied", user_s3.put_object, Bucket="media", Key="home/intern/x", Body=b"no")
listed = user_s3.list_objects_v2(Bucket="media", Prefix="home/ci-deployer/docs")
assert [o["Key"] for o in listed["Contents"]] == ["home/ci-deployer/docs/a.txt"], listed
expect_error("AccessDenied", user_s3.list_objects_v2, Bucket="media", Prefix="home/intern/")
expect_error("AccessDenied", user_s3.list_objects_v2, Bucket="media")
iam.delete_user_policy(UserName="ci-deployer", PolicyName="list-home")

# The simulator gives the same answers, and says which policy decided.
items_arn = f"arn:aws:dynamodb:us-east-1:{account}:table/items"
sim = iam.simulate_principal_policy(PolicySourceArn=user["Arn"],
                                    ActionNames=["dynamodb:GetItem", "dynamodb:PutItem"],
                                    ResourceArns=[items_arn])["EvaluationResults"]
decisions = {r["EvalActionName"]: r["EvalDecision"] for r in sim}
assert decisions == {"dynamodb:GetItem": "allowed", "dynamodb:PutItem": "implicitDeny"}, sim
assert sim[0]["MatchedStatements"][0]["SourcePolicyId"] == "read-items", sim
custom = iam.simulate_custom_policy(
    PolicyInputList=[json.dumps(read_items), json.dumps({
        "Version": "2012-10-17",
        "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*",
                      "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}})],
    ActionNames=["dynamodb:GetItem"], ResourceArns=[items_arn],
    ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"],
                     "ContextKeyType": "ip"}])["EvaluationResults"]
assert custom[0]["EvalDecision"] == "explicitDeny", custom
expect_error("NoSuchEntity", iam.simulate_principal_policy,
             PolicySourceArn=f"arn:aws:iam::{account}:user/nobody", ActionNames=["s3:GetObject"])
expect_error("MalformedPolicyDocument", iam.put_user_policy, UserName="ci-deployer",
             PolicyName="bad", PolicyDocument="{not json")
expect_error("DeleteConflict", iam.delete_user, UserName="ci-deployer")

managed = iam.create_policy(PolicyName="deploy", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Action": "lambda:UpdateFunctionCode", "Resource": "*"},
}))["Policy"]
assert managed["Arn"] == f"arn:aws:iam::{account}:policy/deploy" and managed["DefaultVersionId"] == "v1"
iam.attach_user_policy(UserName="ci-deployer", PolicyArn=managed["Arn"])
attached = iam.list_attached_user_policies(UserName="ci-deployer")["AttachedPolicies"]
assert attached == [{"PolicyName": "deploy", "PolicyArn": managed["Arn"]}], attached
assert iam.get_policy(PolicyArn=managed["Arn"])["Policy"]["AttachmentCount"] == 1
v2 = iam.create_policy_version(PolicyArn=managed["Arn"], SetAsDefault=True, PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
}))["PolicyVersion"]
assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"], v2
doc = iam.get_policy_version(PolicyArn=managed["Arn"], VersionId="v2")["PolicyVersion"]["Document"]
assert doc["Statement"]["Action"] == "lambda:*", doc
expect_error("DeleteConflict", iam.delete_policy_version, PolicyArn=managed["Arn"], VersionId="v2")
expect_error("DeleteConflict", iam.delete_policy, PolicyArn=managed["Arn"])
# The attached managed policy (default version v2: lambda:*) now speaks for the user.
client("lambda", key).list_functions()
expect_error("NoSuchEntity", iam.get_policy, PolicyArn=f"arn:aws:iam::{account}:policy/none")

# A role the user may assume; the session's identity is the assumed role.
trust = {
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"},
}
role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust),
                       Description="reads tables")["Role"]
assert role["Arn"] == f"arn:aws:iam::{account}:role/reader" and role["RoleId"].startswith("AROA")
fetched = iam.get_role(RoleName="reader")["Role"]
assert fetched["AssumeRolePolicyDocument"] == trust, fetched
expect_error("MalformedPolicyDocument", iam.create_role, RoleName="r2",
             AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": {
                 "Effect": "Allow", "Action": "sts:AssumeRole"}}))
iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=json.dumps(read_items))

assumed = as_user.assume_role(RoleArn=role["Arn"], RoleSessionName="build-42", DurationSeconds=900)
creds = assumed["Credentials"]
assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"], creds
assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/reader/build-42"
as_role = client("sts", creds)
assert as_role.get_caller_identity()["Arn"] == assumed["AssumedRoleUser"]["Arn"]
# The session has the role's permissions: read `items`, nothing else.
role_ddb = client("dynamodb", creds)
assert role_ddb.get_item(TableName="items", Key={"id": {"S": "a"}})["Item"]
expect_error("AccessDeniedException", role_ddb.delete_item, TableName="items", Key={"id": {"S": "a"}})
# An explicit deny wins over the allow.
iam.put_role_policy(RoleName="reader", PolicyName="no-secrets-ever", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*",
                  "Condition": {"StringEquals": {"aws:PrincipalType": "AssumedRole"}}},
}))
expect_error("AccessDeniedException", role_ddb.get_item, TableName="items", Key={"id": {"S": "a"}})
iam.delete_role_policy(RoleName="reader", PolicyName="no-secrets-ever")
# Without its session token the temporary key is not accepted.
no_token = dict(creds)
del no_token["SessionToken"]
expect_error("InvalidClientTokenId", client("sts", no_token).get_caller_identity)
# The trust policy names only ci-deployer.
other = iam.create_user(UserName="intern")["User"]
intern_key = iam.create_access_key(UserName="intern")["AccessKey"]
expect_error("AccessDenied", client("sts", intern_key).assume_role,
             RoleArn=role["Arn"], RoleSessionName="sneaky")
expect_error("AccessDenied", sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/none",
             RoleSessionName="xy")

session = as_user.get_session_token(DurationSeconds=900)["Credentials"]
assert client("sts", session).get_caller_identity()["Arn"] == user["Arn"]

expect_error("DeleteConflict", iam.delete_role, RoleName="reader")
iam.delete_role_policy(RoleName="reader", PolicyName="read")
iam.delete_role(RoleName="reader")
expect_error("NoSuchEntity", iam.get_role, RoleName="reader")
iam.detach_user_policy(UserName="ci-deployer", PolicyArn=managed["Arn"])
iam.delete_policy_version(PolicyArn=managed["Arn"], VersionId="v1")
iam.delete_policy(PolicyArn=managed["Arn"])

# A function runs with its execution role's temporary credentials, never the root key.
import io
import zipfile

HANDLER = """
import os, boto3
def handler(event, context):
    ddb = boto3.client("dynamodb")
    out = {"key": os.environ["AWS_ACCESS_KEY_ID"], "token": bool(os.environ.get("AWS_SESSION_TOKEN"))}
    out["items"] = ddb.get_item(TableName="items", Key={"id": {"S": "a"}})["Item"]["v"]["S"]
    try:
        ddb.get_item(TableName="secrets", Key={"id": {"S": "a"}})
        out["secrets"] = "read"
    except Exception as e:
        out["secrets"] = e.response["Error"]["Code"]
    return out
"""
package = io.BytesIO()
with zipfile.ZipFile(package, "w") as z:
    z.writestr("index.py", HANDLER)
lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
lambda_trust = {"Version": "2012-10-17", "Statement": {
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}}
fn_role = iam.create_role(RoleName="fn-reader",
                          AssumeRolePolicyDocument=json.dumps(lambda_trust))["Role"]
iam.put_role_policy(RoleName="fn-reader", PolicyName="read-items",
                    PolicyDocument=json.dumps(read_items))
lam.create_function(FunctionName="reader", Runtime="python3.12", Handler="index.handler",
                    Role=fn_role["Arn"], Code={"ZipFile": package.getvalue()}, Timeout=30)
resp = lam.invoke(FunctionName="reader")
out = json.loads(resp["Payload"].read())
assert "FunctionError" not in resp, out
assert out["key"].startswith("ASIA") and out["token"], out
assert out["items"] == "items" and out["secrets"] == "AccessDeniedException", out
# The function's resource-based policy (AddPermission, GetPolicy, RemovePermission).
source = f"arn:aws:execute-api:us-east-1:{account}:abc123/*/GET/items"
added = lam.add_permission(FunctionName="reader", StatementId="apigw-items",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                           SourceArn=source)
statement = json.loads(added["Statement"])
assert statement == {
    "Sid": "apigw-items", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
    "Action": "lambda:InvokeFunction",
    "Resource": f"arn:aws:lambda:us-east-1:{account}:function:reader",
    "Condition": {"ArnLike": {"AWS:SourceArn": source}}}, statement
lam.add_permission(FunctionName="reader", StatementId="intern", Action="lambda:InvokeFunction",
                   Principal=other["Arn"])
expect_error("ResourceConflictException", lam.add_permission, FunctionName="reader",
             StatementId="intern", Action="lambda:InvokeFunction", Principal=account)
policy = json.loads(lam.get_policy(FunctionName="reader")["Policy"])
assert [s["Sid"] for s in policy["Statement"]] == ["apigw-items", "intern"], policy
# The policy speaks for principals it names: the intern (no identity policy) may invoke.
intern_lambda = client("lambda", intern_key)
assert json.loads(intern_lambda.invoke(FunctionName="reader")["Payload"].read())["items"] == "items"
expect_error("AccessDeniedException", intern_lambda.get_function, FunctionName="reader")
lam.remove_permission(FunctionName="reader", StatementId="intern")
expect_error("AccessDeniedException", intern_lambda.invoke, FunctionName="reader")
expect_error("ResourceNotFoundException", lam.remove_permission, FunctionName="reader",
             StatementId="intern")
lam.remove_permission(FunctionName="reader", StatementId="apigw-items")
expect_error("ResourceNotFoundException", lam.get_policy, FunctionName="reader")

# A role whose trust policy does not name Lambda cannot be a function's role.
iam.create_role(RoleName="not-for-lambda", AssumeRolePolicyDocument=json.dumps(trust))
lam.create_function(FunctionName="untrusted", Runtime="python3.12", Handler="index.handler",
                    Role=f"arn:aws:iam::{account}:role/not-for-lambda",
                    Code={"ZipFile": package.getvalue()})
resp = lam.invoke(FunctionName="untrusted")
assert resp.get("FunctionError"), resp

# Handing a function a role is iam:PassRole on it, and the role must exist and trust Lambda.
code = {"ZipFile": package.getvalue()}
lambda_role = lambda name: f"arn:aws:iam::{account}:role/{name}"
iam.create_role(RoleName="dep-role", AssumeRolePolicyDocument=json.dumps(lambda_trust))
iam.put_role_policy(RoleName="dep-role", PolicyName="read-items", PolicyDocument=json.dumps(read_items))
iam.create_user(UserName="fn-deployer")
iam.put_user_policy(UserName="fn-deployer", PolicyName="deploy", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole",
         "Resource": [lambda_role(r) for r in ["dep-role", "ghost", "not-for-lambda"]]}]}))
dep = client("lambda", iam.create_access_key(UserName="fn-deployer")["AccessKey"])
expect_error("AccessDeniedException", dep.create_function, FunctionName="dep", Runtime="python3.12",
             Handler="index.handler", Role=fn_role["Arn"], Code=code)
for missing in ["ghost", "not-for-lambda"]:
    expect_error("InvalidParameterValueException", dep.create_function, FunctionName="dep",
                 Runtime="python3.12", Handler="index.handler", Role=lambda_role(missing), Code=code)
dep.create_function(FunctionName="dep", Runtime="python3.12", Handler="index.handler",
                    Role=lambda_role("dep-role"), Code=code, Timeout=30)
out = json.loads(dep.invoke(FunctionName="dep")["Payload"].read())
assert out["key"].startswith("ASIA") and out["secrets"] == "AccessDeniedException", out
# The root may name a role that does not exist (local tooling does): that function runs with
# the configured keys, which the root holds anyway.
lam.create_function(FunctionName="root-ghost", Runtime="python3.12", Handler="index.handler",
                    Role=lambda_role("ghost"), Code=code, Timeout=30)
out = json.loads(lam.invoke(FunctionName="root-ghost")["Payload"].read())
assert out.get("secrets") == "read" and not out["token"], out
# The deployer's role deleted afterwards: its function's next environment cannot run, and
# never falls back to the root's keys.
iam.delete_role_policy(RoleName="dep-role", PolicyName="read-items")
iam.delete_role(RoleName="dep-role")
dep.update_function_configuration(FunctionName="dep", Timeout=31)
dep.get_waiter("function_updated_v2").wait(FunctionName="dep")
try:
    resp = dep.invoke(FunctionName="dep")
    out = resp["Payload"].read()
    assert resp.get("FunctionError"), out
except ClientError as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] >= 400, e
# Fine-grained access control: a user reaches only the items whose partition key is its
# name (dynamodb:LeadingKeys), only some attributes (dynamodb:Attributes), and must ask for
# them by name (dynamodb:Select); reads of an index need the index's ARN.
ddb.put_item(TableName="items", Item={"id": {"S": "alice"}, "v": {"S": "mine"}, "salary": {"N": "9"}})
ddb.put_item(TableName="items", Item={"id": {"S": "bob"}, "v": {"S": "his"}})
iam.create_user(UserName="alice")
iam.put_user_policy(UserName="alice", PolicyName="own-items", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
        "Resource": f"arn:aws:dynamodb:us-east-1:{account}:table/items",
        "Condition": {
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"],
                                          "dynamodb:Attributes": ["id", "v", "note"]},
            "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}}]}))
alice = client("dynamodb", iam.create_access_key(UserName="alice")["AccessKey"])
mine = alice.get_item(TableName="items", Key={"id": {"S": "alice"}}, ProjectionExpression="id, v")
assert mine["Item"] == {"id": {"S": "alice"}, "v": {"S": "mine"}}, mine
expect_error("AccessDeniedException", alice.get_item, TableName="items",
             Key={"id": {"S": "bob"}}, ProjectionExpression="id, v")
expect_error("AccessDeniedException", alice.get_item, TableName="items",
             Key={"id": {"S": "alice"}}, ProjectionExpression="salary")
expect_error("AccessDeniedException", alice.get_item, TableName="items", Key={"id": {"S": "alice"}})
alice.update_item(TableName="items", Key={"id": {"S": "alice"}},
                  UpdateExpression="SET note = :n", ExpressionAttributeValues={":n": {"S": "hi"}})
expect_error("AccessDeniedException", alice.update_item, TableName="items",
             Key={"id": {"S": "alice"}}, UpdateExpression="SET #s = :n",
             ExpressionAttributeNames={"#s": "salary"}, ExpressionAttributeValues={":n": {"N": "99"}})
expect_error("AccessDeniedException", alice.put_item, TableName="items",
             Item={"id": {"S": "bob"}, "v": {"S": "overwritten"}})
got = alice.query(TableName="items", KeyConditionExpression="id = :me",
                  ExpressionAttributeValues={":me": {"S": "alice"}}, ProjectionExpression="v, note")
assert got["Items"] == [{"v": {"S": "mine"}, "note": {"S": "hi"}}], got
expect_error("AccessDeniedException", alice.query, TableName="items",
             KeyConditionExpression="id = :b", ExpressionAttributeValues={":b": {"S": "bob"}},
             ProjectionExpression="v")
assert ddb.get_item(TableName="items", Key={"id": {"S": "bob"}})["Item"]["v"]["S"] == "his"
assert ddb.get_item(TableName="items", Key={"id": {"S": "alice"}})["Item"]["salary"]["N"] == "9"

# The other services' APIs are decided too: a read-only operator of API Gateway and WAF.
iam.create_user(UserName="viewer")
iam.put_user_policy(UserName="viewer", PolicyName="look", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "apigateway:GET", "Resource": "arn:aws:apigateway:us-east-1::/apis*"},
        {"Effect": "Allow", "Action": ["wafv2:List*", "wafv2:Get*"], "Resource": "*"}]}))
viewer_key = iam.create_access_key(UserName="viewer")["AccessKey"]
apigw = client("apigatewayv2", viewer_key)
assert apigw.get_apis()["Items"] == [], "no APIs yet"
expect_error("AccessDeniedException", apigw.create_api, Name="sneaky", ProtocolType="HTTP")
waf = client("wafv2", viewer_key)
assert waf.list_ip_sets(Scope="REGIONAL")["IPSets"] == []
expect_error("AccessDeniedException", waf.create_ip_set, Name="block", Scope="REGIONAL",
             IPAddressVersion="IPV4", Addresses=["10.0.0.0/8"])

# An event source mapping reads the stream with the function's role: the role must allow it.
stream_arn = ddb.create_table(
    TableName="events", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
)["TableDescription"]["LatestStreamArn"]
denied = expect_error("InvalidParameterValueException", lam.create_event_source_mapping,
                      FunctionName="reader", EventSourceArn=stream_arn, StartingPosition="LATEST")
assert "Cannot access stream" in str(denied), denied
iam.put_role_policy(RoleName="fn-reader", PolicyName="read-events", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:DescribeStream", "dynamodb:GetShardIterator",
                                       "dynamodb:GetRecords"], "Resource": stream_arn},
        {"Effect": "Allow", "Action": "dynamodb:ListStreams", "Resource": "*"}]}))
# A user may map streams to one function only (lambda:FunctionArn).
iam.create_user(UserName="wirer")
iam.put_user_policy(UserName="wirer", PolicyName="wire", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "lambda:CreateEventSourceMapping", "Resource": "*",
        "Condition": {"StringEquals": {
            "lambda:FunctionArn": f"arn:aws:lambda:us-east-1:{account}:function:reader"}}}]}))
wirer = client("lambda", iam.create_access_key(UserName="wirer")["AccessKey"])
expect_error("AccessDeniedException", wirer.create_event_source_mapping, FunctionName="dep",
             EventSourceArn=stream_arn, StartingPosition="LATEST")
mapping = wirer.create_event_source_mapping(FunctionName="reader", EventSourceArn=stream_arn,
                                            StartingPosition="LATEST")
assert mapping["FunctionArn"].endswith(":function:reader"), mapping
lam.delete_event_source_mapping(UUID=mapping["UUID"])

# Object lock: bypassing GOVERNANCE retention is a permission of its own
# (s3:BypassGovernanceRetention), besides s3:DeleteObject.
import datetime

root_s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
root_s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
kept = root_s3.put_object(Bucket="vault", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                          ObjectLockRetainUntilDate=until)["VersionId"]
iam.create_user(UserName="cleaner")
iam.put_user_policy(UserName="cleaner", PolicyName="clean", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject"],
        "Resource": "arn:aws:s3:::vault/*"}]}))
cleaner = client("s3", iam.create_access_key(UserName="cleaner")["AccessKey"])
expect_error("AccessDenied", cleaner.delete_object, Bucket="vault", Key="k", VersionId=kept,
             BypassGovernanceRetention=True)
iam.put_user_policy(UserName="cleaner", PolicyName="bypass", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:BypassGovernanceRetention",
        "Resource": "arn:aws:s3:::vault/*"}]}))
# Without the header the retention still refuses; with it, the version goes.
expect_error("AccessDenied", cleaner.delete_object, Bucket="vault", Key="k", VersionId=kept)
cleaner.delete_object(Bucket="vault", Key="k", VersionId=kept, BypassGovernanceRetention=True)

print("boto3 iam: ok")
