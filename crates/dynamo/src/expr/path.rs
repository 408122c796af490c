//! Document paths (`a.b[3].c`) and what can be done with them on an item: read, write and
//! remove.
//!
//! Owns: the [`Path`] type and navigation through maps and lists with DynamoDB's rules for
//! missing parents and out-of-range indexes. Must not: parse expression text or substitute
//! placeholders (the parser does that).

use std::collections::BTreeMap;
use std::fmt;

use super::{ExprError, INVALID_UPDATE_PATH};
use crate::value::{AttributeValue, Item};

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElem {
    /// A map key (or, first, a top-level attribute name), after `#name` substitution.
    Name(String),
    /// A list index.
    Index(usize),
}

/// A document path: a top-level attribute name followed by `.name` and `[index]` steps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    top: String,
    rest: Vec<PathElem>,
}

impl Path {
    /// A path naming a top-level attribute.
    pub fn name(top: impl Into<String>) -> Path {
        Path {
            top: top.into(),
            rest: Vec::new(),
        }
    }

    /// This path extended by a map key.
    pub fn child(mut self, name: impl Into<String>) -> Path {
        self.rest.push(PathElem::Name(name.into()));
        self
    }

    /// This path extended by a list index.
    pub fn index(mut self, i: usize) -> Path {
        self.rest.push(PathElem::Index(i));
        self
    }

    pub(crate) fn push(&mut self, e: PathElem) {
        self.rest.push(e);
    }

    /// The top-level attribute name.
    pub fn top(&self) -> &str {
        &self.top
    }

    /// The steps after the top-level name.
    pub fn rest(&self) -> &[PathElem] {
        &self.rest
    }

    /// Whether this path is just a top-level attribute name.
    pub fn is_top_level(&self) -> bool {
        self.rest.is_empty()
    }

    /// Number of steps including the top-level name.
    pub fn depth(&self) -> usize {
        self.rest.len() + 1
    }

    /// The value at this path, if the item has one.
    pub fn get<'i>(&self, item: &'i Item) -> Option<&'i AttributeValue> {
        let mut cur = item.get(&self.top)?;
        for e in &self.rest {
            cur = step(cur, e)?;
        }
        Some(cur)
    }

    /// Whether `self` equals `other` or is an ancestor of it.
    pub(crate) fn is_prefix_of(&self, other: &Path) -> bool {
        self.top == other.top && other.rest.starts_with(&self.rest)
    }

    /// DynamoDB's rendering in overlap messages: `[a, b, [3]]`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = vec![self.top.clone()];
        parts.extend(self.rest.iter().map(|e| match e {
            PathElem::Name(n) => n.clone(),
            PathElem::Index(i) => format!("[{i}]"),
        }));
        format!("[{}]", parts.join(", "))
    }

    /// The container holding the last step, for writing; errors like DynamoDB when a parent
    /// is missing or is not a map/list.
    fn parent_mut<'i, 'p>(&'p self, item: &'i mut Item) -> Result<Parent<'i, 'p>, ExprError> {
        let Some((last, init)) = self.rest.split_last() else {
            return Ok(Parent::Item(item, &self.top));
        };
        let mut cur = item
            .get_mut(&self.top)
            .ok_or_else(|| ExprError::eval(INVALID_UPDATE_PATH))?;
        for e in init {
            cur = step_mut(cur, e).ok_or_else(|| ExprError::eval(INVALID_UPDATE_PATH))?;
        }
        match (cur, last) {
            (AttributeValue::M(m), PathElem::Name(n)) => Ok(Parent::Map(m, n)),
            (AttributeValue::L(l), PathElem::Index(i)) => Ok(Parent::List(l, *i)),
            _ => Err(ExprError::eval(INVALID_UPDATE_PATH)),
        }
    }

    /// Writes `v` at this path. An index past the end of a list appends, as DynamoDB does.
    pub(crate) fn set(&self, item: &mut Item, v: AttributeValue) -> Result<(), ExprError> {
        match self.parent_mut(item)? {
            Parent::Item(m, n) | Parent::Map(m, n) => {
                m.insert(n.to_string(), v);
            }
            Parent::List(l, i) => match l.get_mut(i) {
                Some(slot) => *slot = v,
                None => l.push(v),
            },
        }
        Ok(())
    }

    /// Mutable access to the value at this path, for ADD and DELETE. `Ok(None)` when the
    /// parent exists but the value does not.
    pub(crate) fn get_mut<'i>(
        &self,
        item: &'i mut Item,
    ) -> Result<Option<&'i mut AttributeValue>, ExprError> {
        Ok(match self.parent_mut(item)? {
            Parent::Item(m, n) | Parent::Map(m, n) => m.get_mut(n),
            Parent::List(l, i) => l.get_mut(i),
        })
    }

    /// Removes the value at this path. A missing value and an out-of-range index are
    /// no-ops, but a missing ancestor is an error, as in DynamoDB; removing a list element
    /// shifts the later ones down.
    pub(crate) fn remove(&self, item: &mut Item) -> Result<(), ExprError> {
        match self.parent_mut(item)? {
            Parent::Item(m, n) | Parent::Map(m, n) => {
                m.remove(n);
            }
            Parent::List(l, i) => {
                if i < l.len() {
                    l.remove(i);
                }
            }
        }
        Ok(())
    }
}

enum Parent<'i, 'p> {
    Item(&'i mut Item, &'p str),
    Map(&'i mut BTreeMap<String, AttributeValue>, &'p str),
    List(&'i mut Vec<AttributeValue>, usize),
}

fn step<'v>(v: &'v AttributeValue, e: &PathElem) -> Option<&'v AttributeValue> {
    match (v, e) {
        (AttributeValue::M(m), PathElem::Name(n)) => m.get(n),
        (AttributeValue::L(l), PathElem::Index(i)) => l.get(*i),
        _ => None,
    }
}

fn step_mut<'v>(v: &'v mut AttributeValue, e: &PathElem) -> Option<&'v mut AttributeValue> {
    match (v, e) {
        (AttributeValue::M(m), PathElem::Name(n)) => m.get_mut(n),
        (AttributeValue::L(l), PathElem::Index(i)) => l.get_mut(*i),
        _ => None,
    }
}

/// Plain form for logs and debugging: `a.b[3]` (names unescaped).
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.top)?;
        for e in &self.rest {
            match e {
                PathElem::Name(n) => write!(f, ".{n}")?,
                PathElem::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}
