//! Query (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Query.html>):
//! the items of one partition, optionally narrowed by a sort key condition, as one range scan
//! of the order-preserving item keys, read from one snapshot.
//!
//! Owns: checking the key condition (expression or legacy `KeyConditions`) against the key
//! schema and turning it into a key range. Must not: evaluate filters or build pages (see
//! [`super::page`]).

use nuvem_store::{Direction, KeyRange, prefix_successor};
use serde::Deserialize;
use serde_json::Value;

use crate::catalog::KeyAttr;
use crate::error::{Error, Result};
use crate::expr::{KeyCondition, SortCondition, legacy_key_conditions};
use crate::keys::{encode_key_component, encode_key_prefix};
use crate::ops::page::{self, ReadParams, Source};
use crate::ops::{Violations, legacy};
use crate::service::DynamoService;
use crate::storage;
use crate::value::AttributeValue;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryInput {
    key_condition_expression: Option<String>,
    key_conditions: Option<Value>,
    query_filter: Option<Value>,
    scan_index_forward: Option<bool>,
    #[serde(flatten)]
    read: ReadParams,
}

pub fn query(svc: &DynamoService, input: QueryInput) -> Result<Value> {
    let mut v = Violations::default();
    let capacity = input.read.violations(&mut v);
    v.finish()?;
    // DynamoDB lets legacy KeyConditions go with ProjectionExpression and
    // FilterExpression; only the two forms of the key condition exclude each other.
    legacy::reject_mixed(
        &[("KeyConditions", input.key_conditions.is_some())],
        &[(
            "KeyConditionExpression",
            input.key_condition_expression.is_some(),
        )],
    )?;
    let (spec, key) = input.read.spec(
        capacity,
        ("QueryFilter", input.query_filter.as_ref()),
        input.key_condition_expression.as_deref(),
        |ctx, k| Ok(ctx.key_condition(k)?),
    )?;
    let key = match (key, &input.key_conditions) {
        (Some(k), _) => k,
        (None, Some(json)) => legacy_key_conditions(&legacy::conditions(json, "KeyConditions")?)?,
        (None, None) => {
            return Err(Error::validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            ));
        }
    };

    let name = crate::ops::table_name(input.read.table_name.as_deref().unwrap_or_default());
    let snap = svc.store().snapshot();
    let table = storage::read_table(&*snap, name)?.ok_or_else(super::no_such_table)?;
    let source = Source::resolve(&table, input.read.index_name.as_deref(), &spec)?;
    let range = match source.index {
        Some(index) => {
            check_filter_attributes(
                |n| index.key_attrs().any(|k| k.name == n),
                &spec,
                input.query_filter.is_some(),
            )?;
            key_range(&index.hash_key, index.range_key.as_ref(), key, |pk| {
                storage::index_partition_prefix(&table, index, pk)
            })?
        }
        None => {
            check_filter_attributes(
                |n| table.is_key_attr(n),
                &spec,
                input.query_filter.is_some(),
            )?;
            key_range(&table.hash_key, table.range_key.as_ref(), key, |pk| {
                storage::partition_prefix(&table, pk)
            })?
        }
    };
    let direction = if input.scan_index_forward.unwrap_or(true) {
        Direction::Forward
    } else {
        Direction::Reverse
    };
    let range = match &spec.exclusive_start_key {
        Some(start) => {
            let start = match source.index {
                Some(_) => source.start_key(start)?,
                None => {
                    // Query says less than Scan about a key that does not fit the schema.
                    page::check_start_key(&table, start)
                        .map_err(|_| Error::validation("The provided starting key is invalid"))?;
                    storage::item_key(&table, start)?
                }
            };
            if !range.contains(&start) {
                return Err(Error::validation(
                    "The provided starting key is outside query boundaries based on provided conditions",
                ));
            }
            page::after(range, start, direction)
        }
        None => range,
    };
    page::read_page(
        svc.meter(),
        &*snap,
        &source,
        range,
        direction,
        &spec,
        |_| true,
    )
}

/// A Query filters only non-key attributes (of the table, or of the index it reads): the key
/// condition is the way to narrow by key.
fn check_filter_attributes(
    is_key: impl Fn(&str) -> bool,
    spec: &page::PageSpec,
    legacy: bool,
) -> Result<()> {
    let Some(filter) = &spec.filter else {
        return Ok(());
    };
    if let Some(name) = filter.attribute_names().into_iter().find(|n| is_key(n)) {
        let what = if legacy {
            "QueryFilter"
        } else {
            "Filter Expression"
        };
        return Err(Error::validation(format!(
            "{what} can only contain non-primary key attributes: Primary key attribute: {name}"
        )));
    }
    Ok(())
}

/// The key range of a key condition on a table or an index whose keys are `hash` and
/// `range_key` and whose partitions start with `partition_prefix(pk)`, with DynamoDB's
/// schema checks.
fn key_range(
    hash: &KeyAttr,
    range_key: Option<&KeyAttr>,
    mut key: KeyCondition,
    partition_prefix: impl Fn(&AttributeValue) -> Result<Vec<u8>>,
) -> Result<KeyRange> {
    if !key.orient(&hash.name) {
        return Err(Error::validation(format!(
            "Query condition missed key schema element: {}",
            hash.name
        )));
    }
    let (_, pk) = key.partition();
    if pk.type_name() != hash.kind.as_str() {
        return Err(Error::invalid_parameter(
            "Condition parameter type does not match schema type",
        ));
    }
    let prefix = partition_prefix(pk)?;
    let Some((sort_name, cond)) = key.sort() else {
        return Ok(KeyRange::prefix(&prefix));
    };
    let Some(range_key) = range_key.filter(|r| r.name == sort_name) else {
        let missing = range_key.map_or(sort_name, |r| r.name.as_str());
        return Err(Error::validation(format!(
            "Query condition missed key schema element: {missing}"
        )));
    };
    for value in cond.values() {
        if value.type_name() != range_key.kind.as_str() {
            return Err(Error::invalid_parameter(
                "Condition parameter type does not match schema type",
            ));
        }
    }
    let with = |v: &AttributeValue| -> Result<Vec<u8>> {
        let mut k = prefix.clone();
        encode_key_component(v, &mut k).map_err(|e| Error::validation(e.to_string()))?;
        Ok(k)
    };
    // An index entry's key continues after the sort key (with the table's keys), so a bound
    // that includes a sort key value `v` is "every key starting with v's encoding": up to
    // the successor of that encoding. Encodings are self-delimiting, so this is exact on the
    // table too.
    let past = |k: Vec<u8>| match prefix_successor(&k) {
        Some(s) => Bound::Excluded(s),
        None => Bound::Unbounded,
    };
    let end_of_partition = || past(prefix.clone());
    use std::ops::Bound;
    let range = match &cond {
        SortCondition::Eq(v) => KeyRange::prefix(&with(v)?),
        SortCondition::Lt(v) => KeyRange {
            start: Bound::Included(prefix.clone()),
            end: Bound::Excluded(with(v)?),
        },
        SortCondition::Le(v) => KeyRange {
            start: Bound::Included(prefix.clone()),
            end: past(with(v)?),
        },
        SortCondition::Gt(v) => match past(with(v)?) {
            Bound::Excluded(s) => KeyRange {
                start: Bound::Included(s),
                end: end_of_partition(),
            },
            // Nothing sorts after a key of only 0xFF bytes.
            _ => KeyRange {
                start: Bound::Excluded(prefix.clone()),
                end: Bound::Included(prefix.clone()),
            },
        },
        SortCondition::Ge(v) => KeyRange {
            start: Bound::Included(with(v)?),
            end: end_of_partition(),
        },
        SortCondition::Between(lo, hi) => {
            let (lo_key, hi_key) = (with(lo)?, with(hi)?);
            if lo_key > hi_key {
                return Err(Error::validation(format!(
                    "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{}:{}}}, upper bound operand: AttributeValue: {{{}:{}}}",
                    lo.type_name(),
                    scalar_text(lo),
                    hi.type_name(),
                    scalar_text(hi)
                )));
            }
            KeyRange {
                start: Bound::Included(lo_key),
                end: past(hi_key),
            }
        }
        SortCondition::BeginsWith(p) => {
            if matches!(p, AttributeValue::N(_)) {
                return Err(Error::validation(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                ));
            }
            let mut k = prefix.clone();
            encode_key_prefix(p, &mut k).map_err(|e| Error::validation(e.to_string()))?;
            KeyRange::prefix(&k)
        }
    };
    Ok(range)
}

/// A scalar as DynamoDB prints it inside messages.
fn scalar_text(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        other => other.to_json().to_string(),
    }
}
