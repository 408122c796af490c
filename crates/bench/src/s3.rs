//! The S3 workload: PutObject and GetObject of 4 KiB and 8 MiB objects at concurrency 1 and 16
//! through one aws-sdk-s3 client (checksums only where required, so the client's CPU goes to
//! requests, not hashing), against nuvem and optionally moto_server; then the peak RSS of a
//! fresh nuvem while 16 clients upload 1 GiB each at once (raw presigned PUTs written from a
//! reused 1 MiB buffer, so the client holds no object in memory).

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::procs;

const BUCKET: &str = "nuvem-bench";
const SIZES: [(usize, &str); 2] = [(4 * 1024, "4 KiB"), (8 * 1024 * 1024, "8 MiB")];
const CONCURRENCY: [usize; 2] = [1, 16];
/// Distinct keys per size: PUTs overwrite them in turn, GETs read them in turn.
const KEYS: u64 = 16;

#[derive(clap::Args)]
pub struct Args {
    /// The nuvem binary [default: $CARGO_TARGET_DIR/release/nuvem or target/release/nuvem].
    #[arg(long, value_name = "PATH")]
    nuvem_bin: Option<PathBuf>,
    /// Also run against moto_server (`pip install 'moto[server]'`).
    #[arg(long)]
    moto: bool,
    /// The moto_server executable.
    #[arg(long, value_name = "PATH", default_value = "moto_server")]
    moto_bin: PathBuf,
    /// Seconds per phase (one op, size and concurrency on one target), at most.
    #[arg(long, value_name = "S", default_value_t = 3)]
    duration_secs: u64,
    /// Operations per phase, at most.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    ops: u64,
    /// Size in MiB of each of the concurrent uploads of the memory test (0 skips it).
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    rss_upload_mib: u64,
    /// How many uploads of the memory test run at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    rss_uploads: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Put,
    Get,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Put => "PutObject",
            Op::Get => "GetObject",
        }
    }
}

struct Phase {
    op: Op,
    size: usize,
    concurrency: usize,
    latencies_us: Vec<u64>,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Phase {
    fn ops_per_sec(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn percentile_ms(&self, p: f64) -> Option<f64> {
        let n = self.latencies_us.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        let v = self.latencies_us.get(rank.clamp(1, n.max(1)) - 1)?;
        Some(*v as f64 / 1000.0)
    }
}

fn client(url: &str) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "nuvem-bench"))
        .endpoint_url(url)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(conf)
}

fn key(size: usize, i: u64) -> String {
    format!("obj-{size}-{}", i % KEYS)
}

async fn put(c: &Client, size: usize, i: u64, data: &Bytes) -> anyhow::Result<u64> {
    c.put_object()
        .bucket(BUCKET)
        .key(key(size, i))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))?;
    Ok(data.len() as u64)
}

async fn get(c: &Client, size: usize, i: u64) -> anyhow::Result<u64> {
    let out = c
        .get_object()
        .bucket(BUCKET)
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

async fn phase(
    c: &Client,
    op: Op,
    size: usize,
    concurrency: usize,
    args: &Args,
) -> anyhow::Result<Phase> {
    let data = Bytes::from(vec![0x5a; size]);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (c, data, next, cap) = (c.clone(), data.clone(), next.clone(), args.ops);
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut bytes, mut errors, mut first) = (Vec::new(), 0u64, 0u64, None);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cap {
                    break;
                }
                let t = Instant::now();
                let r = match op {
                    Op::Put => put(&c, size, i, &data).await,
                    Op::Get => get(&c, size, i).await,
                };
                match r {
                    Ok(n) => {
                        lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                        bytes += n;
                    }
                    Err(e) => {
                        errors += 1;
                        first.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (lat, bytes, errors, first)
        }));
    }
    let mut p = Phase {
        op,
        size,
        concurrency,
        latencies_us: Vec::new(),
        bytes: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (lat, bytes, errors, first) = t.await.context("a benchmark task panicked")?;
        p.latencies_us.extend(lat);
        p.bytes += bytes;
        p.errors += errors;
        p.first_error = p.first_error.or(first);
    }
    p.elapsed = start.elapsed();
    p.latencies_us.sort_unstable();
    Ok(p)
}

async fn run_target(name: &str, url: &str, args: &Args) -> anyhow::Result<Vec<Phase>> {
    let c = client(url);
    c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateBucket: {}", DisplayErrorContext(e)))?;
    let mut phases = Vec::new();
    for (size, _) in SIZES {
        // Every key exists before the first GET, and the connection pool is warm.
        let data = Bytes::from(vec![0x5a; size]);
        for i in 0..KEYS {
            put(&c, size, i, &data).await.context("filling")?;
        }
        for op in [Op::Put, Op::Get] {
            for conc in CONCURRENCY {
                eprintln!("{name}: {} {size} B at concurrency {conc}", op.name());
                phases.push(phase(&c, op, size, conc, args).await?);
            }
        }
    }
    Ok(phases)
}

/// Peak RSS of a fresh nuvem while `n` clients each upload `mib` MiB at once.
struct Memory {
    uploads: usize,
    mib: u64,
    rss_before_kib: u64,
    peak_kib: u64,
    elapsed: Duration,
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc/<pid>/status (Linux only)")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
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

async fn memory(bin: &std::path::Path, uploads: usize, mib: u64) -> anyhow::Result<Memory> {
    let nuvem = procs::Nuvem::start(bin)?;
    let c = client(&nuvem.url);
    c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateBucket: {}", DisplayErrorContext(e)))?;
    let rss_before_kib = status_kib(nuvem.pid(), "VmRSS:")?;
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
            bail!("a 1 GiB upload answered HTTP {status}");
        }
    }
    let elapsed = start.elapsed();
    let peak_kib = status_kib(nuvem.pid(), "VmHWM:")?;
    Ok(Memory {
        uploads,
        mib,
        rss_before_kib,
        peak_kib,
        elapsed,
    })
}

/// A server's name, its command line, and its phases (or why it failed).
type Target = (&'static str, String, anyhow::Result<Vec<Phase>>);

fn find(t: &Target, op: Op, size: usize, c: usize) -> Option<&Phase> {
    t.2.as_ref()
        .ok()?
        .iter()
        .find(|p| p.op == op && p.size == size && p.concurrency == c)
}

pub async fn run(args: Args, command_line: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.ops > 0 && args.duration_secs > 0,
        "--ops and --duration-secs must be positive"
    );
    let bin = args
        .nuvem_bin
        .clone()
        .unwrap_or_else(procs::default_nuvem_bin);
    let mut targets: Vec<Target> = Vec::new();
    {
        let nuvem = procs::Nuvem::start(&bin)?;
        let r = run_target("nuvem", &nuvem.url, &args).await;
        targets.push(("nuvem", nuvem.command.clone(), r));
    }
    if args.moto {
        let moto = procs::Moto::start(&args.moto_bin)?;
        let r = run_target("moto", &moto.url, &args).await;
        targets.push(("moto", moto.command.clone(), r));
    }
    let mem = if args.rss_upload_mib > 0 && args.rss_uploads > 0 {
        Some(memory(&bin, args.rss_uploads, args.rss_upload_mib).await)
    } else {
        None
    };

    let mut out = String::new();
    let _ = writeln!(out, "command: `{command_line}`\n");
    for (name, cmd, _) in &targets {
        let _ = writeln!(out, "- {name}: `{cmd}`");
    }
    let _ = writeln!(
        out,
        "- each phase: {} s or {} ops, whichever first, after {KEYS} untimed PUTs per size; one \
         aws-sdk-s3 client, checksums only when required; {} CPUs for client and servers together\n",
        args.duration_secs,
        args.ops,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    out.push_str(
        "| target | op | size | concurrency | ops | errors | ops/s | MiB/s | p50 ms | p99 ms |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let ms = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format!("{v:.2}"));
    for (size, label) in SIZES {
        for op in [Op::Put, Op::Get] {
            for c in CONCURRENCY {
                for t in &targets {
                    let Some(p) = find(t, op, size, c) else {
                        let _ = writeln!(
                            out,
                            "| {} | {} | {label} | {c} | – | – | failed | – | – | – |",
                            t.0,
                            op.name()
                        );
                        continue;
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {} | {label} | {c} | {} | {} | {:.0} | {:.1} | {} | {} |",
                        t.0,
                        op.name(),
                        p.latencies_us.len(),
                        p.errors,
                        p.ops_per_sec(),
                        p.mib_per_sec(),
                        ms(p.percentile_ms(50.0)),
                        ms(p.percentile_ms(99.0)),
                    );
                }
                if let [n, m] = targets.as_slice()
                    && let (Some(n), Some(m)) = (find(n, op, size, c), find(m, op, size, c))
                    && m.ops_per_sec() > 0.0
                {
                    let _ = writeln!(
                        out,
                        "| nuvem÷moto | {} | {label} | {c} | | | **{:.1}×** | | | |",
                        op.name(),
                        n.ops_per_sec() / m.ops_per_sec()
                    );
                }
            }
        }
    }
    let mut failed = false;
    for (name, _, r) in &targets {
        match r {
            Err(e) => {
                failed = true;
                let _ = writeln!(out, "\n{name} failed: {e:#}");
            }
            Ok(ps) => {
                for p in ps.iter().filter(|p| p.errors > 0) {
                    let _ = writeln!(
                        out,
                        "\n{name} {} {} B c={}: {} errors; first: {}",
                        p.op.name(),
                        p.size,
                        p.concurrency,
                        p.errors,
                        p.first_error.as_deref().unwrap_or("?")
                    );
                }
            }
        }
    }
    match mem {
        Some(Ok(m)) => {
            let total = m.uploads as f64 * m.mib as f64;
            let _ = writeln!(
                out,
                "\nmemory: {} concurrent presigned PUTs of {} MiB to a fresh nuvem: RSS {:.1} MiB \
                 before, peak (VmHWM) {:.1} MiB; {:.1} s, {:.0} MiB/s in total",
                m.uploads,
                m.mib,
                m.rss_before_kib as f64 / 1024.0,
                m.peak_kib as f64 / 1024.0,
                m.elapsed.as_secs_f64(),
                total / m.elapsed.as_secs_f64().max(1e-9),
            );
        }
        Some(Err(e)) => {
            failed = true;
            let _ = writeln!(out, "\nmemory test failed: {e:#}");
        }
        None => {}
    }
    print!("{out}");
    anyhow::ensure!(!failed, "a target failed (see above)");
    Ok(())
}
