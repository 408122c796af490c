//! Route keys and route selection, as API Gateway documents for HTTP APIs
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html):
//! the most specific route wins — literal segments over `{param}` over greedy `{proxy+}`,
//! segment by segment from the left; a route for the request's method over `ANY`; `$default`
//! catches what nothing else matches. A greedy variable matches one or more segments, so
//! `ANY /{proxy+}` does not match `/`.
//!
//! Pure: no I/O.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

/// A parsed route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    Default,
    Path {
        /// Upper case; `ANY` matches every method.
        method: String,
        segments: Vec<Segment>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

const METHODS: &[&str] = &[
    "ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
];

impl RouteKey {
    /// Parses `$default` or `METHOD /path`; the error says what is wrong, in the words of
    /// API Gateway's `BadRequestException`.
    pub fn parse(key: &str) -> Result<Self, String> {
        if key == "$default" {
            return Ok(Self::Default);
        }
        let Some((method, path)) = key.split_once(' ') else {
            return Err(format!("Invalid route key: {key}"));
        };
        if !METHODS.contains(&method) {
            return Err(format!("Invalid HTTP method in route key: {key}"));
        }
        if !path.starts_with('/') {
            return Err(format!("Route key path must start with '/': {key}"));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = path[1..].split('/').collect();
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            if part.is_empty() {
                if count == 1 {
                    break; // `/` alone
                }
                return Err(format!("Route key path has an empty segment: {key}"));
            }
            let seg = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) if i + 1 == count && !greedy.is_empty() => {
                        Segment::Greedy(greedy.to_string())
                    }
                    Some(_) => {
                        return Err(format!(
                            "A greedy path variable must be the last segment: {key}"
                        ));
                    }
                    None if !name.is_empty() => Segment::Param(name.to_string()),
                    None => return Err(format!("Empty path variable in route key: {key}")),
                },
                None if part.contains('{') || part.contains('}') => {
                    return Err(format!("Invalid path variable in route key: {key}"));
                }
                None => Segment::Literal(part.to_string()),
            };
            segments.push(seg);
        }
        Ok(Self::Path {
            method: method.to_string(),
            segments,
        })
    }

    /// The `resource` of payload 1.0: the route's path template.
    pub fn resource(&self) -> String {
        match self {
            Self::Default => "$default".into(),
            Self::Path { segments, .. } => {
                let mut out = String::new();
                for s in segments {
                    out.push('/');
                    match s {
                        Segment::Literal(l) => out.push_str(l),
                        Segment::Param(p) => {
                            out.push('{');
                            out.push_str(p);
                            out.push('}');
                        }
                        Segment::Greedy(g) => {
                            out.push('{');
                            out.push_str(g);
                            out.push_str("+}");
                        }
                    }
                }
                if out.is_empty() {
                    out.push('/');
                }
                out
            }
        }
    }
}

/// How well a route matched: compared lexicographically, bigger is more specific.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Specificity {
    segments: Vec<u8>,
    exact_method: bool,
}

/// The route chosen for a request and the path parameters it captured (URL-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<T> {
    pub route: T,
    pub path_parameters: BTreeMap<String, String>,
}

/// Chooses among `routes` (key, payload) the most specific one for `method` and `path`.
pub fn select<'a, T>(
    routes: impl IntoIterator<Item = (&'a RouteKey, T)>,
    method: &str,
    path: &str,
) -> Option<Match<T>> {
    let request: Vec<&str> = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut best: Option<(Specificity, Match<T>)> = None;
    let mut default = None;
    for (key, route) in routes {
        match key {
            RouteKey::Default => default = Some(route),
            RouteKey::Path {
                method: m,
                segments,
            } => {
                if m != "ANY" && m != method {
                    continue;
                }
                let Some((rank, params)) = match_segments(segments, &request) else {
                    continue;
                };
                let spec = Specificity {
                    segments: rank,
                    exact_method: m != "ANY",
                };
                if best.as_ref().is_none_or(|(b, _)| spec > *b) {
                    best = Some((
                        spec,
                        Match {
                            route,
                            path_parameters: params,
                        },
                    ));
                }
            }
        }
    }
    best.map(|(_, m)| m).or_else(|| {
        default.map(|route| Match {
            route,
            path_parameters: BTreeMap::new(),
        })
    })
}

fn match_segments(
    segments: &[Segment],
    request: &[&str],
) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let mut rank = Vec::with_capacity(segments.len());
    let mut params = BTreeMap::new();
    for (i, seg) in segments.iter().enumerate() {
        match seg {
            Segment::Greedy(name) => {
                let rest = request.get(i..).filter(|r| !r.is_empty())?;
                params.insert(name.clone(), decode(&rest.join("/")));
                rank.push(0);
                return Some((rank, params));
            }
            Segment::Literal(l) => {
                if request.get(i)? != l {
                    return None;
                }
                rank.push(2);
            }
            Segment::Param(name) => {
                params.insert(name.clone(), decode(request.get(i)?));
                rank.push(1);
            }
        }
    }
    (segments.len() == request.len()).then_some((rank, params))
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}
