"""boto3 against nuvem's DynamoDB Streams and Time to Live, on the table `Events` the test's
manifest declares (stream NEW_IMAGE, TTL on `expires`; the sweep runs every 200 ms).

Run by crates/nuvem/tests/e2e/dynamo_streams.rs as `python3 dynamo_streams.py <endpoint>`.
Prints "boto3 streams: ok" when every check passed; any failure raises.
"""

import json
import sys
import time

import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1")

ttl = ddb.describe_time_to_live(TableName="Events")["TimeToLiveDescription"]
assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}, ttl
table = ddb.describe_table(TableName="Events")["Table"]
assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
arn = table["LatestStreamArn"]

listed = streams.list_streams(TableName="Events")["Streams"]
assert [s["StreamArn"] for s in listed] == [arn], listed
desc = streams.describe_stream(StreamArn=arn)["StreamDescription"]
assert desc["StreamStatus"] == "ENABLED" and desc["StreamViewType"] == "NEW_IMAGE", desc
shard = desc["Shards"][0]["ShardId"]
it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
    "ShardIterator"
]

now = int(time.time())
ddb.put_item(TableName="Events", Item={"id": {"S": "a"}, "n": {"N": "1"}})
ddb.update_item(
    TableName="Events",
    Key={"id": {"S": "a"}},
    UpdateExpression="ADD n :one",
    ExpressionAttributeValues={":one": {"N": "1"}},
)
ddb.put_item(TableName="Events", Item={"id": {"S": "old"}, "expires": {"N": str(now - 5)}})

records = []
deadline = time.time() + 20
while len(records) < 4:
    assert time.time() < deadline, records
    page = streams.get_records(ShardIterator=it, Limit=10)
    records += page["Records"]
    it = page["NextShardIterator"]
    if not page["Records"]:
        time.sleep(0.1)

names = [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records]
assert names == [("INSERT", "a"), ("MODIFY", "a"), ("INSERT", "old"), ("REMOVE", "old")], names
assert records[1]["dynamodb"]["NewImage"]["n"] == {"N": "2"}, records[1]
assert "OldImage" not in records[1]["dynamodb"]
assert records[3]["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
assert "userIdentity" not in records[0]
for r in records:
    assert r["eventSource"] == "aws:dynamodb" and r["awsRegion"] == "us-east-1", r
    assert len(r["dynamodb"]["SequenceNumber"]) >= 21, r

try:
    streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER"
    )
    raise AssertionError("AT_SEQUENCE_NUMBER without a SequenceNumber succeeded")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e

# IAM: a user allowed to read this one stream (its ARN; GetRecords by the ARN inside the
# iterator) and nothing else.
ddb.create_table(
    TableName="Other",
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
)
other_arn = ddb.describe_table(TableName="Other")["Table"]["LatestStreamArn"]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
iam.create_user(UserName="consumer")
iam.put_user_policy(
    UserName="consumer",
    PolicyName="read-events-stream",
    PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"],
            "Resource": "arn:aws:dynamodb:us-east-1:*:table/Events/stream/*",
        }],
    }),
)
key = iam.create_access_key(UserName="consumer")["AccessKey"]
user = boto3.client(
    "dynamodbstreams",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=key["AccessKeyId"],
    aws_secret_access_key=key["SecretAccessKey"],
)


def denied(fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDeniedException", e
        return
    raise AssertionError(f"{fn} was allowed")


user.describe_stream(StreamArn=arn)
it = user.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
assert len(user.get_records(ShardIterator=it["ShardIterator"])["Records"]) == 4
denied(user.list_streams)
denied(user.describe_stream, StreamArn=other_arn)
other_it = streams.get_shard_iterator(
    StreamArn=other_arn,
    ShardId=streams.describe_stream(StreamArn=other_arn)["StreamDescription"]["Shards"][0]["ShardId"],
    ShardIteratorType="LATEST",
)["ShardIterator"]
denied(user.get_records, ShardIterator=other_it)

print("boto3 streams: ok")
