//! Browser uploads: POST Object with a form (`multipart/form-data`) and a SigV4-signed policy
//! document (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html; the older
//! SigV2 forms, `AWSAccessKeyId` and `signature`, are verified too,
//! https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html).
//!
//! Handled here rather than by s3s, whose POST support reads the whole file into memory and
//! answers a failed condition with 400 InvalidPolicyDocument: the fields before the file are
//! read into memory (at most [`MAX_FIELDS_BYTES`], as S3's limit), then the file streams
//! straight into the object store, its size checked against `content-length-range` as it
//! goes. The policy's signature is checked with the keys of the endpoint's keyring (the
//! account's keys); keys IAM or STS issued are refused here, because IAM policies are not
//! evaluated for form uploads. A form without a policy is an anonymous upload, allowed only
//! where the bucket's policy or ACL lets anyone write.
//!
//! Must not: buffer the file, or store anything when a check fails.

use std::time::SystemTime;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body_util::BodyExt;
use nuvem_aws::Body;
use nuvem_aws::sigv4::Keyring;
use s3s::dto::ServerSideEncryption;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::Handler;
use super::access::{self, Request};
use super::acl::AclRequest;
use crate::error::Error;
use crate::store::objects::PutOptions;

/// "The maximum allowed size of the POST fields before the file"
/// (`MaxPostPreDataLengthExceeded`): 20 KB.
pub const MAX_FIELDS_BYTES: usize = 20 * 1024;

/// Whether a request is a form upload: `POST /bucket` (no sub-resource) with a
/// `multipart/form-data` body.
pub fn is_form_upload(parts: &http::request::Parts, bucket_only: bool) -> bool {
    parts.method == http::Method::POST
        && bucket_only
        && parts.uri.query().is_none_or(str::is_empty)
        && boundary(parts).is_some()
}

fn boundary(parts: &http::request::Parts) -> Option<String> {
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let (mime, rest) = ct.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    rest.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn malformed() -> Error {
    Error::MalformedPost("The body of your POST request is not well-formed multipart/form-data.")
}

/// The request body as it arrives, with what has been read but not consumed.
struct Reader {
    body: Body,
    buf: BytesMut,
    eof: bool,
}

impl Reader {
    /// Reads one more frame; `false` at the end of the body.
    async fn fill(&mut self) -> Result<bool, Error> {
        while !self.eof {
            match self.body.frame().await {
                None => self.eof = true,
                Some(Err(e)) => return Err(Error::BodyRead(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Reads until `needle` is in the buffer (searching from `from`), within `limit` bytes.
    async fn find(&mut self, needle: &[u8], limit: usize) -> Result<usize, Error> {
        loop {
            if let Some(i) = find(&self.buf, needle) {
                return Ok(i);
            }
            if self.buf.len() > limit {
                return Err(Error::MaxPostPreDataLengthExceeded);
            }
            if !self.fill().await? {
                return Err(malformed());
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A part's `Content-Disposition` name and filename.
fn disposition(headers: &str) -> Option<(String, Option<String>)> {
    let line = headers.lines().find(|l| {
        l.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    let (_, value) = line.split_once(':')?;
    let mut name = None;
    let mut filename = None;
    for p in value.split(';') {
        if let Some((k, v)) = p.split_once('=') {
            let v = v.trim().trim_matches('"').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(v),
                "filename" => filename = Some(v),
                _ => {}
            }
        }
    }
    Some((name?, filename))
}

/// The form: its fields (names lower-cased, in order) and the file's name, with the reader
/// positioned at the first byte of the file.
struct Form {
    fields: Vec<(String, String)>,
    filename: String,
    reader: Reader,
    delimiter: Vec<u8>,
}

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_form(body: Body, boundary: &str) -> Result<Form, Error> {
    let mut reader = Reader {
        body,
        buf: BytesMut::new(),
        eof: false,
    };
    let first = format!("--{boundary}\r\n");
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let start = reader.find(first.as_bytes(), MAX_FIELDS_BYTES).await?;
    let _ = reader.buf.split_to(start + first.len());
    let mut fields = Vec::new();
    let mut read = 0usize;
    loop {
        let end = reader
            .find(b"\r\n\r\n", MAX_FIELDS_BYTES.saturating_sub(read))
            .await?;
        let head = reader.buf.split_to(end + 4);
        read += head.len();
        let head = std::str::from_utf8(&head).map_err(|_| malformed())?;
        let (name, filename) = disposition(head).ok_or_else(malformed)?;
        if name.eq_ignore_ascii_case("file") {
            return Ok(Form {
                fields,
                filename: filename.unwrap_or_default(),
                reader,
                delimiter,
            });
        }
        let end = reader
            .find(&delimiter, MAX_FIELDS_BYTES.saturating_sub(read))
            .await?;
        let value = reader.buf.split_to(end);
        let _ = reader.buf.split_to(delimiter.len());
        read += value.len() + delimiter.len();
        if read > MAX_FIELDS_BYTES {
            return Err(Error::MaxPostPreDataLengthExceeded);
        }
        let value = String::from_utf8(value.to_vec()).map_err(|_| malformed())?;
        fields.push((name.to_ascii_lowercase(), value));
        // After a delimiter: CRLF before the next part, `--` at the end of the form.
        while reader.buf.len() < 2 {
            if !reader.fill().await? {
                return Err(malformed());
            }
        }
        if reader.buf.starts_with(b"--") {
            return Err(Error::InvalidArgument(
                "POST requires exactly one file upload per request.".into(),
            ));
        }
        let _ = reader.buf.split_to(2);
    }
}

/// The file's bytes, up to the delimiter that ends its part, with `content-length-range`
/// enforced as they stream.
/// The rest of the body: the file, then the delimiter that ends its part.
struct FileBody {
    reader: Reader,
    delimiter: Vec<u8>,
}

fn file_stream(
    file: FileBody,
    range: (u64, u64),
) -> impl Stream<Item = Result<Bytes, Error>> + Unpin {
    let state = (file.reader, file.delimiter, 0u64, false);
    Box::pin(futures_util::stream::unfold(
        state,
        move |(mut reader, delimiter, mut sent, done)| async move {
            if done {
                return None;
            }
            loop {
                let (chunk, finished) = if let Some(i) = find(&reader.buf, &delimiter) {
                    (reader.buf.split_to(i).freeze(), true)
                } else if reader.buf.len() > delimiter.len() {
                    let keep = delimiter.len();
                    let n = reader.buf.len() - keep;
                    (reader.buf.split_to(n).freeze(), false)
                } else {
                    match reader.fill().await {
                        Ok(true) => continue,
                        Ok(false) => {
                            return Some((Err(malformed()), (reader, delimiter, sent, true)));
                        }
                        Err(e) => return Some((Err(e), (reader, delimiter, sent, true))),
                    }
                };
                sent += chunk.len() as u64;
                if sent > range.1 {
                    return Some((Err(Error::EntityTooLarge), (reader, delimiter, sent, true)));
                }
                if finished && sent < range.0 {
                    return Some((Err(Error::EntityTooSmall), (reader, delimiter, sent, true)));
                }
                if chunk.is_empty() && finished {
                    return None;
                }
                if chunk.is_empty() {
                    continue;
                }
                return Some((Ok(chunk), (reader, delimiter, sent, finished)));
            }
        },
    ))
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as seconds since the epoch.
fn parse_expiration(s: &str) -> Option<i64> {
    let s = s.trim();
    let base = match s.find('.') {
        Some(i) => format!("{}Z", &s[..i]),
        None => s.to_string(),
    };
    let compact: String = base.chars().filter(|c| *c != '-' && *c != ':').collect();
    nuvem_aws::time::parse_amz_date(&compact).map(|d| d.unix_seconds)
}

/// The condition that failed, in S3's words.
fn failed(condition: &Value) -> Error {
    Error::PostPolicy(format!("Policy Condition failed: {condition}"))
}

/// Checks the form against its policy document: expiration, every condition, and that
/// every field is covered by one. Returns the `content-length-range`.
fn check_policy(policy: &Value, form: &Form, bucket: &str, now: i64) -> Result<(u64, u64), Error> {
    let bad = || Error::InvalidPolicyDocument("Invalid Policy: Invalid JSON.".into());
    let expiration = policy
        .get("expiration")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::InvalidPolicyDocument("Invalid Policy: Policy missing expiration.".into())
        })?;
    let expires = parse_expiration(expiration).ok_or_else(|| {
        Error::InvalidPolicyDocument(format!(
            "Invalid Policy: Invalid 'expiration' value: '{expiration}'"
        ))
    })?;
    if now >= expires {
        return Err(Error::PostPolicy("Policy expired.".into()));
    }
    let conditions = policy
        .get("conditions")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::InvalidPolicyDocument("Invalid Policy: Policy missing conditions.".into())
        })?;
    let value_of = |field: &str| -> String {
        let field = field.trim_start_matches('$').to_ascii_lowercase();
        if field == "bucket" {
            return bucket.to_string();
        }
        form.get(&field).unwrap_or_default().to_string()
    };
    let mut covered = vec!["bucket".to_string()];
    let mut range = (0u64, u64::MAX);
    for c in conditions {
        match c {
            Value::Object(map) => {
                for (k, v) in map {
                    let want = v.as_str().ok_or_else(bad)?;
                    covered.push(k.to_ascii_lowercase());
                    if value_of(k) != want {
                        return Err(failed(&serde_json::json!(["eq", format!("${k}"), want])));
                    }
                }
            }
            Value::Array(items) => {
                let op = items.first().and_then(Value::as_str).ok_or_else(bad)?;
                match op.to_ascii_lowercase().as_str() {
                    "content-length-range" => {
                        let n = |i: usize| {
                            items.get(i).and_then(|v| {
                                v.as_u64()
                                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                            })
                        };
                        let (Some(min), Some(max)) = (n(1), n(2)) else {
                            return Err(bad());
                        };
                        range = (min, max);
                    }
                    op @ ("eq" | "starts-with") => {
                        let field = items.get(1).and_then(Value::as_str).ok_or_else(bad)?;
                        let want = items.get(2).and_then(Value::as_str).ok_or_else(bad)?;
                        let name = field.trim_start_matches('$').to_ascii_lowercase();
                        covered.push(name);
                        let got = value_of(field);
                        let ok = if op == "eq" {
                            got == want
                        } else {
                            got.starts_with(want)
                        };
                        if !ok {
                            return Err(failed(c));
                        }
                    }
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        }
    }
    let extra: Vec<&str> = form
        .fields
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| {
            !matches!(
                *k,
                "policy" | "x-amz-signature" | "file" | "signature" | "awsaccesskeyid"
            ) && !k.starts_with("x-ignore-")
                && !covered.iter().any(|c| c == k)
        })
        .collect();
    if !extra.is_empty() {
        return Err(Error::PostPolicy(format!(
            "Extra input fields: {}",
            extra.join(", ")
        )));
    }
    Ok(range)
}

/// Checks the SigV4 signature of the policy: `x-amz-signature` is the HMAC-SHA256 of the
/// base64 policy under the signing key of `x-amz-credential`'s scope.
fn check_signature(form: &Form, policy_b64: &str, keyring: &Keyring) -> Result<(), Error> {
    if form.get("x-amz-algorithm").is_none()
        && let (Some(key_id), Some(signature)) = (form.get("awsaccesskeyid"), form.get("signature"))
    {
        return check_signature_v2(key_id, signature, policy_b64, keyring);
    }
    let missing = |f: &str| {
        Error::InvalidArgument(format!(
            "Bucket POST must contain a field named '{f}'.  If it is specified, please check the order of the fields."
        ))
    };
    let algorithm = form
        .get("x-amz-algorithm")
        .ok_or_else(|| missing("x-amz-algorithm"))?;
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(Error::InvalidArgument(format!(
            "Unsupported x-amz-algorithm {algorithm}: nuvem verifies POST policies signed with AWS4-HMAC-SHA256 (SigV4) only"
        )));
    }
    let credential = form
        .get("x-amz-credential")
        .ok_or_else(|| missing("x-amz-credential"))?;
    let signature = form
        .get("x-amz-signature")
        .ok_or_else(|| missing("x-amz-signature"))?;
    form.get("x-amz-date")
        .ok_or_else(|| missing("x-amz-date"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = parts.as_slice() else {
        return Err(Error::InvalidArgument(format!(
            "Invalid x-amz-credential {credential}: expected <key>/<date>/<region>/s3/aws4_request"
        )));
    };
    if *service != "s3" {
        return Err(Error::InvalidArgument(format!(
            "Invalid x-amz-credential {credential}: the service must be s3"
        )));
    }
    if form.get("x-amz-security-token").is_some() {
        return Err(Error::AccessDeniedWith(
            "nuvem does not accept POST uploads signed with temporary (STS) credentials".into(),
        ));
    }
    let Some(secret) = keyring.secret(key_id) else {
        return Err(Error::AccessDeniedWith(format!(
            "The access key {key_id} is not one of the account's keys: nuvem accepts POST uploads signed by the account's keys only (IAM policies are not evaluated for form uploads)"
        )));
    };
    let key = nuvem_aws::sigv4::signing_key(secret, date, region, service);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let expected = hex::encode(aws_lc_rs::hmac::sign(&key, policy_b64.as_bytes()).as_ref());
    if !bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes())) {
        return Err(Error::SignatureDoesNotMatch);
    }
    Ok(())
}

/// A SigV2 form (`AWSAccessKeyId`, `signature`): the base64 HMAC-SHA1 of the base64 policy
/// under the secret (https://docs.aws.amazon.com/AmazonS3/latest/userguide/HTTPPOSTForms.html).
fn check_signature_v2(
    key_id: &str,
    signature: &str,
    policy_b64: &str,
    keyring: &Keyring,
) -> Result<(), Error> {
    let Some(secret) = keyring.secret(key_id) else {
        return Err(Error::AccessDeniedWith(format!(
            "The access key {key_id} is not one of the account's keys: nuvem accepts POST uploads signed by the account's keys only (IAM policies are not evaluated for form uploads)"
        )));
    };
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        secret.as_bytes(),
    );
    let expected = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, policy_b64.as_bytes()).as_ref());
    if !bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes())) {
        return Err(Error::SignatureDoesNotMatch);
    }
    Ok(())
}

/// What a successful upload answers.
pub struct Uploaded {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub version_id: Option<String>,
    pub redirect: Option<String>,
    pub status: Option<String>,
}

impl Handler {
    /// Runs a form upload to `bucket`.
    pub async fn post_object(
        &self,
        bucket: &str,
        parts: &http::request::Parts,
        body: Body,
        keyring: &Keyring,
    ) -> Result<Uploaded, Error> {
        let boundary = boundary(parts).ok_or_else(malformed)?;
        let form = read_form(body, &boundary).await?;
        let key = form
            .get("key")
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.".into(),
                )
            })?
            .replace("${filename}", &form.filename);
        if key.is_empty() {
            return Err(Error::InvalidArgument(
                "User key must have a length greater than 0.".into(),
            ));
        }
        let now = nuvem_aws::time::AmzDate::from_system_time(SystemTime::now()).unix_seconds;
        // Only the account's keys sign POST policies (see `check_signature`): a signed form is the
        // root's use of KMS; an unsigned one (a public bucket) is anonymous.
        let caller = if form.get("policy").is_some() {
            crate::kms::KmsCaller::Root
        } else {
            crate::kms::KmsCaller::Anonymous
        };
        let range = match form.get("policy") {
            Some(b64) => {
                let text = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| {
                        Error::InvalidPolicyDocument(
                            "Invalid Policy: Invalid Base64 encoding.".into(),
                        )
                    })?;
                let doc: Value = serde_json::from_slice(&text).map_err(|_| {
                    Error::InvalidPolicyDocument("Invalid Policy: Invalid JSON.".into())
                })?;
                check_signature(&form, b64.trim(), keyring)?;
                check_policy(&doc, &form, bucket, now)?
            }
            None => (0, u64::MAX),
        };
        // The body (not `Sync`) goes to the file stream; the fields are owned from here on.
        let Form {
            fields,
            filename: _,
            reader,
            delimiter,
        } = form;
        let file = FileBody { reader, delimiter };
        let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        // What nuvem does not apply to form uploads is refused rather than ignored.
        if let Some((name, _)) = fields.iter().find(|(k, _)| {
            k == "tagging" || k.starts_with("x-amz-server-side-encryption-customer-")
        }) {
            return Err(Error::NotImplemented(format!(
                "The form field {name} is not supported in POST uploads by nuvem; use PutObject"
            )));
        }
        let request = Request {
            bucket,
            key: Some(&key),
            version: None,
            op: "PostObject",
            anonymous: field("policy").is_none(),
        };
        if !access::allowed(&self.store, &request).await {
            return Err(Error::AccessDenied);
        }
        let canned = field("acl").or_else(|| field("x-amz-acl"));
        let acl = self
            .object_acl_for(
                bucket,
                AclRequest {
                    canned: canned.as_deref(),
                    ..Default::default()
                },
            )
            .await?;
        let metadata = fields
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("x-amz-meta-")?.to_string(), v.clone())))
            .collect();
        let headers = crate::store::Headers {
            content_type: field("content-type"),
            content_encoding: field("content-encoding"),
            content_disposition: field("content-disposition"),
            content_language: field("content-language"),
            cache_control: field("cache-control"),
            expires: field("expires"),
            user: metadata,
        };
        crate::limits::check_metadata(&headers.user)?;
        let sse = field("x-amz-server-side-encryption").map(ServerSideEncryption::from);
        let opts = PutOptions {
            headers,
            acl,
            encryption: super::sse::seal_request(
                sse.as_ref(),
                None,
                field("x-amz-server-side-encryption-aws-kms-key-id").as_ref(),
                field("x-amz-server-side-encryption-context").as_ref(),
            )?,
            caller,
            ..Default::default()
        };
        let redirect = field("success_action_redirect").or_else(|| field("redirect"));
        let status = field("success_action_status");
        let stream = file_stream(file, range);
        let meta = self
            .store
            .put_object(bucket, &key, stream, opts, |_| Ok(()))
            .await?;
        Ok(Uploaded {
            bucket: bucket.to_string(),
            key,
            etag: meta.etag.clone(),
            version_id: meta.version_id.clone(),
            redirect,
            status,
        })
    }
}

impl Uploaded {
    /// S3's answer: a 303 to `success_action_redirect` (with bucket, key and etag in its
    /// query), or `success_action_status` 200, 201 (with a `PostResponse` document) or 204
    /// (the default, also for any other value).
    pub fn into_response(self) -> http::Response<Body> {
        let etag = format!("\"{}\"", self.etag);
        let location = format!("/{}/{}", self.bucket, self.key);
        let mut builder = http::Response::builder().header(http::header::ETAG, &etag);
        if let Some(v) = &self.version_id {
            builder = builder.header("x-amz-version-id", v);
        }
        if let Some(url) = self
            .redirect
            .as_deref()
            .filter(|u| !u.chars().any(char::is_control))
        {
            let sep = if url.contains('?') { '&' } else { '?' };
            let q = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY).to_string();
            let target = format!(
                "{url}{sep}bucket={}&key={}&etag={}",
                q(&self.bucket),
                q(&self.key),
                q(&etag)
            );
            return builder
                .status(http::StatusCode::SEE_OTHER)
                .header(http::header::LOCATION, target)
                .body(nuvem_aws::empty_body())
                .unwrap_or_else(|_| http::Response::new(nuvem_aws::empty_body()));
        }
        builder = builder.header(http::header::LOCATION, encode_location(&location));
        let resp = match self.status.as_deref() {
            Some("200") => builder
                .status(http::StatusCode::OK)
                .body(nuvem_aws::empty_body()),
            Some("201") => {
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                    xml_escape(&encode_location(&location)),
                    xml_escape(&self.bucket),
                    xml_escape(&self.key),
                    xml_escape(&etag),
                );
                builder
                    .status(http::StatusCode::CREATED)
                    .header(http::header::CONTENT_TYPE, "application/xml")
                    .body(nuvem_aws::full_body(xml))
            }
            _ => builder
                .status(http::StatusCode::NO_CONTENT)
                .body(nuvem_aws::empty_body()),
        };
        resp.unwrap_or_else(|_| http::Response::new(nuvem_aws::empty_body()))
    }
}

/// What a query value keeps unencoded: RFC 3986's unreserved characters.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode_location(path: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(path, SET).to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
