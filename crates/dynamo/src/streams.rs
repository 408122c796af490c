//! Stream records in the store: how a change becomes a record, where records live, how they
//! are read back in order, and how they are trimmed after 24 hours.
//!
//! Layout (under the table's prefix, see [`crate::storage`]):
//!
//! ```text
//! dynamodb/t/<id>/s/<label>/r/<seq: u64 BE>   one record (JSON, see Record)
//! dynamodb/t/<id>/s/<label>/h                 trimmed through: the last sequence number
//!                                             removed by retention (u64 BE)
//! ```
//!
//! A record is written by [`record_change`], which [`crate::storage::write_item`] calls in the
//! transaction of the item write, so a record exists if and only if its write committed.
//! Sequence numbers come from the table's stream counter (in its stats record, which every
//! write reads and writes anyway): they increase in commit order with no gaps between the
//! records of one stream, so a reader that has read up to `n` has seen every change
//! committed before `n + 1` was. One table stream is one shard.
//!
//! Must not: parse requests or render the Streams API (see [`crate::ops::streams`]).

use std::time::{SystemTime, UNIX_EPOCH};

use nuvem_store::{Direction, KeyRange, Read, Store, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::{StreamMeta, StreamViewType, TableMeta};
use crate::error::{Error, Result};
use crate::storage::{ROOT, Stats};
use crate::value::{Item, item_size, item_to_json};

/// How long records stay readable: DynamoDB Streams keeps them 24 hours
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html>).
pub const RETENTION_MS: u64 = 24 * 60 * 60 * 1000;

/// How many records one trim transaction removes.
const TRIM_BATCH: usize = 1000;

/// Sequence numbers are shown as 21-digit decimal strings, like AWS's (which are 21 to 40
/// digits): the counter plus 10^20, so that their string order is their numeric order.
const SEQ_BASE: u128 = 100_000_000_000_000_000_000;

/// Who made a change: a request, or the Time to Live process (a "service" deletion in the
/// stream, with `userIdentity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Request,
    Ttl,
}

/// One stream record as stored. Images are kept per the stream's view type at write time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// `eventID`.
    pub id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event: String,
    /// Milliseconds since the epoch.
    pub at_ms: u64,
    pub keys: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    pub size: u64,
    pub view: StreamViewType,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ttl: bool,
}

impl Record {
    /// The record as GetRecords returns it
    /// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Record.html>).
    pub fn render(&self, seq: u64, region: &str) -> Value {
        let mut dynamodb = json!({
            // Whole seconds: AWS rounds this time down too.
            "ApproximateCreationDateTime": self.at_ms / 1000,
            "Keys": self.keys,
            "SequenceNumber": sequence_number(seq),
            "SizeBytes": self.size,
            "StreamViewType": self.view.as_str(),
        });
        if let Some(new) = &self.new {
            dynamodb["NewImage"] = new.clone();
        }
        if let Some(old) = &self.old {
            dynamodb["OldImage"] = old.clone();
        }
        let mut out = json!({
            "eventID": self.id,
            "eventName": self.event,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": region,
            "dynamodb": dynamodb,
        });
        // The Streams API's member names (its `Identity` shape); Lambda's event for the same
        // record spells them `type` and `principalId`.
        if self.ttl {
            out["userIdentity"] =
                json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"});
        }
        out
    }
}

/// The wire form of sequence number `seq`.
pub fn sequence_number(seq: u64) -> String {
    (SEQ_BASE + u128::from(seq)).to_string()
}

/// The counter value of a wire sequence number, if it is one of ours.
pub fn parse_sequence_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u128 = s.parse().ok()?;
    u64::try_from(n.checked_sub(SEQ_BASE)?).ok()
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `dynamodb/t/<id>/s/<label>/`.
fn stream_prefix(table_id: &str, label: &str) -> Vec<u8> {
    [
        ROOT,
        b"t/",
        table_id.as_bytes(),
        b"/s/",
        label.as_bytes(),
        b"/",
    ]
    .concat()
}

fn record_key(table_id: &str, label: &str, seq: u64) -> Vec<u8> {
    let mut k = stream_prefix(table_id, label);
    k.extend_from_slice(b"r/");
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn records_prefix(table_id: &str, label: &str) -> Vec<u8> {
    let mut k = stream_prefix(table_id, label);
    k.extend_from_slice(b"r/");
    k
}

fn trimmed_key(table_id: &str, label: &str) -> Vec<u8> {
    let mut k = stream_prefix(table_id, label);
    k.push(b'h');
    k
}

/// Writes the stream record of a change of one item (`old` → `new`) in `tx`, when `table`
/// has an enabled stream, advancing the counter in `stats` (which the caller writes). A
/// change that leaves the item as it was writes no record, as DynamoDB does.
pub fn record_change(
    tx: &mut dyn Tx,
    table: &TableMeta,
    stats: &mut Stats,
    old: Option<&Item>,
    new: Option<&Item>,
    origin: Origin,
) -> Result<()> {
    let Some(stream) = table.live_stream() else {
        return Ok(());
    };
    let event = match (old, new) {
        (None, None) => return Ok(()),
        (Some(o), Some(n)) if o == n => return Ok(()),
        (None, Some(_)) => "INSERT",
        (Some(_), Some(_)) => "MODIFY",
        (Some(_), None) => "REMOVE",
    };
    let Some(any) = new.or(old) else {
        return Ok(());
    };
    let keys = table.key_of(any);
    let view = stream.view_type;
    let new = new.filter(|_| view.new_image());
    let old = old.filter(|_| view.old_image());
    let size = item_size(&keys) + new.map_or(0, item_size) + old.map_or(0, item_size);
    let record = Record {
        id: uuid::Uuid::new_v4().simple().to_string(),
        event: event.to_owned(),
        at_ms: now_ms(),
        keys: item_to_json(&keys),
        new: new.map(item_to_json),
        old: old.map(item_to_json),
        size: size as u64,
        view,
        ttl: origin == Origin::Ttl,
    };
    stats.stream_seq = stats.stream_seq.max(stream.first_seq.saturating_sub(1)) + 1;
    let bytes = serde_json::to_vec(&record).map_err(|e| Error::Corrupt(e.to_string()))?;
    tx.put(
        &record_key(&table.id, &stream.label, stats.stream_seq),
        &bytes,
    );
    Ok(())
}

/// The sequence number through which `stream`'s records were trimmed (0: none yet).
pub fn trimmed_through<R: Read + ?Sized>(r: &R, table: &TableMeta, label: &str) -> Result<u64> {
    Ok(r.get(&trimmed_key(&table.id, label))?
        .and_then(|b| b.as_slice().try_into().ok())
        .map_or(0, u64::from_be_bytes))
}

/// Up to `limit` records of a stream from sequence number `from` on, in order, stopping
/// once `max_bytes` of records were read (at least one record is returned).
pub fn read_records<R: Read + ?Sized>(
    r: &R,
    table: &TableMeta,
    label: &str,
    from: u64,
    limit: usize,
    max_bytes: u64,
) -> Result<Vec<(u64, Record)>> {
    let prefix = records_prefix(&table.id, label);
    let mut range = KeyRange::prefix(&prefix);
    range.start = std::ops::Bound::Included(record_key(&table.id, label, from));
    let mut out = Vec::new();
    let mut bytes = 0u64;
    for entry in r.scan(range, Direction::Forward) {
        let (k, v) = entry?;
        let seq = k
            .get(prefix.len()..)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| Error::Corrupt("stream record key".into()))?;
        let record: Record = serde_json::from_slice(&v)
            .map_err(|e| Error::Corrupt(format!("stream record: {e}")))?;
        bytes += record.size;
        out.push((seq, record));
        if out.len() >= limit || bytes >= max_bytes {
            break;
        }
    }
    Ok(out)
}

/// The sequence number of a stream's first record still kept, if it has any.
pub fn first_kept<R: Read + ?Sized>(r: &R, table: &TableMeta, label: &str) -> Result<Option<u64>> {
    Ok(read_records(r, table, label, 0, 1, u64::MAX)?
        .first()
        .map(|(seq, _)| *seq))
}

/// The sequence number of the last record of a stream: the table's counter while the
/// stream is enabled, its last number once disabled.
pub fn last_seq(stream: &StreamMeta, stats: Stats) -> u64 {
    match stream.disabled {
        Some((_, last)) => last,
        None => stats.stream_seq.max(stream.first_seq.saturating_sub(1)),
    }
}

/// Removes the records of `table`'s streams that are older than [`RETENTION_MS`] at
/// `now_ms`, in transactions of at most [`TRIM_BATCH`], and forgets disabled streams with
/// nothing left to read. Returns how many records were removed.
pub fn trim(store: &Store, table_name: &str, now_ms: u64) -> Result<usize> {
    trim_record(
        store,
        &crate::storage::catalog_key(table_name),
        false,
        now_ms,
    )
}

/// [`trim`] for a deleted table whose streams are still readable (its record under `key`,
/// see [`crate::storage::drop_table`]): once every stream is past retention, the record
/// goes with the last of them.
pub fn trim_retired(store: &Store, key: &[u8], now_ms: u64) -> Result<usize> {
    trim_record(store, key, true, now_ms)
}

fn trim_record(store: &Store, key: &[u8], retired: bool, now_ms: u64) -> Result<usize> {
    let cutoff = now_ms.saturating_sub(RETENTION_MS);
    let mut removed = 0;
    loop {
        let (n, more) = store.transact(|tx| {
            let Some(table) = tx
                .get(key)?
                .map(|b| TableMeta::from_record(&b))
                .transpose()?
            else {
                return Ok::<_, Error>((0, false));
            };
            let mut n = 0;
            for stream in &table.streams {
                let prefix = records_prefix(&table.id, &stream.label);
                let old: Vec<(Vec<u8>, u64)> = tx
                    .scan(KeyRange::prefix(&prefix), Direction::Forward)
                    .take(TRIM_BATCH - n)
                    .map(|e| {
                        let (k, v) = e?;
                        let at = serde_json::from_slice::<Record>(&v).map_or(0, |r| r.at_ms);
                        Ok::<_, Error>((k, at))
                    })
                    .take_while(|e| e.as_ref().map_or(true, |(_, at)| *at < cutoff))
                    .collect::<Result<_>>()?;
                let Some((last, _)) = old.last() else {
                    continue;
                };
                let through = last
                    .get(prefix.len()..)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_be_bytes);
                for (k, _) in &old {
                    tx.delete(k);
                }
                tx.put(
                    &trimmed_key(&table.id, &stream.label),
                    &through.to_be_bytes(),
                );
                n += old.len();
                if n >= TRIM_BATCH {
                    return Ok((n, true));
                }
            }
            // A disabled stream past retention whose records are all gone is forgotten
            // (ListStreams no longer shows it), as DynamoDB drops it after 24 hours.
            let cutoff_secs = cutoff as f64 / 1000.0;
            let mut kept = Vec::new();
            let mut dropped = Vec::new();
            for (i, stream) in table.streams.iter().enumerate() {
                // The latest stream of a table stays: DescribeTable keeps naming it.
                let gone = (retired || i + 1 < table.streams.len())
                    && matches!(stream.disabled, Some((at, _)) if at < cutoff_secs)
                    && tx
                        .scan(
                            KeyRange::prefix(&records_prefix(&table.id, &stream.label)),
                            Direction::Forward,
                        )
                        .next()
                        .is_none();
                if gone {
                    dropped.push(stream.label.clone());
                } else {
                    kept.push(stream.clone());
                }
            }
            if !dropped.is_empty() {
                for label in &dropped {
                    tx.delete(&trimmed_key(&table.id, label));
                }
                let mut table = table.clone();
                table.streams = kept;
                if retired && table.streams.is_empty() {
                    // A deleted table's last stream gone: nothing of the table is left.
                    tx.delete(key);
                } else {
                    tx.put(key, &table.to_record());
                }
            }
            Ok((n, false))
        })?;
        removed += n;
        if !more {
            return Ok(removed);
        }
    }
}
