//! DynamoDB's legacy conditional parameters, translated into the expression trees the
//! evaluator already runs: `Expected` (+ `ConditionalOperator`), `QueryFilter`, `ScanFilter`,
//! `KeyConditions` and `AttributeUpdates`
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LegacyConditionalParameters.html>).
//!
//! Owns: the comparison-operator table (EQ, NE, LT, ..., BETWEEN, IN, NULL, NOT_NULL) with its
//! argument counts and type rules, and the `Value`/`Exists` shorthand of `Expected`. Must not:
//! parse JSON (the operations hand over typed entries) or know about tables.

use super::ast::{Action, CmpOp, Cond, KeyCondition, Operand, SetValue, SortCondition, UpdOperand};
use super::path::Path;
use super::{Condition, ExprError, Update};
use crate::value::AttributeValue;

/// One entry of `Expected`, `QueryFilter`, `ScanFilter` or `KeyConditions`.
#[derive(Debug, Clone, Default)]
pub struct LegacyCondition {
    pub comparison_operator: Option<String>,
    pub attribute_value_list: Option<Vec<AttributeValue>>,
    /// `Expected` only: the `Value`/`Exists` shorthand.
    pub value: Option<AttributeValue>,
    pub exists: Option<bool>,
}

/// `Action` of one `AttributeUpdates` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyAction {
    Put,
    Add,
    Delete,
}

fn invalid(msg: impl std::fmt::Display) -> ExprError {
    ExprError::Validation(format!("One or more parameter values were invalid: {msg}"))
}

fn is_scalar(v: &AttributeValue) -> bool {
    matches!(
        v,
        AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_)
    )
}

/// The condition of one legacy entry on attribute `name`.
fn entry(name: &str, c: &LegacyCondition) -> Result<Cond, ExprError> {
    let path = || Operand::Path(Path::name(name));
    let Some(op) = c.comparison_operator.as_deref() else {
        // The `Expected` shorthand: Value alone or with Exists: true means "equals";
        // Exists: false means "does not exist".
        return match (&c.value, c.exists) {
            (Some(v), None | Some(true)) => {
                Ok(Cond::Cmp(CmpOp::Eq, path(), Operand::Value(v.clone())))
            }
            (None, Some(false)) => Ok(Cond::AttributeNotExists(Path::name(name))),
            (Some(_), Some(false)) => Err(invalid(format_args!(
                "Value cannot be used when Exists is false for Attribute: {name}"
            ))),
            (None, _) => Err(invalid(format_args!(
                "Value must be provided when Exists is true for Attribute: {name}"
            ))),
        };
    };
    if c.value.is_some() || c.exists.is_some() {
        return Err(invalid(format_args!(
            "Value or Exists cannot be used with ComparisonOperator for Attribute: {name}"
        )));
    }
    let args: &[AttributeValue] = c.attribute_value_list.as_deref().unwrap_or_default();
    let count = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(invalid(format_args!(
                "Invalid number of argument(s) for the {op} ComparisonOperator"
            )))
        }
    };
    let scalar = |v: &AttributeValue| {
        if is_scalar(v) {
            Ok(Operand::Value(v.clone()))
        } else {
            Err(invalid(format_args!(
                "ComparisonOperator {op} is not valid for {} AttributeValue type",
                v.type_name()
            )))
        }
    };
    let first = || args.first().cloned().unwrap_or(AttributeValue::Null);
    let cmp = |o: CmpOp| -> Result<Cond, ExprError> {
        count(1)?;
        let v = if matches!(o, CmpOp::Eq | CmpOp::Ne) {
            Operand::Value(first())
        } else {
            scalar(&first())?
        };
        Ok(Cond::Cmp(o, path(), v))
    };
    match op {
        "EQ" => cmp(CmpOp::Eq),
        "NE" => cmp(CmpOp::Ne),
        "LT" => cmp(CmpOp::Lt),
        "LE" => cmp(CmpOp::Le),
        "GT" => cmp(CmpOp::Gt),
        "GE" => cmp(CmpOp::Ge),
        "NULL" => {
            count(0)?;
            Ok(Cond::AttributeNotExists(Path::name(name)))
        }
        "NOT_NULL" => {
            count(0)?;
            Ok(Cond::AttributeExists(Path::name(name)))
        }
        "CONTAINS" | "NOT_CONTAINS" => {
            count(1)?;
            let c = Cond::Contains(path(), scalar(&first())?);
            Ok(if op == "CONTAINS" {
                c
            } else {
                // A missing attribute contains nothing, but NOT_CONTAINS is still false for
                // it: the legacy operators only match attributes that exist.
                Cond::And(
                    Box::new(Cond::AttributeExists(Path::name(name))),
                    Box::new(Cond::Not(Box::new(c))),
                )
            })
        }
        "BEGINS_WITH" => {
            count(1)?;
            let v = first();
            if !matches!(v, AttributeValue::S(_) | AttributeValue::B(_)) {
                return Err(invalid(format_args!(
                    "ComparisonOperator {op} is not valid for {} AttributeValue type",
                    v.type_name()
                )));
            }
            Ok(Cond::BeginsWith(path(), Operand::Value(v)))
        }
        "BETWEEN" => {
            count(2)?;
            match args {
                [lo, hi] => Ok(Cond::Between(path(), scalar(lo)?, scalar(hi)?)),
                _ => Err(invalid(
                    "Invalid number of argument(s) for the BETWEEN ComparisonOperator",
                )),
            }
        }
        "IN" => {
            if args.is_empty() {
                return Err(invalid(format_args!(
                    "Invalid number of argument(s) for the {op} ComparisonOperator"
                )));
            }
            let list = args.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
            Ok(Cond::In(path(), list))
        }
        other => Err(ExprError::Validation(format!(
            "1 validation error detected: Value '{other}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        ))),
    }
}

/// The condition of `Expected`, `QueryFilter` or `ScanFilter`: every entry must hold
/// (`ConditionalOperator` AND, the default) or any one (OR). `None` for no entries.
pub fn legacy_condition(
    entries: &[(String, LegacyCondition)],
    conditional_operator: Option<&str>,
) -> Result<Option<Condition>, ExprError> {
    let or = match conditional_operator {
        None | Some("AND") => false,
        Some("OR") => true,
        Some(other) => {
            return Err(ExprError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]"
            )));
        }
    };
    let mut out: Option<Cond> = None;
    for (name, c) in entries {
        let c = entry(name, c)?;
        out = Some(match out {
            None => c,
            Some(prev) if or => Cond::Or(Box::new(prev), Box::new(c)),
            Some(prev) => Cond::And(Box::new(prev), Box::new(c)),
        });
    }
    Ok(out.map(Condition))
}

/// `KeyConditions`: an EQ on the partition key and at most one sort key condition (EQ, LE,
/// LT, GE, GT, BEGINS_WITH, BETWEEN), as a [`KeyCondition`].
pub fn legacy_key_conditions(
    entries: &[(String, LegacyCondition)],
) -> Result<KeyCondition, ExprError> {
    if entries.is_empty() || entries.len() > 2 {
        return Err(ExprError::Validation(
            "Conditions can be of length 1 or 2 only".into(),
        ));
    }
    let mut conditions = Vec::new();
    for (name, c) in entries {
        let args: &[AttributeValue] = c.attribute_value_list.as_deref().unwrap_or_default();
        let op = c.comparison_operator.as_deref().unwrap_or_default();
        let one = || match args {
            [v] => Ok(v.clone()),
            _ => Err(invalid(format_args!(
                "Invalid number of argument(s) for the {op} ComparisonOperator"
            ))),
        };
        let cond = match op {
            "EQ" => SortCondition::Eq(one()?),
            "LT" => SortCondition::Lt(one()?),
            "LE" => SortCondition::Le(one()?),
            "GT" => SortCondition::Gt(one()?),
            "GE" => SortCondition::Ge(one()?),
            "BEGINS_WITH" => SortCondition::BeginsWith(one()?),
            "BETWEEN" => match args {
                [a, b] => SortCondition::Between(a.clone(), b.clone()),
                _ => {
                    return Err(invalid(format_args!(
                        "Invalid number of argument(s) for the {op} ComparisonOperator"
                    )));
                }
            },
            other => {
                return Err(ExprError::Validation(format!(
                    "Unsupported operator on KeyCondition: {other}"
                )));
            }
        };
        conditions.push((name.clone(), cond));
    }
    let partition = conditions
        .iter()
        .position(|(_, c)| matches!(c, SortCondition::Eq(_)))
        .ok_or_else(|| ExprError::Validation("Query key condition not supported".into()))?;
    Ok(KeyCondition {
        conditions,
        partition,
    })
}

/// `AttributeUpdates` as an [`Update`]: PUT sets, ADD adds to a number or set, DELETE
/// removes the attribute (no value) or elements of a set (a value).
pub fn legacy_update(
    entries: &[(String, LegacyAction, Option<AttributeValue>)],
) -> Result<Update, ExprError> {
    let mut actions = Vec::new();
    for (name, action, value) in entries {
        let path = Path::name(name.clone());
        let a = match (action, value) {
            (LegacyAction::Put, Some(v)) => {
                Action::Set(path, SetValue::Operand(UpdOperand::Value(v.clone())))
            }
            (LegacyAction::Delete, None) => Action::Remove(path),
            (LegacyAction::Delete, Some(v)) => Action::Delete(path, v.clone()),
            (LegacyAction::Add, Some(v)) => Action::Add(path, v.clone()),
            (LegacyAction::Put | LegacyAction::Add, None) => {
                return Err(invalid(format_args!(
                    "Only DELETE action is allowed when no attribute value is specified: {name}"
                )));
            }
        };
        actions.push(a);
    }
    Ok(Update(actions))
}
