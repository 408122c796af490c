//! CloudWatch Logs-compatible log groups, streams and events: the subset of the Logs API
//! (`Logs_20140328`, JSON 1.1, SigV4 scope `logs`) that `aws logs tail`, `aws logs
//! filter-log-events`/`get-log-events` and the SDKs use, with function logs written into it
//! by [`Ingest`] (the binary wires the functions service's log lines to it).
//!
//! Owns: the key layout ([`keys`]), the operations ([`ops`]), filter patterns ([`pattern`]),
//! the write queue that keeps log writes off the invoke path ([`ingest`]) and the retention
//! sweep ([`LogsService::sweep_forever`]). Must not: depend on another service crate, read
//! nuvem's config, or open files.

pub mod ingest;
pub mod keys;
pub mod ops;
pub mod pattern;

use std::sync::Arc;

use http::{Response, StatusCode};
use nuvem_aws::{
    AwsError, AwsRequest, Body, BodyHandling, BoxFuture, IntoAwsError, Protocol, Service,
};
use nuvem_store::Store;
use serde_json::Value;

pub use ingest::Ingest;

/// The `X-Amz-Target` prefix of every Logs operation.
pub const TARGET_PREFIX: &str = "Logs_20140328.";
const NAMESPACE: &str = "com.amazonaws.logs";

/// Why a Logs call failed, as CloudWatch Logs answers
/// (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/CommonErrors.html>).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Serialization(String),
    #[error("The operation {0} is not supported by nuvem's logs service.")]
    UnknownOperation(String),
    #[error("storage: {0}")]
    Store(#[from] nuvem_store::Error),
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidParameter(message.into())
    }
}

impl IntoAwsError for Error {
    fn into_aws_error(self) -> AwsError {
        let code = match &self {
            Error::InvalidParameter(_) => "InvalidParameterException",
            Error::NotFound(_) => "ResourceNotFoundException",
            Error::AlreadyExists(_) => "ResourceAlreadyExistsException",
            Error::Serialization(_) => "SerializationException",
            Error::UnknownOperation(_) => "UnknownOperationException",
            Error::Store(_) => return AwsError::internal(),
        };
        AwsError::new(StatusCode::BAD_REQUEST, code, self.to_string())
    }
}

/// Where the service's ARNs say its resources live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsConfig {
    pub region: String,
    pub account_id: String,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        }
    }
}

/// The `logs` service of the AWS endpoint. Cheap to clone.
#[derive(Clone)]
pub struct LogsService {
    store: Store,
    config: Arc<LogsConfig>,
    ingest: Arc<std::sync::OnceLock<Ingest>>,
}

impl std::fmt::Debug for LogsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogsService")
            .field("config", &self.config)
            .finish()
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl LogsService {
    pub fn new(store: Store, config: LogsConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
            ingest: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &LogsConfig {
        &self.config
    }

    /// The write queue for logs produced inside nuvem (function logs), started on first use
    /// on the current tokio runtime.
    pub fn ingest(&self) -> &Ingest {
        self.ingest.get_or_init(|| Ingest::start(self.clone()))
    }

    /// Runs one operation ("PutLogEvents", ...) on its JSON input at `now` (ms), as the HTTP
    /// API does. Uses the store: async callers go through [`Store::run`].
    pub fn execute_at(&self, operation: &str, input: &Value, now: i64) -> Result<Value, Error> {
        ops::dispatch(self, operation, input, now)
    }

    /// [`execute_at`](Self::execute_at) now.
    pub fn execute(&self, operation: &str, input: &Value) -> Result<Value, Error> {
        self.execute_at(operation, input, now_ms())
    }

    /// Deletes events past their group's retention at `now`: at most `budget` events, in
    /// transactions of a few hundred. Returns how many were deleted.
    pub fn sweep_at(&self, now: i64, budget: usize) -> Result<usize, Error> {
        ops::sweep(self, now, budget)
    }

    /// Sweeps every `every` on the node holding the lease `logs-retention`, as long as the
    /// runtime runs (like DynamoDB's TTL sweep).
    pub async fn sweep_forever(self, every: std::time::Duration) {
        use nuvem_store::cluster::{Lease, node_id};
        const LEASE: &str = "logs-retention";
        let ttl = (every * 2).max(std::time::Duration::from_secs(2));
        loop {
            tokio::time::sleep(every).await;
            let store = self.store.clone();
            match self
                .store
                .run(move || Lease::try_acquire(&store, LEASE, node_id(), ttl))
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "logs: could not take the retention lease; retrying later");
                    continue;
                }
            }
            let me = self.clone();
            let swept = tokio::task::spawn_blocking(move || {
                Store::blocking(|| me.sweep_at(now_ms(), 100_000))
            })
            .await;
            match swept {
                Ok(Ok(n)) if n > 0 => tracing::debug!(deleted = n, "logs: retention sweep"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "logs: the retention sweep failed"),
                Err(e) => tracing::error!(error = %e, "logs: the retention sweep panicked"),
            }
        }
    }

    async fn handle(&self, request: AwsRequest) -> Result<Value, Error> {
        use nuvem_aws::json_api::{JsonRequestError, operation_and_input};
        let (operation, input) =
            operation_and_input(request, TARGET_PREFIX)
                .await
                .map_err(|e| match e {
                    JsonRequestError::UnknownOperation(t) => Error::UnknownOperation(t),
                    JsonRequestError::Serialization(m) => Error::Serialization(m),
                })?;
        let me = self.clone();
        self.store.run(move || me.execute(&operation, &input)).await
    }
}

impl Service for LogsService {
    fn name(&self) -> &'static str {
        "logs"
    }

    fn protocol(&self) -> Protocol {
        Protocol::AwsJson1_1 {
            namespace: NAMESPACE,
        }
    }

    fn body_handling(&self) -> BodyHandling {
        // PutLogEvents: at most 1 MiB of messages plus JSON overhead.
        BodyHandling::Buffered {
            limit: 4 * 1024 * 1024,
        }
    }

    fn stats(&self) -> Option<Value> {
        let ingest = self.ingest.get()?;
        Some(serde_json::json!({
            "ingested": ingest.ingested(),
            "dropped": ingest.dropped(),
        }))
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(async move {
            let request_id = request.request_id.clone();
            match self.handle(request).await {
                Ok(output) => nuvem_aws::json_api::ok_response(&output, &request_id),
                Err(e) => {
                    if let Error::Store(cause) = &e {
                        tracing::error!(request_id = request_id.as_str(), %cause, "logs: storage failed");
                    }
                    e.into_aws_error().to_response(self.protocol(), &request_id)
                }
            }
        })
    }
}
