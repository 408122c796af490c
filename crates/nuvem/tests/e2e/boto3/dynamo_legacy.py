"""boto3 against nuvem's DynamoDB: the legacy parameters and boto3.dynamodb.conditions.

Run by crates/nuvem/tests/e2e/dynamo_query.rs as `python3 dynamo_legacy.py <endpoint>`.
Prints "boto3 dynamo: ok" when every check passed; any failure raises.
"""

import sys
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
resource = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


client.create_table(
    TableName="Legacy",
    AttributeDefinitions=[
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
    ],
    KeySchema=[
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    BillingMode="PAY_PER_REQUEST",
)
table = resource.Table("Legacy")

# batch_writer sends BatchWriteItem in chunks of 25.
with table.batch_writer() as batch:
    for i in range(120):
        batch.put_item(Item={"pk": f"p{i % 3}", "sk": i, "tag": "even" if i % 2 == 0 else "odd", "n": i})

# boto3.dynamodb.conditions: Key(...) builds KeyConditionExpression, Attr(...) FilterExpression.
resp = table.query(KeyConditionExpression=Key("pk").eq("p0") & Key("sk").between(10, 40))
assert [int(i["sk"]) for i in resp["Items"]] == list(range(12, 40, 3)), resp["Items"]
resp = table.query(
    KeyConditionExpression=Key("pk").eq("p1") & Key("sk").gte(100),
    FilterExpression=Attr("tag").eq("odd") & Attr("n").lt(115),
    ScanIndexForward=False,
)
assert [int(i["sk"]) for i in resp["Items"]] == [109, 103], resp["Items"]
resp = table.scan(FilterExpression=Attr("tag").begins_with("ev") & Attr("n").is_in([0, 2, 3, 4]))
assert sorted(int(i["sk"]) for i in resp["Items"]) == [0, 2, 4]
resp = table.scan(FilterExpression=Attr("missing").not_exists() | Attr("n").ne(Decimal(1)), Select="COUNT")
assert resp["Count"] == 120

# Paging by hand with ExclusiveStartKey.
seen, start = 0, None
while True:
    kw = {"Limit": 7}
    if start:
        kw["ExclusiveStartKey"] = start
    page = table.scan(**kw)
    seen += len(page["Items"])
    start = page.get("LastEvaluatedKey")
    if not start:
        break
assert seen == 120, seen

# The legacy parameters through the low-level client.
resp = client.query(
    TableName="Legacy",
    KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p2"}]},
        "sk": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "20"}]},
    },
    QueryFilter={"tag": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "even"}]}},
    AttributesToGet=["sk"],
)
assert [i["sk"]["N"] for i in resp["Items"]] == ["2", "8", "14"], resp["Items"]
resp = client.scan(
    TableName="Legacy",
    ScanFilter={
        "n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"N": "2"}]},
        "tag": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "dd"}]},
    },
    ConditionalOperator="AND",
)
assert [i["n"]["N"] for i in resp["Items"]] == ["1"], resp["Items"]

client.put_item(
    TableName="Legacy",
    Item={"pk": {"S": "x"}, "sk": {"N": "1"}, "v": {"N": "1"}},
    Expected={"pk": {"Exists": False}},
)
expect_error(
    "ConditionalCheckFailedException",
    client.put_item,
    TableName="Legacy",
    Item={"pk": {"S": "x"}, "sk": {"N": "1"}},
    Expected={"pk": {"Exists": False}},
)
client.update_item(
    TableName="Legacy",
    Key={"pk": {"S": "x"}, "sk": {"N": "1"}},
    AttributeUpdates={"v": {"Action": "ADD", "Value": {"N": "41"}}, "s": {"Action": "PUT", "Value": {"SS": ["a"]}}},
    Expected={"v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}},
)
item = client.get_item(TableName="Legacy", Key={"pk": {"S": "x"}, "sk": {"N": "1"}}, AttributesToGet=["v", "s"])["Item"]
assert item == {"v": {"N": "42"}, "s": {"SS": ["a"]}}, item
e = expect_error(
    "ValidationException",
    client.get_item,
    TableName="Legacy",
    Key={"pk": {"S": "x"}, "sk": {"N": "1"}},
    AttributesToGet=["v"],
    ProjectionExpression="v",
)
assert "Can not use both expression and non-expression parameters" in str(e)
client.delete_item(
    TableName="Legacy",
    Key={"pk": {"S": "x"}, "sk": {"N": "1"}},
    Expected={"v": {"Value": {"N": "42"}}},
)

# Conditions on writes via the resource API, and a transaction via the client.
table.put_item(Item={"pk": "c", "sk": 1, "count": 1}, ConditionExpression=Attr("pk").not_exists())
expect_error(
    "ConditionalCheckFailedException",
    table.put_item,
    Item={"pk": "c", "sk": 1},
    ConditionExpression=Attr("pk").not_exists(),
)
client.transact_write_items(
    TransactItems=[
        {"Update": {"TableName": "Legacy", "Key": {"pk": {"S": "c"}, "sk": {"N": "1"}},
                    "UpdateExpression": "SET #c = #c + :one", "ExpressionAttributeNames": {"#c": "count"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Put": {"TableName": "Legacy", "Item": {"pk": {"S": "c"}, "sk": {"N": "2"}}}},
    ],
    ClientRequestToken="boto3-token",
)
assert table.get_item(Key={"pk": "c", "sk": 1})["Item"]["count"] == 2
e = expect_error(
    "TransactionCanceledException",
    client.transact_write_items,
    TransactItems=[
        {"ConditionCheck": {"TableName": "Legacy", "Key": {"pk": {"S": "c"}, "sk": {"N": "1"}},
                            "ConditionExpression": "attribute_not_exists(pk)"}},
    ],
)
assert [r["Code"] for r in e.response["CancellationReasons"]] == ["ConditionalCheckFailed"]
got = client.batch_get_item(RequestItems={"Legacy": {"Keys": [{"pk": {"S": "c"}, "sk": {"N": "2"}}]}})
assert len(got["Responses"]["Legacy"]) == 1

print("boto3 dynamo: ok")
