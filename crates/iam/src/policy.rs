//! The policy document: parsing and validating the JSON that CreatePolicy, PutUserPolicy,
//! PutBucketPolicy, AddPermission and role trust policies take
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>).

use serde_json::{Map, Value};

use crate::condition::Condition;

/// What a document is for: the grammar differs in whether `Principal` is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Attached to a user, group or role: no `Principal`; `Resource` required.
    Identity,
    /// Attached to a resource (bucket, function, queue): `Principal` required.
    Resource,
    /// A role's trust policy: `Principal` required, `Resource` not allowed.
    Trust,
}

/// The policy language version. Policy variables (`${aws:username}`) are substituted only in
/// `2012-10-17` documents; in `2008-10-17` (or no `Version`) they are literal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2008,
    V2012,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action`/`Resource` and their `Not…` forms: a list of patterns, negated or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub negated: bool,
    pub items: Vec<String>,
}

/// `Principal`/`NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principals {
    pub negated: bool,
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    pub everyone: bool,
    /// `AWS` entries: account ids, account root ARNs, user/role ARNs.
    pub aws: Vec<String>,
    /// `Service` entries (`apigateway.amazonaws.com`).
    pub service: Vec<String>,
    /// `Federated` and `CanonicalUser` entries, kept for completeness; nuvem issues neither.
    pub other: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Principals>,
    pub action: Patterns,
    pub resource: Option<Patterns>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: Version,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

/// Why a document is not a valid policy: IAM answers `MalformedPolicyDocument` with this
/// message (S3: `MalformedPolicy`; Lambda: `InvalidParameterValueException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn bad(msg: impl Into<String>) -> Malformed {
    Malformed(msg.into())
}

/// IAM's size limit for managed policies (6,144 characters without whitespace); inline and
/// resource policies have their own, smaller or larger, limits that callers check.
pub const MAX_MANAGED_POLICY_CHARS: usize = 6144;

impl Policy {
    /// Parses and validates a policy document of `kind`.
    pub fn parse(document: &str, kind: Kind) -> Result<Self, Malformed> {
        let value: Value =
            serde_json::from_str(document).map_err(|_| bad("Syntax errors in policy."))?;
        Self::from_value(&value, kind)
    }

    pub fn from_value(value: &Value, kind: Kind) -> Result<Self, Malformed> {
        let obj = value
            .as_object()
            .ok_or_else(|| bad("Syntax errors in policy."))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(bad(format!(
                    "Policy document contains unknown element {k}."
                )));
            }
        }
        let version = match obj.get("Version") {
            None => Version::V2008,
            Some(Value::String(v)) if v == "2012-10-17" => Version::V2012,
            Some(Value::String(v)) if v == "2008-10-17" => Version::V2008,
            Some(_) => return Err(bad("The policy must contain a valid version string")),
        };
        let id = match obj.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("Syntax errors in policy.")),
        };
        let statements = match obj.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|s| statement(s, kind))
                .collect::<Result<Vec<_>, _>>()?,
            Some(s @ Value::Object(_)) => vec![statement(s, kind)?],
            _ => return Err(bad("Missing required field Statement")),
        };
        Ok(Self {
            version,
            id,
            statements,
        })
    }
}

/// A string or a non-empty array of strings (IAM also takes numbers and booleans where a
/// string is expected, as their JSON text).
fn strings(v: &Value, field: &str) -> Result<Vec<String>, Malformed> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(bad(format!(
            "Syntax errors in policy: {field} must be a string or a list of strings."
        ))),
    };
    match v {
        Value::Array(items) if items.is_empty() => Err(bad(format!(
            "Policy statement must contain a non-empty {field}."
        ))),
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn either(st: &Map<String, Value>, plain: &str, not: &str) -> Result<Option<Patterns>, Malformed> {
    match (st.get(plain), st.get(not)) {
        (Some(_), Some(_)) => Err(bad(format!(
            "Statement can not contain both {plain} and {not}."
        ))),
        (Some(v), None) => Ok(Some(Patterns {
            negated: false,
            items: strings(v, plain)?,
        })),
        (None, Some(v)) => Ok(Some(Patterns {
            negated: true,
            items: strings(v, not)?,
        })),
        (None, None) => Ok(None),
    }
}

fn principals(v: &Value, negated: bool) -> Result<Principals, Malformed> {
    let mut p = Principals {
        negated,
        everyone: false,
        aws: Vec::new(),
        service: Vec::new(),
        other: Vec::new(),
    };
    match v {
        Value::String(s) if s == "*" => p.everyone = true,
        Value::Object(map) if !map.is_empty() => {
            for (kind, ids) in map {
                let ids = strings(ids, "Principal")?;
                match kind.as_str() {
                    "AWS" => {
                        for id in ids {
                            if id == "*" {
                                p.everyone = true;
                            } else if id.contains('*') || id.contains('?') {
                                return Err(bad(format!(
                                    "Invalid principal in policy: \"AWS\":\"{id}\""
                                )));
                            } else if (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
                                || id.starts_with("arn:")
                            {
                                p.aws.push(id);
                            } else {
                                return Err(bad(format!(
                                    "Invalid principal in policy: \"AWS\":\"{id}\""
                                )));
                            }
                        }
                    }
                    "Service" => p.service.extend(ids),
                    "Federated" | "CanonicalUser" => {
                        p.other.extend(ids.into_iter().map(|i| (kind.clone(), i)))
                    }
                    _ => return Err(bad(format!("Invalid principal in policy: \"{kind}\""))),
                }
            }
        }
        _ => return Err(bad("Invalid principal in policy")),
    }
    Ok(p)
}

fn statement(v: &Value, kind: Kind) -> Result<Statement, Malformed> {
    let st = v
        .as_object()
        .ok_or_else(|| bad("Syntax errors in policy."))?;
    for k in st.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(bad(format!("Statement contains unknown element {k}.")));
        }
    }
    let sid = match st.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("Syntax errors in policy.")),
    };
    let effect = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => return Err(bad(format!("Invalid effect: {other}"))),
        None => return Err(bad("Missing required field Effect")),
    };
    let principal = match (st.get("Principal"), st.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "Statement can not contain both Principal and NotPrincipal.",
            ));
        }
        (Some(v), None) => Some(principals(v, false)?),
        (None, Some(v)) => Some(principals(v, true)?),
        (None, None) => None,
    };
    match (kind, &principal) {
        (Kind::Identity, Some(_)) => {
            return Err(bad("Policy document should not specify a principal."));
        }
        (Kind::Resource | Kind::Trust, None) => {
            return Err(bad("Missing required field Principal"));
        }
        _ => {}
    }
    let action =
        either(st, "Action", "NotAction")?.ok_or_else(|| bad("Missing required field Action"))?;
    for a in &action.items {
        if a != "*"
            && !a
                .split_once(':')
                .is_some_and(|(svc, op)| !svc.is_empty() && !op.is_empty())
        {
            return Err(bad(format!(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. ({a})"
            )));
        }
    }
    let resource = either(st, "Resource", "NotResource")?;
    match (kind, &resource) {
        (Kind::Identity, None) => return Err(bad("Missing required field Resource")),
        (Kind::Trust, Some(_)) => {
            return Err(bad("Has prohibited field Resource"));
        }
        _ => {}
    }
    let conditions = match st.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(ops)) => crate::condition::parse_block(ops)?,
        Some(_) => return Err(bad("Syntax errors in policy: Condition must be an object.")),
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}
