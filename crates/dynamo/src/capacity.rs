//! Capacity accounting: how many read and write units an operation consumed, and the
//! `ConsumedCapacity` structure returned when the client asks for it.
//!
//! The rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
//! a write costs one WCU per started KB of the larger of the old and new item (at least one,
//! also when nothing was there to delete); a read costs one RCU per started 4 KB (at least
//! one, also when the item does not exist), halved for eventually consistent reads. A write
//! also costs on every secondary index whose entry it changes ([`write_consumed`]); a Query
//! or Scan of an index is charged to the index.
//! Must not: enforce throughput limits ([`crate::throughput`] does, with these prices).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::catalog::TableMeta;
use crate::index::{IndexKind, IndexMeta};
use crate::ops::Violations;
use crate::value::{Item, item_size};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnConsumedCapacity {
    #[default]
    None,
    Total,
    Indexes,
}

impl ReturnConsumedCapacity {
    /// Parses the `ReturnConsumedCapacity` member, recording a violation if it is not one of
    /// the enum values.
    pub fn parse(value: Option<&str>, violations: &mut Violations) -> Self {
        match value {
            None | Some("NONE") => Self::None,
            Some("TOTAL") => Self::Total,
            Some("INDEXES") => Self::Indexes,
            Some(other) => {
                violations.enum_value(other, "returnConsumedCapacity", "[INDEXES, TOTAL, NONE]");
                Self::None
            }
        }
    }

    /// The `ConsumedCapacity` member for an operation on table `table` that consumed
    /// `consumed` (of `kind`), or `None` when the client did not ask. `TOTAL` gives the sum
    /// of the table's and its indexes' units; `INDEXES` breaks it out under `Table`,
    /// `GlobalSecondaryIndexes` and `LocalSecondaryIndexes` (an index only when the
    /// operation touched it), each with `ReadCapacityUnits` or `WriteCapacityUnits` too.
    pub fn report(self, table: &str, kind: Kind, consumed: &Consumed) -> Option<Value> {
        let total = consumed.total();
        match self {
            Self::None => None,
            Self::Total => Some(json!({"TableName": table, "CapacityUnits": total})),
            Self::Indexes => {
                let mut out = json!({
                    "TableName": table,
                    "CapacityUnits": total,
                    "Table": kind.capacity(consumed.table),
                });
                out[kind.member()] = json!(total);
                for (member, map) in [
                    ("GlobalSecondaryIndexes", &consumed.global),
                    ("LocalSecondaryIndexes", &consumed.local),
                ] {
                    if !map.is_empty() {
                        let by_index: Map<String, Value> = map
                            .iter()
                            .map(|(name, units)| (name.clone(), kind.capacity(*units)))
                            .collect();
                        out[member] = Value::Object(by_index);
                    }
                }
                Some(out)
            }
        }
    }
}

/// Whether an operation read or wrote (which of `ReadCapacityUnits`/`WriteCapacityUnits`
/// the `INDEXES` breakdown names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    fn member(self) -> &'static str {
        match self {
            Self::Read => "ReadCapacityUnits",
            Self::Write => "WriteCapacityUnits",
        }
    }

    /// A `Capacity` structure of `units`.
    fn capacity(self, units: f64) -> Value {
        let mut out = json!({"CapacityUnits": units});
        out[self.member()] = json!(units);
        out
    }
}

/// The units one operation consumed on one table: on the table itself and on each of its
/// secondary indexes, by index name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consumed {
    pub table: f64,
    pub global: BTreeMap<String, f64>,
    pub local: BTreeMap<String, f64>,
}

impl Consumed {
    /// `units` on the table alone.
    pub fn on_table(units: f64) -> Self {
        Self {
            table: units,
            ..Self::default()
        }
    }

    /// `units` on `index` (a Query or Scan with `IndexName`; the table's share is 0).
    pub fn on_index(index: &IndexMeta, units: f64) -> Self {
        let mut out = Self::default();
        out.add_index(index, units);
        out
    }

    fn add_index(&mut self, index: &IndexMeta, units: f64) {
        let map = match index.kind {
            IndexKind::Global => &mut self.global,
            IndexKind::Local => &mut self.local,
        };
        *map.entry(index.name.clone()).or_default() += units;
    }

    /// The sum over the table and its indexes (`CapacityUnits`).
    pub fn total(&self) -> f64 {
        self.table + self.global.values().sum::<f64>() + self.local.values().sum::<f64>()
    }

    /// Adds `other` (another item of the same batch or transaction).
    pub fn add(&mut self, other: &Consumed) {
        self.table += other.table;
        for (map, more) in [
            (&mut self.global, &other.global),
            (&mut self.local, &other.local),
        ] {
            for (name, units) in more {
                *map.entry(name.clone()).or_default() += units;
            }
        }
    }

    /// Every share multiplied by `factor` (transactions cost twice).
    pub fn scaled(mut self, factor: f64) -> Self {
        self.table *= factor;
        for units in self.global.values_mut().chain(self.local.values_mut()) {
            *units *= factor;
        }
        self
    }
}

/// What replacing `old` with `new` (either `None` for absent) costs on `table` and each of
/// its indexes, as DynamoDB charges it
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes):
/// an index write costs per started KB of the index entry (the projected item); an entry
/// added or removed is one write, an entry whose index key changed is a delete and a put,
/// and an index whose entry is unchanged (or that has no entry before or after) costs
/// nothing and is not reported.
pub fn write_consumed(table: &TableMeta, old: Option<&Item>, new: Option<&Item>) -> Consumed {
    let mut out = Consumed::on_table(write_units(
        old.map_or(0, item_size),
        new.map_or(0, item_size),
    ));
    for index in &table.indexes {
        let before = old.and_then(|o| index.entry(table, o).ok().flatten());
        let after = new.and_then(|n| index.entry(table, n).ok().flatten());
        let units = match (&before, &after) {
            (None, None) => 0.0,
            (Some(b), Some(a)) if b == a => 0.0,
            (Some(b), Some(a)) => {
                let same_key = index.key_attrs().all(|k| b.get(&k.name) == a.get(&k.name));
                if same_key {
                    write_units(item_size(b), item_size(a))
                } else {
                    write_units(item_size(b), 0) + write_units(0, item_size(a))
                }
            }
            (Some(b), None) => write_units(item_size(b), 0),
            (None, Some(a)) => write_units(0, item_size(a)),
        };
        if units > 0.0 {
            out.add_index(index, units);
        }
    }
    out
}

/// Write capacity units for replacing an item of `old_size` bytes with one of `new_size`
/// (either may be 0 for absent).
pub fn write_units(old_size: usize, new_size: usize) -> f64 {
    old_size.max(new_size).div_ceil(1024).max(1) as f64
}

/// Read capacity units for reading `size` bytes (0 when the item does not exist).
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}
