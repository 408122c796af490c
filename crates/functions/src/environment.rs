//! One execution environment: a child process running a function's runtime, its Runtime API
//! listener, and the capture of its stdout/stderr.
//!
//! The process gets a clean environment with exactly the variables Lambda documents
//! (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)
//! plus the function's own, and nothing of nuvem's except `PATH` (to find `python3`/`node`);
//! in namespaces, only the folders of it other users reach, after the bound toolchain's `bin`
//! ([`crate::isolation::open_path`]).
//!
//! Memory limit: `RLIMIT_DATA` set to the function's memory size on the child right after it
//! starts (`prlimit`, so no `unsafe` pre-exec hook is needed; the few instructions before
//! the limit applies cannot allocate much). It bounds heap and private writable mappings,
//! which is what a function grows; a runtime that exceeds it fails to allocate and exits, and
//! the invocation reports the exit as Lambda does. Node reserves large writable regions up
//! front, so for Node the limit is the V8 heap limit (`--max-old-space-size`) instead.
//! cgroups v2 (`memory.max`, exact accounting including page cache) is the future path when
//! nuvem runs with a delegated cgroup; it is not used yet.
//!
//! Users and namespaces ([`crate::isolation`]): as root, the runtime starts as the function's
//! uid on a private copy of its code; with namespaces the process nuvem starts is `unshare`
//! around the wrapper, which sets the memory limit itself before the runtime exists.
//!
//! Network ([`crate::netns`]): an environment with namespaces, unless the manifest grants its
//! function egress, is spawned from a thread that made a network namespace of its own, so
//! `unshare` and everything below it are in it; its Runtime API listener (`127.0.0.1:9001`,
//! `AWS_LAMBDA_RUNTIME_API`) and the private plane's forwards were bound there and are served
//! by nuvem's async workers, the forwards stopped with the environment. Every other
//! environment's Runtime API is on the host's loopback at an ephemeral port.
//!
//! Process groups: each environment runs in a process group of its own (`process_group(0)`),
//! so whatever the runtime spawns (a shell `bootstrap` that starts helpers, a language server
//! forking workers) is killed with it: on timeout, crash, scale-in, a code change and nuvem's
//! shutdown the whole group gets SIGKILL ([`ProcessGroups`]). Being in its own group also means
//! a terminal's Ctrl-C no longer reaches the runtimes directly; nuvem kills them itself when
//! it stops ([`ProcessGroups::kill_all`]). The signal is sent with the `kill` command (procps
//! or util-linux, present on every Linux), because sending it from Rust needs either `unsafe`
//! or a new dependency; it only runs when an environment ends, never per invocation.
//!
//! Lifeline: nothing an environment started outlives nuvem, even after `kill -9`. nuvem holds
//! the only write end of one pipe for its whole life ([`lifeline`]); every environment gets
//! the read end as its stdin, and a watcher subshell of the process nuvem starts blocks on it
//! (the runtime itself gets `/dev/null`). When nuvem dies the kernel closes the write end, the
//! watcher reads end-of-file and kills: on the host its process group ([`HOST_WRAPPER`]), in
//! namespaces every process of the environment's PID namespace ([`crate::isolation::WRAPPER`]),
//! so a daemon that left the group with `setsid` dies too there. No pre-exec hook, no `unsafe`.
//!
//! Must not: choose which environment serves an invocation (the pool does) or format
//! START/END/REPORT lines (the invoker does).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::logs::LogSink;
use crate::runtime_api::RuntimeApi;

/// How to start one environment of a function (resolved from its record and runtime).
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub task_root: PathBuf,
    pub env: Vec<(String, String)>,
    /// `RLIMIT_DATA` in bytes, if the runtime takes one.
    pub data_limit: Option<u64>,
    /// Where the environment's execution-role session comes from (`None`: the keys in
    /// `env` serve).
    pub role: Option<crate::credentials::RoleSource>,
    /// The function's own user, when environments run as users of their own: each one then
    /// starts on a private copy of `code` (see [`crate::isolation`]).
    pub user: Option<Isolated>,
    /// The function's runtime identifier (which search paths name its layers).
    pub runtime: String,
    /// The function's merged layers on this node (see [`crate::layers`]): `/opt` with mount
    /// namespaces, this folder (or the environment's private copy of it) without.
    pub opt: Option<PathBuf>,
}

/// How an environment of a function runs as the function's user.
#[derive(Debug, Clone)]
pub struct Isolated {
    pub user: crate::isolation::User,
    /// Whether it also gets mount and PID namespaces ([`crate::isolation::WRAPPER`]).
    pub namespaces: bool,
    /// With namespaces, `Some(private plane)` when it also gets a network namespace of its own
    /// ([`crate::netns`]): the plane's addresses (the AWS endpoint) are reachable inside at
    /// `127.0.0.1:<port>`, nothing else is. `None`: the host's network (a function the
    /// manifest grants egress, or a host without network namespaces).
    pub network: Option<Vec<std::net::SocketAddr>>,
    pub function: String,
    /// The folder of the private copies (`<functions>/isolated`).
    pub dir: PathBuf,
    /// The code to copy: the task root, or the executable of a `provided` function.
    pub code: PathBuf,
    /// The shipped bootstraps (`LAMBDA_RUNTIME_DIR`), which the runtime reads.
    pub runtime_dir: PathBuf,
    /// With namespaces, an interpreter under a private folder bound into the environment
    /// ([`crate::isolation::WRAPPER`]'s toolchain step), its `bin` first on `PATH`.
    pub toolchain: Option<crate::isolation::Toolchain>,
}

/// The process groups of every live environment of a service, so that none outlives its
/// environment or nuvem.
#[derive(Debug, Default)]
pub struct ProcessGroups {
    live: Mutex<HashSet<u32>>,
}

impl ProcessGroups {
    fn add(&self, pgid: u32) {
        if let Ok(mut live) = self.live.lock() {
            live.insert(pgid);
        }
    }

    /// SIGKILLs the group `pgid` if it is still registered, and forgets it: a group is killed
    /// at most once, so a recycled process id is never signalled.
    pub fn kill(&self, pgid: u32) {
        let registered = self
            .live
            .lock()
            .map(|mut l| l.remove(&pgid))
            .unwrap_or(false);
        if registered {
            kill_group(pgid);
        }
    }

    /// Kills every live group (nuvem is stopping).
    pub fn kill_all(&self) {
        let groups: Vec<u32> = self
            .live
            .lock()
            .map(|mut l| l.drain().collect())
            .unwrap_or_default();
        for pgid in groups {
            kill_group(pgid);
        }
    }

    /// How many groups are alive (health, tests).
    pub fn len(&self) -> usize {
        self.live.lock().map(|l| l.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `kill -KILL -- -<pgid>`: the negative id addresses the whole group.
fn kill_group(pgid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = status {
        tracing::warn!(error = %e, pgid, "lambda: cannot run `kill` to stop an environment's process group");
    }
}

pub struct Environment {
    pub api: RuntimeApi,
    pub pid: Option<u32>,
    groups: Arc<ProcessGroups>,
    /// `Some(reason)` once the process has exited (`exit status 1`, `signal: killed`).
    pub exit: watch::Receiver<Option<String>>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    pub logs: Arc<LogCapture>,
    pub started: Instant,
    pub last_used: Mutex<Instant>,
    /// The function revision this environment runs; a stale one is never reused.
    pub revision: String,
    pub invocations: AtomicU64,
    /// When the environment's role session expires (ms since the epoch), if it has one.
    pub credentials_expire_ms: Option<i64>,
    /// Whether the process is `unshare` around the runtime (mount and PID namespaces).
    namespaced: bool,
    /// The runtime's pid as seen from nuvem, once found (namespaced: two processes below
    /// `pid`), so each REPORT reads one file of `/proc`, not three.
    runtime_pid: std::sync::OnceLock<u32>,
    /// The tasks forwarding the private plane into its network namespace.
    forwards: Vec<tokio::task::JoinHandle<()>>,
}

type Spawned = (
    RuntimeApi,
    tokio::process::Child,
    Vec<tokio::task::JoinHandle<()>>,
);

/// Starts the process on the host's network, its Runtime API on the host's loopback.
async fn spawn_on_host(mut cmd: tokio::process::Command) -> std::io::Result<Spawned> {
    let api = RuntimeApi::start().await?;
    cmd.env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string());
    Ok((api, cmd.spawn()?, Vec::new()))
}

/// Starts the process in a network namespace of its own ([`crate::netns`]), with its Runtime
/// API at `127.0.0.1:9001` inside and `plane` forwarded in. Making the namespace blocks
/// (a thread of its own: unshare, bind, fork), so it is waited for off the async workers.
async fn spawn_in_own_network(
    mut cmd: tokio::process::Command,
    plane: Vec<std::net::SocketAddr>,
) -> std::io::Result<Spawned> {
    let handle = tokio::runtime::Handle::current();
    let (inside, child) = tokio::task::spawn_blocking(move || {
        crate::netns::spawn_inside(plane, move |api| {
            // tokio's child handling needs the runtime; the fork happens on the namespace's
            // thread, so the child starts in the namespace.
            let _rt = handle.enter();
            cmd.env("AWS_LAMBDA_RUNTIME_API", api.to_string());
            cmd.spawn()
        })
    })
    .await
    .map_err(std::io::Error::other)??;
    let api = RuntimeApi::serve(inside.runtime_api)?;
    let forwards = inside
        .forwards
        .into_iter()
        .map(|(listener, to)| crate::netns::forward(listener, to))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok((api, child, forwards))
}

impl Environment {
    pub async fn start(
        launch: &Launch,
        revision: String,
        sink: Arc<LogSink>,
        groups: Arc<ProcessGroups>,
    ) -> std::io::Result<Self> {
        let started = Instant::now();
        let session = match &launch.role {
            Some(role) => role.session().await.map_err(std::io::Error::other)?,
            None => None,
        };
        let (mut program, mut task_root) = (launch.program.clone(), launch.task_root.clone());
        let mut env = launch.env.clone();
        let private = match &launch.user {
            Some(iso) => {
                let (dir, function, code, user, opt) = (
                    iso.dir.clone(),
                    iso.function.clone(),
                    iso.code.clone(),
                    iso.user,
                    launch.opt.clone(),
                );
                let private = tokio::task::spawn_blocking(move || {
                    crate::isolation::Private::create(&dir, &function, &code, user, opt.as_deref())
                })
                .await
                .map_err(std::io::Error::other)??;
                program = private.remap(&iso.code, &program);
                task_root = private.remap(&iso.code, &task_root);
                for (k, v) in &mut env {
                    if k == "LAMBDA_TASK_ROOT" {
                        *v = task_root.to_string_lossy().into_owned();
                    }
                }
                Some(private)
            }
            None => None,
        };
        let mut args = launch.args.clone();
        // The layers: the environment's own copy when it has one, else the node's folder.
        let opt_host: Option<PathBuf> = match &private {
            Some(p) => p.opt.clone(),
            None => launch.opt.clone(),
        };
        // With namespaces (and an `/opt` to cover) the layers are at `/opt`, as on Lambda.
        let opt_at_opt = opt_host.is_some()
            && launch.user.as_ref().is_some_and(|iso| iso.namespaces)
            && Path::new("/opt").is_dir();
        let namespaced = match (&launch.user, &private) {
            (Some(iso), Some(p)) if iso.namespaces => {
                // The wrapper would start and then fail to exec it: say so as spawning it
                // directly would (a missing bootstrap is `Runtime.InvalidEntrypoint`).
                if let Err(e) = runnable(&program) {
                    p.remove();
                    return Err(e);
                }
                (program, args) = crate::isolation::namespaced_command(
                    &p.tmp,
                    iso.user,
                    launch.data_limit,
                    iso.toolchain.as_ref(),
                    opt_host.as_deref().filter(|_| opt_at_opt),
                    &[&p.task, &iso.runtime_dir],
                    &program,
                    &args,
                );
                true
            }
            _ => false,
        };
        let path = match launch.user.as_ref().filter(|_| namespaced) {
            // What the function's user reaches inside its namespace.
            Some(iso) => crate::isolation::open_path(
                std::env::var_os("PATH").as_deref(),
                iso.toolchain.as_ref(),
            ),
            None => {
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
            }
        };
        if !namespaced {
            // On the host the runtime is exec'd by [`HOST_WRAPPER`], after its watcher.
            let runtime = match resolve(&program, &path).and_then(|p| runnable(&p).map(|()| p)) {
                Ok(p) => p,
                Err(e) => {
                    if let Some(p) = &private {
                        p.remove();
                    }
                    return Err(e);
                }
            };
            args = [
                "-c".to_string(),
                HOST_WRAPPER.to_string(),
                "nuvem-runtime".to_string(),
                runtime.to_string_lossy().into_owned(),
            ]
            .into_iter()
            .chain(args)
            .collect();
            program = PathBuf::from("/bin/sh");
        }
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&args)
            .current_dir(&task_root)
            .env_clear()
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC");
        let mut path = path;
        if let Some(host) = &opt_host {
            let opt = if opt_at_opt { Path::new("/opt") } else { host };
            for (var, dirs) in crate::layers::search_paths(&launch.runtime, opt) {
                if var == "PATH" {
                    // Lambda's PATH ends with `/opt/bin`.
                    let mut all: Vec<PathBuf> = std::env::split_paths(&path).collect();
                    all.extend(dirs);
                    if let Ok(joined) = std::env::join_paths(all) {
                        path = joined;
                    }
                } else if let Ok(joined) = std::env::join_paths(dirs) {
                    // Set before the function's own variables, which may override them.
                    cmd.env(var, joined);
                }
            }
        }
        cmd.env("PATH", path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(c) = &session {
            cmd.env("AWS_ACCESS_KEY_ID", &c.access_key_id)
                .env("AWS_SECRET_ACCESS_KEY", &c.secret_access_key)
                .env("AWS_SESSION_TOKEN", &c.session_token);
        }
        cmd.stdin(lifeline())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(iso) = launch.user.as_ref().filter(|_| !namespaced) {
            // As root, std's `setuid` path also calls `setgroups(0)`: no supplementary groups.
            cmd.uid(iso.user.uid).gid(iso.user.gid);
        }
        let plane = launch
            .user
            .as_ref()
            .filter(|_| namespaced)
            .and_then(|iso| iso.network.clone());
        let spawned = match plane {
            Some(plane) => spawn_in_own_network(cmd, plane).await,
            None => spawn_on_host(cmd).await,
        };
        let (api, mut child, forwards) = match spawned {
            Ok(s) => s,
            Err(e) => {
                if let Some(p) = &private {
                    p.remove();
                }
                return Err(e);
            }
        };
        let pid = child.id();
        if let Some(pid) = pid {
            groups.add(pid);
            // `process_group(0)`: the group's id is the runtime's pid.
            api.serve_only(pid);
        }
        // With namespaces the wrapper sets the limit before the runtime starts.
        if let (Some(pid), Some(limit), false) = (pid, launch.data_limit, namespaced) {
            let set = rlimit::prlimit(
                i32::try_from(pid).unwrap_or(0),
                rlimit::Resource::DATA,
                Some((limit, limit)),
                None,
            );
            if let Err(e) = set {
                tracing::warn!(error = %e, "lambda: could not set the memory limit");
            }
        }
        let logs = Arc::new(LogCapture::new(sink));
        for fd in [
            child
                .stdout
                .take()
                .map(tokio::process::ChildStdout::into_owned_fd),
            child
                .stderr
                .take()
                .map(tokio::process::ChildStderr::into_owned_fd),
        ]
        .into_iter()
        .flatten()
        {
            match fd {
                Ok(fd) => logs.clone().capture(fd),
                Err(e) => {
                    tracing::warn!(error = %e, "lambda: cannot read a function's output; it is not logged");
                }
            }
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let reaper = groups.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // The runtime is gone; whatever it started goes with it.
            if let Some(pid) = pid {
                reaper.kill(pid);
            }
            if let Some(p) = private {
                let _ = tokio::task::spawn_blocking(move || p.remove()).await;
            }
            let reason = match status {
                Ok(s) => describe_exit(s, namespaced),
                Err(e) => format!("wait failed: {e}"),
            };
            let _ = exit_tx.send(Some(reason));
        });
        Ok(Self {
            api,
            pid,
            groups,
            exit: exit_rx,
            kill: Mutex::new(Some(kill_tx)),
            logs,
            started,
            last_used: Mutex::new(Instant::now()),
            revision,
            invocations: AtomicU64::new(0),
            credentials_expire_ms: session.map(|c| c.expires_ms),
            namespaced,
            runtime_pid: std::sync::OnceLock::new(),
            forwards,
        })
    }

    /// Kills the process and its whole process group (idempotent). Dropping the environment
    /// does the same. The group is killed right here, not by the task that reaps the process,
    /// so it also happens while the async runtime is shutting down.
    pub fn kill(&self) {
        for f in &self.forwards {
            f.abort();
        }
        if let Some(pid) = self.pid {
            self.groups.kill(pid);
        }
        if let Some(tx) = self.kill.lock().ok().and_then(|mut k| k.take()) {
            let _ = tx.send(());
        }
    }

    pub fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Whether the environment's credentials expire within [`ROTATE_BEFORE`]: it is not
    /// reused, and a new environment gets a fresh session.
    ///
    /// [`ROTATE_BEFORE`]: crate::credentials::ROTATE_BEFORE
    pub fn credentials_expiring(&self) -> bool {
        self.credentials_expire_ms.is_some_and(|e| {
            e - crate::credentials::now_ms() < crate::credentials::ROTATE_BEFORE.as_millis() as i64
        })
    }

    /// The peak resident memory of the process so far, in MB (`VmHWM`), for REPORT lines.
    pub fn max_memory_mb(&self) -> u64 {
        let Some(pid) = self.runtime_pid() else {
            return 0;
        };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kb| kb.div_ceil(1024))
    }

    /// The runtime's pid: the process nuvem started, or with namespaces the youngest child
    /// of the youngest child of it (`unshare` → the user's shell, init → the runtime). Found
    /// once; until the runtime exists (a failed start), the best guess is not kept.
    fn runtime_pid(&self) -> Option<u32> {
        if let Some(pid) = self.runtime_pid.get() {
            return Some(*pid);
        }
        let mut pid = self.pid?;
        if !self.namespaced {
            return Some(pid);
        }
        for _ in 0..2 {
            match last_child(pid) {
                Some(child) => pid = child,
                None => return Some(pid),
            }
        }
        Some(*self.runtime_pid.get_or_init(|| pid))
    }

    pub fn touch(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
        self.invocations.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts the idle clock (scale-in counts from the end of the last invocation).
    pub fn mark_idle(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
    }

    pub fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `program` (a path; a bare name is looked up on `PATH` inside the environment) is
/// an executable file, with the error spawning it would give.
fn runnable(program: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if program.components().count() < 2 {
        return Ok(());
    }
    let meta = std::fs::metadata(program)?;
    if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
        Ok(())
    } else {
        Err(std::io::ErrorKind::PermissionDenied.into())
    }
}

/// What an environment on the host starts as (its function's user, when there is one): a
/// shell that leaves a watcher on [`lifeline`] (its stdin), which kills the process group
/// when nuvem is gone, then execs the runtime (same pid, so the group is the runtime's and a
/// signal that kills the runtime is reported as such) with `/dev/null` as stdin.
pub const HOST_WRAPPER: &str = r#"exec 3<&0 0</dev/null
(while read -r _ <&3; do :; done; kill -KILL 0) &
exec 3<&- "$@"
"#;

/// The read end of the lifeline pipe, for one child's stdin; nuvem keeps the write end (and
/// a read end) open until it exits, and never writes. Both ends are close-on-exec in nuvem,
/// so no other child holds the write end. `Stdio::null()` if the pipe cannot be made.
pub(crate) fn lifeline() -> Stdio {
    static LIFELINE: std::sync::OnceLock<Option<(std::io::PipeReader, std::io::PipeWriter)>> =
        std::sync::OnceLock::new();
    match LIFELINE.get_or_init(|| std::io::pipe().ok()) {
        Some((reader, _writer)) => reader
            .try_clone()
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null()),
        None => Stdio::null(),
    }
}

/// Where `program` is found: itself when it names a path, else the first executable of that
/// name on `path` (as `execvp` looks), so a missing interpreter is still `NotFound` at spawn
/// rather than the wrapper's exit status 127.
fn resolve(program: &std::path::Path, path: &std::ffi::OsStr) -> std::io::Result<PathBuf> {
    if program.components().count() >= 2 {
        // Absolute: the runtime starts in the task root, where a path relative to nuvem's
        // working directory would name something else.
        return std::path::absolute(program);
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|p| runnable(p).is_ok())
        .ok_or_else(|| std::io::ErrorKind::NotFound.into())
}

/// The youngest child of `pid` (`/proc/<pid>/task/<pid>/children`, oldest first): the
/// namespace's init has the lifeline watcher first, then the runtime.
fn last_child(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// `exit status 1` / `signal: killed`, the wording of Lambda's `Runtime exited with error`.
/// With namespaces, the wrapper's shell reports a runtime killed by signal N as exit status
/// 128 + N (see [`crate::isolation::WRAPPER`]).
fn describe_exit(status: std::process::ExitStatus, namespaced: bool) -> String {
    use std::os::unix::process::ExitStatusExt;
    let signal = match status.code() {
        Some(code) if namespaced && (129..160).contains(&code) => Some(code - 128),
        Some(code) => return format!("exit status {code}"),
        None => status.signal(),
    };
    match signal {
        Some(9) => "signal: killed".into(),
        Some(6) => "signal: aborted".into(),
        Some(11) => "signal: segmentation fault".into(),
        Some(n) => format!("signal: {n}"),
        None => "exit status unknown".into(),
    }
}

/// What one environment printed: everything goes to the function's log sink; what was printed
/// during the current invocation is also kept for `X-Amz-Log-Type: Tail`.
///
/// Ordering without waiting: a runtime prints before it posts its response, so when the
/// invoker has the response, everything the function printed for the invocation is already
/// in its pipes. [`LogCapture::drain`] reads it there with plain non-blocking `read(2)`s on a
/// duplicate of each pipe's descriptor (no timer, no task hop, no readiness event needed)
/// until the pipe is empty, so it precedes END/REPORT. A per-pipe lock held from each read to
/// its [`LogCapture::output`] keeps the capture task and a drain from reordering chunks.
pub struct LogCapture {
    stream: crate::logs::EnvironmentLog,
    current: Mutex<Vec<u8>>,
    pipes: Mutex<Vec<Arc<Pipe>>>,
}

/// One of the process's output pipes, read by its capture task and by [`LogCapture::drain`].
struct Pipe {
    /// The pipe's descriptor, duplicated: the same open file (non-blocking) as the capture
    /// task's receiver, so a read is a single `read(2)` that returns `WouldBlock` when empty.
    file: std::fs::File,
    /// The read buffer; held from a read to its output, so chunks stay in pipe order.
    buf: Mutex<Box<[u8]>>,
}

/// How much one read takes from a pipe (a pipe holds 64 KiB by default).
const PIPE_READ: usize = 16 * 1024;

impl Pipe {
    /// Reads what the pipe holds now into `logs`, without waiting. With `receiver` (the
    /// capture task) each read goes through its readiness, so `WouldBlock` clears it.
    /// Returns whether the pipe is finished (end of file or a read error).
    fn read_ready(
        &self,
        logs: &LogCapture,
        receiver: Option<&tokio::net::unix::pipe::Receiver>,
    ) -> bool {
        use std::io::Read as _;
        let Ok(mut buf) = self.buf.lock() else {
            return true;
        };
        loop {
            let read = match receiver {
                Some(r) => r.try_io(|| (&self.file).read(&mut buf)),
                None => (&self.file).read(&mut buf),
            };
            match read {
                Ok(0) => return true,
                Ok(n) => logs.output(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }
}

impl LogCapture {
    fn new(sink: Arc<LogSink>) -> Self {
        Self {
            stream: sink.environment(),
            current: Mutex::new(Vec::new()),
            pipes: Mutex::new(Vec::new()),
        }
    }

    /// Starts reading one of the process's pipes (its stdout or stderr) into the log.
    fn capture(self: Arc<Self>, fd: std::os::fd::OwnedFd) {
        let opened = fd.try_clone().and_then(|dup| {
            let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
            Ok((receiver, std::fs::File::from(dup)))
        });
        let (receiver, file) = match opened {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "lambda: cannot read a function's output; it is not logged");
                return;
            }
        };
        let pipe = Arc::new(Pipe {
            file,
            buf: Mutex::new(vec![0u8; PIPE_READ].into_boxed_slice()),
        });
        if let Ok(mut p) = self.pipes.lock() {
            p.push(pipe.clone());
        }
        tokio::spawn(async move {
            loop {
                if receiver.readable().await.is_err() || pipe.read_ready(&self, Some(&receiver)) {
                    break;
                }
            }
            // The pipe is finished: drains no longer read it.
            if let Ok(mut p) = self.pipes.lock() {
                p.retain(|other| !Arc::ptr_eq(other, &pipe));
            }
        });
    }

    /// Appends a line nuvem writes itself (START/END/REPORT).
    pub fn write(&self, bytes: &[u8]) {
        self.keep(bytes);
        self.stream.line(bytes);
    }

    /// Appends what the function printed.
    fn output(&self, bytes: &[u8]) {
        self.keep(bytes);
        self.stream.output(bytes);
    }

    /// Keeps the invocation's output for `Tail`.
    fn keep(&self, bytes: &[u8]) {
        if let Ok(mut c) = self.current.lock() {
            c.extend_from_slice(bytes);
            // Only the tail is ever returned; keep memory bounded for chatty functions.
            if c.len() > 64 * 1024 {
                let cut = c.len() - 16 * 1024;
                c.drain(..cut);
            }
        }
    }

    /// Reads what the process printed so far and is still in its pipes, without waiting for
    /// more: called once the runtime has answered, before END/REPORT are written.
    pub fn drain(&self) {
        let pipes: Vec<_> = self.pipes.lock().map(|p| p.clone()).unwrap_or_default();
        for pipe in pipes {
            pipe.read_ready(self, None);
        }
    }

    /// Takes what was printed since the last call.
    pub fn take(&self) -> Vec<u8> {
        self.current
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}
