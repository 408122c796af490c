//! The `[distribution]` section of `nuvem.toml` as written (serde types), and its validation
//! into a [`crate::Distribution`]. The binary parses the manifest; this module only says what
//! the section may contain.
//!
//! Must not: read files, env or sockets. Field names follow CloudFront's distribution model
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/distribution-web-values-specify.html>)
//! in snake_case.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The edge: a distribution, its behaviors, its locations and its regional tier.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributionSpec {
    /// The distribution's id in the CloudFront API (invalidations). Default `EDFDVBD6EXAMPLE`.
    pub id: Option<String>,
    /// The object served for `/` (CloudFront applies it to the root only), e.g. `index.html`.
    pub default_root_object: Option<String>,
    /// Ordered cache behaviors; the first whose pattern matches wins, `default` (or `*`)
    /// matches everything and is conventionally last.
    pub behaviors: Vec<BehaviorSpec>,
    /// Custom error responses (e.g. 404 → `/404.html`).
    pub custom_error_responses: Vec<CustomErrorSpec>,
    /// Edge locations, each its own listener and its own cache. Empty means one location,
    /// `edge`, on the server's `edge_addr`.
    pub locations: Vec<LocationSpec>,
    /// Memory of each location's cache in MiB. Default 64.
    pub location_cache_mb: Option<u64>,
    /// The regional tier shared by all locations.
    pub regional: RegionalSpec,
    /// A PEM file of CA certificates that `https://` custom origins may chain to besides
    /// the bundled Mozilla roots (a private CA), relative to the manifest. Read by the binary
    /// into [`crate::Distribution::extra_ca_pem`]; default: the server's `upstream_ca_file`.
    pub extra_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSpec {
    /// The name reported in `X-Amz-Cf-Pop`, e.g. `GRU1`.
    pub name: String,
    /// Where it listens. The first location defaults to the server's `edge_addr`.
    pub addr: Option<SocketAddr>,
    /// Where it also listens with HTTPS (the server's `tls_cert`/`tls_key`, or a self-signed
    /// certificate for localhost generated into the data dir). Off unless set.
    pub https_addr: Option<SocketAddr>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegionalSpec {
    /// Memory of the regional cache in MiB. Default 256.
    pub memory_mb: Option<u64>,
    /// Disk of the regional cache in MiB (under the data dir, survives restarts). Default
    /// 1024; 0 turns the disk tier off.
    pub disk_mb: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviorSpec {
    /// `/api/*`, `*.jpg`, `/images/*.png`, or `default`.
    pub path_pattern: String,
    /// `bucket:<name>`, `api:<name>` or an `http://` or `https://` URL (a custom origin).
    pub origin: String,
    /// `GET,HEAD` (default), `GET,HEAD,OPTIONS`, or all seven methods.
    #[serde(default)]
    pub allowed_methods: Option<Vec<String>>,
    /// `allow-all` (default), `redirect-to-https` or `https-only`.
    #[serde(default)]
    pub viewer_protocol_policy: Option<String>,
    /// Compress compressible responses with gzip or brotli. Default true.
    #[serde(default)]
    pub compress: Option<bool>,
    /// TTL bounds in seconds (CloudFront's defaults: 0, 86400, 31536000).
    pub min_ttl: Option<u64>,
    pub default_ttl: Option<u64>,
    pub max_ttl: Option<u64>,
    /// What goes into the cache key besides the path.
    #[serde(default)]
    pub cache_key: CacheKeySpec,
    /// What else of the viewer's request reaches the origin (CloudFront's origin request
    /// policy). Without it, a cacheable request carries to the origin only what the cache key
    /// holds, so that a response can never depend on something the key does not tell apart.
    #[serde(default)]
    pub origin_request: OriginRequestSpec,
}

/// An origin request policy: headers, cookies and query strings forwarded besides the cache
/// key's. Each is `"none"` (default), `"all"` or a list of names; all three `"all"` is AWS's
/// managed `AllViewer` policy, what an API behind the edge usually wants.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OriginRequestSpec {
    pub headers: Option<NameList>,
    pub cookies: Option<NameList>,
    pub query_strings: Option<NameList>,
}

/// The cache key part of a cache policy. Each list is `"none"`, `"all"` or a list of names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheKeySpec {
    /// Default: none (headers in the key are also what the cache varies on).
    pub headers: Option<NameList>,
    /// Default: none.
    pub cookies: Option<NameList>,
    /// Default: all.
    pub query_strings: Option<NameList>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NameList {
    /// `"none"` or `"all"`.
    Keyword(String),
    Names(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomErrorSpec {
    /// The origin's status, 400-599.
    pub error_code: u16,
    /// The page served instead, fetched through the distribution (e.g. `/404.html`).
    pub response_page_path: Option<String>,
    /// The status the viewer sees. Default: the origin's.
    pub response_code: Option<u16>,
    /// How long the error is cached, seconds. Default 10 (CloudFront's).
    pub error_caching_min_ttl: Option<u64>,
}
