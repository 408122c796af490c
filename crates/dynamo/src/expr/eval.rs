//! Evaluates condition and filter expressions against an item.
//!
//! Owns: DynamoDB's comparison semantics: ordering only between two strings (by UTF-8
//! bytes), two numbers or two binaries; a missing attribute or a type mismatch makes a
//! comparison false rather than an error (`<>` is then true); sets compare as sets.
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html>
//! Must not: modify items or report errors for data-dependent mismatches.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::{CmpOp, Cond, Operand};
use crate::number::Number;
use crate::value::{AttributeValue, Item};

/// Evaluates `c` against `item`.
pub(crate) fn evaluate(c: &Cond, item: &Item) -> bool {
    match c {
        Cond::And(a, b) => evaluate(a, item) && evaluate(b, item),
        Cond::Or(a, b) => evaluate(a, item) || evaluate(b, item),
        Cond::Not(a) => !evaluate(a, item),
        Cond::Cmp(op, a, b) => {
            let (a, b) = (resolve(a, item), resolve(b, item));
            match op {
                CmpOp::Eq => matches!((a, b), (Some(a), Some(b)) if a.same_value(&b)),
                // A missing operand is "not equal" to anything.
                CmpOp::Ne => !matches!((a, b), (Some(a), Some(b)) if a.same_value(&b)),
                _ => {
                    let Some(ord) = a.zip(b).and_then(|(a, b)| compare(&a, &b)) else {
                        return false;
                    };
                    match op {
                        CmpOp::Lt => ord == Ordering::Less,
                        CmpOp::Le => ord != Ordering::Greater,
                        CmpOp::Gt => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    }
                }
            }
        }
        Cond::Between(v, lo, hi) => {
            let (Some(v), Some(lo), Some(hi)) =
                (resolve(v, item), resolve(lo, item), resolve(hi, item))
            else {
                return false;
            };
            matches!(compare(&v, &lo), Some(Ordering::Greater | Ordering::Equal))
                && matches!(compare(&v, &hi), Some(Ordering::Less | Ordering::Equal))
        }
        Cond::In(v, list) => {
            let Some(v) = resolve(v, item) else {
                return false;
            };
            list.iter()
                .any(|o| resolve(o, item).is_some_and(|o| v.same_value(&o)))
        }
        Cond::AttributeExists(p) => p.get(item).is_some(),
        Cond::AttributeNotExists(p) => p.get(item).is_none(),
        Cond::AttributeType(v, t) => match (resolve(v, item), resolve(t, item)) {
            (Some(v), Some(t)) => matches!(&*t, AttributeValue::S(t) if t == v.type_name()),
            _ => false,
        },
        Cond::BeginsWith(v, prefix) => match (resolve(v, item), resolve(prefix, item)) {
            (Some(v), Some(p)) => match (&*v, &*p) {
                (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
                (AttributeValue::B(b), AttributeValue::B(p)) => b.starts_with(p),
                _ => false,
            },
            _ => false,
        },
        Cond::Contains(v, needle) => match (resolve(v, item), resolve(needle, item)) {
            (Some(v), Some(n)) => contains(&v, &n),
            _ => false,
        },
    }
}

/// `contains(a, b)`: substring of a string, member of a set, element of a list.
fn contains(haystack: &AttributeValue, needle: &AttributeValue) -> bool {
    match (haystack, needle) {
        (AttributeValue::S(s), AttributeValue::S(n)) => s.contains(n.as_str()),
        (AttributeValue::B(b), AttributeValue::B(n)) => {
            n.is_empty() || b.windows(n.len()).any(|w| w == n.as_slice())
        }
        (AttributeValue::Ss(s), AttributeValue::S(n)) => s.contains(n),
        (AttributeValue::Ns(s), AttributeValue::N(n)) => s.contains(n),
        (AttributeValue::Bs(s), AttributeValue::B(n)) => s.contains(n),
        (AttributeValue::L(l), n) => l.iter().any(|e| e.same_value(n)),
        _ => false,
    }
}

/// The value of an operand, or `None` when it names nothing (a missing attribute, or
/// `size` of a type without a size).
fn resolve<'i>(o: &'i Operand, item: &'i Item) -> Option<Cow<'i, AttributeValue>> {
    match o {
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Path(p) => p.get(item).map(Cow::Borrowed),
        Operand::Size(o) => size_of(&*resolve(o, item)?).map(|n| Cow::Owned(AttributeValue::N(n))),
    }
}

/// `size(path)`: bytes of a string or binary, element count of a set, list or map.
/// FIXME: DynamoDB's docs say "length of the string" without a unit; we count UTF-8 bytes,
/// like every other string length DynamoDB reports. Numbers, booleans and nulls have no size.
pub(crate) fn size_of(v: &AttributeValue) -> Option<Number> {
    let n = match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(s) => s.len(),
        AttributeValue::Ns(s) => s.len(),
        AttributeValue::Bs(s) => s.len(),
        AttributeValue::L(l) => l.len(),
        AttributeValue::M(m) => m.len(),
        AttributeValue::N(_) | AttributeValue::Bool(_) | AttributeValue::Null => return None,
    };
    Some(Number::from(n))
}

/// Ordering between two values of the same scalar type; `None` for anything else.
pub(crate) fn compare(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::S(a), AttributeValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (AttributeValue::N(a), AttributeValue::N(b)) => Some(a.cmp(b)),
        (AttributeValue::B(a), AttributeValue::B(b)) => Some(a.cmp(b)),
        _ => None,
    }
}
