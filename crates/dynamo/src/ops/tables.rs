//! The control plane: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable.
//!
//! Tables are created and changed synchronously (nuvem has nothing to provision), so a table
//! can be used as soon as CreateTable returns; the statuses in responses still follow AWS
//! (`CREATING`, `UPDATING`, `DELETING`), and DescribeTable always says `ACTIVE`.
//! Must not: read or write items except through [`crate::storage`].

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::{
    BillingMode, FORMAT_VERSION, KeyAttr, ScalarType, StreamMeta, StreamViewType, TableMeta,
    table_name_violations,
};
use crate::error::{Error, Result};
use crate::index::IndexKind;
use crate::ops::Violations;
use crate::ops::indexes::{self, IndexInput};
use crate::service::DynamoService;
use crate::storage::{self, Stats};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub(crate) attribute_name: Option<String>,
    pub(crate) attribute_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    pub(crate) attribute_name: Option<String>,
    pub(crate) key_type: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "PascalCase")]
pub struct Throughput {
    read_capacity_units: Option<i64>,
    write_capacity_units: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTableInput {
    table_name: Option<String>,
    attribute_definitions: Option<Vec<AttributeDefinition>>,
    key_schema: Option<Vec<KeySchemaElement>>,
    billing_mode: Option<String>,
    provisioned_throughput: Option<Throughput>,
    tags: Option<Vec<Tag>>,
    global_secondary_indexes: Option<Vec<IndexInput>>,
    local_secondary_indexes: Option<Vec<IndexInput>>,
    stream_specification: Option<StreamSpecification>,
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_StreamSpecification.html
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    stream_enabled: Option<bool>,
    stream_view_type: Option<String>,
}

impl StreamSpecification {
    /// Checks the members; returns whether the stream is enabled, and its view type.
    fn check(&self, v: &mut Violations) -> (bool, Option<StreamViewType>) {
        v.require(&self.stream_enabled, "streamSpecification.streamEnabled");
        let view = match self.stream_view_type.as_deref() {
            None => None,
            Some(t) => match StreamViewType::parse(t) {
                Some(view) => Some(view),
                None => {
                    v.enum_value(
                        t,
                        "streamSpecification.streamViewType",
                        "[NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]",
                    );
                    None
                }
            },
        };
        (self.stream_enabled.unwrap_or(false), view)
    }
}

/// A new stream, created now, whose first record will be number `first_seq`. Its label is
/// later than every label `previous` holds, so a re-enabled stream always has a new ARN.
fn new_stream(view_type: StreamViewType, first_seq: u64, previous: &[StreamMeta]) -> StreamMeta {
    let mut ms = crate::streams::now_ms();
    if let Some(last) = previous.last() {
        ms = ms.max((last.created * 1000.0).round() as u64 + 1);
    }
    let date = nuvem_aws::time::AmzDate {
        unix_seconds: (ms / 1000) as i64,
    }
    .to_iso8601();
    // `YYYY-MM-DDThh:mm:ss.000Z` → `YYYY-MM-DDThh:mm:ss.mmm`, the form of AWS's labels.
    let label = format!("{}.{:03}", &date[..19], ms % 1000);
    StreamMeta {
        label,
        view_type,
        created: ms as f64 / 1000.0,
        first_seq,
        disabled: None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableNameInput {
    table_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTablesInput {
    exclusive_start_table_name: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTableInput {
    table_name: Option<String>,
    billing_mode: Option<String>,
    provisioned_throughput: Option<Throughput>,
    attribute_definitions: Option<Vec<AttributeDefinition>>,
    global_secondary_index_updates: Option<Vec<indexes::IndexUpdate>>,
    stream_specification: Option<StreamSpecification>,
}

fn not_found(name: &str) -> Error {
    Error::ResourceNotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

fn now() -> f64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Millisecond precision, as DynamoDB reports timestamps.
    (d.as_millis() as f64) / 1000.0
}

fn billing_mode(value: Option<&str>, violations: &mut Violations) -> Option<BillingMode> {
    match value {
        None => None,
        Some("PROVISIONED") => Some(BillingMode::Provisioned),
        Some("PAY_PER_REQUEST") => Some(BillingMode::PayPerRequest),
        Some(other) => {
            violations.enum_value(other, "billingMode", "[PROVISIONED, PAY_PER_REQUEST]");
            None
        }
    }
}

/// Checks the units of a `ProvisionedThroughput` member; returns them when both are given.
pub(crate) fn throughput(t: Option<Throughput>, violations: &mut Violations) -> Option<(u64, u64)> {
    let t = t?;
    let mut units = |v: Option<i64>, field: &str| -> Option<u64> {
        let path = format!("provisionedThroughput.{field}");
        match v {
            None => {
                violations.require(&v, &path);
                None
            }
            Some(n) if n < 1 => {
                violations.push(format!(
                    "Value '{n}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to 1"
                ));
                None
            }
            Some(n) => Some(n as u64),
        }
    };
    let r = units(t.read_capacity_units, "readCapacityUnits");
    let w = units(t.write_capacity_units, "writeCapacityUnits");
    Some((r?, w?))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html
pub fn create_table(svc: &DynamoService, input: CreateTableInput) -> Result<Value> {
    let mut v = Violations::default();
    match &input.table_name {
        Some(name) => table_name_violations(name, "tableName", v.messages_mut()),
        None => v.require(&input.table_name, "tableName"),
    }
    v.require(&input.attribute_definitions, "attributeDefinitions");
    v.require(&input.key_schema, "keySchema");
    if let Some(ks) = &input.key_schema {
        if ks.is_empty() || ks.len() > 2 {
            let bound = if ks.is_empty() {
                "greater than or equal to 1"
            } else {
                "less than or equal to 2"
            };
            v.push(format!(
                "Value '{}' at 'keySchema' failed to satisfy constraint: Member must have length {bound}",
                ks.len()
            ));
        }
        for (i, k) in ks.iter().enumerate() {
            v.require(
                &k.attribute_name,
                &format!("keySchema.{}.member.attributeName", i + 1),
            );
            key_name_length(
                &mut v,
                &k.attribute_name,
                &format!("keySchema.{}.member.attributeName", i + 1),
            );
            match k.key_type.as_deref() {
                None => v.require(&k.key_type, &format!("keySchema.{}.member.keyType", i + 1)),
                Some("HASH" | "RANGE") => {}
                Some(other) => v.enum_value(
                    other,
                    &format!("keySchema.{}.member.keyType", i + 1),
                    "[HASH, RANGE]",
                ),
            }
        }
    }
    if let Some(defs) = &input.attribute_definitions {
        for (i, d) in defs.iter().enumerate() {
            v.require(
                &d.attribute_name,
                &format!("attributeDefinitions.{}.member.attributeName", i + 1),
            );
            key_name_length(
                &mut v,
                &d.attribute_name,
                &format!("attributeDefinitions.{}.member.attributeName", i + 1),
            );
            let field = format!("attributeDefinitions.{}.member.attributeType", i + 1);
            match d.attribute_type.as_deref() {
                None => v.require(&d.attribute_type, &field),
                Some(t) if ScalarType::parse(t).is_none() => v.enum_value(t, &field, "[B, N, S]"),
                Some(_) => {}
            }
        }
    }
    if let Some(list) = &input.global_secondary_indexes {
        indexes::violations(list, "globalSecondaryIndexes", &mut v);
    }
    if let Some(list) = &input.local_secondary_indexes {
        indexes::violations(list, "localSecondaryIndexes", &mut v);
    }
    let mode = billing_mode(input.billing_mode.as_deref(), &mut v);
    let units = throughput(input.provisioned_throughput, &mut v);
    let stream = input.stream_specification.as_ref().map(|s| s.check(&mut v));
    v.finish()?;
    let stream = match stream {
        Some((true, None)) => {
            return Err(Error::invalid_parameter(
                "Table is being created with a stream enabled, UpdateViewType is required",
            ));
        }
        Some((false, Some(_))) => {
            return Err(Error::invalid_parameter(
                "Table is being created with a stream disabled, UpdateViewType should not be specified",
            ));
        }
        Some((true, Some(view))) => vec![new_stream(view, 1, &[])],
        _ => Vec::new(),
    };

    let (Some(name), Some(defs), Some(ks)) = (
        input.table_name,
        input.attribute_definitions,
        input.key_schema,
    ) else {
        return Err(Error::validation("missing required members"));
    };
    let (hash_name, range_name) = indexes::key_schema_names(&ks)?;
    // Without BillingMode, DynamoDB creates a provisioned table.
    let mode = mode.unwrap_or(BillingMode::Provisioned);
    let has_indexes =
        input.global_secondary_indexes.is_some() || input.local_secondary_indexes.is_some();
    let mut declared = Vec::new();
    for (list, kind) in [
        (input.global_secondary_indexes, IndexKind::Global),
        (input.local_secondary_indexes, IndexKind::Local),
    ] {
        if let Some(list) = list {
            declared.extend(indexes::declare(
                list,
                kind,
                mode,
                &hash_name,
                range_name.as_deref(),
            )?);
        }
    }
    indexes::check_all(&[], &declared)?;
    let def_names: Vec<String> = defs
        .iter()
        .map(|d| d.attribute_name.clone().unwrap_or_default())
        .collect();
    for (i, n) in def_names.iter().enumerate() {
        if def_names[..i].contains(n) {
            return Err(Error::validation(format!(
                "Attribute Name is duplicated: {n}"
            )));
        }
    }
    let find = |name: &str| {
        defs.iter()
            .find(|d| d.attribute_name.as_deref() == Some(name))
            .and_then(|d| d.attribute_type.as_deref().and_then(ScalarType::parse))
    };
    let mut used: Vec<&str> = vec![hash_name.as_str()];
    used.extend(range_name.as_deref());
    for d in &declared {
        for n in indexes::key_names(d) {
            if !used.contains(&n) {
                used.push(n);
            }
        }
    }
    let missing: Vec<&str> = used.iter().copied().filter(|n| find(n).is_none()).collect();
    if !missing.is_empty() {
        return Err(Error::invalid_parameter(format_args!(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            missing.join(", "),
            def_names.join(", ")
        )));
    }
    if defs.len() != used.len() {
        if has_indexes {
            return Err(Error::invalid_parameter(format_args!(
                "Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
                def_names.join(", "),
                used.join(", ")
            )));
        }
        return Err(Error::invalid_parameter(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let attr = |name: &str| {
        find(name).map(|kind| KeyAttr {
            name: name.to_owned(),
            kind,
        })
    };
    let (Some(hash_key), range_key) = (attr(&hash_name), range_name.as_deref().and_then(attr))
    else {
        return Err(Error::validation("Invalid KeySchema"));
    };
    let table_indexes = indexes::build(declared, find, false)?;

    let (read_capacity, write_capacity) = match (mode, units) {
        (BillingMode::PayPerRequest, None) if input.provisioned_throughput.is_none() => (0, 0),
        (BillingMode::PayPerRequest, _) => {
            return Err(Error::invalid_parameter(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        (BillingMode::Provisioned, Some(u)) => u,
        (BillingMode::Provisioned, None) => {
            return Err(Error::validation(
                "No provisioned throughput specified for the table",
            ));
        }
    };
    let tags = input
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    let meta = TableMeta {
        version: FORMAT_VERSION,
        name: name.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        hash_key,
        range_key,
        billing_mode: mode,
        read_capacity,
        write_capacity,
        created: now(),
        pay_per_request_since: None,
        last_increase: None,
        last_decrease: None,
        tags,
        indexes: table_indexes,
        ttl: None,
        streams: stream,
    };
    let key = storage::catalog_key(&name);
    svc.store().transact(|tx| {
        if tx.get(&key)?.is_some() {
            return Err(Error::ResourceInUse(format!(
                "Table already exists: {name}"
            )));
        }
        tx.put(&key, &meta.to_record());
        Ok(())
    })?;
    svc.meter().sync(&meta);
    tracing::debug!(table = %name, id = %meta.id, "dynamodb: table created");
    let mut description = describe(svc, &meta, "CREATING", Stats::default(), &[]);
    // Like the table, its global indexes say CREATING in CreateTable's answer (they are
    // usable at once).
    if let Some(list) = description
        .get_mut("GlobalSecondaryIndexes")
        .and_then(Value::as_array_mut)
    {
        for index in list {
            index["IndexStatus"] = json!("CREATING");
        }
    }
    Ok(json!({"TableDescription": description}))
}

fn describe(
    svc: &DynamoService,
    meta: &TableMeta,
    status: &str,
    stats: Stats,
    index_stats: &[Stats],
) -> Value {
    let c = svc.config();
    meta.describe(status, stats, index_stats, &c.region, &c.account_id)
}

fn required_table_name(name: Option<String>) -> Result<String> {
    let mut v = Violations::default();
    v.table_name(&name);
    v.finish()?;
    Ok(crate::ops::table_name(&name.unwrap_or_default()).to_owned())
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeTable.html
pub fn describe_table(svc: &DynamoService, input: TableNameInput) -> Result<Value> {
    let name = required_table_name(input.table_name)?;
    let snap = svc.store().snapshot();
    let meta = storage::read_table(&*snap, &name)?.ok_or_else(|| not_found(&name))?;
    let stats = storage::read_stats(&*snap, &meta)?;
    let index_stats = storage::read_index_stats(&*snap, &meta)?;
    Ok(json!({"Table": describe(svc, &meta, "ACTIVE", stats, &index_stats)}))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ListTables.html
pub fn list_tables(svc: &DynamoService, input: ListTablesInput) -> Result<Value> {
    let mut v = Violations::default();
    if let Some(start) = &input.exclusive_start_table_name {
        table_name_violations(start, "exclusiveStartTableName", v.messages_mut());
    }
    let limit = input.limit.unwrap_or(100);
    if limit < 1 {
        v.push(format!(
            "Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ));
    } else if limit > 100 {
        v.push(format!(
            "Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100"
        ));
    }
    v.finish()?;
    let limit = limit as usize;
    let snap = svc.store().snapshot();
    let mut names = storage::list_tables(&*snap, input.exclusive_start_table_name.as_deref())
        .take(limit + 1)
        .collect::<Result<Vec<_>>>()?;
    let mut out = json!({});
    // LastEvaluatedTableName only when more tables follow, so that a client's pagination
    // loop ends without an extra empty page.
    if names.len() > limit {
        names.truncate(limit);
        out["LastEvaluatedTableName"] = json!(names.last());
    }
    out["TableNames"] = json!(names);
    Ok(out)
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteTable.html
pub fn delete_table(svc: &DynamoService, input: TableNameInput) -> Result<Value> {
    let name = required_table_name(input.table_name)?;
    let (meta, stats, index_stats) = svc.store().transact(|tx| {
        let meta = storage::read_table(&*tx, &name)?.ok_or_else(|| not_found(&name))?;
        let stats = storage::read_stats(&*tx, &meta)?;
        let index_stats = storage::read_index_stats(&*tx, &meta)?;
        storage::drop_table(tx, &meta)?;
        Ok::<_, Error>((meta, stats, index_stats))
    })?;
    // The table is gone from the catalog; its items are unreachable and can be removed at
    // leisure. Doing it now keeps the store small; a crash here is finished by `open`.
    svc.meter().forget(&name);
    storage::purge_table(svc.store(), &meta.id)?;
    tracing::debug!(table = %name, id = %meta.id, "dynamodb: table deleted");
    // DeleteTable's description leaves out the key schema, attribute definitions and
    // creation time, as DynamoDB's does.
    let mut description = describe(svc, &meta, "DELETING", stats, &index_stats);
    if let Some(d) = description.as_object_mut() {
        for member in ["KeySchema", "AttributeDefinitions", "CreationDateTime"] {
            d.remove(member);
        }
    }
    Ok(json!({"TableDescription": description}))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html
pub fn update_table(svc: &DynamoService, input: UpdateTableInput) -> Result<Value> {
    let mut v = Violations::default();
    v.table_name(&input.table_name);
    let mode = billing_mode(input.billing_mode.as_deref(), &mut v);
    let units = throughput(input.provisioned_throughput, &mut v);
    let index_updates = input.global_secondary_index_updates;
    let checked = index_updates
        .as_deref()
        .map(|u| indexes::check_updates(u, &mut v));
    let stream = input.stream_specification.as_ref().map(|s| s.check(&mut v));
    v.finish()?;
    checked.transpose()?;
    match stream {
        Some((true, None)) => {
            return Err(Error::invalid_parameter(
                "If stream is being enabled then UpdateViewType is required",
            ));
        }
        Some((false, Some(_))) => {
            return Err(Error::invalid_parameter(
                "If stream is being disabled, then UpdateViewType must not be specified",
            ));
        }
        Some(_) if index_updates.is_some() => {
            return Err(Error::invalid_parameter(
                "You cannot create or delete index while changing stream status",
            ));
        }
        _ => {}
    }
    let name = crate::ops::table_name(input.table_name.as_deref().unwrap_or_default()).to_owned();
    if mode.is_none()
        && input.provisioned_throughput.is_none()
        && index_updates.is_none()
        && stream.is_none()
    {
        return Err(Error::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    let key = storage::catalog_key(&name);
    let billing = mode.is_some() || input.provisioned_throughput.is_some();
    let defs = input.attribute_definitions;
    let mut index_updates = index_updates;
    let (meta, stats, index_stats, applied) = svc.store().transact(|tx| {
        let mut meta = storage::read_table(&*tx, &name)?.ok_or_else(|| not_found(&name))?;
        let new_mode = mode.unwrap_or(meta.billing_mode);
        let applied = match index_updates.take() {
            Some(updates) => {
                indexes::apply_updates(&mut meta, new_mode, updates, defs.as_deref())?
            }
            None => indexes::Applied::default(),
        };
        if let Some(dropped) = &applied.dropped {
            storage::drop_index(tx, &meta, dropped);
        }
        if let Some((enable, view)) = stream {
            change_stream(tx, &mut meta, enable, view)?;
        }
        if !billing {
            tx.put(&key, &meta.to_record());
            let stats = storage::read_stats(&*tx, &meta)?;
            let index_stats = storage::read_index_stats(&*tx, &meta)?;
            return Ok((meta, stats, index_stats, applied));
        }
        match (new_mode, units) {
            (BillingMode::PayPerRequest, Some(_)) => {
                return Err(Error::invalid_parameter(
                    "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                ));
            }
            (BillingMode::PayPerRequest, None) => {
                meta.read_capacity = 0;
                meta.write_capacity = 0;
                if meta.billing_mode == BillingMode::Provisioned {
                    meta.pay_per_request_since = Some(now());
                }
            }
            (BillingMode::Provisioned, None) => {
                if meta.billing_mode == BillingMode::PayPerRequest {
                    return Err(Error::invalid_parameter(
                        "ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                    ));
                }
            }
            (BillingMode::Provisioned, Some((r, w))) => {
                if meta.billing_mode == BillingMode::Provisioned && (r, w) == (meta.read_capacity, meta.write_capacity)
                {
                    return Err(Error::validation(format!(
                        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {}. Requested ReadCapacityUnits: {r}. Current WriteCapacityUnits provisioned for the table: {}. Requested WriteCapacityUnits: {w}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
                        meta.read_capacity, meta.write_capacity
                    )));
                }
                if meta.billing_mode == BillingMode::Provisioned {
                    if r > meta.read_capacity || w > meta.write_capacity {
                        meta.last_increase = Some(now());
                    }
                    if r < meta.read_capacity || w < meta.write_capacity {
                        meta.last_decrease = Some(now());
                    }
                }
                meta.read_capacity = r;
                meta.write_capacity = w;
            }
        }
        indexes::follow_billing_mode(&mut meta, new_mode)?;
        meta.billing_mode = new_mode;
        tx.put(&key, &meta.to_record());
        let stats = storage::read_stats(&*tx, &meta)?;
        let index_stats = storage::read_index_stats(&*tx, &meta)?;
        Ok((meta, stats, index_stats, applied))
    })?;
    svc.meter().sync(&meta);
    if let Some(index_id) = applied.created {
        svc.start_backfill(meta.name.clone(), index_id);
    }
    if let Some(dropped) = applied.dropped {
        svc.start_index_purge(meta.clone(), dropped);
    }
    Ok(json!({"TableDescription": describe(svc, &meta, "UPDATING", stats, &index_stats)}))
}

/// Enables (with `view`) or disables the stream of `meta`, whose record the caller writes.
fn change_stream(
    tx: &mut dyn nuvem_store::Tx,
    meta: &mut TableMeta,
    enable: bool,
    view: Option<StreamViewType>,
) -> Result<()> {
    let live = meta.live_stream().is_some();
    let stats = storage::read_stats(&*tx, meta)?;
    match (enable, view, live) {
        (true, _, true) => Err(Error::validation(format!(
            "Table already has an enabled stream: TableName: {}",
            meta.name
        ))),
        (false, _, false) => Err(Error::validation(format!(
            "Table has no stream to disable: TableName: {}",
            meta.name
        ))),
        (true, Some(view), false) => {
            let stream = new_stream(view, stats.stream_seq + 1, &meta.streams);
            meta.streams.push(stream);
            Ok(())
        }
        (false, _, true) => {
            if let Some(stream) = meta.streams.last_mut() {
                let last = crate::streams::last_seq(stream, stats);
                stream.disabled = Some((now(), last));
            }
            Ok(())
        }
        (true, None, false) => Err(Error::invalid_parameter(
            "If stream is being enabled then UpdateViewType is required",
        )),
    }
}

/// Key attribute names are 1 to 255 characters
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>).
fn key_name_length(v: &mut Violations, name: &Option<String>, field: &str) {
    let Some(name) = name else {
        return;
    };
    let bound = match name.chars().count() {
        0 => "greater than or equal to 1",
        n if n > 255 => "less than or equal to 255",
        _ => return,
    };
    v.push(format!(
        "Value '{name}' at '{field}' failed to satisfy constraint: Member must have length {bound}"
    ));
}
