//! Key condition expressions: the restricted condition language of `Query`.
//!
//! Owns: parsing `pk = :v [AND <sort key condition>]` into a [`KeyCondition`] with
//! DynamoDB's restrictions (no OR/NOT/IN, only top-level attributes, at most one condition
//! per key, at most two conditions). Must not: know the key schema; callers check names and
//! value types.

use super::ExprError;
use super::ast::{CmpOp, Cond, KeyCondition, Operand, SortCondition};
use super::parser::Parser;

impl Parser<'_, '_, '_> {
    pub(crate) fn key_condition_expression(mut self) -> Result<KeyCondition, ExprError> {
        let c = self.or()?;
        self.expect_eof()?;
        let mut conditions = Vec::new();
        self.key_conditions(c, &mut conditions)?;
        if conditions.len() > 2 {
            return Err(self.err("Conditions can be of length 1 or 2 only"));
        }
        if let [(a, _), (b, _)] = conditions.as_slice()
            && a == b
        {
            return Err(self.err("KeyConditionExpressions must only contain one condition per key"));
        }
        let partition = conditions
            .iter()
            .position(|(_, c)| matches!(c, SortCondition::Eq(_)))
            .ok_or_else(|| {
                ExprError::Validation("Query key condition not supported".to_string())
            })?;
        Ok(KeyCondition {
            conditions,
            partition,
        })
    }

    fn key_conditions(
        &self,
        c: Cond,
        out: &mut Vec<(String, SortCondition)>,
    ) -> Result<(), ExprError> {
        let bad_op = |op: &str| {
            self.err(format!(
                "Invalid operator used in KeyConditionExpression: {op}"
            ))
        };
        let (path, cond) = match c {
            Cond::And(a, b) => {
                self.key_conditions(*a, out)?;
                return self.key_conditions(*b, out);
            }
            Cond::Or(..) => return Err(bad_op("OR")),
            Cond::Not(_) => return Err(bad_op("NOT")),
            Cond::In(..) => return Err(bad_op("IN")),
            Cond::AttributeExists(_) => return Err(bad_op("attribute_exists")),
            Cond::AttributeNotExists(_) => return Err(bad_op("attribute_not_exists")),
            Cond::AttributeType(..) => return Err(bad_op("attribute_type")),
            Cond::Contains(..) => return Err(bad_op("contains")),
            Cond::Cmp(CmpOp::Ne, ..) => return Err(bad_op("<>")),
            Cond::Cmp(op, Operand::Path(p), Operand::Value(v)) => (
                p,
                match op {
                    CmpOp::Lt => SortCondition::Lt(v),
                    CmpOp::Le => SortCondition::Le(v),
                    CmpOp::Gt => SortCondition::Gt(v),
                    CmpOp::Ge => SortCondition::Ge(v),
                    CmpOp::Eq | CmpOp::Ne => SortCondition::Eq(v),
                },
            ),
            // `:v < k` is `k > :v`.
            Cond::Cmp(op, Operand::Value(v), Operand::Path(p)) => (
                p,
                match op {
                    CmpOp::Lt => SortCondition::Gt(v),
                    CmpOp::Le => SortCondition::Ge(v),
                    CmpOp::Gt => SortCondition::Lt(v),
                    CmpOp::Ge => SortCondition::Le(v),
                    CmpOp::Eq | CmpOp::Ne => SortCondition::Eq(v),
                },
            ),
            Cond::Between(Operand::Path(p), Operand::Value(lo), Operand::Value(hi)) => {
                (p, SortCondition::Between(lo, hi))
            }
            Cond::BeginsWith(Operand::Path(p), Operand::Value(v)) => {
                (p, SortCondition::BeginsWith(v))
            }
            Cond::Cmp(..) | Cond::Between(..) | Cond::BeginsWith(..) => {
                return Err(self.err(
                    "Key conditions must compare a key attribute name with an expression attribute value",
                ));
            }
        };
        if !path.is_top_level() {
            return Err(self.err(format!(
                "KeyConditionExpressions cannot have conditions on nested attributes; attribute: {path}"
            )));
        }
        out.push((path.top().to_string(), cond));
        Ok(())
    }
}
