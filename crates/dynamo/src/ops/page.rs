//! What Query and Scan share: their common request members (Select, projection, filter,
//! Limit, ExclusiveStartKey, ConsistentRead, legacy forms), and reading one page of items from
//! a range of one snapshot with DynamoDB's rules
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html>):
//! `Limit` counts items *evaluated* (before the filter), a page stops after 1 MB of evaluated
//! data, and `LastEvaluatedKey` is the key of the last evaluated item whenever the page
//! stopped early. `Count` counts items that passed the filter, `ScannedCount` all evaluated.
//!
//! Must not: decide which range to read (query.rs and scan.rs do) or write anything.

use std::collections::BTreeMap;

use nuvem_store::{Direction, KeyRange, Read};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::capacity::{ReturnConsumedCapacity, read_units};
use crate::catalog::TableMeta;
use crate::error::{Error, Result};
use crate::expr::{Condition, ExprContext, Projection, legacy_condition};
use crate::ops::{Violations, attribute_values, legacy};
use crate::value::{Item, decode_item, item_from_json, item_size, item_to_json};

/// The most data one Query or Scan page evaluates.
pub const PAGE_BYTES: usize = 1024 * 1024;

/// Request members shared by Query and Scan.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReadParams {
    pub table_name: Option<String>,
    pub index_name: Option<String>,
    pub select: Option<String>,
    pub projection_expression: Option<String>,
    pub attributes_to_get: Option<Value>,
    pub filter_expression: Option<String>,
    pub conditional_operator: Option<String>,
    pub limit: Option<i64>,
    pub exclusive_start_key: Option<Value>,
    pub consistent_read: Option<bool>,
    pub return_consumed_capacity: Option<String>,
    pub expression_attribute_names: Option<BTreeMap<String, String>>,
    pub expression_attribute_values: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    All,
    Specific,
    Count,
}

/// A checked Query or Scan, ready to read.
pub struct PageSpec {
    pub select: Select,
    pub projection: Option<Projection>,
    pub filter: Option<Condition>,
    pub limit: Option<usize>,
    pub consistent: bool,
    pub capacity: ReturnConsumedCapacity,
    pub exclusive_start_key: Option<Item>,
}

impl ReadParams {
    /// Records constraint violations of the shared members.
    pub fn violations(&self, v: &mut Violations) -> ReturnConsumedCapacity {
        v.table_name(&self.table_name);
        if let Some(l) = self.limit
            && l < 1
        {
            v.push(format!(
                "Value '{l}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
            ));
        }
        if let Some(s) = self.select.as_deref()
            && !matches!(
                s,
                "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES" | "SPECIFIC_ATTRIBUTES" | "COUNT"
            )
        {
            v.enum_value(
                s,
                "select",
                "[SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]",
            );
        }
        ReturnConsumedCapacity::parse(self.return_consumed_capacity.as_deref(), v)
    }

    /// Parses the expressions (or their legacy forms) of the request. `key_expression` is the
    /// Query's KeyConditionExpression, parsed in the same context so that the unused-name
    /// checks see every expression; `legacy_filter` is QueryFilter or ScanFilter.
    pub fn spec<K>(
        &self,
        capacity: ReturnConsumedCapacity,
        legacy_filter: (&str, Option<&Value>),
        key_expression: Option<&str>,
        key_parse: impl FnOnce(&mut ExprContext<'_>, &str) -> Result<K>,
    ) -> Result<(PageSpec, Option<K>)> {
        let (filter_name, legacy_filter_json) = legacy_filter;
        legacy::reject_mixed(
            &[
                ("AttributesToGet", self.attributes_to_get.is_some()),
                (filter_name, legacy_filter_json.is_some()),
                ("ConditionalOperator", self.conditional_operator.is_some()),
            ],
            &[
                ("ProjectionExpression", self.projection_expression.is_some()),
                ("FilterExpression", self.filter_expression.is_some()),
                ("KeyConditionExpression", key_expression.is_some()),
            ],
        )?;
        let any_expression = self.projection_expression.is_some()
            || self.filter_expression.is_some()
            || key_expression.is_some();
        super::items::check_expression_maps(
            &self.expression_attribute_names,
            &self.expression_attribute_values,
            any_expression,
        )?;
        let values = attribute_values(&self.expression_attribute_values)?;
        let mut ctx = ExprContext::new(self.expression_attribute_names.as_ref(), values.as_ref());
        let key = key_expression.map(|k| key_parse(&mut ctx, k)).transpose()?;
        let mut filter = self
            .filter_expression
            .as_deref()
            .map(|f| ctx.filter(f))
            .transpose()?;
        let mut projection = self
            .projection_expression
            .as_deref()
            .map(|p| ctx.projection(p))
            .transpose()?;
        ctx.finish()?;
        if let Some(json) = legacy_filter_json {
            let entries = legacy::conditions(json, filter_name)?;
            filter = legacy_condition(&entries, self.conditional_operator.as_deref())?;
        }
        if let Some(json) = &self.attributes_to_get {
            projection = Some(legacy::attributes_to_get(json)?);
        }
        let projection_name = if self.attributes_to_get.is_some() {
            "AttributesToGet"
        } else {
            "ProjectionExpression"
        };
        let select = match (self.select.as_deref(), projection.is_some()) {
            (None, false) | (Some("ALL_ATTRIBUTES"), false) => Select::All,
            (None, true) | (Some("SPECIFIC_ATTRIBUTES"), true) => Select::Specific,
            (Some("COUNT"), false) => Select::Count,
            (Some("SPECIFIC_ATTRIBUTES"), false) => {
                return Err(Error::validation(
                    "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
                ));
            }
            (Some("ALL_PROJECTED_ATTRIBUTES"), _) => {
                return Err(Error::validation(
                    "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
                ));
            }
            (Some(other), _) => {
                let other = if other == "ALL_ATTRIBUTES" {
                    "ALL_ATTRIBUTES"
                } else {
                    "COUNT"
                };
                return Err(Error::validation(format!(
                    "Cannot specify the {projection_name} when choosing to get {other}"
                )));
            }
        };
        let exclusive_start_key = self
            .exclusive_start_key
            .as_ref()
            .map(item_from_json)
            .transpose()?;
        let spec = PageSpec {
            select,
            projection,
            filter,
            limit: self.limit.and_then(|l| usize::try_from(l).ok()),
            consistent: self.consistent_read.unwrap_or(false),
            capacity,
            exclusive_start_key,
        };
        Ok((spec, key))
    }
}

/// Checks an `ExclusiveStartKey` against the table's key schema.
pub fn check_start_key(table: &TableMeta, key: &Item) -> Result<()> {
    table.check_key(key).map_err(|_| {
        Error::validation(
            "The provided starting key is invalid: The provided key element does not match the schema",
        )
    })
}

/// Narrows `range` to start strictly after (or, reading in reverse, end strictly before)
/// `start_key`, the store key of an `ExclusiveStartKey`.
pub fn after(mut range: KeyRange, start_key: Vec<u8>, direction: Direction) -> KeyRange {
    use std::ops::Bound;
    match direction {
        Direction::Forward => {
            let tighter = match &range.start {
                Bound::Included(s) | Bound::Excluded(s) => s.as_slice() <= start_key.as_slice(),
                Bound::Unbounded => true,
            };
            if tighter {
                range.start = Bound::Excluded(start_key);
            }
        }
        Direction::Reverse => {
            let tighter = match &range.end {
                Bound::Included(e) | Bound::Excluded(e) => e.as_slice() >= start_key.as_slice(),
                Bound::Unbounded => true,
            };
            if tighter {
                range.end = Bound::Excluded(start_key);
            }
        }
    }
    range
}

/// Reads one page from `range` of `r` and builds the Query/Scan output. `accept` picks the
/// items that belong to this request by their store key (a parallel Scan's segment); items it
/// rejects are neither evaluated nor counted.
pub fn read_page<R: Read + ?Sized>(
    r: &R,
    table: &TableMeta,
    range: KeyRange,
    direction: Direction,
    spec: &PageSpec,
    accept: impl Fn(&[u8]) -> bool,
) -> Result<Value> {
    let mut items = Vec::new();
    let (mut count, mut scanned, mut bytes) = (0usize, 0usize, 0usize);
    let mut last: Option<Item> = None;
    let mut stopped_early = false;
    for entry in r.scan(range, direction) {
        let (key, value) = entry?;
        if !accept(&key) {
            continue;
        }
        if spec.limit.is_some_and(|l| scanned >= l) || bytes >= PAGE_BYTES {
            stopped_early = true;
            break;
        }
        let item = decode_item(&value).map_err(|e| Error::Corrupt(format!("item: {e}")))?;
        scanned += 1;
        bytes += item_size(&item);
        let matches = match &spec.filter {
            Some(f) => f.evaluate(&item)?,
            None => true,
        };
        last = Some(table.key_of(&item));
        if matches {
            count += 1;
            if spec.select != Select::Count {
                let item = match &spec.projection {
                    Some(p) => p.apply(&item),
                    None => item,
                };
                items.push(item_to_json(&item));
            }
        }
    }
    let mut out = Map::new();
    if spec.select != Select::Count {
        out.insert("Items".into(), Value::Array(items));
    }
    out.insert("Count".into(), count.into());
    out.insert("ScannedCount".into(), scanned.into());
    if stopped_early && let Some(last) = last {
        out.insert("LastEvaluatedKey".into(), item_to_json(&last));
    }
    if let Some(c) = spec
        .capacity
        .report(&table.name, read_units(bytes, spec.consistent))
    {
        out.insert("ConsumedCapacity".into(), c);
    }
    Ok(Value::Object(out))
}
