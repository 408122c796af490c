//! How log groups, streams and events sit in the store. Every key starts with `logs/`:
//!
//! - `logs/g/<group>`: the group's record (JSON [`GroupRecord`]).
//! - `logs/s/<group>\0<stream>`: a stream's record (JSON [`StreamRecord`]).
//! - `logs/e/<group>\0<stream>\0<position>`: an event, by stream (GetLogEvents is one range
//!   scan of its stream); value: the message.
//! - `logs/t/<group>\0<position>`: the same event, by group (FilterLogEvents reads a group's
//!   streams interleaved in time with one range scan); value: stream name length (u16 BE),
//!   stream name, message.
//!
//! A *position* is 24 bytes: the event's timestamp (u64 BE, negative clamped to 0), its
//! ingestion time (u64 BE ms) and a number unique to this process (a random u32 then a
//! counter), so events order by time, then by arrival, and never collide. Group names have
//! no `\0` (their pattern forbids it) and stream names are refused with one.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

pub const POSITION_LEN: usize = 24;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupRecord {
    pub creation_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<u32>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamRecord {
    pub creation_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ingestion: Option<i64>,
    /// Bytes of messages accepted (not lowered by the retention sweep).
    #[serde(default)]
    pub stored_bytes: u64,
}

pub fn group(name: &str) -> Vec<u8> {
    [b"logs/g/".as_slice(), name.as_bytes()].concat()
}

pub const GROUPS: &[u8] = b"logs/g/";

pub fn streams_of(group: &str) -> Vec<u8> {
    [b"logs/s/".as_slice(), group.as_bytes(), b"\0"].concat()
}

pub fn stream(group: &str, stream: &str) -> Vec<u8> {
    [streams_of(group).as_slice(), stream.as_bytes()].concat()
}

/// The prefix of a stream's events.
pub fn events_of(group: &str, stream: &str) -> Vec<u8> {
    [
        b"logs/e/".as_slice(),
        group.as_bytes(),
        b"\0",
        stream.as_bytes(),
        b"\0",
    ]
    .concat()
}

/// The prefix of a group's events in time order.
pub fn timeline_of(group: &str) -> Vec<u8> {
    [b"logs/t/".as_slice(), group.as_bytes(), b"\0"].concat()
}

/// The start of timestamp `ts` in position order: every position of an event at `ts` or
/// later compares greater or equal.
pub fn at(ts: i64) -> Vec<u8> {
    (ts.max(0) as u64).to_be_bytes().to_vec()
}

/// A new position for an event at `ts` ingested at `ingested` (ms).
pub fn position(ts: i64, ingested: i64) -> [u8; POSITION_LEN] {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static NODE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let node = *NODE.get_or_init(|| (uuid::Uuid::new_v4().as_u128() & 0xFFFF_FFFF) as u32);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut p = [0u8; POSITION_LEN];
    p[..8].copy_from_slice(&(ts.max(0) as u64).to_be_bytes());
    p[8..16].copy_from_slice(&(ingested.max(0) as u64).to_be_bytes());
    p[16..20].copy_from_slice(&node.to_be_bytes());
    p[20..].copy_from_slice(&n.to_be_bytes());
    p
}

/// The timestamp and ingestion time a position holds.
pub fn times(position: &[u8]) -> (i64, i64) {
    let word = |r: std::ops::Range<usize>| {
        position
            .get(r)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(|b| i64::try_from(u64::from_be_bytes(b)).unwrap_or(i64::MAX))
            .unwrap_or(0)
    };
    (word(0..8), word(8..16))
}

/// The value of a `logs/t/` entry.
pub fn timeline_value(stream: &str, message: &[u8]) -> Vec<u8> {
    let len = u16::try_from(stream.len()).unwrap_or(u16::MAX);
    let mut v = Vec::with_capacity(2 + stream.len() + message.len());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(
        stream
            .as_bytes()
            .get(..usize::from(len))
            .unwrap_or_default(),
    );
    v.extend_from_slice(message);
    v
}

/// (stream, message) of a `logs/t/` entry's value.
pub fn split_timeline_value(v: &[u8]) -> Option<(&str, &[u8])> {
    let len = usize::from(u16::from_be_bytes(v.get(..2)?.try_into().ok()?));
    let stream = std::str::from_utf8(v.get(2..2 + len)?).ok()?;
    Some((stream, v.get(2 + len..)?))
}
