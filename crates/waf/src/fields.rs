//! FieldToMatch: which parts of a request a statement inspects, and how they are pulled out
//! of the `Request` view (query arguments, cookies, headers, JSON body). Also the body
//! parsers the managed rules share (form, multipart, JSON). Never fails: unparsable input
//! yields the raw value (or the statement's fallback).

use std::borrow::Cow;

use serde_json::Value;

use crate::model::{MatchOrNot, MatchScope, Oversize};
use crate::request::{Request, split_pairs};
use crate::transform::url_decode;

/// Which names a Headers/Cookies field inspects.
#[derive(Debug, Clone)]
pub enum NamePattern {
    All,
    Include(Vec<String>),
    Exclude(Vec<String>),
}

impl NamePattern {
    fn accepts(&self, name: &[u8]) -> bool {
        match self {
            NamePattern::All => true,
            NamePattern::Include(list) => {
                list.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name))
            }
            NamePattern::Exclude(list) => {
                !list.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name))
            }
        }
    }
}

/// A compiled FieldToMatch.
#[derive(Debug, Clone)]
pub enum Field {
    UriPath,
    QueryString,
    SingleQueryArgument(String),
    AllQueryArguments,
    Body(Oversize),
    JsonBody {
        paths: Option<Vec<String>>,
        scope: MatchScope,
        invalid: Option<MatchOrNot>,
        oversize: Oversize,
    },
    SingleHeader(String),
    Headers(NamePattern, MatchScope, Oversize),
    Cookies(NamePattern, MatchScope, Oversize),
    Method,
}

/// What a field yields: values to inspect, or a decision WAF takes without inspecting.
pub enum Extracted<'a> {
    Values(Vec<Cow<'a, [u8]>>),
    Match,
    NoMatch,
}

fn oversize(o: Oversize, req: &Request<'_>) -> Option<Extracted<'static>> {
    if !req.body_oversize {
        return None;
    }
    match o {
        Oversize::Continue => None,
        Oversize::Match => Some(Extracted::Match),
        Oversize::NoMatch => Some(Extracted::NoMatch),
    }
}

/// WAF inspects at most 8 KB (or 200 entries) of headers and cookies.
fn head_oversize(o: Oversize, req: &Request<'_>) -> Option<Extracted<'static>> {
    let size: usize = req.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    if size <= 8192 && req.headers.len() <= 200 {
        return None;
    }
    match o {
        Oversize::Continue => None,
        Oversize::Match => Some(Extracted::Match),
        Oversize::NoMatch => Some(Extracted::NoMatch),
    }
}

fn scoped<'a>(scope: MatchScope, name: &'a [u8], value: &'a [u8], out: &mut Vec<Cow<'a, [u8]>>) {
    match scope {
        MatchScope::Key => out.push(Cow::Borrowed(name)),
        MatchScope::Value => out.push(Cow::Borrowed(value)),
        MatchScope::All => {
            out.push(Cow::Borrowed(name));
            out.push(Cow::Borrowed(value));
        }
    }
}

impl Field {
    /// The values this field selects from `req`. Values are raw (not URL-decoded): like WAF,
    /// decoding is the job of text transformations.
    pub fn extract<'a>(&self, req: &Request<'a>) -> Extracted<'a> {
        let mut out: Vec<Cow<'a, [u8]>> = Vec::new();
        match self {
            Field::UriPath => out.push(Cow::Borrowed(req.path.as_bytes())),
            Field::QueryString => out.push(Cow::Borrowed(req.query.as_bytes())),
            Field::SingleQueryArgument(name) => {
                if let Some((_, v)) = req
                    .query_args()
                    .into_iter()
                    .find(|(n, _)| url_decode(n, false).eq_ignore_ascii_case(name.as_bytes()))
                {
                    out.push(Cow::Borrowed(v));
                }
            }
            Field::AllQueryArguments => {
                out.extend(req.query_args().into_iter().map(|(_, v)| Cow::Borrowed(v)))
            }
            Field::Body(o) => {
                if let Some(e) = oversize(*o, req) {
                    return e;
                }
                out.push(Cow::Borrowed(req.body));
            }
            Field::JsonBody {
                paths,
                scope,
                invalid,
                oversize: o,
            } => {
                if let Some(e) = oversize(*o, req) {
                    return e;
                }
                match serde_json::from_slice::<Value>(req.body) {
                    Ok(doc) => {
                        let mut leaves = Vec::new();
                        json_leaves(&doc, String::new(), &mut leaves);
                        for (pointer, key, value) in leaves {
                            if let Some(paths) = paths
                                && !paths.iter().any(|p| pointer.starts_with(p.as_str()))
                            {
                                continue;
                            }
                            match scope {
                                MatchScope::Key => out.push(Cow::Owned(key.into_bytes())),
                                MatchScope::Value => out.push(Cow::Owned(value.into_bytes())),
                                MatchScope::All => {
                                    out.push(Cow::Owned(key.into_bytes()));
                                    out.push(Cow::Owned(value.into_bytes()));
                                }
                            }
                        }
                    }
                    // An unparsable body: WAF's InvalidFallbackBehavior, by default it inspects
                    // what it parsed, which for nuvem is the whole body as a string.
                    Err(_) => match invalid {
                        Some(MatchOrNot::Match) => return Extracted::Match,
                        Some(MatchOrNot::NoMatch) => return Extracted::NoMatch,
                        _ => out.push(Cow::Borrowed(req.body)),
                    },
                }
            }
            Field::SingleHeader(name) => {
                out.extend(
                    req.headers
                        .iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| Cow::Borrowed(*v)),
                );
            }
            Field::Headers(pattern, scope, o) => {
                if let Some(e) = head_oversize(*o, req) {
                    return e;
                }
                for (n, v) in req.headers {
                    if pattern.accepts(n.as_bytes()) {
                        scoped(*scope, n.as_bytes(), v, &mut out);
                    }
                }
            }
            Field::Cookies(pattern, scope, o) => {
                if let Some(e) = head_oversize(*o, req) {
                    return e;
                }
                for (n, v) in req.cookies() {
                    if pattern.accepts(n) {
                        scoped(*scope, n, v, &mut out);
                    }
                }
            }
            Field::Method => out.push(Cow::Borrowed(req.method.as_bytes())),
        }
        Extracted::Values(out)
    }
}

/// Every leaf of a JSON document as (JSON pointer, key, value text).
pub fn json_leaves(v: &Value, pointer: String, out: &mut Vec<(String, String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{pointer}/{k}");
                if !matches!(child, Value::Object(_) | Value::Array(_)) {
                    out.push((p, k.clone(), leaf_text(child)));
                } else {
                    // Keys of containers are inspected too (prototype pollution hides there).
                    out.push((p.clone(), k.clone(), String::new()));
                    json_leaves(child, p, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                json_leaves(child, format!("{pointer}/{i}"), out);
            }
        }
        leaf => out.push((pointer, String::new(), leaf_text(leaf))),
    }
}

fn leaf_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parsed body fields for the managed rules: (name, value) pairs, decoded once.
pub fn body_fields(req: &Request<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let ctype = req
        .header("content-type")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let body = req.body;
    if body.is_empty() {
        return Vec::new();
    }
    if ctype.starts_with(b"multipart/")
        && let Some(fields) =
            multipart_fields(&ctype, req.header("content-type").unwrap_or_default(), body)
    {
        return fields;
    }
    let trimmed = crate::request::trim(body);
    if ctype.windows(4).any(|w| w == b"json")
        || trimmed.first().is_some_and(|b| matches!(b, b'{' | b'['))
    {
        if let Ok(doc) = serde_json::from_slice::<Value>(body) {
            let mut leaves = Vec::new();
            json_leaves(&doc, String::new(), &mut leaves);
            return leaves
                .into_iter()
                .map(|(_, k, v)| (k.into_bytes(), v.into_bytes()))
                .collect();
        }
        return vec![(Vec::new(), body.to_vec())];
    }
    let formish = ctype.starts_with(b"application/x-www-form-urlencoded")
        || (ctype.is_empty() && body.contains(&b'=') && !body.contains(&b'<'));
    if formish {
        return split_pairs(body)
            .into_iter()
            .map(|(n, v)| (url_decode(n, false), url_decode(v, false)))
            .collect();
    }
    // XML, text and anything else: the body is one value.
    vec![(Vec::new(), body.to_vec())]
}

/// multipart/form-data: each part's name, filename and value.
fn multipart_fields(
    ctype_lower: &[u8],
    ctype: &[u8],
    body: &[u8],
) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let at = ctype_lower.windows(9).position(|w| w == b"boundary=")?;
    let boundary = ctype.get(at + 9..)?;
    let boundary = boundary.split(|b| *b == b';').next()?;
    let boundary: Vec<u8> = boundary.iter().copied().filter(|b| *b != b'"').collect();
    if boundary.is_empty() {
        return None;
    }
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(&boundary);
    let mut out = Vec::new();
    for part in split_on(body, &delim).into_iter().skip(1) {
        if part.starts_with(b"--") {
            break;
        }
        let (head, content) = match find(part, b"\r\n\r\n") {
            Some(i) => (&part[..i], &part[i + 4..]),
            None => match find(part, b"\n\n") {
                Some(i) => (&part[..i], &part[i + 2..]),
                None => (part, &part[..0]),
            },
        };
        let content = content
            .strip_suffix(b"\r\n")
            .or_else(|| content.strip_suffix(b"\n"))
            .unwrap_or(content);
        let name = param(head, b"name=").unwrap_or_default();
        if let Some(filename) = param(head, b"filename=") {
            out.push((b"filename".to_vec(), filename));
        }
        // Part headers are attacker-controlled too, but their grammar (`name="a"; filename=`)
        // is full of quotes and semicolons: inspect the part's Content-Type value, not the
        // raw header block.
        if let Some(ctype) = part_content_type(head) {
            out.push((b"content-type".to_vec(), ctype));
        }
        out.push((name, content.to_vec()));
    }
    Some(out)
}

fn part_content_type(head: &[u8]) -> Option<Vec<u8>> {
    head.split(|b| *b == b'\n').find_map(|line| {
        let colon = line.iter().position(|b| *b == b':')?;
        let (name, value) = line.split_at(colon);
        crate::request::trim(name)
            .eq_ignore_ascii_case(b"content-type")
            .then(|| crate::request::trim(value.get(1..).unwrap_or_default()).to_vec())
    })
}

fn param(head: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = find(lower.get(from..)?, key) {
        let at = from + i;
        // `name=` must not be the tail of `filename=`.
        if key == b"name=" && at > 0 && lower.get(at - 1).is_some_and(|b| b.is_ascii_alphabetic()) {
            from = at + key.len();
            continue;
        }
        let rest = head.get(at + key.len()..)?;
        let value = if rest.first() == Some(&b'"') {
            let inner = rest.get(1..)?;
            let end = inner.iter().position(|b| *b == b'"').unwrap_or(inner.len());
            &inner[..end]
        } else {
            let end = rest
                .iter()
                .position(|b| matches!(b, b';' | b'\r' | b'\n'))
                .unwrap_or(rest.len());
            &rest[..end]
        };
        return Some(value.to_vec());
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_on<'a>(hay: &'a [u8], delim: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = hay;
    while let Some(i) = find(rest, delim) {
        out.push(&rest[..i]);
        rest = &rest[i + delim.len()..];
    }
    out.push(rest);
    out
}
