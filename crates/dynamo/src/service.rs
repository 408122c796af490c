//! The DynamoDB service: the [`DynamoService`] handle, its configuration, the background
//! sweep (expired items, stream trimming), and the JSON 1.0 wire protocol around the
//! operations of both DynamoDB and DynamoDB Streams (`X-Amz-Target`, content type,
//! `Content-Encoding`, JSON parsing, the `x-amz-crc32` checksum header).
//!
//! Owns: turning an HTTP request that the endpoint already authenticated and buffered into
//! one [`DynamoService::execute`] call, and its result into a response. Must not: implement
//! operations (see [`crate::ops`]) or open sockets.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use nuvem_aws::{
    AwsError, AwsRequest, Body, BoxFuture, IntoAwsError, Protocol, RequestId, Service, full_body,
};
use nuvem_store::Store;
use serde_json::Value;

use crate::error::{Error, NAMESPACE, Result};
use crate::storage;

/// The `X-Amz-Target` prefix of every DynamoDB operation.
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// The `X-Amz-Target` prefix of every DynamoDB Streams operation.
const STREAMS_TARGET_PREFIX: &str = "DynamoDBStreams_20120810.";

/// The largest request body after decoding: DynamoDB's 16 MB request limit
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html>),
/// which also bounds what a small compressed body may expand to.
const MAX_DECODED_BODY: u64 = 16 * 1024 * 1024;

/// The DynamoDB section of nuvem's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoConfig {
    /// The region in table ARNs.
    pub region: String,
    /// The account id in table ARNs.
    pub account_id: String,
    /// How many seconds of unused provisioned capacity a table keeps for bursts
    /// ([`crate::throughput`]; DynamoDB's 300 by default, shorter in tests).
    pub burst_secs: u64,
}

impl Default for DynamoConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            burst_secs: crate::throughput::DEFAULT_BURST_SECS,
        }
    }
}

/// DynamoDB-compatible tables on one store. Cheap to share behind an `Arc`; every operation
/// is one store transaction (or one snapshot read), so concurrent calls are safe.
#[derive(Clone)]
pub struct DynamoService {
    store: Store,
    config: Arc<DynamoConfig>,
    catalog: Arc<storage::CatalogCache>,
    /// Provisioned capacity on this node (token buckets, counters).
    meter: Arc<crate::throughput::Meter>,
}

impl std::fmt::Debug for DynamoService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoService")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish()
    }
}

impl DynamoService {
    /// Opens the service on `store`: checks that the table catalog is readable and finishes
    /// deleting tables whose purge a crash interrupted.
    pub fn open(store: Store, config: DynamoConfig) -> Result<Self> {
        storage::resume_purges(&store)?;
        {
            let snap = store.snapshot();
            let names: Vec<String> = storage::list_tables(&*snap, None).collect::<Result<_>>()?;
            for name in &names {
                storage::read_table(&*snap, name)?;
            }
            tracing::debug!(tables = names.len(), "dynamodb: catalog loaded");
        }
        let svc = Self {
            store,
            meter: Arc::new(crate::throughput::Meter::new(config.burst_secs)),
            config: Arc::new(config),
            catalog: Arc::default(),
        };
        for (table, index_id) in storage::pending_backfills(&svc.store)? {
            svc.start_backfill(table, index_id);
        }
        Ok(svc)
    }

    /// Copies a table's items into its new global index `index_id` on a thread of its own,
    /// off the request path (see [`storage::backfill_index`]). A backfill that fails is
    /// logged and resumed when the service opens again.
    pub(crate) fn start_backfill(&self, table: String, index_id: String) {
        let store = self.store.clone();
        let spawned = std::thread::Builder::new()
            .name("dynamodb-backfill".into())
            .spawn(move || {
                match storage::backfill_index(&store, &table, &index_id) {
                    Ok(()) => tracing::debug!(%table, %index_id, "dynamodb: index backfilled"),
                    Err(e) => {
                        tracing::error!(%table, %index_id, error = %e, "dynamodb: index backfill failed")
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "dynamodb: could not start an index backfill");
        }
    }

    /// Removes a deleted index's entries on a thread of its own; a purge a crash interrupts
    /// is finished when the service opens again (its purge marker).
    pub(crate) fn start_index_purge(
        &self,
        table: crate::catalog::TableMeta,
        index: crate::index::IndexMeta,
    ) {
        let store = self.store.clone();
        let spawned = std::thread::Builder::new()
            .name("dynamodb-index-purge".into())
            .spawn(move || {
                if let Err(e) = storage::purge_index(&store, &table, &index) {
                    tracing::error!(table = %table.name, index = %index.name, error = %e, "dynamodb: index purge failed");
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "dynamodb: could not start an index purge");
        }
    }

    /// The IAM condition keys of `operation` on `table` (see [`crate::authz`]); none when the
    /// table does not exist (the operation will say so).
    pub fn condition_keys(
        &self,
        operation: &str,
        table: &str,
        input: &Value,
    ) -> Result<Vec<(&'static str, Vec<String>)>> {
        let snap = self.store.snapshot();
        Ok(match storage::read_table(&*snap, table)? {
            Some(meta) => {
                crate::authz::condition_keys(operation, table, &meta.hash_key.name, input)
            }
            None => Vec::new(),
        })
    }

    /// One round of the background work at `now_ms` (milliseconds since the epoch): deletes
    /// the expired items of every table with TTL enabled ([`crate::ttl`]) and trims stream
    /// records past their 24 hours ([`crate::streams::trim`]). Returns how many items were
    /// deleted and how many records trimmed. Blocking; safe to run on several nodes at once
    /// (each deletion checks again in its transaction), though once per cluster is enough.
    pub fn sweep_at(&self, now_ms: u64) -> Result<(usize, usize)> {
        let tables = {
            let snap = self.store.snapshot();
            crate::ttl::tables_to_sweep(&*snap)?
        };
        let (mut deleted, mut trimmed) = (0, 0);
        for table in tables {
            if table.ttl.is_some() {
                deleted += crate::ttl::sweep_table(
                    &self.store,
                    &self.catalog,
                    &table.name,
                    now_ms as f64 / 1000.0,
                )?;
            }
            if !table.streams.is_empty() {
                trimmed += crate::streams::trim(&self.store, &table.name, now_ms)?;
            }
        }
        // Deleted tables' streams, readable until past retention.
        let retired = {
            let snap = self.store.snapshot();
            storage::retired_tables(&*snap, None)?
        };
        for (key, _) in retired {
            trimmed += crate::streams::trim_retired(&self.store, &key, now_ms)?;
        }
        if deleted > 0 || trimmed > 0 {
            tracing::debug!(
                deleted,
                trimmed,
                "dynamodb: swept expired items and stream records"
            );
        }
        Ok((deleted, trimmed))
    }

    /// [`sweep_at`](Self::sweep_at) now.
    pub fn sweep(&self) -> Result<(usize, usize)> {
        self.sweep_at(crate::streams::now_ms())
    }

    /// Sweeps every `every`, for as long as the runtime runs, on the one node of the cluster
    /// that holds the sweep's lease (`dynamodb-sweep`; a dead holder's lease expires after
    /// two rounds). Each round runs on the blocking pool, so no async worker waits on it;
    /// errors (the database away) are logged and the next round retries.
    pub async fn sweep_forever(self, every: std::time::Duration) {
        use nuvem_store::cluster::{Lease, node_id};
        const SWEEP_LEASE: &str = "dynamodb-sweep";
        let lease_ttl = (every * 2).max(std::time::Duration::from_secs(2));
        loop {
            tokio::time::sleep(every).await;
            let store = self.store.clone();
            let ours = self
                .store
                .run(move || Lease::try_acquire(&store, SWEEP_LEASE, node_id(), lease_ttl))
                .await;
            match ours {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "dynamodb: could not take the sweep's lease; retrying later");
                    continue;
                }
            }
            let svc = self.clone();
            let swept = tokio::task::spawn_blocking(move || Store::blocking(|| svc.sweep())).await;
            match swept {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "dynamodb: sweeping expired items failed; retrying later")
                }
                Err(e) => tracing::error!(error = %e, "dynamodb: the sweep panicked"),
            }
        }
    }

    /// Runs one operation ("CreateTable", "PutItem", ...) on its parsed JSON input, exactly
    /// as the HTTP API does, and returns the JSON output.
    pub fn execute(&self, operation: &str, input: Value) -> std::result::Result<Value, AwsError> {
        self.execute_op(operation, input)
            .map_err(IntoAwsError::into_aws_error)
    }

    /// Like [`execute`](Self::execute), but keeps the crate's [`Error`], which carries the
    /// old item of a failed condition check (`ReturnValuesOnConditionCheckFailure`).
    pub fn execute_op(&self, operation: &str, input: Value) -> Result<Value> {
        crate::ops::dispatch(self, operation, input)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The catalog records seen last (see [`storage::read_with_table`]).
    pub(crate) fn catalog(&self) -> &storage::CatalogCache {
        &self.catalog
    }

    /// This node's provisioned-capacity buckets and counters.
    pub fn meter(&self) -> &crate::throughput::Meter {
        &self.meter
    }

    /// Every table's and global index's capacity counters on this node (health, the
    /// autoscaler).
    pub fn capacity_usage(&self) -> Vec<crate::throughput::Usage> {
        self.meter.usage()
    }

    pub(crate) fn config(&self) -> &DynamoConfig {
        &self.config
    }

    async fn handle(&self, request: AwsRequest) -> Result<Value> {
        let target = request
            .parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        // One service for both APIs: DynamoDB Streams' SDKs sign with the `dynamodb` scope.
        let operation = match (
            target.strip_prefix(TARGET_PREFIX),
            target.strip_prefix(STREAMS_TARGET_PREFIX),
        ) {
            (Some(op), _) if !crate::ops::STREAMS_OPERATIONS.contains(&op) => op,
            (_, Some(op)) if crate::ops::STREAMS_OPERATIONS.contains(&op) => op,
            _ => return Err(Error::UnknownOperation(target)),
        };
        // DynamoDB's SDKs send `application/x-amz-json-1.0`; plain `application/json` is
        // accepted too, as DynamoDB does for hand-written clients.
        let content_type = request
            .parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if mime != "application/x-amz-json-1.0" && mime != "application/json" {
            return Err(Error::UnknownOperation(format!(
                "{operation} (content type '{content_type}')"
            )));
        }
        let bytes = match request.body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return Err(Error::Serialization(format!(
                    "could not read the request body: {e}"
                )));
            }
        };
        let bytes = decode_body(&request.parts.headers, bytes)?;
        let input: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Serialization(format!(
                "Start of structure or map found where not expected: {e}"
            ))
        })?;
        if !input.is_object() {
            return Err(Error::Serialization(
                "Start of structure or map found where not expected".into(),
            ));
        }
        tracing::debug!(operation, "dynamodb: request");
        // Every operation is store-bound: awaited where the store says it should run.
        let svc = self.clone();
        let operation = operation.to_owned();
        self.store
            .run(move || svc.execute_op(&operation, input))
            .await
    }
}

impl Service for DynamoService {
    fn name(&self) -> &'static str {
        "dynamodb"
    }

    fn protocol(&self) -> Protocol {
        Protocol::AwsJson1_0 {
            namespace: NAMESPACE,
        }
    }

    fn stats(&self) -> Option<Value> {
        let usage = self.meter.usage();
        Some(serde_json::json!({ "capacity": usage }))
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(async move {
            let request_id = request.request_id.clone();
            let gzip_ok = accepts_gzip(&request.parts.headers);
            match self.handle(request).await {
                // An operation without output members (TagResource, UntagResource) answers
                // with an empty body.
                Ok(Value::Null) => json_response(StatusCode::OK, Vec::new(), &request_id),
                Ok(output) => {
                    let body = output.to_string().into_bytes();
                    match gzip_ok.then(|| gzip(&body)).flatten() {
                        Some(packed) => {
                            let mut resp = json_response(StatusCode::OK, packed, &request_id);
                            resp.headers_mut().insert(
                                http::header::CONTENT_ENCODING,
                                HeaderValue::from_static("gzip"),
                            );
                            resp
                        }
                        None => json_response(StatusCode::OK, body, &request_id),
                    }
                }
                Err(e) => e.into_response(&request_id),
            }
        })
    }
}

/// Undoes the request's `Content-Encoding`: AWS SDKs gzip large request bodies when request
/// compression is turned on (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-compression.html>).
/// Codings apply in the order listed, so they are undone from the last; `identity` is no
/// coding. Any other coding is refused rather than parsed as JSON.
fn decode_body(headers: &http::HeaderMap, body: Bytes) -> Result<Bytes> {
    use std::io::Read;
    let mut codings: Vec<String> = Vec::new();
    for value in headers.get_all(http::header::CONTENT_ENCODING) {
        let value = value
            .to_str()
            .map_err(|_| Error::Serialization("Content-Encoding is not valid text".into()))?;
        codings.extend(
            value
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty() && c != "identity"),
        );
    }
    let mut body = body;
    for coding in codings.iter().rev() {
        let mut out = Vec::new();
        let read = match coding.as_str() {
            "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&body[..])
                .take(MAX_DECODED_BODY + 1)
                .read_to_end(&mut out),
            // HTTP's "deflate" is the zlib format; some clients send raw deflate instead.
            "deflate" => {
                let zlib = flate2::read::ZlibDecoder::new(&body[..])
                    .take(MAX_DECODED_BODY + 1)
                    .read_to_end(&mut out);
                zlib.or_else(|_| {
                    out.clear();
                    flate2::read::DeflateDecoder::new(&body[..])
                        .take(MAX_DECODED_BODY + 1)
                        .read_to_end(&mut out)
                })
            }
            other => {
                return Err(Error::Serialization(format!(
                    "Unsupported Content-Encoding: {other}; supported: gzip, deflate"
                )));
            }
        };
        read.map_err(|e| {
            Error::Serialization(format!("Could not decode the {coding} request body: {e}"))
        })?;
        if out.len() as u64 > MAX_DECODED_BODY {
            return Err(Error::validation(format!(
                "Request body exceeds the maximum size of {MAX_DECODED_BODY} bytes after decoding"
            )));
        }
        body = Bytes::from(out);
    }
    Ok(body)
}

/// Responses smaller than this are sent as they are even to a client that accepts gzip
/// (compressing a few hundred bytes saves nothing).
const GZIP_FROM: usize = 1024;

/// Whether the request's `Accept-Encoding` allows gzip (and does not refuse it with `q=0`).
fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `body` gzipped, for a client that accepts it, when it is worth it.
fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    if body.len() < GZIP_FROM {
        return None;
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

/// A JSON 1.0 response with DynamoDB's headers: the request id and `x-amz-crc32`, the CRC32
/// of the body as sent (compressed, when it is) that DynamoDB's SDKs may check.
pub(crate) fn json_response(
    status: StatusCode,
    body: Vec<u8>,
    request_id: &RequestId,
) -> Response<Body> {
    let crc = crc32fast::hash(&body);
    let mut resp = Response::new(full_body(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    headers.insert("x-amz-crc32", HeaderValue::from(crc));
    request_id.add_headers(headers);
    resp
}
