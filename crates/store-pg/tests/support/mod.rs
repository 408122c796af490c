//! A throwaway PostgreSQL server for one test: `initdb` into a temp dir, `pg_ctl start` on a
//! free port (TCP on 127.0.0.1 only), a fresh database, `pg_ctl stop` when dropped. As root it
//! runs as the `postgres` user (or `nobody`), which owns the data dir: PostgreSQL refuses to
//! run as root.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    user: Option<String>,
    tls: bool,
    pub port: u16,
    /// With TLS: the server's self-signed certificate (for `localhost`), DER.
    pub cert_der: Option<Vec<u8>>,
    _dir: tempfile::TempDir,
}

/// The same check as `nuvem_testkit::missing_tool` (this crate cannot depend on the testkit,
/// which pulls the whole binary's world): under `NUVEM_TEST_STRICT=1` a missing tool fails.
#[track_caller]
pub fn missing_tool(test: &str, what: &str) {
    if std::env::var("NUVEM_TEST_STRICT").is_ok_and(|v| v == "1") {
        panic!("{test}: {what} — NUVEM_TEST_STRICT=1 makes a missing tool a failure");
    }
    eprintln!("SKIPPED {test}: {what}");
}

/// The directory with `initdb` and `pg_ctl`: the newest `/usr/lib/postgresql/<ver>/bin`
/// (Debian), else the `PATH` entry that has them.
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

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn uid_of(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    /// Starts a server, or returns `None` (after [`missing_tool`]) when PostgreSQL is not
    /// installed. `fast` turns `fsync` off: for suites that do not claim durability.
    pub fn start(test: &str, fast: bool) -> Option<Self> {
        Self::start_with(test, fast, false)
    }

    /// [`PgServer::start`], and with `tls` the server takes only TLS connections
    /// (`hostssl` in pg_hba.conf), with a self-signed certificate for `localhost`.
    pub fn start_with(test: &str, fast: bool, tls: bool) -> Option<Self> {
        let Some(bin) = bin_dir() else {
            missing_tool(test, "PostgreSQL (initdb, pg_ctl) is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let owner = if is_root() {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| uid_of(u).is_some())
                .expect("an unprivileged user (postgres or nobody) to run PostgreSQL as");
            let (uid, gid) = uid_of(user).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
            Some((user.to_string(), uid, gid))
        } else {
            None
        };
        let server = Self {
            bin,
            data,
            user: owner.as_ref().map(|(u, _, _)| u.clone()),
            tls,
            port: free_port(),
            cert_der: None,
            _dir: dir,
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data.display().to_string(),
                "-U",
                "nuvem",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let mut server = server;
        if tls {
            server.cert_der = Some(server.write_certificate(owner.map(|(_, u, g)| (u, g))));
        }
        server.start_server(fast);
        server.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &server.port.to_string(),
                "-U",
                "nuvem",
                "nuvem",
            ],
        );
        Some(server)
    }

    /// A self-signed certificate for `localhost` as the server's, and pg_hba.conf that lets
    /// TCP clients in only over TLS. Returns the certificate (DER).
    fn write_certificate(&self, owner: Option<(u32, u32)>) -> Vec<u8> {
        use std::os::unix::fs::PermissionsExt;
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let files = [
            ("server.crt", certified.cert.pem()),
            ("server.key", certified.key_pair.serialize_pem()),
            (
                "pg_hba.conf",
                "hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n".into(),
            ),
        ];
        for (name, text) in files {
            let path = self.data.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
            }
        }
        certified.cert.der().to_vec()
    }

    fn start_server(&self, fast: bool) {
        let fsync = if fast { " -c fsync=off" } else { "" };
        let ssl = if self.tls {
            " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        } else {
            ""
        };
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories=''{fsync}{ssl}",
            self.port
        );
        let log = self.data.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the server as a crash would (`-m immediate`: no checkpoint; recovery replays the
    /// WAL at the next start), then starts it again.
    pub fn crash_and_restart(&self) {
        self.stop_mode("immediate");
        self.start_server(false);
    }

    /// Stops the server cleanly (its data stays); [`PgServer::start_again`] restarts it.
    pub fn stop(&self) {
        self.stop_mode("fast");
    }

    pub fn start_again(&self) {
        self.start_server(true);
    }

    /// Runs one SQL statement with the server's `psql`.
    pub fn psql(&self, sql: &str) {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "nuvem",
                "-d",
                "nuvem",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://nuvem@127.0.0.1:{}/nuvem", self.port)
    }

    fn stop_mode(&self, mode: &str) {
        let data = self.data.display().to_string();
        self.try_run("pg_ctl", &["-D", &data, "-m", mode, "-w", "stop"]);
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let program = self.bin.join(tool);
        let mut c = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        // The unprivileged user may not be allowed into the test's working directory.
        c.args(args).current_dir(Path::new("/"));
        c
    }

    fn try_run(&self, tool: &str, args: &[&str]) -> bool {
        self.command(tool, args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[track_caller]
    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool, args).output().unwrap();
        if !out.status.success() {
            let log = std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default();
            panic!(
                "{tool} {args:?} failed: {}\n{}\nserver log:\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop_mode("immediate");
    }
}
