//! Lambda layers: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions,
//! DeleteLayerVersion and the layer version permissions
//! (https://docs.aws.amazon.com/lambda/latest/dg/chapter-layers.html), and the `/opt` a
//! function with `Layers` sees.
//!
//! At rest: a version record `lambda/layer/<name>/v/<version, 8 bytes BE>` (JSON
//! [`LayerVersion`]) and the layer's last version number `lambda/layer/<name>/n` (numbers are
//! never reused, even after deletions, as on AWS). The zip is a content-addressed package in the
//! store ([`crate::packages`]) on every store, embedded or shared, so every node can build a
//! function's `/opt`. A function names its layers by version ARN and keeps, in its record, each
//! one's package ([`LayerRef`]): deleting a layer version hides it from the API, and its
//! package stays while a function uses it (AWS: "a copy of the version remains in Lambda until
//! no functions refer to it").
//!
//! On a node, the layers of a function are extracted in order into one folder
//! (`<code_dir>/.opt/<digest of the package list>/`, later layers overwriting earlier ones'
//! files, as Lambda merges them into `/opt`), which an environment with mount namespaces sees
//! read-only at `/opt` and one without at that folder's own path (see
//! [`crate::environment`]): either way the runtimes' search paths (`PYTHONPATH`, `NODE_PATH`,
//! `PATH`, `LD_LIBRARY_PATH`) name its `python`, `nodejs/node_modules`, `bin` and `lib`.
//! Must not: run processes.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use nuvem_store::{Direction, KeyRange, Read, Store, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::service::Inner;

pub const PREFIX: &[u8] = b"lambda/layer/";

/// How many layers a function may use (Lambda's quota).
pub const MAX_PER_FUNCTION: usize = 5;

/// A layer version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerVersion {
    pub name: String,
    pub version: u64,
    pub description: String,
    pub created: String,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
    /// The hex SHA-256 of the zip: its package in the store.
    pub package: String,
    pub code_size: u64,
    /// Layer version permissions (AddLayerVersionPermission), in order.
    #[serde(default)]
    pub policy: Vec<Value>,
    #[serde(default)]
    pub policy_revision: String,
}

/// A layer as a function's record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// The layer version ARN.
    pub arn: String,
    /// The hex SHA-256 of its zip (its package in the store).
    pub package: String,
    pub code_size: u64,
}

fn name_prefix(name: &str) -> Vec<u8> {
    [PREFIX, name.as_bytes(), b"/"].concat()
}

fn version_key(name: &str, version: u64) -> Vec<u8> {
    [&name_prefix(name)[..], b"v/", &version.to_be_bytes()].concat()
}

fn counter_key(name: &str) -> Vec<u8> {
    [&name_prefix(name)[..], b"n"].concat()
}

fn layer_arn(inner: &Inner, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:layer:{name}",
        inner.config.region, inner.config.account_id
    )
}

fn now() -> String {
    nuvem_aws::time::AmzDate::from_system_time(std::time::SystemTime::now())
        .to_iso8601()
        .replace('Z', "+0000")
}

fn validation(member: &str, value: &str, rule: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

/// A `LayerName` parameter (a name or a layer ARN) → the name, checked against Lambda's
/// pattern; a layer of another account or region does not exist here.
fn layer_name(inner: &Inner, input: &str) -> Result<String> {
    const PATTERN: &str = "Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+";
    if input.is_empty() || input.len() > 140 {
        return Err(validation(
            "layerName",
            input,
            "Member must have length less than or equal to 140",
        ));
    }
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if let Some(rest) = input.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.split(':').collect();
        return match parts.as_slice() {
            [_, "lambda", region, account, "layer", name] if valid(name) => {
                if *region != inner.config.region || *account != inner.config.account_id {
                    Err(Error::NotFound(
                        "The resource you requested does not exist.".into(),
                    ))
                } else {
                    Ok((*name).to_string())
                }
            }
            _ => Err(validation("layerName", input, PATTERN)),
        };
    }
    if valid(input) {
        Ok(input.to_string())
    } else {
        Err(validation("layerName", input, PATTERN))
    }
}

/// A layer version ARN → (name, version), or why it names nothing here.
fn parse_version_arn(inner: &Inner, arn: &str) -> Result<(String, u64)> {
    let bad = || {
        validation(
            "arn",
            arn,
            "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)",
        )
    };
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, account, "layer", name, version] => {
            let version: u64 = version.parse().map_err(|_| bad())?;
            if name.is_empty() || name.len() > 140 {
                return Err(bad());
            }
            if *region != inner.config.region || *account != inner.config.account_id {
                return Err(Error::NotFound(format!(
                    "Layer version {arn} does not exist."
                )));
            }
            Ok(((*name).to_string(), version))
        }
        _ => Err(bad()),
    }
}

fn get_record(tx: &dyn Read, name: &str, version: u64) -> Result<Option<LayerVersion>> {
    match tx.get(&version_key(name, version))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("layer {name}:{version}: {e}"))),
    }
}

fn versions_of(tx: &dyn Read, name: &str) -> Result<Vec<LayerVersion>> {
    let prefix = [&name_prefix(name)[..], b"v/"].concat();
    tx.scan(KeyRange::prefix(&prefix), Direction::Reverse)
        .map(|entry| {
            let (_, v) = entry?;
            serde_json::from_slice(&v).map_err(|e| Error::Corrupt(format!("layer {name}: {e}")))
        })
        .collect()
}

fn not_found() -> Error {
    Error::NotFound("The resource you requested does not exist.".into())
}

impl LayerVersion {
    fn version_arn(&self, inner: &Inner) -> String {
        format!("{}:{}", layer_arn(inner, &self.name), self.version)
    }

    fn sha256(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(hex::decode(&self.package).unwrap_or_default())
    }

    /// `LayerVersionsListItem`.
    fn list_item(&self, inner: &Inner) -> Value {
        let mut v = json!({
            "LayerVersionArn": self.version_arn(inner),
            "Version": self.version,
            "Description": self.description,
            "CreatedDate": self.created,
            "CompatibleRuntimes": self.compatible_runtimes,
            "CompatibleArchitectures": self.compatible_architectures,
        });
        if let Some(l) = &self.license_info {
            v["LicenseInfo"] = json!(l);
        }
        v
    }

    /// GetLayerVersion's and PublishLayerVersion's output.
    fn shape(&self, inner: &Inner) -> Value {
        let mut v = self.list_item(inner);
        v["LayerArn"] = json!(layer_arn(inner, &self.name));
        v["Content"] = json!({
            "Location": format!("nuvem://lambda/pkg/{}", self.package),
            "CodeSha256": self.sha256(),
            "CodeSize": self.code_size,
        });
        v
    }

    fn compatible(&self, runtime: Option<&str>, arch: Option<&str>) -> bool {
        runtime.is_none_or(|r| self.compatible_runtimes.iter().any(|x| x == r))
            && arch.is_none_or(|a| self.compatible_architectures.iter().any(|x| x == a))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishInput {
    content: Option<ContentInput>,
    description: Option<String>,
    compatible_runtimes: Option<Vec<String>>,
    compatible_architectures: Option<Vec<String>>,
    license_info: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContentInput {
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    s3_key: Option<String>,
}

fn check_runtimes(runtimes: &[String]) -> Result<()> {
    if runtimes.len() > 15 {
        return Err(Error::Validation(
            "1 validation error detected: Value at 'compatibleRuntimes' failed to satisfy constraint: Member must have length less than or equal to 15".into(),
        ));
    }
    for r in runtimes {
        // Lambda's enum holds runtimes nuvem does not run (java, ruby, dotnet): a layer may
        // name them; only names outside any runtime family are refused.
        let known = crate::model::RuntimeKind::parse(r).is_some()
            || ["java", "ruby", "dotnet", "nodejs", "python", "go1.x"]
                .iter()
                .any(|p| r.starts_with(p));
        if !known {
            return Err(validation(
                "compatibleRuntimes",
                r,
                "Member must satisfy enum value set",
            ));
        }
    }
    Ok(())
}

fn check_architectures(archs: &[String]) -> Result<()> {
    if archs.len() > 2 || archs.iter().any(|a| a != "x86_64" && a != "arm64") {
        return Err(Error::Validation(
            "1 validation error detected: Value at 'compatibleArchitectures' failed to satisfy constraint: Member must have length less than or equal to 2, and each member must be x86_64 or arm64".into(),
        ));
    }
    Ok(())
}

/// PublishLayerVersion.
pub fn publish(inner: &Inner, layer: &str, input: Value) -> Result<(u16, Value)> {
    let name = layer_name(inner, layer)?;
    let input: PublishInput = serde_json::from_value(input)
        .map_err(|e| Error::InvalidRequestContent(format!("Could not parse request body: {e}")))?;
    let content = input.content.ok_or_else(|| {
        Error::Validation(
            "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null".into(),
        )
    })?;
    let description = input.description.unwrap_or_default();
    if description.len() > 256 {
        return Err(validation(
            "description",
            &description,
            "Member must have length less than or equal to 256",
        ));
    }
    if let Some(l) = &input.license_info
        && l.len() > 512
    {
        return Err(validation(
            "licenseInfo",
            l,
            "Member must have length less than or equal to 512",
        ));
    }
    let compatible_runtimes = input.compatible_runtimes.unwrap_or_default();
    check_runtimes(&compatible_runtimes)?;
    let compatible_architectures = input.compatible_architectures.unwrap_or_default();
    check_architectures(&compatible_architectures)?;
    let zip = match (content.zip_file, content.s3_bucket, content.s3_key) {
        (Some(b64), _, _) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| Error::InvalidRequestContent(format!("ZipFile is not base64: {e}")))?,
        (None, Some(bucket), Some(_)) => {
            return Err(Error::InvalidParameter(format!(
                "nuvem cannot fetch layer content from S3 bucket {bucket}: upload it as ZipFile"
            )));
        }
        _ => {
            return Err(Error::InvalidParameter(
                "Please provide a source for the layer content (ZipFile).".into(),
            ));
        }
    };
    crate::catalog::check_zip_bytes(&zip)?;
    let mut attempts = 0;
    loop {
        let hex = crate::packages::put(&inner.store, &zip)?;
        let created = now();
        let result = inner.store.transact(|tx: &mut dyn Tx| {
            if !crate::packages::exists(&*tx, &hex)? {
                return Err(Error::PackageGone(hex.clone()));
            }
            let last = tx
                .get(&counter_key(&name))?
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map_or(0, u64::from_be_bytes);
            let version = last + 1;
            let record = LayerVersion {
                name: name.clone(),
                version,
                description: description.clone(),
                created: created.clone(),
                compatible_runtimes: compatible_runtimes.clone(),
                compatible_architectures: compatible_architectures.clone(),
                license_info: input.license_info.clone(),
                package: hex.clone(),
                code_size: zip.len() as u64,
                policy: Vec::new(),
                policy_revision: uuid::Uuid::new_v4().to_string(),
            };
            let bytes = serde_json::to_vec(&record).map_err(|e| Error::Corrupt(e.to_string()))?;
            tx.put(&counter_key(&name), &version.to_be_bytes());
            tx.put(&version_key(&name, version), &bytes);
            Ok(record)
        });
        match result {
            Err(Error::PackageGone(_)) if attempts < 3 => attempts += 1,
            Err(e) => return Err(e),
            Ok(record) => return Ok((201, record.shape(inner))),
        }
    }
}

fn parse_version(v: &str) -> Result<u64> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| validation("versionNumber", v, "Member must be a positive number"))
}

/// GetLayerVersion.
pub fn get(inner: &Inner, layer: &str, version: &str) -> Result<(u16, Value)> {
    let name = layer_name(inner, layer)?;
    let version = parse_version(version)?;
    let record = get_record(&*inner.store.snapshot(), &name, version)?.ok_or_else(not_found)?;
    Ok((200, record.shape(inner)))
}

/// GetLayerVersionByArn (`GET /2018-10-31/layers?find=LayerVersion&Arn=…`).
pub fn get_by_arn(inner: &Inner, arn: &str) -> Result<(u16, Value)> {
    let (name, version) = parse_version_arn(inner, arn)?;
    let record = get_record(&*inner.store.snapshot(), &name, version)?.ok_or_else(not_found)?;
    Ok((200, record.shape(inner)))
}

fn max_items(max: Option<&str>) -> Result<usize> {
    match max {
        None => Ok(50),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=50).contains(&n) => Ok(n),
            _ => Err(validation(
                "maxItems",
                s,
                "Member must have value between 1 and 50",
            )),
        },
    }
}

fn check_filters(runtime: Option<&str>, arch: Option<&str>) -> Result<()> {
    if let Some(r) = runtime {
        check_runtimes(&[r.to_string()])?;
    }
    if let Some(a) = arch {
        check_architectures(&[a.to_string()])?;
    }
    Ok(())
}

/// ListLayerVersions: the versions that exist, newest first.
pub fn list_versions(
    inner: &Inner,
    layer: &str,
    runtime: Option<&str>,
    arch: Option<&str>,
    marker: Option<&str>,
    max: Option<&str>,
) -> Result<(u16, Value)> {
    let name = layer_name(inner, layer)?;
    let max = max_items(max)?;
    check_filters(runtime, arch)?;
    let start: Option<u64> = match marker {
        None => None,
        Some(m) => Some(
            m.parse()
                .map_err(|_| Error::InvalidParameter(format!("Invalid marker: {m}")))?,
        ),
    };
    let all: Vec<LayerVersion> = versions_of(&*inner.store.snapshot(), &name)?
        .into_iter()
        .filter(|v| v.compatible(runtime, arch))
        .filter(|v| start.is_none_or(|s| v.version < s))
        .collect();
    let page: Vec<Value> = all.iter().take(max).map(|v| v.list_item(inner)).collect();
    let mut out = json!({"LayerVersions": page});
    if all.len() > max
        && let Some(last) = all.get(max - 1)
    {
        out["NextMarker"] = json!(last.version.to_string());
    }
    Ok((200, out))
}

/// ListLayers: each layer with a version that exists (and matches the filters), with its
/// latest such version, in name order.
pub fn list_layers(
    inner: &Inner,
    runtime: Option<&str>,
    arch: Option<&str>,
    marker: Option<&str>,
    max: Option<&str>,
) -> Result<(u16, Value)> {
    let max = max_items(max)?;
    check_filters(runtime, arch)?;
    let snap = inner.store.snapshot();
    let mut latest: std::collections::BTreeMap<String, LayerVersion> = Default::default();
    for entry in snap.scan(KeyRange::prefix(PREFIX), Direction::Forward) {
        let (k, v) = entry?;
        let rest = &k[PREFIX.len()..];
        let Some(slash) = rest.iter().position(|b| *b == b'/') else {
            continue;
        };
        if !rest[slash..].starts_with(b"/v/") {
            continue;
        }
        let record: LayerVersion =
            serde_json::from_slice(&v).map_err(|e| Error::Corrupt(format!("layer record: {e}")))?;
        if record.compatible(runtime, arch) {
            // Versions come in ascending order: the last one seen is the latest.
            latest.insert(record.name.clone(), record);
        }
    }
    let all: Vec<&LayerVersion> = latest
        .values()
        .filter(|v| marker.is_none_or(|m| v.name.as_str() > m))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .take(max)
        .map(|v| {
            json!({
                "LayerName": v.name,
                "LayerArn": layer_arn(inner, &v.name),
                "LatestMatchingVersion": v.list_item(inner),
            })
        })
        .collect();
    let mut out = json!({"Layers": page});
    if all.len() > max
        && let Some(last) = all.get(max - 1)
    {
        out["NextMarker"] = json!(last.name);
    }
    Ok((200, out))
}

/// DeleteLayerVersion: the version disappears from the API (deleting one that is not there
/// succeeds, as on AWS); its package goes once no function uses it.
pub fn delete(inner: &Inner, layer: &str, version: &str) -> Result<(u16, Value)> {
    let name = layer_name(inner, layer)?;
    let version = parse_version(version)?;
    let removed = inner.store.transact(|tx: &mut dyn Tx| {
        let record = get_record(&*tx, &name, version)?;
        if record.is_some() {
            tx.delete(&version_key(&name, version));
        }
        Ok::<_, Error>(record)
    })?;
    if let Some(r) = removed {
        collect(inner, &r.package);
    }
    Ok((204, Value::Null))
}

/// Deletes a layer's package if nothing uses it any more, and this node's unpacked copy.
pub fn collect(inner: &Inner, hex: &str) {
    match crate::packages::collect(&inner.store, hex) {
        Ok(true) => {
            let _ =
                std::fs::remove_dir_all(crate::packages::local_root(&inner.code_dir()).join(hex));
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(package = %hex, error = %e, "lambda: could not collect a layer"),
    }
}

/// Whether a layer version record points at package `hex` (read in the transaction that
/// would collect it).
pub fn references(tx: &dyn Read, hex: &str) -> Result<bool> {
    for entry in tx.scan(KeyRange::prefix(PREFIX), Direction::Forward) {
        let (k, v) = entry?;
        if k.ends_with(b"/n") && v.len() == 8 {
            continue;
        }
        if let Ok(r) = serde_json::from_slice::<LayerVersion>(&v)
            && r.package == hex
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every package a layer version record points at.
pub fn packages(store: &Store) -> Result<Vec<String>> {
    let snap = store.snapshot();
    let mut out = Vec::new();
    for entry in snap.scan(KeyRange::prefix(PREFIX), Direction::Forward) {
        let (_, v) = entry?;
        if let Ok(r) = serde_json::from_slice::<LayerVersion>(&v) {
            out.push(r.package);
        }
    }
    Ok(out)
}

/// A function's `Layers` parameter → the layers its record keeps: at most
/// [`MAX_PER_FUNCTION`], each an existing version, no layer twice, and the function's code
/// with its layers within Lambda's unzipped quota.
pub fn resolve(inner: &Inner, arns: &[String]) -> Result<Vec<LayerRef>> {
    if arns.len() > MAX_PER_FUNCTION {
        return Err(Error::InvalidParameter(format!(
            "Cannot reference more than {MAX_PER_FUNCTION} layers."
        )));
    }
    let snap = inner.store.snapshot();
    let mut out: Vec<LayerRef> = Vec::with_capacity(arns.len());
    let mut names = std::collections::HashSet::new();
    for arn in arns {
        let (name, version) = parse_version_arn(inner, arn)?;
        if !names.insert(name.clone()) {
            return Err(Error::InvalidParameter(format!(
                "Two different versions of the same layer are not allowed to be referenced in the same function. {} is referenced more than once.",
                layer_arn(inner, &name)
            )));
        }
        let record = get_record(&*snap, &name, version)?.ok_or_else(|| {
            Error::InvalidParameter(format!("Layer version {arn} does not exist."))
        })?;
        out.push(LayerRef {
            arn: record.version_arn(inner),
            package: record.package,
            code_size: record.code_size,
        });
    }
    Ok(out)
}

/// The `Layers` member of a function's configuration.
pub fn configuration(layers: &[LayerRef]) -> Value {
    Value::Array(
        layers
            .iter()
            .map(|l| json!({"Arn": l.arn, "CodeSize": l.code_size}))
            .collect(),
    )
}

/// The folder of the merged layers on this node (`<code_dir>/.opt/<digest>/`), extracting
/// them on first use: each layer in order over the previous ones, into a temporary folder
/// renamed into place, so a crash never leaves half an `/opt` under the final name.
pub fn materialise(store: &Store, code_dir: &Path, layers: &[LayerRef]) -> Result<PathBuf> {
    let mut h = Sha256::new();
    for l in layers {
        h.update(l.package.as_bytes());
        h.update(b"\n");
    }
    let folder = opt_root(code_dir).join(hex::encode(h.finalize()));
    if folder.is_dir() {
        return Ok(folder);
    }
    std::fs::create_dir_all(opt_root(code_dir))?;
    let tmp = opt_root(code_dir).join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        std::fs::create_dir(&tmp)?;
        for l in layers {
            let zip = crate::packages::get(store, &l.package)?;
            crate::catalog::extract_over(&tmp, &zip)?;
        }
        match std::fs::rename(&tmp, &folder) {
            Err(_) if folder.is_dir() => Ok(()),
            other => other.map_err(Error::from),
        }
    })();
    if result.is_err() || tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|()| folder)
}

/// Where merged layer folders live, beside the per-function folders (`.` cannot start a
/// function name).
pub fn opt_root(code_dir: &Path) -> PathBuf {
    code_dir.join(".opt")
}

/// Removes the merged folders no function in `used` needs and not made in the last five
/// minutes (best effort).
pub fn sweep_local(code_dir: &Path, used: &[&[LayerRef]]) {
    let keep: std::collections::HashSet<String> = used
        .iter()
        .filter(|l| !l.is_empty())
        .map(|layers| {
            let mut h = Sha256::new();
            for l in *layers {
                h.update(l.package.as_bytes());
                h.update(b"\n");
            }
            hex::encode(h.finalize())
        })
        .collect();
    let Ok(entries) = std::fs::read_dir(opt_root(code_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // A folder made in the last minutes may belong to a function newer than `used`.
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < std::time::Duration::from_secs(300));
        if !keep.contains(&name) && !recent && !name.starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The variables through which the runtimes find a function's layers under `opt` (`/opt`
/// with namespaces): the folders Lambda documents for each runtime
/// (https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths),
/// before anything the variable held.
pub fn search_paths(runtime: &str, opt: &Path) -> Vec<(&'static str, Vec<PathBuf>)> {
    let mut vars = vec![
        ("PATH", vec![opt.join("bin")]),
        ("LD_LIBRARY_PATH", vec![opt.join("lib")]),
    ];
    if let Some(version) = runtime.strip_prefix("python") {
        vars.push((
            "PYTHONPATH",
            vec![
                opt.join("python"),
                opt.join(format!("python/lib/python{version}/site-packages")),
            ],
        ));
    } else if let Some(major) = runtime
        .strip_prefix("nodejs")
        .and_then(|v| v.strip_suffix(".x"))
    {
        vars.push((
            "NODE_PATH",
            vec![
                opt.join(format!("nodejs/node{major}/node_modules")),
                opt.join("nodejs/node_modules"),
            ],
        ));
    }
    vars
}

fn policy_document(statements: &[Value]) -> String {
    json!({"Version": "2012-10-17", "Id": "default", "Statement": statements}).to_string()
}

/// AddLayerVersionPermission: grants `lambda:GetLayerVersion` (the only action a layer
/// statement takes) to an account, an organization or everyone.
pub fn add_permission(
    inner: &Inner,
    layer: &str,
    version: &str,
    revision: Option<&str>,
    input: Value,
) -> Result<(u16, Value)> {
    let name = layer_name(inner, layer)?;
    let version = parse_version(version)?;
    let text = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_owned);
    let required = |k: &str, member: &str| {
        text(k).ok_or_else(|| {
            Error::Validation(format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ))
        })
    };
    let sid = required("StatementId", "statementId")?;
    if sid.is_empty()
        || sid.len() > 100
        || !sid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(validation(
            "statementId",
            &sid,
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
        ));
    }
    let action = required("Action", "action")?;
    if action != "lambda:GetLayerVersion" {
        return Err(validation(
            "action",
            &action,
            "Member must satisfy regular expression pattern: lambda:GetLayerVersion",
        ));
    }
    let principal = required("Principal", "principal")?;
    let principal_json = if principal == "*" {
        json!("*")
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({"AWS": format!("arn:aws:iam::{principal}:root")})
    } else if principal.starts_with("arn:aws:iam::") && principal.ends_with(":root") {
        json!({"AWS": principal})
    } else {
        return Err(validation(
            "principal",
            &principal,
            "Member must satisfy regular expression pattern: \\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root",
        ));
    };
    let organization = text("OrganizationId");
    if organization.is_some() && principal != "*" {
        return Err(Error::InvalidParameter(
            "OrganizationId can only be specified with the wildcard principal (*).".into(),
        ));
    }
    inner.store.transact(|tx: &mut dyn Tx| {
        let mut record = get_record(&*tx, &name, version)?.ok_or_else(not_found)?;
        if let Some(r) = revision
            && r != record.policy_revision
        {
            return Err(Error::PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetLayerVersionPolicy API to retrieve the latest Revision Id".into(),
            ));
        }
        if record.policy.iter().any(|s| s["Sid"] == json!(sid)) {
            return Err(Error::Conflict(format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            )));
        }
        let mut statement = json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": principal_json,
            "Action": action,
            "Resource": record.version_arn(inner),
        });
        if let Some(org) = &organization {
            statement["Condition"] = json!({"StringEquals": {"aws:PrincipalOrgID": org}});
        }
        record.policy.push(statement.clone());
        record.policy_revision = uuid::Uuid::new_v4().to_string();
        let bytes = serde_json::to_vec(&record).map_err(|e| Error::Corrupt(e.to_string()))?;
        tx.put(&version_key(&name, version), &bytes);
        Ok((
            201,
            json!({"Statement": statement.to_string(), "RevisionId": record.policy_revision}),
        ))
    })
}

/// GetLayerVersionPolicy.
pub fn get_policy(inner: &Inner, layer: &str, version: &str) -> Result<(u16, Value)> {
    let name = layer_name(inner, layer)?;
    let version = parse_version(version)?;
    let record = get_record(&*inner.store.snapshot(), &name, version)?.ok_or_else(not_found)?;
    if record.policy.is_empty() {
        return Err(Error::NotFound(
            "No policy is associated with the given resource.".into(),
        ));
    }
    Ok((
        200,
        json!({"Policy": policy_document(&record.policy), "RevisionId": record.policy_revision}),
    ))
}

/// RemoveLayerVersionPermission.
pub fn remove_permission(
    inner: &Inner,
    layer: &str,
    version: &str,
    sid: &str,
    revision: Option<&str>,
) -> Result<(u16, Value)> {
    let name = layer_name(inner, layer)?;
    let version = parse_version(version)?;
    inner.store.transact(|tx: &mut dyn Tx| {
        let mut record = get_record(&*tx, &name, version)?.ok_or_else(not_found)?;
        if let Some(r) = revision
            && r != record.policy_revision
        {
            return Err(Error::PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetLayerVersionPolicy API to retrieve the latest Revision Id".into(),
            ));
        }
        let before = record.policy.len();
        record.policy.retain(|s| s["Sid"] != json!(sid));
        if record.policy.len() == before {
            return Err(Error::NotFound(format!(
                "Statement {sid} is not found in resource policy."
            )));
        }
        record.policy_revision = uuid::Uuid::new_v4().to_string();
        let bytes = serde_json::to_vec(&record).map_err(|e| Error::Corrupt(e.to_string()))?;
        tx.put(&version_key(&name, version), &bytes);
        Ok((204, Value::Null))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nuvem_store::{Durability, FjallEngine};

    fn zip(files: &[(&str, &str)]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, text) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn later_layers_overwrite_earlier_ones_in_one_folder_per_list() {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(&dir.path().join("store"), Durability::Process).unwrap();
        let store = Store::new(engine);
        let code_dir = dir.path().join("code");
        let layer = |files: &[(&str, &str)]| {
            let bytes = zip(files);
            LayerRef {
                arn: String::new(),
                package: crate::packages::put(&store, &bytes).unwrap(),
                code_size: bytes.len() as u64,
            }
        };
        let a = layer(&[("python/m.py", "a"), ("bin/t", "a")]);
        let b = layer(&[("python/m.py", "b"), ("lib/x.so", "b")]);
        let read = |folder: &Path, f: &str| std::fs::read_to_string(folder.join(f)).unwrap();
        for (order, m, t, x) in [
            (vec![a.clone(), b.clone()], "b", Some("a"), Some("b")),
            (vec![b.clone(), a.clone()], "a", Some("a"), Some("b")),
            (vec![a.clone()], "a", Some("a"), None),
        ] {
            let folder = materialise(&store, &code_dir, &order).unwrap();
            assert_eq!(read(&folder, "python/m.py"), m);
            assert_eq!(t.map(|_| read(&folder, "bin/t")).as_deref(), t);
            assert_eq!(
                folder.join("lib/x.so").exists(),
                x.is_some(),
                "{}",
                folder.display()
            );
            // The same list is the same folder.
            assert_eq!(materialise(&store, &code_dir, &order).unwrap(), folder);
        }
        let folders = std::fs::read_dir(opt_root(&code_dir)).unwrap().count();
        assert_eq!(folders, 3, "one folder per list, no temporaries left");
    }

    #[test]
    fn search_paths_name_the_folders_each_runtime_reads() {
        let opt = Path::new("/opt");
        let check = |runtime: &str, var: &str, want: &[&str]| {
            let vars = search_paths(runtime, opt);
            let got: Vec<String> = vars
                .iter()
                .find(|(v, _)| *v == var)
                .map(|(_, d)| d.iter().map(|p| p.display().to_string()).collect())
                .unwrap_or_default();
            assert_eq!(got, want, "{runtime} {var}");
        };
        check(
            "python3.12",
            "PYTHONPATH",
            &["/opt/python", "/opt/python/lib/python3.12/site-packages"],
        );
        check(
            "nodejs22.x",
            "NODE_PATH",
            &[
                "/opt/nodejs/node22/node_modules",
                "/opt/nodejs/node_modules",
            ],
        );
        check("nodejs22.x", "PYTHONPATH", &[]);
        check("provided.al2023", "PATH", &["/opt/bin"]);
        check("provided.al2023", "LD_LIBRARY_PATH", &["/opt/lib"]);
    }
}
