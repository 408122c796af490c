//! A custom HTTP origin: a pooled hyper client (keep-alive, HTTP/1.1) with CloudFront's
//! timeouts: 10 s to connect and 30 s for the response headers
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html#DownloadDistValuesOriginResponseTimeout>).
//!
//! Must not: retry non-idempotent requests or buffer bodies; both directions stream.

use std::time::Duration;

use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nuvem_aws::{Body, BoxError, BoxFuture};

use super::Origin;
use crate::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpOrigin {
    /// `http://host:port`, no trailing slash.
    authority: http::uri::Authority,
    /// A path prefix prepended to every request path (CloudFront's origin path).
    prefix: String,
    client: Client<HttpConnector, Body>,
}

impl HttpOrigin {
    /// `url` is `http://host[:port][/prefix]`.
    pub fn new(url: &str) -> Result<Self, Error> {
        let uri: Uri = url
            .parse()
            .map_err(|e| Error::Config(format!("origin {url:?}: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(Error::Config(format!(
                "origin {url:?}: only http:// is supported"
            )));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| Error::Config(format!("origin {url:?} has no host")))?;
        let prefix = uri.path().trim_end_matches('/').to_string();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Self {
            authority,
            prefix,
            client,
        })
    }
}

impl Origin for HttpOrigin {
    fn fetch(&self, req: Request<Body>) -> BoxFuture<'_, Result<Response<Body>, Error>> {
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let pq = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            parts.uri = Uri::builder()
                .scheme("http")
                .authority(self.authority.clone())
                .path_and_query(format!("{}{pq}", self.prefix))
                .build()
                .map_err(|e| Error::OriginProtocol(format!("bad origin URI: {e}")))?;
            if let Ok(host) = HeaderValue::from_str(self.authority.as_str()) {
                parts.headers.insert(header::HOST, host);
            }
            parts.version = http::Version::HTTP_11;
            let req = Request::from_parts(parts, body);
            let resp = match tokio::time::timeout(RESPONSE_TIMEOUT, self.client.request(req)).await
            {
                Err(_) => return Err(Error::OriginTimeout),
                Ok(Err(e)) if e.is_connect() => {
                    return Err(Error::OriginUnreachable(format!("{}: {e}", self.authority)));
                }
                Ok(Err(e)) => {
                    return Err(Error::OriginProtocol(format!("{}: {e}", self.authority)));
                }
                Ok(Ok(r)) => r,
            };
            Ok(resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync()))
        })
    }
}
