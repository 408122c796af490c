//! Update expressions: parsing the SET/REMOVE/ADD/DELETE sections and applying them.
//!
//! Owns: the update grammar (`SET p = v [+|- v]`, `if_not_exists`, `list_append`,
//! `REMOVE p`, `ADD p :v`, `DELETE p :v`) and DynamoDB's semantics
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html>):
//! every operand reads the item as it was before the update, each section appears at most
//! once, no two paths overlap, and removed list elements are named by their original index.
//! Must not: know which attributes are keys (callers reject key updates via
//! `Update::updated_paths`).

use super::ast::{Action, SetValue, UpdOperand};
use super::lexer::Tok;
use super::parser::Parser;
use super::{ExprError, MISSING_ATTRIBUTE, Update, WRONG_OPERAND_TYPE};
use crate::value::{AttributeValue, Item};

const SECTIONS: [&str; 4] = ["SET", "REMOVE", "ADD", "DELETE"];

impl Parser<'_, '_, '_> {
    pub(crate) fn update_expression(mut self) -> Result<Update, ExprError> {
        let mut actions = Vec::new();
        let mut seen = [false; 4];
        while *self.peek() != Tok::Eof {
            let Some(section) = SECTIONS.iter().position(|s| self.is_keyword(s)) else {
                return Err(self.syntax_error());
            };
            if let Some(slot) = seen.get_mut(section) {
                if *slot {
                    return Err(self.err(format!(
                        "The \"{}\" section can only be used once in an update expression;",
                        SECTIONS.get(section).copied().unwrap_or_default()
                    )));
                }
                *slot = true;
            }
            self.advance();
            loop {
                actions.push(self.action(section)?);
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        let paths: Vec<_> = actions.iter().map(Action::path).collect();
        self.check_overlaps(&paths)?;
        Ok(Update(actions))
    }

    fn action(&mut self, section: usize) -> Result<Action, ExprError> {
        let path = self.path()?;
        match section {
            0 => {
                self.expect_punct("=")?;
                let left = self.upd_operand()?;
                let op = if self.is_punct("+") {
                    "+"
                } else if self.is_punct("-") {
                    "-"
                } else {
                    return Ok(Action::Set(path, SetValue::Operand(left)));
                };
                self.operator()?;
                self.advance();
                let right = self.upd_operand()?;
                for o in [&left, &right] {
                    if let UpdOperand::Value(v) = o
                        && !matches!(v, AttributeValue::N(_))
                    {
                        return Err(self.operand_type(op, v));
                    }
                }
                Ok(Action::Set(
                    path,
                    if op == "+" {
                        SetValue::Plus(left, right)
                    } else {
                        SetValue::Minus(left, right)
                    },
                ))
            }
            1 => Ok(Action::Remove(path)),
            _ => {
                if *self.peek() != Tok::Value {
                    return Err(self.syntax_error());
                }
                let v = self.value()?;
                let (name, ok) = if section == 2 {
                    let ok = matches!(
                        v,
                        AttributeValue::N(_)
                            | AttributeValue::Ss(_)
                            | AttributeValue::Ns(_)
                            | AttributeValue::Bs(_)
                    );
                    ("ADD", ok)
                } else {
                    let ok = matches!(
                        v,
                        AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
                    );
                    ("DELETE", ok)
                };
                if !ok {
                    return Err(self.err(format!(
                        "Incorrect operand type for operator or function; operator: {name}, operand type: {}",
                        long_type_name(&v)
                    )));
                }
                Ok(if section == 2 {
                    Action::Add(path, v)
                } else {
                    Action::Delete(path, v)
                })
            }
        }
    }

    fn upd_operand(&mut self) -> Result<UpdOperand, ExprError> {
        self.upd_operand_in(&[])
    }

    /// An operand inside the functions `within` (outermost first): DynamoDB refuses a
    /// function nested in another call of itself (`list_append(list_append(a, b), c)`,
    /// `if_not_exists(a, if_not_exists(b, c))`), and allows the two in one another.
    fn upd_operand_in(&mut self, within: &[&'static str]) -> Result<UpdOperand, ExprError> {
        if *self.peek() == Tok::Value {
            return self.value().map(UpdOperand::Value);
        }
        if !self.at_function() {
            return self.path().map(UpdOperand::Path);
        }
        let name = self.text();
        let function: &'static str = match name {
            "if_not_exists" => "if_not_exists",
            "list_append" => "list_append",
            _ => return Err(self.err(format!("Invalid function name; function: {name}"))),
        };
        if within.contains(&function) {
            return Err(self.err(format!(
                "The function is not allowed to be used this way in an expression; function: {function}"
            )));
        }
        self.operator()?;
        self.advance();
        self.expect_punct("(")?;
        self.enter()?;
        let inner: Vec<&'static str> = within.iter().copied().chain([function]).collect();
        let mut args = vec![self.upd_operand_in(&inner)?];
        while self.eat_punct(",") {
            args.push(self.upd_operand_in(&inner)?);
        }
        self.expect_punct(")")?;
        self.leave();
        if args.len() != 2 {
            return Err(self.err(format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                args.len()
            )));
        }
        let mut it = args.into_iter();
        let (Some(a), Some(b)) = (it.next(), it.next()) else {
            return Err(self.syntax_error());
        };
        if name == "if_not_exists" {
            let UpdOperand::Path(p) = a else {
                return Err(self.err(
                    "Operator or function requires a document path; operator or function: if_not_exists",
                ));
            };
            return Ok(UpdOperand::IfNotExists(p, Box::new(b)));
        }
        for o in [&a, &b] {
            if let UpdOperand::Value(v) = o
                && !matches!(v, AttributeValue::L(_))
            {
                return Err(self.operand_type("list_append", v));
            }
        }
        Ok(UpdOperand::ListAppend(Box::new(a), Box::new(b)))
    }
}

/// ADD and DELETE type errors spell the type out.
fn long_type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "STRING",
        AttributeValue::N(_) => "NUMBER",
        AttributeValue::B(_) => "BINARY",
        AttributeValue::Bool(_) => "BOOLEAN",
        AttributeValue::Null => "NULL",
        AttributeValue::M(_) => "MAP",
        AttributeValue::L(_) => "LIST",
        AttributeValue::Ss(_) => "STRING_SET",
        AttributeValue::Ns(_) => "NUMBER_SET",
        AttributeValue::Bs(_) => "BINARY_SET",
    }
}

/// Applies `actions` to `item`.
pub(crate) fn apply(actions: &[Action], item: &mut Item) -> Result<(), ExprError> {
    // Every SET operand reads the item as it was before this update.
    let mut sets = Vec::new();
    for a in actions {
        if let Action::Set(p, v) = a {
            sets.push((p, set_value(v, item)?));
        }
    }
    // Paths never overlap, so the order only matters for indexes past the end of a list,
    // which append: DynamoDB appends them in index order, whatever the expression's order.
    sets.sort_by(|a, b| a.0.cmp(b.0));
    for (p, v) in sets {
        p.set(item, v)?;
    }
    for a in actions {
        match a {
            Action::Add(p, v) => add(p, v, item)?,
            Action::Delete(p, v) => delete(p, v, item)?,
            Action::Set(..) | Action::Remove(_) => {}
        }
    }
    // List indexes in REMOVE name elements of the original list: remove from the highest
    // index down so earlier removals do not shift later ones.
    let mut removes: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove(p) => Some(p),
            _ => None,
        })
        .collect();
    removes.sort_by(|a, b| b.cmp(a));
    for p in removes {
        p.remove(item)?;
    }
    Ok(())
}

fn set_value(v: &SetValue, item: &Item) -> Result<AttributeValue, ExprError> {
    let (a, b, plus) = match v {
        SetValue::Operand(o) => return operand(o, item),
        SetValue::Plus(a, b) => (a, b, true),
        SetValue::Minus(a, b) => (a, b, false),
    };
    match (operand(a, item)?, operand(b, item)?) {
        (AttributeValue::N(a), AttributeValue::N(b)) => {
            let r = if plus {
                a.checked_add(&b)
            } else {
                a.checked_sub(&b)
            };
            r.map(AttributeValue::N)
                .map_err(|e| ExprError::Evaluation(e.to_string()))
        }
        _ => Err(ExprError::eval(WRONG_OPERAND_TYPE)),
    }
}

fn operand(o: &UpdOperand, item: &Item) -> Result<AttributeValue, ExprError> {
    match o {
        UpdOperand::Value(v) => Ok(v.clone()),
        UpdOperand::Path(p) => p
            .get(item)
            .cloned()
            .ok_or_else(|| ExprError::eval(MISSING_ATTRIBUTE)),
        UpdOperand::IfNotExists(p, default) => match p.get(item) {
            Some(v) => Ok(v.clone()),
            None => operand(default, item),
        },
        UpdOperand::ListAppend(a, b) => match (operand(a, item)?, operand(b, item)?) {
            (AttributeValue::L(mut a), AttributeValue::L(b)) => {
                a.extend(b);
                Ok(AttributeValue::L(a))
            }
            _ => Err(ExprError::eval(WRONG_OPERAND_TYPE)),
        },
    }
}

fn union<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
    for x in from {
        if !into.contains(x) {
            into.push(x.clone());
        }
    }
}

fn add(p: &super::Path, v: &AttributeValue, item: &mut Item) -> Result<(), ExprError> {
    let Some(cur) = p.get_mut(item)? else {
        return p.set(item, v.clone());
    };
    match (cur, v) {
        (AttributeValue::N(a), AttributeValue::N(b)) => {
            *a = a
                .checked_add(b)
                .map_err(|e| ExprError::Evaluation(e.to_string()))?;
        }
        (AttributeValue::Ss(a), AttributeValue::Ss(b)) => union(a, b),
        (AttributeValue::Ns(a), AttributeValue::Ns(b)) => union(a, b),
        (AttributeValue::Bs(a), AttributeValue::Bs(b)) => union(a, b),
        _ => return Err(ExprError::eval(WRONG_OPERAND_TYPE)),
    }
    Ok(())
}

fn delete(p: &super::Path, v: &AttributeValue, item: &mut Item) -> Result<(), ExprError> {
    let Some(cur) = p.get_mut(item)? else {
        return Ok(());
    };
    let now_empty = match (cur, v) {
        (AttributeValue::Ss(a), AttributeValue::Ss(b)) => {
            a.retain(|x| !b.contains(x));
            a.is_empty()
        }
        (AttributeValue::Ns(a), AttributeValue::Ns(b)) => {
            a.retain(|x| !b.contains(x));
            a.is_empty()
        }
        (AttributeValue::Bs(a), AttributeValue::Bs(b)) => {
            a.retain(|x| !b.contains(x));
            a.is_empty()
        }
        _ => return Err(ExprError::eval(WRONG_OPERAND_TYPE)),
    };
    // DynamoDB never stores an empty set: deleting the last members removes the attribute.
    if now_empty {
        p.remove(item)?;
    }
    Ok(())
}
