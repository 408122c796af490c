//! The DynamoDB operations: dispatch by name, and the input handling they share (typed
//! parsing of the JSON input, AWS-style constraint messages, expression attribute maps).
//!
//! One file per operation family: [`tables`] (the control plane), [`items`] (single-item
//! reads and writes), [`query`] and [`scan`] (over [`page`]), [`batch`], [`transact`],
//! [`tags`] (and the informational operations), [`ttl`] (Update/DescribeTimeToLive),
//! [`streams`] (the DynamoDB Streams API), with [`legacy`] parsing the pre-expression
//! parameters. Must not: touch the wire protocol (see [`crate::service`]) or lay out
//! keys (see [`crate::storage`]).

pub mod batch;
pub mod indexes;
pub mod items;
pub mod legacy;
pub mod page;
pub mod query;
pub mod scan;
pub mod streams;
pub mod tables;
pub mod tags;
pub mod transact;
pub mod ttl;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::service::DynamoService;
use crate::value::AttributeValue;

/// The operations of the DynamoDB Streams API, which clients call with the
/// `DynamoDBStreams_20120810.` target prefix.
pub const STREAMS_OPERATIONS: &[&str] = &[
    "ListStreams",
    "DescribeStream",
    "GetShardIterator",
    "GetRecords",
];

/// Runs `operation` on `input`.
pub fn dispatch(svc: &DynamoService, operation: &str, input: Value) -> Result<Value> {
    // Provisioned capacity: refused before any work when a bucket it draws on is spent.
    let demands = crate::throughput::demands(operation, &input);
    for d in &demands {
        let (crate::throughput::Demand::Read { table, .. }
        | crate::throughput::Demand::Write { table }) = *d;
        if !svc.meter().knows(table) {
            let snap = svc.store().snapshot();
            if let Some(meta) = crate::storage::read_table(&*snap, table)? {
                svc.meter().sync(&meta);
            }
        }
    }
    if matches!(operation, "BatchWriteItem" | "BatchGetItem") {
        drop(demands);
        return batch_with_capacity(svc, operation, input);
    }
    svc.meter().admit(&demands)?;
    run(svc, operation, input)
}

/// A batch whose tables are not all admitted: as DynamoDB does, the throttled tables' requests
/// come back unprocessed (`UnprocessedItems`, `UnprocessedKeys`) and the others run; when no
/// table is admitted, the batch is refused with `ProvisionedThroughputExceededException`.
fn batch_with_capacity(svc: &DynamoService, operation: &str, mut input: Value) -> Result<Value> {
    use crate::throughput::Demand;
    let mut refused: Vec<(String, Error)> = Vec::new();
    if let Some(tables) = input["RequestItems"].as_object() {
        for key in tables.keys() {
            let table = table_name(key);
            let demand = if operation == "BatchWriteItem" {
                Demand::Write { table }
            } else {
                Demand::Read { table, index: None }
            };
            if let Err(e) = svc.meter().admit(&[demand]) {
                refused.push((key.clone(), e));
            }
        }
    }
    let all = input["RequestItems"]
        .as_object()
        .map_or(0, serde_json::Map::len);
    if refused.is_empty() {
        return run(svc, operation, input);
    }
    if refused.len() == all {
        return Err(refused.swap_remove(0).1);
    }
    let mut held = serde_json::Map::new();
    if let Some(tables) = input["RequestItems"].as_object_mut() {
        for (key, _) in &refused {
            if let Some(requests) = tables.remove(key) {
                held.insert(key.clone(), requests);
            }
        }
    }
    let mut out = run(svc, operation, input)?;
    let member = if operation == "BatchWriteItem" {
        "UnprocessedItems"
    } else {
        "UnprocessedKeys"
    };
    if !out[member].is_object() {
        out[member] = Value::Object(serde_json::Map::new());
    }
    if let Some(unprocessed) = out[member].as_object_mut() {
        unprocessed.extend(held);
    }
    Ok(out)
}

fn run(svc: &DynamoService, operation: &str, input: Value) -> Result<Value> {
    match operation {
        "CreateTable" => tables::create_table(svc, parse(input)?),
        "DescribeTable" => tables::describe_table(svc, parse(input)?),
        "ListTables" => tables::list_tables(svc, parse(input)?),
        "DeleteTable" => tables::delete_table(svc, parse(input)?),
        "UpdateTable" => tables::update_table(svc, parse(input)?),
        "PutItem" => items::put_item(svc, parse(input)?),
        "GetItem" => items::get_item(svc, parse(input)?),
        "UpdateItem" => items::update_item(svc, parse(input)?),
        "DeleteItem" => items::delete_item(svc, parse(input)?),
        "Query" => query::query(svc, parse(input)?),
        "Scan" => scan::scan(svc, parse(input)?),
        "BatchGetItem" => batch::batch_get_item(svc, parse(input)?),
        "BatchWriteItem" => batch::batch_write_item(svc, parse(input)?),
        "TransactWriteItems" => transact::transact_write_items(svc, parse(input)?),
        "TransactGetItems" => transact::transact_get_items(svc, parse(input)?),
        "TagResource" => tags::tag_resource(svc, parse(input)?),
        "UntagResource" => tags::untag_resource(svc, parse(input)?),
        "ListTagsOfResource" => tags::list_tags_of_resource(svc, parse(input)?),
        "UpdateTimeToLive" => ttl::update_time_to_live(svc, parse(input)?),
        "DescribeTimeToLive" => ttl::describe_time_to_live(svc, parse(input)?),
        "DescribeEndpoints" => Ok(tags::describe_endpoints(svc)),
        // DynamoDB Streams (`DynamoDBStreams_20120810`; the service checks the prefix).
        "ListStreams" => streams::list_streams(svc, parse(input)?),
        "DescribeStream" => streams::describe_stream(svc, parse(input)?),
        "GetShardIterator" => streams::get_shard_iterator(svc, parse(input)?),
        "GetRecords" => streams::get_records(svc, parse(input)?),
        "DescribeLimits" => Ok(tags::describe_limits()),
        other => Err(Error::UnknownOperation(other.to_owned())),
    }
}

/// Parses an operation's input structure. A member of the wrong JSON type is a
/// `SerializationException`, as in DynamoDB; unknown members are ignored.
fn parse<T: DeserializeOwned>(input: Value) -> Result<T> {
    serde_json::from_value(input).map_err(|e| Error::Serialization(e.to_string()))
}

/// Constraint violations of an input, collected so that they are reported together in AWS's
/// format: `2 validation errors detected: Value ... ; Value ...`.
#[derive(Debug, Default)]
pub struct Violations(Vec<String>);

impl Violations {
    pub fn push(&mut self, msg: String) {
        self.0.push(msg);
    }

    pub fn messages_mut(&mut self) -> &mut Vec<String> {
        &mut self.0
    }

    /// A required member is missing.
    pub fn require<T>(&mut self, value: &Option<T>, field: &str) {
        if value.is_none() {
            self.0.push(format!(
                "Value null at '{field}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }

    pub fn enum_value(&mut self, value: &str, field: &str, allowed: &str) {
        self.0.push(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: {allowed}"
        ));
    }

    /// The table name member of an item operation. DynamoDB accepts a table ARN there too.
    pub fn table_name(&mut self, name: &Option<String>) {
        match name {
            None => self.require(name, "tableName"),
            Some(n) if n.starts_with("arn:") => {}
            Some(n) => crate::catalog::table_name_violations(n, "tableName", &mut self.0),
        }
    }

    pub fn finish(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(Error::Validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(Error::Validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

/// DynamoDB's answer for a table that does not exist.
pub(crate) fn no_such_table() -> Error {
    Error::ResourceNotFound("Requested resource not found".into())
}

/// The table name in a request, which may be given as the table's ARN.
pub fn table_name(name: &str) -> &str {
    match name.strip_prefix("arn:") {
        Some(rest) => rest.rsplit_once(":table/").map_or(name, |(_, n)| n),
        None => name,
    }
}

/// `ExpressionAttributeValues` parsed from wire JSON.
pub fn attribute_values(
    values: &Option<BTreeMap<String, Value>>,
) -> Result<Option<BTreeMap<String, AttributeValue>>> {
    let Some(values) = values else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (name, json) in values {
        out.insert(name.clone(), AttributeValue::from_json(json)?);
    }
    Ok(Some(out))
}
