//! The client side of `https://` custom origins: rustls on aws-lc-rs, trusting Mozilla's
//! roots (bundled by `webpki-roots`, so nothing depends on the host's certificate store or a
//! network) plus the distribution's extra CA bundle (a private CA on premises, a test CA).
//! Like CloudFront, the origin's certificate must chain to a trusted CA, be valid now and
//! name the origin's host; a failed handshake is a 502
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-502-bad-gateway.html>).
//!
//! Must not: read files (the binary passes the PEM text) or weaken verification.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::Error;

/// The client TLS configuration every custom origin shares. `extra_ca_pem` must hold at
/// least one PEM certificate when given.
pub fn client_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, Error> {
    let bad = |e: String| Error::Config(format!("at `distribution.extra_ca_file`: {e}"));
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_ca_pem {
        let mut added = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("it holds no PEM certificate".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
