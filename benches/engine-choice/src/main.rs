//! The benchmark behind nuvem's embedded storage engine choice: fjall 2.11 vs redb, each in
//! the durability modes nuvem could use, on the shapes of work `nuvem-store`'s `Engine` trait
//! sees. See README.md beside this file for what it measures and the numbers.
//!
//! Usage: `cargo run --release [-- --fsync-ops N]`. `--fsync-ops` lowers the operation count of
//! phases 1 and 2 for the modes that fsync every commit (default: the same 20,000 as the others).
//!
//! Every engine is opened the way `crates/store/src/fjall_engine.rs` opens fjall (or with redb's
//! defaults), in a fresh directory under /tmp per phase, with the same keys and values.

use std::error::Error;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fjall::{Config, PartitionCreateOptions, PersistMode, TxKeyspace, TxPartitionHandle};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const VALUE_LEN: usize = 200;
const KEY_LEN: usize = 16;
const SINGLE_OPS: usize = 20_000;
const THREADS: usize = 8;
const BULK_KEYS: usize = 100_000;
const BULK_BATCH: usize = 1_000;
const POINT_READS: usize = 10_000;
const CRASH_OPS: usize = 1_000;

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("data");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    FjallBuffer,
    FjallSyncData,
    RedbImmediate,
    RedbNone,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::FjallBuffer, Mode::FjallSyncData, Mode::RedbImmediate, Mode::RedbNone];

    fn label(self) -> &'static str {
        match self {
            Mode::FjallBuffer => "fjall Buffer",
            Mode::FjallSyncData => "fjall SyncData",
            Mode::RedbImmediate => "redb Immediate",
            Mode::RedbNone => "redb None",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Mode::FjallBuffer => "fjall-buffer",
            Mode::FjallSyncData => "fjall-syncdata",
            Mode::RedbImmediate => "redb-immediate",
            Mode::RedbNone => "redb-none",
        }
    }

    fn from_id(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.id() == s)
    }

    /// What an acknowledged commit survives, by the engine's own documentation.
    fn documented_safety(self) -> &'static str {
        match self {
            Mode::FjallBuffer => "process crash",
            Mode::FjallSyncData | Mode::RedbImmediate => "process crash + power loss",
            Mode::RedbNone => "nothing (held in process memory)",
        }
    }

    fn fsyncs_every_commit(self) -> bool {
        matches!(self, Mode::FjallSyncData | Mode::RedbImmediate)
    }
}

/// One open engine in one durability mode.
enum Db {
    Fjall { keyspace: TxKeyspace, data: TxPartitionHandle, persist: PersistMode },
    Redb { db: Database, durability: redb::Durability },
}

impl Db {
    fn open(mode: Mode, dir: &Path) -> Res<Db> {
        std::fs::create_dir_all(dir)?;
        match mode {
            Mode::FjallBuffer | Mode::FjallSyncData => {
                // As FjallEngine::open does.
                let keyspace = Config::new(dir).fsync_ms(Some(1000)).open_transactional()?;
                let data = keyspace.open_partition("data", PartitionCreateOptions::default())?;
                let persist =
                    if mode == Mode::FjallBuffer { PersistMode::Buffer } else { PersistMode::SyncData };
                Ok(Db::Fjall { keyspace, data, persist })
            }
            Mode::RedbImmediate | Mode::RedbNone => {
                // Opens the file if it is already a database (after the crash test's kill).
                let db = Database::create(dir.join("data.redb"))?;
                let tx = db.begin_write()?;
                tx.open_table(TABLE)?;
                tx.commit()?;
                let durability = if mode == Mode::RedbImmediate {
                    redb::Durability::Immediate
                } else {
                    redb::Durability::None
                };
                Ok(Db::Redb { db, durability })
            }
        }
    }

    /// One conditional update, like a DynamoDB PutItem with a condition: read the key, then
    /// write it, in one read-write transaction committed in the mode's durability.
    fn read_then_write(&self, key: &[u8], value: &[u8]) -> Res<()> {
        match self {
            Db::Fjall { keyspace, data, persist } => {
                let mut tx = keyspace.write_tx().durability(Some(*persist));
                black_box(tx.get(data, key)?.map(|v| v.len()));
                tx.insert(data, key, value);
                tx.commit()?;
            }
            Db::Redb { db, durability } => {
                let mut tx = db.begin_write()?;
                tx.set_durability(*durability)?;
                {
                    let mut table = tx.open_table(TABLE)?;
                    black_box(table.get(key)?.map(|v| v.value().len()));
                    table.insert(key, value)?;
                }
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Writes a batch of puts in one transaction.
    fn put_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]) -> Res<()> {
        match self {
            Db::Fjall { keyspace, data, persist } => {
                let mut tx = keyspace.write_tx().durability(Some(*persist));
                for (k, v) in batch {
                    tx.insert(data, k.as_slice(), v.as_slice());
                }
                tx.commit()?;
            }
            Db::Redb { db, durability } => {
                let mut tx = db.begin_write()?;
                tx.set_durability(*durability)?;
                {
                    let mut table = tx.open_table(TABLE)?;
                    for (k, v) in batch {
                        table.insert(k.as_slice(), v.as_slice())?;
                    }
                }
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Forward scan of every key in a fresh snapshot, copying each pair out (as the store's
    /// `ScanIter` does). Returns the number of pairs.
    fn scan_all(&self) -> Res<usize> {
        let mut n = 0;
        let mut bytes = 0;
        match self {
            Db::Fjall { keyspace, data, .. } => {
                let snap = keyspace.read_tx();
                for kv in snap.iter(data) {
                    let (k, v) = kv?;
                    let (k, v) = (k.to_vec(), v.to_vec());
                    bytes += k.len() + v.len();
                    n += 1;
                }
            }
            Db::Redb { db, .. } => {
                let snap = db.begin_read()?;
                let table = snap.open_table(TABLE)?;
                for kv in table.iter()? {
                    let (k, v) = kv?;
                    let (k, v) = (k.value().to_vec(), v.value().to_vec());
                    bytes += k.len() + v.len();
                    n += 1;
                }
            }
        }
        black_box(bytes);
        Ok(n)
    }

    /// One point read in its own fresh snapshot, as `Store::get` does.
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        match self {
            Db::Fjall { keyspace, data, .. } => Ok(keyspace.read_tx().get(data, key)?.map(|v| v.to_vec())),
            Db::Redb { db, .. } => {
                let snap = db.begin_read()?;
                let table = snap.open_table(TABLE)?;
                Ok(table.get(key)?.map(|v| v.value().to_vec()))
            }
        }
    }
}

/// splitmix64: deterministic, dependency-free, good enough for keys and values.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// Random keys and incompressible values, so neither engine gains from compression.
    fn pairs(&mut self, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n).map(|_| (self.bytes(KEY_LEN), self.bytes(VALUE_LEN))).collect()
    }
}

struct Scratch {
    root: PathBuf,
    next: usize,
}

impl Scratch {
    fn dir(&mut self, what: &str) -> PathBuf {
        self.next += 1;
        self.root.join(format!("{:02}-{what}", self.next))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Single {
    ops: usize,
    ops_per_s: f64,
    p50: Duration,
    p99: Duration,
}

/// Phase 1: `ops` read-then-write transactions, one thread.
fn single(db: &Db, pairs: &[(Vec<u8>, Vec<u8>)]) -> Res<Single> {
    let mut lat = Vec::with_capacity(pairs.len());
    let start = Instant::now();
    for (k, v) in pairs {
        let t = Instant::now();
        db.read_then_write(k, v)?;
        lat.push(t.elapsed());
    }
    let total = start.elapsed();
    lat.sort_unstable();
    Ok(Single {
        ops: pairs.len(),
        ops_per_s: pairs.len() as f64 / total.as_secs_f64(),
        p50: percentile(&lat, 0.50),
        p99: percentile(&lat, 0.99),
    })
}

/// Phase 2: the same transactions from `THREADS` threads at once. Returns ops/s.
fn concurrent(db: &Db, pairs: &[(Vec<u8>, Vec<u8>)]) -> Res<f64> {
    let chunk = pairs.len().div_ceil(THREADS);
    let start = Instant::now();
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Res<()> {
                    for (k, v) in part {
                        db.read_then_write(k, v)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "writer thread panicked")??;
        }
        Ok(())
    })?;
    Ok(pairs.len() as f64 / start.elapsed().as_secs_f64())
}

struct Bulk {
    load: Duration,
    scan: Duration,
    reads: Duration,
}

/// Phase 3: bulk load in batches, full forward scan, random point reads.
fn bulk(db: &Db, pairs: &[(Vec<u8>, Vec<u8>)], rng: &mut Rng) -> Res<Bulk> {
    let start = Instant::now();
    for batch in pairs.chunks(BULK_BATCH) {
        db.put_batch(batch)?;
    }
    let load = start.elapsed();

    let start = Instant::now();
    let n = db.scan_all()?;
    let scan = start.elapsed();
    if n != pairs.len() {
        return Err(format!("scan saw {n} keys, expected {}", pairs.len()).into());
    }

    let picks: Vec<usize> = (0..POINT_READS).map(|_| (rng.next_u64() % pairs.len() as u64) as usize).collect();
    let start = Instant::now();
    for &i in &picks {
        let (k, v) = &pairs[i];
        if db.get(k)?.as_deref() != Some(v.as_slice()) {
            return Err("point read returned the wrong value".into());
        }
    }
    let reads = start.elapsed();
    Ok(Bulk { load, scan, reads })
}

fn crash_key(i: usize) -> Vec<u8> {
    let mut k = vec![0u8; KEY_LEN];
    k[..8].copy_from_slice(&(i as u64).to_be_bytes());
    k
}

/// The child side of phase 4: commit `n` read-then-write transactions, report, then wait to
/// be killed with SIGKILL without ever closing the engine.
fn crash_child(mode: Mode, dir: &Path, n: usize) -> Res<()> {
    let db = Db::open(mode, dir)?;
    let mut rng = Rng(7);
    for i in 0..n {
        db.read_then_write(&crash_key(i), &rng.bytes(VALUE_LEN))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "acked {n}")?;
    out.flush()?;
    std::thread::sleep(Duration::from_secs(60));
    Err("crash child was not killed".into())
}

/// Phase 4: how many acknowledged commits survive `kill -9` of the process that made them.
fn crash(mode: Mode, dir: &Path, n: usize) -> Res<(usize, usize)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["crash-child", mode.id(), dir.to_str().ok_or("temp path is not UTF-8")?, &n.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no child stdout")?).read_line(&mut line)?;
    child.kill()?; // SIGKILL
    child.wait()?;
    let acked: usize = line
        .trim()
        .strip_prefix("acked ")
        .ok_or_else(|| format!("crash child said {line:?}"))?
        .parse()?;

    let db = Db::open(mode, dir)?;
    let mut recovered = 0;
    for i in 0..acked {
        if db.get(&crash_key(i))?.is_some() {
            recovered += 1;
        }
    }
    Ok((acked, recovered))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("crash-child") {
        let mode = Mode::from_id(args.get(2).ok_or("mode")?).ok_or("unknown mode")?;
        let dir = PathBuf::from(args.get(3).ok_or("dir")?);
        let n: usize = args.get(4).ok_or("count")?.parse()?;
        return crash_child(mode, &dir, n);
    }
    let mut fsync_ops = SINGLE_OPS;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fsync-ops" => fsync_ops = it.next().ok_or("--fsync-ops needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }

    let root = std::env::temp_dir().join(format!("nuvem-engine-choice-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let result = run(&root, fsync_ops);
    std::fs::remove_dir_all(&root)?;
    result
}

fn run(root: &Path, fsync_ops: usize) -> Res<()> {
    let mut scratch = Scratch { root: root.to_path_buf(), next: 0 };
    let wall = Instant::now();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    eprintln!("engine-choice: fjall 2.11.2 vs redb 4, temp dir {}, {cores} cores", root.display());

    // Same keys and values for every engine.
    let single_pairs = Rng(1).pairs(SINGLE_OPS);
    let conc_pairs = Rng(2).pairs(SINGLE_OPS);
    let bulk_pairs = Rng(3).pairs(BULK_KEYS);

    let mut rows = Vec::new();
    for mode in Mode::ALL {
        let ops = if mode.fsyncs_every_commit() { fsync_ops.min(SINGLE_OPS) } else { SINGLE_OPS };
        let t = Instant::now();

        let db = Db::open(mode, &scratch.dir(&format!("{}-single", mode.id())))?;
        let s = single(&db, &single_pairs[..ops])?;
        drop(db);

        let db = Db::open(mode, &scratch.dir(&format!("{}-concurrent", mode.id())))?;
        let c = concurrent(&db, &conc_pairs[..ops])?;
        drop(db);

        let db = Db::open(mode, &scratch.dir(&format!("{}-bulk", mode.id())))?;
        let b = bulk(&db, &bulk_pairs, &mut Rng(4))?;
        drop(db);

        let crash_ops = CRASH_OPS;
        let (acked, recovered) = crash(mode, &scratch.dir(&format!("{}-crash", mode.id())), crash_ops)?;

        eprintln!(
            "  {:<15} done in {:.1} s: {:.0} ops/s single, {:.0} ops/s x{THREADS}, bulk {:.0} ms, kill -9 kept {recovered}/{acked}",
            mode.label(),
            t.elapsed().as_secs_f64(),
            s.ops_per_s,
            c,
            ms(b.load),
        );
        rows.push((mode, s, c, b, acked, recovered));
    }

    println!();
    println!(
        "| engine, mode | acked commit survives (documented) | ops | 1 thread ops/s | p50 µs | p99 µs | {THREADS} threads ops/s | load 100k ms | scan 100k ms | 10k gets ms | kill -9: acked → kept |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (mode, s, c, b, acked, recovered) in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} | {} → {} |",
            mode.label(),
            mode.documented_safety(),
            s.ops,
            s.ops_per_s,
            us(s.p50),
            us(s.p99),
            c,
            ms(b.load),
            ms(b.scan),
            ms(b.reads),
            acked,
            recovered,
        );
    }
    println!();
    println!("total wall time {:.1} s", wall.elapsed().as_secs_f64());
    Ok(())
}
