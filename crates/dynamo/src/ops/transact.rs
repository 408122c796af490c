//! TransactWriteItems and TransactGetItems
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html>,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactGetItems.html>).
//!
//! A write transaction is one serializable store transaction: every action's condition is
//! evaluated against the state before the transaction (no item may be touched twice, so order
//! does not matter), and either every write commits through [`storage::write_item`] or, when
//! a condition fails, none does and the client gets `TransactionCanceledException` with one
//! reason per action. A `ClientRequestToken` is remembered for ten minutes in the same
//! transaction, so a retried request is answered without being applied twice.
//! Must not: lay out item keys or bypass `write_item`.

use std::collections::{BTreeMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::capacity::{
    Consumed, Kind as Units, ReturnConsumedCapacity, read_units, write_consumed,
};
use crate::catalog::TableMeta;
use crate::error::{CancellationReason, Error, Result};
use crate::expr::{Condition, ExprContext, Projection, Update};
use crate::ops::items::{MAX_ITEM_BYTES, check_expression_maps};
use crate::ops::{Violations, attribute_values, no_such_table, table_name};
use crate::service::DynamoService;
use crate::storage;
use crate::value::{Item, item_from_json, item_size, item_to_json};

const MAX_ACTIONS: usize = 100;
/// The most item data one TransactWriteItems may carry
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html>).
const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// How long a `ClientRequestToken` is remembered.
const TOKEN_TTL_SECS: f64 = 600.0;
const TOKEN_PREFIX: &[u8] = b"dynamodb/c/tok/";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransactWriteItemsInput {
    transact_items: Option<Vec<TransactWriteItem>>,
    client_request_token: Option<String>,
    return_consumed_capacity: Option<String>,
    return_item_collection_metrics: Option<String>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransactWriteItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    condition_check: Option<ActionInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    put: Option<ActionInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delete: Option<ActionInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update: Option<ActionInput>,
}

/// The members of Put, Update, Delete, ConditionCheck and Get, flattened into one shape.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionInput {
    table_name: Option<String>,
    key: Option<Value>,
    item: Option<Value>,
    update_expression: Option<String>,
    condition_expression: Option<String>,
    projection_expression: Option<String>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    expression_attribute_values: Option<BTreeMap<String, Value>>,
    return_values_on_condition_check_failure: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransactGetItemsInput {
    transact_items: Option<Vec<TransactGetItem>>,
    return_consumed_capacity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransactGetItem {
    get: Option<ActionInput>,
}

enum Kind {
    Check,
    Put(Item),
    Delete,
    Update(Option<Update>),
}

/// One parsed action.
struct Planned<'a> {
    table: &'a str,
    kind: Kind,
    key: Option<Item>,
    condition: Option<Condition>,
    old_on_failure: bool,
}

fn length_violation(n: usize, field: &str) -> Result<()> {
    if n == 0 || n > MAX_ACTIONS {
        let bound = if n == 0 {
            "greater than or equal to 1"
        } else {
            "less than or equal to 100"
        };
        return Err(Error::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length {bound}"
        )));
    }
    Ok(())
}

fn plan<'a>(a: &'a ActionInput, kind: &str) -> Result<Planned<'a>> {
    let mut v = Violations::default();
    v.table_name(&a.table_name);
    if kind == "ConditionCheck" {
        v.require(&a.condition_expression, "conditionExpression");
    }
    let old_on_failure = match a.return_values_on_condition_check_failure.as_deref() {
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
    v.finish()?;
    check_expression_maps(
        &a.expression_attribute_names,
        &a.expression_attribute_values,
        a.condition_expression.is_some() || a.update_expression.is_some(),
    )?;
    let values = attribute_values(&a.expression_attribute_values)?;
    let mut ctx = ExprContext::new(a.expression_attribute_names.as_ref(), values.as_ref());
    let update = a
        .update_expression
        .as_deref()
        .map(|u| ctx.update(u))
        .transpose()?;
    let condition = a
        .condition_expression
        .as_deref()
        .map(|c| ctx.condition(c))
        .transpose()?;
    ctx.finish()?;
    let key = a.key.as_ref().map(item_from_json).transpose()?;
    let kind = match kind {
        "Put" => {
            let item = item_from_json(a.item.as_ref().unwrap_or(&Value::Null))?;
            if item_size(&item) > MAX_ITEM_BYTES {
                return Err(Error::validation(
                    "Item size has exceeded the maximum allowed size",
                ));
            }
            Kind::Put(item)
        }
        "Update" => Kind::Update(update),
        "Delete" => Kind::Delete,
        _ => Kind::Check,
    };
    if !matches!(kind, Kind::Put(_)) && key.is_none() {
        return Err(Error::validation(
            "1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null",
        ));
    }
    Ok(Planned {
        table: table_name(a.table_name.as_deref().unwrap_or_default()),
        kind,
        key,
        condition,
        old_on_failure,
    })
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A fingerprint of the request, to tell a retry from a different request under the same
/// token: the CRC32 and length of its canonical JSON (object keys sorted).
fn fingerprint(items: &[TransactWriteItem]) -> String {
    let text = serde_json::to_string(items).unwrap_or_default();
    format!("{:08x}-{}", crc32fast::hash(text.as_bytes()), text.len())
}

pub fn transact_write_items(svc: &DynamoService, input: TransactWriteItemsInput) -> Result<Value> {
    let mut v = Violations::default();
    v.require(&input.transact_items, "transactItems");
    let capacity = ReturnConsumedCapacity::parse(input.return_consumed_capacity.as_deref(), &mut v);
    let metrics_asked = match input.return_item_collection_metrics.as_deref() {
        None | Some("NONE") => false,
        Some("SIZE") => true,
        Some(other) => {
            v.enum_value(other, "returnItemCollectionMetrics", "[SIZE, NONE]");
            false
        }
    };
    if let Some(t) = &input.client_request_token
        && !(1..=36).contains(&t.len())
    {
        v.push(format!(
            "Value '{t}' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36"
        ));
    }
    v.finish()?;
    let items = input.transact_items.as_deref().unwrap_or_default();
    length_violation(items.len(), "transactItems")?;
    let mut plans = Vec::with_capacity(items.len());
    for item in items {
        let actions = [
            ("ConditionCheck", &item.condition_check),
            ("Put", &item.put),
            ("Delete", &item.delete),
            ("Update", &item.update),
        ];
        let mut set = actions
            .iter()
            .filter_map(|(k, a)| a.as_ref().map(|a| (*k, a)));
        match (set.next(), set.next()) {
            (Some((kind, a)), None) => plans.push(plan(a, kind)?),
            _ => {
                return Err(Error::validation(
                    "TransactItems can only contain one of Check, Put, Update or Delete",
                ));
            }
        }
    }
    // The aggregate size of the items in a transaction is at most 4 MB: whole items for Put,
    // keys for the other actions (their items are checked one by one at 400 KB).
    let total: usize = plans
        .iter()
        .map(|p| match (&p.kind, &p.key) {
            (Kind::Put(item), _) => item_size(item),
            (_, Some(key)) => item_size(key),
            (_, None) => 0,
        })
        .sum();
    if total > MAX_TRANSACTION_BYTES {
        return Err(Error::validation(
            "Transaction request size has exceeded the maximum allowed size of 4 MB",
        ));
    }
    let token = input
        .client_request_token
        .as_ref()
        .map(|t| ([TOKEN_PREFIX, t.as_bytes()].concat(), fingerprint(items)));

    let (units, metrics) = svc.store().transact(|tx| {
        let now = now_secs();
        if let Some((key, print)) = &token
            && let Some(record) = tx.get(key)?
        {
            let record: Value = serde_json::from_slice(&record).unwrap_or_default();
            let at = record.get("at").and_then(Value::as_f64).unwrap_or(0.0);
            if now - at < TOKEN_TTL_SECS {
                if record.get("request").and_then(Value::as_str) != Some(print.as_str()) {
                    return Err(Error::IdempotentParameterMismatch);
                }
                // The same request again: it already happened; answer without applying it.
                return Ok((BTreeMap::new(), BTreeMap::new()));
            }
        }
        let mut tables: BTreeMap<&str, TableMeta> = BTreeMap::new();
        let mut seen = HashSet::new();
        let mut reasons = Vec::with_capacity(plans.len());
        let mut writes = Vec::new();
        let mut failed = false;
        for p in &plans {
            if !tables.contains_key(p.table) {
                let t = storage::read_table(&*tx, p.table)?.ok_or_else(no_such_table)?;
                tables.insert(p.table, t);
            }
            let table = tables.get(p.table).ok_or_else(no_such_table)?;
            // A key that does not fit the schema fails only this action: the transaction is
            // cancelled with a ValidationError reason.
            let checked = (|| -> Result<Item> {
                let key = match (&p.kind, &p.key) {
                    (Kind::Put(item), _) => {
                        table.check_item_keys(item)?;
                        table.key_of(item)
                    }
                    (_, Some(key)) => {
                        table.check_key(key)?;
                        key.clone()
                    }
                    (_, None) => return Err(no_such_table()),
                };
                Ok(key)
            })();
            let key = match checked {
                Ok(key) => key,
                // An empty key value is refused before the transaction runs, as in DynamoDB.
                Err(Error::Validation(message)) if !message.contains("cannot contain an empty") => {
                    failed = true;
                    reasons.push(validation_reason(message));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Kind::Update(Some(u)) = &p.kind
                && let Some(path) = u
                    .updated_paths()
                    .into_iter()
                    .find(|path| table.is_key_attr(path.top()))
            {
                return Err(Error::invalid_parameter(format_args!(
                    "Cannot update attribute {}. This attribute is part of the key",
                    path.top()
                )));
            }
            let item_key = storage::item_key(table, &key)?;
            if !seen.insert(item_key.clone()) {
                return Err(Error::validation(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            let old = storage::read_item(&*tx, &item_key)?;
            let empty = Item::new();
            let holds = match &p.condition {
                Some(c) => c.evaluate(old.as_ref().unwrap_or(&empty))?,
                None => true,
            };
            if !holds {
                failed = true;
                reasons.push(CancellationReason {
                    code: "ConditionalCheckFailed",
                    message: Some("The conditional request failed".into()),
                    item: if p.old_on_failure { old } else { None },
                });
                continue;
            }
            let new = match &p.kind {
                Kind::Check => {
                    reasons.push(none_reason());
                    continue;
                }
                Kind::Put(item) => Some(item.clone()),
                Kind::Delete => None,
                Kind::Update(update) => {
                    let mut item = old.clone().unwrap_or_else(|| key.clone());
                    if let Some(u) = update
                        && let Err(e) = u.apply(&mut item)
                    {
                        failed = true;
                        reasons.push(validation_reason(e.to_string()));
                        continue;
                    }
                    if item_size(&item) > MAX_ITEM_BYTES {
                        failed = true;
                        reasons.push(validation_reason(
                            "Item size to update has exceeded the maximum allowed size".into(),
                        ));
                        continue;
                    }
                    // An update that only removes attributes does not create a missing item.
                    if old.is_none() && update.as_ref().is_some_and(|u| !u.creates_item()) {
                        None
                    } else {
                        Some(item)
                    }
                }
            };
            reasons.push(none_reason());
            if old.is_some() || new.is_some() {
                writes.push((p.table, item_key, old, new));
            }
        }
        if failed {
            return Err(Error::TransactionCanceled(reasons));
        }
        let mut units: BTreeMap<String, Consumed> = BTreeMap::new();
        for (name, item_key, old, new) in &writes {
            let table = tables.get(name).ok_or_else(no_such_table)?;
            storage::write_item(tx, table, item_key, old.as_ref(), new.as_ref())?;
            // Transactional writes cost twice a standard write.
            units
                .entry(table.name.clone())
                .or_default()
                .add(&write_consumed(table, old.as_ref(), new.as_ref()).scaled(2.0));
        }
        if let Some((key, print)) = &token {
            let record = serde_json::json!({"at": now, "request": print});
            tx.put(key, record.to_string().as_bytes());
        }
        // ItemCollectionMetrics: each touched collection of a table with local indexes.
        let mut metrics: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        if metrics_asked {
            for (name, _, old, new) in &writes {
                let table = tables.get(name).ok_or_else(no_such_table)?;
                let Some(item) = new.as_ref().or(old.as_ref()) else {
                    continue;
                };
                let list = storage::collection_metrics_of(&*tx, table, &[item])?;
                let entry = metrics.entry(table.name.clone()).or_default();
                for m in list {
                    if !entry.contains(&m) {
                        entry.push(m);
                    }
                }
            }
        }
        Ok((units, metrics))
    })?;
    for (table, consumed) in &units {
        svc.meter().charge_named(table, Units::Write, consumed);
    }
    let mut out = Map::new();
    if !metrics.is_empty() {
        out.insert("ItemCollectionMetrics".into(), serde_json::json!(metrics));
    }
    if capacity != ReturnConsumedCapacity::None {
        let list: Vec<Value> = units
            .iter()
            .filter_map(|(t, u)| capacity.report(t, Units::Write, u))
            .collect();
        out.insert("ConsumedCapacity".into(), Value::Array(list));
    }
    Ok(Value::Object(out))
}

fn validation_reason(message: String) -> CancellationReason {
    CancellationReason {
        code: "ValidationError",
        message: Some(message),
        item: None,
    }
}

fn none_reason() -> CancellationReason {
    CancellationReason {
        code: "None",
        message: None,
        item: None,
    }
}

pub fn transact_get_items(svc: &DynamoService, input: TransactGetItemsInput) -> Result<Value> {
    let mut v = Violations::default();
    v.require(&input.transact_items, "transactItems");
    let capacity = ReturnConsumedCapacity::parse(input.return_consumed_capacity.as_deref(), &mut v);
    v.finish()?;
    let items = input.transact_items.as_deref().unwrap_or_default();
    length_violation(items.len(), "transactItems")?;
    let mut gets: Vec<(&str, Item, Option<Projection>)> = Vec::with_capacity(items.len());
    for item in items {
        let Some(get) = &item.get else {
            return Err(Error::validation(
                "1 validation error detected: Value null at 'transactItems.member.get' failed to satisfy constraint: Member must not be null",
            ));
        };
        let mut v = Violations::default();
        v.table_name(&get.table_name);
        v.require(&get.key, "key");
        v.finish()?;
        check_expression_maps(
            &get.expression_attribute_names,
            &None,
            get.projection_expression.is_some(),
        )?;
        let mut ctx = ExprContext::new(get.expression_attribute_names.as_ref(), None);
        let projection = get
            .projection_expression
            .as_deref()
            .map(|p| ctx.projection(p))
            .transpose()?;
        ctx.finish()?;
        let key = item_from_json(get.key.as_ref().unwrap_or(&Value::Null))?;
        gets.push((
            table_name(get.table_name.as_deref().unwrap_or_default()),
            key,
            projection,
        ));
    }
    let snap = svc.store().snapshot();
    let mut seen = HashSet::new();
    let mut responses = Vec::with_capacity(gets.len());
    let mut units: BTreeMap<String, Consumed> = BTreeMap::new();
    for (name, key, projection) in &gets {
        let table = storage::read_table(&*snap, name)?.ok_or_else(no_such_table)?;
        table.check_key(key)?;
        let k = storage::item_key(&table, key)?;
        if !seen.insert(k.clone()) {
            return Err(Error::validation(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
        let item = storage::read_item(&*snap, &k)?;
        // Transactional reads cost twice a strongly consistent read.
        units.entry(table.name.clone()).or_default().table +=
            2.0 * read_units(item.as_ref().map_or(0, item_size), true);
        let mut entry = Map::new();
        if let Some(item) = item {
            let item = match projection {
                Some(p) => p.apply(&item),
                None => item,
            };
            entry.insert("Item".into(), item_to_json(&item));
        }
        responses.push(Value::Object(entry));
    }
    for (table, consumed) in &units {
        svc.meter().charge_named(table, Units::Read, consumed);
    }
    let mut out = Map::new();
    out.insert("Responses".into(), Value::Array(responses));
    if capacity != ReturnConsumedCapacity::None {
        let list: Vec<Value> = units
            .iter()
            .filter_map(|(t, u)| capacity.report(t, Units::Read, u))
            .collect();
        out.insert("ConsumedCapacity".into(), Value::Array(list));
    }
    Ok(Value::Object(out))
}
