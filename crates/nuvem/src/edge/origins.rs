//! The edge's in-process origins, wired over the other services' Rust APIs (services never
//! import each other; the binary adapts): a bucket origin reading the object store directly
//! (streamed from the blob files, no HTTP hop) and API origins calling the gateway.
//!
//! Must not: make the edge a way around the object store's rules. The edge reads as the
//! distribution, like CloudFront's origin access control: a bucket need not be public for
//! its distribution, but a bucket policy's explicit Deny still wins
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html>).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use nuvem_aws::{Body, BoxError, BoxFuture, empty_body};
use nuvem_edge::{BucketError, ObjectRequest, Origin, RangeResult, Website};
use nuvem_s3::store::ObjectMeta;
use nuvem_s3::store::objects::Conditions;

/// The in-process origins a distribution can name: `bucket:<name>`, `api:<name>` and
/// `function:<name>` (the function's URL).
pub struct Origins {
    pub s3: Arc<nuvem_s3::S3Service>,
    pub gateway: Arc<nuvem_gateway::Gateway>,
    pub functions: Arc<nuvem_functions::FunctionsService>,
    pub function_urls: Arc<crate::function_url::FunctionUrlService>,
}

impl nuvem_edge::OriginProvider for Origins {
    fn bucket_reader(&self) -> Option<Arc<dyn nuvem_edge::BucketReader>> {
        Some(Arc::new(Buckets {
            s3: self.s3.clone(),
        }))
    }

    fn api(&self, name: &str) -> Option<Arc<dyn Origin>> {
        Some(Arc::new(ApiOrigin {
            gateway: self.gateway.clone(),
            api: name.to_string(),
        }))
    }

    fn function_url(&self, name: &str, distribution_arn: &str) -> Option<Arc<dyn Origin>> {
        Some(Arc::new(FunctionUrlOrigin {
            functions: self.functions.clone(),
            urls: self.function_urls.clone(),
            function: name.to_string(),
            distribution_arn: distribution_arn.to_string(),
        }))
    }
}

/// A function's URL as an origin, as CloudFront reaches a Lambda function URL: the URL
/// (looked up per request, so one created after start-up serves) with its `AuthType` — a
/// `NONE` URL as for anyone, an `AWS_IAM` one as origin access control does, when the
/// function's policy allows `cloudfront.amazonaws.com` from this distribution.
struct FunctionUrlOrigin {
    functions: Arc<nuvem_functions::FunctionsService>,
    urls: Arc<crate::function_url::FunctionUrlService>,
    function: String,
    distribution_arn: String,
}

impl Origin for FunctionUrlOrigin {
    fn fetch(
        &self,
        req: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, nuvem_edge::Error>> {
        Box::pin(async move {
            let config = match self.functions.function_url_of(&self.function).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return Err(nuvem_edge::Error::OriginUnreachable(format!(
                        "function {:?} has no function URL",
                        self.function
                    )));
                }
                Err(e) => return Err(nuvem_edge::Error::OriginUnreachable(e.to_string())),
            };
            let (mut parts, body) = req.into_parts();
            // CloudFront sends a custom origin its own domain as `Host`.
            let host = format!(
                "{}{}{}.localhost.localstack.cloud",
                config.url_id,
                nuvem_functions::function_url::HOST_INFIX,
                self.urls.region
            );
            if let Ok(v) = HeaderValue::from_str(&host) {
                parts.headers.insert(header::HOST, v);
            }
            parts
                .extensions
                .insert(crate::function_url::UrlTarget(Arc::new(config)));
            let caller = crate::function_url::UrlCaller::Edge {
                distribution_arn: self.distribution_arn.clone(),
            };
            let request_id = nuvem_aws::RequestId::new().to_string();
            Ok(self.urls.serve(parts, body, request_id, caller).await)
        })
    }
}

/// A gateway API as an origin. The viewer path is kept whole (the example's routes are
/// `GET /api/items`, matching what the `/api/*` behavior forwards), and the API's `$default`
/// stage (or a stage named by the first segment) serves it, like a custom domain mapping.
struct ApiOrigin {
    gateway: Arc<nuvem_gateway::Gateway>,
    api: String,
}

impl Origin for ApiOrigin {
    fn fetch(
        &self,
        req: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, nuvem_edge::Error>> {
        Box::pin(async move {
            let mapping = nuvem_gateway::Mapping::default();
            Ok(self.gateway.handle_mapped(&self.api, &mapping, req).await)
        })
    }
}

/// The object store read as the distribution. `ObjectStore`'s reads go through
/// [`nuvem_store::Store::run`] themselves (on a database, they wait off the async workers).
struct Buckets {
    s3: Arc<nuvem_s3::S3Service>,
}

impl nuvem_edge::BucketReader for Buckets {
    fn get_object(&self, req: ObjectRequest) -> BoxFuture<'_, Result<Response<Body>, BucketError>> {
        Box::pin(get_object(self.s3.clone(), req))
    }

    fn website(&self, bucket: &str) -> BoxFuture<'_, Option<Website>> {
        let bucket = bucket.to_owned();
        Box::pin(async move {
            let w = self
                .s3
                .objects()
                .bucket(&bucket)
                .await
                .ok()
                .and_then(|b| b.website);
            w.map(|w| Website {
                index_document: w.index_document,
                error_document: w.error_document,
            })
        })
    }
}

fn bucket_error(e: nuvem_s3::Error) -> BucketError {
    match e {
        nuvem_s3::Error::NoSuchBucket(_) => BucketError::NoSuchBucket,
        nuvem_s3::Error::NoSuchKey(_) | nuvem_s3::Error::DeleteMarker { .. } => {
            BucketError::NoSuchKey
        }
        // An SSE-C object needs its customer's key, which a visitor never sends: the edge
        // cannot serve it (as CloudFront cannot).
        nuvem_s3::Error::AccessDenied | nuvem_s3::Error::InvalidRequest(_) => {
            BucketError::AccessDenied
        }
        e => BucketError::Internal(e.to_string()),
    }
}

/// GetObject/HeadObject with S3's conditionals and single ranges
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>).
async fn get_object(
    s3: Arc<nuvem_s3::S3Service>,
    req: ObjectRequest,
) -> Result<Response<Body>, BucketError> {
    let objects = s3.objects();
    let bucket = objects.bucket(&req.bucket).await.map_err(bucket_error)?;
    if let Some(policy) = &bucket.policy {
        let arn = format!("arn:aws:s3:::{}/{}", req.bucket, req.key);
        if nuvem_s3::policy::evaluate(policy, false, "s3:GetObject", &arn)
            == nuvem_s3::policy::Decision::Deny
        {
            return Err(BucketError::AccessDenied);
        }
    }
    let meta = objects
        .head_object(&req.bucket, &req.key)
        .await
        .map_err(bucket_error)?;
    let mut resp = Response::new(empty_body());
    object_headers(resp.headers_mut(), &meta);
    match conditions(&req.headers).check_read(&meta) {
        Ok(()) => {}
        Err(nuvem_s3::Error::NotModified { .. }) => {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            return Ok(resp);
        }
        Err(nuvem_s3::Error::PreconditionFailed) => {
            return Ok(status_only(StatusCode::PRECONDITION_FAILED));
        }
        Err(e) => return Err(bucket_error(e)),
    }
    let (start, end) = match nuvem_edge::parse_range(req.headers.get(header::RANGE), meta.size) {
        RangeResult::Ignore => (0, meta.size),
        RangeResult::Unsatisfiable => {
            let mut r = status_only(StatusCode::RANGE_NOT_SATISFIABLE);
            insert(
                r.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{}", meta.size),
            );
            return Ok(r);
        }
        RangeResult::Range(a, b) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            insert(
                resp.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes {a}-{b}/{}", meta.size),
            );
            (a, b + 1)
        }
    };
    insert(
        resp.headers_mut(),
        header::CONTENT_LENGTH,
        &(end - start).to_string(),
    );
    if req.head {
        return Ok(resp);
    }
    let stream = objects
        .read_object(&req.bucket, &req.key, &meta, start, end)
        .await
        .map_err(bucket_error)?;
    let frames = stream.map(|chunk| {
        chunk
            .map(hyper::body::Frame::data)
            .map_err(|e| Box::new(e) as BoxError)
    });
    *resp.body_mut() = StreamBody::new(frames).boxed_unsync();
    Ok(resp)
}

fn status_only(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty_body());
    *r.status_mut() = status;
    r
}

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The headers S3 returns with an object.
fn object_headers(h: &mut HeaderMap, meta: &ObjectMeta) {
    insert(h, header::ETAG, &format!("\"{}\"", meta.etag));
    let modified = UNIX_EPOCH
        + Duration::from_millis(u64::try_from(meta.last_modified_ms.max(0)).unwrap_or(0));
    insert(h, header::LAST_MODIFIED, &httpdate::fmt_http_date(modified));
    insert(h, header::ACCEPT_RANGES, "bytes");
    insert(h, header::CONTENT_LENGTH, &meta.size.to_string());
    let stored = &meta.headers;
    let content_type = stored
        .content_type
        .as_deref()
        .unwrap_or("binary/octet-stream");
    insert(h, header::CONTENT_TYPE, content_type);
    let optional = [
        (header::CONTENT_ENCODING, &stored.content_encoding),
        (header::CONTENT_DISPOSITION, &stored.content_disposition),
        (header::CONTENT_LANGUAGE, &stored.content_language),
        (header::CACHE_CONTROL, &stored.cache_control),
        (header::EXPIRES, &stored.expires),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            insert(h, name, v);
        }
    }
    for (k, v) in &stored.user {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(format!("x-amz-meta-{k}").as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(name, value);
        }
    }
}

/// The conditional headers of a read, as S3 takes them; unparsable dates are ignored, as
/// RFC 9110 §13.1.3 says.
fn conditions(h: &HeaderMap) -> Conditions {
    let text = |name: header::HeaderName| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let secs = |name: header::HeaderName| {
        text(name)
            .and_then(|v| httpdate::parse_http_date(&v).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
    };
    Conditions {
        if_match: text(header::IF_MATCH),
        if_none_match: text(header::IF_NONE_MATCH),
        if_modified_since: secs(header::IF_MODIFIED_SINCE),
        if_unmodified_since: secs(header::IF_UNMODIFIED_SINCE),
    }
}
