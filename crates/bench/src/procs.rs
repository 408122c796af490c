//! The servers under test as child processes: `nuvem up` on ephemeral loopback ports with an
//! empty manifest and a temporary data dir, and `moto_server` on a free loopback port. Both
//! are killed when their handle is dropped, so an error anywhere still cleans up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A child process that is killed (SIGKILL) and reaped when dropped.
pub struct Guard {
    child: Child,
    what: &'static str,
}

impl Guard {
    fn new(child: Child, what: &'static str) -> Self {
        Self { child, what }
    }

    /// Fails when the process has already exited.
    fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => bail!("{} exited early ({status})", self.what),
            Ok(None) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("checking on {}", self.what)),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `nuvem up`.
pub struct Nuvem {
    /// `http://127.0.0.1:PORT` of the AWS endpoint.
    pub url: String,
    /// The command line it was started with.
    pub command: String,
    // Dropped before `_dir`, so the process is gone before its data dir is deleted.
    _guard: Guard,
    _dir: tempfile::TempDir,
}

impl Nuvem {
    /// The process id (for reading its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self._guard.child.id()
    }

    pub fn start(bin: &Path) -> anyhow::Result<Self> {
        if !bin.is_file() {
            bail!(
                "no nuvem binary at {} (build it with `cargo build --release -p nuvem`, or pass --nuvem-bin)",
                bin.display()
            );
        }
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        let manifest = dir.path().join("nuvem.toml");
        std::fs::write(&manifest, "").context("writing the empty manifest")?;
        let data = dir.path().join("data");
        let mut cmd = Command::new(bin);
        cmd.arg("up")
            .arg("--manifest")
            .arg(&manifest)
            .arg("--data-dir")
            .arg(&data)
            .args(["--api-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0"])
            .env(
                "NUVEM_LOG",
                std::env::var("NUVEM_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let command = format!(
            "{} up --manifest {} --data-dir {} --api-addr 127.0.0.1:0 --edge-addr 127.0.0.1:0",
            bin.display(),
            manifest.display(),
            data.display()
        );
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("nuvem's stdout")?;
        let mut guard = Guard::new(child, "nuvem");

        // One thread reads stdout for the whole run, so nuvem never blocks on a full pipe;
        // the lines before the endpoint is known are passed on, later ones dropped.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(t) = &tx
                    && t.send(line).is_err()
                {
                    tx = None;
                }
            }
        });

        let deadline = Instant::now() + READY_TIMEOUT;
        let mut printed = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => {
                    guard.check_running()?;
                    bail!("nuvem did not print its endpoint ({e}); it printed: {printed:#?}");
                }
            };
            if let Some(rest) = line.trim_start().strip_prefix("aws endpoint")
                && let Some(url) = rest.split_whitespace().find(|w| w.starts_with("http://"))
            {
                break url.to_string();
            }
            printed.push(line);
        };
        drop(rx);
        Ok(Self {
            url,
            command,
            _guard: guard,
            _dir: dir,
        })
    }
}

/// A running `moto_server`.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The command line it was started with.
    pub command: String,
    _guard: Guard,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start(bin: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        // moto logs every request; keep that out of the report but at hand on failure.
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).context("creating moto's log file")?;
        let command = format!("{} -H 127.0.0.1 -p {port}", bin.display());
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("moto's log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (install it with `pip install 'moto[server]'`, or pass --moto-bin)",
                    bin.display()
                )
            })?;
        let mut guard = Guard::new(child, "moto_server");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if answers_http(addr) {
                break;
            }
            let running = guard.check_running();
            if running.is_err() || Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let err = running
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("moto_server did not answer HTTP"));
                bail!("{err}; it printed:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Self {
            url: format!("http://{addr}"),
            command,
            _guard: guard,
            _dir: dir,
        })
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Whether something at `addr` answers a plain HTTP request with an HTTP response.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    s.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// The nuvem binary to use when none is given: `$CARGO_TARGET_DIR/release/nuvem`, else
/// `target/release/nuvem`; when that does not exist, a `nuvem` next to this binary.
pub fn default_nuvem_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let path = target.join("release").join("nuvem");
    if path.is_file() {
        return path;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("nuvem")))
        .filter(|p| p.is_file())
        .unwrap_or(path)
}
