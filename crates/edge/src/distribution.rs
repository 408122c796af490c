//! The resolved distribution: behaviors with their path patterns, cache policies and origins,
//! custom error responses, locations. Built once from a [`DistributionSpec`] and validated;
//! UpdateDistribution replaces the edge's copy whole (`config`), never edits one in place.
//!
//! Must not: do I/O. Path patterns follow CloudFront's rules
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/distribution-web-values-specify.html#DownloadDistValuesPathPattern>):
//! case-sensitive, `*` is any run of characters, `?` exactly one, first match wins.

use std::net::SocketAddr;

use http::{HeaderName, Method};

use crate::Error;
use crate::spec::{BehaviorSpec, DistributionSpec, NameList};

/// Where a behavior's requests go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OriginRef {
    /// A bucket of the object store, read in process.
    Bucket(String),
    /// An HTTP API of the gateway, called in process.
    Api(String),
    /// A custom HTTP origin, `http[s]://host:port[/prefix]`.
    Url(String),
    /// A function's URL (Lambda function URLs as CloudFront origins), called in process.
    Function(String),
}

impl OriginRef {
    pub fn parse(s: &str) -> Result<Self, Error> {
        if let Some(name) = s.strip_prefix("bucket:") {
            return Ok(OriginRef::Bucket(name.to_string()));
        }
        if let Some(name) = s.strip_prefix("api:") {
            return Ok(OriginRef::Api(name.to_string()));
        }
        if let Some(name) = s.strip_prefix("function:") {
            return Ok(OriginRef::Function(name.to_string()));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            let uri: http::Uri = s
                .parse()
                .map_err(|e| Error::Config(format!("origin {s:?} is not a URL: {e}")))?;
            if uri.host().is_none() {
                return Err(Error::Config(format!("origin {s:?} has no host")));
            }
            return Ok(OriginRef::Url(s.trim_end_matches('/').to_string()));
        }
        Err(Error::Config(format!(
            "origin {s:?} must be `bucket:<name>`, `api:<name>`, `function:<name>` or an http:// or https:// URL"
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerProtocol {
    AllowAll,
    RedirectToHttps,
    HttpsOnly,
}

/// Which names of one kind (headers, cookies, query strings) a cache key includes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Names {
    None,
    All,
    /// Lower-cased for headers; as written for cookies and query strings.
    Only(Vec<String>),
}

impl Names {
    fn parse(list: Option<&NameList>, default: Names, what: &str) -> Result<Self, Error> {
        match list {
            None => Ok(default),
            Some(NameList::Keyword(k)) if k == "none" => Ok(Names::None),
            Some(NameList::Keyword(k)) if k == "all" => Ok(Names::All),
            Some(NameList::Keyword(k)) => Err(Error::Config(format!(
                "{what}: {k:?} must be \"none\", \"all\" or a list of names"
            ))),
            Some(NameList::Names(n)) => Ok(Names::Only(n.clone())),
        }
    }

    pub fn includes(&self, name: &str) -> bool {
        match self {
            Names::None => false,
            Names::All => true,
            Names::Only(n) => n.iter().any(|x| x == name),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CachePolicy {
    pub min_ttl: u64,
    pub default_ttl: u64,
    pub max_ttl: u64,
    /// Header names in the key, lower-case (CloudFront allows a list, not "all").
    pub headers: Vec<HeaderName>,
    pub cookies: Names,
    pub query_strings: Names,
    /// The origin request policy: what is forwarded besides the key's names.
    pub origin_request: OriginRequestPolicy,
}

/// What of a viewer's request a cacheable origin request carries besides the cache key's
/// headers, cookies and query strings (CloudFront's origin request policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRequestPolicy {
    /// Lower-cased names.
    pub headers: Names,
    pub cookies: Names,
    pub query_strings: Names,
}

impl CachePolicy {
    /// Whether the viewer's header `name` (lower-case) is sent to the origin.
    pub fn forwards_header(&self, name: &HeaderName) -> bool {
        self.headers.contains(name) || self.origin_request.headers.includes(name.as_str())
    }

    pub fn forwards_cookie(&self, name: &str) -> bool {
        self.cookies.includes(name) || self.origin_request.cookies.includes(name)
    }

    pub fn forwards_query(&self, name: &str) -> bool {
        self.query_strings.includes(name) || self.origin_request.query_strings.includes(name)
    }
}

#[derive(Debug, Clone)]
pub struct Behavior {
    pub pattern: String,
    pub origin: OriginRef,
    pub methods: Vec<Method>,
    pub viewer_protocol: ViewerProtocol,
    pub compress: bool,
    pub policy: CachePolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomError {
    pub error_code: u16,
    pub page: Option<String>,
    pub response_code: Option<u16>,
    pub caching_min_ttl: u64,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub name: String,
    pub addr: Option<SocketAddr>,
    pub https_addr: Option<SocketAddr>,
}

/// A validated distribution.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub id: String,
    pub default_root_object: Option<String>,
    pub behaviors: Vec<Behavior>,
    pub custom_errors: Vec<CustomError>,
    pub locations: Vec<Location>,
    pub location_cache_bytes: u64,
    pub regional_memory_bytes: u64,
    pub regional_disk_bytes: u64,
    /// Where the regional tier keeps its disk layer. Set by the binary (under the data dir);
    /// `None` keeps the regional tier in memory only.
    pub disk_dir: Option<std::path::PathBuf>,
    /// PEM certificates `https://` custom origins may chain to besides Mozilla's roots. Set
    /// by the binary from the spec's `extra_ca_file` (or the server's `upstream_ca_file`).
    pub extra_ca_pem: Option<Vec<u8>>,
}

const MIB: u64 = 1024 * 1024;

impl Distribution {
    /// Validates a manifest section. Errors name the offending field.
    pub fn from_spec(spec: &DistributionSpec) -> Result<Self, Error> {
        let mut behaviors = Vec::new();
        for (i, b) in spec.behaviors.iter().enumerate() {
            behaviors
                .push(behavior(b).map_err(|e| {
                    Error::Config(format!("at `distribution.behaviors[{i}]`: {e}"))
                })?);
        }
        if behaviors.is_empty() {
            return Err(Error::Config(
                "at `distribution.behaviors`: a distribution needs at least a default behavior"
                    .into(),
            ));
        }
        let mut custom_errors = Vec::new();
        for (i, c) in spec.custom_error_responses.iter().enumerate() {
            let at = format!("at `distribution.custom_error_responses[{i}]`");
            if !(400..=599).contains(&c.error_code) {
                return Err(Error::Config(format!(
                    "{at}: error_code {} is not 400-599",
                    c.error_code
                )));
            }
            if let Some(p) = &c.response_page_path
                && !p.starts_with('/')
            {
                return Err(Error::Config(format!(
                    "{at}: response_page_path must start with /"
                )));
            }
            if let Some(code) = c.response_code
                && !(200..=599).contains(&code)
            {
                return Err(Error::Config(format!(
                    "{at}: response_code {code} is not 200-599"
                )));
            }
            custom_errors.push(CustomError {
                error_code: c.error_code,
                page: c.response_page_path.clone(),
                response_code: c.response_code,
                caching_min_ttl: c.error_caching_min_ttl.unwrap_or(10),
            });
        }
        let mut locations: Vec<Location> = spec
            .locations
            .iter()
            .map(|l| Location {
                name: l.name.clone(),
                addr: l.addr,
                https_addr: l.https_addr,
            })
            .collect();
        for (i, l) in locations.iter().enumerate() {
            let valid = !l.name.is_empty()
                && l.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid {
                return Err(Error::Config(format!(
                    "at `distribution.locations[{i}].name`: {:?} must be letters, digits and -",
                    l.name
                )));
            }
        }
        if locations.is_empty() {
            locations.push(Location {
                name: "edge".into(),
                addr: None,
                https_addr: None,
            });
        }
        if let Some(o) = &spec.default_root_object
            && (o.is_empty() || o.starts_with('/'))
        {
            return Err(Error::Config(
                "at `distribution.default_root_object`: a name like `index.html`, without a leading /"
                    .into(),
            ));
        }
        let id = spec.id.clone().unwrap_or_else(|| "EDFDVBD6EXAMPLE".into());
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::Config(format!(
                "at `distribution.id`: {id:?} must be letters and digits"
            )));
        }
        Ok(Self {
            id,
            default_root_object: spec.default_root_object.clone(),
            behaviors,
            custom_errors,
            locations,
            location_cache_bytes: spec.location_cache_mb.unwrap_or(64) * MIB,
            regional_memory_bytes: spec.regional.memory_mb.unwrap_or(256) * MIB,
            regional_disk_bytes: spec.regional.disk_mb.unwrap_or(1024) * MIB,
            disk_dir: None,
            extra_ca_pem: None,
        })
    }

    /// The behavior for a path: the first matching pattern, else the last behavior (the
    /// default one).
    pub fn behavior_for(&self, path: &str) -> (usize, &Behavior) {
        for (i, b) in self.behaviors.iter().enumerate() {
            if pattern_matches(&b.pattern, path) {
                return (i, b);
            }
        }
        let last = self.behaviors.len() - 1;
        (last, &self.behaviors[last])
    }

    pub fn custom_error(&self, status: u16) -> Option<&CustomError> {
        self.custom_errors.iter().find(|c| c.error_code == status)
    }
}

fn behavior(b: &BehaviorSpec) -> Result<Behavior, Error> {
    let pattern = match b.path_pattern.as_str() {
        "default" | "*" => "*".to_string(),
        p if p.starts_with('/') || p.starts_with('*') => p.to_string(),
        p => format!("/{p}"),
    };
    let origin = OriginRef::parse(&b.origin)?;
    let methods = match &b.allowed_methods {
        None => vec![Method::GET, Method::HEAD],
        Some(list) => {
            let mut out = Vec::new();
            for m in list {
                let m: Method = m.to_ascii_uppercase().parse().map_err(|_| {
                    Error::Config(format!("allowed_methods: {m:?} is not a method"))
                })?;
                out.push(m);
            }
            // CloudFront's three sets; GET and HEAD are always in.
            for must in [Method::GET, Method::HEAD] {
                if !out.contains(&must) {
                    return Err(Error::Config(
                        "allowed_methods must include GET and HEAD".into(),
                    ));
                }
            }
            out
        }
    };
    let viewer_protocol = match b.viewer_protocol_policy.as_deref() {
        None | Some("allow-all") => ViewerProtocol::AllowAll,
        Some("redirect-to-https") => ViewerProtocol::RedirectToHttps,
        Some("https-only") => ViewerProtocol::HttpsOnly,
        Some(other) => {
            return Err(Error::Config(format!(
                "viewer_protocol_policy {other:?} must be allow-all, redirect-to-https or https-only"
            )));
        }
    };
    // CloudFront's defaults for a legacy cache behavior.
    let min_ttl = b.min_ttl.unwrap_or(0);
    let max_ttl = b.max_ttl.unwrap_or(31_536_000);
    let default_ttl = b.default_ttl.unwrap_or(86_400.min(max_ttl));
    if !(min_ttl <= default_ttl && default_ttl <= max_ttl) {
        return Err(Error::Config(format!(
            "TTLs must satisfy min_ttl <= default_ttl <= max_ttl, got {min_ttl}, {default_ttl}, {max_ttl}"
        )));
    }
    let headers = match &b.cache_key.headers {
        None => Vec::new(),
        Some(NameList::Keyword(k)) if k == "none" => Vec::new(),
        Some(NameList::Keyword(k)) => {
            return Err(Error::Config(format!(
                "cache_key.headers: {k:?} must be \"none\" or a list of header names"
            )));
        }
        Some(NameList::Names(n)) => n
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                    .map_err(|_| Error::Config(format!("cache_key.headers: {h:?} is not a header")))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Behavior {
        pattern,
        origin,
        methods,
        viewer_protocol,
        compress: b.compress.unwrap_or(true),
        policy: CachePolicy {
            min_ttl,
            default_ttl,
            max_ttl,
            headers,
            cookies: Names::parse(
                b.cache_key.cookies.as_ref(),
                Names::None,
                "cache_key.cookies",
            )?,
            query_strings: Names::parse(
                b.cache_key.query_strings.as_ref(),
                Names::All,
                "cache_key.query_strings",
            )?,
            origin_request: OriginRequestPolicy {
                headers: match Names::parse(
                    b.origin_request.headers.as_ref(),
                    Names::None,
                    "origin_request.headers",
                )? {
                    Names::Only(n) => {
                        Names::Only(n.iter().map(|h| h.to_ascii_lowercase()).collect())
                    }
                    other => other,
                },
                cookies: Names::parse(
                    b.origin_request.cookies.as_ref(),
                    Names::None,
                    "origin_request.cookies",
                )?,
                query_strings: Names::parse(
                    b.origin_request.query_strings.as_ref(),
                    Names::None,
                    "origin_request.query_strings",
                )?,
            },
        },
    })
}

/// CloudFront's glob: `*` any run of characters (including `/`), `?` exactly one.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}
