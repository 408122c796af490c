//! The S3 operations the benchmark drives: PutObject and GetObject of a given size through one
//! aws-sdk-s3 client (checksums only where required, so the client's CPU goes to requests,
//! not hashing), as [`load::Op`]s; and the memory test: the peak RSS of nuvem while N clients
//! upload large objects at once (raw presigned PUTs written from a reused 1 MiB buffer, so the
//! client holds no object in memory). Must not: time single requests (the load generator does).

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::{load, procs};

pub const BUCKET: &str = "nuvem-bench";
/// The same objects in a bucket whose default encryption is SSE-S3 (AES256).
pub const SSE_BUCKET: &str = "nuvem-bench-sse";
/// Distinct keys per size: PUTs overwrite them in turn, GETs read them in turn.
const KEYS: u64 = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "PutObject",
            Op::Get => "GetObject",
        }
    }
}

pub fn client(url: &str) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "nuvem-bench"))
        .endpoint_url(url)
        .force_path_style(true)
        // No retries: each recorded latency is exactly one request and every error is seen.
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(conf)
}

fn key(size: usize, i: u64) -> String {
    format!("obj-{size}-{}", i % KEYS)
}

async fn put(c: &Client, bucket: &str, size: usize, i: u64, data: &Bytes) -> anyhow::Result<u64> {
    c.put_object()
        .bucket(bucket)
        .key(key(size, i))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))?;
    Ok(data.len() as u64)
}

async fn get(c: &Client, bucket: &str, size: usize, i: u64) -> anyhow::Result<u64> {
    let out = c
        .get_object()
        .bucket(bucket)
        .key(key(size, i))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))?;
    let mut body = out.body;
    let mut n = 0u64;
    while let Some(chunk) = body.try_next().await? {
        n += chunk.len() as u64;
    }
    if n != size as u64 {
        bail!("GetObject returned {n} bytes, expected {size}");
    }
    Ok(n)
}

/// Creates the bucket and writes every key of `size` once, so GETs find them.
pub async fn prepare(c: &Client, sizes: &[usize]) -> anyhow::Result<()> {
    prepare_bucket(c, BUCKET, sizes, false).await
}

/// Creates `bucket` (with SSE-S3 default encryption when `sse`) and writes every key of each
/// size once.
pub async fn prepare_bucket(
    c: &Client,
    bucket: &str,
    sizes: &[usize],
    sse: bool,
) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    c.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateBucket: {}", DisplayErrorContext(e)))?;
    if sse {
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build()?,
            )
            .build();
        c.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("PutBucketEncryption: {}", DisplayErrorContext(e)))?;
    }
    for &size in sizes {
        let data = Bytes::from(vec![0x5a; size]);
        for i in 0..KEYS {
            put(c, bucket, size, i, &data).await.context("filling")?;
        }
    }
    Ok(())
}

/// `op` on objects of `size` bytes as a load-generator operation.
pub fn load_op(c: &Client, op: Op, size: usize) -> load::Op {
    load_op_in(c, BUCKET, op, size)
}

/// [`load_op`] on the objects of `bucket`.
pub fn load_op_in(c: &Client, bucket: &'static str, op: Op, size: usize) -> load::Op {
    let c = c.clone();
    let data = Bytes::from(vec![0x5a; size]);
    load::op(move |i| {
        let (c, data) = (c.clone(), data.clone());
        async move {
            match op {
                Op::Put => put(&c, bucket, size, i, &data).await,
                Op::Get => get(&c, bucket, size, i).await,
            }
        }
    })
}

/// Peak RSS of a fresh nuvem while `uploads` clients each upload `mib` MiB at once.
pub struct Memory {
    pub uploads: usize,
    pub mib: u64,
    pub rss_before_kib: u64,
    pub peak_kib: u64,
    pub elapsed: Duration,
}

/// One presigned PUT of `mib` MiB written over a plain socket; returns the HTTP status.
fn raw_upload(url: &str, mib: u64) -> anyhow::Result<u16> {
    let uri: http::Uri = url.parse()?;
    let addr = uri.authority().context("presigned URL host")?.to_string();
    let target = uri.path_and_query().context("presigned URL path")?;
    let mut conn = std::net::TcpStream::connect(&addr)?;
    write!(
        conn,
        "PUT {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        mib << 20
    )?;
    let chunk = vec![0xa5u8; 1 << 20];
    for _ in 0..mib {
        conn.write_all(&chunk)?;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head)?;
    let status = std::str::from_utf8(head.get(9..12).unwrap_or(&[]))?.parse()?;
    Ok(status)
}

pub async fn memory(
    bin: &std::path::Path,
    pin: Option<&str>,
    uploads: usize,
    mib: u64,
) -> anyhow::Result<Memory> {
    let launch = procs::Launch {
        pin,
        ..Default::default()
    };
    let nuvem = procs::Nuvem::launch(bin, &launch)?;
    let c = client(&nuvem.url);
    c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateBucket: {}", DisplayErrorContext(e)))?;
    let rss_before_kib = procs::status_kib(nuvem.pid(), "VmRSS:")?;
    let conf = PresigningConfig::expires_in(Duration::from_secs(3600))?;
    let mut urls = Vec::new();
    for i in 0..uploads {
        let p = c
            .put_object()
            .bucket(BUCKET)
            .key(format!("big-{i}"))
            .presigned(conf.clone())
            .await?;
        urls.push(p.uri().to_string());
    }
    eprintln!("nuvem: {uploads} concurrent uploads of {mib} MiB");
    let start = Instant::now();
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|u| tokio::task::spawn_blocking(move || raw_upload(&u, mib)))
        .collect();
    for t in tasks {
        let status = t.await.context("an upload thread panicked")??;
        if status != 200 {
            bail!("a {mib} MiB upload answered HTTP {status}");
        }
    }
    let elapsed = start.elapsed();
    let peak_kib = procs::status_kib(nuvem.pid(), "VmHWM:")?;
    Ok(Memory {
        uploads,
        mib,
        rss_before_kib,
        peak_kib,
        elapsed,
    })
}
