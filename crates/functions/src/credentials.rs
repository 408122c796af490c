//! The credentials a function's code runs with: its execution role's temporary credentials
//! (issue 17: every function used to be handed the root key).
//!
//! The functions service does not know IAM: the binary plugs in a [`RoleCredentials`] that
//! assumes a role for the Lambda service principal. Each execution environment gets a session
//! of its own in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, as on
//! Lambda; an environment whose session would expire within [`ROTATE_BEFORE`] is not reused,
//! so a new one starts with fresh credentials (environment variables cannot change under a
//! running process).
//!
//! A role that does not exist: when the account's root set it (the manifest, the root key:
//! local tooling passes made-up role ARNs), the function runs with the service's configured
//! keys, which the root holds anyway; when an IAM principal set it, the function cannot run
//! (the endpoint also refuses such a CreateFunction up front, as Lambda does), so no one
//! reaches the root's keys by naming a role that is missing or was deleted.

use std::sync::Arc;
use std::time::Duration;

use nuvem_aws::BoxFuture;

/// Temporary credentials for one environment.
#[derive(Clone)]
pub struct TempCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Milliseconds since the epoch.
    pub expires_ms: i64,
}

impl std::fmt::Debug for TempCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("TempCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// Where execution-role sessions come from.
pub trait RoleCredentials: Send + Sync + std::fmt::Debug {
    /// A session of `role_arn` for function `function`: `Ok(None)` when no such role exists
    /// (the function then runs with the service's configured keys), `Err` with Lambda's
    /// message when the role's trust policy does not let Lambda assume it.
    fn session(
        &self,
        role_arn: &str,
        function: &str,
    ) -> BoxFuture<'static, Result<Option<TempCredentials>, String>>;
}

/// An environment is retired this long before its credentials expire.
pub const ROTATE_BEFORE: Duration = Duration::from_secs(300);

/// What an environment needs to ask for its role's session.
#[derive(Clone)]
pub struct RoleSource {
    pub provider: Arc<dyn RoleCredentials>,
    pub role_arn: String,
    pub function: String,
    /// Whether a role that does not exist means "run with the configured keys" (a role the
    /// account's root set: local tooling passes made-up role ARNs) rather than "cannot run"
    /// (a role an IAM principal set, which must exist, as on Lambda).
    pub keys_fallback: bool,
}

impl RoleSource {
    /// The environment's session: `Ok(None)` for the configured keys, `Err` with Lambda's
    /// message when the role cannot be assumed.
    pub async fn session(&self) -> Result<Option<TempCredentials>, String> {
        match self
            .provider
            .session(&self.role_arn, &self.function)
            .await?
        {
            Some(s) => Ok(Some(s)),
            None if self.keys_fallback => Ok(None),
            None => Err(format!(
                "The role defined for the function cannot be assumed by Lambda: {} does not exist",
                self.role_arn
            )),
        }
    }
}

impl std::fmt::Debug for RoleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleSource")
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
