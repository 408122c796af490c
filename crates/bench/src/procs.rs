//! The servers under test as child processes: `nuvem up` on ephemeral loopback ports with a
//! given manifest (empty by default) and a temporary data dir, and `moto_server` on a free
//! loopback port, optionally pinned to CPUs with `taskset`. All are killed when their handle
//! is dropped, so an error anywhere still cleans up. Also: peak-RSS bookkeeping from
//! `/proc/<pid>/status` and the start-up time of a server (spawn → health answered).

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
    /// The child leads its own process group, all of which is killed (a server's workers).
    group: bool,
}

impl Guard {
    pub fn new(child: Child, what: &'static str) -> Self {
        Self {
            child,
            what,
            group: false,
        }
    }

    /// For a child spawned with `process_group(0)`: its whole group is killed when dropped
    /// (nginx's workers outlive a killed master otherwise, and pile up run after run).
    pub fn group(child: Child, what: &'static str) -> Self {
        Self {
            child,
            what,
            group: true,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has already exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => bail!("{} exited early ({status})", self.what),
            Ok(None) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("checking on {}", self.what)),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to start nuvem.
#[derive(Default)]
pub struct Launch<'a> {
    /// The `nuvem.toml` text (empty: no manifest content).
    pub manifest: &'a str,
    /// Extra files written next to the manifest (name, content), e.g. a WebACL JSON.
    pub files: &'a [(&'a str, &'a str)],
    /// `taskset -c` CPU list the server runs on.
    pub pin: Option<&'a str>,
    /// `--storage` (a `postgres://` URL); the embedded engine when `None`.
    pub storage: Option<&'a str>,
}

/// A running `nuvem up`.
pub struct Nuvem {
    /// `http://127.0.0.1:PORT` of the AWS endpoint.
    pub url: String,
    /// `http://127.0.0.1:PORT` of the first edge location.
    pub edge_url: Option<String>,
    /// The manifest's APIs: (name, `http://{id}.execute-api…:PORT`).
    pub apis: Vec<(String, String)>,
    /// Manifest sections this build says it does not serve yet (from its `note:` lines).
    pub notes: Vec<String>,
    /// The command line it was started with.
    pub command: String,
    // Dropped before `_dir`, so the process is gone before its data dir is deleted.
    _guard: Guard,
    _dir: tempfile::TempDir,
}

impl Nuvem {
    /// The process id (for reading its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self._guard.pid()
    }

    /// nuvem with an empty manifest, not pinned.
    pub fn start(bin: &Path) -> anyhow::Result<Self> {
        Self::launch(bin, &Launch::default())
    }

    pub fn launch(bin: &Path, launch: &Launch<'_>) -> anyhow::Result<Self> {
        if !bin.is_file() {
            bail!(
                "no nuvem binary at {} (build it with `cargo build --release -p nuvem`, or pass --nuvem-bin)",
                bin.display()
            );
        }
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        let manifest = dir.path().join("nuvem.toml");
        std::fs::write(&manifest, launch.manifest).context("writing the manifest")?;
        for (name, content) in launch.files {
            std::fs::write(dir.path().join(name), content)
                .with_context(|| format!("writing {name}"))?;
        }
        let data = dir.path().join("data");
        let mut args = vec![
            "up".into(),
            "--manifest".into(),
            manifest.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
            "--api-addr".into(),
            "127.0.0.1:0".into(),
            "--edge-addr".into(),
            "127.0.0.1:0".into(),
        ];
        if let Some(url) = launch.storage {
            args.extend(["--storage".into(), url.to_string()]);
        }
        let mut cmd = pinned(bin, launch.pin);
        cmd.args(&args)
            .env(
                "NUVEM_LOG",
                std::env::var("NUVEM_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let command = command_line(bin, launch.pin, &args);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("nuvem's stdout")?;
        let mut guard = Guard::new(child, "nuvem");

        // One thread reads stdout for the whole run, so nuvem never blocks on a full pipe;
        // the lines up to `ready in` are passed on, later ones dropped.
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
        let (mut url, mut edge_url, mut apis, mut notes) = (None, None, Vec::new(), Vec::new());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => {
                    guard.check_running()?;
                    bail!("nuvem did not print `ready in` ({e}); it printed: {printed:#?}");
                }
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["aws", "endpoint", u, ..] if u.starts_with("http://") => {
                    url = Some(u.to_string());
                }
                ["edge", u, ..] => edge_url = Some(u.to_string()),
                ["api", name, "at", u, ..] => apis.push((name.to_string(), u.to_string())),
                ["note:", ..] => notes.push(line.trim().to_string()),
                ["ready", "in", ..] => break,
                _ => {}
            }
            printed.push(line);
        }
        drop(rx);
        Ok(Self {
            url: url.with_context(|| format!("nuvem printed no endpoint: {printed:#?}"))?,
            edge_url,
            apis,
            notes,
            command,
            _guard: guard,
            _dir: dir,
        })
    }
}

/// `bin`, or `taskset -c CPUS bin` when pinned.
pub fn pinned(bin: &Path, pin: Option<&str>) -> Command {
    match pin {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

/// The command line `pinned(bin, pin).args(args)` runs, for the report.
pub fn command_line(bin: &Path, pin: Option<&str>, args: &[String]) -> String {
    let mut s = pin.map_or_else(String::new, |cpus| format!("taskset -c {cpus} "));
    s.push_str(&bin.display().to_string());
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// A running `moto_server`.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub pid: u32,
    /// The command line it was started with.
    pub command: String,
    _guard: Guard,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start_pinned(bin: &Path, pin: Option<&str>) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        // moto logs every request; keep that out of the report but at hand on failure.
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).context("creating moto's log file")?;
        let args = [
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        let command = command_line(bin, pin, &args);
        let child = pinned(bin, pin)
            .args(&args)
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
        wait_for_http(
            &mut guard,
            addr,
            &log_path,
            "moto_server",
            Duration::from_millis(100),
        )?;
        Ok(Self {
            url: format!("http://{addr}"),
            pid: guard.pid(),
            command,
            _guard: guard,
            _dir: dir,
        })
    }
}

/// AWS's Lambda runtime interface emulator (`aws-lambda-rie`) running one function's
/// bootstrap, as AWS documents it: the lambda group's peer for warm invokes. It runs in a
/// process group of its own, killed whole when dropped (the emulator and the runtime it
/// started).
pub struct Rie {
    /// `http://127.0.0.1:PORT`; invoke at `/2015-03-31/functions/function/invocations`.
    pub url: String,
    pub pid: u32,
    /// The command line it was started with.
    pub command: String,
    _guard: Guard,
    _dir: tempfile::TempDir,
}

/// The one function name the emulator serves.
pub const RIE_FUNCTION: &str = "function";

impl Rie {
    pub fn start_pinned(bin: &Path, bootstrap: &Path, pin: Option<&str>) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt as _;
        let port = free_port()?;
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        // The function's output and the emulator's errors; at hand on failure.
        let log_path = dir.path().join("rie.log");
        let log = std::fs::File::create(&log_path).context("creating the emulator's log file")?;
        let args = [
            "--log-level".into(),
            "error".into(),
            "--runtime-interface-emulator-address".into(),
            format!("127.0.0.1:{port}"),
            bootstrap.display().to_string(),
        ];
        let command = command_line(bin, pin, &args);
        let child = pinned(bin, pin)
            .args(&args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("the emulator's log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut guard = Guard::new(child, "aws-lambda-rie");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        wait_for_http(
            &mut guard,
            addr,
            &log_path,
            "aws-lambda-rie",
            Duration::from_millis(50),
        )?;
        Ok(Self {
            url: format!("http://{addr}"),
            pid: guard.pid(),
            command,
            _guard: guard,
            _dir: dir,
        })
    }
}

impl Drop for Rie {
    fn drop(&mut self) {
        // The whole group: the emulator and the runtime it started (then the guard reaps).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pid)])
            .stderr(Stdio::null())
            .status();
    }
}

/// Waits until `addr` answers HTTP; on a deadline or the process's exit, fails with what it
/// wrote to `log_path`.
fn wait_for_http(
    guard: &mut Guard,
    addr: SocketAddr,
    log_path: &Path,
    what: &str,
    poll: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if answers_http(addr) {
            return Ok(());
        }
        let running = guard.check_running();
        if running.is_err() || Instant::now() > deadline {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            let err = running
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("{what} did not answer HTTP"));
            bail!("{err}; it printed:\n{log}");
        }
        std::thread::sleep(poll);
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Whether something at `addr` answers a plain HTTP request with an HTTP response.
pub fn answers_http(addr: SocketAddr) -> bool {
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

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc/<pid>/status (Linux only)")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// CPU time (user + system) used so far by `pid` and every process descended from it (nginx's
/// and Varnish's workers are children of the process the bench started), in clock ticks
/// (`sysconf(_SC_CLK_TCK)`, 100 per second on Linux); `None` where `/proc` is missing.
pub fn cpu_ticks_tree(pid: u32) -> Option<u64> {
    // (pid, ppid, utime + stime) of every process.
    let mut procs = Vec::new();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // The command may hold spaces and parentheses: the fields follow the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let Some(p) = head
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the ')': state(0) ppid(1) … utime(11) stime(12).
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        if let (Some(ppid), Some(u), Some(s)) = (num(1), num(11), num(12)) {
            procs.push((p, u32::try_from(ppid).unwrap_or(0), u + s));
        }
    }
    let mut tree = vec![pid];
    let mut total = 0;
    let mut i = 0;
    while let Some(&p) = tree.get(i) {
        for (child, ppid, ticks) in &procs {
            if *child == p {
                total += ticks;
            } else if *ppid == p && !tree.contains(child) {
                tree.push(*child);
            }
        }
        i += 1;
    }
    procs.iter().any(|(p, _, _)| *p == pid).then_some(total)
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (USER_HZ, 100 on Linux).
pub const TICKS_PER_SEC: f64 = 100.0;

/// Resets the process's peak RSS (`VmHWM`) to its current RSS, so the next reading is the
/// peak of what follows (`clear_refs` value 5, proc(5)). False where the kernel refuses.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The time from spawning `cmd` (which must serve HTTP on `addr`) until `GET path` on `addr`
/// answers 200; the process is killed afterwards.
pub fn startup_time(
    mut cmd: Command,
    addr: SocketAddr,
    path: &str,
    what: &'static str,
) -> anyhow::Result<Duration> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let began = Instant::now();
    let child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let mut guard = Guard::new(child, what);
    loop {
        if http_status(addr, path) == Some(200) {
            return Ok(began.elapsed());
        }
        guard.check_running()?;
        if began.elapsed() > READY_TIMEOUT {
            bail!("{what} did not answer {path} with 200 within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The status of `GET path` on `addr`, if anything answered HTTP.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()
}
