//! Object data on disk: immutable blob files named by a random id, under `<dir>/blobs/xx/`.
//!
//! A blob is written to `<dir>/tmp/<id>` while it streams in, hashed on the way, flushed
//! (and fsynced when the store is durable against power loss), then renamed into place:
//! a reader never sees a partial blob, and a crash leaves only a temp file, which
//! [`BlobDir::open`] removes. Readers open the files before they stream them, so an
//! overwrite or delete that unlinks a blob does not cut off a reader (POSIX keeps an open
//! file's data until it is closed). A blob whose length on disk is not the one the metadata
//! recorded is refused when it is opened, before anything is sent.
//!
//! Must not: decide which blobs are garbage. This module lists them ([`BlobDir::scan`]) and
//! removes what it is told to; the policy (how many may go without the operator) lives in
//! `garbage`. It knows nothing of buckets or keys.
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::checksum::{Digests, Hasher};
use crate::error::Error;

/// How much data is gathered before one write to the file.
const WRITE_BUF: usize = 1 << 20;
/// How much one read of a blob returns at most.
const READ_CHUNK: usize = 256 * 1024;

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

/// A blob that was written and renamed into place.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: String,
    pub len: u64,
    pub digests: Digests,
}

impl BlobDir {
    /// Opens (creating) the blob folders and removes every temp file: a blob in `tmp/` was
    /// never renamed into place, so no metadata can refer to it.
    pub fn open(root: &Path, fsync: bool) -> Result<Self, Error> {
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
    pub fn scan(root: &Path) -> Result<Vec<BlobFile>, Error> {
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

    /// Removes the given blob files (ones no metadata refers to). A file already gone counts
    /// as removed.
    pub fn remove_files(files: &[BlobFile]) -> Result<(), Error> {
        for f in files {
            match std::fs::remove_file(&f.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn path(&self, id: &str) -> PathBuf {
        let fan = id.get(..2).unwrap_or("00");
        self.root.join("blobs").join(fan).join(id)
    }

    /// Streams `body` into a new blob. On any error nothing visible is left behind.
    pub async fn write<S, E>(&self, body: S, mut hasher: Hasher) -> Result<Written, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.root.join("tmp").join(&id);
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut body = body;
            let mut buf = BytesMut::with_capacity(WRITE_BUF);
            let mut len: u64 = 0;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(Into::into)?;
                hasher.update(&chunk);
                len += chunk.len() as u64;
                if buf.len() + chunk.len() > WRITE_BUF && !buf.is_empty() {
                    file.write_all(&buf).await?;
                    buf.clear();
                }
                if chunk.len() >= WRITE_BUF {
                    file.write_all(&chunk).await?;
                } else {
                    buf.extend_from_slice(&chunk);
                }
            }
            if !buf.is_empty() {
                file.write_all(&buf).await?;
            }
            file.flush().await?;
            if self.fsync {
                file.sync_all().await?;
            }
            Ok::<_, Error>(len)
        }
        .await;
        let len = match result {
            Ok(len) => len,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let dest = self.path(&id);
        let placed = async {
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::rename(&tmp, &dest).await
        }
        .await;
        if let Err(e) = placed {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        Ok(Written {
            id,
            len,
            digests: hasher.finish(),
        })
    }

    /// Removes a blob the metadata no longer refers to. Failures are logged, not returned:
    /// the metadata change already happened, and start-up garbage collection retries.
    pub async fn remove(&self, id: &str) {
        if let Err(e) = tokio::fs::remove_file(self.path(id)).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(blob = id, error = %e, "could not remove a replaced blob");
        }
    }

    /// Opens `len` bytes of a blob from `offset`, ready to stream, after checking that the
    /// file holds exactly `expected_len` bytes (its length when it was written): a damaged
    /// blob is an error now, before a response promised its length to the client.
    pub async fn open_range(
        &self,
        id: &str,
        expected_len: u64,
        offset: u64,
        len: u64,
    ) -> Result<Segment, Error> {
        let path = self.path(id);
        // A missing file is an I/O error here: the caller tells a lost blob from one an
        // overwrite or delete removed since it read the metadata.
        let mut file = tokio::fs::File::open(&path).await?;
        let found = file.metadata().await?.len();
        if found != expected_len {
            return Err(Error::BlobDamaged {
                blob: id.to_string(),
                problem: format!("the blob file holds {found} bytes, {expected_len} were written"),
            });
        }
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset)).await?;
        }
        Ok(Segment {
            file,
            remaining: len,
        })
    }
}

/// An open slice of one blob.
pub struct Segment {
    file: tokio::fs::File,
    remaining: u64,
}

/// Streams opened segments one after another, in chunks of at most [`READ_CHUNK`] bytes.
pub fn stream_segments(
    segments: Vec<Segment>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    futures_util::stream::unfold(
        (segments.into_iter(), None::<Segment>),
        |(mut rest, mut current)| async move {
            loop {
                let seg = match current.as_mut() {
                    Some(s) if s.remaining > 0 => s,
                    _ => {
                        current = Some(rest.next()?);
                        continue;
                    }
                };
                let want = READ_CHUNK.min(usize::try_from(seg.remaining).unwrap_or(READ_CHUNK));
                let mut buf = BytesMut::zeroed(want);
                let n = match seg.file.read(&mut buf).await {
                    Ok(0) => {
                        let e = std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "blob shorter than its metadata",
                        );
                        return Some((Err(e), (Vec::new().into_iter(), None)));
                    }
                    Ok(n) => n,
                    Err(e) => return Some((Err(e), (Vec::new().into_iter(), None))),
                };
                buf.truncate(n);
                seg.remaining -= n as u64;
                return Some((Ok(buf.freeze()), (rest, current)));
            }
        },
    )
}
