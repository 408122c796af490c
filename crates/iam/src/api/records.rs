//! What the IAM API stores, and where: one JSON record per entity under `iam/`, names folded
//! to lower case in keys (IAM names are unique regardless of case).

use std::collections::BTreeMap;

use nuvem_store::Tx;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ApiError;

pub const USERS: &[u8] = b"iam/user/";
pub const KEYS: &[u8] = b"iam/key/";
pub const ROLES: &[u8] = b"iam/role/";
pub const POLICIES: &[u8] = b"iam/policy/";
pub const SESSIONS: &[u8] = b"iam/session/";

pub fn key(prefix: &[u8], name: &str) -> Vec<u8> {
    [prefix, name.to_lowercase().as_bytes()].concat()
}

/// An access key id keeps its case: it is an exact credential.
pub fn access_key(id: &str) -> Vec<u8> {
    [KEYS, id.as_bytes()].concat()
}

pub fn session_key(id: &str) -> Vec<u8> {
    [SESSIONS, id.as_bytes()].concat()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created: String,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

/// `Debug` leaves the secret (and token) out.
#[derive(Clone, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub user: String,
    pub active: bool,
    pub created: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created: String,
    pub trust: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_seconds: i64,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub id: String,
    pub document: String,
    pub created: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created: String,
    pub updated: String,
    #[serde(default)]
    pub description: Option<String>,
    pub default_version: String,
    pub versions: Vec<PolicyVersion>,
    /// The next version number to hand out (`v{n}`): numbers are never reused.
    pub next_version: u32,
    pub attachments: u32,
}

impl ManagedPolicy {
    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.document.as_str())
    }
}

/// Temporary credentials from STS: who they stand for and until when.
/// `Debug` leaves the secret (and token) out.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub secret: String,
    pub token: String,
    pub expires_ms: i64,
    /// For AssumeRole: the role's name; for GetSessionToken: none.
    #[serde(default)]
    pub role: Option<String>,
    /// For GetSessionToken: the user's name (`None` for the root credentials).
    #[serde(default)]
    pub user: Option<String>,
    pub session_name: String,
    pub arn: String,
}

pub fn read<T: DeserializeOwned>(
    tx: &dyn nuvem_store::Read,
    key: &[u8],
) -> Result<Option<T>, ApiError> {
    match tx.get(key)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ApiError::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

pub fn write<T: Serialize>(tx: &mut dyn Tx, key: &[u8], value: &T) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::Corrupt(e.to_string()))?;
    tx.put(key, &bytes);
    Ok(())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The system's CSPRNG through aws-lc; it fails only if the OS has no entropy source.
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        let fallback = uuid::Uuid::new_v4().into_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = fallback[i % fallback.len()];
        }
    }
    buf
}

/// A unique id with IAM's prefix (`AIDA` users, `AROA` roles, `ANPA` policies, `AKIA` access
/// keys, `ASIA` temporary keys): 16 more characters of upper-case letters and digits 2–7.
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let tail: String = random_bytes::<16>()
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// A secret of `len` characters, 6 random bits each.
pub fn new_secret(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    random_bytes::<256>()
        .iter()
        .take(len)
        .map(|b| ALPHABET[(*b & 63) as usize] as char)
        .collect()
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("arn", &self.arn)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}
