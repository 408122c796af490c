//! The IAM and STS APIs over the store: users, access keys, roles, inline and managed
//! policies, and temporary credentials (query protocol, XML responses).
//!
//! What it owns: the `iam/` keys of the store; the operations of
//! <https://docs.aws.amazon.com/IAM/latest/APIReference/> and
//! <https://docs.aws.amazon.com/STS/latest/APIReference/> that nuvem implements; and
//! [`IamApi::identity`], which tells the endpoint whose an access key is and which policies
//! apply to it. Must not: decide requests (that is [`crate::evaluate`], called by the
//! endpoint) or know other services.

mod ops;
pub mod query;
pub mod records;
mod simulate;
mod sts;

pub use sts::{ServiceRole, ServiceSession};

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use nuvem_aws::{
    AwsError, AwsRequest, Body, BodyHandling, BoxFuture, IntoAwsError, Protocol, Service, full_body,
};
use nuvem_store::Store;

use crate::eval::Principal;
use crate::policy::{Kind, Policy};
use query::Params;
use records::{AccessKey, ManagedPolicy, Role, Session, User};

pub const IAM_XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// What went wrong, as IAM and STS report it
/// (<https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html>).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("Could not find operation {0} for version {1}")]
    InvalidAction(String, &'static str),
    #[error("stored IAM record is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] nuvem_store::Error),
}

impl IntoAwsError for ApiError {
    fn into_aws_error(self) -> AwsError {
        let (status, code) = match &self {
            ApiError::NoSuchEntity(_) => (StatusCode::NOT_FOUND, "NoSuchEntity"),
            ApiError::AlreadyExists(_) => (StatusCode::CONFLICT, "EntityAlreadyExists"),
            ApiError::DeleteConflict(_) => (StatusCode::CONFLICT, "DeleteConflict"),
            ApiError::LimitExceeded(_) => (StatusCode::CONFLICT, "LimitExceeded"),
            ApiError::MalformedPolicy(_) => (StatusCode::BAD_REQUEST, "MalformedPolicyDocument"),
            ApiError::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
            ApiError::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
            ApiError::InvalidAction(..) => (StatusCode::BAD_REQUEST, "InvalidAction"),
            ApiError::Corrupt(_) | ApiError::Store(_) => {
                return AwsError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                );
            }
        };
        AwsError::new(status, code, self.to_string())
    }
}

/// Settings the binary passes in.
#[derive(Debug, Clone)]
pub struct IamConfig {
    pub account_id: String,
    /// The access key ids of the root credentials (the manifest's keys).
    pub root_keys: Vec<String>,
}

/// Who an access key belongs to, and the policies that speak for it.
#[derive(Clone)]
pub struct Identity {
    pub principal: Principal,
    /// The secret, for keys that IAM issued (the endpoint's keyring holds the root's).
    pub secret: Option<String>,
    /// STS credentials carry a session token that every request must present.
    pub session_token: Option<String>,
    /// The identity policies (inline and attached, default versions), parsed.
    pub policies: Vec<Policy>,
    /// `aws:username` / `aws:userid`, for policy variables.
    pub username: Option<String>,
    pub userid: String,
    /// When temporary credentials stop working (ms since the epoch).
    pub expires_ms: Option<i64>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret or the session token.
        f.debug_struct("Identity")
            .field("principal", &self.principal)
            .field("userid", &self.userid)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// The IAM and STS APIs on one store.
#[derive(Clone)]
pub struct IamApi {
    store: Store,
    config: Arc<IamConfig>,
    /// Identities by access key id, parsed policies included, for [`IDENTITY_TTL`]: a request
    /// by an IAM key costs no store read and no policy parse while its entry lives. Any IAM
    /// write on this node empties it; another node's write is seen within the TTL, like
    /// IAM's own eventual consistency.
    cache: moka::sync::Cache<String, Option<Arc<Identity>>>,
}

/// How long a looked-up identity is reused.
pub const IDENTITY_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl std::fmt::Debug for IamApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamApi").finish_non_exhaustive()
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// IAM's timestamps: ISO 8601 with seconds, UTC (`2026-12-06T05:30:00Z`).
pub(crate) fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Escapes text for an XML element.
pub(crate) fn esc(s: &str) -> String {
    nuvem_aws::error::xml_escape(s)
}

/// IAM returns policy documents URL-encoded (RFC 3986) inside the XML.
pub(crate) fn url_encode(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, KEEP).to_string()
}

pub(crate) fn parse_policy(document: &str, kind: Kind) -> Result<Policy, ApiError> {
    Policy::parse(document, kind).map_err(|e| ApiError::MalformedPolicy(e.0))
}

impl IamApi {
    pub fn new(store: Store, config: IamConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
            cache: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(IDENTITY_TTL)
                .build(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The account the API serves.
    pub fn account(&self) -> &str {
        &self.config.account_id
    }

    /// Runs one IAM or STS action for `caller_key` (the signing access key id) and returns
    /// the XML response body.
    pub fn execute(
        &self,
        xmlns: &'static str,
        params: &Params,
        caller_key: Option<&str>,
        request_id: &str,
    ) -> Result<String, ApiError> {
        let action = params.get("Action").unwrap_or_default();
        // Whatever this action changes, no identity read before it is reused after it (emptied
        // again once the change committed: a lookup racing with it may have refilled it).
        let writes = !action.starts_with("Get") && !action.starts_with("List");
        if writes {
            self.cache.invalidate_all();
        }
        let result = if xmlns == STS_XMLNS {
            sts::dispatch(self, action, params, caller_key)
        } else {
            ops::dispatch(self, action, params, caller_key)
        };
        if writes {
            self.cache.invalidate_all();
        }
        let result = result?;
        Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{xmlns}\">{}<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
            match result {
                Some(inner) => format!("<{action}Result>{inner}</{action}Result>"),
                None => String::new(),
            },
            esc(request_id)
        ))
    }

    /// Whose is `access_key_id`: the root's (a manifest key), an IAM user's, or an STS
    /// session's; `None` when nuvem never issued it or it is inactive or expired.
    pub fn identity(&self, access_key_id: &str) -> Result<Option<Arc<Identity>>, ApiError> {
        if let Some(hit) = self.cache.get(access_key_id) {
            // A session that expired while cached is over.
            return Ok(hit.filter(|i| i.expires_ms.is_none_or(|e| e > now_ms())));
        }
        let found = self.load_identity(access_key_id)?.map(Arc::new);
        self.cache.insert(access_key_id.to_owned(), found.clone());
        Ok(found)
    }

    fn load_identity(&self, access_key_id: &str) -> Result<Option<Identity>, ApiError> {
        if self.config.root_keys.iter().any(|k| k == access_key_id) {
            return Ok(Some(Identity {
                principal: Principal::Root {
                    account: self.account().to_owned(),
                },
                secret: None,
                session_token: None,
                policies: Vec::new(),
                username: None,
                userid: self.account().to_owned(),
                expires_ms: None,
            }));
        }
        let snap = self.store.snapshot();
        if let Some(key) = records::read::<AccessKey>(&*snap, &records::access_key(access_key_id))?
        {
            if !key.active {
                return Ok(None);
            }
            let Some(user) =
                records::read::<User>(&*snap, &records::key(records::USERS, &key.user))?
            else {
                return Ok(None);
            };
            let policies = self.policies_of(&*snap, &user.inline, &user.attached)?;
            return Ok(Some(Identity {
                principal: Principal::User {
                    account: self.account().to_owned(),
                    arn: user.arn.clone(),
                },
                secret: Some(key.secret),
                session_token: None,
                policies,
                username: Some(user.name),
                userid: user.id,
                expires_ms: None,
            }));
        }
        if let Some(s) = records::read::<Session>(&*snap, &records::session_key(access_key_id))? {
            if s.expires_ms <= now_ms() {
                return Ok(None);
            }
            if let Some(role_name) = &s.role {
                let Some(role) =
                    records::read::<Role>(&*snap, &records::key(records::ROLES, role_name))?
                else {
                    return Ok(None);
                };
                let policies = self.policies_of(&*snap, &role.inline, &role.attached)?;
                return Ok(Some(Identity {
                    principal: Principal::AssumedRole {
                        account: self.account().to_owned(),
                        arn: s.arn.clone(),
                        role_arn: role.arn.clone(),
                    },
                    secret: Some(s.secret),
                    session_token: Some(s.token),
                    policies,
                    username: None,
                    userid: format!("{}:{}", role.id, s.session_name),
                    expires_ms: Some(s.expires_ms),
                }));
            }
            // GetSessionToken: the same identity as the long-term key that asked for it.
            return Ok(match &s.user {
                Some(name) => {
                    let Some(user) =
                        records::read::<User>(&*snap, &records::key(records::USERS, name))?
                    else {
                        return Ok(None);
                    };
                    let policies = self.policies_of(&*snap, &user.inline, &user.attached)?;
                    Some(Identity {
                        principal: Principal::User {
                            account: self.account().to_owned(),
                            arn: user.arn.clone(),
                        },
                        secret: Some(s.secret),
                        session_token: Some(s.token),
                        policies,
                        username: Some(user.name),
                        userid: user.id,
                        expires_ms: Some(s.expires_ms),
                    })
                }
                None => Some(Identity {
                    principal: Principal::Root {
                        account: self.account().to_owned(),
                    },
                    secret: Some(s.secret),
                    session_token: Some(s.token),
                    policies: Vec::new(),
                    username: None,
                    userid: self.account().to_owned(),
                    expires_ms: Some(s.expires_ms),
                }),
            });
        }
        Ok(None)
    }

    pub(crate) fn policies_of(
        &self,
        snap: &dyn nuvem_store::Read,
        inline: &std::collections::BTreeMap<String, String>,
        attached: &[String],
    ) -> Result<Vec<Policy>, ApiError> {
        let mut out = Vec::new();
        for doc in inline.values() {
            out.push(parse_policy(doc, Kind::Identity)?);
        }
        for arn in attached {
            let name = arn.rsplit('/').next().unwrap_or_default();
            if let Some(p) =
                records::read::<ManagedPolicy>(snap, &records::key(records::POLICIES, name))?
                && let Some(doc) = p.default_document()
            {
                out.push(parse_policy(doc, Kind::Identity)?);
            }
        }
        Ok(out)
    }

    async fn handle(
        &self,
        xmlns: &'static str,
        request: AwsRequest,
        request_id: String,
    ) -> Result<String, ApiError> {
        let bytes = request
            .body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| ApiError::Validation(format!("could not read the request body: {e}")))?;
        let mut form = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(q) = request.parts.uri.query() {
            if !form.is_empty() {
                form.push('&');
            }
            form.push_str(q);
        }
        let params = Params::parse(&form);
        let caller = request.caller.access_key_id().map(str::to_owned);
        let api = self.clone();
        self.store
            .run(move || api.execute(xmlns, &params, caller.as_deref(), &request_id))
            .await
    }

    async fn respond(&self, xmlns: &'static str, request: AwsRequest) -> Response<Body> {
        let request_id = request.request_id.clone();
        let protocol = Protocol::AwsQuery { xmlns };
        match self
            .handle(xmlns, request, request_id.as_str().to_owned())
            .await
        {
            Ok(xml) => {
                let mut resp = Response::new(full_body(Bytes::from(xml)));
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/xml"),
                );
                request_id.add_headers(resp.headers_mut());
                resp
            }
            Err(e) => {
                if matches!(e, ApiError::Store(_) | ApiError::Corrupt(_)) {
                    tracing::error!(request_id = request_id.as_str(), cause = %e, "iam: storage failed");
                }
                e.into_aws_error().to_response(protocol, &request_id)
            }
        }
    }
}

/// The `iam` endpoint.
#[derive(Debug, Clone)]
pub struct IamService(pub IamApi);

/// The `sts` endpoint.
#[derive(Debug, Clone)]
pub struct StsService(pub IamApi);

impl Service for IamService {
    fn name(&self) -> &'static str {
        "iam"
    }

    fn protocol(&self) -> Protocol {
        Protocol::AwsQuery { xmlns: IAM_XMLNS }
    }

    fn body_handling(&self) -> BodyHandling {
        BodyHandling::Buffered { limit: 1024 * 1024 }
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(self.0.respond(IAM_XMLNS, request))
    }
}

impl Service for StsService {
    fn name(&self) -> &'static str {
        "sts"
    }

    fn protocol(&self) -> Protocol {
        Protocol::AwsQuery { xmlns: STS_XMLNS }
    }

    fn body_handling(&self) -> BodyHandling {
        BodyHandling::Buffered { limit: 1024 * 1024 }
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(self.0.respond(STS_XMLNS, request))
    }
}
