//! The managed rules' view of a request: every value an attacker controls, grouped by where
//! it arrived (URI path, query arguments, body, cookies, headers), decoded the way a backend
//! would decode it (URL, `%u`, HTML entities, JS escapes, JSON strings, multipart fields),
//! with the attack families found in each. Built once per request, only when a managed rule
//! needs it. Must not look at rule configuration.

use crate::detect::{Families, Family, families};
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
    pub values: Vec<Inspected>,
}

impl Inspection {
    /// The first value at `location` where `family` was found.
    pub fn find(&self, family: Family, locations: &[Location]) -> Option<&Inspected> {
        self.values
            .iter()
            .find(|v| v.found.has(family) && locations.contains(&v.location))
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

/// Decodes a value the way applications do, as often as an attacker nests encodings.
pub fn decode(value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    for _ in 0..3 {
        if !v.contains(&b'%') {
            break;
        }
        let next = url_decode(&v, true);
        if next == v {
            break;
        }
        v = next;
    }
    if v.contains(&b'&') {
        v = html_entity_decode(&v);
    }
    if v.contains(&b'\\') {
        v = Transformation::JsDecode.apply(&v);
    }
    if v.contains(&0) {
        v.retain(|b| *b != 0);
    }
    v
}

fn lower_text(decoded: &[u8]) -> Vec<u8> {
    // Comments inside keywords (`un/**/ion`) and runs of white space are evasions, not meaning.
    let mut out = Vec::with_capacity(decoded.len());
    let mut last_space = false;
    for &b in decoded {
        let b = b.to_ascii_lowercase();
        let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0);
        if space && last_space {
            continue;
        }
        out.push(if space && b != b'\n' { b' ' } else { b });
        last_space = space;
    }
    out
}

fn push(out: &mut Inspection, location: Location, name: &[u8], value: &[u8], shell: bool) {
    if value.is_empty() {
        return;
    }
    let decoded = decode(value);
    let lower = lower_text(&decoded);
    let mut found = families(&decoded, &lower);
    // Shell evasions (`c\a't`, `w^h^o^a^m^i`) only make sense for command injection: check the
    // CMD_LINE form of values that contain evasion characters.
    if shell
        && lower
            .iter()
            .any(|b| matches!(b, b'\\' | b'\'' | b'"' | b'^'))
    {
        let cmd = Transformation::CmdLine.apply(&lower);
        let more = families(&cmd, &cmd);
        if more.has(Family::CommandInjection) {
            found.0 |= Family::CommandInjection as u32;
        }
    }
    out.values.push(Inspected {
        location,
        name: String::from_utf8_lossy(name).into_owned(),
        found,
    });
}

/// Builds the inspection of `req`.
pub fn inspect(req: &Request<'_>) -> Inspection {
    let mut out = Inspection::default();
    // The path, decoded, whole and as its last segment (where file names and payloads sit).
    push(&mut out, Location::UriPath, b"", req.path.as_bytes(), true);
    for (name, value) in req.query_args() {
        let name = url_decode(name, false);
        let value = url_decode(value, false);
        push(&mut out, Location::QueryArguments, &name, &name, false);
        push(&mut out, Location::QueryArguments, &name, &value, true);
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
