//! Table tags and the account-level informational operations: TagResource, UntagResource,
//! ListTagsOfResource, DescribeEndpoints and DescribeLimits
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TagResource.html>).
//!
//! Tags live in the table's catalog record and change in one transaction with it.
//! Must not: touch items.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::ops::Violations;
use crate::service::DynamoService;
use crate::storage;

/// Most tags on one resource, and the key and value length limits
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Tagging.html>).
const MAX_TAGS: usize = 50;
const MAX_KEY_LEN: usize = 128;
const MAX_VALUE_LEN: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    resource_arn: Option<String>,
    tags: Option<Vec<TagInput>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagInput {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    resource_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsInput {
    resource_arn: Option<String>,
}

/// The table name in a table ARN of this region and account.
fn table_of_arn<'a>(svc: &DynamoService, arn: &'a str) -> Result<&'a str> {
    let c = svc.config();
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", c.region, c.account_id);
    match arn.strip_prefix(&prefix) {
        Some(name) if !name.is_empty() && !name.contains('/') => Ok(name),
        _ if arn.starts_with("arn:") => Err(not_found(arn)),
        _ => Err(Error::validation(format!("Invalid TableArn: {arn}"))),
    }
}

fn not_found(arn: &str) -> Error {
    // Sic: AWS's message spells it "ResourcArn".
    Error::ResourceNotFound(format!(
        "Requested resource not found: ResourcArn: {arn} not found"
    ))
}

/// Applies `change` to the tags of the table named by `arn`, in one transaction.
fn change_tags(
    svc: &DynamoService,
    arn: &str,
    change: impl Fn(&mut Vec<(String, String)>) -> Result<()>,
) -> Result<()> {
    let name = table_of_arn(svc, arn)?;
    svc.store().transact(|tx| {
        let mut meta = storage::read_table(&*tx, name)?.ok_or_else(|| not_found(arn))?;
        change(&mut meta.tags)?;
        tx.put(&storage::catalog_key(name), &meta.to_record());
        Ok(())
    })
}

pub fn tag_resource(svc: &DynamoService, input: TagResourceInput) -> Result<Value> {
    let mut v = Violations::default();
    v.require(&input.resource_arn, "resourceArn");
    v.require(&input.tags, "tags");
    v.finish()?;
    let mut tags = Vec::new();
    for t in input.tags.unwrap_or_default() {
        let (Some(key), Some(value)) = (t.key, t.value) else {
            return Err(Error::validation(
                "1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null",
            ));
        };
        if key.is_empty() || key.chars().count() > MAX_KEY_LEN {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{key}' at 'tags.member.key' failed to satisfy constraint: Member must have length less than or equal to {MAX_KEY_LEN}"
            )));
        }
        if value.chars().count() > MAX_VALUE_LEN {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{value}' at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to {MAX_VALUE_LEN}"
            )));
        }
        tags.push((key, value));
    }
    let arn = input.resource_arn.unwrap_or_default();
    change_tags(svc, &arn, |current| {
        for (k, v) in &tags {
            match current.iter_mut().find(|(ck, _)| ck == k) {
                Some(slot) => slot.1 = v.clone(),
                None => current.push((k.clone(), v.clone())),
            }
        }
        if current.len() > MAX_TAGS {
            return Err(Error::validation(
                "One or more parameter values were invalid: The number of tags on the resource exceeds the limit of 50",
            ));
        }
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn untag_resource(svc: &DynamoService, input: UntagResourceInput) -> Result<Value> {
    let mut v = Violations::default();
    v.require(&input.resource_arn, "resourceArn");
    v.require(&input.tag_keys, "tagKeys");
    v.finish()?;
    let keys = input.tag_keys.unwrap_or_default();
    let arn = input.resource_arn.unwrap_or_default();
    change_tags(svc, &arn, |current| {
        current.retain(|(k, _)| !keys.contains(k));
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn list_tags_of_resource(svc: &DynamoService, input: ListTagsInput) -> Result<Value> {
    let mut v = Violations::default();
    v.require(&input.resource_arn, "resourceArn");
    v.finish()?;
    let arn = input.resource_arn.unwrap_or_default();
    let name = table_of_arn(svc, &arn)?;
    let snap = svc.store().snapshot();
    let meta = storage::read_table(&*snap, name)?.ok_or_else(|| not_found(&arn))?;
    let tags: Vec<Value> = meta
        .tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    Ok(json!({ "Tags": tags }))
}

/// DescribeEndpoints: the one endpoint there is. SDKs with endpoint discovery cache it for
/// the period given.
pub fn describe_endpoints(svc: &DynamoService) -> Value {
    json!({"Endpoints": [{
        "Address": format!("dynamodb.{}.amazonaws.com", svc.config().region),
        "CachePeriodInMinutes": 1440,
    }]})
}

/// DescribeLimits: DynamoDB's default account and table quotas
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html>).
/// nuvem enforces none of them.
pub fn describe_limits() -> Value {
    json!({
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    })
}
