//! Filter patterns for unstructured events, as FilterLogEvents reads them
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html>):
//!
//! - empty: every event;
//! - terms separated by spaces, each one a word or a `"quoted phrase"`: every term must occur in
//!   the message (case-sensitive);
//! - `-term` / `-"phrase"`: the term must not occur;
//! - `?term` / `?"phrase"`: at least one of the `?` terms must occur (`?ERROR ?WARN`);
//! - `%regex%`: the message matches the regular expression.
//!
//! JSON (`{ $.field = ... }`) and space-delimited (`[a, b, ...]`) patterns are refused with
//! `InvalidParameterException` naming what is supported.

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
        if t.starts_with('{') || t.starts_with('[') {
            return Err(Error::invalid(
                "nuvem supports filter patterns of terms, \"quoted phrases\", -exclusions, ?alternatives and %regex%; JSON ({ $.field = ... }) and space-delimited ([...]) patterns are not supported",
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
            Pattern::Terms { all, none, any } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && !none.iter().any(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
            }
        }
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
        check("{ $.level = \"ERROR\" }", Err("JSON"));
        check("[ip, user]", Err("space-delimited"));
    }
}
