//! Large cached bodies sent with `sendfile(2)`, the way nginx sends its cache files: no copy of
//! the body from our memory into the socket's buffer on every hit.
//!
//! When a stored body of at least [`MIN_LEN`] bytes arrives whole, [`whole`] makes it one
//! `Bytes` as before; the first time the cache serves it ([`Fileable::file`]) it is also
//! written into a file (one per process, bodies one after the other at offsets aligned to
//! their size rounded up to a power of two, at most 2 MiB, a region's pages punched out when
//! its body is dropped). The file is an unnamed one (`O_TMPFILE`) in the edge's cache folder
//! when it has one ([`file_in`]), else an in-memory one (`memfd`). Why a disk filesystem's
//! file: `sendfile` from a memfd looks its pages up one by one (`shmem_file_splice_read`,
//! 11 % of the server's CPU during 100 KiB hits, profiled), where ext4's page cache hands out
//! batches of large folios (what nginx's cache files get; the alignment lets a body's pages
//! be large folios). Its pages are page cache: written back to the disk in the background,
//! and dropped and read again under memory pressure, like nginx's. Filing at
//! the first hit rather than at the fill keeps misses of objects nobody asks for again as
//! cheap as before (filing every 100 KiB fill doubled the miss's CPU time). The `Bytes` is registered by address: [`SendfileStream`], the socket wrapper
//! the plain-HTTP listeners use, looks up every large slice hyper hands it and, when the slice
//! lies inside a registered body, sends the response head with `MSG_MORE` and the body with
//! `sendfile` from the file instead of copying it. Everything else (compression, ranges, the
//! disk tier, TLS) reads the `Bytes` as before, so the file is only ever a second way to send
//! the same bytes.
//!
//! Costs: a filed body is held twice (its `Bytes` and the file's pages); entries of
//! fileable size count twice in their weight, so the caches' byte bounds still hold. The
//! first hit writes the body once more.
//!
//! Must not: let a region be overwritten while a socket may still reference its pages (a
//! region is never reused: offsets only grow, freed regions are punched out, and a fresh file
//! is started past [`FILE_SPAN`]), or send from a region whose body has been dropped (a slice
//! hyper is writing keeps its body alive for the whole call).

use std::collections::BTreeMap;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use nix::fcntl::{FallocateFlags, OFlag};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::socket::MsgFlags;
use nix::sys::stat::Mode;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Bodies smaller than this are copied into the socket as before (a `sendfile` costs more
/// than copying a few pages).
pub const MIN_LEN: usize = 64 * 1024;

/// How far one file's offsets grow before a fresh file is started (the old one is closed
/// once its last body is dropped).
const FILE_SPAN: u64 = 1 << 40;

const PAGE: u64 = 4096;

/// One in-memory file; bodies are laid end to end in it.
struct Arena {
    fd: OwnedFd,
    next: AtomicU64,
}

/// A registered body: where its bytes are in which file.
#[derive(Clone)]
struct Region {
    len: usize,
    arena: Arc<Arena>,
    offset: u64,
}

/// Registered bodies by the address of their first byte.
static REGISTRY: RwLock<BTreeMap<usize, Region>> = RwLock::new(BTreeMap::new());

/// The file new bodies go to; `None` once making one failed (no memfd here: nothing is
/// filed, bodies are copied as before).
static CURRENT: Mutex<Option<Option<Arc<Arena>>>> = Mutex::new(None);

/// The folder the next file is made in (see [`file_in`]).
static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Files large bodies in an unnamed file in `dir` (a folder on a disk filesystem: the edge's
/// cache folder) from the next file on, instead of in memory. The first call wins.
pub fn file_in(dir: &Path) {
    let _ = DIR.set(dir.to_path_buf());
}

/// The largest alignment of a body's offset (the largest folio the page cache makes).
const MAX_ALIGN: u64 = 2 << 20;

fn new_file() -> Option<OwnedFd> {
    if let Some(dir) = DIR.get() {
        match nix::fcntl::open(
            dir.as_path(),
            OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
            Mode::S_IRUSR | Mode::S_IWUSR,
        ) {
            Ok(fd) => return Some(fd),
            Err(e) => tracing::info!(error = %e, dir = %dir.display(),
                "edge: no unnamed file in the cache folder; large bodies are filed in memory"),
        }
    }
    match memfd_create(c"nuvem-edge-bodies", MFdFlags::MFD_CLOEXEC) {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::info!(error = %e, "edge: no memfd; large hits are copied into the socket");
            None
        }
    }
}

/// A region of `pages` bytes (a multiple of [`PAGE`]) for a new body: its file and offset.
fn arena_for(pages: u64) -> Option<(Arc<Arena>, u64)> {
    let align = pages.next_power_of_two().clamp(PAGE, MAX_ALIGN);
    let mut cur = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(Some(a)) = cur.as_ref()
        && a.next.load(Ordering::Relaxed).next_multiple_of(align) + pages > FILE_SPAN
    {
        *cur = None;
    }
    let arena = cur
        .get_or_insert_with(|| {
            new_file().map(|fd| {
                Arc::new(Arena {
                    fd,
                    next: AtomicU64::new(0),
                })
            })
        })
        .clone()?;
    // Under the lock: offsets only grow, and never overlap.
    let offset = arena.next.load(Ordering::Relaxed).next_multiple_of(align);
    arena.next.store(offset + pages, Ordering::Relaxed);
    Some((arena, offset))
}

/// The bytes of a large whole body, written into the file the first time the cache serves
/// them (so a body fetched once and never asked for again costs no file write).
pub struct Fileable {
    data: Vec<u8>,
    /// (file, offset, pages) once filed; `None` inside when filing failed.
    file: OnceLock<Option<(Arc<Arena>, u64, u64)>>,
}

impl std::fmt::Debug for Fileable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fileable")
            .field("len", &self.data.len())
            .field("filed", &self.file.get().is_some_and(Option::is_some))
            .finish()
    }
}

/// The owner of a fileable body's `Bytes`.
struct Owner(Arc<Fileable>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.0.data
    }
}

impl Fileable {
    /// Writes the body into the file and registers its `Bytes`, once; whether it is filed.
    pub fn file(&self) -> bool {
        self.file
            .get_or_init(|| {
                let len = self.data.len();
                let pages = (len as u64).div_ceil(PAGE) * PAGE;
                let (arena, offset) = arena_for(pages)?;
                let mut done = 0usize;
                while done < len {
                    match nix::sys::uio::pwrite(
                        &arena.fd,
                        &self.data[done..],
                        (offset + done as u64) as i64,
                    ) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => done += n,
                    }
                }
                if done < len {
                    // Out of memory for the file: this body is copied as before.
                    punch(&arena, offset, pages);
                    return None;
                }
                REGISTRY.write().unwrap_or_else(|p| p.into_inner()).insert(
                    self.data.as_ptr() as usize,
                    Region {
                        len,
                        arena: arena.clone(),
                        offset,
                    },
                );
                Some((arena, offset, pages))
            })
            .is_some()
    }
}

fn punch(arena: &Arena, offset: u64, pages: u64) {
    // Pages a socket still references stay alive until it is done with them.
    let _ = nix::fcntl::fallocate(
        &arena.fd,
        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        offset as i64,
        pages as i64,
    );
}

impl Drop for Fileable {
    fn drop(&mut self) {
        let Some(Some((arena, offset, pages))) = self.file.take() else {
            return;
        };
        // Deregistered before the memory is freed, so a new body at the same address never
        // meets this entry.
        {
            let mut r = REGISTRY.write().unwrap_or_else(|p| p.into_inner());
            let start = self.data.as_ptr() as usize;
            if r.get(&start).is_some_and(|e| e.offset == offset) {
                r.remove(&start);
            }
        }
        punch(&arena, offset, pages);
    }
}

/// The chunks of a whole body as one `Bytes`; a large one comes with the handle that files
/// it for `sendfile` ([`Fileable::file`]).
pub fn whole(chunks: &[Bytes], len: usize) -> (Bytes, Option<Arc<Fileable>>) {
    let mut data = Vec::with_capacity(len);
    for c in chunks {
        data.extend_from_slice(c);
    }
    if len < MIN_LEN {
        return (Bytes::from(data), None);
    }
    let f = Arc::new(Fileable {
        data,
        file: OnceLock::new(),
    });
    (Bytes::from_owner(Owner(f.clone())), Some(f))
}

/// Where `buf` is filed, if it lies inside a registered body.
fn lookup(buf: &[u8]) -> Option<Region> {
    let ptr = buf.as_ptr() as usize;
    let r = REGISTRY.read().unwrap_or_else(|p| p.into_inner());
    let (start, region) = r.range(..=ptr).next_back()?;
    let skip = ptr - start;
    (skip + buf.len() <= region.len).then(|| Region {
        len: buf.len(),
        arena: region.arena.clone(),
        offset: region.offset + skip as u64,
    })
}

/// A TCP stream whose vectored writes send filed bodies with `sendfile` (see the module
/// doc); every other read and write goes straight to the stream.
pub struct SendfileStream {
    inner: TcpStream,
}

impl SendfileStream {
    pub fn new(inner: TcpStream) -> Self {
        Self { inner }
    }

    /// The first filed slice of `bufs` (at least [`MIN_LEN`] long) and its index.
    fn filed(bufs: &[IoSlice<'_>]) -> Option<(usize, Region)> {
        let i = bufs.iter().position(|b| b.len() >= MIN_LEN)?;
        lookup(&bufs[i]).map(|r| (i, r))
    }

    /// `head` with `MSG_MORE` (so it leaves in the body's first segment), then the body
    /// from its file. `WouldBlock` only when nothing was sent.
    fn send(&self, head: &[IoSlice<'_>], body: &Region) -> io::Result<usize> {
        let head_len: usize = head.iter().map(|b| b.len()).sum();
        let mut sent = 0;
        if head_len > 0 {
            sent = nix::sys::socket::sendmsg::<()>(
                self.inner.as_raw_fd(),
                head,
                &[],
                MsgFlags::from_bits_retain(nix::libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(io::Error::from)?;
            if sent < head_len {
                return Ok(sent);
            }
        }
        let mut offset = body.offset as i64;
        match nix::sys::sendfile::sendfile(
            self.inner.as_fd(),
            &body.arena.fd,
            Some(&mut offset),
            body.len,
        ) {
            Ok(n) => Ok(sent + n),
            // The head went; the body's error (or its wait) comes with the next write.
            Err(_) if sent > 0 => Ok(sent),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Some((i, body)) = Self::filed(bufs) else {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        };
        loop {
            ready!(self.inner.poll_write_ready(cx))?;
            match self
                .inner
                .try_io(Interest::WRITABLE, || self.send(&bufs[..i], &body))
            {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn body(len: usize, seed: u8) -> Vec<Bytes> {
        let all: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        all.chunks(7000).map(Bytes::copy_from_slice).collect()
    }

    /// Writes `head` and `whole[from..]` through a `SendfileStream` the way hyper does (one
    /// vectored write at a time, resuming after partial writes); returns what the peer read.
    async fn through_socket(head: &[u8], whole: &Bytes, from: usize) -> Vec<u8> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let expected = head.len() + whole.len() - from;
        let reader = tokio::spawn(async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut got = Vec::new();
            while got.len() < expected {
                let mut buf = vec![0u8; 65536];
                let n = c.read(&mut buf).await.unwrap();
                assert!(n > 0, "the stream ended after {} bytes", got.len());
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let (s, _) = listener.accept().await.unwrap();
        let mut s = SendfileStream::new(s);
        let (mut h, mut b) = (0usize, from);
        while h < head.len() || b < whole.len() {
            let bufs = [IoSlice::new(&head[h..]), IoSlice::new(&whole[b..])];
            let n = s.write_vectored(&bufs).await.unwrap();
            assert!(n > 0);
            let on_head = n.min(head.len() - h);
            h += on_head;
            b += n - on_head;
        }
        s.flush().await.unwrap();
        reader.await.unwrap()
    }

    #[tokio::test]
    async fn large_bodies_are_sent_from_their_file_byte_for_byte() {
        // (length, filed, where the write starts in the body)
        let cases = [
            (1024, false, 0),
            (MIN_LEN - 1, false, 0),
            (MIN_LEN, true, 0),
            (100 * 1024 + 17, true, 0),
            (100 * 1024 + 17, true, 5000),
            (3 * 1024 * 1024 + 1, true, 0),
        ];
        for (i, (len, filed, from)) in cases.into_iter().enumerate() {
            let chunks = body(len, i as u8);
            let (whole, fileable) = super::whole(&chunks, len);
            assert!(
                lookup(&whole).is_none(),
                "case {i}: filed before its first hit"
            );
            let was_filed = fileable.as_ref().is_some_and(|f| f.file());
            assert_eq!(was_filed, filed, "case {i}: filed");
            assert_eq!(
                lookup(&whole[from..]).is_some(),
                filed,
                "case {i}: registered"
            );
            let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(&whole[..], &expected[..], "case {i}: the Bytes");
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
            let got = through_socket(head.as_bytes(), &whole, from).await;
            assert_eq!(&got[..head.len()], head.as_bytes(), "case {i}: head");
            assert!(got[head.len()..] == expected[from..], "case {i}: body");
        }
    }

    #[tokio::test]
    async fn bodies_filed_in_a_folder_are_sent_byte_for_byte_and_aligned() {
        let dir = tempfile::tempdir().unwrap();
        file_in(dir.path());
        let mut held = Vec::new();
        for (i, len) in [MIN_LEN + 1, 100 * 1024, 3 * 1024 * 1024 + 5]
            .into_iter()
            .enumerate()
        {
            let chunks = body(len, 40 + i as u8);
            let (whole, fileable) = super::whole(&chunks, len);
            let fileable = fileable.unwrap();
            assert!(fileable.file(), "len {len}: filed");
            let region = lookup(&whole).unwrap();
            let align = (len as u64).next_power_of_two().clamp(PAGE, MAX_ALIGN);
            assert_eq!(region.offset % align, 0, "len {len}: aligned");
            let head = b"HTTP/1.1 200 OK\r\n\r\n";
            let got = through_socket(head, &whole, 0).await;
            assert!(got[head.len()..] == whole[..], "len {len}: body");
            held.push((whole, fileable));
        }
        // Nothing of it shows in the folder (the file has no name).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn only_filed_bodies_are_found_and_a_dropped_one_is_forgotten() {
        assert!(lookup(&vec![1u8; MIN_LEN * 2]).is_none());
        let chunks = body(MIN_LEN * 2, 7);
        let (whole, fileable) = super::whole(&chunks, MIN_LEN * 2);
        let fileable = fileable.unwrap();
        assert!(fileable.file() && fileable.file(), "filed, once");
        let inner = whole.slice(10..MIN_LEN);
        assert!(lookup(&inner).is_some());
        let region = lookup(&inner).unwrap();
        assert_eq!(region.len, MIN_LEN - 10);
        let ptr = whole.as_ptr() as usize;
        drop(inner);
        drop(region);
        drop(whole);
        drop(fileable);
        let r = REGISTRY.read().unwrap();
        assert!(r.get(&ptr).is_none_or(|e| e.len != MIN_LEN * 2));
    }
}
