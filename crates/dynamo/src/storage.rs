//! How tables live in the store: the key layout, reading items, and the one write path.
//!
//! Layout (every key starts with `dynamodb/`; `<id>` is the table's internal UUID from the
//! catalog, never its name):
//!
//! ```text
//! dynamodb/c/t/<table name>        catalog record (JSON TableMeta, see catalog.rs)
//! dynamodb/c/p/<id>                purge marker: the table was deleted, its items are going
//! dynamodb/c/r/<table name>/<id>   a deleted table whose streams are still readable (its
//!                                  catalog record, every stream disabled), for 24 hours
//! dynamodb/t/<id>/i/<pk><sk>       one item: value::encode_item(item); <pk>, <sk> are
//!                                  keys::encode_key_component of the key attributes, which
//!                                  sort bytewise as DynamoDB orders keys, so a Query is one
//!                                  range scan of t/<id>/i/<pk>
//! dynamodb/t/<id>/n                stats: item count and total item size (2 × u64 BE)
//! dynamodb/t/<id>/x/<ix>/e/<ik><pk><sk>
//!                                  one secondary index entry (<ix> is the index's UUID):
//!                                  value::encode_item of the item's projection; <ik> is the
//!                                  index's key components, then the table's, so equal index
//!                                  keys stay distinct and a Query on the index is one range
//! dynamodb/t/<id>/x/<ix>/n         the index's stats (entry count, projected bytes)
//! dynamodb/c/p/<id>/x/<ix>         purge marker of a deleted index
//! dynamodb/t/<id>/c/<pk>           item collection size (u64 BE bytes: the items of one
//!                                  partition key and their local index entries), kept only
//!                                  for tables with local indexes
//! dynamodb/t/<id>/s/<label>/...    a stream's records, written by write_item in the same
//!                                  transaction (see streams.rs)
//! ```
//!
//! Because the id is a fixed-length UUID, one table's prefix is never a prefix of another's.
//! Index entries are written by [`write_item`] in the transaction that writes the item, so a
//! reader never sees an index disagree with an acknowledged write (stronger than DynamoDB's
//! eventually consistent global indexes).
//!
//! Deleting a table removes its catalog record and writes its purge marker in one
//! transaction; the items are then removed in batches, and a purge interrupted by a crash is
//! finished when the service opens again.
//!
//! Must not: decide anything about requests (conditions, return values); operations do that
//! and then call [`write_item`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use nuvem_store::{Direction, KeyRange, Read, Store, Tx};

use crate::catalog::TableMeta;
use crate::error::{Error, Result};
use crate::index::{IndexKind, IndexMeta};
use crate::keys::encode_key_component;
use crate::streams::Origin;
use crate::value::{Item, decode_item, encode_item, item_size};

pub const ROOT: &[u8] = b"dynamodb/";
const CATALOG_TABLES: &[u8] = b"dynamodb/c/t/";
const CATALOG_PURGES: &[u8] = b"dynamodb/c/p/";
const CATALOG_RETIRED: &[u8] = b"dynamodb/c/r/";

/// The value of a purge marker whose table's streams stay (see [`drop_table`]).
const KEEP_STREAMS: &[u8] = b"keep-streams";

/// How many keys one purge transaction deletes, so that deleting a big table never builds
/// one huge transaction.
const PURGE_BATCH: usize = 1000;

pub fn catalog_key(table_name: &str) -> Vec<u8> {
    [CATALOG_TABLES, table_name.as_bytes()].concat()
}

pub fn catalog_prefix() -> &'static [u8] {
    CATALOG_TABLES
}

/// The table name of a catalog key (the part after the prefix).
pub fn table_name_of(catalog_key: &[u8]) -> Option<&str> {
    catalog_key
        .strip_prefix(CATALOG_TABLES)
        .and_then(|n| std::str::from_utf8(n).ok())
}

fn purge_key(table_id: &str) -> Vec<u8> {
    [CATALOG_PURGES, table_id.as_bytes()].concat()
}

/// `dynamodb/t/<id>/`: everything that belongs to one table.
fn table_prefix(table_id: &str) -> Vec<u8> {
    [ROOT, b"t/", table_id.as_bytes(), b"/"].concat()
}

fn items_prefix(table: &TableMeta) -> Vec<u8> {
    let mut k = table_prefix(&table.id);
    k.extend_from_slice(b"i/");
    k
}

pub fn stats_key(table: &TableMeta) -> Vec<u8> {
    let mut k = table_prefix(&table.id);
    k.push(b'n');
    k
}

/// DynamoDB's limit on an item collection of a table with local indexes, 10 GB
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html#LSI.ItemCollections.SizeLimit).
pub const MAX_COLLECTION_BYTES: u64 = 10 * 1024 * 1024 * 1024;

fn collection_key(table: &TableMeta, item: &Item) -> Result<Vec<u8>> {
    let mut k = table_prefix(&table.id);
    k.extend_from_slice(b"c/");
    let pk = item
        .get(&table.hash_key.name)
        .ok_or_else(|| Error::validation("The provided key element does not match the schema"))?;
    encode_key_component(pk, &mut k).map_err(|e| Error::validation(e.to_string()))?;
    Ok(k)
}

/// The size in bytes of the item collection `item` belongs to (its partition key's items
/// and their local index entries); `None` for a table without local indexes.
pub fn collection_size<R: Read + ?Sized>(
    r: &R,
    table: &TableMeta,
    item: &Item,
) -> Result<Option<u64>> {
    if !table.indexes.iter().any(|i| i.kind == IndexKind::Local) {
        return Ok(None);
    }
    let value = r.get(&collection_key(table, item)?)?;
    Ok(Some(decode_u64(value.as_deref())))
}

/// The `ItemCollectionMetrics` of the collections `items` belong to in `table` (each
/// collection once, in first-seen order); empty for a table without local indexes.
pub fn collection_metrics_of<R: Read + ?Sized>(
    r: &R,
    table: &TableMeta,
    items: &[&Item],
) -> Result<Vec<serde_json::Value>> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let key = collection_key(table, item)?;
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if let Some(size) = collection_size(r, table, item)? {
            out.push(crate::index::collection_metrics(table, item, size));
        }
    }
    Ok(out)
}

fn decode_u64(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// The bytes an item adds to its collection: its size and its local index entries'.
fn collection_share(table: &TableMeta, item: Option<&Item>) -> u64 {
    let Some(item) = item else { return 0 };
    let entries: usize = table
        .indexes
        .iter()
        .filter(|i| i.kind == IndexKind::Local)
        .filter_map(|i| i.entry(table, item).ok().flatten())
        .map(|e| item_size(&e))
        .sum();
    (item_size(item) + entries) as u64
}

/// Keeps the item collection size of a table with local indexes, refusing a write that
/// grows a collection past [`MAX_COLLECTION_BYTES`] as DynamoDB does.
fn write_collection(
    tx: &mut dyn Tx,
    key: &[u8],
    stored: Option<&[u8]>,
    table: &TableMeta,
    old: Option<&Item>,
    new: Option<&Item>,
) -> Result<()> {
    let size = decode_u64(stored);
    let (gone, added) = (collection_share(table, old), collection_share(table, new));
    let size = size.saturating_sub(gone).saturating_add(added);
    if added > gone && size > MAX_COLLECTION_BYTES {
        return Err(Error::ItemCollectionSizeLimitExceeded(
            "Collection size exceeded.".into(),
        ));
    }
    if size == 0 {
        tx.delete(key);
    } else {
        tx.put(key, &size.to_be_bytes());
    }
    Ok(())
}

/// `dynamodb/t/<id>/x/<ix>/`: everything that belongs to one index.
fn index_root(table: &TableMeta, index: &IndexMeta) -> Vec<u8> {
    let mut k = table_prefix(&table.id);
    k.extend_from_slice(b"x/");
    k.extend_from_slice(index.id.as_bytes());
    k.push(b'/');
    k
}

fn entries_prefix(table: &TableMeta, index: &IndexMeta) -> Vec<u8> {
    let mut k = index_root(table, index);
    k.extend_from_slice(b"e/");
    k
}

fn index_stats_key(table: &TableMeta, index: &IndexMeta) -> Vec<u8> {
    let mut k = index_root(table, index);
    k.push(b'n');
    k
}

/// The store key of `index`'s entry for an item with these attributes (index keys, then
/// table keys; the caller checked they are present).
pub fn entry_key(table: &TableMeta, index: &IndexMeta, item: &Item) -> Result<Vec<u8>> {
    let mut k = entries_prefix(table, index);
    for attr in index.key_attrs().chain(table.key_attrs()) {
        let value = item.get(&attr.name).ok_or_else(|| {
            Error::validation("The provided key element does not match the schema")
        })?;
        encode_key_component(value, &mut k).map_err(|e| Error::validation(e.to_string()))?;
    }
    Ok(k)
}

/// Every entry of `index`, in index key order.
pub fn entries_range(table: &TableMeta, index: &IndexMeta) -> KeyRange {
    KeyRange::prefix(&entries_prefix(table, index))
}

/// The prefix shared by every entry of `index` whose index partition key is `pk`.
pub fn index_partition_prefix(
    table: &TableMeta,
    index: &IndexMeta,
    pk: &crate::value::AttributeValue,
) -> Result<Vec<u8>> {
    let mut k = entries_prefix(table, index);
    encode_key_component(pk, &mut k).map_err(|e| Error::validation(e.to_string()))?;
    Ok(k)
}

/// The encoded index partition key inside an entry's store key (parallel Scan's segment).
pub fn index_partition_bytes<'k>(
    table: &TableMeta,
    index: &IndexMeta,
    entry_key: &'k [u8],
) -> Option<&'k [u8]> {
    let rest = entry_key.get(entries_prefix(table, index).len()..)?;
    let mut cursor = rest;
    let kind = crate::keys::KeyType::parse(index.hash_key.kind.as_str())?;
    crate::keys::decode_key_component(kind, &mut cursor).ok()?;
    rest.get(..rest.len() - cursor.len())
}

/// The stats of every index of `table`, in `table.indexes` order.
pub fn read_index_stats<R: Read + ?Sized>(r: &R, table: &TableMeta) -> Result<Vec<Stats>> {
    let keys: Vec<Vec<u8>> = table
        .indexes
        .iter()
        .map(|i| index_stats_key(table, i))
        .collect();
    let wanted: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    r.get_many(&wanted)?
        .into_iter()
        .map(|v| decode_stats(v.as_deref()))
        .collect()
}

/// The store key of the item whose key attributes are in `key` (checked against the schema
/// by the caller).
pub fn item_key(table: &TableMeta, key: &Item) -> Result<Vec<u8>> {
    let mut k = items_prefix(table);
    for attr in table.key_attrs() {
        let value = key.get(&attr.name).ok_or_else(|| {
            Error::validation("The provided key element does not match the schema")
        })?;
        encode_key_component(value, &mut k).map_err(|e| Error::validation(e.to_string()))?;
    }
    Ok(k)
}

/// Every item of `table`, in key order.
pub fn items_range(table: &TableMeta) -> KeyRange {
    KeyRange::prefix(&items_prefix(table))
}

/// The prefix shared by every item whose partition key is `pk` (a Query's range).
pub fn partition_prefix(table: &TableMeta, pk: &crate::value::AttributeValue) -> Result<Vec<u8>> {
    let mut k = items_prefix(table);
    encode_key_component(pk, &mut k).map_err(|e| Error::validation(e.to_string()))?;
    Ok(k)
}

/// The encoded partition key inside an item's store key, which parallel Scan hashes to pick
/// a segment. `None` if the key is not an item key of `table`.
pub fn partition_bytes<'k>(table: &TableMeta, item_key: &'k [u8]) -> Option<&'k [u8]> {
    let rest = item_key.get(items_prefix(table).len()..)?;
    let mut cursor = rest;
    let kind = crate::keys::KeyType::parse(table.hash_key.kind.as_str())?;
    crate::keys::decode_key_component(kind, &mut cursor).ok()?;
    rest.get(..rest.len() - cursor.len())
}

/// A table's item count and total size in bytes (DynamoDB's `ItemCount` and
/// `TableSizeBytes`), kept exact by [`write_item`], and the table's stream counter: the
/// sequence number of the last stream record written. The counter lives in this record
/// because every write reads and writes it already (in the read of the old item: no extra
/// round trip), and because it orders the records as their transactions commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub count: u64,
    pub bytes: u64,
    pub stream_seq: u64,
}

impl Stats {
    /// 16 bytes (count, bytes), or 24 with the stream counter once a record was written
    /// (a binary from before streams reads the first 16).
    fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.bytes.to_be_bytes());
        if self.stream_seq > 0 {
            out.extend_from_slice(&self.stream_seq.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = || Error::Corrupt(format!("table stats record of {} bytes", bytes.len()));
        let count = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        let size = bytes
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        let stream_seq = bytes
            .get(16..24)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes);
        Ok(Self {
            count: u64::from_be_bytes(count),
            bytes: u64::from_be_bytes(size),
            stream_seq,
        })
    }
}

pub fn read_stats<R: Read + ?Sized>(r: &R, table: &TableMeta) -> Result<Stats> {
    decode_stats(r.get(&stats_key(table))?.as_deref())
}

/// The stats in a value read from [`stats_key`] (none yet: an empty table).
pub fn decode_stats(value: Option<&[u8]>) -> Result<Stats> {
    value.map_or(Ok(Stats::default()), Stats::decode)
}

/// Reads the catalog record of `name`, if the table exists.
pub fn read_table<R: Read + ?Sized>(r: &R, name: &str) -> Result<Option<TableMeta>> {
    r.get(&catalog_key(name))?
        .map(|b| TableMeta::from_record(&b))
        .transpose()
}

pub fn read_item<R: Read + ?Sized>(r: &R, item_key: &[u8]) -> Result<Option<Item>> {
    decode_stored_item(r.get(item_key)?.as_deref())
}

/// The item in a value read from an item key.
pub fn decode_stored_item(value: Option<&[u8]>) -> Result<Option<Item>> {
    value
        .map(|bytes| decode_item(bytes).map_err(|e| Error::Corrupt(format!("item: {e}"))))
        .transpose()
}

/// The catalog records this service read last, by table name: the record as stored and its
/// parsed form. Only a guess, which lets an operation read a table's catalog record and the
/// keys it needs in that table together, in one [`Read::get_many`] (one round trip to a
/// network engine): [`read_with_table`] trusts the guess only when the record read in the
/// same snapshot or transaction is byte for byte the one guessed from, so a table changed,
/// deleted or created again (by this process or another) costs one more read, never a wrong
/// answer. Bounded by the number of tables.
#[derive(Debug, Default)]
pub struct CatalogCache {
    tables: RwLock<HashMap<String, Guess>>,
}

/// A catalog record as stored, and parsed.
type Guess = (Vec<u8>, Arc<TableMeta>);

/// A table and the values of the keys read with its catalog record.
pub type TableAndValues = (Arc<TableMeta>, Vec<Option<Vec<u8>>>);

impl CatalogCache {
    fn guess(&self, name: &str) -> Option<Guess> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        tables.get(name).cloned()
    }

    fn learn(&self, name: &str, record: Option<Guess>) {
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        match record {
            Some(r) => {
                tables.insert(name.to_string(), r);
            }
            None => {
                tables.remove(name);
            }
        }
    }
}

/// Reads the catalog record of table `name` and the keys `keys_of(table)` names (values in
/// the same order), from one snapshot or transaction: in one `get_many` when `cache` guessed
/// the table right, otherwise the record first and then the keys. `None` when the table does
/// not exist. An error from `keys_of` (a request that does not fit the table's schema) is
/// returned only for the table actually read.
pub fn read_with_table<R: Read + ?Sized>(
    r: &R,
    cache: &CatalogCache,
    name: &str,
    keys_of: impl Fn(&TableMeta) -> Result<Vec<Vec<u8>>>,
) -> Result<Option<TableAndValues>> {
    let catalog = catalog_key(name);
    let guessed = cache
        .guess(name)
        .and_then(|(record, meta)| Some((record, keys_of(&meta).ok()?, meta)));
    let (record, early) = match &guessed {
        Some((_, keys, _)) => {
            let mut wanted: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
            wanted.push(&catalog);
            wanted.extend(keys.iter().map(Vec::as_slice));
            let mut values = r.get_many(&wanted)?.into_iter();
            (values.next().flatten(), Some(values.collect::<Vec<_>>()))
        }
        None => (r.get(&catalog)?, None),
    };
    let Some(record) = record else {
        cache.learn(name, None);
        return Ok(None);
    };
    if let (Some((guessed_record, _, meta)), Some(values)) = (guessed, early)
        && guessed_record == record
    {
        return Ok(Some((meta, values)));
    }
    let meta = Arc::new(TableMeta::from_record(&record)?);
    cache.learn(name, Some((record, meta.clone())));
    let keys = keys_of(&meta)?;
    let wanted: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let values = r.get_many(&wanted)?;
    Ok(Some((meta, values)))
}

/// The only way an item changes: replaces `old` (what is stored now under `item_key`, as
/// read in this same transaction) with `new` (`None` deletes), and keeps the table's stats
/// and every secondary index (entries and stats) exact, and writes the change's stream
/// record when the table has a stream, in this same transaction, so they commit or fail
/// together with the item.
pub fn write_item(
    tx: &mut dyn Tx,
    table: &TableMeta,
    item_key: &[u8],
    old: Option<&Item>,
    new: Option<&Item>,
) -> Result<()> {
    if old.is_none() && new.is_none() {
        return Ok(());
    }
    let stats = read_stats(&*tx, table)?;
    write_item_with_stats(tx, table, item_key, old, new, stats)?;
    Ok(())
}

/// [`write_item`] for a caller that read the table's stats already, in this transaction.
/// Returns the stats as written (for the caller's next write to the same table).
pub fn write_item_with_stats(
    tx: &mut dyn Tx,
    table: &TableMeta,
    item_key: &[u8],
    old: Option<&Item>,
    new: Option<&Item>,
    stats: Stats,
) -> Result<Stats> {
    write_item_from(tx, table, item_key, old, new, stats, Origin::Request)
}

/// [`write_item_with_stats`] for a change made by `origin` (the TTL process deletes as a
/// service, which its stream record says).
pub fn write_item_from(
    tx: &mut dyn Tx,
    table: &TableMeta,
    item_key: &[u8],
    old: Option<&Item>,
    new: Option<&Item>,
    mut stats: Stats,
    origin: Origin,
) -> Result<Stats> {
    if old.is_none() && new.is_none() {
        return Ok(stats);
    }
    crate::streams::record_change(tx, table, &mut stats, old, new, origin)?;
    if let Some(old) = old {
        stats.count = stats.count.saturating_sub(1);
        stats.bytes = stats.bytes.saturating_sub(item_size(old) as u64);
    }
    match new {
        Some(new) => {
            stats.count += 1;
            stats.bytes += item_size(new) as u64;
            tx.put(item_key, &encode_item(new));
        }
        None => tx.delete(item_key),
    }
    tx.put(&stats_key(table), &stats.encode());
    if !table.indexes.is_empty() {
        // The index stats and the item collection size in one read (one round trip to a
        // network engine).
        let mut keys: Vec<Vec<u8>> = table
            .indexes
            .iter()
            .map(|i| index_stats_key(table, i))
            .collect();
        let collection = match (
            table.indexes.iter().any(|i| i.kind == IndexKind::Local),
            new.or(old),
        ) {
            (true, Some(any)) => Some(collection_key(table, any)?),
            _ => None,
        };
        keys.extend(collection.clone());
        let wanted: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let mut values = tx.get_many(&wanted)?;
        let collection_value = match collection {
            Some(_) => values.pop().flatten(),
            None => None,
        };
        let index_stats = values
            .into_iter()
            .map(|v| decode_stats(v.as_deref()))
            .collect::<Result<Vec<_>>>()?;
        write_entries(tx, table, old, new, index_stats)?;
        if let Some(key) = collection {
            write_collection(tx, &key, collection_value.as_deref(), table, old, new)?;
        }
    }
    Ok(stats)
}

/// Replaces `old`'s entries in every index of `table` with `new`'s, and keeps each index's
/// stats. An index being backfilled may lack `old`'s entry (the backfill has not reached
/// it): the entry is looked up before it is counted out.
fn write_entries(
    tx: &mut dyn Tx,
    table: &TableMeta,
    old: Option<&Item>,
    new: Option<&Item>,
    mut all_stats: Vec<Stats>,
) -> Result<()> {
    for (index, stats) in table.indexes.iter().zip(all_stats.iter_mut()) {
        let before = match old {
            Some(old) => index.entry(table, old).ok().flatten(),
            None => None,
        };
        let after = match new {
            Some(new) => index.entry(table, new)?,
            None => None,
        };
        if before.is_none() && after.is_none() {
            continue;
        }
        let before_key = before
            .as_ref()
            .map(|e| entry_key(table, index, e))
            .transpose()?;
        let after_key = after
            .as_ref()
            .map(|e| entry_key(table, index, e))
            .transpose()?;
        if let (Some(before), Some(key)) = (&before, &before_key) {
            let counted = !index.backfilling || tx.get(key)?.is_some();
            if counted {
                stats.count = stats.count.saturating_sub(1);
                stats.bytes = stats.bytes.saturating_sub(item_size(before) as u64);
            }
            if after_key.as_ref() != Some(key) {
                tx.delete(key);
            }
        }
        if let (Some(after), Some(key)) = (&after, &after_key) {
            stats.count += 1;
            stats.bytes += item_size(after) as u64;
            tx.put(key, &encode_item(after));
        }
        tx.put(&index_stats_key(table, index), &stats.encode());
    }
    Ok(())
}

/// How many items one backfill transaction copies into a new index.
const BACKFILL_BATCH: usize = 500;

/// Copies the items of table `table_name` into its index `index_id` (added by UpdateTable,
/// `backfilling`), in transactions of at most [`BACKFILL_BATCH`] items, then marks the index
/// active. Writes meanwhile maintain the index themselves; an entry they wrote is not
/// counted twice. Stops quietly when the table or the index is gone.
pub fn backfill_index(store: &Store, table_name: &str, index_id: &str) -> Result<()> {
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let next = store.transact(|tx| {
            let Some(mut table) = read_table(&*tx, table_name)? else {
                return Ok::<_, Error>(None);
            };
            let Some(pos) = table.indexes.iter().position(|i| i.id == index_id) else {
                return Ok(None);
            };
            if !table.indexes[pos].backfilling {
                return Ok(None);
            }
            let index = table.indexes[pos].clone();
            let mut range = items_range(&table);
            if let Some(c) = &cursor {
                range.start = std::ops::Bound::Excluded(c.clone());
            }
            let batch: Vec<(Vec<u8>, Vec<u8>)> = tx
                .scan(range, Direction::Forward)
                .take(BACKFILL_BATCH)
                .collect::<Result<_, _>>()?;
            let key = index_stats_key(&table, &index);
            let mut stats = decode_stats(tx.get(&key)?.as_deref())?;
            for (_, value) in &batch {
                let item = decode_stored_item(Some(value))?.unwrap_or_default();
                // An item written before the index existed may hold an index key of another
                // type: like DynamoDB's backfill, it is left out of the index.
                let Ok(Some(entry)) = index.entry(&table, &item) else {
                    continue;
                };
                let k = entry_key(&table, &index, &entry)?;
                if tx.get(&k)?.is_none() {
                    stats.count += 1;
                    stats.bytes += item_size(&entry) as u64;
                    tx.put(&k, &encode_item(&entry));
                }
            }
            tx.put(&key, &stats.encode());
            if batch.len() < BACKFILL_BATCH {
                table.indexes[pos].backfilling = false;
                tx.put(&catalog_key(&table.name), &table.to_record());
                return Ok(None);
            }
            Ok(batch.last().map(|(k, _)| k.clone()))
        })?;
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// Finishes the backfills of every index still `backfilling` (a crash interrupted them).
pub fn pending_backfills(store: &Store) -> Result<Vec<(String, String)>> {
    let snap = store.snapshot();
    let names: Vec<String> = list_tables(&*snap, None).collect::<Result<_>>()?;
    let mut out = Vec::new();
    for name in names {
        if let Some(table) = read_table(&*snap, &name)? {
            for index in table.indexes.iter().filter(|i| i.backfilling) {
                out.push((name.clone(), index.id.clone()));
            }
        }
    }
    Ok(out)
}

/// Marks the entries of an index removed from `table`'s catalog record for purging (the
/// caller writes the record in the same transaction); [`purge_index`] removes them.
pub fn drop_index(tx: &mut dyn Tx, table: &TableMeta, index: &IndexMeta) {
    tx.put(&purge_key(&index_purge_id(table, index)), b"");
}

fn index_purge_id(table: &TableMeta, index: &IndexMeta) -> String {
    format!("{}/x/{}", table.id, index.id)
}

/// Deletes a dropped index's entries and stats in batches (see [`purge_table`]).
pub fn purge_index(store: &Store, table: &TableMeta, index: &IndexMeta) -> Result<()> {
    purge_table(store, &index_purge_id(table, index))
}

/// `dynamodb/c/r/<table name>/<id>`.
fn retired_key(table: &TableMeta) -> Vec<u8> {
    [
        CATALOG_RETIRED,
        table.name.as_bytes(),
        b"/",
        table.id.as_bytes(),
    ]
    .concat()
}

/// The deleted tables whose streams are still readable (named `name`, or all), each with
/// the key of its record: their catalog records as they were at DeleteTable, every stream
/// disabled. Table names have no `/`, so one name's records are never another's.
pub fn retired_tables<R: Read + ?Sized>(
    r: &R,
    name: Option<&str>,
) -> Result<Vec<(Vec<u8>, TableMeta)>> {
    let prefix = match name {
        Some(n) => [CATALOG_RETIRED, n.as_bytes(), b"/"].concat(),
        None => CATALOG_RETIRED.to_vec(),
    };
    r.scan(KeyRange::prefix(&prefix), Direction::Forward)
        .map(|e| {
            let (k, v) = e?;
            Ok((k, TableMeta::from_record(&v)?))
        })
        .collect()
}

/// Removes a table from the catalog and marks its data for purging, in one transaction. A
/// table with streams leaves them readable, as DynamoDB does for 24 hours: its record moves
/// to `dynamodb/c/r/` with every stream disabled at its last record, and the purge keeps
/// the stream records (the sweep removes them with the record once past retention).
pub fn drop_table(tx: &mut dyn Tx, table: &TableMeta) -> Result<()> {
    tx.delete(&catalog_key(&table.name));
    if table.streams.is_empty() {
        tx.put(&purge_key(&table.id), b"");
        return Ok(());
    }
    let stats = read_stats(&*tx, table)?;
    let now = crate::streams::now_ms() as f64 / 1000.0;
    let mut retired = table.clone();
    for stream in &mut retired.streams {
        if stream.disabled.is_none() {
            stream.disabled = Some((now, crate::streams::last_seq(stream, stats)));
        }
    }
    tx.put(&retired_key(&retired), &retired.to_record());
    tx.put(&purge_key(&table.id), KEEP_STREAMS);
    Ok(())
}

/// Deletes everything under a dropped table's prefix in batches, then its purge marker
/// (but the stream records of a table whose streams stay readable, see [`drop_table`]).
/// `table_id` may also be `<table id>/x/<index id>`: a dropped index.
pub fn purge_table(store: &Store, table_id: &str) -> Result<()> {
    let prefix = table_prefix(table_id);
    let keep_streams = store.get(&purge_key(table_id))?.as_deref() == Some(KEEP_STREAMS);
    let ranges = if keep_streams {
        // Everything but `<prefix>s/...` ('0' follows '/').
        let streams = [prefix.as_slice(), b"s/"].concat();
        let after = [prefix.as_slice(), b"s0"].concat();
        vec![
            KeyRange {
                start: std::ops::Bound::Included(prefix.clone()),
                end: std::ops::Bound::Excluded(streams),
            },
            KeyRange {
                start: std::ops::Bound::Included(after),
                end: KeyRange::prefix(&prefix).end,
            },
        ]
    } else {
        vec![KeyRange::prefix(&prefix)]
    };
    purge_ranges(store, &ranges, || Some(purge_key(table_id)))
}

/// Deletes every key in `ranges` in batches of [`PURGE_BATCH`], then the key `last` names.
fn purge_ranges(
    store: &Store,
    ranges: &[KeyRange],
    last: impl Fn() -> Option<Vec<u8>>,
) -> Result<()> {
    for (i, range) in ranges.iter().enumerate() {
        loop {
            let done = store.transact(|tx| {
                let keys: Vec<Vec<u8>> = tx
                    .scan(range.clone(), Direction::Forward)
                    .take(PURGE_BATCH)
                    .map(|r| r.map(|(k, _)| k))
                    .collect::<Result<_, _>>()?;
                for k in &keys {
                    tx.delete(k);
                }
                if keys.len() < PURGE_BATCH {
                    if i + 1 == ranges.len()
                        && let Some(k) = last()
                    {
                        tx.delete(&k);
                    }
                    return Ok::<_, Error>(true);
                }
                Ok(false)
            })?;
            if done {
                break;
            }
        }
    }
    Ok(())
}

/// Finishes purges that a crash interrupted.
pub fn resume_purges(store: &Store) -> Result<()> {
    let ids: Vec<String> = {
        let snap = store.snapshot();
        snap.scan(KeyRange::prefix(CATALOG_PURGES), Direction::Forward)
            .map(|r| {
                r.map(|(k, _)| {
                    String::from_utf8_lossy(k.strip_prefix(CATALOG_PURGES).unwrap_or(&k))
                        .into_owned()
                })
            })
            .collect::<Result<_, _>>()?
    };
    for id in ids {
        tracing::debug!(table_id = %id, "dynamodb: resuming purge of a deleted table");
        purge_table(store, &id)?;
    }
    Ok(())
}

/// All catalog records, in table name order, starting after `after` if given.
pub fn list_tables<'a, R: Read + ?Sized>(
    r: &'a R,
    after: Option<&str>,
) -> impl Iterator<Item = Result<String>> + 'a {
    let range = match after {
        Some(name) => {
            let mut start = catalog_key(name);
            // The smallest key after `start`: exclusive start.
            start.push(0);
            KeyRange {
                start: std::ops::Bound::Included(start),
                end: KeyRange::prefix(CATALOG_TABLES).end,
            }
        }
        None => KeyRange::prefix(CATALOG_TABLES),
    };
    r.scan(range, Direction::Forward).map(|r| {
        let (k, _) = r?;
        table_name_of(&k)
            .map(str::to_owned)
            .ok_or_else(|| Error::Corrupt("catalog key is not UTF-8".into()))
    })
}
