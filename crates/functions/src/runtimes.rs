//! The runtimes: how a function's record becomes a process to start ([`Launch`]), and the
//! Python and Node bootstraps nuvem ships (embedded here, written into the data dir at start).
//!
//! `provided` runs the function's own `bootstrap` (or the executable the code points at).
//! `python3.x` runs Python 3.x on nuvem's `bootstrap/python.py`, `nodejsNN.x` Node.js NN on
//! `bootstrap/node.js`: the interpreter the manifest names for the identifier (`[runtimes]`),
//! else `python3.x` on `PATH`, else `python3` / `node` when its version is the one named. When
//! only another version is there, functions run on it (the local-development fallback) and
//! say so: the function's `RuntimeVersionConfig.Error` and a warning in nuvem's log; with
//! none, CreateFunction is refused naming what to install ([`Interpreter`]). `python3` is resolved once to the interpreter it
//! stands for (`sys.executable`): version managers put a shell-script shim first on `PATH`
//! (pyenv's costs about 200 ms per start), and a cold start should cost what the interpreter
//! costs, as on Lambda. Must not: start processes, except those one-time probes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::environment::Launch;
use crate::error::{Error, Result};
use crate::model::{CodeLocation, FunctionRecord, RuntimeKind};

const PYTHON_BOOTSTRAP: &str = include_str!("../bootstrap/python.py");
const NODE_BOOTSTRAP: &str = include_str!("../bootstrap/node.js");

/// Where the shipped bootstraps were written, and the interpreters to run.
#[derive(Debug, Clone)]
pub struct Bootstraps {
    pub dir: PathBuf,
    python: PathBuf,
    node: PathBuf,
    python3: Arc<OnceLock<PathBuf>>,
    /// Interpreters named in the manifest's `[runtimes]`, by runtime identifier.
    configured: Arc<std::collections::BTreeMap<String, PathBuf>>,
    /// What each runtime identifier resolved to (`None`: nothing runs it here).
    resolved: Arc<std::sync::Mutex<std::collections::HashMap<String, Option<Interpreter>>>>,
}

/// What runs a Python or Node runtime identifier on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub path: PathBuf,
    /// The version it reports (`3.11.7`, `20.11.1`).
    pub version: String,
    /// Set when it is not the version the identifier names: what runs instead, and how to
    /// get the right one. Functions still run (a local-development fallback), and the
    /// function's configuration and nuvem's log say so.
    pub mismatch: Option<String>,
}

/// The version a runtime identifier names: `python3.12` → `3.12`, `nodejs20.x` → `20`.
pub fn wanted_version(runtime: &str) -> Option<&str> {
    runtime
        .strip_prefix("python")
        .or_else(|| runtime.strip_prefix("nodejs")?.strip_suffix(".x"))
}

/// `path`'s executable path and version, by asking it.
fn probe(path: &Path, python: bool) -> Option<(PathBuf, String)> {
    let mut cmd = std::process::Command::new(path);
    if python {
        cmd.args([
            "-c",
            "import sys; print(sys.executable); print('.'.join(map(str, sys.version_info[:3])))",
        ]);
    } else {
        cmd.args([
            "-e",
            "process.stdout.write(process.execPath + '\\n' + process.versions.node + '\\n')",
        ]);
    }
    let text = output_within(cmd, PROBE_TIMEOUT)?;
    let mut lines = text.lines();
    let exe = PathBuf::from(lines.next()?.trim());
    let version = lines.next()?.trim().to_string();
    (exe.is_absolute() && !version.is_empty()).then_some((exe, version))
}

/// How long an interpreter may take to say what it is before it counts as absent.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What `cmd` printed, when it exits successfully within `limit` (killed otherwise): a
/// configured "interpreter" that never exits must not hold a CreateFunction forever.
fn output_within(mut cmd: std::process::Command, limit: std::time::Duration) -> Option<String> {
    use std::io::Read as _;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    status.success().then_some(out)
}

/// Whether `version` (`3.11.7`) is the one `wanted` (`3.11`, `20`) names.
fn version_matches(version: &str, wanted: &str) -> bool {
    version == wanted
        || version
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Resolves `runtime` (a Python or Node identifier): the manifest's interpreter for it, then
/// `python3.X` on `PATH` (Python), then the generic `python3` / `node`, whose version decides
/// whether it is exact.
fn resolve(
    runtime: &str,
    configured: Option<&Path>,
    versioned_on_path: bool,
    python3: impl FnOnce() -> PathBuf,
) -> Option<Interpreter> {
    let wanted = wanted_version(runtime)?;
    let python = runtime.starts_with("python");
    let mut candidates: Vec<PathBuf> = configured.map(Path::to_path_buf).into_iter().collect();
    if python && versioned_on_path {
        candidates.push(PathBuf::from(format!("python{wanted}")));
    }
    let generic = if python {
        python3()
    } else {
        PathBuf::from("node")
    };
    candidates.push(generic);
    let mut fallback = None;
    for candidate in candidates {
        let Some((exe, version)) = probe(&candidate, python) else {
            continue;
        };
        if version_matches(&version, wanted) {
            return Some(Interpreter {
                path: exe,
                version,
                mismatch: None,
            });
        }
        fallback.get_or_insert((exe, version));
    }
    let (path, version) = fallback?;
    let (language, binary) = if python {
        ("Python", format!("python{wanted}"))
    } else {
        ("Node.js", "node".to_string())
    };
    let mismatch = Some(format!(
        "{runtime} asks for {language} {wanted}, which nuvem did not find ({binary} on PATH{}): functions run on {language} {version} ({}) instead. Install {language} {wanted}, or name its interpreter in the manifest: [runtimes] \"{runtime}\" = \"/path/to/{binary}\"",
        if configured.is_some() {
            ", the manifest's interpreter"
        } else {
            ""
        },
        path.display()
    ));
    Some(Interpreter {
        path,
        version,
        mismatch,
    })
}

impl Bootstraps {
    /// Starts resolving `python3` in the background, so neither nuvem's start-up nor a
    /// function's first cold start waits for the probe (unless it is still running then).
    pub fn resolve_python_in_background(&self) {
        let cell = self.python3.clone();
        std::thread::spawn(move || {
            cell.get_or_init(probe_python);
        });
    }

    /// The interpreter `python3` runs (waits for the probe if it is under way).
    pub fn python3(&self) -> PathBuf {
        self.python3.get_or_init(probe_python).clone()
    }

    /// Sets the manifest's interpreters (`[runtimes]`), forgetting earlier resolutions.
    pub fn configure(&mut self, interpreters: std::collections::BTreeMap<String, PathBuf>) {
        self.configured = Arc::new(interpreters);
        self.resolved = Arc::default();
    }

    /// What runs a Python or Node runtime identifier here (`None` for `provided`, and when
    /// no interpreter of that language is found). Probed once per identifier: the first
    /// call runs the interpreter (tens of milliseconds), so callers are off the async
    /// workers (CreateFunction) or accept it once per identifier (a first cold start).
    pub fn interpreter(&self, runtime: &str) -> Option<Interpreter> {
        if let Some(known) = self.resolved.lock().ok()?.get(runtime) {
            return known.clone();
        }
        let found = resolve(
            runtime,
            self.configured.get(runtime).map(PathBuf::as_path),
            true,
            || self.python3(),
        );
        if let Some(m) = found.as_ref().and_then(|i| i.mismatch.as_deref()) {
            tracing::warn!("lambda: {m}");
        }
        if let Ok(mut r) = self.resolved.lock() {
            r.insert(runtime.to_string(), found.clone());
        }
        found
    }
}

/// `sys.executable` of the `python3` on `PATH`, or `python3` itself when that fails.
fn probe_python() -> PathBuf {
    probe(Path::new("python3"), true)
        .map(|(exe, _)| exe)
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

impl Bootstraps {
    /// Writes the bootstraps under `dir` (rewriting them only when they changed).
    pub fn install(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
                let tmp = dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, text)?;
                std::fs::rename(&tmp, &path)?;
            }
            Ok(path)
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            python: write("python.py", PYTHON_BOOTSTRAP)?,
            node: write("node.js", NODE_BOOTSTRAP)?,
            python3: Arc::new(OnceLock::new()),
            configured: Arc::default(),
            resolved: Arc::default(),
        })
    }
}

/// The settings every environment of every function shares.
#[derive(Debug, Clone)]
pub struct Shared {
    pub region: String,
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub endpoint_url: Option<String>,
    /// Execution-role sessions, when the binary provides them.
    pub roles: Option<std::sync::Arc<dyn crate::credentials::RoleCredentials>>,
}

/// The process that runs `record`.
/// CreateFunction's refusal when nothing runs `runtime` here.
pub fn missing_interpreter(runtime: &str) -> Error {
    let (language, binaries) = match wanted_version(runtime) {
        Some(v) if runtime.starts_with("python") => ("Python", format!("python{v} or python3")),
        _ => ("Node.js", "node".to_string()),
    };
    Error::InvalidParameter(format!(
        "The runtime {runtime} needs {language}, and nuvem found no {binaries} on its PATH. Install {language} {}, or name its interpreter in the manifest: [runtimes] \"{runtime}\" = \"/path/to/interpreter\"",
        wanted_version(runtime).unwrap_or(runtime)
    ))
}

pub fn launch(record: &FunctionRecord, boot: &Bootstraps, shared: &Shared) -> Result<Launch> {
    let kind = RuntimeKind::parse(&record.runtime)
        .ok_or_else(|| Error::InvalidParameter(format!("unknown runtime {}", record.runtime)))?;
    let (task_root, executable) = match &record.code {
        CodeLocation::Dir(d) => (d.clone(), None),
        CodeLocation::Executable(f) => (
            f.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/")),
            Some(f.clone()),
        ),
        // The service unpacks a stored package and launches from its folder.
        CodeLocation::Package(hex) => {
            return Err(Error::Corrupt(format!(
                "package {hex} was not unpacked before launch"
            )));
        }
    };
    let memory = u64::from(record.memory_size);
    let (program, args, data_limit) = match kind {
        RuntimeKind::Provided => (
            executable.unwrap_or_else(|| task_root.join("bootstrap")),
            Vec::new(),
            Some(memory << 20),
        ),
        RuntimeKind::Python => (
            boot.interpreter(&record.runtime)
                .map(|i| i.path)
                .ok_or_else(|| missing_interpreter(&record.runtime))?,
            vec![boot.python.to_string_lossy().into_owned()],
            Some(memory << 20),
        ),
        RuntimeKind::Node => (
            boot.interpreter(&record.runtime)
                .map(|i| i.path)
                .ok_or_else(|| missing_interpreter(&record.runtime))?,
            vec![
                // V8's heap limit stands in for the memory limit (see `environment`).
                format!("--max-old-space-size={}", (memory * 9 / 10).max(64)),
                boot.node.to_string_lossy().into_owned(),
            ],
            None,
        ),
    };
    let stream = {
        let now = nuvem_aws::time::AmzDate::from_system_time(std::time::SystemTime::now());
        let day = now
            .to_iso8601()
            .get(..10)
            .unwrap_or("1970-01-01")
            .replace('-', "/");
        format!(
            "{day}/[{}]{}",
            record.version_label(),
            uuid::Uuid::new_v4().simple()
        )
    };
    let mut env: Vec<(String, String)> = vec![
        (
            "_HANDLER".into(),
            record.handler.clone().unwrap_or_default(),
        ),
        (
            "LAMBDA_TASK_ROOT".into(),
            task_root.to_string_lossy().into_owned(),
        ),
        (
            "LAMBDA_RUNTIME_DIR".into(),
            boot.dir.to_string_lossy().into_owned(),
        ),
        (
            "AWS_EXECUTION_ENV".into(),
            format!("AWS_Lambda_{}", record.runtime),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), record.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), record.version_label()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            record.memory_size.to_string(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            format!("/aws/lambda/{}", record.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), stream),
        ("AWS_REGION".into(), shared.region.clone()),
        ("AWS_DEFAULT_REGION".into(), shared.region.clone()),
        ("AWS_ACCESS_KEY_ID".into(), shared.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            shared.secret_access_key.clone(),
        ),
    ];
    if let Some(url) = &shared.endpoint_url {
        env.push(("AWS_ENDPOINT_URL".into(), url.clone()));
    }
    if kind == RuntimeKind::Python {
        env.push(("PYTHONUNBUFFERED".into(), "1".into()));
    }
    // The function's own variables last: they may override AWS_ENDPOINT_URL, never the
    // reserved ones (CreateFunction refuses those).
    env.extend(
        record
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let role = shared
        .roles
        .clone()
        .map(|provider| crate::credentials::RoleSource {
            provider,
            role_arn: record.role.clone(),
            function: record.name.clone(),
            keys_fallback: record.keys_fallback,
        });
    Ok(Launch {
        program,
        args,
        task_root,
        env,
        data_limit,
        role,
        user: None,
        runtime: record.runtime.clone(),
        opt: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in interpreter: a script that answers the probe with `exe` and `version`.
    fn fake(dir: &Path, name: &str, version: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho {}\necho {version}\n", path.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn versions_named_by_runtime_identifiers() {
        for (runtime, version, matches) in [
            ("python3.12", "3.12.4", true),
            ("python3.12", "3.12", true),
            ("python3.1", "3.12.4", false),
            ("python3.12", "3.11.7", false),
            ("nodejs20.x", "20.11.1", true),
            ("nodejs20.x", "22.1.0", false),
            ("nodejs2.x", "20.11.1", false),
        ] {
            let wanted = wanted_version(runtime).unwrap();
            assert_eq!(
                version_matches(version, wanted),
                matches,
                "{runtime} {version}"
            );
        }
        assert_eq!(wanted_version("provided.al2023"), None);
    }

    #[test]
    fn the_named_version_or_a_fallback_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let py311 = fake(d, "py311", "3.11.7");
        let py312 = fake(d, "py312", "3.12.4");
        let node20 = fake(d, "node20", "20.11.1");
        let missing = d.join("nothing-here");

        // The manifest's interpreter, when it is the named version.
        let got = resolve("python3.12", Some(&py312), false, || py311.clone()).unwrap();
        assert_eq!((got.path, got.mismatch), (py312.clone(), None));
        // The generic `python3` when it is the named version.
        let got = resolve("python3.11", None, false, || py311.clone()).unwrap();
        assert_eq!((got.path, got.mismatch), (py311.clone(), None));
        // Another version: it runs, and says what to install.
        let got = resolve("python3.12", None, false, || py311.clone()).unwrap();
        assert_eq!(got.path, py311);
        let m = got.mismatch.unwrap();
        assert!(m.contains("Python 3.12") && m.contains("3.11.7"), "{m}");
        assert!(m.contains(r#"[runtimes] "python3.12""#), "{m}");
        // A configured interpreter of another version is reported as such too.
        let got = resolve("python3.12", Some(&py311), false, || missing.clone()).unwrap();
        assert!(got.mismatch.unwrap().contains("the manifest's interpreter"));
        // Nothing at all.
        assert_eq!(resolve("python3.12", None, false, || missing.clone()), None);
        // Node: the configured one.
        let got = resolve("nodejs20.x", Some(&node20), false, || missing.clone()).unwrap();
        assert_eq!((got.version.as_str(), got.mismatch), ("20.11.1", None));
        let got = resolve("nodejs22.x", Some(&node20), false, || missing.clone()).unwrap();
        assert!(got.mismatch.unwrap().contains("Node.js 22"));
        // `provided` has no interpreter.
        assert_eq!(
            resolve("provided.al2023", None, false, || py311.clone()),
            None
        );
    }

    #[test]
    fn the_refusal_names_what_to_install() {
        let e = missing_interpreter("python3.13").to_string();
        assert!(
            e.contains("python3.13 or python3") && e.contains("Python 3.13"),
            "{e}"
        );
        let e = missing_interpreter("nodejs22.x").to_string();
        assert!(e.contains("no node") && e.contains("Node.js 22"), "{e}");
    }
}
