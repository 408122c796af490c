//! Projection expressions: parsing the path list and cutting items down to it.
//!
//! Owns: [`Projection`], DynamoDB's rule that projected (and updated) paths may not overlap
//! or conflict, and building the projected item (nested maps keep only the named keys, lists
//! keep the named elements in index order). Must not: evaluate conditions or modify items.

use std::collections::BTreeMap;

use super::ExprError;
use super::parser::Parser;
use super::path::{Path, PathElem};
use crate::value::{AttributeValue, Item};

impl Parser<'_, '_, '_> {
    pub(crate) fn projection_expression(mut self) -> Result<Projection, ExprError> {
        let mut paths = vec![self.path()?];
        while self.eat_punct(",") {
            paths.push(self.path()?);
        }
        self.expect_eof()?;
        self.check_overlaps(&paths.iter().collect::<Vec<_>>())?;
        Ok(Projection::from_paths(paths))
    }

    /// DynamoDB rejects two paths where one contains the other ("overlap"), or where they
    /// use the same step as both a map key and a list index ("conflict").
    pub(crate) fn check_overlaps(&self, paths: &[&Path]) -> Result<(), ExprError> {
        for (i, a) in paths.iter().enumerate() {
            for b in paths.iter().skip(i + 1) {
                let word = if a.is_prefix_of(b) || b.is_prefix_of(a) {
                    "overlap"
                } else if conflicts(a, b) {
                    "conflict"
                } else {
                    continue;
                };
                return Err(self.err(format!(
                    "Two document paths {word} with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                    a.describe(),
                    b.describe()
                )));
            }
        }
        Ok(())
    }
}

fn conflicts(a: &Path, b: &Path) -> bool {
    if a.top() != b.top() {
        return false;
    }
    a.rest()
        .iter()
        .zip(b.rest())
        .find(|(x, y)| x != y)
        .is_some_and(|(x, y)| std::mem::discriminant(x) != std::mem::discriminant(y))
}

/// A parsed `ProjectionExpression` (or a list of paths to return, for `UPDATED_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    paths: Vec<Path>,
}

/// The projected paths merged into a tree, so that `a.b` and `a.c` both land in one `a`,
/// and `l[3]` and `l[1]` come out as a two-element list in index order.
#[derive(Default)]
struct Node {
    whole: bool,
    keys: BTreeMap<String, Node>,
    indexes: BTreeMap<usize, Node>,
}

impl Node {
    fn insert(&mut self, rest: &[PathElem]) {
        let Some((first, tail)) = rest.split_first() else {
            self.whole = true;
            return;
        };
        let child = match first {
            PathElem::Name(n) => self.keys.entry(n.clone()).or_default(),
            PathElem::Index(i) => self.indexes.entry(*i).or_default(),
        };
        child.insert(tail);
    }

    fn project(&self, v: &AttributeValue) -> Option<AttributeValue> {
        if self.whole {
            return Some(v.clone());
        }
        match v {
            AttributeValue::M(m) if !self.keys.is_empty() => {
                let out: BTreeMap<String, AttributeValue> = self
                    .keys
                    .iter()
                    .filter_map(|(k, n)| Some((k.clone(), n.project(m.get(k)?)?)))
                    .collect();
                (!out.is_empty()).then_some(AttributeValue::M(out))
            }
            AttributeValue::L(l) if !self.indexes.is_empty() => {
                let out: Vec<AttributeValue> = self
                    .indexes
                    .iter()
                    .filter_map(|(i, n)| n.project(l.get(*i)?))
                    .collect();
                (!out.is_empty()).then_some(AttributeValue::L(out))
            }
            _ => None,
        }
    }
}

impl Projection {
    /// A projection of exactly these paths.
    pub fn from_paths(paths: Vec<Path>) -> Projection {
        Projection { paths }
    }

    /// The projected paths.
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    /// The parts of `item` named by the projection; paths the item lacks are left out.
    pub fn apply(&self, item: &Item) -> Item {
        let mut roots: BTreeMap<&str, Node> = BTreeMap::new();
        for p in &self.paths {
            roots.entry(p.top()).or_default().insert(p.rest());
        }
        roots
            .into_iter()
            .filter_map(|(name, node)| Some((name.to_string(), node.project(item.get(name)?)?)))
            .collect()
    }
}
