//! Deployment packages kept in the store, for a store that several nodes share: every node
//! must be able to run a function whose zip another node received.
//!
//! A package is content-addressed by the hex SHA-256 of its zip: chunks of at most 1 MiB
//! under `lambda/pkg/<hex>/c/<index, 4 bytes BE>`, then a head `lambda/pkg/<hex>/h` (size,
//! chunk count) written last, each in a transaction of its own (a 50 MB zip is never one
//! transaction). The function record that points at a package is written after its head, and
//! that transaction checks that the head is there; collecting a package checks, in the
//! transaction that deletes it, that no record points at it. So a record never names a
//! package that is gone, whichever of the two commits first (the writer uploads again).
//!
//! Each node unpacks a package on first use into `<code_dir>/.pkg/<hex>/` (unpacked into a
//! temporary folder and renamed, after checking the zip's digest), and removes the folders of
//! packages no function uses any more. Must not: know about processes or HTTP.

use std::path::{Path, PathBuf};

use nuvem_store::{Direction, KeyRange, Read, Store, Tx};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::{CodeLocation, FunctionRecord};

const PREFIX: &[u8] = b"lambda/pkg/";
/// The largest value a chunk is (1 MiB).
pub const CHUNK: usize = 1 << 20;

fn head_key(hex: &str) -> Vec<u8> {
    [PREFIX, hex.as_bytes(), b"/h"].concat()
}

fn chunk_key(hex: &str, i: u32) -> Vec<u8> {
    [PREFIX, hex.as_bytes(), b"/c/", &i.to_be_bytes()].concat()
}

fn package_prefix(hex: &str) -> Vec<u8> {
    [PREFIX, hex.as_bytes(), b"/"].concat()
}

/// The folder a node unpacks packages into, beside the per-function folders of the embedded
/// layout (`.` cannot start a function name, so the two never meet).
pub fn local_root(code_dir: &Path) -> PathBuf {
    code_dir.join(".pkg")
}

/// Stores `zip` (unless it is there already) and returns its hex digest. Call before the
/// transaction that makes a record point at it.
pub fn put(store: &Store, zip: &[u8]) -> Result<String> {
    let hex = hex::encode(Sha256::digest(zip));
    if store.get(&head_key(&hex))?.is_some() {
        return Ok(hex);
    }
    let chunks: Vec<&[u8]> = zip.chunks(CHUNK).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        store.apply(&[(chunk_key(&hex, i as u32), Some(chunk.to_vec()))])?;
    }
    let mut head = (zip.len() as u64).to_be_bytes().to_vec();
    head.extend_from_slice(&(chunks.len() as u32).to_be_bytes());
    store.apply(&[(head_key(&hex), Some(head))])?;
    Ok(hex)
}

/// Whether the package is complete in the store, read inside the transaction that writes a
/// record pointing at it (so that it conflicts with [`collect`]).
pub fn exists(tx: &dyn Read, hex: &str) -> Result<bool> {
    Ok(tx.get(&head_key(hex))?.is_some())
}

/// Reads a package back, checking its digest.
pub fn get(store: &Store, hex: &str) -> Result<Vec<u8>> {
    let snap = store.snapshot();
    let head = snap
        .get(&head_key(hex))?
        .ok_or_else(|| Error::Corrupt(format!("package {hex} is not in the store")))?;
    let (size, count) = head
        .split_at_checked(8)
        .and_then(|(s, c)| Some((s.try_into().ok()?, c.try_into().ok()?)))
        .map(|(s, c)| (u64::from_be_bytes(s), u32::from_be_bytes(c)))
        .ok_or_else(|| Error::Corrupt(format!("package {hex}: bad head")))?;
    let mut zip = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    for i in 0..count {
        let chunk = snap
            .get(&chunk_key(hex, i))?
            .ok_or_else(|| Error::Corrupt(format!("package {hex}: chunk {i} missing")))?;
        zip.extend_from_slice(&chunk);
    }
    if zip.len() as u64 != size || hex::encode(Sha256::digest(&zip)) != hex {
        return Err(Error::Corrupt(format!(
            "package {hex}: the stored bytes do not match its digest"
        )));
    }
    Ok(zip)
}

fn referenced(tx: &dyn Read, hex: &str) -> Result<bool> {
    // Functions' `$LATEST` and their published versions.
    for prefix in [crate::catalog::PREFIX, crate::versions::VERSION_PREFIX] {
        for entry in tx.scan(KeyRange::prefix(prefix), Direction::Forward) {
            let (_, v) = entry?;
            if let Ok(r) = serde_json::from_slice::<FunctionRecord>(&v)
                && (r.code == CodeLocation::Package(hex.to_owned())
                    || r.layers.iter().any(|l| l.package == hex))
            {
                return Ok(true);
            }
        }
    }
    crate::layers::references(tx, hex)
}

/// Deletes a package that no function record points at (in one transaction with that
/// check); returns whether it did.
pub fn collect(store: &Store, hex: &str) -> Result<bool> {
    store.transact(|tx: &mut dyn Tx| {
        if referenced(&*tx, hex)? {
            return Ok(false);
        }
        let keys: Vec<Vec<u8>> = tx
            .scan(KeyRange::prefix(&package_prefix(hex)), Direction::Forward)
            .map(|e| e.map(|(k, _)| k))
            .collect::<nuvem_store::Result<_>>()?;
        for k in &keys {
            tx.delete(k);
        }
        Ok::<_, Error>(!keys.is_empty())
    })
}

/// The package's folder on this node, unpacking it from the store on first use.
pub fn materialise(store: &Store, code_dir: &Path, hex: &str) -> Result<PathBuf> {
    let folder = local_root(code_dir).join(hex);
    if folder.is_dir() {
        return Ok(folder);
    }
    let zip = get(store, hex)?;
    crate::catalog::unpack_into(&folder, &zip)?;
    tracing::debug!(package = hex, "lambda: unpacked a stored package");
    Ok(folder)
}

/// Removes the unpacked folders of packages that no record in `records` uses (best effort).
pub fn sweep_local(code_dir: &Path, records: &[FunctionRecord]) {
    let Ok(entries) = std::fs::read_dir(local_root(code_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let used = records
            .iter()
            .any(|r| matches!(&r.code, CodeLocation::Package(h) if *h == name));
        // A folder unpacked in the last minutes may belong to a function newer than
        // `records`.
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < std::time::Duration::from_secs(300));
        if !used && !recent && !name.starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nuvem_store::{Durability, FjallEngine};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(&dir.path().join("store"), Durability::Process).unwrap();
        (dir, Store::new(engine))
    }

    fn record(name: &str, code: CodeLocation) -> FunctionRecord {
        FunctionRecord {
            name: name.into(),
            runtime: "python3.12".into(),
            handler: Some("app.handler".into()),
            role: String::new(),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            environment: Default::default(),
            code,
            code_sha256: String::new(),
            code_size: 0,
            last_modified: String::new(),
            revision_id: String::new(),
            reserved_concurrency: None,
            architectures: Vec::new(),
            policy: Vec::new(),
            keys_fallback: true,
            vpc: None,
            event_invoke: None,
            layers: Vec::new(),
            version: None,
            last_version: 0,
        }
    }

    fn keys(store: &Store) -> usize {
        store
            .snapshot()
            .scan(KeyRange::prefix(PREFIX), Direction::Forward)
            .count()
    }

    fn zip(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("app.py", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(text.as_bytes()).unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_package_is_stored_in_chunks_once_and_read_back_checked() {
        let (_dir, store) = store();
        let bytes: Vec<u8> = (0..(CHUNK * 5 / 2)).map(|i| (i % 251) as u8).collect();
        let hex = put(&store, &bytes).unwrap();
        assert_eq!(hex, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(keys(&store), 4, "three chunks and the head");
        assert_eq!(put(&store, &bytes).unwrap(), hex, "stored once");
        assert_eq!(keys(&store), 4);
        assert_eq!(get(&store, &hex).unwrap(), bytes);
        // A chunk that changed underneath is caught by the digest.
        store
            .apply(&[(chunk_key(&hex, 1), Some(vec![0; CHUNK]))])
            .unwrap();
        assert!(matches!(get(&store, &hex), Err(Error::Corrupt(_))));
    }

    #[test]
    fn a_package_is_collected_only_when_no_record_points_at_it() {
        let (_dir, store) = store();
        let hex = put(&store, &zip("v1")).unwrap();
        let r = record("f", CodeLocation::Package(hex.clone()));
        crate::catalog::put(&store, &r, true, "arn").unwrap();
        assert!(!collect(&store, &hex).unwrap(), "f uses it");
        crate::catalog::delete(&store, "f").unwrap();
        assert!(collect(&store, &hex).unwrap());
        assert_eq!(keys(&store), 0);
        // A record may not point at a package that is gone.
        assert!(matches!(
            crate::catalog::put(&store, &r, true, "arn"),
            Err(Error::PackageGone(_))
        ));
    }

    #[test]
    fn each_node_unpacks_a_package_into_its_own_folder() {
        let (dir, store) = store();
        let hex = put(&store, &zip("print('hi')")).unwrap();
        let code_dir = dir.path().join("node-b/code");
        let folder = materialise(&store, &code_dir, &hex).unwrap();
        assert_eq!(folder, local_root(&code_dir).join(&hex));
        assert_eq!(
            std::fs::read_to_string(folder.join("app.py")).unwrap(),
            "print('hi')"
        );
        // Kept while a record uses it (and while it is recent).
        sweep_local(&code_dir, &[]);
        assert!(folder.is_dir(), "recently unpacked");
    }
}
