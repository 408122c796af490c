"""boto3 against nuvem's S3: put/get/list, upload_file/download_file (multipart through
s3transfer), UploadPartCopy, and presigned URLs fetched with a plain HTTP client — both the
signature version boto3 picks by default and SigV2 query strings (`signature_version="s3"`);
versioning (put_bucket_versioning, versions, delete markers), encryption (SSE-S3, bucket
default encryption; SSE-C refused over plain HTTP), lifecycle configurations as scripts write
them, object lock (retention, legal hold, bypass) and tagging (object, bucket,
GetObjectAttributes).

Run by crates/nuvem/tests/e2e/s3_cli.rs as `python3 s3_boto3.py <endpoint>`.
Prints "boto3 s3: ok" when every check passed; any failure raises.
"""

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
path_style = {"addressing_style": "path"}
s3 = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3=path_style)
)


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


def fetch(url, method="GET", data=None):
    # The Content-Type is part of what a presigned PUT signed (urllib would add its own).
    headers = {"Content-Type": "text/plain"} if data is not None else {}
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# Put, get, list.
s3.create_bucket(Bucket="boto")
s3.put_object(Bucket="boto", Key="notes/a.txt", Body=b"alpha", Metadata={"who": "boto"})
s3.put_object(Bucket="boto", Key="notes/b.txt", Body=b"beta", ContentType="text/plain")
got = s3.get_object(Bucket="boto", Key="notes/a.txt")
assert got["Body"].read() == b"alpha"
assert got["Metadata"] == {"who": "boto"}, got["Metadata"]
listed = s3.list_objects_v2(Bucket="boto", Prefix="notes/")
assert [o["Key"] for o in listed["Contents"]] == ["notes/a.txt", "notes/b.txt"], listed
assert listed["KeyCount"] == 2
expect_error("NoSuchKey", s3.get_object, Bucket="boto", Key="missing")

# upload_file above the threshold goes through CreateMultipartUpload/UploadPart/Complete,
# with boto3's default checksums; download_file reads it back in ranged GETs.
work = tempfile.mkdtemp()
src = os.path.join(work, "big.bin")
data = os.urandom(13 * 1024 * 1024)
with open(src, "wb") as f:
    f.write(data)
transfer = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
s3.upload_file(src, "boto", "big.bin", Config=transfer)
head = s3.head_object(Bucket="boto", Key="big.bin")
assert head["ContentLength"] == len(data)
assert head["ETag"].endswith('-3"'), head["ETag"]
dst = os.path.join(work, "big.down")
s3.download_file("boto", "big.bin", dst, Config=transfer)
with open(dst, "rb") as f:
    assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()

# UploadPartCopy: a new object assembled from ranges of an existing one.
up = s3.create_multipart_upload(Bucket="boto", Key="copied.bin")
parts = []
five = 5 * 1024 * 1024
for n, rng in [(1, f"bytes=0-{five - 1}"), (2, f"bytes={five}-{five + 99}")]:
    r = s3.upload_part_copy(
        Bucket="boto",
        Key="copied.bin",
        UploadId=up["UploadId"],
        PartNumber=n,
        CopySource={"Bucket": "boto", "Key": "big.bin"},
        CopySourceRange=rng,
    )
    parts.append({"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"]})
s3.complete_multipart_upload(
    Bucket="boto", Key="copied.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
)
assert s3.get_object(Bucket="boto", Key="copied.bin")["Body"].read() == data[: five + 100]

# Presigned URLs with the signature version boto3 picks by default (SigV2 query strings for
# this configuration: botocore presigns S3 with "s3" unless told "s3v4").
url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "notes/a.txt"})
status, body = fetch(url)
assert (status, body) == (200, b"alpha"), (url, status, body)
url = s3.generate_presigned_url("put_object", Params={"Bucket": "boto", "Key": "up.txt", "ContentType": "text/plain"})
status, body = fetch(url, "PUT", b"presigned put")
assert status == 200, (url, status, body)
assert s3.get_object(Bucket="boto", Key="up.txt")["Body"].read() == b"presigned put"

# SigV4 presigned URLs, as boto3 makes them with signature_version="s3v4".
v4 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=Config(signature_version="s3v4", s3=path_style),
)
url = v4.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "notes/a.txt"})
assert "X-Amz-Signature=" in url, url
assert fetch(url) == (200, b"alpha"), url

# SigV2 presigned query strings (AWSAccessKeyId, Expires, Signature), still generated by
# boto3 for `signature_version="s3"` configurations.
v2 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=Config(signature_version="s3", s3=path_style),
)
url = v2.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "notes/b.txt"})
assert "Signature=" in url and "AWSAccessKeyId=" in url, url
status, body = fetch(url)
assert (status, body) == (200, b"beta"), (url, status, body)
url = v2.generate_presigned_url("put_object", Params={"Bucket": "boto", "Key": "v2.txt", "ContentType": "text/plain"})
status, body = fetch(url, "PUT", b"sigv2 put")
assert status == 200, (url, status, body)
assert s3.get_object(Bucket="boto", Key="v2.txt")["Body"].read() == b"sigv2 put"
tampered = url.replace("v2.txt", "other.txt")
status, body = fetch(tampered, "PUT", b"x")
assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)

# Cleanup the way boto3 users do it.
bucket = boto3.resource(
    "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3=path_style)
).Bucket("boto")
# An empty file-like body is sent with `Expect: 100-continue` and answered at once (no body to
# wait for). botocore keeps that early status on the pooled connection and misreads the next
# Expect request's response on it (a 200 without headers, then a wait for the close), unless
# the server closes the connection: the aws CLI's `s3 sync` of a folder with an empty file.
import io

for i in range(3):
    s3.put_object(Bucket="boto", Key=f"empty-{i}", Body=io.BytesIO(b""))
    after = s3.put_object(Bucket="boto", Key=f"after-{i}", Body=io.BytesIO(b"x" * 70000))
    assert "ETag" in after, after

bucket.objects.all().delete()
s3.delete_bucket(Bucket="boto")
expect_error("NoSuchBucket", s3.list_objects_v2, Bucket="boto")

# Versioning the way boto3 users do it.
s3.create_bucket(Bucket="boto-ver")
assert "Status" not in s3.get_bucket_versioning(Bucket="boto-ver")
s3.put_bucket_versioning(Bucket="boto-ver", VersioningConfiguration={"Status": "Enabled"})
assert s3.get_bucket_versioning(Bucket="boto-ver")["Status"] == "Enabled"
first = s3.put_object(Bucket="boto-ver", Key="k", Body=b"one")["VersionId"]
second = s3.put_object(Bucket="boto-ver", Key="k", Body=b"two")["VersionId"]
assert first != second
assert s3.get_object(Bucket="boto-ver", Key="k", VersionId=first)["Body"].read() == b"one"
deleted = s3.delete_object(Bucket="boto-ver", Key="k")
assert deleted["DeleteMarker"] is True, deleted
e = expect_error("NoSuchKey", s3.get_object, Bucket="boto-ver", Key="k")
assert e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true", e.response
listed = s3.list_object_versions(Bucket="boto-ver")
assert [v["VersionId"] for v in listed["Versions"]] == [second, first], listed
assert listed["DeleteMarkers"][0]["IsLatest"] is True, listed
s3.delete_object(Bucket="boto-ver", Key="k", VersionId=listed["DeleteMarkers"][0]["VersionId"])
assert s3.get_object(Bucket="boto-ver", Key="k")["Body"].read() == b"two"
s3.put_bucket_versioning(Bucket="boto-ver", VersioningConfiguration={"Status": "Suspended"})
assert s3.put_object(Bucket="boto-ver", Key="k", Body=b"three")["VersionId"] == "null"
boto3.resource(
    "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3=path_style)
).Bucket("boto-ver").object_versions.delete()
s3.delete_bucket(Bucket="boto-ver")

# Encryption at rest.
s3.create_bucket(Bucket="boto-enc")
put = s3.put_object(Bucket="boto-enc", Key="s3", Body=b"secret", ServerSideEncryption="AES256")
assert put["ServerSideEncryption"] == "AES256", put
got = s3.get_object(Bucket="boto-enc", Key="s3")
assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == b"secret", got
expect_error("ServerSideEncryptionConfigurationNotFoundError", s3.get_bucket_encryption, Bucket="boto-enc")
s3.put_bucket_encryption(
    Bucket="boto-enc",
    ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    },
)
rules = s3.get_bucket_encryption(Bucket="boto-enc")["ServerSideEncryptionConfiguration"]["Rules"]
assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", rules
assert s3.put_object(Bucket="boto-enc", Key="d", Body=b"x")["ServerSideEncryption"] == "AES256"
# boto3 computes the key's MD5 itself; over plain HTTP the server refuses the key.
e = expect_error(
    "InvalidRequest",
    s3.put_object,
    Bucket="boto-enc",
    Key="c",
    Body=b"x",
    SSECustomerAlgorithm="AES256",
    SSECustomerKey=b"k" * 32,
)
assert "secure connection" in e.response["Error"]["Message"], e.response
expect_error("NotImplemented", s3.put_object, Bucket="boto-enc", Key="kms", Body=b"x", ServerSideEncryption="aws:kms:dsse")
for key in ["s3", "d"]:
    s3.delete_object(Bucket="boto-enc", Key=key)
s3.delete_bucket(Bucket="boto-enc")

# Lifecycle: a configuration as scripts write it reads back the same; S3's checks.
rules = [
    {
        "ID": "logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
    },
    {
        "ID": "big-tmp",
        "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "k", "Value": "v"}], "ObjectSizeGreaterThan": 100}},
        "Status": "Disabled",
        "Expiration": {"Date": "2030-01-01T00:00:00Z"},
    },
    {
        "ID": "uploads",
        "Filter": {},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
    },
]
s3.create_bucket(Bucket="boto-life")
s3.put_bucket_lifecycle_configuration(Bucket="boto-life", LifecycleConfiguration={"Rules": rules})
got = s3.get_bucket_lifecycle_configuration(Bucket="boto-life")["Rules"]
assert [r["ID"] for r in got] == ["logs", "big-tmp", "uploads"], got
assert got[0]["Expiration"] == {"Days": 30} and got[0]["NoncurrentVersionExpiration"] == rules[0]["NoncurrentVersionExpiration"], got
assert got[1]["Filter"]["And"]["ObjectSizeGreaterThan"] == 100 and got[1]["Status"] == "Disabled", got
put = s3.put_object(Bucket="boto-life", Key="logs/a", Body=b"x")
assert 'rule-id="logs"' in put["Expiration"], put
bad = dict(rules[0], Expiration={"Date": "2030-01-01T12:00:00Z"})
e = expect_error("InvalidArgument", s3.put_bucket_lifecycle_configuration, Bucket="boto-life", LifecycleConfiguration={"Rules": [bad]})
assert e.response["Error"]["Message"] == "'Date' must be at midnight GMT", e.response
both = dict(rules[0], Prefix="logs/")
expect_error("MalformedXML", s3.put_bucket_lifecycle_configuration, Bucket="boto-life", LifecycleConfiguration={"Rules": [both]})
s3.delete_bucket_lifecycle(Bucket="boto-life")
expect_error("NoSuchLifecycleConfiguration", s3.get_bucket_lifecycle_configuration, Bucket="boto-life")

# Tagging and attributes.
s3.put_object_tagging(Bucket="boto-life", Key="logs/a", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
assert s3.get_object(Bucket="boto-life", Key="logs/a")["TagCount"] == 1
expect_error("InvalidTag", s3.put_object_tagging, Bucket="boto-life", Key="logs/a", Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})
s3.delete_object_tagging(Bucket="boto-life", Key="logs/a")
assert s3.get_object_tagging(Bucket="boto-life", Key="logs/a")["TagSet"] == []
s3.put_bucket_tagging(Bucket="boto-life", Tagging={"TagSet": [{"Key": "team", "Value": "web"}]})
assert s3.get_bucket_tagging(Bucket="boto-life")["TagSet"] == [{"Key": "team", "Value": "web"}]
attrs = s3.get_object_attributes(Bucket="boto-life", Key="logs/a", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
assert attrs["ObjectSize"] == 1 and attrs["StorageClass"] == "STANDARD" and attrs["ETag"].strip('"') == put["ETag"].strip('"'), attrs
s3.delete_object(Bucket="boto-life", Key="logs/a")
s3.delete_bucket(Bucket="boto-life")

# Object lock.
import datetime

s3.create_bucket(Bucket="boto-lock", ObjectLockEnabledForBucket=True)
assert s3.get_bucket_versioning(Bucket="boto-lock")["Status"] == "Enabled"
until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
v = s3.put_object(
    Bucket="boto-lock", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until
)["VersionId"]
head = s3.head_object(Bucket="boto-lock", Key="k")
assert head["ObjectLockMode"] == "GOVERNANCE", head
expect_error("AccessDenied", s3.delete_object, Bucket="boto-lock", Key="k", VersionId=v)
s3.put_object_legal_hold(Bucket="boto-lock", Key="k", VersionId=v, LegalHold={"Status": "ON"})
expect_error("AccessDenied", s3.delete_object, Bucket="boto-lock", Key="k", VersionId=v, BypassGovernanceRetention=True)
s3.put_object_legal_hold(Bucket="boto-lock", Key="k", VersionId=v, LegalHold={"Status": "OFF"})
s3.delete_object(Bucket="boto-lock", Key="k", VersionId=v, BypassGovernanceRetention=True)
expect_error("InvalidBucketState", s3.put_bucket_versioning, Bucket="boto-lock", VersioningConfiguration={"Status": "Suspended"})
s3.delete_bucket(Bucket="boto-lock")

print("boto3 s3: ok")
