//! Makes every S3 error response whole, at one place: whoever produced it (s3s rejecting a
//! request before our handler runs, the handler, or this crate's own pre-checks), the client
//! gets `<Error><Code/><Message/>[<Resource/>]<RequestId/><HostId/></Error>` as AWS sends it
//! (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), with the same ids in
//! `x-amz-request-id` and `x-amz-id-2`.
//!
//! s3s renders its own rejections (InvalidBucketName, MalformedXML, SigV2 SignatureDoesNotMatch,
//! MissingContentLength…) as `<Error><Code/></Error>` without Message or RequestId; this module
//! fills in what is missing and keeps what is there.
//!
//! Must not: change a status or a code, touch success responses' bodies, or buffer anything but
//! a small error body.

use base64::Engine as _;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use nuvem_aws::{Body, ErrorCode, RequestId, full_body};
use sha2::{Digest, Sha256};

/// Error bodies are a few hundred bytes; anything bigger is not one we rendered.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A header on an internal error whose cause was already logged (at ERROR, where it happened):
/// this module then logs no second line for the request, and never lets the header out.
pub(crate) const CAUSE_LOGGED: &str = "x-nuvem-cause-logged";

/// What the request said that an error body may name.
pub(crate) struct ErrorContext<'a> {
    pub request_id: &'a RequestId,
    /// The request's bucket, path-style addressing or virtual-hosted.
    pub bucket: Option<String>,
    /// The request's object key, percent-decoded.
    pub key: Option<String>,
}

/// AWS's extended request id (`x-amz-id-2`, `<HostId>`): opaque base64. Derived from the
/// request id so that a log line and a client report can be matched by either.
fn host_id(request_id: &RequestId) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(request_id.as_str()))
}

/// Adds `x-amz-id-2` to every response and completes the body of an error response.
pub(crate) async fn complete(mut resp: Response<Body>, cx: &ErrorContext<'_>) -> Response<Body> {
    let host_id = host_id(cx.request_id);
    if let Ok(v) = HeaderValue::from_str(&host_id) {
        resp.headers_mut().insert("x-amz-id-2", v);
    }
    let cause_logged = resp.headers_mut().remove(CAUSE_LOGGED).is_some();
    let status = resp.status();
    // 304 is not an error and, like every HEAD answer, has no body (RFC 9110 §15.4.5).
    if status.as_u16() < 300 || status == StatusCode::NOT_MODIFIED {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = read_small(body, status).await;
    let text = std::str::from_utf8(&bytes).unwrap_or("");
    let parsed = ErrorXml::parse(text);
    if status == StatusCode::NOT_IMPLEMENTED {
        // Asking for an operation nuvem does not have is not a fault of nuvem's: one INFO
        // line says which, ERROR stays for nuvem's own failures.
        let what = parsed.as_ref().and_then(|p| p.message).unwrap_or("");
        tracing::info!(%status, what, "s3 operation not implemented");
    } else if status.is_server_error() && !cause_logged {
        tracing::error!(%status, code = ?parsed.as_ref().map(|p| p.code), "s3 request failed");
    } else if !status.is_server_error() {
        tracing::debug!(%status, code = ?parsed.as_ref().map(|p| p.code), "s3 client error");
    }
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let Some(parsed) = parsed else {
        // A body-less error (HEAD) stays body-less; anything else we did not render is kept.
        return Response::from_parts(parts, full_body(bytes));
    };
    if parts.extensions.get::<ErrorCode>().is_none()
        && let Some(code) = code_extension(parsed.code)
    {
        parts.extensions.insert(code);
    }
    let xml = parsed.render(cx, &host_id);
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    Response::from_parts(parts, full_body(xml))
}

/// An error body, read whole while it is small (empty when it is not, or fails).
async fn read_small(mut body: Body, status: StatusCode) -> bytes::Bytes {
    // Read frame by frame rather than through `Limited`: its error conversion is not provable
    // inside this future for every lifetime (rust-lang/rust#64552).
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(data) = f.data_ref() {
                    buf.extend_from_slice(data);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, %status, "could not read an S3 error body");
                buf.clear();
                break;
            }
        }
        if buf.len() > MAX_ERROR_BODY {
            tracing::warn!(%status, "an S3 error body was too large to complete");
            buf.clear();
            break;
        }
    }
    bytes::Bytes::from(buf)
}

/// The error code of an S3 error response, for the endpoint's metrics: responses made by
/// [`nuvem_aws::AwsError`] carry it already; s3s renders its own (its rejections and the
/// handler's `S3Error`s), whose code is read here from the body this module completes anyway
/// (a HEAD's from the body s3s rendered before it is dropped), so it costs nothing on success.
/// Codes are s3s's and this crate's names, never a caller's text; anything else is left out.
fn code_extension(code: &str) -> Option<ErrorCode> {
    (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| ErrorCode(code.to_owned().into()))
}

/// Sets the error code of a HEAD's error response, whose body s3s rendered and is then
/// dropped (HEAD answers carry none).
pub(crate) async fn head_error_code(resp: &mut Response<Body>) {
    let body = std::mem::replace(resp.body_mut(), nuvem_aws::empty_body());
    let bytes = read_small(body, resp.status()).await;
    if resp.extensions().get::<ErrorCode>().is_none()
        && let Some(p) = ErrorXml::parse(std::str::from_utf8(&bytes).unwrap_or(""))
        && let Some(code) = code_extension(p.code)
    {
        resp.extensions_mut().insert(code);
    }
}

/// The elements of an `<Error>` body, as escaped XML text (re-emitted unchanged).
struct ErrorXml<'a> {
    code: &'a str,
    message: Option<&'a str>,
    resource: Option<&'a str>,
}

impl<'a> ErrorXml<'a> {
    fn parse(xml: &'a str) -> Option<Self> {
        let start = xml.find("<Error>")?;
        let inner = xml.get(start + "<Error>".len()..)?;
        let inner = inner.get(..inner.find("</Error>")?)?;
        let code = element(inner, "Code").filter(|c| !c.is_empty())?;
        Some(Self {
            code,
            message: element(inner, "Message").filter(|m| !m.trim().is_empty()),
            resource: element(inner, "Resource").filter(|r| !r.is_empty()),
        })
    }

    fn render(&self, cx: &ErrorContext<'_>, host_id: &str) -> String {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        xml.push_str(self.code);
        xml.push_str("</Code><Message>");
        match self.message {
            Some(m) => xml.push_str(m),
            None => xml.push_str(&escape(standard_message(self.code))),
        }
        xml.push_str("</Message>");
        let resource = match self.resource {
            Some(r) => Some(r.to_string()),
            None => resource_for(self.code, cx).map(|r| escape(&r)),
        };
        if let Some(r) = resource {
            xml.push_str("<Resource>");
            xml.push_str(&r);
            xml.push_str("</Resource>");
        }
        xml.push_str("<RequestId>");
        xml.push_str(&escape(cx.request_id.as_str()));
        xml.push_str("</RequestId><HostId>");
        xml.push_str(host_id);
        xml.push_str("</HostId></Error>");
        xml
    }
}

/// The text of the first `<name>…</name>` in `xml` (no nesting: the Error children are flat).
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let from = xml.find(&open)? + open.len();
    let rest = xml.get(from..)?;
    rest.get(..rest.find(&close)?)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<Resource>` names the bucket or object involved
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#RESTErrorResponses):
/// AWS's own example is `NoSuchKey` with `/mybucket/myfoto.jpg`. We give it for the errors
/// about a missing or conflicting bucket or object, whose subject is the request's path.
fn resource_for(code: &str, cx: &ErrorContext<'_>) -> Option<String> {
    let bucket = cx.bucket.as_deref()?;
    let object_level = matches!(code, "NoSuchKey" | "NoSuchUpload" | "NoSuchVersion");
    let bucket_level = matches!(
        code,
        "NoSuchBucket" | "BucketNotEmpty" | "BucketAlreadyExists" | "BucketAlreadyOwnedByYou"
    ) || (code.starts_with("NoSuch") && !object_level);
    match (&cx.key, object_level, bucket_level) {
        (Some(key), true, _) => Some(format!("/{bucket}/{key}")),
        (_, _, true) | (None, true, _) => Some(format!("/{bucket}")),
        _ => None,
    }
}

/// AWS's description of each code, used when the producer of the error gave no message
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList).
pub(crate) fn standard_message(code: &str) -> &'static str {
    match code {
        "AccessDenied" => "Access Denied",
        "AccountProblem" => {
            "There is a problem with your AWS account that prevents the action from completing successfully."
        }
        "AuthorizationHeaderMalformed" => {
            "The authorization header that you provided is not valid."
        }
        "BadDigest" => {
            "The Content-MD5 or checksum value that you specified did not match what the server received."
        }
        "BucketAlreadyExists" => {
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Select a different name and try again."
        }
        "BucketAlreadyOwnedByYou" => {
            "The bucket that you tried to create already exists, and you own it."
        }
        "BucketNotEmpty" => "The bucket that you tried to delete is not empty.",
        "EntityTooSmall" => "Your proposed upload is smaller than the minimum allowed object size.",
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed object size.",
        "ExpiredToken" => "The provided token has expired.",
        "IncompleteBody" => {
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        }
        "InternalError" => "We encountered an internal error. Please try again.",
        "InvalidAccessKeyId" => {
            "The AWS access key ID that you provided does not exist in our records."
        }
        "InvalidArgument" => "Invalid Argument",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidDigest" => "The Content-MD5 or checksum value that you specified is not valid.",
        "InvalidPart" => {
            "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified ETag might not have matched the uploaded part's ETag."
        }
        "InvalidPartOrder" => {
            "The list of parts was not in ascending order. The parts list must be specified in order by part number."
        }
        "InvalidRange" => "The requested range cannot be satisfied.",
        "InvalidRequest" => "The request is not valid.",
        "InvalidStorageClass" => "The storage class that you specified is not valid.",
        "InvalidURI" => "The specified URI couldn't be parsed.",
        "KeyTooLongError" => "Your key is too long.",
        "MalformedXML" => {
            "The XML that you provided was not well formed or did not validate against our published schema."
        }
        "MalformedPolicy" => "The policy that you provided is not valid.",
        "MetadataTooLarge" => "Your metadata headers exceed the maximum allowed metadata size.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "MissingRequestBodyError" => "Request body is empty.",
        "MissingSecurityHeader" => "Your request is missing a required header.",
        "NoSuchBucket" => "The specified bucket does not exist.",
        "NoSuchBucketPolicy" => "The specified bucket does not have a bucket policy.",
        "NoSuchCORSConfiguration" => "The specified bucket does not have a CORS configuration.",
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchLifecycleConfiguration" => "The lifecycle configuration does not exist.",
        "NoSuchUpload" => {
            "The specified multipart upload does not exist. The upload ID might not be valid, or the multipart upload might have been aborted or completed."
        }
        "NoSuchVersion" => {
            "The version ID specified in the request does not match an existing version."
        }
        "NoSuchWebsiteConfiguration" => {
            "The specified bucket does not have a website configuration."
        }
        "NotImplemented" => {
            "A header that you provided implies functionality that is not implemented."
        }
        "PreconditionFailed" => {
            "At least one of the preconditions that you specified did not hold."
        }
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the server's time is too large."
        }
        "RequestTimeout" => {
            "Your socket connection to the server was not read from or written to within the timeout period."
        }
        "SignatureDoesNotMatch" => {
            "The request signature that the server calculated does not match the signature that you provided. Check your AWS secret access key and signing method."
        }
        "ServiceUnavailable" | "SlowDown" => "Please reduce your request rate.",
        "XAmzContentSHA256Mismatch" => {
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        }
        _ => "The request could not be completed.",
    }
}
