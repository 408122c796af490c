//! The regional tier's disk layer: whole entries written as one file each under the cache
//! folder, size-bounded (a moka index weighted by file size; evicted or invalidated files are
//! deleted), found again after a restart by scanning the folder.
//!
//! Writing is off the request path: one writer thread per tier takes entries from a bounded
//! queue and may spend at most [`WRITE_SHARE`] of its time writing. Creating a file costs more
//! than serving the miss that produced it (on ext4 without a journal, inode allocation alone
//! was 75 % of the edge's CPU under a flood of 1 KiB misses), so an entry that finds the queue
//! full is not written: it stays in the memory tier, and the disk keeps what the writer had
//! time for. Under ordinary miss rates every entry is written within milliseconds.
//!
//! Must not: panic or serve a damaged file. Files are written to a temporary name and renamed,
//! so a crash leaves either the old file or the new one; a file that does not parse, or whose
//! key differs from the one asked for, is deleted and treated as a miss.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::body::SharedBody;
use crate::cache::PathCounts;
use crate::distribution::pattern_matches;
use crate::entry::{CacheKey, Entry, Representation};
use crate::freshness::Freshness;

const MAGIC: &[u8; 8] = b"NUVEMEC1";

#[derive(Clone)]
struct Meta {
    path: Arc<str>,
    size: u32,
    /// When the file was written (its modification time after a restart).
    written: SystemTime,
}

/// The least a file weighs against the disk bound: one filesystem block.
const BLOCK: u32 = 4096;

/// Entries waiting for the writer; past this many, new ones are not written.
const QUEUE: usize = 256;

/// The share of its time the writer may spend writing (a token bucket refilled at this rate
/// per second of wall time, holding at most [`BURST`]).
pub const WRITE_SHARE: f64 = 0.05;

/// Writing time the writer may bank while idle, seconds.
const BURST: f64 = 0.05;

/// What the writer does after an entry's file is written (or not): the regional tier's
/// re-check against invalidations that landed meanwhile.
type Then = Box<dyn FnOnce(&Files) + Send>;

/// The folder and its index: what the writer thread and the tier share.
#[derive(Clone)]
pub struct Files {
    dir: PathBuf,
    index: moka::sync::Cache<String, Meta>,
    /// The index's entries per path (see `PathCounts`): uncounted by the eviction listener,
    /// whatever removed the entry.
    paths: Arc<PathCounts>,
}

#[derive(Clone)]
pub struct DiskTier {
    files: Files,
    queue: SyncSender<(Arc<Entry>, Then)>,
}

fn file_name(key: &CacheKey) -> String {
    let mut h = Sha256::new();
    h.update(key.behavior().to_le_bytes());
    h.update(key.path().as_bytes());
    h.update([0]);
    h.update(key.rest().as_bytes());
    // Lower-case hex (existing folders keep their names), written into a fixed buffer: this
    // runs on every memory miss, and `hex::encode` builds its string a character at a time.
    let mut name = [0u8; 64];
    // Fails only when the buffer is not twice the digest's 32 bytes, which it is.
    let _ = hex::encode_to_slice(h.finalize(), &mut name);
    String::from_utf8_lossy(&name).into_owned()
}

impl DiskTier {
    /// Opens (creating) the folder and indexes the entries already in it.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let evict_dir = dir.to_path_buf();
        let paths = Arc::new(PathCounts::new(max_bytes));
        let uncount = paths.clone();
        let index = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            // A file takes whole blocks of the filesystem (4 KiB on ext4 and most others),
            // so a small one weighs a block: the bound then holds on the disk, and it also
            // bounds how many files the index (in memory, about 300 bytes each) can list.
            .weigher(|_k: &String, m: &Meta| m.size.max(BLOCK))
            .eviction_listener(move |name: Arc<String>, m: Meta, cause| {
                uncount.remove(&m.path);
                if cause != moka::notification::RemovalCause::Replaced {
                    let _ = fs::remove_file(evict_dir.join(name.as_str()));
                }
            })
            .build();
        let files = Files {
            dir: dir.to_path_buf(),
            index,
            paths,
        };
        for f in fs::read_dir(dir)?.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(f.path());
                continue;
            }
            let meta = f.metadata().ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let written = meta
                .and_then(|m| m.modified().ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            match read_path(&f.path()) {
                Some(path) => files.insert(
                    name,
                    Meta {
                        path: path.into(),
                        size: u32::try_from(size).unwrap_or(u32::MAX),
                        written,
                    },
                ),
                None => {
                    let _ = fs::remove_file(f.path());
                }
            }
        }
        let (queue, jobs) = sync_channel(QUEUE);
        let writer = files.clone();
        std::thread::Builder::new()
            .name("edge-disk".into())
            .spawn(move || write_loop(&writer, &jobs))?;
        Ok(Self { files, queue })
    }

    /// Queues a whole entry for the writer thread, then `then` runs there once the file is
    /// written. Never waits: when the queue is full the entry is not written (and `then`
    /// does not run), as it is when its body is not whole.
    pub fn store_later(&self, entry: Arc<Entry>, then: impl FnOnce(&Files) + Send + 'static) {
        match self.queue.try_send((entry, Box::new(then))) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                tracing::trace!("edge disk cache: writer busy, entry kept in memory only");
            }
        }
    }

    /// Reads the entry stored for a key, if any.
    pub async fn load(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let name = file_name(key);
        self.files.index.get(&name)?;
        let path = self.files.dir.join(&name);
        let key = key.clone();
        let this = self.files.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = fs::read(&path).ok()?;
            match decode(&bytes) {
                Some(e) if e.key == key => Some(Arc::new(e)),
                _ => {
                    this.index.invalidate(&name);
                    None
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Deletes the entries whose path matches one of the patterns.
    pub fn invalidate(&self, patterns: &[String]) {
        self.files.invalidate(patterns);
    }

    pub fn invalidate_path(&self, path: &str) {
        self.files.invalidate_path(path);
    }

    /// When the oldest indexed file was written.
    pub fn oldest(&self) -> Option<SystemTime> {
        self.files.index.iter().map(|(_, m)| m.written).min()
    }

    /// Deletes the entries whose path matches one of the patterns and that were written
    /// before `before`.
    pub fn invalidate_before(&self, patterns: &[String], before: SystemTime) {
        let index = &self.files.index;
        let doomed: Vec<Arc<String>> = index
            .iter()
            .filter(|(_, m)| {
                m.written < before && patterns.iter().any(|p| pattern_matches(p, &m.path))
            })
            .map(|(name, _)| name)
            .collect();
        for name in doomed {
            index.invalidate(&*name);
        }
        index.run_pending_tasks();
    }
}

/// The writer thread: one entry at a time, within its share of time, until the tier is
/// dropped.
fn write_loop(files: &Files, jobs: &Receiver<(Arc<Entry>, Then)>) {
    let mut allowance = BURST;
    let mut last = Instant::now();
    while let Ok((entry, then)) = jobs.recv() {
        let now = Instant::now();
        allowance = (allowance + now.duration_since(last).as_secs_f64() * WRITE_SHARE).min(BURST);
        if allowance < 0.0 {
            // Over the share: wait it off (the queue fills meanwhile, and what does not fit
            // is not written).
            std::thread::sleep(Duration::from_secs_f64(-allowance / WRITE_SHARE));
            allowance = 0.0;
        }
        let began = Instant::now();
        if let Some(chunks) = entry.repr.body.whole() {
            files.write(&entry, &chunks);
            then(files);
            // Evictions now, here on the writer, so the folder never holds more than the
            // bound for long (moka otherwise runs them every few dozen inserts).
            files.index.run_pending_tasks();
        }
        last = Instant::now();
        allowance -= last.duration_since(began).as_secs_f64();
    }
}

impl Files {
    /// Writes one entry's file (temporary name, then renamed) and indexes it.
    fn write(&self, entry: &Entry, chunks: &[Bytes]) {
        let name = file_name(&entry.key);
        let bytes = encode(entry, chunks);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let ok = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&bytes))
            .and_then(|()| fs::rename(&tmp, self.dir.join(&name)));
        match ok {
            Ok(()) => self.insert(
                name,
                Meta {
                    path: entry.key.path().into(),
                    size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                    written: SystemTime::now(),
                },
            ),
            Err(e) => {
                tracing::warn!(error = %e, "edge disk cache write failed");
                let _ = fs::remove_file(&tmp);
            }
        }
    }

    fn invalidate(&self, patterns: &[String]) {
        self.drop_where(|path| patterns.iter().any(|p| pattern_matches(p, path)));
    }

    /// Indexes a file, counted under its path first.
    fn insert(&self, name: String, meta: Meta) {
        self.paths.add(&meta.path);
        self.index.insert(name, meta);
    }

    /// Drops every file of one path. Without a scan when the index lists none.
    pub fn invalidate_path(&self, path: &str) {
        if self.paths.any(path) {
            self.drop_where(|p| p == path);
        }
    }

    /// Removes every indexed file whose path matches, before returning (the eviction
    /// listener deletes the file); see `Tier::drop_where` for why not a lazy predicate.
    fn drop_where(&self, matches: impl Fn(&str) -> bool) {
        let doomed: Vec<Arc<String>> = self
            .index
            .iter()
            .filter(|(_, m)| matches(&m.path))
            .map(|(name, _)| name)
            .collect();
        for name in doomed {
            self.index.invalidate(&*name);
        }
        self.index.run_pending_tasks();
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

fn encode(e: &Entry, chunks: &[Bytes]) -> Vec<u8> {
    let body_len: usize = chunks.iter().map(Bytes::len).sum();
    let mut out = Vec::with_capacity(body_len + 1024);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(e.key.behavior() as u64).to_le_bytes());
    put_bytes(&mut out, e.key.path().as_bytes());
    put_bytes(&mut out, e.key.rest().as_bytes());
    out.extend_from_slice(&u64::from(e.status.as_u16()).to_le_bytes());
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for n in [
        secs(e.response_time),
        e.initial_age,
        e.freshness.lifetime.as_secs(),
        e.freshness.stale_while_revalidate.as_secs(),
        e.freshness.stale_if_error.as_secs(),
        u64::from(e.freshness.no_stale) | (u64::from(e.freshness.stale_on_error) << 1),
        e.headers.len() as u64,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for (k, v) in &e.headers {
        put_bytes(&mut out, k.as_str().as_bytes());
        put_bytes(&mut out, v.as_bytes());
    }
    out.extend_from_slice(&(e.vary.len() as u64).to_le_bytes());
    for (k, v) in &e.vary {
        put_bytes(&mut out, k.as_str().as_bytes());
        match v {
            Some(v) => {
                out.push(1);
                put_bytes(&mut out, v.as_bytes());
            }
            None => out.push(0),
        }
    }
    out.extend_from_slice(&(body_len as u64).to_le_bytes());
    for c in chunks {
        out.extend_from_slice(c);
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
}

/// The path of the key in a file's header, read without loading the body.
fn read_path(file: &Path) -> Option<String> {
    let mut f = fs::File::open(file).ok()?;
    let mut head = [0u8; 24];
    f.read_exact(&mut head).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let len = usize::try_from(u64::from_le_bytes(head[16..24].try_into().ok()?)).ok()?;
    if len > 64 * 1024 {
        return None;
    }
    let mut path = vec![0u8; len];
    f.read_exact(&mut path).ok()?;
    String::from_utf8(path).ok()
}

fn decode(bytes: &[u8]) -> Option<Entry> {
    let mut r = Reader(bytes);
    if r.take(8)? != MAGIC {
        return None;
    }
    let behavior = usize::try_from(r.u64()?).ok()?;
    let path = r.string()?;
    let rest = r.string()?;
    let status = StatusCode::from_u16(u16::try_from(r.u64()?).ok()?).ok()?;
    let response_time = UNIX_EPOCH + Duration::from_secs(r.u64()?);
    let initial_age = r.u64()?;
    let (lifetime, swr, sie, flags) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
    let freshness = Freshness {
        lifetime: Duration::from_secs(lifetime),
        stale_while_revalidate: Duration::from_secs(swr),
        stale_if_error: Duration::from_secs(sie),
        no_stale: flags & 1 != 0,
        stale_on_error: flags & 2 != 0,
    };
    let mut headers = HeaderMap::new();
    for _ in 0..r.u64()? {
        let k = HeaderName::from_bytes(r.bytes()?).ok()?;
        let v = HeaderValue::from_bytes(r.bytes()?).ok()?;
        headers.append(k, v);
    }
    let mut vary = Vec::new();
    for _ in 0..r.u64()? {
        let k = HeaderName::from_bytes(r.bytes()?).ok()?;
        let v = match r.take(1)?.first()? {
            1 => Some(HeaderValue::from_bytes(r.bytes()?).ok()?),
            _ => None,
        };
        vary.push((k, v));
    }
    let body = Bytes::copy_from_slice(r.bytes()?);
    if !r.0.is_empty() {
        return None;
    }
    let shared = SharedBody::arriving();
    shared.push(body);
    shared.finish(Ok(()));
    Some(Entry {
        key: CacheKey::new(behavior, path, rest),
        status,
        headers: crate::entry::stored_headers(&headers),
        repr: Representation::new(shared),
        response_time,
        initial_age,
        freshness,
        vary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// File names are the lower-case hex SHA-256 of the key's parts, as they always were:
    /// a folder written by an earlier build is found again.
    #[test]
    fn file_names_keep_their_format() {
        for (behavior, path, rest) in [
            (0, "/", ""),
            (3, "/a/b.css", "v=1\n"),
            (usize::MAX, "/ü", "x"),
        ] {
            let key = CacheKey::new(behavior, path.into(), rest.into());
            let mut h = Sha256::new();
            h.update(behavior.to_le_bytes());
            h.update(path.as_bytes());
            h.update([0]);
            h.update(rest.as_bytes());
            assert_eq!(file_name(&key), format!("{:x}", h.finalize()));
        }
    }
}
