//! The public listeners: one per edge location of the manifest's `[distribution]`, each
//! serving that location of the [`nuvem_edge::Edge`]; without a distribution, one listener
//! that answers every visitor with a clear 404. Never exposes the AWS endpoint or anything
//! private: only what the distribution declares is reachable.

use std::sync::Arc;

use anyhow::Context;
use http::{Request, Response, StatusCode};
use nuvem_aws::{Body, full_body};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;

pub struct Placeholder;

impl crate::listen::Handler for Placeholder {
    async fn handle(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        tracing::debug!(path = %req.uri().path(), "edge request with no distribution");
        let mut resp = Response::new(full_body(
            "<!doctype html><title>nuvem</title><h1>No distribution is configured</h1>\
             <p>This is nuvem's public edge. Declare a <code>[distribution]</code> in nuvem.toml to serve a site here.</p>\n",
        ));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        resp
    }
}

/// One location's listener.
struct EdgeLocation {
    location: nuvem_edge::Location,
    /// Whether this listener terminates TLS (for viewer protocol policies).
    secure: bool,
}

impl crate::listen::Handler for EdgeLocation {
    async fn handle(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        self.location.handle(req, self.secure).await
    }
}

/// The in-process origins the edge can use. FIXME: wire the s3 service (bucket origins) and
/// the gateway (API origins) when they land; until then such behaviors answer 502 saying so.
struct Origins;

impl nuvem_edge::OriginProvider for Origins {
    fn bucket_reader(&self) -> Option<Arc<dyn nuvem_edge::BucketReader>> {
        None
    }
    fn api(&self, _name: &str) -> Option<Arc<dyn nuvem_edge::Origin>> {
        None
    }
}

/// Builds the edge the manifest declares, and registers its CloudFront API (invalidations)
/// on the AWS endpoint.
pub fn build(
    config: &Config,
    endpoint: &mut crate::endpoint::Endpoint,
) -> anyhow::Result<Option<Arc<nuvem_edge::Edge>>> {
    let Some(spec) = &config.manifest.distribution else {
        return Ok(None);
    };
    let mut dist = nuvem_edge::Distribution::from_spec(spec).context("invalid manifest")?;
    dist.disk_dir = Some(config.data_dir.join("edge-cache"));
    let edge = nuvem_edge::Edge::new(dist, &Origins, None).context("starting the edge")?;
    let id = edge.distribution().id.clone();
    endpoint.register(Arc::new(nuvem_edge::CloudFrontApi::new(edge.clone(), id)));
    Ok(Some(edge))
}

/// One public listener, as the banner shows it.
pub struct Listening {
    pub location: String,
    /// `http://addr` or `https://addr`.
    pub url: String,
}

/// Binds the public listeners and starts serving them, in the distribution's order (the
/// first location listens on `edge_addr`); HTTPS listeners follow their location.
pub async fn start(
    config: &Config,
    edge: Option<Arc<nuvem_edge::Edge>>,
    tasks: &mut JoinSet<()>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<Listening>> {
    let Some(edge) = edge else {
        let l = crate::listen::bind(config.edge_addr, "edge").await?;
        let addr = l.local_addr()?;
        tasks.spawn(crate::listen::serve(
            l,
            None,
            Arc::new(Placeholder),
            stop.clone(),
        ));
        return Ok(vec![Listening {
            location: "edge".into(),
            url: format!("http://{addr}"),
        }]);
    };
    let mut out = Vec::new();
    let mut acceptor = None;
    for (i, loc) in edge.distribution().locations.iter().enumerate() {
        let addr = match (i, loc.addr) {
            // The flag / env / server.edge_addr decide where the first location listens.
            (0, _) => config.edge_addr,
            (_, Some(a)) => a,
            (_, None) => anyhow::bail!(
                "at `distribution.locations[{i}].addr`: every location after the first needs an address"
            ),
        };
        let location = edge
            .location(i)
            .context("a location the distribution lists")?;
        let l = crate::listen::bind(addr, &format!("edge location {}", loc.name)).await?;
        out.push(Listening {
            location: loc.name.clone(),
            url: format!("http://{}", l.local_addr()?),
        });
        let handler = Arc::new(EdgeLocation {
            location: location.clone(),
            secure: false,
        });
        tasks.spawn(crate::listen::serve(l, None, handler, stop.clone()));
        if let Some(https) = loc.https_addr {
            if acceptor.is_none() {
                acceptor =
                    Some(crate::tls::acceptor(config.tls_cert.as_ref(), &config.data_dir)?.0);
            }
            let l =
                crate::listen::bind(https, &format!("edge location {} (HTTPS)", loc.name)).await?;
            out.push(Listening {
                location: loc.name.clone(),
                url: format!("https://{}", l.local_addr()?),
            });
            let handler = Arc::new(EdgeLocation {
                location,
                secure: true,
            });
            tasks.spawn(crate::listen::serve(
                l,
                acceptor.clone(),
                handler,
                stop.clone(),
            ));
        }
    }
    Ok(out)
}
