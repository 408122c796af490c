//! CloudFront's API on the AWS endpoint (SigV4 scope `cloudfront`, REST-XML, API version
//! 2020-05-31) for the manifest's one distribution: ListDistributions, GetDistribution,
//! GetDistributionConfig, UpdateDistribution (for what the manifest models: behaviors' TTLs
//! and cache keys, custom error responses, the WebACL, the comment; see `api_update` and
//! `config`), and CreateInvalidation, GetInvalidation, ListInvalidations
//! (<https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreateInvalidation.html>).
//!
//! Must not: touch caches itself ([`Edge::invalidate`] does). Errors use CloudFront's wrapped
//! shape (`<ErrorResponse><Error><Type>…`), which differs from S3's, so this module renders
//! them instead of [`nuvem_aws::AwsError`]'s S3-style XML.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use nuvem_aws::error::xml_escape;
use nuvem_aws::time::AmzDate;
use nuvem_aws::{AwsRequest, Body, BodyHandling, BoxFuture, Protocol, Service, full_body};

use crate::config::{Live, UpdateError};
use crate::edge::Edge;
use crate::invalidation::{Invalidation, InvalidationError};

const NS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
const PREFIX: &str = "/2020-05-31/distribution/";
const LIST: &str = "/2020-05-31/distribution";

/// The `cloudfront` service of the AWS endpoint, for one distribution.
pub struct CloudFrontApi {
    edge: Arc<Edge>,
    distribution_id: String,
}

impl CloudFrontApi {
    pub fn new(edge: Arc<Edge>, distribution_id: impl Into<String>) -> Self {
        Self {
            edge,
            distribution_id: distribution_id.into(),
        }
    }

    fn arn(&self) -> String {
        format!(
            "arn:aws:cloudfront::000000000000:distribution/{}",
            self.distribution_id
        )
    }

    fn modified(live: &Live) -> String {
        AmzDate::from_system_time(live.modified).to_iso8601()
    }

    /// The `Distribution` document of GetDistribution and UpdateDistribution, with its ETag.
    fn distribution_response(&self, live: &Live) -> Response<Body> {
        let config = crate::api_config::config_xml(&live.dist, live.meta(), "");
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Distribution xmlns=\"{NS}\"><Id>{}</Id><ARN>{}</ARN><Status>Deployed</Status><LastModifiedTime>{}</LastModifiedTime><InProgressInvalidationBatches>0</InProgressInvalidationBatches><DomainName>{}</DomainName><ActiveTrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></ActiveTrustedSigners><ActiveTrustedKeyGroups><Enabled>false</Enabled><Quantity>0</Quantity></ActiveTrustedKeyGroups>{config}</Distribution>",
            xml_escape(&self.distribution_id),
            xml_escape(&self.arn()),
            Self::modified(live),
            xml_escape(&self.domain()),
        );
        with_etag(xml_response(StatusCode::OK, xml), &live.etag)
    }

    /// The distribution's domain name: where its first location listens, as far as the
    /// edge knows (the binary may bind `:0`), else `localhost`.
    fn domain(&self) -> String {
        self.edge
            .distribution()
            .locations
            .first()
            .and_then(|l| l.addr)
            .map(|a| a.to_string())
            .unwrap_or_else(|| "localhost".to_string())
    }

    /// Runs `work` where store calls suit an async caller ([`nuvem_store::Store::run`]),
    /// when the invalidations are in a store; in place otherwise.
    async fn on_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Edge) -> T + Send + 'static,
    ) -> T {
        let edge = self.edge.clone();
        match self.edge.store().cloned() {
            Some(store) => store.run(move || work(&edge)).await,
            None => work(&edge),
        }
    }

    async fn route(&self, req: AwsRequest) -> Result<Response<Body>, ApiError> {
        let path = req.parts.uri.path().to_string();
        let live = self.edge.live();
        if path == LIST || path == PREFIX {
            if req.parts.method != Method::GET {
                return Err(ApiError::ReadOnly);
            }
            let summary = crate::api_config::summary_xml(
                &live.dist,
                live.meta(),
                &self.arn(),
                &self.domain(),
                &Self::modified(&live),
            );
            return Ok(xml_response(
                StatusCode::OK,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DistributionList xmlns=\"{NS}\"><Marker></Marker><MaxItems>100</MaxItems><IsTruncated>false</IsTruncated><Quantity>1</Quantity><Items>{summary}</Items></DistributionList>"
                ),
            ));
        }
        let rest = path
            .strip_prefix(PREFIX)
            .ok_or(ApiError::UnknownOperation)?;
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if id != self.distribution_id {
            return Err(ApiError::NoSuchDistribution);
        }
        if tail == "config" && req.parts.method == Method::PUT {
            let if_match = req
                .parts
                .headers
                .get(header::IF_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = req
                .body
                .collect()
                .await
                .map_err(|_| ApiError::Malformed("the request body could not be read".into()))?
                .to_bytes();
            self.on_store(move |edge| edge.update_distribution(if_match.as_deref(), &body))
                .await
                .map_err(ApiError::Update)?;
            return Ok(self.distribution_response(&self.edge.live()));
        }
        if tail.is_empty() || tail == "config" {
            if req.parts.method == Method::PUT || req.parts.method == Method::DELETE {
                return Err(ApiError::ReadOnly);
            }
            if req.parts.method != Method::GET {
                return Err(ApiError::UnknownOperation);
            }
            if tail.is_empty() {
                return Ok(self.distribution_response(&live));
            }
            let (xml, etag) = self.edge.distribution_config();
            return Ok(with_etag(xml_response(StatusCode::OK, xml), &etag));
        }
        match (
            &req.parts.method,
            tail.split('/').collect::<Vec<_>>().as_slice(),
        ) {
            (&Method::POST, ["invalidation"]) => {
                let body = req
                    .body
                    .collect()
                    .await
                    .map_err(|_| ApiError::Malformed("the request body could not be read".into()))?
                    .to_bytes();
                let (caller_reference, paths) = parse_batch(&body)?;
                let inv = self
                    .on_store(move |edge| edge.invalidate(&caller_reference, paths))
                    .await
                    .map_err(ApiError::Invalidation)?;
                let mut r = xml_response(StatusCode::CREATED, invalidation_xml(&inv));
                let location = format!(
                    "https://cloudfront.amazonaws.com{PREFIX}{}/invalidation/{}",
                    self.distribution_id, inv.id
                );
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                Ok(r)
            }
            (&Method::GET, ["invalidation", inv_id]) => {
                let inv_id = inv_id.to_string();
                let inv = self
                    .on_store(move |edge| edge.get_invalidation(&inv_id))
                    .await
                    .map_err(ApiError::Invalidation)?;
                Ok(xml_response(StatusCode::OK, invalidation_xml(&inv)))
            }
            (&Method::GET, ["invalidation"]) => {
                let list = self
                    .on_store(|edge| edge.list_invalidations())
                    .await
                    .map_err(ApiError::Invalidation)?;
                Ok(xml_response(StatusCode::OK, list_xml(&list)))
            }
            _ => Err(ApiError::UnknownOperation),
        }
    }
}

impl Service for CloudFrontApi {
    fn name(&self) -> &'static str {
        "cloudfront"
    }

    fn protocol(&self) -> Protocol {
        Protocol::RestXml
    }

    fn body_handling(&self) -> BodyHandling {
        // An invalidation batch of 3,000 paths fits comfortably.
        BodyHandling::Buffered { limit: 1024 * 1024 }
    }

    fn call(&self, req: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(async move {
            let request_id = req.request_id.as_str().to_string();
            match self.route(req).await {
                Ok(r) => r,
                Err(e) => e.to_response(&request_id),
            }
        })
    }
}

#[derive(Debug)]
enum ApiError {
    UnknownOperation,
    /// Create/DeleteDistribution: the manifest owns the distribution.
    ReadOnly,
    Update(UpdateError),
    NoSuchDistribution,
    Malformed(String),
    Invalidation(InvalidationError),
}

impl ApiError {
    fn to_response(&self, request_id: &str) -> Response<Body> {
        let (status, code, message) = match self {
            ApiError::UnknownOperation => (
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "This CloudFront operation is not supported by nuvem.".to_string(),
            ),
            ApiError::ReadOnly => (
                StatusCode::BAD_REQUEST,
                "IllegalUpdate",
                "nuvem's distribution comes from nuvem.toml: create or delete it there (`[distribution]`) and run `nuvem up` again.".to_string(),
            ),
            ApiError::Update(UpdateError::Refused(r)) => (
                if r.code == "NoSuchCachePolicy" {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_REQUEST
                },
                r.code,
                r.message.clone(),
            ),
            ApiError::Update(UpdateError::PreconditionFailed) => (
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "The If-Match version is not the distribution's current ETag: get the config again (GetDistributionConfig), apply your change to it, and retry with its ETag.".to_string(),
            ),
            ApiError::Update(UpdateError::MissingIfMatch) => (
                StatusCode::BAD_REQUEST,
                "InvalidIfMatchVersion",
                "The If-Match version is missing: send the ETag of GetDistributionConfig in If-Match.".to_string(),
            ),
            ApiError::Update(UpdateError::Unavailable(e)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("The distribution's config could not be stored: {e}"),
            ),
            ApiError::NoSuchDistribution => (
                StatusCode::NOT_FOUND,
                "NoSuchDistribution",
                "The specified distribution does not exist.".to_string(),
            ),
            ApiError::Malformed(m) => (StatusCode::BAD_REQUEST, "MalformedInput", m.clone()),
            ApiError::Invalidation(e) => {
                let (code, status) = e.code();
                (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                    code,
                    e.to_string(),
                )
            }
        };
        let kind = if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            xml_escape(&message),
            xml_escape(request_id)
        );
        xml_response(status, xml)
    }
}

fn with_etag(mut r: Response<Body>, etag: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn xml_response(status: StatusCode, xml: String) -> Response<Body> {
    let mut r = Response::new(full_body(Bytes::from(xml)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r
}

fn invalidation_xml(inv: &Invalidation) -> String {
    let mut paths = String::new();
    for p in &inv.paths {
        paths.push_str(&format!("<Path>{}</Path>", xml_escape(p)));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invalidation xmlns=\"{NS}\"><Id>{}</Id><Status>{}</Status><CreateTime>{}</CreateTime><InvalidationBatch><Paths><Quantity>{}</Quantity><Items>{paths}</Items></Paths><CallerReference>{}</CallerReference></InvalidationBatch></Invalidation>",
        inv.id,
        inv.status,
        AmzDate::from_system_time(inv.create_time).to_iso8601(),
        inv.paths.len(),
        xml_escape(&inv.caller_reference)
    )
}

fn list_xml(list: &[Invalidation]) -> String {
    let mut items = String::new();
    for inv in list {
        items.push_str(&format!(
            "<InvalidationSummary><Id>{}</Id><CreateTime>{}</CreateTime><Status>{}</Status></InvalidationSummary>",
            inv.id,
            AmzDate::from_system_time(inv.create_time).to_iso8601(),
            inv.status
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidationList xmlns=\"{NS}\"><Marker></Marker><MaxItems>100</MaxItems><IsTruncated>false</IsTruncated><Quantity>{}</Quantity><Items>{items}</Items></InvalidationList>",
        list.len()
    )
}

/// The CallerReference and paths of an `InvalidationBatch` document. The schema is tiny and
/// flat, so elements are read by name; entities are decoded.
fn parse_batch(body: &[u8]) -> Result<(String, Vec<String>), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::Malformed("the InvalidationBatch is not UTF-8".into()))?;
    if !text.contains("<InvalidationBatch") {
        return Err(ApiError::Malformed(
            "the body must be an InvalidationBatch document".into(),
        ));
    }
    let caller_reference = elements(text, "CallerReference")
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Malformed("CallerReference is required".into()))?;
    let paths = elements(text, "Path");
    if let Some(q) = elements(text, "Quantity").first()
        && q.trim().parse::<usize>().ok() != Some(paths.len())
    {
        return Err(ApiError::Invalidation(InvalidationError::InvalidArgument(
            "Paths/Quantity does not match the number of paths.".into(),
        )));
    }
    Ok((caller_reference, paths))
}

fn elements(text: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(unescape(&after[..j]));
        rest = &after[j + close.len()..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
