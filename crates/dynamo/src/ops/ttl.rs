//! UpdateTimeToLive and DescribeTimeToLive.
//!
//! nuvem applies a TTL change at once, so the status goes straight to `ENABLED` or
//! `DISABLED` (AWS passes through `ENABLING`/`DISABLING` for up to an hour, and refuses a
//! second change within that hour; nuvem does not). Messages are DynamoDB's. The sweep that
//! deletes expired items is [`crate::ttl`]. Must not: read or write items.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::TtlMeta;
use crate::error::{Error, Result};
use crate::ops::Violations;
use crate::service::DynamoService;
use crate::storage;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpecification {
    attribute_name: Option<String>,
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTimeToLiveInput {
    table_name: Option<String>,
    time_to_live_specification: Option<TtlSpecification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTimeToLiveInput {
    table_name: Option<String>,
}

fn not_found(name: &str) -> Error {
    Error::ResourceNotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html
pub fn update_time_to_live(svc: &DynamoService, input: UpdateTimeToLiveInput) -> Result<Value> {
    let mut v = Violations::default();
    v.table_name(&input.table_name);
    v.require(&input.time_to_live_specification, "timeToLiveSpecification");
    if let Some(spec) = &input.time_to_live_specification {
        v.require(
            &spec.attribute_name,
            "timeToLiveSpecification.attributeName",
        );
        v.require(&spec.enabled, "timeToLiveSpecification.enabled");
        if let Some(name) = &spec.attribute_name {
            let bound = match name.chars().count() {
                0 => Some("greater than or equal to 1"),
                n if n > 255 => Some("less than or equal to 255"),
                _ => None,
            };
            if let Some(bound) = bound {
                v.push(format!(
                    "Value '{name}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length {bound}"
                ));
            }
        }
    }
    v.finish()?;
    let (Some(table_name), Some(spec)) = (input.table_name, input.time_to_live_specification)
    else {
        return Err(Error::validation("missing required members"));
    };
    let (Some(attribute), Some(enabled)) = (spec.attribute_name, spec.enabled) else {
        return Err(Error::validation("missing required members"));
    };
    let name = crate::ops::table_name(&table_name).to_owned();
    svc.store().transact(|tx| {
        let mut meta = storage::read_table(&*tx, &name)?.ok_or_else(|| not_found(&name))?;
        match (&meta.ttl, enabled) {
            (Some(current), _) if current.attribute != attribute => {
                return Err(Error::validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {}",
                    current.attribute
                )));
            }
            (Some(_), true) => return Err(Error::validation("TimeToLive is already enabled")),
            (None, false) => return Err(Error::validation("TimeToLive is already disabled")),
            (Some(_), false) => meta.ttl = None,
            (None, true) => {
                meta.ttl = Some(TtlMeta {
                    attribute: attribute.clone(),
                })
            }
        }
        tx.put(&storage::catalog_key(&meta.name), &meta.to_record());
        Ok(())
    })?;
    tracing::debug!(table = %name, enabled, %attribute, "dynamodb: time to live updated");
    Ok(json!({"TimeToLiveSpecification": {"AttributeName": attribute, "Enabled": enabled}}))
}

/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeTimeToLive.html
pub fn describe_time_to_live(svc: &DynamoService, input: DescribeTimeToLiveInput) -> Result<Value> {
    let mut v = Violations::default();
    v.table_name(&input.table_name);
    v.finish()?;
    let name = crate::ops::table_name(input.table_name.as_deref().unwrap_or_default()).to_owned();
    let snap = svc.store().snapshot();
    let meta = storage::read_table(&*snap, &name)?.ok_or_else(|| not_found(&name))?;
    let description = match &meta.ttl {
        Some(ttl) => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": ttl.attribute}),
        None => json!({"TimeToLiveStatus": "DISABLED"}),
    };
    Ok(json!({"TimeToLiveDescription": description}))
}
