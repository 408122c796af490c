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

use crate::capacity::{Consumed, Kind, ReturnConsumedCapacity, read_units};
use crate::catalog::TableMeta;
use crate::error::{Error, Result};
use crate::expr::{Condition, ExprContext, Projection, legacy_condition};
use crate::index::{IndexKind, IndexMeta, ProjectionType, entry_key_of};
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
    /// `ALL_PROJECTED_ATTRIBUTES`: an index's entries as they are (reading an index).
    AllProjected,
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
        let on_index = self.index_name.is_some();
        let select = match (self.select.as_deref(), projection.is_some()) {
            // Reading an index, DynamoDB's default is ALL_PROJECTED_ATTRIBUTES.
            (None, false) if on_index => Select::AllProjected,
            (Some("ALL_PROJECTED_ATTRIBUTES"), false) if on_index => Select::AllProjected,
            (Some("ALL_PROJECTED_ATTRIBUTES"), true) if on_index => {
                return Err(Error::validation(format!(
                    "Cannot specify the {projection_name} when choosing to get ALL_PROJECTED_ATTRIBUTES"
                )));
            }
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

/// Where a Query or Scan reads: the table, or one of its indexes.
pub struct Source<'a> {
    pub table: &'a TableMeta,
    pub index: Option<&'a IndexMeta>,
    /// A local index whose entries lack attributes the request needs: each item is read
    /// from the table, as DynamoDB fetches them
    /// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html#LSI.Projections>).
    pub fetch: bool,
}

impl<'a> Source<'a> {
    /// The source of a request on `table` with `IndexName` `index_name`, with DynamoDB's
    /// checks of the request against the index.
    pub fn resolve(
        table: &'a TableMeta,
        index_name: Option<&str>,
        spec: &PageSpec,
    ) -> Result<Self> {
        let Some(name) = index_name else {
            return Ok(Self {
                table,
                index: None,
                fetch: false,
            });
        };
        let index = table.index(name).ok_or_else(|| {
            Error::validation(format!(
                "The table does not have the specified index: {name}"
            ))
        })?;
        let global = index.kind == IndexKind::Global;
        if global && spec.consistent {
            return Err(Error::validation(
                "Consistent reads are not supported on global secondary indexes",
            ));
        }
        if index.backfilling {
            return Err(Error::validation(format!(
                "Cannot read from backfilling global secondary index: {name}"
            )));
        }
        let partial = index.projection != ProjectionType::All;
        if global && partial && spec.select == Select::All {
            return Err(Error::invalid_parameter(format_args!(
                "Select type ALL_ATTRIBUTES is not supported for global secondary index {name} because its projection type is not ALL"
            )));
        }
        let needs_more = spec.filter.is_some()
            || match spec.select {
                Select::All => true,
                Select::Specific => spec.projection.as_ref().is_some_and(|p| {
                    p.paths()
                        .iter()
                        .any(|path| !index.projects(table, path.top()))
                }),
                Select::AllProjected | Select::Count => false,
            };
        let fetch = !global && partial && needs_more;
        Ok(Self {
            table,
            index: Some(index),
            fetch,
        })
    }

    /// Checks an `ExclusiveStartKey` and returns its store key.
    pub fn start_key(&self, key: &Item) -> Result<Vec<u8>> {
        match self.index {
            None => {
                check_start_key(self.table, key)?;
                crate::storage::item_key(self.table, key)
            }
            Some(index) => {
                let wanted = entry_key_of(self.table, index, key);
                let typed = self.table.key_attrs().chain(index.key_attrs()).all(|a| {
                    key.get(&a.name)
                        .is_some_and(|v| v.type_name() == a.kind.as_str())
                });
                // On an index DynamoDB says no more than this.
                if !typed || wanted.len() != key.len() {
                    return Err(Error::validation("The provided starting key is invalid"));
                }
                crate::storage::entry_key(self.table, index, key)
            }
        }
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
/// rejects are neither evaluated nor counted. What the page consumed is charged to `meter`.
pub fn read_page<R: Read + ?Sized>(
    meter: &crate::throughput::Meter,
    r: &R,
    source: &Source<'_>,
    range: KeyRange,
    direction: Direction,
    spec: &PageSpec,
    accept: impl Fn(&[u8]) -> bool,
) -> Result<Value> {
    let mut items = Vec::new();
    let (mut count, mut scanned, mut bytes) = (0usize, 0usize, 0usize);
    let mut last: Option<Item> = None;
    let mut stopped_early = false;
    let table = source.table;
    for entry in r.scan(range, direction) {
        let (key, value) = entry?;
        if !accept(&key) {
            continue;
        }
        if spec.limit.is_some_and(|l| scanned >= l) || bytes >= PAGE_BYTES {
            stopped_early = true;
            break;
        }
        let mut item = decode_item(&value).map_err(|e| Error::Corrupt(format!("item: {e}")))?;
        let last_key = match source.index {
            Some(index) => entry_key_of(table, index, &item),
            None => table.key_of(&item),
        };
        if source.fetch {
            let key = crate::storage::item_key(table, &table.key_of(&item))?;
            // The entry and the item are read from the same snapshot, and written in one
            // transaction: the item is there.
            let Some(full) = crate::storage::read_item(r, &key)? else {
                continue;
            };
            item = full;
        }
        scanned += 1;
        bytes += item_size(&item);
        let matches = match &spec.filter {
            Some(f) => f.evaluate(&item)?,
            None => true,
        };
        last = Some(last_key);
        if matches {
            count += 1;
            if spec.select != Select::Count {
                let item = match (&spec.projection, source.index) {
                    (Some(p), _) => p.apply(&item),
                    // Read from the table for the filter, answered as the index has it.
                    (None, Some(index)) if spec.select == Select::AllProjected && source.fetch => {
                        item.into_iter()
                            .filter(|(k, _)| index.projects(table, k))
                            .collect()
                    }
                    (None, _) => item,
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
    // A Query or Scan of an index is charged to the index (a local index's fetches from
    // the table included).
    let units = read_units(bytes, spec.consistent);
    let consumed = match source.index {
        Some(index) => Consumed::on_index(index, units),
        None => Consumed::on_table(units),
    };
    meter.charge(table, Kind::Read, &consumed);
    if let Some(c) = spec.capacity.report(&table.name, Kind::Read, &consumed) {
        out.insert("ConsumedCapacity".into(), c);
    }
    Ok(Value::Object(out))
}
