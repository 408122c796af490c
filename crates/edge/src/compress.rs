//! Compression at the edge, as CloudFront does it
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/ServingCompressedFiles.html>):
//! brotli or gzip (brotli preferred when the viewer accepts both), only for compressible
//! content types, only for bodies of 1,000 to 10,000,000 bytes, never when the origin already
//! encoded the body.
//!
//! Must not: compress twice; each stored representation is compressed at most once per
//! encoding (the result is kept beside it).

use std::io::Write;

use bytes::Bytes;
use http::HeaderMap;
use http::header;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Br,
    Gzip,
}

impl Encoding {
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }
}

pub const MIN_SIZE: u64 = 1_000;
pub const MAX_SIZE: u64 = 10_000_000;

/// The encoding to use for a viewer's `Accept-Encoding`: brotli, then gzip, honouring `q=0`.
pub fn choose(req: &HeaderMap) -> Option<Encoding> {
    let (mut br, mut gzip) = (false, false);
    for v in req.get_all(header::ACCEPT_ENCODING) {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            match coding.as_str() {
                "br" => br = !refused,
                "gzip" | "x-gzip" => gzip = !refused,
                _ => {}
            }
        }
    }
    if br {
        Some(Encoding::Br)
    } else if gzip {
        Some(Encoding::Gzip)
    } else {
        None
    }
}

/// Whether a stored response's type is one CloudFront compresses.
pub fn compressible(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/javascript"
                | "application/x-javascript"
                | "application/ecmascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "application/manifest+json"
                | "application/vnd.ms-fontobject"
                | "application/x-font-ttf"
                | "font/otf"
                | "font/ttf"
                | "image/svg+xml"
                | "image/x-icon"
                | "image/vnd.microsoft.icon"
        )
}

/// Compresses a whole body.
pub fn encode(encoding: Encoding, chunks: &[Bytes]) -> std::io::Result<Bytes> {
    match encoding {
        Encoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            for c in chunks {
                e.write_all(c)?;
            }
            Ok(Bytes::from(e.finish()?))
        }
        Encoding::Br => {
            // Quality 5 is brotli's knee: most of the ratio at a fraction of the time of 11.
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 16 * 1024, 5, 22);
                for c in chunks {
                    w.write_all(c)?;
                }
                w.flush()?;
            }
            Ok(Bytes::from(out))
        }
    }
}
