//! The Invoke operation's semantics around one run: payload checks, the three invocation
//! types, throttling (429 for synchronous calls beyond the concurrency limit), and the
//! asynchronous queue with Lambda's two retries
//! (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
//!
//! Must not: talk to runtimes (see [`crate::invoke`]) or HTTP.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::event_config::{self, Condition, EventInvokeConfig, Outcome};
use crate::invoke::{self, Call, Limits};
use crate::invoker::{InvocationType, InvokeRequest, InvokeResponse};
use crate::pool::Pool;
use crate::queue;
use crate::service::Inner;

/// Lambda's payload quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
const MAX_SYNC_PAYLOAD: usize = 6_291_456;
const MAX_ASYNC_PAYLOAD: usize = 262_144;
/// How long a queued event waits before asking again for a slot that other nodes hold.
const CLUSTER_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

pub async fn invoke(inner: &Arc<Inner>, request: InvokeRequest) -> Result<InvokeResponse> {
    let (max, op) = match request.kind {
        InvocationType::Event => (MAX_ASYNC_PAYLOAD, "InvokeAsync"),
        _ => (MAX_SYNC_PAYLOAD, "Invoke"),
    };
    if request.payload.len() > max {
        return Err(Error::RequestTooLarge(format!(
            "Request must be smaller than {max} bytes for the {op} operation"
        )));
    }
    // Lambda passes `{}` when there is no payload, and refuses anything that is not JSON.
    let payload = if request.payload.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        serde_json::from_slice::<serde::de::IgnoredAny>(&request.payload).map_err(|e| {
            Error::InvalidRequestContent(format!(
                "Could not parse request body into json: Could not parse payload into json: {e}"
            ))
        })?;
        request.payload
    };
    let client_context = match &request.client_context {
        None => None,
        Some(b64) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .filter(|d| {
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(d).is_ok()
                })
                .ok_or_else(|| {
                    Error::InvalidRequestContent(
                        "Client context must be a valid Base64-encoded JSON object.".into(),
                    )
                })?;
            Some(String::from_utf8_lossy(&decoded).into_owned())
        }
    };
    // A function whose code is still building answers as Lambda answers for a `Pending`
    // one: a conflict the caller retries.
    inner.pending(&request.function)?;
    // The reference with its qualifier, whichever way it was given: what queued events
    // resolve again at each attempt (an alias routes each one), and the ARN the function
    // sees as invoked.
    let target = crate::model::FunctionRef::parse(&request.function)?;
    let reference = match target.qualifier(request.qualifier.as_deref())? {
        Some(q) => format!("{}:{}", target.name, q.label()),
        None => target.name.clone(),
    };
    let mut pool = inner.pool_for(&reference, None).await?;
    let invoked_arn = {
        let base = crate::model::function_arn(&inner.config.region, &inner.config.account_id, "");
        format!("{base}{reference}")
    };
    let call = Call {
        request_id: request.request_id,
        payload,
        function_arn: invoked_arn,
        client_context,
    };
    match request.kind {
        InvocationType::DryRun => Ok(InvokeResponse {
            status: 204,
            payload: Bytes::new(),
            function_error: None,
            log_result: None,
            executed_version: None,
        }),
        InvocationType::RequestResponse => {
            // A pool retired between the look-up and the lease (a change notice from another
            // node) is replaced by the function's new one.
            let mut attempts = 0;
            let leased = async {
                let mut lease = loop {
                    match pool.try_lease()? {
                        Some(lease) => break lease,
                        None if attempts < 3 => {
                            attempts += 1;
                            pool = inner.pool_for(&reference, None).await?;
                        }
                        None => return Err(Error::TooManyRequests(pool.throttle())),
                    }
                };
                lease.slot = inner.cluster_slot(&pool).await?;
                Ok::<_, Error>(lease)
            }
            .await;
            let lease = match leased {
                Err(Error::TooManyRequests(t)) => {
                    if let Some(o) = inner.observer() {
                        o.throttled(&pool.record.name);
                    }
                    return Err(Error::TooManyRequests(t));
                }
                other => other?,
            };
            let done = run(inner, lease, call, limits(inner, &pool)).await?;
            Ok(InvokeResponse {
                status: 200,
                log_result: request.tail.then(|| done.log_tail()),
                function_error: done.function_error,
                payload: done.payload,
                executed_version: Some(pool.record.version_label()),
            })
        }
        InvocationType::Event if inner.shared() => {
            // Stored before the 202: any node runs it, once (see [`crate::queue`]); this
            // one starts on it at once.
            let item = queue::Item {
                function: reference.clone(),
                request_id: call.request_id,
                payload: String::from_utf8_lossy(&call.payload).into_owned(),
                client_context: call.client_context,
                attempt: 0,
                not_before_ms: 0,
                holder: None,
                until_ms: 0,
                accepted_ms: queue::now_ms(),
            };
            let store = inner.store.clone();
            let key = inner
                .store
                .run(move || queue::enqueue(&store, &item))
                .await?;
            spawn_stored(inner, key, reference);
            Ok(InvokeResponse {
                status: 202,
                payload: Bytes::new(),
                function_error: None,
                log_result: None,
                executed_version: None,
            })
        }
        InvocationType::Event => {
            tokio::spawn(run_queued(inner.clone(), reference, call));
            Ok(InvokeResponse {
                status: 202,
                payload: Bytes::new(),
                function_error: None,
                log_result: None,
                executed_version: None,
            })
        }
    }
}

/// Runs one invocation: where every path meets (synchronous calls, whichever caller made
/// them, and each attempt of a queued or stored event), so the observer hears of each run
/// here (see [`crate::observer`]).
async fn run(
    inner: &Arc<Inner>,
    lease: crate::pool::Lease,
    call: Call,
    limits: Limits,
) -> Result<invoke::Completed> {
    let observer = inner.observer();
    let function = observer.as_ref().map(|_| lease.pool.record.name.clone());
    let done = invoke::run(lease, call, limits).await;
    if let (Some(o), Some(function), Ok(d)) = (observer, function, &done) {
        o.ran(&crate::observer::Ran {
            function: &function,
            cold: d.cold,
            function_error: d.function_error.is_some(),
            duration: d.duration,
        });
    }
    done
}

fn limits(inner: &Inner, pool: &Pool) -> Limits {
    Limits {
        timeout: std::time::Duration::from_secs(u64::from(pool.record.timeout)),
        init_timeout: inner.config.init_timeout,
    }
}

/// Runs a stored event on this node unless this node is already on it.
pub(crate) fn spawn_stored(inner: &Arc<Inner>, key: Vec<u8>, function: String) {
    if !inner.start_stored(&key) {
        return;
    }
    tokio::spawn(run_stored(inner.clone(), key, function));
}

/// Longer than any run can take beyond the function's timeout, with the environment's init.
const CLAIM_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// One stored event on this node: waits for a concurrency slot (never throttled), claims the
/// event, runs it, and then removes it or leaves it for a retry.
async fn run_stored(inner: Arc<Inner>, key: Vec<u8>, function: String) {
    let _running = StoredRun(inner.clone(), key.clone());
    let lease = loop {
        let pool = match inner.pool_for(&function, None).await {
            Ok(p) => p,
            Err(e) => {
                if matches!(e, Error::FunctionNotFound(_)) {
                    tracing::warn!(function, "lambda: dropping a queued event (function gone)");
                    let (store, k) = (inner.store.clone(), key.clone());
                    let _ = inner.store.run(move || queue::finish(&store, &k)).await;
                } else {
                    tracing::debug!(function, error = %e, "lambda: queued event left for later");
                }
                return;
            }
        };
        let Some(mut lease) = pool.wait_lease().await else {
            continue;
        };
        match inner.cluster_slot(&pool).await {
            Ok(slot) => {
                lease.slot = slot;
                break lease;
            }
            Err(Error::TooManyRequests(_)) => {
                drop(lease);
                tokio::time::sleep(CLUSTER_WAIT).await;
            }
            Err(e) => {
                tracing::debug!(function, error = %e, "lambda: queued event left for later");
                return;
            }
        }
    };
    let pool = lease.pool.clone();
    let limits = limits(&inner, &pool);
    let hold = (limits.init_timeout + limits.timeout + CLAIM_MARGIN).as_millis() as u64;
    let (store, k) = (inner.store.clone(), key.clone());
    let claimed = inner
        .store
        .run(move || queue::claim(&store, &k, nuvem_store::cluster::node_id(), hold))
        .await;
    let item = match claimed {
        Ok(Some(item)) => item,
        // Another node runs it, or ran it.
        Ok(None) => return,
        Err(e) => {
            tracing::debug!(function, error = %e, "lambda: queued event left for later");
            return;
        }
    };
    let config = event_config(&inner, &function).await;
    let function_arn = {
        let base = crate::model::function_arn(&inner.config.region, &inner.config.account_id, "");
        format!("{base}{function}")
    };
    let payload = Bytes::from(item.payload);
    let aged = item.accepted_ms > 0
        && queue::now_ms().saturating_sub(item.accepted_ms)
            > EventInvokeConfig::max_age_ms(config.as_ref());
    let delay_ms = if aged {
        drop(lease);
        let record = event_config::record(
            &item.request_id,
            &function_arn,
            Condition::EventAgeExceeded,
            item.attempt,
            &payload,
            &Outcome::default(),
        );
        tracing::warn!(function, request_id = %item.request_id, "lambda: asynchronous event discarded: older than its maximum event age");
        deliver(
            &inner,
            config.as_ref().and_then(|c| c.on_failure.clone()),
            record,
        );
        None
    } else {
        let call = Call {
            request_id: item.request_id.clone(),
            payload: payload.clone(),
            function_arn: function_arn.clone(),
            client_context: item.client_context,
        };
        let version = lease.pool.record.version_label();
        let mut outcome = outcome_of(run(&inner, lease, call, limits).await);
        outcome.executed_version = Some(version);
        let succeeded = outcome.function_error.is_none();
        let retries = EventInvokeConfig::retries(config.as_ref());
        let delay = inner
            .config
            .async_retry_delays
            .get(item.attempt as usize)
            .filter(|_| !succeeded && item.attempt < retries);
        if succeeded || delay.is_none() {
            let (condition, to) = if succeeded {
                (
                    Condition::Success,
                    config.as_ref().and_then(|c| c.on_success.clone()),
                )
            } else {
                tracing::warn!(function, request_id = %item.request_id, retries, "lambda: asynchronous invocation failed after its retries");
                (
                    Condition::RetriesExhausted,
                    config.as_ref().and_then(|c| c.on_failure.clone()),
                )
            };
            let record = event_config::record(
                &item.request_id,
                &function_arn,
                condition,
                item.attempt + 1,
                &payload,
                &outcome,
            );
            deliver(&inner, to, record);
        }
        delay.map(|d| d.as_millis() as u64)
    };
    let store = inner.store.clone();
    let done = inner
        .store
        .run(move || match delay_ms {
            Some(ms) => queue::retry_later(&store, &key, ms),
            None => queue::finish(&store, &key),
        })
        .await;
    if let Err(e) = done {
        // The claim expires and another node runs the event again.
        tracing::warn!(function, error = %e, "lambda: could not record a queued event's outcome");
    }
}

/// Marks a stored event as being run by this node for as long as it lives.
struct StoredRun(Arc<Inner>, Vec<u8>);

impl Drop for StoredRun {
    fn drop(&mut self) {
        self.0.end_stored(&self.1);
    }
}

/// One queued event: waits for a concurrency slot (never throttled), and retries twice when
/// the function fails, as Lambda's asynchronous invocation does.
async fn run_queued(inner: Arc<Inner>, function: String, call: Call) {
    let delays = inner.config.async_retry_delays;
    let accepted = std::time::Instant::now();
    let config = event_config(&inner, &function).await;
    let retries = (EventInvokeConfig::retries(config.as_ref()) as usize).min(delays.len());
    let max_age = std::time::Duration::from_millis(EventInvokeConfig::max_age_ms(config.as_ref()));
    let mut outcome = Outcome::default();
    for attempt in 0..=retries {
        if accepted.elapsed() > max_age {
            tracing::warn!(function, request_id = %call.request_id, "lambda: asynchronous event discarded: older than its maximum event age");
            let record = event_config::record(
                &call.request_id,
                &call.function_arn,
                Condition::EventAgeExceeded,
                attempt as u32,
                &call.payload,
                &outcome,
            );
            deliver(
                &inner,
                config.as_ref().and_then(|c| c.on_failure.clone()),
                record,
            );
            return;
        }
        // The pool is looked up each time: an update in between retires the old one.
        let lease = loop {
            let pool = match inner.pool_for(&function, None).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(function, error = %e, "lambda: dropping a queued event");
                    return;
                }
            };
            let Some(mut lease) = pool.wait_lease().await else {
                continue;
            };
            // On a shared store, wait for a cluster-wide slot as well (never throttled).
            match inner.cluster_slot(&pool).await {
                Ok(slot) => {
                    lease.slot = slot;
                    break lease;
                }
                Err(Error::TooManyRequests(_)) => {
                    drop(lease);
                    tokio::time::sleep(CLUSTER_WAIT).await;
                }
                Err(e) => {
                    tracing::warn!(function, error = %e, "lambda: dropping a queued event");
                    return;
                }
            }
        };
        let pool = lease.pool.clone();
        outcome = outcome_of(run(&inner, lease, call.clone(), limits(&inner, &pool)).await);
        outcome.executed_version = Some(pool.record.version_label());
        if outcome.function_error.is_none() {
            let record = event_config::record(
                &call.request_id,
                &call.function_arn,
                Condition::Success,
                attempt as u32 + 1,
                &call.payload,
                &outcome,
            );
            deliver(
                &inner,
                config.as_ref().and_then(|c| c.on_success.clone()),
                record,
            );
            return;
        }
        if attempt < retries
            && let Some(delay) = delays.get(attempt)
        {
            tokio::time::sleep(*delay).await;
        }
    }
    tracing::warn!(function, request_id = %call.request_id, retries, "lambda: asynchronous invocation failed after its retries");
    let record = event_config::record(
        &call.request_id,
        &call.function_arn,
        Condition::RetriesExhausted,
        retries as u32 + 1,
        &call.payload,
        &outcome,
    );
    deliver(
        &inner,
        config.as_ref().and_then(|c| c.on_failure.clone()),
        record,
    );
}

/// The asynchronous invocation configuration of what was invoked (the function, a version,
/// or an alias: its own), read as its event runs (a change applies to events not yet run,
/// without retiring warm environments).
async fn event_config(inner: &Arc<Inner>, function: &str) -> Option<EventInvokeConfig> {
    let (me, f) = (inner.clone(), function.to_owned());
    inner
        .store
        .run(move || {
            crate::control::resolve(&me, &f, None)
                .ok()
                .and_then(|t| t.event_invoke().cloned())
        })
        .await
}

/// What an attempt returned, for the invocation record.
fn outcome_of(result: Result<invoke::Completed>) -> Outcome {
    match result {
        Ok(done) => Outcome {
            payload: Some(done.payload),
            function_error: done.function_error,
            executed_version: None,
        },
        Err(e) => Outcome {
            payload: Some(Bytes::from(
                serde_json::json!({"errorMessage": e.to_string(), "errorType": "Runtime.Error"})
                    .to_string(),
            )),
            function_error: Some("Unhandled".into()),
            executed_version: None,
        },
    }
}

/// Hands an invocation record to the destination loop (see the service), which invokes the
/// destination function asynchronously.
fn deliver(inner: &Arc<Inner>, destination: Option<String>, record: serde_json::Value) {
    let Some(destination) = destination else {
        return;
    };
    match inner.destinations.try_send((destination, record)) {
        Ok(()) => {}
        Err(tokio::sync::mpsc::error::TrySendError::Full((destination, _))) => {
            tracing::warn!(
                destination,
                "lambda: invocation record dropped: too many waiting for their destinations"
            );
        }
        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
            tracing::warn!("lambda: invocation record dropped: the service is stopping");
        }
    }
}
