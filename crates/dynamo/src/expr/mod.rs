//! DynamoDB's expression language: condition and filter expressions, update expressions,
//! projection expressions and key condition expressions
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.html>).
//!
//! Owns: one lexer and parser for every expression kind, `#name`/`:value` substitution with
//! DynamoDB's "unused" checks ([`ExprContext`]), evaluating conditions against items, applying
//! updates to items and projecting items. Must not: know about tables, key schemas, storage or
//! the wire protocol; callers validate key names and types against their schema.

mod ast;
mod eval;
mod keycond;
mod legacy;
pub(crate) mod lexer;
mod parser;
mod path;
mod projection;
mod reserved;
mod update;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::value::{AttributeValue, Item};

pub use ast::{KeyCondition, SortCondition};
pub use legacy::{
    LegacyAction, LegacyCondition, legacy_condition, legacy_key_conditions, legacy_update,
};
pub use path::{Path, PathElem};
pub use projection::Projection;
pub use reserved::is_reserved;

/// Longest expression string DynamoDB accepts, in bytes.
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-expression-parameters>
pub const MAX_EXPRESSION_LEN: usize = 4096;

/// Which request parameter an expression came from; DynamoDB names it in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprKind {
    Condition,
    Filter,
    Update,
    Projection,
    KeyCondition,
}

impl fmt::Display for ExprKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExprKind::Condition => "ConditionExpression",
            ExprKind::Filter => "FilterExpression",
            ExprKind::Update => "UpdateExpression",
            ExprKind::Projection => "ProjectionExpression",
            ExprKind::KeyCondition => "KeyConditionExpression",
        })
    }
}

/// An expression problem. Every variant is a `ValidationException`; the display text is
/// DynamoDB's message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// The expression does not parse or is statically invalid.
    #[error("Invalid {kind}: {detail}")]
    Invalid { kind: ExprKind, detail: String },
    #[error("Value provided in ExpressionAttributeValues unused in expressions: keys: {{{0}}}")]
    UnusedValues(String),
    #[error("Value provided in ExpressionAttributeNames unused in expressions: keys: {{{0}}}")]
    UnusedNames(String),
    /// A request-level problem reported without an expression prefix: the
    /// `ExpressionAttributeNames`/`Values` maps themselves, or "Query key condition not
    /// supported".
    #[error("{0}")]
    Validation(String),
    /// Applying an update failed on this item (wrong operand type, missing parent path...).
    #[error("{0}")]
    Evaluation(String),
}

impl ExprError {
    pub(crate) fn eval(msg: &str) -> ExprError {
        ExprError::Evaluation(msg.to_string())
    }
}

/// Reading a path that is not in the item, where DynamoDB requires it.
pub(crate) const MISSING_ATTRIBUTE: &str =
    "The provided expression refers to an attribute that does not exist in the item";
/// An operand of `+`, `-`, `list_append`, ADD or DELETE has the wrong type at run time.
pub(crate) const WRONG_OPERAND_TYPE: &str =
    "An operand in the update expression has an incorrect data type";
/// The parent of a path being written is missing or is not a map/list.
pub(crate) const INVALID_UPDATE_PATH: &str =
    "The document path provided in the update expression is invalid for update";

/// Substitution state shared by all expressions of one request: DynamoDB rejects names and
/// values that no expression used, so every parse records what it substituted.
pub struct ExprContext<'a> {
    names: Option<&'a BTreeMap<String, String>>,
    values: Option<&'a BTreeMap<String, AttributeValue>>,
    used_names: BTreeSet<&'a str>,
    used_values: BTreeSet<&'a str>,
}

impl<'a> ExprContext<'a> {
    pub fn new(
        names: Option<&'a BTreeMap<String, String>>,
        values: Option<&'a BTreeMap<String, AttributeValue>>,
    ) -> Self {
        ExprContext {
            names,
            values,
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        }
    }

    /// Parses a `ConditionExpression`.
    pub fn condition(&mut self, expr: &str) -> Result<Condition, ExprError> {
        self.check_maps()?;
        parser::Parser::new(self, expr, ExprKind::Condition)?.condition_expression()
    }

    /// Parses a `FilterExpression`: the same language as conditions, but DynamoDB's error
    /// messages name the parameter.
    pub fn filter(&mut self, expr: &str) -> Result<Condition, ExprError> {
        self.check_maps()?;
        parser::Parser::new(self, expr, ExprKind::Filter)?.condition_expression()
    }

    /// Parses an `UpdateExpression`.
    pub fn update(&mut self, expr: &str) -> Result<Update, ExprError> {
        self.check_maps()?;
        parser::Parser::new(self, expr, ExprKind::Update)?.update_expression()
    }

    /// Parses a `ProjectionExpression`.
    pub fn projection(&mut self, expr: &str) -> Result<Projection, ExprError> {
        self.check_maps()?;
        parser::Parser::new(self, expr, ExprKind::Projection)?.projection_expression()
    }

    /// Parses a `KeyConditionExpression`. The caller checks the attribute names and value
    /// types against the key schema.
    pub fn key_condition(&mut self, expr: &str) -> Result<KeyCondition, ExprError> {
        self.check_maps()?;
        parser::Parser::new(self, expr, ExprKind::KeyCondition)?.key_condition_expression()
    }

    /// Call after parsing all of a request's expressions: errors if a supplied name or value
    /// was never used.
    pub fn finish(self) -> Result<(), ExprError> {
        self.check_maps()?;
        if let Some(values) = self.values {
            let unused: Vec<&str> = values
                .keys()
                .map(String::as_str)
                .filter(|k| !self.used_values.contains(k))
                .collect();
            if !unused.is_empty() {
                return Err(ExprError::UnusedValues(unused.join(", ")));
            }
        }
        if let Some(names) = self.names {
            let unused: Vec<&str> = names
                .keys()
                .map(String::as_str)
                .filter(|k| !self.used_names.contains(k))
                .collect();
            if !unused.is_empty() {
                return Err(ExprError::UnusedNames(unused.join(", ")));
            }
        }
        Ok(())
    }

    /// DynamoDB rejects empty maps outright, before looking at any expression.
    fn check_maps(&self) -> Result<(), ExprError> {
        if self.names.is_some_and(BTreeMap::is_empty) {
            return Err(ExprError::Validation(
                "ExpressionAttributeNames must not be empty".to_string(),
            ));
        }
        if self.values.is_some_and(BTreeMap::is_empty) {
            return Err(ExprError::Validation(
                "ExpressionAttributeValues must not be empty".to_string(),
            ));
        }
        if let Some(bad) = self
            .names
            .and_then(|n| n.keys().find(|k| !valid_key(k, '#')))
        {
            return Err(ExprError::Validation(format!(
                "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{bad}\""
            )));
        }
        if self
            .names
            .is_some_and(|n| n.values().any(|v| crate::value::check_name(v).is_err()))
        {
            return Err(ExprError::Validation(
                crate::value::ValueError::NameTooLong.to_string(),
            ));
        }
        if let Some(bad) = self
            .values
            .and_then(|v| v.keys().find(|k| !valid_key(k, ':')))
        {
            return Err(ExprError::Validation(format!(
                "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{bad}\""
            )));
        }
        Ok(())
    }

    /// Looks up `#name`, recording the use.
    pub(crate) fn name(&mut self, placeholder: &str) -> Option<String> {
        let (key, value) = self.names?.get_key_value(placeholder)?;
        self.used_names.insert(key.as_str());
        Some(value.clone())
    }

    /// Looks up `:value`, recording the use.
    pub(crate) fn value(&mut self, placeholder: &str) -> Option<AttributeValue> {
        let (key, value) = self.values?.get_key_value(placeholder)?;
        self.used_values.insert(key.as_str());
        Some(value.clone())
    }
}

fn valid_key(key: &str, sigil: char) -> bool {
    key.strip_prefix(sigil).is_some_and(|rest| {
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// A parsed `ConditionExpression` or `FilterExpression`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition(pub(crate) ast::Cond);

impl Condition {
    /// The top-level attribute names the condition reads, deduplicated.
    pub fn attribute_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.0.attribute_names(&mut out);
        out
    }

    /// Evaluates the condition against an item. A missing item is an empty item.
    pub fn evaluate(&self, item: &Item) -> Result<bool, ExprError> {
        Ok(eval::evaluate(&self.0, item))
    }
}

/// A parsed `UpdateExpression`.
#[derive(Debug, Clone, PartialEq)]
pub struct Update(pub(crate) Vec<ast::Action>);

impl Update {
    /// Applies the update to `item` in place (empty for a new item). On error the item may be
    /// partly updated: callers apply to a copy and discard it on error.
    pub fn apply(&self, item: &mut Item) -> Result<(), ExprError> {
        update::apply(&self.0, item)
    }

    /// Whether applying this update to a missing item creates it: DynamoDB does not create
    /// an item for an update whose actions only REMOVE or DELETE.
    pub fn creates_item(&self) -> bool {
        self.0
            .iter()
            .any(|a| matches!(a, ast::Action::Set(..) | ast::Action::Add(..)))
    }

    /// The document paths this update writes or removes, in expression order.
    pub fn updated_paths(&self) -> Vec<Path> {
        self.0.iter().map(|a| a.path().clone()).collect()
    }

    /// The top-level attribute names this update touches, deduplicated, in order.
    pub fn updated_attributes(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.0
            .iter()
            .map(|a| a.path().top().to_string())
            .filter(|n| seen.insert(n.clone()))
            .collect()
    }
}
