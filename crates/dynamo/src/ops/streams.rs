//! The DynamoDB Streams API (`DynamoDBStreams_20120810`): ListStreams, DescribeStream,
//! GetShardIterator, GetRecords
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Operations_Amazon_DynamoDB_Streams.html>).
//!
//! A table's stream has exactly one shard, which holds every record of the stream in
//! sequence-number order (AWS splits a stream into shards by partition and time; a consumer
//! that follows shard lineage handles one shard without a parent). A shard iterator is an
//! opaque token carrying the stream, the next sequence number to read and its expiry (15
//! minutes); it is not signed, and needs not be: it names only what its holder may read
//! anyway (IAM decides on the stream ARN inside it), and a forged position is checked like
//! any other. Must not: write records (see [`crate::streams`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::{StreamMeta, TableMeta};
use crate::error::{Error, Result};
use crate::ops::Violations;
use crate::service::DynamoService;
use crate::storage;
use crate::streams::{self, parse_sequence_number, sequence_number};

/// How long a shard iterator may be used (GetShardIterator's documented 15 minutes).
pub const ITERATOR_TTL_MS: u64 = 15 * 60 * 1000;

/// GetRecords returns at most 1000 records or 1 MB.
const MAX_RECORDS: i64 = 1000;
const MAX_RECORD_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsInput {
    table_name: Option<String>,
    limit: Option<i64>,
    exclusive_start_stream_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamInput {
    stream_arn: Option<String>,
    limit: Option<i64>,
    exclusive_start_shard_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorInput {
    stream_arn: Option<String>,
    shard_id: Option<String>,
    shard_iterator_type: Option<String>,
    sequence_number: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRecordsInput {
    shard_iterator: Option<String>,
    limit: Option<i64>,
}

/// The table name and stream label in a stream ARN
/// (`arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>`).
pub fn parse_stream_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (_, path) = rest.split_once(":table/")?;
    let (table, label) = path.split_once("/stream/")?;
    (!table.is_empty() && !label.is_empty()).then_some((table, label))
}

/// The stream ARN inside a shard iterator, for IAM: `None` when it is not one of ours.
pub fn iterator_stream_arn(iterator: &str) -> Option<String> {
    ShardIterator::decode(iterator).map(|i| i.arn)
}

fn stream_not_found(arn: &str) -> Error {
    Error::ResourceNotFound(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

/// The id of a stream's one shard: `shardId-<creation ms, 20 digits>-<8 hex digits>`, the
/// shape of AWS's shard ids.
fn shard_id(table: &TableMeta, stream: &StreamMeta) -> String {
    let ms = (stream.created * 1000.0).round() as u64;
    let hex: String = table.id.chars().filter(|c| *c != '-').take(8).collect();
    format!("shardId-{ms:020}-{hex}")
}

fn length_violation(v: &mut Violations, value: &str, field: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min {
        v.push(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        ));
    } else if n > max {
        v.push(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        ));
    }
}

fn limit_violation(v: &mut Violations, limit: Option<i64>, max: i64) {
    match limit {
        Some(n) if n < 1 => v.push(format!(
            "Value '{n}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )),
        Some(n) if n > max => v.push(format!(
            "Value '{n}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to {max}"
        )),
        _ => {}
    }
}

/// A stream found by its ARN, with its table, the table's stats and the trim point.
struct Found {
    table: TableMeta,
    stream: StreamMeta,
    /// The last sequence number of the stream so far.
    last: u64,
    trimmed: u64,
}

impl Found {
    /// The first sequence number a reader can still read.
    fn horizon(&self) -> u64 {
        self.stream.first_seq.max(self.trimmed + 1)
    }
}

/// The stream `arn` names, which must be exactly its ARN in this region and account (IAM
/// decided on that ARN).
fn find_stream<R: nuvem_store::Read + ?Sized>(
    svc: &DynamoService,
    r: &R,
    arn: &str,
) -> Result<Found> {
    let (table_name, label) = parse_stream_arn(arn).ok_or_else(|| stream_not_found(arn))?;
    let c = svc.config();
    let with_stream = |table: TableMeta| -> Option<(TableMeta, StreamMeta)> {
        if table.stream_arn(label, &c.region, &c.account_id) != arn {
            return None;
        }
        let stream = table.streams.iter().find(|s| s.label == label)?.clone();
        Some((table, stream))
    };
    // The table's own streams, or those of a deleted table of that name, readable for 24
    // hours after DeleteTable.
    let live = storage::read_table(r, table_name)?.and_then(with_stream);
    let (table, stream) = match live {
        Some(found) => found,
        None => storage::retired_tables(r, Some(table_name))?
            .into_iter()
            .find_map(|(_, t)| with_stream(t))
            .ok_or_else(|| stream_not_found(arn))?,
    };
    let stats = storage::read_stats(r, &table)?;
    let last = streams::last_seq(&stream, stats);
    let trimmed = streams::trimmed_through(r, &table, label)?;
    Ok(Found {
        table,
        stream,
        last,
        trimmed,
    })
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_ListStreams.html
pub fn list_streams(svc: &DynamoService, input: ListStreamsInput) -> Result<Value> {
    let mut v = Violations::default();
    if let Some(name) = &input.table_name {
        crate::catalog::table_name_violations(name, "tableName", v.messages_mut());
    }
    limit_violation(&mut v, input.limit, 100);
    if let Some(arn) = &input.exclusive_start_stream_arn {
        length_violation(&mut v, arn, "exclusiveStartStreamArn", 37, 1024);
    }
    v.finish()?;
    let limit = input.limit.unwrap_or(100) as usize;
    let c = svc.config();
    let snap = svc.store().snapshot();
    // Tables, then deleted tables whose streams are still readable.
    let mut tables: Vec<TableMeta> = match &input.table_name {
        Some(name) => storage::read_table(&*snap, name)?.into_iter().collect(),
        None => {
            let names: Vec<String> = storage::list_tables(&*snap, None).collect::<Result<_>>()?;
            let mut out = Vec::new();
            for name in names {
                out.extend(storage::read_table(&*snap, &name)?);
            }
            out
        }
    };
    let retired = storage::retired_tables(&*snap, input.table_name.as_deref())?;
    if let Some(name) = &input.table_name
        && tables.is_empty()
        && retired.is_empty()
    {
        return Err(Error::ResourceNotFound(format!(
            "Requested resource not found: Table: {name} not found"
        )));
    }
    tables.extend(retired.into_iter().map(|(_, t)| t));
    let mut all: Vec<Value> = Vec::new();
    for table in &tables {
        for stream in &table.streams {
            all.push(json!({
                "StreamArn": table.stream_arn(&stream.label, &c.region, &c.account_id),
                "StreamLabel": stream.label,
                "TableName": table.name,
            }));
        }
    }
    let start = match &input.exclusive_start_stream_arn {
        Some(arn) => all
            .iter()
            .position(|s| s["StreamArn"] == json!(arn))
            .map_or(0, |i| i + 1),
        None => 0,
    };
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let mut out = json!({"Streams": page});
    if start + limit < all.len()
        && let Some(last) = page.last()
    {
        out["LastEvaluatedStreamArn"] = last["StreamArn"].clone();
    }
    Ok(out)
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_DescribeStream.html
pub fn describe_stream(svc: &DynamoService, input: DescribeStreamInput) -> Result<Value> {
    let mut v = Violations::default();
    v.require(&input.stream_arn, "streamArn");
    if let Some(arn) = &input.stream_arn {
        length_violation(&mut v, arn, "streamArn", 37, 1024);
    }
    limit_violation(&mut v, input.limit, 100);
    if let Some(id) = &input.exclusive_start_shard_id {
        length_violation(&mut v, id, "exclusiveStartShardId", 28, 65);
    }
    v.finish()?;
    let arn = input.stream_arn.unwrap_or_default();
    let found = {
        let snap = svc.store().snapshot();
        find_stream(svc, &*snap, &arn)?
    };
    let Found { table, stream, .. } = &found;
    let shard = shard_id(table, stream);
    let mut range = json!({"StartingSequenceNumber": sequence_number(found.horizon())});
    if !stream.is_enabled() {
        range["EndingSequenceNumber"] = json!(sequence_number(found.last.max(found.horizon())));
    }
    let shards = if input.exclusive_start_shard_id.as_deref() == Some(shard.as_str()) {
        json!([])
    } else {
        json!([{"ShardId": shard, "SequenceNumberRange": range}])
    };
    let key_schema: Vec<Value> = table
        .key_attrs()
        .zip(["HASH", "RANGE"])
        .map(|(k, t)| json!({"AttributeName": k.name, "KeyType": t}))
        .collect();
    Ok(json!({"StreamDescription": {
        "StreamArn": arn,
        "StreamLabel": stream.label,
        "StreamStatus": if stream.is_enabled() { "ENABLED" } else { "DISABLED" },
        "StreamViewType": stream.view_type.as_str(),
        "CreationRequestDateTime": stream.created,
        "TableName": table.name,
        "KeySchema": key_schema,
        "Shards": shards,
    }}))
}

/// What a shard iterator says: which stream (and which incarnation of its table), the next
/// sequence number to read, and until when it may be used.
struct ShardIterator {
    arn: String,
    table_id: String,
    next: u64,
    expires_ms: u64,
}

impl ShardIterator {
    fn encode(&self) -> String {
        B64.encode(format!(
            "1|{}|{}|{}|{}",
            self.expires_ms, self.next, self.table_id, self.arn
        ))
    }

    fn decode(token: &str) -> Option<Self> {
        let bytes = B64.decode(token).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(5, '|');
        if parts.next()? != "1" {
            return None;
        }
        let expires_ms = parts.next()?.parse().ok()?;
        let next = parts.next()?.parse().ok()?;
        let table_id = parts.next()?.to_owned();
        let arn = parts.next()?.to_owned();
        Some(Self {
            arn,
            table_id,
            next,
            expires_ms,
        })
    }
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html
pub fn get_shard_iterator(svc: &DynamoService, input: GetShardIteratorInput) -> Result<Value> {
    let mut v = Violations::default();
    v.require(&input.stream_arn, "streamArn");
    v.require(&input.shard_id, "shardId");
    v.require(&input.shard_iterator_type, "shardIteratorType");
    if let Some(arn) = &input.stream_arn {
        length_violation(&mut v, arn, "streamArn", 37, 1024);
    }
    if let Some(id) = &input.shard_id {
        length_violation(&mut v, id, "shardId", 28, 65);
    }
    let kind = input.shard_iterator_type.as_deref().unwrap_or_default();
    if input.shard_iterator_type.is_some()
        && !matches!(
            kind,
            "TRIM_HORIZON" | "LATEST" | "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER"
        )
    {
        v.enum_value(
            kind,
            "shardIteratorType",
            "[TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER]",
        );
    }
    if let Some(seq) = &input.sequence_number {
        length_violation(&mut v, seq, "sequenceNumber", 21, 40);
    }
    v.finish()?;
    let arn = input.stream_arn.unwrap_or_default();
    let found = {
        let snap = svc.store().snapshot();
        find_stream(svc, &*snap, &arn)?
    };
    if input.shard_id.as_deref() != Some(shard_id(&found.table, &found.stream).as_str()) {
        return Err(Error::ResourceNotFound(format!(
            "Requested resource not found: Shard does not exist: {}",
            input.shard_id.unwrap_or_default()
        )));
    }
    let at = |after: bool| -> Result<u64> {
        let Some(text) = input.sequence_number.as_deref() else {
            return Err(Error::validation(format!(
                "SequenceNumber is required for ShardIteratorType {kind}"
            )));
        };
        let seq = parse_sequence_number(text)
            .filter(|s| *s >= found.stream.first_seq && *s <= found.last)
            .ok_or_else(|| {
                Error::validation(format!(
                    "Invalid SequenceNumber {text} for shard {}",
                    input.shard_id.as_deref().unwrap_or_default()
                ))
            })?;
        if seq <= found.trimmed {
            return Err(Error::TrimmedDataAccess(format!(
                "The sequence number {text} is before the trim horizon of the shard; its record was removed after 24 hours"
            )));
        }
        Ok(if after { seq + 1 } else { seq })
    };
    let next = match kind {
        "TRIM_HORIZON" => found.horizon(),
        "LATEST" => found.last + 1,
        "AT_SEQUENCE_NUMBER" => at(false)?,
        _ => at(true)?,
    };
    let iterator = ShardIterator {
        arn,
        table_id: found.table.id.clone(),
        next,
        expires_ms: streams::now_ms() + ITERATOR_TTL_MS,
    };
    Ok(json!({"ShardIterator": iterator.encode()}))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html
pub fn get_records(svc: &DynamoService, input: GetRecordsInput) -> Result<Value> {
    get_records_at(svc, input, streams::now_ms())
}

/// [`get_records`] as if the time were `now_ms` (iterator expiry).
pub fn get_records_at(svc: &DynamoService, input: GetRecordsInput, now_ms: u64) -> Result<Value> {
    let mut v = Violations::default();
    v.require(&input.shard_iterator, "shardIterator");
    if let Some(it) = &input.shard_iterator {
        length_violation(&mut v, it, "shardIterator", 1, 2048);
    }
    limit_violation(&mut v, input.limit, MAX_RECORDS);
    v.finish()?;
    let token = input.shard_iterator.unwrap_or_default();
    let iterator =
        ShardIterator::decode(&token).ok_or_else(|| Error::validation("Invalid ShardIterator"))?;
    if now_ms > iterator.expires_ms {
        return Err(Error::ExpiredIterator(
            "Iterator expired. The iterator was created more than 15 minutes ago".into(),
        ));
    }
    let limit = input.limit.unwrap_or(MAX_RECORDS) as usize;
    let snap = svc.store().snapshot();
    let found = find_stream(svc, &*snap, &iterator.arn)?;
    if found.table.id != iterator.table_id {
        return Err(stream_not_found(&iterator.arn));
    }
    if iterator.next <= found.trimmed {
        return Err(Error::TrimmedDataAccess(
            "The iterator points before the trim horizon of the shard: its records were removed after 24 hours".into(),
        ));
    }
    let records = streams::read_records(
        &*snap,
        &found.table,
        &found.stream.label,
        iterator.next,
        limit,
        MAX_RECORD_BYTES,
    )?;
    let next = records.last().map_or(iterator.next, |(seq, _)| seq + 1);
    let region = &svc.config().region;
    let rendered: Vec<Value> = records
        .iter()
        .map(|(seq, record)| record.render(*seq, region))
        .collect();
    let mut out = json!({"Records": rendered});
    // A disabled stream's shard is closed: once read to its end, there is no next iterator.
    let closed = !found.stream.is_enabled() && next > found.last;
    if !closed {
        let next = ShardIterator {
            next,
            expires_ms: now_ms + ITERATOR_TTL_MS,
            ..iterator
        };
        out["NextShardIterator"] = json!(next.encode());
    }
    Ok(out)
}

/// Why [`read_after`] could not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The position is before the shard's trim horizon.
    #[error("the position is before the trim horizon")]
    Trimmed,
    #[error(transparent)]
    Other(#[from] Error),
}

/// For in-process consumers: the id of stream `arn`'s shard.
pub fn shard_of(svc: &DynamoService, arn: &str) -> Result<String> {
    let snap = svc.store().snapshot();
    let found = find_stream(svc, &*snap, arn)?;
    Ok(shard_id(&found.table, &found.stream))
}

/// For in-process consumers (the binary's event source mappings): the sequence number of
/// the last record of stream `arn`, if it has any.
pub fn latest_sequence_number(svc: &DynamoService, arn: &str) -> Result<Option<String>> {
    let snap = svc.store().snapshot();
    let found = find_stream(svc, &*snap, arn)?;
    Ok((found.last >= found.stream.first_seq).then(|| sequence_number(found.last)))
}

/// For in-process consumers: up to `limit` records of stream `arn` after sequence number
/// `after` (from the trim horizon when `None`), rendered as GetRecords renders them. Like a
/// GetShardIterator and a GetRecords, in one snapshot.
pub fn read_after(
    svc: &DynamoService,
    arn: &str,
    after: Option<&str>,
    limit: usize,
) -> std::result::Result<Vec<Value>, ReadError> {
    let snap = svc.store().snapshot();
    let found = find_stream(svc, &*snap, arn)?;
    let from = match after {
        None => found.horizon(),
        Some(text) => {
            let seq = parse_sequence_number(text)
                .ok_or_else(|| Error::validation(format!("Invalid SequenceNumber {text}")))?;
            if seq < found.trimmed {
                return Err(ReadError::Trimmed);
            }
            seq + 1
        }
    };
    let records = streams::read_records(
        &*snap,
        &found.table,
        &found.stream.label,
        from,
        limit,
        u64::MAX,
    )?;
    let region = &svc.config().region;
    Ok(records
        .iter()
        .map(|(seq, record)| record.render(*seq, region))
        .collect())
}
