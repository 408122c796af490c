//! The client side of `https://` upstreams (HTTP integrations, OIDC discovery and JWKS):
//! rustls on aws-lc-rs, trusting Mozilla's roots (bundled by `webpki-roots`, so nothing
//! depends on the host's certificate store or a network) plus the configured extra CA bundle
//! (a private CA on premises, a test CA). Like API Gateway, the backend's certificate must
//! chain to a trusted root, be valid now and name the host
//! (<https://repost.aws/knowledge-center/api-gateway-ssl-certificate-errors>); there is no
//! switch to skip the check.
//!
//! Must not: read files (the binary passes the PEM text) or weaken verification.

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::Error;

/// API Gateway's connection timeout to an HTTP backend.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connector for both `http://` and `https://` URLs. `extra_ca_pem` must hold at least one
/// PEM certificate when given.
pub fn connector(extra_ca_pem: Option<&[u8]>) -> Result<HttpsConnector<HttpConnector>, Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_ca_pem {
        let mut added = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::UpstreamCa(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| Error::UpstreamCa(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::UpstreamCa("it holds no PEM certificate".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::UpstreamCa(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    // The TLS layer decides the scheme; the TCP connector must accept https:// URIs.
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}
