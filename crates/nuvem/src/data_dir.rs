//! The data dir at start-up, and `nuvem repair`.
//!
//! Opening a store creates one wherever there is none, and the object store removes blobs no
//! metadata refers to: together they once turned a lost `store/` into an empty store and then
//! deleted every object's data. So start-up looks before it opens: a data dir that holds
//! blobs, or records that a store was created in it (the `store-created` file), must have a
//! readable store, or nuvem refuses to start and says what to do. Deleting unreferenced blobs
//! beyond the object store's small start-up limit is `nuvem repair --yes`, which first lists
//! them.
//!
//! Must not: delete anything without `--yes`, or decide for the operator that data is gone.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nuvem_s3::store::blobs::BlobDir;
use nuvem_store::{Durability, FjallEngine, OnDisk, Store};
use nuvem_store_pg::{PgEngine, PgOptions};

use crate::config::Storage;

/// When nuvem runs as root, function environments run as users of their own (issue 17):
/// the data dir becomes traversable only (0711), so they can reach their private code copies
/// under `functions/`, and everything else in it (store, blobs, TLS key, edge cache) is closed
/// to other users (0700 folders, 0600 files). `functions/` closes its own insides. Called
/// once the services created their folders; a no-op when not root.
pub fn close_to_others(data_dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if !nuvem_functions::isolation::running_as_root() {
        return;
    }
    let set = |p: &Path, mode: u32| {
        if let Err(e) = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)) {
            tracing::warn!(error = %e, path = %p.display(), "could not close a data dir entry to other users");
        }
    };
    set(data_dir, 0o711);
    for entry in std::fs::read_dir(data_dir).into_iter().flatten().flatten() {
        if entry.file_name() == "functions" {
            continue;
        }
        let dir = entry.file_type().is_ok_and(|t| t.is_dir());
        set(&entry.path(), if dir { 0o700 } else { 0o600 });
    }
}

/// Written beside `store/` once a store was opened there: from then on a missing or empty
/// `store/` is a lost store, not a new data dir.
const MARKER: &str = "store-created";

fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Where the object store keeps its blobs (the binary wires `s3/` under the data dir).
pub fn s3_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("s3")
}

/// The master key of encryption at rest (SSE-S3 data keys, KMS key material), from `file`,
/// which is created with 32 random bytes (mode 0600, its directory 0700) when missing. It
/// lives outside the blob directory and the store, so blob files or a copy of the database
/// alone never decrypt.
pub fn master_key(file: &Path) -> anyhow::Result<[u8; 32]> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if !file.exists() {
        if let Some(dir) = file.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let key = nuvem_s3::store::sealing::MasterKey::generate()?;
        // Written whole to a temp file, then linked into place: a crash never leaves a short
        // key file, and of two processes starting at once the first link wins.
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(&key)?;
        f.sync_all()?;
        drop(f);
        let linked = std::fs::hard_link(&tmp, file);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                if let Some(dir) = file.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                tracing::info!(file = %file.display(), "created the master key of encryption at rest");
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating the master key {}", file.display()));
            }
        }
    }
    let bytes = std::fs::read(file)
        .with_context(|| format!("reading the master key {}", file.display()))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        anyhow::anyhow!(
            "the master key {} must hold exactly 32 bytes",
            file.display()
        )
    })
}

/// Opens the store for `nuvem up`: the embedded one of `data_dir`, refusing when what is on
/// disk says a store was lost or is unreadable, or the PostgreSQL one, refusing an empty
/// database beside blobs (their metadata is elsewhere: another database, or the embedded
/// store of this data dir).
pub fn open_store(
    data_dir: &Path,
    storage: &Storage,
    durability: Durability,
) -> anyhow::Result<Store> {
    let Storage::Postgres(url) = storage else {
        return open_embedded(data_dir, durability);
    };
    let store = open_postgres(url, storage)?;
    if store.is_empty().context("reading the store")? {
        let blobs = count_blobs(data_dir)?;
        if blobs > 0 {
            bail!(
                "refusing to start: the database {} holds no nuvem data, but this data dir holds \
                 {blobs} object blob file(s) under {}: their metadata lives elsewhere (another \
                 database, or the embedded store in {}). Starting would lose track of them. \
                 Point --storage at the database that describes them, or use another data dir",
                storage.describe(),
                s3_dir(data_dir).join("blobs").display(),
                store_dir(data_dir).display(),
            );
        }
    }
    Ok(store)
}

fn open_postgres(url: &str, storage: &Storage) -> anyhow::Result<Store> {
    let (url, rootcert) = nuvem_store_pg::libpq_url(url);
    let mut options = PgOptions::new(url);
    if let Some(path) = rootcert {
        use rustls_pki_types::{CertificateDer, pem::PemObject};
        let certs = CertificateDer::pem_file_iter(&path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow::anyhow!("reading sslrootcert {path} of --storage: {e}"))?;
        options.extra_roots = certs.into_iter().map(|c| c.to_vec()).collect();
    }
    let engine = PgEngine::open(options)
        .with_context(|| format!("opening the store in {}", storage.describe()))?;
    Ok(Store::new(engine))
}

fn open_embedded(data_dir: &Path, durability: Durability) -> anyhow::Result<Store> {
    let dir = store_dir(data_dir);
    let on_disk = FjallEngine::on_disk(&dir)
        .with_context(|| format!("looking at the store in {}", dir.display()))?;
    let marker = data_dir.join(MARKER).exists();
    let what = match on_disk {
        OnDisk::Missing => Some("is missing"),
        OnDisk::Empty => Some("is empty"),
        OnDisk::Unrecognized => Some("holds files but no store (its `version` marker is gone)"),
        OnDisk::Present => None,
    };
    if let Some(what) = what {
        let blobs = count_blobs(data_dir)?;
        if blobs > 0 || marker {
            bail!(refusal(data_dir, what, blobs));
        }
    }
    let engine = FjallEngine::open(&dir, durability).map_err(|e| {
        anyhow::anyhow!(
            "refusing to start: the store in {} is unreadable ({e}). A store nuvem cannot read \
             may still describe data, so nothing was changed. Restore {} from a backup; or, to \
             give up what it held, move it aside and run `nuvem repair --data-dir {}` to list \
             the blobs no store refers to",
            dir.display(),
            dir.display(),
            data_dir.display(),
        )
    })?;
    let store = Store::new(engine);
    // A store that opened but holds nothing at all, beside blobs, lost its data too.
    if store.is_empty().context("reading the store")? {
        let blobs = count_blobs(data_dir)?;
        if blobs > 0 {
            bail!(refusal(data_dir, "holds nothing", blobs));
        }
    }
    if !marker {
        write_marker(data_dir)?;
    }
    Ok(store)
}

fn count_blobs(data_dir: &Path) -> anyhow::Result<usize> {
    let s3 = s3_dir(data_dir);
    let files =
        BlobDir::scan(&s3).with_context(|| format!("looking at the blobs in {}", s3.display()))?;
    Ok(files.len())
}

/// Takes the data dir's lock for as long as the returned file is open: one nuvem per data dir,
/// and `nuvem repair` never beside a running nuvem (whose blobs in flight are unreferenced
/// until their commit).
pub fn lock(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join("nuvem.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another nuvem is using the data dir {} (it holds {}); stop it first",
            data_dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

fn refusal(data_dir: &Path, what: &str, blobs: usize) -> String {
    let dir = store_dir(data_dir);
    let evidence = if blobs > 0 {
        format!(
            "this data dir holds {blobs} object blob file(s) under {}",
            s3_dir(data_dir).join("blobs").display()
        )
    } else {
        format!(
            "this data dir records that a store was created in it ({})",
            data_dir.join(MARKER).display()
        )
    };
    format!(
        "refusing to start: the store {} {what}, but {evidence}. Starting would serve an empty \
         store and lose track of that data. Restore {} from a backup; or, to give up the data \
         it described, run `nuvem repair --data-dir {}` to see what would be deleted, then \
         `nuvem repair --data-dir {} --yes`",
        dir.display(),
        dir.display(),
        data_dir.display(),
        data_dir.display(),
    )
}

fn write_marker(data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join(MARKER);
    let text = format!(
        "nuvem {} created the store in store/ here. While this file exists, nuvem refuses to \
         start if store/ is missing or empty (see `nuvem repair`).\n",
        env!("CARGO_PKG_VERSION")
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

#[derive(clap::Args, Debug)]
pub struct RepairArgs {
    /// The manifest whose data dir is repaired. Default: ./nuvem.toml if present, else the
    /// bundled example.
    #[arg(long, env = "NUVEM_MANIFEST")]
    pub manifest: Option<PathBuf>,
    /// The data dir to repair. Default: the one `nuvem up` would use.
    #[arg(long, env = "NUVEM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store whose references count: as for `nuvem up` (`embedded` or a PostgreSQL URL).
    #[arg(long, env = "NUVEM_STORAGE")]
    pub storage: Option<String>,
    /// Delete what is listed. Without it, repair only lists and changes nothing.
    #[arg(long)]
    pub yes: bool,
}

/// Lists the blob files no store metadata refers to and, with `yes`, deletes them and makes
/// sure a store exists, so that `nuvem up` starts again. nuvem must not be running on the
/// same data dir.
pub fn repair(
    data_dir: &Path,
    storage: &Storage,
    durability: Durability,
    yes: bool,
) -> anyhow::Result<()> {
    if !data_dir.is_dir() {
        bail!("no data dir at {}", data_dir.display());
    }
    let _lock = lock(data_dir)?;
    let dir = store_dir(data_dir);
    let store = match storage {
        Storage::Postgres(url) => Some(open_postgres(url, storage)?),
        Storage::Embedded => {
            let on_disk = FjallEngine::on_disk(&dir)
                .with_context(|| format!("looking at the store in {}", dir.display()))?;
            // Only an existing store is opened before the operator said yes: opening creates one.
            match on_disk {
                OnDisk::Present => Some(Store::new(
                    FjallEngine::open(&dir, durability).with_context(|| {
                        format!(
                            "opening the store in {} (is nuvem running on it?)",
                            dir.display()
                        )
                    })?,
                )),
                OnDisk::Missing | OnDisk::Empty => {
                    println!(
                        "the store {} is {}: no blob is referenced",
                        dir.display(),
                        if on_disk == OnDisk::Missing {
                            "missing"
                        } else {
                            "empty"
                        }
                    );
                    None
                }
                OnDisk::Unrecognized => bail!(
                    "{} holds files but no store (its `version` marker is gone); nuvem cannot tell what \
                     it held. Restore it from a backup, or move it aside and run repair again",
                    dir.display()
                ),
            }
        }
    };
    let s3 = s3_dir(data_dir);
    let orphans = nuvem_s3::store::garbage::unreferenced(store.as_ref(), &s3)
        .with_context(|| format!("listing the blobs in {}", s3.display()))?;
    let bytes: u64 = orphans.iter().map(|f| f.len).sum();
    for f in &orphans {
        println!("  {}  {} bytes", f.path.display(), f.len);
    }
    if !yes {
        if orphans.is_empty() && store.is_some() {
            println!("nothing to repair: every blob is referenced by the store");
        } else {
            println!(
                "{} unreferenced blob file(s), {bytes} bytes, would be deleted{}. Nothing was \
                 changed; run `nuvem repair --data-dir {} --yes` to do it",
                orphans.len(),
                if store.is_none() {
                    " and an empty store created"
                } else {
                    ""
                },
                data_dir.display()
            );
        }
        return Ok(());
    }
    BlobDir::remove_files(&orphans).context("deleting unreferenced blobs")?;
    println!(
        "deleted {} unreferenced blob file(s), {bytes} bytes",
        orphans.len()
    );
    let store = match store {
        Some(s) => s,
        None => {
            let s = Store::new(
                FjallEngine::open(&dir, durability)
                    .with_context(|| format!("creating the store in {}", dir.display()))?,
            );
            println!("created an empty store in {}", dir.display());
            s
        }
    };
    store.sync().context("flushing the store")?;
    if *storage == Storage::Embedded {
        write_marker(data_dir)?;
    }
    Ok(())
}
