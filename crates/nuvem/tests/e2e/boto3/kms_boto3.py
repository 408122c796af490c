"""boto3 against nuvem's KMS and S3's SSE-KMS: the key lifecycle (CreateKey, DescribeKey,
ListKeys, aliases, Enable/DisableKey, Schedule/CancelKeyDeletion), Encrypt/Decrypt and
GenerateDataKey with encryption context, and objects encrypted under KMS keys (PutObject,
GetObject/HeadObject, CopyObject, multipart uploads, POST forms, bucket default encryption),
the refusals of a disabled, pending-deletion or unknown key and of unsigned or SigV2 requests,
and the kms permissions an IAM user needs.

Run by crates/nuvem/tests/e2e/s3_kms.rs as `python3 kms_boto3.py <endpoint>`.
Prints "boto3 kms: ok" when every check passed; any failure raises.
"""

import base64
import hashlib
import json
import sys
import urllib.error
import urllib.request

import boto3
import urllib3
import botocore.config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
v4 = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1", config=botocore.config.Config(signature_version="s3v4")
)


def expect_error(code, fn, *args, status=None, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return check_error(code, status, e)
    raise AssertionError(f"expected {code}, call succeeded")


def check_error(code, status, e):
    got = e.response["Error"]["Code"]
    assert got == code, f"expected {code}, got {got}: {e}"
    if status is not None:
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert got_status == status, f"expected HTTP {status}, got {got_status}: {e}"
    return e


# --- The KMS API ---------------------------------------------------------------------------
meta = kms.create_key(Description="app data")["KeyMetadata"]
key_id, key_arn = meta["KeyId"], meta["Arn"]
assert meta["KeyState"] == "Enabled" and meta["Enabled"], meta
assert meta["KeySpec"] == "SYMMETRIC_DEFAULT" and meta["KeyUsage"] == "ENCRYPT_DECRYPT", meta
assert meta["KeyManager"] == "CUSTOMER" and meta["Origin"] == "AWS_KMS", meta
assert key_arn.endswith(":key/" + key_id) and key_arn.startswith("arn:aws:kms:us-east-1:"), key_arn
expect_error("UnsupportedOperationException", kms.create_key, KeySpec="RSA_2048")
expect_error("UnsupportedOperationException", kms.create_key, KeyUsage="SIGN_VERIFY")
expect_error("NotFoundException", kms.describe_key, KeyId="alias/nothing")
expect_error("NotFoundException", kms.describe_key, KeyId="1234abcd-12ab-34cd-56ef-1234567890ab", status=400)

kms.create_alias(AliasName="alias/app", TargetKeyId=key_id)
expect_error("AlreadyExistsException", kms.create_alias, AliasName="alias/app", TargetKeyId=key_id)
expect_error("InvalidAliasNameException", kms.create_alias, AliasName="alias/aws/x", TargetKeyId=key_id)
assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == key_id
alias_arn = key_arn.replace(":key/" + key_id, ":alias/app")
assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == key_id
assert kms.describe_key(KeyId=key_arn)["KeyMetadata"]["KeyId"] == key_id
aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
assert [a["AliasName"] for a in aliases] == ["alias/app"] and aliases[0]["AliasArn"] == alias_arn, aliases
assert key_id in [k["KeyId"] for k in kms.list_keys()["Keys"]]

context = {"tenant": "acme"}
enc = kms.encrypt(KeyId="alias/app", Plaintext=b"secret", EncryptionContext=context)
assert enc["KeyId"] == key_arn and enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT", enc
dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=context)
assert dec["Plaintext"] == b"secret" and dec["KeyId"] == key_arn, dec
expect_error("InvalidCiphertextException", kms.decrypt, CiphertextBlob=enc["CiphertextBlob"])
expect_error(
    "InvalidCiphertextException",
    kms.decrypt,
    CiphertextBlob=enc["CiphertextBlob"],
    EncryptionContext={"tenant": "other"},
)
dk = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
assert len(dk["Plaintext"]) == 32, dk
assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=context)["Plaintext"] == dk["Plaintext"]
wp = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=64)
assert "Plaintext" not in wp and wp["KeyId"] == key_arn, wp
assert len(kms.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]) == 64
expect_error("ValidationException", kms.generate_data_key, KeyId=key_id)

kms.disable_key(KeyId=key_id)
assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
expect_error("DisabledException", kms.encrypt, KeyId=key_id, Plaintext=b"x")
expect_error("DisabledException", kms.decrypt, CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=context)
kms.enable_key(KeyId=key_id)
deletion = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
assert deletion["KeyState"] == "PendingDeletion" and deletion["PendingWindowInDays"] == 7, deletion
expect_error("KMSInvalidStateException", kms.encrypt, KeyId=key_id, Plaintext=b"x")
expect_error("KMSInvalidStateException", kms.enable_key, KeyId=key_id)
expect_error("ValidationException", kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=3)
assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == key_arn
assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
kms.enable_key(KeyId=key_id)

# --- SSE-KMS in S3 -------------------------------------------------------------------------
s3.create_bucket(Bucket="kms-objects")
# No key named: the AWS managed key aws/s3, created on first use.
put = s3.put_object(Bucket="kms-objects", Key="default", Body=b"managed", ServerSideEncryption="aws:kms")
managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
assert managed["KeyManager"] == "AWS", managed
assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == managed["Arn"], put
expect_error("AccessDeniedException", kms.encrypt, KeyId="alias/aws/s3", Plaintext=b"x")
expect_error("AccessDeniedException", kms.disable_key, KeyId=managed["KeyId"])

# A customer key by alias, with an encryption context of the caller's.
ctx_header = base64.b64encode(json.dumps({"project": "nuvem"}).encode()).decode()
put = s3.put_object(
    Bucket="kms-objects",
    Key="mine",
    Body=b"customer key data",
    ServerSideEncryption="aws:kms",
    SSEKMSKeyId="alias/app",
    SSEKMSEncryptionContext=ctx_header,
)
assert put["SSEKMSKeyId"] == key_arn, put
echoed = json.loads(base64.b64decode(put["SSEKMSEncryptionContext"]))
assert echoed == {"project": "nuvem", "aws:s3:arn": "arn:aws:s3:::kms-objects/mine"}, echoed
# SSE-KMS ETags are not the MD5 of the data (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html).
assert put["ETag"].strip('"') != hashlib.md5(b"customer key data").hexdigest(), put
got = s3.get_object(Bucket="kms-objects", Key="mine")
assert got["Body"].read() == b"customer key data"
assert got["ServerSideEncryption"] == "aws:kms" and got["SSEKMSKeyId"] == key_arn, got
head = s3.head_object(Bucket="kms-objects", Key="mine")
assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn, head
got = s3.get_object(Bucket="kms-objects", Key="mine", Range="bytes=9-11")
assert got["Body"].read() == b"key"
# By key id and by key ARN too.
for i, k in enumerate([key_id, key_arn]):
    put = s3.put_object(Bucket="kms-objects", Key=f"by-{i}", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=k)
    assert put["SSEKMSKeyId"] == key_arn, put
expect_error(
    "KMS.NotFoundException",
    s3.put_object,
    Bucket="kms-objects",
    Key="nokey",
    Body=b"x",
    ServerSideEncryption="aws:kms",
    SSEKMSKeyId="alias/missing",
    status=400,
)
# Refused before the body is read, again and again on reused connections: each refusal is the
# real error (botocore sends `Expect: 100-continue`; the refusal closes the connection, so
# the next request's bytes are never taken for the unsent body: it used to come back as a
# bare "400 Bad Request" about one time in six).
for _ in range(30):
    expect_error(
        "InvalidArgument",
        s3.put_object,
        Bucket="kms-objects",
        Key="badctx",
        Body=b"x",
        ServerSideEncryption="aws:kms",
        SSEKMSEncryptionContext="not base64 json",
    )
    s3.put_object(Bucket="kms-objects", Key="between", Body=b"ok")
expect_error(
    "InvalidArgument",
    s3.put_object,
    Bucket="kms-objects",
    Key="badctx",
    Body=b"x",
    ServerSideEncryption="aws:kms",
    SSEKMSEncryptionContext="not base64 json",
)
expect_error(
    "InvalidArgument",
    s3.put_object,
    Bucket="kms-objects",
    Key="idonly",
    Body=b"x",
    SSEKMSKeyId=key_id,
)

# A browser form upload (POST Object) under a KMS key.
post = v4.generate_presigned_post(
    "kms-objects",
    "form/${filename}",
    Fields={"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": key_id},
    Conditions=[{"x-amz-server-side-encryption": "aws:kms"}, {"x-amz-server-side-encryption-aws-kms-key-id": key_id}],
    ExpiresIn=600,
)
form = list(post["fields"].items()) + [("file", ("f.txt", b"posted", "text/plain"))]
r = urllib3.PoolManager().request("POST", post["url"], fields=form, encode_multipart=True)
assert r.status == 204, (r.status, r.data)
head = s3.head_object(Bucket="kms-objects", Key="form/f.txt")
assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn, head
assert s3.get_object(Bucket="kms-objects", Key="form/f.txt")["Body"].read() == b"posted"

# CopyObject: KMS to plain, plain to KMS, and from one key to another.
second = kms.create_key()["KeyMetadata"]
copy = s3.copy_object(Bucket="kms-objects", Key="plain-copy", CopySource="kms-objects/mine")
assert "ServerSideEncryption" not in copy, copy
assert s3.get_object(Bucket="kms-objects", Key="plain-copy")["Body"].read() == b"customer key data"
copy = s3.copy_object(
    Bucket="kms-objects",
    Key="rekeyed",
    CopySource="kms-objects/mine",
    ServerSideEncryption="aws:kms",
    SSEKMSKeyId=second["KeyId"],
)
assert copy["SSEKMSKeyId"] == second["Arn"], copy
assert s3.get_object(Bucket="kms-objects", Key="rekeyed")["Body"].read() == b"customer key data"

# Multipart: every part under the upload's data key.
part = b"P" * (5 * 1024 * 1024)
mpu = s3.create_multipart_upload(Bucket="kms-objects", Key="mpu", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/app")
assert mpu["ServerSideEncryption"] == "aws:kms" and mpu["SSEKMSKeyId"] == key_arn, mpu
parts = []
for n, data in [(1, part), (2, b"tail")]:
    up = s3.upload_part(Bucket="kms-objects", Key="mpu", UploadId=mpu["UploadId"], PartNumber=n, Body=data)
    assert up["ServerSideEncryption"] == "aws:kms" and up["SSEKMSKeyId"] == key_arn, up
    parts.append({"PartNumber": n, "ETag": up["ETag"]})
done = s3.complete_multipart_upload(
    Bucket="kms-objects", Key="mpu", UploadId=mpu["UploadId"], MultipartUpload={"Parts": parts}
)
assert done["ServerSideEncryption"] == "aws:kms" and done["SSEKMSKeyId"] == key_arn, done
got = s3.get_object(Bucket="kms-objects", Key="mpu")
assert got["Body"].read() == part + b"tail"

# Bucket default encryption with a KMS key.
s3.create_bucket(Bucket="kms-default")
s3.put_bucket_encryption(
    Bucket="kms-default",
    ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/app"}}]
    },
)
conf = s3.get_bucket_encryption(Bucket="kms-default")["ServerSideEncryptionConfiguration"]["Rules"][0]
assert conf["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/app"}, conf
put = s3.put_object(Bucket="kms-default", Key="d", Body=b"by default")
assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key_arn, put
assert s3.get_object(Bucket="kms-default", Key="d")["Body"].read() == b"by default"
expect_error(
    "InvalidArgument",
    s3.put_bucket_encryption,
    Bucket="kms-default",
    ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "alias/app"}}]
    },
)

# A disabled key: reads and writes refused as S3 reports KMS's refusal; enabled again: fine.
mpu2 = s3.create_multipart_upload(Bucket="kms-objects", Key="mpu2", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/app")["UploadId"]
kms.disable_key(KeyId=key_id)
e = expect_error("KMS.DisabledException", s3.get_object, Bucket="kms-objects", Key="mine", status=400)
assert key_arn in e.response["Error"]["Message"], e.response
expect_error("KMS.DisabledException", s3.put_object, Bucket="kms-default", Key="d2", Body=b"x", status=400)
expect_error(
    "KMS.DisabledException",
    s3.upload_part,
    Bucket="kms-objects",
    Key="mpu2",
    UploadId=mpu2,
    PartNumber=1,
    Body=b"x",
    status=400,
)
# HEAD needs no data key.
assert s3.head_object(Bucket="kms-objects", Key="mine")["SSEKMSKeyId"] == key_arn
kms.enable_key(KeyId=key_id)
assert s3.get_object(Bucket="kms-objects", Key="mine")["Body"].read() == b"customer key data"
kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
expect_error("KMS.KMSInvalidStateException", s3.get_object, Bucket="kms-objects", Key="mine", status=400)
kms.cancel_key_deletion(KeyId=key_id)
kms.enable_key(KeyId=key_id)

# Unsigned and SigV2-presigned requests never get an SSE-KMS object: S3 requires SigV4.
s3.create_bucket(Bucket="kms-public")
s3.put_bucket_policy(
    Bucket="kms-public",
    Policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::kms-public/*"}
            ],
        }
    ),
)
s3.put_object(Bucket="kms-public", Key="plain", Body=b"public")
s3.put_object(Bucket="kms-public", Key="sealed", Body=b"sealed", ServerSideEncryption="aws:kms")


def fetch(url):
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


assert fetch(f"{endpoint}/kms-public/plain") == (200, b"public")
status, body = fetch(f"{endpoint}/kms-public/sealed")
assert status == 400 and b"<Code>InvalidArgument</Code>" in body and b"Signature Version 4" in body, (status, body)
v2 = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1", config=botocore.config.Config(signature_version="s3")
)
url = v2.generate_presigned_url("get_object", Params={"Bucket": "kms-public", "Key": "plain"})
assert "AWSAccessKeyId=" in url and fetch(url) == (200, b"public"), url
url = v2.generate_presigned_url("get_object", Params={"Bucket": "kms-public", "Key": "sealed"})
status, body = fetch(url)
assert status == 400 and b"Signature Version 4" in body, (status, body)
url = v4.generate_presigned_url("get_object", Params={"Bucket": "kms-public", "Key": "sealed"})
assert "X-Amz-Signature=" in url and fetch(url) == (200, b"sealed"), url

# --- IAM: a user needs kms:GenerateDataKey / kms:Decrypt on a customer managed key ---------
iam.create_user(UserName="kms-user")
iam.put_user_policy(
    UserName="kms-user",
    PolicyName="s3",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::kms-objects", "arn:aws:s3:::kms-objects/*"]}
            ],
        }
    ),
)
creds = iam.create_access_key(UserName="kms-user")["AccessKey"]
user_s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=creds["AccessKeyId"],
    aws_secret_access_key=creds["SecretAccessKey"],
)
user_kms = boto3.client(
    "kms",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=creds["AccessKeyId"],
    aws_secret_access_key=creds["SecretAccessKey"],
)
# The AWS managed key is open to the account's principals through S3.
user_s3.put_object(Bucket="kms-objects", Key="u-managed", Body=b"u", ServerSideEncryption="aws:kms")
assert user_s3.get_object(Bucket="kms-objects", Key="u-managed")["Body"].read() == b"u"
# A customer managed key is not, without kms permissions.
e = expect_error(
    "AccessDenied",
    user_s3.put_object,
    Bucket="kms-objects",
    Key="u-mine",
    Body=b"u",
    ServerSideEncryption="aws:kms",
    SSEKMSKeyId="alias/app",
    status=403,
)
assert "kms:GenerateDataKey" in e.response["Error"]["Message"], e.response
e = expect_error("AccessDenied", user_s3.get_object, Bucket="kms-objects", Key="mine", status=403)
assert "kms:Decrypt" in e.response["Error"]["Message"], e.response
expect_error("AccessDeniedException", user_kms.describe_key, KeyId="alias/app")
iam.put_user_policy(
    UserName="kms-user",
    PolicyName="kms",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
                    "Resource": key_arn,
                }
            ],
        }
    ),
)
user_s3.put_object(
    Bucket="kms-objects", Key="u-mine", Body=b"u2", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/app"
)
assert user_s3.get_object(Bucket="kms-objects", Key="u-mine")["Body"].read() == b"u2"
# The KMS API authorizes a request naming an alias on the key's ARN.
assert user_kms.describe_key(KeyId="alias/app")["KeyMetadata"]["Arn"] == key_arn
expect_error("AccessDeniedException", user_kms.describe_key, KeyId=second["KeyId"])
expect_error("AccessDeniedException", user_kms.encrypt, KeyId="alias/app", Plaintext=b"x")
# The second key stays out of reach.
expect_error("AccessDenied", user_s3.get_object, Bucket="kms-objects", Key="rekeyed", status=403)

print("boto3 kms: ok")
