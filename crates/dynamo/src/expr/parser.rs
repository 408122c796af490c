//! Recursive-descent parser: the shared machinery (tokens, paths, placeholders, syntax errors)
//! and the condition/filter grammar. Update, projection and key condition grammars extend
//! [`Parser`] in their own modules.
//!
//! Owns: the grammar and DynamoDB's static checks (reserved words, undefined placeholders,
//! operand counts and literal operand types, size and nesting limits).
//! Precedence, loosest first: OR, AND, NOT, then comparisons, BETWEEN, IN and functions
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html>).
//! Must not: evaluate anything against an item.

use super::ast::{CmpOp, Cond, Operand};
use super::lexer::{Tok, Token, tokenize};
use super::path::{Path, PathElem};
use super::reserved::is_reserved;
use super::{Condition, ExprContext, ExprError, ExprKind, MAX_EXPRESSION_LEN};
use crate::value::AttributeValue;

/// Deepest document path DynamoDB accepts.
/// The largest list index DynamoDB accepts in a document path.
const MAX_LIST_INDEX: u64 = 4_294_967_294;
const MAX_PATH_DEPTH: usize = 32;
/// Bound on parenthesis/NOT/function nesting: keeps recursion (here and in evaluation)
/// bounded for any input. DynamoDB has no nesting limit of its own; its operator limit and
/// its ban on redundant parentheses keep any valid expression well under this.
const MAX_NESTING: usize = 1000;
/// Most operators and functions in one expression
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-expression-parameters>).
const MAX_OPERATORS: usize = 300;
/// Most operands of IN.
const MAX_IN_OPERANDS: usize = 100;

pub(crate) struct Parser<'c, 'a, 's> {
    ctx: &'c mut ExprContext<'a>,
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    pub(crate) kind: ExprKind,
    depth: usize,
    operators: usize,
    /// For each `(` token, the index of its matching `)`.
    closing: Vec<Option<usize>>,
}

impl<'c, 'a, 's> Parser<'c, 'a, 's> {
    pub(crate) fn new(
        ctx: &'c mut ExprContext<'a>,
        src: &'s str,
        kind: ExprKind,
    ) -> Result<Self, ExprError> {
        let invalid = |detail: String| ExprError::Invalid { kind, detail };
        if src.len() > MAX_EXPRESSION_LEN {
            return Err(invalid(format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            )));
        }
        if src.trim().is_empty() {
            return Err(invalid("The expression can not be empty;".to_string()));
        }
        let toks = tokenize(src);
        let mut closing = vec![None; toks.len()];
        let mut open = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            match t.tok {
                Tok::Punct("(") => open.push(i),
                Tok::Punct(")") => {
                    if let Some(o) = open.pop()
                        && let Some(slot) = closing.get_mut(o)
                    {
                        *slot = Some(i);
                    }
                }
                _ => {}
            }
        }
        Ok(Parser {
            ctx,
            src,
            toks,
            pos: 0,
            kind,
            depth: 0,
            operators: 0,
            closing,
        })
    }

    // ---- token helpers ----------------------------------------------------------------

    pub(crate) fn err(&self, detail: impl Into<String>) -> ExprError {
        ExprError::Invalid {
            kind: self.kind,
            detail: detail.into(),
        }
    }

    fn tok_at(&self, i: usize) -> Option<&Token> {
        self.toks.get(i)
    }

    pub(crate) fn peek(&self) -> &Tok {
        self.tok_at(self.pos).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn peek2(&self) -> &Tok {
        self.tok_at(self.pos + 1).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn text_at(&self, i: usize) -> &'s str {
        let src: &'s str = self.src;
        self.tok_at(i)
            .and_then(|t| src.get(t.start..t.end))
            .unwrap_or("")
    }

    pub(crate) fn text(&self) -> &'s str {
        self.text_at(self.pos)
    }

    pub(crate) fn advance(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }

    pub(crate) fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    pub(crate) fn is_keyword(&self, kw: &str) -> bool {
        *self.peek() == Tok::Ident && self.text().eq_ignore_ascii_case(kw)
    }

    pub(crate) fn eat_punct(&mut self, p: &str) -> bool {
        let hit = self.is_punct(p);
        if hit {
            self.advance();
        }
        hit
    }

    pub(crate) fn expect_punct(&mut self, p: &str) -> Result<(), ExprError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    pub(crate) fn expect_eof(&self) -> Result<(), ExprError> {
        match self.peek() {
            Tok::Eof => Ok(()),
            _ => Err(self.syntax_error()),
        }
    }

    /// DynamoDB's syntax error: the offending token and the text around it (the previous
    /// token through the next one).
    pub(crate) fn syntax_error(&self) -> ExprError {
        let first = self.pos.saturating_sub(1);
        // At the end, the context is just the previous token (trailing spaces excluded).
        let last = if matches!(self.peek(), Tok::Eof) {
            first
        } else {
            (self.pos + 1).min(self.toks.len().saturating_sub(1))
        };
        let start = self.tok_at(first).map_or(0, |t| t.start);
        let end = self.tok_at(last).map_or(self.src.len(), |t| t.end);
        let near = self.src.get(start..end).unwrap_or("");
        let token = match self.peek() {
            Tok::Eof => "<EOF>".to_string(),
            _ => format!("\"{}\"", self.text()),
        };
        self.err(format!("Syntax error; token: {token}, near: \"{near}\""))
    }

    /// Enters one level of nesting, refusing to go deeper than [`MAX_NESTING`].
    pub(crate) fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(format!(
                "The expression has too many levels of nesting; maximum: {MAX_NESTING}"
            )));
        }
        Ok(())
    }

    /// Counts one operator or function, refusing more than [`MAX_OPERATORS`].
    pub(crate) fn operator(&mut self) -> Result<(), ExprError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.err(format!(
                "The expression contains too many operators; operator count: {}",
                self.operators
            )));
        }
        Ok(())
    }

    /// Whether the `(` at the current token directly wraps another parenthesized group,
    /// `((...))`, which DynamoDB refuses.
    fn redundant_parentheses(&self) -> bool {
        let outer = self.closing.get(self.pos).copied().flatten();
        let inner = self.closing.get(self.pos + 1).copied().flatten();
        matches!(self.peek2(), Tok::Punct("("))
            && matches!((outer, inner), (Some(o), Some(i)) if i + 1 == o)
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    // ---- paths and placeholders ---------------------------------------------------------

    fn path_name(&mut self) -> Result<String, ExprError> {
        let text = self.text();
        let name = match self.peek() {
            Tok::Ident if is_reserved(text) => {
                return Err(self.err(format!(
                    "Attribute name is a reserved keyword; reserved keyword: {text}"
                )));
            }
            Tok::Ident => text.to_string(),
            Tok::Name => self.ctx.name(text).ok_or_else(|| {
                self.err(format!(
                    "An expression attribute name used in the document path is not defined; attribute name: {text}"
                ))
            })?,
            _ => return Err(self.syntax_error()),
        };
        self.advance();
        Ok(name)
    }

    /// `name ( '.' name | '[' int ']' )*`
    pub(crate) fn path(&mut self) -> Result<Path, ExprError> {
        let mut path = Path::name(self.path_name()?);
        loop {
            if self.eat_punct(".") {
                let name = self.path_name()?;
                path.push(PathElem::Name(name));
            } else if self.eat_punct("[") {
                if *self.peek() != Tok::Int {
                    return Err(self.syntax_error());
                }
                // DynamoDB's largest list index is 2^32 - 2; past it (or past what a number
                // holds) the path is refused.
                let index = self
                    .text()
                    .parse::<u64>()
                    .ok()
                    .filter(|i| *i <= MAX_LIST_INDEX)
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| {
                        self.err(format!(
                            "List index is not within the allowable range; index: [{}]",
                            self.text()
                        ))
                    })?;
                self.advance();
                self.expect_punct("]")?;
                path.push(PathElem::Index(index));
            } else {
                break;
            }
            if path.depth() > MAX_PATH_DEPTH {
                return Err(self.err(format!(
                    "The document path has too many nesting levels; nesting levels: {}",
                    path.depth()
                )));
            }
        }
        Ok(path)
    }

    /// A `:value` placeholder at the current token.
    pub(crate) fn value(&mut self) -> Result<AttributeValue, ExprError> {
        let text = self.text();
        let v = self.ctx.value(text).ok_or_else(|| {
            self.err(format!(
                "An expression attribute value used in expression is not defined; attribute value: {text}"
            ))
        })?;
        self.advance();
        Ok(v)
    }

    /// Whether the current token is a function call: an identifier followed by `(`.
    pub(crate) fn at_function(&self) -> bool {
        *self.peek() == Tok::Ident && matches!(self.peek2(), Tok::Punct("("))
    }

    // ---- conditions --------------------------------------------------------------------

    pub(crate) fn condition_expression(mut self) -> Result<Condition, ExprError> {
        let c = self.or()?;
        self.expect_eof()?;
        Ok(Condition(c))
    }

    pub(crate) fn or(&mut self) -> Result<Cond, ExprError> {
        let mut left = self.and()?;
        while self.is_keyword("OR") {
            self.operator()?;
            self.advance();
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, ExprError> {
        let mut left = self.not()?;
        while self.is_keyword("AND") {
            self.operator()?;
            self.advance();
            let right = self.not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, ExprError> {
        if self.is_keyword("NOT") {
            self.operator()?;
            self.advance();
            self.enter()?;
            let inner = self.not()?;
            self.leave();
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, ExprError> {
        if self.is_punct("(") && self.redundant_parentheses() {
            return Err(self.err("The expression has redundant parentheses;"));
        }
        if self.eat_punct("(") {
            self.enter()?;
            let c = self.or()?;
            self.expect_punct(")")?;
            self.leave();
            return Ok(c);
        }
        if self.at_function() && self.text() != "size" {
            let name = self.text();
            let cond = self.boolean_function()?;
            // A condition function compared like a value: `attribute_exists(a) = :v`.
            if matches!(
                self.peek(),
                Tok::Punct("=" | "<>" | "<" | "<=" | ">" | ">=")
            ) || self.is_keyword("BETWEEN")
                || self.is_keyword("IN")
            {
                return Err(self.misused_function(name));
            }
            return Ok(cond);
        }
        let left = self.operand()?;
        self.comparison(left)
    }

    /// DynamoDB's error for a function in the wrong place: a condition function as an
    /// operand, or `size()` as a condition.
    fn misused_function(&self, name: &str) -> ExprError {
        self.err(format!(
            "The function is not allowed to be used this way in an expression; function: {name}"
        ))
    }

    fn boolean_function(&mut self) -> Result<Cond, ExprError> {
        let name = self.text();
        if !is_condition_function(name) {
            return Err(self.err(format!("Invalid function name; function: {name}")));
        }
        let args = self.arguments()?;
        let count = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(self.err(format!(
                    "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                    args.len()
                )))
            }
        };
        let needs_path = || {
            self.err(format!(
                "Operator or function requires a document path; operator or function: {name}"
            ))
        };
        match name {
            "attribute_exists" | "attribute_not_exists" => {
                count(1)?;
                let Some(Operand::Path(p)) = args.into_iter().next() else {
                    return Err(needs_path());
                };
                Ok(if name == "attribute_exists" {
                    Cond::AttributeExists(p)
                } else {
                    Cond::AttributeNotExists(p)
                })
            }
            _ => {
                count(2)?;
                let mut it = args.into_iter();
                let (Some(a), Some(b)) = (it.next(), it.next()) else {
                    return Err(self.syntax_error());
                };
                // The first operand may be a value too (`begins_with(:v, a)`,
                // `attribute_type(:v, :t)`), but not `size(...)`.
                if matches!(a, Operand::Size(_)) && name != "contains" {
                    return Err(needs_path());
                }
                match name {
                    "attribute_type" => {
                        match &b {
                            Operand::Value(AttributeValue::S(t)) if is_type_name(t) => {}
                            Operand::Value(AttributeValue::S(t)) => {
                                return Err(self.err(format!(
                                    "Invalid attribute type name found in type descriptor; type: {t}"
                                )));
                            }
                            Operand::Value(v) => return Err(self.operand_type(name, v)),
                            // The type must be a value: a path could hold any type, and
                            // DynamoDB names them all.
                            Operand::Path(_) => {
                                return Err(self.err(format!(
                                    "Incorrect operand type for operator or function; operator or function: {name}, operand type: {{NS,SS,L,BS,N,M,B,BOOL,NULL,S}}"
                                )));
                            }
                            Operand::Size(_) => {
                                return Err(self.err(format!(
                                    "Incorrect operand type for operator or function; operator or function: {name}, operand type: N"
                                )));
                            }
                        }
                        Ok(Cond::AttributeType(a, b))
                    }
                    "begins_with" => {
                        if let Operand::Value(v) = &b
                            && !matches!(v, AttributeValue::S(_) | AttributeValue::B(_))
                        {
                            return Err(self.operand_type(name, v));
                        }
                        Ok(Cond::BeginsWith(a, b))
                    }
                    _ => {
                        self.check_distinct("contains", &a, [&b])?;
                        Ok(Cond::Contains(a, b))
                    }
                }
            }
        }
    }

    pub(crate) fn operand_type(&self, op: &str, v: &AttributeValue) -> ExprError {
        self.err(format!(
            "Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
            v.type_name()
        ))
    }

    /// `( operand (, operand)* )` after a function name.
    fn arguments(&mut self) -> Result<Vec<Operand>, ExprError> {
        self.operator()?;
        self.advance();
        self.expect_punct("(")?;
        self.enter()?;
        let mut args = vec![self.operand()?];
        while self.eat_punct(",") {
            args.push(self.operand()?);
        }
        self.expect_punct(")")?;
        self.leave();
        Ok(args)
    }

    fn operand(&mut self) -> Result<Operand, ExprError> {
        if self.at_function() {
            let name = self.text();
            if is_condition_function(name) {
                // A condition function where a value is expected: `attribute_exists(a) = :v`.
                return Err(self.misused_function(name));
            }
            if name != "size" {
                return Err(self.err(format!("Invalid function name; function: {name}")));
            }
            let args = self.arguments()?;
            let n = args.len();
            // DynamoDB accepts a value as well as a path: `size(:v)`.
            return match args.into_iter().next() {
                Some(o @ (Operand::Path(_) | Operand::Value(_))) if n == 1 => {
                    Ok(Operand::Size(Box::new(o)))
                }
                _ if n != 1 => Err(self.err(format!(
                    "Incorrect number of operands for operator or function; operator or function: size, number of operands: {n}"
                ))),
                _ => Err(self.err(
                    "Operator or function requires a document path; operator or function: size",
                )),
            };
        }
        if *self.peek() == Tok::Value {
            return self.value().map(Operand::Value);
        }
        self.path().map(Operand::Path)
    }

    fn comparison(&mut self, left: Operand) -> Result<Cond, ExprError> {
        let op = match self.peek() {
            Tok::Punct("=") => Some(CmpOp::Eq),
            Tok::Punct("<>") => Some(CmpOp::Ne),
            Tok::Punct("<") => Some(CmpOp::Lt),
            Tok::Punct("<=") => Some(CmpOp::Le),
            Tok::Punct(">") => Some(CmpOp::Gt),
            Tok::Punct(">=") => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.operator()?;
            self.advance();
            let right = self.operand()?;
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                self.check_scalar(op.symbol(), &left)?;
                self.check_scalar(op.symbol(), &right)?;
            }
            self.check_distinct(op.symbol(), &left, [&right])?;
            return Ok(Cond::Cmp(op, left, right));
        }
        if self.is_keyword("BETWEEN") {
            self.operator()?;
            self.advance();
            let lo = self.operand()?;
            if !self.is_keyword("AND") {
                return Err(self.syntax_error());
            }
            self.advance();
            let hi = self.operand()?;
            for o in [&left, &lo, &hi] {
                self.check_scalar("BETWEEN", o)?;
            }
            self.check_distinct("BETWEEN", &left, [&lo, &hi])?;
            if let (Operand::Value(a), Operand::Value(b)) = (&lo, &hi)
                && a.type_name() != b.type_name()
            {
                return Err(self.err(format!(
                    "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {{{}:{}}}, upper bound operand: AttributeValue: {{{}:{}}}",
                    a.type_name(),
                    scalar_text(a),
                    b.type_name(),
                    scalar_text(b)
                )));
            }
            if let (Operand::Value(a), Operand::Value(b)) = (&lo, &hi)
                && super::eval::compare(a, b) == Some(std::cmp::Ordering::Greater)
            {
                return Err(self.err(format!(
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{}:{}}}, upper bound operand: AttributeValue: {{{}:{}}}",
                    a.type_name(),
                    scalar_text(a),
                    b.type_name(),
                    scalar_text(b)
                )));
            }
            return Ok(Cond::Between(left, lo, hi));
        }
        if self.is_keyword("IN") {
            self.operator()?;
            self.advance();
            self.expect_punct("(")?;
            let mut list = vec![self.operand()?];
            while self.eat_punct(",") {
                list.push(self.operand()?);
            }
            self.expect_punct(")")?;
            if list.len() > MAX_IN_OPERANDS {
                return Err(self.err(format!(
                    "The IN operator is provided with too many number of operands; number of operands: {}",
                    list.len()
                )));
            }
            self.check_distinct("IN", &left, list.iter())?;
            return Ok(Cond::In(left, list));
        }
        // `size(a)` alone is not a condition.
        if matches!(left, Operand::Size(_))
            && (matches!(self.peek(), Tok::Eof | Tok::Punct(")"))
                || self.is_keyword("AND")
                || self.is_keyword("OR"))
        {
            return Err(self.misused_function("size"));
        }
        Err(self.syntax_error())
    }

    /// DynamoDB refuses an operator whose first operand is a path that appears again among
    /// the others (`a = a`, `contains(a, a)`): the result never depends on the item.
    fn check_distinct<'o>(
        &self,
        op: &str,
        first: &Operand,
        rest: impl IntoIterator<Item = &'o Operand>,
    ) -> Result<(), ExprError> {
        match first {
            Operand::Path(p) if rest.into_iter().any(|o| o == first) => Err(self.err(format!(
                "The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {}",
                p.describe()
            ))),
            _ => Ok(()),
        }
    }

    /// Ordering operators only compare strings, numbers and binaries; a literal of another
    /// type is rejected when parsing.
    fn check_scalar(&self, op: &str, o: &Operand) -> Result<(), ExprError> {
        match o {
            Operand::Value(v)
                if !matches!(
                    v,
                    AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_)
                ) =>
            {
                Err(self.operand_type(op, v))
            }
            _ => Ok(()),
        }
    }
}

fn is_condition_function(name: &str) -> bool {
    matches!(
        name,
        "attribute_exists" | "attribute_not_exists" | "attribute_type" | "begins_with" | "contains"
    )
}

fn is_type_name(t: &str) -> bool {
    matches!(
        t,
        "S" | "SS" | "N" | "NS" | "B" | "BS" | "BOOL" | "NULL" | "L" | "M"
    )
}

fn scalar_text(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        other => other.to_json().to_string(),
    }
}
