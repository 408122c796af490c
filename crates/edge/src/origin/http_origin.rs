//! A custom HTTP origin, `http://` or `https://` (verified against the roots `tls` trusts):
//! a pooled hyper client (keep-alive, HTTP/1.1) with CloudFront's timeouts: 10 s to connect and 30 s for the response headers
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html#DownloadDistValuesOriginResponseTimeout>).
//!
//! Must not: retry non-idempotent requests or buffer bodies; both directions stream.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nuvem_aws::{Body, BoxError, BoxFuture};

use super::Origin;
use crate::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpOrigin {
    /// `http` or `https`.
    scheme: http::uri::Scheme,
    /// `host:port`.
    authority: http::uri::Authority,
    /// A path prefix prepended to every request path (CloudFront's origin path).
    prefix: String,
    client: Client<HttpsConnector<HttpConnector>, Body>,
}

impl HttpOrigin {
    /// `url` is `http[s]://host[:port][/prefix]`; `tls` is the client configuration for
    /// `https://` (which roots are trusted).
    pub fn new(url: &str, tls: Arc<rustls::ClientConfig>) -> Result<Self, Error> {
        let uri: Uri = url
            .parse()
            .map_err(|e| Error::Config(format!("origin {url:?}: {e}")))?;
        let scheme = match uri.scheme_str() {
            Some("http") => http::uri::Scheme::HTTP,
            Some("https") => http::uri::Scheme::HTTPS,
            _ => {
                return Err(Error::Config(format!(
                    "origin {url:?}: only http:// and https:// are supported"
                )));
            }
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| Error::Config(format!("origin {url:?} has no host")))?;
        let prefix = uri.path().trim_end_matches('/').to_string();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        // The TLS layer decides the scheme; the TCP connector must accept https:// URIs.
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        // An idle origin connection is dropped before the origin drops it: CloudFront's
        // origin keep-alive default is 5 s, and servers such as Node's close idle
        // connections at 5 s; reusing one just as the origin closes it cost a request (502).
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(4))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Self {
            scheme,
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
                .scheme(self.scheme.clone())
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
