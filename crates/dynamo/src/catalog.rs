//! Table metadata: what a table is (name, internal id, key schema, billing settings, tags),
//! how it is persisted in the store, and how it is described to clients (`TableDescription`).
//!
//! Owns: the catalog records (`dynamodb/c/t/<name>`, see [`crate::storage`] for the whole
//! layout), their versioned JSON format, and the key-schema checks every item operation makes
//! (key attributes present, of the declared type, non-empty, within size limits).
//! Must not: read or write items; that is [`crate::storage`].

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::index::{IndexKind, IndexMeta};
use crate::storage::Stats;
use crate::value::{AttributeValue, Item};

/// The format version written into every catalog record, so a future layout change can
/// recognise (and migrate) records written by this one.
pub const FORMAT_VERSION: u32 = 1;

/// The format version of a record whose table has secondary indexes. A binary from before
/// indexes would ignore them and write items without their entries; it refuses this
/// version instead.
pub const FORMAT_VERSION_INDEXES: u32 = 2;

/// The format version of a record whose table has an enabled stream. A binary from before
/// streams would write items without their stream records (a gap a consumer cannot see);
/// it refuses this version instead.
pub const FORMAT_VERSION_STREAMS: u32 = 3;

/// DynamoDB's limits on key attribute values
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-partition-sort-keys).
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// The scalar type of a key attribute, as written in `AttributeDefinitions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalarType {
    S,
    N,
    B,
}

impl ScalarType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "S" => Some(Self::S),
            "N" => Some(Self::N),
            "B" => Some(Self::B),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::S => "S",
            Self::N => "N",
            Self::B => "B",
        }
    }
}

/// One key attribute of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttr {
    pub name: String,
    pub kind: ScalarType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingMode {
    Provisioned,
    PayPerRequest,
}

impl BillingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioned => "PROVISIONED",
            Self::PayPerRequest => "PAY_PER_REQUEST",
        }
    }
}

/// A table as stored in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    pub version: u32,
    pub name: String,
    /// A UUID chosen at creation. Items live under this id, never under the name, so a table
    /// deleted and created again under the same name starts empty even if the purge of the
    /// old items has not finished.
    pub id: String,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    pub billing_mode: BillingMode,
    /// Provisioned capacity; 0 for on-demand tables, as DynamoDB reports them.
    pub read_capacity: u64,
    pub write_capacity: u64,
    /// Seconds since the epoch, with milliseconds, as `CreationDateTime` is sent.
    pub created: f64,
    /// When the throughput was last raised or lowered, for `ProvisionedThroughput`.
    #[serde(default)]
    pub last_increase: Option<f64>,
    #[serde(default)]
    pub last_decrease: Option<f64>,
    /// When a provisioned table last switched to on-demand, for `BillingModeSummary`; a table
    /// created on-demand reports its creation time.
    #[serde(default)]
    pub pay_per_request_since: Option<f64>,
    pub tags: Vec<(String, String)>,
    /// Secondary indexes, global and local, in the order they were declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexMeta>,
    /// Time to Live: the attribute holding each item's expiry, when TTL is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<TtlMeta>,
    /// The table's streams, oldest first: the last one is the current stream when it is
    /// not disabled; disabled ones stay readable until their records are trimmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamMeta>,
}

/// A table's Time to Live setting (present only while enabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlMeta {
    pub attribute: String,
}

/// What a stream record holds besides the keys
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_StreamSpecification.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamViewType {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl StreamViewType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "KEYS_ONLY" => Some(Self::KeysOnly),
            "NEW_IMAGE" => Some(Self::NewImage),
            "OLD_IMAGE" => Some(Self::OldImage),
            "NEW_AND_OLD_IMAGES" => Some(Self::NewAndOldImages),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeysOnly => "KEYS_ONLY",
            Self::NewImage => "NEW_IMAGE",
            Self::OldImage => "OLD_IMAGE",
            Self::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }

    pub fn new_image(self) -> bool {
        matches!(self, Self::NewImage | Self::NewAndOldImages)
    }

    pub fn old_image(self) -> bool {
        matches!(self, Self::OldImage | Self::NewAndOldImages)
    }
}

/// One stream of a table. Its records are numbered by the table's stream counter (kept with
/// the table's stats), from `first_seq` on; a disabled stream ends at `last_seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamMeta {
    /// `StreamLabel`: the creation time, `YYYY-MM-DDThh:mm:ss.sss` (UTC), as AWS's labels.
    pub label: String,
    pub view_type: StreamViewType,
    /// Seconds since the epoch, with milliseconds (`CreationRequestDateTime`).
    pub created: f64,
    /// The sequence number of the stream's first record.
    pub first_seq: u64,
    /// When the stream was disabled (seconds since the epoch) and its last sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<(f64, u64)>,
}

impl StreamMeta {
    pub fn is_enabled(&self) -> bool {
        self.disabled.is_none()
    }
}

impl TableMeta {
    pub fn arn(&self, region: &str, account_id: &str) -> String {
        format!("arn:aws:dynamodb:{region}:{account_id}:table/{}", self.name)
    }

    pub fn key_attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        std::iter::once(&self.hash_key).chain(self.range_key.as_ref())
    }

    pub fn is_key_attr(&self, name: &str) -> bool {
        self.key_attrs().any(|k| k.name == name)
    }

    /// The stream that records this table's writes now, if streams are enabled.
    pub fn live_stream(&self) -> Option<&StreamMeta> {
        self.streams.last().filter(|s| s.is_enabled())
    }

    /// The ARN of one of this table's streams.
    pub fn stream_arn(&self, label: &str, region: &str, account_id: &str) -> String {
        format!("{}/stream/{label}", self.arn(region, account_id))
    }

    pub fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.indexes.iter().find(|i| i.name == name)
    }

    pub fn to_record(&self) -> Vec<u8> {
        let mut meta = std::borrow::Cow::Borrowed(self);
        let version = if self.live_stream().is_some() {
            FORMAT_VERSION_STREAMS
        } else if self.indexes.is_empty() {
            FORMAT_VERSION
        } else {
            FORMAT_VERSION_INDEXES
        };
        if meta.version != version {
            meta.to_mut().version = version;
        }
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec(&meta).unwrap_or_default()
    }

    pub fn from_record(bytes: &[u8]) -> Result<Self> {
        let meta: TableMeta = serde_json::from_slice(bytes)
            .map_err(|e| Error::Corrupt(format!("catalog record: {e}")))?;
        if !matches!(
            meta.version,
            FORMAT_VERSION | FORMAT_VERSION_INDEXES | FORMAT_VERSION_STREAMS
        ) {
            return Err(Error::Corrupt(format!(
                "catalog record version {} is unknown",
                meta.version
            )));
        }
        Ok(meta)
    }

    /// The `TableDescription` structure of CreateTable, DescribeTable, UpdateTable and
    /// DeleteTable (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TableDescription.html).
    /// `index_stats` are the stats of `self.indexes`, in order.
    pub fn describe(
        &self,
        status: &str,
        stats: Stats,
        index_stats: &[Stats],
        region: &str,
        account_id: &str,
    ) -> Value {
        let key_schema: Vec<Value> = self
            .key_attrs()
            .zip(["HASH", "RANGE"])
            .map(|(k, t)| json!({"AttributeName": k.name, "KeyType": t}))
            .collect();
        let mut defined: Vec<&KeyAttr> = Vec::new();
        for k in self
            .key_attrs()
            .chain(self.indexes.iter().flat_map(|i| i.key_attrs()))
        {
            if !defined.iter().any(|d| d.name == k.name) {
                defined.push(k);
            }
        }
        let defs: Vec<Value> = defined
            .iter()
            .map(|k| json!({"AttributeName": k.name, "AttributeType": k.kind.as_str()}))
            .collect();
        let mut throughput = json!({
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": self.read_capacity,
            "WriteCapacityUnits": self.write_capacity,
        });
        if let Some(obj) = throughput.as_object_mut() {
            if let Some(t) = self.last_increase {
                obj.insert("LastIncreaseDateTime".into(), json!(t));
            }
            if let Some(t) = self.last_decrease {
                obj.insert("LastDecreaseDateTime".into(), json!(t));
            }
        }
        let mut out = json!({
            "TableName": self.name,
            "TableId": self.id,
            "TableArn": self.arn(region, account_id),
            "TableStatus": status,
            "CreationDateTime": self.created,
            "KeySchema": key_schema,
            "AttributeDefinitions": defs,
            "ItemCount": stats.count,
            "TableSizeBytes": stats.bytes,
            "BillingModeSummary": self.billing_mode_summary(),
            "ProvisionedThroughput": throughput,
            "DeletionProtectionEnabled": false,
        });
        for (kind, member) in [
            (IndexKind::Global, "GlobalSecondaryIndexes"),
            (IndexKind::Local, "LocalSecondaryIndexes"),
        ] {
            let described: Vec<Value> = self
                .indexes
                .iter()
                .zip(
                    index_stats
                        .iter()
                        .copied()
                        .chain(std::iter::repeat(Stats::default())),
                )
                .filter(|(i, _)| i.kind == kind)
                .map(|(i, s)| i.describe(self, s, region, account_id))
                .collect();
            if !described.is_empty() {
                out[member] = Value::Array(described);
            }
        }
        if let Some(stream) = self.live_stream() {
            out["StreamSpecification"] = json!({
                "StreamEnabled": true,
                "StreamViewType": stream.view_type.as_str(),
            });
        }
        if let Some(latest) = self.streams.last() {
            out["LatestStreamLabel"] = json!(latest.label);
            out["LatestStreamArn"] = json!(self.stream_arn(&latest.label, region, account_id));
        }
        out
    }

    /// `BillingModeSummary`: the mode and, once the table has been on-demand, when it last
    /// became so (`LastUpdateToPayPerRequestDateTime`), as DynamoDB reports it
    /// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BillingModeSummary.html>).
    fn billing_mode_summary(&self) -> Value {
        let since = match self.billing_mode {
            BillingMode::PayPerRequest => Some(self.pay_per_request_since.unwrap_or(self.created)),
            BillingMode::Provisioned => self.pay_per_request_since,
        };
        match since {
            Some(t) => json!({
                "BillingMode": self.billing_mode.as_str(),
                "LastUpdateToPayPerRequestDateTime": t,
            }),
            None => json!({"BillingMode": self.billing_mode.as_str()}),
        }
    }

    /// Checks that a full item (PutItem) carries the table's key attributes with the declared
    /// types, non-empty and within the key size limits. Messages are DynamoDB's.
    pub fn check_item_keys(&self, item: &Item) -> Result<()> {
        for (i, attr) in self.key_attrs().enumerate() {
            let Some(value) = item.get(&attr.name) else {
                return Err(Error::invalid_parameter(format_args!(
                    "Missing the key {} in the item",
                    attr.name
                )));
            };
            check_key_value(attr, i == 0, value)?;
        }
        Ok(())
    }

    /// Checks a `Key` parameter (GetItem, UpdateItem, DeleteItem): exactly the key attributes,
    /// of the declared types.
    pub fn check_key(&self, key: &Item) -> Result<()> {
        let expected = self.key_attrs().count();
        let matches = key.len() == expected
            && self.key_attrs().all(|a| {
                key.get(&a.name)
                    .is_some_and(|v| v.type_name() == a.kind.as_str())
            });
        if !matches {
            return Err(Error::validation(
                "The provided key element does not match the schema",
            ));
        }
        for (i, attr) in self.key_attrs().enumerate() {
            if let Some(value) = key.get(&attr.name) {
                check_key_value(attr, i == 0, value)?;
            }
        }
        Ok(())
    }

    /// The key attributes of `item` (which must have passed a key check).
    pub fn key_of(&self, item: &Item) -> Item {
        self.key_attrs()
            .filter_map(|a| item.get(&a.name).map(|v| (a.name.clone(), v.clone())))
            .collect()
    }
}

pub(crate) fn check_key_value(attr: &KeyAttr, is_hash: bool, value: &AttributeValue) -> Result<()> {
    if value.type_name() != attr.kind.as_str() {
        return Err(Error::invalid_parameter(format_args!(
            "Type mismatch for key {} expected: {} actual: {}",
            attr.name,
            attr.kind.as_str(),
            value.type_name()
        )));
    }
    let empty = match value {
        AttributeValue::S(s) => s.is_empty(),
        AttributeValue::B(b) => b.is_empty(),
        _ => false,
    };
    if empty {
        return Err(Error::validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {} value. Key: {}",
            if attr.kind == ScalarType::S {
                "string"
            } else {
                "binary"
            },
            attr.name
        )));
    }
    let size = value.size();
    if is_hash && size > MAX_PARTITION_KEY_BYTES {
        // Sic: AWS's message has no space in "limit of2048".
        return Err(Error::invalid_parameter(
            "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if !is_hash && size > MAX_SORT_KEY_BYTES {
        return Err(Error::invalid_parameter(
            "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    Ok(())
}

/// The table name rules of CreateTable
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html),
/// as constraint messages in AWS's wording.
pub fn table_name_violations(name: &str, field: &str, out: &mut Vec<String>) {
    if name.len() < 3 {
        out.push(format!(
            "Value '{name}' at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 3"
        ));
    }
    if name.len() > 255 {
        out.push(format!(
            "Value '{name}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to 255"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        out.push(format!(
            "Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        ));
    }
}
