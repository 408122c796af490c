//! KMS and SSE-KMS end to end: boto3's KMS client for the key lifecycle and its refusals, S3's
//! SSE-KMS through boto3 (PutObject, CopyObject, multipart, POST forms, bucket default
//! encryption, a disabled or pending-deletion key, unsigned and SigV2 requests refused, the kms
//! permissions of an IAM user:
//! tests/e2e/boto3/kms_boto3.py), and aws-sdk-s3 with the blob files read back to prove no
//! plaintext of an SSE-KMS object is on disk, nor key material in the store.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

#[tokio::test]
async fn kms_and_sse_kms_with_boto3() {
    if !crate::have_boto3("kms_and_sse_kms_with_boto3") {
        return;
    }
    let nuvem = Nuvem::start(BIN);
    let api = nuvem.api_url.clone();
    tokio::task::spawn_blocking(move || crate::run_boto3("kms_boto3.py", &api, "boto3 kms: ok"))
        .await
        .unwrap();
}

/// Whether any file under `dir` contains `needle`.
fn on_disk(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let p = e.path();
        if p.is_dir() {
            on_disk(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|data| data.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[tokio::test]
async fn sse_kms_sdk_no_plaintext_on_disk() {
    let mut nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("kmsdisk").send().await.unwrap();
    let mut data = Vec::new();
    for n in 0..20_000 {
        data.extend_from_slice(format!("KMSDATA-PLAINTEXT-{n:08}|").as_bytes());
    }
    let put = c
        .put_object()
        .bucket("kmsdisk")
        .key("k")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption,
        Some(ServerSideEncryption::AwsKms)
    );
    let arn = put.ssekms_key_id.clone().unwrap();
    assert!(arn.starts_with("arn:aws:kms:"), "{arn}");
    let got = c
        .get_object()
        .bucket("kmsdisk")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(got.ssekms_key_id.as_deref(), Some(arn.as_str()));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().to_vec(),
        data
    );
    let blobs = nuvem.dir().join("data").join("s3");
    assert!(!on_disk(&blobs, b"KMSDATA-PLAINTEXT-"));
    // The store holds the key's material sealed: no store file has the data key in clear
    // either (not checkable from outside), but neither the data.
    assert!(!on_disk(&nuvem.dir().join("data"), b"KMSDATA-PLAINTEXT-"));
    // After a restart the object still reads (the key ring is in the store, its material
    // sealed under the same master key file).
    drop(c);
    nuvem.restart();
    let c = nuvem.s3();
    let got = c
        .get_object()
        .bucket("kmsdisk")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().to_vec(),
        data
    );
}
