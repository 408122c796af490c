//! Syntax trees of parsed expressions, with placeholders already substituted.
//!
//! Owns: the shapes the parser produces and the evaluator and updater consume, plus the
//! public key-condition types. Must not: contain parsing or evaluation logic.

use super::path::Path;
use crate::value::AttributeValue;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// An operand of a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Path(Path),
    Value(AttributeValue),
    /// `size(path)` or `size(:value)`: the inner operand is a path or a value.
    Size(Box<Operand>),
}

/// A condition or filter expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Cmp(CmpOp, Operand, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    AttributeExists(Path),
    AttributeNotExists(Path),
    AttributeType(Operand, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Operand {
    fn attribute_names(&self, out: &mut std::collections::BTreeSet<String>) {
        match self {
            Operand::Path(p) => {
                out.insert(p.top().to_string());
            }
            Operand::Size(o) => o.attribute_names(out),
            Operand::Value(_) => {}
        }
    }
}

impl Cond {
    /// Collects the top-level attribute names this condition reads.
    pub(crate) fn attribute_names(&self, out: &mut std::collections::BTreeSet<String>) {
        match self {
            Cond::Cmp(_, a, b)
            | Cond::AttributeType(a, b)
            | Cond::BeginsWith(a, b)
            | Cond::Contains(a, b) => {
                a.attribute_names(out);
                b.attribute_names(out);
            }
            Cond::Between(a, b, c) => {
                for o in [a, b, c] {
                    o.attribute_names(out);
                }
            }
            Cond::In(a, list) => {
                a.attribute_names(out);
                for o in list {
                    o.attribute_names(out);
                }
            }
            Cond::AttributeExists(p) | Cond::AttributeNotExists(p) => {
                out.insert(p.top().to_string());
            }
            Cond::Not(c) => c.attribute_names(out),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.attribute_names(out);
                b.attribute_names(out);
            }
        }
    }
}

/// An operand on the right of `SET path =`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UpdOperand {
    Path(Path),
    Value(AttributeValue),
    IfNotExists(Path, Box<UpdOperand>),
    ListAppend(Box<UpdOperand>, Box<UpdOperand>),
}

/// The value of a SET action: an operand, or a sum or difference of two.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SetValue {
    Operand(UpdOperand),
    Plus(UpdOperand, UpdOperand),
    Minus(UpdOperand, UpdOperand),
}

/// One action of an update expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Set(Path, SetValue),
    Remove(Path),
    Add(Path, AttributeValue),
    Delete(Path, AttributeValue),
}

impl Action {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        }
    }
}

/// The condition on a sort key in a `KeyConditionExpression`.
#[derive(Debug, Clone, PartialEq)]
pub enum SortCondition {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

impl SortCondition {
    /// The values this condition compares against (two for BETWEEN), for type checks
    /// against the key schema.
    pub fn values(&self) -> Vec<&AttributeValue> {
        match self {
            SortCondition::Eq(v)
            | SortCondition::Lt(v)
            | SortCondition::Le(v)
            | SortCondition::Gt(v)
            | SortCondition::Ge(v)
            | SortCondition::BeginsWith(v) => vec![v],
            SortCondition::Between(a, b) => vec![a, b],
        }
    }

    /// The operator as DynamoDB names it in messages ("=", "<", "BETWEEN", "begins_with").
    pub fn operator(&self) -> &'static str {
        match self {
            SortCondition::Eq(_) => "=",
            SortCondition::Lt(_) => "<",
            SortCondition::Le(_) => "<=",
            SortCondition::Gt(_) => ">",
            SortCondition::Ge(_) => ">=",
            SortCondition::Between(..) => "BETWEEN",
            SortCondition::BeginsWith(_) => "begins_with",
        }
    }
}

/// A parsed `KeyConditionExpression`: one or two conditions on top-level attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCondition {
    /// In expression order; at most two, on different attributes.
    pub(crate) conditions: Vec<(String, SortCondition)>,
    /// Index into `conditions` of the partition-key equality.
    pub(crate) partition: usize,
}

impl KeyCondition {
    /// The equality on the partition key: the condition on the name passed to
    /// [`KeyCondition::orient`], or else the first `=` condition.
    pub fn partition(&self) -> (&str, &AttributeValue) {
        match self.conditions.get(self.partition) {
            Some((name, SortCondition::Eq(v))) => (name, v),
            // The parser guarantees an equality at `partition`; this arm is unreachable, but
            // client input must never panic.
            _ => ("", &AttributeValue::Null),
        }
    }

    /// The condition on the other attribute, if there is one.
    pub fn sort(&self) -> Option<(&str, SortCondition)> {
        self.conditions
            .iter()
            .enumerate()
            .find(|(i, _)| *i != self.partition)
            .map(|(_, (name, c))| (name.as_str(), c.clone()))
    }

    /// Makes the condition on `partition_key` the partition condition when it is an
    /// equality, so `sk = :b AND pk = :a` is read the right way round. Returns whether the
    /// expression has an equality on `partition_key`.
    pub fn orient(&mut self, partition_key: &str) -> bool {
        match self
            .conditions
            .iter()
            .position(|(n, c)| n == partition_key && matches!(c, SortCondition::Eq(_)))
        {
            Some(i) => {
                self.partition = i;
                true
            }
            None => false,
        }
    }

    /// All conditions, in expression order.
    pub fn conditions(&self) -> &[(String, SortCondition)] {
        &self.conditions
    }
}
