//! Create, Get, Update, Delete and List for the three stored kinds, the manifest's upsert
//! ([`WafApi::attach`]), and keeping live WebACLs current. Every change is one store
//! transaction that checks names, lock tokens and references against what it reads; a live
//! WebACL is swapped only after its change committed.

use serde_json::{Map, Value, json};

use nuvem_store::cluster::touch;

use super::records::{self, Kind, Record, Scope};
use super::{ApiError, Live, TOPIC, WafApi, invalid, required};
use crate::compile;
use crate::shared::SharedWebAcl;
use crate::{WafError, WebAcl};

/// The members of a WebACL that CreateWebACL/UpdateWebACL take and GetWebACL returns.
const WEB_ACL_MEMBERS: &[&str] = &[
    "Description",
    "DefaultAction",
    "Rules",
    "VisibilityConfig",
    "CustomResponseBodies",
    "CaptchaConfig",
    "ChallengeConfig",
    "TokenDomains",
    "AssociationConfig",
    "DataProtectionConfig",
];

/// AWS's limits: addresses per IP set, expressions per regex pattern set
/// (<https://docs.aws.amazon.com/waf/latest/developerguide/limits.html>).
const MAX_ADDRESSES: usize = 10_000;
const MAX_REGEXES: usize = 10;

/// Gives a WebACL and its rules the `VisibilityConfig` that CreateWebACL requires and a
/// manifest may leave out (metric name = the rule's name), so that what GetWebACL returns
/// can be sent back to UpdateWebACL by any SDK.
fn with_visibility(acl: &mut Value) {
    let visibility = |name: &Value| {
        json!({"SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": false,
               "MetricName": name.as_str().unwrap_or("rule")})
    };
    if acl.get("VisibilityConfig").is_none_or(Value::is_null) {
        acl["VisibilityConfig"] = visibility(&acl["Name"]);
    }
    if let Some(rules) = acl.get_mut("Rules").and_then(Value::as_array_mut) {
        for rule in rules {
            if rule.get("VisibilityConfig").is_none_or(Value::is_null) {
                rule["VisibilityConfig"] = visibility(&rule["Name"]);
            }
        }
    }
}

/// A fresh resource id or lock token: a UUID, 36 characters like AWS's.
fn fresh() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn lock_poisoned<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl WafApi {
    /// The resource a Create or Update (of `old`) stands for, validated; for a WebACL,
    /// compiled against the sets `r` holds.
    #[allow(clippy::too_many_arguments)]
    fn body<R: nuvem_store::Read + ?Sized>(
        &self,
        kind: Kind,
        scope: Scope,
        input: &Value,
        name: &str,
        id: &str,
        old: Option<&Record>,
        r: &R,
    ) -> Result<(Value, Option<WebAcl>), ApiError> {
        compile::check_name(name, kind.field(), "Name")?;
        let mut res = Map::new();
        res.insert("Name".into(), json!(name));
        res.insert("Id".into(), json!(id));
        let arn = records::arn(&self.config, scope, kind, name, id);
        res.insert("ARN".into(), json!(arn));
        match &input["Description"] {
            Value::Null => {}
            Value::String(d) if (1..=256).contains(&d.chars().count()) => {
                res.insert("Description".into(), json!(d));
            }
            _ => {
                return Err(invalid(
                    kind.field(),
                    "Description",
                    "Description is 1-256 characters.",
                ));
            }
        }
        match kind {
            Kind::WebAcl => {
                for m in WEB_ACL_MEMBERS {
                    if let Some(v) = input.get(*m).filter(|v| !v.is_null()) {
                        res.insert((*m).into(), v.clone());
                    }
                }
                res.entry("Rules").or_insert_with(|| json!([]));
                res.insert(
                    "LabelNamespace".into(),
                    json!(format!("awswaf:{}:webacl:{name}:", self.config.account_id)),
                );
                res.insert("ManagedByFirewallManager".into(), json!(false));
                let resource = Value::Object(res);
                let acl = compile::web_acl(&resource.to_string(), &records::resources(r, scope)?)?;
                Ok((resource, Some(acl)))
            }
            Kind::IpSet => {
                // UpdateIPSet has no IPAddressVersion: a set keeps the one it was made with.
                let version = match old
                    .map_or(
                        &input["IPAddressVersion"],
                        |o| &o.resource["IPAddressVersion"],
                    )
                    .as_str()
                {
                    Some(v @ ("IPV4" | "IPV6")) => v,
                    _ => {
                        return Err(invalid(
                            "IP_ADDRESS_VERSION",
                            "IPAddressVersion",
                            "IPAddressVersion is IPV4 or IPV6.",
                        ));
                    }
                };
                let list = input["Addresses"].as_array().ok_or_else(|| {
                    invalid("IP_ADDRESS", "Addresses", "Addresses is a list of CIDRs.")
                })?;
                if list.len() > MAX_ADDRESSES {
                    return Err(invalid(
                        "IP_ADDRESS",
                        "Addresses",
                        format!("An IP set holds at most {MAX_ADDRESSES} addresses."),
                    ));
                }
                let mut addresses = Vec::with_capacity(list.len());
                for (i, a) in list.iter().enumerate() {
                    let at = format!("Addresses[{i}]");
                    let text = a
                        .as_str()
                        .ok_or_else(|| invalid("IP_ADDRESS", &at, "An address is a string."))?;
                    let cidr = compile::cidr(text, &at)?;
                    if cidr.net.is_ipv4() != (version == "IPV4") {
                        return Err(invalid(
                            "IP_ADDRESS",
                            &at,
                            format!("{text} is not an {version} address."),
                        ));
                    }
                    addresses.push(json!(text));
                }
                res.insert("IPAddressVersion".into(), json!(version));
                res.insert("Addresses".into(), Value::Array(addresses));
                Ok((Value::Object(res), None))
            }
            Kind::RegexPatternSet => {
                let list = input["RegularExpressionList"].as_array().ok_or_else(|| {
                    invalid(
                        "REGEX_PATTERN_SET",
                        "RegularExpressionList",
                        "RegularExpressionList is a list of {\"RegexString\": ...}.",
                    )
                })?;
                if list.len() > MAX_REGEXES {
                    return Err(invalid(
                        "REGEX_PATTERN_SET",
                        "RegularExpressionList",
                        format!("A regex pattern set holds at most {MAX_REGEXES} expressions."),
                    ));
                }
                let mut out = Vec::with_capacity(list.len());
                for (i, x) in list.iter().enumerate() {
                    let at = format!("RegularExpressionList[{i}].RegexString");
                    let text = x["RegexString"].as_str().ok_or_else(|| {
                        invalid("REGEX_PATTERN_SET", &at, "RegexString is required.")
                    })?;
                    compile::regex(text, &at)?;
                    out.push(json!({"RegexString": text}));
                }
                res.insert("RegularExpressionList".into(), Value::Array(out));
                Ok((Value::Object(res), None))
            }
        }
    }

    /// The scope and id an input names (`Scope`+`Name`+`Id`, or `ARN` where AWS accepts it),
    /// and the record there.
    fn find<R: nuvem_store::Read + ?Sized>(
        &self,
        kind: Kind,
        input: &Value,
        r: &R,
    ) -> Result<(Scope, String, Record), ApiError> {
        let (scope, name, id) = match input["ARN"].as_str() {
            Some(arn) => match records::parse_arn(arn) {
                Some((scope, k, name, id)) if k == kind => {
                    (scope, name.to_string(), id.to_string())
                }
                _ => {
                    return Err(invalid(
                        "RESOURCE_ARN",
                        "ARN",
                        format!("{arn} is not the ARN of a {}.", kind.member()),
                    ));
                }
            },
            None => (
                Scope::of(input)?,
                required(input, "Name", kind.field())?.to_string(),
                required(input, "Id", kind.field())?.to_string(),
            ),
        };
        match records::get(r, scope, kind, &id)? {
            Some(rec) if rec.name() == name => Ok((scope, id, rec)),
            _ => Err(ApiError::Nonexistent(format!(
                "{} {name} with id {id} in scope {}",
                kind.member(),
                scope.as_str()
            ))),
        }
    }

    pub(super) fn create(&self, kind: Kind, input: &Value) -> Result<Value, ApiError> {
        let scope = Scope::of(input)?;
        let name = required(input, "Name", kind.field())?;
        let id = fresh();
        let _w = lock_poisoned(&self.writes);
        self.store.transact(|tx| {
            if records::list(&*tx, scope, kind)?
                .iter()
                .any(|r| r.name() == name)
            {
                return Err(ApiError::Duplicate(format!(
                    "a {} named {name} exists in scope {}",
                    kind.member(),
                    scope.as_str()
                )));
            }
            let (resource, _) = self.body(kind, scope, input, name, &id, None, &*tx)?;
            let rec = Record {
                lock_token: fresh(),
                resource,
            };
            records::put(tx, scope, kind, &id, &rec);
            touch(tx, TOPIC)?;
            Ok(json!({"Summary": rec.summary()}))
        })
    }

    pub(super) fn get(&self, kind: Kind, input: &Value) -> Result<Value, ApiError> {
        let snap = self.store.snapshot();
        let (_, _, rec) = self.find(kind, input, &*snap)?;
        let mut out = json!({"LockToken": rec.lock_token});
        out[kind.member()] = rec.resource;
        Ok(out)
    }

    pub(super) fn update(&self, kind: Kind, input: &Value) -> Result<Value, ApiError> {
        let token = required(input, "LockToken", kind.field())?;
        let _w = lock_poisoned(&self.writes);
        let out = self.store.transact(|tx| {
            let (scope, id, rec) = self.find(kind, input, &*tx)?;
            if rec.lock_token != token {
                return Err(ApiError::OptimisticLock);
            }
            let (resource, _) = self.body(kind, scope, input, rec.name(), &id, Some(&rec), &*tx)?;
            let next = fresh();
            records::put(
                tx,
                scope,
                kind,
                &id,
                &Record {
                    lock_token: next.clone(),
                    resource,
                },
            );
            touch(tx, TOPIC)?;
            Ok(json!({"NextLockToken": next}))
        })?;
        self.reload_locked()?;
        Ok(out)
    }

    pub(super) fn delete(&self, kind: Kind, input: &Value) -> Result<Value, ApiError> {
        let token = required(input, "LockToken", kind.field())?;
        let _w = lock_poisoned(&self.writes);
        let live: Vec<String> = lock_poisoned(&self.live).keys().cloned().collect();
        self.store.transact(|tx| {
            let (scope, id, rec) = self.find(kind, input, &*tx)?;
            if rec.lock_token != token {
                return Err(ApiError::OptimisticLock);
            }
            let arn = rec.arn();
            match kind {
                Kind::WebAcl if live.iter().any(|a| a == arn) => {
                    return Err(ApiError::Associated(format!(
                        "WebACL {} is the WebACL of a running distribution",
                        rec.name()
                    )));
                }
                Kind::WebAcl => {}
                Kind::IpSet | Kind::RegexPatternSet => {
                    if let Some(user) = records::list(&*tx, scope, Kind::WebAcl)?
                        .iter()
                        .find(|w| records::references(&w.resource, arn))
                    {
                        return Err(ApiError::Associated(format!(
                            "{} {} is referenced by WebACL {}",
                            kind.member(),
                            rec.name(),
                            user.name()
                        )));
                    }
                }
            }
            records::delete(tx, scope, kind, &id);
            touch(tx, TOPIC)?;
            Ok(json!({}))
        })
    }

    pub(super) fn list(&self, kind: Kind, input: &Value) -> Result<Value, ApiError> {
        let scope = Scope::of(input)?;
        let limit = match &input["Limit"] {
            Value::Null => 100,
            v => match v.as_u64() {
                Some(n @ 1..=100) => n as usize,
                _ => return Err(invalid(kind.field(), "Limit", "Limit is 1-100.")),
            },
        };
        let marker = input["NextMarker"].as_str().unwrap_or_default();
        let mut all = records::list(&*self.store.snapshot(), scope, kind)?;
        all.sort_by(|a, b| a.name().cmp(b.name()));
        let page: Vec<&Record> = all
            .iter()
            .filter(|r| marker.is_empty() || r.name() >= marker)
            .take(limit + 1)
            .collect();
        let mut out = json!({});
        if let Some(next) = page.get(limit) {
            out["NextMarker"] = json!(next.name());
        }
        out[kind.list_member()] = page.iter().take(limit).map(|r| r.summary()).collect();
        Ok(out)
    }

    /// Registers the WebACL a resource uses (`json` in the WAFv2 model, as CreateWebACL
    /// takes it) under its `Name` in `scope`: created, or replaced keeping its Id when a
    /// WebACL of that name exists (the caller's JSON wins). The returned handle follows
    /// every later UpdateWebACL of it and every update of a set it references, and
    /// DeleteWebACL refuses it (WAFAssociatedItemException) while this API runs.
    pub fn attach(&self, scope: Scope, json: &str) -> Result<SharedWebAcl, ApiError> {
        let mut input: Value = serde_json::from_str(json).map_err(|e| {
            ApiError::Waf(WafError::invalid(
                "WEB_ACL",
                "WebACL",
                format!("The JSON isn't valid: {e}"),
            ))
        })?;
        with_visibility(&mut input);
        let name = required(&input, "Name", "WEB_ACL")?;
        let fresh_id = fresh();
        let _w = lock_poisoned(&self.writes);
        let (arn, acl, compiled_from) = self.store.transact(|tx| {
            let existing = records::list(&*tx, scope, Kind::WebAcl)?
                .into_iter()
                .find(|r| r.name() == name);
            let id = existing
                .as_ref()
                .and_then(|r| r.resource["Id"].as_str())
                .unwrap_or(&fresh_id)
                .to_string();
            let (resource, acl) = self.body(
                Kind::WebAcl,
                scope,
                &input,
                name,
                &id,
                existing.as_ref(),
                &*tx,
            )?;
            let rec = Record {
                lock_token: fresh(),
                resource,
            };
            records::put(tx, scope, Kind::WebAcl, &id, &rec);
            touch(tx, TOPIC)?;
            let compiled_from = compiled_from(&rec, &sets_tokens(&*tx, scope)?);
            Ok::<_, ApiError>((rec.arn().to_string(), acl, compiled_from))
        })?;
        let acl = acl.ok_or_else(|| {
            ApiError::Store(nuvem_store::Error::Io(
                "a WebACL compiled to nothing".into(),
            ))
        })?;
        let mut live = lock_poisoned(&self.live);
        let shared = match live.get(&arn) {
            Some(l) => {
                l.acl.replace(acl);
                l.acl.clone()
            }
            None => SharedWebAcl::new(acl),
        };
        live.insert(
            arn,
            Live {
                acl: shared.clone(),
                compiled_from,
            },
        );
        Ok(shared)
    }

    /// Hands out a live handle on the stored WebACL `arn` (scope CLOUDFRONT or REGIONAL), as
    /// [`Self::attach`] does for a manifest's: it follows every later UpdateWebACL, and
    /// DeleteWebACL refuses the WebACL while this API runs. With it, the WebACL's JSON as
    /// GetWebACL returns it (for its `AssociationConfig`). For a resource that switches to an
    /// existing WebACL (CloudFront's UpdateDistribution with a `WebACLId`).
    pub fn use_web_acl(&self, arn: &str) -> Result<(SharedWebAcl, Value), ApiError> {
        let Some((scope, Kind::WebAcl, _, id)) = records::parse_arn(arn) else {
            return Err(ApiError::Nonexistent(format!("{arn} is not a WebACL ARN")));
        };
        let _w = lock_poisoned(&self.writes);
        let snap = self.store.snapshot();
        let rec = records::get(&*snap, scope, Kind::WebAcl, id)?
            .filter(|r| r.arn() == arn)
            .ok_or_else(|| ApiError::Nonexistent(format!("no WebACL {arn}")))?;
        let mut live = lock_poisoned(&self.live);
        if let Some(l) = live.get(arn) {
            return Ok((l.acl.clone(), rec.resource));
        }
        let resources = records::resources(&*snap, scope)?;
        let acl = compile::web_acl(&rec.resource.to_string(), &resources)?;
        let shared = SharedWebAcl::new(acl);
        live.insert(
            arn.to_string(),
            Live {
                acl: shared.clone(),
                compiled_from: compiled_from(&rec, &sets_tokens(&*snap, scope)?),
            },
        );
        Ok((shared, rec.resource))
    }

    /// Every WebACL a distribution has put in front of requests since start (the ones
    /// [`Self::attach`] and [`Self::use_web_acl`] compiled), for their rule counters.
    pub fn live_web_acls(&self) -> Vec<SharedWebAcl> {
        lock_poisoned(&self.live)
            .values()
            .map(|l| l.acl.clone())
            .collect()
    }

    /// The ARN of the WebACL a handle from [`Self::attach`] or [`Self::use_web_acl`] applies.
    pub fn arn_of(&self, acl: &SharedWebAcl) -> Option<String> {
        lock_poisoned(&self.live)
            .iter()
            .find(|(_, l)| l.acl.same(acl))
            .map(|(arn, _)| arn.clone())
    }

    /// Recompiles the live WebACLs whose record or sets changed since they were compiled
    /// (by this node or another one sharing the store) and swaps them in.
    pub(super) fn reload(&self) -> Result<(), ApiError> {
        let _w = lock_poisoned(&self.writes);
        self.reload_locked()
    }

    /// [`Self::reload`], for a caller that holds `writes`. A WebACL that no longer compiles
    /// keeps its previous version (and says so).
    fn reload_locked(&self) -> Result<(), ApiError> {
        let mut live = lock_poisoned(&self.live);
        if live.is_empty() {
            return Ok(());
        }
        let snap = self.store.snapshot();
        let mut scopes = std::collections::HashMap::new();
        for (arn, l) in live.iter_mut() {
            let Some((scope, Kind::WebAcl, _, id)) = records::parse_arn(arn) else {
                continue;
            };
            let Some(rec) = records::get(&*snap, scope, Kind::WebAcl, id)? else {
                continue;
            };
            let (tokens, resources) = match scopes.entry(scope) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert((
                    sets_tokens(&*snap, scope)?,
                    records::resources(&*snap, scope)?,
                )),
            };
            let (tokens, resources) = (&*tokens, &*resources);
            let from = compiled_from(&rec, tokens);
            if from == l.compiled_from {
                continue;
            }
            match crate::compile::web_acl(&rec.resource.to_string(), resources) {
                Ok(acl) => {
                    l.acl.replace(acl);
                    l.compiled_from = from;
                    tracing::info!(web_acl = arn, "wafv2: live WebACL updated");
                }
                Err(e) => {
                    tracing::warn!(web_acl = arn, error = %e,
                        "wafv2: a live WebACL no longer compiles; keeping its previous version");
                }
            }
        }
        Ok(())
    }
}

/// The lock tokens of a scope's IP sets and regex pattern sets: any update of a set
/// changes its token.
fn sets_tokens<R: nuvem_store::Read + ?Sized>(r: &R, scope: Scope) -> Result<String, ApiError> {
    let mut out = String::new();
    for kind in [Kind::IpSet, Kind::RegexPatternSet] {
        for rec in records::list(r, scope, kind)? {
            out.push_str(&rec.lock_token);
            out.push(',');
        }
    }
    Ok(out)
}

/// What a live WebACL was compiled from: its record's lock token and its scope's sets.
fn compiled_from(rec: &Record, sets_tokens: &str) -> String {
    format!("{}|{sets_tokens}", rec.lock_token)
}
