//! The managed rules' view of a request: every value an attacker controls, grouped by where
//! it arrived (URI path, query arguments, body, cookies, headers), decoded the way a backend
//! would decode it (URL, `%u`, HTML entities, JS escapes, JSON strings, multipart fields),
//! with the attack families found in each; base64-looking tokens are also decoded at every
//! alignment, and argument names are checked for planted session identifiers and dangerous
//! upload names. Built once per request, only when a managed rule needs it. Must not look at
//! rule configuration.

use base64::Engine as _;
use regex::bytes::Regex;
use std::sync::OnceLock;

use crate::detect::{Families, Family, families, pattern_families};
use crate::fields::body_fields;
use crate::request::Request;
use crate::transform::{Transformation, html_entity_decode, url_decode};

/// Where a value arrived; managed rules are named after these (AWS's `_QUERYARGUMENTS` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    UriPath,
    QueryArguments,
    Body,
    Cookie,
    Header,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::UriPath => "URIPATH",
            Location::QueryArguments => "QUERYARGUMENTS",
            Location::Body => "BODY",
            Location::Cookie => "COOKIE",
            Location::Header => "HEADER",
        }
    }
}

/// One inspected value and what was found in it.
#[derive(Debug)]
pub struct Inspected {
    pub location: Location,
    /// The field name (argument, cookie or header name), for sampled requests.
    pub name: String,
    pub found: Families,
}

/// All inspected values of one request.
#[derive(Debug, Default)]
pub struct Inspection {
    /// The values where something was found (clean values leave no entry).
    pub values: Vec<Inspected>,
    /// Every family found anywhere: most requests are clean, and every detector rule of the
    /// managed groups then answers with one bit test.
    any: Families,
}

impl Inspection {
    /// The first value at `location` where `family` was found.
    pub fn find(&self, family: Family, locations: &[Location]) -> Option<&Inspected> {
        if !self.any.has(family) {
            return None;
        }
        self.values
            .iter()
            .find(|v| v.found.has(family) && locations.contains(&v.location))
    }

    fn add(&mut self, location: Location, name: &[u8], found: Families) {
        if found.0 == 0 {
            return;
        }
        self.any.0 |= found.0;
        self.values.push(Inspected {
            location,
            name: String::from_utf8_lossy(name).into_owned(),
            found,
        });
    }
}

/// Headers whose values are free text an application may use (so are attacked), as opposed
/// to protocol headers with fixed grammar where SQL/XSS patterns only produce false alarms.
const TEXT_HEADERS: &[&str] = &[
    "user-agent",
    "referer",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "origin",
    "from",
    "x-api-version",
    "via",
    "forwarded",
    "true-client-ip",
];

/// Headers never inspected for content (their size still is): fixed protocol grammar.
const PROTOCOL_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "connection",
    "accept-encoding",
    "accept",
    "accept-language",
    "accept-charset",
    "cache-control",
    "pragma",
    "cookie",
    "authorization",
    "if-none-match",
    "if-modified-since",
    "range",
    "te",
    "upgrade-insecure-requests",
    "keep-alive",
    "proxy-connection",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
    "sec-fetch-user",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "dnt",
    "priority",
];

/// How many URL-decoding rounds `decode` runs at most: enough for the nestings attack lists
/// use (`%252e`, `%25c0%25ae`, `%%32%65`), bounded so a value costs a fixed amount of work.
const URL_ROUNDS: usize = 4;

/// Decodes a value the way applications do, as often as an attacker nests encodings.
pub fn decode(value: &[u8]) -> Vec<u8> {
    decode_layers(value).0
}

/// `decode`'s result, and (when the JS-escape layer changed something) the text before that
/// layer: a Windows path's `\b`, `\t`, `\n` (`c:\boot.ini`, `C:\Windows\temp`) read as JS
/// escapes would hide the path from the traversal and command detectors. The flag says the
/// URL-decoded text held a character reference written to slip past filters
/// ([`evasive_char_ref`]), which entity decoding would make invisible.
fn decode_layers(value: &[u8]) -> (Vec<u8>, Option<Vec<u8>>, bool) {
    let mut v = value.to_vec();
    // URL decoding (with IIS `%uXXXX`) to a fixed point, at most URL_ROUNDS times.
    for _ in 0..URL_ROUNDS {
        if !v.contains(&b'%') {
            break;
        }
        let next = url_decode(&v, true);
        if next == v {
            break;
        }
        v = next;
    }
    let evasive = v.contains(&b'&') && evasive_char_ref(&v);
    // HTML entities, nested at most twice more (`&amp;lt;script&amp;gt;`).
    for _ in 0..3 {
        if !v.contains(&b'&') {
            break;
        }
        let next = html_entity_decode(&v);
        if next == v {
            break;
        }
        v = next;
    }
    let mut before_js = None;
    if v.contains(&b'\\') {
        let js = Transformation::JsDecode.apply(&v);
        if js != v {
            before_js = Some(std::mem::replace(&mut v, js));
        }
    }
    if v.contains(&0) {
        v.retain(|b| *b != 0);
    }
    if let Some(b) = before_js.as_mut()
        && b.contains(&0)
    {
        b.retain(|c| *c != 0);
    }
    (v, before_js, evasive)
}

/// A numeric character reference to an ASCII character written the way XSS filter evasion
/// writes them (OWASP's XSS Filter Evasion Cheat Sheet): without its closing `;` (`&#60`,
/// `&#x3c`, `&#0000106&#0000097…`) or padded with two or more zeros (`&#0000060;`,
/// `&#x003c;`). Browsers decode both; encoders never write them: `&lt;`, `&#60;`, `&#x3C;`,
/// PHP's `&#039;` and references to other characters (`&#8217;`, `&#160;`) do not count.
fn evasive_char_ref(v: &[u8]) -> bool {
    let mut from = 0;
    while let Some(at) = v
        .get(from..)
        .and_then(|r| r.windows(2).position(|w| w == b"&#"))
    {
        from += at + 2;
        let Some(r) = crate::transform::NumericRef::parse(v.get(from..).unwrap_or_default()) else {
            continue;
        };
        let zeros = r.digits.iter().take_while(|c| **c == b'0').count();
        if r.code().is_some_and(|c| (1..128).contains(&c)) && (zeros >= 2 || !r.terminated) {
            return true;
        }
    }
    false
}

/// Path characters written the ways servers have been fooled into reading them: overlong
/// UTF-8 (`C0 AE` and `E0 80 AE` are `.`, `C0 AF` is `/`, `C1 9C` is `\`; also the
/// 4- to 6-byte forms, and a `C0`/`C1` lead before a plain ASCII byte, which lenient decoders
/// drop, or whose continuation lacks its marker bits, `C1 1C`) and look-alike code points that
/// Windows' best-fit mapping and IIS turn into `.`, `/` and `\` (full-width U+FF0E, U+FF0F,
/// U+FF3C; U+2215 division slash, U+2216 set minus, U+2044 fraction slash, U+29F8/U+29F9 big
/// solidi, U+FE68 small reverse solidus, U+2024 one dot leader, U+FE52 small full stop; the
/// private-use U+EFC8 and U+F025 of IIS-era `%u` traversal lists). Only the traversal detectors
/// read the result (a Japanese text's full-width slash means nothing to the others). None when
/// there is nothing to fold.
pub(crate) fn fold_path_chars(v: &[u8]) -> Option<Vec<u8>> {
    if v.is_ascii() {
        return None;
    }
    let mut out = Vec::with_capacity(v.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        if b < 0x80 {
            out.push(b);
            i += 1;
            continue;
        }
        let rest = v.get(i..).unwrap_or_default();
        // Look-alikes (UTF-8 of the code points above).
        let look_alike = match rest {
            [0xEF, 0xBC, 0x8E, ..] | [0xE2, 0x80, 0xA4, ..] | [0xEF, 0xB9, 0x92, ..] => Some(b'.'),
            [0xEF, 0xBC, 0x8F, ..]
            | [0xEE, 0xBF, 0x88, ..]
            | [0xE2, 0x88, 0x95, ..]
            | [0xE2, 0x81, 0x84, ..]
            | [0xE2, 0xA7, 0xB8, ..] => Some(b'/'),
            [0xEF, 0xBC, 0xBC, ..]
            | [0xE2, 0x88, 0x96, ..]
            | [0xE2, 0xA7, 0xB9, ..]
            | [0xEF, 0xB9, 0xA8, ..]
            | [0xEF, 0x80, 0xA5, ..] => Some(b'\\'),
            _ => None,
        };
        if let Some(c) = look_alike {
            out.push(c);
            changed = true;
            i += 3;
            continue;
        }
        // Overlong forms: a lead byte whose payload bits leave room only for ASCII.
        let continuations = match b {
            0xC0 | 0xC1 => 1,
            0xE0 => 2,
            0xF0 => 3,
            0xF8 => 4,
            0xFC => 5,
            _ => 0,
        };
        if continuations > 0 {
            let tail = rest.get(1..=continuations);
            if let Some(tail) = tail
                && tail.iter().all(|c| (0x80..=0xBF).contains(c))
            {
                let code = tail
                    .iter()
                    .fold(u32::from(b) & (0x3F >> continuations), |acc, c| {
                        (acc << 6) | u32::from(c & 0x3F)
                    });
                if code < 0x80 {
                    out.push(code as u8);
                    changed = true;
                    i += 1 + continuations;
                    continue;
                }
            } else if continuations == 1
                && let Some(&next) = rest.get(1)
                && next < 0x80
            {
                // `%c0%2e`, `%c0%5c`: the lead byte dropped, the ASCII byte kept; `%c1%1c`: the
                // continuation's marker bits ignored (`C1 1C` read as `C1 9C`, a `\`).
                let loose = ((b & 0x01) << 6) | (next & 0x3F);
                let c = if matches!(next, b'.' | b'/' | b'\\') {
                    Some(next)
                } else {
                    Some(loose).filter(|c| matches!(c, b'.' | b'/' | b'\\'))
                };
                if let Some(c) = c {
                    out.push(c);
                    changed = true;
                    i += 2;
                    continue;
                }
            }
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// Relative links in pasted markup or Markdown (`<a href="../">`, `<img src="../../a.png">`,
/// `[up](../)`) with their `../` runs replaced by `x/`: a link that climbs to a page of the
/// same site is no attack, and what it climbs to (`../../etc/passwd`) stays visible to the
/// sensitive-file patterns. None when the value is no markup or has no such link.
fn neutralise_relative_links(decoded: &[u8]) -> Option<Vec<u8>> {
    static MARKUP: OnceLock<Regex> = OnceLock::new();
    static LINK: OnceLock<Regex> = OnceLock::new();
    let markup = MARKUP.get_or_init(|| {
        Regex::new(r"<[A-Za-z]|\]\(").unwrap_or_else(|e| panic!("built-in markup pattern: {e}"))
    });
    if !markup.is_match(decoded) {
        return None;
    }
    let link = LINK.get_or_init(|| {
        Regex::new(r#"(?i)((?:\b(?:href|src|action|formaction|poster|background|cite|data|srcset|codebase|longdesc)\s*=\s*['"]?|\burl\(\s*['"]?|\]\(\s*))(?:\.\.[/\\])+"#)
            .unwrap_or_else(|e| panic!("built-in relative-link pattern: {e}"))
    });
    match link.replace_all(decoded, &b"${1}x/"[..]) {
        std::borrow::Cow::Owned(v) => Some(v),
        std::borrow::Cow::Borrowed(_) => None,
    }
}

/// A MongoDB operator as a whole argument name or JSON key.
fn mongo_operator_name() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(crate::detect::MONGO_OPERATOR_NAME)
            .unwrap_or_else(|e| panic!("built-in mongo operator pattern: {e}"))
    })
}

fn lower_text(decoded: &[u8]) -> Vec<u8> {
    // Comments inside keywords (`un/**/ion`) and runs of white space are evasions, not meaning.
    // A run of white space holding a line break is one line break.
    let mut out = Vec::with_capacity(decoded.len());
    let mut last_space = false;
    for &b in decoded {
        let b = b.to_ascii_lowercase();
        let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0);
        if space && last_space {
            // `\r\n` (a browser's line break) still ends a line.
            if b == b'\n'
                && let Some(prev) = out.last_mut()
            {
                *prev = b'\n';
            }
            continue;
        }
        // A line break is a line break, whichever of CR and LF makes it (a lone CR splits
        // a header as well as LF does); other white space is one space.
        out.push(match b {
            b'\r' => b'\n',
            _ if space && b != b'\n' => b' ',
            _ => b,
        });
        last_space = space;
    }
    out
}

/// Values that look like a base64 token (CRS 944300's Java gadget names and Node payloads
/// arrive this way): long enough (ten characters carry `runtime`), only base64 characters,
/// not a plain word or number.
fn base64_like(v: &[u8]) -> bool {
    v.len() >= 10
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='))
        && v.iter()
            .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && v.iter().any(|b| b.is_ascii_lowercase())
}

/// Decodes a base64 token at each of the four alignments (a fragment cut out of a longer
/// encoding starts anywhere in a 4-character group) and returns the printable runs of at least
/// six bytes, lowercased: that is where an encoded class name or script survives.
fn base64_texts(v: &[u8]) -> Vec<u8> {
    let body: Vec<u8> = v
        .iter()
        .filter(|b| **b != b'=')
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            other => *other,
        })
        .collect();
    let mut out = Vec::new();
    for shift in 0..4 {
        let mut buf = vec![b'A'; shift];
        buf.extend_from_slice(&body);
        // A dangling single character carries no whole byte.
        if buf.len() % 4 == 1 {
            buf.pop();
        }
        let Ok(bytes) = lenient_base64().decode(&buf) else {
            continue;
        };
        for run in bytes.split(|b| !(b.is_ascii_graphic() || *b == b' ')) {
            if run.len() >= 6 {
                out.extend(run.iter().map(u8::to_ascii_lowercase));
                out.push(b'\n');
            }
        }
    }
    out
}

/// Standard alphabet, no padding, and tolerant of non-zero trailing bits: a fragment's last
/// character usually carries bits of the next (cut-off) byte.
fn lenient_base64() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
}

/// Names of session identifiers frameworks accept from a request (PHP, Java, ASP.NET, Rails,
/// Laravel, Express, Next.js, ColdFusion, …).
fn session_name() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)^(?:phpsessid|phpsession|jsessionid|jservsession|jwsession|aspsessionid\w*|asp\.net_sessionid|sessionid|session[-_]id|session[-_]?token|cfid|cftoken|cfsid|[a-z0-9_]*[_.:-]sess(?:ion)?(?:[-_.]?(?:id|token))?|[a-z0-9_]*session\.sid|[a-z._-]*\.session-token|connect\.sid|sails\.sid|cakephp|meteor_login_token|shiny-token|weblogicsession)$")
            .unwrap_or_else(|e| panic!("built-in session-name pattern: {e}"))
    })
}

/// File names a server might execute or that name a session file (upload headers and
/// multipart `filename`).
fn dangerous_file() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(?:\.\s*(?:php\d*|phtml|pht|phpt|phar|phps|pgif|inc|shtml?|jspx?|jsw|jsv|aspx?|asa|asax|ascx|ashx|asmx|cer|cgi|pl|py|rb|sh|bat|cmd|exe|dll|htaccess|user\.ini)[.\s]*$|\.\s*(?:php\d*|phtml|pht|phpt|phar)\s*\.\s*[a-z0-9]{1,5}\s*$|(?:^|[/\\])sess_[a-z0-9,-]{10,}$|(?:^|[/\\])(?:wp-config|(?:default[._-]|local[._-])?settings|configuration|localsettings)[\s._-]*php|(?:^|[/\\])(?:\.htaccess|\.htdigest|\.htpasswd|\.env|\.boto|web\.config)\s*$)")
            .unwrap_or_else(|e| panic!("built-in upload pattern: {e}"))
    })
}

fn is_filename_field(name: &[u8]) -> bool {
    let squashed: Vec<u8> = name
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
        .collect();
    squashed.ends_with(b"filename")
}

fn push(out: &mut Inspection, location: Location, name: &[u8], value: &[u8], shell: bool) {
    if value.is_empty() {
        return;
    }
    let mut found = memo::families(value, shell, || value_families(value, shell));
    if shell && is_filename_field(name) && dangerous_file().is_match(&decode(value)) {
        found.add(Family::DangerousUpload);
    }
    out.add(location, name, found);
}

/// Everything found in one raw value that depends on the value alone (not on its name).
fn value_families(value: &[u8], shell: bool) -> Families {
    let (decoded, before_js, evasive) = decode_layers(value);
    let mut found = decoded_families(&decoded, before_js.as_deref(), shell);
    if evasive {
        found.add(Family::Xss);
    }
    // A relative link in pasted markup: traversal only if what is left of the value, with
    // the links' `../` runs taken out, still says so.
    if found.has(Family::Traversal)
        && let Some(neutral) = neutralise_relative_links(&decoded)
        && !decoded_families(&neutral, None, shell).has(Family::Traversal)
    {
        found.remove(Family::Traversal);
    }
    found
}

/// The families of one decoded value (`before_js`: the same text before JS-escape decoding).
fn decoded_families(decoded: &[u8], before_js: Option<&[u8]>, shell: bool) -> Families {
    const OS: u32 = Family::CommandInjection as u32
        | Family::Traversal as u32
        | Family::WindowsCommand as u32
        | Family::PowerShell as u32;
    let lower = lower_text(decoded);
    let mut found = families(decoded, &lower);
    if base64_like(decoded) {
        let mut texts = base64_texts(decoded);
        // Decoded scripts keep their own escapes (`\u0066unction`): undo them too.
        if texts.contains(&b'\\') {
            texts = Transformation::JsDecode.apply(&texts).to_ascii_lowercase();
        }
        if !texts.is_empty() {
            found.0 |= pattern_families(&texts).0 | java_words(&texts).0;
        }
    }
    if java_stream_base64(decoded) {
        found.add(Family::Java);
    }
    // Argument names (pushed with `shell` false) that carry ORM filter operators or MongoDB
    // operators (`$ne` as a JSON key).
    if !shell && orm_lookup().is_match(&lower) {
        found.add(Family::SqliHigh);
    }
    if !shell && lower.first() == Some(&b'$') && mongo_operator_name().is_match(&lower) {
        found.add(Family::NoSql);
    }
    // Windows paths as they were before JS-escape decoding (`c:\boot.ini`).
    if let Some(pre) = before_js {
        found.0 |= pattern_families(&lower_text(pre)).0 & OS;
    }
    // Dots and slashes in overlong UTF-8 or look-alike code points.
    let folded = fold_path_chars(decoded);
    if let Some(f) = &folded {
        found.0 |= pattern_families(&lower_text(f)).0 & Family::Traversal as u32;
    }
    // Self-references inside a path (`/etc/./passwd`, `C:\Windows\.\win.ini`) resolved by
    // AWS's NORMALIZE_PATH_WIN, so the file name reads as the sensitive-file patterns expect.
    let path = folded.as_deref().unwrap_or(decoded);
    if path
        .windows(3)
        .any(|w| matches!(w, [b'/' | b'\\', b'.', b'/' | b'\\']))
    {
        let normal = Transformation::NormalizePathWin.apply(path);
        found.0 |= pattern_families(&lower_text(&normal)).0 & Family::Traversal as u32;
    }
    // Shell evasions (`c\a't`, `w^h^o^a^m^i`, `c$@at`, `pi``ng`) only make sense for command
    // injection: check the CMD_LINE form and the shell-folded form of values that contain
    // evasion characters.
    if shell
        && lower
            .iter()
            .any(|b| matches!(b, b'\\' | b'\'' | b'"' | b'^' | b'$' | b'`'))
    {
        for cmd in [Transformation::CmdLine.apply(&lower), shell_fold(&lower)] {
            // Folding also undoes the same evasions in file names (`/et$@c/pas$@swd`).
            let more = families(&cmd, &cmd).0;
            found.0 |= more & OS;
        }
    }
    // Markdown code spans (`` `Date` ``, `` with `cat` and ``) and fences read as command
    // substitution to the lowercased patterns: command injection is decided again with those
    // spans as plain words (see `capitalised_code_spans`).
    if found.has(Family::CommandInjection)
        && let Some(prose) = capitalised_code_spans(decoded)
        && !value_families(&prose, shell).has(Family::CommandInjection)
    {
        found.0 &= !(Family::CommandInjection as u32);
    }
    found
}

/// `decoded` with the backticks of Markdown's code spans and fences replaced by spaces, or None
/// when there is none. A span counts when it holds no shell separator (`;|&<>(){}`, a line
/// break, `\\`) and either its first word has an upper-case letter (a shell runs commands by
/// their exact, lower-case names) or it sits inside prose: a space or `(` before it, and a
/// space, the end or punctuation after it (`` with `cat` and `ls -la`. ``, not `` `$cmd`); ``); a substitution an
/// attacker appends is glued to the value (`` name`id` ``) or is the whole value. A fence is a
/// run of three backticks at the start of a line, followed by a line break or a language name.
fn capitalised_code_spans(decoded: &[u8]) -> Option<Vec<u8>> {
    let mut out = decoded.to_vec();
    let mut changed = false;
    let mut i = 0;
    while let Some(start) = out.get(i..)?.iter().position(|b| *b == b'`').map(|p| p + i) {
        let before = start.checked_sub(1).and_then(|j| decoded.get(j)).copied();
        if decoded.get(start..start + 3) == Some(b"```") {
            let line_start = before.is_none_or(|b| b == b'\n');
            let rest = decoded.get(start + 3..).unwrap_or_default();
            let info = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            let opens = matches!(rest.get(info), None | Some(b'\n' | b'\r'));
            if line_start && opens {
                for b in out.get_mut(start..start + 3).unwrap_or_default() {
                    *b = b' ';
                }
                changed = true;
            }
            i = start + 3;
            continue;
        }
        let Some(len) = out.get(start + 1..)?.iter().position(|b| *b == b'`') else {
            break;
        };
        let end = start + 1 + len;
        let span = out.get(start + 1..end).unwrap_or_default();
        let first = span
            .split(u8::is_ascii_whitespace)
            .next()
            .unwrap_or_default();
        let after = decoded.get(end + 1).copied();
        let closes_statement = after == Some(b')') && decoded.get(end + 2) == Some(&b';');
        let in_prose = before.is_some_and(|b| b == b' ' || b == b'(')
            && after.is_none_or(|b| b.is_ascii_whitespace() || b".,:!?)".contains(&b))
            && !closes_statement;
        if (first.iter().any(u8::is_ascii_uppercase) || in_prose)
            && !span.is_empty()
            && !span.iter().any(|b| b"\n\r;|&<>(){}`\\".contains(b))
        {
            if let Some(b) = out.get_mut(start) {
                *b = b' ';
            }
            if let Some(b) = out.get_mut(end) {
                *b = b' ';
            }
            changed = true;
        }
        i = end + 1;
    }
    changed.then_some(out)
}

/// What recently seen values were found to contain. Most values a site sees repeat from
/// request to request (the browser's User-Agent, the Referer, cookies, popular searches), and
/// the detectors cost microseconds per value: a small direct-mapped table of (value, verdict)
/// pairs answers those again without running them. The full value is stored and compared, so
/// a hash collision only costs a recomputation; the hash keys are random per process, so an
/// attacker cannot aim at a slot. Verdicts depend only on the built-in detectors, never on a
/// WebACL, so one table serves every WebACL.
mod memo {
    use std::hash::BuildHasher;
    use std::sync::{Mutex, OnceLock};

    use crate::detect::Families;

    const SLOTS: usize = 4096;
    /// Longer values are rare and unlikely to repeat: computed every time.
    const MAX_LEN: usize = 512;

    struct Slot {
        hash: u64,
        shell: bool,
        value: Box<[u8]>,
        found: Families,
    }

    struct Table {
        hasher: std::collections::hash_map::RandomState,
        slots: Box<[Mutex<Option<Slot>>]>,
    }

    fn table() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| Table {
            hasher: std::collections::hash_map::RandomState::new(),
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
        })
    }

    /// The verdict on `value` from the table, or `compute`'s (then remembered).
    pub(super) fn families(
        value: &[u8],
        shell: bool,
        compute: impl FnOnce() -> Families,
    ) -> Families {
        if value.len() > MAX_LEN {
            return compute();
        }
        let t = table();
        let hash = t.hasher.hash_one((shell, value));
        let Some(slot) = t.slots.get(hash as usize % SLOTS) else {
            return compute();
        };
        // A busy slot is not worth waiting for: compute instead.
        if let Ok(guard) = slot.try_lock()
            && let Some(s) = guard.as_ref()
            && s.hash == hash
            && s.shell == shell
            && *s.value == *value
        {
            return s.found;
        }
        let found = compute();
        if let Ok(mut guard) = slot.try_lock() {
            *guard = Some(Slot {
                hash,
                shell,
                value: value.into(),
                found,
            });
        }
        found
    }
}

/// What a shell leaves of a word after quote removal and expansion of what expands to nothing:
/// quotes, `\` and `^` go, `$IFS` is a space, special parameters (`$@`, `$*`, `$1`), empty
/// substitutions (`$()`, ``` `` ```, `<()`) and variables inside a word or before a space
/// (`c$u`, `sh$XX`, `${KK}`, unset in the attacker's shell) go. Separators stay.
fn shell_fold(lower: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(lower.len());
    let mut i = 0;
    while let Some(&b) = lower.get(i) {
        let next = lower.get(i + 1).copied().unwrap_or(0);
        match b {
            b'\\' | b'\'' | b'"' | b'^' => i += 1,
            b'`' if next == b'`' => i += 2,
            b'$' | b'<' | b'>' if next == b'(' && lower.get(i + 2) == Some(&b')') => i += 3,
            b'$' if matches!(next, b'@' | b'*' | b'!' | b'?' | b'-' | b'_' | b'$' | b'#')
                || (next.is_ascii_digit() && !lower.get(i + 2).is_some_and(u8::is_ascii_digit)) =>
            {
                i += 2
            }
            b'$' if next == b'{' || next.is_ascii_alphabetic() => {
                let braced = next == b'{';
                let start = i + 1 + usize::from(braced);
                let len = lower
                    .get(start..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                let end = start + len;
                let closed = !braced || lower.get(end) == Some(&b'}');
                let after = end + usize::from(braced);
                let name = lower.get(start..end).unwrap_or_default();
                let inside = out.last().is_some_and(u8::is_ascii_alphanumeric)
                    || lower.get(after).is_none_or(|c| *c == b' ');
                if len > 0 && closed && name == b"ifs" {
                    out.push(b' ');
                    i = after;
                } else if len > 0 && closed && (braced || inside) {
                    i = after;
                } else {
                    out.push(b);
                    i += 1;
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Gadget and runtime class names as bare words: in base64-decoded text there is no
/// surrounding syntax to anchor on.
fn java_words(text: &[u8]) -> Families {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"runtime|processbuilder|classloader|getruntime|forclosure|whileclosure|transformer|instantiate|serializ")
            .unwrap_or_else(|e| panic!("built-in java words: {e}"))
    });
    let mut out = Families::default();
    if re.is_match(text) {
        out.add(Family::Java);
    }
    out
}

/// The base64 form of a serialized Java stream's magic `AC ED 00 05` at each of the three
/// byte alignments (`rO0AB…`, `…ztAA[U-X]…`, `…s7QAF…`), case-sensitive as base64 is: the
/// start of a serialized object inside a cookie, header or parameter.
fn java_stream_base64(v: &[u8]) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"rO0AB|[A-Za-z0-9+/]ztAA[UVWX]|s7QAF")
            .unwrap_or_else(|e| panic!("built-in java stream pattern: {e}"))
    });
    v.len() >= 5 && re.is_match(v)
}

/// ORM lookup injection (Django-style `password__startswith`, `balance__gte`): filter
/// operators in a parameter name let a request leak data a character at a time. Names
/// only: a value may well mention such a lookup.
fn orm_lookup() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[a-z0-9]__(?:i?startswith|i?endswith|i?contains|i?regex|gte?|lte?|isnull|has_keys?|has_any_keys|contained_by|overlap)\b")
            .unwrap_or_else(|e| panic!("built-in ORM lookup pattern: {e}"))
    })
}

/// True when the Referer is absent or names another site than Host: a session identifier
/// arriving from there is planted (CRS 943110/943120's reasoning).
fn offsite_referer(req: &Request<'_>) -> bool {
    let Some(referer) = req.header("referer") else {
        return true;
    };
    let host = req.header("host").unwrap_or_default();
    let host = host.split(|b| *b == b':').next().unwrap_or_default();
    let rest = referer
        .windows(3)
        .position(|w| w == b"://")
        .map_or(referer, |i| &referer[i + 3..]);
    let rhost = rest
        .split(|b| matches!(b, b'/' | b':' | b'?' | b'#'))
        .next()
        .unwrap_or_default();
    let rhost = rhost.rsplit(|b| *b == b'@').next().unwrap_or_default();
    site(rhost) != site(host)
}

/// The last two labels of a host name, lowercased (`www.shop.example.com` → `example.com`).
fn site(host: &[u8]) -> Vec<u8> {
    let lower = host.to_ascii_lowercase();
    let mut labels = lower.rsplit(|b| *b == b'.');
    let last = labels.next().unwrap_or_default();
    match labels.next() {
        Some(prev) => [prev, b".", last].concat(),
        None => last.to_vec(),
    }
}

/// Builds the inspection of `req`.
pub fn inspect(req: &Request<'_>) -> Inspection {
    let mut out = Inspection::default();
    // The path, decoded, whole and as its last segment (where file names and payloads sit).
    push(&mut out, Location::UriPath, b"", req.path.as_bytes(), true);
    // The last segment alone: patterns anchored at a value's start (`IF EXIST …`, a bare
    // command, a URL) must see it the way they see a query argument.
    if let Some(i) = req.path.rfind('/')
        && i > 0
        && let Some(last) = req.path.get(i + 1..)
    {
        push(&mut out, Location::UriPath, b"", last.as_bytes(), true);
    }
    for (name, value) in req.query_args() {
        let name = url_decode(name, false);
        let value = url_decode(value, false);
        push(&mut out, Location::QueryArguments, &name, &name, false);
        push(&mut out, Location::QueryArguments, &name, &value, true);
        session_arg(&mut out, req, Location::QueryArguments, &name);
    }
    // A query string that is not key=value pairs (`/?<script>`) is inspected whole.
    if !req.query.is_empty() && !req.query.contains('=') {
        push(
            &mut out,
            Location::QueryArguments,
            b"",
            req.query.as_bytes(),
            true,
        );
    }
    for (name, value) in body_fields(req) {
        push(&mut out, Location::Body, &name, &name, false);
        push(&mut out, Location::Body, &name, &value, true);
        session_arg(&mut out, req, Location::Body, &name);
    }
    for (name, value) in req.cookies() {
        push(&mut out, Location::Cookie, name, name, false);
        push(&mut out, Location::Cookie, name, value, true);
    }
    for (name, value) in req.headers {
        let lname = name.to_ascii_lowercase();
        if PROTOCOL_HEADERS.contains(&lname.as_str()) && !TEXT_HEADERS.contains(&lname.as_str()) {
            continue;
        }
        push(&mut out, Location::Header, name.as_bytes(), value, true);
    }
    out
}

/// Flags an argument named like a session identifier when the request comes from elsewhere.
fn session_arg(out: &mut Inspection, req: &Request<'_>, location: Location, name: &[u8]) {
    if !name.is_empty() && session_name().is_match(name) && offsite_referer(req) {
        let mut found = Families::default();
        found.add(Family::SessionFixation);
        out.add(location, name, found);
    }
}

#[cfg(test)]
mod memo_tests {
    use super::{memo, value_families};

    /// A remembered verdict is the computed one, for the same value and the same `shell`.
    #[test]
    fn remembered_verdicts_are_the_computed_ones() {
        let values: &[(&[u8], bool)] = &[
            (b"c'a't /e't'c/passwd", true),
            (b"c'a't /e't'c/passwd", false),
            (b"1' OR '1'='1", true),
            (b"Mozilla/5.0 (X11; Linux x86_64)", true),
            (b"hello", false),
        ];
        for _ in 0..2 {
            for (v, shell) in values {
                let computed = value_families(v, *shell);
                let seen = memo::families(v, *shell, || value_families(v, *shell));
                assert_eq!(seen, computed, "{}", String::from_utf8_lossy(v));
            }
        }
        // `shell` is part of the key: the evasion folding only runs for shell values.
        assert_ne!(
            value_families(b"c'a't /e't'c/passwd", true),
            value_families(b"c'a't /e't'c/passwd", false)
        );
    }
}

#[cfg(test)]
mod fold_tests {
    use super::{decode, fold_path_chars};

    #[track_caller]
    fn check(raw: &str, want: Option<&str>) {
        let got = fold_path_chars(&decode(raw.as_bytes()));
        assert_eq!(
            got.as_deref().map(String::from_utf8_lossy).as_deref(),
            want,
            "{raw}"
        );
    }

    /// Overlong UTF-8 and look-alike code points fold to `.`, `/` and `\`; ordinary
    /// non-ASCII text and ASCII are left alone (None: nothing to fold).
    #[test]
    fn path_characters_fold() {
        check("%c0%ae%c0%ae%c0%af", Some("../"));
        check("%e0%80%ae%f0%80%80%ae%c1%9c", Some("..\\"));
        check("%fc%80%80%80%80%af%f8%80%80%80%ae", Some("/."));
        check("%c0%2e%c0%2e%c0%5c", Some("..\\"));
        check("..%c1%1c..%c1%1c", Some("..\\..\\")); // continuation without its marker bits
        check("..%uefc8..%uf025", Some("../..\\")); // private-use code points of %u lists
        check("%25c0%25ae%25c0%25ae%25c0%25af", Some("../"));
        check("%u2215%u2216%u2044", Some("/\\/"));
        check(
            "\u{ff0e}\u{ff0f}\u{ff3c}\u{2024}\u{fe52}\u{fe68}",
            Some("./\\..\\"),
        );
        check("a%c3%a9b", None); // é is no path character
        check("%c0%41", None); // a lead byte before a letter: no path character
        check("plain ../ascii", None);
        check("東京・大阪", None);
    }
}

#[cfg(test)]
mod char_ref_tests {
    use super::evasive_char_ref;

    #[track_caller]
    fn check(value: &str, evasive: bool) {
        assert_eq!(evasive_char_ref(value.as_bytes()), evasive, "{value}");
    }

    /// Unterminated or zero-padded references to ASCII characters are evasions; the forms
    /// encoders write, and references to other characters, are not.
    #[test]
    fn evasive_character_references() {
        for v in [
            "&#60",
            "&#x3c",
            "&#X3C",
            "&#0000060",
            "&#0000060;",
            "&#x003c;",
            "&#X000003C;",
            "<a href=\"&#0000106&#0000097&#0000118&#0000097\">",
            "&#x6A&#x61&#x76&#x61",
            "a &#60b",
        ] {
            check(v, true);
        }
        for v in [
            "&lt;script&gt;",
            "&#60;",
            "&#x3C;",
            "&#x3c;",
            "Don&#039;t stop",
            "Don&#39;t",
            "it&#8217;s &#160;here",
            "&#8217",
            "&#x2019",
            "R&amp;D",
            "AT&T #1",
            "&#",
            "&#x;",
            "&#060;",
            "&#x03c;",
        ] {
            check(v, false);
        }
    }
}
