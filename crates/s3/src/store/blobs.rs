//! Object data over the blob tiers of `nuvem_store::blobs`: a body streamed into a new blob,
//! hashed on the way (MD5 for the ETag, the optional `x-amz-checksum-*`), and the blobs of
//! an object range opened for streaming.
//!
//! Must not: decide which blobs are garbage (that is `garbage`), or know buckets and keys.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
pub use nuvem_store::blobs::{BlobDir, BlobError, BlobFile, BlobStream, Blobs, StoreBlobs};

use super::checksum::{Digests, Hasher};
use super::sealing::Sealer;
use crate::error::Error;

/// A blob that was written, with the digests of its data.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: String,
    pub len: u64,
    pub digests: Digests,
}

/// Streams `body` into a new blob of `blobs`, sealed chunk by chunk when `sealer` is given
/// (the digests and `len` are of the plaintext; see [`super::sealing`]). On any error nothing
/// visible is left behind (the writer is dropped unfinished).
pub async fn write<S, E>(
    blobs: &dyn Blobs,
    body: S,
    mut hasher: Hasher,
    mut sealer: Option<Sealer>,
) -> Result<Written, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Error>,
{
    let mut writer = blobs.create().await?;
    let mut body = body;
    let mut len = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Into::into)?;
        hasher.update(&chunk);
        len += u64::try_from(chunk.len()).unwrap_or(0);
        match &mut sealer {
            Some(s) => {
                for sealed in s.push(&chunk)? {
                    writer.write(sealed).await?;
                }
            }
            None => writer.write(chunk).await?,
        }
    }
    if let Some(last) = sealer.map(Sealer::finish).transpose()?.flatten() {
        writer.write(last).await?;
    }
    let done = writer.finish().await?;
    if done.len != len && done.len != super::sealing::sealed_len(len) {
        return Err(Error::Io(std::io::Error::other(
            "a blob's length is not what was written",
        )));
    }
    Ok(Written {
        id: done.id,
        len,
        digests: hasher.finish(),
    })
}

/// Streams opened blob ranges one after another.
pub fn chain(
    segments: Vec<BlobStream>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    futures_util::stream::iter(segments).flatten()
}
