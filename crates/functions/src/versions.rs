//! Versions and aliases (https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html,
//! https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html): PublishVersion,
//! ListVersionsByFunction, deleting a version, and Create/Get/Update/Delete/ListAliases with
//! weighted routing (`RoutingConfig.AdditionalVersionWeights`).
//!
//! At rest: a published version is an immutable copy of `$LATEST`'s [`FunctionRecord`]
//! (`version: Some(n)`) under `lambda/ver/<name>/<n, 20 digits>`; an alias is an
//! [`AliasRecord`] under `lambda/alias/<name>/<alias>`. Version numbers come from `$LATEST`'s
//! `last_version`, raised in the transaction that writes the version, so no number is given
//! twice, even after its version is deleted. Every change touches the function's change topic
//! (like a change of `$LATEST`), so other nodes drop what they cached of it. A version keeps
//! its own resource policy and asynchronous invocation configuration; so does an alias.
//!
//! Must not: run functions (the pools are per version, see [`crate::service`]).

use std::collections::BTreeMap;

use nuvem_store::{Direction, KeyRange, Read, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog;
use crate::error::{Error, Result};
use crate::event_config::EventInvokeConfig;
use crate::model::{CodeLocation, FunctionRecord, FunctionRef, LATEST, Qualifier, function_arn};
use crate::service::Inner;

pub const VERSION_PREFIX: &[u8] = b"lambda/ver/";
pub const ALIAS_PREFIX: &[u8] = b"lambda/alias/";

fn version_key(name: &str, n: u64) -> Vec<u8> {
    format!("lambda/ver/{name}/{n:020}").into_bytes()
}

fn versions_of(name: &str) -> Vec<u8> {
    format!("lambda/ver/{name}/").into_bytes()
}

fn alias_key(name: &str, alias: &str) -> Vec<u8> {
    format!("lambda/alias/{name}/{alias}").into_bytes()
}

fn aliases_of(name: &str) -> Vec<u8> {
    format!("lambda/alias/{name}/").into_bytes()
}

/// An alias as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// The alias's name.
    pub name: String,
    /// The function's name.
    pub function: String,
    /// `$LATEST` or a version number.
    pub function_version: String,
    pub description: String,
    /// `AdditionalVersionWeights`: at most one other published version, with the share of
    /// invocations it gets (0.0–1.0).
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
    pub revision_id: String,
    /// The alias's resource-based policy (AddPermission with the alias as qualifier).
    #[serde(default)]
    pub policy: Vec<Value>,
    /// The alias's asynchronous invocation configuration.
    #[serde(default)]
    pub event_invoke: Option<EventInvokeConfig>,
}

impl AliasRecord {
    pub fn arn(&self, region: &str, account: &str) -> String {
        format!(
            "{}:{}",
            function_arn(region, account, &self.function),
            self.name
        )
    }

    /// The `AliasConfiguration` shape
    /// (https://docs.aws.amazon.com/lambda/latest/api/API_AliasConfiguration.html).
    pub fn shape(&self, region: &str, account: &str) -> Value {
        let mut out = json!({
            "AliasArn": self.arn(region, account),
            "Name": self.name,
            "FunctionVersion": self.function_version,
            "Description": self.description,
            "RevisionId": self.revision_id,
        });
        if !self.weights.is_empty() {
            out["RoutingConfig"] = json!({ "AdditionalVersionWeights": self.weights });
        }
        out
    }

    /// The version one invocation runs: the additional version when `roll` (uniform in
    /// [0, 1)) falls under its weight, else the primary one.
    pub fn pick(&self, roll: f64) -> Qualifier {
        for (version, weight) in &self.weights {
            if roll < *weight {
                return Qualifier::parse(version).unwrap_or(Qualifier::Latest);
            }
        }
        Qualifier::parse(&self.function_version).unwrap_or(Qualifier::Latest)
    }

    /// Whether the alias routes any invocation to version `n`.
    fn references(&self, n: u64) -> bool {
        let n = n.to_string();
        self.function_version == n || self.weights.contains_key(&n)
    }
}

/// A uniform draw in [0, 1) for weighted routing (48 random bits of a v4 UUID).
pub fn roll() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() >> 80;
    bits as f64 / (1u64 << 48) as f64
}

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T> {
    serde_json::from_slice(v)
        .map_err(|e| Error::Corrupt(format!("{}: {e}", String::from_utf8_lossy(k))))
}

fn encode(v: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Corrupt(e.to_string()))
}

pub fn get_version(tx: &dyn Read, name: &str, n: u64) -> Result<Option<FunctionRecord>> {
    let k = version_key(name, n);
    tx.get(&k)?.map(|v| decode(&k, &v)).transpose()
}

/// The function's published versions, oldest first.
pub fn list_versions(tx: &dyn Read, name: &str) -> Result<Vec<FunctionRecord>> {
    tx.scan(KeyRange::prefix(&versions_of(name)), Direction::Forward)
        .map(|e| {
            let (k, v) = e?;
            decode(&k, &v)
        })
        .collect()
}

/// Every published version of every function (what code is still in use).
pub fn all_versions(tx: &dyn Read) -> Result<Vec<FunctionRecord>> {
    tx.scan(KeyRange::prefix(VERSION_PREFIX), Direction::Forward)
        .map(|e| {
            let (k, v) = e?;
            decode(&k, &v)
        })
        .collect()
}

pub fn get_alias(tx: &dyn Read, name: &str, alias: &str) -> Result<Option<AliasRecord>> {
    let k = alias_key(name, alias);
    tx.get(&k)?.map(|v| decode(&k, &v)).transpose()
}

/// The function's aliases in name order.
pub fn list_aliases(tx: &dyn Read, name: &str) -> Result<Vec<AliasRecord>> {
    tx.scan(KeyRange::prefix(&aliases_of(name)), Direction::Forward)
        .map(|e| {
            let (k, v) = e?;
            decode(&k, &v)
        })
        .collect()
}

/// Writes a version's record back (its policy or asynchronous configuration changed; its
/// code and configuration never do). The version must exist.
pub fn put_version(tx: &mut dyn Tx, record: &FunctionRecord, arn: &str) -> Result<()> {
    let n = record
        .version
        .ok_or_else(|| Error::Corrupt(format!("{}: $LATEST written as a version", record.name)))?;
    let k = version_key(&record.name, n);
    if tx.get(&k)?.is_none() {
        return Err(Error::FunctionNotFound(arn.to_owned()));
    }
    tx.put(&k, &encode(record)?);
    nuvem_store::cluster::touch(tx, &catalog::topic(&record.name))?;
    Ok(())
}

/// Writes an alias back (policy or asynchronous configuration). The alias must exist.
pub fn put_alias(tx: &mut dyn Tx, alias: &AliasRecord, arn: &str) -> Result<()> {
    let k = alias_key(&alias.function, &alias.name);
    if tx.get(&k)?.is_none() {
        return Err(alias_not_found(arn));
    }
    tx.put(&k, &encode(alias)?);
    nuvem_store::cluster::touch(tx, &catalog::topic(&alias.function))?;
    Ok(())
}

/// Deletes a function with every version and alias, in one transaction; returns the records
/// deleted (`$LATEST` first), or `None` when there was no function.
pub fn delete_function(tx: &mut dyn Tx, name: &str) -> Result<Option<Vec<FunctionRecord>>> {
    let k = catalog::key(name);
    let Some(latest) = tx.get(&k)? else {
        return Ok(None);
    };
    let mut gone = vec![decode::<FunctionRecord>(&k, &latest)?];
    gone.extend(list_versions(&*tx, name)?);
    let mut keys = vec![k];
    for prefix in [versions_of(name), aliases_of(name)] {
        for e in tx.scan(KeyRange::prefix(&prefix), Direction::Forward) {
            keys.push(e?.0);
        }
    }
    for k in &keys {
        tx.delete(k);
    }
    crate::provisioned::delete_all(tx, name)?;
    nuvem_store::cluster::touch(tx, &catalog::topic(name))?;
    Ok(Some(gone))
}

fn precondition_revision() -> Error {
    Error::PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
    )
}

/// Refuses a `RevisionId` precondition that is not the resource's current revision.
pub fn check_revision(expected: Option<&str>, current: &str) -> Result<()> {
    match expected {
        Some(e) if e != current => Err(precondition_revision()),
        _ => Ok(()),
    }
}

fn text(input: &Value, k: &str) -> Option<String> {
    input.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn description(input: &Value) -> Result<Option<String>> {
    match text(input, "Description") {
        Some(d) if d.len() > 256 => Err(Error::Validation(format!(
            "1 validation error detected: Value '{d}' at 'description' failed to satisfy constraint: Member must have length less than or equal to 256"
        ))),
        d => Ok(d),
    }
}

/// Two records are the same snapshot when code and configuration agree (what a version
/// keeps apart from its number, revision, description and per-version settings).
fn same_snapshot(a: &FunctionRecord, b: &FunctionRecord) -> bool {
    let norm = |r: &FunctionRecord| FunctionRecord {
        code: CodeLocation::Dir(Default::default()),
        description: String::new(),
        last_modified: String::new(),
        revision_id: String::new(),
        reserved_concurrency: None,
        policy: Vec::new(),
        keys_fallback: true,
        event_invoke: None,
        version: None,
        last_version: 0,
        ..r.clone()
    };
    norm(a) == norm(b)
}

/// A version must not change when the file `$LATEST` runs is rebuilt in place: an executable
/// used in place (a manifest function's binary) is copied beside the unpacked packages, by
/// its digest (embedded store only: on a shared store, local paths stay paths).
fn snapshot_code(inner: &Inner, latest: &FunctionRecord) -> Result<Option<CodeLocation>> {
    let CodeLocation::Executable(path) = &latest.code else {
        return Ok(None);
    };
    if inner.store.is_remote() {
        return Ok(None);
    }
    let bytes = std::fs::read(path)?;
    let digest = {
        use base64::Engine as _;
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(&bytes);
        if base64::engine::general_purpose::STANDARD.encode(d) != latest.code_sha256 {
            // Rebuilt since `$LATEST` was last updated: the version takes what `$LATEST`
            // says it runs, so publish from the path as it is recorded.
            return Ok(None);
        }
        hex::encode(d)
    };
    let dir = inner
        .code_dir()
        .join(&latest.name)
        .join(format!("v-{digest}"));
    let file = dir.join(path.file_name().unwrap_or_else(|| "bootstrap".as_ref()));
    if !file.is_file() {
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        std::fs::write(&tmp, &bytes)?;
        let mode = std::fs::metadata(path)?.permissions();
        std::fs::set_permissions(&tmp, mode)?;
        std::fs::rename(&tmp, &file)?;
    }
    Ok(Some(CodeLocation::Executable(file)))
}

/// PublishVersion: a new version from `$LATEST`, or the last version when nothing changed
/// since it was published (as Lambda does). `CodeSha256` and `RevisionId` are preconditions
/// on `$LATEST`.
pub fn publish(inner: &Inner, name: &str, input: &Value) -> Result<FunctionRecord> {
    let arn = function_arn(&inner.config.region, &inner.config.account_id, name);
    let code_sha = text(input, "CodeSha256");
    let revision = text(input, "RevisionId");
    let description = description(input)?;
    let latest0 =
        catalog::get(&inner.store, name)?.ok_or_else(|| Error::FunctionNotFound(arn.clone()))?;
    let snapshot = snapshot_code(inner, &latest0)?;
    let now = nuvem_aws::time::AmzDate::from_system_time(std::time::SystemTime::now())
        .to_iso8601()
        .replace('Z', "+0000");
    let revision_id = uuid::Uuid::new_v4().to_string();
    inner.store.transact(|tx| {
        let k = catalog::key(name);
        let mut latest: FunctionRecord = match tx.get(&k)? {
            Some(v) => decode(&k, &v)?,
            None => return Err(Error::FunctionNotFound(arn.clone())),
        };
        if let Some(sha) = &code_sha
            && *sha != latest.code_sha256
        {
            return Err(Error::PreconditionFailed(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the current CodeSHA256.",
                latest.code_sha256
            )));
        }
        check_revision(revision.as_deref(), &latest.revision_id)?;
        let versions = list_versions(&*tx, name)?;
        if let Some(last) = versions.last()
            && same_snapshot(&latest, last)
        {
            return Ok(last.clone());
        }
        let n = versions
            .last()
            .and_then(|v| v.version)
            .unwrap_or(0)
            .max(latest.last_version)
            + 1;
        latest.last_version = n;
        let mut version = FunctionRecord {
            version: Some(n),
            last_version: 0,
            revision_id: revision_id.clone(),
            last_modified: now.clone(),
            policy: Vec::new(),
            event_invoke: None,
            ..latest.clone()
        };
        if let Some(d) = &description {
            version.description = d.clone();
        }
        if let Some(code) = &snapshot
            && latest0.code_sha256 == latest.code_sha256
        {
            version.code = code.clone();
        }
        tx.put(&k, &encode(&latest)?);
        tx.put(&version_key(name, n), &encode(&version)?);
        nuvem_store::cluster::touch(tx, &catalog::topic(name))?;
        Ok(version)
    })
}

/// ListVersionsByFunction: `$LATEST` first, then the versions in order, in pages.
pub fn list_versions_page(
    inner: &Inner,
    latest: &FunctionRecord,
    marker: Option<&str>,
    max_items: Option<&str>,
    shape: impl Fn(&FunctionRecord) -> Value,
) -> Result<Value> {
    let max = max_items_of(max_items)?;
    let mut all = vec![latest.clone()];
    all.extend(list_versions(&*inner.store.snapshot(), &latest.name)?);
    let start = match marker {
        Some(m) => all
            .iter()
            .position(|r| r.version_label() == m)
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&FunctionRecord> = all.iter().skip(start).take(max).collect();
    let versions: Vec<Value> = page
        .iter()
        .map(|r| {
            let mut c = shape(r);
            if r.version.is_none() {
                c["FunctionArn"] = json!(format!(
                    "{}:{LATEST}",
                    r.arn(&inner.config.region, &inner.config.account_id)
                ));
            }
            c
        })
        .collect();
    let mut out = json!({ "Versions": versions });
    if start + page.len() < all.len()
        && let Some(last) = page.last()
    {
        out["NextMarker"] = json!(last.version_label());
    }
    Ok(out)
}

fn max_items_of(max_items: Option<&str>) -> Result<usize> {
    match max_items {
        None => Ok(50),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err(Error::Validation(format!(
                "1 validation error detected: Value '{s}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000"
            ))),
        },
    }
}

/// Deletes published version `n`; refused while an alias routes to it. Returns its record.
pub fn delete_version(inner: &Inner, name: &str, n: u64) -> Result<FunctionRecord> {
    let arn = format!(
        "{}:{n}",
        function_arn(&inner.config.region, &inner.config.account_id, name)
    );
    inner.store.transact(|tx| {
        let Some(version) = get_version(&*tx, name, n)? else {
            return Err(Error::FunctionNotFound(arn.clone()));
        };
        let using: Vec<String> = list_aliases(&*tx, name)?
            .into_iter()
            .filter(|a| a.references(n))
            .map(|a| a.name)
            .collect();
        if !using.is_empty() {
            return Err(Error::Conflict(format!(
                "Unable to delete version because the following aliases reference it: [{}]",
                using.join(", ")
            )));
        }
        tx.delete(&version_key(name, n));
        crate::provisioned::delete_one(tx, name, &n.to_string());
        nuvem_store::cluster::touch(tx, &catalog::topic(name))?;
        Ok(version)
    })
}

fn alias_not_found(arn: &str) -> Error {
    Error::NotFound(format!("Alias not found: {arn}"))
}

/// An alias name: `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`, 1 to 128 characters.
fn check_alias_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(Error::Validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )))
    }
}

/// `RoutingConfig` as given: `None` when absent; an empty map clears the routing.
fn routing(input: &Value) -> Result<Option<BTreeMap<String, f64>>> {
    let Some(config) = input.get("RoutingConfig") else {
        return Ok(None);
    };
    let Some(weights) = config.get("AdditionalVersionWeights") else {
        return Ok(Some(BTreeMap::new()));
    };
    let Some(weights) = weights.as_object() else {
        if weights.is_null() {
            return Ok(Some(BTreeMap::new()));
        }
        return Err(Error::InvalidRequestContent(
            "AdditionalVersionWeights must be a map of version to weight".into(),
        ));
    };
    let mut out = BTreeMap::new();
    for (version, weight) in weights {
        let valid_key = !version.is_empty()
            && version.len() <= 1024
            && version.bytes().all(|b| b.is_ascii_digit());
        if !valid_key {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{version}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]"
            )));
        }
        let w = weight.as_f64().ok_or_else(|| {
            Error::InvalidRequestContent(format!("the weight of version {version} is not a number"))
        })?;
        if !(0.0..=1.0).contains(&w) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{w}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]"
            )));
        }
        out.insert(version.clone(), w);
    }
    Ok(Some(out))
}

/// Checks what an alias points at, in the transaction that writes it: the primary version
/// exists, and a weighted alias names one other published version (not `$LATEST`), run by
/// the same execution role
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html).
fn check_targets(
    tx: &dyn Read,
    inner: &Inner,
    name: &str,
    primary: &str,
    weights: &BTreeMap<String, f64>,
) -> Result<()> {
    let base = function_arn(&inner.config.region, &inner.config.account_id, name);
    let version = |v: &str| -> Result<FunctionRecord> {
        let n = match Qualifier::parse(v) {
            Ok(Qualifier::Version(n)) => n,
            _ => {
                return Err(Error::Validation(format!(
                    "1 validation error detected: Value '{v}' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)"
                )));
            }
        };
        get_version(tx, name, n)?.ok_or_else(|| Error::FunctionNotFound(format!("{base}:{v}")))
    };
    if primary == LATEST {
        if !weights.is_empty() {
            return Err(Error::InvalidParameter(
                "$LATEST is not supported for an alias pointing to more than 1 version".into(),
            ));
        }
        return Ok(());
    }
    let first = version(primary)?;
    if weights.len() > 1 {
        return Err(Error::InvalidParameter(format!(
            "An alias can point to at most two versions: AdditionalVersionWeights names {} versions, the limit is 1",
            weights.len()
        )));
    }
    for other in weights.keys() {
        if other == primary {
            return Err(Error::InvalidParameter(format!(
                "Invalid function version {other}. Function version {other} is already included in routing configuration."
            )));
        }
        let second = version(other)?;
        if second.role != first.role {
            return Err(Error::InvalidParameter(format!(
                "The versions of an alias with routing must have the same execution role: version {primary} has {}, version {other} has {}",
                first.role, second.role
            )));
        }
    }
    Ok(())
}

/// CreateAlias (201).
pub fn create_alias(inner: &Inner, name: &str, input: &Value) -> Result<Value> {
    let alias = text(input, "Name").ok_or_else(|| {
        Error::Validation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null".into())
    })?;
    check_alias_name(&alias)?;
    let primary = text(input, "FunctionVersion").ok_or_else(|| {
        Error::Validation("1 validation error detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null".into())
    })?;
    let record = AliasRecord {
        name: alias,
        function: name.to_owned(),
        function_version: primary,
        description: description(input)?.unwrap_or_default(),
        weights: routing(input)?.unwrap_or_default(),
        revision_id: uuid::Uuid::new_v4().to_string(),
        policy: Vec::new(),
        event_invoke: None,
    };
    let (region, account) = (&inner.config.region, &inner.config.account_id);
    let arn = record.arn(region, account);
    inner.store.transact(|tx| {
        if tx.get(&catalog::key(name))?.is_none() {
            return Err(Error::FunctionNotFound(function_arn(region, account, name)));
        }
        check_targets(&*tx, inner, name, &record.function_version, &record.weights)?;
        let k = alias_key(name, &record.name);
        if tx.get(&k)?.is_some() {
            return Err(Error::Conflict(format!("Alias already exists: {arn}")));
        }
        tx.put(&k, &encode(&record)?);
        nuvem_store::cluster::touch(tx, &catalog::topic(name))?;
        Ok(())
    })?;
    inner.forget_aliases(name);
    Ok(record.shape(region, account))
}

pub fn get_alias_shape(inner: &Inner, name: &str, alias: &str) -> Result<Value> {
    let (region, account) = (&inner.config.region, &inner.config.account_id);
    let arn = format!("{}:{alias}", function_arn(region, account, name));
    let snap = inner.store.snapshot();
    if catalog::get(&inner.store, name)?.is_none() {
        return Err(Error::FunctionNotFound(function_arn(region, account, name)));
    }
    get_alias(&*snap, name, alias)?
        .map(|a| a.shape(region, account))
        .ok_or_else(|| alias_not_found(&arn))
}

/// UpdateAlias: the members given replace the alias's (an empty `RoutingConfig` clears the
/// routing); `RevisionId` is a precondition.
pub fn update_alias(inner: &Inner, name: &str, alias: &str, input: &Value) -> Result<Value> {
    let (region, account) = (&inner.config.region, &inner.config.account_id);
    let arn = format!("{}:{alias}", function_arn(region, account, name));
    let primary = text(input, "FunctionVersion");
    let description = description(input)?;
    let weights = routing(input)?;
    let revision = text(input, "RevisionId");
    let new_revision = uuid::Uuid::new_v4().to_string();
    let updated = inner.store.transact(|tx| {
        if tx.get(&catalog::key(name))?.is_none() {
            return Err(Error::FunctionNotFound(function_arn(region, account, name)));
        }
        let mut a = get_alias(&*tx, name, alias)?.ok_or_else(|| alias_not_found(&arn))?;
        check_revision(revision.as_deref(), &a.revision_id)?;
        if let Some(v) = &primary {
            a.function_version = v.clone();
        }
        if let Some(d) = &description {
            a.description = d.clone();
        }
        if let Some(w) = &weights {
            a.weights = w.clone();
        }
        check_targets(&*tx, inner, name, &a.function_version, &a.weights)?;
        a.revision_id = new_revision.clone();
        tx.put(&alias_key(name, alias), &encode(&a)?);
        nuvem_store::cluster::touch(tx, &catalog::topic(name))?;
        Ok(a)
    })?;
    inner.forget_aliases(name);
    Ok(updated.shape(region, account))
}

pub fn delete_alias(inner: &Inner, name: &str, alias: &str) -> Result<()> {
    let (region, account) = (&inner.config.region, &inner.config.account_id);
    let arn = format!("{}:{alias}", function_arn(region, account, name));
    inner.store.transact(|tx| {
        if tx.get(&catalog::key(name))?.is_none() {
            return Err(Error::FunctionNotFound(function_arn(region, account, name)));
        }
        let k = alias_key(name, alias);
        if tx.get(&k)?.is_none() {
            return Err(alias_not_found(&arn));
        }
        tx.delete(&k);
        crate::provisioned::delete_one(tx, name, alias);
        nuvem_store::cluster::touch(tx, &catalog::topic(name))?;
        Ok(())
    })?;
    inner.forget_aliases(name);
    Ok(())
}

/// ListAliases, optionally only those that route to `version`, in pages.
pub fn list_aliases_page(
    inner: &Inner,
    name: &str,
    version: Option<&str>,
    marker: Option<&str>,
    max_items: Option<&str>,
) -> Result<Value> {
    let (region, account) = (&inner.config.region, &inner.config.account_id);
    let max = max_items_of(max_items)?;
    if catalog::get(&inner.store, name)?.is_none() {
        return Err(Error::FunctionNotFound(function_arn(region, account, name)));
    }
    let mut all = list_aliases(&*inner.store.snapshot(), name)?;
    if let Some(v) = version {
        all.retain(|a| a.function_version == v || a.weights.contains_key(v));
    }
    let start = match marker {
        Some(m) => all
            .iter()
            .position(|a| a.name.as_str() > m)
            .unwrap_or(all.len()),
        None => 0,
    };
    let page: Vec<&AliasRecord> = all.iter().skip(start).take(max).collect();
    let mut out = json!({
        "Aliases": page.iter().map(|a| a.shape(region, account)).collect::<Vec<_>>(),
    });
    if start + page.len() < all.len()
        && let Some(last) = page.last()
    {
        out["NextMarker"] = json!(last.name);
    }
    Ok(out)
}

/// The function name of a reference used by an operation on the function as a whole
/// (PublishVersion, the alias operations): a qualifier, if any, must be `$LATEST`.
pub fn unqualified(reference: &str) -> Result<String> {
    let f = FunctionRef::parse(reference)?;
    match f.qualifier(None)? {
        None | Some(Qualifier::Latest) => Ok(f.name),
        Some(q) => Err(Error::InvalidParameter(format!(
            "This operation applies to the function as a whole: remove the qualifier {} from the function name",
            q.label()
        ))),
    }
}
