//! Building a manifest function from its cargo package at `nuvem up`, like `sam build` or
//! `cargo lambda build` would, so that a user edits Rust code and runs `nuvem up` again.
//!
//! `up` runs these builds in the background (the site is served meanwhile), so a build
//! reports its progress as one line updated in place on a terminal, or a few plain lines
//! otherwise (tests, CI logs), never cargo's hundreds of `Compiling` lines. Must not: create
//! or update functions (see `services`).

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Where Rust comes from, for the message when cargo is missing.
const INSTALL_RUST: &str = "install Rust from https://rustup.rs";

/// The cargo a build runs: `$CARGO` (set when nuvem itself runs under cargo), else `cargo`
/// found on `PATH`; when there is none, an error that says what to install.
pub fn find_cargo() -> Result<PathBuf, String> {
    if let Some(c) = std::env::var_os("CARGO") {
        return Ok(PathBuf::from(c));
    }
    on_path("cargo").ok_or_else(|| format!("needs cargo, which is not on PATH: {INSTALL_RUST}"))
}

/// What a function of `runtime` needs installed to run and is missing from `PATH`, said as
/// what to install: `python3` for `python3.x`, `node` for `nodejsNN.x` (the functions
/// service runs those; `provided.*` runs the function's own binary).
pub fn missing_runtime(runtime: &str) -> Option<String> {
    let (program, install) = if runtime.starts_with("python") {
        (
            "python3",
            "install Python 3 (https://www.python.org/downloads/, or your package manager's python3)",
        )
    } else if runtime.starts_with("nodejs") {
        ("node", "install Node.js from https://nodejs.org")
    } else {
        return None;
    };
    match on_path(program) {
        Some(_) => None,
        None => Some(format!(
            "needs {program} to run ({runtime}), which is not on PATH: {install}"
        )),
    }
}

/// The first `name` in a folder of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The running builds' process groups, so that shutting down stops them (cargo and its
/// rustc children) instead of leaving them to finish for nobody.
#[derive(Default, Clone)]
pub struct Running(Arc<Mutex<Vec<u32>>>, Arc<std::sync::atomic::AtomicBool>);

impl Running {
    /// Whether [`Running::stop_all`] was called: a build that ends now was stopped, it did
    /// not fail.
    pub fn stopped(&self) -> bool {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops every build still running (SIGTERM to its process group).
    pub fn stop_all(&self) {
        self.1.store(true, std::sync::atomic::Ordering::SeqCst);
        let pids = self.0.lock().map(|p| p.clone()).unwrap_or_default();
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }

    fn add(&self, pid: u32) {
        if let Ok(mut p) = self.0.lock() {
            p.push(pid);
        }
    }

    fn remove(&self, pid: u32) {
        if let Ok(mut p) = self.0.lock() {
            p.retain(|&x| x != pid);
        }
    }
}

/// Builds `package` in release mode (the profile and, through cargo, the target directory
/// of `cargo run --release`, so the dependencies nuvem was just built with are reused) and
/// returns the path of the binary it produced. The package is looked for in `dir` and its
/// immediate subfolders (a project from `nuvem init` keeps it in `function/`, a workspace of
/// its own); otherwise cargo finds it in the workspace above `dir`. Cargo decides whether
/// anything needs rebuilding, so a second `up` with no changes costs one no-op cargo run.
/// `function` names the build in its progress lines; `hint` is where the number of units
/// of the last build is kept, for the next one's estimate.
pub fn cargo_binary(
    dir: &Path,
    package: &str,
    function: &str,
    hint: &Path,
    running: &Running,
) -> anyhow::Result<PathBuf> {
    let cargo = find_cargo().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--quiet",
        "--message-format=json-render-diagnostics",
        "-p",
        package,
    ]);
    if let Some(manifest) = package_manifest(dir, package) {
        cmd.arg("--manifest-path").arg(manifest);
    }
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running cargo to build {package} ({INSTALL_RUST})"))?;
    let pid = child.id();
    running.add(pid);
    // Diagnostics (warnings, errors) are shown once the build is over, so they do not
    // tangle with the progress line.
    let mut stderr = child.stderr.take().context("cargo's stderr")?;
    let diagnostics = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let progress = Arc::new(Mutex::new(Progress::new(function, read_hint(hint))));
    // Redraws on a clock too, so that the elapsed time moves during one long crate.
    let (done, ticking) = std::sync::mpsc::channel::<()>();
    let ticker = {
        let progress = progress.clone();
        std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                ticking.recv_timeout(Duration::from_millis(500))
            {
                if let Ok(mut p) = progress.lock() {
                    p.tick();
                }
            }
        })
    };
    // The last compiler artifact with an executable is the package's binary.
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let Ok(mut p) = progress.lock() {
            p.unit(msg["fresh"].as_bool().unwrap_or(false));
        }
        if msg["package_id"]
            .as_str()
            .is_some_and(|id| id.contains(package))
            && let Some(path) = msg["executable"].as_str()
        {
            executable = Some(PathBuf::from(path));
        }
    }
    let status = child.wait();
    running.remove(pid);
    let diagnostics = diagnostics.join().unwrap_or_default();
    drop(done);
    let _ = ticker.join();
    let (units, compiled, elapsed) = match progress.lock() {
        Ok(p) => {
            p.finish();
            (p.units, p.compiled, p.started.elapsed())
        }
        Err(_) => (0, 0, Duration::ZERO),
    };
    if !diagnostics.trim().is_empty() {
        eprint!("{diagnostics}");
    }
    let status = status.context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo could not build {package} ({status})");
    }
    let executable =
        executable.with_context(|| format!("cargo built {package} but reported no executable"))?;
    write_hint(hint, units);
    println!(
        "  built function {function} ({}) in {:.1} s: {units} crates, {compiled} compiled",
        executable.display(),
        elapsed.as_secs_f64(),
    );
    Ok(executable)
}

/// The units the last build of this package had (fresh ones included), if known.
fn read_hint(hint: &Path) -> Option<u32> {
    std::fs::read_to_string(hint).ok()?.trim().parse().ok()
}

fn write_hint(hint: &Path, units: u32) {
    if let Some(dir) = hint.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(hint, format!("{units}\n"));
}

/// A build's progress on stderr: one line rewritten in place on a terminal; otherwise a
/// line at the start, one about every 10 s, and the `built` line at the end.
struct Progress {
    function: String,
    /// Units the last build had: the estimate of this one's total.
    expected: Option<u32>,
    units: u32,
    compiled: u32,
    started: Instant,
    tty: bool,
    last: Instant,
}

impl Progress {
    fn new(function: &str, expected: Option<u32>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let p = Self {
            function: function.to_string(),
            expected,
            units: 0,
            compiled: 0,
            started: Instant::now(),
            tty,
            last: Instant::now(),
        };
        if !tty {
            eprintln!(
                "  building function {function} (cargo build --release); the site is served meanwhile"
            );
        }
        p.draw();
        p
    }

    /// One more unit (a crate's library, build script or binary) cargo reported.
    fn unit(&mut self, fresh: bool) {
        self.units += 1;
        if !fresh {
            self.compiled += 1;
        }
        if self.tty {
            self.redraw_after(Duration::from_millis(100));
        }
    }

    /// The clock: a terminal's line every second, a plain line every 10 s.
    fn tick(&mut self) {
        self.redraw_after(if self.tty {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        });
    }

    fn redraw_after(&mut self, every: Duration) {
        if self.last.elapsed() >= every {
            self.last = Instant::now();
            self.draw();
        }
    }

    /// `building function api: 45/212 crates, ~1 min left` (`45 of 180 crates compiled,
    /// 12 s` without an estimate: of the units cargo reported so far, fresh ones included).
    fn line(&self) -> String {
        let elapsed = self.started.elapsed();
        let what = match self.expected {
            Some(total) if total > self.units => {
                let left = total - self.units;
                // Time per compiled unit so far, for the ones left; nothing to go on yet
                // until something has compiled.
                let eta = (self.compiled > 0)
                    .then(|| elapsed.mul_f64(f64::from(left) / f64::from(self.compiled)));
                match eta {
                    Some(eta) => format!(
                        "{}/{total} crates, ~{} left",
                        self.units,
                        human(eta.as_secs())
                    ),
                    None => format!("{}/{total} crates", self.units),
                }
            }
            _ => format!(
                "{} of {} crates compiled, {}",
                self.compiled,
                self.units,
                human(elapsed.as_secs())
            ),
        };
        format!("  building function {}: {what}", self.function)
    }

    fn draw(&self) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            // Carriage return and clear-to-end-of-line: the line is rewritten in place.
            let _ = write!(err, "\r{}\x1b[K", self.line());
            let _ = err.flush();
        } else if self.started.elapsed() >= Duration::from_secs(1) {
            let _ = writeln!(err, "{}", self.line());
        }
    }

    fn finish(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// `45 s`, `2 min`.
fn human(secs: u64) -> String {
    if secs < 90 {
        format!("{secs} s")
    } else {
        format!("{} min", secs.div_ceil(60))
    }
}

/// The `Cargo.toml` of `package` in `dir` or one of its immediate subfolders.
fn package_manifest(dir: &Path, package: &str) -> Option<PathBuf> {
    let subfolders = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir());
    std::iter::once(dir.to_path_buf())
        .chain(subfolders)
        .map(|d| d.join("Cargo.toml"))
        .find(|m| {
            std::fs::read_to_string(m)
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(|t| {
                    t.get("package")?
                        .get("name")?
                        .as_str()
                        .map(|n| n == package)
                })
                .unwrap_or(false)
        })
}
