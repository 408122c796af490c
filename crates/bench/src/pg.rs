//! nuvem on PostgreSQL as a bench target: a throwaway PostgreSQL server (`initdb` into a temp
//! dir, `pg_ctl start` on a free loopback port, pinned to the servers' CPUs like every server
//! under test; as root it runs as the `postgres` user), a fresh database for each nuvem that
//! uses it, and the storage engine's counters (`round_trips`) read from nuvem's signed
//! `/_nuvem/health`. PostgreSQL runs with its default durability (`fsync`,
//! `synchronous_commit` on). Must not: measure anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;

/// A running throwaway PostgreSQL, stopped (immediately) when dropped.
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    user: Option<String>,
    port: u16,
    databases: std::sync::atomic::AtomicU32,
    /// `postgres --version`.
    pub version: String,
    _dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<ver>/bin` (Debian), else the `PATH` entry with `initdb`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn output(c: &mut Command) -> anyhow::Result<String> {
    let out = c.output().with_context(|| format!("running {c:?}"))?;
    if !out.status.success() {
        bail!(
            "{c:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl PgServer {
    /// Starts a server whose processes run on `pin` (a `taskset -c` list).
    pub fn start(pin: Option<&str>) -> anyhow::Result<Self> {
        let bin = bin_dir().context(
            "PostgreSQL is not installed (initdb, pg_ctl): `apt-get install postgresql`",
        )?;
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)?;
        let is_root = output(Command::new("id").arg("-u")).is_ok_and(|u| u == "0");
        let user = if is_root {
            use std::os::unix::fs::PermissionsExt;
            let uid: u32 = output(Command::new("id").args(["-u", "postgres"]))
                .context("running PostgreSQL as root needs the `postgres` user")?
                .parse()?;
            let gid: u32 = output(Command::new("id").args(["-g", "postgres"]))?.parse()?;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))?;
            Some("postgres".to_string())
        } else {
            None
        };
        let server = Self {
            version: output(Command::new(bin.join("postgres")).arg("--version"))?,
            bin,
            data,
            user,
            port: crate::procs::free_port()?,
            databases: Default::default(),
            _dir: dir,
        };
        let data = server.data.display().to_string();
        output(&mut server.command(
            None,
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "nuvem",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        ))?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories='' -c max_connections=200",
            server.port
        );
        let log = server.data.join("server.log").display().to_string();
        output(&mut server.command(
            pin,
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        ))?;
        Ok(server)
    }

    /// The command that starts PostgreSQL, for the report.
    pub fn describe(&self) -> String {
        format!(
            "{} on 127.0.0.1:{} (initdb defaults: fsync and synchronous_commit on; max_connections=200)",
            self.version, self.port
        )
    }

    fn command(&self, pin: Option<&str>, tool: &str, args: &[&str]) -> Command {
        let program = self.bin.join(tool);
        let mut words: Vec<String> = Vec::new();
        if let Some(cpus) = pin {
            words.extend(["taskset".into(), "-c".into(), cpus.into()]);
        }
        if let Some(user) = &self.user {
            words.extend(["runuser".into(), "-u".into(), user.clone(), "--".into()]);
        }
        words.push(program.display().to_string());
        words.extend(args.iter().map(|a| a.to_string()));
        let mut c = Command::new(&words[0]);
        c.args(&words[1..]).current_dir(Path::new("/"));
        c
    }

    /// A new, empty database; its `postgres://` URL.
    pub fn new_database(&self) -> anyhow::Result<String> {
        let n = self
            .databases
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("nuvem{n}");
        let port = self.port.to_string();
        output(&mut self.command(
            None,
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "nuvem", &name],
        ))?;
        Ok(format!("postgres://nuvem@127.0.0.1:{}/{name}", self.port))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self
            .command(
                None,
                "pg_ctl",
                &["-D", &data, "-m", "immediate", "-w", "stop"],
            )
            .output();
    }
}

/// nuvem's storage counters (`storage_detail` of `/_nuvem/health`, which only a signed caller
/// sees), by name.
pub async fn storage_counters(endpoint: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let uri = format!("{}/_nuvem/health", endpoint.trim_end_matches('/'));
    let mut req = Request::get(&uri)
        .header(http::header::HOST, crate::web::authority(endpoint))
        .body(Bytes::new())
        .context("building the health request")?;
    crate::web::sign(&mut req, "s3")?;
    let client = crate::web::client(1);
    let (parts, body) = req.into_parts();
    let resp = client
        .request(Request::from_parts(parts, http_body_util::Full::new(body)))
        .await
        .context("GET /_nuvem/health")?;
    let body = resp.into_body().collect().await?.to_bytes();
    let health: serde_json::Value = serde_json::from_slice(&body).context("health JSON")?;
    let detail = health["storage_detail"]
        .as_object()
        .with_context(|| format!("no storage_detail in {health} (signature refused?)"))?;
    Ok(detail
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
        .collect())
}

/// The `round_trips` counter of nuvem's storage engine.
pub async fn round_trips(endpoint: &str) -> anyhow::Result<u64> {
    storage_counters(endpoint)
        .await?
        .into_iter()
        .find(|(k, _)| k == "round_trips")
        .map(|(_, v)| v)
        .context("the storage engine counts no round_trips")
}
