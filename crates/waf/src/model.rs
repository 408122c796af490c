//! The AWS WAFv2 JSON model (WebACL, Rule, Statement, FieldToMatch, …) as serde types, exactly
//! as CreateWebACL / the console's JSON editor spell it:
//! <https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html>.
//! Parsing only; `compile` validates and turns this into the evaluable form. Some fields are
//! parsed but unused (descriptions, visibility configs): accepted so GetWebACL output round-trips.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::transform::Transformation;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebAclJson {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub default_action: ActionJson,
    #[serde(default)]
    pub rules: Vec<RuleJson>,
    #[serde(default)]
    pub visibility_config: Option<Value>,
    #[serde(default)]
    pub custom_response_bodies: BTreeMap<String, CustomResponseBodyJson>,
    // Scope, Id, ARN, Capacity, … are accepted and ignored: GetWebACL output round-trips.
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResponseBodyJson {
    pub content_type: String,
    pub content: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleJson {
    pub name: String,
    pub priority: i64,
    pub statement: Value,
    #[serde(default)]
    pub action: Option<ActionJson>,
    #[serde(default)]
    pub override_action: Option<OverrideActionJson>,
    #[serde(default)]
    pub rule_labels: Vec<LabelJson>,
    #[serde(default)]
    pub visibility_config: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LabelJson {
    pub name: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ActionJson {
    pub block: Option<BlockJson>,
    pub allow: Option<AllowJson>,
    pub count: Option<Value>,
    pub captcha: Option<Value>,
    pub challenge: Option<Value>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct BlockJson {
    pub custom_response: Option<CustomResponseJson>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AllowJson {
    pub custom_request_handling: Option<CustomRequestHandlingJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomRequestHandlingJson {
    #[serde(default)]
    pub insert_headers: Vec<HeaderJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResponseJson {
    pub response_code: u16,
    #[serde(default)]
    pub custom_response_body_key: Option<String>,
    #[serde(default)]
    pub response_headers: Vec<HeaderJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeaderJson {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct OverrideActionJson {
    pub none: Option<Value>,
    pub count: Option<Value>,
}

/// One statement: an object with exactly one `…Statement` key.
// The variant names are WAF's JSON keys, which all end in `Statement`.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum StatementJson {
    ByteMatchStatement(ByteMatchJson),
    RegexMatchStatement(RegexMatchJson),
    RegexPatternSetReferenceStatement(RegexSetRefJson),
    SqliMatchStatement(SqliMatchJson),
    XssMatchStatement(FieldMatchJson),
    SizeConstraintStatement(SizeConstraintJson),
    IPSetReferenceStatement(IpSetRefJson),
    RateBasedStatement(RateBasedJson),
    LabelMatchStatement(LabelMatchJson),
    AndStatement(StatementListJson),
    OrStatement(StatementListJson),
    NotStatement(NotJson),
    RuleGroupReferenceStatement(RuleGroupRefJson),
    ManagedRuleGroupStatement(ManagedRuleGroupJson),
    GeoMatchStatement(Value),
    AsnMatchStatement(Value),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ByteMatchJson {
    /// The AWS API takes a base64 blob; the JSON editor and CLI take the plain string.
    pub search_string: Option<String>,
    pub search_string_base64: Option<String>,
    pub field_to_match: FieldToMatchJson,
    pub text_transformations: Vec<TextTransformationJson>,
    pub positional_constraint: Positional,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Positional {
    Exactly,
    StartsWith,
    EndsWith,
    Contains,
    ContainsWord,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegexMatchJson {
    pub regex_string: String,
    pub field_to_match: FieldToMatchJson,
    pub text_transformations: Vec<TextTransformationJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegexSetRefJson {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub field_to_match: FieldToMatchJson,
    pub text_transformations: Vec<TextTransformationJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqliMatchJson {
    pub field_to_match: FieldToMatchJson,
    pub text_transformations: Vec<TextTransformationJson>,
    #[serde(default)]
    pub sensitivity_level: Option<Sensitivity>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Sensitivity {
    Low,
    High,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldMatchJson {
    pub field_to_match: FieldToMatchJson,
    pub text_transformations: Vec<TextTransformationJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SizeConstraintJson {
    pub field_to_match: FieldToMatchJson,
    pub comparison_operator: Comparison,
    pub size: i64,
    pub text_transformations: Vec<TextTransformationJson>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Comparison {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpSetRefJson {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(default, rename = "IPSetForwardedIPConfig")]
    pub forwarded_ip_config: Option<ForwardedIpJson>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct ForwardedIpJson {
    pub header_name: String,
    pub fallback_behavior: MatchOrNot,
    /// Only for IP set references: which address of a list to use.
    #[serde(default)]
    pub position: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MatchOrNot {
    Match,
    NoMatch,
    EvaluateAsString,
    Continue,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RateBasedJson {
    pub limit: i64,
    #[serde(default)]
    pub evaluation_window_sec: Option<i64>,
    pub aggregate_key_type: String,
    #[serde(default)]
    pub scope_down_statement: Option<Value>,
    #[serde(default, rename = "ForwardedIPConfig")]
    pub forwarded_ip_config: Option<ForwardedIpJson>,
    #[serde(default)]
    pub custom_keys: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LabelMatchJson {
    pub scope: LabelScope,
    pub key: String,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum LabelScope {
    Label,
    Namespace,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatementListJson {
    pub statements: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotJson {
    pub statement: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleGroupRefJson {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(default)]
    pub excluded_rules: Vec<ExcludedRuleJson>,
    #[serde(default)]
    pub rule_action_overrides: Vec<RuleActionOverrideJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManagedRuleGroupJson {
    pub vendor_name: String,
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub excluded_rules: Vec<ExcludedRuleJson>,
    #[serde(default)]
    pub rule_action_overrides: Vec<RuleActionOverrideJson>,
    #[serde(default)]
    pub scope_down_statement: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExcludedRuleJson {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleActionOverrideJson {
    pub name: String,
    pub action_to_use: ActionJson,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TextTransformationJson {
    pub priority: i64,
    #[serde(rename = "Type")]
    pub kind: Transformation,
}

/// FieldToMatch: exactly one key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldToMatchJson {
    pub uri_path: Option<Value>,
    pub query_string: Option<Value>,
    pub single_query_argument: Option<NameJson>,
    pub all_query_arguments: Option<Value>,
    pub body: Option<BodyJson>,
    pub json_body: Option<JsonBodyJson>,
    pub single_header: Option<NameJson>,
    pub headers: Option<HeadersJson>,
    pub cookies: Option<CookiesJson>,
    pub method: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameJson {
    pub name: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct BodyJson {
    #[serde(default)]
    pub oversize_handling: Option<Oversize>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Oversize {
    Continue,
    Match,
    NoMatch,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JsonBodyJson {
    pub match_pattern: JsonMatchPatternJson,
    pub match_scope: MatchScope,
    #[serde(default)]
    pub invalid_fallback_behavior: Option<MatchOrNot>,
    #[serde(default)]
    pub oversize_handling: Option<Oversize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JsonMatchPatternJson {
    pub all: Option<Value>,
    #[serde(default)]
    pub included_paths: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum MatchScope {
    All,
    Key,
    Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeadersJson {
    pub match_pattern: NamePatternJson,
    pub match_scope: MatchScope,
    #[serde(default)]
    pub oversize_handling: Option<Oversize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CookiesJson {
    pub match_pattern: NamePatternJson,
    pub match_scope: MatchScope,
    #[serde(default)]
    pub oversize_handling: Option<Oversize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamePatternJson {
    pub all: Option<Value>,
    #[serde(default, alias = "IncludedCookies")]
    pub included_headers: Option<Vec<String>>,
    #[serde(default, alias = "ExcludedCookies")]
    pub excluded_headers: Option<Vec<String>>,
}
