//! SigV2 presigned URLs (`AWSAccessKeyId`, `Expires`, `Signature` in the query), checked here
//! before s3s sees the request: in constant time (s3s compares the base64 strings with `==`),
//! and with a longest lifetime. SigV2 has no signing time, only an absolute `Expires`; nuvem
//! allows the seven days SigV4 allows (`X-Amz-Expires` <= 604800), counted from now. s3s still
//! verifies the URL after this, but by then the signature it compares is the right one.
//!
//! The string to sign is the one of
//! https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html (query string
//! request authentication), built exactly as s3s 0.14.1 builds it (`sig_v2::methods`), so that
//! both layers agree on every request. Must not: log signatures or secrets.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::request::Parts;
use nuvem_aws::sigv4::Keyring;
use subtle::ConstantTimeEq;

/// The latest `Expires` accepted, as seconds from now.
pub const MAX_LIFETIME: Duration = Duration::from_secs(604_800);

/// Why a SigV2 presigned URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
    )]
    Malformed,
    #[error("Expires must be at most 604800 seconds (seven days) from now")]
    TooLong,
    #[error("Request has expired")]
    Expired,
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    UnknownAccessKey,
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    SignatureMismatch,
}

/// The sub-resources that belong to the canonicalized resource, in s3s's (sorted) order.
const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Form decoding, as s3s reads query strings (`serde_urlencoded`: `+` is a space).
fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The query's parameters, decoded, sorted by name (stable), as s3s's `OrderedQs`.
fn ordered_query(query: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

/// The value of a parameter given exactly once.
fn unique<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = pairs.iter().filter(|(k, _)| k == name);
    let first = values.next()?;
    values.next().is_none().then_some(first.1.as_str())
}

/// Whether the request carries a SigV2 query signature (what s3s would check as one).
pub fn is_presigned_v2(parts: &Parts) -> bool {
    parts
        .uri
        .query()
        .is_some_and(|q| ordered_query(q).iter().any(|(k, _)| k == "Signature"))
}

/// Checks a SigV2 presigned URL. `Ok(())` when the request has none or it is valid;
/// `virtual_bucket` is the bucket of a virtual-hosted style host name.
pub fn check_presigned(
    parts: &Parts,
    virtual_bucket: Option<&str>,
    keyring: &Keyring,
    now: SystemTime,
) -> Result<(), Refusal> {
    let Some(query) = parts.uri.query() else {
        return Ok(());
    };
    let qs = ordered_query(query);
    if !qs.iter().any(|(k, _)| k == "Signature") {
        return Ok(());
    }
    let access_key = unique(&qs, "AWSAccessKeyId").ok_or(Refusal::Malformed)?;
    let expires_raw = unique(&qs, "Expires").ok_or(Refusal::Malformed)?;
    // s3s decodes the signature once more after the query decoding.
    let signature = form_decode_once_more(unique(&qs, "Signature").ok_or(Refusal::Malformed)?);
    let expires: u64 = expires_raw.parse().map_err(|_| Refusal::Malformed)?;
    let expires = UNIX_EPOCH + Duration::from_secs(expires);
    if now > expires {
        return Err(Refusal::Expired);
    }
    if expires > now + MAX_LIFETIME {
        return Err(Refusal::TooLong);
    }
    let secret = keyring
        .secret(access_key)
        .ok_or(Refusal::UnknownAccessKey)?;
    let expected = sign(
        &string_to_sign(parts, &qs, expires_raw, virtual_bucket),
        secret,
    );
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return Err(Refusal::SignatureMismatch);
    }
    Ok(())
}

/// The SigV2 signature of a presigned request (its query holds `Expires`), as a client
/// computes it: base64 of HMAC-SHA1 over the string to sign.
pub fn signature(parts: &Parts, virtual_bucket: Option<&str>, secret: &str) -> String {
    let qs = ordered_query(parts.uri.query().unwrap_or(""));
    let expires = unique(&qs, "Expires").unwrap_or_default();
    sign(&string_to_sign(parts, &qs, expires, virtual_bucket), secret)
}

fn sign(string_to_sign: &str, secret: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        secret.as_bytes(),
    );
    base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, string_to_sign.as_bytes()).as_ref())
}

/// Percent-decoding without the `+` rule (s3s's second decoding of `Signature`).
fn form_decode_once_more(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A header's value when it is sent exactly once and is UTF-8 (s3s's `get_unique`).
fn unique_header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    let mut values = parts.headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    std::str::from_utf8(first.as_bytes()).ok()
}

/// `VERB\nContent-MD5\nContent-Type\nExpires\nCanonicalizedAmzHeaders CanonicalizedResource`.
fn string_to_sign(
    parts: &Parts,
    qs: &[(String, String)],
    expires: &str,
    virtual_bucket: Option<&str>,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(parts.method.as_str());
    out.push('\n');
    out.push_str(unique_header(parts, "content-md5").unwrap_or_default());
    out.push('\n');
    out.push_str(unique_header(parts, "content-type").unwrap_or_default());
    out.push('\n');
    out.push_str(expires);
    out.push('\n');
    // x-amz-* headers by name, values trimmed and joined with commas.
    let mut names: Vec<&str> = parts
        .headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|n| n.starts_with("x-amz-"))
        .collect();
    names.sort_unstable();
    for name in names {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(str::trim)
            .collect();
        if values.is_empty() {
            continue;
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    if let Some(bucket) = virtual_bucket {
        out.push('/');
        out.push_str(bucket);
    }
    out.push_str(parts.uri.path());
    let mut first = true;
    for name in SUBRESOURCES {
        if let Some(value) = unique(qs, name) {
            out.push(if first { '?' } else { '&' });
            first = false;
            out.push_str(name);
            if !value.is_empty() {
                out.push('=');
                out.push_str(value);
            }
        }
    }
    out
}
