//! The edge's peers as child processes: nginx (`proxy_cache`) and Varnish, each a caching
//! reverse proxy in front of the bench's origin on a free loopback port, with a config in a
//! temp dir, optionally pinned with `taskset`. Killed when dropped. Must not: install anything
//! (`bench/run.sh` does, from Debian's packages).

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::procs::{self, Guard};

/// A running peer.
pub struct Peer {
    pub name: &'static str,
    pub url: String,
    pub command: String,
    _guard: Guard,
    _dir: tempfile::TempDir,
}

impl Peer {
    pub fn pid(&self) -> u32 {
        self._guard.pid()
    }
}

/// Where a Debian tool lives: on `PATH`, or in `/usr/sbin` (not on a normal user's PATH).
pub fn find(tool: &str) -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let p = Path::new("/usr/sbin").join(tool);
        p.is_file().then_some(p)
    })
}

/// nginx with one worker (one core, like the pinned nuvem) and a 1 GiB disk cache.
pub fn nginx(bin: &Path, origin: SocketAddr, pin: Option<&str>) -> anyhow::Result<Peer> {
    nginx_with(bin, origin, pin, false, "")
}

/// The same nginx hardened against slow and many connections the way nginx's documentation
/// suggests, with nuvem's default numbers: `limit_conn` 256 per address (nginx counts only
/// connections whose request head was read), `client_header_timeout` and
/// `client_body_timeout` 10 s, `keepalive_timeout` 60 s, and descriptors for the attack.
pub fn nginx_limits(bin: &Path, origin: SocketAddr, pin: Option<&str>) -> anyhow::Result<Peer> {
    nginx_with(
        bin,
        origin,
        pin,
        false,
        "limit_conn_zone $binary_remote_addr zone=addr:10m;\n  limit_conn addr 256;\n  \
         client_header_timeout 10s;\n  client_body_timeout 10s;\n  keepalive_timeout 60s;",
    )
}

/// Debian's ModSecurity v3 module for nginx and the OWASP CRS rules it loads.
const MODSECURITY_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so";
const MODSECURITY_CONF: &str = "/etc/nginx/modsecurity.conf";
const CRS_SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";
const CRS_RULES: &str = "/usr/share/modsecurity-crs/rules";

/// Whether Debian's `libnginx-mod-http-modsecurity` and `modsecurity-crs` are installed.
pub fn modsecurity_installed() -> bool {
    [MODSECURITY_MODULE, MODSECURITY_CONF, CRS_SETUP, CRS_RULES]
        .iter()
        .all(|p| Path::new(p).exists())
}

/// The same nginx with ModSecurity v3 and the OWASP CRS in blocking mode at paranoia level 1
/// (the CRS default) on the cached location, audit log off: what "nginx + ModSecurity +
/// CRS" means in most deployments.
pub fn nginx_modsecurity(
    bin: &Path,
    origin: SocketAddr,
    pin: Option<&str>,
) -> anyhow::Result<Peer> {
    nginx_with(bin, origin, pin, true, "")
}

fn nginx_with(
    bin: &Path,
    origin: SocketAddr,
    pin: Option<&str>,
    modsecurity: bool,
    http_extra: &str,
) -> anyhow::Result<Peer> {
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let port = procs::free_port()?;
    let work = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("cache"))?;
    // `user` is only allowed (and needed) when nginx starts as root.
    let user = if is_root() { "user root;" } else { "" };
    let (load, location) = match modsecurity {
        false => (String::new(), String::new()),
        true => {
            let rules = dir.path().join("modsecurity.conf");
            std::fs::write(
                &rules,
                format!(
                    "Include {MODSECURITY_CONF}\nSecRuleEngine On\nSecAuditEngine Off\nSecResponseBodyAccess Off\nInclude {CRS_SETUP}\nInclude {CRS_RULES}/*.conf\n"
                ),
            )
            .context("writing modsecurity.conf")?;
            (
                format!("load_module {MODSECURITY_MODULE};"),
                format!(
                    "modsecurity on;\n      modsecurity_rules_file {};",
                    rules.display()
                ),
            )
        }
    };
    // Enough descriptors for the listener-limits attack (only that peer sets `http_extra`).
    let rlimit = if http_extra.is_empty() {
        ""
    } else {
        "worker_rlimit_nofile 65536;"
    };
    let conf = format!(
        r#"{load}
{user}
worker_processes 1;
{rlimit}
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  sendfile on;
  tcp_nopush off;
  keepalive_requests 1000000;
  {http_extra}
  proxy_cache_path {work}/cache levels=1:2 keys_zone=c:16m max_size=1g;
  upstream origin {{ server {origin}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      {location}
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache c;
    }}
  }}
}}
"#
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).context("writing nginx.conf")?;
    let args = vec![
        "-c".to_string(),
        conf_path.display().to_string(),
        "-p".into(),
        work.clone(),
    ];
    let name = if modsecurity {
        "nginx+modsecurity"
    } else {
        "nginx"
    };
    spawn(name, bin, pin, args, port, dir)
}

/// Varnish with a 1 GiB memory cache (nginx's `max_size`) and the origin as its only
/// backend. `nuke_limit` raised from 50: a full store of 1 KiB misses must evict about 70
/// objects to make room for a 100 KiB one, and at 50 Varnish fails the fetch (503, or a
/// streamed body cut short) instead of evicting more.
pub fn varnish(bin: &Path, origin: SocketAddr, pin: Option<&str>) -> anyhow::Result<Peer> {
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let port = procs::free_port()?;
    let args = vec![
        "-F".to_string(),
        "-a".into(),
        format!("127.0.0.1:{port}"),
        "-b".into(),
        origin.to_string(),
        "-n".into(),
        dir.path().join("varnish").display().to_string(),
        "-s".into(),
        "malloc,1g".into(),
        "-p".into(),
        "nuke_limit=1000".into(),
    ];
    spawn("varnish", bin, pin, args, port, dir)
}

fn spawn(
    name: &'static str,
    bin: &Path,
    pin: Option<&str>,
    args: Vec<String>,
    port: u16,
    dir: tempfile::TempDir,
) -> anyhow::Result<Peer> {
    let log = std::fs::File::create(dir.path().join("out.log"))?;
    let child = procs::pinned(bin, pin)
        .args(&args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut guard = Guard::group(child, name);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !procs::answers_http(addr) {
        if guard.check_running().is_err() || Instant::now() > deadline {
            let out = std::fs::read_to_string(dir.path().join("out.log")).unwrap_or_default();
            bail!("{name} did not start; it printed:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Peer {
        name,
        url: format!("http://{addr}"),
        command: procs::command_line(bin, pin, &args),
        _guard: guard,
        _dir: dir,
    })
}

/// Whether this process runs as root (the owner of `/proc/self` is uid 0).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
