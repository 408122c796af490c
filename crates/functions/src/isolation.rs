//! Execution environments as users of their own (issue 17): when nuvem runs as root, each
//! function's environments run as an unprivileged uid/gid of the function's own, with no
//! supplementary groups, on a private copy of its code that only that uid can read.
//!
//! - *Which user.* A uid in a reserved range ([`UID_BASE`] plus a hash of the function name,
//!   [`UID_SPAN`] values), stable per name; two names that hash alike in one process get
//!   different uids (the second probes on). The gid is the uid. No account is created: the
//!   kernel needs none, and `setgroups(0)` (std does it when root sets a uid) leaves the
//!   process without supplementary groups.
//! - *Which code.* Every environment starts on its own copy of the code (`<functions>/isolated/
//!   <function>/<environment>/task`, owned by the function's uid, directories 0500, files
//!   0400 or 0500), made before the runtime starts and removed when it ends. Always copying
//!   is one rule for every source: zips unpacked by content (two functions with the same zip
//!   share one unpacked folder), local paths in the manifest or `hot-reload`, cargo-built
//!   binaries in a target dir under a private home. It also means the function cannot write
//!   to its source, and a hot-reloaded folder is read at each cold start as before. The cost
//!   is one copy per cold start (a `provided` executable is copied alone, not its folder).
//! - *What it cannot see.* The runtime's `/proc/<pid>/environ` (its secrets) belongs to its
//!   uid, so another function's uid cannot read it. The data dir is 0711 and everything in
//!   it 0700/0600 except the path to the copies and the shipped bootstraps (see
//!   [`lock_functions_dir`]; the binary locks the rest of the data dir).
//!
//! - *Namespaces.* When `unshare` and `setpriv` (util-linux) pass a probe at start-up, each
//!   environment also gets mount and PID namespaces through [`WRAPPER`]: its own `/tmp` and a
//!   `/proc` that shows only its processes. And, when the kernel makes network namespaces
//!   ([`crate::netns::works`]), a network namespace of its own where only `lo` is up: its
//!   Runtime API at `127.0.0.1:9001` and the AWS endpoint at `127.0.0.1:<its port>` are all
//!   it reaches, unless the manifest grants the function egress
//!   ([`crate::FunctionsConfig::egress`]), whose environments share the host's network.
//!   Without namespaces the network is the host's (the Runtime API on the host's loopback,
//!   behind the peer check of [`crate::runtime_api`]), and [`Isolation::missing`] says so.
//!
//! - *Private toolchains.* With namespaces, a Python installed under a folder other users
//!   cannot traverse (pyenv under `/root`, 0700) is bound into the environments of Python and
//!   `provided` functions ([`interpreter_reach`], [`Toolchain`], [`WRAPPER`]'s toolchain
//!   step): an empty root-owned `tmpfs` covers the topmost closed folder and the installation
//!   is bound read-only at its own path inside it, so the function's user runs the
//!   interpreter (and its site-packages) and sees nothing else of that folder. The
//!   environment's `PATH` is the toolchain's `bin`, then the folders of nuvem's `PATH` other
//!   users reach ([`open_path`]), so `provided` functions run as their user too.
//!
//! What it needs: the data dir's ancestors traversable by other users (`o+x`), and the
//! runtime's interpreter reachable by other users or, with namespaces, bindable;
//! [`Isolation::detect`], [`reachable_by_others`] and [`interpreter_reach`] check them, and
//! nuvem says what is missing (those functions run as root) instead of starting functions
//! that cannot run. Must not: start processes, except the one start-up probe of the
//! namespace wrapper.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The first uid of the range function users get (below 2^31, above the ranges distributions
/// and `/etc/subuid` hand out).
pub const UID_BASE: u32 = 0x7000_0000;
/// How many uids the range holds.
pub const UID_SPAN: u32 = 1 << 20;

/// A function's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

/// What separates environments on this host, decided once at start-up.
#[derive(Debug)]
pub struct Isolation {
    /// `Some` when environments run as users of their own.
    users: Option<Users>,
    /// Why they do not, when they do not.
    missing: Option<String>,
}

#[derive(Debug, Default)]
struct Users {
    by_name: Mutex<HashMap<String, u32>>,
    /// Whether environments also get mount and PID namespaces (see [`WRAPPER`]).
    namespaces: bool,
    /// Whether, with those, they get network namespaces of their own ([`crate::netns`]).
    network: bool,
}

/// The shell an environment starts in when it gets namespaces, as root inside `unshare
/// --mount --pid --fork --mount-proc --propagation private`: it first leaves a watcher on
/// the lifeline (its stdin, see [`crate::environment`]) that kills every process of the PID
/// namespace when nuvem is gone (`kill -1` as root spares only itself and the namespace's
/// init, the user's shell below, which then exits with its runtime), then binds the toolchain in (see
/// below), binds the environment's private folder on `/tmp`, sets the memory limit
/// (`prlimit`, inherited from here on), drops to the function's user with no groups and no
/// way back (`setpriv`), and waits for the runtime in a shell of that user, so that a
/// runtime killed by a signal is reported as such (`unshare` itself turns a signalled child
/// into exit status 1): the exit status is then 128 + the signal, which
/// [`crate::environment`] reads back.
///
/// Arguments: the private tmp, the data limit in bytes (empty: none), the toolchain's cover
/// and prefix (both empty: none), the function's layers to bind read-only on `/opt` (empty:
/// none), how many paths follow, the paths under `/tmp` the runtime
/// needs (a data dir under `/tmp`: its code copy and the bootstraps), which are bound at the
/// same place inside the private `/tmp` before it covers the host's, then the command line
/// to run.
///
/// The toolchain step (a [`Toolchain`]: an interpreter installed under a folder other users
/// cannot traverse, such as pyenv's under `/root`) makes the installation, and nothing else
/// of that folder, visible to the function's user: a root-owned 0755 `tmpfs` is mounted on
/// a staging folder in the private tmp, the prefix is bound read-only at its own path
/// inside it (the folders on the way created 0755), the `tmpfs` is moved over the cover
/// (the topmost closed folder, which hides everything in it) and the staging folder
/// removed. The mounts live in the environment's mount namespace only (private
/// propagation). Each step is one `mount` process (`X-mount.mkdir` creates the target,
/// `-o ro` on a bind remounts it read-only: util-linux ≥ 2.35): a cold start runs as few
/// processes as it can before the runtime, since each costs about a millisecond.
pub const WRAPPER: &str = r#"set -e
exec 3<&0 0</dev/null
(while read -r _ <&3; do :; done; kill -KILL -1) &
exec 3<&-
tmp=$1
limit=$2
cover=$3
prefix=$4
opt=$5
n=$6
shift 6
if [ -n "$cover" ]; then
  stage="$tmp/.nuvem-toolchain"
  mount -t tmpfs -o mode=0755,size=1m,nosuid,nodev,noexec,X-mount.mkdir=0700 nuvem-toolchain "$stage"
  mount --bind -o ro,X-mount.mkdir=0755 "$prefix" "$stage${prefix#"$cover"}"
  mount --move "$stage" "$cover"
  rmdir "$stage"
fi
if [ -n "$opt" ]; then
  mount --bind -o ro "$opt" /opt
fi
while [ "$n" -gt 0 ]; do
  mount --bind -o X-mount.mkdir=0755 "$1" "$tmp${1#/tmp}"
  shift
  n=$((n - 1))
done
mount --rbind "$tmp" /tmp
if [ -n "$limit" ]; then
  set -- prlimit "--data=$limit:$limit" -- "$@"
fi
exec "$@"
"#;

/// An interpreter installed under a folder other users cannot traverse (a version manager's
/// under a 0700 home), which environments with namespaces reach through [`WRAPPER`]'s
/// toolchain step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    /// The topmost ancestor of `prefix` that other users cannot traverse (`/root`): covered
    /// by an empty `tmpfs` in the environment.
    pub cover: PathBuf,
    /// The installation prefix, the interpreter's folder's parent
    /// (`/root/.pyenv/versions/3.11.7`): bound read-only at its own path.
    pub prefix: PathBuf,
    /// The interpreter's real path (inside `prefix/bin`).
    pub interpreter: PathBuf,
}

impl Toolchain {
    /// The toolchain's `bin` folder (first on an environment's `PATH`).
    pub fn bin(&self) -> PathBuf {
        self.prefix.join("bin")
    }
}

/// Where an interpreter stands for other users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Other users can run it where it is.
    Open,
    /// Installed under a folder other users cannot traverse, and bindable into environments
    /// with namespaces.
    Private(Toolchain),
    /// Other users cannot run it, bound or not: why.
    Closed(String),
}

/// Where `program` (a bare name is looked up on `PATH`) stands for other users, for an
/// environment whose data dir is `data_dir`: [`Reach::Private`] when its real path is
/// `<prefix>/bin/<name>`, the prefix is readable and traversable by others (its `bin` and
/// `lib` too), and it sits under a closed folder that holds neither the data dir (whose code
/// copies and bootstraps the environment needs) nor anything under `/tmp` (which the
/// environment gets its own of). A virtualenv's interpreter is [`Reach::Closed`]: its real
/// path is the base installation's, which holds none of the virtualenv's packages.
pub fn interpreter_reach(program: &Path, data_dir: &Path) -> Reach {
    let Some(found) = find_program(program) else {
        return Reach::Closed(format!("{} was not found", program.display()));
    };
    if reachable_by_others(&found) {
        return Reach::Open;
    }
    let closed = |why: String| Reach::Closed(why);
    let Ok(real) = found.canonicalize() else {
        return closed(format!("{} was not found", found.display()));
    };
    if found
        .parent()
        .and_then(Path::parent)
        .is_some_and(|venv| venv.join("pyvenv.cfg").is_file())
    {
        return closed(format!(
            "{} is a virtualenv's, whose packages are not in its base installation",
            found.display()
        ));
    }
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.mode());
    let (Some(bin), Some(prefix)) = (real.parent(), real.parent().and_then(Path::parent)) else {
        return closed(format!("{} is not in an installation", real.display()));
    };
    if bin.file_name() != Some("bin".as_ref()) {
        return closed(format!(
            "{} is not in an installation's bin folder",
            real.display()
        ));
    }
    let lib = prefix.join("lib");
    if mode(prefix) & 0o005 != 0o005
        || mode(bin) & 0o005 != 0o005
        || (lib.exists() && mode(&lib) & 0o005 != 0o005)
        || mode(&real) & 0o001 == 0
    {
        return closed(format!(
            "{} is not readable and executable by other users",
            prefix.display()
        ));
    }
    let Some(cover) = prefix
        .ancestors()
        .skip(1)
        .filter(|a| mode(a) & 0o001 == 0)
        .last()
    else {
        return closed(format!(
            "{} is not reachable by other users",
            real.display()
        ));
    };
    if cover == Path::new("/") || cover.starts_with("/tmp") {
        return closed(format!(
            "{} is under {}, which cannot be covered in an environment",
            real.display(),
            cover.display()
        ));
    }
    let data = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    if data.starts_with(cover) {
        return closed(format!(
            "the data dir is under {}, which would hide it from the environment",
            cover.display()
        ));
    }
    Reach::Private(Toolchain {
        cover: cover.to_path_buf(),
        prefix: prefix.to_path_buf(),
        interpreter: real.clone(),
    })
}

/// The `PATH` of an environment with namespaces: the toolchain's `bin` first (where the
/// interpreter `python3` stands for is, as Lambda's `/var/lang/bin`), then the folders of
/// `path` (nuvem's) that other users can reach; a private one (`/root/.cargo/bin`) is hidden
/// in the environment anyway. None left: `/usr/local/bin:/usr/bin:/bin`.
pub fn open_path(
    path: Option<&std::ffi::OsStr>,
    toolchain: Option<&Toolchain>,
) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = toolchain.map(Toolchain::bin).into_iter().collect();
    for dir in path.map(std::env::split_paths).into_iter().flatten() {
        if dir.is_absolute()
            && dir.is_dir()
            && closed_ancestor(&dir).is_none()
            && !dirs.contains(&dir)
        {
            dirs.push(dir);
        }
    }
    if dirs.len() == usize::from(toolchain.is_some()) {
        dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
}

/// What `unshare` runs after the wrapper's arguments: the user's shell that waits for the
/// runtime (see [`WRAPPER`]), with `toolchain` bound in when there is one.
// One argument per positional argument of [`WRAPPER`].
#[allow(clippy::too_many_arguments)]
pub fn namespaced_command(
    private_tmp: &Path,
    user: User,
    data_limit: Option<u64>,
    toolchain: Option<&Toolchain>,
    opt: Option<&Path>,
    needed: &[&Path],
    program: &Path,
    args: &[String],
) -> (PathBuf, Vec<String>) {
    let under_tmp: Vec<String> = needed
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .filter(|p| p.starts_with("/tmp") && p != Path::new("/tmp"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut all: Vec<String> = [
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "--propagation",
        "private",
        "sh",
        "-c",
        WRAPPER,
        "nuvem-environment",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    all.push(private_tmp.to_string_lossy().into_owned());
    all.push(data_limit.map(|l| l.to_string()).unwrap_or_default());
    let (cover, prefix) = toolchain.map_or_else(Default::default, |t| {
        (
            t.cover.to_string_lossy().into_owned(),
            t.prefix.to_string_lossy().into_owned(),
        )
    });
    all.push(cover);
    all.push(prefix);
    all.push(
        opt.map(|o| o.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    all.push(under_tmp.len().to_string());
    all.extend(under_tmp);
    all.extend([
        "setpriv".to_string(),
        format!("--reuid={}", user.uid),
        format!("--regid={}", user.gid),
        "--clear-groups".into(),
        "--no-new-privs".into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        "\"$@\"; exit $?".into(),
        "nuvem-runtime".into(),
    ]);
    all.push(program.to_string_lossy().into_owned());
    all.extend(args.iter().cloned());
    (PathBuf::from("unshare"), all)
}

/// Whether this host can start environments in namespaces: `unshare` and `setpriv` run the
/// wrapper to the end (a throwaway private `/tmp` under `scratch`).
fn namespaces_work(scratch: &Path) -> bool {
    let tmp = scratch.join(format!(".probe-{}", uuid::Uuid::new_v4().simple()));
    if std::fs::create_dir_all(&tmp).is_err() {
        return false;
    }
    let user = User {
        uid: UID_BASE,
        gid: UID_BASE,
    };
    let _ = std::os::unix::fs::chown(&tmp, Some(user.uid), Some(user.gid));
    let (program, args) = namespaced_command(
        &tmp.canonicalize().unwrap_or_else(|_| tmp.clone()),
        user,
        Some(1 << 30),
        None,
        None,
        &[],
        Path::new("sh"),
        &[
            "-c".into(),
            "test \"$(id -u)\" != 0 && : > /tmp/probe".into(),
        ],
    );
    // The wrapper's watcher reads the lifeline: with any other stdin it would see the end
    // at once and kill the probe.
    let ok = std::process::Command::new(program)
        .args(args)
        .stdin(crate::environment::lifeline())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && tmp.join("probe").exists();
    let _ = std::fs::remove_dir_all(&tmp);
    ok
}

/// Whether nuvem runs as root: the owner of `/proc/self` is the process's effective uid
/// (read without `unsafe`).
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The deepest ancestor of `path` (itself included) that other users cannot traverse.
pub fn closed_ancestor(path: &Path) -> Option<PathBuf> {
    let path = path.canonicalize().ok()?;
    path.ancestors()
        .find(|a| std::fs::metadata(a).is_ok_and(|m| m.mode() & 0o001 == 0))
        .map(Path::to_path_buf)
}

/// `program` itself when it is a path, else the first file of that name on `PATH`.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.is_absolute() {
        return Some(program.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(program))
            .find(|c| c.is_file())
    })
}

/// Whether a user other than the owner can reach and run `program` (a bare name is looked up
/// on `PATH`): every folder on its way traversable and the file executable by others.
pub fn reachable_by_others(program: &Path) -> bool {
    let Some(real) = find_program(program).and_then(|p| p.canonicalize().ok()) else {
        return false;
    };
    let exec = std::fs::metadata(&real).is_ok_and(|m| m.mode() & 0o001 != 0);
    exec && real.parent().is_none_or(|d| closed_ancestor(d).is_none())
}

impl Isolation {
    /// Decides what this host allows: users of their own when nuvem is root and the
    /// functions folder (`functions_dir`, inside the data dir) is reachable by them.
    pub fn detect(functions_dir: &Path) -> Self {
        if !running_as_root() {
            return Self {
                users: None,
                missing: Some(
                    "nuvem is not root: functions run as nuvem's user and can read what it can; no network isolation: functions share the host's network (Runtime APIs on the host's loopback)"
                        .into(),
                ),
            };
        }
        // The data dir itself included: the binary opens it for traversal (0711) first.
        let closed = closed_ancestor(functions_dir.parent().unwrap_or(functions_dir));
        if let Some(closed) = closed {
            return Self {
                users: None,
                missing: Some(format!(
                    "{} is not traversable by other users (o+x), so function users could not reach their code: functions run as root; no network isolation: functions share the host's network (Runtime APIs on the host's loopback)",
                    closed.display()
                )),
            };
        }
        let namespaces = namespaces_work(&functions_dir.join("isolated"));
        let network = namespaces && crate::netns::works();
        let missing = if !namespaces {
            Some("no namespaces (`unshare`/`setpriv` from util-linux missing or refused): /tmp is shared, processes are visible, and no network isolation: functions share the host's network (Runtime APIs on the host's loopback)".into())
        } else if !network {
            Some("no network namespaces (the kernel refused one): no network isolation, functions share the host's network (Runtime APIs on the host's loopback)".into())
        } else {
            None
        };
        Self {
            users: Some(Users {
                by_name: Mutex::default(),
                namespaces,
                network,
            }),
            missing,
        }
    }

    /// Whether environments with namespaces also get a network namespace of their own.
    pub fn network(&self) -> bool {
        self.users
            .as_ref()
            .is_some_and(|u| u.namespaces && u.network)
    }

    /// Whether environments get mount and PID namespaces (a private `/tmp`, no view of other
    /// processes).
    pub fn namespaces(&self) -> bool {
        self.users.as_ref().is_some_and(|u| u.namespaces)
    }

    /// No users of their own (tests, and hosts where [`Isolation::detect`] found none).
    pub fn none(why: &str) -> Self {
        Self {
            users: None,
            missing: Some(why.into()),
        }
    }

    pub fn users(&self) -> bool {
        self.users.is_some()
    }

    /// Why environments do not run as users of their own, if they do not.
    pub fn missing(&self) -> Option<&str> {
        self.missing.as_deref()
    }

    /// The user of function `name` (stable per name; distinct within this process).
    pub fn user(&self, name: &str) -> Option<User> {
        let users = self.users.as_ref()?;
        let mut map = users.by_name.lock().ok()?;
        if let Some(uid) = map.get(name) {
            return Some(User {
                uid: *uid,
                gid: *uid,
            });
        }
        let start = fnv1a(name.as_bytes()) % UID_SPAN;
        let taken: std::collections::HashSet<u32> = map.values().copied().collect();
        let uid = (0..UID_SPAN)
            .map(|i| UID_BASE + (start + i) % UID_SPAN)
            .find(|u| !taken.contains(u))?;
        map.insert(name.to_owned(), uid);
        Some(User { uid, gid: uid })
    }
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn set_mode(path: &Path, mode: u32) {
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!(error = %e, path = %path.display(), "lambda: could not set permissions");
    }
}

/// Makes the functions folder readable only where function users need it: the folder
/// itself 0711 (traversal), the shipped bootstraps 0755/0644 (public code), the copies'
/// folder 0711, everything else (unpacked packages, logs) 0700.
pub fn lock_functions_dir(functions_dir: &Path) {
    set_mode(functions_dir, 0o711);
    let Ok(entries) = std::fs::read_dir(functions_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        match name.to_str() {
            Some("runtimes") => {
                set_mode(&path, 0o755);
                for f in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    set_mode(&f.path(), 0o644);
                }
            }
            Some("isolated") => set_mode(&path, 0o711),
            _ => set_mode(&path, if is_dir { 0o700 } else { 0o600 }),
        }
    }
}

/// One environment's private folder: `task` (its copy of the code) and `tmp` (its `/tmp`,
/// with namespaces).
#[derive(Debug)]
pub struct Private {
    pub root: PathBuf,
    pub task: PathBuf,
    pub tmp: PathBuf,
    /// Its copy of the function's merged layers, if it has layers.
    pub opt: Option<PathBuf>,
}

impl Private {
    /// Copies `code` (a folder, or a single executable) and the merged layers `opt` into a
    /// new private folder under `isolated/<function>/`, owned by `user`.
    pub fn create(
        isolated: &Path,
        function: &str,
        code: &Path,
        user: User,
        opt: Option<&Path>,
    ) -> std::io::Result<Self> {
        let parent = isolated.join(function);
        std::fs::create_dir_all(&parent)?;
        set_mode(isolated, 0o711);
        set_mode(&parent, 0o711);
        let root = parent.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir(&root)?;
        let task = root.join("task");
        let result = (|| {
            if code.is_dir() {
                copy_tree(code, &task, user)?;
            } else {
                std::fs::create_dir(&task)?;
                let name = code.file_name().unwrap_or_default();
                copy_file(code, &task.join(name), user)?;
                own(&task, user, 0o500)?;
            }
            if let Some(opt) = opt {
                copy_tree(opt, &root.join("opt"), user)?;
            }
            let tmp = root.join("tmp");
            std::fs::create_dir(&tmp)?;
            own(&tmp, user, 0o700)?;
            own(&root, user, 0o500)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&root);
            return Err(e);
        }
        let tmp = root.join("tmp");
        let opt = opt.map(|_| root.join("opt"));
        Ok(Self {
            root,
            task,
            tmp,
            opt,
        })
    }

    /// Where `path` (under the original code `code`) is in the copy.
    pub fn remap(&self, code: &Path, path: &Path) -> PathBuf {
        if code.is_dir() {
            path.strip_prefix(code)
                .map(|rel| self.task.join(rel))
                .unwrap_or_else(|_| path.to_path_buf())
        } else if path == code {
            self.task.join(code.file_name().unwrap_or_default())
        } else if Some(path) == code.parent() {
            self.task.clone()
        } else {
            path.to_path_buf()
        }
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn own(path: &Path, user: User, mode: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn copy_file(from: &Path, to: &Path, user: User) -> std::io::Result<()> {
    let mode = std::fs::metadata(from)?.mode();
    std::fs::copy(from, to)?;
    own(to, user, if mode & 0o111 != 0 { 0o500 } else { 0o400 })
}

/// Copies a tree: folders, files (following symbolic links to files and folders inside it
/// would risk loops, so links are copied as links).
fn copy_tree(from: &Path, to: &Path, user: User) -> std::io::Result<()> {
    std::fs::create_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, user)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
            std::os::unix::fs::lchown(&target, Some(user.uid), Some(user.gid))?;
        } else if kind.is_file() {
            copy_file(&entry.path(), &target, user)?;
        }
    }
    own(to, user, 0o500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_stable_per_name_and_distinct() {
        let iso = Isolation {
            users: Some(Users::default()),
            missing: None,
        };
        assert!(!iso.network());
        let a = iso.user("a").unwrap();
        assert_eq!(iso.user("a"), Some(a));
        assert_eq!(a.uid, a.gid);
        assert!((UID_BASE..UID_BASE + UID_SPAN).contains(&a.uid));
        assert_ne!(iso.user("b").unwrap().uid, a.uid);
        assert_eq!(Isolation::none("test").user("a"), None);
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// An installation `<base>/home/inst` (`bin/python3.11`, `bin/python3` linking to it,
    /// `lib`), `home` of mode `home`, the prefix of mode `prefix`; outside `/tmp`, which
    /// environments get their own of. Returns the base and `bin/python3`.
    fn install(home: u32, prefix: u32) -> (tempfile::TempDir, PathBuf) {
        let base = tempfile::tempdir_in("/var/tmp").unwrap();
        chmod(base.path(), 0o755);
        let inst = base.path().join("home/inst");
        std::fs::create_dir_all(inst.join("bin")).unwrap();
        std::fs::create_dir_all(inst.join("lib")).unwrap();
        std::fs::write(inst.join("bin/python3.11"), "").unwrap();
        chmod(&inst.join("bin/python3.11"), 0o755);
        std::os::unix::fs::symlink("python3.11", inst.join("bin/python3")).unwrap();
        chmod(&base.path().join("home"), home);
        chmod(&inst, prefix);
        let python = inst.join("bin/python3");
        (base, python)
    }

    #[track_caller]
    fn check_closed(reach: Reach, why: &str) {
        match reach {
            Reach::Closed(got) => assert!(got.contains(why), "{got}"),
            other => panic!("{other:?}, expected closed: {why}"),
        }
    }

    #[test]
    fn interpreters_under_a_private_folder_are_bound_when_they_can_be() {
        let nowhere = Path::new("/var/lib/nuvem-test-data");
        let (_open, python) = install(0o755, 0o755);
        assert_eq!(interpreter_reach(&python, nowhere), Reach::Open);

        let (base, python) = install(0o700, 0o755);
        let base = base.path().canonicalize().unwrap();
        let bound = Toolchain {
            cover: base.join("home"),
            prefix: base.join("home/inst"),
            interpreter: base.join("home/inst/bin/python3.11"),
        };
        assert_eq!(
            interpreter_reach(&python, nowhere),
            Reach::Private(bound.clone())
        );
        assert_eq!(bound.bin(), base.join("home/inst/bin"));
        // The topmost closed folder is covered, not the deepest.
        chmod(&base, 0o700);
        assert_eq!(
            interpreter_reach(&python, nowhere),
            Reach::Private(Toolchain {
                cover: base.clone(),
                ..bound
            })
        );
        chmod(&base, 0o755);
        // Covering the data dir would hide the code copies.
        check_closed(
            interpreter_reach(&python, &base.join("home/data")),
            "the data dir is under",
        );
        // A virtualenv's packages are not in its base installation.
        let venv = base.join("home/venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("pyvenv.cfg"), "").unwrap();
        std::os::unix::fs::symlink(
            base.join("home/inst/bin/python3.11"),
            venv.join("bin/python3"),
        )
        .unwrap();
        check_closed(
            interpreter_reach(&venv.join("bin/python3"), nowhere),
            "virtualenv",
        );
        // Not an installation's bin folder.
        std::fs::write(base.join("home/inst/python3"), "").unwrap();
        chmod(&base.join("home/inst/python3"), 0o755);
        check_closed(
            interpreter_reach(&base.join("home/inst/python3"), nowhere),
            "bin folder",
        );

        let (_closed, python) = install(0o700, 0o750);
        check_closed(
            interpreter_reach(&python, nowhere),
            "not readable and executable by other users",
        );
    }

    #[test]
    fn an_environments_path_holds_the_toolchain_then_reachable_folders() {
        let (base, python) = install(0o700, 0o755);
        let Reach::Private(toolchain) =
            interpreter_reach(&python, Path::new("/var/lib/nuvem-test-data"))
        else {
            panic!("not bindable");
        };
        let private = base.path().join("home");
        let nuvems = std::env::join_paths([private.as_path(), Path::new("/usr/bin")]).unwrap();
        assert_eq!(
            open_path(Some(&nuvems), Some(&toolchain)),
            std::env::join_paths([toolchain.bin(), PathBuf::from("/usr/bin")]).unwrap()
        );
        assert_eq!(
            open_path(Some(private.as_os_str()), None),
            "/usr/local/bin:/usr/bin:/bin"
        );
    }
}
