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
    /// The private plane's exposure and its security group.
    pub network: NetworkSection,
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
    /// Interpreters by Lambda runtime identifier, for versions that are not on `PATH` under
    /// their own name: `"python3.12" = "/opt/python3.12/bin/python3"`.
    pub runtimes: std::collections::BTreeMap<String, PathBuf>,
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
    /// Where the store lives: absent or `embedded` (default) for the embedded engine in the
    /// data dir, or a PostgreSQL connection URL (`postgres://user:password@host:5432/db`,
    /// `?sslmode=require` for TLS) for the PostgreSQL-protocol engine (PostgreSQL,
    /// CockroachDB, YugabyteDB). With a database, object data lives there too (in chunks),
    /// so that several nuvem processes with their own data dirs serve the same buckets.
    pub storage: Option<String>,
    /// With a database: how long, in seconds, an upload may stay idle, and a reader of an
    /// object that was deleted or overwritten keep reading it, before the object's data is
    /// collected. Default 900.
    pub blob_grace_secs: Option<u64>,
    /// The file of the master key that wraps the data keys of S3 objects encrypted at rest
    /// (SSE-S3): 32 random bytes, created (0600) at first start when missing. Default
    /// `<data_dir>/keys/master.key`, outside the blob directory. Relative to the manifest.
    /// Nodes sharing a database must all use the same key file: once an SSE-S3 object exists,
    /// a node with another key refuses to start.
    pub master_key_file: Option<PathBuf>,
    /// The request bodies the AWS endpoint may hold in memory at once, all requests together,
    /// while it reads them to check their signature (JSON APIs; S3 streams). A body that does
    /// not fit in what is left is answered 503 (SlowDown / ServiceUnavailable), which SDKs
    /// retry. Default 256 MiB; keep it above the largest body limit (about 70 MB for a Lambda
    /// code upload), or such bodies are never accepted.
    pub max_buffered_bytes: Option<u64>,
    /// On a shared store (several nodes on one database): how often, in milliseconds, a
    /// node checks whether another node changed what it keeps in memory (WebACLs, APIs,
    /// invalidations…). Default 250; 10 to 60000.
    pub watch_interval_ms: Option<u64>,
    /// How often, in milliseconds, DynamoDB's background sweep runs: it deletes the items
    /// whose Time to Live expired and trims stream records older than 24 hours (on one node
    /// of a cluster at a time). Default 30000; 10 to 3600000.
    pub ttl_sweep_ms: Option<u64>,
    /// How often, in milliseconds, S3's lifecycle sweep runs: it expires objects, noncurrent
    /// versions and delete markers, and aborts incomplete multipart uploads, as the buckets'
    /// lifecycle rules say (on one node of a cluster at a time). Default 600000 (ten minutes);
    /// 10 to 86400000.
    pub lifecycle_sweep_ms: Option<u64>,
    /// The length, in seconds, of a day for S3 lifecycle rules (`Days`, `NoncurrentDays`,
    /// `DaysAfterInitiation`, and the midnight expiries are rounded up to). Default 86400; a
    /// shorter day is for tests. 1 to 86400.
    pub lifecycle_day_secs: Option<u64>,
    /// How many seconds of unused provisioned capacity a DynamoDB table (or global index)
    /// keeps for bursts, as DynamoDB's burst capacity. Default 300; 1 to 3600 (short for
    /// tests).
    pub dynamodb_burst_secs: Option<u64>,
    /// The length, in milliseconds, of the metrics window Application Auto Scaling's
    /// scaler observes consumed capacity over and acts on (CloudWatch's one-minute period).
    /// Default 60000; 100 to 3600000 (short for tests).
    pub autoscaling_window_ms: Option<u64>,
    /// Listener limits (slowloris, slow uploads, connection floods), for every listener.
    pub limits: LimitsSpec,
    /// A bearer token that lets a scraper read `GET /_nuvem/metrics` without signing
    /// (`Authorization: Bearer <token>`, Prometheus' `authorization` setting); signed callers
    /// need none. At least 16 characters. `NUVEM_METRICS_TOKEN` overrides it.
    pub metrics_token: Option<Secret>,
    /// Whether requests are recorded for `GET /_nuvem/metrics` (default true). With `false`
    /// nothing is recorded per request and the endpoint answers 404; `NUVEM_METRICS=off`
    /// (or `on`) overrides it.
    pub metrics: Option<bool>,
}

/// `[network]`: the private plane (the AWS endpoint, plain and TLS) and who may reach it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// The AWS endpoint holds every credential check and the whole control plane: binding it
    /// on an address other than loopback is refused unless this is `true`.
    pub expose_private: bool,
    /// The security group of the private listeners: connections from sources that no rule
    /// allows are refused at accept time. No rules: every source that can reach the address.
    pub ingress: Vec<IngressSpec>,
    /// A WireGuard endpoint that places its peers on the private plane.
    pub vpn: Option<VpnSpec>,
}

/// `[network.vpn]`: nuvem's WireGuard endpoint. Peers reach nuvem's inner `address` on the
/// private listeners' ports (the AWS endpoint's, plain and TLS), through the same security
/// group as any other client (their inner addresses are the sources it sees), and nothing
/// else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnSpec {
    /// The UDP address WireGuard listens on. Default `127.0.0.1:51820`: peers elsewhere need
    /// an address they can reach, written here explicitly (`0.0.0.0:51820`).
    pub listen: Option<SocketAddr>,
    /// nuvem's private key (base64, as `wg genkey` or `nuvem vpn-keygen` print it), or
    /// `private_key_file`: a file holding it, relative to the manifest. One of the two.
    pub private_key: Option<Secret>,
    pub private_key_file: Option<PathBuf>,
    /// nuvem's address inside the tunnel. Default `10.99.0.1`.
    pub address: Option<std::net::Ipv4Addr>,
    #[serde(default)]
    pub peers: Vec<VpnPeerSpec>,
}

/// `[[network.vpn.peers]]`: one peer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnPeerSpec {
    /// The peer's public key (base64).
    pub public_key: String,
    /// The inner addresses the peer sends from (`["10.99.0.2/32"]`): packets from any other
    /// source are dropped, and replies to these go to this peer. No two peers share one.
    pub allowed_ips: Vec<String>,
    /// An optional preshared key (base64, `wg genpsk`), the same on both sides.
    pub preshared_key: Option<Secret>,
    /// Where to reach the peer before it has sent anything (`host:port`); afterwards, where
    /// its last authenticated packet came from.
    pub endpoint: Option<SocketAddr>,
    /// Seconds between keepalives, for a peer behind NAT.
    pub persistent_keepalive: Option<u16>,
}

/// The metrics bearer token, resolved: `Debug` never shows it.
pub struct MetricsToken(pub String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A secret from the manifest: `Debug` never shows it.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// One inbound rule: `{ cidr = "10.0.0.0/8" }`, or with `ports = [4566]` (the private
/// listeners' ports it covers; all when absent).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressSpec {
    pub cidr: String,
    #[serde(default)]
    pub ports: Vec<u16>,
}

/// `[server.limits]`: what one client may hold at the listeners. Every key is optional; the
/// defaults are in [`LimitsSpec::resolve`].
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSpec {
    /// A new connection must complete its first request head (TLS handshake included)
    /// within this, and an HTTP/1.1 request head must arrive within this once started or
    /// once the connection went idle. Default 10.
    pub header_read_timeout_seconds: Option<u64>,
    /// A connection with no request in flight is closed after this. Default 60 (HTTP/1.1
    /// connections also wait at most `header_read_timeout_seconds` for their next request).
    pub keep_alive_idle_seconds: Option<u64>,
    /// Request bodies must arrive at least this fast on average beyond the grace period;
    /// 0 turns the check off. Default 1024.
    pub min_body_bytes_per_second: Option<u64>,
    /// Default 10.
    pub body_rate_grace_seconds: Option<u64>,
    /// Request line and headers at the edge (HTTP/2: the header list); at least 8192.
    /// Default 20480 (CloudFront's quota).
    pub max_head_bytes: Option<usize>,
    /// The same on the AWS endpoint. Default 65536: HTTP/1.1 bodies are read through a
    /// buffer of this size, and S3 uploads go faster with a bigger one.
    pub api_max_head_bytes: Option<usize>,
    /// Open connections from one IP to the edge (all locations together). Default 256.
    pub max_connections_per_ip: Option<usize>,
    /// Open connections to the edge. Default: derived from the file-descriptor limit.
    pub max_connections: Option<usize>,
    /// Open connections to the AWS endpoint (plain and TLS together), a budget of its own
    /// that an edge flood cannot use. Default: an eighth of the descriptor limit, 64 to 1024.
    pub api_max_connections: Option<usize>,
    /// Open connections from one IP to the AWS endpoint. Default: `api_max_connections`.
    pub api_max_connections_per_ip: Option<usize>,
    /// New edge connections per IP per second (token bucket), 0 = off (default).
    pub accepts_per_ip_per_second: Option<u32>,
    /// The bucket's size. Default 200.
    pub accept_burst: Option<u32>,
    /// Descriptors kept for everything but client connections (store, blobs, functions,
    /// logs). Default 128.
    pub fd_reserve: Option<u64>,
    /// HTTP/2 streams per connection. Default 128.
    pub h2_max_concurrent_streams: Option<u32>,
    /// HTTP/2 streams a client may reset before the server accepted them (rapid reset,
    /// CVE-2023-44487) before the connection is closed. Default 20.
    pub h2_max_pending_reset_streams: Option<usize>,
}

/// The limits of the two listener groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLimits {
    pub edge: nuvem_waf::shield::Limits,
    pub api: nuvem_waf::shield::Limits,
}

impl LimitsSpec {
    /// The limits for a process allowed `nofile` descriptors: the AWS endpoint gets its own
    /// budget and `fd_reserve` is kept for the rest, so that a flood of the edge never
    /// makes the AWS endpoint unreachable; the edge gets half of what is left, because an
    /// edge connection may hold a second descriptor (an origin connection, a blob file).
    pub fn resolve(&self, nofile: u64) -> anyhow::Result<ListenerLimits> {
        use std::time::Duration;
        let secs = |v: Option<u64>, default: u64, key: &str| -> anyhow::Result<Duration> {
            match v.unwrap_or(default) {
                0 => bail!("at `server.limits.{key}`: must be at least 1"),
                n => Ok(Duration::from_secs(n)),
            }
        };
        let positive = |v: Option<usize>, key: &str| -> anyhow::Result<Option<usize>> {
            match v {
                Some(0) => bail!("at `server.limits.{key}`: must be at least 1"),
                v => Ok(v),
            }
        };
        let nofile = usize::try_from(nofile).unwrap_or(usize::MAX);
        let reserve = usize::try_from(self.fd_reserve.unwrap_or(128)).unwrap_or(usize::MAX);
        let api_max = positive(self.api_max_connections, "api_max_connections")?
            .unwrap_or_else(|| (nofile / 8).clamp(64, 1024));
        let edge_max = positive(self.max_connections, "max_connections")?.unwrap_or_else(|| {
            (nofile.saturating_sub(reserve).saturating_sub(api_max) / 2).max(64)
        });
        let head = |v: Option<usize>, default: usize, key: &str| -> anyhow::Result<usize> {
            match v.unwrap_or(default) {
                n if n < 8192 => {
                    bail!("at `server.limits.{key}`: at least 8192 (hyper's smallest buffer)")
                }
                n => Ok(n),
            }
        };
        let max_head = head(self.max_head_bytes, 20_480, "max_head_bytes")?;
        let api_max_head = head(self.api_max_head_bytes, 65_536, "api_max_head_bytes")?;
        let base = nuvem_waf::shield::Limits {
            header_read_timeout: secs(
                self.header_read_timeout_seconds,
                10,
                "header_read_timeout_seconds",
            )?,
            keep_alive_idle: secs(self.keep_alive_idle_seconds, 60, "keep_alive_idle_seconds")?,
            min_body_bytes_per_sec: self.min_body_bytes_per_second.unwrap_or(1024),
            body_rate_grace: secs(self.body_rate_grace_seconds, 10, "body_rate_grace_seconds")?,
            max_head_bytes: max_head,
            h2_max_concurrent_streams: self.h2_max_concurrent_streams.unwrap_or(128),
            h2_max_pending_reset_streams: self.h2_max_pending_reset_streams.unwrap_or(20),
            ..nuvem_waf::shield::Limits::default()
        };
        let edge = nuvem_waf::shield::Limits {
            max_connections: edge_max,
            max_connections_per_ip: positive(
                self.max_connections_per_ip,
                "max_connections_per_ip",
            )?
            .unwrap_or(256),
            accepts_per_ip_per_sec: self.accepts_per_ip_per_second.unwrap_or(0),
            accept_burst: self.accept_burst.unwrap_or(200),
            ..base.clone()
        };
        let api = nuvem_waf::shield::Limits {
            max_connections: api_max,
            max_connections_per_ip: positive(
                self.api_max_connections_per_ip,
                "api_max_connections_per_ip",
            )?
            .unwrap_or(api_max),
            accepts_per_ip_per_sec: 0,
            max_head_bytes: api_max_head,
            ..base
        };
        Ok(ListenerLimits { edge, api })
    }
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
    /// `PAY_PER_REQUEST` (default without capacity) or `PROVISIONED` (default with
    /// `capacity` or `autoscaling`).
    #[serde(default)]
    pub billing_mode: Option<String>,
    /// Provisioned capacity, the older spelling of `capacity` (one or the other).
    pub read_capacity: Option<u64>,
    pub write_capacity: Option<u64>,
    /// Provisioned capacity: `capacity = { read = N, write = N }` (default 5 each, or the
    /// autoscaling minimum).
    pub capacity: Option<CapacitySpec>,
    /// Application Auto Scaling of the table's read and write capacity (target tracking),
    /// applied to its global indexes too unless they have their own.
    pub autoscaling: Option<AutoscalingSpec>,
    /// The table's stream view type (`KEYS_ONLY`, `NEW_IMAGE`, `OLD_IMAGE`,
    /// `NEW_AND_OLD_IMAGES`): a stream enabled at creation, or on a kept table without one.
    pub stream: Option<String>,
    /// The Time to Live attribute: TTL enabled on it (UpdateTimeToLive) when it is not.
    pub ttl_attribute: Option<String>,
    /// Global secondary indexes: created with the table, or added (UpdateTable, backfilled)
    /// to a kept table that lacks them. Never deleted by `up`.
    #[serde(default)]
    pub global_indexes: Vec<IndexSpec>,
    /// Local secondary indexes (the table's partition key, another sort key): DynamoDB
    /// makes them only with the table, so a kept table without one is reported, not changed.
    #[serde(default)]
    pub local_indexes: Vec<IndexSpec>,
}

/// One `[[tables.global_indexes]]` or `[[tables.local_indexes]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSpec {
    pub name: String,
    /// A global index's partition key (a local index has the table's).
    pub partition_key: Option<KeySpec>,
    pub sort_key: Option<KeySpec>,
    /// `ALL` (default), `KEYS_ONLY` or `INCLUDE` (with `non_key_attributes`).
    pub projection: Option<String>,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
    /// A global index's capacity on a PROVISIONED table (default 5 each, or the
    /// autoscaling minimum); `capacity = { read, write }` is the same.
    pub read_capacity: Option<u64>,
    pub write_capacity: Option<u64>,
    pub capacity: Option<CapacitySpec>,
    /// A global index's own autoscaling (default: the table's).
    pub autoscaling: Option<AutoscalingSpec>,
}

/// `capacity = { read = N, write = N }`: provisioned read and write capacity units.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySpec {
    pub read: u64,
    pub write: u64,
}

/// `autoscaling = { min = N, max = N, target_utilization = P }`: a scalable target for the
/// read and one for the write capacity, each with a target tracking policy at `P` percent
/// (default 70, DynamoDB's; 20 to 90).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingSpec {
    pub min: u64,
    pub max: u64,
    pub target_utilization: Option<f64>,
}

impl AutoscalingSpec {
    pub fn target(&self) -> f64 {
        self.target_utilization.unwrap_or(70.0)
    }

    fn check(&self) -> Result<(), String> {
        if self.min < 1 || self.min > self.max {
            return Err(format!(
                "autoscaling needs 1 <= min <= max (min = {}, max = {})",
                self.min, self.max
            ));
        }
        if !(20.0..=90.0).contains(&self.target()) {
            return Err(format!(
                "autoscaling.target_utilization must be within 20 to 90 percent, got {}",
                self.target()
            ));
        }
        Ok(())
    }
}

/// Read and write units, each maybe declared.
type Units = (Option<u64>, Option<u64>);

/// The read and write units a table or index declares (`capacity` or the older
/// `read_capacity`/`write_capacity`), if any.
fn declared_units(
    capacity: Option<CapacitySpec>,
    read: Option<u64>,
    write: Option<u64>,
) -> Result<Option<Units>, String> {
    match (capacity, read.is_some() || write.is_some()) {
        (Some(_), true) => Err(
            "give either `capacity = { read, write }` or `read_capacity`/`write_capacity`, not both"
                .into(),
        ),
        (Some(c), false) => Ok(Some((Some(c.read), Some(c.write)))),
        (None, true) => Ok(Some((read, write))),
        (None, false) => Ok(None),
    }
}

impl TableSpec {
    /// `PROVISIONED` or `PAY_PER_REQUEST`: what `billing_mode` says, else provisioned when
    /// capacity or autoscaling is declared.
    pub fn mode(&self) -> &str {
        match self.billing_mode.as_deref() {
            Some(m) => m,
            None if self.capacity.is_some()
                || self.read_capacity.is_some()
                || self.write_capacity.is_some()
                || self.autoscaling.is_some() =>
            {
                "PROVISIONED"
            }
            None => "PAY_PER_REQUEST",
        }
    }

    /// The table's (read, write) units when provisioned.
    pub fn units(&self) -> (u64, u64) {
        let declared = declared_units(self.capacity, self.read_capacity, self.write_capacity)
            .ok()
            .flatten()
            .unwrap_or((None, None));
        let floor = self.autoscaling.map_or(5, |a| a.min);
        (declared.0.unwrap_or(floor), declared.1.unwrap_or(floor))
    }

    /// The autoscaling of global index `ix`: its own, else the table's.
    pub fn index_autoscaling(&self, ix: &IndexSpec) -> Option<AutoscalingSpec> {
        ix.autoscaling.or(self.autoscaling)
    }

    fn check_capacity(&self) -> Result<(), String> {
        let declared = declared_units(self.capacity, self.read_capacity, self.write_capacity)?;
        let on_demand = self.mode() == "PAY_PER_REQUEST";
        if on_demand && (declared.is_some() || self.autoscaling.is_some()) {
            return Err(
                "capacity and autoscaling need billing_mode = \"PROVISIONED\" (an on-demand table is never throttled)"
                    .into(),
            );
        }
        if let Some(a) = &self.autoscaling {
            a.check()?;
        }
        for (kind, list) in [
            ("global_indexes", &self.global_indexes),
            ("local_indexes", &self.local_indexes),
        ] {
            for (j, ix) in list.iter().enumerate() {
                let declared = declared_units(ix.capacity, ix.read_capacity, ix.write_capacity)
                    .map_err(|e| format!("{kind}[{j}]: {e}"))?;
                if kind == "local_indexes" && (declared.is_some() || ix.autoscaling.is_some()) {
                    return Err(format!(
                        "{kind}[{j}]: a local index shares the table's capacity (no capacity or autoscaling of its own)"
                    ));
                }
                if on_demand && (declared.is_some() || ix.autoscaling.is_some()) {
                    return Err(format!(
                        "{kind}[{j}]: capacity and autoscaling need a PROVISIONED table"
                    ));
                }
                if let Some(a) = &ix.autoscaling {
                    a.check().map_err(|e| format!("{kind}[{j}]: {e}"))?;
                }
            }
        }
        Ok(())
    }
}

impl IndexSpec {
    /// The global index's (read, write) units on a provisioned table.
    pub fn units(&self, table: &TableSpec) -> (u64, u64) {
        let declared = declared_units(self.capacity, self.read_capacity, self.write_capacity)
            .ok()
            .flatten()
            .unwrap_or((None, None));
        let floor = table.index_autoscaling(self).map_or(5, |a| a.min);
        (declared.0.unwrap_or(floor), declared.1.unwrap_or(floor))
    }
}

#[derive(Debug, Clone, Deserialize)]
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
    /// The function's execution role: the ARN of a role that exists (made with the IAM API).
    pub role: Option<String>,
    /// Or what the function may do: nuvem keeps a role `nuvem-fn-<name>` that trusts Lambda
    /// with these statements as its policy. Without `role` or `permissions` the function
    /// runs with the manifest's (root) keys.
    #[serde(default)]
    pub permissions: Vec<PermissionSpec>,
    /// Egress (the NAT-gateway idea): `true` lets the function's environments share the
    /// host's network, so they reach anything the host does. By default, where environments
    /// get namespaces (nuvem as root), an environment's network is its own: its Runtime API
    /// and the AWS endpoint, nothing else.
    #[serde(default)]
    pub egress: bool,
    /// Tables whose stream invokes this function (event source mappings, created at `up`
    /// when the function has none on that stream).
    #[serde(default)]
    pub stream_triggers: Vec<StreamTriggerSpec>,
    /// SAM's `AutoPublishAlias`: at each `up` the function's code and configuration are
    /// published as a version (the last one again when nothing changed) and this alias points
    /// at it. Routes and triggers reach it as `<name>:<alias>`.
    pub alias: Option<String>,
    /// Provisioned concurrency on the alias (`alias`, else `live`): that many environments
    /// kept initialised (SAM's `ProvisionedConcurrencyConfig`).
    pub provisioned_concurrency: Option<u32>,
}

/// One `[[functions.stream_triggers]]`: a manifest table (with a `stream`) triggering the
/// function, with CreateEventSourceMapping's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamTriggerSpec {
    pub table: String,
    /// `LATEST` (default) or `TRIM_HORIZON`.
    pub starting_position: Option<String>,
    pub batch_size: Option<u32>,
    pub batching_window_seconds: Option<u32>,
    pub maximum_retry_attempts: Option<i64>,
    #[serde(default)]
    pub bisect_on_error: bool,
    /// Lambda event filter patterns (JSON text), any of which a record must match.
    #[serde(default)]
    pub filters: Vec<String>,
}

/// One statement of a manifest function's policy, in IAM's grammar
/// (`actions = ["dynamodb:GetItem"]`, `resources = ["arn:aws:dynamodb:*:*:table/items"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionSpec {
    /// `Allow` (default) or `Deny`.
    #[serde(default = "allow")]
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// FNV-1a of `text`: stable names derived from manifest names (API ids, role names).
pub fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn allow() -> String {
    "Allow".into()
}

impl FunctionSpec {
    /// The identity policy `permissions` stands for, checked against IAM's grammar; `None`
    /// without permissions.
    pub fn policy_document(&self) -> Result<Option<String>, String> {
        if self.permissions.is_empty() {
            return Ok(None);
        }
        if self.role.is_some() {
            return Err("give `role` or `permissions`, not both".into());
        }
        let mut statements: Vec<serde_json::Value> = self
            .permissions
            .iter()
            .map(|p| {
                serde_json::json!({"Effect": p.effect, "Action": p.actions, "Resource": p.resources})
            })
            .collect();
        // What AWSLambdaBasicExecutionRole grants, for the function's own log group: code
        // that writes its logs through the Logs API with the role's credentials may.
        statements.push(serde_json::json!({
            "Sid": "LambdaBasicExecution",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": format!("arn:aws:logs:*:*:log-group:/aws/lambda/{}:*", self.name),
        }));
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string();
        nuvem_iam::Policy::parse(&doc, nuvem_iam::Kind::Identity)
            .map_err(|e| format!("`permissions` is not a valid IAM policy: {}", e.0))?;
        Ok(Some(doc))
    }

    /// The role nuvem keeps for `permissions`: `nuvem-fn-<name>` (IAM's 64-character limit
    /// kept with a hash of the name when it is long).
    pub fn managed_role_name(&self) -> String {
        let name = format!("nuvem-fn-{}", self.name);
        if name.len() <= 64 {
            return name;
        }
        format!("{}-{:016x}", &name[..47], fnv1a(&self.name))
    }
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
        let manifest: Self = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            anyhow::anyhow!("at `{path}`: {}", inner.message().trim())
        })?;
        // `[runtimes]` names interpreters for Python and Node identifiers only.
        for id in manifest.runtimes.keys() {
            let known = id
                .strip_prefix("python3.")
                .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                || id
                    .strip_prefix("nodejs")
                    .and_then(|v| v.strip_suffix(".x"))
                    .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            if !known {
                anyhow::bail!(
                    "at `runtimes.{id}`: not a Python or Node runtime identifier (python3.12, nodejs22.x); `provided` runtimes run the function's own bootstrap"
                );
            }
        }
        Ok(manifest)
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
    pub storage: Option<String>,
}

/// Where the store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Storage {
    /// The embedded engine under `<data_dir>/store`.
    Embedded,
    /// The PostgreSQL-protocol engine at this URL.
    Postgres(String),
}

impl Storage {
    fn parse(spec: Option<&str>) -> anyhow::Result<Self> {
        match spec.map(str::trim) {
            None | Some("") | Some("embedded") => Ok(Storage::Embedded),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Storage::Postgres(url.to_string()))
            }
            Some(other) => bail!(
                "at `server.storage` (or --storage / NUVEM_STORAGE): expected `embedded` or a \
                 `postgres://` URL, got {:?}",
                redact(other)
            ),
        }
    }

    /// How to name it in messages: the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Storage::Embedded => "embedded".into(),
            Storage::Postgres(url) => redact(url),
        }
    }
}

// The URL may carry a password: never print it.
impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `scheme://user:secret@host…` → `scheme://user:***@host…`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
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
    pub storage: Storage,
    /// See [`ServerSection::blob_grace_secs`].
    pub blob_grace: std::time::Duration,
    /// See [`ServerSection::master_key_file`].
    pub master_key_file: PathBuf,
    pub tls_cert: Option<(PathBuf, PathBuf)>,
    pub keyring: nuvem_aws::sigv4::Keyring,
    pub max_buffered_bytes: usize,
    /// The bearer token of `/_nuvem/metrics` (see [`ServerSection::metrics_token`]).
    pub metrics_token: Option<MetricsToken>,
    /// See [`ServerSection::metrics`].
    pub metrics: bool,
    /// How often a node on a shared store polls the change counters (`watch_interval_ms`).
    pub watch_interval: std::time::Duration,
    /// How often DynamoDB's TTL sweep and stream trimming run (`ttl_sweep_ms`).
    pub ttl_sweep: std::time::Duration,
    /// How often S3's lifecycle sweep runs (`lifecycle_sweep_ms`).
    pub lifecycle_sweep: std::time::Duration,
    /// The length of a lifecycle day (`lifecycle_day_secs`).
    pub lifecycle_day: std::time::Duration,
    /// DynamoDB's burst capacity in seconds (`dynamodb_burst_secs`).
    pub dynamodb_burst_secs: u64,
    /// The autoscaler's metrics window (`autoscaling_window_ms`).
    pub autoscaling_window: std::time::Duration,
    /// The private listeners' security group (`None`: no rules, every source).
    pub ingress: Option<nuvem_waf::shield::Ingress>,
    /// The WireGuard endpoint (`[network.vpn]`), validated; its ports are the private
    /// listeners', filled in once they are bound.
    pub vpn: Option<nuvem_vpn::Config>,
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
        // Absolute from here on: functions run in directories of their own, and every path
        // handed to them (code, task roots, layers) is made from this one.
        let data_dir = std::path::absolute(&data_dir)
            .with_context(|| format!("at `server.data_dir`: {}", data_dir.display()))?;
        let region = s.region.clone().unwrap_or_else(|| "us-east-1".into());
        let account_id = s
            .account_id
            .clone()
            .unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("at `server.account_id`: an account id is 12 digits, got {account_id:?}");
        }
        for (i, f) in manifest.functions.iter().enumerate() {
            f.policy_document()
                .map_err(|e| anyhow::anyhow!("at `functions[{i}]` ({}): {e}", f.name))?;
            if let Some(role) = &f.role
                && !(role.starts_with("arn:aws:iam::") && role.contains(":role/"))
            {
                bail!(
                    "at `functions[{i}].role`: {role:?} is not a role ARN (arn:aws:iam::<account>:role/<name>)"
                );
            }
        }
        let durability = match s.durability {
            None | Some(DurabilitySpec::Process) => nuvem_store::Durability::Process,
            Some(DurabilitySpec::Fsync) => nuvem_store::Durability::Fsync,
        };
        let storage = Storage::parse(o.storage.as_deref().or(s.storage.as_deref()))?;
        let blob_grace = std::time::Duration::from_secs(s.blob_grace_secs.unwrap_or(900));
        let master_key_file = match &s.master_key_file {
            Some(f) => base_dir.join(f),
            None => data_dir.join("keys").join("master.key"),
        };
        let tls_cert = match (&s.tls_cert, &s.tls_key) {
            (Some(c), Some(k)) => Some((base_dir.join(c), base_dir.join(k))),
            (None, None) => None,
            _ => bail!("at `server`: tls_cert and tls_key go together"),
        };
        // Checked here so that a wrong value fails like every other manifest error; the
        // listeners resolve them again against the real descriptor limit.
        s.limits.resolve(1024)?;
        let max_buffered_bytes =
            usize::try_from(s.max_buffered_bytes.unwrap_or(256 << 20)).unwrap_or(usize::MAX);
        let metrics_token = match std::env::var("NUVEM_METRICS_TOKEN") {
            Ok(t) if !t.is_empty() => Some(t),
            _ => s.metrics_token.as_ref().map(|t| t.0.clone()),
        };
        if let Some(t) = &metrics_token
            && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            bail!(
                "at `server.metrics_token` (or NUVEM_METRICS_TOKEN): use at least 16 printable \
                 characters without spaces (e.g. `openssl rand -hex 24`)"
            );
        }
        let metrics_token = metrics_token.map(MetricsToken);
        let metrics = match std::env::var("NUVEM_METRICS").as_deref() {
            Ok("on" | "1" | "true") => true,
            Ok("off" | "0" | "false") => false,
            Ok(other) if !other.is_empty() => {
                bail!("NUVEM_METRICS is `{other}`: use `on` or `off`")
            }
            _ => s.metrics.unwrap_or(true),
        };
        let watch_interval = match s.watch_interval_ms.unwrap_or(250) {
            ms @ 10..=60_000 => std::time::Duration::from_millis(ms),
            other => bail!("at `server.watch_interval_ms`: {other} is not within 10 to 60000"),
        };
        let ttl_sweep = match s.ttl_sweep_ms.unwrap_or(30_000) {
            ms @ 10..=3_600_000 => std::time::Duration::from_millis(ms),
            other => bail!("at `server.ttl_sweep_ms`: {other} is not within 10 to 3600000"),
        };
        let lifecycle_sweep = match s.lifecycle_sweep_ms.unwrap_or(600_000) {
            ms @ 10..=86_400_000 => std::time::Duration::from_millis(ms),
            other => {
                bail!("at `server.lifecycle_sweep_ms`: {other} is not within 10 to 86400000")
            }
        };
        let lifecycle_day = match s.lifecycle_day_secs.unwrap_or(86_400) {
            secs @ 1..=86_400 => std::time::Duration::from_secs(secs),
            other => bail!("at `server.lifecycle_day_secs`: {other} is not within 1 to 86400"),
        };
        let dynamodb_burst_secs = match s.dynamodb_burst_secs.unwrap_or(300) {
            secs @ 1..=3600 => secs,
            other => bail!("at `server.dynamodb_burst_secs`: {other} is not within 1 to 3600"),
        };
        let autoscaling_window = match s.autoscaling_window_ms.unwrap_or(60_000) {
            ms @ 100..=3_600_000 => std::time::Duration::from_millis(ms),
            other => {
                bail!("at `server.autoscaling_window_ms`: {other} is not within 100 to 3600000")
            }
        };
        for (i, t) in manifest.tables.iter().enumerate() {
            t.check_capacity()
                .map_err(|e| anyhow::anyhow!("at `tables[{i}]` ({}): {e}", t.name))?;
        }
        let network = &manifest.network;
        for (what, addr) in [("api_addr", Some(api_addr)), ("api_tls_addr", api_tls_addr)] {
            if let Some(addr) = addr
                && !addr.ip().is_loopback()
                && !network.expose_private
            {
                bail!(
                    "at `server.{what}`: {addr} is not a loopback address, and the AWS endpoint is \
                     the private plane (every credential check, the whole control plane). To \
                     expose it, set `[network] expose_private = true` and list who may connect \
                     in `[[network.ingress]]` rules (`cidr = \"10.0.0.0/8\"`)"
                );
            }
        }
        let ingress = if network.ingress.is_empty() {
            None
        } else {
            let mut group = nuvem_waf::shield::Ingress::default();
            for (i, rule) in network.ingress.iter().enumerate() {
                group
                    .allow(&rule.cidr, &rule.ports)
                    .map_err(|e| anyhow::anyhow!("at `network.ingress[{i}]`: {e}"))?;
            }
            Some(group)
        };
        let vpn = network
            .vpn
            .as_ref()
            .map(|spec| resolve_vpn(spec, &base_dir))
            .transpose()?;
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
            storage,
            blob_grace,
            master_key_file,
            tls_cert,
            keyring,
            max_buffered_bytes,
            metrics_token,
            metrics,
            watch_interval,
            ttl_sweep,
            lifecycle_sweep,
            lifecycle_day,
            dynamodb_burst_secs,
            autoscaling_window,
            ingress,
            vpn,
            base_dir,
            manifest,
        })
    }
}

/// `[network.vpn]` as the endpoint runs it: keys decoded, addresses parsed, peers checked
/// against each other. Errors name the key's path and never repeat a key.
fn resolve_vpn(spec: &VpnSpec, base_dir: &Path) -> anyhow::Result<nuvem_vpn::Config> {
    use nuvem_vpn::{Cidr, Key};
    let private_key = match (&spec.private_key, &spec.private_key_file) {
        (Some(Secret(text)), None) => Key::from_base64(text)
            .map_err(|e| anyhow::anyhow!("at `network.vpn.private_key`: {e}"))?,
        (None, Some(file)) => {
            let path = base_dir.join(file);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "at `network.vpn.private_key_file`: reading {}",
                    path.display()
                )
            })?;
            Key::from_base64(&text).map_err(|e| {
                anyhow::anyhow!(
                    "at `network.vpn.private_key_file`: {} holds no key: {e}",
                    path.display()
                )
            })?
        }
        (Some(_), Some(_)) => {
            bail!("at `network.vpn`: private_key and private_key_file are one or the other")
        }
        (None, None) => bail!(
            "at `network.vpn`: a private_key (or private_key_file) is needed; `nuvem vpn-keygen` \
             prints a new key pair"
        ),
    };
    let mut peers = Vec::new();
    for (i, p) in spec.peers.iter().enumerate() {
        let at = |field: &str| format!("at `network.vpn.peers[{i}].{field}`");
        let public_key = Key::from_base64(&p.public_key)
            .map_err(|e| anyhow::anyhow!("{}: {e}", at("public_key")))?;
        let allowed_ips = p
            .allowed_ips
            .iter()
            .map(|c| Cidr::parse(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("{}: {e}", at("allowed_ips")))?;
        let preshared_key = p
            .preshared_key
            .as_ref()
            .map(|Secret(k)| Key::from_base64(k))
            .transpose()
            .map_err(|e| anyhow::anyhow!("{}: {e}", at("preshared_key")))?;
        peers.push(nuvem_vpn::Peer {
            public_key,
            allowed_ips,
            preshared_key,
            endpoint: p.endpoint,
            persistent_keepalive: p.persistent_keepalive,
        });
    }
    let config = nuvem_vpn::Config {
        listen: spec
            .listen
            .unwrap_or_else(|| "127.0.0.1:51820".parse().expect("literal")),
        private_key,
        address: spec
            .address
            .unwrap_or(std::net::Ipv4Addr::new(10, 99, 0, 1)),
        ports: Vec::new(),
        peers,
    };
    config.validate().map_err(|e| match e {
        nuvem_vpn::Error::Peer { index, reason } => {
            anyhow::anyhow!("at `network.vpn.peers[{index}]`: {reason}")
        }
        other => anyhow::anyhow!("at `network.vpn`: {other}"),
    })?;
    Ok(config)
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
            "[runtimes]\n\"python3.12\" = \"/opt/python3.12/bin/python3\"\n\"nodejs22.x\" = \"/opt/node-22/bin/node\"\n",
            Ok(()),
        );
        check(
            "[runtimes]\n\"provided.al2023\" = \"/bin/sh\"\n",
            Err("at `runtimes.provided.al2023`: not a Python or Node runtime identifier"),
        );
        check("[runtimes]\npython = 3\n", Err("at `runtimes.python`"));
        check(
            "[server.limits]\nheader_read_timeout_seconds = 2\nmax_connections_per_ip = 8\n",
            Ok(()),
        );
        check(
            "[server.limits]\nheader_timeout = 2\n",
            Err("unknown field `header_timeout`"),
        );
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

    #[track_caller]
    fn resolves(text: &str, expected: Result<(), &str>) {
        let m = Manifest::parse(text).unwrap();
        match (
            Config::resolve(m, PathBuf::from("/srv/site"), Overrides::default()),
            expected,
        ) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(msg)) => {
                let got = format!("{e:#}");
                assert!(got.contains(msg), "error {got:?} should contain {msg:?}");
            }
            (got, want) => panic!("got {:?}, want {want:?}", got.map(|_| ())),
        }
    }

    #[test]
    fn issue_21_capacity_and_autoscaling() {
        let table = |extra: &str| {
            format!(
                "[[tables]]\nname = \"t\"\npartition_key = {{ name = \"pk\", type = \"S\" }}\n{extra}"
            )
        };
        resolves(&table("capacity = { read = 3, write = 4 }\n"), Ok(()));
        resolves(
            &table("autoscaling = { min = 2, max = 9, target_utilization = 50 }\n"),
            Ok(()),
        );
        resolves(
            "[server]\ndynamodb_burst_secs = 1\nautoscaling_window_ms = 100\n",
            Ok(()),
        );
        resolves(
            "[server]\ndynamodb_burst_secs = 0\n",
            Err("at `server.dynamodb_burst_secs`: 0 is not within 1 to 3600"),
        );
        resolves(
            "[server]\nautoscaling_window_ms = 50\n",
            Err("at `server.autoscaling_window_ms`: 50 is not within 100 to 3600000"),
        );
        resolves(
            &table("billing_mode = \"PAY_PER_REQUEST\"\ncapacity = { read = 3, write = 4 }\n"),
            Err("at `tables[0]` (t): capacity and autoscaling need billing_mode"),
        );
        resolves(
            &table("capacity = { read = 3, write = 4 }\nread_capacity = 3\n"),
            Err("not both"),
        );
        resolves(
            &table("autoscaling = { min = 5, max = 2 }\n"),
            Err("autoscaling needs 1 <= min <= max"),
        );
        resolves(
            &table("autoscaling = { min = 1, max = 2, target_utilization = 95 }\n"),
            Err("within 20 to 90 percent"),
        );
        resolves(
            &table(
                "capacity = { read = 1, write = 1 }\n[[tables.local_indexes]]\nname = \"l\"\nsort_key = { name = \"s\", type = \"S\" }\ncapacity = { read = 1, write = 1 }\n",
            ),
            Err("local_indexes[0]: a local index shares the table's capacity"),
        );
        // Defaults: capacity or autoscaling make the table provisioned; units default to 5,
        // or to the autoscaling minimum, which a global index inherits.
        let m = Manifest::parse(&table(
            "autoscaling = { min = 2, max = 9 }\n[[tables.global_indexes]]\nname = \"g\"\npartition_key = { name = \"g\", type = \"S\" }\n",
        ))
        .unwrap();
        let t = &m.tables[0];
        assert_eq!((t.mode(), t.units()), ("PROVISIONED", (2, 2)));
        assert_eq!(t.global_indexes[0].units(t), (2, 2));
        assert_eq!(
            t.index_autoscaling(&t.global_indexes[0])
                .map(|a| a.target()),
            Some(70.0)
        );
        let m = Manifest::parse(&table("")).unwrap();
        assert_eq!(m.tables[0].mode(), "PAY_PER_REQUEST");
        let m = Manifest::parse(&table("capacity = { read = 7, write = 3 }\n")).unwrap();
        assert_eq!(m.tables[0].units(), (7, 3));
    }

    #[test]
    fn issue_17_vpn() {
        // RFC 7748's test keys, as base64: Alice's private and public keys, Bob's public key.
        const KEY: &str = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
        const OWN: &str = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
        const PEER: &str = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";
        let vpn = |rest: &str| {
            format!(
                "[network.vpn]\nprivate_key = \"{KEY}\"\n\
                 [[network.vpn.peers]]\npublic_key = \"{PEER}\"\nallowed_ips = [\"10.99.0.2\"]\n{rest}"
            )
        };
        resolves(&vpn(""), Ok(()));
        resolves(
            &vpn("preshared_key = \"AAAA\""),
            Err("at `network.vpn.peers[0].preshared_key`: bad WireGuard key"),
        );
        resolves(
            &vpn("[[network.vpn.peers]]\npublic_key = \"AAAA\"\nallowed_ips = []\n"),
            Err(
                "at `network.vpn.peers[1].public_key`: bad WireGuard key: a WireGuard key is 32 bytes",
            ),
        );
        resolves(
            &vpn(&format!(
                "[[network.vpn.peers]]\npublic_key = \"{OWN}\"\nallowed_ips = [\"10.99.0.4/30\"]\n"
            )),
            Err("at `network.vpn.peers[1]`: its public key is nuvem's own"),
        );
        resolves(
            "[network.vpn]\nprivate_key = \"not a key\"\n",
            Err("at `network.vpn.private_key`: bad WireGuard key: not standard base64"),
        );
        resolves(
            "[network.vpn]\n",
            Err("a private_key (or private_key_file) is needed"),
        );
        resolves(
            "[network.vpn]\nprivate_key_file = \"/nonexistent/wg.key\"\n",
            Err("at `network.vpn.private_key_file`: reading /nonexistent/wg.key"),
        );
        check(&vpn("allowed = []\n"), Err("unknown field `allowed`"));
        // A key in a bad manifest never reaches the message, nor the Debug of a good one.
        let secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
        let m = Manifest::parse(&format!("[network.vpn]\nprivate_key = \"{secret}x\"\n")).unwrap();
        let e = format!(
            "{:#}",
            Config::resolve(m, ".".into(), Overrides::default()).unwrap_err()
        );
        assert!(!e.contains(secret), "{e}");
        let m = Manifest::parse(&vpn("")).unwrap();
        let c = Config::resolve(m, ".".into(), Overrides::default()).unwrap();
        assert!(!format!("{c:?}").contains(KEY));
        let v = c.vpn.unwrap();
        assert_eq!(
            v.listen,
            "127.0.0.1:51820".parse().unwrap(),
            "loopback unless asked"
        );
        assert_eq!(v.address, std::net::Ipv4Addr::new(10, 99, 0, 1));
    }

    #[test]
    fn issue_18_ttl_sweep_and_table_streams() {
        resolves("[server]\nttl_sweep_ms = 200\n", Ok(()));
        resolves(
            "[server]\nlifecycle_sweep_ms = 100\nlifecycle_day_secs = 2\n",
            Ok(()),
        );
        resolves(
            "[server]\nlifecycle_day_secs = 0\n",
            Err("at `server.lifecycle_day_secs`: 0 is not within 1 to 86400"),
        );
        resolves(
            "[server]\nttl_sweep_ms = 5\n",
            Err("at `server.ttl_sweep_ms`: 5 is not within 10 to 3600000"),
        );
        check(
            "[[tables]]\nname = \"t1\"\npartition_key = { name = \"id\", type = \"S\" }\n\
             stream = \"KEYS_ONLY\"\nttl_attribute = \"exp\"\n",
            Ok(()),
        );
        let function = "[[functions]]\nname = \"f\"\nruntime = \"python3.12\"\ncode = \"f\"\n";
        check(
            &format!(
                "{function}[[functions.stream_triggers]]\ntable = \"t1\"\nbatch_size = 5\n\
                 filters = ['{{\"eventName\": [\"INSERT\"]}}']\n"
            ),
            Ok(()),
        );
        check(
            &format!("{function}[[functions.stream_triggers]]\ntable = \"t1\"\nbatchsize = 5\n"),
            Err("unknown field `batchsize`"),
        );
    }

    #[test]
    fn issue_17_private_plane_exposure() {
        resolves("[server]\napi_addr = \"127.0.0.1:4566\"\n", Ok(()));
        resolves("[server]\napi_addr = \"[::1]:4566\"\n", Ok(()));
        resolves(
            "[server]\napi_addr = \"0.0.0.0:4566\"\n",
            Err("at `server.api_addr`: 0.0.0.0:4566 is not a loopback address"),
        );
        resolves(
            "[server]\napi_tls_addr = \"10.0.0.5:4567\"\n",
            Err("expose_private = true"),
        );
        resolves(
            "[server]\napi_addr = \"0.0.0.0:4566\"\n[network]\nexpose_private = true\n\
             [[network.ingress]]\ncidr = \"10.0.0.0/8\"\nports = [4566]\n",
            Ok(()),
        );
        resolves(
            "[[network.ingress]]\ncidr = \"10.0.0.0/40\"\n",
            Err("at `network.ingress[0]`"),
        );
        check("[network]\nexpose = true\n", Err("unknown field `expose`"));
    }

    #[test]
    fn issue_17_function_permissions() {
        let f = "[[functions]]\nname = \"api\"\nruntime = \"python3.12\"\ncode = \".\"\n";
        resolves(
            &format!(
                "{f}permissions = [{{ actions = [\"dynamodb:GetItem\"], resources = [\"arn:aws:dynamodb:*:*:table/items\"] }}]\n"
            ),
            Ok(()),
        );
        resolves(
            &format!("{f}role = \"arn:aws:iam::000000000000:role/api\"\n"),
            Ok(()),
        );
        resolves(
            &format!("{f}role = \"api-role\"\n"),
            Err("at `functions[0].role`"),
        );
        resolves(
            &format!(
                "{f}permissions = [{{ effect = \"Maybe\", actions = [\"s3:GetObject\"], resources = [\"*\"] }}]\n"
            ),
            Err("at `functions[0]` (api): `permissions` is not a valid IAM policy"),
        );
        resolves(
            &format!(
                "{f}role = \"arn:aws:iam::000000000000:role/api\"\npermissions = [{{ actions = [\"s3:GetObject\"], resources = [\"*\"] }}]\n"
            ),
            Err("not both"),
        );
        check(
            &format!("{f}permissions = [{{ action = [\"s3:GetObject\"], resources = [\"*\"] }}]\n"),
            Err("unknown field `action`"),
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
        assert_eq!(c.storage, Storage::Embedded, "embedded by default");
        let pg = "[server]\nstorage = \"postgres://nuvem:s3cret@db:5432/nuvem\"\n";
        let c = Config::resolve(
            Manifest::parse(pg).unwrap(),
            ".".into(),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.storage,
            Storage::Postgres("postgres://nuvem:s3cret@db:5432/nuvem".into()),
            "storage from the manifest"
        );
        assert_eq!(
            format!("{:?}", c.storage),
            "postgres://nuvem:***@db:5432/nuvem",
            "the password is never printed"
        );
        let o = Overrides {
            storage: Some("embedded".into()),
            ..Default::default()
        };
        let c = Config::resolve(Manifest::parse(pg).unwrap(), ".".into(), o).unwrap();
        assert_eq!(c.storage, Storage::Embedded, "flag over manifest");
        let o = Overrides {
            storage: Some("mysql://x:pw@h/db".into()),
            ..Default::default()
        };
        let e = Config::resolve(Manifest::default(), ".".into(), o).unwrap_err();
        assert!(e.to_string().contains("at `server.storage`"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
        assert!(
            Config::resolve(
                Manifest::parse("[server]\naccount_id = \"12\"\n").unwrap(),
                ".".into(),
                Overrides::default()
            )
            .is_err()
        );
    }

    #[test]
    fn listener_limits() {
        use std::time::Duration;
        let spec = LimitsSpec::default();
        // The issue's machine: 1024 descriptors.
        let l = spec.resolve(1024).unwrap();
        assert_eq!(l.api.max_connections, 128);
        assert_eq!(l.edge.max_connections, (1024 - 128 - 128) / 2);
        assert_eq!(l.edge.max_connections_per_ip, 256);
        assert_eq!(l.api.max_connections_per_ip, 128);
        assert_eq!(l.edge.header_read_timeout, Duration::from_secs(10));
        assert_eq!(l.edge.max_head_bytes, 20_480);
        assert_eq!(l.api.max_head_bytes, 65_536);
        // A raised limit.
        let l = spec.resolve(1 << 20).unwrap();
        assert_eq!(l.api.max_connections, 1024);
        assert_eq!(l.edge.max_connections, ((1 << 20) - 128 - 1024) / 2);
        let set = LimitsSpec {
            max_connections: Some(5000),
            api_max_connections: Some(50),
            header_read_timeout_seconds: Some(2),
            ..LimitsSpec::default()
        };
        let l = set.resolve(1024).unwrap();
        assert_eq!((l.edge.max_connections, l.api.max_connections), (5000, 50));
        assert_eq!(l.api.header_read_timeout, Duration::from_secs(2));
        let bad = |spec: LimitsSpec, msg: &str| {
            let e = format!("{:#}", spec.resolve(1024).unwrap_err());
            assert!(e.contains(msg), "{e:?} should contain {msg:?}");
        };
        bad(
            LimitsSpec {
                header_read_timeout_seconds: Some(0),
                ..LimitsSpec::default()
            },
            "server.limits.header_read_timeout_seconds",
        );
        bad(
            LimitsSpec {
                max_head_bytes: Some(100),
                ..LimitsSpec::default()
            },
            "server.limits.max_head_bytes",
        );
    }
}
