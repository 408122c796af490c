//! The legacy request parameters on the wire: parsing `AttributesToGet`, `Expected`,
//! `AttributeUpdates`, `KeyConditions`, `QueryFilter` and `ScanFilter` from JSON, and
//! DynamoDB's rule that one request uses either them or expressions, never both
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LegacyConditionalParameters.html>).
//!
//! Must not: evaluate anything; [`crate::expr`] turns the parsed entries into the same trees
//! the expression parser builds.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::expr::{LegacyAction, LegacyCondition, Path, Projection};
use crate::value::AttributeValue;

/// Rejects a request that mixes legacy and expression parameters, naming both sides as
/// DynamoDB does: `Non-expression parameters: {Expected} Expression parameters:
/// {ConditionExpression}`.
pub fn reject_mixed(legacy: &[(&str, bool)], expressions: &[(&str, bool)]) -> Result<()> {
    let used = |list: &[(&str, bool)]| -> Vec<String> {
        list.iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| (*n).to_owned())
            .collect()
    };
    let (l, e) = (used(legacy), used(expressions));
    if !l.is_empty() && !e.is_empty() {
        return Err(Error::validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            l.join(", "),
            e.join(", ")
        )));
    }
    Ok(())
}

fn serialization(field: &str) -> Error {
    Error::Serialization(format!("Unexpected JSON shape for {field}"))
}

/// `AttributesToGet`: a list of top-level attribute names, as a projection.
pub fn attributes_to_get(json: &Value) -> Result<Projection> {
    let list = json
        .as_array()
        .ok_or_else(|| serialization("AttributesToGet"))?;
    if list.is_empty() {
        return Err(Error::validation(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let mut paths: Vec<Path> = Vec::new();
    for name in list {
        let name = name
            .as_str()
            .ok_or_else(|| serialization("AttributesToGet"))?;
        if paths.iter().any(|p| p.top() == name) {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Duplicate value in attribute name: {name}"
            )));
        }
        paths.push(Path::name(name));
    }
    Ok(Projection::from_paths(paths))
}

/// A map of attribute name to condition (`Expected`, `QueryFilter`, `ScanFilter`,
/// `KeyConditions`), in the request's order.
pub fn conditions(json: &Value, field: &str) -> Result<Vec<(String, LegacyCondition)>> {
    let map = json.as_object().ok_or_else(|| serialization(field))?;
    let mut out = Vec::new();
    for (name, entry) in map {
        let entry = entry.as_object().ok_or_else(|| serialization(field))?;
        let mut c = LegacyCondition::default();
        if let Some(op) = entry.get("ComparisonOperator") {
            c.comparison_operator =
                Some(op.as_str().ok_or_else(|| serialization(field))?.to_owned());
        }
        if let Some(list) = entry.get("AttributeValueList") {
            let list = list.as_array().ok_or_else(|| serialization(field))?;
            c.attribute_value_list = Some(
                list.iter()
                    .map(AttributeValue::from_json)
                    .collect::<Result<_, _>>()?,
            );
        }
        if let Some(v) = entry.get("Value") {
            c.value = Some(AttributeValue::from_json(v)?);
        }
        if let Some(e) = entry.get("Exists") {
            c.exists = Some(e.as_bool().ok_or_else(|| serialization(field))?);
        }
        out.push((name.clone(), c));
    }
    Ok(out)
}

/// `AttributeUpdates`: attribute name to `{Action, Value}`; the action defaults to PUT.
pub fn attribute_updates(
    json: &Value,
) -> Result<Vec<(String, LegacyAction, Option<AttributeValue>)>> {
    let field = "AttributeUpdates";
    let map = json.as_object().ok_or_else(|| serialization(field))?;
    let mut out = Vec::new();
    for (name, entry) in map {
        let entry = entry.as_object().ok_or_else(|| serialization(field))?;
        let action = match entry.get("Action").map(Value::as_str) {
            None | Some(Some("PUT")) => LegacyAction::Put,
            Some(Some("ADD")) => LegacyAction::Add,
            Some(Some("DELETE")) => LegacyAction::Delete,
            Some(Some(other)) => {
                return Err(Error::validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )));
            }
            Some(None) => return Err(serialization(field)),
        };
        let value = entry
            .get("Value")
            .map(AttributeValue::from_json)
            .transpose()?;
        out.push((name.clone(), action, value));
    }
    Ok(out)
}
