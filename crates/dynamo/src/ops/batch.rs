//! BatchGetItem and BatchWriteItem
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html>,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html>).
//!
//! A batch get reads every key from one snapshot; a batch write validates every request and
//! then writes them all in one store transaction through [`storage::write_item`], so a batch
//! that fails validation writes nothing. Here `UnprocessedKeys` holds keys beyond the 16 MB
//! response limit and `UnprocessedItems` is empty; the requests of a table short of
//! provisioned capacity are added to them by `ops::dispatch` (see [`crate::throughput`]).
//! Must not: lay out keys or bypass `write_item`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::capacity::{Consumed, Kind, ReturnConsumedCapacity, read_units, write_consumed};
use crate::error::{Error, Result};
use crate::expr::{ExprContext, Projection};
use crate::ops::items::{MAX_ITEM_BYTES, check_expression_maps};
use crate::ops::{Violations, legacy, no_such_table, table_name};
use crate::service::DynamoService;
use crate::storage;
use crate::value::{Item, item_from_json, item_size, item_to_json};

/// Most keys in one BatchGetItem, most requests in one BatchWriteItem.
const MAX_GET_KEYS: usize = 100;
const MAX_WRITES: usize = 25;
/// Largest BatchGetItem response; keys past it come back in `UnprocessedKeys`.
const MAX_GET_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetItemInput {
    request_items: Option<BTreeMap<String, KeysAndAttributes>>,
    return_consumed_capacity: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeysAndAttributes {
    keys: Vec<Value>,
    projection_expression: Option<String>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    attributes_to_get: Option<Value>,
    consistent_read: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchWriteItemInput {
    request_items: Option<BTreeMap<String, Vec<WriteRequest>>>,
    return_consumed_capacity: Option<String>,
    return_item_collection_metrics: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WriteRequest {
    put_request: Option<PutRequest>,
    delete_request: Option<DeleteRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRequest {
    item: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRequest {
    key: Value,
}

fn duplicates() -> Error {
    Error::invalid_parameter("Provided list of item keys contains duplicates")
}

fn request_items_violation<T>(items: &Option<BTreeMap<String, T>>, v: &mut Violations) {
    match items {
        None => v.require(items, "requestItems"),
        Some(m) if m.is_empty() => v.push(
            "Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ),
        Some(_) => {}
    }
}

/// `ConsumedCapacity` of a batch: one entry per table, in table name order.
fn capacity_list(
    capacity: ReturnConsumedCapacity,
    kind: Kind,
    units: &BTreeMap<String, Consumed>,
) -> Option<Value> {
    let list: Vec<Value> = units
        .iter()
        .filter_map(|(t, u)| capacity.report(t, kind, u))
        .collect();
    (capacity != ReturnConsumedCapacity::None).then_some(Value::Array(list))
}

pub fn batch_get_item(svc: &DynamoService, input: BatchGetItemInput) -> Result<Value> {
    let mut v = Violations::default();
    request_items_violation(&input.request_items, &mut v);
    let capacity = ReturnConsumedCapacity::parse(input.return_consumed_capacity.as_deref(), &mut v);
    v.finish()?;
    let request = input.request_items.unwrap_or_default();
    if request.values().map(|r| r.keys.len()).sum::<usize>() > MAX_GET_KEYS {
        return Err(Error::validation(
            "Too many items requested for the BatchGetItem call",
        ));
    }
    // Parse and check everything before reading anything.
    let mut plans = Vec::new();
    for (name, req) in &request {
        if req.keys.is_empty() {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '[]' at 'requestItems.{name}.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1"
            )));
        }
        legacy::reject_mixed(
            &[("AttributesToGet", req.attributes_to_get.is_some())],
            &[("ProjectionExpression", req.projection_expression.is_some())],
        )?;
        check_expression_maps(
            &req.expression_attribute_names,
            &None,
            req.projection_expression.is_some(),
        )?;
        let mut ctx = ExprContext::new(req.expression_attribute_names.as_ref(), None);
        let mut projection: Option<Projection> = req
            .projection_expression
            .as_deref()
            .map(|p| ctx.projection(p))
            .transpose()?;
        ctx.finish()?;
        if let Some(json) = &req.attributes_to_get {
            projection = Some(legacy::attributes_to_get(json)?);
        }
        let keys: Vec<Item> = req
            .keys
            .iter()
            .map(item_from_json)
            .collect::<Result<_, _>>()?;
        plans.push((name, req, projection, keys));
    }

    let snap = svc.store().snapshot();
    let mut responses = Map::new();
    let mut unprocessed = Map::new();
    let mut units = BTreeMap::new();
    let mut bytes = 0usize;
    for (name, req, projection, keys) in plans {
        // The table's catalog record and all its keys in one read (one round trip to a
        // network engine).
        let (table, values) =
            storage::read_with_table(&*snap, svc.catalog(), table_name(name), |t| {
                let mut seen = HashSet::new();
                let mut store_keys = Vec::with_capacity(keys.len());
                for key in &keys {
                    t.check_key(key)?;
                    let k = storage::item_key(t, key)?;
                    if !seen.insert(k.clone()) {
                        return Err(duplicates());
                    }
                    store_keys.push(k);
                }
                Ok(store_keys)
            })?
            .ok_or_else(no_such_table)?;
        let consistent = req.consistent_read.unwrap_or(false);
        let mut found = Vec::new();
        let mut left = Vec::new();
        let mut read_bytes = 0usize;
        for (key, value) in keys.iter().zip(values) {
            if bytes >= MAX_GET_BYTES {
                left.push(item_to_json(key));
                continue;
            }
            if let Some(item) = storage::decode_stored_item(value.as_deref())? {
                let size = item_size(&item);
                bytes += size;
                read_bytes += size.div_ceil(4096).max(1) * 4096;
                let item = match &projection {
                    Some(p) => p.apply(&item),
                    None => item,
                };
                found.push(item_to_json(&item));
            } else {
                read_bytes += 4096;
            }
        }
        let consumed = Consumed::on_table(read_units(read_bytes, consistent));
        svc.meter().charge(&table, Kind::Read, &consumed);
        units.insert(table.name.clone(), consumed);
        responses.insert(name.clone(), Value::Array(found));
        if !left.is_empty() {
            let mut entry = serde_json::to_value(RawKeys::from(req))
                .map_err(|e| Error::Corrupt(e.to_string()))?;
            if let Some(obj) = entry.as_object_mut() {
                obj.insert("Keys".into(), Value::Array(left));
            }
            unprocessed.insert(name.clone(), entry);
        }
    }
    let mut out = Map::new();
    out.insert("Responses".into(), Value::Object(responses));
    out.insert("UnprocessedKeys".into(), Value::Object(unprocessed));
    if let Some(c) = capacity_list(capacity, Kind::Read, &units) {
        out.insert("ConsumedCapacity".into(), c);
    }
    Ok(Value::Object(out))
}

/// The request members that travel with `UnprocessedKeys`, so the retry reads the same way.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct RawKeys {
    #[serde(skip_serializing_if = "Option::is_none")]
    projection_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expression_attribute_names: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes_to_get: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consistent_read: Option<bool>,
}

impl From<&KeysAndAttributes> for RawKeys {
    fn from(r: &KeysAndAttributes) -> Self {
        RawKeys {
            projection_expression: r.projection_expression.clone(),
            expression_attribute_names: r.expression_attribute_names.clone(),
            attributes_to_get: r.attributes_to_get.clone(),
            consistent_read: r.consistent_read,
        }
    }
}

pub fn batch_write_item(svc: &DynamoService, input: BatchWriteItemInput) -> Result<Value> {
    let mut v = Violations::default();
    request_items_violation(&input.request_items, &mut v);
    let capacity = ReturnConsumedCapacity::parse(input.return_consumed_capacity.as_deref(), &mut v);
    let metrics_asked = match input.return_item_collection_metrics.as_deref() {
        None | Some("NONE") => false,
        Some("SIZE") => true,
        Some(other) => {
            v.enum_value(other, "returnItemCollectionMetrics", "[SIZE, NONE]");
            false
        }
    };
    v.finish()?;
    let request = input.request_items.unwrap_or_default();
    let total: usize = request.values().map(Vec::len).sum();
    if total > MAX_WRITES || request.values().any(Vec::is_empty) {
        return Err(Error::validation(
            "Too many items requested for the BatchWriteItem call",
        ));
    }
    // Parse every request first: (table, item to put or None, key or full item).
    let mut writes: Vec<(&str, Option<Item>, Item)> = Vec::with_capacity(total);
    for (name, list) in &request {
        for w in list {
            match (&w.put_request, &w.delete_request) {
                (Some(p), None) => {
                    let item = item_from_json(&p.item)?;
                    if item_size(&item) > MAX_ITEM_BYTES {
                        return Err(Error::validation(
                            "Item size has exceeded the maximum allowed size",
                        ));
                    }
                    writes.push((name, Some(item.clone()), item));
                }
                (None, Some(d)) => writes.push((name, None, item_from_json(&d.key)?)),
                _ => {
                    return Err(Error::validation(
                        "Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest",
                    ));
                }
            }
        }
    }

    let (units, metrics) = svc.store().transact(|tx| {
        let mut seen = HashSet::new();
        let mut units: BTreeMap<String, Consumed> = BTreeMap::new();
        // One table's writes at a time (the request groups them by table): its catalog
        // record, the old items and its stats in one read (one round trip to a network
        // engine); every key is checked before anything is written.
        let mut plans = Vec::new();
        for group in writes.chunk_by(|a, b| a.0 == b.0) {
            let name = group[0].0;
            let last_keys = std::cell::RefCell::new(Vec::new());
            let (table, values) =
                storage::read_with_table(&*tx, svc.catalog(), table_name(name), |t| {
                    let mut keys = Vec::with_capacity(group.len() + 1);
                    for (_, put, key) in group {
                        let key = match put {
                            Some(item) => {
                                t.check_item_keys(item)?;
                                t.key_of(item)
                            }
                            None => {
                                t.check_key(key)?;
                                key.clone()
                            }
                        };
                        keys.push(storage::item_key(t, &key)?);
                    }
                    *last_keys.borrow_mut() = keys.clone();
                    keys.push(storage::stats_key(t));
                    Ok(keys)
                })?
                .ok_or_else(no_such_table)?;
            let keys = last_keys.into_inner();
            for k in &keys {
                if !seen.insert(k.clone()) {
                    return Err(duplicates());
                }
            }
            plans.push((group, table, keys, values));
        }
        // The stats of each table as this transaction last wrote them: a table named twice
        // (by name and by ARN) was read twice before either group was written.
        let mut written: HashMap<String, storage::Stats> = HashMap::new();
        // The item collections touched, for ItemCollectionMetrics.
        let mut metrics: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (group, table, keys, values) in plans {
            let mut values = values.into_iter();
            let olds: Vec<Option<Vec<u8>>> = values.by_ref().take(keys.len()).collect();
            let mut stats = match written.get(&table.id) {
                Some(s) => *s,
                None => storage::decode_stats(values.next().flatten().as_deref())?,
            };
            for (((_, put, _), k), old) in group.iter().zip(&keys).zip(olds) {
                let old = storage::decode_stored_item(old.as_deref())?;
                let put = put.as_ref();
                stats = storage::write_item_with_stats(tx, &table, k, old.as_ref(), put, stats)?;
                units
                    .entry(table.name.clone())
                    .or_default()
                    .add(&write_consumed(&table, old.as_ref(), put));
            }
            written.insert(table.id.clone(), stats);
            if metrics_asked {
                let items: Vec<&Item> = group.iter().map(|(_, _, key)| key).collect();
                let list = storage::collection_metrics_of(&*tx, &table, &items)?;
                if !list.is_empty() {
                    metrics.entry(table.name.clone()).or_default().extend(list);
                }
            }
        }
        Ok((units, metrics))
    })?;
    for (table, consumed) in &units {
        svc.meter().charge_named(table, Kind::Write, consumed);
    }
    let mut out = Map::new();
    out.insert("UnprocessedItems".into(), json!({}));
    if !metrics.is_empty() {
        out.insert("ItemCollectionMetrics".into(), json!(metrics));
    }
    if let Some(c) = capacity_list(capacity, Kind::Write, &units) {
        out.insert("ConsumedCapacity".into(), c);
    }
    Ok(Value::Object(out))
}
