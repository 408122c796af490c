//! The [`nuvem_aws::Service`] implementation: hands verified requests to s3s (which routes,
//! parses and, with the same keyring as the endpoint, re-derives signatures for aws-chunked
//! chunks and SigV2 presigned URLs) and answers CORS preflight itself.
//!
//! Must not: read config or env (the binary passes [`S3Config`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use http_body_util::BodyExt;
use nuvem_aws::sigv4::Keyring;
use nuvem_aws::{AwsError, AwsRequest, Body, BodyHandling, BoxFuture, IntoAwsError, Protocol};
use s3s::host::{S3Host, VirtualHost};
use s3s::{S3Result, s3_error};

use crate::api::{Handler, KeyringAuth, PolicyAccess, SecretLookup, SecretSlot};
use crate::error::Error;
use crate::error_body::{self, ErrorContext};
use crate::events::ObjectEvents;
use crate::store::sealing::MasterKey;
use crate::store::{BlobTier, ObjectStore};

/// The object store's configuration section, resolved by the binary.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub region: String,
    /// Where local blob files live (the store's metadata lives in the shared `Store`).
    pub data_dir: PathBuf,
    /// Where object data lives: local files (fsynced before they become visible or not), or
    /// chunks in the store.
    pub blob_tier: BlobTier,
    /// The endpoint's access keys, for chunk signatures and SigV2.
    pub keyring: Keyring,
    /// `bucket.<base_domain>` is virtual-hosted style; default `s3.localhost`.
    pub base_domain: String,
    /// How many unreferenced blobs opening may remove on its own (more are kept and reported;
    /// `nuvem repair` removes them). Default [`crate::store::garbage::DEFAULT_LIMIT`].
    pub gc_limit: usize,
    /// The key that wraps SSE-S3 data keys (the binary keeps it outside the blob directory);
    /// `None`: SSE-S3 and bucket default encryption are refused.
    pub master_key: Option<Arc<MasterKey>>,
    /// The account id (`server.account_id`): the canonical user id that owns every bucket
    /// and object is derived from it ([`crate::acl::canonical_id`]).
    pub account_id: String,
}

pub struct S3Service {
    store: ObjectStore,
    handler: Handler,
    s3s: s3s::service::S3Service,
    base_domain: String,
    /// For SigV2 presigned URLs, checked before s3s (see [`crate::sigv2`]).
    keyring: Keyring,
    /// Secrets of IAM-issued keys, for s3s's chunk signatures.
    secrets: SecretSlot,
}

/// Virtual-hosted style for `bucket.<base>`, path style for every other host (IPs,
/// `localhost`, any name an SDK was pointed at with path-style addressing).
struct Hosts(String);

/// The host name without its port.
fn host_name(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    }
}

/// The bucket of a virtual-hosted style host name `bucket.<base>`.
fn virtual_bucket<'a>(base: &str, name: &'a str) -> Option<&'a str> {
    name.strip_suffix(base)
        .and_then(|b| b.strip_suffix('.'))
        .filter(|b| !b.is_empty())
}

/// The bucket and key a request addresses, percent-decoded, decided exactly as s3s routes it
/// (so that whoever authorizes a request, IAM in the binary included, judges the bucket and
/// key s3s will serve): the `Host` header, or over HTTP/2 and HTTP/3 the `:authority` (which
/// hyper puts in the URI); a host that is an IP address (with or without its port) or any
/// name but `<bucket>.<base_domain>` (after a numeric port) means path style.
pub fn addressed(
    base_domain: &str,
    parts: &http::request::Parts,
) -> (Option<String>, Option<String>) {
    let host = match parts.headers.get(http::header::HOST) {
        Some(h) => h.to_str().ok(),
        None if matches!(parts.version, http::Version::HTTP_2 | http::Version::HTTP_3) => {
            parts.uri.authority().map(|a| a.as_str())
        }
        None => None,
    };
    let is_ip = |h: &str| {
        h.parse::<std::net::SocketAddr>().is_ok() || h.parse::<std::net::IpAddr>().is_ok()
    };
    let path = percent_encoding::percent_decode_str(parts.uri.path()).decode_utf8_lossy();
    let path = path.strip_prefix('/').unwrap_or(&path);
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match host
        .filter(|h| !is_ip(h))
        .and_then(|h| virtual_bucket(base_domain, host_name(h)))
    {
        Some(bucket) => (Some(bucket.to_string()), nonempty(path)),
        None => match path.split_once('/') {
            Some((b, k)) => (nonempty(b), nonempty(k)),
            None => (nonempty(path), None),
        },
    }
}

/// The object a copy (CopyObject, UploadPartCopy) reads, as s3s parses its
/// `x-amz-copy-source`: (bucket, key, version id). `None` without the header, or when s3s
/// will refuse it.
pub fn copy_source(parts: &http::request::Parts) -> Option<(String, String, Option<String>)> {
    let header = parts.headers.get("x-amz-copy-source")?.to_str().ok()?;
    match s3s::dto::CopySource::parse(header).ok()? {
        s3s::dto::CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Some((bucket.into(), key.into(), version_id.map(Into::into))),
        _ => None,
    }
}

impl S3Host for Hosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = host_name(host);
        if let Some(bucket) = virtual_bucket(&self.0, name) {
            return Ok(VirtualHost::new(self.0.as_str()).with_bucket(bucket));
        }
        if name.is_empty() {
            return Err(s3_error!(InvalidRequest, "Invalid host header"));
        }
        Ok(VirtualHost::new(name))
    }
}

impl S3Service {
    pub fn open(store: nuvem_store::Store, config: S3Config) -> Result<Self, Error> {
        Self::open_with_events(store, config, None)
    }

    /// Opens the service with a subscriber to object events.
    pub fn open_with_events(
        store: nuvem_store::Store,
        config: S3Config,
        events: Option<Arc<dyn ObjectEvents>>,
    ) -> Result<Self, Error> {
        let mut objects =
            ObjectStore::open_tier(store, &config.data_dir, config.blob_tier, config.gc_limit)?;
        if let Some(e) = events {
            objects.set_events(e);
        }
        if let Some(key) = config.master_key.clone() {
            objects.set_master_key(key)?;
        }
        let handler = Handler::new(objects.clone(), config.region.clone(), &config.account_id);
        let mut builder = s3s::service::S3ServiceBuilder::new(handler.clone());
        let secrets = SecretSlot::default();
        builder.set_auth(KeyringAuth(config.keyring.clone(), secrets.clone()));
        builder.set_access(PolicyAccess(objects.clone()));
        builder.set_host(Hosts(config.base_domain.clone()));
        Ok(Self {
            store: objects,
            handler,
            s3s: builder.build(),
            base_domain: config.base_domain,
            keyring: config.keyring,
            secrets,
        })
    }

    /// Lets keys that IAM and STS issued sign S3 requests too (the endpoint verified them).
    pub fn set_secret_lookup(&self, lookup: Arc<dyn SecretLookup>) {
        self.secrets.set(lookup);
    }

    /// The storage layer, for the binary's manifest step and for tests.
    pub fn objects(&self) -> &ObjectStore {
        &self.store
    }

    pub fn handler(&self) -> &Handler {
        &self.handler
    }

    /// Every response, whoever produced it, leaves through [`error_body::complete`].
    async fn serve(&self, req: AwsRequest) -> http::Response<Body> {
        let (bucket, key) = self.subject(&req.parts);
        let request_id = req.request_id.clone();
        let resp = self.respond(req, bucket.as_deref(), key.is_some()).await;
        let cx = ErrorContext {
            request_id: &request_id,
            bucket,
            key,
        };
        error_body::complete(resp, &cx).await
    }

    /// The bucket and key a request addresses, path-style or virtual-hosted, percent-decoded.
    fn subject(&self, parts: &http::request::Parts) -> (Option<String>, Option<String>) {
        addressed(&self.base_domain, parts)
    }

    /// A SigV2 presigned URL is checked here, in constant time and with a longest lifetime,
    /// before s3s (which accepts any `Expires` and compares with `==`) sees it.
    fn check_sigv2(&self, parts: &http::request::Parts) -> Result<(), AwsError> {
        use crate::sigv2::Refusal;
        use http::StatusCode;
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        let bucket = host.and_then(|h| virtual_bucket(&self.base_domain, host_name(h)));
        let refusal =
            match crate::sigv2::check_presigned(parts, bucket, &self.keyring, SystemTime::now()) {
                Ok(()) => return Ok(()),
                Err(r) => r,
            };
        tracing::info!(error = %refusal, "SigV2 presigned URL refused");
        let (status, code) = match refusal {
            Refusal::Malformed | Refusal::Expired => (StatusCode::FORBIDDEN, "AccessDenied"),
            Refusal::TooLong => (StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError"),
            Refusal::UnknownAccessKey => (StatusCode::FORBIDDEN, "InvalidAccessKeyId"),
            Refusal::SignatureMismatch => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
        };
        Err(AwsError::new(status, code, refusal.to_string()))
    }

    /// Serves `req`, which addresses `bucket` (and a key, if `has_key`): [`Self::subject`].
    async fn respond(
        &self,
        req: AwsRequest,
        bucket: Option<&str>,
        has_key: bool,
    ) -> http::Response<Body> {
        let bucket = bucket.map(str::to_owned);
        if req.parts.method == http::Method::OPTIONS {
            return crate::cors::preflight(&self.store, &req.parts, bucket)
                .await
                .unwrap_or_else(|e| {
                    e.into_aws_error()
                        .to_response(Protocol::RestXml, &req.request_id)
                });
        }
        if let Err(e) = self.check_sigv2(&req.parts) {
            return e.to_response(Protocol::RestXml, &req.request_id);
        }
        if let Err(e) = require_length(&req.parts).and_then(|()| require_tls_for_sse_c(&req.parts))
        {
            return e
                .into_aws_error()
                .to_response(Protocol::RestXml, &req.request_id);
        }
        let cors = crate::cors::response_headers(&self.store, &req.parts, bucket.clone()).await;
        if let Some(bucket) = bucket.filter(|_| !has_key)
            && crate::api::post::is_form_upload(&req.parts, true)
        {
            let mut resp = match self
                .handler
                .post_object(&bucket, &req.parts, req.body, &self.keyring)
                .await
            {
                Ok(done) => done.into_response(),
                Err(e) => {
                    if e.is_internal() {
                        tracing::error!(error = %e, "POST upload failed");
                    }
                    e.into_aws_error()
                        .to_response(Protocol::RestXml, &req.request_id)
                }
            };
            resp.headers_mut().extend(cors);
            return resp;
        }
        let is_head = req.parts.method == http::Method::HEAD;
        let http_req = to_s3s_request(req.parts, req.body);
        match self.s3s.call(http_req).await {
            Ok(resp) => {
                let mut resp = from_s3s_response(resp);
                resp.headers_mut().extend(cors);
                // HEAD and 304 responses carry no body (RFC 9110 §9.3.2, §15.4.5); s3s renders
                // error XML for them, which an HTTP/2 client rejects as a protocol error.
                let not_modified = resp.status() == http::StatusCode::NOT_MODIFIED;
                if is_head && !not_modified && !resp.status().is_success() {
                    error_body::head_error_code(&mut resp).await;
                }
                if is_head || not_modified {
                    *resp.body_mut() = nuvem_aws::empty_body();
                    if not_modified || !resp.status().is_success() {
                        resp.headers_mut().remove(http::header::CONTENT_LENGTH);
                        resp.headers_mut().remove(http::header::CONTENT_TYPE);
                    }
                }
                resp
            }
            Err(e) => {
                tracing::error!(error = ?e, "s3 protocol layer failed");
                let mut resp = AwsError::internal().to_response(Protocol::RestXml, &req.request_id);
                resp.headers_mut().insert(
                    error_body::CAUSE_LOGGED,
                    http::HeaderValue::from_static("1"),
                );
                resp
            }
        }
    }
}

/// S3 takes a body of unknown length only as aws-chunked, which announces the decoded length in
/// `x-amz-decoded-content-length`; a plain `Transfer-Encoding: chunked` upload is refused with
/// 411 MissingContentLength, as AWS does
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html: Content-Length is
/// required; https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html).
fn require_length(parts: &http::request::Parts) -> Result<(), Error> {
    let h = &parts.headers;
    let chunked = h.get_all(http::header::TRANSFER_ENCODING).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
    });
    if parts.method == http::Method::PUT
        && chunked
        && !h.contains_key(http::header::CONTENT_LENGTH)
        && !h.contains_key("x-amz-decoded-content-length")
    {
        return Err(Error::MissingContentLength);
    }
    Ok(())
}

/// Customer keys (SSE-C) travel only over TLS: S3 "rejects any requests made over HTTP when
/// using SSE-C" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerSideEncryptionCustomerKeys.html).
/// A request that did not come through a listener (no [`nuvem_aws::Transport`]) counts as
/// plain HTTP.
fn require_tls_for_sse_c(parts: &http::request::Parts) -> Result<(), Error> {
    let secure = parts
        .extensions
        .get::<nuvem_aws::Transport>()
        .is_some_and(|t| t.secure);
    let customer_key = parts.headers.keys().any(|h| {
        let h = h.as_str();
        h.starts_with("x-amz-server-side-encryption-customer-")
            || h.starts_with("x-amz-copy-source-server-side-encryption-customer-")
    });
    if customer_key && !secure {
        return Err(Error::InvalidRequest(
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.".into(),
        ));
    }
    Ok(())
}

// Plain functions rather than inline in `serve`: inside an async fn the compiler cannot prove
// the body conversions' `From` bounds for every lifetime (rust-lang/rust#64552).
fn to_s3s_request(parts: http::request::Parts, body: Body) -> http::Request<s3s::Body> {
    http::Request::from_parts(parts, s3s::Body::http_body_unsync(body))
}

fn from_s3s_response(resp: s3s::HttpResponse) -> http::Response<Body> {
    resp.map(|b| b.boxed_unsync())
}

impl nuvem_aws::Service for S3Service {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn protocol(&self) -> Protocol {
        Protocol::RestXml
    }

    fn body_handling(&self) -> BodyHandling {
        BodyHandling::Streamed
    }

    fn accepts_anonymous(&self) -> bool {
        true
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, http::Response<Body>> {
        Box::pin(self.serve(request))
    }
}
