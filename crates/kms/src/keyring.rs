//! The key ring: KMS keys and aliases as records in the store, key material sealed under the
//! master key, and the ciphertext format of Encrypt and GenerateDataKey.
//!
//! Records: `kms/k/<key id>` (a [`KeyRecord`], JSON) and `kms/a/<alias name>` (an
//! [`AliasRecord`]). A key's material is 32 random bytes, stored only sealed (AES-256-GCM)
//! under the [`Vault`] (the same master key file as SSE-S3, which the binary keeps outside
//! the blob directory and the store), with the key id as additional data so sealed material
//! cannot be moved to another key's record.
//!
//! Ciphertext blob (what Encrypt and GenerateDataKey return and Decrypt takes):
//! `"NVK1"` ‖ key id (36 ASCII bytes) ‖ nonce (12) ‖ AES-256-GCM(material, plaintext) ‖ tag,
//! the additional data being `"nuvem/kms/ct/v1\0"` ‖ the encryption context as canonical JSON
//! (keys sorted), so Decrypt needs no KeyId and refuses a wrong context.
//!
//! Key states (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html):
//! Enabled, Disabled, PendingDeletion; a key whose deletion date passed is deleted (its
//! record and aliases are removed by the next write that meets it; until then it reads as
//! not found). Must not: log or return key material.

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine as _;
use nuvem_store::{Direction, KeyRange, Read, Tx};
use serde::{Deserialize, Serialize};

use crate::error::KmsError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const KEY_PREFIX: &str = "kms/k/";
const ALIAS_PREFIX: &str = "kms/a/";
const MAGIC: &[u8; 4] = b"NVK1";
const ID_LEN: usize = 36;

/// An encryption context: string pairs, compared exactly.
pub type Context = BTreeMap<String, String>;

/// A key's state as KMS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::PendingDeletion => "PendingDeletion",
        }
    }
}

/// Who manages a key: the account (`CUSTOMER`) or a service (`AWS`, such as `aws/s3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Manager {
    Customer,
    Aws,
}

/// One KMS key as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub created_ms: i64,
    #[serde(default)]
    pub description: String,
    pub state: KeyState,
    /// When a key pending deletion is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_days: Option<u32>,
    pub manager: Manager,
    /// The material, sealed under the vault: base64 of nonce ‖ sealed bytes ‖ tag.
    pub material: String,
    /// The id of the master key that sealed the material.
    pub master: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl KeyRecord {
    /// Whether the key's deletion date has passed (then it no longer exists).
    pub fn deleted_at(&self, now_ms: i64) -> bool {
        self.state == KeyState::PendingDeletion && self.deletion_ms.is_some_and(|d| d <= now_ms)
    }
}

/// An alias as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasRecord {
    /// `alias/...`
    pub name: String,
    pub target: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The master key that seals key material. Its id (a SHA-256 prefix, as the object store
/// names the same key) is stored with each key, so a wrong key file is named as such.
pub struct Vault {
    key: LessSafeKey,
    id: String,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vault({})", self.id)
    }
}

impl Vault {
    /// The vault from the master key's 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KmsError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| KmsError::Internal("the master key must be 32 bytes".into()))?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            id: hex::encode(digest.as_ref().get(..8).unwrap_or_default()),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn aad(key_id: &str) -> Vec<u8> {
        let mut aad = b"nuvem/kms/key/v1\0".to_vec();
        aad.extend_from_slice(key_id.as_bytes());
        aad
    }

    /// Fresh material for key `key_id`, sealed.
    pub(crate) fn new_material(&self, key_id: &str) -> Result<String, KmsError> {
        let mut material = [0u8; 32];
        random(&mut material)?;
        let mut nonce = [0u8; 12];
        random(&mut nonce)?;
        let mut buf = material.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(key_id)),
                &mut buf,
            )
            .map_err(|_| KmsError::Internal("sealing key material failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(B64.encode(out))
    }

    /// The material of `record`.
    pub(crate) fn material(&self, record: &KeyRecord) -> Result<LessSafeKey, KmsError> {
        if record.master != self.id {
            return Err(KmsError::Internal(format!(
                "key {} is sealed under master key {}, this server has {}",
                record.id, record.master, self.id
            )));
        }
        let corrupt =
            || KmsError::Internal(format!("the material of key {} is damaged", record.id));
        let raw = B64.decode(&record.material).map_err(|_| corrupt())?;
        let (nonce, sealed) = raw.split_at_checked(12).ok_or_else(corrupt)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(Self::aad(&record.id)), &mut sealed)
            .map_err(|_| corrupt())?;
        let unbound = UnboundKey::new(&AES_256_GCM, plain).map_err(|_| corrupt())?;
        Ok(LessSafeKey::new(unbound))
    }
}

/// Fills `buf` from the system's secure random generator.
pub(crate) fn random(buf: &mut [u8]) -> Result<(), KmsError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| KmsError::Internal("no randomness".into()))
}

fn context_aad(context: &Context) -> Vec<u8> {
    let mut aad = b"nuvem/kms/ct/v1\0".to_vec();
    // A BTreeMap of strings serializes in key order and cannot fail.
    aad.extend_from_slice(&serde_json::to_vec(context).unwrap_or_default());
    aad
}

/// Encrypts `plaintext` under `key` (the material of key `key_id`) for `context`.
pub(crate) fn seal(
    key: &LessSafeKey,
    key_id: &str,
    context: &Context,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let mut nonce = [0u8; 12];
    random(&mut nonce)?;
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(context_aad(context)),
        &mut buf,
    )
    .map_err(|_| KmsError::Internal("encryption failed".into()))?;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    Ok(out)
}

/// The key id a ciphertext blob names, when it is one of ours.
pub fn blob_key_id(blob: &[u8]) -> Option<&str> {
    let rest = blob.strip_prefix(MAGIC)?;
    let id = std::str::from_utf8(rest.get(..ID_LEN)?).ok()?;
    uuid::Uuid::parse_str(id).ok()?;
    Some(id)
}

/// Opens a blob sealed by [`seal`] under `key` for `context`.
pub(crate) fn open(key: &LessSafeKey, blob: &[u8], context: &Context) -> Result<Vec<u8>, KmsError> {
    let invalid = || KmsError::InvalidCiphertext(String::new());
    let rest = blob.get(MAGIC.len() + ID_LEN..).ok_or_else(invalid)?;
    let (nonce, sealed) = rest.split_at_checked(12).ok_or_else(invalid)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| invalid())?;
    let mut sealed = sealed.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(context_aad(context)), &mut sealed)
        .map_err(|_| invalid())?;
    Ok(plain.to_vec())
}

pub(crate) fn key_record_key(id: &str) -> Vec<u8> {
    format!("{KEY_PREFIX}{id}").into_bytes()
}

pub(crate) fn alias_record_key(name: &str) -> Vec<u8> {
    format!("{ALIAS_PREFIX}{name}").into_bytes()
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, KmsError> {
    serde_json::from_slice(bytes).map_err(|e| KmsError::Internal(format!("a KMS record: {e}")))
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The key record `id`, when it exists (its deletion date not passed).
pub(crate) fn get_key(r: &dyn Read, id: &str, now_ms: i64) -> Result<Option<KeyRecord>, KmsError> {
    let Some(v) = r.get(&key_record_key(id))? else {
        return Ok(None);
    };
    let rec: KeyRecord = decode(&v)?;
    Ok((!rec.deleted_at(now_ms)).then_some(rec))
}

pub(crate) fn get_alias(r: &dyn Read, name: &str) -> Result<Option<AliasRecord>, KmsError> {
    r.get(&alias_record_key(name))?
        .map(|v| decode(&v))
        .transpose()
}

/// Every key record, in id order, from `after` (exclusive); deleted ones are left out.
pub(crate) fn list_keys(
    r: &dyn Read,
    after: Option<&str>,
    limit: usize,
    now_ms: i64,
) -> Result<Vec<KeyRecord>, KmsError> {
    let mut out = Vec::new();
    for item in r.scan(KeyRange::prefix(KEY_PREFIX.as_bytes()), Direction::Forward) {
        let (_, v) = item?;
        let rec: KeyRecord = decode(&v)?;
        if after.is_some_and(|a| rec.id.as_str() <= a) || rec.deleted_at(now_ms) {
            continue;
        }
        out.push(rec);
        if out.len() > limit {
            break;
        }
    }
    Ok(out)
}

/// Every alias, in name order, from `after` (exclusive).
pub(crate) fn list_aliases(r: &dyn Read) -> Result<Vec<AliasRecord>, KmsError> {
    let mut out = Vec::new();
    for item in r.scan(
        KeyRange::prefix(ALIAS_PREFIX.as_bytes()),
        Direction::Forward,
    ) {
        let (_, v) = item?;
        out.push(decode(&v)?);
    }
    Ok(out)
}

/// Removes keys whose deletion date passed, with their aliases, inside a write.
pub(crate) fn purge_deleted(tx: &mut dyn Tx, now_ms: i64) -> Result<(), KmsError> {
    let mut gone = Vec::new();
    for item in tx.scan(KeyRange::prefix(KEY_PREFIX.as_bytes()), Direction::Forward) {
        let (k, v) = item?;
        let rec: KeyRecord = decode(&v)?;
        if rec.deleted_at(now_ms) {
            gone.push((k, rec.id));
        }
    }
    if gone.is_empty() {
        return Ok(());
    }
    let aliases = list_aliases(&*tx)?;
    for (k, id) in gone {
        tx.delete(&k);
        for a in aliases.iter().filter(|a| a.target == id) {
            tx.delete(&alias_record_key(&a.name));
        }
    }
    Ok(())
}
