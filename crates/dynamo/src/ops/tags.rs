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
/// The characters a tag key or value may hold: letters, separators (spaces), digits and
/// `_ . : / = + - @`, as the pattern in DynamoDB's `Tag` shape
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Tag.html>).
const TAG_PATTERN: &str = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$";

fn tag_char(c: char) -> bool {
    // `\p{Z}` is the whitespace that is not a control character.
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

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
    let mut v = Violations::default();
    for (i, t) in input.tags.unwrap_or_default().into_iter().enumerate() {
        // AWS numbers list members from 1 in constraint messages.
        let at = |member: &str| format!("tags.{}.member.{member}", i + 1);
        let (key, value) = match (t.key, t.value) {
            (Some(key), Some(value)) => (key, value),
            (key, _) => {
                let member = if key.is_none() { "key" } else { "value" };
                v.push(format!(
                    "Value null at '{}' failed to satisfy constraint: Member must not be null",
                    at(member)
                ));
                continue;
            }
        };
        let len = key.chars().count();
        if len == 0 {
            v.push(format!(
                "Value '{key}' at '{}' failed to satisfy constraint: Member must have length greater than or equal to 1",
                at("key")
            ));
        } else if len > MAX_KEY_LEN {
            v.push(format!(
                "Value '{key}' at '{}' failed to satisfy constraint: Member must have length less than or equal to {MAX_KEY_LEN}",
                at("key")
            ));
        }
        if value.chars().count() > MAX_VALUE_LEN {
            v.push(format!(
                "Value '{value}' at '{}' failed to satisfy constraint: Member must have length less than or equal to {MAX_VALUE_LEN}",
                at("value")
            ));
        }
        for (text, member) in [(&key, "key"), (&value, "value")] {
            if !text.chars().all(tag_char) {
                v.push(format!(
                    "Value '{text}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: {TAG_PATTERN}",
                    at(member)
                ));
            }
        }
        tags.push((key, value));
    }
    v.finish()?;
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
    // TagResource and UntagResource answer with an empty body, not `{}`.
    Ok(Value::Null)
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
    Ok(Value::Null)
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
