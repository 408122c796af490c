//! Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.
//!
//! Every write is one store transaction that reads the table's catalog record and the old
//! item, evaluates the condition, computes the new item and writes it through
//! [`storage::write_item`], so a condition check and its write are atomic and a failed
//! condition changes nothing. Reads use one snapshot. Must not: lay out keys or bypass
//! `write_item` (which keeps the table's stats and its indexes in step).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::capacity::{Consumed, Kind, ReturnConsumedCapacity, read_units, write_consumed};
use crate::catalog::TableMeta;
use crate::error::{Error, Result};
use crate::expr::{Condition, ExprContext, Projection, Update};
use crate::ops::{Violations, attribute_values, no_such_table};
use crate::service::DynamoService;
use crate::storage;
use crate::value::{Item, item_from_json, item_size, item_to_json};

/// DynamoDB's maximum item size, 400 KB
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutItemInput {
    table_name: Option<String>,
    item: Option<Value>,
    #[serde(flatten)]
    common: WriteParams,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteItemInput {
    table_name: Option<String>,
    key: Option<Value>,
    #[serde(flatten)]
    common: WriteParams,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateItemInput {
    table_name: Option<String>,
    key: Option<Value>,
    update_expression: Option<String>,
    attribute_updates: Option<Value>,
    #[serde(flatten)]
    common: WriteParams,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetItemInput {
    table_name: Option<String>,
    key: Option<Value>,
    consistent_read: Option<bool>,
    projection_expression: Option<String>,
    attributes_to_get: Option<Value>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    return_consumed_capacity: Option<String>,
}

/// The members every single-item write shares.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WriteParams {
    condition_expression: Option<String>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    expression_attribute_values: Option<BTreeMap<String, Value>>,
    return_values: Option<String>,
    return_consumed_capacity: Option<String>,
    return_item_collection_metrics: Option<String>,
    return_values_on_condition_check_failure: Option<String>,
    expected: Option<Value>,
    conditional_operator: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReturnValues {
    None,
    AllOld,
    UpdatedOld,
    AllNew,
    UpdatedNew,
}

/// The checked request members of a write.
struct WriteOptions {
    return_values: ReturnValues,
    capacity: ReturnConsumedCapacity,
    /// `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
    old_on_failure: bool,
    /// `ReturnItemCollectionMetrics: SIZE`.
    collection_metrics: bool,
}

impl WriteParams {
    /// Checks the enum members, recording violations.
    fn options(&self, v: &mut Violations) -> WriteOptions {
        let return_values = match self.return_values.as_deref() {
            None | Some("NONE") => ReturnValues::None,
            Some("ALL_OLD") => ReturnValues::AllOld,
            Some("UPDATED_OLD") => ReturnValues::UpdatedOld,
            Some("ALL_NEW") => ReturnValues::AllNew,
            Some("UPDATED_NEW") => ReturnValues::UpdatedNew,
            Some(other) => {
                v.enum_value(
                    other,
                    "returnValues",
                    "[ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]",
                );
                ReturnValues::None
            }
        };
        let capacity = ReturnConsumedCapacity::parse(self.return_consumed_capacity.as_deref(), v);
        let collection_metrics = match self.return_item_collection_metrics.as_deref() {
            None | Some("NONE") => false,
            Some("SIZE") => true,
            Some(other) => {
                v.enum_value(other, "returnItemCollectionMetrics", "[SIZE, NONE]");
                false
            }
        };
        let old_on_failure = match self.return_values_on_condition_check_failure.as_deref() {
            None | Some("NONE") => false,
            Some("ALL_OLD") => true,
            Some(other) => {
                v.enum_value(
                    other,
                    "returnValuesOnConditionCheckFailure",
                    "[ALL_OLD, NONE]",
                );
                false
            }
        };
        WriteOptions {
            return_values,
            capacity,
            old_on_failure,
            collection_metrics,
        }
    }

    /// Validates `allowed` return values after the enum check passed.
    fn check_allowed(opts: &WriteOptions, allowed: &[ReturnValues]) -> Result<()> {
        if !allowed.contains(&opts.return_values) {
            return Err(Error::validation("Return values set to invalid value"));
        }
        Ok(())
    }

    /// The legacy `Expected` (+ `ConditionalOperator`) as a condition, after checking that
    /// the request does not also use expressions. `update_expression` is UpdateItem's.
    fn legacy_condition(&self, update_expression: bool) -> Result<Option<Condition>> {
        crate::ops::legacy::reject_mixed(
            &[
                ("Expected", self.expected.is_some()),
                ("ConditionalOperator", self.conditional_operator.is_some()),
            ],
            &[
                ("ConditionExpression", self.condition_expression.is_some()),
                ("UpdateExpression", update_expression),
            ],
        )?;
        if self.conditional_operator.is_some() && self.expected.is_none() {
            return Err(Error::validation(
                "ConditionalOperator cannot be used without Expected",
            ));
        }
        match &self.expected {
            Some(json) => {
                let entries = crate::ops::legacy::conditions(json, "Expected")?;
                Ok(crate::expr::legacy_condition(
                    &entries,
                    self.conditional_operator.as_deref(),
                )?)
            }
            None => Ok(None),
        }
    }
}

/// Checks the expression attribute maps the way DynamoDB does before parsing expressions.
pub(crate) fn check_expression_maps(
    names: &Option<BTreeMap<String, String>>,
    values: &Option<BTreeMap<String, Value>>,
    any_expression: bool,
) -> Result<()> {
    if names.as_ref().is_some_and(BTreeMap::is_empty) {
        return Err(Error::validation(
            "ExpressionAttributeNames must not be empty",
        ));
    }
    if values.as_ref().is_some_and(BTreeMap::is_empty) {
        return Err(Error::validation(
            "ExpressionAttributeValues must not be empty",
        ));
    }
    if !any_expression {
        if names.is_some() {
            return Err(Error::validation(
                "ExpressionAttributeNames can only be specified when using expressions",
            ));
        }
        if values.is_some() {
            return Err(Error::validation(
                "ExpressionAttributeValues can only be specified when using expressions",
            ));
        }
    }
    Ok(())
}

fn parse_item(json: &Value) -> Result<Item> {
    Ok(item_from_json(json)?)
}

/// What a write did.
struct Written {
    table: std::sync::Arc<TableMeta>,
    old: Option<Item>,
    new: Option<Item>,
    /// The item's key and the size of its item collection after the write (tables with
    /// local indexes).
    collection: Option<(Item, u64)>,
}

/// Runs one conditional single-item write in one transaction. `key_of` validates the request
/// against the table and returns the item's key attributes; `change` computes the new item
/// (`None` deletes) from the old one.
fn write_one(
    svc: &DynamoService,
    table_name: &str,
    condition: Option<&Condition>,
    old_on_failure: bool,
    key_of: impl Fn(&TableMeta) -> Result<Item>,
    change: impl Fn(&TableMeta, &Item, Option<&Item>) -> Result<Option<Item>>,
) -> Result<Written> {
    svc.store().transact(|tx| {
        // The catalog record, the old item and the table's stats in one read (one round trip
        // to a network engine); `keys_of` is called last with the table returned.
        let last_key = std::cell::RefCell::new(None);
        let (table, values) = storage::read_with_table(&*tx, svc.catalog(), table_name, |t| {
            let key = key_of(t)?;
            let item_key = storage::item_key(t, &key)?;
            let keys = vec![item_key.clone(), storage::stats_key(t)];
            *last_key.borrow_mut() = Some((key, item_key));
            Ok(keys)
        })?
        .ok_or_else(no_such_table)?;
        let (key, item_key) = last_key
            .into_inner()
            .ok_or_else(|| Error::Corrupt("no key for the item".into()))?;
        let mut values = values.into_iter();
        let old = storage::decode_stored_item(values.next().flatten().as_deref())?;
        let stats = values.next().flatten();
        if let Some(condition) = condition {
            let empty = Item::new();
            if !condition.evaluate(old.as_ref().unwrap_or(&empty))? {
                let item = if old_on_failure {
                    old.map(Box::new)
                } else {
                    None
                };
                return Err(Error::ConditionalCheckFailed { item });
            }
        }
        let new = change(&table, &key, old.as_ref())?;
        if old.is_some() || new.is_some() {
            let stats = storage::decode_stats(stats.as_deref())?;
            storage::write_item_with_stats(
                tx,
                &table,
                &item_key,
                old.as_ref(),
                new.as_ref(),
                stats,
            )?;
        }
        let collection = storage::collection_size(&*tx, &table, &key)?.map(|size| (key, size));
        Ok(Written {
            table,
            old,
            new,
            collection,
        })
    })
}

/// The response of a write: `Attributes` (when asked for and not empty) and
/// `ConsumedCapacity`.
fn write_output(
    svc: &DynamoService,
    w: &Written,
    attributes: Option<Item>,
    opts: &WriteOptions,
) -> Value {
    let capacity = opts.capacity;
    let mut out = Map::new();
    if let Some(attrs) = attributes.filter(|a| !a.is_empty()) {
        out.insert("Attributes".into(), item_to_json(&attrs));
    }
    if opts.collection_metrics
        && let Some((key, size)) = &w.collection
    {
        out.insert(
            "ItemCollectionMetrics".into(),
            crate::index::collection_metrics(&w.table, key, *size),
        );
    }
    let consumed = write_consumed(&w.table, w.old.as_ref(), w.new.as_ref());
    svc.meter().charge(&w.table, Kind::Write, &consumed);
    if let Some(c) = capacity.report(&w.table.name, Kind::Write, &consumed) {
        out.insert("ConsumedCapacity".into(), c);
    }
    Value::Object(out)
}

fn check_size(item: &Item, message: &str) -> Result<()> {
    if item_size(item) > MAX_ITEM_BYTES {
        return Err(Error::validation(message));
    }
    Ok(())
}

/// Parses the ConditionExpression of a write that has no other expression (PutItem,
/// DeleteItem), checking that every name and value supplied is used.
fn condition_only(p: &WriteParams) -> Result<Option<Condition>> {
    if p.expected.is_some() || p.conditional_operator.is_some() {
        check_expression_maps(
            &p.expression_attribute_names,
            &p.expression_attribute_values,
            false,
        )?;
        return p.legacy_condition(false);
    }
    check_expression_maps(
        &p.expression_attribute_names,
        &p.expression_attribute_values,
        p.condition_expression.is_some(),
    )?;
    let values = attribute_values(&p.expression_attribute_values)?;
    let mut ctx = ExprContext::new(p.expression_attribute_names.as_ref(), values.as_ref());
    let condition = p
        .condition_expression
        .as_deref()
        .map(|c| ctx.condition(c))
        .transpose()?;
    ctx.finish()?;
    Ok(condition)
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html
pub fn put_item(svc: &DynamoService, input: PutItemInput) -> Result<Value> {
    let p = &input.common;
    let mut v = Violations::default();
    v.table_name(&input.table_name);
    v.require(&input.item, "item");
    let opts = p.options(&mut v);
    v.finish()?;
    WriteParams::check_allowed(&opts, &[ReturnValues::None, ReturnValues::AllOld])?;
    let item = parse_item(input.item.as_ref().unwrap_or(&Value::Null))?;
    let condition = condition_only(p)?;

    let name = crate::ops::table_name(input.table_name.as_deref().unwrap_or_default());
    let written = write_one(
        svc,
        name,
        condition.as_ref(),
        opts.old_on_failure,
        |table| {
            table.check_item_keys(&item)?;
            check_size(&item, "Item size has exceeded the maximum allowed size")?;
            Ok(table.key_of(&item))
        },
        |_, _, _| Ok(Some(item.clone())),
    )?;
    let attributes = match opts.return_values {
        ReturnValues::AllOld => written.old.clone(),
        _ => None,
    };
    Ok(write_output(svc, &written, attributes, &opts))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteItem.html
pub fn delete_item(svc: &DynamoService, input: DeleteItemInput) -> Result<Value> {
    let p = &input.common;
    let mut v = Violations::default();
    v.table_name(&input.table_name);
    v.require(&input.key, "key");
    let opts = p.options(&mut v);
    v.finish()?;
    WriteParams::check_allowed(&opts, &[ReturnValues::None, ReturnValues::AllOld])?;
    let key = parse_item(input.key.as_ref().unwrap_or(&Value::Null))?;
    let condition = condition_only(p)?;

    let name = crate::ops::table_name(input.table_name.as_deref().unwrap_or_default());
    let written = write_one(
        svc,
        name,
        condition.as_ref(),
        opts.old_on_failure,
        |table| {
            table.check_key(&key)?;
            Ok(key.clone())
        },
        |_, _, _| Ok(None),
    )?;
    let attributes = match opts.return_values {
        ReturnValues::AllOld => written.old.clone(),
        _ => None,
    };
    Ok(write_output(svc, &written, attributes, &opts))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
pub fn update_item(svc: &DynamoService, input: UpdateItemInput) -> Result<Value> {
    let p = &input.common;
    let mut v = Violations::default();
    v.table_name(&input.table_name);
    v.require(&input.key, "key");
    let opts = p.options(&mut v);
    v.finish()?;
    crate::ops::legacy::reject_mixed(
        &[
            ("AttributeUpdates", input.attribute_updates.is_some()),
            ("Expected", p.expected.is_some()),
            ("ConditionalOperator", p.conditional_operator.is_some()),
        ],
        &[
            ("UpdateExpression", input.update_expression.is_some()),
            ("ConditionExpression", p.condition_expression.is_some()),
        ],
    )?;
    let key = parse_item(input.key.as_ref().unwrap_or(&Value::Null))?;
    let legacy_condition = p.legacy_condition(input.update_expression.is_some())?;
    let legacy_update = input
        .attribute_updates
        .as_ref()
        .map(|json| -> Result<Update> {
            Ok(crate::expr::legacy_update(
                &crate::ops::legacy::attribute_updates(json)?,
            )?)
        })
        .transpose()?;
    check_expression_maps(
        &p.expression_attribute_names,
        &p.expression_attribute_values,
        p.condition_expression.is_some() || input.update_expression.is_some(),
    )?;
    let values = attribute_values(&p.expression_attribute_values)?;
    let mut ctx = ExprContext::new(p.expression_attribute_names.as_ref(), values.as_ref());
    let update = input
        .update_expression
        .as_deref()
        .map(|u| ctx.update(u))
        .transpose()?
        .or(legacy_update);
    let condition = p
        .condition_expression
        .as_deref()
        .map(|c| ctx.condition(c))
        .transpose()?
        .or(legacy_condition);
    ctx.finish()?;
    let updated_paths = update
        .as_ref()
        .map(Update::updated_paths)
        .unwrap_or_default();

    let name = crate::ops::table_name(input.table_name.as_deref().unwrap_or_default());
    let written = write_one(
        svc,
        name,
        condition.as_ref(),
        opts.old_on_failure,
        |table| {
            table.check_key(&key)?;
            for path in &updated_paths {
                if let Some(attr) = table.key_attrs().find(|a| path.top() == a.name) {
                    return Err(Error::invalid_parameter(format_args!(
                        "Cannot update attribute {}. This attribute is part of the key",
                        attr.name
                    )));
                }
            }
            Ok(key.clone())
        },
        |_, key, old| {
            // UpdateItem on a missing item creates it from its key (an upsert), unless the
            // update only removes attributes.
            if old.is_none() && update.as_ref().is_some_and(|u| !u.creates_item()) {
                return Ok(None);
            }
            let mut item = old.cloned().unwrap_or_else(|| key.clone());
            if let Some(update) = &update {
                update.apply(&mut item)?;
            }
            check_size(
                &item,
                "Item size to update has exceeded the maximum allowed size",
            )?;
            Ok(Some(item))
        },
    )?;
    let updated = || Projection::from_paths(updated_paths.clone());
    let attributes = match opts.return_values {
        ReturnValues::None => None,
        ReturnValues::AllOld => written.old.clone(),
        ReturnValues::AllNew => written.new.clone(),
        ReturnValues::UpdatedOld => written.old.as_ref().map(|o| updated().apply(o)),
        ReturnValues::UpdatedNew => written.new.as_ref().map(|n| updated().apply(n)),
    };
    Ok(write_output(svc, &written, attributes, &opts))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html
pub fn get_item(svc: &DynamoService, input: GetItemInput) -> Result<Value> {
    let mut v = Violations::default();
    v.table_name(&input.table_name);
    v.require(&input.key, "key");
    let capacity = ReturnConsumedCapacity::parse(input.return_consumed_capacity.as_deref(), &mut v);
    v.finish()?;
    crate::ops::legacy::reject_mixed(
        &[("AttributesToGet", input.attributes_to_get.is_some())],
        &[(
            "ProjectionExpression",
            input.projection_expression.is_some(),
        )],
    )?;
    let key = parse_item(input.key.as_ref().unwrap_or(&Value::Null))?;
    check_expression_maps(
        &input.expression_attribute_names,
        &None,
        input.projection_expression.is_some(),
    )?;
    let mut ctx = ExprContext::new(input.expression_attribute_names.as_ref(), None);
    let mut projection: Option<Projection> = input
        .projection_expression
        .as_deref()
        .map(|p| ctx.projection(p))
        .transpose()?;
    ctx.finish()?;
    if let Some(json) = &input.attributes_to_get {
        projection = Some(crate::ops::legacy::attributes_to_get(json)?);
    }

    let name = crate::ops::table_name(input.table_name.as_deref().unwrap_or_default());
    // Every read is from the latest committed state, so eventually consistent reads are
    // strongly consistent too; only their price differs.
    let consistent = input.consistent_read.unwrap_or(false);
    let snap = svc.store().snapshot();
    // The catalog record and the item in one read (one round trip to a network engine).
    let (table, values) = storage::read_with_table(&*snap, svc.catalog(), name, |t| {
        t.check_key(&key)?;
        Ok(vec![storage::item_key(t, &key)?])
    })?
    .ok_or_else(no_such_table)?;
    drop(snap);
    let item = storage::decode_stored_item(values.into_iter().next().flatten().as_deref())?;
    let units = read_units(item.as_ref().map_or(0, item_size), consistent);
    let mut out = Map::new();
    if let Some(item) = item {
        let item = match &projection {
            Some(p) => p.apply(&item),
            None => item,
        };
        out.insert("Item".into(), item_to_json(&item));
    }
    let consumed = Consumed::on_table(units);
    svc.meter().charge(&table, Kind::Read, &consumed);
    if let Some(c) = capacity.report(&table.name, Kind::Read, &consumed) {
        out.insert("ConsumedCapacity".into(), c);
    }
    Ok(Value::Object(out))
}
