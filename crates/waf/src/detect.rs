//! Attack detectors: SQL injection and XSS through libinjection's tokenizer and fingerprints
//! (the `libinjectionrs` port), plus nuvem's own detectors for the other families attackers
//! send (traversal/LFI, RFI, unix and windows command injection, PowerShell, SSTI, Log4j,
//! PHP, XXE, SSRF, Java, Node.js, session fixation, script without a tag, header injection,
//! LDAP and NoSQL injection). Input is one already-decoded value; decoding lives in `inspect`.
//! Must not allocate per pattern or backtrack: one `RegexSet` pass per value.

use std::sync::OnceLock;

use regex::bytes::RegexSet;

/// An attack family. Bits of a `Families` mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Family {
    Sqli = 1,
    Xss = 1 << 1,
    Traversal = 1 << 2,
    Rfi = 1 << 3,
    CommandInjection = 1 << 4,
    Ssti = 1 << 5,
    Log4j = 1 << 6,
    Php = 1 << 7,
    Xxe = 1 << 8,
    Ssrf = 1 << 9,
    Java = 1 << 10,
    NodeJs = 1 << 11,
    /// Extra SQL patterns beyond libinjection (SqliMatch sensitivity HIGH).
    SqliHigh = 1 << 12,
    /// A session identifier planted through the URL or a form (set by `inspect`, which knows
    /// argument names and the Referer).
    SessionFixation = 1 << 13,
    /// A file upload (or upload name) with a server-executable extension or a session file name.
    DangerousUpload = 1 << 14,
    /// JavaScript that runs without a tag: dialogs and `eval` called indirectly, names built
    /// from string pieces, the Function constructor (`confirm.call(null,1)`, `(alert)(1)`).
    JsExec = 1 << 15,
    /// CR/LF followed by a response header or status line (response splitting).
    HeaderInjection = 1 << 16,
    /// LDAP filter injection (`*)(uid=*))(|(uid=*`, `admin)(&)`).
    Ldap = 1 << 17,
    /// MongoDB query operators where a value belongs (`user[$ne]=x`, `{"$where": …}`).
    NoSql = 1 << 18,
    /// cmd.exe commands and batch syntax (the Windows rule group).
    WindowsCommand = 1 << 19,
    /// PowerShell one-liners (the Windows rule group).
    PowerShell = 1 << 20,
}

/// A set of families, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Families(pub u32);

impl Families {
    pub fn has(self, f: Family) -> bool {
        self.0 & f as u32 != 0
    }
    pub fn add(&mut self, f: Family) {
        self.0 |= f as u32;
    }
    pub fn remove(&mut self, f: Family) {
        self.0 &= !(f as u32);
    }
}

// Patterns run on the lowercased, decoded value. Each is written for a family, not for a
// single payload; the comments say what a pattern is about.
mod code;
mod os;
mod sql;
mod web;
mod xss;

pub(crate) use web::MONGO_OPERATOR_NAME;

/// Every family's patterns, one list per area (the files next to this one).
fn patterns() -> impl Iterator<Item = &'static (Family, &'static str)> {
    os::PATTERNS
        .iter()
        .chain(code::PATTERNS)
        .chain(xss::PATTERNS)
        .chain(sql::PATTERNS)
        .chain(web::PATTERNS)
}

fn pattern_set() -> &'static (RegexSet, Vec<Family>) {
    static SET: OnceLock<(RegexSet, Vec<Family>)> = OnceLock::new();
    SET.get_or_init(|| {
        let set = regex::bytes::RegexSetBuilder::new(patterns().map(|(_, p)| format!("(?-u){p}")))
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .unwrap_or_else(|e| panic!("built-in WAF patterns must compile: {e}"));
        (set, patterns().map(|(f, _)| *f).collect())
    })
}

/// libinjection's SQLi verdict (tokenizer + fingerprint list).
pub fn is_sqli(value: &[u8]) -> bool {
    !value.is_empty() && libinjectionrs::detect_sqli(value).is_injection()
}

/// Fingerprints libinjection gives ordinary text: a function-named word over a parenthesised
/// bare word (`if (x) then y`, `Left (WA, RR), …`, `cos (x) took`), a word then a
/// function-named word over a number and `%` (`One quarter (24%) of …`), a number that closes a
/// parenthesis and is followed by `-number` (the phone number `(0752)-260749`).
const TEXT_FINGERPRINTS: &[&str] = &["f(n)k", "f(n)n", "f(n),", "nf(1o", "1)o1"];

/// libinjection's SQLi verdict for the managed rule groups: `is_sqli` less the shapes of
/// ordinary text. A detection is dropped only when its fingerprint is one of
/// `TEXT_FINGERPRINTS` and the value has none of the characters an injection needs to leave a
/// literal or start a clause (quotes, backtick, `;`, `=`, `@`, `#`, `|`, `&`, `<`, `>`, `\`,
/// `--`, `/*`). `is_sqli` stays the pure libinjection verdict (user `SqliMatchStatement`s and
/// the differential test against the C library use it).
fn sqli_verdict(value: &[u8]) -> bool {
    if value.is_empty() {
        return false;
    }
    let result = libinjectionrs::detect_sqli(value);
    if !result.is_injection() {
        return false;
    }
    let text_shape = result
        .fingerprint
        .as_ref()
        .is_some_and(|fp| TEXT_FINGERPRINTS.contains(&fp.as_str()));
    !text_shape || has_sql_syntax(value)
}

/// True when `value` has a character that can end a string literal or start an SQL clause.
fn has_sql_syntax(value: &[u8]) -> bool {
    value.iter().any(|b| {
        matches!(
            b,
            b'\'' | b'"' | b'`' | b';' | b'=' | b'@' | b'#' | b'|' | b'&' | b'<' | b'>' | b'\\'
        )
    }) || value.windows(2).any(|w| w == b"--" || w == b"/*")
}

/// libinjection's XSS verdict (HTML5 tokenizer in every quoting context).
pub fn is_xss(value: &[u8]) -> bool {
    !value.is_empty() && libinjectionrs::detect_xss(value).is_injection()
}

/// The families whose patterns match `lower` (no tokenizers): for text recovered from a
/// second decoding (base64), where libinjection's verdicts on binary noise mean nothing.
pub fn pattern_families(lower: &[u8]) -> Families {
    let mut out = Families::default();
    let (set, fams) = pattern_set();
    for i in set.matches(lower).iter() {
        if let Some(f) = fams.get(i) {
            out.add(*f);
        }
    }
    out
}

/// Every family whose patterns match the lowercased, decoded `lower`; `raw` (decoded, original
/// case) feeds libinjection.
pub fn families(raw: &[u8], lower: &[u8]) -> Families {
    let mut out = Families::default();
    if raw.is_empty() {
        return out;
    }
    let (set, fams) = pattern_set();
    for i in set.matches(lower).iter() {
        if let Some(f) = fams.get(i) {
            out.add(*f);
        }
    }
    // Pure alphanumeric values cannot carry any of these attacks: skip the tokenizers.
    if raw.iter().any(|b| !b.is_ascii_alphanumeric() && *b != b' ') {
        if sqli_verdict(raw) {
            out.add(Family::Sqli);
        }
        if may_be_xss(raw) && is_xss(raw) {
            out.add(Family::Xss);
        }
    }
    out
}

/// libinjection's XSS check reports a tag, comment or doctype (all need `<`) or a dangerous
/// attribute with a value (needs `=`): without either byte it cannot say yes, so the HTML5
/// tokenizer's five passes are skipped (a User-Agent, most prose). Checked against the C
/// library on the CRS corpus and random strings, and by `xss_needs_a_tag_or_an_attribute`.
pub(crate) fn may_be_xss(raw: &[u8]) -> bool {
    raw.iter().any(|b| matches!(b, b'<' | b'='))
}

#[cfg(test)]
mod tests {
    use super::{is_xss, may_be_xss};

    /// The prefilter never hides an XSS verdict: random strings over the tokens libinjection's
    /// HTML5 tokenizer reacts to, with and without `<`/`=`.
    #[test]
    fn xss_needs_a_tag_or_an_attribute() {
        const TOKENS: &[&str] = &[
            "on",
            "onerror",
            "onload",
            "javascript:",
            "vbscript:",
            "data:",
            "\"",
            "'",
            "`",
            " ",
            "\t",
            "\n",
            "/",
            ">",
            "&",
            "!",
            "-",
            "?",
            "x",
            "style",
            "src",
            "href",
            "xmlns",
            "formaction",
            "(",
            ")",
            "alert",
            "1",
            ";",
            "#",
            "\\",
            "\0",
            "\x0b",
            "\x0c",
            "%",
            "[",
            "]",
            "{",
            "}",
            "+",
            ".",
            ":",
            "script",
            "svg",
            "img",
            "<",
            "=",
            "<!",
            "<?",
            "</",
            "=\"",
        ];
        // A fixed xorshift stream: the same strings on every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut flagged, mut tried) = (0, 0);
        for _ in 0..100_000 {
            let len = 1 + (next() % 10) as usize;
            let value: String = (0..len)
                .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize])
                .collect();
            tried += 1;
            if is_xss(value.as_bytes()) {
                flagged += 1;
                assert!(
                    may_be_xss(value.as_bytes()),
                    "{value:?} is XSS without < or ="
                );
            }
        }
        assert!(
            flagged > tried / 100,
            "the generator must produce XSS ({flagged}/{tried})"
        );
    }
}
