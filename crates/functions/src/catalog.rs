//! Functions at rest: the records in the store (`lambda/fn/<name>` → JSON [`FunctionRecord`])
//! and the deployment packages: on disk (`<data_dir>/code/<name>/<sha256>/`, unpacked zips)
//! with the embedded store, in the store itself with a shared one ([`crate::packages`]).
//! Every write of a record touches the function's change topic in the same transaction.
//!
//! A package is unpacked into a temporary folder and renamed into place before the record that
//! points at it is committed, so a crash never leaves a record naming half a package. Must not:
//! know about processes or HTTP.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use nuvem_store::{Direction, KeyRange, Read, Store};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::{CodeLocation, FunctionRecord};

pub const PREFIX: &[u8] = b"lambda/fn/";

/// Lambda's quota on the unzipped size of a package
/// (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
const MAX_UNZIPPED: u64 = 262_144_000;

/// The `S3Bucket` value that means "use the local path in `S3Key` in place", the LocalStack
/// convention for hot-reloading code, so `aws lambda create-function --code
/// S3Bucket=hot-reload,S3Key=/path` works with unchanged tools.
pub const HOT_RELOAD_BUCKET: &str = "hot-reload";

/// The change topic of a function: touched by every transaction that changes its record, so
/// that other nodes retire their warm environments for it.
pub fn topic(name: &str) -> String {
    format!("lambda/fn/{name}")
}

pub(crate) fn key(name: &str) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn get(store: &Store, name: &str) -> Result<Option<FunctionRecord>> {
    match store.get(&key(name))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("{name}: {e}"))),
    }
}

/// The record as `tx` sees it.
pub fn get_in(tx: &dyn Read, name: &str) -> Result<Option<FunctionRecord>> {
    match tx.get(&key(name))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("{name}: {e}"))),
    }
}

/// All functions in name order.
pub fn list(store: &Store) -> Result<Vec<FunctionRecord>> {
    let snap = store.snapshot();
    snap.scan(KeyRange::prefix(PREFIX), Direction::Forward)
        .map(|entry| {
            let (k, v) = entry?;
            serde_json::from_slice(&v)
                .map_err(|e| Error::Corrupt(format!("{}: {e}", String::from_utf8_lossy(&k))))
        })
        .collect()
}

/// The account's unreserved concurrency as `tx` sees it: the account limit minus every
/// function's reserved concurrency (what functions without a reservation share).
pub fn unreserved(tx: &dyn Read, account: u32) -> Result<u32> {
    let mut reserved = 0u32;
    for entry in tx.scan(KeyRange::prefix(PREFIX), Direction::Forward) {
        let (k, v) = entry?;
        let r: FunctionRecord = serde_json::from_slice(&v)
            .map_err(|e| Error::Corrupt(format!("{}: {e}", String::from_utf8_lossy(&k))))?;
        reserved = reserved.saturating_add(r.reserved_concurrency.unwrap_or(0));
    }
    Ok(account.saturating_sub(reserved))
}

/// Writes `record`. With `must_be_new`, fails if the function exists; otherwise it must exist
/// (the check and the write are one transaction).
pub fn put(store: &Store, record: &FunctionRecord, must_be_new: bool, arn: &str) -> Result<()> {
    let value = serde_json::to_vec(record).map_err(|e| Error::Corrupt(e.to_string()))?;
    let k = key(&record.name);
    store.transact(|tx| {
        let exists = tx.get(&k)?.is_some();
        if must_be_new && exists {
            return Err(Error::FunctionExists(record.name.clone()));
        }
        if !must_be_new && !exists {
            return Err(Error::FunctionNotFound(arn.to_string()));
        }
        if let CodeLocation::Package(hex) = &record.code
            && !crate::packages::exists(&*tx, hex)?
        {
            return Err(Error::PackageGone(hex.clone()));
        }
        // A layer version deleted meanwhile keeps its package only while a function uses it.
        for layer in &record.layers {
            if !crate::packages::exists(&*tx, &layer.package)? {
                return Err(Error::InvalidParameter(format!(
                    "Layer version {} does not exist.",
                    layer.arn
                )));
            }
        }
        tx.put(&k, &value);
        nuvem_store::cluster::touch(tx, &topic(&record.name))?;
        Ok(())
    })
}

/// Deletes a record; false if there was none.
pub fn delete(store: &Store, name: &str) -> Result<bool> {
    let k = key(name);
    store.transact(|tx| {
        let existed = tx.get(&k)?.is_some();
        tx.delete(&k);
        nuvem_store::cluster::touch(tx, &topic(name))?;
        Ok::<_, Error>(existed)
    })
}

/// The `Code` parameter of CreateFunction and the body of UpdateFunctionCode.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeInput {
    pub zip_file: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
}

/// A package, unpacked or located, with the digest Lambda reports for it.
pub struct StoredCode {
    pub location: CodeLocation,
    pub sha256: String,
    pub size: u64,
}

/// Where a zip goes: unpacked into the node's data dir (the embedded store: one node), or
/// into the store itself (a shared store: every node unpacks it on first use).
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Local(&'a Path),
    Shared(&'a Store),
}

/// Resolves a `Code` parameter: unpacks a zip under `code_dir/<name>/` or stores it in a shared
/// store, or checks a local path.
pub fn store_code(target: Target<'_>, name: &str, input: &CodeInput) -> Result<StoredCode> {
    if input.image_uri.is_some() {
        return Err(Error::InvalidParameter(
            "nuvem runs .zip packages and local paths; container images (ImageUri) are not supported".into(),
        ));
    }
    if let Some(b64) = &input.zip_file {
        let zip = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| Error::InvalidRequestContent(format!("ZipFile is not base64: {e}")))?;
        return match target {
            Target::Local(code_dir) => unpack(code_dir, name, &zip),
            Target::Shared(store) => {
                check_zip(&zip)?;
                let hex = crate::packages::put(store, &zip)?;
                Ok(StoredCode {
                    sha256: base64::engine::general_purpose::STANDARD
                        .encode(hex::decode(&hex).unwrap_or_default()),
                    size: zip.len() as u64,
                    location: CodeLocation::Package(hex),
                })
            }
        };
    }
    match (&input.s3_bucket, &input.s3_key) {
        (Some(bucket), Some(path)) if bucket == HOT_RELOAD_BUCKET => local_path(Path::new(path)),
        (Some(bucket), Some(_)) => Err(Error::InvalidParameter(format!(
            "nuvem cannot fetch code from S3 bucket {bucket}: upload it as ZipFile, or use S3Bucket '{HOT_RELOAD_BUCKET}' with a local path in S3Key"
        ))),
        _ => Err(Error::InvalidParameter(
            "Please provide a source for function code.".into(),
        )),
    }
}

/// Refuses a local path (`S3Bucket` [`HOT_RELOAD_BUCKET`]) to anyone but the account's root
/// credentials (the manifest's keys, which own the host's nuvem anyway): the folder is read
/// by nuvem's own user, and copied for an isolated function's user by root, so an IAM
/// principal allowed `lambda:CreateFunction` could otherwise run any folder of the host as
/// its function's code and read whatever file it names (the master key, the store).
pub fn check_source(input: &CodeInput, root: bool) -> Result<()> {
    if !root && input.zip_file.is_none() && input.s3_bucket.as_deref() == Some(HOT_RELOAD_BUCKET) {
        return Err(Error::InvalidParameter(format!(
            "Error occurred while GetObject. S3 Error Code: AccessDenied. Only the account's root credentials may use S3Bucket '{HOT_RELOAD_BUCKET}' (a local path); upload the code as ZipFile"
        )));
    }
    Ok(())
}

fn local_path(path: &Path) -> Result<StoredCode> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::InvalidParameter(format!("code path {} is not usable: {e}", path.display()))
    })?;
    let path = path.canonicalize()?;
    if meta.is_file() {
        // The digest of the executable, so a rebuilt binary shows a new CodeSha256.
        let bytes = std::fs::read(&path)?;
        Ok(StoredCode {
            sha256: digest(&bytes),
            size: meta.len(),
            location: CodeLocation::Executable(path),
        })
    } else {
        Ok(StoredCode {
            sha256: digest(path.to_string_lossy().as_bytes()),
            size: 0,
            location: CodeLocation::Dir(path),
        })
    }
}

fn digest(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn bad_zip(e: &dyn std::fmt::Display) -> Error {
    Error::InvalidParameter(format!(
        "Could not unzip uploaded file. Please check your file, then try to upload again. ({e})"
    ))
}

/// Opens a zip and checks Lambda's quota on its unzipped size.
fn check_zip(zip: &[u8]) -> Result<zip::ZipArchive<Cursor<&[u8]>>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| bad_zip(&e))?;
    let unzipped: u64 = (0..archive.len())
        .filter_map(|i| archive.by_index_raw(i).ok().map(|f| f.size()))
        .sum();
    if unzipped > MAX_UNZIPPED {
        return Err(Error::InvalidParameter(format!(
            "Unzipped size must be smaller than {MAX_UNZIPPED} bytes"
        )));
    }
    Ok(archive)
}

fn unpack(code_dir: &Path, name: &str, zip: &[u8]) -> Result<StoredCode> {
    let hash = Sha256::digest(zip);
    let folder = code_dir.join(name).join(hex::encode(hash));
    unpack_into(&folder, zip)?;
    Ok(StoredCode {
        location: CodeLocation::Dir(folder),
        sha256: base64::engine::general_purpose::STANDARD.encode(hash),
        size: zip.len() as u64,
    })
}

/// Checks that `zip` opens and is within Lambda's unzipped quota (a layer's content).
pub fn check_zip_bytes(zip: &[u8]) -> Result<()> {
    check_zip(zip).map(|_| ())
}

/// Extracts `zip` into the existing `folder`, over what is there (a layer over the layers
/// before it).
pub fn extract_over(folder: &Path, zip: &[u8]) -> Result<()> {
    check_zip(zip)?.extract(folder).map_err(|e| bad_zip(&e))
}

/// Unpacks `zip` into `folder` unless it is there: into a temporary sibling first, renamed
/// into place, so a crash never leaves half a package under the final name.
pub fn unpack_into(folder: &Path, zip: &[u8]) -> Result<()> {
    let mut archive = check_zip(zip)?;
    if folder.is_dir() {
        return Ok(());
    }
    let parent = folder
        .parent()
        .ok_or_else(|| Error::Corrupt(format!("no parent for {}", folder.display())))?;
    let tmp: PathBuf = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&tmp)?;
    // `extract` refuses entries that would escape the folder and keeps unix modes, so an
    // executable `bootstrap` stays executable.
    if let Err(e) = archive.extract(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(bad_zip(&e));
    }
    if let Err(e) = std::fs::rename(&tmp, folder) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !folder.is_dir() {
            return Err(e.into());
        }
    }
    Ok(())
}

/// Removes every unpacked package of a deleted function (best effort: a failure leaves
/// unreferenced files, never a broken function).
pub fn remove_code(code_dir: &Path, name: &str) {
    let dir = code_dir.join(name);
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        tracing::warn!(error = %e, dir = %dir.display(), "lambda: could not remove old code");
    }
}
