//! Sockets: accept loops for the AWS endpoint (plain and TLS) and the public edge, serving
//! HTTP/1.1 and HTTP/2 with hyper, and a graceful shutdown that lets in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use nuvem_aws::{Body, BoxError};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long in-flight requests get to finish after a shutdown signal.
pub const GRACE: Duration = Duration::from_secs(10);

/// A request handler shared by every connection of one listener.
pub trait Handler: Send + Sync + 'static {
    fn handle(self: Arc<Self>, req: Request<Body>) -> impl Future<Output = Response<Body>> + Send;
}

impl Handler for crate::endpoint::Endpoint {
    fn handle(self: Arc<Self>, req: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        crate::endpoint::Endpoint::handle(self, req)
    }
}

/// Serves `listener` until `shutdown` flips to true, then waits (up to [`GRACE`]) for
/// open connections to finish their requests.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let mut req = req.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync());
                        // The client's address, for the gateway's `sourceIp` and per-client
                        // throttling (and anything else that needs the real peer).
                        req.extensions_mut().insert(peer);
                        Ok::<_, Infallible>(handler.handle(req).await)
                    }
                });
                match &tls {
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                        let conn = graceful.watch(conn);
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                        });
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let builder = builder.clone();
                        let mut shutdown = shutdown.clone();
                        tokio::spawn(async move {
                            let stream = tokio::select! {
                                s = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)) => match s {
                                    Ok(Ok(s)) => s,
                                    Ok(Err(e)) => { tracing::debug!(%peer, error = %e, "TLS handshake failed"); return; }
                                    Err(_) => { tracing::debug!(%peer, "TLS handshake timed out"); return; }
                                },
                                _ = shutdown.changed() => return,
                            };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                            let mut conn = std::pin::pin!(conn);
                            tokio::select! {
                                r = conn.as_mut() => if let Err(e) = r {
                                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                                },
                                _ = shutdown.changed() => {
                                    conn.as_mut().graceful_shutdown();
                                    let _ = tokio::time::timeout(GRACE, conn).await;
                                }
                            }
                        });
                    }
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within the grace period");
    }
}

/// Binds a listener, with the address in the error.
pub async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the {what}: {e}"))
}
