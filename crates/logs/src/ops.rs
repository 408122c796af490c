//! The Logs operations, on JSON inputs and outputs as the wire carries them
//! (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_Operations.html>).
//!
//! GetLogEvents tokens are boundaries in a stream's event order: `f/<hex>` reads the events at
//! or after the boundary, `b/<hex>` the events before it. A page of events `e1..en` answers
//! `nextForwardToken` = just after `en` and `nextBackwardToken` = just before `e1`; a page with
//! no event answers the token it was given (in both directions, at the same boundary), so a
//! reader at the end of a stream gets its own token back, as documented. FilterLogEvents'
//! `nextToken` is such a boundary in the group's time order, present only while more events
//! may follow.

use std::collections::BTreeMap;

use nuvem_store::{Direction, KeyRange, Read, Tx};
use serde_json::{Value, json};

use crate::keys::{self, GroupRecord, StreamRecord};
use crate::pattern::Pattern;
use crate::{Error, LogsService};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// The retention values PutRetentionPolicy takes (the `Days` shape).
pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// PutLogEvents' batch limit: messages in UTF-8 plus 26 bytes per event.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// What one GetLogEvents/FilterLogEvents page holds at most.
const PAGE_BYTES: usize = 1_048_576;
/// Events FilterLogEvents examines in one call before it answers with a `nextToken`.
const FILTER_SCAN_BUDGET: usize = 100_000;

pub fn dispatch(svc: &LogsService, op: &str, input: &Value, now: i64) -> Result<Value, Error> {
    match op {
        "CreateLogGroup" => create_group(svc, input, now),
        "DeleteLogGroup" => delete_group(svc, input),
        "DescribeLogGroups" => describe_groups(svc, input),
        "CreateLogStream" => create_stream(svc, input, now),
        "DeleteLogStream" => delete_stream(svc, input),
        "DescribeLogStreams" => describe_streams(svc, input),
        "PutLogEvents" => put_events(svc, input, now),
        "GetLogEvents" => get_events(svc, input),
        "FilterLogEvents" => filter_events(svc, input),
        "PutRetentionPolicy" => put_retention(svc, input),
        "DeleteRetentionPolicy" => delete_retention(svc, input),
        "TagResource" => tag(
            svc,
            &arn_group(svc, required(input, "resourceArn")?)?,
            input,
        ),
        "TagLogGroup" => tag(svc, &group_name(input, "logGroupName")?, input),
        "UntagResource" => untag(
            svc,
            &arn_group(svc, required(input, "resourceArn")?)?,
            strings(input, "tagKeys")?,
        ),
        "UntagLogGroup" => untag(
            svc,
            &group_name(input, "logGroupName")?,
            strings(input, "tags")?,
        ),
        "ListTagsForResource" => list_tags(svc, &arn_group(svc, required(input, "resourceArn")?)?),
        "ListTagsLogGroup" => list_tags(svc, &group_name(input, "logGroupName")?),
        other => Err(Error::UnknownOperation(other.to_string())),
    }
}

// ---- input helpers ----

fn text<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, Error> {
    match &input[name] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(Error::Serialization(format!("{name} must be a string"))),
    }
}

fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, Error> {
    text(input, name)?.ok_or_else(|| {
        Error::invalid(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn integer(input: &Value, name: &str) -> Result<Option<i64>, Error> {
    match &input[name] {
        Value::Null => Ok(None),
        v => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| Error::Serialization(format!("{name} must be an integer"))),
    }
}

fn boolean(input: &Value, name: &str) -> Result<bool, Error> {
    match &input[name] {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(Error::Serialization(format!("{name} must be a boolean"))),
    }
}

fn strings(input: &Value, name: &str) -> Result<Vec<String>, Error> {
    match &input[name] {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::Serialization(format!("{name} must hold strings")))
            })
            .collect(),
        _ => Err(Error::Serialization(format!("{name} must be a list"))),
    }
}

fn limit(input: &Value, max: i64, default: usize) -> Result<usize, Error> {
    match integer(input, "limit")? {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(usize::try_from(n).unwrap_or(default)),
        Some(n) => Err(Error::invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"
        ))),
    }
}

/// A group name as the `LogGroupName` shape allows: 1 to 512 of `[.-_/#A-Za-z0-9]`.
pub fn check_group_name(name: &str, field: &str) -> Result<(), Error> {
    let ok = (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )))
    }
}

/// A stream name as the `LogStreamName` shape allows: 1 to 512 characters, no `:` or `*`
/// (nor `\0`, which the key layout uses).
pub fn check_stream_name(name: &str, field: &str) -> Result<(), Error> {
    if (1..=512).contains(&name.len()) && !name.contains([':', '*', '\0']) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
        )))
    }
}

fn group_name(input: &Value, field: &str) -> Result<String, Error> {
    let name = required(input, field)?;
    check_group_name(name, field)?;
    Ok(name.to_owned())
}

fn stream_name(input: &Value) -> Result<String, Error> {
    let name = required(input, "logStreamName")?;
    check_stream_name(name, "logStreamName")?;
    Ok(name.to_owned())
}

/// The group a `logGroupName` or `logGroupIdentifier` (a name or an ARN) names: exactly one
/// of the two.
fn group_ref(svc: &LogsService, input: &Value) -> Result<String, Error> {
    match (
        text(input, "logGroupName")?,
        text(input, "logGroupIdentifier")?,
    ) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(_), None) => group_name(input, "logGroupName"),
        (None, Some(id)) if id.starts_with("arn:") => arn_group(svc, id),
        (None, Some(_)) => group_name(input, "logGroupIdentifier"),
        (None, None) => Err(Error::invalid(
            "Should provide either name or ARN of the log group.",
        )),
    }
}

/// The group of `arn:aws:logs:<region>:<account>:log-group:<name>[:*]` in this region and
/// account.
fn arn_group(svc: &LogsService, arn: &str) -> Result<String, Error> {
    let c = svc.config();
    let prefix = format!("arn:aws:logs:{}:{}:log-group:", c.region, c.account_id);
    let name = arn
        .strip_prefix(&prefix)
        .map(|n| n.strip_suffix(":*").unwrap_or(n))
        .ok_or_else(|| Error::invalid(format!("Invalid log group ARN: {arn}")))?;
    check_group_name(name, "resourceArn")?;
    Ok(name.to_owned())
}

fn group_arn(svc: &LogsService, group: &str) -> String {
    let c = svc.config();
    format!(
        "arn:aws:logs:{}:{}:log-group:{group}",
        c.region, c.account_id
    )
}

fn no_group() -> Error {
    Error::NotFound("The specified log group does not exist.".into())
}

fn no_stream() -> Error {
    Error::NotFound("The specified log stream does not exist.".into())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Store(nuvem_store::Error::Corrupt(format!("{what}: {e}")))
}

pub fn read_group(r: &dyn Read, group: &str) -> Result<Option<GroupRecord>, Error> {
    match r.get(&keys::group(group))? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| corrupt("log group record", e)),
    }
}

fn read_stream(r: &dyn Read, group: &str, stream: &str) -> Result<Option<StreamRecord>, Error> {
    match r.get(&keys::stream(group, stream))? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| corrupt("log stream record", e)),
    }
}

fn write_json(tx: &mut dyn Tx, key: &[u8], value: &impl serde::Serialize) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| corrupt("encoding a record", e))?;
    tx.put(key, &bytes);
    Ok(())
}

fn tags_of(input: &Value, name: &str) -> Result<BTreeMap<String, String>, Error> {
    match &input[name] {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().ok_or_else(|| {
                    Error::Serialization(format!("{name} values must be strings"))
                })?;
                if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
                    return Err(Error::invalid(format!("Invalid tag: {k}={v}")));
                }
                Ok((k.clone(), v.to_owned()))
            })
            .collect(),
        _ => Err(Error::Serialization(format!("{name} must be a map"))),
    }
}

// ---- groups ----

fn create_group(svc: &LogsService, input: &Value, now: i64) -> Result<Value, Error> {
    let group = group_name(input, "logGroupName")?;
    if group.starts_with("aws/") {
        return Err(Error::invalid(
            "Log group names can't start with the string aws/",
        ));
    }
    let tags = tags_of(input, "tags")?;
    if tags.len() > 50 {
        return Err(Error::invalid("A log group can have at most 50 tags."));
    }
    svc.store().transact(|tx| {
        if read_group(tx, &group)?.is_some() {
            return Err(Error::AlreadyExists(
                "The specified log group already exists".into(),
            ));
        }
        let record = GroupRecord {
            creation_time: now,
            retention_in_days: None,
            tags: tags.clone(),
        };
        write_json(tx, &keys::group(&group), &record)
    })?;
    Ok(json!({}))
}

/// Deletes every key under `prefix` (in this transaction).
fn delete_prefix(tx: &mut dyn Tx, prefix: &[u8]) -> Result<(), Error> {
    let doomed: Vec<Vec<u8>> = tx
        .scan(KeyRange::prefix(prefix), Direction::Forward)
        .map(|r| r.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    for k in doomed {
        tx.delete(&k);
    }
    Ok(())
}

fn delete_group(svc: &LogsService, input: &Value) -> Result<Value, Error> {
    let group = group_name(input, "logGroupName")?;
    svc.store().transact(|tx| {
        if read_group(tx, &group)?.is_none() {
            return Err(no_group());
        }
        tx.delete(&keys::group(&group));
        delete_prefix(tx, &keys::streams_of(&group))?;
        delete_prefix(
            tx,
            &[b"logs/e/".as_slice(), group.as_bytes(), b"\0"].concat(),
        )?;
        delete_prefix(tx, &keys::timeline_of(&group))
    })?;
    Ok(json!({}))
}

/// Every stream record of a group, by name.
fn streams(r: &dyn Read, group: &str) -> Result<Vec<(String, StreamRecord)>, Error> {
    let prefix = keys::streams_of(group);
    r.scan(KeyRange::prefix(&prefix), Direction::Forward)
        .map(|e| {
            let (k, v) = e?;
            let name =
                String::from_utf8_lossy(k.get(prefix.len()..).unwrap_or_default()).into_owned();
            let rec: StreamRecord =
                serde_json::from_slice(&v).map_err(|e| corrupt("log stream record", e))?;
            Ok((name, rec))
        })
        .collect()
}

fn group_json(svc: &LogsService, name: &str, g: &GroupRecord, stored: u64) -> Value {
    let arn = group_arn(svc, name);
    let mut v = json!({
        "logGroupName": name,
        "creationTime": g.creation_time,
        "metricFilterCount": 0,
        "arn": format!("{arn}:*"),
        "logGroupArn": arn,
        "storedBytes": stored,
        "logGroupClass": "STANDARD",
        "deletionProtectionEnabled": false,
    });
    if let Some(days) = g.retention_in_days {
        v["retentionInDays"] = json!(days);
    }
    v
}

fn token_error() -> Error {
    Error::invalid("The specified nextToken is invalid.")
}

fn describe_groups(svc: &LogsService, input: &Value) -> Result<Value, Error> {
    let prefix = text(input, "logGroupNamePrefix")?;
    let pattern = text(input, "logGroupNamePattern")?;
    if prefix.is_some() && pattern.is_some() {
        return Err(Error::invalid(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    if let Some(p) = prefix {
        check_group_name(p, "logGroupNamePrefix")?;
    }
    let identifiers = strings(input, "logGroupIdentifiers")?;
    let limit = limit(input, 50, 50)?;
    let after = match text(input, "nextToken")? {
        None => None,
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(token_error)?,
        ),
    };
    let snap = svc.store().snapshot();
    let start = [keys::GROUPS, prefix.unwrap_or("").as_bytes()].concat();
    let mut range = KeyRange::prefix(&start);
    if let Some(a) = &after {
        range.start = std::ops::Bound::Excluded(keys::group(a));
    }
    let mut out = Vec::new();
    let mut next = None;
    for e in snap.scan(range, Direction::Forward) {
        let (k, v) = e?;
        let name =
            String::from_utf8_lossy(k.get(keys::GROUPS.len()..).unwrap_or_default()).into_owned();
        if pattern.is_some_and(|p| !name.contains(p)) {
            continue;
        }
        if !identifiers.is_empty()
            && !identifiers
                .iter()
                .any(|i| *i == name || arn_group(svc, i).is_ok_and(|g| g == name))
        {
            continue;
        }
        if out.len() == limit {
            next = out
                .last()
                .and_then(|g: &Value| g["logGroupName"].as_str())
                .map(|n| hex::encode(n.as_bytes()));
            break;
        }
        let g: GroupRecord =
            serde_json::from_slice(&v).map_err(|e| corrupt("log group record", e))?;
        let stored = streams(&*snap, &name)?
            .iter()
            .map(|(_, s)| s.stored_bytes)
            .sum();
        out.push(group_json(svc, &name, &g, stored));
    }
    let mut v = json!({ "logGroups": out });
    if let Some(n) = next {
        v["nextToken"] = json!(n);
    }
    Ok(v)
}

// ---- streams ----

fn create_stream(svc: &LogsService, input: &Value, now: i64) -> Result<Value, Error> {
    let group = group_name(input, "logGroupName")?;
    let stream = stream_name(input)?;
    svc.store().transact(|tx| {
        if read_group(tx, &group)?.is_none() {
            return Err(no_group());
        }
        if read_stream(tx, &group, &stream)?.is_some() {
            return Err(Error::AlreadyExists(
                "The specified log stream already exists".into(),
            ));
        }
        let record = StreamRecord {
            creation_time: now,
            ..Default::default()
        };
        write_json(tx, &keys::stream(&group, &stream), &record)
    })?;
    Ok(json!({}))
}

/// Deletes a stream's events from both orders (in this transaction).
fn delete_stream_events(tx: &mut dyn Tx, group: &str, stream: &str) -> Result<(), Error> {
    let prefix = keys::events_of(group, stream);
    let positions: Vec<Vec<u8>> = tx
        .scan(KeyRange::prefix(&prefix), Direction::Forward)
        .map(|r| r.map(|(k, _)| k.get(prefix.len()..).unwrap_or_default().to_vec()))
        .collect::<Result<_, _>>()?;
    let timeline = keys::timeline_of(group);
    for p in positions {
        tx.delete(&[prefix.as_slice(), &p].concat());
        tx.delete(&[timeline.as_slice(), &p].concat());
    }
    Ok(())
}

fn delete_stream(svc: &LogsService, input: &Value) -> Result<Value, Error> {
    let group = group_name(input, "logGroupName")?;
    let stream = stream_name(input)?;
    svc.store().transact(|tx| {
        if read_group(tx, &group)?.is_none() {
            return Err(no_group());
        }
        if read_stream(tx, &group, &stream)?.is_none() {
            return Err(no_stream());
        }
        tx.delete(&keys::stream(&group, &stream));
        delete_stream_events(tx, &group, &stream)
    })?;
    Ok(json!({}))
}

fn stream_json(svc: &LogsService, group: &str, name: &str, s: &StreamRecord) -> Value {
    let mut v = json!({
        "logStreamName": name,
        "creationTime": s.creation_time,
        "arn": format!("{}:log-stream:{name}", group_arn(svc, group)),
        "storedBytes": 0,
    });
    if let Some(t) = s.first_event {
        v["firstEventTimestamp"] = json!(t);
    }
    if let Some(t) = s.last_event {
        v["lastEventTimestamp"] = json!(t);
    }
    if let Some(t) = s.last_ingestion {
        v["lastIngestionTime"] = json!(t);
        v["uploadSequenceToken"] = json!(format!("{:056}", t));
    }
    v
}

fn describe_streams(svc: &LogsService, input: &Value) -> Result<Value, Error> {
    let group = group_ref(svc, input)?;
    let prefix = text(input, "logStreamNamePrefix")?;
    if let Some(p) = prefix {
        check_stream_name(p, "logStreamNamePrefix")?;
    }
    let by_time = match text(input, "orderBy")? {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(Error::invalid(format!(
                "1 validation error detected: Value '{other}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )));
        }
    };
    if by_time && prefix.is_some() {
        return Err(Error::invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let descending = boolean(input, "descending")?;
    let limit = limit(input, 50, 50)?;
    let offset = match text(input, "nextToken")? {
        None => 0,
        Some(t) => t
            .strip_prefix("o")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(token_error)?,
    };
    let snap = svc.store().snapshot();
    if read_group(&*snap, &group)?.is_none() {
        return Err(no_group());
    }
    let mut all: Vec<(String, StreamRecord)> = streams(&*snap, &group)?
        .into_iter()
        .filter(|(n, _)| prefix.is_none_or(|p| n.starts_with(p)))
        .collect();
    if by_time {
        all.sort_by(|a, b| {
            let t = |s: &StreamRecord| s.last_event.unwrap_or(s.creation_time);
            t(&a.1).cmp(&t(&b.1)).then_with(|| a.0.cmp(&b.0))
        });
    }
    if descending {
        all.reverse();
    }
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(n, s)| stream_json(svc, &group, n, s))
        .collect();
    let mut v = json!({ "logStreams": page });
    if offset + limit < all.len() {
        v["nextToken"] = json!(format!("o{}", offset + limit));
    }
    Ok(v)
}

// ---- writing events ----

/// Appends events (already validated, in order) to a stream that exists, updating its
/// record. `stream_rec` is the stream's record as read in this transaction.
pub fn append(
    tx: &mut dyn Tx,
    group: &str,
    stream: &str,
    mut stream_rec: StreamRecord,
    events: &[(i64, &str)],
    now: i64,
) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let by_stream = keys::events_of(group, stream);
    let timeline = keys::timeline_of(group);
    for (ts, message) in events {
        let p = keys::position(*ts, now);
        tx.put(&[by_stream.as_slice(), &p].concat(), message.as_bytes());
        tx.put(
            &[timeline.as_slice(), &p].concat(),
            &keys::timeline_value(stream, message.as_bytes()),
        );
        stream_rec.first_event = Some(stream_rec.first_event.map_or(*ts, |f| f.min(*ts)));
        stream_rec.last_event = Some(stream_rec.last_event.map_or(*ts, |l| l.max(*ts)));
        stream_rec.stored_bytes += message.len() as u64;
    }
    stream_rec.last_ingestion = Some(now);
    write_json(tx, &keys::stream(group, stream), &stream_rec)
}

/// Which of a batch's events (in chronological order) PutLogEvents accepts at `now`:
/// `(accepted range, rejectedLogEventsInfo)`.
pub fn triage(
    timestamps: &[i64],
    retention_days: Option<u32>,
    now: i64,
) -> (std::ops::Range<usize>, Option<Value>) {
    let too_old = timestamps.partition_point(|t| *t < now - 14 * DAY_MS);
    let expired = retention_days
        .map(|d| timestamps.partition_point(|t| *t < now - i64::from(d) * DAY_MS))
        .unwrap_or(0);
    let too_new = timestamps.partition_point(|t| *t <= now + 2 * HOUR_MS);
    let start = too_old.max(expired).min(too_new);
    let mut info = serde_json::Map::new();
    if too_old > 0 {
        info.insert("tooOldLogEventEndIndex".into(), json!(too_old));
    }
    if expired > 0 {
        info.insert("expiredLogEventEndIndex".into(), json!(expired));
    }
    if too_new < timestamps.len() {
        info.insert("tooNewLogEventStartIndex".into(), json!(too_new));
    }
    (
        start..too_new,
        (!info.is_empty()).then_some(Value::Object(info)),
    )
}

fn put_events(svc: &LogsService, input: &Value, now: i64) -> Result<Value, Error> {
    let group = group_name(input, "logGroupName")?;
    let stream = stream_name(input)?;
    let Value::Array(raw) = &input["logEvents"] else {
        return Err(Error::invalid(
            "1 validation error detected: Value null at 'logEvents' failed to satisfy constraint: Member must not be null",
        ));
    };
    if raw.is_empty() || raw.len() > MAX_BATCH_EVENTS {
        return Err(Error::invalid(format!(
            "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_EVENTS} and greater than or equal to 1 (got {})",
            raw.len()
        )));
    }
    let mut events: Vec<(i64, &str)> = Vec::with_capacity(raw.len());
    let mut size = 0usize;
    for (i, e) in raw.iter().enumerate() {
        let ts = e["timestamp"].as_i64().ok_or_else(|| {
            Error::invalid(format!(
                "1 validation error detected: Value null at 'logEvents.{}.member.timestamp' failed to satisfy constraint: Member must not be null",
                i + 1
            ))
        })?;
        let message = e["message"].as_str().filter(|m| !m.is_empty()).ok_or_else(|| {
            Error::invalid(format!(
                "1 validation error detected: Value at 'logEvents.{}.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1",
                i + 1
            ))
        })?;
        size += message.len() + 26;
        events.push((ts, message));
    }
    if size > MAX_BATCH_BYTES {
        return Err(Error::invalid(format!(
            "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if events.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(Error::invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let timestamps: Vec<i64> = events.iter().map(|e| e.0).collect();
    let rejected = svc.store().transact(|tx| {
        let g = read_group(tx, &group)?.ok_or_else(no_group)?;
        let s = read_stream(tx, &group, &stream)?.ok_or_else(no_stream)?;
        let (accepted, rejected) = triage(&timestamps, g.retention_in_days, now);
        let batch = events.get(accepted).unwrap_or_default();
        if let (Some(first), Some(last)) = (batch.first(), batch.last())
            && last.0 - first.0 > DAY_MS
        {
            return Err(Error::invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
        append(tx, &group, &stream, s, batch, now)?;
        Ok(rejected)
    })?;
    let mut v = json!({ "nextSequenceToken": format!("{:056}", now) });
    if let Some(r) = rejected {
        v["rejectedLogEventsInfo"] = r;
    }
    Ok(v)
}

/// One stream's events for [`ingest`].
pub type StreamEvents = ((String, String), Vec<(i64, String)>);

/// Writes events produced inside nuvem, creating groups and streams when missing (as
/// Lambda does with a role allowed to), every stream of `batch` in ONE transaction (the
/// writer's round: one commit however many environments printed). A stream with an
/// invalid group or stream name is skipped (`Err` for it, nothing written for it); events
/// outside PutLogEvents' window are dropped. Returns, per stream in order, how many were
/// written, or the transaction's error (then nothing was written).
pub fn ingest(
    svc: &LogsService,
    batch: &[StreamEvents],
    now: i64,
) -> Result<Vec<Result<usize, Error>>, Error> {
    let checks: Vec<Result<(), Error>> = batch
        .iter()
        .map(|((group, stream), _)| {
            check_group_name(group, "logGroupName")?;
            check_stream_name(stream, "logStreamName")
        })
        .collect();
    let written: Result<Vec<usize>, Error> = svc.store().transact(|tx| {
        let mut written = Vec::with_capacity(batch.len());
        let mut groups: std::collections::HashMap<&str, GroupRecord> = Default::default();
        for (((group, stream), events), check) in batch.iter().zip(&checks) {
            if check.is_err() {
                written.push(0);
                continue;
            }
            let g = match groups.get(group.as_str()) {
                Some(g) => g.clone(),
                None => {
                    let g = match read_group(tx, group)? {
                        Some(g) => g,
                        None => {
                            let g = GroupRecord {
                                creation_time: now,
                                ..Default::default()
                            };
                            write_json(tx, &keys::group(group), &g)?;
                            g
                        }
                    };
                    groups.insert(group, g.clone());
                    g
                }
            };
            let s = read_stream(tx, group, stream)?.unwrap_or(StreamRecord {
                creation_time: now,
                ..Default::default()
            });
            let mut sorted: Vec<(i64, &str)> =
                events.iter().map(|(t, m)| (*t, m.as_str())).collect();
            sorted.sort_by_key(|e| e.0);
            let timestamps: Vec<i64> = sorted.iter().map(|e| e.0).collect();
            let (accepted, _) = triage(&timestamps, g.retention_in_days, now);
            let kept = sorted.get(accepted).unwrap_or_default();
            append(tx, group, stream, s, kept, now)?;
            written.push(kept.len());
        }
        Ok(written)
    });
    Ok(checks
        .into_iter()
        .zip(written?)
        .map(|(c, n)| c.map(|()| n))
        .collect())
}

// ---- reading events ----

fn event_size(message: &[u8]) -> usize {
    message.len() + 26
}

fn decode_token(t: &str) -> Result<(bool, Vec<u8>), Error> {
    let (forward, hex_part) = if let Some(h) = t.strip_prefix("f/") {
        (true, h)
    } else if let Some(h) = t.strip_prefix("b/") {
        (false, h)
    } else {
        return Err(token_error());
    };
    let boundary = hex::decode(hex_part).map_err(|_| token_error())?;
    Ok((forward, boundary))
}

/// A page of GetLogEvents over one stream's events (`prefix` + position), as documented:
/// see the module's note on tokens.
pub fn get_events_page(
    r: &dyn Read,
    prefix: &[u8],
    start: Option<i64>,
    end: Option<i64>,
    token: Option<&str>,
    start_from_head: bool,
    limit: usize,
) -> Result<Value, Error> {
    let mut lower = start.map(keys::at).unwrap_or_default();
    let mut upper: Option<Vec<u8>> = end.map(keys::at);
    let (forward, given) = match token {
        Some(t) => {
            let (forward, b) = decode_token(t)?;
            if forward {
                lower = lower.max(b.clone());
            } else {
                upper = Some(upper.map_or(b.clone(), |u| u.min(b.clone())));
            }
            (forward, Some(b))
        }
        None => (start_from_head, None),
    };
    let full = |b: &[u8]| [prefix, b].concat();
    let range = KeyRange {
        start: std::ops::Bound::Included(full(&lower)),
        end: match &upper {
            Some(u) => std::ops::Bound::Excluded(full(u)),
            None => KeyRange::prefix(prefix).end,
        },
    };
    let mut events: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut bytes = 0usize;
    if upper.as_ref().is_none_or(|u| *u > lower) {
        let direction = if forward {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        for e in r.scan(range, direction) {
            let (k, v) = e?;
            bytes += event_size(&v);
            if events.len() == limit || (bytes > PAGE_BYTES && !events.is_empty()) {
                break;
            }
            events.push((k.get(prefix.len()..).unwrap_or_default().to_vec(), v));
        }
    }
    if !forward {
        events.reverse();
    }
    let (back, fwd) = match (events.first(), events.last()) {
        (Some((first, _)), Some((last, _))) => {
            let mut after = last.clone();
            after.push(0);
            (first.clone(), after)
        }
        _ => {
            let b = given.unwrap_or(lower);
            (b.clone(), b)
        }
    };
    let out: Vec<Value> = events
        .iter()
        .map(|(p, m)| {
            let (ts, ingested) = keys::times(p);
            json!({
                "timestamp": ts,
                "message": String::from_utf8_lossy(m),
                "ingestionTime": ingested,
            })
        })
        .collect();
    Ok(json!({
        "events": out,
        "nextForwardToken": format!("f/{}", hex::encode(fwd)),
        "nextBackwardToken": format!("b/{}", hex::encode(back)),
    }))
}

fn get_events(svc: &LogsService, input: &Value) -> Result<Value, Error> {
    let group = group_ref(svc, input)?;
    let stream = stream_name(input)?;
    let limit = limit(input, 10_000, 10_000)?;
    let snap = svc.store().snapshot();
    if read_group(&*snap, &group)?.is_none() {
        return Err(no_group());
    }
    if read_stream(&*snap, &group, &stream)?.is_none() {
        return Err(no_stream());
    }
    get_events_page(
        &*snap,
        &keys::events_of(&group, &stream),
        integer(input, "startTime")?,
        integer(input, "endTime")?,
        text(input, "nextToken")?,
        boolean(input, "startFromHead")?,
        limit,
    )
}

/// Which streams FilterLogEvents reads.
pub enum StreamFilter {
    All,
    Names(Vec<String>),
    Prefix(String),
}

impl StreamFilter {
    fn admits(&self, stream: &str) -> bool {
        match self {
            StreamFilter::All => true,
            StreamFilter::Names(n) => n.iter().any(|s| s == stream),
            StreamFilter::Prefix(p) => stream.starts_with(p.as_str()),
        }
    }
}

/// A page of FilterLogEvents over a group's events in time order.
#[allow(clippy::too_many_arguments)]
pub fn filter_page(
    r: &dyn Read,
    group: &str,
    streams: &StreamFilter,
    pattern: &Pattern,
    start: Option<i64>,
    end: Option<i64>,
    token: Option<&str>,
    limit: usize,
) -> Result<Value, Error> {
    let prefix = keys::timeline_of(group);
    let mut lower = start.map(keys::at).unwrap_or_default();
    if let Some(t) = token {
        lower = lower.max(hex::decode(t).map_err(|_| token_error())?);
    }
    // endTime is inclusive: events up to and including it.
    let upper = end.map(|e| keys::at(e.saturating_add(1)));
    let full = |b: &[u8]| [prefix.as_slice(), b].concat();
    let range = KeyRange {
        start: std::ops::Bound::Included(full(&lower)),
        end: match &upper {
            Some(u) => std::ops::Bound::Excluded(full(u)),
            None => KeyRange::prefix(&prefix).end,
        },
    };
    let mut out = Vec::new();
    let (mut bytes, mut seen) = (0usize, 0usize);
    let mut next = None;
    if upper.as_ref().is_none_or(|u| *u > lower) {
        for e in r.scan(range, Direction::Forward) {
            let (k, v) = e?;
            let position = k.get(prefix.len()..).unwrap_or_default();
            if out.len() == limit || bytes > PAGE_BYTES || seen == FILTER_SCAN_BUDGET {
                next = Some(hex::encode(position));
                break;
            }
            seen += 1;
            let Some((stream, message)) = keys::split_timeline_value(&v) else {
                continue;
            };
            if !streams.admits(stream) {
                continue;
            }
            let message = String::from_utf8_lossy(message);
            if !pattern.matches(&message) {
                continue;
            }
            bytes += event_size(message.as_bytes());
            let (ts, ingested) = keys::times(position);
            out.push(json!({
                "logStreamName": stream,
                "timestamp": ts,
                "message": message,
                "ingestionTime": ingested,
                "eventId": hex::encode(position),
            }));
        }
    }
    let mut v = json!({ "events": out, "searchedLogStreams": [] });
    if let Some(n) = next {
        v["nextToken"] = json!(n);
    }
    Ok(v)
}

fn filter_events(svc: &LogsService, input: &Value) -> Result<Value, Error> {
    let group = group_ref(svc, input)?;
    let names = strings(input, "logStreamNames")?;
    let prefix = text(input, "logStreamNamePrefix")?;
    let streams = match (names.is_empty(), prefix) {
        (false, Some(_)) => {
            return Err(Error::invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
            ));
        }
        (false, None) => {
            if names.len() > 100 {
                return Err(Error::invalid(
                    "1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100",
                ));
            }
            StreamFilter::Names(names)
        }
        (true, Some(p)) => StreamFilter::Prefix(p.to_owned()),
        (true, None) => StreamFilter::All,
    };
    let pattern_text = text(input, "filterPattern")?.unwrap_or("");
    if pattern_text.len() > 1024 {
        return Err(Error::invalid(
            "1 validation error detected: Value at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024",
        ));
    }
    let pattern = Pattern::parse(pattern_text)?;
    let limit = limit(input, 10_000, 10_000)?;
    let snap = svc.store().snapshot();
    if read_group(&*snap, &group)?.is_none() {
        return Err(no_group());
    }
    filter_page(
        &*snap,
        &group,
        &streams,
        &pattern,
        integer(input, "startTime")?,
        integer(input, "endTime")?,
        text(input, "nextToken")?,
        limit,
    )
}

// ---- retention and tags ----

fn put_retention(svc: &LogsService, input: &Value) -> Result<Value, Error> {
    let group = group_name(input, "logGroupName")?;
    let days = integer(input, "retentionInDays")?.ok_or_else(|| {
        Error::invalid(
            "1 validation error detected: Value null at 'retentionInDays' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let Some(days) = u32::try_from(days)
        .ok()
        .filter(|d| RETENTION_DAYS.contains(d))
    else {
        let allowed: Vec<String> = RETENTION_DAYS.iter().map(u32::to_string).collect();
        return Err(Error::invalid(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        )));
    };
    update_group(svc, &group, |g| g.retention_in_days = Some(days))
}

fn delete_retention(svc: &LogsService, input: &Value) -> Result<Value, Error> {
    let group = group_name(input, "logGroupName")?;
    update_group(svc, &group, |g| g.retention_in_days = None)
}

fn update_group(
    svc: &LogsService,
    group: &str,
    change: impl Fn(&mut GroupRecord),
) -> Result<Value, Error> {
    svc.store().transact(|tx| {
        let mut g = read_group(tx, group)?.ok_or_else(no_group)?;
        change(&mut g);
        if g.tags.len() > 50 {
            return Err(Error::invalid("A log group can have at most 50 tags."));
        }
        write_json(tx, &keys::group(group), &g)
    })?;
    Ok(json!({}))
}

fn tag(svc: &LogsService, group: &str, input: &Value) -> Result<Value, Error> {
    let tags = tags_of(input, "tags")?;
    if tags.is_empty() {
        return Err(Error::invalid(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    update_group(svc, group, |g| g.tags.extend(tags.clone()))
}

fn untag(svc: &LogsService, group: &str, keys_: Vec<String>) -> Result<Value, Error> {
    update_group(svc, group, |g| {
        for k in &keys_ {
            g.tags.remove(k);
        }
    })
}

fn list_tags(svc: &LogsService, group: &str) -> Result<Value, Error> {
    let g = read_group(&*svc.store().snapshot(), group)?.ok_or_else(no_group)?;
    Ok(json!({ "tags": g.tags }))
}

/// Deletes events past their group's retention at `now`, up to `budget` of them.
pub fn sweep(svc: &LogsService, now: i64, budget: usize) -> Result<usize, Error> {
    let groups: Vec<(String, u32)> = {
        let snap = svc.store().snapshot();
        snap.scan(KeyRange::prefix(keys::GROUPS), Direction::Forward)
            .map(|e| {
                let (k, v) = e?;
                let g: GroupRecord =
                    serde_json::from_slice(&v).map_err(|e| corrupt("log group record", e))?;
                let name = String::from_utf8_lossy(k.get(keys::GROUPS.len()..).unwrap_or_default())
                    .into_owned();
                Ok(g.retention_in_days.map(|d| (name, d)))
            })
            .filter_map(Result::transpose)
            .collect::<Result<_, Error>>()?
    };
    let mut deleted = 0;
    for (group, days) in groups {
        let cutoff = keys::at(now - i64::from(days) * DAY_MS);
        let timeline = keys::timeline_of(&group);
        while deleted < budget {
            let batch = (budget - deleted).min(500);
            let n = svc.store().transact(|tx| {
                let range =
                    KeyRange::half_open(&timeline, &[timeline.as_slice(), &cutoff].concat());
                let doomed: Vec<(Vec<u8>, Vec<u8>)> = tx
                    .scan(range, Direction::Forward)
                    .take(batch)
                    .collect::<Result<_, _>>()?;
                for (k, v) in &doomed {
                    let position = k.get(timeline.len()..).unwrap_or_default();
                    if let Some((stream, _)) = keys::split_timeline_value(v) {
                        tx.delete(&[keys::events_of(&group, stream).as_slice(), position].concat());
                    }
                    tx.delete(k);
                }
                Ok::<_, Error>(doomed.len())
            })?;
            deleted += n;
            if n < batch {
                break;
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triage_windows() {
        const NOW: i64 = 1_760_000_000_000;
        #[track_caller]
        fn check(
            ts: &[i64],
            retention: Option<u32>,
            accepted: std::ops::Range<usize>,
            info: Value,
        ) {
            let (got, rejected) = triage(ts, retention, NOW);
            assert_eq!(got, accepted, "{ts:?}");
            assert_eq!(rejected.unwrap_or(Value::Null), info, "{ts:?}");
        }
        let old = NOW - 14 * DAY_MS;
        let ahead = NOW + 2 * HOUR_MS;
        check(&[NOW], None, 0..1, Value::Null);
        // Exactly 14 days old and exactly 2 hours ahead are still accepted.
        check(&[old, ahead], None, 0..2, Value::Null);
        check(
            &[old - 1, old, ahead, ahead + 1],
            None,
            1..3,
            json!({"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 3}),
        );
        check(
            &[NOW - 2 * DAY_MS, NOW - DAY_MS + 1, NOW],
            Some(1),
            1..3,
            json!({"expiredLogEventEndIndex": 1}),
        );
        check(
            &[old - 1, NOW - 2 * DAY_MS, NOW],
            Some(1),
            2..3,
            json!({"tooOldLogEventEndIndex": 1, "expiredLogEventEndIndex": 2}),
        );
        check(
            &[ahead + 1],
            None,
            0..0,
            json!({"tooNewLogEventStartIndex": 0}),
        );
        check(&[old - 1], None, 1..1, json!({"tooOldLogEventEndIndex": 1}));
    }
}
