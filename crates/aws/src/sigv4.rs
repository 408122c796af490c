//! AWS Signature Version 4 verification, shared by every service.
//!
//! Two ways a request carries a signature
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
//! the `Authorization` header, and presigned query parameters (`X-Amz-Algorithm`,
//! `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`).
//! [`parse`] reads either into a [`SignedRequest`]; [`verify`] recomputes the signature with the
//! secret from a [`Keyring`] and compares in constant time.
//!
//! The payload hash is an input: the caller passes either the `x-amz-content-sha256` header or
//! the SHA-256 of a buffered body. For streaming payloads (`aws-chunked`), [`PayloadMode`] says
//! which mode the client chose, and [`Verified::signing`] carries what a consumer needs to check
//! each chunk's signature; checking the chunks is the consumer's job (the S3 service).
//!
//! This module does no I/O and never logs secrets or signatures.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::time::{AmzDate, parse_amz_date};

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// The largest clock difference AWS accepts for header-signed requests.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest validity a presigned URL may ask for (seven days).
pub const MAX_PRESIGNED_EXPIRES: u64 = 604_800;

/// Access keys and their secrets. The default holds the LocalStack convention, `test`/`test`.
#[derive(Clone, Default)]
pub struct Keyring {
    secrets: HashMap<String, String>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("Keyring")
            .field("access_keys", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, access_key_id: impl Into<String>, secret: impl Into<String>) {
        self.secrets.insert(access_key_id.into(), secret.into());
    }

    pub fn secret(&self, access_key_id: &str) -> Option<&str> {
        self.secrets.get(access_key_id).map(String::as_str)
    }

    /// The access key ids (never the secrets).
    pub fn access_key_ids(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }
}

/// How the payload of a signed request is protected
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadMode {
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// The body's SHA-256, which the body must match.
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, each chunk signed.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned chunks, checksum trailer.
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// Reads the `x-amz-content-sha256` value.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        Ok(match value {
            UNSIGNED_PAYLOAD => Self::Unsigned,
            STREAMING_SIGNED => Self::StreamingSigned,
            STREAMING_SIGNED_TRAILER => Self::StreamingSignedTrailer,
            STREAMING_UNSIGNED_TRAILER => Self::StreamingUnsignedTrailer,
            hex_hash => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(hex_hash, &mut out)
                    .map_err(|_| AuthError::InvalidContentSha256)?;
                Self::Sha256(out)
            }
        })
    }

    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::StreamingSigned | Self::StreamingSignedTrailer | Self::StreamingUnsignedTrailer
        )
    }
}

/// Why a request's authentication was refused. The endpoint turns these into each protocol's
/// AWS error (see [`AuthError::to_aws_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Authorization header is malformed: {0}")]
    MalformedAuthorization(String),
    #[error("Presigned query parameters are malformed: {0}")]
    MalformedQuery(String),
    #[error("Only AWS4-HMAC-SHA256 is supported, got {0}")]
    UnsupportedAlgorithm(String),
    /// `Authorization: AWS <key>:<signature>` (Signature Version 2 in a header), which
    /// nuvem does not verify; S3's own answer in regions without SigV2
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authenticating-requests.html).
    #[error(
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256 (Signature Version 4); Signature Version 2 headers (Authorization: AWS <key>:<signature>) are not accepted."
    )]
    SigV2Header,
    #[error("The request is missing the X-Amz-Date or Date header")]
    MissingDate,
    #[error("The date {0} is not a valid ISO 8601 basic timestamp")]
    InvalidDate(String),
    #[error("The credential scope date does not match the request date")]
    ScopeDateMismatch,
    #[error("The access key {0} does not exist in our records")]
    UnknownAccessKey(String),
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    SignatureMismatch,
    #[error("The difference between the request time and the current time is too large")]
    TimeSkewed,
    #[error("Request has expired")]
    Expired,
    #[error("X-Amz-Expires must be between 1 and 604800 seconds")]
    InvalidExpires,
    #[error("x-amz-content-sha256 must be a SHA-256 hex digest or a known payload mode")]
    InvalidContentSha256,
    #[error("A signed header is missing from the request: {0}")]
    MissingSignedHeader(String),
    /// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html:
    /// the canonical headers must include `host`.
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,
    /// More than one `Authorization` header, or a signature both in the header and the query.
    #[error(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
    )]
    MultipleAuth,
    /// S3 refuses `x-amz-*` headers outside `SignedHeaders` (403 AccessDenied with the
    /// `HeadersNotSigned` element), so that a signed request or presigned URL cannot be replayed
    /// with headers that change what it does (metadata, tagging, copy source, ACL).
    #[error("There were headers present in the request which were not signed")]
    HeadersNotSigned(Vec<String>),
}

impl AuthError {
    /// The error AWS gives for this failure in `protocol`. S3 answers 403 with its own codes;
    /// DynamoDB's JSON front end answers 400 `InvalidSignatureException` /
    /// `UnrecognizedClientException`; REST-JSON services (Lambda) answer 403.
    pub fn to_aws_error(&self, protocol: crate::Protocol) -> crate::AwsError {
        use crate::{AwsError, Protocol};
        use http::StatusCode;
        let msg = self.to_string();
        match protocol {
            Protocol::RestXml => {
                let (status, code) = match self {
                    Self::SignatureMismatch => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
                    Self::UnknownAccessKey(_) => (StatusCode::FORBIDDEN, "InvalidAccessKeyId"),
                    Self::TimeSkewed => (StatusCode::FORBIDDEN, "RequestTimeTooSkewed"),
                    Self::Expired => (StatusCode::FORBIDDEN, "AccessDenied"),
                    Self::InvalidContentSha256 => (StatusCode::BAD_REQUEST, "InvalidArgument"),
                    Self::MalformedQuery(_) | Self::InvalidExpires => {
                        (StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError")
                    }
                    Self::MissingDate => (StatusCode::FORBIDDEN, "AccessDenied"),
                    Self::HostNotSigned => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
                    Self::MultipleAuth => (StatusCode::BAD_REQUEST, "InvalidArgument"),
                    Self::SigV2Header => (StatusCode::BAD_REQUEST, "InvalidRequest"),
                    Self::HeadersNotSigned(headers) => {
                        return AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", msg)
                            .with_member("HeadersNotSigned", headers.join(", "));
                    }
                    _ => (StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed"),
                };
                AwsError::new(status, code, msg)
            }
            Protocol::AwsQuery { .. } => {
                // https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
                let (status, code) = match self {
                    Self::UnknownAccessKey(_) => (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
                    Self::MissingDate
                    | Self::MalformedAuthorization(_)
                    | Self::MalformedQuery(_)
                    | Self::MultipleAuth => (StatusCode::BAD_REQUEST, "IncompleteSignature"),
                    Self::Expired => (StatusCode::FORBIDDEN, "ExpiredToken"),
                    _ => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
                };
                AwsError::new(status, code, msg)
            }
            Protocol::AwsJson1_0 { .. } | Protocol::AwsJson1_1 { .. } | Protocol::RestJson => {
                let status = if protocol == Protocol::RestJson {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::BAD_REQUEST
                };
                let code = match self {
                    Self::UnknownAccessKey(_) => "UnrecognizedClientException",
                    Self::MissingDate
                    | Self::MalformedAuthorization(_)
                    | Self::MalformedQuery(_)
                    | Self::MultipleAuth => "IncompleteSignatureException",
                    _ => "InvalidSignatureException",
                };
                let msg = match self {
                    Self::UnknownAccessKey(_) => {
                        "The security token included in the request is invalid.".to_string()
                    }
                    _ => msg,
                };
                AwsError::new(status, code, msg).with_namespace("com.amazon.coral.service")
            }
        }
    }
}

/// The signature-bearing parts of a request, parsed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub amz_date: String,
    /// `Some(seconds)` for presigned URLs.
    pub expires: Option<u64>,
}

impl SignedRequest {
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }

    pub fn is_presigned(&self) -> bool {
        self.expires.is_some()
    }
}

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
    pub signing: SigningContext,
}

/// What a streaming-payload consumer needs to verify chunk signatures
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html).
#[derive(Clone)]
pub struct SigningContext {
    pub signing_key: [u8; 32],
    pub amz_date: String,
    pub scope: String,
    /// The request's own signature: the seed of the chunk-signature chain.
    pub seed_signature: String,
}

impl std::fmt::Debug for SigningContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningContext")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl SigningContext {
    /// The signature of one aws-chunked chunk, given the previous signature.
    pub fn chunk_signature(&self, previous: &str, chunk: &[u8]) -> String {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            previous,
            hex::encode(Sha256::digest(b"")),
            hex::encode(Sha256::digest(chunk))
        );
        hex::encode(hmac(&self.signing_key, string_to_sign.as_bytes()))
    }
}

fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Finds the signature on a request. `Ok(None)` means the request is anonymous.
///
/// Ambiguity is refused rather than resolved: two `Authorization` headers, a header and a
/// presigned query together, a field or parameter given twice. Whichever copy the verifier
/// picked, another layer (s3s) might pick the other.
pub fn parse(parts: &Parts) -> Result<Option<SignedRequest>, AuthError> {
    let query = parts.uri.query().unwrap_or("");
    let presigned = query_pairs(query).any(|(k, _)| {
        matches!(
            k.as_str(),
            "X-Amz-Algorithm" | "X-Amz-Signature" | "X-Amz-Credential" | "Signature"
        )
    });
    let mut auth = parts.headers.get_all(http::header::AUTHORIZATION).iter();
    if let Some(value) = auth.next() {
        if auth.next().is_some() || presigned {
            return Err(AuthError::MultipleAuth);
        }
        let value = value
            .to_str()
            .map_err(|_| AuthError::MalformedAuthorization("not ASCII".into()))?;
        return parse_authorization(value, parts).map(Some);
    }
    if query_pairs(query).any(|(k, _)| k == "X-Amz-Algorithm" || k == "X-Amz-Signature") {
        // A SigV2 `Signature` next to SigV4 parameters: s3s would check the SigV2 one.
        if query_pairs(query).any(|(k, _)| k == "Signature") {
            return Err(AuthError::MultipleAuth);
        }
        return parse_presigned(query).map(Some);
    }
    Ok(None)
}

/// The `SignedHeaders` list, which must name `host`.
fn signed_header_list(value: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = value.split(';').map(str::to_string).collect();
    if !names.iter().any(|n| n == "host") {
        return Err(AuthError::HostNotSigned);
    }
    Ok(names)
}

fn parse_credential(
    credential: &str,
    err: fn(String) -> AuthError,
) -> Result<(String, String, String, String), AuthError> {
    let mut it = credential.rsplitn(5, '/');
    let (Some(terminator), Some(service), Some(region), Some(date), Some(akid)) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return Err(err(format!(
            "credential '{credential}' is not AKID/date/region/service/aws4_request"
        )));
    };
    if terminator != "aws4_request" || date.len() != 8 || akid.is_empty() {
        return Err(err(format!(
            "credential '{credential}' is not AKID/date/region/service/aws4_request"
        )));
    }
    Ok((
        akid.to_string(),
        date.to_string(),
        region.to_string(),
        service.to_string(),
    ))
}

fn parse_authorization(value: &str, parts: &Parts) -> Result<SignedRequest, AuthError> {
    let malformed = AuthError::MalformedAuthorization;
    let (algorithm, rest) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| malformed("no fields".into()))?;
    if algorithm == "AWS" && rest.contains(':') {
        return Err(AuthError::SigV2Header);
    }
    if algorithm != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm(algorithm.to_string()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let (k, v) = field
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed(format!("field '{}'", field.trim())))?;
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(malformed(format!("{k} given more than once")));
        }
    }
    let credential = credential.ok_or_else(|| malformed("missing Credential".into()))?;
    let signed_headers = signed_headers.ok_or_else(|| malformed("missing SignedHeaders".into()))?;
    let signature = signature.ok_or_else(|| malformed("missing Signature".into()))?;
    let (access_key_id, date, region, service) = parse_credential(credential, malformed)?;
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .or_else(|| parts.headers.get(http::header::DATE))
        .ok_or(AuthError::MissingDate)?
        .to_str()
        .map_err(|_| AuthError::MissingDate)?
        .to_string();
    Ok(SignedRequest {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_header_list(signed_headers)?,
        signature: signature.to_string(),
        amz_date,
        expires: None,
    })
}

fn parse_presigned(query: &str) -> Result<SignedRequest, AuthError> {
    let malformed = AuthError::MalformedQuery;
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in query_pairs(query) {
        if k.starts_with("X-Amz-") {
            if params.contains_key(&k) {
                return Err(malformed(format!("{k} given more than once")));
            }
            params.insert(k, v);
        }
    }
    let get = |name: &str| {
        params
            .get(name)
            .cloned()
            .ok_or_else(|| malformed(format!("missing {name}")))
    };
    let algorithm = get("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm(algorithm));
    }
    let (access_key_id, date, region, service) =
        parse_credential(&get("X-Amz-Credential")?, malformed)?;
    let expires: u64 = get("X-Amz-Expires")?
        .parse()
        .map_err(|_| AuthError::InvalidExpires)?;
    if expires == 0 || expires > MAX_PRESIGNED_EXPIRES {
        return Err(AuthError::InvalidExpires);
    }
    Ok(SignedRequest {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_header_list(&get("X-Amz-SignedHeaders")?)?,
        signature: get("X-Amz-Signature")?,
        amz_date: get("X-Amz-Date")?,
        expires: Some(expires),
    })
}

/// Characters left alone by AWS's URI encoding: RFC 3986 unreserved.
const AWS_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const AWS_ENCODE_PATH: &percent_encoding::AsciiSet = &AWS_ENCODE.remove(b'/');

fn uri_encode(s: &str, set: &'static percent_encoding::AsciiSet) -> String {
    percent_encoding::utf8_percent_encode(s, set).to_string()
}

/// The canonical URI. S3 signs the path exactly as sent; every other service signs it
/// URI-encoded once more, after removing `.`/`..` segments and empty segments
/// (the "double encoding" of the SigV4 spec).
pub fn canonical_uri(raw_path: &str, service: &str) -> String {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    if service == "s3" {
        return path.to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::from("/");
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    uri_encode(&normalized, AWS_ENCODE_PATH)
}

/// The canonical query string: every parameter but the signature, URI-encoded, sorted.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (uri_encode(&k, AWS_ENCODE), uri_encode(&v, AWS_ENCODE)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_header_value(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(",")
}

/// Builds the canonical request of the SigV4 spec.
pub fn canonical_request(
    parts: &Parts,
    signed: &SignedRequest,
    payload_hash: &str,
) -> Result<String, AuthError> {
    let mut out = String::with_capacity(512);
    out.push_str(parts.method.as_str());
    out.push('\n');
    out.push_str(&canonical_uri(parts.uri.path(), &signed.service));
    out.push('\n');
    out.push_str(&canonical_query(parts.uri.query().unwrap_or("")));
    out.push('\n');
    for name in &signed.signed_headers {
        let values: Vec<&str> = parts
            .headers
            .get_all(name.as_str())
            .iter()
            // UTF-8 values (non-ASCII user metadata) are signed as their text, as AWS does;
            // `to_str` would take only visible ASCII.
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .collect();
        let value = if !values.is_empty() {
            canonical_header_value(&values)
        } else if name == "host" {
            // HTTP/2 carries the host in the :authority pseudo-header, which hyper puts in the URI.
            parts
                .uri
                .authority()
                .map(|a| a.as_str().to_string())
                .ok_or_else(|| AuthError::MissingSignedHeader(name.clone()))?
        } else {
            return Err(AuthError::MissingSignedHeader(name.clone()));
        };
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed.signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The SigV4 signing key for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The string to sign for a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The checks that need neither the body nor an HMAC: the date parses and matches the scope,
/// the access key exists, the request is within its time window. The endpoint runs them before
/// it reads a body it must hash, so that a stranger cannot make it buffer anything.
pub fn precheck(
    signed: &SignedRequest,
    keyring: &Keyring,
    now: SystemTime,
) -> Result<(), AuthError> {
    let request_time = parse_amz_date(&signed.amz_date)
        .ok_or_else(|| AuthError::InvalidDate(signed.amz_date.clone()))?;
    if signed.amz_date.get(..8) != Some(signed.date.as_str()) {
        return Err(AuthError::ScopeDateMismatch);
    }
    if keyring.secret(&signed.access_key_id).is_none() {
        return Err(AuthError::UnknownAccessKey(signed.access_key_id.clone()));
    }
    check_time(request_time, signed.expires, now)
}

/// The `x-amz-*` headers of an S3 request that its signature does not cover. S3 exempts
/// `x-amz-content-sha256`, whose value is bound to the body by the payload check anyway
/// (a presigned URL cannot sign it: the client computes it at upload time).
pub fn unsigned_amz_headers(parts: &Parts, signed: &SignedRequest) -> Vec<String> {
    let mut names: Vec<String> = parts
        .headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|n| n.starts_with("x-amz-") && *n != "x-amz-content-sha256")
        .filter(|n| !signed.signed_headers.iter().any(|s| s == n))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Checks a parsed signature against the request. `payload_hash` is what the client declared
/// (`x-amz-content-sha256`, or the body's hash computed by the caller); `now` is the server
/// clock. For the `s3` scope, every `x-amz-*` header sent must be signed.
pub fn verify(
    parts: &Parts,
    signed: &SignedRequest,
    payload_hash: &str,
    keyring: &Keyring,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    precheck(signed, keyring, now)?;
    if signed.service == "s3" {
        let unsigned = unsigned_amz_headers(parts, signed);
        if !unsigned.is_empty() {
            return Err(AuthError::HeadersNotSigned(unsigned));
        }
    }
    let secret = keyring
        .secret(&signed.access_key_id)
        .ok_or_else(|| AuthError::UnknownAccessKey(signed.access_key_id.clone()))?;
    let key = signing_key(secret, &signed.date, &signed.region, &signed.service);
    let scope = signed.scope();
    let canonical = canonical_request(parts, signed, payload_hash)?;
    let expected = hex::encode(hmac(
        &key,
        string_to_sign(&signed.amz_date, &scope, &canonical).as_bytes(),
    ));
    if !bool::from(expected.as_bytes().ct_eq(signed.signature.as_bytes())) {
        return Err(AuthError::SignatureMismatch);
    }
    Ok(Verified {
        access_key_id: signed.access_key_id.clone(),
        region: signed.region.clone(),
        service: signed.service.clone(),
        signing: SigningContext {
            signing_key: key,
            amz_date: signed.amz_date.clone(),
            scope,
            seed_signature: expected,
        },
    })
}

fn check_time(
    request_time: AmzDate,
    expires: Option<u64>,
    now: SystemTime,
) -> Result<(), AuthError> {
    let request_time = request_time.to_system_time();
    match expires {
        Some(seconds) => {
            if now > request_time + Duration::from_secs(seconds) {
                return Err(AuthError::Expired);
            }
            // A URL signed in the future is as suspicious as a skewed header.
            if request_time > now + MAX_SKEW {
                return Err(AuthError::TimeSkewed);
            }
        }
        None => {
            let skew = now
                .duration_since(request_time)
                .or_else(|e| Ok::<_, ()>(e.duration()))
                .unwrap_or_default();
            if skew > MAX_SKEW {
                return Err(AuthError::TimeSkewed);
            }
        }
    }
    Ok(())
}

/// Hex SHA-256 of a buffered body.
pub fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}
