//! The object-level checksum of a completed multipart upload
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html#large-object-checksums):
//! COMPOSITE is the algorithm over the concatenated binary part checksums, shown as
//! `<base64>-<parts>`; FULL_OBJECT (CRC algorithms only) is the CRC of the whole object,
//! derived from the part CRCs and lengths without reading the data again. No I/O here.

use base64::Engine as _;

use super::checksum::{Algorithm, Checksum, Hasher, Kind};
use crate::error::Error;

/// The kind S3 uses when CreateMultipartUpload names an algorithm but no
/// `x-amz-checksum-type`: CRC64NVME only exists as a full-object checksum.
pub fn default_kind(a: Algorithm) -> Kind {
    match a {
        Algorithm::Crc64Nvme => Kind::FullObject,
        _ => Kind::Composite,
    }
}

/// Refuses combinations S3 refuses at CreateMultipartUpload: full-object SHA checksums
/// (they cannot be derived from parts) and composite CRC64NVME.
pub fn validate(a: Algorithm, kind: Kind) -> Result<(), Error> {
    let ok = match kind {
        Kind::FullObject => a.crc().is_some(),
        Kind::Composite => a != Algorithm::Crc64Nvme,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.name(),
            a.name().to_ascii_lowercase()
        )))
    }
}

fn raw(c: &Checksum) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::STANDARD
        .decode(&c.value)
        .map_err(|e| Error::Corrupt(format!("part checksum: {e}")))
}

/// The object's checksum from its parts' checksums (in part order) and lengths. Every part
/// must carry a checksum of `algorithm`, or the parts are not the upload's.
pub fn combine(
    algorithm: Algorithm,
    kind: Kind,
    parts: &[(Option<&Checksum>, u64)],
) -> Result<Checksum, Error> {
    let mut sums = Vec::with_capacity(parts.len());
    for (c, len) in parts {
        match c {
            Some(c) if c.algorithm == algorithm => sums.push((raw(c)?, *len)),
            _ => return Err(Error::InvalidPart),
        }
    }
    let value = match (kind, algorithm.crc()) {
        (Kind::FullObject, Some((crc, width))) => {
            let mut acc: Option<u64> = None;
            for (bytes, len) in &sums {
                let mut be = [0u8; 8];
                let dst = be.get_mut(8 - width..).ok_or(Error::InvalidPart)?;
                if bytes.len() != width {
                    return Err(Error::InvalidPart);
                }
                dst.copy_from_slice(bytes);
                let v = u64::from_be_bytes(be);
                acc = Some(match acc {
                    None => v,
                    Some(a) => crc_fast::checksum_combine(crc, a, v, *len),
                });
            }
            let full = acc.unwrap_or(0).to_be_bytes();
            base64::engine::general_purpose::STANDARD.encode(full.get(8 - width..).unwrap_or(&[]))
        }
        (Kind::FullObject, None) => {
            validate(algorithm, kind)?;
            String::new()
        }
        (Kind::Composite, _) => {
            let mut h = Hasher::new(Some(algorithm), false);
            for (bytes, _) in &sums {
                h.update(bytes);
            }
            let v = h.finish().checksum.map(|c| c.value).unwrap_or_default();
            format!("{v}-{}", sums.len())
        }
    };
    Ok(Checksum {
        algorithm,
        value,
        kind,
    })
}

/// Whether a checksum a client sent for the whole object matches the computed one; for
/// composite checksums the `-<parts>` suffix is optional.
pub fn matches(given: &str, computed: &Checksum) -> bool {
    let given = given.trim();
    match computed.kind {
        Kind::FullObject => given == computed.value,
        Kind::Composite => {
            let base = computed.value.rsplit_once('-').map_or("", |(b, _)| b);
            given == computed.value || given == base
        }
    }
}
