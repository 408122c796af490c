//! The checksums S3 computes over object data: MD5 (the ETag) and the one optional
//! `x-amz-checksum-*` algorithm a client asked for
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
//! Values are base64 of the big-endian digest, as S3 sends them. No I/O here.

use base64::Engine as _;
use md5::Digest as _;

/// A checksum algorithm S3 supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    /// Parses the names used in `x-amz-checksum-algorithm` and `x-amz-sdk-checksum-algorithm`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "CRC32" => Self::Crc32,
            "CRC32C" => Self::Crc32c,
            "CRC64NVME" => Self::Crc64Nvme,
            "SHA1" => Self::Sha1,
            "SHA256" => Self::Sha256,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The CRC parameters and digest width in bytes of the CRC algorithms.
    pub fn crc(self) -> Option<(crc_fast::CrcAlgorithm, usize)> {
        match self {
            Self::Crc32 => Some((crc_fast::CrcAlgorithm::Crc32IsoHdlc, 4)),
            Self::Crc32c => Some((crc_fast::CrcAlgorithm::Crc32Iscsi, 4)),
            Self::Crc64Nvme => Some((crc_fast::CrcAlgorithm::Crc64Nvme, 8)),
            Self::Sha1 | Self::Sha256 => None,
        }
    }

    /// The header a checksum travels in, e.g. `x-amz-checksum-crc32`.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }
}

/// How a multipart object's checksum relates to its data
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html#ChecksumTypes).
/// Single-part objects always have a full-object checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// The checksum of the whole object's bytes.
    #[default]
    FullObject,
    /// The checksum of the concatenated part checksums, shown as `<base64>-<parts>`.
    Composite,
}

impl Kind {
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "FULL_OBJECT" => Some(Self::FullObject),
            "COMPOSITE" => Some(Self::Composite),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::FullObject => "FULL_OBJECT",
            Self::Composite => "COMPOSITE",
        }
    }
}

/// A checksum value: the algorithm and its base64 digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub value: String,
    #[serde(default)]
    pub kind: Kind,
}

enum Running {
    Crc(crc_fast::Digest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

/// Computes MD5 plus optionally one `x-amz-checksum-*` algorithm while data streams by.
pub struct Hasher {
    md5: md5::Md5,
    sha256: Option<sha2::Sha256>,
    extra: Option<(Algorithm, Running)>,
}

impl Hasher {
    /// `sha256_for_payload` also computes SHA-256 for checking `x-amz-content-sha256`.
    pub fn new(algorithm: Option<Algorithm>, sha256_for_payload: bool) -> Self {
        use sha2::Digest as _;
        let extra = algorithm.map(|a| {
            let running = match (a, a.crc()) {
                (_, Some((crc, width))) => Running::Crc(crc_fast::Digest::new(crc), width),
                (Algorithm::Sha1, _) => Running::Sha1(sha1::Sha1::new()),
                _ => Running::Sha256(sha2::Sha256::new()),
            };
            (a, running)
        });
        Self {
            md5: md5::Md5::new(),
            sha256: sha256_for_payload.then(sha2::Sha256::new),
            extra,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(s) = &mut self.sha256 {
            sha2::Digest::update(s, data);
        }
        match &mut self.extra {
            Some((_, Running::Crc(d, _))) => d.update(data),
            Some((_, Running::Sha1(d))) => sha1::Digest::update(d, data),
            Some((_, Running::Sha256(d))) => sha2::Digest::update(d, data),
            None => {}
        }
    }

    pub fn finish(self) -> Digests {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let checksum = self.extra.map(|(algorithm, running)| {
            let value = match running {
                Running::Crc(d, width) => {
                    let v = d.finalize().to_be_bytes();
                    b64(&v[8 - width..])
                }
                Running::Sha1(d) => b64(&sha1::Digest::finalize(d)),
                Running::Sha256(d) => b64(&sha2::Digest::finalize(d)),
            };
            Checksum {
                algorithm,
                value,
                kind: Kind::FullObject,
            }
        });
        Digests {
            md5: self.md5.finalize().into(),
            sha256: self.sha256.map(|s| sha2::Digest::finalize(s).into()),
            checksum,
        }
    }
}

/// What a [`Hasher`] computed.
#[derive(Debug, Clone)]
pub struct Digests {
    pub md5: [u8; 16],
    pub sha256: Option<[u8; 32]>,
    pub checksum: Option<Checksum>,
}

/// Base64 of a whole byte string's checksum (for tests and small bodies).
pub fn of(algorithm: Algorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(Some(algorithm), false);
    h.update(data);
    h.finish().checksum.map(|c| c.value).unwrap_or_default()
}
