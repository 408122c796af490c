//! The bucket origin: what the edge needs from the object store, as a trait the binary
//! implements over the s3 service ([`BucketReader`]), and the adapter that turns a viewer path
//! into an object read ([`BucketOrigin`]): keys from paths, index documents for folder paths
//! and the error document of a website bucket.
//!
//! Must not: depend on the s3 crate. The reader is called as the distribution, like
//! CloudFront's origin access control: the bucket policy decides, not the visitor's identity
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html>).

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use nuvem_aws::{Body, BoxFuture, full_body};
use percent_encoding::percent_decode_str;

use super::Origin;
use crate::Error;

/// One object read.
#[derive(Debug, Clone)]
pub struct ObjectRequest {
    pub bucket: String,
    pub key: String,
    /// HEAD: headers only.
    pub head: bool,
    /// `Range`, `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`, as
    /// S3's GetObject takes them.
    pub headers: HeaderMap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketError {
    NoSuchBucket,
    NoSuchKey,
    AccessDenied,
    Internal(String),
}

/// A bucket's static website configuration (the parts the edge uses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Website {
    /// Appended to paths that end in `/` (`index.html`).
    pub index_document: Option<String>,
    /// The key served, with 404, for a missing object.
    pub error_document: Option<String>,
}

/// What the edge needs from the object store.
pub trait BucketReader: Send + Sync + 'static {
    /// GetObject (or HeadObject) as the distribution. The response is S3's: 200, 206, 304 or
    /// 412/416 with `Content-Type`, `Content-Length`, `ETag`, `Last-Modified`,
    /// `Cache-Control`, `Expires`, `Content-Encoding`, `Content-Disposition`,
    /// `x-amz-meta-*`, and the body streamed.
    fn get_object(&self, req: ObjectRequest) -> BoxFuture<'_, Result<Response<Body>, BucketError>>;
    /// The bucket's website configuration, if it has one.
    fn website(&self, bucket: &str) -> BoxFuture<'_, Option<Website>>;
}

pub struct BucketOrigin {
    pub bucket: String,
    pub reader: Arc<dyn BucketReader>,
}

/// The headers of a viewer request that GetObject understands.
const FORWARDED: [header::HeaderName; 5] = [
    header::RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

impl BucketOrigin {
    async fn read(
        &self,
        key: String,
        head: bool,
        from: &HeaderMap,
    ) -> Result<Response<Body>, BucketError> {
        let mut headers = HeaderMap::new();
        for h in FORWARDED {
            for v in from.get_all(&h) {
                headers.append(h.clone(), v.clone());
            }
        }
        self.reader
            .get_object(ObjectRequest {
                bucket: self.bucket.clone(),
                key,
                head,
                headers,
            })
            .await
    }
}

impl Origin for BucketOrigin {
    fn fetch(&self, req: Request<Body>) -> BoxFuture<'_, Result<Response<Body>, Error>> {
        Box::pin(async move {
            let head = match *req.method() {
                Method::GET => false,
                Method::HEAD => true,
                _ => {
                    return Ok(s3_error(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "MethodNotAllowed",
                        "The specified method is not allowed against this resource.",
                    ));
                }
            };
            let path = req.uri().path();
            let mut key = percent_decode_str(path.strip_prefix('/').unwrap_or(path))
                .decode_utf8_lossy()
                .into_owned();
            let website = self.reader.website(&self.bucket).await;
            if (key.is_empty() || key.ends_with('/'))
                && let Some(index) = website.as_ref().and_then(|w| w.index_document.as_ref())
            {
                key.push_str(index);
            }
            match self.read(key, head, req.headers()).await {
                Ok(r) => Ok(r),
                Err(BucketError::NoSuchKey) => {
                    if let Some(doc) = website.as_ref().and_then(|w| w.error_document.clone())
                        && let Ok(mut r) = self.read(doc, head, &HeaderMap::new()).await
                        && r.status() == StatusCode::OK
                    {
                        *r.status_mut() = StatusCode::NOT_FOUND;
                        return Ok(r);
                    }
                    Ok(s3_error(
                        StatusCode::NOT_FOUND,
                        "NoSuchKey",
                        "The specified key does not exist.",
                    ))
                }
                Err(BucketError::NoSuchBucket) => Ok(s3_error(
                    StatusCode::NOT_FOUND,
                    "NoSuchBucket",
                    "The specified bucket does not exist",
                )),
                Err(BucketError::AccessDenied) => Ok(s3_error(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    "Access Denied",
                )),
                Err(BucketError::Internal(e)) => Err(Error::OriginProtocol(e)),
            }
        })
    }
}

/// S3's XML error document, as CloudFront passes it to the viewer.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut r = Response::new(full_body(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}
