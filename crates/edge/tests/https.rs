//! `https://` custom origins: the edge in front of a TLS origin on 127.0.0.1:0 whose
//! certificate comes from a CA made in the test. The edge trusts that CA only when the
//! distribution's extra CA holds it; an origin it cannot verify is a 502, as on CloudFront
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-502-bad-gateway.html>).

mod support;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use nuvem_edge::spec::DistributionSpec;
use nuvem_edge::{Distribution, Edge, NoProvider};
use support::{runtime, send, simple};

/// A certificate authority made for one test.
struct TestCa {
    pem: String,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            cert,
            key,
        }
    }

    /// A TLS acceptor with a certificate for `127.0.0.1` and `localhost` signed by this CA.
    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// A TLS origin on 127.0.0.1:0: answers every path with `tls:{path}` (cacheable for a
/// minute). Returns `https://127.0.0.1:port`.
async fn tls_origin(ca: &TestCa) -> String {
    let acceptor = ca.acceptor();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let body = format!("tls:{}", req.uri().path());
                    let resp = hyper::Response::builder()
                        .header("cache-control", "max-age=60")
                        .header("content-type", "text/plain")
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    url
}

/// Which CA the edge trusts besides Mozilla's roots.
#[derive(Clone, Copy)]
enum Trust {
    /// The origin's CA, as the distribution's extra CA.
    Configured,
    /// No extra CA: the test CA is in no root store.
    Nothing,
    /// An extra CA, but not the one that signed the origin's certificate.
    OtherCa,
}

fn edge_trusting(origin: &str, extra_ca_pem: Option<&str>) -> Arc<Edge> {
    let text = simple("").replace("{origin}", &format!("{origin}/site"));
    let spec: DistributionSpec = toml::from_str(&text).unwrap();
    let mut dist = Distribution::from_spec(&spec).unwrap();
    dist.extra_ca_pem = extra_ca_pem.map(|p| p.as_bytes().to_vec());
    Edge::new(dist, &NoProvider, None).unwrap()
}

/// Two GETs of `/a` through an edge in front of a TLS origin: their statuses, the first
/// body, and the second's `X-Cache`.
#[track_caller]
fn check(trust: Trust, want: (u16, &str, u16, &str)) {
    let got = runtime().block_on(async {
        let ca = TestCa::new("nuvem test CA");
        let origin = tls_origin(&ca).await;
        let other = TestCa::new("another CA");
        let edge = match trust {
            Trust::Configured => edge_trusting(&origin, Some(&ca.pem)),
            Trust::Nothing => edge_trusting(&origin, None),
            Trust::OtherCa => edge_trusting(&origin, Some(&other.pem)),
        };
        let first = send(&edge, 0, "GET", "/a", &[]).await;
        let second = send(&edge, 0, "GET", "/a", &[]).await;
        let body = if first.status == 200 {
            String::from_utf8_lossy(&first.body).into_owned()
        } else {
            String::new()
        };
        (
            first.status,
            body,
            second.status,
            second.x_cache().to_string(),
        )
    });
    assert_eq!(
        (got.0, got.1.as_str(), got.2, got.3.as_str()),
        (want.0, want.1, want.2, want.3)
    );
}

#[test]
fn custom_origin_over_https() {
    // The origin path prefix is kept, and the response is cached like any other.
    check(Trust::Configured, (200, "tls:/site/a", 200, "Hit"));
    check(Trust::Nothing, (502, "", 502, "Error"));
    check(Trust::OtherCa, (502, "", 502, "Error"));
}

/// An extra CA bundle without a certificate stops the edge from starting, with the key to
/// fix named.
#[test]
fn unusable_extra_ca_is_refused() {
    for pem in [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    ] {
        let spec: DistributionSpec =
            toml::from_str(&simple("").replace("{origin}", "bucket:x")).unwrap();
        let mut dist = Distribution::from_spec(&spec).unwrap();
        dist.extra_ca_pem = Some(pem.as_bytes().to_vec());
        let err = Edge::new(dist, &NoProvider, None)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("extra_ca_file")),
            "{pem:?}: {err:?}"
        );
    }
}
