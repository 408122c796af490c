//! A local key ring behind the AWS KMS API subset that S3 users and scripts need
//! (<https://docs.aws.amazon.com/kms/latest/APIReference/API_Operations.html>): JSON 1.1 on the
//! AWS endpoint, `X-Amz-Target: TrentService.<Operation>`, SigV4 scope `kms`.
//!
//! Owns: symmetric KMS keys (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`) and aliases in the store
//! ([`keyring`]: records, key material sealed under the master key, the ciphertext format),
//! their states (Enabled, Disabled, PendingDeletion), Encrypt/Decrypt/GenerateDataKey with
//! encryption context ([`api`]), and the AWS managed key `aws/s3`, created on first use.
//! Services that encrypt with KMS keys (S3's SSE-KMS) reach this crate only through a port
//! of their own that the binary implements over [`Kms`] (`*_for_service` methods).
//! Must not: read files or env (the binary passes the master key's bytes), depend on another
//! service crate, evaluate IAM policies (the endpoint does), or log key material.

pub mod api;
pub mod error;
pub mod keyring;

use std::sync::Arc;

use http::Response;
use nuvem_aws::{AwsRequest, Body, BodyHandling, BoxFuture, IntoAwsError, Protocol, Service};
use nuvem_store::{Read, Store};
use serde_json::Value;

pub use error::KmsError;
use keyring::{AliasRecord, Context, KeyRecord, KeyState, Manager, Vault};

/// The `X-Amz-Target` prefix of every KMS operation.
pub const TARGET_PREFIX: &str = "TrentService.";
const NAMESPACE: &str = "com.amazonaws.kms";
/// The alias of the AWS managed key S3 uses when SSE-KMS names no key.
pub const S3_MANAGED_ALIAS: &str = "alias/aws/s3";

/// Where the API's ARNs say keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsConfig {
    pub region: String,
    pub account_id: String,
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A data key for a service: its plaintext (never stored) and the blob that decrypts to it.
pub struct DataKey {
    pub key_arn: String,
    pub plaintext: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", self.key_arn)
    }
}

/// The key ring and the `kms` service of the AWS endpoint. Cheap to clone.
#[derive(Clone)]
pub struct Kms {
    store: Store,
    vault: Arc<Vault>,
    config: Arc<KmsConfig>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("vault", &self.vault)
            .field("config", &self.config)
            .finish()
    }
}

/// What a `KeyId` parameter names.
enum KeyRef {
    Id(String),
    /// `alias/...`
    Alias(String),
}

impl Kms {
    /// The key ring on `store`, its material sealed under the master key `master` (32 bytes).
    pub fn new(store: Store, config: KmsConfig, master: &[u8]) -> Result<Self, KmsError> {
        Ok(Self {
            store,
            vault: Arc::new(Vault::from_bytes(master)?),
            config: Arc::new(config),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `arn:aws:kms:<region>:<account>:key/<id>`.
    pub fn key_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{id}",
            self.config.region, self.config.account_id
        )
    }

    /// `arn:aws:kms:<region>:<account>:alias/<name>` for `alias/<name>`.
    pub fn alias_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:{name}",
            self.config.region, self.config.account_id
        )
    }

    /// Parses a `KeyId` (key id, key ARN, alias name, alias ARN).
    fn key_ref(&self, s: &str) -> Result<KeyRef, KmsError> {
        let invalid = || KmsError::NotFound(format!("Invalid keyId '{s}'"));
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [_partition, "kms", region, account, resource] = parts.as_slice() else {
                return Err(KmsError::InvalidArn(format!("Invalid arn {s}")));
            };
            if *region != self.config.region || *account != self.config.account_id {
                return Err(KmsError::NotFound(format!(
                    "Invalid arn {s}: nuvem's keys are in {}:{}",
                    self.config.region, self.config.account_id
                )));
            }
            return match resource.split_once('/') {
                Some(("key", id)) if uuid::Uuid::parse_str(id).is_ok() => {
                    Ok(KeyRef::Id(id.to_owned()))
                }
                Some(("alias", name)) if !name.is_empty() => {
                    Ok(KeyRef::Alias(format!("alias/{name}")))
                }
                _ => Err(KmsError::InvalidArn(format!("Invalid arn {s}"))),
            };
        }
        if let Some(name) = s.strip_prefix("alias/") {
            if name.is_empty() {
                return Err(invalid());
            }
            return Ok(KeyRef::Alias(s.to_owned()));
        }
        match uuid::Uuid::parse_str(s) {
            Ok(u) if u.hyphenated().to_string() == s.to_ascii_lowercase() => {
                Ok(KeyRef::Id(s.to_ascii_lowercase()))
            }
            _ => Err(invalid()),
        }
    }

    /// The key a `KeyId` names, when it exists.
    fn resolve(&self, r: &dyn Read, s: &str, now: i64) -> Result<KeyRecord, KmsError> {
        match self.key_ref(s)? {
            KeyRef::Id(id) => keyring::get_key(r, &id, now)?.ok_or_else(|| {
                KmsError::NotFound(format!("Key '{}' does not exist", self.key_arn(&id)))
            }),
            KeyRef::Alias(name) => {
                let missing = || {
                    KmsError::NotFound(format!("Alias '{}' is not found.", self.alias_arn(&name)))
                };
                let alias = keyring::get_alias(r, &name)?.ok_or_else(missing)?;
                keyring::get_key(r, &alias.target, now)?.ok_or_else(missing)
            }
        }
    }

    /// [`Kms::resolve`], creating the AWS managed key `aws/s3` when it is what `s` names and
    /// it does not exist yet (KMS creates AWS managed keys on first use, and on DescribeKey
    /// of their alias).
    fn resolve_or_create(&self, s: &str) -> Result<KeyRecord, KmsError> {
        let now = now_millis();
        let managed = matches!(self.key_ref(s)?, KeyRef::Alias(ref a) if a == S3_MANAGED_ALIAS);
        if !managed {
            return self.resolve(&*self.store.snapshot(), s, now);
        }
        if let Ok(rec) = self.resolve(&*self.store.snapshot(), s, now) {
            return Ok(rec);
        }
        self.store.transact(|tx| {
            if let Ok(rec) = self.resolve(&*tx, s, now) {
                return Ok(rec);
            }
            let rec = self.new_key(
                "Default key that protects my S3 objects when no other key is defined".into(),
                Manager::Aws,
                Vec::new(),
                now,
            )?;
            tx.put(&keyring::key_record_key(&rec.id), &keyring::encode(&rec));
            let alias = AliasRecord {
                name: S3_MANAGED_ALIAS.into(),
                target: rec.id.clone(),
                created_ms: now,
                updated_ms: now,
            };
            tx.put(
                &keyring::alias_record_key(&alias.name),
                &keyring::encode(&alias),
            );
            Ok(rec)
        })
    }

    fn new_key(
        &self,
        description: String,
        manager: Manager,
        tags: Vec<(String, String)>,
        now: i64,
    ) -> Result<KeyRecord, KmsError> {
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        Ok(KeyRecord {
            material: self.vault.new_material(&id)?,
            master: self.vault.id().to_owned(),
            id,
            created_ms: now,
            description,
            state: KeyState::Enabled,
            deletion_ms: None,
            pending_days: None,
            manager,
            tags,
        })
    }

    /// Refuses a key that cannot encrypt or decrypt now, with KMS's errors.
    fn usable(&self, rec: &KeyRecord) -> Result<(), KmsError> {
        let arn = self.key_arn(&rec.id);
        match rec.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::Disabled(format!("{arn} is disabled."))),
            KeyState::PendingDeletion => Err(KmsError::InvalidState(format!(
                "{arn} is pending deletion."
            ))),
        }
    }

    fn generate(
        &self,
        rec: &KeyRecord,
        context: &Context,
        len: usize,
    ) -> Result<DataKey, KmsError> {
        self.usable(rec)?;
        let mut plaintext = vec![0u8; len];
        keyring::random(&mut plaintext)?;
        let key = self.vault.material(rec)?;
        let ciphertext = keyring::seal(&key, &rec.id, context, &plaintext)?;
        Ok(DataKey {
            key_arn: self.key_arn(&rec.id),
            plaintext,
            ciphertext,
        })
    }

    /// The key a ciphertext blob was made under.
    fn blob_record(&self, blob: &[u8]) -> Result<KeyRecord, KmsError> {
        let id = keyring::blob_key_id(blob).ok_or(KmsError::InvalidCiphertext(String::new()))?;
        keyring::get_key(&*self.store.snapshot(), id, now_millis())?
            .ok_or_else(|| KmsError::NotFound(format!("Key '{}' does not exist", self.key_arn(id))))
    }

    fn open_blob(
        &self,
        rec: &KeyRecord,
        blob: &[u8],
        context: &Context,
    ) -> Result<Vec<u8>, KmsError> {
        self.usable(rec)?;
        let key = self.vault.material(rec)?;
        keyring::open(&key, blob, context)
    }

    /// For a service encrypting on a caller's behalf (S3): the key `key_id` names (the AWS
    /// managed `aws/s3` created when named and missing) as its ARN and manager, without
    /// checking its state. Blocking: call inside [`Store::run`].
    pub fn key_for_service(&self, key_id: &str) -> Result<(String, Manager), KmsError> {
        let rec = self.resolve_or_create(key_id)?;
        Ok((self.key_arn(&rec.id), rec.manager))
    }

    /// For a service: a new 32-byte data key under `key_id` for `context`. Blocking.
    pub fn generate_data_key_for_service(
        &self,
        key_id: &str,
        context: &Context,
    ) -> Result<DataKey, KmsError> {
        let rec = self.resolve_or_create(key_id)?;
        self.generate(&rec, context, 32)
    }

    /// For a service: the key (ARN, manager) a ciphertext blob was made under. Blocking.
    pub fn blob_key_for_service(&self, blob: &[u8]) -> Result<(String, Manager), KmsError> {
        let rec = self.blob_record(blob)?;
        Ok((self.key_arn(&rec.id), rec.manager))
    }

    /// For a service: decrypts a data key blob for `context`. Blocking.
    pub fn decrypt_for_service(&self, blob: &[u8], context: &Context) -> Result<DataKey, KmsError> {
        let rec = self.blob_record(blob)?;
        let plaintext = self.open_blob(&rec, blob, context)?;
        Ok(DataKey {
            key_arn: self.key_arn(&rec.id),
            plaintext,
            ciphertext: blob.to_vec(),
        })
    }

    /// The ARN of the key a `KeyId` names (for IAM: a request naming an alias is authorized
    /// on the key's ARN, as on AWS); `None` when it names none. Blocking.
    pub fn resolve_arn(&self, key_id: &str) -> Option<String> {
        self.resolve(&*self.store.snapshot(), key_id, now_millis())
            .ok()
            .map(|r| self.key_arn(&r.id))
    }

    async fn handle(&self, request: AwsRequest) -> Result<Value, KmsError> {
        use nuvem_aws::json_api::{JsonRequestError, operation_and_input};
        let (operation, input) =
            operation_and_input(request, TARGET_PREFIX)
                .await
                .map_err(|e| match e {
                    JsonRequestError::UnknownOperation(t) => KmsError::UnknownOperation(t),
                    JsonRequestError::Serialization(m) => KmsError::Serialization(m),
                })?;
        let me = self.clone();
        self.store.run(move || me.execute(&operation, &input)).await
    }
}

/// The `kms` service of the AWS endpoint.
pub struct KmsService(pub Kms);

impl Service for KmsService {
    fn name(&self) -> &'static str {
        "kms"
    }

    fn protocol(&self) -> Protocol {
        Protocol::AwsJson1_1 {
            namespace: NAMESPACE,
        }
    }

    fn body_handling(&self) -> BodyHandling {
        // Plaintext is at most 4 KiB; ciphertext blobs at most 6 KiB, base64 in JSON.
        BodyHandling::Buffered { limit: 256 * 1024 }
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(async move {
            let request_id = request.request_id.clone();
            match self.0.handle(request).await {
                Ok(output) => nuvem_aws::json_api::ok_response(&output, &request_id),
                Err(e) => {
                    if e.is_internal() {
                        tracing::error!(request_id = request_id.as_str(), error = %e, "kms: internal failure");
                    }
                    e.into_aws_error().to_response(self.protocol(), &request_id)
                }
            }
        })
    }
}
