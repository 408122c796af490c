//! The request view the engine inspects: borrowed parts of one viewer request, as the edge
//! has them before the cache. Must not own or copy the request, and must not parse the body
//! eagerly (fields are parsed on demand by `fields`).

use std::net::IpAddr;
use std::time::Instant;

/// One viewer request as the WAF sees it. Everything is borrowed from the edge's request.
///
/// `body` holds the first bytes the edge buffered for inspection; `body_oversize` says the
/// real body was longer (WAF's `OversizeHandling` then decides). CloudFront WebACLs inspect
/// the first 16 KB by default:
/// <https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-fields-list.html#waf-rule-statement-request-component-body>
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The URI path as sent, still percent-encoded (`/a%20b/c`).
    pub path: &'a str,
    /// The raw query string without the `?` (`a=1&b=%27`), empty when there is none.
    pub query: &'a str,
    /// Headers in arrival order; names in any case.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The inspected prefix of the body.
    pub body: &'a [u8],
    /// True when the body was longer than `body`.
    pub body_oversize: bool,
    /// The address of the TCP peer.
    pub client_ip: IpAddr,
    /// When the request arrived; rate-based rules count in this clock.
    pub at: Instant,
}

impl<'a> Request<'a> {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// All cookies as (name, value) pairs, from every `Cookie` header.
    pub fn cookies(&self) -> Vec<(&'a [u8], &'a [u8])> {
        let mut out = Vec::new();
        for (name, value) in self.headers {
            if !name.eq_ignore_ascii_case("cookie") {
                continue;
            }
            for pair in value.split(|b| *b == b';') {
                let pair = trim(pair);
                if pair.is_empty() {
                    continue;
                }
                match pair.iter().position(|b| *b == b'=') {
                    Some(i) => out.push((trim(&pair[..i]), trim(&pair[i + 1..]))),
                    None => out.push((&pair[..0], pair)),
                }
            }
        }
        out
    }

    /// Query arguments as raw (still encoded) (name, value) pairs.
    pub fn query_args(&self) -> Vec<(&'a [u8], &'a [u8])> {
        split_pairs(self.query.as_bytes())
    }
}

/// Splits `a=1&b=2` into raw pairs; a pair without `=` has an empty value.
pub(crate) fn split_pairs(raw: &[u8]) -> Vec<(&[u8], &[u8])> {
    raw.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|b| *b == b'=') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, &p[..0]),
        })
        .collect()
}

pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &s[start..end]
}
