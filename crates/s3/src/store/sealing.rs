//! Encryption at rest (https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html):
//! SSE-S3 and SSE-C, sealed in fixed-size chunks so that data streams both ways and a range
//! read decrypts only the chunks it touches.
//!
//! Format of a sealed blob: the plaintext cut into [`CHUNK`]-byte chunks (the last may be
//! shorter; an empty blob has none), each sealed with AES-256-GCM and followed by its 16-byte
//! tag; chunk `i`'s nonce is `0u32 ‖ i: u64 BE`. Every blob has its own key, derived as
//! HMAC-SHA256(object root key, `"nuvem/s3/blob/v1" ‖ salt`) with a random 16-byte salt kept in
//! its [`super::BlobRef`], so no key ever seals two chunks with the same nonce (parts uploaded
//! again, the many objects of one SSE-C key). The root key is, for SSE-S3, a random per-object
//! data key stored only wrapped (AES-256-GCM) under the [`MasterKey`], which the binary keeps
//! outside the blob directory; for SSE-C, the customer's key, which is never stored: only
//! HMAC-SHA256(key, `"nuvem/s3/sse-c/check/v1" ‖ salt`), to recognise it on later reads.
//! The blob length is checked when a blob is opened and each chunk's position is in its nonce,
//! so truncation, reordering or tampering is an error, never wrong data.
//!
//! Invariant: a blob of an encrypted object never holds plaintext. Must not: log keys.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::blobs::BlobStream;
use crate::error::Error;

/// Plaintext bytes per sealed chunk.
pub const CHUNK: u64 = 64 * 1024;
const TAG: u64 = 16;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The length on disk of `len` bytes once sealed.
pub fn sealed_len(len: u64) -> u64 {
    len + len.div_ceil(CHUNK) * TAG
}

/// Fills `buf` from the system's secure random generator.
pub fn random(buf: &mut [u8]) -> Result<(), Error> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::Io(std::io::Error::other("no randomness")))
}

/// How an object's data is encrypted, as stored in its metadata.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode")]
pub enum Encryption {
    /// SSE-S3: the object's data key, wrapped under the master key `key_id`.
    S3 { key_id: String, wrapped: String },
    /// SSE-C: what recognises the customer's key (hex salt and HMAC), never the key.
    C { salt: String, check: String },
    /// SSE-KMS: the object's data key as the KMS key `key_arn` encrypted it (base64), and the
    /// encryption context it was made for (`aws:s3:arn` and the request's own pairs), which
    /// decrypting it needs again.
    Kms {
        key_arn: String,
        blob: String,
        context: crate::kms::Context,
    },
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3 { key_id, .. } => write!(f, "SSE-S3 (master key {key_id})"),
            Self::C { .. } => f.write_str("SSE-C"),
            Self::Kms { key_arn, .. } => write!(f, "SSE-KMS ({key_arn})"),
        }
    }
}

/// A bucket's default encryption (PutBucketEncryption): SSE-S3 (`AES256`) or SSE-KMS
/// (`aws:kms`, with the key to use, `aws/s3` when none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultEncryption {
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

/// What a write asks for.
#[derive(Debug, Clone)]
pub enum SealRequest {
    /// SSE-S3 (`x-amz-server-side-encryption: AES256`, or the bucket default).
    S3,
    /// SSE-C with the customer's key.
    C(CustomerKey),
    /// SSE-KMS under `key_id` (`None`: the AWS managed key `aws/s3`), with the request's own
    /// encryption context pairs.
    Kms {
        key_id: Option<String>,
        context: crate::kms::Context,
    },
}

/// The key that wraps SSE-S3 data keys. Its id (a hash prefix) is stored with every wrapped
/// key, so a wrong master key is named as such rather than failing as damaged data.
pub struct MasterKey {
    key: LessSafeKey,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::Io(std::io::Error::other("the master key must be 32 bytes")))?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            id: hex::encode(digest.as_ref().get(..8).unwrap_or_default()),
        })
    }

    /// 32 fresh random bytes for a new master key.
    pub fn generate() -> Result<[u8; 32], Error> {
        let mut k = [0u8; 32];
        random(&mut k)?;
        Ok(k)
    }

    /// A short public id of the key (a SHA-256 prefix), safe to log.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, data_key: &[u8; 32]) -> Result<String, Error> {
        let mut nonce = [0u8; 12];
        random(&mut nonce)?;
        let mut buf = data_key.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|_| Error::Io(std::io::Error::other("sealing a data key failed")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(B64.encode(out))
    }

    fn unwrap_key(&self, key_id: &str, wrapped: &str) -> Result<[u8; 32], Error> {
        if key_id != self.id {
            return Err(Error::Corrupt(format!(
                "the object's data key is wrapped under master key {key_id}, this server has {}",
                self.id
            )));
        }
        let raw = B64
            .decode(wrapped)
            .map_err(|_| Error::Corrupt("wrapped data key".into()))?;
        let (nonce, sealed) = raw
            .split_at_checked(12)
            .ok_or_else(|| Error::Corrupt("wrapped data key".into()))?;
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::Corrupt("wrapped data key".into()))?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut sealed)
            .map_err(|_| Error::Corrupt("the wrapped data key failed authentication".into()))?;
        <[u8; 32]>::try_from(&*plain).map_err(|_| Error::Corrupt("wrapped data key".into()))
    }
}

/// A customer-provided key (SSE-C), checked against its MD5 when it arrives. Never stored,
/// never logged.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    md5: String,
}

impl fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomerKey(..)")
    }
}

impl CustomerKey {
    /// The key from the three `x-amz-server-side-encryption-customer-*` headers (or their
    /// `copy-source` forms); `None` when none is present. Errors as
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerSideEncryptionCustomerKeys.html
    /// and the error code list describe them.
    pub fn from_headers(
        algorithm: Option<&str>,
        key: Option<&str>,
        key_md5: Option<&str>,
    ) -> Result<Option<Self>, Error> {
        let Some(algorithm) = algorithm else {
            if key.is_some() || key_md5.is_some() {
                return Err(Error::InvalidArgument(
                    "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.".into(),
                ));
            }
            return Ok(None);
        };
        if algorithm != "AES256" {
            return Err(Error::InvalidEncryptionAlgorithm);
        }
        let Some(key) = key else {
            return Err(Error::InvalidArgument(
                "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.".into(),
            ));
        };
        let Some(key_md5) = key_md5 else {
            return Err(Error::InvalidArgument(
                "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.".into(),
            ));
        };
        let raw = B64.decode(key.trim()).ok().filter(|k| k.len() == 32);
        let Some(raw) = raw else {
            return Err(Error::InvalidArgument(
                "The secret key was invalid for the specified algorithm.".into(),
            ));
        };
        let md5 = B64.encode(<md5::Md5 as md5::Digest>::digest(&raw));
        if md5 != key_md5.trim() {
            return Err(Error::InvalidArgument(
                "The calculated MD5 hash of the key did not match the hash that was provided."
                    .into(),
            ));
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(&raw);
        Ok(Some(Self { key: k, md5 }))
    }

    /// The key's MD5, base64, as SSE-C responses echo it.
    pub fn md5(&self) -> &str {
        &self.md5
    }

    fn check(&self, salt: &[u8]) -> String {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &self.key);
        let mut msg = b"nuvem/s3/sse-c/check/v1".to_vec();
        msg.extend_from_slice(salt);
        hex::encode(hmac::sign(&k, &msg).as_ref())
    }
}

/// The key an object's blobs derive theirs from, for one write or read.
pub struct RootKey([u8; 32]);

impl RootKey {
    /// The root key of an SSE-KMS object: its data key's plaintext (32 bytes).
    pub(crate) fn from_data_key(plaintext: &[u8]) -> Result<Self, Error> {
        <[u8; 32]>::try_from(plaintext)
            .map(Self)
            .map_err(|_| Error::Corrupt("a KMS data key of the wrong length".into()))
    }

    /// A fresh blob key and its salt (hex, for the blob's [`super::BlobRef`]).
    pub fn new_blob(&self) -> Result<(Sealer, String), Error> {
        let mut salt = [0u8; 16];
        random(&mut salt)?;
        Ok((Sealer::new(self.blob_key(&salt)?), hex::encode(salt)))
    }

    fn blob_key(&self, salt: &[u8]) -> Result<LessSafeKey, Error> {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut msg = b"nuvem/s3/blob/v1".to_vec();
        msg.extend_from_slice(salt);
        let derived = hmac::sign(&k, &msg);
        let unbound = UnboundKey::new(&AES_256_GCM, derived.as_ref())
            .map_err(|_| Error::Io(std::io::Error::other("deriving a blob key failed")))?;
        Ok(LessSafeKey::new(unbound))
    }

    /// An ETag for SSE-C and SSE-KMS data that does not reveal the data's MD5 (AWS: "objects encrypted by
    /// SSE-C or SSE-KMS have ETags that are not an MD5 digest of their object data").
    pub fn opaque_etag(&self, md5: &[u8]) -> String {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut msg = b"nuvem/s3/etag/v1".to_vec();
        msg.extend_from_slice(md5);
        hex::encode(hmac::sign(&k, &msg).as_ref().get(..16).unwrap_or_default())
    }

    /// The key of the sealed blob with this (hex) salt, for reading it.
    pub fn blob(&self, salt: &str) -> Result<BlobKey, Error> {
        let salt = hex::decode(salt).map_err(|_| Error::Corrupt("blob salt".into()))?;
        Ok(BlobKey(self.blob_key(&salt)?))
    }
}

/// The key of one sealed blob.
pub struct BlobKey(LessSafeKey);

impl BlobKey {
    /// The stored bytes (offset, length) that hold plaintext `from..to` of a blob of `len`
    /// plaintext bytes: the whole chunks concerned.
    pub fn stored_range(len: u64, from: u64, to: u64) -> (u64, u64) {
        let first = from / CHUNK;
        let last = to.div_ceil(CHUNK); // exclusive
        let start = first * (CHUNK + TAG);
        let end = sealed_len(len).min(last * (CHUNK + TAG));
        (start, end.saturating_sub(start))
    }

    /// Opens the chunks `inner` streams (as opened by [`BlobKey::stored_range`]) and yields
    /// exactly plaintext `from..to`.
    pub fn unseal(self, inner: BlobStream, len: u64, from: u64, to: u64) -> BlobStream {
        let first = from / CHUNK;
        let state = Unseal {
            inner,
            key: self.0,
            index: first,
            len,
            buf: BytesMut::new(),
            skip: from - first * CHUNK,
            remaining: to.saturating_sub(from),
        };
        Box::pin(futures_util::stream::try_unfold(state, Unseal::next))
    }
}

/// What sealing needs of an object: the root key for its encryption, given the master key
/// (SSE-S3) or the customer's key (SSE-C), refusing a missing or wrong customer key with
/// AWS's errors.
pub fn root_key(
    enc: &Encryption,
    master: Option<&MasterKey>,
    customer: Option<&CustomerKey>,
) -> Result<RootKey, Error> {
    match enc {
        Encryption::S3 { key_id, wrapped } => {
            let master = master.ok_or_else(|| {
                Error::Corrupt("an SSE-S3 object, and no master key is configured".into())
            })?;
            Ok(RootKey(master.unwrap_key(key_id, wrapped)?))
        }
        Encryption::C { salt, check } => {
            let Some(c) = customer else {
                return Err(Error::InvalidRequest(
                    "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.".into(),
                ));
            };
            let salt = hex::decode(salt).map_err(|_| Error::Corrupt("SSE-C salt".into()))?;
            let computed = c.check(&salt);
            if !bool::from(subtle::ConstantTimeEq::ct_eq(
                computed.as_bytes(),
                check.as_bytes(),
            )) {
                return Err(Error::AccessDenied);
            }
            Ok(RootKey(c.key))
        }
        Encryption::Kms { .. } => Err(Error::Corrupt(
            "an SSE-KMS object's key comes from KMS, not from the master key".into(),
        )),
    }
}

/// A new object's encryption and root key for `request`.
pub fn new_encryption(
    request: &SealRequest,
    master: Option<&MasterKey>,
) -> Result<(Encryption, RootKey), Error> {
    match request {
        SealRequest::S3 => {
            let master = master.ok_or_else(|| {
                Error::NotImplemented(
                    "Server-side encryption (SSE-S3) needs a master key, and none is configured."
                        .into(),
                )
            })?;
            let mut data_key = [0u8; 32];
            random(&mut data_key)?;
            let wrapped = master.wrap(&data_key)?;
            Ok((
                Encryption::S3 {
                    key_id: master.id.clone(),
                    wrapped,
                },
                RootKey(data_key),
            ))
        }
        SealRequest::C(c) => {
            let mut salt = [0u8; 16];
            random(&mut salt)?;
            Ok((
                Encryption::C {
                    salt: hex::encode(salt),
                    check: c.check(&salt),
                },
                RootKey(c.key),
            ))
        }
        SealRequest::Kms { .. } => Err(Error::Corrupt(
            "an SSE-KMS data key comes from KMS, not from the master key".into(),
        )),
    }
}

/// Seals a stream of plaintext into chunks as it comes (at most one chunk buffered).
pub struct Sealer {
    key: LessSafeKey,
    index: u64,
    buf: BytesMut,
}

impl Sealer {
    fn new(key: LessSafeKey) -> Self {
        Self {
            key,
            index: 0,
            buf: BytesMut::with_capacity(usize::try_from(CHUNK + TAG).unwrap_or(0)),
        }
    }

    /// Takes more plaintext; returns the chunks it completed, sealed.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Bytes>, Error> {
        let chunk = usize::try_from(CHUNK).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        while !data.is_empty() {
            let room = chunk - self.buf.len();
            let (now, rest) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(now);
            data = rest;
            if self.buf.len() == chunk {
                out.push(self.seal()?);
            }
        }
        Ok(out)
    }

    /// The last, partial chunk, sealed (none when the data ended on a chunk boundary).
    pub fn finish(mut self) -> Result<Option<Bytes>, Error> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        self.seal().map(Some)
    }

    fn seal(&mut self) -> Result<Bytes, Error> {
        let mut chunk = self.buf.split();
        self.key
            .seal_in_place_append_tag(nonce(self.index), Aad::empty(), &mut chunk)
            .map_err(|_| Error::Io(std::io::Error::other("sealing a chunk failed")))?;
        self.index += 1;
        self.buf.reserve(usize::try_from(CHUNK + TAG).unwrap_or(0));
        Ok(chunk.freeze())
    }
}

fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// The state of a stream that opens sealed chunks and yields the wanted plaintext.
struct Unseal {
    inner: BlobStream,
    key: LessSafeKey,
    /// The index of the next chunk.
    index: u64,
    /// The blob's plaintext length.
    len: u64,
    buf: BytesMut,
    /// Plaintext bytes to drop from the first chunk.
    skip: u64,
    remaining: u64,
}

impl Unseal {
    async fn next(mut self) -> Result<Option<(Bytes, Self)>, std::io::Error> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let plain = CHUNK.min(self.len.saturating_sub(self.index * CHUNK));
        let need = usize::try_from(plain + TAG).map_err(std::io::Error::other)?;
        while self.buf.len() < need {
            match self.inner.next().await {
                Some(Ok(b)) => self.buf.extend_from_slice(&b),
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "an encrypted blob ended early",
                    ));
                }
            }
        }
        let mut sealed = self.buf.split_to(need);
        let opened = self
            .key
            .open_in_place(nonce(self.index), Aad::empty(), &mut sealed[..])
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "an encrypted chunk failed authentication (damaged data or wrong key)",
                )
            })?
            .len();
        sealed.truncate(opened);
        let mut out = sealed.freeze();
        let skip = usize::try_from(self.skip).map_err(std::io::Error::other)?;
        out = out.slice(skip.min(out.len())..);
        self.skip = 0;
        if u64::try_from(out.len()).unwrap_or(u64::MAX) > self.remaining {
            out.truncate(usize::try_from(self.remaining).map_err(std::io::Error::other)?);
        }
        self.remaining -= u64::try_from(out.len()).unwrap_or(0);
        self.index += 1;
        Ok(Some((out, self)))
    }
}
