//! Provisioned concurrency (Put/Get/Delete/ListProvisionedConcurrencyConfigs,
//! https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html): environments of
//! a published version kept initialised ahead of invocations, asked for on a version or an
//! alias (never `$LATEST`, never an alias with weighted routing).
//!
//! At rest: `lambda/pc/<name>/<qualifier>` holds what was asked and what is allocated. The
//! node holding the lease `lambda-provisioned` keeps each version's pool at least that many
//! environments strong ([`maintain`], on the scale-in tick: missing environments are started
//! and initialised, idle ones are not scaled in below the number) and writes the count it
//! reached back into the record, so `Status` moves from `IN_PROGRESS` to `READY` on every
//! node. Provisioned concurrency counts against the function's reserved concurrency, else the
//! account's unreserved concurrency: a request past it is refused.
//!
//! Must not: run invocations (see [`crate::invoke`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nuvem_store::{Direction, KeyRange, Read};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog;
use crate::control::{Resolved, resolve};
use crate::error::{Error, Result};
use crate::model::{FunctionRef, Qualifier, function_arn};
use crate::service::Inner;

const PREFIX: &[u8] = b"lambda/pc/";

fn key(name: &str, qualifier: &str) -> Vec<u8> {
    format!("lambda/pc/{name}/{qualifier}").into_bytes()
}

fn of(name: &str) -> Vec<u8> {
    format!("lambda/pc/{name}/").into_bytes()
}

/// One configuration, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub function: String,
    /// The version number or alias it was asked on.
    pub qualifier: String,
    pub requested: u32,
    /// Environments initialised for it (written by the node that provisions).
    #[serde(default)]
    pub allocated: u32,
    pub last_modified: String,
}

impl Config {
    fn shape(&self) -> Value {
        json!({
            "RequestedProvisionedConcurrentExecutions": self.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated.min(self.requested),
            "AllocatedProvisionedConcurrentExecutions": self.allocated.min(self.requested),
            "Status": if self.allocated >= self.requested { "READY" } else { "IN_PROGRESS" },
            "LastModified": self.last_modified,
        })
    }
}

fn decode(k: &[u8], v: &[u8]) -> Result<Config> {
    serde_json::from_slice(v)
        .map_err(|e| Error::Corrupt(format!("{}: {e}", String::from_utf8_lossy(k))))
}

fn list_of(tx: &dyn Read, prefix: &[u8]) -> Result<Vec<Config>> {
    tx.scan(KeyRange::prefix(prefix), Direction::Forward)
        .map(|e| {
            let (k, v) = e?;
            decode(&k, &v)
        })
        .collect()
}

/// Deletes every configuration of a function (in the transaction that deletes it).
pub fn delete_all(tx: &mut dyn nuvem_store::Tx, name: &str) -> Result<()> {
    let keys: Vec<Vec<u8>> = tx
        .scan(KeyRange::prefix(&of(name)), Direction::Forward)
        .map(|e| e.map(|(k, _)| k))
        .collect::<nuvem_store::Result<_>>()?;
    for k in keys {
        tx.delete(&k);
    }
    Ok(())
}

/// Deletes the configuration on `qualifier` if there is one (its version or alias is gone).
pub fn delete_one(tx: &mut dyn nuvem_store::Tx, name: &str, qualifier: &str) {
    tx.delete(&key(name, qualifier));
}

fn not_found() -> Error {
    Error::ProvisionedNotFound("No Provisioned Concurrency Config found for this function".into())
}

/// The qualifier a configuration is asked on: a version or an alias to a version, without
/// weighted routing.
fn target(inner: &Inner, function: &str, qualifier: Option<&str>) -> Result<(Resolved, String)> {
    let f = FunctionRef::parse(function)?;
    let Some(q) = f.qualifier(qualifier)? else {
        return Err(Error::Validation(
            "1 validation error detected: Value null at 'qualifier' failed to satisfy constraint: Member must not be null".into(),
        ));
    };
    let t = resolve(inner, function, qualifier)?;
    if q == Qualifier::Latest || t.version.is_none() {
        return Err(Error::InvalidParameter(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
                .into(),
        ));
    }
    if t.alias.as_ref().is_some_and(|a| !a.weights.is_empty()) {
        return Err(Error::InvalidParameter(
            "Alias with weights can not be used with Provisioned Concurrency".into(),
        ));
    }
    Ok((t, q.label()))
}

/// PutProvisionedConcurrencyConfig (202, `IN_PROGRESS` until the environments are up).
pub fn put(inner: &Inner, function: &str, qualifier: Option<&str>, input: &Value) -> Result<Value> {
    let (t, q) = target(inner, function, qualifier)?;
    let n = input
        .get("ProvisionedConcurrentExecutions")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Validation("1 validation error detected: Value null at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must not be null".into()))?;
    if n < 1 {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{n}' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )));
    }
    let requested = u32::try_from(n).unwrap_or(u32::MAX);
    let name = t.latest.name.clone();
    let now = nuvem_aws::time::AmzDate::from_system_time(std::time::SystemTime::now())
        .to_iso8601()
        .replace('Z', "+0000");
    let account = inner.config.account_concurrency;
    let config = inner.store.transact(|tx| {
        let latest = catalog::get_in(&*tx, &name)?.ok_or_else(|| {
            Error::FunctionNotFound(function_arn(
                &inner.config.region,
                &inner.config.account_id,
                &name,
            ))
        })?;
        let others: u64 = list_of(&*tx, &of(&name))?
            .iter()
            .filter(|c| c.qualifier != q)
            .map(|c| u64::from(c.requested))
            .sum();
        let total = others + u64::from(requested);
        match latest.reserved_concurrency {
            Some(reserved) if total > u64::from(reserved) => {
                return Err(Error::InvalidParameter(format!(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function ({total} > {reserved})"
                )));
            }
            None => {
                let unreserved = catalog::unreserved(&*tx, account)?;
                if total > u64::from(unreserved) {
                    return Err(Error::InvalidParameter(format!(
                        "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency ({total} > {unreserved})"
                    )));
                }
            }
            Some(_) => {}
        }
        let config = Config {
            function: name.clone(),
            qualifier: q.clone(),
            requested,
            allocated: 0,
            last_modified: now.clone(),
        };
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::Corrupt(e.to_string()))?;
        tx.put(&key(&name, &q), &bytes);
        nuvem_store::cluster::touch(tx, &catalog::topic(&name))?;
        Ok(config)
    })?;
    Ok(config.shape())
}

pub fn get(inner: &Inner, function: &str, qualifier: Option<&str>) -> Result<Value> {
    let (t, q) = target(inner, function, qualifier)?;
    let k = key(&t.latest.name, &q);
    match inner.store.get(&k)? {
        Some(v) => Ok(decode(&k, &v)?.shape()),
        None => Err(not_found()),
    }
}

pub fn delete(inner: &Inner, function: &str, qualifier: Option<&str>) -> Result<()> {
    let (t, q) = target(inner, function, qualifier)?;
    let k = key(&t.latest.name, &q);
    inner.store.transact(|tx| {
        if tx.get(&k)?.is_none() {
            return Err(not_found());
        }
        tx.delete(&k);
        nuvem_store::cluster::touch(tx, &catalog::topic(&t.latest.name))?;
        Ok(())
    })
}

pub fn list(inner: &Inner, function: &str) -> Result<Value> {
    let latest = crate::control::latest(inner, function)?;
    let base = latest.arn(&inner.config.region, &inner.config.account_id);
    let configs: Vec<Value> = list_of(&*inner.store.snapshot(), &of(&latest.name))?
        .iter()
        .map(|c| {
            let mut v = c.shape();
            v["FunctionArn"] = json!(format!("{base}:{}", c.qualifier));
            v
        })
        .collect();
    Ok(json!({ "ProvisionedConcurrencyConfigs": configs }))
}

/// The lease of the node that keeps provisioned environments.
const LEASE: &str = "lambda-provisioned";
const LEASE_TTL: Duration = Duration::from_secs(10);

/// One round of upkeep: on the node holding the lease, each version with provisioned
/// concurrency gets its environments started (at most the missing ones, at once), its pool
/// is told not to scale in below them, and the allocated counts are written back.
pub async fn maintain(inner: &Arc<Inner>) -> Result<()> {
    if inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(());
    }
    let store = inner.store.clone();
    let node = nuvem_store::cluster::node_id();
    let (configs, holder) = inner
        .store
        .run(move || {
            let configs = list_of(&*store.snapshot(), PREFIX)?;
            let holder = if configs.is_empty() {
                false
            } else {
                nuvem_store::cluster::Lease::try_acquire(&store, LEASE, node, LEASE_TTL)?
            };
            Ok::<_, Error>((configs, holder))
        })
        .await?;
    // What each version's pool must keep, summed over the configurations that land on it.
    let mut wanted: BTreeMap<(String, u64), (u32, Vec<Config>)> = BTreeMap::new();
    if holder {
        for c in configs {
            let reference = format!("{}:{}", c.function, c.qualifier);
            let (me, r) = (inner.clone(), reference.clone());
            let Ok(t) = inner.store.run(move || resolve(&me, &r, None)).await else {
                continue;
            };
            let Some(n) = t.version.as_ref().and_then(|v| v.version) else {
                continue;
            };
            let entry = wanted.entry((c.function.clone(), n)).or_default();
            entry.0 = entry.0.saturating_add(c.requested);
            entry.1.push(c);
        }
    }
    inner.set_provisioned(
        &wanted
            .keys()
            .map(|(f, n)| (f.clone(), *n))
            .collect::<Vec<_>>(),
    );
    for ((function, n), (want, configs)) in wanted {
        let pool = match inner.pool_for(&format!("{function}:{n}"), None).await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(function, version = n, error = %e, "lambda: cannot provision");
                continue;
            }
        };
        pool.set_provisioned(want);
        let have = pool.stats().environments;
        if have < want {
            let limits = crate::invoke::Limits {
                timeout: Duration::from_secs(u64::from(pool.record.timeout)),
                init_timeout: inner.config.init_timeout,
            };
            let starts = (have..want).map(|_| crate::invoke::prewarm(&pool, limits));
            for r in futures_join(starts).await {
                if let Err(e) = r {
                    tracing::warn!(function, version = n, error = %e, "lambda: a provisioned environment did not initialise");
                }
            }
        }
        let alive = pool.stats().environments;
        // Shared among the configurations on this version in the order they were asked.
        let mut left = alive;
        for mut c in configs {
            let allocated = left.min(c.requested);
            left -= allocated;
            if allocated != c.allocated {
                c.allocated = allocated;
                let store = inner.store.clone();
                let k = key(&c.function, &c.qualifier);
                inner
                    .store
                    .run(move || {
                        store.transact(|tx| {
                            // Only if it was not changed or deleted meanwhile.
                            let Some(v) = tx.get(&k)? else { return Ok(()) };
                            let mut now = decode(&k, &v)?;
                            if now.requested == c.requested && now.last_modified == c.last_modified
                            {
                                now.allocated = c.allocated;
                                let bytes = serde_json::to_vec(&now)
                                    .map_err(|e| Error::Corrupt(e.to_string()))?;
                                tx.put(&k, &bytes);
                            }
                            Ok::<_, Error>(())
                        })
                    })
                    .await?;
            }
        }
    }
    Ok(())
}

/// Runs the futures at once and collects their results.
async fn futures_join<F: std::future::Future<Output = Result<()>> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<Result<()>> {
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(
            r.unwrap_or_else(|e| Err(Error::Corrupt(format!("a provisioning task failed: {e}")))),
        );
    }
    out
}
