//! Capacity accounting: how many read and write units an operation consumed, and the
//! `ConsumedCapacity` structure returned when the client asks for it.
//!
//! The rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
//! a write costs one WCU per started KB of the larger of the old and new item (at least one,
//! also when nothing was there to delete); a read costs one RCU per started 4 KB (at least
//! one, also when the item does not exist), halved for eventually consistent reads.
//! Must not: enforce throughput limits; nuvem never throttles.

use serde_json::{Value, json};

use crate::ops::Violations;

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

    /// The `ConsumedCapacity` member for an operation on `table` that consumed `units`, or
    /// `None` when the client did not ask. With `INDEXES` the table's share is broken out
    /// under `Table` (no secondary indexes yet, so it is all of it).
    pub fn report(self, table: &str, units: f64) -> Option<Value> {
        match self {
            Self::None => None,
            Self::Total => Some(json!({"TableName": table, "CapacityUnits": units})),
            Self::Indexes => Some(json!({
                "TableName": table,
                "CapacityUnits": units,
                "Table": {"CapacityUnits": units},
            })),
        }
    }
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
