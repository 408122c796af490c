//! Secondary indexes: what an index is (kind, key schema, projection, status), how an item
//! maps to its index entry, and how an index is described to clients.
//!
//! An index entry is the item's projection (index keys, table keys, and the projected
//! attributes), stored under the index's keys followed by the table's keys, so entries with
//! equal index keys (index keys are not unique) stay distinct and a Query on an index is one
//! range scan like a Query on the table (layout in [`crate::storage`]). An item that lacks an
//! index key attribute has no entry (sparse indexes).
//! Must not: read or write the store; [`crate::storage::write_item`] writes the entries.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::{KeyAttr, TableMeta, check_key_value};
use crate::error::{Error, Result};
use crate::storage::Stats;
use crate::value::{AttributeValue, Item};

/// DynamoDB's per-table index limits
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-secondary-indexes).
pub const MAX_GLOBAL_INDEXES: usize = 20;
pub const MAX_LOCAL_INDEXES: usize = 5;
pub const MAX_PROJECTED_ATTRIBUTES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKind {
    Global,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProjectionType {
    KeysOnly,
    Include,
    All,
}

impl ProjectionType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "KEYS_ONLY" => Some(Self::KeysOnly),
            "INCLUDE" => Some(Self::Include),
            "ALL" => Some(Self::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeysOnly => "KEYS_ONLY",
            Self::Include => "INCLUDE",
            Self::All => "ALL",
        }
    }
}

/// One secondary index of a table, as stored in the table's catalog record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub name: String,
    /// A UUID chosen when the index is created: entries live under it, so an index deleted
    /// and created again under the same name starts empty while the old entries are purged.
    pub id: String,
    pub kind: IndexKind,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    pub projection: ProjectionType,
    /// `NonKeyAttributes` of an `INCLUDE` projection.
    #[serde(default)]
    pub non_key: Vec<String>,
    /// Provisioned capacity of a global index (0 on on-demand tables).
    #[serde(default)]
    pub read_capacity: u64,
    #[serde(default)]
    pub write_capacity: u64,
    /// A global index added by UpdateTable whose existing items are still being copied into
    /// it (`IndexStatus` CREATING, `Backfilling` true). Writes maintain it meanwhile.
    #[serde(default)]
    pub backfilling: bool,
}

impl IndexMeta {
    pub fn key_attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        std::iter::once(&self.hash_key).chain(self.range_key.as_ref())
    }

    pub fn arn(&self, table: &TableMeta, region: &str, account_id: &str) -> String {
        format!("{}/index/{}", table.arn(region, account_id), self.name)
    }

    /// Whether attribute `name` of an item is in this index's entries.
    pub fn projects(&self, table: &TableMeta, name: &str) -> bool {
        match self.projection {
            ProjectionType::All => true,
            _ => {
                table.is_key_attr(name)
                    || self.key_attrs().any(|k| k.name == name)
                    || self.non_key.iter().any(|n| n == name)
            }
        }
    }

    /// The entry of `item` in this index: its projection, or `None` when the item lacks an
    /// index key attribute (sparse indexes). Index key values of the wrong type or empty are
    /// refused with DynamoDB's messages, so a write never silently drops out of an index.
    pub fn entry(&self, table: &TableMeta, item: &Item) -> Result<Option<Item>> {
        for (i, attr) in self.key_attrs().enumerate() {
            let Some(value) = item.get(&attr.name) else {
                return Ok(None);
            };
            self.check_key_value(attr, i == 0, value)?;
        }
        let entry = match self.projection {
            ProjectionType::All => item.clone(),
            _ => item
                .iter()
                .filter(|(k, _)| self.projects(table, k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        Ok(Some(entry))
    }

    fn check_key_value(&self, attr: &KeyAttr, is_hash: bool, value: &AttributeValue) -> Result<()> {
        if value.type_name() != attr.kind.as_str() {
            return Err(Error::invalid_parameter(format_args!(
                "Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                attr.name,
                attr.kind.as_str(),
                value.type_name(),
                self.name
            )));
        }
        let empty = match value {
            AttributeValue::S(s) => s.is_empty(),
            AttributeValue::B(b) => b.is_empty(),
            _ => false,
        };
        if empty {
            return Err(Error::validation(format!(
                "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {}",
                if attr.kind.as_str() == "S" {
                    "string"
                } else {
                    "binary"
                },
                self.name,
                attr.name
            )));
        }
        check_key_value(attr, is_hash, value)
    }

    /// The `GlobalSecondaryIndexDescription` or `LocalSecondaryIndexDescription`
    /// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GlobalSecondaryIndexDescription.html).
    pub fn describe(&self, table: &TableMeta, stats: Stats, region: &str, account: &str) -> Value {
        let key_schema: Vec<Value> = self
            .key_attrs()
            .zip(["HASH", "RANGE"])
            .map(|(k, t)| json!({"AttributeName": k.name, "KeyType": t}))
            .collect();
        let mut projection = json!({"ProjectionType": self.projection.as_str()});
        if self.projection == ProjectionType::Include {
            projection["NonKeyAttributes"] = json!(self.non_key);
        }
        let mut out = json!({
            "IndexName": self.name,
            "KeySchema": key_schema,
            "Projection": projection,
            "IndexSizeBytes": stats.bytes,
            "ItemCount": stats.count,
            "IndexArn": self.arn(table, region, account),
        });
        if self.kind == IndexKind::Global {
            out["IndexStatus"] = json!(if self.backfilling {
                "CREATING"
            } else {
                "ACTIVE"
            });
            if self.backfilling {
                out["Backfilling"] = json!(true);
            }
            out["ProvisionedThroughput"] = json!({
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": self.read_capacity,
                "WriteCapacityUnits": self.write_capacity,
            });
        }
        out
    }
}

/// The keys that identify an entry of `index`: its own key attributes and the table's, as
/// `LastEvaluatedKey` carries them.
pub fn entry_key_of(table: &TableMeta, index: &IndexMeta, item: &Item) -> Item {
    table
        .key_attrs()
        .chain(index.key_attrs())
        .filter_map(|a| item.get(&a.name).map(|v| (a.name.clone(), v.clone())))
        .collect()
}

/// The `ItemCollectionMetrics` of a write to a table with local indexes: the partition key
/// of the item's collection and DynamoDB's estimate of its size as a range of gigabytes
/// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ItemCollectionMetrics.html).
pub fn collection_metrics(table: &TableMeta, key: &Item, bytes: u64) -> Value {
    let gb = bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    let lower = gb.floor();
    let collection_key: serde_json::Map<String, Value> = key
        .iter()
        .filter(|(k, _)| **k == table.hash_key.name)
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    json!({
        "ItemCollectionKey": collection_key,
        "SizeEstimateRangeGB": [lower, lower + 1.0],
    })
}
