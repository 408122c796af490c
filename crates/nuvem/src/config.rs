//! The one typed configuration: the `nuvem.toml` manifest schema, and how defaults, the
//! manifest, `NUVEM_*` environment variables and command-line flags combine into [`Config`].
//!
//! Only the binary reads files, env and flags; services receive their own section, already
//! validated. Unknown manifest keys are errors that name the key's path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The manifest as written in `nuvem.toml`. Every field has a default, so an empty file is a
/// valid manifest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Manifest {
    /// Where nuvem listens and keeps its data.
    pub server: ServerSection,
    /// Access keys accepted on the AWS endpoint. Empty means the LocalStack convention:
    /// access key `test`, secret `test`.
    pub credentials: Vec<CredentialSpec>,
    /// Buckets of the object store, and files to upload into them.
    pub buckets: Vec<BucketSpec>,
    /// DynamoDB-compatible tables.
    pub tables: Vec<TableSpec>,
    /// Lambda-compatible functions.
    pub functions: Vec<FunctionSpec>,
    /// API Gateway HTTP APIs.
    pub apis: Vec<ApiSpec>,
    /// The edge (CloudFront-like distribution).
    pub distribution: Option<DistributionSpec>,
    /// WAF rules applied at the edge.
    pub waf: Option<WafSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// The AWS-compatible endpoint (private). Default `127.0.0.1:4566`.
    pub api_addr: Option<SocketAddr>,
    /// The same endpoint over TLS. Off unless set.
    pub api_tls_addr: Option<SocketAddr>,
    /// The public edge. Default `0.0.0.0:8080`.
    pub edge_addr: Option<SocketAddr>,
    /// Where state lives, relative to the manifest's folder. Default `.nuvem`.
    pub data_dir: Option<PathBuf>,
    /// The region reported in ARNs and accepted in signatures. Default `us-east-1`.
    pub region: Option<String>,
    /// The account id in ARNs. Default `000000000000`.
    pub account_id: Option<String>,
    /// A PEM certificate chain and key for the TLS endpoint; a self-signed certificate for
    /// localhost is generated into the data dir when absent.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates that `https://` upstreams (gateway HTTP integrations and JWKS,
    /// edge custom origins) may chain to besides the bundled Mozilla roots, e.g. a private
    /// CA. Relative to the manifest. `[distribution] extra_ca_file` overrides it for the edge.
    pub upstream_ca_file: Option<PathBuf>,
    /// `process` (default: acknowledged writes survive a crash of nuvem) or `fsync`
    /// (they also survive power loss, at a cost per write).
    pub durability: Option<DurabilitySpec>,
    /// The request bodies the AWS endpoint may hold in memory at once, all requests together,
    /// while it reads them to check their signature (JSON APIs; S3 streams). A body that does
    /// not fit in what is left is answered 503 (SlowDown / ServiceUnavailable), which SDKs
    /// retry. Default 256 MiB; keep it above the largest body limit (about 70 MB for a Lambda
    /// code upload), or such bodies are never accepted.
    pub max_buffered_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DurabilitySpec {
    Process,
    Fsync,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    pub access_key_id: String,
    pub secret_access_key: String,
}

// Read by the service of a later issue; parsed and validated now so manifests are checked.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    pub name: String,
    /// A folder whose files are uploaded into the bucket, relative to the manifest.
    pub files: Option<PathBuf>,
    /// Whether anonymous visitors may read objects (a public-read bucket policy).
    #[serde(default)]
    pub public_read: bool,
    /// Origins (`https://site.example`, or `*`) whose browser code may GET, PUT, POST and
    /// HEAD objects directly, e.g. with presigned URLs: a CORS rule set with PutBucketCors
    /// semantics at `up`. Empty (default) leaves the bucket's CORS configuration alone.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub name: String,
    pub partition_key: KeySpec,
    pub sort_key: Option<KeySpec>,
    /// `PAY_PER_REQUEST` (default) or `PROVISIONED`.
    #[serde(default)]
    pub billing_mode: Option<String>,
    pub read_capacity: Option<u64>,
    pub write_capacity: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub name: String,
    /// `S`, `N` or `B`.
    #[serde(rename = "type")]
    pub kind: String,
}

// Read by the service of a later issue; parsed and validated now so manifests are checked.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    pub name: String,
    pub runtime: String,
    pub handler: Option<String>,
    /// The folder or executable with the function's code, relative to the manifest.
    /// Either this or `cargo_package`.
    pub code: Option<PathBuf>,
    /// A cargo package (in the manifest's workspace) whose binary is the function's
    /// `bootstrap`: `nuvem up` builds it in release mode and runs the binary it produced.
    pub cargo_package: Option<String>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    pub memory_mb: Option<u32>,
    pub timeout_seconds: Option<u32>,
}

// Read by the service of a later issue; parsed and validated now so manifests are checked.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    pub name: String,
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
}

// Read by the service of a later issue; parsed and validated now so manifests are checked.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// `METHOD /path`, `ANY /{proxy+}` or `$default`.
    pub key: String,
    /// The function the route invokes.
    pub function: Option<String>,
    /// Or an HTTP URL the route proxies to.
    pub url: Option<String>,
    /// The Lambda payload format, `2.0` (default) or `1.0`.
    pub payload_format: Option<String>,
}

/// The `[distribution]` section belongs to the edge, which documents and validates it
/// (origins, behaviors, cache policies, custom errors, locations, regional tier).
pub use nuvem_edge::spec::DistributionSpec;

// Read by the service of a later issue; parsed and validated now so manifests are checked.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafSpec {
    /// A WAFv2 WebACL JSON file, relative to the manifest.
    pub web_acl: Option<PathBuf>,
    /// `false` serves the distribution without any WebACL (like a CloudFront distribution
    /// with no `WebACLId`); the default is on.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Manifest {
    /// Parses a manifest; errors name the offending key's path (`tables[0].partition_key.typ`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            anyhow::anyhow!("at `{path}`: {}", inner.message().trim())
        })
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid manifest {}", path.display()))
    }
}

/// What `nuvem up` was asked on the command line and in `NUVEM_*` variables (clap reads
/// both; a flag wins over its variable).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub api_addr: Option<SocketAddr>,
    pub api_tls_addr: Option<SocketAddr>,
    pub edge_addr: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

/// The resolved configuration the binary runs with.
#[derive(Debug)]
pub struct Config {
    pub api_addr: SocketAddr,
    pub api_tls_addr: Option<SocketAddr>,
    pub edge_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    pub durability: nuvem_store::Durability,
    pub tls_cert: Option<(PathBuf, PathBuf)>,
    pub keyring: nuvem_aws::sigv4::Keyring,
    pub max_buffered_bytes: usize,
    /// The folder that relative paths in the manifest are relative to (bucket files and
    /// function code, read by the services of later issues).
    #[allow(dead_code)]
    pub base_dir: PathBuf,
    pub manifest: Manifest,
}

impl Config {
    /// Defaults, then the manifest, then overrides.
    pub fn resolve(manifest: Manifest, base_dir: PathBuf, o: Overrides) -> anyhow::Result<Self> {
        let s = &manifest.server;
        let api_addr = o
            .api_addr
            .or(s.api_addr)
            .unwrap_or_else(|| "127.0.0.1:4566".parse().expect("literal"));
        let edge_addr = o
            .edge_addr
            .or(s.edge_addr)
            .unwrap_or_else(|| "0.0.0.0:8080".parse().expect("literal"));
        let api_tls_addr = o.api_tls_addr.or(s.api_tls_addr);
        let data_dir = match o.data_dir {
            Some(d) => d,
            None => base_dir.join(
                s.data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(".nuvem")),
            ),
        };
        let region = s.region.clone().unwrap_or_else(|| "us-east-1".into());
        let account_id = s
            .account_id
            .clone()
            .unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("at `server.account_id`: an account id is 12 digits, got {account_id:?}");
        }
        let durability = match s.durability {
            None | Some(DurabilitySpec::Process) => nuvem_store::Durability::Process,
            Some(DurabilitySpec::Fsync) => nuvem_store::Durability::Fsync,
        };
        let tls_cert = match (&s.tls_cert, &s.tls_key) {
            (Some(c), Some(k)) => Some((base_dir.join(c), base_dir.join(k))),
            (None, None) => None,
            _ => bail!("at `server`: tls_cert and tls_key go together"),
        };
        let max_buffered_bytes =
            usize::try_from(s.max_buffered_bytes.unwrap_or(256 << 20)).unwrap_or(usize::MAX);
        let mut keyring = nuvem_aws::sigv4::Keyring::new();
        if manifest.credentials.is_empty() {
            keyring.insert("test", "test");
        }
        for (i, c) in manifest.credentials.iter().enumerate() {
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                bail!(
                    "at `credentials[{i}]`: access_key_id and secret_access_key must not be empty"
                );
            }
            keyring.insert(c.access_key_id.clone(), c.secret_access_key.clone());
        }
        Ok(Self {
            api_addr,
            api_tls_addr,
            edge_addr,
            data_dir,
            region,
            account_id,
            durability,
            tls_cert,
            keyring,
            max_buffered_bytes,
            base_dir,
            manifest,
        })
    }
}

impl Config {
    /// The extra CA certificates (PEM) for `https://` upstreams: `file` (a section's own
    /// setting) if given, else `server.upstream_ca_file`; read relative to the manifest.
    pub fn upstream_ca_pem(&self, file: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(file) = file.or(self.manifest.server.upstream_ca_file.as_deref()) else {
            return Ok(None);
        };
        let path = self.base_dir.join(file);
        std::fs::read(&path)
            .map(Some)
            .with_context(|| format!("reading the upstream CA file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Result<(), &str>) {
        match (Manifest::parse(text), expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(msg)) => {
                let got = format!("{e:#}");
                assert!(got.contains(msg), "error {got:?} should contain {msg:?}");
            }
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn manifests() {
        check("", Ok(()));
        check("[server]\napi_addr = \"127.0.0.1:4566\"\n", Ok(()));
        check(
            "[[tables]]\nname = \"items\"\npartition_key = { name = \"id\", type = \"S\" }\n",
            Ok(()),
        );
        check(
            "[[buckets]]\nname = \"media\"\ncors_origins = [\"*\"]\n",
            Ok(()),
        );
        check("[waf]\nweb_acl = \"waf.json\"\n", Ok(()));
        check("[waf]\nenabled = false\n", Ok(()));
        check("[waf]\nenabled = \"no\"\n", Err("at `waf.enabled`"));
        check("[server]\nupstream_ca_file = \"ca.pem\"\n", Ok(()));
        check(include_str!("../../../examples/meusite/nuvem.toml"), Ok(()));
        check("[servr]\n", Err("unknown field `servr`"));
        check(
            "[[tables]]\nname = \"t\"\npartition_key = { name = \"id\", typ = \"S\" }\n",
            Err("at `tables[0].partition_key.typ`"),
        );
        check(
            "[server]\napi_addr = \"nope\"\n",
            Err("at `server.api_addr`"),
        );
        check(
            "[server]\ndurability = \"sometimes\"\n",
            Err("at `server.durability`"),
        );
    }

    #[test]
    fn precedence() {
        let m = Manifest::parse(
            "[server]\napi_addr = \"127.0.0.1:5000\"\nedge_addr = \"127.0.0.1:5001\"\n",
        )
        .unwrap();
        let o = Overrides {
            edge_addr: Some("127.0.0.1:6001".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::resolve(m, PathBuf::from("/srv/site"), o).unwrap();
        assert_eq!(
            c.api_addr.to_string(),
            "127.0.0.1:5000",
            "manifest over default"
        );
        assert_eq!(
            c.edge_addr.to_string(),
            "127.0.0.1:6001",
            "flag over manifest"
        );
        assert_eq!(
            c.data_dir,
            PathBuf::from("/srv/site/.nuvem"),
            "data dir relative to the manifest"
        );
        assert_eq!(
            c.keyring.secret("test"),
            Some("test"),
            "default credentials"
        );
        let c = Config::resolve(
            Manifest::default(),
            PathBuf::from("."),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.api_addr.to_string(),
            "127.0.0.1:4566",
            "private by default"
        );
        assert!(
            Config::resolve(
                Manifest::parse("[server]\naccount_id = \"12\"\n").unwrap(),
                ".".into(),
                Overrides::default()
            )
            .is_err()
        );
    }
}
