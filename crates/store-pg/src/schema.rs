//! The `nuvem` schema: created on first start, versioned in `nuvem.meta`, migrated forward by
//! a newer binary and refused by an older one. Must not drop or rewrite user data in a
//! migration without a new version number and a note in ARCHITECTURE.md.

use std::sync::Arc;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use crate::pool::Pool;
use crate::{Failure, OpenError, describe};

/// The migrations, in order; the schema version is how many have been applied. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: the ordered key/value table every service's data lives in.
    "CREATE TABLE IF NOT EXISTS nuvem.kv (key BYTEA PRIMARY KEY, value BYTEA NOT NULL)",
];

/// The schema version this binary creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const BOOTSTRAP: &str = "CREATE SCHEMA IF NOT EXISTS nuvem; \
     CREATE TABLE IF NOT EXISTS nuvem.meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)";

/// Brings the schema to [`SCHEMA_VERSION`], or refuses one that is newer. Several nodes may
/// start at once: the version is read and bumped in one serializable transaction, and the
/// races of `CREATE … IF NOT EXISTS` between them are retried.
pub(crate) async fn ensure(pool: &Arc<Pool>) -> Result<(), OpenError> {
    let mut last = String::new();
    for attempt in 0..10u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(5))).await;
        }
        let conn = pool.acquire().await.map_err(|f| match f {
            Failure::Broken(m) | Failure::Other(m) | Failure::Conflict(m) => OpenError::Connect(m),
        })?;
        let client = conn.client();
        match try_ensure(&client).await {
            Ok(Ok(())) => {
                conn.release_after("").await;
                return Ok(());
            }
            Ok(Err(refusal)) => {
                conn.release_after("ROLLBACK").await;
                return Err(refusal);
            }
            Err(e) if retryable(&e) => {
                last = describe(&e);
                conn.release_after("ROLLBACK").await;
            }
            Err(e) => return Err(OpenError::Migrate(describe(&e))),
        }
    }
    Err(OpenError::Migrate(format!(
        "gave up after repeated conflicts with other nodes: {last}"
    )))
}

fn retryable(e: &tokio_postgres::Error) -> bool {
    [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::UNIQUE_VIOLATION,
        SqlState::DUPLICATE_SCHEMA,
        SqlState::DUPLICATE_TABLE,
        // A table's row type, created by the same racing `CREATE TABLE IF NOT EXISTS`
        // (`type "kv" already exists`).
        SqlState::DUPLICATE_OBJECT,
    ]
    .iter()
    .any(|c| e.code() == Some(c))
}

async fn try_ensure(
    client: &tokio_postgres::Client,
) -> Result<Result<(), OpenError>, tokio_postgres::Error> {
    client.batch_execute(BOOTSTRAP).await?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
        .await?;
    let row = client
        .query_typed_opt(
            "SELECT value FROM nuvem.meta WHERE name = $1",
            &[(&"schema_version", Type::TEXT)],
        )
        .await?;
    let found: i64 = match row {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    if found > SCHEMA_VERSION {
        return Ok(Err(OpenError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        }));
    }
    let Some(pending) = usize::try_from(found)
        .ok()
        .and_then(|f| MIGRATIONS.get(f..))
    else {
        return Ok(Err(OpenError::Migrate(format!(
            "nuvem.meta holds schema version {found}, which no nuvem wrote"
        ))));
    };
    for migration in pending {
        client.batch_execute(migration).await?;
    }
    if found < SCHEMA_VERSION {
        client
            .execute_typed(
                "INSERT INTO nuvem.meta (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[
                    (&"schema_version", Type::TEXT),
                    (&SCHEMA_VERSION, Type::INT8),
                ],
            )
            .await?;
    }
    client.batch_execute("COMMIT").await?;
    Ok(Ok(()))
}
