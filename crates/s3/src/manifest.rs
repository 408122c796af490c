//! Applying a manifest bucket (`[[buckets]]`) through the same handlers as the S3 API:
//! CreateBucket, PutBucketPolicy (public read) and PutObject for each file of its folder.
//! The binary walks no S3 logic; it calls [`S3Service::apply_bucket`]. Files are streamed.

use std::path::{Path, PathBuf};

use s3s::S3Request;
use s3s::dto::*;

use crate::error::Error;
use crate::service::S3Service;

/// What applying one bucket did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub created: bool,
    pub uploaded: usize,
}

fn request<T>(input: T) -> S3Request<T> {
    S3Request {
        input,
        method: http::Method::PUT,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: None,
        region: None,
        service: Some("s3".into()),
        trailing_headers: None,
    }
}

/// The Content-Type of a site file by extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

impl S3Service {
    /// Creates the bucket if missing, sets the public-read policy when asked, and uploads
    /// every file under `files` (key = path relative to it, `/`-separated). Never deletes.
    pub async fn apply_bucket(
        &self,
        name: &str,
        files: Option<&Path>,
        public_read: bool,
    ) -> Result<Applied, Error> {
        let h = self.handler();
        let mut applied = Applied::default();
        let create = CreateBucketInput {
            bucket: name.to_string(),
            ..Default::default()
        };
        // CreateBucket of a bucket one owns answers 200 in us-east-1 (S3's legacy rule), so
        // whether the manifest created it is asked first.
        match h.store.bucket(name).await {
            Ok(_) => {}
            Err(Error::NoSuchBucket(_)) => match h.create_bucket(request(create)).await {
                Ok(_) => applied.created = true,
                Err(Error::BucketAlreadyOwnedByYou(_)) => {}
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
        if public_read {
            let input = PutBucketPolicyInput {
                bucket: name.to_string(),
                policy: crate::policy::public_read(name),
                ..Default::default()
            };
            h.put_bucket_policy(request(input)).await?;
        }
        let Some(dir) = files else {
            return Ok(applied);
        };
        let mut paths = Vec::new();
        walk(dir, &mut paths)?;
        for path in paths {
            let rel = path
                .strip_prefix(dir)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let file = tokio::fs::File::open(&path).await?;
            let len = file.metadata().await?.len();
            let body = tokio_util_stream(file);
            let input = PutObjectInput {
                bucket: name.to_string(),
                key,
                body: Some(StreamingBlob::wrap(body)),
                content_length: i64::try_from(len).ok(),
                content_type: Some(content_type(&path).to_string()),
                ..Default::default()
            };
            h.put_object(request(input)).await?;
            applied.uploaded += 1;
        }
        Ok(applied)
    }
}

/// A file as a stream of chunks.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + Sync + 'static
{
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = bytes::BytesMut::zeroed(256 * 1024);
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf.freeze()), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
