//! The `nuvem` binary: command line, configuration, and wiring the services to their
//! listeners. Thin on purpose: the services, the AWS protocol and the storage engine live
//! in their own crates; this file only decides what runs where.

mod authorize;
mod build;
mod cli_client;
mod config;
mod console;
mod data_dir;
mod edge;
mod endpoint;
mod function_url;
mod init;
mod invalidate;
mod listen;
mod logs_cli;
mod metrics;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, Manifest, Overrides, Storage};

const EXAMPLES: &str = "\
Examples:
  nuvem up                                   serve the bundled example site (or ./nuvem.toml)
  nuvem up --manifest site/nuvem.toml        serve your own project
  nuvem up --api-addr 127.0.0.1:0            pick free ports (printed at start)
  nuvem init mysite                          start your own site from the example
  nuvem logs api --follow                    print function `api`'s logs as they come
  nuvem repair --data-dir .nuvem             list blobs no store refers to (--yes deletes them)
  nuvem vpn-keygen                           a WireGuard key pair for [network.vpn] or a peer
  aws --endpoint-url http://127.0.0.1:4566 dynamodb list-tables
      (credentials: access key `test`, secret `test`, unless the manifest says otherwise)";

#[derive(Parser, Debug)]
#[command(name = "nuvem", version, about = "The serverless web stack (edge, WAF, object store, API gateway, functions, tables) in one program that speaks the AWS APIs.", after_help = EXAMPLES)]
struct Cli {
    /// Log filter, like RUST_LOG (`info`, `nuvem=debug`).
    #[arg(long, global = true, env = "NUVEM_LOG")]
    log: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "NUVEM_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Deploy what the manifest declares and serve it until Ctrl-C.
    #[command(after_help = EXAMPLES)]
    Up(UpArgs),
    /// Clear paths ('/images/*') from every edge location of a running nuvem
    /// (CloudFront's CreateInvalidation on its AWS endpoint).
    Invalidate(invalidate::InvalidateArgs),
    /// Print a function's log events (its CloudWatch Logs group `/aws/lambda/NAME`) from a
    /// running nuvem, through the Logs API on its AWS endpoint; --follow keeps printing.
    Logs(logs_cli::LogsArgs),
    /// Write a new project (manifest, WebACL, static site, Rust API function) from the
    /// bundled example, to start your own site.
    Init(init::InitArgs),
    /// List the object blobs no store metadata refers to (what `nuvem up` refuses to delete
    /// on its own) and, with --yes, delete them. Stop nuvem first.
    Repair(data_dir::RepairArgs),
    /// Print a new WireGuard key pair: the private key for `[network.vpn] private_key` (or
    /// a peer's `PrivateKey`), the public key for the other side's configuration.
    VpnKeygen,
}

#[derive(clap::Args, Debug)]
struct UpArgs {
    /// The manifest. Default: ./nuvem.toml if present, else the bundled example.
    #[arg(long, env = "NUVEM_MANIFEST")]
    manifest: Option<PathBuf>,
    /// Where state lives. Default: `.nuvem` beside the manifest.
    #[arg(long, env = "NUVEM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The AWS-compatible endpoint. Default 127.0.0.1:4566 (private).
    #[arg(long, env = "NUVEM_API_ADDR")]
    api_addr: Option<std::net::SocketAddr>,
    /// Also serve the AWS endpoint over TLS here.
    #[arg(long, env = "NUVEM_API_TLS_ADDR")]
    api_tls_addr: Option<std::net::SocketAddr>,
    /// The public edge. Default 0.0.0.0:8080.
    #[arg(long, env = "NUVEM_EDGE_ADDR")]
    edge_addr: Option<std::net::SocketAddr>,
    /// Where the store lives: `embedded` (default, in the data dir) or a PostgreSQL URL
    /// (`postgres://user:password@host:5432/db`) for PostgreSQL, CockroachDB or YugabyteDB.
    #[arg(long, env = "NUVEM_STORAGE")]
    storage: Option<String>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref(), cli.log_format);
    let result = match cli.command {
        Command::Up(args) => up(args),
        Command::Invalidate(args) => invalidate::run(args),
        Command::Logs(args) => logs_cli::run(args),
        Command::Init(args) => init::run(args),
        Command::Repair(args) => repair(args),
        Command::VpnKeygen => {
            let key = nuvem_vpn::Key::generate();
            println!("private_key = \"{}\"", key.to_base64());
            println!("public_key  = \"{}\"", key.public().to_base64());
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nuvem: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: Option<&str>, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = match filter {
        Some(f) => EnvFilter::new(without_s3s(f)),
        None => std::env::var("RUST_LOG")
            .ok()
            .and_then(|f| EnvFilter::try_new(without_s3s(&f)).ok())
            .unwrap_or_else(|| EnvFilter::new("warn,nuvem=info,s3s=off")),
    };
    // Whatever the filter asks for, `s3s=debug` included, s3s never logs below INFO: at DEBUG
    // it printed the signature it computed for a request whose signature failed (a valid
    // signature for that request, replayable) and prints whole requests with their credentials.
    let no_secrets = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target().starts_with("s3s") && *meta.level() > tracing::Level::INFO)
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.finish().with(no_secrets).init(),
        LogFormat::Json => builder.json().finish().with(no_secrets).init(),
    }
}

/// A filter with `s3s=off` added unless it names s3s itself: s3s logs every rejected request,
/// client errors included, at ERROR and in two lines, while nuvem-s3 logs each S3 failure once
/// (server errors at ERROR, an unimplemented operation at INFO, client errors at DEBUG).
fn without_s3s(filter: &str) -> String {
    if filter.split(',').any(|d| d.trim().starts_with("s3s")) {
        filter.to_string()
    } else {
        format!("{filter},s3s=off")
    }
}

/// The bundled example's manifest, and the folder its relative paths resolve against.
const EXAMPLE_MANIFEST: &str = include_str!("../../../examples/meusite/nuvem.toml");
const EXAMPLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/meusite");

fn load_manifest(path: Option<&Path>) -> anyhow::Result<(Manifest, PathBuf, String)> {
    let base_of = |p: &Path| {
        p.parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    };
    match path {
        Some(p) => Ok((Manifest::load(p)?, base_of(p), p.display().to_string())),
        None if Path::new("nuvem.toml").exists() => Ok((
            Manifest::load(Path::new("nuvem.toml"))?,
            PathBuf::from("."),
            "nuvem.toml".into(),
        )),
        None => {
            let manifest =
                Manifest::parse(EXAMPLE_MANIFEST).context("the bundled example manifest")?;
            // The example's files are read from the source tree when it is there; the data
            // dir goes to the current folder, never into the source tree.
            Ok((
                manifest,
                PathBuf::from(EXAMPLE_DIR),
                "bundled example (examples/meusite)".into(),
            ))
        }
    }
}

/// The manifest and its resolved configuration, as `up` and `repair` both see them.
fn resolve(manifest: Option<&Path>, overrides: Overrides) -> anyhow::Result<(Config, String)> {
    let (parsed, base_dir, source) = load_manifest(manifest)?;
    let example = manifest.is_none() && source.starts_with("bundled");
    let overrides = Overrides {
        data_dir: overrides
            .data_dir
            .or_else(|| example.then(|| PathBuf::from(".nuvem"))),
        ..overrides
    };
    Ok((Config::resolve(parsed, base_dir, overrides)?, source))
}

fn repair(args: data_dir::RepairArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        data_dir: args.data_dir,
        storage: args.storage,
        ..Overrides::default()
    };
    let (config, _) = resolve(args.manifest.as_deref(), overrides)?;
    data_dir::repair(
        &config.data_dir,
        &config.storage,
        config.durability,
        args.yes,
    )
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let overrides = Overrides {
        api_addr: args.api_addr,
        api_tls_addr: args.api_tls_addr,
        edge_addr: args.edge_addr,
        data_dir: args.data_dir,
        storage: args.storage,
    };
    let (config, source) = resolve(args.manifest.as_deref(), overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(config, source, started))
}

async fn run(config: Config, source: String, started: Instant) -> anyhow::Result<()> {
    // Install the signal handlers before anything is announced: a SIGTERM that arrives
    // right after "ready" must shut down gracefully, not kill the process.
    let shutdown = shutdown_signal()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let _lock = data_dir::lock(&config.data_dir)?;
    // Before anything is created in it, so nothing is ever open to function users.
    data_dir::close_to_others(&config.data_dir);
    // Start-up: nothing serves yet, so the database round trips may block this thread.
    let store = nuvem_store::Store::blocking(|| {
        data_dir::open_store(&config.data_dir, &config.storage, config.durability)
    })?;

    // Raised before the listener budgets are derived from it: one client holding a thousand
    // sockets must not exhaust a 1024-descriptor soft limit.
    let fd_limit = listen::raise_fd_limit();
    let limits = config.manifest.server.limits.resolve(fd_limit)?;
    let listeners = Arc::new(listen::Listeners {
        api: nuvem_waf::shield::Gate::with_ingress(limits.api, config.ingress.clone()),
        edge: nuvem_waf::shield::Gate::new(limits.edge),
        fd_limit,
        vpn: std::sync::OnceLock::new(),
    });

    let mut endpoint = endpoint::Endpoint::new(
        config.keyring.clone(),
        store.clone(),
        config.max_buffered_bytes,
        if config.metrics {
            metrics::Metrics::new()
        } else {
            metrics::Metrics::off()
        },
    );
    endpoint.set_listeners(listeners.clone());
    endpoint.set_metrics_token(config.metrics_token.as_ref().map(|t| t.0.clone()));
    // The one-time link signs in as the manifest's first key (the root credentials).
    let link_key = config
        .manifest
        .credentials
        .first()
        .map(|c| (c.access_key_id.clone(), c.secret_access_key.clone()))
        .unwrap_or_else(|| ("test".into(), "test".into()));
    let console = Arc::new(console::Console::new(config.region.clone(), link_key));
    endpoint.set_console(console.clone());
    let metrics = endpoint.metrics();
    // One watcher per node: what other nodes sharing the store change reaches the services
    // that keep it in memory. Primed before they load, so no change falls in between.
    let watcher = nuvem_store::cluster::Watcher::new(store.clone());
    // Start-up runs on the thread that drives `run`, before any listener serves: its store
    // calls may block (on a database round trip) without stalling a request.
    let (services, edge) = nuvem_store::Store::blocking(|| {
        watcher.poll().context("reading the change counters")?;
        let services = services::register(&mut endpoint, &store, &config)?;
        let edge = edge::build(&config, &mut endpoint, &services)?;
        services.waf.follow(&watcher);
        services.gateway.follow(&watcher);
        services.functions.follow(&watcher);
        if let Some(edge) = &edge {
            edge.share_invalidations(store.clone(), nuvem_store::cluster::node_id())
                .map_err(|e| anyhow::anyhow!("registering the edge's invalidations: {e}"))?;
            // An UpdateDistribution made before this start (or on another node).
            edge.load_config(true);
            edge.follow(&watcher);
        }
        anyhow::Ok((services, edge))
    })?;
    let watch = tokio::spawn(watcher.watch(config.watch_interval));
    // DynamoDB's expired items and stream records past retention, on one node at a time.
    let dynamo_sweep = tokio::spawn(
        nuvem_dynamo::DynamoService::clone(&services.dynamo).sweep_forever(config.ttl_sweep),
    );
    // Log events past their group's retention, on one node at a time.
    let logs_sweep = tokio::spawn(services.logs.clone().sweep_forever(config.ttl_sweep));
    // Application Auto Scaling's scaler, on one node at a time.
    let scaler = tokio::spawn(services.autoscaling.clone().scale_forever());
    // S3 lifecycle rules (expiry, noncurrent versions, incomplete uploads), on one node at a time.
    let lifecycle_sweep = tokio::spawn(
        services
            .s3
            .objects()
            .clone()
            .lifecycle_forever(config.lifecycle_sweep),
    );
    // The edge's heartbeat: other nodes count it among those an invalidation waits for.
    let heartbeat = edge.clone().filter(|_| store.is_remote()).map(|edge| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(nuvem_edge::HEARTBEAT);
            loop {
                tick.tick().await;
                let edge = edge.clone();
                store.run(move || edge.sync_invalidations()).await;
            }
        })
    });
    let endpoint = Arc::new(endpoint);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    let api = listen::bind(config.api_addr, "AWS endpoint").await?;
    let api_addr = api.local_addr()?;
    services.gateway.set_endpoint_port(api_addr.port());
    // Functions reach nuvem's tables and buckets through AWS_ENDPOINT_URL.
    services
        .functions
        .set_aws_endpoint(format!("http://{api_addr}"));
    services.functions.set_private_plane(vec![api_addr]);
    tasks.spawn(listen::serve(
        api,
        None,
        endpoint.clone(),
        listeners.api.clone(),
        stop_rx.clone(),
    ));
    let mut tls_line = None;
    let mut tls_port = None;
    if let Some(addr) = config.api_tls_addr {
        let (acceptor, cert) = tls::acceptor(config.tls_cert.as_ref(), &config.data_dir)?;
        let l = listen::bind(addr, "AWS endpoint (TLS)").await?;
        tls_line = Some((l.local_addr()?, cert));
        // Functions in a network namespace of their own reach the TLS endpoint too.
        services
            .functions
            .set_private_plane(vec![api_addr, l.local_addr()?]);
        tls_port = Some((l.local_addr()?.port(), acceptor.clone()));
        tasks.spawn(listen::serve(
            l,
            Some(acceptor),
            endpoint.clone(),
            listeners.api.clone(),
            stop_rx.clone(),
        ));
    }
    // The VPN: its peers reach the private listeners' ports at nuvem's inner address, served
    // in process by the same endpoint under the same gate (security group included).
    let vpn = match &config.vpn {
        Some(vpn) => {
            let mut vpn = vpn.clone();
            vpn.ports = std::iter::once(api_addr.port())
                .chain(tls_port.as_ref().map(|(p, _)| *p))
                .collect();
            vpn.ports.dedup();
            let ports = vpn.ports.clone();
            let (handle, incoming) = nuvem_vpn::Vpn::start(vpn).await?;
            tasks.spawn(listen::serve_tunnel(
                incoming,
                listen::TunnelPorts {
                    plain: api_addr.port(),
                    tls: tls_port,
                },
                endpoint.clone(),
                listeners.api.clone(),
                stop_rx.clone(),
            ));
            let _ = listeners.vpn.set(handle);
            Some(ports)
        }
        None => None,
    };
    let edge_handle = edge.clone();
    let edge_locations = edge::start(
        &config,
        edge,
        &listeners.edge,
        &mut tasks,
        &stop_rx,
        metrics,
    )
    .await?;

    // Nodes starting at once on one database apply the manifest one after the other.
    let lease = services::ApplyLease::take(&store).await?;
    let builds = nuvem_store::Store::blocking(|| services::apply_manifest(&config, &services))?;
    services::apply_buckets(&config, &services).await?;
    lease.release().await;
    // Ready means applied: functions still building are `Pending` (their routes answer 503
    // with Retry-After, health lists them) and become available when their build is done.
    endpoint.set_ready();
    // Again, now that the services created their folders (store, blobs, TLS key, caches).
    data_dir::close_to_others(&config.data_dir);

    // What a person (and the testkit, which reads these lines) needs to know.
    println!("nuvem {} — manifest: {source}", env!("CARGO_PKG_VERSION"));
    println!("  data dir      {}", config.data_dir.display());
    if config.storage != Storage::Embedded {
        println!("  storage       {}", config.storage.describe());
    }
    println!("  aws endpoint  http://{api_addr}");
    if let Some((addr, cert)) = &tls_line {
        println!(
            "  aws endpoint  https://{addr}  (certificate: {})",
            cert.display()
        );
    }
    if let (Some(ports), Some(spec), Some(handle)) = (&vpn, &config.vpn, listeners.vpn.get()) {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        println!(
            "  vpn           udp://{}  (WireGuard, {} peer(s); inside: {} port {}; public key {})",
            handle.local_addr(),
            spec.peers.len(),
            spec.address,
            ports.join(", "),
            handle.public_key().to_base64()
        );
    }
    for (i, l) in edge_locations.iter().enumerate() {
        // The first listener is "the edge" (the testkit reads that line); the others are
        // listed by location name.
        if i == 0 {
            println!("  edge          {}  (location {})", l.url, l.location);
        } else {
            println!("  location      {}  ({})", l.url, l.location);
        }
    }
    if config.manifest.distribution.is_some()
        && let Some(first) = edge_locations.first()
    {
        // A wildcard listen address is not something to type into a browser.
        let url = first.url.replace("0.0.0.0", "localhost");
        println!("  open:         {url}/");
    }
    if !config.manifest.functions.is_empty() {
        // Said, never left silent: what separates functions from each other and from nuvem.
        let peer_check = if std::path::Path::new("/proc/net/tcp").exists() {
            "Runtime APIs answer only their environment's processes"
        } else {
            "no /proc: Runtime APIs cannot check their peers"
        };
        let isolation = services.functions.isolation();
        println!("  isolation     {isolation}; {peer_check}");
    }
    if let Some(link) = console.link() {
        // Like Jupyter's token: opened once, it becomes a session cookie (see `console`).
        let host = api_addr.to_string().replace("0.0.0.0", "localhost");
        println!(
            "  console       http://{host}{link}  (one use; signs in as access key {})",
            console.link_identity()
        );
    }
    println!("  try:          aws --endpoint-url http://{api_addr} dynamodb list-tables");
    println!("ready in {} ms", started.elapsed().as_millis());
    let running = build::Running::default();
    if !builds.is_empty() {
        let functions = services.functions.clone();
        let running = running.clone();
        std::thread::Builder::new()
            .name("function builds".into())
            .spawn(move || services::build_functions(&functions, builds, &running))
            .context("starting the function builds")?;
    }

    shutdown.await;
    println!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    running.stop_all();
    while tasks.join_next().await.is_some() {}
    watch.abort();
    dynamo_sweep.abort();
    scaler.abort();
    lifecycle_sweep.abort();
    logs_sweep.abort();
    if let Some(heartbeat) = heartbeat {
        heartbeat.abort();
    }
    if let Some(edge) = &edge_handle {
        nuvem_store::Store::blocking(|| edge.leave());
    }
    // Function environments run in process groups of their own, out of reach of the
    // terminal's Ctrl-C: stop them (and whatever they spawned) explicitly.
    services.functions.shutdown();
    store.sync().context("flushing storage")?;
    println!("stopped");
    Ok(())
}

/// Listens for Ctrl-C and (on Unix) SIGTERM from the moment it is called; the returned
/// future completes on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

mod services;
