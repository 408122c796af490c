//! WAF text transformations (`TextTransformations[].Type`), applied in priority order before
//! a match statement inspects a value. Semantics follow the WAF guide:
//! <https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-transformation.html>.
//! Pure byte functions: they never fail and never panic on any input.

use std::borrow::Cow;

use base64::Engine as _;
use md5::Digest as _;

/// One transformation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Transformation {
    None,
    CompressWhiteSpace,
    HtmlEntityDecode,
    Lowercase,
    CmdLine,
    UrlDecode,
    UrlDecodeUni,
    Base64Decode,
    Base64DecodeExt,
    HexDecode,
    Md5,
    ReplaceComments,
    EscapeSeqDecode,
    SqlHexDecode,
    CssDecode,
    JsDecode,
    NormalizePath,
    NormalizePathWin,
    RemoveNulls,
    ReplaceNulls,
    #[serde(rename = "UTF8_TO_UNICODE")]
    Utf8ToUnicode,
}

impl Transformation {
    /// Applies this transformation to `input`.
    pub fn apply(self, input: &[u8]) -> Vec<u8> {
        match self {
            Transformation::None => input.to_vec(),
            Transformation::CompressWhiteSpace => compress_white_space(input),
            Transformation::HtmlEntityDecode => html_entity_decode(input),
            Transformation::Lowercase => input.to_ascii_lowercase(),
            Transformation::CmdLine => cmd_line(input),
            Transformation::UrlDecode => url_decode(input, false),
            Transformation::UrlDecodeUni => url_decode_uni(input),
            Transformation::Base64Decode => base64_decode(input, false),
            Transformation::Base64DecodeExt => base64_decode(input, true),
            Transformation::HexDecode => hex_decode(input),
            Transformation::Md5 => md5::Md5::digest(input).to_vec(),
            Transformation::ReplaceComments => replace_comments(input),
            Transformation::EscapeSeqDecode => escape_seq_decode(input),
            Transformation::SqlHexDecode => sql_hex_decode(input),
            Transformation::CssDecode => css_decode(input),
            Transformation::JsDecode => js_decode(input),
            Transformation::NormalizePath => normalize_path(input, false),
            Transformation::NormalizePathWin => normalize_path(input, true),
            Transformation::RemoveNulls => input.iter().copied().filter(|b| *b != 0).collect(),
            Transformation::ReplaceNulls => input
                .iter()
                .map(|b| if *b == 0 { b' ' } else { *b })
                .collect(),
            Transformation::Utf8ToUnicode => utf8_to_unicode(input),
        }
    }
}

impl Transformation {
    /// Whether applying `self` to `input` certainly gives `input` back (checked by a scan
    /// for the bytes the transformation rewrites; `false` when that is not cheap to know).
    pub fn leaves_unchanged(self, input: &[u8]) -> bool {
        match self {
            Transformation::None => true,
            Transformation::Lowercase => !input.iter().any(u8::is_ascii_uppercase),
            Transformation::UrlDecode | Transformation::UrlDecodeUni => {
                !input.iter().any(|b| matches!(b, b'%' | b'+'))
            }
            Transformation::HtmlEntityDecode => !input.contains(&b'&'),
            Transformation::CompressWhiteSpace => {
                !input
                    .iter()
                    .any(|b| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0))
                    && !input.windows(2).any(|w| w == b"  ")
            }
            Transformation::RemoveNulls | Transformation::ReplaceNulls => !input.contains(&0),
            Transformation::Utf8ToUnicode => input.is_ascii(),
            _ => false,
        }
    }
}

/// Applies a sequence of transformations in order; a value no transformation changes is
/// not copied (most values of most requests: no `%`, no upper case, no `&`).
pub fn apply_all<'a>(list: &[Transformation], input: &'a [u8]) -> Cow<'a, [u8]> {
    let mut value = Cow::Borrowed(input);
    for t in list {
        if !t.leaves_unchanged(&value) {
            value = Cow::Owned(t.apply(&value));
        }
    }
    value
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_run(input: &[u8], start: usize, len: usize) -> Option<u32> {
    let digits = input.get(start..start + len)?;
    digits
        .iter()
        .try_fold(0u32, |acc, b| Some(acc * 16 + u32::from(hex_val(*b)?)))
}

fn push_char(out: &mut Vec<u8>, code: u32) {
    match char::from_u32(code) {
        Some(c) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        None => out.push(b'?'),
    }
}

/// URL_DECODE_UNI as AWS defines it: URL_DECODE plus Microsoft's `%uXXXX`, where a code in
/// the full-width ASCII range U+FF01–U+FF5E becomes its ASCII character and any other code
/// keeps only its lower byte (`%u0041` is `A`, `%u2215` is the control byte 0x15). The managed
/// rules' own normalisation (`inspect`) decodes `%u` to the whole code point instead and folds
/// look-alike characters: see `inspect::fold_path_chars`.
fn url_decode_uni(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%'
            && matches!(input.get(i + 1), Some(b'u' | b'U'))
            && let Some(code) = hex_run(input, i + 2, 4)
        {
            out.push(if (0xFF01..=0xFF5E).contains(&code) {
                (code - 0xFEE0) as u8
            } else {
                (code & 0xFF) as u8
            });
            i += 6;
            continue;
        }
        if b == b'%'
            && let Some(v) = hex_run(input, i + 1, 2)
        {
            out.push(v as u8);
            i += 3;
            continue;
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

/// `%XX` (and `+` as space) decoding; with `uni`, also `%uXXXX` to the whole code point
/// (full-width ASCII folded to ASCII). Invalid escapes stay as-is.
pub fn url_decode(input: &[u8], uni: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%' {
            if uni
                && matches!(input.get(i + 1), Some(b'u' | b'U'))
                && let Some(code) = hex_run(input, i + 2, 4)
            {
                // IIS %uXXXX: full-width ASCII (U+FF01..U+FF5E) maps back to ASCII, like WAF.
                let code = if (0xFF01..=0xFF5E).contains(&code) {
                    code - 0xFEE0
                } else {
                    code
                };
                push_char(&mut out, code);
                i += 6;
                continue;
            }
            if let Some(v) = hex_run(input, i + 1, 2) {
                out.push(v as u8);
                i += 3;
                continue;
            }
            out.push(b);
        } else if b == b'+' {
            out.push(b' ');
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

fn compress_white_space(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut in_space = false;
    for &b in input {
        // WAF's white space set: tab, LF, VT, FF, CR, space and NBSP (0xA0).
        if matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0xa0) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(b);
            in_space = false;
        }
    }
    out
}

const NAMED_ENTITIES: &[(&str, &str)] = &[
    ("quot", "\""),
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("apos", "'"),
    ("nbsp", "\u{a0}"),
    ("colon", ":"),
    ("sol", "/"),
    ("bsol", "\\"),
    ("lpar", "("),
    ("rpar", ")"),
    ("tab", "\t"),
    ("newline", "\n"),
    ("semi", ";"),
    ("equals", "="),
    ("grave", "`"),
    ("period", "."),
    ("comma", ","),
    ("excl", "!"),
    ("num", "#"),
    ("percnt", "%"),
    ("plus", "+"),
    ("lsqb", "["),
    ("rsqb", "]"),
    ("lcub", "{"),
    ("rcub", "}"),
    ("dollar", "$"),
];

/// A numeric character reference, read from what follows its `&#` (`x3c;`, `0000060`).
pub(crate) struct NumericRef<'a> {
    /// Written in hexadecimal (`&#x…`).
    pub hex: bool,
    /// Its digits: at least one.
    pub digits: &'a [u8],
    /// Whether a `;` closes it.
    pub terminated: bool,
}

impl NumericRef<'_> {
    /// The reference at the start of `rest` (the text after `&#`), if it has a digit.
    pub(crate) fn parse(rest: &[u8]) -> Option<NumericRef<'_>> {
        let hex = matches!(rest.first(), Some(b'x' | b'X'));
        let after = rest.get(usize::from(hex)..).unwrap_or_default();
        let n = after
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        (n > 0).then(|| NumericRef {
            hex,
            digits: after.get(..n).unwrap_or_default(),
            terminated: after.get(n) == Some(&b';'),
        })
    }

    /// How many bytes of `rest` it spans (the `x`, the digits and the `;`).
    pub(crate) fn len(&self) -> usize {
        usize::from(self.hex) + self.digits.len() + usize::from(self.terminated)
    }

    /// The code point it names, when that fits a `u32`.
    pub(crate) fn code(&self) -> Option<u32> {
        let text = std::str::from_utf8(self.digits).ok()?;
        u32::from_str_radix(text, if self.hex { 16 } else { 10 }).ok()
    }
}

/// HTML entities: `&lt;`, `&#60;`, `&#x3c;`, with or without the closing `;`.
pub fn html_entity_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'&' {
            let rest = input.get(i + 1..).unwrap_or_default();
            if rest.first() == Some(&b'#') {
                if let Some(r) = NumericRef::parse(rest.get(1..).unwrap_or_default()) {
                    push_char(&mut out, r.code().unwrap_or(0xfffd));
                    // `&`, `#`, then the reference.
                    i += 2 + r.len();
                    continue;
                }
            } else {
                let name_len = rest
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let name = rest.get(..name_len).unwrap_or_default();
                if let Some((_, text)) = NAMED_ENTITIES
                    .iter()
                    .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
                {
                    out.extend_from_slice(text.as_bytes());
                    i += 1 + name_len + usize::from(rest.get(name_len) == Some(&b';'));
                    continue;
                }
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// CMD_LINE: deletes `\ " ' ^`, deletes spaces before `/` and `(`, turns `,` and `;` into a
/// space, compresses white space, lowercases.
fn cmd_line(input: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    for &b in input {
        match b {
            b'\\' | b'"' | b'\'' | b'^' => {}
            b'/' | b'(' => {
                while out.last() == Some(&b' ') {
                    out.pop();
                }
                out.push(b);
            }
            b',' | b';' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                if out.last() != Some(&b' ') {
                    out.push(b' ');
                }
            }
            _ => out.push(b.to_ascii_lowercase()),
        }
    }
    out
}

fn base64_decode(input: &[u8], ext: bool) -> Vec<u8> {
    let cleaned: Vec<u8> = if ext {
        // BASE64_DECODE_EXT ignores characters outside the alphabet.
        input
            .iter()
            .copied()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
            .collect()
    } else {
        input.iter().copied().take_while(|b| *b != b'=').collect()
    };
    let cfg = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let standard = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
    let url = base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg);
    standard
        .decode(&cleaned)
        .or_else(|_| url.decode(&cleaned))
        .unwrap_or_else(|_| input.to_vec())
}

fn hex_decode(input: &[u8]) -> Vec<u8> {
    input
        .chunks(2)
        .map_while(|pair| match pair {
            [a, b] => Some(hex_val(*a)? * 16 + hex_val(*b)?),
            _ => None,
        })
        .collect()
}

/// REPLACE_COMMENTS: `/* … */` (even unterminated) becomes a space; `--` and `#` to the end
/// of the value are removed.
fn replace_comments(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'/' && input.get(i + 1) == Some(&b'*') {
            let end = input
                .get(i + 2..)
                .and_then(|r| r.windows(2).position(|w| w == b"*/"))
                .map_or(input.len(), |p| i + 2 + p + 2);
            out.push(b' ');
            i = end;
            continue;
        }
        if (b == b'-' && input.get(i + 1) == Some(&b'-')) || b == b'#' {
            break;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// ESCAPE_SEQ_DECODE: ANSI C escapes (`\n`, `\x41`, `\101`).
fn escape_seq_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'\\'
            && let Some(&n) = input.get(i + 1)
        {
            let simple = match n {
                b'a' => Some(7),
                b'b' => Some(8),
                b'f' => Some(12),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'v' => Some(11),
                b'\\' | b'?' | b'\'' | b'"' => Some(n),
                _ => None,
            };
            if let Some(c) = simple {
                out.push(c);
                i += 2;
                continue;
            }
            if n == b'x'
                && let Some(v) = hex_run(input, i + 2, 2)
            {
                out.push(v as u8);
                i += 4;
                continue;
            }
            let oct = input
                .get(i + 1..)
                .unwrap_or_default()
                .iter()
                .take(3)
                .take_while(|c| (b'0'..=b'7').contains(c))
                .fold((0u32, 0usize), |(v, n), c| {
                    (v * 8 + u32::from(c - b'0'), n + 1)
                });
            if oct.1 > 0 {
                out.push((oct.0 & 0xff) as u8);
                i += 1 + oct.1;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// SQL_HEX_DECODE: `0x414243` becomes `ABC`.
fn sql_hex_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'0' && matches!(input.get(i + 1), Some(b'x' | b'X')) {
            let digits = input
                .get(i + 2..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if digits >= 2 {
                let pairs = digits / 2;
                for k in 0..pairs {
                    if let Some(v) = hex_run(input, i + 2 + 2 * k, 2) {
                        out.push(v as u8);
                    }
                }
                i += 2 + pairs * 2;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// CSS_DECODE: `\HHHHHH` escapes (1-6 hex digits, optional following space) and `\c` → `c`.
fn css_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'\\'
            && let Some(&n) = input.get(i + 1)
        {
            let digits = input
                .get(i + 1..)
                .unwrap_or_default()
                .iter()
                .take(6)
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if digits > 0 {
                let code = hex_run(input, i + 1, digits).unwrap_or(0xfffd);
                // Full-width ASCII folds back, as WAF and ModSecurity do.
                let code = if (0xFF01..=0xFF5E).contains(&code) {
                    code - 0xFEE0
                } else {
                    code
                };
                push_char(&mut out, code);
                i += 1 + digits;
                if input.get(i) == Some(&b' ') {
                    i += 1;
                }
                continue;
            }
            if n != b'\n' {
                out.push(n);
            }
            i += 2;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// JS_DECODE: `\uHHHH`, `\xHH`, `\OOO` and the single-character escapes.
fn js_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'\\'
            && matches!(input.get(i + 1), Some(b'u'))
            && let Some(code) = hex_run(input, i + 2, 4)
        {
            let code = if (0xFF01..=0xFF5E).contains(&code) {
                code - 0xFEE0
            } else {
                code
            };
            push_char(&mut out, code);
            i += 6;
            continue;
        }
        out.push(b);
        i += 1;
    }
    escape_seq_decode(&out)
}

/// NORMALIZE_PATH: collapses `//`, removes `./` segments and resolves `../`; back-references
/// at the beginning of the input (nothing left to resolve them against) stay in a relative
/// path and go in an absolute one (`a/../../b` is `../b`, `/../b` is `/b`), as AWS's
/// definition says. The WIN variant first turns `\` into `/`.
fn normalize_path(input: &[u8], win: bool) -> Vec<u8> {
    let owned: Vec<u8>;
    let input = if win {
        owned = input
            .iter()
            .map(|b| if *b == b'\\' { b'/' } else { *b })
            .collect();
        &owned[..]
    } else {
        input
    };
    let absolute = input.first() == Some(&b'/');
    let trailing = input.last() == Some(&b'/');
    let mut segments: Vec<&[u8]> = Vec::new();
    for seg in input.split(|b| *b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if segments.last().is_some_and(|s| *s != b"..") {
                    segments.pop();
                } else if !absolute {
                    segments.push(b"..");
                }
            }
            s => segments.push(s),
        }
    }
    let mut out = Vec::with_capacity(input.len());
    if absolute {
        out.push(b'/');
    }
    out.extend_from_slice(&segments.join(&b'/'));
    if trailing && !segments.is_empty() {
        out.push(b'/');
    }
    out
}

/// UTF8_TO_UNICODE: every non-ASCII character becomes `%uHHHH`.
fn utf8_to_unicode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for chunk in input.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii() {
                out.push(c as u8);
            } else {
                out.extend_from_slice(format!("%u{:04x}", u32::from(c)).as_bytes());
            }
        }
        out.extend_from_slice(chunk.invalid());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Transformation; 21] = [
        Transformation::None,
        Transformation::CompressWhiteSpace,
        Transformation::HtmlEntityDecode,
        Transformation::Lowercase,
        Transformation::CmdLine,
        Transformation::UrlDecode,
        Transformation::UrlDecodeUni,
        Transformation::Base64Decode,
        Transformation::Base64DecodeExt,
        Transformation::HexDecode,
        Transformation::Md5,
        Transformation::ReplaceComments,
        Transformation::EscapeSeqDecode,
        Transformation::SqlHexDecode,
        Transformation::CssDecode,
        Transformation::JsDecode,
        Transformation::NormalizePath,
        Transformation::NormalizePathWin,
        Transformation::RemoveNulls,
        Transformation::ReplaceNulls,
        Transformation::Utf8ToUnicode,
    ];

    /// Bytes that are mostly plain, with the ones transformations rewrite mixed in.
    fn value() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => prop::sample::select(b"abcXYZ019/._-;=".to_vec()),
            1 => prop::sample::select(b"%+& \t\n\r\x0b\x0c\xa0\x00#u".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..24)
    }

    proptest! {
        /// `leaves_unchanged` never claims a value is kept that the transformation changes,
        /// so `apply_all` (which skips those) gives what applying every step gives.
        #[test]
        fn skipping_unchanged_values_changes_nothing(
            v in value(),
            list in prop::collection::vec(prop::sample::select(ALL.to_vec()), 0..4),
        ) {
            for t in ALL {
                if t.leaves_unchanged(&v) {
                    prop_assert_eq!(t.apply(&v), v.clone(), "{:?}", t);
                }
            }
            let mut each = v.clone();
            for t in &list {
                each = t.apply(&each);
            }
            prop_assert_eq!(apply_all(&list, &v).into_owned(), each);
        }
    }

    /// Plain values are borrowed, not copied.
    #[test]
    fn plain_values_are_not_copied() {
        let list = [
            Transformation::UrlDecode,
            Transformation::HtmlEntityDecode,
            Transformation::Lowercase,
            Transformation::CompressWhiteSpace,
        ];
        assert!(matches!(
            apply_all(&list, b"/images/logo.png"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(apply_all(&list, b"a%20b"), Cow::Owned(_)));
    }
}
