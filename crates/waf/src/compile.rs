//! Validation and compilation of WAFv2 JSON into a `WebAcl`. Every rejection names the WAF
//! field and the JSON path, the way WAFInvalidParameterException does. Limits follow the
//! WAF API reference (names 1-128 chars, search strings 1-200 bytes, rate limits 10 to
//! 2,000,000,000, windows of 60/120/300/600 s).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use regex::bytes::{Regex, RegexBuilder, RegexSetBuilder};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::acl::{
    Action, BlockResponse, Cidr, KeyPart, MatchKind, Rule, RuleAction, RuleBody, Stmt, WebAcl,
};
use crate::error::WafError;
use crate::fields::{Field, NamePattern};
use crate::managed;
use crate::model::*;
use crate::rate::RateTracker;
use crate::stats::Samples;
use crate::transform::Transformation;

/// Named resources a WebACL may reference by ARN: IP sets, regex pattern sets, rule groups.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    /// ARN → addresses in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`).
    pub ip_sets: HashMap<String, Vec<String>>,
    /// ARN → regular expressions.
    pub regex_pattern_sets: HashMap<String, Vec<String>>,
    /// ARN → the `Rules` array of a rule group, as JSON.
    pub rule_groups: HashMap<String, String>,
}

/// Tracked keys per rate-based statement (AWS tracks at most 10,000 per rule).
pub const RATE_MAX_KEYS: usize = 10_000;

pub(crate) struct Compiler<'r> {
    pub resources: &'r Resources,
    pub origin: Instant,
    pub custom_bodies: HashMap<String, CustomResponseBodyJson>,
}

fn parse<T: DeserializeOwned>(v: &Value, field: &'static str, at: &str) -> Result<T, WafError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let param = if path == "." {
            at.to_string()
        } else {
            format!("{at}.{path}")
        };
        WafError::invalid(field, param, e.into_inner().to_string())
    })
}

pub(crate) fn web_acl(json: &str, resources: &Resources) -> Result<WebAcl, WafError> {
    let value: Value = serde_json::from_str(json).map_err(|e| {
        WafError::invalid("WEB_ACL", "WebACL", format!("The JSON isn't valid: {e}"))
    })?;
    let acl: WebAclJson = parse(&value, "WEB_ACL", "WebACL")?;
    check_name(&acl.name, "WEB_ACL", "Name")?;
    let mut c = Compiler {
        resources,
        origin: Instant::now(),
        custom_bodies: acl.custom_response_bodies.into_iter().collect(),
    };
    let default_action = c.action(&acl.default_action, "DefaultAction", true)?;
    let rules = c.rules(&acl.rules, "Rules", 0)?;
    Ok(WebAcl {
        name: acl.name,
        default_action,
        rules,
        default_counters: Default::default(),
        samples: Samples::default(),
    })
}

pub(crate) fn check_name(name: &str, field: &'static str, at: &str) -> Result<(), WafError> {
    let ok = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(WafError::invalid(
            field,
            at,
            "Names are 1-128 characters of A-Z, a-z, 0-9, - and _.",
        ))
    }
}

impl Compiler<'_> {
    pub fn rules(
        &mut self,
        rules: &[RuleJson],
        at: &str,
        depth: u8,
    ) -> Result<Vec<Rule>, WafError> {
        let mut priorities = HashSet::new();
        let mut names = HashSet::new();
        let mut out = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            let at = format!("{at}[{i}]");
            check_name(&r.name, "RULE", &format!("{at}.Name"))?;
            if r.priority < 0 || !priorities.insert(r.priority) {
                return Err(WafError::invalid(
                    "RULE",
                    format!("{at}.Priority"),
                    "A rule's priority must be a unique non-negative number.",
                ));
            }
            if !names.insert(r.name.clone()) {
                return Err(WafError::invalid(
                    "RULE",
                    format!("{at}.Name"),
                    "A rule's name must be unique in its web ACL.",
                ));
            }
            out.push((r.priority, self.rule(r, &at, depth)?));
        }
        out.sort_by_key(|(p, _)| *p);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    fn rule(&mut self, r: &RuleJson, at: &str, depth: u8) -> Result<Rule, WafError> {
        let labels = r.rule_labels.iter().map(|l| l.name.clone()).collect();
        let stmt_at = format!("{at}.Statement");
        let is_group = r.statement.get("ManagedRuleGroupStatement").is_some()
            || r.statement.get("RuleGroupReferenceStatement").is_some();
        if is_group {
            if depth > 0 {
                return Err(WafError::invalid(
                    "RULE_GROUP_REFERENCE_STATEMENT",
                    stmt_at,
                    "A rule group can't reference another rule group.",
                ));
            }
            if r.action.is_some() || r.override_action.is_none() {
                return Err(WafError::invalid(
                    "RULE",
                    format!("{at}.OverrideAction"),
                    "A rule that references a rule group needs OverrideAction and no Action.",
                ));
            }
            let count = match &r.override_action {
                Some(o) => o.count.is_some(),
                None => false,
            };
            let (rules, overrides, scope_down) = self.group(&r.statement, &stmt_at)?;
            return Ok(Rule {
                name: r.name.clone(),
                action: RuleAction::Override { count },
                body: RuleBody::Group {
                    rules,
                    overrides,
                    scope_down,
                },
                labels,
                counters: Default::default(),
            });
        }
        if r.override_action.is_some() {
            return Err(WafError::invalid(
                "RULE",
                format!("{at}.OverrideAction"),
                "OverrideAction is only for rules that reference a rule group.",
            ));
        }
        let action = match &r.action {
            Some(a) => self.action(a, &format!("{at}.Action"), false)?,
            None => {
                return Err(WafError::invalid(
                    "RULE",
                    format!("{at}.Action"),
                    "A rule needs an Action.",
                ));
            }
        };
        let stmt = self.statement(&r.statement, &stmt_at, 0)?;
        Ok(Rule {
            name: r.name.clone(),
            action: RuleAction::Action(action),
            body: RuleBody::Stmt(stmt),
            labels,
            counters: Default::default(),
        })
    }

    #[allow(clippy::type_complexity)]
    fn group(
        &mut self,
        v: &Value,
        at: &str,
    ) -> Result<(Vec<Rule>, HashMap<String, Action>, Option<Stmt>), WafError> {
        let s: StatementJson = parse(v, "STATEMENT", at)?;
        let (rules, excluded, overrides_json, scope) = match s {
            StatementJson::ManagedRuleGroupStatement(m) => {
                if m.vendor_name != "AWS" {
                    return Err(WafError::NonexistentItem(format!(
                        "managed rule group {}/{}",
                        m.vendor_name, m.name
                    )));
                }
                let rules = managed::group(&m.name, self.origin).ok_or_else(|| {
                    WafError::NonexistentItem(format!("managed rule group AWS/{}", m.name))
                })?;
                (
                    rules,
                    m.excluded_rules,
                    m.rule_action_overrides,
                    m.scope_down_statement,
                )
            }
            StatementJson::RuleGroupReferenceStatement(g) => {
                let json = self
                    .resources
                    .rule_groups
                    .get(&g.arn)
                    .ok_or_else(|| WafError::NonexistentItem(g.arn.clone()))?;
                let value: Value = serde_json::from_str(json)
                    .map_err(|e| WafError::invalid("RULE_GROUP", g.arn.clone(), e.to_string()))?;
                let rules_json: Vec<RuleJson> = parse(&value, "RULE_GROUP", "Rules")?;
                let rules = self.rules(&rules_json, "Rules", 1)?;
                (rules, g.excluded_rules, g.rule_action_overrides, None)
            }
            _ => unreachable_group(at)?,
        };
        let mut overrides = HashMap::new();
        for e in excluded {
            overrides.insert(e.name, Action::Count);
        }
        for (i, o) in overrides_json.iter().enumerate() {
            let a = self.action(
                &o.action_to_use,
                &format!("{at}.RuleActionOverrides[{i}].ActionToUse"),
                false,
            )?;
            overrides.insert(o.name.clone(), a);
        }
        let scope_down = match scope {
            Some(s) => Some(self.statement(&s, &format!("{at}.ScopeDownStatement"), 0)?),
            None => None,
        };
        Ok((rules, overrides, scope_down))
    }

    fn action(&self, a: &ActionJson, at: &str, default: bool) -> Result<Action, WafError> {
        let field = if default { "WAF_ACTION" } else { "RULE_ACTION" };
        let set = [
            a.allow.is_some(),
            a.block.is_some(),
            a.count.is_some(),
            a.captcha.is_some(),
            a.challenge.is_some(),
        ];
        if set.iter().filter(|b| **b).count() != 1 {
            return Err(WafError::invalid(
                field,
                at,
                "Exactly one of Allow, Block, Count, Captcha or Challenge is required.",
            ));
        }
        if a.captcha.is_some() || a.challenge.is_some() {
            return Err(WafError::invalid(
                field,
                at,
                "nuvem does not support CAPTCHA or Challenge actions.",
            ));
        }
        if default && a.count.is_some() {
            return Err(WafError::invalid(
                field,
                at,
                "A default action is Allow or Block.",
            ));
        }
        if let Some(allow) = &a.allow {
            let insert_headers = allow
                .custom_request_handling
                .as_ref()
                .map(|h| {
                    h.insert_headers
                        .iter()
                        .map(|h| (format!("x-amzn-waf-{}", h.name), h.value.clone()))
                        .collect()
                })
                .unwrap_or_default();
            return Ok(Action::Allow { insert_headers });
        }
        if let Some(block) = &a.block {
            let mut resp = BlockResponse::default();
            if let Some(c) = &block.custom_response {
                if !(200..=599).contains(&c.response_code) {
                    return Err(WafError::invalid(
                        "CUSTOM_RESPONSE",
                        format!("{at}.Block.CustomResponse.ResponseCode"),
                        "The response code must be 200-599.",
                    ));
                }
                resp.status = c.response_code;
                resp.headers = c
                    .response_headers
                    .iter()
                    .map(|h| (format!("x-amzn-waf-{}", h.name), h.value.clone()))
                    .collect();
                if let Some(key) = &c.custom_response_body_key {
                    let body = self.custom_bodies.get(key).ok_or_else(|| {
                        WafError::invalid(
                            "CUSTOM_RESPONSE_BODY",
                            format!("{at}.Block.CustomResponse.CustomResponseBodyKey"),
                            format!("No custom response body named {key}."),
                        )
                    })?;
                    let ctype = match body.content_type.as_str() {
                        "TEXT_PLAIN" => "text/plain",
                        "TEXT_HTML" => "text/html",
                        "APPLICATION_JSON" => "application/json",
                        _ => {
                            return Err(WafError::invalid(
                                "CUSTOM_RESPONSE_BODY",
                                "CustomResponseBodies.ContentType",
                                "ContentType is TEXT_PLAIN, TEXT_HTML or APPLICATION_JSON.",
                            ));
                        }
                    };
                    resp.body = Some((ctype.to_string(), body.content.clone()));
                }
            }
            return Ok(Action::Block(resp));
        }
        Ok(Action::Count)
    }

    pub fn statement(&mut self, v: &Value, at: &str, depth: u8) -> Result<Stmt, WafError> {
        if !v.is_object() || v.as_object().is_some_and(|m| m.len() != 1) {
            return Err(WafError::invalid(
                "STATEMENT",
                at,
                "A statement has exactly one statement type.",
            ));
        }
        if depth > 20 {
            return Err(WafError::invalid(
                "STATEMENT",
                at,
                "Statements are nested too deeply.",
            ));
        }
        let s: StatementJson = parse(v, "STATEMENT", at)?;
        Ok(match s {
            StatementJson::ByteMatchStatement(b) => {
                let at = format!("{at}.ByteMatchStatement");
                let needle = match (&b.search_string, &b.search_string_base64) {
                    (Some(s), None) => s.as_bytes().to_vec(),
                    (None, Some(s)) => base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|_| {
                            WafError::invalid(
                                "BYTE_MATCH_STATEMENT",
                                format!("{at}.SearchStringBase64"),
                                "Not valid base64.",
                            )
                        })?,
                    _ => {
                        return Err(WafError::invalid(
                            "BYTE_MATCH_STATEMENT",
                            format!("{at}.SearchString"),
                            "SearchString is required.",
                        ));
                    }
                };
                if needle.is_empty() || needle.len() > 200 {
                    return Err(WafError::invalid(
                        "BYTE_MATCH_STATEMENT",
                        format!("{at}.SearchString"),
                        "SearchString is 1-200 bytes.",
                    ));
                }
                Stmt::Match {
                    field: field(&b.field_to_match, &at)?,
                    transforms: transforms(&b.text_transformations, &at)?,
                    kind: MatchKind::Bytes(needle, b.positional_constraint),
                }
            }
            StatementJson::RegexMatchStatement(r) => {
                let at = format!("{at}.RegexMatchStatement");
                let re = regex(&r.regex_string, &format!("{at}.RegexString"))?;
                Stmt::Match {
                    field: field(&r.field_to_match, &at)?,
                    transforms: transforms(&r.text_transformations, &at)?,
                    kind: MatchKind::Regex(re),
                }
            }
            StatementJson::RegexPatternSetReferenceStatement(r) => {
                let at = format!("{at}.RegexPatternSetReferenceStatement");
                let list = self
                    .resources
                    .regex_pattern_sets
                    .get(&r.arn)
                    .ok_or_else(|| WafError::NonexistentItem(r.arn.clone()))?;
                let set = RegexSetBuilder::new(list)
                    .size_limit(8 << 20)
                    .build()
                    .map_err(|e| {
                        WafError::invalid("REGEX_PATTERN_SET", format!("{at}.ARN"), e.to_string())
                    })?;
                Stmt::Match {
                    field: field(&r.field_to_match, &at)?,
                    transforms: transforms(&r.text_transformations, &at)?,
                    kind: MatchKind::RegexSet(set),
                }
            }
            StatementJson::SqliMatchStatement(s) => {
                let at = format!("{at}.SqliMatchStatement");
                let high = s.sensitivity_level == Some(Sensitivity::High);
                Stmt::Match {
                    field: field(&s.field_to_match, &at)?,
                    transforms: transforms(&s.text_transformations, &at)?,
                    kind: MatchKind::Sqli { high },
                }
            }
            StatementJson::XssMatchStatement(s) => {
                let at = format!("{at}.XssMatchStatement");
                Stmt::Match {
                    field: field(&s.field_to_match, &at)?,
                    transforms: transforms(&s.text_transformations, &at)?,
                    kind: MatchKind::Xss,
                }
            }
            StatementJson::SizeConstraintStatement(s) => {
                let at = format!("{at}.SizeConstraintStatement");
                let size = u64::try_from(s.size)
                    .ok()
                    .filter(|n| *n <= 21_474_836_480)
                    .ok_or_else(|| {
                        WafError::invalid(
                            "SIZE_CONSTRAINT_STATEMENT",
                            format!("{at}.Size"),
                            "Size is 0-21474836480.",
                        )
                    })?;
                Stmt::Match {
                    field: field(&s.field_to_match, &at)?,
                    transforms: transforms(&s.text_transformations, &at)?,
                    kind: MatchKind::Size(s.comparison_operator, size),
                }
            }
            StatementJson::IPSetReferenceStatement(s) => {
                let at = format!("{at}.IPSetReferenceStatement");
                let list = self
                    .resources
                    .ip_sets
                    .get(&s.arn)
                    .ok_or_else(|| WafError::NonexistentItem(s.arn.clone()))?;
                let nets = list
                    .iter()
                    .map(|c| cidr(c, &format!("{at}.ARN")))
                    .collect::<Result<Vec<_>, _>>()?;
                Stmt::IpSet {
                    nets: Arc::new(nets),
                    forwarded: s.forwarded_ip_config,
                }
            }
            StatementJson::RateBasedStatement(r) => {
                self.rate(r, &format!("{at}.RateBasedStatement"), depth)?
            }
            StatementJson::LabelMatchStatement(l) => {
                if l.key.is_empty() || l.key.len() > 1024 {
                    return Err(WafError::invalid(
                        "LABEL_MATCH_STATEMENT",
                        format!("{at}.LabelMatchStatement.Key"),
                        "Key is 1-1024 characters.",
                    ));
                }
                Stmt::Label {
                    namespace: l.scope == LabelScope::Namespace,
                    key: l.key,
                }
            }
            StatementJson::AndStatement(l) | StatementJson::OrStatement(l) => {
                let and = v.get("AndStatement").is_some();
                let kind = if and { "AndStatement" } else { "OrStatement" };
                if l.statements.len() < 2 {
                    let f = if and { "AND_STATEMENT" } else { "OR_STATEMENT" };
                    return Err(WafError::invalid(
                        f,
                        format!("{at}.{kind}.Statements"),
                        "At least two statements are required.",
                    ));
                }
                let list = l
                    .statements
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        self.statement(s, &format!("{at}.{kind}.Statements[{i}]"), depth + 1)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if and { Stmt::And(list) } else { Stmt::Or(list) }
            }
            StatementJson::NotStatement(n) => Stmt::Not(Box::new(self.statement(
                &n.statement,
                &format!("{at}.NotStatement.Statement"),
                depth + 1,
            )?)),
            StatementJson::RuleGroupReferenceStatement(_)
            | StatementJson::ManagedRuleGroupStatement(_) => {
                return Err(WafError::invalid(
                    "STATEMENT",
                    at,
                    "A rule group reference can only be a rule's top-level statement.",
                ));
            }
            StatementJson::GeoMatchStatement(_) | StatementJson::AsnMatchStatement(_) => {
                return Err(WafError::invalid(
                    "STATEMENT",
                    at,
                    "nuvem has no geolocation database: GeoMatch and AsnMatch are not supported.",
                ));
            }
        })
    }

    fn rate(&mut self, r: RateBasedJson, at: &str, depth: u8) -> Result<Stmt, WafError> {
        if depth > 0 {
            return Err(WafError::invalid(
                "RATE_BASED_STATEMENT",
                at,
                "A rate-based statement can't be nested.",
            ));
        }
        let limit = u64::try_from(r.limit)
            .ok()
            .filter(|l| (10..=2_000_000_000).contains(l))
            .ok_or_else(|| {
                WafError::invalid(
                    "RATE_BASED_STATEMENT",
                    format!("{at}.Limit"),
                    "Limit is 10-2000000000.",
                )
            })?;
        let window = r.evaluation_window_sec.unwrap_or(300);
        if ![60, 120, 300, 600].contains(&window) {
            return Err(WafError::invalid(
                "RATE_BASED_STATEMENT",
                format!("{at}.EvaluationWindowSec"),
                "EvaluationWindowSec is 60, 120, 300 or 600.",
            ));
        }
        let key = match r.aggregate_key_type.as_str() {
            "IP" => vec![KeyPart::Ip],
            "CONSTANT" => vec![KeyPart::Constant],
            "FORWARDED_IP" => {
                let cfg = r.forwarded_ip_config.clone().ok_or_else(|| {
                    WafError::invalid(
                        "RATE_BASED_STATEMENT",
                        format!("{at}.ForwardedIPConfig"),
                        "FORWARDED_IP needs ForwardedIPConfig.",
                    )
                })?;
                vec![KeyPart::ForwardedIp(cfg)]
            }
            "CUSTOM_KEYS" => r
                .custom_keys
                .iter()
                .enumerate()
                .map(|(i, k)| custom_key(k, &r, &format!("{at}.CustomKeys[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(WafError::invalid(
                    "RATE_BASED_STATEMENT",
                    format!("{at}.AggregateKeyType"),
                    "AggregateKeyType is IP, FORWARDED_IP, CONSTANT or CUSTOM_KEYS.",
                ));
            }
        };
        if key.is_empty() || key.len() > 5 {
            return Err(WafError::invalid(
                "RATE_BASED_STATEMENT",
                format!("{at}.CustomKeys"),
                "CUSTOM_KEYS takes 1-5 keys.",
            ));
        }
        let scope_down = match &r.scope_down_statement {
            Some(s) => Some(Box::new(self.statement(
                s,
                &format!("{at}.ScopeDownStatement"),
                depth + 1,
            )?)),
            None => None,
        };
        let tracker = RateTracker::new(
            limit,
            Duration::from_secs(window as u64),
            RATE_MAX_KEYS,
            self.origin,
        );
        Ok(Stmt::Rate {
            tracker: Arc::new(tracker),
            key,
            scope_down,
        })
    }
}

#[allow(clippy::type_complexity)]
fn unreachable_group(
    at: &str,
) -> Result<
    (
        Vec<Rule>,
        Vec<ExcludedRuleJson>,
        Vec<RuleActionOverrideJson>,
        Option<Value>,
    ),
    WafError,
> {
    Err(WafError::invalid(
        "STATEMENT",
        at,
        "Expected a rule group statement.",
    ))
}

fn custom_key(k: &Value, r: &RateBasedJson, at: &str) -> Result<KeyPart, WafError> {
    let bad = || {
        WafError::invalid(
            "CUSTOM_KEYS",
            at,
            "A custom key has exactly one of Header, Cookie, QueryArgument, QueryString, HTTPMethod, IP, ForwardedIP, UriPath, LabelNamespace.",
        )
    };
    let obj = k.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
    let (kind, body) = obj.iter().next().ok_or_else(bad)?;
    let name = || {
        body.get("Name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                WafError::invalid(
                    "CUSTOM_KEYS",
                    format!("{at}.{kind}.Name"),
                    "Name is required.",
                )
            })
    };
    let tt = || -> Result<Vec<Transformation>, WafError> {
        match body.get("TextTransformations") {
            Some(v) => transforms(
                &parse::<Vec<TextTransformationJson>>(v, "TEXT_TRANSFORMATION", at)?,
                at,
            ),
            None => Ok(Vec::new()),
        }
    };
    Ok(match kind.as_str() {
        "Header" => KeyPart::Header(name()?, tt()?),
        "Cookie" => KeyPart::Cookie(name()?, tt()?),
        "QueryArgument" => KeyPart::QueryArgument(name()?, tt()?),
        "QueryString" => KeyPart::QueryString(tt()?),
        "UriPath" => KeyPart::UriPath(tt()?),
        "HTTPMethod" => KeyPart::Method,
        "IP" => KeyPart::Ip,
        "ForwardedIP" => KeyPart::ForwardedIp(r.forwarded_ip_config.clone().ok_or_else(|| {
            WafError::invalid(
                "RATE_BASED_STATEMENT",
                "ForwardedIPConfig",
                "ForwardedIP keys need ForwardedIPConfig.",
            )
        })?),
        "LabelNamespace" => KeyPart::LabelNamespace(
            body.get("Namespace")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(bad)?,
        ),
        _ => return Err(bad()),
    })
}

pub(crate) fn regex(pattern: &str, at: &str) -> Result<Regex, WafError> {
    if pattern.is_empty() || pattern.len() > 512 {
        return Err(WafError::invalid(
            "REGEX_PATTERN_SET",
            at,
            "RegexString is 1-512 characters.",
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(4 << 20)
        .build()
        .map_err(|e| {
            WafError::invalid(
                "REGEX_PATTERN_SET",
                at,
                format!("The regular expression isn't valid: {e}"),
            )
        })
}

pub(crate) fn cidr(text: &str, at: &str) -> Result<Cidr, WafError> {
    let bad = || {
        WafError::invalid(
            "IP_ADDRESS",
            at,
            format!("{text} is not an IPv4 or IPv6 address in CIDR notation."),
        )
    };
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    let net: IpAddr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok(Cidr { net, prefix })
}

fn transforms(list: &[TextTransformationJson], at: &str) -> Result<Vec<Transformation>, WafError> {
    if list.is_empty() || list.len() > 10 {
        return Err(WafError::invalid(
            "TEXT_TRANSFORMATION",
            format!("{at}.TextTransformations"),
            "1-10 text transformations are required (use NONE for none).",
        ));
    }
    let mut seen = HashSet::new();
    for (i, t) in list.iter().enumerate() {
        if t.priority < 0 || !seen.insert(t.priority) {
            return Err(WafError::invalid(
                "TEXT_TRANSFORMATION",
                format!("{at}.TextTransformations[{i}].Priority"),
                "Priorities must be unique non-negative numbers.",
            ));
        }
    }
    let mut sorted: Vec<&TextTransformationJson> = list.iter().collect();
    sorted.sort_by_key(|t| t.priority);
    Ok(sorted.into_iter().map(|t| t.kind).collect())
}

fn field(f: &FieldToMatchJson, at: &str) -> Result<Field, WafError> {
    let at = format!("{at}.FieldToMatch");
    let count = [
        f.uri_path.is_some(),
        f.query_string.is_some(),
        f.single_query_argument.is_some(),
        f.all_query_arguments.is_some(),
        f.body.is_some(),
        f.json_body.is_some(),
        f.single_header.is_some(),
        f.headers.is_some(),
        f.cookies.is_some(),
        f.method.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if count != 1 {
        return Err(WafError::invalid(
            "FIELD_TO_MATCH",
            at,
            "Exactly one request component is required in FieldToMatch.",
        ));
    }
    let pattern = |p: &NamePatternJson, at: &str| -> Result<NamePattern, WafError> {
        match (&p.all, &p.included_headers, &p.excluded_headers) {
            (Some(_), None, None) => Ok(NamePattern::All),
            (None, Some(l), None) => Ok(NamePattern::Include(l.clone())),
            (None, None, Some(l)) => Ok(NamePattern::Exclude(l.clone())),
            _ => Err(WafError::invalid(
                "FIELD_TO_MATCH",
                format!("{at}.MatchPattern"),
                "MatchPattern needs exactly one of All, Included…, Excluded….",
            )),
        }
    };
    let o = |x: Option<Oversize>| x.unwrap_or(Oversize::Continue);
    Ok(if f.uri_path.is_some() {
        Field::UriPath
    } else if f.query_string.is_some() {
        Field::QueryString
    } else if let Some(a) = &f.single_query_argument {
        if a.name.is_empty() {
            return Err(WafError::invalid(
                "FIELD_TO_MATCH",
                format!("{at}.SingleQueryArgument.Name"),
                "Name is required.",
            ));
        }
        Field::SingleQueryArgument(a.name.clone())
    } else if f.all_query_arguments.is_some() {
        Field::AllQueryArguments
    } else if let Some(b) = &f.body {
        Field::Body(o(b.oversize_handling))
    } else if let Some(j) = &f.json_body {
        let paths = match (&j.match_pattern.all, &j.match_pattern.included_paths) {
            (Some(_), None) => None,
            (None, Some(p))
                if !p.is_empty() && p.iter().all(|p| p.starts_with('/') || p.is_empty()) =>
            {
                Some(p.clone())
            }
            _ => {
                return Err(WafError::invalid(
                    "FIELD_TO_MATCH",
                    format!("{at}.JsonBody.MatchPattern"),
                    "MatchPattern needs All or IncludedPaths of JSON pointers.",
                ));
            }
        };
        Field::JsonBody {
            paths,
            scope: j.match_scope,
            invalid: j.invalid_fallback_behavior,
            oversize: o(j.oversize_handling),
        }
    } else if let Some(h) = &f.single_header {
        if h.name.is_empty() {
            return Err(WafError::invalid(
                "FIELD_TO_MATCH",
                format!("{at}.SingleHeader.Name"),
                "Name is required.",
            ));
        }
        Field::SingleHeader(h.name.clone())
    } else if let Some(h) = &f.headers {
        Field::Headers(
            pattern(&h.match_pattern, &format!("{at}.Headers"))?,
            h.match_scope,
            o(h.oversize_handling),
        )
    } else if let Some(c) = &f.cookies {
        Field::Cookies(
            pattern(&c.match_pattern, &format!("{at}.Cookies"))?,
            c.match_scope,
            o(c.oversize_handling),
        )
    } else {
        Field::Method
    })
}
