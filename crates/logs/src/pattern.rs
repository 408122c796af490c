//! Filter patterns for unstructured events, as FilterLogEvents reads them
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html>):
//!
//! - empty: every event;
//! - terms separated by spaces, each one a word or a `"quoted phrase"`: every term must occur in
//!   the message (case-sensitive);
//! - `-term` / `-"phrase"`: the term must not occur;
//! - `?term` / `?"phrase"`: at least one of the `?` terms must occur (`?ERROR ?WARN`);
//! - `%regex%`: the message matches the regular expression;
//! - JSON patterns, `{ <conditions> }`, on messages that are JSON objects: selectors `$.a.b`,
//!   `$.list[0]`; `=` and `!=` with a `"string"` or bare word (`*` as a wildcard) or a number;
//!   `<`, `<=`, `>`, `>=` with a number; `IS TRUE`, `IS FALSE`, `IS NULL`, `NOT EXISTS`;
//!   conditions joined with `&&` and `||`, grouped with parentheses.
//!
//! Space-delimited patterns (`[a, b, ...]`) are refused with `InvalidParameterException`
//! naming what is supported.

use crate::Error;

#[derive(Debug)]
pub enum Pattern {
    All,
    Terms {
        all: Vec<String>,
        none: Vec<String>,
        any: Vec<String>,
    },
    Regex(regex::Regex),
    Json(Json),
}

/// A JSON pattern's condition tree.
#[derive(Debug)]
pub enum Json {
    Or(Vec<Json>),
    And(Vec<Json>),
    Compare(Vec<Step>, Op, Literal),
    Is(Vec<Step>, Option<bool>),
    NotExists(Vec<Step>),
}

#[derive(Debug, Clone)]
pub enum Step {
    Field(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
pub enum Literal {
    Number(f64),
    Text(String),
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(Pattern::All);
        }
        if t.len() >= 2 && t.starts_with('%') && t.ends_with('%') {
            let inner = &t[1..t.len() - 1];
            return regex::Regex::new(inner)
                .map(Pattern::Regex)
                .map_err(|e| Error::invalid(format!("Invalid regex in the filter pattern: {e}")));
        }
        if t.starts_with('{') {
            let inner = t.strip_suffix('}').map(|i| &i[1..]).ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid JSON filter pattern {text:?}: no closing }}"
                ))
            })?;
            let mut p = JsonParser {
                text: inner,
                pos: 0,
            };
            let expr = p.or().map_err(|why| {
                Error::invalid(format!("Invalid JSON filter pattern {text:?}: {why}"))
            })?;
            p.skip_space();
            if p.pos != inner.len() {
                return Err(Error::invalid(format!(
                    "Invalid JSON filter pattern {text:?}: unexpected {:?}",
                    &inner[p.pos..]
                )));
            }
            return Ok(Pattern::Json(expr));
        }
        if t.starts_with('[') {
            return Err(Error::invalid(
                "nuvem supports filter patterns of terms, \"quoted phrases\", -exclusions, ?alternatives, %regex% and JSON ({ $.field = ... }); space-delimited patterns ([...]) are not supported",
            ));
        }
        let (mut all, mut none, mut any) = (Vec::new(), Vec::new(), Vec::new());
        let mut chars = t.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let kind = match first {
                '-' | '?' => chars.next(),
                _ => None,
            };
            let mut term = String::new();
            if chars.next_if_eq(&'"').is_some() {
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                term.push(n);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => term.push(c),
                    }
                }
                if !closed {
                    return Err(Error::invalid(format!(
                        "Invalid filter pattern {text:?}: a quoted phrase is not closed"
                    )));
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    term.push(c);
                }
            }
            match (kind, term.is_empty()) {
                // `""` alone matches every event.
                (None, true) => {}
                (Some(_), true) => {
                    return Err(Error::invalid(format!(
                        "Invalid filter pattern {text:?}: an empty term"
                    )));
                }
                (Some('-'), false) => none.push(term),
                (Some(_), false) => any.push(term),
                (None, false) => all.push(term),
            }
        }
        Ok(Pattern::Terms { all, none, any })
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Regex(r) => r.is_match(message),
            Pattern::Json(expr) => serde_json::from_str::<serde_json::Value>(message)
                .ok()
                .filter(serde_json::Value::is_object)
                .is_some_and(|v| expr.eval(&v)),
            Pattern::Terms { all, none, any } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && !none.iter().any(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
            }
        }
    }
}

impl Json {
    fn eval(&self, doc: &serde_json::Value) -> bool {
        use serde_json::Value;
        let select = |path: &[Step]| {
            path.iter().try_fold(doc, |v, step| match step {
                Step::Field(f) => v.get(f.as_str()),
                Step::Index(i) => v.get(*i),
            })
        };
        match self {
            Json::Or(all) => all.iter().any(|e| e.eval(doc)),
            Json::And(all) => all.iter().all(|e| e.eval(doc)),
            Json::NotExists(path) => select(path).is_none(),
            Json::Is(path, want) => match (select(path), want) {
                (Some(Value::Bool(b)), Some(w)) => b == w,
                (Some(Value::Null), None) => true,
                _ => false,
            },
            Json::Compare(path, op, literal) => {
                let Some(v) = select(path) else {
                    return false;
                };
                match literal {
                    Literal::Number(n) => {
                        let Some(x) = v.as_f64() else {
                            return false;
                        };
                        match op {
                            Op::Eq => x == *n,
                            Op::Ne => x != *n,
                            Op::Lt => x < *n,
                            Op::Le => x <= *n,
                            Op::Gt => x > *n,
                            Op::Ge => x >= *n,
                        }
                    }
                    Literal::Text(want) => {
                        let got = match v {
                            Value::String(s) => s.clone(),
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            _ => return false,
                        };
                        let equal = wildcard(want, &got);
                        if *op == Op::Eq { equal } else { !equal }
                    }
                }
            }
        }
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

struct JsonParser<'a> {
    text: &'a str,
    pos: usize,
}

impl JsonParser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// A keyword, case-insensitive, followed by a non-word character.
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_space();
        let rest = self.rest();
        let matches = rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if matches {
            self.pos += word.len();
        }
        matches
    }

    fn or(&mut self) -> Result<Json, String> {
        let mut all = vec![self.and()?];
        while self.eat("||") {
            all.push(self.and()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Json::Or(all)
        })
    }

    fn and(&mut self) -> Result<Json, String> {
        let mut all = vec![self.atom()?];
        while self.eat("&&") {
            all.push(self.atom()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Json::And(all)
        })
    }

    fn atom(&mut self) -> Result<Json, String> {
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err("a parenthesis is not closed".into());
            }
            return Ok(inner);
        }
        let path = self.selector()?;
        if self.keyword("IS") {
            return if self.keyword("TRUE") {
                Ok(Json::Is(path, Some(true)))
            } else if self.keyword("FALSE") {
                Ok(Json::Is(path, Some(false)))
            } else if self.keyword("NULL") {
                Ok(Json::Is(path, None))
            } else {
                Err("IS takes TRUE, FALSE or NULL".into())
            };
        }
        if self.keyword("NOT") {
            return if self.keyword("EXISTS") {
                Ok(Json::NotExists(path))
            } else {
                Err("NOT must be followed by EXISTS".into())
            };
        }
        let op = [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.eat(t))
        .map(|(_, op)| op)
        .ok_or("expected an operator (=, !=, <, <=, >, >=, IS, NOT EXISTS)")?;
        let literal = self.literal()?;
        if matches!(literal, Literal::Text(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err("<, <=, > and >= compare numbers".into());
        }
        Ok(Json::Compare(path, op, literal))
    }

    fn selector(&mut self) -> Result<Vec<Step>, String> {
        if !self.eat("$") {
            return Err(format!(
                "expected a selector ($.field) at {:?}",
                self.rest()
            ));
        }
        let mut path = Vec::new();
        loop {
            if self.rest().starts_with('.') {
                self.pos += 1;
                let name: String = self
                    .rest()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '@' | '$'))
                    .collect();
                if name.is_empty() {
                    return Err("a selector's field has no name".into());
                }
                self.pos += name.len();
                path.push(Step::Field(name));
            } else if self.rest().starts_with('[') {
                self.pos += 1;
                let digits: String = self
                    .rest()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                self.pos += digits.len();
                if !self.rest().starts_with(']') {
                    return Err("an array index is not closed".into());
                }
                self.pos += 1;
                path.push(Step::Index(
                    digits.parse().map_err(|_| "a bad array index")?,
                ));
            } else {
                break;
            }
        }
        if path.is_empty() {
            return Err("a selector names no field".into());
        }
        Ok(path)
    }

    fn literal(&mut self) -> Result<Literal, String> {
        self.skip_space();
        if self.eat("\"") {
            let mut out = String::new();
            let mut chars = self.rest().char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        self.pos += i + 1;
                        return Ok(Literal::Text(out));
                    }
                    c => out.push(c),
                }
            }
            return Err("a quoted string is not closed".into());
        }
        let word: String = self
            .rest()
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '&' | '|' | ')'))
            .collect();
        if word.is_empty() {
            return Err("a comparison has no value".into());
        }
        self.pos += word.len();
        Ok(match word.parse::<f64>() {
            Ok(n) if n.is_finite() => Literal::Number(n),
            _ => Literal::Text(word),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pattern` against each `(message, matches)`; `Err(prefix)` for a refused pattern.
    #[track_caller]
    fn check(pattern: &str, cases: Result<&[(&str, bool)], &str>) {
        match (Pattern::parse(pattern), cases) {
            (Ok(p), Ok(cases)) => {
                for (message, want) in cases {
                    assert_eq!(p.matches(message), *want, "{pattern:?} on {message:?}");
                }
            }
            (Err(e), Err(prefix)) => {
                assert!(e.to_string().contains(prefix), "{pattern:?}: {e}")
            }
            (got, want) => panic!("{pattern:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn filter_patterns() {
        check("", Ok(&[("anything", true), ("", true)]));
        check("   ", Ok(&[("x", true)]));
        check("\"\"", Ok(&[("x", true)]));
        check(
            "ERROR",
            Ok(&[
                ("[ERROR] disk full", true),
                ("error: lower case", false),
                ("INFO ok", false),
            ]),
        );
        check(
            "ERROR Exception",
            Ok(&[
                ("ERROR java.lang.Exception", true),
                ("ERROR only", false),
                ("Exception only", false),
            ]),
        );
        check(
            "\"disk full\"",
            Ok(&[("ERROR disk full", true), ("full disk", false)]),
        );
        check(
            "ERROR -MainThread",
            Ok(&[
                ("ERROR in worker", true),
                ("ERROR in MainThread", false),
                ("MainThread", false),
            ]),
        );
        check(
            "?ERROR ?WARN",
            Ok(&[("ERROR x", true), ("WARN y", true), ("INFO z", false)]),
        );
        check(
            "START ?\"Version: $LATEST\" ?Init -debug",
            Ok(&[
                ("START RequestId: 1 Version: $LATEST", true),
                ("START Init", true),
                ("START nothing", false),
                ("START Init debug", false),
            ]),
        );
        check(
            "-\"two words\"",
            Ok(&[("one two words", false), ("two and words", true)]),
        );
        check(
            "\"say \\\"hi\\\"\"",
            Ok(&[("they say \"hi\"", true), ("say hi", false)]),
        );
        check(
            "%REPORT.*Duration: [0-9]+%",
            Ok(&[
                ("REPORT RequestId: x\tDuration: 12.3 ms", true),
                ("START RequestId", false),
            ]),
        );
        check("\"unclosed", Err("not closed"));
        check("ERROR -", Err("empty term"));
        check("%(%", Err("Invalid regex"));
        check("[ip, user]", Err("space-delimited"));
        let doc = r#"{"level":"ERROR","code":503,"user":{"id":"u-42","admin":true},"tags":["a","b"],"gone":null}"#;
        let doc_nl = format!("{doc}\n");
        #[track_caller]
        fn json(pattern: &str, doc: &str, want: bool) {
            check(pattern, Ok(&[(doc, want)]));
        }
        json("{ $.level = \"ERROR\" }", doc, true);
        json("{ $.level = \"ERROR\" }", &doc_nl, true);
        json("{ $.level = ERROR }", doc, true);
        json("{$.level=\"WARN\"}", doc, false);
        json("{ $.level != \"WARN\" }", doc, true);
        json("{ $.level = ERR* }", doc, true);
        json("{ $.user.id = \"u-*\" }", doc, true);
        json("{ $.user.id = *x* }", doc, false);
        json("{ $.code >= 500 }", doc, true);
        json("{ $.code < 500 }", doc, false);
        json("{ $.code = 503 }", doc, true);
        json("{ $.code != 503 }", doc, false);
        json("{ $.level > 5 }", doc, false);
        json("{ $.tags[1] = \"b\" }", doc, true);
        json("{ $.tags[2] = \"b\" }", doc, false);
        json("{ $.user.admin IS TRUE }", doc, true);
        json("{ $.user.admin is false }", doc, false);
        json("{ $.gone IS NULL }", doc, true);
        json("{ $.missing NOT EXISTS }", doc, true);
        json("{ $.level NOT EXISTS }", doc, false);
        json("{ $.missing = \"x\" }", doc, false);
        json("{ $.level = \"WARN\" || $.code = 503 }", doc, true);
        json("{ $.level = \"WARN\" && $.code = 503 }", doc, false);
        json(
            "{ ($.level = \"WARN\" || $.level = \"ERROR\") && ($.code > 500) }",
            doc,
            true,
        );
        json("{ $.level = \"ERROR\" }", "ERROR but not JSON", false);
        json("{ $.level = \"ERROR\" }", "[1, 2]", false);
        check("{ $.level = }", Err("no value"));
        check("{ level = 1 }", Err("selector"));
        check("{ $.a = 1 ", Err("closing"));
        check("{ ($.a = 1 }", Err("not closed"));
        check("{ $.a > \"x\" }", Err("compare numbers"));
        check("{ $.a ~ 1 }", Err("operator"));
        check("{ $.a = 1 $.b = 2 }", Err("unexpected"));
    }
}
