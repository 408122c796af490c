//! Scan (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Scan.html>):
//! every item of a table in key order, read from one snapshot per page, and parallel scan.
//!
//! A parallel scan's segment is chosen by a hash (CRC32) of the item's encoded partition key,
//! so every item is in exactly one segment and a partition never straddles two, as in
//! DynamoDB (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.ParallelScan>).
//! Must not: evaluate filters or build pages (see [`super::page`]).

use nuvem_store::Direction;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ops::Violations;
use crate::ops::page::{self, ReadParams, Source};
use crate::service::DynamoService;
use crate::storage;

/// DynamoDB's maximum `TotalSegments`.
const MAX_SEGMENTS: i64 = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScanInput {
    scan_filter: Option<Value>,
    segment: Option<i64>,
    total_segments: Option<i64>,
    #[serde(flatten)]
    read: ReadParams,
}

pub fn scan(svc: &DynamoService, input: ScanInput) -> Result<Value> {
    let mut v = Violations::default();
    let capacity = input.read.violations(&mut v);
    if let Some(s) = input.segment
        && s < 0
    {
        v.push(format!(
            "Value '{s}' at 'segment' failed to satisfy constraint: Member must have value greater than or equal to 0"
        ));
    }
    if let Some(t) = input.total_segments
        && !(1..=MAX_SEGMENTS).contains(&t)
    {
        let bound = if t < 1 {
            "greater than or equal to 1"
        } else {
            "less than or equal to 1000000"
        };
        v.push(format!(
            "Value '{t}' at 'totalSegments' failed to satisfy constraint: Member must have value {bound}"
        ));
    }
    v.finish()?;
    let segments = match (input.segment, input.total_segments) {
        (None, None) => None,
        (Some(s), Some(t)) if s < t => Some((s as u64, t as u64)),
        (Some(s), Some(t)) => {
            return Err(Error::validation(format!(
                "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
            )));
        }
        (Some(_), None) => {
            return Err(Error::validation(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::validation(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
            ));
        }
    };
    let (spec, _) = input.read.spec(
        capacity,
        ("ScanFilter", input.scan_filter.as_ref()),
        None,
        |_, _| Ok(()),
    )?;

    let name = crate::ops::table_name(input.read.table_name.as_deref().unwrap_or_default());
    let snap = svc.store().snapshot();
    let table = storage::read_table(&*snap, name)?.ok_or_else(super::no_such_table)?;
    let source = Source::resolve(&table, input.read.index_name.as_deref(), &spec)?;
    let mut range = match source.index {
        Some(index) => storage::entries_range(&table, index),
        None => storage::items_range(&table),
    };
    let in_segment = |key: &[u8]| {
        let Some((segment, total)) = segments else {
            return true;
        };
        let partition = match source.index {
            Some(index) => storage::index_partition_bytes(&table, index, key),
            None => storage::partition_bytes(&table, key),
        };
        partition.is_some_and(|pk| u64::from(crc32fast::hash(pk)) % total == segment)
    };
    if let Some(start) = &spec.exclusive_start_key {
        let start = source.start_key(start)?;
        if let (Some((segment, total)), false) = (segments, in_segment(&start)) {
            return Err(Error::validation(format!(
                "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: {total} Segment: {segment}"
            )));
        }
        range = page::after(range, start, Direction::Forward);
    }
    page::read_page(
        svc.meter(),
        &*snap,
        &source,
        range,
        Direction::Forward,
        &spec,
        in_segment,
    )
}
