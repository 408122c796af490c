//! Splits expression text into tokens with their byte spans.
//!
//! Owns: the token set shared by every expression kind. Must not: interpret keywords in
//! context (the parser decides whether an identifier is a keyword, function or name).

/// A token kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word: attribute name, keyword or function name.
    Ident,
    /// `#name`.
    Name,
    /// `:value`.
    Value,
    /// A run of digits (list indexes).
    Int,
    /// Punctuation and operators: `= <> < <= > >= ( ) [ ] , . + -`.
    Punct(&'static str),
    /// A character that starts no token.
    Unknown,
    Eof,
}

/// A token and where it is in the source.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Tokenizes `src`; always ends with an `Eof` token. Never fails: unknown characters become
/// `Unknown` tokens, which the parser reports as syntax errors with context.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let word_end = |from: usize| {
            let mut j = from;
            while b.get(j).copied().is_some_and(is_word) {
                j += 1;
            }
            j
        };
        let (tok, end) = match c {
            b'#' | b':' => {
                let end = word_end(i + 1);
                if end == i + 1 {
                    (Tok::Unknown, i + 1)
                } else if c == b'#' {
                    (Tok::Name, end)
                } else {
                    (Tok::Value, end)
                }
            }
            b'0'..=b'9' => {
                let mut j = i;
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
                // "1abc" is one malformed word, not a number followed by a name.
                if b.get(j).copied().is_some_and(is_word) {
                    (Tok::Unknown, word_end(j))
                } else {
                    (Tok::Int, j)
                }
            }
            c if c.is_ascii_alphabetic() => (Tok::Ident, word_end(i)),
            // A bare attribute name starts with a letter; "_a" needs a `#name` placeholder.
            b'_' => (Tok::Unknown, word_end(i)),
            b'<' => match b.get(i + 1) {
                Some(b'>') => (Tok::Punct("<>"), i + 2),
                Some(b'=') => (Tok::Punct("<="), i + 2),
                _ => (Tok::Punct("<"), i + 1),
            },
            b'>' => match b.get(i + 1) {
                Some(b'=') => (Tok::Punct(">="), i + 2),
                _ => (Tok::Punct(">"), i + 1),
            },
            b'=' => (Tok::Punct("="), i + 1),
            b'(' => (Tok::Punct("("), i + 1),
            b')' => (Tok::Punct(")"), i + 1),
            b'[' => (Tok::Punct("["), i + 1),
            b']' => (Tok::Punct("]"), i + 1),
            b',' => (Tok::Punct(","), i + 1),
            b'.' => (Tok::Punct("."), i + 1),
            b'+' => (Tok::Punct("+"), i + 1),
            b'-' => (Tok::Punct("-"), i + 1),
            _ => {
                // One whole (possibly multi-byte) character.
                let len = src
                    .get(i..)
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                (Tok::Unknown, i + len)
            }
        };
        out.push(Token { tok, start, end });
        i = end;
    }
    out.push(Token {
        tok: Tok::Eof,
        start: b.len(),
        end: b.len(),
    });
    out
}
