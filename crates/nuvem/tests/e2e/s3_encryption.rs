//! Encryption at rest end to end with aws-sdk-s3: SSE-S3 and SSE-C on PUT/GET/HEAD, ranges
//! and multipart uploads, CopyObject between them, bucket default encryption, AWS's errors for
//! missing, wrong and malformed customer keys, DSSE-KMS refused — and the blob files on disk
//! read back to prove that no plaintext of an encrypted object is there (while the plaintext
//! of an unencrypted one is found by the same scan). SSE-C goes over the TLS listener, as S3
//! requires; over plain HTTP it is refused.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine as _;
use md5::Digest as _;
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const B: &str = "enc";
const MIB5: usize = 5 * 1024 * 1024;

/// `len` bytes of a recognisable text, different in every 64 KiB chunk.
fn secret(tag: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut n = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("{tag}-PLAINTEXT-{n:08}|").as_bytes());
        n += 1;
    }
    out.truncate(len);
    out
}

/// Whether any file under `dir` contains `needle`.
fn on_disk(dir: &Path, needle: &[u8]) -> bool {
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

struct Key {
    b64: String,
    md5: String,
}

fn key(byte: u8) -> Key {
    let raw = [byte; 32];
    Key {
        b64: base64::engine::general_purpose::STANDARD.encode(raw),
        md5: base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(raw)),
    }
}

/// An aws-sdk-s3 client on the TLS listener, trusting the generated certificate.
fn tls_client(nuvem: &Nuvem) -> Client {
    use aws_smithy_http_client::tls;
    let pem = std::fs::read(nuvem.dir().join("data/tls/cert.pem")).unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::empty().with_pem_certificate(pem))
                .build()
                .unwrap(),
        )
        .build_https();
    let url = nuvem
        .api_tls_url
        .clone()
        .unwrap()
        .replace("127.0.0.1", "localhost");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(nuvem.credentials())
        .endpoint_url(url)
        .force_path_style(true)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map_or(0, |r| r.status().as_u16())
}

async fn body(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn s3_encryption_sse_s3_and_default() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    let data_dir = nuvem.dir().join("data");
    let blobs = data_dir.join("s3").join("blobs");
    c.create_bucket().bucket(B).send().await.unwrap();

    let data = secret("SSES3", 300 * 1024 + 17);
    let put = c
        .put_object()
        .bucket(B)
        .key("s3")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    let got = c.get_object().bucket(B).key("s3").send().await.unwrap();
    assert_eq!(
        got.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    assert_eq!(body(got).await, data);
    // Ranges that start and end inside chunks, across chunk boundaries, and the tail.
    for (a, b) in [
        (0, 0),
        (70_000, 140_000),
        (65_535, 65_536),
        (300 * 1024, 300 * 1024 + 16),
    ] {
        let got = c
            .get_object()
            .bucket(B)
            .key("s3")
            .range(format!("bytes={a}-{b}"))
            .send()
            .await
            .unwrap();
        assert_eq!(body(got).await, &data[a..=b], "bytes={a}-{b}");
    }
    let head = c.head_object().bucket(B).key("s3").send().await.unwrap();
    assert_eq!(
        head.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    assert_eq!(head.content_length, Some(data.len() as i64));

    // Default encryption: none yet, then AES256 for every new object, multipart included.
    let e = c
        .get_bucket_encryption()
        .bucket(B)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (status(&e), e.code()),
        (404, Some("ServerSideEncryptionConfigurationNotFoundError"))
    );
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .unwrap(),
        )
        .build();
    c.put_bucket_encryption()
        .bucket(B)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_encryption().bucket(B).send().await.unwrap();
    let rules = got.server_side_encryption_configuration.unwrap().rules;
    assert_eq!(
        rules[0]
            .apply_server_side_encryption_by_default
            .as_ref()
            .map(|d| d.sse_algorithm.clone()),
        Some(ServerSideEncryption::Aes256)
    );
    let big = secret("DEFAULT", MIB5 + 100_000);
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("mpu")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mut parts = Vec::new();
    for (n, chunk) in [(1, &big[..MIB5]), (2, &big[MIB5..])] {
        let p = c
            .upload_part()
            .bucket(B)
            .key("mpu")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(p.server_side_encryption, Some(ServerSideEncryption::Aes256));
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag.unwrap())
                .build(),
        );
    }
    let done = c
        .complete_multipart_upload()
        .bucket(B)
        .key("mpu")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    let (a, b) = (MIB5 - 1000, MIB5 + 1000);
    let got = c
        .get_object()
        .bucket(B)
        .key("mpu")
        .range(format!("bytes={a}-{b}"))
        .send()
        .await
        .unwrap();
    assert_eq!(body(got).await, &big[a..=b], "a range across the parts");
    let got = c.get_object().bucket(B).key("mpu").send().await.unwrap();
    assert_eq!(body(got).await, big);
    c.delete_bucket_encryption().bucket(B).send().await.unwrap();
    assert!(c.get_bucket_encryption().bucket(B).send().await.is_err());

    // DSSE-KMS is refused, never stored with one layer (SSE-KMS: s3_kms.rs).
    let e = c
        .put_object()
        .bucket(B)
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKmsDsse)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (501, Some("NotImplemented")));

    // A plain object's text is on disk; the encrypted ones' is not.
    c.put_object()
        .bucket(B)
        .key("plain")
        .body(ByteStream::from(secret("CLEAR", 1000)))
        .send()
        .await
        .unwrap();
    assert!(
        on_disk(&blobs, b"CLEAR-PLAINTEXT-00000001|"),
        "the scan finds plaintext"
    );
    assert!(!on_disk(&blobs, b"SSES3-PLAINTEXT-"));
    assert!(!on_disk(&blobs, b"DEFAULT-PLAINTEXT-"));
    // The master key lives outside the blob directory, readable by its owner only.
    let master = data_dir.join("keys").join("master.key");
    let meta = std::fs::metadata(&master).unwrap();
    assert_eq!(meta.len(), 32);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(!master.starts_with(&blobs));

    // After a restart (the same master key), encrypted objects still read.
    drop(c);
    let mut nuvem = nuvem;
    nuvem.restart();
    let c = nuvem.s3();
    let got = c.get_object().bucket(B).key("s3").send().await.unwrap();
    assert_eq!(body(got).await, data);
}

#[tokio::test]
async fn s3_encryption_sse_c() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            tls: true,
            ..Default::default()
        },
    );
    let plain_http = nuvem.s3();
    let c = tls_client(&nuvem);
    let blobs = nuvem.dir().join("data").join("s3").join("blobs");
    c.create_bucket().bucket(B).send().await.unwrap();
    let k = key(7);
    let wrong = key(8);
    let data = secret("SSEC", 200 * 1024 + 5);
    // Over plain HTTP a customer key is refused, before anything is stored.
    let e = plain_http
        .put_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (400, Some("InvalidRequest")));
    assert!(
        e.message().is_some_and(|m| m.contains("secure connection")),
        "{e:?}"
    );
    let put = c
        .put_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.sse_customer_algorithm.as_deref(), Some("AES256"));
    assert_eq!(put.sse_customer_key_md5.as_deref(), Some(k.md5.as_str()));
    assert_eq!(put.server_side_encryption, None);
    let etag = put.e_tag.unwrap();
    let plain_md5 = format!("\"{}\"", hex::encode(md5::Md5::digest(&data)));
    assert_ne!(
        etag, plain_md5,
        "an SSE-C ETag does not reveal the data's MD5"
    );

    // With the key: GET, ranges, HEAD.
    let got = c
        .get_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(got.sse_customer_key_md5.as_deref(), Some(k.md5.as_str()));
    assert_eq!(body(got).await, data);
    let got = c
        .get_object()
        .bucket(B)
        .key("c")
        .range("bytes=131000-140000")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(body(got).await, &data[131_000..=140_000]);
    let head = c
        .head_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length, Some(data.len() as i64));
    assert_eq!(head.sse_customer_algorithm.as_deref(), Some("AES256"));

    // Without the key: 400 InvalidRequest; with another key: 403 AccessDenied.
    let e = c.get_object().bucket(B).key("c").send().await.unwrap_err();
    assert_eq!((status(&e), e.code()), (400, Some("InvalidRequest")));
    let e = c.head_object().bucket(B).key("c").send().await.unwrap_err();
    assert_eq!(status(&e), 400);
    let e = c
        .get_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&wrong.b64)
        .sse_customer_key_md5(&wrong.md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (403, Some("AccessDenied")));
    // A key whose MD5 does not match, a short key, another algorithm.
    let e = c
        .get_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&wrong.md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (400, Some("InvalidArgument")));
    let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
    let short_md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest([1u8; 16]));
    let e = c
        .put_object()
        .bucket(B)
        .key("short")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&short)
        .sse_customer_key_md5(&short_md5)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (400, Some("InvalidArgument")));
    let e = c
        .put_object()
        .bucket(B)
        .key("alg")
        .sse_customer_algorithm("AES128")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (status(&e), e.code()),
        (400, Some("InvalidEncryptionAlgorithmError"))
    );
    // A customer key for an object that is not SSE-C is refused.
    c.put_object()
        .bucket(B)
        .key("plain")
        .body(ByteStream::from_static(b"plain"))
        .send()
        .await
        .unwrap();
    let e = c
        .get_object()
        .bucket(B)
        .key("plain")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (400, Some("InvalidRequest")));

    // CopyObject needs the source key; the copy is re-encrypted under SSE-S3.
    let e = c
        .copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(format!("{B}/c"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    let copied = c
        .copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(format!("{B}/c"))
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k.b64)
        .copy_source_sse_customer_key_md5(&k.md5)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    let got = c.get_object().bucket(B).key("copy").send().await.unwrap();
    assert_eq!(body(got).await, data);

    // Multipart with SSE-C: every part needs the key; a range across parts reads.
    let big = secret("MPUSSEC", MIB5 + 70_000);
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("m")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let e = c
        .upload_part()
        .bucket(B)
        .key("m")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"no key"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), e.code()), (400, Some("InvalidRequest")));
    let mut parts = Vec::new();
    for (n, chunk) in [(1, &big[..MIB5]), (2, &big[MIB5..])] {
        let p = c
            .upload_part()
            .bucket(B)
            .key("m")
            .upload_id(&id)
            .part_number(n)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&k.b64)
            .sse_customer_key_md5(&k.md5)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag.unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket(B)
        .key("m")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (a, b) = (MIB5 - 5, MIB5 + 65_600);
    let got = c
        .get_object()
        .bucket(B)
        .key("m")
        .range(format!("bytes={a}-{b}"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(body(got).await, &big[a..=b]);
    let e = c.get_object().bucket(B).key("m").send().await.unwrap_err();
    assert_eq!(status(&e), 400);

    // No plaintext, and not the customer's key, on disk.
    c.put_object()
        .bucket(B)
        .key("clear")
        .body(ByteStream::from(secret("CLEARC", 500)))
        .send()
        .await
        .unwrap();
    assert!(
        on_disk(&blobs, b"CLEARC-PLAINTEXT-00000001|"),
        "the scan finds plaintext"
    );
    assert!(!on_disk(&blobs, b"SSEC-PLAINTEXT-"));
    assert!(!on_disk(&blobs, b"MPUSSEC-PLAINTEXT-"));
    assert!(
        !on_disk(&nuvem.dir().join("data"), &[7u8; 32]),
        "the customer key is stored"
    );
    assert!(!on_disk(&nuvem.dir().join("data"), k.b64.as_bytes()));
}

/// Two nodes on one PostgreSQL database, given the same master key file
/// (`server.master_key_file`): an SSE-S3 object one writes (its data in the database, sealed),
/// the other reads; a range too.
#[tokio::test]
async fn s3_encryption_two_nodes_share_the_master_key() {
    let test = "s3_encryption_two_nodes_share_the_master_key";
    let Some(server) = crate::storage_postgres::pg_server::PgServer::start(test, true) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("master.key");
    std::fs::write(&key_file, [9u8; 32]).unwrap();
    let manifest = format!(
        "[server]\nstorage = \"{}\"\nmaster_key_file = \"{}\"\n",
        server.url(),
        key_file.display()
    );
    let options = Options {
        manifest: Some(manifest),
        ..Options::default()
    };
    let a = Nuvem::start_with(BIN, options.clone());
    let b = Nuvem::start_with(BIN, options);
    let (ca, cb) = (a.s3(), b.s3());
    ca.create_bucket().bucket(B).send().await.unwrap();
    let data = secret("NODES", 150_000);
    ca.put_object()
        .bucket(B)
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let got = cb.get_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(
        got.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    assert_eq!(body(got).await, data);
    let got = cb
        .get_object()
        .bucket(B)
        .key("k")
        .range("bytes=65000-70000")
        .send()
        .await
        .unwrap();
    assert_eq!(body(got).await, &data[65_000..=70_000]);
    // Neither data dir holds a key of its own.
    for n in [&a, &b] {
        assert!(!n.dir().join("data/keys/master.key").exists());
    }
}
