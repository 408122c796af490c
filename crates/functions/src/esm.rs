//! Event source mappings for DynamoDB streams: the control plane
//! (Create/Get/List/Update/DeleteEventSourceMapping,
//! <https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html>) and the
//! poller that reads a table's stream and invokes the function with batches of records, in
//! stream order, as Lambda does (<https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>).
//!
//! The stream is reached through [`StreamSource`], which the binary implements over the
//! DynamoDB service: this crate never depends on another service crate.
//!
//! Store layout: `lambda/esm/m/<uuid>` the mapping (JSON), `lambda/esm/p/<uuid>` its
//! position (the last sequence number handled, and the last processing result),
//! `lambda/esm/f/<uuid>/<first sequence number>` a batch given up on (the function failed
//! it past `MaximumRetryAttempts`): nuvem's stand-in for an on-failure destination.
//!
//! Delivery: one poller per mapping, on the node holding its lease (`lambda-esm/<uuid>`).
//! Records are read after the stored position, filtered by `FilterCriteria` (records that
//! match no filter are skipped), batched up to `BatchSize` (waiting up to
//! `MaximumBatchingWindowInSeconds` for a full batch) and the function invoked synchronously.
//! A failed batch is retried (`MaximumRetryAttempts`, -1: until the mapping is disabled or
//! deleted), bisected first when `BisectBatchOnFunctionError` is set; the position moves
//! past a batch only once it was delivered or given up on, so delivery is at least once and
//! in order. Must not: read the stream's storage itself.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::invoker::{InvocationType, InvokeRequest};
use crate::service::Inner;

const MAPPINGS: &[u8] = b"lambda/esm/m/";
const POSITIONS: &[u8] = b"lambda/esm/p/";
const FAILURES: &[u8] = b"lambda/esm/f/";

/// How often an idle poller looks at its stream, and the supervisor for new mappings.
const POLL: Duration = Duration::from_millis(200);

/// A table's stream, as the poller and the control plane need it.
pub trait StreamSource: Send + Sync {
    /// Whether `arn` names an existing stream.
    fn exists(&self, arn: &str) -> std::result::Result<bool, String>;
    /// The sequence number of the stream's last record, if it has any (LATEST).
    fn latest(&self, arn: &str) -> std::result::Result<Option<String>, String>;
    /// Up to `limit` records after sequence number `after` (from the oldest kept record when
    /// `None`), in the shape GetRecords returns them.
    fn read(
        &self,
        arn: &str,
        after: Option<&str>,
        limit: usize,
    ) -> std::result::Result<Vec<Value>, StreamReadError>;
    /// Whether the execution role `role_arn` may read the stream `arn` (DescribeStream,
    /// GetShardIterator, GetRecords, ListStreams), as Lambda checks when a mapping is made.
    fn role_may_read(&self, role_arn: &str, arn: &str) -> std::result::Result<RoleAccess, String>;
    /// The id of the stream's shard (nuvem's streams have one), for on-failure records.
    fn shard_id(&self, arn: &str) -> std::result::Result<String, String>;
}

/// The S3 buckets an on-failure destination writes to, as the binary wires them in (this
/// crate never depends on the S3 service).
pub trait FailureBucket: Send + Sync {
    /// Whether bucket `bucket` exists.
    fn exists(&self, bucket: &str) -> std::result::Result<bool, String>;
    /// Whether the execution role `role_arn` may `s3:PutObject` the object `key` of `bucket`,
    /// as Lambda checks when a mapping names the bucket.
    fn role_may_put(
        &self,
        role_arn: &str,
        bucket: &str,
        key: &str,
    ) -> std::result::Result<RoleAccess, String>;
    /// Writes object `key` of `bucket` (JSON).
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> nuvem_aws::BoxFuture<'static, std::result::Result<(), String>>;
}

/// What [`StreamSource::role_may_read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleAccess {
    Allowed,
    Denied,
    /// No such role (a placeholder ARN): allowed only for a function whose role may fall
    /// back to the configured keys (one the root made).
    NoSuchRole,
}

/// Why reading a stream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamReadError {
    /// The position is before the stream's trim horizon (its records were removed).
    #[error("the position is before the stream's trim horizon")]
    Trimmed,
    #[error("{0}")]
    Other(String),
}

/// One mapping as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mapping {
    pub uuid: String,
    pub function_arn: String,
    pub event_source_arn: String,
    pub batch_size: u32,
    pub batching_window_secs: u32,
    pub starting_position: String,
    pub maximum_retry_attempts: i64,
    pub bisect: bool,
    /// `FilterCriteria.Filters[].Pattern`, as given (JSON text).
    pub filters: Vec<String>,
    pub enabled: bool,
    pub last_modified: f64,
    /// `FunctionResponseTypes: ["ReportBatchItemFailures"]`.
    #[serde(default)]
    pub report_item_failures: bool,
    /// `MaximumRecordAgeInSeconds` (-1: no limit).
    #[serde(default = "no_limit")]
    pub maximum_record_age: i64,
    /// `ParallelizationFactor`: batches of one shard in flight at once (1 to 10).
    #[serde(default = "one")]
    pub parallelization: u32,
    /// `DestinationConfig.OnFailure.Destination`: an S3 bucket ARN.
    #[serde(default)]
    pub on_failure: Option<String>,
}

fn no_limit() -> i64 {
    -1
}

fn one() -> u32 {
    1
}

/// Where a mapping's poller stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Position {
    /// The last sequence number handled; `None`: start at the oldest kept record.
    after: Option<String>,
    /// `LastProcessingResult`.
    result: String,
}

fn mapping_key(uuid: &str) -> Vec<u8> {
    [MAPPINGS, uuid.as_bytes()].concat()
}

fn position_key(uuid: &str) -> Vec<u8> {
    [POSITIONS, uuid.as_bytes()].concat()
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidParameter(msg.into())
}

fn not_found() -> Error {
    Error::NotFound("The resource you requested does not exist.".into())
}

impl Mapping {
    /// The `EventSourceMappingConfiguration` Lambda returns.
    fn describe(&self, state: &str, position: &Position) -> Value {
        let mut out = json!({
            "UUID": self.uuid,
            "StartingPosition": self.starting_position,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching_window_secs,
            "ParallelizationFactor": self.parallelization,
            "EventSourceArn": self.event_source_arn,
            "FunctionArn": self.function_arn,
            "LastModified": self.last_modified,
            "LastProcessingResult": if position.result.is_empty() { "No records processed" } else { position.result.as_str() },
            "State": state,
            "StateTransitionReason": "User action",
            "DestinationConfig": {"OnFailure": match &self.on_failure {
                Some(arn) => json!({"Destination": arn}),
                None => json!({}),
            }},
            "MaximumRecordAgeInSeconds": self.maximum_record_age,
            "BisectBatchOnFunctionError": self.bisect,
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "TumblingWindowInSeconds": 0,
            "FunctionResponseTypes": if self.report_item_failures { json!(["ReportBatchItemFailures"]) } else { json!([]) },
        });
        if !self.filters.is_empty() {
            let filters: Vec<Value> = self.filters.iter().map(|p| json!({"Pattern": p})).collect();
            out["FilterCriteria"] = json!({"Filters": filters});
        }
        out
    }

    fn state(&self) -> &'static str {
        if self.enabled { "Enabled" } else { "Disabled" }
    }
}

/// The members Create and Update take.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingInput {
    function_name: Option<String>,
    event_source_arn: Option<String>,
    batch_size: Option<i64>,
    maximum_batching_window_in_seconds: Option<i64>,
    starting_position: Option<String>,
    maximum_retry_attempts: Option<i64>,
    bisect_batch_on_function_error: Option<bool>,
    filter_criteria: Option<FilterCriteria>,
    enabled: Option<bool>,
    maximum_record_age_in_seconds: Option<i64>,
    parallelization_factor: Option<i64>,
    function_response_types: Option<Vec<String>>,
    destination_config: Option<DestinationConfig>,
    tumbling_window_in_seconds: Option<i64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationConfig {
    on_failure: Option<DestinationInput>,
    on_success: Option<DestinationInput>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationInput {
    destination: Option<String>,
}

/// The bucket of an S3 bucket ARN (`arn:aws:s3:::<bucket>`).
fn bucket_of(arn: &str) -> Option<&str> {
    let bucket = arn.strip_prefix("arn:aws:s3:::")?;
    (!bucket.is_empty() && !bucket.contains('/')).then_some(bucket)
}

/// Checks an on-failure destination: nuvem has S3 buckets, not SQS queues or SNS topics.
fn check_destination(arn: &str) -> Result<()> {
    if bucket_of(arn).is_some() {
        return Ok(());
    }
    let service = arn.split(':').nth(2).unwrap_or_default();
    if service == "sqs" || service == "sns" {
        return Err(invalid(format!(
            "Unsupported on-failure destination {arn}: nuvem has no Amazon {} {}. The supported OnFailure destination for a DynamoDB stream is an Amazon S3 bucket (arn:aws:s3:::<bucket>).",
            service.to_uppercase(),
            if service == "sqs" { "queues" } else { "topics" }
        )));
    }
    Err(invalid(format!(
        "The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination={arn})) is invalid. The supported OnFailure destination for a DynamoDB stream is an Amazon S3 bucket (arn:aws:s3:::<bucket>)."
    )))
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterCriteria {
    #[serde(default)]
    filters: Vec<FilterInput>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterInput {
    pattern: Option<String>,
}

impl MappingInput {
    /// Applies the optional members to `m`, checking each as Lambda does.
    fn apply(&self, m: &mut Mapping) -> Result<()> {
        if let Some(n) = self.batch_size {
            if !(1..=10_000).contains(&n) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{n}' at 'batchSize' failed to satisfy constraint: Member must have value between 1 and 10000"
                )));
            }
            m.batch_size = n as u32;
        }
        if let Some(n) = self.maximum_batching_window_in_seconds {
            if !(0..=300).contains(&n) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{n}' at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must have value less than or equal to 300"
                )));
            }
            m.batching_window_secs = n as u32;
        }
        if let Some(n) = self.maximum_retry_attempts {
            if !(-1..=10_000).contains(&n) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{n}' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value between -1 and 10000"
                )));
            }
            m.maximum_retry_attempts = n;
        }
        if let Some(b) = self.bisect_batch_on_function_error {
            m.bisect = b;
        }
        if let Some(n) = self.maximum_record_age_in_seconds {
            if !(-1..=604_800).contains(&n) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{n}' at 'maximumRecordAgeInSeconds' failed to satisfy constraint: Member must have value {}",
                    if n < -1 {
                        "greater than or equal to -1"
                    } else {
                        "less than or equal to 604800"
                    }
                )));
            }
            if (0..60).contains(&n) {
                return Err(invalid(format!(
                    "MaximumRecordAgeInSeconds must be -1 (no limit) or between 60 and 604800, not {n}."
                )));
            }
            m.maximum_record_age = n;
        }
        if let Some(n) = self.parallelization_factor {
            if !(1..=10).contains(&n) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{n}' at 'parallelizationFactor' failed to satisfy constraint: Member must have value {}",
                    if n < 1 {
                        "greater than or equal to 1"
                    } else {
                        "less than or equal to 10"
                    }
                )));
            }
            m.parallelization = n as u32;
        }
        if let Some(types) = &self.function_response_types {
            if let Some(bad) = types.iter().find(|t| *t != "ReportBatchItemFailures") {
                return Err(invalid(format!(
                    "1 validation error detected: Value '[{bad}]' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]"
                )));
            }
            m.report_item_failures = !types.is_empty();
        }
        if let Some(n) = self.tumbling_window_in_seconds {
            if !(0..=900).contains(&n) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{n}' at 'tumblingWindowInSeconds' failed to satisfy constraint: Member must have value {}",
                    if n < 0 {
                        "greater than or equal to 0"
                    } else {
                        "less than or equal to 900"
                    }
                )));
            }
            if n > 0 {
                return Err(invalid(
                    "TumblingWindowInSeconds is not supported by nuvem: its event source mappings do not aggregate state across invocations (0 turns windows off).",
                ));
            }
        }
        if let Some(config) = &self.destination_config {
            if config
                .on_success
                .as_ref()
                .is_some_and(|d| d.destination.as_deref().is_some_and(|a| !a.is_empty()))
            {
                return Err(invalid(
                    "Unsupported DestinationConfig parameter for given event source mapping type: OnSuccess destinations are not supported for DynamoDB streams.",
                ));
            }
            m.on_failure = match config
                .on_failure
                .as_ref()
                .and_then(|d| d.destination.clone())
            {
                Some(arn) if !arn.is_empty() => {
                    check_destination(&arn)?;
                    Some(arn)
                }
                _ => None,
            };
        }
        if let Some(criteria) = &self.filter_criteria {
            let mut filters = Vec::new();
            for f in &criteria.filters {
                let pattern = f.pattern.clone().unwrap_or_default();
                match serde_json::from_str::<Value>(&pattern) {
                    Ok(Value::Object(_)) => filters.push(pattern),
                    _ => return Err(invalid("Invalid filter pattern definition.")),
                }
            }
            if filters.len() > 5 {
                return Err(invalid(
                    "The number of filters exceeds the limit of 5 for this event source.",
                ));
            }
            m.filters = filters;
        }
        if let Some(e) = self.enabled {
            m.enabled = e;
        }
        Ok(())
    }
}

/// Whether `arn` has the shape of a DynamoDB stream ARN.
fn is_stream_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:dynamodb:") && arn.contains(":table/") && arn.contains("/stream/")
}

fn source(inner: &Inner) -> Result<Arc<dyn StreamSource>> {
    inner
        .stream_source()
        .ok_or_else(|| invalid("DynamoDB streams are not available to this functions service"))
}

/// Lambda writes to an on-failure destination with the function's execution role: a bucket
/// destination must exist and the role must be allowed `s3:PutObject` on the objects the
/// mapping writes (`aws/lambda/<uuid>/...`).
fn check_role_may_put(
    inner: &Inner,
    record: &crate::model::FunctionRecord,
    destination: &str,
    uuid: &str,
) -> Result<()> {
    let Some(bucket) = bucket_of(destination) else {
        return check_destination(destination);
    };
    let buckets = inner.failure_bucket().ok_or_else(|| {
        invalid("S3 on-failure destinations are not available to this functions service")
    })?;
    if !buckets.exists(bucket).map_err(invalid)? {
        return Err(invalid(format!(
            "The destination bucket {bucket} of {destination} does not exist."
        )));
    }
    let key = format!("aws/lambda/{uuid}/");
    let allowed = match buckets
        .role_may_put(&record.role, bucket, &key)
        .map_err(invalid)?
    {
        RoleAccess::Allowed => true,
        RoleAccess::NoSuchRole => record.keys_fallback,
        RoleAccess::Denied => false,
    };
    if !allowed {
        return Err(invalid(format!(
            "The provided execution role does not have permissions to call PutObject on {destination}. Please ensure the role {} can perform s3:PutObject on arn:aws:s3:::{bucket}/{key}*.",
            record.role
        )));
    }
    Ok(())
}

fn read_mapping(inner: &Inner, uuid: &str) -> Result<Option<Mapping>> {
    inner
        .store
        .get(&mapping_key(uuid))?
        .map(|b| serde_json::from_slice(&b).map_err(|e| Error::Corrupt(e.to_string())))
        .transpose()
}

fn read_position(inner: &Inner, uuid: &str) -> Result<Position> {
    Ok(inner
        .store
        .get(&position_key(uuid))?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

fn all_mappings(inner: &Inner) -> Result<Vec<Mapping>> {
    let snap = inner.store.snapshot();
    snap.scan(
        nuvem_store::KeyRange::prefix(MAPPINGS),
        nuvem_store::Direction::Forward,
    )
    .map(|e| {
        let (_, v) = e?;
        serde_json::from_slice(&v).map_err(|e| Error::Corrupt(e.to_string()))
    })
    .collect()
}

fn json_bytes(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// CreateEventSourceMapping (202, State `Creating`).
pub fn create(inner: &Inner, input: Value) -> Result<(u16, Value)> {
    let input: MappingInput = serde_json::from_value(input)
        .map_err(|e| Error::InvalidRequestContent(format!("Could not parse request body: {e}")))?;
    let function = input
        .function_name
        .clone()
        .ok_or_else(|| invalid("FunctionName is required"))?;
    let record = crate::control::lookup(inner, &function, None)?;
    let arn = input
        .event_source_arn
        .clone()
        .ok_or_else(|| invalid("EventSourceArn is required"))?;
    if !is_stream_arn(&arn) {
        return Err(invalid(format!(
            "Unrecognized event source, must be a DynamoDB stream ARN: {arn}"
        )));
    }
    let streams = source(inner)?;
    if !streams.exists(&arn).map_err(invalid)? {
        return Err(invalid(format!(
            "Stream not found: {arn}. Please ensure the stream exists and is enabled."
        )));
    }
    // Lambda reads the stream with the function's execution role.
    let may_read = match streams.role_may_read(&record.role, &arn).map_err(invalid)? {
        RoleAccess::Allowed => true,
        RoleAccess::NoSuchRole => record.keys_fallback,
        RoleAccess::Denied => false,
    };
    if !may_read {
        return Err(invalid(format!(
            "Cannot access stream {arn}. Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM."
        )));
    }
    let start = input.starting_position.clone().ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null")
    })?;
    if start != "TRIM_HORIZON" && start != "LATEST" {
        return Err(invalid(format!(
            "Unsupported starting position for DynamoDB streams: {start} (TRIM_HORIZON or LATEST)"
        )));
    }
    // A version or alias ARN stays qualified: the mapping invokes that version or alias.
    let function_arn = crate::control::qualified_arn(inner, &function)?;
    let mut m = Mapping {
        uuid: uuid::Uuid::new_v4().to_string(),
        function_arn,
        event_source_arn: arn.clone(),
        batch_size: 100,
        batching_window_secs: 0,
        starting_position: start.clone(),
        maximum_retry_attempts: -1,
        bisect: false,
        filters: Vec::new(),
        enabled: true,
        last_modified: now_secs(),
        report_item_failures: false,
        maximum_record_age: -1,
        parallelization: 1,
        on_failure: None,
    };
    input.apply(&mut m)?;
    if let Some(dest) = &m.on_failure {
        check_role_may_put(inner, &record, dest, &m.uuid)?;
    }
    // LATEST is where the stream stands now: what is written after this call is delivered.
    let position = Position {
        after: if start == "LATEST" {
            streams.latest(&arn).map_err(invalid)?
        } else {
            None
        },
        result: String::new(),
    };
    inner.store.transact(|tx| {
        let snap_existing: Vec<(Vec<u8>, Vec<u8>)> = tx
            .scan(
                nuvem_store::KeyRange::prefix(MAPPINGS),
                nuvem_store::Direction::Forward,
            )
            .collect::<std::result::Result<_, _>>()?;
        for (_, v) in snap_existing {
            if let Ok(other) = serde_json::from_slice::<Mapping>(&v)
                && other.event_source_arn == m.event_source_arn
                && other.function_arn == m.function_arn
            {
                return Err(Error::Conflict(format!(
                    "An event source mapping with DynamoDB stream arn: \" {} \" and function: \" {} \" already exists. Please update or delete the existing mapping with UUID {}",
                    m.event_source_arn, record.name, other.uuid
                )));
            }
        }
        tx.put(&mapping_key(&m.uuid), &json_bytes(&m));
        tx.put(&position_key(&m.uuid), &json_bytes(&position));
        Ok(())
    })?;
    Ok((202, m.describe("Creating", &position)))
}

/// GetEventSourceMapping.
pub fn get(inner: &Inner, uuid: &str) -> Result<(u16, Value)> {
    let m = read_mapping(inner, uuid)?.ok_or_else(not_found)?;
    let position = read_position(inner, uuid)?;
    Ok((200, m.describe(m.state(), &position)))
}

/// ListEventSourceMappings, by function and/or stream, in pages.
pub fn list(
    inner: &Inner,
    function: Option<&str>,
    source_arn: Option<&str>,
    marker: Option<&str>,
    max_items: Option<&str>,
) -> Result<(u16, Value)> {
    let max: usize = match max_items {
        None => 100,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => return Err(invalid(format!("Invalid MaxItems: {s}"))),
        },
    };
    let function_arn = function
        .map(|f| crate::control::qualified_arn(inner, f))
        .transpose()?;
    let mut all = all_mappings(inner)?;
    all.retain(|m| {
        function_arn.as_ref().is_none_or(|f| &m.function_arn == f)
            && source_arn.is_none_or(|s| m.event_source_arn == s)
    });
    let start = match marker {
        Some(mk) => all.iter().position(|m| m.uuid == mk).map_or(0, |i| i + 1),
        None => 0,
    };
    let mut page = Vec::new();
    for m in all.iter().skip(start).take(max) {
        page.push(m.describe(m.state(), &read_position(inner, &m.uuid)?));
    }
    let mut out = json!({"EventSourceMappings": page});
    if start + max < all.len()
        && let Some(last) = all.get(start + max - 1)
    {
        out["NextMarker"] = json!(last.uuid);
    }
    Ok((200, out))
}

/// UpdateEventSourceMapping (202, State `Updating`).
pub fn update(inner: &Inner, uuid: &str, input: Value) -> Result<(u16, Value)> {
    let input: MappingInput = serde_json::from_value(input)
        .map_err(|e| Error::InvalidRequestContent(format!("Could not parse request body: {e}")))?;
    if input.starting_position.is_some() || input.event_source_arn.is_some() {
        return Err(invalid(
            "StartingPosition and EventSourceArn cannot be changed; create a new mapping",
        ));
    }
    let function = input
        .function_name
        .clone()
        .map(|f| {
            let record = crate::control::lookup(inner, &f, None)?;
            Ok::<_, Error>((record, crate::control::qualified_arn(inner, &f)?))
        })
        .transpose()?;
    // A new on-failure bucket must be writable by the role of the function the mapping
    // will invoke.
    let new_destination = input
        .destination_config
        .as_ref()
        .and_then(|c| c.on_failure.as_ref())
        .and_then(|d| d.destination.clone())
        .filter(|d| !d.is_empty());
    if let Some(dest) = &new_destination {
        check_destination(dest)?;
        let record = match &function {
            Some((r, _)) => r.clone(),
            None => {
                let m = read_mapping(inner, uuid)?.ok_or_else(not_found)?;
                crate::control::lookup(inner, &m.function_arn, None)?
            }
        };
        check_role_may_put(inner, &record, dest, uuid)?;
    }
    let m = inner.store.transact(|tx| {
        let mut m: Mapping = match tx.get(&mapping_key(uuid))? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| Error::Corrupt(e.to_string()))?,
            None => return Err(not_found()),
        };
        if let Some((_, arn)) = &function {
            m.function_arn = arn.clone();
        }
        input.apply(&mut m)?;
        m.last_modified = now_secs();
        tx.put(&mapping_key(uuid), &json_bytes(&m));
        Ok(m)
    })?;
    let position = read_position(inner, uuid)?;
    Ok((202, m.describe("Updating", &position)))
}

/// DeleteEventSourceMapping (202, State `Deleting`): the mapping and its position go at
/// once; a batch in flight finishes, and its position is not written.
pub fn delete(inner: &Inner, uuid: &str) -> Result<(u16, Value)> {
    let (m, position) = inner.store.transact(|tx| {
        let m: Mapping = match tx.get(&mapping_key(uuid))? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| Error::Corrupt(e.to_string()))?,
            None => return Err(not_found()),
        };
        let position: Position = tx
            .get(&position_key(uuid))?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        tx.delete(&mapping_key(uuid));
        tx.delete(&position_key(uuid));
        Ok((m, position))
    })?;
    Ok((202, m.describe("Deleting", &position)))
}

/// A stream record as Lambda delivers it in `Records`: the GetRecords record with
/// `eventSourceARN`, and `userIdentity` spelled `type`/`principalId`
/// (<https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>).
pub fn lambda_record(record: &Value, stream_arn: &str) -> Value {
    let mut out = record.clone();
    out["eventSourceARN"] = json!(stream_arn);
    if let Some(identity) = record.get("userIdentity") {
        out["userIdentity"] = json!({
            "type": identity.get("Type").cloned().unwrap_or(Value::Null),
            "principalId": identity.get("PrincipalId").cloned().unwrap_or(Value::Null),
        });
    }
    out
}

/// Whether `record` matches any of the `patterns` (Lambda's event filter syntax; no
/// patterns: every record matches).
pub fn matches_filters(patterns: &[String], record: &Value) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| {
            serde_json::from_str::<Value>(p).is_ok_and(|pattern| matches_pattern(&pattern, record))
        })
}

/// One pattern: every field it names matches (objects nest, arrays list the accepted
/// values or matchers: exact values, `prefix`, `suffix`, `equals-ignore-case`,
/// `anything-but`, `numeric`, `exists`).
fn matches_pattern(pattern: &Value, value: &Value) -> bool {
    let Value::Object(fields) = pattern else {
        return false;
    };
    fields.iter().all(|(name, expected)| {
        let actual = value.get(name);
        match expected {
            Value::Object(_) => actual.is_some_and(|a| matches_pattern(expected, a)),
            Value::Array(matchers) => matchers.iter().any(|m| matches_leaf(m, actual)),
            _ => false,
        }
    })
}

fn matches_leaf(matcher: &Value, actual: Option<&Value>) -> bool {
    // A field holding an array matches when one of its elements does.
    if let Some(Value::Array(items)) = actual
        && !matches!(matcher, Value::Object(m) if m.contains_key("exists"))
    {
        return items.iter().any(|i| matches_leaf(matcher, Some(i)));
    }
    match matcher {
        Value::Object(m) => {
            let Some((op, arg)) = m.iter().next() else {
                return false;
            };
            match (op.as_str(), actual) {
                ("exists", _) => arg.as_bool() == Some(actual.is_some()),
                (_, None) => false,
                ("prefix", Some(Value::String(s))) => {
                    arg.as_str().is_some_and(|p| s.starts_with(p))
                }
                ("suffix", Some(Value::String(s))) => arg.as_str().is_some_and(|p| s.ends_with(p)),
                ("equals-ignore-case", Some(Value::String(s))) => {
                    arg.as_str().is_some_and(|p| s.eq_ignore_ascii_case(p))
                }
                ("anything-but", Some(a)) => match arg {
                    Value::Array(list) => !list.contains(a),
                    Value::Object(inner) => match inner.get("prefix").and_then(Value::as_str) {
                        Some(p) => !a.as_str().is_some_and(|s| s.starts_with(p)),
                        None => false,
                    },
                    other => other != a,
                },
                ("numeric", Some(a)) => {
                    let Some(n) = a.as_f64() else {
                        return false;
                    };
                    let Some(ops) = arg.as_array() else {
                        return false;
                    };
                    ops.chunks(2).all(|pair| {
                        let (Some(op), Some(bound)) = (
                            pair.first().and_then(Value::as_str),
                            pair.get(1).and_then(Value::as_f64),
                        ) else {
                            return false;
                        };
                        match op {
                            "=" => n == bound,
                            "<" => n < bound,
                            "<=" => n <= bound,
                            ">" => n > bound,
                            ">=" => n >= bound,
                            _ => false,
                        }
                    })
                }
                _ => false,
            }
        }
        exact => actual == Some(exact),
    }
}

/// Starts the supervisor that runs one poller per enabled mapping, for as long as the
/// service lives.
pub(crate) fn start(inner: &Arc<Inner>) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(supervise(Arc::downgrade(inner)));
    }
}

async fn supervise(weak: Weak<Inner>) {
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        tokio::time::sleep(POLL).await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let reader = inner.clone();
        let mappings = match inner.store.run(move || all_mappings(&reader)).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "lambda: could not read the event source mappings");
                continue;
            }
        };
        running.retain(|_, task| !task.is_finished());
        for m in mappings.into_iter().filter(|m| m.enabled) {
            if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(m.uuid) {
                let task = tokio::spawn(poll_mapping(Arc::downgrade(&inner), slot.key().clone()));
                slot.insert(task);
            }
        }
    }
}

/// How long a poller's lease lasts; it is renewed after a third of that.
const LEASE_TTL: Duration = Duration::from_secs(10);

/// One mapping's poller: runs until the mapping is deleted or disabled.
async fn poll_mapping(weak: Weak<Inner>, uuid: String) {
    use nuvem_store::cluster::{Lease, node_id};
    let mut renew_at = std::time::Instant::now();
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let (i2, u2) = (inner.clone(), uuid.clone());
        let renew = std::time::Instant::now() >= renew_at;
        let current = inner
            .store
            .run(move || -> Result<Option<(Mapping, Position, bool)>> {
                let Some(m) = read_mapping(&i2, &u2)?.filter(|m| m.enabled) else {
                    return Ok(None);
                };
                let ours = !renew
                    || Lease::try_acquire(
                        &i2.store,
                        &format!("lambda-esm/{u2}"),
                        node_id(),
                        LEASE_TTL,
                    )?;
                Ok(Some((m, read_position(&i2, &u2)?, ours)))
            })
            .await;
        if renew && matches!(current, Ok(Some((_, _, true)))) {
            renew_at = std::time::Instant::now() + LEASE_TTL / 3;
        }
        let (m, position) = match current {
            Ok(None) => return,
            Ok(Some((m, p, true))) => (m, p),
            Ok(Some((_, _, false))) => {
                drop(inner);
                tokio::time::sleep(POLL * 5).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(%uuid, error = %e, "lambda: event source mapping poller could not read its state");
                drop(inner);
                tokio::time::sleep(POLL * 5).await;
                continue;
            }
        };
        let worked = poll_once(&inner, &m, position).await;
        drop(inner);
        if !worked {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Reads one batch after `position` and delivers it. Returns whether there was one.
async fn poll_once(inner: &Arc<Inner>, m: &Mapping, position: Position) -> bool {
    let Some(streams) = inner.stream_source() else {
        return false;
    };
    // With a ParallelizationFactor, one read feeds every lane a batch.
    let limit = (m.batch_size as usize * m.parallelization.max(1) as usize).min(10_000);
    let (arn, after) = (m.event_source_arn.clone(), position.after.clone());
    let s2 = streams.clone();
    let read = inner
        .store
        .run(move || s2.read(&arn, after.as_deref(), limit))
        .await;
    let records = match read {
        Ok(r) => r,
        Err(StreamReadError::Trimmed) => {
            tracing::warn!(uuid = %m.uuid, "lambda: records of the stream were trimmed before they were delivered; going on from the oldest kept");
            let arn = m.event_source_arn.clone();
            match inner
                .store
                .run(move || streams.read(&arn, None, limit))
                .await
            {
                Ok(r) => r,
                Err(_) => return false,
            }
        }
        Err(StreamReadError::Other(e)) => {
            tracing::debug!(uuid = %m.uuid, error = %e, "lambda: could not read the stream");
            return false;
        }
    };
    let Some(last) = records.last() else {
        return false;
    };
    let last_seq = sequence_of(last).to_owned();
    // A batching window: wait for a full batch, or until the oldest record is that old.
    if m.batching_window_secs > 0 && records.len() < m.batch_size as usize {
        let oldest = records[0]["dynamodb"]["ApproximateCreationDateTime"]
            .as_f64()
            .unwrap_or(0.0);
        if now_secs() - oldest < f64::from(m.batching_window_secs) {
            return false;
        }
    }
    let batch: Vec<Value> = records
        .iter()
        .map(|r| lambda_record(r, &m.event_source_arn))
        .filter(|r| matches_filters(&m.filters, r))
        .collect();
    let result = if batch.is_empty() {
        Some("OK".to_owned())
    } else if m.parallelization <= 1 {
        // One lane: a partial batch failure checkpoints before the failed record at once.
        let mut delivered = Vec::new();
        for chunk in batch.chunks(m.batch_size as usize) {
            match deliver(inner, m, chunk.to_vec(), true).await {
                Some(r) => delivered.push(r),
                None => {
                    delivered.clear();
                    break;
                }
            }
        }
        combine(delivered)
    } else {
        deliver_lanes(inner, m, batch).await
    };
    // None: the mapping went away or was disabled meanwhile; its position stays.
    let Some(result) = result else {
        return false;
    };
    if let Err(e) = save_position(inner, &m.uuid, &last_seq, Some(&result)).await {
        tracing::warn!(uuid = %m.uuid, error = %e, "lambda: could not save the mapping's position");
    }
    true
}

/// The processing result of several batches: the first problem, or OK. `None` when there
/// were none (the mapping went away).
fn combine(results: Vec<String>) -> Option<String> {
    let first = results.first()?.clone();
    Some(results.into_iter().find(|r| r != "OK").unwrap_or(first))
}

/// `ParallelizationFactor` above 1: the records are dealt to lanes by partition key (all the
/// records of one item in one lane, in stream order), and the lanes are delivered at once,
/// each in batches of up to `BatchSize`. The position moves once every lane is done, so a
/// lane's partial batch failure does not checkpoint (its records are retried in the lane).
async fn deliver_lanes(inner: &Arc<Inner>, m: &Mapping, batch: Vec<Value>) -> Option<String> {
    let lanes_n = m.parallelization.max(1) as usize;
    let mut lanes: Vec<Vec<Value>> = vec![Vec::new(); lanes_n];
    for record in batch {
        let lane = lane_of(&record, lanes_n);
        lanes[lane].push(record);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for lane in lanes.into_iter().filter(|l| !l.is_empty()) {
        let (inner, m) = (inner.clone(), m.clone());
        tasks.spawn(async move {
            let mut results = Vec::new();
            for chunk in lane.chunks(m.batch_size as usize) {
                results.push(deliver(&inner, &m, chunk.to_vec(), false).await?);
            }
            combine(results)
        });
    }
    let mut results = Vec::new();
    let mut gone = false;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Some(r)) => results.push(r),
            Ok(None) => gone = true,
            Err(e) => {
                tracing::warn!(uuid = %m.uuid, error = %e, "lambda: a delivery lane failed");
                gone = true;
            }
        }
    }
    if gone {
        return None;
    }
    combine(results)
}

/// The lane of a record: a hash of its key attributes (FNV-1a over their JSON, whose
/// members are in name order), so one item's records stay in order on one lane.
fn lane_of(record: &Value, lanes: usize) -> usize {
    let keys = record["dynamodb"]["Keys"].to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in keys.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % lanes as u64) as usize
}

fn sequence_of(record: &Value) -> &str {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or_default()
}

/// Writes the mapping's position (after sequence number `after`) unless the mapping was
/// deleted meanwhile; `result` replaces the last processing result when given.
async fn save_position(
    inner: &Arc<Inner>,
    uuid: &str,
    after: &str,
    result: Option<&str>,
) -> Result<()> {
    let (i2, uuid, after, result) = (
        inner.clone(),
        uuid.to_owned(),
        after.to_owned(),
        result.map(str::to_owned),
    );
    inner
        .store
        .run(move || {
            i2.store.transact(|tx| {
                if tx.get(&mapping_key(&uuid))?.is_none() {
                    return Ok::<_, Error>(());
                }
                let old: Position = tx
                    .get(&position_key(&uuid))?
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                let position = Position {
                    after: Some(after.clone()),
                    result: result.clone().unwrap_or(old.result),
                };
                tx.put(&position_key(&uuid), &json_bytes(&position));
                Ok(())
            })
        })
        .await
}

/// How one invocation of a batch went.
enum Outcome {
    Ok,
    /// `ReportBatchItemFailures`: the function failed the records from this index on.
    Partial(usize),
    Failed(Failure),
}

/// Why an invocation failed, for the on-failure record's `responseContext`.
#[derive(Debug, Clone)]
struct Failure {
    status: u16,
    function_error: String,
    message: String,
}

/// Why records were given up on (`requestContext.condition`).
#[derive(Debug, Clone, Copy)]
enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// Invokes the function with `batch` until it succeeds, bisecting on failure when asked,
/// giving a part up after `MaximumRetryAttempts` or once its records are older than
/// `MaximumRecordAgeInSeconds`. With `ReportBatchItemFailures`, a partial failure retries
/// from the lowest failed record (and, when `checkpoint`, first moves the position to just
/// before it). Returns the processing result, or `None` when the mapping was deleted or
/// disabled meanwhile.
fn deliver<'a>(
    inner: &'a Arc<Inner>,
    m: &'a Mapping,
    mut batch: Vec<Value>,
    checkpoint: bool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
    Box::pin(async move {
        let mut attempts: i64 = 0;
        let mut invocations: i64 = 0;
        let mut result = "OK".to_owned();
        loop {
            // Records past MaximumRecordAgeInSeconds are discarded (to the destination).
            if m.maximum_record_age >= 0 {
                let now = now_secs();
                let expired = batch
                    .iter()
                    .take_while(|r| {
                        let at = r["dynamodb"]["ApproximateCreationDateTime"]
                            .as_f64()
                            .unwrap_or(now);
                        now - at > m.maximum_record_age as f64
                    })
                    .count();
                if expired > 0 {
                    let rest = batch.split_off(expired);
                    let why = Failure {
                        status: 0,
                        function_error: String::new(),
                        message: format!(
                            "records older than MaximumRecordAgeInSeconds ({})",
                            m.maximum_record_age
                        ),
                    };
                    record_failure(
                        inner,
                        m,
                        &batch,
                        &why,
                        Condition::RecordAgeExceeded,
                        invocations,
                    )
                    .await;
                    if checkpoint && let Some(last) = batch.last() {
                        let _ = save_position(inner, &m.uuid, sequence_of(last), None).await;
                    }
                    result = "PROBLEM: Record age exceeded".to_owned();
                    batch = rest;
                }
                if batch.is_empty() {
                    return Some(result);
                }
            }
            invocations += 1;
            let why = match invoke(inner, m, &batch).await {
                Outcome::Ok => return Some(result),
                Outcome::Partial(index) => {
                    if index > 0 {
                        if checkpoint {
                            let done = sequence_of(&batch[index - 1]).to_owned();
                            let _ = save_position(inner, &m.uuid, &done, None).await;
                        }
                        batch.drain(..index);
                    }
                    Failure {
                        status: 200,
                        function_error: String::new(),
                        message: format!(
                            "the function reported batch item failures from sequence number {}",
                            sequence_of(&batch[0])
                        ),
                    }
                }
                Outcome::Failed(why) => {
                    if m.bisect && batch.len() > 1 {
                        let mut first = batch;
                        let second = first.split_off(first.len() / 2);
                        let a = deliver(inner, m, first, checkpoint).await?;
                        let b = deliver(inner, m, second, checkpoint).await?;
                        return Some(if a == "OK" { b } else { a });
                    }
                    why
                }
            };
            attempts += 1;
            if m.maximum_retry_attempts >= 0 && attempts > m.maximum_retry_attempts {
                record_failure(
                    inner,
                    m,
                    &batch,
                    &why,
                    Condition::RetryAttemptsExhausted,
                    invocations,
                )
                .await;
                return Some("PROBLEM: Function call failed".to_owned());
            }
            // Still wanted, and still ours? A deleted or disabled mapping stops retrying, and
            // so does a poller that lost its lease (another node goes on from the position).
            let (i2, uuid) = (inner.clone(), m.uuid.clone());
            let wanted = inner
                .store
                .run(move || -> Result<bool> {
                    let enabled = read_mapping(&i2, &uuid)?.is_some_and(|now| now.enabled);
                    Ok(enabled
                        && nuvem_store::cluster::Lease::try_acquire(
                            &i2.store,
                            &format!("lambda-esm/{uuid}"),
                            nuvem_store::cluster::node_id(),
                            LEASE_TTL,
                        )?)
                })
                .await
                .unwrap_or(false);
            if !wanted {
                return None;
            }
            let backoff = Duration::from_millis(100 * 2u64.pow(attempts.min(6) as u32));
            tokio::time::sleep(backoff.min(Duration::from_secs(5))).await;
        }
    })
}

async fn invoke(inner: &Arc<Inner>, m: &Mapping, batch: &[Value]) -> Outcome {
    let payload = json!({"Records": batch}).to_string();
    let request = InvokeRequest {
        function: m.function_arn.clone(),
        qualifier: None,
        payload: bytes::Bytes::from(payload),
        kind: InvocationType::RequestResponse,
        tail: false,
        client_context: None,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    match crate::dispatch::invoke(inner, request).await {
        Ok(resp) => match resp.function_error {
            None if m.report_item_failures => match failed_from(&resp.payload, batch) {
                Ok(None) => Outcome::Ok,
                Ok(Some(index)) => Outcome::Partial(index),
                Err(message) => Outcome::Failed(Failure {
                    status: resp.status,
                    function_error: String::new(),
                    message,
                }),
            },
            None => Outcome::Ok,
            Some(kind) => Outcome::Failed(Failure {
                status: resp.status,
                message: format!("{kind}: {}", String::from_utf8_lossy(&resp.payload)),
                function_error: kind,
            }),
        },
        Err(e) => {
            let message = e.to_string();
            let error = nuvem_aws::IntoAwsError::into_aws_error(e);
            Outcome::Failed(Failure {
                status: error.status.as_u16(),
                function_error: String::new(),
                message,
            })
        }
    }
}

/// A `ReportBatchItemFailures` response
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>):
/// `Ok(None)` for success (no response, a null or empty `batchItemFailures`), `Ok(Some(i))`
/// for a failure from the batch's `i`th record on (the lowest failed sequence number), and
/// `Err` when the whole batch failed: an item without an `itemIdentifier`, an empty or null
/// one, or one that is not the sequence number of a record of the batch.
pub fn failed_from(payload: &[u8], batch: &[Value]) -> std::result::Result<Option<usize>, String> {
    let text = String::from_utf8_lossy(payload);
    if text.trim().is_empty() {
        return Ok(None);
    }
    let Ok(response) = serde_json::from_str::<Value>(&text) else {
        // Not JSON: not an event response, which Lambda treats as success.
        return Ok(None);
    };
    let failures = match response.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err("the function returned a batchItemFailures that is not a list".into());
        }
    };
    let mut lowest: Option<usize> = None;
    for failure in failures {
        let id = failure
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                format!("the function returned a batch item failure without a valid itemIdentifier: {failure}")
            })?;
        let index = batch
            .iter()
            .position(|r| sequence_of(r) == id)
            .ok_or_else(|| {
                format!("the function returned the itemIdentifier {id}, not a sequence number of the batch")
            })?;
        lowest = Some(lowest.map_or(index, |l| l.min(index)));
    }
    Ok(lowest)
}

/// Gives up on `batch`: logs it at WARN, keeps Lambda's invocation record of it under
/// `lambda/esm/f/<uuid>/<first sequence number>`, and writes it to the mapping's S3
/// on-failure destination when there is one
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html>).
async fn record_failure(
    inner: &Arc<Inner>,
    m: &Mapping,
    batch: &[Value],
    why: &Failure,
    condition: Condition,
    invocations: i64,
) {
    let (Some(first_record), Some(last_record)) = (batch.first(), batch.last()) else {
        return;
    };
    let (first, last) = (sequence_of(first_record), sequence_of(last_record));
    tracing::warn!(uuid = %m.uuid, function = %m.function_arn, %first, %last, condition = condition.as_str(),
        error = %why.message, "lambda: gave up on a batch of stream records");
    let shard = match inner.stream_source() {
        Some(s) => {
            let (arn, s2) = (m.event_source_arn.clone(), s.clone());
            inner
                .store
                .run(move || s2.shard_id(&arn))
                .await
                .unwrap_or_default()
        }
        None => String::new(),
    };
    let arrival = |r: &Value| {
        let secs = r["dynamodb"]["ApproximateCreationDateTime"]
            .as_f64()
            .unwrap_or(0.0) as i64;
        nuvem_aws::time::AmzDate { unix_seconds: secs }
            .to_iso8601()
            .replace(".000Z", "Z")
    };
    let now = std::time::SystemTime::now();
    let millis = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    let stamp = nuvem_aws::time::AmzDate::from_system_time(now).to_iso8601();
    let timestamp = stamp.replace(".000Z", &format!(".{millis:03}Z"));
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut record = json!({
        "requestContext": {
            "requestId": request_id,
            "functionArn": m.function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": invocations,
        },
        "responseContext": {
            "statusCode": why.status,
            "executedVersion": "$LATEST",
            "functionError": why.function_error,
        },
        "version": "1.0",
        "timestamp": timestamp,
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": first,
            "endSequenceNumber": last,
            "approximateArrivalOfFirstRecord": arrival(first_record),
            "approximateArrivalOfLastRecord": arrival(last_record),
            "batchSize": batch.len(),
            "streamArn": m.event_source_arn,
        },
    });
    let key = [FAILURES, m.uuid.as_bytes(), b"/", first.as_bytes()].concat();
    let store = inner.store.clone();
    let bytes = record.to_string().into_bytes();
    let saved = inner
        .store
        .run(move || store.apply(&[(key, Some(bytes))]))
        .await;
    if let Err(e) = saved {
        tracing::warn!(error = %e, "lambda: could not record a failed batch");
    }
    // An S3 destination gets the invocation record with the whole event (`payload`), under
    // aws/lambda/<mapping UUID>/<shard id>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>.
    let (Some(dest), Some(buckets)) = (&m.on_failure, inner.failure_bucket()) else {
        return;
    };
    let Some(bucket) = bucket_of(dest) else {
        return;
    };
    record["payload"] = json!(json!({"Records": batch}).to_string());
    let key = format!(
        "aws/lambda/{}/{}/{}/{}-{}",
        m.uuid,
        shard,
        stamp.get(..10).unwrap_or_default().replace('-', "/"),
        stamp.get(..19).unwrap_or_default().replace(':', "."),
        uuid::Uuid::new_v4()
    );
    if let Err(e) = buckets
        .put(bucket, &key, record.to_string().into_bytes())
        .await
    {
        tracing::warn!(uuid = %m.uuid, %bucket, %key, error = %e,
            "lambda: could not write a failed batch to the on-failure destination");
    }
}

/// The batches a mapping gave up on (the records kept under `lambda/esm/f/<uuid>/`).
pub fn failures(inner: &Inner, uuid: &str) -> Result<Vec<Value>> {
    let prefix = [FAILURES, uuid.as_bytes(), b"/"].concat();
    let snap = inner.store.snapshot();
    snap.scan(
        nuvem_store::KeyRange::prefix(&prefix),
        nuvem_store::Direction::Forward,
    )
    .map(|e| {
        let (_, v) = e?;
        serde_json::from_slice(&v).map_err(|e| Error::Corrupt(e.to_string()))
    })
    .collect()
}
