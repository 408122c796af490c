//! The local tier: immutable blob files named by their id, under `<dir>/blobs/xx/<id>`.
//!
//! A blob is written to `<dir>/tmp/<id>` while it streams in, flushed (and fsynced when the
//! tier is durable against power loss), then renamed into place: a reader never sees a
//! partial blob, and a crash leaves only a temp file, which [`BlobDir::open`] removes. Readers
//! open the files before they stream them, so an overwrite or delete that unlinks a blob does
//! not cut off a reader (POSIX keeps an open file's data until it is closed). A blob whose
//! length on disk is not the one recorded is refused when it is opened.
//!
//! Must not: decide which blobs are garbage. This module lists them ([`BlobDir::scan`]) and
//! removes what it is told to.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{BlobError, BlobStream, BlobWriter, Blobs, Written, new_id};
use crate::Tx;

/// How much data is gathered before one write to the file.
const WRITE_BUF: usize = 1 << 20;
/// How much one read of a blob returns at most.
const READ_CHUNK: usize = 256 * 1024;

/// Blob files in one directory: the tier of a single node.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: PathBuf,
    fsync: bool,
}

/// A blob file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFile {
    pub id: String,
    pub path: PathBuf,
    pub len: u64,
}

impl BlobDir {
    /// Opens (creating) the blob folders and removes every temp file: a blob in `tmp/` was
    /// never renamed into place, so nothing can refer to it.
    pub fn open(root: &Path, fsync: bool) -> Result<Self, BlobError> {
        std::fs::create_dir_all(root.join("blobs"))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self {
            root: root.to_path_buf(),
            fsync,
        })
    }

    /// Every blob file under `root/blobs`, without creating or removing anything (an absent
    /// folder holds no blobs).
    pub fn scan(root: &Path) -> Result<Vec<BlobFile>, BlobError> {
        let mut found = Vec::new();
        let fans = match std::fs::read_dir(root.join("blobs")) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e.into()),
        };
        for fan in fans {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(fan.path())? {
                let f = f?;
                let meta = f.metadata()?;
                if !meta.is_file() {
                    continue;
                }
                found.push(BlobFile {
                    id: f.file_name().to_string_lossy().into_owned(),
                    path: f.path(),
                    len: meta.len(),
                });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// Removes the given blob files (ones nothing refers to). A file already gone counts as
    /// removed.
    pub fn remove_files(files: &[BlobFile]) -> Result<(), BlobError> {
        for f in files {
            match std::fs::remove_file(&f.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The directory this tier keeps its files in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, id: &str) -> PathBuf {
        let fan = id.get(..2).unwrap_or("00");
        self.root.join("blobs").join(fan).join(id)
    }
}

/// A blob streaming into `tmp/`; dropped unfinished, its temp file is removed.
struct LocalWriter {
    id: String,
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<tokio::fs::File>,
    buf: BytesMut,
    len: u64,
    fsync: bool,
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            // An unlink of a file this writer created: microseconds, fine on any thread.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait::async_trait]
impl BlobWriter for LocalWriter {
    async fn write(&mut self, data: Bytes) -> Result<(), BlobError> {
        let Some(file) = self.file.as_mut() else {
            return Err(BlobError::Io(std::io::Error::other(
                "blob writer already failed",
            )));
        };
        self.len += data.len() as u64;
        if self.buf.len() + data.len() > WRITE_BUF && !self.buf.is_empty() {
            file.write_all(&self.buf).await?;
            self.buf.clear();
        }
        if data.len() >= WRITE_BUF {
            file.write_all(&data).await?;
        } else {
            self.buf.extend_from_slice(&data);
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<Written, BlobError> {
        let Some(file) = self.file.as_mut() else {
            return Err(BlobError::Io(std::io::Error::other(
                "blob writer already failed",
            )));
        };
        if !self.buf.is_empty() {
            file.write_all(&self.buf).await?;
        }
        file.flush().await?;
        if self.fsync {
            file.sync_all().await?;
        }
        if let Some(parent) = self.dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&self.tmp, &self.dest).await?;
        // Renamed: nothing left for Drop to remove.
        self.file = None;
        Ok(Written {
            id: std::mem::take(&mut self.id),
            len: self.len,
        })
    }
}

#[async_trait::async_trait]
impl Blobs for BlobDir {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn create(&self) -> Result<Box<dyn BlobWriter>, BlobError> {
        let id = new_id();
        let tmp = self.root.join("tmp").join(&id);
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(Box::new(LocalWriter {
            dest: self.path(&id),
            id,
            tmp,
            file: Some(file),
            buf: BytesMut::with_capacity(WRITE_BUF),
            len: 0,
            fsync: self.fsync,
        }))
    }

    async fn open(
        &self,
        id: &str,
        expected_len: u64,
        offset: u64,
        len: u64,
    ) -> Result<BlobStream, BlobError> {
        let mut file = match tokio::fs::File::open(self.path(id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(id.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        let found = file.metadata().await?.len();
        if found != expected_len {
            return Err(BlobError::Damaged {
                blob: id.to_string(),
                problem: format!("the blob file holds {found} bytes, {expected_len} were written"),
            });
        }
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset)).await?;
        }
        Ok(Box::pin(read_file(file, len)))
    }

    fn adopt(&self, _tx: &mut dyn Tx, _id: &str) -> Result<(), BlobError> {
        // A renamed file is complete; nothing is pending.
        Ok(())
    }

    async fn remove(&self, id: &str) {
        if let Err(e) = tokio::fs::remove_file(self.path(id)).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(blob = id, error = %e, "could not remove a blob file");
        }
    }
}

/// `remaining` bytes of an open file, in reads of at most [`READ_CHUNK`].
fn read_file(
    file: tokio::fs::File,
    remaining: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    futures_util::stream::unfold(Some((file, remaining)), |state| async move {
        let (mut file, remaining) = state?;
        if remaining == 0 {
            return None;
        }
        let want = READ_CHUNK.min(usize::try_from(remaining).unwrap_or(READ_CHUNK));
        let mut buf = BytesMut::zeroed(want);
        match file.read(&mut buf).await {
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "blob shorter than its metadata",
                )),
                None,
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf.freeze()), Some((file, remaining - n as u64))))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
