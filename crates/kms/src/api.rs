//! The KMS operations on their JSON input
//! (<https://docs.aws.amazon.com/kms/latest/APIReference/API_Operations.html>): CreateKey,
//! DescribeKey, ListKeys, CreateAlias/UpdateAlias/DeleteAlias/ListAliases, EnableKey/DisableKey,
//! ScheduleKeyDeletion/CancelKeyDeletion, Encrypt, Decrypt, GenerateDataKey and
//! GenerateDataKeyWithoutPlaintext. Anything else is `UnknownOperationException`.
//!
//! AWS managed keys (`aws/s3`) follow their key policy: readable (DescribeKey, ListKeys,
//! ListAliases), usable only by the service they belong to (a direct Encrypt, Decrypt or
//! GenerateDataKey is `AccessDeniedException`, as the policy's `kms:ViaService` condition
//! makes it), never disabled, deleted or aliased by the account.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::KmsError;
use crate::keyring::{self, AliasRecord, Context, KeyRecord, KeyState, Manager};
use crate::{Kms, now_millis};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn null_member(name: &str) -> KmsError {
    KmsError::Validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(name)
    ))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// An optional string member (a wrong type is a serialization error, as the SDKs' models say).
fn opt_str<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, KmsError> {
    match &input[name] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(KmsError::Serialization(format!("{name} must be a string"))),
    }
}

fn req_str<'a>(input: &'a Value, name: &str) -> Result<&'a str, KmsError> {
    opt_str(input, name)?.ok_or_else(|| null_member(name))
}

fn opt_int(input: &Value, name: &str) -> Result<Option<i64>, KmsError> {
    match &input[name] {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| KmsError::Serialization(format!("{name} must be an integer"))),
        _ => Err(KmsError::Serialization(format!(
            "{name} must be an integer"
        ))),
    }
}

fn opt_bool(input: &Value, name: &str) -> Result<bool, KmsError> {
    match &input[name] {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(KmsError::Serialization(format!("{name} must be a boolean"))),
    }
}

/// A blob member: base64 in JSON.
fn req_blob(input: &Value, name: &str) -> Result<Vec<u8>, KmsError> {
    let s = req_str(input, name)?;
    B64.decode(s)
        .map_err(|_| KmsError::Serialization(format!("{name} is not valid base64")))
}

/// `EncryptionContext`: a map of strings.
pub fn context(input: &Value) -> Result<Context, KmsError> {
    match &input["EncryptionContext"] {
        Value::Null => Ok(Context::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(KmsError::Serialization(
                    "EncryptionContext values must be strings".into(),
                )),
            })
            .collect(),
        _ => Err(KmsError::Serialization(
            "EncryptionContext must be a map of strings".into(),
        )),
    }
}

/// `Limit` of the List operations: 1 to 1000, default 100.
fn limit(input: &Value) -> Result<usize, KmsError> {
    match opt_int(input, "Limit")? {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(usize::try_from(n).unwrap_or(100)),
        Some(n) => Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
        ))),
    }
}

fn seconds(ms: i64) -> f64 {
    // Epoch seconds with milliseconds, as KMS's timestamps are.
    ms as f64 / 1000.0
}

/// Alias names: `alias/` then letters, digits, `/_-`, at most 256 characters in all
/// (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html).
fn check_alias_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::Validation(format!(
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html ({name})"
        )));
    };
    if name.len() > 256
        || rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        )));
    }
    if rest.starts_with("aws/") {
        return Err(KmsError::InvalidAliasName(
            "Alias must not begin with the reserved prefix \"alias/aws/\".".into(),
        ));
    }
    Ok(())
}

impl Kms {
    /// Runs one operation ("CreateKey", "Decrypt", ...) on its JSON input and returns the
    /// JSON output. Blocking: call inside [`nuvem_store::Store::run`].
    pub fn execute(&self, operation: &str, input: &Value) -> Result<Value, KmsError> {
        match operation {
            "CreateKey" => self.create_key(input),
            "DescribeKey" => self.describe_key(input),
            "ListKeys" => self.list_keys(input),
            "EnableKey" => self.set_enabled(input, true),
            "DisableKey" => self.set_enabled(input, false),
            "ScheduleKeyDeletion" => self.schedule_deletion(input),
            "CancelKeyDeletion" => self.cancel_deletion(input),
            "CreateAlias" => self.create_alias(input),
            "UpdateAlias" => self.update_alias(input),
            "DeleteAlias" => self.delete_alias(input),
            "ListAliases" => self.list_aliases(input),
            "Encrypt" => self.encrypt(input),
            "Decrypt" => self.decrypt(input),
            "GenerateDataKey" => self.generate_data_key(input, true),
            "GenerateDataKeyWithoutPlaintext" => self.generate_data_key(input, false),
            other => Err(KmsError::UnknownOperation(other.to_string())),
        }
    }

    fn metadata(&self, rec: &KeyRecord) -> Value {
        let mut m = json!({
            "AWSAccountId": self.config.account_id,
            "KeyId": rec.id,
            "Arn": self.key_arn(&rec.id),
            "CreationDate": seconds(rec.created_ms),
            "Enabled": rec.state == KeyState::Enabled,
            "Description": rec.description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": rec.state.name(),
            "Origin": "AWS_KMS",
            "KeyManager": match rec.manager { Manager::Customer => "CUSTOMER", Manager::Aws => "AWS" },
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": false,
        });
        if let Some(d) = rec.deletion_ms {
            m["DeletionDate"] = json!(seconds(d));
        }
        m
    }

    fn dry_run(input: &Value) -> Result<(), KmsError> {
        if opt_bool(input, "DryRun")? {
            return Err(KmsError::DryRun);
        }
        Ok(())
    }

    fn create_key(&self, input: &Value) -> Result<Value, KmsError> {
        let description = opt_str(input, "Description")?.unwrap_or_default();
        if description.chars().count() > 8192 {
            return Err(KmsError::Validation(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192".into(),
            ));
        }
        if let Some(u) = opt_str(input, "KeyUsage")?
            && u != "ENCRYPT_DECRYPT"
        {
            return Err(KmsError::Unsupported(format!(
                "KeyUsage {u} is not supported by nuvem's KMS: only ENCRYPT_DECRYPT symmetric keys."
            )));
        }
        let spec = opt_str(input, "KeySpec")?;
        let cmk_spec = opt_str(input, "CustomerMasterKeySpec")?;
        if spec.is_some() && cmk_spec.is_some() {
            return Err(KmsError::Validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec only.".into(),
            ));
        }
        if let Some(s) = spec.or(cmk_spec)
            && s != "SYMMETRIC_DEFAULT"
        {
            return Err(KmsError::Unsupported(format!(
                "KeySpec {s} is not supported by nuvem's KMS: only SYMMETRIC_DEFAULT."
            )));
        }
        if let Some(o) = opt_str(input, "Origin")?
            && o != "AWS_KMS"
        {
            return Err(KmsError::Unsupported(format!(
                "Origin {o} is not supported by nuvem's KMS: only AWS_KMS."
            )));
        }
        if opt_bool(input, "MultiRegion")? {
            return Err(KmsError::Unsupported(
                "Multi-Region keys are not supported by nuvem's KMS.".into(),
            ));
        }
        if opt_str(input, "XksKeyId")?.is_some() || opt_str(input, "CustomKeyStoreId")?.is_some() {
            return Err(KmsError::Unsupported(
                "Custom key stores are not supported by nuvem's KMS.".into(),
            ));
        }
        // A key policy that is not evaluated would be a silently ignored security request.
        if opt_str(input, "Policy")?.is_some() {
            return Err(KmsError::Unsupported(
                "Key policies are not supported by nuvem's KMS: omit Policy; IAM identity policies decide who may use a key (the default key policy's effect).".into(),
            ));
        }
        let tags = match &input["Tags"] {
            Value::Null => Vec::new(),
            Value::Array(a) => {
                if a.len() > 50 {
                    return Err(KmsError::Validation(
                        "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
                    ));
                }
                a.iter()
                    .map(|t| {
                        Ok((
                            req_str(t, "TagKey")?.to_owned(),
                            req_str(t, "TagValue")?.to_owned(),
                        ))
                    })
                    .collect::<Result<Vec<_>, KmsError>>()?
            }
            _ => return Err(KmsError::Serialization("Tags must be a list".into())),
        };
        let now = now_millis();
        let rec = self.new_key(description.to_owned(), Manager::Customer, tags, now)?;
        let value = keyring::encode(&rec);
        self.store.transact(|tx| {
            keyring::purge_deleted(tx, now)?;
            tx.put(&keyring::key_record_key(&rec.id), &value);
            Ok::<_, KmsError>(())
        })?;
        Ok(json!({ "KeyMetadata": self.metadata(&rec) }))
    }

    fn describe_key(&self, input: &Value) -> Result<Value, KmsError> {
        let rec = self.resolve_or_create(req_str(input, "KeyId")?)?;
        Ok(json!({ "KeyMetadata": self.metadata(&rec) }))
    }

    fn list_keys(&self, input: &Value) -> Result<Value, KmsError> {
        let limit = limit(input)?;
        let marker = opt_str(input, "Marker")?;
        let mut keys = keyring::list_keys(&*self.store.snapshot(), marker, limit, now_millis())?;
        let truncated = keys.len() > limit;
        keys.truncate(limit);
        let mut out = json!({
            "Keys": keys.iter().map(|k| json!({"KeyId": k.id, "KeyArn": self.key_arn(&k.id)})).collect::<Vec<_>>(),
            "Truncated": truncated,
        });
        if truncated && let Some(last) = keys.last() {
            out["NextMarker"] = json!(last.id);
        }
        Ok(out)
    }

    /// Changes a customer managed key in one transaction, re-reading it there.
    fn change_key(
        &self,
        key_id: &str,
        action: &str,
        change: impl Fn(&mut KeyRecord, i64) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let now = now_millis();
        self.store.transact(|tx| {
            let mut rec = self.resolve(&*tx, key_id, now)?;
            if rec.manager == Manager::Aws {
                return Err(KmsError::AccessDenied(format!(
                    "{} is an AWS managed key: its key policy does not allow kms:{action}.",
                    self.key_arn(&rec.id)
                )));
            }
            change(&mut rec, now)?;
            tx.put(&keyring::key_record_key(&rec.id), &keyring::encode(&rec));
            Ok(rec)
        })
    }

    fn set_enabled(&self, input: &Value, enabled: bool) -> Result<Value, KmsError> {
        let action = if enabled { "EnableKey" } else { "DisableKey" };
        self.change_key(req_str(input, "KeyId")?, action, |rec, _| {
            if rec.state == KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!(
                    "{} is pending deletion.",
                    self.key_arn(&rec.id)
                )));
            }
            rec.state = if enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn schedule_deletion(&self, input: &Value) -> Result<Value, KmsError> {
        let days = match opt_int(input, "PendingWindowInDays")? {
            None => 30,
            Some(d) if (7..=30).contains(&d) => d,
            Some(d) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{d}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30"
                )));
            }
        };
        let rec = self.change_key(
            req_str(input, "KeyId")?,
            "ScheduleKeyDeletion",
            |rec, now| {
                if rec.state == KeyState::PendingDeletion {
                    return Err(KmsError::InvalidState(format!(
                        "{} is pending deletion.",
                        self.key_arn(&rec.id)
                    )));
                }
                rec.state = KeyState::PendingDeletion;
                rec.deletion_ms = Some(now + days * 86_400_000);
                rec.pending_days = u32::try_from(days).ok();
                Ok(())
            },
        )?;
        Ok(json!({
            "KeyId": self.key_arn(&rec.id),
            "DeletionDate": seconds(rec.deletion_ms.unwrap_or_default()),
            "KeyState": rec.state.name(),
            "PendingWindowInDays": days,
        }))
    }

    fn cancel_deletion(&self, input: &Value) -> Result<Value, KmsError> {
        let rec = self.change_key(req_str(input, "KeyId")?, "CancelKeyDeletion", |rec, _| {
            if rec.state != KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!(
                    "{} is not pending deletion.",
                    self.key_arn(&rec.id)
                )));
            }
            // A canceled deletion leaves the key Disabled
            // (https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html).
            rec.state = KeyState::Disabled;
            rec.deletion_ms = None;
            rec.pending_days = None;
            Ok(())
        })?;
        Ok(json!({ "KeyId": self.key_arn(&rec.id) }))
    }

    /// The customer managed key an alias may point at: named by key id or key ARN, not
    /// pending deletion.
    fn alias_target(
        &self,
        r: &dyn nuvem_store::Read,
        key_id: &str,
        now: i64,
    ) -> Result<KeyRecord, KmsError> {
        if key_id.starts_with("alias/") || key_id.contains(":alias/") {
            return Err(KmsError::Validation(
                "Aliases must refer to keys. Not aliases".into(),
            ));
        }
        let rec = self.resolve(r, key_id, now)?;
        if rec.manager == Manager::Aws {
            return Err(KmsError::AccessDenied(format!(
                "{} is an AWS managed key: an alias cannot point at it.",
                self.key_arn(&rec.id)
            )));
        }
        if rec.state == KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                self.key_arn(&rec.id)
            )));
        }
        Ok(rec)
    }

    fn create_alias(&self, input: &Value) -> Result<Value, KmsError> {
        let name = req_str(input, "AliasName")?;
        let target = req_str(input, "TargetKeyId")?;
        check_alias_name(name)?;
        let now = now_millis();
        self.store.transact(|tx| {
            keyring::purge_deleted(tx, now)?;
            if keyring::get_alias(&*tx, name)?.is_some() {
                return Err(KmsError::AlreadyExists(format!(
                    "An alias with the name {} already exists",
                    self.alias_arn(name)
                )));
            }
            let rec = self.alias_target(&*tx, target, now)?;
            let alias = AliasRecord {
                name: name.to_owned(),
                target: rec.id,
                created_ms: now,
                updated_ms: now,
            };
            tx.put(&keyring::alias_record_key(name), &keyring::encode(&alias));
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn update_alias(&self, input: &Value) -> Result<Value, KmsError> {
        let name = req_str(input, "AliasName")?;
        let target = req_str(input, "TargetKeyId")?;
        check_alias_name(name)?;
        let now = now_millis();
        self.store.transact(|tx| {
            let Some(mut alias) = keyring::get_alias(&*tx, name)? else {
                return Err(KmsError::NotFound(format!(
                    "Alias {} is not found.",
                    self.alias_arn(name)
                )));
            };
            let rec = self.alias_target(&*tx, target, now)?;
            alias.target = rec.id;
            alias.updated_ms = now;
            tx.put(&keyring::alias_record_key(name), &keyring::encode(&alias));
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn delete_alias(&self, input: &Value) -> Result<Value, KmsError> {
        let name = req_str(input, "AliasName")?;
        if name.starts_with("alias/aws/") {
            return Err(KmsError::InvalidAliasName(
                "Alias must not begin with the reserved prefix \"alias/aws/\".".into(),
            ));
        }
        self.store.transact(|tx| {
            if keyring::get_alias(&*tx, name)?.is_none() {
                return Err(KmsError::NotFound(format!(
                    "Alias {} is not found.",
                    self.alias_arn(name)
                )));
            }
            tx.delete(&keyring::alias_record_key(name));
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn list_aliases(&self, input: &Value) -> Result<Value, KmsError> {
        let limit = limit(input)?;
        let marker = opt_str(input, "Marker")?;
        let snap = self.store.snapshot();
        let now = now_millis();
        let only = match opt_str(input, "KeyId")? {
            Some(k) => {
                if k.starts_with("alias/") || k.contains(":alias/") {
                    return Err(KmsError::InvalidArn(format!(
                        "KeyId must be a key id or key ARN, not an alias: {k}"
                    )));
                }
                Some(self.resolve(&*snap, k, now)?.id)
            }
            None => None,
        };
        let mut aliases: Vec<AliasRecord> = keyring::list_aliases(&*snap)?
            .into_iter()
            .filter(|a| marker.is_none_or(|m| a.name.as_str() > m))
            .filter(|a| only.as_ref().is_none_or(|id| &a.target == id))
            // An alias of a deleted key is gone with it.
            .filter(|a| keyring::get_key(&*snap, &a.target, now).is_ok_and(|k| k.is_some()))
            .take(limit + 1)
            .collect();
        let truncated = aliases.len() > limit;
        aliases.truncate(limit);
        let mut out = json!({
            "Aliases": aliases.iter().map(|a| json!({
                "AliasName": a.name,
                "AliasArn": self.alias_arn(&a.name),
                "TargetKeyId": a.target,
                "CreationDate": seconds(a.created_ms),
                "LastUpdatedDate": seconds(a.updated_ms),
            })).collect::<Vec<_>>(),
            "Truncated": truncated,
        });
        if truncated && let Some(last) = aliases.last() {
            out["NextMarker"] = json!(last.name);
        }
        Ok(out)
    }

    /// The key of a cryptographic operation called directly: AWS managed keys are for their
    /// service only.
    fn key_for_direct_use(&self, key_id: &str, action: &str) -> Result<KeyRecord, KmsError> {
        let rec = self.resolve_or_create(key_id)?;
        if rec.manager == Manager::Aws {
            return Err(KmsError::AccessDenied(format!(
                "{} is an AWS managed key: its key policy allows kms:{action} only through the service it belongs to.",
                self.key_arn(&rec.id)
            )));
        }
        Ok(rec)
    }

    fn check_algorithm(input: &Value) -> Result<(), KmsError> {
        match opt_str(input, "EncryptionAlgorithm")? {
            None | Some("SYMMETRIC_DEFAULT") => Ok(()),
            Some(a) => Err(KmsError::Validation(format!(
                "EncryptionAlgorithm {a} is not valid for a SYMMETRIC_DEFAULT key; use SYMMETRIC_DEFAULT."
            ))),
        }
    }

    fn encrypt(&self, input: &Value) -> Result<Value, KmsError> {
        let key_id = req_str(input, "KeyId")?;
        let plaintext = req_blob(input, "Plaintext")?;
        if plaintext.is_empty() || plaintext.len() > 4096 {
            return Err(KmsError::Validation(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096".into(),
            ));
        }
        let context = context(input)?;
        Self::check_algorithm(input)?;
        let rec = self.key_for_direct_use(key_id, "Encrypt")?;
        self.usable(&rec)?;
        Self::dry_run(input)?;
        let key = self.vault.material(&rec)?;
        let blob = keyring::seal(&key, &rec.id, &context, &plaintext)?;
        Ok(json!({
            "CiphertextBlob": B64.encode(blob),
            "KeyId": self.key_arn(&rec.id),
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }))
    }

    fn decrypt(&self, input: &Value) -> Result<Value, KmsError> {
        let blob = req_blob(input, "CiphertextBlob")?;
        let context = context(input)?;
        Self::check_algorithm(input)?;
        let rec = self.blob_record(&blob)?;
        if let Some(k) = opt_str(input, "KeyId")? {
            let named = self.resolve(&*self.store.snapshot(), k, now_millis())?;
            if named.id != rec.id {
                return Err(KmsError::IncorrectKey(
                    "The key ID in the request does not identify a KMS key that can perform this operation.".into(),
                ));
            }
        }
        if rec.manager == Manager::Aws {
            return Err(KmsError::AccessDenied(format!(
                "{} is an AWS managed key: its key policy allows kms:Decrypt only through the service it belongs to.",
                self.key_arn(&rec.id)
            )));
        }
        let plaintext = self.open_blob(&rec, &blob, &context)?;
        Self::dry_run(input)?;
        Ok(json!({
            "KeyId": self.key_arn(&rec.id),
            "Plaintext": B64.encode(plaintext),
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }))
    }

    fn generate_data_key(&self, input: &Value, with_plaintext: bool) -> Result<Value, KmsError> {
        let key_id = req_str(input, "KeyId")?;
        let len = match (opt_str(input, "KeySpec")?, opt_int(input, "NumberOfBytes")?) {
            (Some(_), Some(_)) => {
                return Err(KmsError::Validation(
                    "Please specify either number of bytes or key spec.".into(),
                ));
            }
            (None, None) => {
                return Err(KmsError::Validation(
                    "Please specify either number of bytes or key spec.".into(),
                ));
            }
            (Some("AES_256"), None) => 32,
            (Some("AES_128"), None) => 16,
            (Some(s), None) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{s}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
                )));
            }
            (None, Some(n)) if (1..=1024).contains(&n) => usize::try_from(n).unwrap_or(32),
            (None, Some(n)) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
                )));
            }
        };
        let context = context(input)?;
        let action = if with_plaintext {
            "GenerateDataKey"
        } else {
            "GenerateDataKeyWithoutPlaintext"
        };
        let rec = self.key_for_direct_use(key_id, action)?;
        self.usable(&rec)?;
        Self::dry_run(input)?;
        let key = self.generate(&rec, &context, len)?;
        let mut out = json!({
            "CiphertextBlob": B64.encode(&key.ciphertext),
            "KeyId": key.key_arn,
        });
        if with_plaintext {
            out["Plaintext"] = json!(B64.encode(&key.plaintext));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KmsConfig;
    use nuvem_store::{Durability, FjallEngine, Store};

    fn kms() -> (Kms, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path(), Durability::Process).unwrap();
        let kms = Kms::new(
            Store::new(engine),
            KmsConfig {
                region: "eu-west-1".into(),
                account_id: "000000000000".into(),
            },
            &[7u8; 32],
        )
        .unwrap();
        (kms, dir)
    }

    /// Runs `op` on `input` and checks the error code, or success (`None`).
    #[track_caller]
    fn check(kms: &Kms, op: &str, input: Value, want: Option<&str>) -> Value {
        match (kms.execute(op, &input), want) {
            (Ok(v), None) => v,
            (Err(e), Some(code)) => {
                assert_eq!(e.code(), code, "{op} {input}: {e}");
                Value::Null
            }
            (Ok(v), Some(code)) => panic!("{op} {input}: expected {code}, got {v}"),
            (Err(e), None) => panic!("{op} {input}: expected success, got {} {e}", e.code()),
        }
    }

    #[test]
    fn validation() {
        let (k, _d) = kms();
        let key = check(&k, "CreateKey", json!({"Description": "d"}), None);
        let id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
        assert_eq!(key["KeyMetadata"]["KeyState"], "Enabled");
        assert_eq!(arn, format!("arn:aws:kms:eu-west-1:000000000000:key/{id}"));
        let bad = [
            (
                "CreateKey",
                json!({"KeyUsage": "SIGN_VERIFY"}),
                "UnsupportedOperationException",
            ),
            (
                "CreateKey",
                json!({"KeySpec": "RSA_2048"}),
                "UnsupportedOperationException",
            ),
            (
                "CreateKey",
                json!({"KeySpec": "SYMMETRIC_DEFAULT", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT"}),
                "ValidationException",
            ),
            (
                "CreateKey",
                json!({"Origin": "EXTERNAL"}),
                "UnsupportedOperationException",
            ),
            (
                "CreateKey",
                json!({"Policy": "{}"}),
                "UnsupportedOperationException",
            ),
            (
                "CreateKey",
                json!({"Description": 5}),
                "SerializationException",
            ),
            ("DescribeKey", json!({}), "ValidationException"),
            ("DescribeKey", json!({"KeyId": "nope"}), "NotFoundException"),
            (
                "DescribeKey",
                json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
                "NotFoundException",
            ),
            (
                "DescribeKey",
                json!({"KeyId": "alias/none"}),
                "NotFoundException",
            ),
            (
                "DescribeKey",
                json!({"KeyId": "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"}),
                "NotFoundException",
            ),
            (
                "DescribeKey",
                json!({"KeyId": "arn:aws:s3:::b"}),
                "InvalidArnException",
            ),
            ("ListKeys", json!({"Limit": 0}), "ValidationException"),
            ("ListKeys", json!({"Limit": 1001}), "ValidationException"),
            (
                "CreateAlias",
                json!({"AliasName": "nope", "TargetKeyId": id}),
                "ValidationException",
            ),
            (
                "CreateAlias",
                json!({"AliasName": "alias/a b", "TargetKeyId": id}),
                "ValidationException",
            ),
            (
                "CreateAlias",
                json!({"AliasName": "alias/aws/mine", "TargetKeyId": id}),
                "InvalidAliasNameException",
            ),
            (
                "CreateAlias",
                json!({"AliasName": "alias/x", "TargetKeyId": "alias/y"}),
                "ValidationException",
            ),
            (
                "CreateAlias",
                json!({"AliasName": "alias/x"}),
                "ValidationException",
            ),
            (
                "DeleteAlias",
                json!({"AliasName": "alias/none"}),
                "NotFoundException",
            ),
            (
                "ScheduleKeyDeletion",
                json!({"KeyId": id, "PendingWindowInDays": 6}),
                "ValidationException",
            ),
            (
                "ScheduleKeyDeletion",
                json!({"KeyId": id, "PendingWindowInDays": 31}),
                "ValidationException",
            ),
            (
                "CancelKeyDeletion",
                json!({"KeyId": id}),
                "KMSInvalidStateException",
            ),
            ("Encrypt", json!({"KeyId": id}), "ValidationException"),
            (
                "Encrypt",
                json!({"KeyId": id, "Plaintext": ""}),
                "ValidationException",
            ),
            (
                "Encrypt",
                json!({"KeyId": id, "Plaintext": "***"}),
                "SerializationException",
            ),
            (
                "Encrypt",
                json!({"KeyId": id, "Plaintext": B64.encode([0u8; 4097])}),
                "ValidationException",
            ),
            (
                "Encrypt",
                json!({"KeyId": id, "Plaintext": "aGk=", "EncryptionContext": {"a": 1}}),
                "SerializationException",
            ),
            (
                "Encrypt",
                json!({"KeyId": id, "Plaintext": "aGk=", "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
                "ValidationException",
            ),
            (
                "Encrypt",
                json!({"KeyId": id, "Plaintext": "aGk=", "DryRun": true}),
                "DryRunOperationException",
            ),
            (
                "GenerateDataKey",
                json!({"KeyId": id}),
                "ValidationException",
            ),
            (
                "GenerateDataKey",
                json!({"KeyId": id, "KeySpec": "AES_256", "NumberOfBytes": 32}),
                "ValidationException",
            ),
            (
                "GenerateDataKey",
                json!({"KeyId": id, "KeySpec": "AES_512"}),
                "ValidationException",
            ),
            (
                "GenerateDataKey",
                json!({"KeyId": id, "NumberOfBytes": 1025}),
                "ValidationException",
            ),
            (
                "Decrypt",
                json!({"CiphertextBlob": B64.encode(b"not a blob")}),
                "InvalidCiphertextException",
            ),
            ("Sign", json!({}), "UnknownOperationException"),
        ];
        for (op, input, code) in bad {
            check(&k, op, input, Some(code));
        }
    }

    #[test]
    fn crypto_and_states() {
        let (k, _d) = kms();
        let id = check(&k, "CreateKey", json!({}), None)["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        check(
            &k,
            "CreateAlias",
            json!({"AliasName": "alias/app", "TargetKeyId": id}),
            None,
        );
        check(
            &k,
            "CreateAlias",
            json!({"AliasName": "alias/app", "TargetKeyId": id}),
            Some("AlreadyExistsException"),
        );
        let ctx = json!({"purpose": "test"});
        let enc = check(
            &k,
            "Encrypt",
            json!({"KeyId": "alias/app", "Plaintext": "aGVsbG8=", "EncryptionContext": ctx}),
            None,
        );
        let blob = enc["CiphertextBlob"].as_str().unwrap().to_owned();
        let dec = check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": ctx}),
            None,
        );
        assert_eq!(dec["Plaintext"], "aGVsbG8=");
        assert_eq!(dec["KeyId"], k.key_arn(&id));
        // A different (or missing) context, a tampered blob, another KeyId: refused.
        check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": blob}),
            Some("InvalidCiphertextException"),
        );
        check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": {"purpose": "other"}}),
            Some("InvalidCiphertextException"),
        );
        let mut raw = B64.decode(&blob).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": B64.encode(&raw), "EncryptionContext": ctx}),
            Some("InvalidCiphertextException"),
        );
        let other = check(&k, "CreateKey", json!({}), None)["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": ctx, "KeyId": other}),
            Some("IncorrectKeyException"),
        );
        // Data keys: plaintext decrypts from the blob; WithoutPlaintext has none.
        let dk = check(
            &k,
            "GenerateDataKey",
            json!({"KeyId": id, "KeySpec": "AES_128"}),
            None,
        );
        assert_eq!(
            B64.decode(dk["Plaintext"].as_str().unwrap()).unwrap().len(),
            16
        );
        let back = check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": dk["CiphertextBlob"]}),
            None,
        );
        assert_eq!(back["Plaintext"], dk["Plaintext"]);
        let wp = check(
            &k,
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": id, "NumberOfBytes": 64}),
            None,
        );
        assert!(wp.get("Plaintext").is_none());
        // Disabled: no encrypt or decrypt; enabled again: both.
        check(&k, "DisableKey", json!({"KeyId": id}), None);
        check(
            &k,
            "Encrypt",
            json!({"KeyId": id, "Plaintext": "aGk="}),
            Some("DisabledException"),
        );
        check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": ctx}),
            Some("DisabledException"),
        );
        check(&k, "EnableKey", json!({"KeyId": id}), None);
        check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": ctx}),
            None,
        );
        // Pending deletion: unusable, cannot be enabled; canceled: Disabled.
        let sched = check(
            &k,
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 7}),
            None,
        );
        assert_eq!(sched["KeyState"], "PendingDeletion");
        assert_eq!(sched["PendingWindowInDays"], 7);
        check(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": ctx}),
            Some("KMSInvalidStateException"),
        );
        check(
            &k,
            "EnableKey",
            json!({"KeyId": id}),
            Some("KMSInvalidStateException"),
        );
        check(
            &k,
            "ScheduleKeyDeletion",
            json!({"KeyId": id}),
            Some("KMSInvalidStateException"),
        );
        let d = check(&k, "DescribeKey", json!({"KeyId": id}), None);
        assert!(d["KeyMetadata"]["DeletionDate"].is_number());
        check(&k, "CancelKeyDeletion", json!({"KeyId": id}), None);
        let d = check(&k, "DescribeKey", json!({"KeyId": "alias/app"}), None);
        assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");
        assert_eq!(d["KeyMetadata"]["Enabled"], false);
        // Lists: paging by marker; aliases filtered by key.
        let page = check(&k, "ListKeys", json!({"Limit": 1}), None);
        assert_eq!(page["Truncated"], true);
        let rest = check(&k, "ListKeys", json!({"Marker": page["NextMarker"]}), None);
        assert_eq!(rest["Keys"].as_array().unwrap().len(), 1);
        assert_eq!(rest["Truncated"], false);
        let al = check(&k, "ListAliases", json!({"KeyId": id}), None);
        assert_eq!(al["Aliases"][0]["AliasName"], "alias/app");
        assert_eq!(al["Aliases"][0]["TargetKeyId"], id.as_str());
        let none = check(&k, "ListAliases", json!({"KeyId": other}), None);
        assert_eq!(none["Aliases"].as_array().unwrap().len(), 0);
        check(
            &k,
            "UpdateAlias",
            json!({"AliasName": "alias/app", "TargetKeyId": other}),
            None,
        );
        check(&k, "DeleteAlias", json!({"AliasName": "alias/app"}), None);
        check(
            &k,
            "DescribeKey",
            json!({"KeyId": "alias/app"}),
            Some("NotFoundException"),
        );
    }

    #[test]
    fn aws_managed_key() {
        let (k, _d) = kms();
        // DescribeKey of the alias creates the key; it is AWS managed and not for direct use.
        let d = check(&k, "DescribeKey", json!({"KeyId": "alias/aws/s3"}), None);
        assert_eq!(d["KeyMetadata"]["KeyManager"], "AWS");
        let id = d["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let again = check(&k, "DescribeKey", json!({"KeyId": "alias/aws/s3"}), None);
        assert_eq!(again["KeyMetadata"]["KeyId"], id.as_str());
        check(
            &k,
            "Encrypt",
            json!({"KeyId": "alias/aws/s3", "Plaintext": "aGk="}),
            Some("AccessDeniedException"),
        );
        check(
            &k,
            "DisableKey",
            json!({"KeyId": id}),
            Some("AccessDeniedException"),
        );
        check(
            &k,
            "ScheduleKeyDeletion",
            json!({"KeyId": id}),
            Some("AccessDeniedException"),
        );
        check(
            &k,
            "DeleteAlias",
            json!({"AliasName": "alias/aws/s3"}),
            Some("InvalidAliasNameException"),
        );
        check(
            &k,
            "CreateAlias",
            json!({"AliasName": "alias/mine", "TargetKeyId": id}),
            Some("AccessDeniedException"),
        );
        // Through the service port it works, and the data key decrypts.
        let ctx: Context = [("aws:s3:arn".to_owned(), "arn:aws:s3:::b/k".to_owned())].into();
        let dk = k
            .generate_data_key_for_service(crate::S3_MANAGED_ALIAS, &ctx)
            .unwrap();
        assert_eq!(dk.key_arn, k.key_arn(&id));
        let back = k.decrypt_for_service(&dk.ciphertext, &ctx).unwrap();
        assert_eq!(back.plaintext, dk.plaintext);
        assert!(
            k.decrypt_for_service(&dk.ciphertext, &Context::new())
                .is_err()
        );
        // Another master key cannot open the material.
        let other = Kms::new(k.store.clone(), (*k.config).clone(), &[8u8; 32]).unwrap();
        let e = other.decrypt_for_service(&dk.ciphertext, &ctx).unwrap_err();
        assert!(e.is_internal(), "{e}");
    }
}
