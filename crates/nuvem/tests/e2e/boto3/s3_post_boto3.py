"""boto3's generate_presigned_post against nuvem: the form it makes (SigV4 policy, key with
${filename}, a content-length-range and a Content-Type condition) posted with a plain HTTP
client (urllib3's multipart encoder, the file last as browsers send it), then read back;
a file over the range and a Content-Type outside the policy are refused as S3 refuses them;
ACLs on a bucket with ownership controls through put_bucket_ownership_controls and
get_object_acl.

Run by crates/nuvem/tests/e2e/s3_post.rs as `python3 s3_post_boto3.py <endpoint>`.
Prints "boto3 s3 post: ok" when every check passed; any failure raises.
"""

import sys

import boto3
import urllib3
from botocore.config import Config

endpoint = sys.argv[1]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
)
http = urllib3.PoolManager()

s3.create_bucket(Bucket="browser")
post = s3.generate_presigned_post(
    "browser",
    "photos/${filename}",
    Fields={"Content-Type": "image/png", "success_action_status": "201"},
    Conditions=[
        ["starts-with", "$Content-Type", "image/"],
        ["content-length-range", 1, 64],
        {"success_action_status": "201"},
    ],
    ExpiresIn=600,
)
assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256", post["fields"]


def send(fields, filename, data):
    form = list(fields.items()) + [("file", (filename, data, "image/png"))]
    return http.request("POST", post["url"], fields=form, encode_multipart=True)


r = send(post["fields"], "cat.png", b"\x89PNG fake")
assert r.status == 201, (r.status, r.data)
assert b"<Key>photos/cat.png</Key>" in r.data, r.data
got = s3.get_object(Bucket="browser", Key="photos/cat.png")
assert got["ContentType"] == "image/png", got["ContentType"]
assert got["Body"].read() == b"\x89PNG fake"

r = send(post["fields"], "big.png", b"x" * 65)
assert r.status == 400 and b"EntityTooLarge" in r.data, (r.status, r.data)

bad = dict(post["fields"], **{"Content-Type": "text/html"})
r = send(bad, "page.png", b"<script>")
assert r.status == 403 and b"Invalid according to Policy" in r.data, (r.status, r.data)

# Ownership controls and ACLs through boto3.
s3.put_bucket_ownership_controls(
    Bucket="browser",
    OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]},
)
rules = s3.get_bucket_ownership_controls(Bucket="browser")["OwnershipControls"]["Rules"]
assert rules == [{"ObjectOwnership": "BucketOwnerPreferred"}], rules
s3.put_object_acl(Bucket="browser", Key="photos/cat.png", ACL="public-read")
acl = s3.get_object_acl(Bucket="browser", Key="photos/cat.png")
uris = [g["Grantee"].get("URI") for g in acl["Grants"]]
assert "http://acs.amazonaws.com/groups/global/AllUsers" in uris, acl["Grants"]
r = http.request("GET", f"{endpoint}/browser/photos/cat.png")
assert r.status == 200, r.status

print("boto3 s3 post: ok")
