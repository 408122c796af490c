//! How the wafv2 API keeps its resources in the store: one JSON record per resource at
//! `wafv2/<SCOPE>/<kind>/<id>` (kind `webacl`, `ipset` or `regexpatternset`), holding the
//! resource as GetWebACL/GetIPSet/GetRegexPatternSet return it and its current lock token.
//! Names are unique per scope and kind; the handful of resources a project has makes a
//! prefix scan the name index. Also: ARNs, and the [`Resources`] a WebACL compiles against.

use nuvem_store::{Direction, KeyRange, Read, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, WafApiConfig, invalid};
use crate::Resources;

/// Whether a resource is for CloudFront (global, in us-east-1) or a regional application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Cloudfront,
    Regional,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Cloudfront => "CLOUDFRONT",
            Scope::Regional => "REGIONAL",
        }
    }

    /// The `Scope` member of an input.
    pub(super) fn of(input: &Value) -> Result<Scope, ApiError> {
        match input["Scope"].as_str() {
            Some("CLOUDFRONT") => Ok(Scope::Cloudfront),
            Some("REGIONAL") => Ok(Scope::Regional),
            Some(other) => Err(invalid(
                "SCOPE_VALUE",
                "Scope",
                format!("{other} is not CLOUDFRONT or REGIONAL."),
            )),
            None => Err(invalid("SCOPE_VALUE", "Scope", "Scope is required.")),
        }
    }

    fn arn_word(self) -> &'static str {
        match self {
            Scope::Cloudfront => "global",
            Scope::Regional => "regional",
        }
    }
}

/// The kinds of stored resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    WebAcl,
    IpSet,
    RegexPatternSet,
}

impl Kind {
    /// The word in keys and ARNs.
    fn word(self) -> &'static str {
        match self {
            Kind::WebAcl => "webacl",
            Kind::IpSet => "ipset",
            Kind::RegexPatternSet => "regexpatternset",
        }
    }

    /// WAFv2's `ParameterExceptionField` for the resource itself.
    pub fn field(self) -> &'static str {
        match self {
            Kind::WebAcl => "WEB_ACL",
            Kind::IpSet => "IP_SET",
            Kind::RegexPatternSet => "REGEX_PATTERN_SET",
        }
    }

    /// The member naming the resource in Get outputs (`WebACL`, `IPSet`, ...).
    pub fn member(self) -> &'static str {
        match self {
            Kind::WebAcl => "WebACL",
            Kind::IpSet => "IPSet",
            Kind::RegexPatternSet => "RegexPatternSet",
        }
    }

    /// The member holding the list in List outputs.
    pub fn list_member(self) -> &'static str {
        match self {
            Kind::WebAcl => "WebACLs",
            Kind::IpSet => "IPSets",
            Kind::RegexPatternSet => "RegexPatternSets",
        }
    }
}

/// One stored resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub lock_token: String,
    /// The resource as its Get operation returns it (`Name`, `Id`, `ARN`, ...).
    pub resource: Value,
}

impl Record {
    pub fn name(&self) -> &str {
        self.resource["Name"].as_str().unwrap_or_default()
    }

    pub fn arn(&self) -> &str {
        self.resource["ARN"].as_str().unwrap_or_default()
    }

    /// The `…Summary` a Create or List returns.
    pub fn summary(&self) -> Value {
        let mut s = serde_json::json!({
            "Name": self.resource["Name"],
            "Id": self.resource["Id"],
            "ARN": self.resource["ARN"],
            "LockToken": self.lock_token,
        });
        if let Some(d) = self.resource.get("Description") {
            s["Description"] = d.clone();
        }
        s
    }
}

pub(super) fn arn(config: &WafApiConfig, scope: Scope, kind: Kind, name: &str, id: &str) -> String {
    let region = match scope {
        Scope::Cloudfront => "us-east-1",
        Scope::Regional => &config.region,
    };
    format!(
        "arn:aws:wafv2:{region}:{}:{}/{}/{name}/{id}",
        config.account_id,
        scope.arn_word(),
        kind.word()
    )
}

/// The scope, kind, name and id an ARN of this API names, if it is one.
pub(super) fn parse_arn(arn: &str) -> Option<(Scope, Kind, &str, &str)> {
    let rest = arn.strip_prefix("arn:aws:wafv2:")?;
    let mut parts = rest.splitn(3, ':');
    let (_region, _account, path) = (parts.next()?, parts.next()?, parts.next()?);
    let mut p = path.split('/');
    let scope = match p.next()? {
        "global" => Scope::Cloudfront,
        "regional" => Scope::Regional,
        _ => return None,
    };
    let kind = match p.next()? {
        "webacl" => Kind::WebAcl,
        "ipset" => Kind::IpSet,
        "regexpatternset" => Kind::RegexPatternSet,
        _ => return None,
    };
    let (name, id) = (p.next()?, p.next()?);
    p.next().is_none().then_some((scope, kind, name, id))
}

fn key(scope: Scope, kind: Kind, id: &str) -> Vec<u8> {
    format!("wafv2/{}/{}/{id}", scope.as_str(), kind.word()).into_bytes()
}

fn decode(bytes: &[u8]) -> Result<Record, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Store(nuvem_store::Error::Corrupt(format!("wafv2 record: {e}"))))
}

pub(super) fn get<R: Read + ?Sized>(
    r: &R,
    scope: Scope,
    kind: Kind,
    id: &str,
) -> Result<Option<Record>, ApiError> {
    r.get(&key(scope, kind, id))?
        .map(|b| decode(&b))
        .transpose()
}

/// Every record of one scope and kind, in id order.
pub(super) fn list<R: Read + ?Sized>(
    r: &R,
    scope: Scope,
    kind: Kind,
) -> Result<Vec<Record>, ApiError> {
    let prefix = format!("wafv2/{}/{}/", scope.as_str(), kind.word());
    r.scan(KeyRange::prefix(prefix.as_bytes()), Direction::Forward)
        .map(|entry| decode(&entry?.1))
        .collect()
}

pub(super) fn put(tx: &mut dyn Tx, scope: Scope, kind: Kind, id: &str, record: &Record) {
    // A `Record` is plain JSON values: serializing it cannot fail.
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    tx.put(&key(scope, kind, id), &bytes);
}

pub(super) fn delete(tx: &mut dyn Tx, scope: Scope, kind: Kind, id: &str) {
    tx.delete(&key(scope, kind, id));
}

/// The IP sets and regex pattern sets of `scope`, by ARN, for compiling its WebACLs.
pub(super) fn resources<R: Read + ?Sized>(r: &R, scope: Scope) -> Result<Resources, ApiError> {
    let strings = |v: &Value, member: &str, inner: Option<&str>| -> Vec<String> {
        v[member]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| match inner {
                        Some(k) => x[k].as_str(),
                        None => x.as_str(),
                    })
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Resources::default();
    for rec in list(r, scope, Kind::IpSet)? {
        let addrs = strings(&rec.resource, "Addresses", None);
        out.ip_sets.insert(rec.arn().to_string(), addrs);
    }
    for rec in list(r, scope, Kind::RegexPatternSet)? {
        let list = strings(&rec.resource, "RegularExpressionList", Some("RegexString"));
        out.regex_pattern_sets.insert(rec.arn().to_string(), list);
    }
    Ok(out)
}

/// Whether a WebACL (any JSON inside it) references `arn` through an `ARN` member.
pub(super) fn references(v: &Value, arn: &str) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, x)| (k == "ARN" && x.as_str() == Some(arn)) || references(x, arn)),
        Value::Array(a) => a.iter().any(|x| references(x, arn)),
        _ => false,
    }
}
