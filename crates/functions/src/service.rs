//! The `lambda` service: [`FunctionsService`] (configuration, warm pools, the scale-in task)
//! and the REST-JSON routes of the Lambda API on the shared endpoint
//! (`/2015-03-31/functions...`, `/2017-10-31/.../concurrency`, `/2016-08-19/account-settings`).
//!
//! Must not: implement operations (see [`crate::control`]) or run runtimes (see
//! [`crate::invoke`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use nuvem_aws::{
    AwsError, AwsRequest, Body, BoxFuture, IntoAwsError, Protocol, Service, full_body,
};
use nuvem_store::Store;
use nuvem_store::cluster::Watcher;
use serde_json::Value;

use crate::catalog;
use crate::control::{self, Operation};
use crate::environment::ProcessGroups;
use crate::error::{Error, Result};
use crate::invoker::{InvocationType, InvokeRequest, InvokeResponse, Invoker};
use crate::logs::LogSink;
use crate::model::{CodeLocation, FunctionRecord};
use crate::packages;
use crate::pool::{Pool, PoolStats};
use crate::runtimes::{self, Bootstraps, Shared};
use crate::slots::{Slot, SlotTimes, Slots};

/// The functions section of nuvem's configuration.
#[derive(Debug, Clone)]
pub struct FunctionsConfig {
    pub region: String,
    pub account_id: String,
    /// Where packages, bootstraps and logs live (`<data_dir>/functions`).
    pub data_dir: PathBuf,
    /// The credentials functions get as their role's (`AWS_ACCESS_KEY_ID`, ...).
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Lambda's account concurrency limit: the most environments one function may run when
    /// it has no reserved concurrency.
    pub account_concurrency: u32,
    /// An environment idle this long is stopped.
    pub idle_timeout: Duration,
    /// How long a runtime may take to ask for its first event (Lambda: 10 s).
    pub init_timeout: Duration,
    /// The delays before the two retries of a failed asynchronous invocation (Lambda waits
    /// about one and two minutes; local development wants seconds).
    pub async_retry_delays: [Duration; 2],
    /// How long a node's share of concurrency lives and lingers, on a shared store
    /// (see [`crate::slots`]).
    pub slot_times: SlotTimes,
    /// The functions granted egress (the NAT-gateway idea; the manifest's `egress = true`):
    /// their environments share the host's network. Every other function's environment,
    /// where environments get network namespaces, reaches only its Runtime API and the
    /// private plane. By name; not settable through the Lambda API: the grant is the owner's.
    pub egress: std::collections::BTreeSet<String>,
    /// Interpreters by runtime identifier (the manifest's `[runtimes]`): what runs
    /// `python3.12` when it is not `python3.12` on `PATH` (see [`crate::runtimes`]).
    pub interpreters: std::collections::BTreeMap<String, PathBuf>,
}

impl FunctionsConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            data_dir,
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            account_concurrency: 1000,
            idle_timeout: Duration::from_secs(300),
            init_timeout: Duration::from_secs(10),
            async_retry_delays: [Duration::from_secs(1), Duration::from_secs(2)],
            slot_times: SlotTimes::default(),
            egress: std::collections::BTreeSet::new(),
            interpreters: std::collections::BTreeMap::new(),
        }
    }
}

pub struct Inner {
    pub store: Store,
    pub config: FunctionsConfig,
    boot: Bootstraps,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    endpoint_url: RwLock<Option<String>>,
    /// The private plane's listeners (the AWS endpoint, plain and TLS): what an environment
    /// in a network namespace of its own reaches, at `127.0.0.1:<port>`.
    private_plane: RwLock<Vec<std::net::SocketAddr>>,
    /// Execution-role sessions for environments (see [`crate::credentials`]).
    roles: RwLock<Option<Arc<dyn crate::credentials::RoleCredentials>>>,
    groups: Arc<ProcessGroups>,
    /// Whether environments run as users of their own (see [`crate::isolation`]).
    isolation: crate::isolation::Isolation,
    /// Functions whose code is not there yet (a manifest function still building, or one
    /// that could not build), by name, with why: invoking one is a retryable error.
    pending: Mutex<std::collections::BTreeMap<String, String>>,
    /// The cluster-wide concurrency allocator, when the store is shared with other nodes.
    pub(crate) slots: Option<Arc<Slots>>,
    /// Moves on every change notice from another node (and every alias change of this
    /// one): a pool or alias built from a record read before a notice is not kept (it may be
    /// the old configuration).
    generation: AtomicU64,
    /// Aliases read by invocations, by `name:alias` (the pools cache versions; this is
    /// where an alias's routing is kept), emptied for a function by each of its changes.
    aliases: Mutex<HashMap<String, crate::versions::AliasRecord>>,
    /// Each function's reserved concurrency as one semaphore its versions' pools share:
    /// (the reservation it was made for, the permits).
    reservations: Mutex<HashMap<String, (u32, Arc<tokio::sync::Semaphore>)>>,
    /// Set by [`FunctionsService::shutdown`]: no environment is started for provisioned
    /// concurrency any more.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// The stored events this node is on (waiting for a slot or running), by key.
    stored_runs: Mutex<std::collections::HashSet<Vec<u8>>>,
    /// DynamoDB streams, for event source mappings (wired by the binary).
    stream_source: RwLock<Option<Arc<dyn crate::esm::StreamSource>>>,
    /// Invocation records for asynchronous invocation destinations: (destination function
    /// ARN, record), invoked by [`destination_loop`]; at most [`DESTINATION_BACKLOG`] wait.
    pub(crate) destinations: tokio::sync::mpsc::Sender<(String, serde_json::Value)>,
    /// S3 buckets, for event source mappings' on-failure destinations (wired by the binary).
    failure_bucket: RwLock<Option<Arc<dyn crate::esm::FailureBucket>>>,
    /// Where function log lines go (the Logs service, wired by the binary); without one,
    /// a file per function (see [`crate::logs`]).
    log_emitter: RwLock<Option<Arc<dyn crate::logs::LogEmitter>>>,
    /// Hears of every invocation and throttle (the binary's metrics, once wired).
    observer: RwLock<Option<Arc<dyn crate::observer::InvocationObserver>>>,
}

impl Drop for Inner {
    /// No environment outlives the service (busy ones included).
    fn drop(&mut self) {
        self.groups.kill_all();
    }
}

impl Inner {
    /// The stream reader event source mappings use, once the binary wired one.
    pub(crate) fn stream_source(&self) -> Option<Arc<dyn crate::esm::StreamSource>> {
        self.stream_source.read().ok().and_then(|s| s.clone())
    }

    /// What hears of invocations, once the binary wired it.
    pub(crate) fn observer(&self) -> Option<Arc<dyn crate::observer::InvocationObserver>> {
        self.observer.read().ok().and_then(|o| o.clone())
    }

    /// The S3 buckets on-failure destinations write to, once the binary wired them.
    pub(crate) fn failure_bucket(&self) -> Option<Arc<dyn crate::esm::FailureBucket>> {
        self.failure_bucket.read().ok().and_then(|s| s.clone())
    }

    pub fn code_dir(&self) -> PathBuf {
        self.config.data_dir.join("code")
    }

    /// The AWS endpoint's URL, once the binary bound it.
    pub fn endpoint_url(&self) -> Option<String> {
        self.endpoint_url.read().ok().and_then(|u| u.clone())
    }

    /// Retires the warm environments of one pool (see [`pool_key`]): `$LATEST`'s after a
    /// change of the function, a version's after it was deleted.
    pub fn drop_pool(&self, key: &str) {
        if let Some(pool) = self.pools.lock().ok().and_then(|mut p| p.remove(key)) {
            pool.shut_down();
        }
    }

    /// Retires the warm environments of the function and of every one of its versions (the
    /// function was deleted, or its reserved concurrency changed).
    pub fn drop_pools(&self, name: &str) {
        if let Ok(mut r) = self.reservations.lock() {
            r.remove(name);
        }
        let version_prefix = format!("{name}:");
        let gone: Vec<Arc<Pool>> = match self.pools.lock() {
            Ok(mut pools) => {
                let keys: Vec<String> = pools
                    .keys()
                    .filter(|k| *k == name || k.starts_with(&version_prefix))
                    .cloned()
                    .collect();
                keys.iter().filter_map(|k| pools.remove(k)).collect()
            }
            Err(_) => Vec::new(),
        };
        for pool in gone {
            pool.shut_down();
        }
    }

    /// Provisioned concurrency lands on these versions (`(function, version)`): every other
    /// pool may scale in to nothing again.
    pub(crate) fn set_provisioned(&self, versions: &[(String, u64)]) {
        let keep: std::collections::HashSet<String> = versions
            .iter()
            .map(|(f, n)| pool_key(f, Some(*n)))
            .collect();
        if let Ok(pools) = self.pools.lock() {
            for (key, pool) in pools.iter() {
                if !keep.contains(key) {
                    pool.set_provisioned(0);
                }
            }
        }
    }

    /// Forgets the function's aliases (after a change to them, here or on another node).
    pub(crate) fn forget_aliases(&self, name: &str) {
        let prefix = format!("{name}:");
        if let Ok(mut aliases) = self.aliases.lock() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            aliases.retain(|k, _| !k.starts_with(&prefix));
        }
    }

    /// The alias, from memory or from the store (then remembered, unless a change was
    /// heard meanwhile). Uses the store: async callers go through [`Store::run`].
    fn alias(&self, name: &str, alias: &str) -> Result<crate::versions::AliasRecord> {
        let key = format!("{name}:{alias}");
        if let Some(a) = self.aliases.lock().ok().and_then(|a| a.get(&key).cloned()) {
            return Ok(a);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let resolved = control::resolve(self, &key, None)?;
        let record = resolved
            .alias
            .ok_or_else(|| Error::Corrupt(format!("{key} resolved without its alias")))?;
        if let Ok(mut aliases) = self.aliases.lock()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            aliases.insert(key, record.clone());
        }
        Ok(record)
    }

    /// The pool that runs `version` (`None`: `$LATEST`) of function `name`, from memory:
    /// the pools are the cache of function records, emptied by every change (this node's at
    /// once, other nodes' by their change notices). `None` when there is no pool yet.
    fn cached_pool(&self, name: &str, version: Option<u64>) -> Option<Arc<Pool>> {
        self.pools
            .lock()
            .ok()?
            .get(&pool_key(name, version))
            .cloned()
    }

    /// The pool of `version` (`None`: `$LATEST`) of function `name`, created from the
    /// stored record on first use. Uses the store: async callers go through [`Store::run`].
    fn pool(&self, name: &str, version: Option<u64>) -> Result<Arc<Pool>> {
        let key = pool_key(name, version);
        for _ in 0..3 {
            let generation = self.generation.load(Ordering::SeqCst);
            let record = control::lookup(self, &key, None)?;
            // Unpack a shared package before taking the registry's lock (it may take a while;
            // the folder is content-addressed, so racing first invocations agree).
            let code = self.local_code(&record)?;
            // Check and create under one lock: two first invocations racing must share one
            // pool (two pools would double the concurrency limit).
            let mut pools = self
                .pools
                .lock()
                .map_err(|_| Error::Corrupt("the pool registry lock was poisoned".into()))?;
            if let Some(p) = pools.get(&key)
                && p.record.revision_id == record.revision_id
                && p.record.reserved_concurrency == record.reserved_concurrency
            {
                return Ok(p.clone());
            }
            if self.generation.load(Ordering::SeqCst) != generation {
                // Another node changed a function while we read: read again.
                continue;
            }
            let pool = Arc::new(self.new_pool(record, code)?);
            if let Some(old) = pools.insert(key.clone(), pool.clone()) {
                old.shut_down();
            }
            return Ok(pool);
        }
        Err(Error::Corrupt(
            "functions changed on other nodes three times while this one was being prepared".into(),
        ))
    }

    /// Where the function's code is on this node's disk (unpacking a shared package).
    fn local_code(&self, record: &FunctionRecord) -> Result<CodeLocation> {
        Ok(match &record.code {
            CodeLocation::Package(hex) => {
                CodeLocation::Dir(packages::materialise(&self.store, &self.code_dir(), hex)?)
            }
            local => local.clone(),
        })
    }

    fn new_pool(&self, record: FunctionRecord, code: CodeLocation) -> Result<Pool> {
        let shared = Shared {
            region: self.config.region.clone(),
            account_id: self.config.account_id.clone(),
            access_key_id: self.config.access_key_id.clone(),
            secret_access_key: self.config.secret_access_key.clone(),
            endpoint_url: self.endpoint_url.read().ok().and_then(|u| u.clone()),
            roles: self.roles.read().ok().and_then(|r| r.clone()),
        };
        let local = FunctionRecord {
            code,
            ..record.clone()
        };
        let mut launch = runtimes::launch(&local, &self.boot, &shared)?;
        if !record.layers.is_empty() {
            launch.opt = Some(crate::layers::materialise(
                &self.store,
                &self.code_dir(),
                &record.layers,
            )?);
        }
        if let Some(user) = self.isolation.user(&record.name)
            && self.as_root(&record.runtime).is_none()
        {
            let code = match &local.code {
                CodeLocation::Executable(f) => f.clone(),
                _ => launch.task_root.clone(),
            };
            let network = self.own_network(&record.name).then(|| {
                inside_endpoint(&mut launch.env, shared.endpoint_url.as_deref());
                self.private_plane
                    .read()
                    .map(|p| p.clone())
                    .unwrap_or_default()
            });
            let toolchain = self.bound_toolchain(&record.runtime);
            if let Some(t) = &toolchain
                && crate::model::RuntimeKind::parse(&record.runtime)
                    == Some(crate::model::RuntimeKind::Python)
            {
                // The path `python3` stood for may go through links outside the prefix.
                launch.program = t.interpreter.clone();
            }
            launch.user = Some(crate::environment::Isolated {
                user,
                namespaces: self.isolation.namespaces(),
                network,
                function: record.name.clone(),
                dir: self.config.data_dir.join("isolated"),
                code,
                runtime_dir: self.boot.dir.clone(),
                toolchain,
            });
        }
        let sink = Arc::new(LogSink::open(
            &self.config.data_dir.join("logs"),
            &record.name,
            self.log_emitter.read().ok().and_then(|e| e.clone()),
        ));
        let limit = record
            .reserved_concurrency
            .unwrap_or(self.config.account_concurrency);
        let shared = record.reserved_concurrency.and_then(|n| {
            let mut r = self.reservations.lock().ok()?;
            let entry = r
                .entry(record.name.clone())
                .or_insert_with(|| (n, Arc::new(tokio::sync::Semaphore::new(n as usize))));
            if entry.0 != n {
                // A new reservation: invocations holding the old one finish under it.
                *entry = (n, Arc::new(tokio::sync::Semaphore::new(n as usize)));
            }
            Some(entry.1.clone())
        });
        let pool = Pool::new(record, launch, sink, self.groups.clone(), limit);
        Ok(match shared {
            Some(s) => pool.with_function_permits(s),
            None => pool,
        })
    }
}

impl Inner {
    /// Whether the environments of function `name` get a network namespace of their own:
    /// environments get namespaces, this host makes network ones, and the manifest does not
    /// grant the function egress.
    fn own_network(&self, name: &str) -> bool {
        self.isolation.namespaces()
            && self.isolation.network()
            && !self.config.egress.contains(name)
    }

    /// Why functions of `runtime` run as root here (`None`: they run as their own user).
    /// Python's interpreter must be reachable by other users, or (with namespaces) bindable
    /// into the environment ([`crate::isolation::interpreter_reach`]); Node's reachable; for
    /// `provided` (whose bootstrap may run any program on `PATH`) every folder on `PATH`
    /// must be, unless namespaces give the environment a `PATH` of reachable folders only.
    fn as_root(&self, runtime: &str) -> Option<String> {
        use crate::isolation::{Reach, reachable_by_others};
        use crate::model::RuntimeKind;
        const UNREACHABLE: &str =
            "their interpreter or a folder on PATH is not reachable by other users";
        let namespaces = self.isolation.namespaces();
        match RuntimeKind::parse(runtime) {
            Some(RuntimeKind::Python) => match self.python_reach(runtime) {
                Reach::Open => None,
                Reach::Private(_) if namespaces => None,
                Reach::Private(_) => Some(UNREACHABLE.into()),
                Reach::Closed(_) if !namespaces => Some(UNREACHABLE.into()),
                Reach::Closed(why) => Some(format!(
                    "their interpreter is not reachable by other users ({why})"
                )),
            },
            Some(RuntimeKind::Node) => {
                (!reachable_by_others(Path::new("node"))).then(|| UNREACHABLE.into())
            }
            Some(RuntimeKind::Provided) => {
                (!namespaces && !path_reachable()).then(|| UNREACHABLE.into())
            }
            None => Some(format!("{runtime} is not a runtime")),
        }
    }

    /// Where the interpreter functions of `runtime` run stands for other users: the
    /// identifier's own for Python runtimes, `python3` for `provided` ones (what a bootstrap
    /// such as AWS's runtime interface client runs).
    fn python_reach(&self, runtime: &str) -> crate::isolation::Reach {
        let python = self
            .boot
            .interpreter(runtime)
            .filter(|_| runtime.starts_with("python"))
            .map(|i| i.path)
            .unwrap_or_else(|| self.boot.python3());
        crate::isolation::interpreter_reach(&python, &self.config.data_dir)
    }

    /// The interpreter that runs `runtime` here (see [`crate::runtimes::Interpreter`]).
    pub(crate) fn interpreter(&self, runtime: &str) -> Option<crate::runtimes::Interpreter> {
        self.boot.interpreter(runtime)
    }

    /// The toolchain bound into the environments of `runtime`, with namespaces: Python's
    /// interpreter when it sits under a private folder, for Python functions and for
    /// `provided` ones (a bootstrap that runs `python3`, such as AWS's runtime interface
    /// client, finds the interpreter it found as root).
    fn bound_toolchain(&self, runtime: &str) -> Option<crate::isolation::Toolchain> {
        use crate::model::RuntimeKind;
        if !self.isolation.namespaces()
            || !matches!(
                RuntimeKind::parse(runtime),
                Some(RuntimeKind::Python | RuntimeKind::Provided)
            )
        {
            return None;
        }
        match self.python_reach(runtime) {
            crate::isolation::Reach::Private(t) => Some(t),
            _ => None,
        }
    }
}

/// The key of a pool: the function's name for `$LATEST`, `name:N` for version N (`:` is not
/// in function names). Environments are kept per version: a published version keeps its own
/// code and configuration whatever `$LATEST` becomes.
pub(crate) fn pool_key(name: &str, version: Option<u64>) -> String {
    match version {
        None => name.to_owned(),
        Some(n) => format!("{name}:{n}"),
    }
}

/// In a network namespace of its own, the AWS endpoint is at `127.0.0.1:<its port>`: nuvem's
/// `AWS_ENDPOINT_URL` names another host address only when the endpoint listens on one
/// (`expose_private`), and then it is rewritten to the loopback. A function's own
/// `AWS_ENDPOINT_URL` is left as it is.
fn inside_endpoint(env: &mut [(String, String)], endpoint_url: Option<&str>) {
    let Some(url) = endpoint_url else { return };
    let Some(authority) = url.strip_prefix("http://") else {
        return;
    };
    let Ok(addr) = authority
        .trim_end_matches('/')
        .parse::<std::net::SocketAddr>()
    else {
        return;
    };
    if addr.ip() == std::net::Ipv4Addr::LOCALHOST || addr.ip().is_unspecified() {
        return;
    }
    let inside = format!("http://127.0.0.1:{}", addr.port());
    for (k, v) in env.iter_mut() {
        if k == "AWS_ENDPOINT_URL" && v == url {
            *v = inside.clone();
        }
    }
}

/// Whether every folder on nuvem's `PATH` (which functions get) is reachable by other users.
fn path_reachable() -> bool {
    std::env::var_os("PATH").is_none_or(|p| {
        std::env::split_paths(&p)
            .all(|d| !d.is_dir() || crate::isolation::closed_ancestor(&d).is_none())
    })
}

/// Lambda-compatible functions. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct FunctionsService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FunctionsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionsService")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl FunctionsService {
    /// Opens the service: writes the shipped bootstraps and, inside a Tokio runtime, starts
    /// the scale-in task (which ends when the service is dropped).
    pub fn open(store: Store, config: FunctionsConfig) -> Result<Self> {
        let mut boot = Bootstraps::install(&config.data_dir.join("runtimes"))?;
        boot.configure(config.interpreters.clone());
        // One node alone owns its store's concurrency: the pools' semaphores are the whole
        // truth. A shared store needs the cluster-wide allocator as well.
        let slots = store.is_remote().then(|| {
            Arc::new(Slots::new(
                store.clone(),
                nuvem_store::cluster::node_id(),
                config.slot_times,
            ))
        });
        boot.resolve_python_in_background();
        let isolation = crate::isolation::Isolation::detect(&config.data_dir);
        if isolation.users() {
            // Copies left by a previous run (environments that were running when it stopped).
            let _ = std::fs::remove_dir_all(config.data_dir.join("isolated"));
            for dir in ["isolated", "code", "logs"] {
                std::fs::create_dir_all(config.data_dir.join(dir))?;
            }
            crate::isolation::lock_functions_dir(&config.data_dir);
        }
        let (destinations, records) = tokio::sync::mpsc::channel(DESTINATION_BACKLOG);
        let inner = Arc::new(Inner {
            isolation,
            store,
            config,
            boot,
            pools: Mutex::new(HashMap::new()),
            endpoint_url: RwLock::new(None),
            private_plane: RwLock::new(Vec::new()),
            roles: RwLock::new(None),
            groups: Arc::new(ProcessGroups::default()),
            pending: Mutex::new(std::collections::BTreeMap::new()),
            slots,
            generation: AtomicU64::new(0),
            aliases: Mutex::default(),
            reservations: Mutex::default(),
            stopping: Default::default(),
            stored_runs: Mutex::default(),
            stream_source: RwLock::default(),
            destinations,
            failure_bucket: RwLock::default(),
            log_emitter: RwLock::default(),
            observer: RwLock::default(),
        });
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(destination_loop(Arc::downgrade(&inner), records));
            let weak = Arc::downgrade(&inner);
            let every = (inner.config.idle_timeout / 4)
                .clamp(Duration::from_millis(10), Duration::from_secs(5));
            handle.spawn(scale_in_loop(weak, every));
            if inner.slots.is_some() {
                let weak = Arc::downgrade(&inner);
                let every = (inner.config.slot_times.ttl / 8)
                    .clamp(Duration::from_millis(10), Duration::from_millis(250));
                handle.spawn(slots_loop(weak, every));
                handle.spawn(queue_loop(Arc::downgrade(&inner), QUEUE_SWEEP));
            }
        }
        Ok(Self { inner })
    }

    /// The AWS endpoint functions should call (`AWS_ENDPOINT_URL`), known once the endpoint
    /// is bound. Environments started afterwards get it.
    /// Seconds this node's invocations of what `function:qualifier` runs (a version, or an
    /// alias's primary version) held an environment, summed over its pool's life: what
    /// Application Auto Scaling divides by a window for provisioned concurrency utilization.
    /// `None` when the function or qualifier does not exist.
    pub fn busy_seconds(&self, function: &str, qualifier: &str) -> Option<f64> {
        let resolved = crate::control::resolve(&self.inner, function, Some(qualifier)).ok()?;
        let key = pool_key(
            &resolved.latest.name,
            resolved.version.as_ref().and_then(|v| v.version),
        );
        let pools = self.inner.pools.lock().ok()?;
        Some(pools.get(&key).map_or(0.0, |p| p.busy_seconds()))
    }

    /// The unqualified function URL of function `name`, if it has one.
    pub async fn function_url_of(
        &self,
        name: &str,
    ) -> Result<Option<crate::function_url::UrlConfig>> {
        let store = self.inner.store.clone();
        let name = name.to_owned();
        self.inner
            .store
            .run(move || crate::function_url::read(&*store.snapshot(), &name, None))
            .await
    }

    /// The function URL a host name's id names (see [`crate::function_url`]).
    pub async fn function_url(&self, id: &str) -> Result<Option<crate::function_url::UrlConfig>> {
        let store = self.inner.store.clone();
        let id = id.to_owned();
        self.inner
            .store
            .run(move || crate::function_url::by_id(&*store.snapshot(), &id))
            .await
    }

    /// The resource-based policy document (AddPermission's statements) of what `reference`
    /// names (a function, or `name:qualifier`: a version's or an alias's own), if it has one:
    /// what the endpoint weighs beside a caller's identity policies. `None` for a function,
    /// version or alias that does not exist.
    pub async fn resource_policy(&self, reference: &str) -> Result<Option<String>> {
        let inner = self.inner.clone();
        let reference = reference.to_owned();
        self.inner
            .store
            .run(move || match control::resolve(&inner, &reference, None) {
                Ok(t) => Ok(Some(t.policy())
                    .filter(|p| !p.is_empty())
                    .map(crate::control::policy_document)),
                Err(
                    Error::FunctionNotFound(_) | Error::Validation(_) | Error::InvalidParameter(_),
                ) => Ok(None),
                Err(e) => Err(e),
            })
            .await
    }

    /// Environments started from now on run with their execution role's temporary
    /// credentials instead of the configured keys (when the role exists).
    pub fn set_role_credentials(&self, roles: Arc<dyn crate::credentials::RoleCredentials>) {
        if let Ok(mut r) = self.inner.roles.write() {
            *r = Some(roles);
        }
        if let Ok(mut pools) = self.inner.pools.lock() {
            for (_, p) in pools.drain() {
                p.shut_down();
            }
        }
    }

    /// The private plane's listeners (the AWS endpoint, plain and TLS): environments in a
    /// network namespace of their own reach each at `127.0.0.1:<its port>`, forwarded to it.
    /// Environments started afterwards get them.
    pub fn set_private_plane(&self, addrs: Vec<std::net::SocketAddr>) {
        if let Ok(mut p) = self.inner.private_plane.write() {
            *p = addrs;
        }
        if let Ok(mut pools) = self.inner.pools.lock() {
            for (_, p) in pools.drain() {
                p.shut_down();
            }
        }
    }

    /// Wires DynamoDB streams in for event source mappings, and starts their pollers (one
    /// per enabled mapping, on the node holding its lease).
    pub fn set_stream_source(&self, source: Arc<dyn crate::esm::StreamSource>) {
        if let Ok(mut s) = self.inner.stream_source.write() {
            *s = Some(source);
        }
        crate::esm::start(&self.inner);
    }

    /// Wires S3 buckets in for event source mappings' on-failure destinations.
    /// Sends function log lines to `emitter` (the Logs service) instead of a file per
    /// function, for environments started from now on.
    pub fn set_log_emitter(&self, emitter: Arc<dyn crate::logs::LogEmitter>) {
        if let Ok(mut e) = self.inner.log_emitter.write() {
            *e = Some(emitter);
        }
    }

    /// Tells `observer` of every invocation that runs and every throttled request, from now
    /// on (see [`crate::observer`]).
    pub fn set_invocation_observer(&self, observer: Arc<dyn crate::observer::InvocationObserver>) {
        if let Ok(mut o) = self.inner.observer.write() {
            *o = Some(observer);
        }
    }

    pub fn set_failure_bucket(&self, buckets: Arc<dyn crate::esm::FailureBucket>) {
        if let Ok(mut b) = self.inner.failure_bucket.write() {
            *b = Some(buckets);
        }
    }

    pub fn set_aws_endpoint(&self, url: impl Into<String>) {
        if let Ok(mut u) = self.inner.endpoint_url.write() {
            *u = Some(url.into());
        }
        if let Ok(mut pools) = self.inner.pools.lock() {
            for (_, p) in pools.drain() {
                p.shut_down();
            }
        }
    }

    /// Follows other nodes' changes to functions: a change notice retires this node's warm
    /// environments for the function (its next invocation reads the new record and code),
    /// and removes the unpacked packages no function uses any more.
    pub fn follow(&self, watcher: &Watcher) {
        let weak = Arc::downgrade(&self.inner);
        let prefix = catalog::topic("");
        watcher.subscribe(&prefix.clone(), move |topic| {
            let Some(inner) = weak.upgrade() else { return };
            let name = topic.strip_prefix(prefix.as_str()).unwrap_or(topic);
            inner.generation.fetch_add(1, Ordering::SeqCst);
            inner.forget_aliases(name);
            let listed = catalog::list(&inner.store).and_then(|records| {
                let versions = crate::versions::all_versions(&*inner.store.snapshot())?;
                Ok((records, versions))
            });
            let (records, versions) = match listed {
                Ok(listed) => listed,
                Err(e) => {
                    tracing::debug!(error = %e, "lambda: could not list functions");
                    inner.drop_pools(name);
                    return;
                }
            };
            // A pool of the current revision stays: this node made the change (and already
            // replaced its pool), or heard of it already. A version's pool stays while the
            // version exists and the function's reserved concurrency is the one it counts.
            let current = records.iter().find(|r| r.name == name);
            let version_prefix = format!("{name}:");
            let cached: Vec<(String, Option<u64>, String, Option<u32>)> = inner
                .pools
                .lock()
                .map(|p| {
                    p.iter()
                        .filter(|(k, _)| *k == name || k.starts_with(&version_prefix))
                        .map(|(k, p)| {
                            (
                                k.clone(),
                                p.record.version,
                                p.record.revision_id.clone(),
                                p.record.reserved_concurrency,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            for (key, version, revision, reserved) in cached {
                let stale = match (current, version) {
                    (None, _) => true,
                    (Some(c), None) => c.revision_id != revision,
                    (Some(c), Some(n)) => {
                        c.reserved_concurrency != reserved
                            || !versions
                                .iter()
                                .any(|v| v.name == name && v.version == Some(n))
                    }
                };
                if stale {
                    inner.drop_pool(&key);
                    tracing::debug!(
                        function = name,
                        pool = key,
                        "lambda: changed on another node"
                    );
                }
            }
            let mut in_use = records;
            in_use.extend(versions);
            packages::sweep_local(&inner.code_dir(), &in_use);
            let used: Vec<&[crate::layers::LayerRef]> =
                in_use.iter().map(|r| r.layers.as_slice()).collect();
            crate::layers::sweep_local(&inner.code_dir(), &used);
        });
    }

    /// Runs a control-plane operation ("CreateFunction", ...) on its JSON input, as the HTTP
    /// API does (the manifest's way in). Returns the JSON output.
    pub fn execute(&self, operation: &str, input: Value) -> std::result::Result<Value, AwsError> {
        Operation::by_name(operation, &input)
            .and_then(|op| control::execute(&self.inner, op, input, true))
            .map(|(_, v)| v)
            .map_err(IntoAwsError::into_aws_error)
    }

    /// Pool counters for a function that has run (current/peak concurrency, cold/warm counts).
    pub fn stats(&self, function: &str) -> Option<PoolStats> {
        self.inner
            .pools
            .lock()
            .ok()
            .and_then(|p| p.get(function).map(|p| p.stats()))
    }

    /// Marks a function as not invocable yet, with why (`building: cargo build ...`, or what
    /// to install): Invoke answers `ResourceConflictException` with Lambda's `Pending` message
    /// until [`FunctionsService::set_available`], and health lists it. The function need not
    /// exist yet (a first `up` creates it once its code is built).
    pub fn set_pending(&self, function: &str, why: impl Into<String>) {
        if let Ok(mut p) = self.inner.pending.lock() {
            p.insert(function.to_string(), why.into());
        }
    }

    /// Whether `function` (a name) is pending: it cannot run yet, whoever asks.
    pub fn is_pending(&self, function: &str) -> bool {
        self.inner
            .pending
            .lock()
            .is_ok_and(|p| p.contains_key(function))
    }

    /// Ends [`FunctionsService::set_pending`]: the function's code is in place.
    pub fn set_available(&self, function: &str) {
        if let Ok(mut p) = self.inner.pending.lock() {
            p.remove(function);
        }
    }

    /// Every function's pool counters, by name (functions that have not run since they were
    /// created or last changed have no pool and are not listed).
    pub fn all_stats(&self) -> std::collections::BTreeMap<String, PoolStats> {
        self.inner
            .pools
            .lock()
            .map(|p| p.iter().map(|(n, p)| (n.clone(), p.stats())).collect())
            .unwrap_or_default()
    }

    /// Stops every environment, busy ones included, with their process groups (nuvem is
    /// shutting down). Invocations still running are answered as crashed.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        if let Ok(mut pools) = self.inner.pools.lock() {
            for (_, p) in pools.drain() {
                p.shut_down();
            }
        }
        self.inner.groups.kill_all();
        // Hand this node's concurrency back rather than let it expire (shutdown may block).
        if let Some(slots) = &self.inner.slots
            && let Err(e) = Store::blocking(|| slots.release_all())
        {
            tracing::debug!(error = %e, "lambda: could not hand concurrency back");
        }
    }

    /// The process groups of live environments (what [`FunctionsService::shutdown`] kills).
    /// What separates environments on this host, said by `up` (never left silent).
    pub fn isolation(&self) -> String {
        let inner = &self.inner;
        if !inner.isolation.users() {
            return inner.isolation.missing().unwrap_or_default().to_owned();
        }
        let as_root: Vec<(&str, String)> = [
            ("python3.12", "Python"),
            ("nodejs22.x", "Node"),
            ("provided.al2023", "provided"),
        ]
        .into_iter()
        .filter_map(|(runtime, label)| inner.as_root(runtime).map(|why| (label, why)))
        .collect();
        let mut line = format!(
            "each function runs as a user of its own (uid {}+), on a private copy of its code; the data dir is closed to them",
            crate::isolation::UID_BASE
        );
        // One clause per reason, naming the runtimes it applies to.
        let mut whys: Vec<&str> = Vec::new();
        for (_, why) in &as_root {
            if !whys.contains(&why.as_str()) {
                whys.push(why);
            }
        }
        for why in whys {
            let labels: Vec<&str> = as_root
                .iter()
                .filter(|(_, w)| w == why)
                .map(|(label, _)| *label)
                .collect();
            line.push_str(&format!(
                "; except {} functions, which run as root: {why}",
                match labels.split_last() {
                    Some((last, rest)) if !rest.is_empty() =>
                        format!("{} and {last}", rest.join(", ")),
                    _ => labels.join(""),
                },
            ));
        }
        if let Some(t) = inner.bound_toolchain("python3.12") {
            line.push_str(&format!(
                "; Python's interpreter ({}) is bound read-only into Python and provided environments, the rest of {} hidden",
                t.prefix.display(),
                t.cover.display()
            ));
        }
        if inner.isolation.network() {
            line.push_str("; each environment has its own mount, PID and network namespaces (a private /tmp, no view of other processes; its loopback holds only its Runtime API and the AWS endpoint");
            if !inner.config.egress.is_empty() {
                let granted: Vec<&str> = inner.config.egress.iter().map(String::as_str).collect();
                line.push_str(&format!(
                    "; egress granted to {}, on the host's network",
                    granted.join(", ")
                ));
            }
            line.push(')');
        } else if inner.isolation.namespaces() {
            line.push_str("; each environment has its own mount and PID namespaces (a private /tmp, no view of other processes); ");
            line.push_str(inner.isolation.missing().unwrap_or("no network isolation"));
        } else {
            line.push_str("; ");
            line.push_str(inner.isolation.missing().unwrap_or("no namespaces"));
        }
        line
    }

    pub fn live_environments(&self) -> usize {
        self.inner.groups.len()
    }

    /// The log file of a function (written only when no [`LogEmitter`] is wired).
    ///
    /// [`LogEmitter`]: crate::logs::LogEmitter
    pub fn log_path(&self, function: &str) -> PathBuf {
        self.inner
            .config
            .data_dir
            .join("logs")
            .join(format!("{function}.log"))
    }

    async fn handle(&self, request: AwsRequest) -> Result<Response<Body>> {
        let route = route(
            &request.parts.method,
            request.parts.uri.path(),
            request.parts.uri.query(),
        )?;
        let bytes = request
            .body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| Error::InvalidRequestContent(format!("could not read the body: {e}")))?;
        match route {
            Route::Invoke {
                function,
                qualifier,
            } => {
                let header = |name: &str| {
                    request
                        .parts
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let kind = match header("x-amz-invocation-type").as_deref() {
                    None | Some("RequestResponse") => InvocationType::RequestResponse,
                    Some("Event") => InvocationType::Event,
                    Some("DryRun") => InvocationType::DryRun,
                    Some(other) => {
                        return Err(Error::Validation(format!(
                            "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
                        )));
                    }
                };
                let tail = match header("x-amz-log-type").as_deref() {
                    None | Some("None") => false,
                    Some("Tail") => true,
                    Some(other) => {
                        return Err(Error::Validation(format!(
                            "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
                        )));
                    }
                };
                let out = self
                    .invoke_inner(InvokeRequest {
                        function,
                        qualifier,
                        payload: bytes,
                        kind,
                        tail,
                        client_context: header("x-amz-client-context"),
                        request_id: request.request_id.as_str().to_string(),
                    })
                    .await?;
                let mut resp = Response::new(full_body(out.payload));
                *resp.status_mut() = StatusCode::from_u16(out.status).unwrap_or(StatusCode::OK);
                let h = resp.headers_mut();
                if out.status == 200 {
                    h.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    let version = out.executed_version.as_deref().unwrap_or("$LATEST");
                    if let Ok(v) = HeaderValue::from_str(version) {
                        h.insert("x-amz-executed-version", v);
                    }
                }
                if let Some(e) = out
                    .function_error
                    .and_then(|e| HeaderValue::from_str(&e).ok())
                {
                    h.insert("x-amz-function-error", e);
                }
                if let Some(l) = out.log_result.and_then(|l| HeaderValue::from_str(&l).ok()) {
                    h.insert("x-amz-log-result", l);
                }
                request.request_id.add_headers(h);
                Ok(resp)
            }
            Route::Control(op) => {
                let inner = self.inner.clone();
                let root = request
                    .parts
                    .extensions
                    .get::<nuvem_aws::RootCaller>()
                    .is_some();
                // Off the async workers whatever the engine: CreateFunction and
                // UpdateFunctionCode parse, unzip and hash packages of up to 50 MB.
                let (status, body) = self
                    .inner
                    .store
                    .offload(move || {
                        let input: Value = if bytes.is_empty() {
                            Value::Object(Default::default())
                        } else {
                            serde_json::from_slice(&bytes).map_err(|e| {
                                Error::InvalidRequestContent(format!(
                                    "Could not parse request body into json: {e}"
                                ))
                            })?
                        };
                        if matches!(
                            op,
                            Operation::CreateFunction
                                | Operation::UpdateFunctionConfiguration { .. }
                        ) && let Some(runtime) = input.get("Runtime").and_then(Value::as_str)
                        {
                            control::check_interpreter(&inner, runtime)?;
                        }
                        control::execute(&inner, op, input, root)
                    })
                    .await?;
                let body = if body.is_null() {
                    Bytes::new()
                } else {
                    Bytes::from(body.to_string())
                };
                let mut resp = Response::new(full_body(body));
                *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                if status != 204 {
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                request.request_id.add_headers(resp.headers_mut());
                Ok(resp)
            }
        }
    }
}

/// The Lambda API's resource paths.
enum Route {
    Invoke {
        function: String,
        qualifier: Option<String>,
    },
    Control(Operation),
}

fn route(method: &Method, path: &str, query: Option<&str>) -> Result<Route> {
    let q = |name: &str| {
        query.and_then(|qs| {
            qs.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name).then(|| {
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned()
                })
            })
        })
    };
    let segments: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let function = |f: &str| f.to_string();
    let op = match (method, segs.as_slice()) {
        (&Method::POST, ["2015-03-31", "functions"]) => Operation::CreateFunction,
        (&Method::GET, ["2015-03-31", "functions"]) => Operation::ListFunctions {
            marker: q("Marker"),
            max_items: q("MaxItems"),
            version: q("FunctionVersion"),
        },
        (&Method::GET, ["2015-03-31", "functions", f]) => Operation::GetFunction {
            function: function(f),
            qualifier: q("Qualifier"),
        },
        (&Method::DELETE, ["2015-03-31", "functions", f]) => Operation::DeleteFunction {
            function: function(f),
            qualifier: q("Qualifier"),
        },
        (&Method::GET, ["2015-03-31", "functions", f, "configuration"]) => {
            Operation::GetFunctionConfiguration {
                function: function(f),
                qualifier: q("Qualifier"),
            }
        }
        (&Method::PUT, ["2015-03-31", "functions", f, "configuration"]) => {
            Operation::UpdateFunctionConfiguration {
                function: function(f),
            }
        }
        (&Method::PUT, ["2015-03-31", "functions", f, "code"]) => Operation::UpdateFunctionCode {
            function: function(f),
        },
        (&Method::POST, ["2015-03-31", "functions", f, "invocations"]) => {
            return Ok(Route::Invoke {
                function: function(f),
                qualifier: q("Qualifier"),
            });
        }
        (&Method::PUT, ["2017-10-31", "functions", f, "concurrency"]) => {
            Operation::PutFunctionConcurrency {
                function: function(f),
            }
        }
        (&Method::DELETE, ["2017-10-31", "functions", f, "concurrency"]) => {
            Operation::DeleteFunctionConcurrency {
                function: function(f),
            }
        }
        (&Method::GET, ["2019-09-30", "functions", f, "concurrency"]) => {
            Operation::GetFunctionConcurrency {
                function: function(f),
            }
        }
        (&Method::GET, ["2016-08-19", "account-settings"]) => Operation::GetAccountSettings,
        (method, ["2019-09-30", "functions", f, "provisioned-concurrency"]) => {
            let (function, qualifier) = (function(f), q("Qualifier"));
            if method == Method::PUT {
                Operation::PutProvisionedConcurrencyConfig {
                    function,
                    qualifier,
                }
            } else if method == Method::GET && q("List").is_some() {
                Operation::ListProvisionedConcurrencyConfigs { function }
            } else if method == Method::GET {
                Operation::GetProvisionedConcurrencyConfig {
                    function,
                    qualifier,
                }
            } else if method == Method::DELETE {
                Operation::DeleteProvisionedConcurrencyConfig {
                    function,
                    qualifier,
                }
            } else {
                return Err(Error::UnknownOperation);
            }
        }
        (method, ["2019-09-25", "functions", f, "event-invoke-config"]) => {
            let (function, qualifier) = (function(f), q("Qualifier"));
            if method == Method::PUT {
                Operation::PutFunctionEventInvokeConfig {
                    function,
                    qualifier,
                }
            } else if method == Method::POST {
                Operation::UpdateFunctionEventInvokeConfig {
                    function,
                    qualifier,
                }
            } else if method == Method::GET {
                Operation::GetFunctionEventInvokeConfig {
                    function,
                    qualifier,
                }
            } else if method == Method::DELETE {
                Operation::DeleteFunctionEventInvokeConfig {
                    function,
                    qualifier,
                }
            } else {
                return Err(Error::UnknownOperation);
            }
        }
        (&Method::GET, ["2019-09-25", "functions", f, "event-invoke-config", "list"]) => {
            Operation::ListFunctionEventInvokeConfigs {
                function: function(f),
            }
        }
        (&Method::POST, ["2015-03-31", "event-source-mappings"]) => {
            Operation::CreateEventSourceMapping
        }
        (&Method::GET, ["2015-03-31", "event-source-mappings"]) => {
            Operation::ListEventSourceMappings {
                function: q("FunctionName"),
                source: q("EventSourceArn"),
                marker: q("Marker"),
                max_items: q("MaxItems"),
            }
        }
        (&Method::GET, ["2015-03-31", "event-source-mappings", id]) => {
            Operation::GetEventSourceMapping {
                uuid: id.to_string(),
            }
        }
        (&Method::PUT, ["2015-03-31", "event-source-mappings", id]) => {
            Operation::UpdateEventSourceMapping {
                uuid: id.to_string(),
            }
        }
        (&Method::DELETE, ["2015-03-31", "event-source-mappings", id]) => {
            Operation::DeleteEventSourceMapping {
                uuid: id.to_string(),
            }
        }
        (&Method::POST, ["2015-03-31", "functions", f, "policy"]) => Operation::AddPermission {
            function: function(f),
            qualifier: q("Qualifier"),
        },
        (&Method::GET, ["2015-03-31", "functions", f, "policy"]) => Operation::GetPolicy {
            function: function(f),
            qualifier: q("Qualifier"),
        },
        (&Method::DELETE, ["2015-03-31", "functions", f, "policy", sid]) => {
            Operation::RemovePermission {
                function: function(f),
                statement_id: sid.to_string(),
                qualifier: q("Qualifier"),
                revision_id: q("RevisionId"),
            }
        }
        (&Method::POST, ["2015-03-31", "functions", f, "versions"]) => Operation::PublishVersion {
            function: function(f),
        },
        (&Method::GET, ["2015-03-31", "functions", f, "versions"]) => {
            Operation::ListVersionsByFunction {
                function: function(f),
                marker: q("Marker"),
                max_items: q("MaxItems"),
            }
        }
        (&Method::POST, ["2015-03-31", "functions", f, "aliases"]) => Operation::CreateAlias {
            function: function(f),
        },
        (&Method::GET, ["2015-03-31", "functions", f, "aliases"]) => Operation::ListAliases {
            function: function(f),
            version: q("FunctionVersion"),
            marker: q("Marker"),
            max_items: q("MaxItems"),
        },
        (method, ["2015-03-31", "functions", f, "aliases", a]) => {
            let (function, alias) = (function(f), a.to_string());
            if method == Method::GET {
                Operation::GetAlias { function, alias }
            } else if method == Method::PUT {
                Operation::UpdateAlias { function, alias }
            } else if method == Method::DELETE {
                Operation::DeleteAlias { function, alias }
            } else {
                return Err(Error::UnknownOperation);
            }
        }
        (method, ["2021-10-31", "functions", f, "url"]) => {
            let (function, qualifier) = (function(f), q("Qualifier"));
            match *method {
                Method::POST => Operation::CreateFunctionUrlConfig {
                    function,
                    qualifier,
                },
                Method::GET => Operation::GetFunctionUrlConfig {
                    function,
                    qualifier,
                },
                Method::PUT => Operation::UpdateFunctionUrlConfig {
                    function,
                    qualifier,
                },
                Method::DELETE => Operation::DeleteFunctionUrlConfig {
                    function,
                    qualifier,
                },
                _ => return Err(Error::UnknownOperation),
            }
        }
        (&Method::GET, ["2021-10-31", "functions", f, "urls"]) => {
            Operation::ListFunctionUrlConfigs {
                function: function(f),
                marker: q("Marker"),
                max_items: q("MaxItems"),
            }
        }
        (&Method::POST, ["2018-10-31", "layers", l, "versions"]) => {
            Operation::PublishLayerVersion {
                layer: l.to_string(),
            }
        }
        (&Method::GET, ["2018-10-31", "layers", l, "versions"]) => Operation::ListLayerVersions {
            layer: l.to_string(),
            runtime: q("CompatibleRuntime"),
            architecture: q("CompatibleArchitecture"),
            marker: q("Marker"),
            max_items: q("MaxItems"),
        },
        (&Method::GET, ["2018-10-31", "layers"])
            if q("find").as_deref() == Some("LayerVersion") =>
        {
            Operation::GetLayerVersionByArn {
                arn: q("Arn").unwrap_or_default(),
            }
        }
        (&Method::GET, ["2018-10-31", "layers"]) => Operation::ListLayers {
            runtime: q("CompatibleRuntime"),
            architecture: q("CompatibleArchitecture"),
            marker: q("Marker"),
            max_items: q("MaxItems"),
        },
        (&Method::GET, ["2018-10-31", "layers", l, "versions", v]) => Operation::GetLayerVersion {
            layer: l.to_string(),
            version: v.to_string(),
        },
        (&Method::DELETE, ["2018-10-31", "layers", l, "versions", v]) => {
            Operation::DeleteLayerVersion {
                layer: l.to_string(),
                version: v.to_string(),
            }
        }
        (&Method::POST, ["2018-10-31", "layers", l, "versions", v, "policy"]) => {
            Operation::AddLayerVersionPermission {
                layer: l.to_string(),
                version: v.to_string(),
                revision: q("RevisionId"),
            }
        }
        (&Method::GET, ["2018-10-31", "layers", l, "versions", v, "policy"]) => {
            Operation::GetLayerVersionPolicy {
                layer: l.to_string(),
                version: v.to_string(),
            }
        }
        (&Method::DELETE, ["2018-10-31", "layers", l, "versions", v, "policy", sid]) => {
            Operation::RemoveLayerVersionPermission {
                layer: l.to_string(),
                version: v.to_string(),
                statement_id: sid.to_string(),
                revision: q("RevisionId"),
            }
        }
        _ => return Err(Error::UnknownOperation),
    };
    Ok(Route::Control(op))
}

impl Service for FunctionsService {
    fn name(&self) -> &'static str {
        "lambda"
    }

    fn protocol(&self) -> Protocol {
        Protocol::RestJson
    }

    fn body_handling(&self) -> nuvem_aws::BodyHandling {
        // A 50 MB zip, base64-encoded, plus JSON: Lambda's own request limit.
        nuvem_aws::BodyHandling::Buffered {
            limit: 70 * 1024 * 1024,
        }
    }

    /// Degraded while some function is pending, listing each with why (`api: building ...`).
    fn health(&self) -> nuvem_aws::Health {
        let pending = self
            .inner
            .pending
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        if pending.is_empty() {
            return nuvem_aws::Health::Ready;
        }
        let list: Vec<String> = pending
            .iter()
            .map(|(f, why)| format!("{f}: {why}"))
            .collect();
        nuvem_aws::Health::Degraded(format!("functions not ready: {}", list.join("; ")))
    }

    /// `{"concurrency": N, "peak_concurrency": N, "cold_starts": N, "warm_starts": N,
    /// "environments": N, "functions": {"<name>": PoolStats}}`: totals over the functions'
    /// current pools, the peak being the highest of one function.
    fn stats(&self) -> Option<Value> {
        let functions = self.all_stats();
        let sum = |f: fn(&PoolStats) -> u64| functions.values().map(f).sum::<u64>();
        Some(serde_json::json!({
            "concurrency": sum(|s| u64::from(s.busy)),
            "peak_concurrency": functions.values().map(|s| s.peak_busy).max().unwrap_or(0),
            "cold_starts": sum(|s| s.cold_starts),
            "warm_starts": sum(|s| s.warm_starts),
            "environments": self.live_environments(),
            "functions": functions,
        }))
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(async move {
            let id = request.request_id.clone();
            match self.handle(request).await {
                Ok(resp) => resp,
                Err(e) => e.into_aws_error().to_response(Protocol::RestJson, &id),
            }
        })
    }
}

impl Invoker for FunctionsService {
    fn invoke(
        &self,
        request: InvokeRequest,
    ) -> BoxFuture<'_, std::result::Result<InvokeResponse, AwsError>> {
        Box::pin(async move {
            self.invoke_inner(request)
                .await
                .map_err(IntoAwsError::into_aws_error)
        })
    }
}

impl FunctionsService {
    async fn invoke_inner(&self, request: InvokeRequest) -> Result<InvokeResponse> {
        crate::dispatch::invoke(&self.inner, request).await
    }
}

impl Inner {
    /// Why the function `reference` names cannot run yet, if it is pending.
    pub(crate) fn pending(&self, reference: &str) -> Result<()> {
        let name = crate::model::FunctionRef::parse(reference)?.name;
        match self.pending.lock().ok().and_then(|p| p.get(&name).cloned()) {
            Some(why) => Err(Error::Pending(name, why)),
            None => Ok(()),
        }
    }

    /// The function's pool: from memory when it has one, else from the store (through
    /// [`Store::run`]).
    pub(crate) async fn pool_for(
        self: &Arc<Self>,
        reference: &str,
        qualifier: Option<&str>,
    ) -> Result<Arc<Pool>> {
        use crate::model::Qualifier;
        let f = crate::model::FunctionRef::parse(reference)?;
        let pick = |q: Qualifier| match q {
            Qualifier::Version(n) => Some(n),
            _ => None,
        };
        let version = match f.qualifier(qualifier)? {
            None | Some(Qualifier::Latest) => None,
            Some(Qualifier::Version(n)) => Some(n),
            Some(Qualifier::Alias(a)) => {
                // Weighted routing: each invocation draws which version runs.
                let cached = self
                    .aliases
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&format!("{}:{a}", f.name)).cloned());
                let alias = match cached {
                    Some(alias) => alias,
                    None => {
                        let (me, name) = (self.clone(), f.name.clone());
                        self.store.run(move || me.alias(&name, &a)).await?
                    }
                };
                pick(alias.pick(crate::versions::roll()))
            }
        };
        if let Some(pool) = self.cached_pool(&f.name, version) {
            return Ok(pool);
        }
        let (me, name) = (self.clone(), f.name);
        self.store
            .clone()
            .run(move || me.pool(&name, version))
            .await
    }

    /// Whether the store is shared with other nodes (a remote engine): then concurrency is
    /// allocated cluster-wide and events are queued in the store.
    pub(crate) fn shared(&self) -> bool {
        self.slots.is_some()
    }

    /// Notes that this node starts on a stored event; false if it is already on it.
    pub(crate) fn start_stored(&self, key: &[u8]) -> bool {
        self.stored_runs
            .lock()
            .map(|mut s| s.insert(key.to_vec()))
            .unwrap_or(false)
    }

    pub(crate) fn end_stored(&self, key: &[u8]) {
        if let Ok(mut s) = self.stored_runs.lock() {
            s.remove(key);
        }
    }

    /// The cluster-wide slot an invocation of `pool` needs on a shared store (`None` on the
    /// embedded one, where the pool's semaphore is the limit); `TooManyRequests` when every
    /// slot is taken across the nodes.
    pub(crate) async fn cluster_slot(self: &Arc<Self>, pool: &Pool) -> Result<Option<Slot>> {
        let Some(slots) = self.slots.clone() else {
            return Ok(None);
        };
        let reserved = pool.record.reserved_concurrency;
        let bucket = match reserved {
            Some(_) => pool.record.name.clone(),
            None => ACCOUNT_BUCKET.to_owned(),
        };
        if let Some(slot) = slots.try_take(&bucket) {
            return Ok(Some(slot));
        }
        let account = self.config.account_concurrency;
        let slot = self
            .store
            .run(move || {
                slots.acquire(&bucket, &|tx| match reserved {
                    Some(n) => Ok(n),
                    None => catalog::unreserved(tx, account),
                })
            })
            .await?;
        slot.map(Some)
            .ok_or(Error::TooManyRequests(pool.throttle()))
    }
}

/// The allocator's bucket for functions without reserved concurrency (`$` is not in function
/// names).
const ACCOUNT_BUCKET: &str = "$account";

async fn slots_loop(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some((store, Some(slots))) =
            inner.upgrade().map(|i| (i.store.clone(), i.slots.clone()))
        else {
            return;
        };
        if let Err(e) = store.run(move || slots.maintain()).await {
            tracing::debug!(error = %e, "lambda: could not maintain concurrency allocations");
        }
    }
}

/// How often a node looks for queued events that are due (retries, and events whose node
/// died).
const QUEUE_SWEEP: Duration = Duration::from_millis(500);

/// How many invocation records may wait for their destination; beyond that a record is
/// dropped with a warning (a record holds up to two 256 KB payloads).
const DESTINATION_BACKLOG: usize = 1024;

/// Invokes each destination with its invocation record, asynchronously (a destination that
/// is gone or refuses is logged: Lambda drops such records too). Ends with the service.
async fn destination_loop(
    inner: Weak<Inner>,
    mut records: tokio::sync::mpsc::Receiver<(String, serde_json::Value)>,
) {
    while let Some((destination, record)) = records.recv().await {
        let Some(me) = inner.upgrade() else { return };
        let request = crate::invoker::InvokeRequest {
            function: destination.clone(),
            qualifier: None,
            payload: bytes::Bytes::from(record.to_string()),
            kind: crate::invoker::InvocationType::Event,
            tail: false,
            client_context: None,
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        if let Err(e) = crate::dispatch::invoke(&me, request).await {
            tracing::warn!(destination, error = %e, "lambda: could not deliver an invocation record to its destination");
        }
    }
}

async fn queue_loop(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(me) = inner.upgrade() else { return };
        let store = me.store.clone();
        match me.store.run(move || crate::queue::due(&store)).await {
            Ok(items) => {
                for (key, item) in items {
                    crate::dispatch::spawn_stored(&me, key, item.function);
                }
            }
            Err(e) => tracing::debug!(error = %e, "lambda: could not read the event queue"),
        }
    }
}

async fn scale_in_loop(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = crate::provisioned::maintain(&inner).await {
            tracing::debug!(error = %e, "lambda: could not keep provisioned concurrency");
        }
        let pools: Vec<Arc<Pool>> = inner
            .pools
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default();
        for pool in pools {
            let stopped = pool.scale_in(inner.config.idle_timeout);
            if stopped > 0 {
                tracing::debug!(function = %pool.record.name, stopped, "lambda: scaled in idle environments");
            }
        }
    }
}
