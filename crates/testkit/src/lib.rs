//! Dev-only: start the real `nuvem` binary on ephemeral loopback ports with a temporary data
//! dir, and build SDK clients pointed at it. Integration tests of the `nuvem` crate pass
//! `env!("CARGO_BIN_EXE_nuvem")`, so they run exactly the binary `cargo test` built.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_credential_types::Credentials;

pub mod wireguard;

/// A running nuvem. Killed when dropped.
pub struct Nuvem {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` of the AWS endpoint.
    pub api_url: String,
    /// `http://127.0.0.1:PORT` of the public edge.
    pub edge_url: String,
    /// `https://127.0.0.1:PORT` of the AWS endpoint over TLS, when started with TLS.
    pub api_tls_url: Option<String>,
    /// Lines nuvem printed after it became ready.
    output: mpsc::Receiver<String>,
    /// Lines nuvem logged (stderr), when [`Options::log`] asks for them.
    logs: Option<mpsc::Receiver<String>>,
    log: Log,
    /// The printed start-up lines.
    pub banner: Vec<String>,
    dir: tempfile::TempDir,
    bin: PathBuf,
    env: Vec<(String, Option<String>)>,
    relative: bool,
}

/// Options for [`Nuvem::start_with`].
#[derive(Default, Clone)]
pub struct Options {
    /// The manifest text (an empty manifest when `None`).
    pub manifest: Option<String>,
    /// Also listen with TLS.
    pub tls: bool,
    /// Which log filter nuvem runs with, and whether the test reads the lines.
    pub log: Log,
    /// Environment changes for nuvem's process: set to `Some` value, or removed (`None`).
    /// Tests use it to run nuvem without cargo on `PATH`.
    pub env: Vec<(String, Option<String>)>,
    /// Run as the README's first command does: in the manifest's folder, with the manifest
    /// and the data dir given as relative paths (`nuvem.toml`, the default `.nuvem`).
    pub relative: bool,
}

/// The log filter of a started nuvem.
#[derive(Default, Clone, Debug)]
pub enum Log {
    /// `NUVEM_TEST_LOG`, else `warn`; the lines go to the test's stderr.
    #[default]
    Test,
    /// nuvem's own default (neither `NUVEM_LOG` nor `RUST_LOG` set); lines captured for
    /// [`Nuvem::drain_logs`].
    Default,
    /// This `NUVEM_LOG` filter; lines captured for [`Nuvem::drain_logs`].
    Filter(String),
}

impl Nuvem {
    /// Starts `nuvem up` with an empty manifest.
    pub fn start(bin: &str) -> Self {
        Self::start_with(bin, Options::default())
    }

    pub fn start_with(bin: &str, options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // As root, nuvem runs functions as users of their own only when they can traverse to
        // the data dir (issue 17): whatever the umask made of the temp dir, tests run them so.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
                .expect("chmod temp dir");
        }
        std::fs::write(
            dir.path().join("nuvem.toml"),
            options.manifest.clone().unwrap_or_default(),
        )
        .expect("write manifest");
        let mut n = Self {
            child: None,
            api_url: String::new(),
            edge_url: String::new(),
            api_tls_url: None,
            output: mpsc::channel().1,
            logs: None,
            log: options.log.clone(),
            banner: Vec::new(),
            dir,
            bin: PathBuf::from(bin),
            env: options.env.clone(),
            relative: options.relative,
        };
        n.launch(options.tls);
        n
    }

    /// The folder holding the manifest and the data dir (`data/`, or `.nuvem` with
    /// [`Options::relative`]).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn launch(&mut self, tls: bool) {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("up");
        if self.relative {
            cmd.current_dir(self.dir.path())
                .args(["--manifest", "nuvem.toml"]);
        } else {
            cmd.arg("--manifest")
                .arg(self.dir.path().join("nuvem.toml"))
                .arg("--data-dir")
                .arg(self.dir.path().join("data"));
        }
        cmd.args(["--api-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0"])
            .stdout(Stdio::piped());
        match &self.log {
            Log::Test => {
                cmd.env(
                    "NUVEM_LOG",
                    std::env::var("NUVEM_TEST_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stderr(Stdio::inherit());
            }
            Log::Default => {
                cmd.env_remove("NUVEM_LOG")
                    .env_remove("RUST_LOG")
                    .stderr(Stdio::piped());
            }
            Log::Filter(f) => {
                cmd.env("NUVEM_LOG", f)
                    .env_remove("RUST_LOG")
                    .stderr(Stdio::piped());
            }
        }
        if tls {
            cmd.args(["--api-tls-addr", "127.0.0.1:0"]);
        }
        for (name, value) in &self.env {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        let mut child = cmd.spawn().expect("spawn nuvem");
        let rx = lines_of(child.stdout.take().expect("stdout"));
        self.logs = child.stderr.take().map(lines_of);
        let mut banner = Vec::new();
        loop {
            let line = match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = child.kill();
                    panic!("nuvem did not become ready ({e}); it printed: {banner:#?}");
                }
            };
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://") || w.starts_with("https://"))
                .map(str::to_string);
            if line.trim_start().starts_with("aws endpoint") {
                match url {
                    Some(u) if u.starts_with("https://") => self.api_tls_url = Some(u),
                    Some(u) => self.api_url = u,
                    None => {}
                }
            } else if line.trim_start().starts_with("edge") {
                self.edge_url = url.unwrap_or_default();
            }
            let ready = line.starts_with("ready in");
            banner.push(line);
            if ready {
                break;
            }
        }
        self.banner = banner;
        self.output = rx;
        self.child = Some(child);
    }

    /// Sends SIGTERM and waits for the exit status (the graceful path).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        child.wait().expect("wait")
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts nuvem again on the same manifest and data dir (new ports).
    pub fn restart(&mut self) {
        self.kill();
        self.launch(self.api_tls_url.is_some());
    }

    /// Lines printed since start-up (non-blocking).
    pub fn drain_output(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }

    /// Lines logged since the last call (non-blocking); only with [`Log::Default`] or
    /// [`Log::Filter`].
    pub fn drain_logs(&self) -> Vec<String> {
        let logs = self
            .logs
            .as_ref()
            .expect("started with Log::Default or Log::Filter");
        logs.try_iter().collect()
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new("test", "test", None, None, "nuvem-testkit")
    }

    /// An aws-sdk-dynamodb client for this nuvem.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb_with(self.credentials())
    }

    pub fn dynamodb_with(&self, credentials: Credentials) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(&self.api_url)
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// An aws-sdk-dynamodbstreams client for this nuvem.
    pub fn dynamodbstreams(&self) -> aws_sdk_dynamodbstreams::Client {
        let conf = aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .credentials_provider(self.credentials())
            .endpoint_url(&self.api_url)
            .build();
        aws_sdk_dynamodbstreams::Client::from_conf(conf)
    }

    /// An aws-sdk-s3 client for this nuvem (path-style addressing).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.s3_with(self.credentials())
    }

    pub fn s3_with(&self, credentials: Credentials) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(&self.api_url)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

impl Nuvem {
    /// An aws-sdk-lambda client for this nuvem.
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        let conf = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .credentials_provider(self.credentials())
            .endpoint_url(&self.api_url)
            .build();
        aws_sdk_lambda::Client::from_conf(conf)
    }
}

impl Drop for Nuvem {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The lines of a child's output, as they come, on a thread of their own.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// What a test does when an external tool it needs (boto3, the AWS CLI, Chromium, ...) is
/// missing: under `NUVEM_TEST_STRICT=1` (set by `scripts/test`, which installs them, and so
/// by CI) it fails; otherwise it says it skipped, and the caller returns.
#[track_caller]
pub fn missing_tool(test: &str, what: &str) {
    if std::env::var("NUVEM_TEST_STRICT").is_ok_and(|v| v == "1") {
        panic!("{test}: {what} — NUVEM_TEST_STRICT=1 makes a missing tool a failure");
    }
    eprintln!("SKIPPED {test}: {what}");
}

/// The headers that sign a body-less request to `url` with the test credentials (SigV4,
/// like aws-sdk-rust): for nuvem's own paths that answer more to a signed caller, such as the
/// counters on `/_nuvem/health`.
pub fn sigv4_headers(method: &str, url: &str) -> Vec<(String, String)> {
    sigv4_sign(method, url, "s3", ("test", "test"), &[], b"", false)
}

/// The headers SigV4 adds to a request to `url` for `service`, signed with `key` (access key
/// id, secret): `headers` are signed as they are sent, `body` is hashed, and
/// `x_amz_content_sha256` adds that header (S3 wants it).
pub fn sigv4_sign(
    method: &str,
    url: &str,
    service: &str,
    key: (&str, &str),
    headers: &[(&str, &str)],
    body: &[u8],
    x_amz_content_sha256: bool,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{
        PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
    };
    let identity = Credentials::new(key.0, key.1, None, None, "testkit").into();
    let mut settings = SigningSettings::default();
    if x_amz_content_sha256 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
