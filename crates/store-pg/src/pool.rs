//! Connections to the database: TLS set-up, a bounded pool of idle clients, and the guard a
//! transaction or snapshot holds. Runs on the engine's runtime only.
//!
//! A connection goes back to the pool only after the statement that ends its transaction
//! succeeded, so an idle connection is never inside a transaction; one that failed or timed
//! out is dropped, and the next acquire connects anew (that is the reconnect).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{Failure, describe};

/// A rustls client config trusting the bundled Mozilla roots plus `extra_roots` (DER).
/// `sslmode` in the URL decides whether TLS is used; when it is, the server is verified.
pub(crate) fn tls(extra_roots: &[Vec<u8>]) -> Result<MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("a TLS trust anchor for the database is unusable: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

pub(crate) struct Pool {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    idle: Mutex<Vec<Arc<Client>>>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Pool {
    pub(crate) fn new(
        mut config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        max: usize,
        timeout: Duration,
    ) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeout.min(Duration::from_secs(10)));
        }
        if config.get_application_name().is_none() {
            config.application_name("nuvem");
        }
        Self {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max.max(1))),
            timeout,
        }
    }

    fn pop_idle(&self) -> Option<Arc<Client>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if !c.is_closed() {
                return Some(c);
            }
        }
        None
    }

    fn push_idle(&self, client: Arc<Client>) {
        if !client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(client);
        }
    }

    /// A connection: an idle one, or a new one. Waits at most the engine's timeout for a free
    /// slot. Must run on the engine's runtime (it spawns the connection's driver task).
    pub(crate) async fn acquire(self: &Arc<Self>) -> Result<Conn, Failure> {
        let permit = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                Failure::Broken(format!(
                    "every database connection stayed busy for {} s",
                    self.timeout.as_secs()
                ))
            })?
            .map_err(|_| Failure::Other("the connection pool is closed".into()))?;
        let client = match self.pop_idle() {
            Some(c) => c,
            None => {
                let (client, connection) = self
                    .config
                    .connect(self.tls.clone())
                    .await
                    .map_err(|e| Failure::Broken(describe(&e)))?;
                // The driver ends when the client is dropped or the server goes away; the
                // client then reports `is_closed` and its calls fail with the cause, which is
                // where the error is reported.
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Arc::new(client)
            }
        };
        Ok(Conn {
            client,
            pool: self.clone(),
            _permit: permit,
        })
    }
}

/// One connection lent out by the pool. Dropping it closes the connection; give it back with
/// [`Conn::release_after`].
pub(crate) struct Conn {
    client: Arc<Client>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    pub(crate) fn client(&self) -> Arc<Client> {
        self.client.clone()
    }

    /// Runs `sql` (nothing when empty) and returns the connection to the pool if it
    /// succeeded; closes it otherwise.
    pub(crate) async fn release_after(self, sql: &'static str) {
        if !sql.is_empty() {
            let done = tokio::time::timeout(self.pool.timeout, self.client.batch_execute(sql));
            if !matches!(done.await, Ok(Ok(()))) {
                return;
            }
        }
        self.pool.push_idle(self.client.clone());
    }

    /// Closes the connection (its state is unknown).
    pub(crate) fn discard(self) {}
}
