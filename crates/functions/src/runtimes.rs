//! The runtimes: how a function's record becomes a process to start ([`Launch`]), and the
//! Python and Node bootstraps nuvem ships (embedded here, written into the data dir at start).
//!
//! `provided` runs the function's own `bootstrap` (or the executable the code points at).
//! `python3.x` runs `python3` on nuvem's `bootstrap/python.py`; `nodejsNN.x` runs `node` on
//! `bootstrap/node.js`: whatever interpreter is on `PATH` serves every minor version, which
//! is the local-development trade-off. `python3` is resolved once to the interpreter it
//! stands for (`sys.executable`): version managers put a shell-script shim first on `PATH`
//! (pyenv's costs about 200 ms per start), and a cold start should cost what the interpreter
//! costs, as on Lambda. Must not: start processes, except that one-time `python3` probe.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::environment::Launch;
use crate::error::{Error, Result};
use crate::model::{CodeLocation, FunctionRecord, RuntimeKind};

const PYTHON_BOOTSTRAP: &str = include_str!("../bootstrap/python.py");
const NODE_BOOTSTRAP: &str = include_str!("../bootstrap/node.js");

/// Where the shipped bootstraps were written, and the Python interpreter to run.
#[derive(Debug, Clone)]
pub struct Bootstraps {
    pub dir: PathBuf,
    python: PathBuf,
    node: PathBuf,
    python3: Arc<OnceLock<PathBuf>>,
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
}

/// `sys.executable` of the `python3` on `PATH`, or `python3` itself when that fails.
fn probe_python() -> PathBuf {
    std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_absolute() && p.is_file())
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
            boot.python3(),
            vec![boot.python.to_string_lossy().into_owned()],
            Some(memory << 20),
        ),
        RuntimeKind::Node => (
            PathBuf::from("node"),
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
        format!("{day}/[$LATEST]{}", uuid::Uuid::new_v4().simple())
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
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
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
    })
}
