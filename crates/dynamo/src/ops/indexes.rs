//! Secondary index definitions in CreateTable and UpdateTable (`GlobalSecondaryIndexes`,
//! `LocalSecondaryIndexes`, `GlobalSecondaryIndexUpdates.Create`): parsing, DynamoDB's
//! checks and messages, and the [`IndexMeta`] they become.
//! Must not: touch the store (see [`super::tables`]).

use serde::Deserialize;

use crate::catalog::{BillingMode, KeyAttr, ScalarType, TableMeta};
use crate::error::{Error, Result};
use crate::index::{
    IndexKind, IndexMeta, MAX_GLOBAL_INDEXES, MAX_LOCAL_INDEXES, MAX_PROJECTED_ATTRIBUTES,
    ProjectionType,
};
use crate::ops::Violations;
use crate::ops::tables::{AttributeDefinition, KeySchemaElement, Throughput, throughput};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionInput {
    projection_type: Option<String>,
    non_key_attributes: Option<Vec<String>>,
}

/// A `GlobalSecondaryIndex`, `LocalSecondaryIndex` or `CreateGlobalSecondaryIndexAction`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexInput {
    index_name: Option<String>,
    key_schema: Option<Vec<KeySchemaElement>>,
    projection: Option<ProjectionInput>,
    provisioned_throughput: Option<Throughput>,
}

/// Records the constraint violations of a list of index definitions (`field` is
/// `globalSecondaryIndexes`, `localSecondaryIndexes` or the UpdateTable path).
pub fn violations(list: &[IndexInput], field: &str, v: &mut Violations) {
    for (i, index) in list.iter().enumerate() {
        let at = format!("{field}.{}.member", i + 1);
        match &index.index_name {
            None => v.require(&index.index_name, &format!("{at}.indexName")),
            Some(n) => crate::catalog::table_name_violations(
                n,
                &format!("{at}.indexName"),
                v.messages_mut(),
            ),
        }
        v.require(&index.key_schema, &format!("{at}.keySchema"));
        if let Some(ks) = &index.key_schema {
            if ks.is_empty() || ks.len() > 2 {
                let bound = if ks.is_empty() {
                    "greater than or equal to 1"
                } else {
                    "less than or equal to 2"
                };
                v.push(format!(
                    "Value '{}' at '{at}.keySchema' failed to satisfy constraint: Member must have length {bound}",
                    ks.len()
                ));
            }
            for (j, k) in ks.iter().enumerate() {
                let el = format!("{at}.keySchema.{}.member", j + 1);
                v.require(&k.attribute_name, &format!("{el}.attributeName"));
                match k.key_type.as_deref() {
                    None => v.require(&k.key_type, &format!("{el}.keyType")),
                    Some("HASH" | "RANGE") => {}
                    Some(other) => v.enum_value(other, &format!("{el}.keyType"), "[HASH, RANGE]"),
                }
            }
        }
        v.require(&index.projection, &format!("{at}.projection"));
        if let Some(p) = &index.projection
            && let Some(t) = p.projection_type.as_deref()
            && ProjectionType::parse(t).is_none()
        {
            v.enum_value(
                t,
                &format!("{at}.projection.projectionType"),
                "[ALL, KEYS_ONLY, INCLUDE]",
            );
        }
        throughput(index.provisioned_throughput, v);
    }
}

/// The two key attributes named by a key schema, with DynamoDB's checks of its shape.
pub fn key_schema_names(ks: &[KeySchemaElement]) -> Result<(String, Option<String>)> {
    let name = |k: &KeySchemaElement| k.attribute_name.clone().unwrap_or_default();
    let kind = |k: &KeySchemaElement| k.key_type.clone().unwrap_or_default();
    if ks.first().map(kind).as_deref() != Some("HASH") {
        return Err(Error::validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    let Some(second) = ks.get(1) else {
        return Ok((name(&ks[0]), None));
    };
    if kind(second) != "RANGE" {
        return Err(Error::validation(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ));
    }
    if name(second) == name(&ks[0]) {
        return Err(Error::validation(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    Ok((name(&ks[0]), Some(name(second))))
}

/// One index definition, checked, with its key attributes' names (typed later against the
/// attribute definitions).
pub struct Declared {
    pub name: String,
    pub kind: IndexKind,
    pub keys: (String, Option<String>),
    pub projection: ProjectionType,
    pub non_key: Vec<String>,
    pub units: Option<(u64, u64)>,
}

/// Checks the index definitions of a CreateTable (or one Create of UpdateTable) beyond their
/// shape: list sizes, names, key schemas, projections, throughput against the billing mode.
pub fn declare(
    list: Vec<IndexInput>,
    kind: IndexKind,
    mode: BillingMode,
    table_hash: &str,
    table_range: Option<&str>,
) -> Result<Vec<Declared>> {
    let member = match kind {
        IndexKind::Global => "GlobalSecondaryIndexes",
        IndexKind::Local => "LocalSecondaryIndexes",
    };
    if list.is_empty() {
        return Err(Error::invalid_parameter(format_args!(
            "List of {member} is empty"
        )));
    }
    match kind {
        IndexKind::Global if list.len() > MAX_GLOBAL_INDEXES => {
            return Err(Error::invalid_parameter(format_args!(
                "GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GLOBAL_INDEXES}"
            )));
        }
        IndexKind::Local if list.len() > MAX_LOCAL_INDEXES => {
            return Err(Error::invalid_parameter(format_args!(
                "Number of LocalSecondaryIndexes exceeds per-table limit of {MAX_LOCAL_INDEXES}"
            )));
        }
        _ => {}
    }
    if kind == IndexKind::Local && table_range.is_none() {
        return Err(Error::invalid_parameter(
            "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for index in list {
        let name = index.index_name.unwrap_or_default();
        let keys = key_schema_names(&index.key_schema.unwrap_or_default())?;
        if kind == IndexKind::Local {
            if keys.0 != table_hash {
                return Err(Error::invalid_parameter(format_args!(
                    "Index KeySchema does not have the same leading hash key as table KeySchema for index: {name}. index hash key: {}, table hash key: {table_hash}",
                    keys.0
                )));
            }
            if keys.1.is_none() {
                return Err(Error::invalid_parameter(format_args!(
                    "Index KeySchema does not have a range key for index: {name}"
                )));
            }
        }
        let p = index.projection.unwrap_or(ProjectionInput {
            projection_type: None,
            non_key_attributes: None,
        });
        let Some(projection) = p.projection_type.as_deref().and_then(ProjectionType::parse) else {
            return Err(Error::invalid_parameter("Unknown ProjectionType: null"));
        };
        let non_key = match (projection, p.non_key_attributes) {
            (ProjectionType::Include, None) => {
                return Err(Error::invalid_parameter(
                    "ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
                ));
            }
            (ProjectionType::Include, Some(attrs)) => attrs,
            (other, Some(_)) => {
                return Err(Error::invalid_parameter(format_args!(
                    "ProjectionType is {}, but NonKeyAttributes is specified",
                    other.as_str()
                )));
            }
            (_, None) => Vec::new(),
        };
        for (i, a) in non_key.iter().enumerate() {
            if non_key[..i].contains(a) {
                return Err(Error::invalid_parameter(format_args!(
                    "Duplicate element in NonKeyAttributes: {a}"
                )));
            }
        }
        let units = match (kind, mode, index.provisioned_throughput) {
            (IndexKind::Local, _, _) => None,
            (IndexKind::Global, BillingMode::Provisioned, None) => {
                return Err(Error::invalid_parameter(format_args!(
                    "ProvisionedThroughput is not specified for index: {name}"
                )));
            }
            (IndexKind::Global, BillingMode::Provisioned, Some(t)) => {
                let mut v = Violations::default();
                let units = throughput(Some(t), &mut v);
                v.finish()?;
                units
            }
            (IndexKind::Global, BillingMode::PayPerRequest, Some(_)) => {
                return Err(Error::invalid_parameter(format_args!(
                    "ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                )));
            }
            (IndexKind::Global, BillingMode::PayPerRequest, None) => None,
        };
        out.push(Declared {
            name,
            kind,
            keys,
            projection,
            non_key,
            units,
        });
    }
    Ok(out)
}

/// Checks names across all of a table's indexes (old and new): unique index names and the
/// limit on projected non-key attributes.
pub fn check_all(existing: &[IndexMeta], new: &[Declared]) -> Result<()> {
    let names: Vec<&str> = existing
        .iter()
        .map(|i| i.name.as_str())
        .chain(new.iter().map(|d| d.name.as_str()))
        .collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(Error::invalid_parameter(format_args!(
                "Duplicate index name: {n}"
            )));
        }
    }
    let projected = existing.iter().map(|i| i.non_key.len()).sum::<usize>()
        + new.iter().map(|d| d.non_key.len()).sum::<usize>();
    if projected > MAX_PROJECTED_ATTRIBUTES {
        return Err(Error::invalid_parameter(format_args!(
            "Number of projected attributes in all indexes exceeds limit of {MAX_PROJECTED_ATTRIBUTES}"
        )));
    }
    Ok(())
}

/// Turns checked definitions into catalog entries, typing their keys by `find` (the
/// attribute definitions; every name was checked to be defined).
pub fn build(
    declared: Vec<Declared>,
    find: impl Fn(&str) -> Option<ScalarType>,
    backfilling: bool,
) -> Result<Vec<IndexMeta>> {
    let attr = |name: &str| {
        find(name)
            .map(|kind| KeyAttr {
                name: name.to_owned(),
                kind,
            })
            .ok_or_else(|| {
                Error::validation("Invalid KeySchema: Some index key attribute have no definition")
            })
    };
    declared
        .into_iter()
        .map(|d| {
            let (read_capacity, write_capacity) = d.units.unwrap_or((0, 0));
            Ok(IndexMeta {
                id: uuid::Uuid::new_v4().simple().to_string(),
                kind: d.kind,
                hash_key: attr(&d.keys.0)?,
                range_key: d.keys.1.as_deref().map(attr).transpose()?,
                projection: d.projection,
                non_key: d.non_key,
                read_capacity,
                write_capacity,
                backfilling: backfilling && d.kind == IndexKind::Global,
                name: d.name,
            })
        })
        .collect()
}

/// The key attribute names an index definition uses.
pub fn key_names(d: &Declared) -> impl Iterator<Item = &str> {
    std::iter::once(d.keys.0.as_str()).chain(d.keys.1.as_deref())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexRef {
    index_name: Option<String>,
    provisioned_throughput: Option<Throughput>,
}

/// One `GlobalSecondaryIndexUpdate` of UpdateTable.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexUpdate {
    create: Option<IndexInput>,
    delete: Option<IndexRef>,
    update: Option<IndexRef>,
}

/// What UpdateTable's index updates changed, for the work that follows the commit.
#[derive(Debug, Default)]
pub struct Applied {
    /// The id of the index created (to backfill).
    pub created: Option<String>,
    /// The index deleted (to purge).
    pub dropped: Option<IndexMeta>,
}

fn one_at_a_time() -> Error {
    Error::LimitExceeded(
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table".into(),
    )
}

/// Checks the shape of `GlobalSecondaryIndexUpdates`, before the table is read.
pub fn check_updates(updates: &[IndexUpdate], v: &mut Violations) -> Result<()> {
    for (i, u) in updates.iter().enumerate() {
        if let Some(c) = &u.create {
            violations(
                std::slice::from_ref(c),
                &format!("globalSecondaryIndexUpdates.{}.member.create", i + 1),
                v,
            );
        }
    }
    if updates.is_empty() {
        return Err(Error::invalid_parameter(
            "List of GlobalSecondaryIndexUpdates is empty",
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    let mut online = 0;
    for u in updates {
        let actions = [u.create.is_some(), u.delete.is_some(), u.update.is_some()];
        match actions.iter().filter(|a| **a).count() {
            0 => {
                return Err(Error::invalid_parameter(
                    "One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null",
                ));
            }
            1 => {}
            _ => {
                return Err(Error::invalid_parameter(
                    "Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object",
                ));
            }
        }
        let name = u
            .create
            .as_ref()
            .and_then(|c| c.index_name.as_deref())
            .or(u.delete.as_ref().and_then(|d| d.index_name.as_deref()))
            .or(u.update.as_ref().and_then(|d| d.index_name.as_deref()))
            .unwrap_or_default();
        if names.contains(&name) {
            return Err(Error::invalid_parameter(format_args!(
                "Only one global secondary index update per index is allowed simultaneously. Index: {name}"
            )));
        }
        names.push(name);
        if u.create.is_some() || u.delete.is_some() {
            online += 1;
        }
    }
    if online > 1 {
        return Err(one_at_a_time());
    }
    Ok(())
}

/// Applies checked `GlobalSecondaryIndexUpdates` to `table` (the caller writes the record):
/// a Create adds a global index that is `backfilling`, a Delete removes one, an Update sets
/// its throughput.
pub fn apply_updates(
    table: &mut TableMeta,
    mode: BillingMode,
    updates: Vec<IndexUpdate>,
    defs: Option<&[AttributeDefinition]>,
) -> Result<Applied> {
    let mut applied = Applied::default();
    for u in updates {
        if let Some(create) = u.create {
            let name = create.index_name.clone().unwrap_or_default();
            if table.index(&name).is_some() {
                return Err(Error::validation(
                    "Attempting to create an index which already exists",
                ));
            }
            if table.indexes.iter().any(|i| i.backfilling) {
                return Err(one_at_a_time());
            }
            let globals = table
                .indexes
                .iter()
                .filter(|i| i.kind == IndexKind::Global)
                .count();
            if globals >= MAX_GLOBAL_INDEXES {
                return Err(Error::LimitExceeded(format!(
                    "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GLOBAL_INDEXES}"
                )));
            }
            let range = table.range_key.as_ref().map(|r| r.name.clone());
            let declared = declare(
                vec![create],
                IndexKind::Global,
                mode,
                &table.hash_key.name.clone(),
                range.as_deref(),
            )?;
            check_all(&table.indexes, &declared)?;
            let known = |n: &str| {
                table
                    .key_attrs()
                    .chain(table.indexes.iter().flat_map(|i| i.key_attrs()))
                    .find(|k| k.name == n)
                    .map(|k| k.kind)
            };
            let defined = |n: &str| {
                defs.into_iter()
                    .flatten()
                    .find(|d| d.attribute_name.as_deref() == Some(n))
                    .and_then(|d| d.attribute_type.as_deref().and_then(ScalarType::parse))
            };
            let find = |n: &str| defined(n).or_else(|| known(n));
            let missing: Vec<&str> = declared
                .iter()
                .flat_map(key_names)
                .filter(|n| find(n).is_none())
                .collect();
            if !missing.is_empty() {
                let Some(defs) = defs else {
                    return Err(Error::invalid_parameter(format_args!(
                        "AttributeDefinitions is not specified for index: {name}"
                    )));
                };
                let names: Vec<&str> = defs
                    .iter()
                    .filter_map(|d| d.attribute_name.as_deref())
                    .collect();
                return Err(Error::invalid_parameter(format_args!(
                    "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                    missing.join(", "),
                    names.join(", ")
                )));
            }
            let built = build(declared, find, true)?;
            applied.created = built.first().map(|i| i.id.clone());
            table.indexes.extend(built);
        }
        if let Some(delete) = u.delete {
            let name = delete.index_name.unwrap_or_default();
            let pos = index_position(table, &name)?;
            if table.indexes[pos].kind != IndexKind::Global {
                return Err(Error::validation(format!(
                    "Cannot delete an index that is not a GlobalSecondaryIndex: {name}"
                )));
            }
            applied.dropped = Some(table.indexes.remove(pos));
        }
        if let Some(update) = u.update {
            let name = update.index_name.unwrap_or_default();
            let pos = index_position(table, &name)?;
            if table.indexes[pos].kind != IndexKind::Global {
                return Err(Error::validation(format!(
                    "Cannot update an index that is not a GlobalSecondaryIndex: {name}"
                )));
            }
            if mode == BillingMode::PayPerRequest {
                return Err(Error::invalid_parameter(format_args!(
                    "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                )));
            }
            let mut v = Violations::default();
            let units = throughput(update.provisioned_throughput, &mut v);
            v.finish()?;
            let Some((r, w)) = units else {
                return Err(Error::invalid_parameter(format_args!(
                    "ProvisionedThroughput must be specified for index: {name}"
                )));
            };
            let index = &mut table.indexes[pos];
            index.read_capacity = r;
            index.write_capacity = w;
        }
    }
    Ok(applied)
}

/// Global indexes follow a table's billing mode: on-demand indexes have no provisioned
/// capacity, and a table made provisioned needs capacity for each of its global indexes
/// (given by an Update of GlobalSecondaryIndexUpdates in the same request).
pub fn follow_billing_mode(table: &mut TableMeta, mode: BillingMode) -> Result<()> {
    for index in table
        .indexes
        .iter_mut()
        .filter(|i| i.kind == IndexKind::Global)
    {
        match mode {
            BillingMode::PayPerRequest => {
                index.read_capacity = 0;
                index.write_capacity = 0;
            }
            BillingMode::Provisioned if index.read_capacity == 0 => {
                return Err(Error::invalid_parameter(format_args!(
                    "ProvisionedThroughput must be specified for index: {}",
                    index.name
                )));
            }
            BillingMode::Provisioned => {}
        }
    }
    Ok(())
}

fn index_position(table: &TableMeta, name: &str) -> Result<usize> {
    table
        .indexes
        .iter()
        .position(|i| i.name == name)
        .ok_or_else(|| {
            Error::ResourceNotFound(format!(
                "Requested resource not found: Index: {name} not found"
            ))
        })
}
