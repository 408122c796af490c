//! The statements the engine sends, each one round trip (`query_typed`: parameter types are
//! given, so nothing is prepared first). Only SQL that PostgreSQL, CockroachDB and YugabyteDB
//! all accept. Must not hold state: the engine decides which transaction a statement runs in.

use std::collections::BTreeMap;
use std::ops::Bound;

use nuvem_store::{Direction, Entry, KeyRange};
use tokio_postgres::Client;
use tokio_postgres::types::{ToSql, Type};

use crate::{Failure, classify};

/// Rows fetched per page of a scan.
pub(crate) const PAGE: usize = 256;

/// Starts a write transaction.
pub(crate) const BEGIN_WRITE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";

/// Starts a snapshot, pipelined with its first read (PostgreSQL takes the snapshot at that
/// read). REPEATABLE READ is a consistent snapshot that never fails with a serialization
/// error (on CockroachDB it is serializable, which is stronger).
pub(crate) const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

const GET: &str = "SELECT value FROM nuvem.kv WHERE key = $1";
const GET_MANY: &str = "SELECT key, value FROM nuvem.kv WHERE key = ANY($1::BYTEA[])";
const UPSERT: &str = "INSERT INTO nuvem.kv (key, value) \
     SELECT k, v FROM unnest($1::BYTEA[], $2::BYTEA[]) AS t(k, v) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM nuvem.kv WHERE key = ANY($1::BYTEA[])";

pub(crate) async fn get(client: &Client, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
    let rows = client
        .query_typed(GET, &[(&key, Type::BYTEA)])
        .await
        .map_err(|e| classify(&e))?;
    match rows.first() {
        None => Ok(None),
        Some(row) => row
            .try_get::<_, Vec<u8>>(0)
            .map(Some)
            .map_err(|e| Failure::Other(e.to_string())),
    }
}

/// The values of `keys` (one per key, in order; `None` where there is none), one statement.
pub(crate) async fn get_many(
    client: &Client,
    keys: &[Vec<u8>],
) -> Result<Vec<Option<Vec<u8>>>, Failure> {
    let rows = client
        .query_typed(GET_MANY, &[(&keys, Type::BYTEA_ARRAY)])
        .await
        .map_err(|e| classify(&e))?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let key: Vec<u8> = row.try_get(0).map_err(|e| Failure::Other(e.to_string()))?;
        let value: Vec<u8> = row.try_get(1).map_err(|e| Failure::Other(e.to_string()))?;
        found.insert(key, value);
    }
    Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
}

/// The SQL and parameters of one page of `range` in `direction`.
fn page_query(range: &KeyRange, direction: Direction) -> (String, Vec<&[u8]>) {
    let mut conditions = Vec::new();
    let mut params: Vec<&[u8]> = Vec::new();
    for (b, inclusive, exclusive) in [(&range.start, ">=", ">"), (&range.end, "<=", "<")] {
        let (op, key) = match b {
            Bound::Included(k) => (inclusive, k),
            Bound::Excluded(k) => (exclusive, k),
            Bound::Unbounded => continue,
        };
        params.push(key);
        conditions.push(format!("key {op} ${}", params.len()));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let order = match direction {
        Direction::Forward => "ASC",
        Direction::Reverse => "DESC",
    };
    let sql = format!("SELECT key, value FROM nuvem.kv{filter} ORDER BY key {order} LIMIT {PAGE}");
    (sql, params)
}

/// At most [`PAGE`] entries of `range`, in `direction` order.
pub(crate) async fn page(
    client: &Client,
    range: &KeyRange,
    direction: Direction,
) -> Result<Vec<Entry>, Failure> {
    let (sql, params) = page_query(range, direction);
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), Type::BYTEA))
        .collect();
    let rows = client
        .query_typed(&sql, &typed)
        .await
        .map_err(|e| classify(&e))?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|e| Failure::Other(e.to_string()))
}

/// Writes `writes` (puts and deletes) and commits, pipelined: BEGIN (when the transaction has
/// not started yet), the upsert, the delete and COMMIT go out together, one round trip.
pub(crate) async fn commit(
    client: &Client,
    begin: bool,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> Result<(), Failure> {
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let mut deletes = Vec::new();
    for (k, v) in writes {
        match v {
            Some(v) => {
                keys.push(k);
                values.push(v);
            }
            None => deletes.push(k),
        }
    }
    let (b, u, d, c) = tokio::join!(
        async {
            match begin {
                true => client.batch_execute(BEGIN_WRITE).await,
                false => Ok(()),
            }
        },
        async {
            match keys.is_empty() {
                true => Ok(0),
                false => {
                    let params: [(&(dyn ToSql + Sync), Type); 2] =
                        [(&keys, Type::BYTEA_ARRAY), (&values, Type::BYTEA_ARRAY)];
                    client.execute_typed(UPSERT, &params).await
                }
            }
        },
        async {
            match deletes.is_empty() {
                true => Ok(0),
                false => {
                    client
                        .execute_typed(DELETE, &[(&deletes, Type::BYTEA_ARRAY)])
                        .await
                }
            }
        },
        client.batch_execute("COMMIT"),
    );
    // The first failure is the cause; after it PostgreSQL turns COMMIT into a rollback.
    b.map_err(|e| classify(&e))?;
    u.map_err(|e| classify(&e))?;
    d.map_err(|e| classify(&e))?;
    c.map_err(|e| classify(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(range: KeyRange, direction: Direction, sql: &str, params: &[&[u8]]) {
        let (got_sql, got_params) = page_query(&range, direction);
        assert_eq!(got_sql, sql);
        assert_eq!(got_params, params);
    }

    #[test]
    fn page_queries() {
        let tail = |w: &str, o: &str| {
            format!("SELECT key, value FROM nuvem.kv{w} ORDER BY key {o} LIMIT {PAGE}")
        };
        check(
            KeyRange::prefix(b"a"),
            Direction::Forward,
            &tail(" WHERE key >= $1 AND key < $2", "ASC"),
            &[b"a", b"b"],
        );
        check(
            KeyRange::prefix(b""),
            Direction::Reverse,
            &tail(" WHERE key >= $1", "DESC"),
            &[b""],
        );
        check(
            KeyRange {
                start: Bound::Excluded(b"x".to_vec()),
                end: Bound::Included(b"y".to_vec()),
            },
            Direction::Forward,
            &tail(" WHERE key > $1 AND key <= $2", "ASC"),
            &[b"x", b"y"],
        );
        check(
            KeyRange {
                start: Bound::Unbounded,
                end: Bound::Unbounded,
            },
            Direction::Forward,
            &tail("", "ASC"),
            &[],
        );
    }
}
