//! STS: GetCallerIdentity, AssumeRole, GetSessionToken
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/>).

use super::query::Params;
use super::records::{self, ROLES, Role, Session};
use super::{ApiError, IamApi, esc, iso, now_ms, parse_policy};
use crate::context::Context;
use crate::eval::{Decision, Principal, Request, evaluate};
use crate::policy::Kind;

pub fn dispatch(
    api: &IamApi,
    action: &str,
    p: &Params,
    caller: Option<&str>,
) -> Result<Option<String>, ApiError> {
    match action {
        "GetCallerIdentity" => caller_identity(api, caller).map(Some),
        "AssumeRole" => assume_role(api, p, caller).map(Some),
        "GetSessionToken" => session_token(api, p, caller).map(Some),
        _ => Err(ApiError::InvalidAction(action.to_owned(), "2011-06-15")),
    }
}

fn caller_identity(api: &IamApi, caller: Option<&str>) -> Result<String, ApiError> {
    let identity = caller
        .map(|k| api.identity(k))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            ApiError::AccessDenied("The security token included in the request is invalid.".into())
        })?;
    let arn = match &identity.principal {
        Principal::Root { account } => format!("arn:aws:iam::{account}:root"),
        Principal::User { arn, .. } | Principal::AssumedRole { arn, .. } => arn.clone(),
        Principal::Service { name } => name.clone(),
        Principal::Anonymous => String::new(),
    };
    Ok(format!(
        "<UserId>{}</UserId><Account>{}</Account><Arn>{}</Arn>",
        esc(&identity.userid),
        api.account(),
        esc(&arn)
    ))
}

fn credentials_xml(s: &Session) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        s.id,
        esc(&s.secret),
        esc(&s.token),
        iso(s.expires_ms)
    )
}

fn new_session(seconds: i64) -> (String, String, String, i64) {
    (
        records::new_id("ASIA"),
        records::new_secret(40),
        records::new_secret(300),
        now_ms() + seconds * 1000,
    )
}

/// A new session of `role` named `session_name`, valid for `seconds`.
fn role_session(account: &str, role: &Role, session_name: &str, seconds: i64) -> Session {
    let (id, secret, token, expires_ms) = new_session(seconds);
    Session {
        arn: format!(
            "arn:aws:sts::{account}:assumed-role/{}/{session_name}",
            role.name
        ),
        id,
        secret,
        token,
        expires_ms,
        role: Some(role.name.clone()),
        user: None,
        session_name: session_name.to_owned(),
    }
}

fn assume_role(api: &IamApi, p: &Params, caller: Option<&str>) -> Result<String, ApiError> {
    let role_arn = p.require("RoleArn")?;
    let session_name = p.require("RoleSessionName")?;
    if session_name.len() < 2
        || session_name.len() > 64
        || !session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
    {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let identity = caller
        .map(|k| api.identity(k))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            ApiError::AccessDenied("The security token included in the request is invalid.".into())
        })?;
    let name = role_arn.rsplit('/').next().unwrap_or_default();
    let role: Option<Role> = records::read(&*api.store().snapshot(), &records::key(ROLES, name))?;
    let who = identity
        .principal
        .arn()
        .unwrap_or_else(|| "anonymous".into());
    let denied = || {
        ApiError::AccessDenied(format!(
            "User: {who} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        ))
    };
    let role = role.filter(|r| r.arn == role_arn).ok_or_else(denied)?;
    let seconds = p.int(
        "DurationSeconds",
        3600,
        900..=role.max_session_seconds.max(3600),
    )?;
    let trust = parse_policy(&role.trust, Kind::Trust)?;
    let mut ctx = Context::new();
    if let Some(arn) = identity.principal.arn() {
        ctx.set("aws:PrincipalArn", arn);
    }
    ctx.set("aws:PrincipalAccount", api.account());
    ctx.set("sts:RoleSessionName", session_name);
    let identity_policies: Vec<_> = identity.policies.iter().collect();
    let decision = evaluate(
        &identity_policies,
        Some(&trust),
        &Request {
            principal: &identity.principal,
            action: "sts:AssumeRole",
            resource: role_arn,
            context: &ctx,
        },
    )
    .decision;
    if decision != Decision::Allow {
        return Err(denied());
    }
    let session = role_session(api.account(), &role, session_name, seconds);
    api.store()
        .transact(|tx| records::write(tx, &records::session_key(&session.id), &session))?;
    Ok(format!(
        "{}<AssumedRoleUser><AssumedRoleId>{}:{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
        credentials_xml(&session),
        role.id,
        esc(session_name),
        esc(&session.arn)
    ))
}

fn session_token(api: &IamApi, p: &Params, caller: Option<&str>) -> Result<String, ApiError> {
    let identity = caller
        .map(|k| api.identity(k))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            ApiError::AccessDenied("The security token included in the request is invalid.".into())
        })?;
    if identity.session_token.is_some() {
        return Err(ApiError::AccessDenied(
            "Cannot call GetSessionToken with session credentials".into(),
        ));
    }
    let root = matches!(identity.principal, Principal::Root { .. });
    let max = if root { 3600 } else { 129_600 };
    let seconds = p.int("DurationSeconds", max.min(43_200), 900..=max)?;
    let (id, secret, token, expires_ms) = new_session(seconds);
    let session = Session {
        arn: identity.principal.arn().unwrap_or_default(),
        id,
        secret,
        token,
        expires_ms,
        role: None,
        user: identity.username.clone(),
        session_name: identity.username.clone().unwrap_or_default(),
    };
    api.store()
        .transact(|tx| records::write(tx, &records::session_key(&session.id), &session))?;
    Ok(credentials_xml(&session))
}

/// A role as an AWS service acts with it ([`IamApi::service_role`]).
#[derive(Debug, Clone)]
pub struct ServiceRole {
    /// The role's session as the evaluation sees it (`assumed-role/<role>/<service>`).
    pub principal: Principal,
    /// The role's inline and attached policies.
    pub policies: Vec<crate::Policy>,
}

/// What [`IamApi::service_session`] hands out.
#[derive(Clone)]
pub struct ServiceSession {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires_ms: i64,
}

impl IamApi {
    /// `role_arn` as the AWS service principal `service` acts with it (API Gateway with an
    /// integration's `credentialsArn`): `Ok(None)` when the role does not exist,
    /// `AccessDenied` when its trust policy does not let `service` assume it. No session is
    /// stored: the caller evaluates the role's policies itself.
    pub fn service_role(
        &self,
        role_arn: &str,
        service: &str,
    ) -> Result<Option<ServiceRole>, ApiError> {
        let Some(role) = self.trusting_role(role_arn, service)? else {
            return Ok(None);
        };
        let snap = self.store().snapshot();
        let policies = self.policies_of(&*snap, &role.inline, &role.attached)?;
        Ok(Some(ServiceRole {
            principal: Principal::AssumedRole {
                account: self.account().to_owned(),
                arn: format!(
                    "arn:aws:sts::{}:assumed-role/{}/{service}",
                    self.account(),
                    role.name
                ),
                role_arn: role.arn.clone(),
            },
            policies,
        }))
    }

    /// The role `role_arn` if it exists and its trust policy lets `service` assume it.
    fn trusting_role(&self, role_arn: &str, service: &str) -> Result<Option<Role>, ApiError> {
        let name = role_arn.rsplit('/').next().unwrap_or_default();
        let Some(role) =
            records::read::<Role>(&*self.store().snapshot(), &records::key(ROLES, name))?
                .filter(|r| r.arn == role_arn)
        else {
            return Ok(None);
        };
        let trust = parse_policy(&role.trust, Kind::Trust)?;
        let principal = Principal::Service {
            name: service.to_owned(),
        };
        let ctx = Context::new();
        let decision = evaluate(
            &[],
            Some(&trust),
            &Request {
                principal: &principal,
                action: "sts:AssumeRole",
                resource: role_arn,
                context: &ctx,
            },
        )
        .decision;
        if decision != Decision::Allow {
            return Err(ApiError::AccessDenied(format!(
                "The role {role_arn} cannot be assumed by {service}: its trust policy does not allow sts:AssumeRole for the service principal"
            )));
        }
        Ok(Some(role))
    }

    /// A session of `role_arn` assumed by the AWS service principal `service` (Lambda for an
    /// execution role), named `session_name`, for the role's maximum session duration:
    /// `Ok(None)` when the role does not exist, `AccessDenied` when its trust policy does not
    /// let `service` assume it. Expired sessions are removed in the same transaction.
    pub fn service_session(
        &self,
        role_arn: &str,
        service: &str,
        session_name: &str,
    ) -> Result<Option<ServiceSession>, ApiError> {
        let Some(role) = self.trusting_role(role_arn, service)? else {
            return Ok(None);
        };
        let session_name: String = session_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c))
            .take(64)
            .collect();
        let session = role_session(
            self.account(),
            &role,
            &session_name,
            role.max_session_seconds.max(900),
        );
        let now = now_ms();
        self.store().transact(|tx| {
            let expired: Vec<Vec<u8>> = tx
                .scan(
                    nuvem_store::KeyRange::prefix(records::SESSIONS),
                    nuvem_store::Direction::Forward,
                )
                .filter_map(|e| e.ok())
                .filter(|(_, v)| {
                    serde_json::from_slice::<Session>(v).is_ok_and(|s| s.expires_ms <= now)
                })
                .map(|(k, _)| k)
                .collect();
            for k in expired {
                tx.delete(&k);
            }
            records::write(tx, &records::session_key(&session.id), &session)
        })?;
        Ok(Some(ServiceSession {
            access_key_id: session.id,
            secret_access_key: session.secret,
            session_token: session.token,
            expires_ms: session.expires_ms,
        }))
    }
}
