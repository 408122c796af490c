//! Time to Live: which items are expired, and the sweep that deletes them.
//!
//! An item is expired when its TTL attribute is a Number of epoch seconds less than now and
//! not more than five years in the past; any other type, or an older value, is ignored, as
//! DynamoDB documents (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-before-you-start.html>).
//! Expired items stay readable until the sweep deletes them, as in DynamoDB.
//!
//! The sweep reads a table in pages of [`SWEEP_PAGE`] items from snapshots (no lock, no
//! transaction held across pages) and deletes each expired item in its own small
//! transaction, through [`storage::write_item_from`] with [`Origin::Ttl`]: the item's stats,
//! index entries and stream record (a service `REMOVE`) change exactly as for a DeleteItem.
//! Each deletion checks again, in its transaction, that the item is still there and still
//! expired (a write may have moved its TTL since the page was read). Foreground requests
//! only ever wait for one such small transaction. The cost of a sweep is a read of every
//! table with TTL enabled.
//!
//! Must not: decide when sweeps run (the binary does, under a cluster lease).

use nuvem_store::{Direction, Read, Store};

use crate::catalog::TableMeta;
use crate::error::{Error, Result};
use crate::storage;
use crate::streams::Origin;
use crate::value::{AttributeValue, Item};

/// How many items one page of the sweep reads.
pub const SWEEP_PAGE: usize = 500;

/// DynamoDB ignores expiry times more than five years in the past.
pub const MAX_PAST_SECS: f64 = 5.0 * 365.0 * 24.0 * 3600.0;

/// Whether `item` is expired at `now_secs` under TTL attribute `attribute`.
pub fn is_expired(item: &Item, attribute: &str, now_secs: f64) -> bool {
    let Some(AttributeValue::N(n)) = item.get(attribute) else {
        return false;
    };
    let Ok(at) = n.to_string().parse::<f64>() else {
        return false;
    };
    at < now_secs && at >= now_secs - MAX_PAST_SECS
}

/// Deletes the expired items of table `table_name` at `now_secs`. Returns how many were
/// deleted. Stops quietly when the table is gone or its TTL disabled.
pub fn sweep_table(
    store: &Store,
    cache: &storage::CatalogCache,
    table_name: &str,
    now_secs: f64,
) -> Result<usize> {
    let mut cursor: Option<Vec<u8>> = None;
    let mut deleted = 0;
    loop {
        let (expired, last, full) = {
            let snap = store.snapshot();
            let Some(table) = storage::read_table(&*snap, table_name)? else {
                return Ok(deleted);
            };
            let Some(ttl) = &table.ttl else {
                return Ok(deleted);
            };
            let mut range = storage::items_range(&table);
            if let Some(c) = &cursor {
                range.start = std::ops::Bound::Excluded(c.clone());
            }
            let page: Vec<(Vec<u8>, Vec<u8>)> = snap
                .scan(range, Direction::Forward)
                .take(SWEEP_PAGE)
                .collect::<Result<_, _>>()?;
            let mut expired = Vec::new();
            for (key, value) in &page {
                let item = storage::decode_stored_item(Some(value))?.unwrap_or_default();
                if is_expired(&item, &ttl.attribute, now_secs) {
                    expired.push(key.clone());
                }
            }
            let last = page.last().map(|(k, _)| k.clone());
            (expired, last, page.len() == SWEEP_PAGE)
        };
        for key in expired {
            if delete_expired(store, cache, table_name, &key, now_secs)? {
                deleted += 1;
            }
        }
        match (full, last) {
            (true, Some(last)) => cursor = Some(last),
            _ => return Ok(deleted),
        }
    }
}

/// Deletes the item under `item_key` if it is still expired, in one transaction, as the TTL
/// service. Returns whether it did. The catalog record, the item and the stats are one read
/// when `cache` guesses the table right.
fn delete_expired(
    store: &Store,
    cache: &storage::CatalogCache,
    table_name: &str,
    item_key: &[u8],
    now_secs: f64,
) -> Result<bool> {
    store.transact(|tx| {
        let read = storage::read_with_table(&*tx, cache, table_name, |t| {
            Ok(vec![item_key.to_vec(), storage::stats_key(t)])
        })?;
        let Some((table, values)) = read else {
            return Ok::<_, Error>(false);
        };
        let Some(ttl) = &table.ttl else {
            return Ok(false);
        };
        let mut values = values.into_iter();
        let Some(old) = storage::decode_stored_item(values.next().flatten().as_deref())? else {
            return Ok(false);
        };
        if !is_expired(&old, &ttl.attribute, now_secs) {
            return Ok(false);
        }
        let stats = storage::decode_stats(values.next().flatten().as_deref())?;
        storage::write_item_from(tx, &table, item_key, Some(&old), None, stats, Origin::Ttl)?;
        Ok(true)
    })
}

/// The tables with TTL enabled, and every table with a stream (whose records need trimming).
pub fn tables_to_sweep<R: Read + ?Sized>(r: &R) -> Result<Vec<TableMeta>> {
    let names: Vec<String> = storage::list_tables(r, None).collect::<Result<_>>()?;
    let mut out = Vec::new();
    for name in names {
        if let Some(table) = storage::read_table(r, &name)?
            && (table.ttl.is_some() || !table.streams.is_empty())
        {
            out.push(table);
        }
    }
    Ok(out)
}
