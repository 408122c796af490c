//! IAM operations: users, access keys, roles, inline and managed policies.

use nuvem_store::{Direction, KeyRange, Tx};

use super::query::Params;
use super::records::{
    self, AccessKey, KEYS, ManagedPolicy, POLICIES, PolicyVersion, ROLES, Role, USERS, User,
};
use super::{ApiError, IamApi, esc, iso, now_ms, parse_policy, url_encode};
use crate::policy::Kind;

/// IAM's quotas (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>).
const ACCESS_KEYS_PER_USER: usize = 2;
const VERSIONS_PER_POLICY: usize = 5;
const MANAGED_POLICIES_PER_ENTITY: usize = 20;
const INLINE_USER_POLICY_CHARS: usize = 2048;
const INLINE_ROLE_POLICY_CHARS: usize = 10_240;
const TRUST_POLICY_CHARS: usize = 2048;

pub fn dispatch(
    api: &IamApi,
    action: &str,
    p: &Params,
    caller: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let store = api.store();
    match action {
        "CreateUser" => store.transact(|tx| create_user(api, tx, p)).map(Some),
        "GetUser" => get_user(api, p, caller).map(Some),
        "ListUsers" => list(api, USERS, "Users", |u: User| user_xml(&u)).map(Some),
        "DeleteUser" => store.transact(|tx| delete_user(tx, p)).map(|()| None),
        "CreateAccessKey" => store
            .transact(|tx| create_access_key(api, tx, p, caller))
            .map(Some),
        "ListAccessKeys" => list_access_keys(api, p, caller).map(Some),
        "UpdateAccessKey" => store.transact(|tx| update_access_key(tx, p)).map(|()| None),
        "DeleteAccessKey" => store.transact(|tx| delete_access_key(tx, p)).map(|()| None),
        "PutUserPolicy" => store
            .transact(|tx| put_inline(tx, p, Entity::User))
            .map(|()| None),
        "GetUserPolicy" => get_inline(api, p, Entity::User).map(Some),
        "ListUserPolicies" => list_inline(api, p, Entity::User).map(Some),
        "DeleteUserPolicy" => store
            .transact(|tx| delete_inline(tx, p, Entity::User))
            .map(|()| None),
        "CreateRole" => store.transact(|tx| create_role(api, tx, p)).map(Some),
        "GetRole" => get_role(api, p).map(Some),
        "ListRoles" => list(api, ROLES, "Roles", |r: Role| role_xml(&r)).map(Some),
        "DeleteRole" => store.transact(|tx| delete_role(tx, p)).map(|()| None),
        "UpdateAssumeRolePolicy" => store.transact(|tx| update_trust(tx, p)).map(|()| None),
        "PutRolePolicy" => store
            .transact(|tx| put_inline(tx, p, Entity::Role))
            .map(|()| None),
        "GetRolePolicy" => get_inline(api, p, Entity::Role).map(Some),
        "ListRolePolicies" => list_inline(api, p, Entity::Role).map(Some),
        "DeleteRolePolicy" => store
            .transact(|tx| delete_inline(tx, p, Entity::Role))
            .map(|()| None),
        "CreatePolicy" => store.transact(|tx| create_policy(api, tx, p)).map(Some),
        "GetPolicy" => get_policy(api, p).map(Some),
        "ListPolicies" => list(api, POLICIES, "Policies", |m: ManagedPolicy| {
            format!("<member>{}</member>", policy_xml(&m))
        })
        .map(Some),
        "DeletePolicy" => store.transact(|tx| delete_policy(tx, p)).map(|()| None),
        "CreatePolicyVersion" => store.transact(|tx| create_version(tx, p)).map(Some),
        "GetPolicyVersion" => get_version(api, p).map(Some),
        "ListPolicyVersions" => list_versions(api, p).map(Some),
        "SetDefaultPolicyVersion" => store.transact(|tx| set_default(tx, p)).map(|()| None),
        "DeletePolicyVersion" => store.transact(|tx| delete_version(tx, p)).map(|()| None),
        "AttachUserPolicy" => store
            .transact(|tx| attach(tx, p, Entity::User, true))
            .map(|()| None),
        "DetachUserPolicy" => store
            .transact(|tx| attach(tx, p, Entity::User, false))
            .map(|()| None),
        "AttachRolePolicy" => store
            .transact(|tx| attach(tx, p, Entity::Role, true))
            .map(|()| None),
        "DetachRolePolicy" => store
            .transact(|tx| attach(tx, p, Entity::Role, false))
            .map(|()| None),
        "ListAttachedUserPolicies" => list_attached(api, p, Entity::User).map(Some),
        "ListAttachedRolePolicies" => list_attached(api, p, Entity::Role).map(Some),
        "SimulatePrincipalPolicy" => super::simulate::principal_policy(api, p).map(Some),
        "SimulateCustomPolicy" => super::simulate::custom_policy(api, p).map(Some),
        _ => Err(ApiError::InvalidAction(action.to_owned(), "2010-05-08")),
    }
}

fn name_param<'a>(p: &'a Params, field: &str, max: usize) -> Result<&'a str, ApiError> {
    let v = p.require(field)?;
    let ok = v.len() <= max
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(v)
    } else {
        Err(ApiError::Validation(format!(
            "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
            field[..1].to_lowercase() + &field[1..]
        )))
    }
}

fn path_param(p: &Params) -> Result<String, ApiError> {
    let path = p.get("Path").unwrap_or("/");
    let ok = path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if ok {
        Ok(path.to_owned())
    } else {
        Err(ApiError::Validation(format!(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters. ({path})"
        )))
    }
}

fn user_xml(u: &User) -> String {
    format!("<member>{}</member>", user_fields(u))
}

fn user_fields(u: &User) -> String {
    format!(
        "<Path>{}</Path><UserName>{}</UserName><UserId>{}</UserId><Arn>{}</Arn><CreateDate>{}</CreateDate>",
        esc(&u.path),
        esc(&u.name),
        u.id,
        esc(&u.arn),
        u.created
    )
}

fn role_fields(r: &Role) -> String {
    format!(
        "<Path>{}</Path><RoleName>{}</RoleName><RoleId>{}</RoleId><Arn>{}</Arn><CreateDate>{}</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>{}<MaxSessionDuration>{}</MaxSessionDuration>",
        esc(&r.path),
        esc(&r.name),
        r.id,
        esc(&r.arn),
        r.created,
        url_encode(&r.trust),
        r.description
            .as_ref()
            .map(|d| format!("<Description>{}</Description>", esc(d)))
            .unwrap_or_default(),
        r.max_session_seconds
    )
}

fn role_xml(r: &Role) -> String {
    format!("<member>{}</member>", role_fields(r))
}

fn policy_xml(m: &ManagedPolicy) -> String {
    format!(
        "<PolicyName>{}</PolicyName><PolicyId>{}</PolicyId><Arn>{}</Arn><Path>{}</Path><DefaultVersionId>{}</DefaultVersionId><AttachmentCount>{}</AttachmentCount><PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount><IsAttachable>true</IsAttachable>{}<CreateDate>{}</CreateDate><UpdateDate>{}</UpdateDate>",
        esc(&m.name),
        m.id,
        esc(&m.arn),
        esc(&m.path),
        m.default_version,
        m.attachments,
        m.description
            .as_ref()
            .map(|d| format!("<Description>{}</Description>", esc(d)))
            .unwrap_or_default(),
        m.created,
        m.updated
    )
}

/// Every record under `prefix`, rendered as `<Name>…</Name><IsTruncated>false</IsTruncated>`.
fn list<T: serde::de::DeserializeOwned>(
    api: &IamApi,
    prefix: &[u8],
    element: &str,
    render: impl Fn(T) -> String,
) -> Result<String, ApiError> {
    let snap = api.store().snapshot();
    let mut out = format!("<{element}>");
    for entry in snap.scan(KeyRange::prefix(prefix), Direction::Forward) {
        let (_, v) = entry?;
        let item: T = serde_json::from_slice(&v).map_err(|e| ApiError::Corrupt(e.to_string()))?;
        out.push_str(&render(item));
    }
    out.push_str(&format!("</{element}><IsTruncated>false</IsTruncated>"));
    Ok(out)
}

fn load_user(tx: &dyn nuvem_store::Read, name: &str) -> Result<User, ApiError> {
    records::read(tx, &records::key(USERS, name))?.ok_or_else(|| {
        ApiError::NoSuchEntity(format!("The user with name {name} cannot be found."))
    })
}

fn load_role(tx: &dyn nuvem_store::Read, name: &str) -> Result<Role, ApiError> {
    records::read(tx, &records::key(ROLES, name))?.ok_or_else(|| {
        ApiError::NoSuchEntity(format!("The role with name {name} cannot be found."))
    })
}

fn create_user(api: &IamApi, tx: &mut dyn Tx, p: &Params) -> Result<String, ApiError> {
    let name = name_param(p, "UserName", 64)?;
    let path = path_param(p)?;
    let key = records::key(USERS, name);
    if tx.get(&key)?.is_some() {
        return Err(ApiError::AlreadyExists(format!(
            "User with name {name} already exists."
        )));
    }
    let user = User {
        name: name.to_owned(),
        id: records::new_id("AIDA"),
        arn: format!("arn:aws:iam::{}:user{path}{name}", api.account()),
        path,
        created: iso(now_ms()),
        inline: Default::default(),
        attached: Vec::new(),
        tags: p.tags(),
    };
    records::write(tx, &key, &user)?;
    Ok(format!("<User>{}</User>", user_fields(&user)))
}

/// The user named by `UserName`, or the caller's own user when it is absent.
fn caller_user_name(
    api: &IamApi,
    p: &Params,
    caller: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if let Some(name) = p.get("UserName") {
        return Ok(Some(name.to_owned()));
    }
    let Some(key) = caller else {
        return Ok(None);
    };
    Ok(match api.identity(key)? {
        Some(id) => id.username.clone(),
        None => None,
    })
}

fn get_user(api: &IamApi, p: &Params, caller: Option<&str>) -> Result<String, ApiError> {
    match caller_user_name(api, p, caller)? {
        Some(name) => {
            let u = load_user(&*api.store().snapshot(), &name)?;
            Ok(format!("<User>{}</User>", user_fields(&u)))
        }
        // The root credentials: GetUser describes the account's root user.
        None => Ok(format!(
            "<User><UserId>{0}</UserId><Arn>arn:aws:iam::{0}:root</Arn><CreateDate>{1}</CreateDate></User>",
            api.account(),
            iso(0)
        )),
    }
}

fn delete_user(tx: &mut dyn Tx, p: &Params) -> Result<(), ApiError> {
    let name = p.require("UserName")?;
    let user = load_user(tx, name)?;
    let has_keys = tx
        .scan(KeyRange::prefix(KEYS), Direction::Forward)
        .map(|e| e.map(|(_, v)| serde_json::from_slice::<AccessKey>(&v).ok()))
        .any(|k| matches!(k, Ok(Some(k)) if k.user.eq_ignore_ascii_case(&user.name)));
    if has_keys {
        return Err(ApiError::DeleteConflict(
            "Cannot delete entity, must delete access keys first.".into(),
        ));
    }
    if !user.inline.is_empty() {
        return Err(ApiError::DeleteConflict(
            "Cannot delete entity, must delete policies first.".into(),
        ));
    }
    if !user.attached.is_empty() {
        return Err(ApiError::DeleteConflict(
            "Cannot delete entity, must detach all policies first.".into(),
        ));
    }
    tx.delete(&records::key(USERS, name));
    Ok(())
}

fn keys_of(tx: &dyn nuvem_store::Read, user: &str) -> Result<Vec<AccessKey>, ApiError> {
    let mut out = Vec::new();
    for entry in tx.scan(KeyRange::prefix(KEYS), Direction::Forward) {
        let (_, v) = entry?;
        let k: AccessKey =
            serde_json::from_slice(&v).map_err(|e| ApiError::Corrupt(e.to_string()))?;
        if k.user.eq_ignore_ascii_case(user) {
            out.push(k);
        }
    }
    Ok(out)
}

fn create_access_key(
    api: &IamApi,
    tx: &mut dyn Tx,
    p: &Params,
    caller: Option<&str>,
) -> Result<String, ApiError> {
    let Some(name) = caller_user_name(api, p, caller)? else {
        return Err(ApiError::Validation(
            "nuvem's root credentials come from the manifest; name a user (UserName) to create an access key for".into(),
        ));
    };
    let user = load_user(tx, &name)?;
    if keys_of(tx, &user.name)?.len() >= ACCESS_KEYS_PER_USER {
        return Err(ApiError::LimitExceeded(format!(
            "Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}"
        )));
    }
    let key = AccessKey {
        id: records::new_id("AKIA"),
        secret: records::new_secret(40),
        user: user.name.clone(),
        active: true,
        created: iso(now_ms()),
    };
    records::write(tx, &records::access_key(&key.id), &key)?;
    Ok(format!(
        "<AccessKey><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>Active</Status><SecretAccessKey>{}</SecretAccessKey><CreateDate>{}</CreateDate></AccessKey>",
        esc(&user.name),
        key.id,
        esc(&key.secret),
        key.created
    ))
}

fn list_access_keys(api: &IamApi, p: &Params, caller: Option<&str>) -> Result<String, ApiError> {
    let Some(name) = caller_user_name(api, p, caller)? else {
        return Ok(
            "<AccessKeyMetadata></AccessKeyMetadata><IsTruncated>false</IsTruncated>".into(),
        );
    };
    let snap = api.store().snapshot();
    let user = load_user(&*snap, &name)?;
    let mut out = String::from("<AccessKeyMetadata>");
    for k in keys_of(&*snap, &user.name)? {
        out.push_str(&format!(
            "<member><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>{}</Status><CreateDate>{}</CreateDate></member>",
            esc(&user.name),
            k.id,
            if k.active { "Active" } else { "Inactive" },
            k.created
        ));
    }
    out.push_str("</AccessKeyMetadata><IsTruncated>false</IsTruncated>");
    Ok(out)
}

fn owned_key(tx: &dyn nuvem_store::Read, p: &Params) -> Result<AccessKey, ApiError> {
    let id = p.require("AccessKeyId")?;
    let key: Option<AccessKey> = records::read(tx, &records::access_key(id))?;
    match (key, p.get("UserName")) {
        (Some(k), Some(user)) if !k.user.eq_ignore_ascii_case(user) => Err(ApiError::NoSuchEntity(
            format!("The Access Key with id {id} cannot be found."),
        )),
        (Some(k), _) => Ok(k),
        (None, _) => Err(ApiError::NoSuchEntity(format!(
            "The Access Key with id {id} cannot be found."
        ))),
    }
}

fn update_access_key(tx: &mut dyn Tx, p: &Params) -> Result<(), ApiError> {
    let mut key = owned_key(tx, p)?;
    key.active = match p.require("Status")? {
        "Active" => true,
        "Inactive" => false,
        other => {
            return Err(ApiError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
            )));
        }
    };
    records::write(tx, &records::access_key(&key.id), &key)
}

fn delete_access_key(tx: &mut dyn Tx, p: &Params) -> Result<(), ApiError> {
    let key = owned_key(tx, p)?;
    tx.delete(&records::access_key(&key.id));
    Ok(())
}

#[derive(Clone, Copy)]
enum Entity {
    User,
    Role,
}

impl Entity {
    fn field(self) -> &'static str {
        match self {
            Entity::User => "UserName",
            Entity::Role => "RoleName",
        }
    }
}

/// Reads the user or role, lets `change` edit its inline and attached policies, writes it.
fn edit_entity<T>(
    tx: &mut dyn Tx,
    entity: Entity,
    name: &str,
    change: impl FnOnce(
        &mut std::collections::BTreeMap<String, String>,
        &mut Vec<String>,
    ) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    match entity {
        Entity::User => {
            let mut u = load_user(tx, name)?;
            let out = change(&mut u.inline, &mut u.attached)?;
            records::write(tx, &records::key(USERS, name), &u)?;
            Ok(out)
        }
        Entity::Role => {
            let mut r = load_role(tx, name)?;
            let out = change(&mut r.inline, &mut r.attached)?;
            records::write(tx, &records::key(ROLES, name), &r)?;
            Ok(out)
        }
    }
}

fn put_inline(tx: &mut dyn Tx, p: &Params, entity: Entity) -> Result<(), ApiError> {
    let name = p.require(entity.field())?.to_owned();
    let policy = name_param(p, "PolicyName", 128)?.to_owned();
    let doc = p.require("PolicyDocument")?.to_owned();
    let limit = match entity {
        Entity::User => INLINE_USER_POLICY_CHARS,
        Entity::Role => INLINE_ROLE_POLICY_CHARS,
    };
    if doc.chars().filter(|c| !c.is_whitespace()).count() > limit {
        return Err(ApiError::LimitExceeded(format!(
            "Maximum policy size of {limit} bytes exceeded for {} {name}",
            match entity {
                Entity::User => "user",
                Entity::Role => "role",
            }
        )));
    }
    parse_policy(&doc, Kind::Identity)?;
    edit_entity(tx, entity, &name, |inline, _| {
        inline.insert(policy, doc);
        Ok(())
    })
}

fn get_inline(api: &IamApi, p: &Params, entity: Entity) -> Result<String, ApiError> {
    let name = p.require(entity.field())?;
    let policy = p.require("PolicyName")?;
    let snap = api.store().snapshot();
    let (owner, inline) = match entity {
        Entity::User => {
            let u = load_user(&*snap, name)?;
            (u.name, u.inline)
        }
        Entity::Role => {
            let r = load_role(&*snap, name)?;
            (r.name, r.inline)
        }
    };
    let doc = inline.get(policy).ok_or_else(|| {
        ApiError::NoSuchEntity(format!(
            "The {} policy with name {policy} cannot be found.",
            match entity {
                Entity::User => "user",
                Entity::Role => "role",
            }
        ))
    })?;
    Ok(format!(
        "<{field}>{}</{field}><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
        esc(&owner),
        esc(policy),
        url_encode(doc),
        field = entity.field()
    ))
}

fn list_inline(api: &IamApi, p: &Params, entity: Entity) -> Result<String, ApiError> {
    let name = p.require(entity.field())?;
    let snap = api.store().snapshot();
    let inline = match entity {
        Entity::User => load_user(&*snap, name)?.inline,
        Entity::Role => load_role(&*snap, name)?.inline,
    };
    let members: String = inline
        .keys()
        .map(|k| format!("<member>{}</member>", esc(k)))
        .collect();
    Ok(format!(
        "<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>"
    ))
}

fn delete_inline(tx: &mut dyn Tx, p: &Params, entity: Entity) -> Result<(), ApiError> {
    let name = p.require(entity.field())?.to_owned();
    let policy = p.require("PolicyName")?.to_owned();
    edit_entity(tx, entity, &name, |inline, _| {
        inline.remove(&policy).map(drop).ok_or_else(|| {
            ApiError::NoSuchEntity(format!("The policy with name {policy} cannot be found."))
        })
    })
}

fn create_role(api: &IamApi, tx: &mut dyn Tx, p: &Params) -> Result<String, ApiError> {
    let name = name_param(p, "RoleName", 64)?;
    let path = path_param(p)?;
    let trust = p.require("AssumeRolePolicyDocument")?;
    if trust.chars().filter(|c| !c.is_whitespace()).count() > TRUST_POLICY_CHARS {
        return Err(ApiError::LimitExceeded(format!(
            "Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_CHARS}"
        )));
    }
    parse_policy(trust, Kind::Trust)?;
    let max = p.int("MaxSessionDuration", 3600, 3600..=43_200)?;
    let key = records::key(ROLES, name);
    if tx.get(&key)?.is_some() {
        return Err(ApiError::AlreadyExists(format!(
            "Role with name {name} already exists."
        )));
    }
    let role = Role {
        name: name.to_owned(),
        id: records::new_id("AROA"),
        arn: format!("arn:aws:iam::{}:role{path}{name}", api.account()),
        path,
        created: iso(now_ms()),
        trust: trust.to_owned(),
        description: p.get("Description").map(str::to_owned),
        max_session_seconds: max,
        inline: Default::default(),
        attached: Vec::new(),
        tags: p.tags(),
    };
    records::write(tx, &key, &role)?;
    Ok(format!("<Role>{}</Role>", role_fields(&role)))
}

fn get_role(api: &IamApi, p: &Params) -> Result<String, ApiError> {
    let r = load_role(&*api.store().snapshot(), p.require("RoleName")?)?;
    Ok(format!("<Role>{}</Role>", role_fields(&r)))
}

fn delete_role(tx: &mut dyn Tx, p: &Params) -> Result<(), ApiError> {
    let name = p.require("RoleName")?;
    let role = load_role(tx, name)?;
    if !role.inline.is_empty() {
        return Err(ApiError::DeleteConflict(
            "Cannot delete entity, must delete policies first.".into(),
        ));
    }
    if !role.attached.is_empty() {
        return Err(ApiError::DeleteConflict(
            "Cannot delete entity, must detach all policies first.".into(),
        ));
    }
    tx.delete(&records::key(ROLES, name));
    Ok(())
}

fn update_trust(tx: &mut dyn Tx, p: &Params) -> Result<(), ApiError> {
    let name = p.require("RoleName")?;
    let doc = p.require("PolicyDocument")?;
    parse_policy(doc, Kind::Trust)?;
    let mut role = load_role(tx, name)?;
    role.trust = doc.to_owned();
    records::write(tx, &records::key(ROLES, name), &role)
}

/// The customer-managed policy an ARN names (`arn:aws:iam::<account>:policy/<path><name>`).
fn policy_by_arn(
    api_account: &str,
    tx: &dyn nuvem_store::Read,
    arn: &str,
) -> Result<ManagedPolicy, ApiError> {
    let missing =
        || ApiError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."));
    let prefix = format!("arn:aws:iam::{api_account}:policy/");
    let rest = arn.strip_prefix(&prefix).ok_or_else(missing)?;
    let name = rest.rsplit('/').next().unwrap_or_default();
    let m: ManagedPolicy = records::read(tx, &records::key(POLICIES, name))?.ok_or_else(missing)?;
    if m.arn == arn { Ok(m) } else { Err(missing()) }
}

fn create_policy(api: &IamApi, tx: &mut dyn Tx, p: &Params) -> Result<String, ApiError> {
    let name = name_param(p, "PolicyName", 128)?;
    let path = path_param(p)?;
    let doc = p.require("PolicyDocument")?;
    if doc.chars().filter(|c| !c.is_whitespace()).count() > crate::policy::MAX_MANAGED_POLICY_CHARS
    {
        return Err(ApiError::LimitExceeded(format!(
            "Cannot exceed quota for PolicySize: {}",
            crate::policy::MAX_MANAGED_POLICY_CHARS
        )));
    }
    parse_policy(doc, Kind::Identity)?;
    let key = records::key(POLICIES, name);
    if tx.get(&key)?.is_some() {
        return Err(ApiError::AlreadyExists(format!(
            "A policy called {name} already exists. Duplicate names are not allowed."
        )));
    }
    let now = iso(now_ms());
    let m = ManagedPolicy {
        name: name.to_owned(),
        id: records::new_id("ANPA"),
        arn: format!("arn:aws:iam::{}:policy{path}{name}", api.account()),
        path,
        created: now.clone(),
        updated: now.clone(),
        description: p.get("Description").map(str::to_owned),
        default_version: "v1".into(),
        versions: vec![PolicyVersion {
            id: "v1".into(),
            document: doc.to_owned(),
            created: now,
        }],
        next_version: 2,
        attachments: 0,
    };
    records::write(tx, &key, &m)?;
    Ok(format!("<Policy>{}</Policy>", policy_xml(&m)))
}

fn get_policy(api: &IamApi, p: &Params) -> Result<String, ApiError> {
    let m = policy_by_arn(
        api.account(),
        &*api.store().snapshot(),
        p.require("PolicyArn")?,
    )?;
    Ok(format!("<Policy>{}</Policy>", policy_xml(&m)))
}

fn account_of_arn(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

fn delete_policy(tx: &mut dyn Tx, p: &Params) -> Result<(), ApiError> {
    let arn = p.require("PolicyArn")?;
    let m = policy_by_arn(account_of_arn(arn), tx, arn)?;
    if m.attachments > 0 {
        return Err(ApiError::DeleteConflict(
            "Cannot delete a policy attached to entities.".into(),
        ));
    }
    if m.versions.len() > 1 {
        return Err(ApiError::DeleteConflict(
            "Cannot delete a policy with non-default versions. Delete the other versions first."
                .into(),
        ));
    }
    tx.delete(&records::key(POLICIES, &m.name));
    Ok(())
}

fn version_xml(v: &PolicyVersion, default: bool, with_doc: bool) -> String {
    format!(
        "{}<VersionId>{}</VersionId><IsDefaultVersion>{default}</IsDefaultVersion><CreateDate>{}</CreateDate>",
        if with_doc {
            format!("<Document>{}</Document>", url_encode(&v.document))
        } else {
            String::new()
        },
        v.id,
        v.created
    )
}

fn create_version(tx: &mut dyn Tx, p: &Params) -> Result<String, ApiError> {
    let arn = p.require("PolicyArn")?;
    let doc = p.require("PolicyDocument")?;
    parse_policy(doc, Kind::Identity)?;
    let mut m = policy_by_arn(account_of_arn(arn), tx, arn)?;
    if m.versions.len() >= VERSIONS_PER_POLICY {
        return Err(ApiError::LimitExceeded(format!(
            "A managed policy can have up to {VERSIONS_PER_POLICY} versions. Before you create a new version, you must delete an existing version."
        )));
    }
    let v = PolicyVersion {
        id: format!("v{}", m.next_version),
        document: doc.to_owned(),
        created: iso(now_ms()),
    };
    m.next_version += 1;
    let default = p.get("SetAsDefault") == Some("true");
    if default {
        m.default_version = v.id.clone();
    }
    m.updated = v.created.clone();
    let out = format!(
        "<PolicyVersion>{}</PolicyVersion>",
        version_xml(&v, default, false)
    );
    m.versions.push(v);
    records::write(tx, &records::key(POLICIES, &m.name), &m)?;
    Ok(out)
}

fn get_version(api: &IamApi, p: &Params) -> Result<String, ApiError> {
    let arn = p.require("PolicyArn")?;
    let id = p.require("VersionId")?;
    let m = policy_by_arn(api.account(), &*api.store().snapshot(), arn)?;
    let v = m.versions.iter().find(|v| v.id == id).ok_or_else(|| {
        ApiError::NoSuchEntity(format!(
            "Policy {arn} version {id} does not exist or is not attachable."
        ))
    })?;
    Ok(format!(
        "<PolicyVersion>{}</PolicyVersion>",
        version_xml(v, v.id == m.default_version, true)
    ))
}

fn list_versions(api: &IamApi, p: &Params) -> Result<String, ApiError> {
    let m = policy_by_arn(
        api.account(),
        &*api.store().snapshot(),
        p.require("PolicyArn")?,
    )?;
    let members: String = m
        .versions
        .iter()
        .rev()
        .map(|v| {
            format!(
                "<member>{}</member>",
                version_xml(v, v.id == m.default_version, false)
            )
        })
        .collect();
    Ok(format!(
        "<Versions>{members}</Versions><IsTruncated>false</IsTruncated>"
    ))
}

fn set_default(tx: &mut dyn Tx, p: &Params) -> Result<(), ApiError> {
    let arn = p.require("PolicyArn")?;
    let id = p.require("VersionId")?;
    let mut m = policy_by_arn(account_of_arn(arn), tx, arn)?;
    if !m.versions.iter().any(|v| v.id == id) {
        return Err(ApiError::NoSuchEntity(format!(
            "Policy {arn} version {id} does not exist or is not attachable."
        )));
    }
    m.default_version = id.to_owned();
    records::write(tx, &records::key(POLICIES, &m.name), &m)
}

fn delete_version(tx: &mut dyn Tx, p: &Params) -> Result<(), ApiError> {
    let arn = p.require("PolicyArn")?;
    let id = p.require("VersionId")?;
    let mut m = policy_by_arn(account_of_arn(arn), tx, arn)?;
    if m.default_version == id {
        return Err(ApiError::DeleteConflict(
            "Cannot delete the default version of a policy.".into(),
        ));
    }
    let before = m.versions.len();
    m.versions.retain(|v| v.id != id);
    if m.versions.len() == before {
        return Err(ApiError::NoSuchEntity(format!(
            "Policy {arn} version {id} does not exist or is not attachable."
        )));
    }
    records::write(tx, &records::key(POLICIES, &m.name), &m)
}

fn attach(tx: &mut dyn Tx, p: &Params, entity: Entity, on: bool) -> Result<(), ApiError> {
    let name = p.require(entity.field())?.to_owned();
    let arn = p.require("PolicyArn")?.to_owned();
    let mut m = policy_by_arn(account_of_arn(&arn), tx, &arn)?;
    let changed = edit_entity(tx, entity, &name, |_, attached| {
        let present = attached.contains(&arn);
        match (on, present) {
            (true, true) => Ok(false),
            (true, false) => {
                if attached.len() >= MANAGED_POLICIES_PER_ENTITY {
                    return Err(ApiError::LimitExceeded(format!(
                        "Cannot exceed quota for PoliciesPerEntity: {MANAGED_POLICIES_PER_ENTITY}"
                    )));
                }
                attached.push(arn.clone());
                Ok(true)
            }
            (false, true) => {
                attached.retain(|a| *a != arn);
                Ok(true)
            }
            (false, false) => Err(ApiError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            ))),
        }
    })?;
    if changed {
        m.attachments = if on {
            m.attachments + 1
        } else {
            m.attachments.saturating_sub(1)
        };
        records::write(tx, &records::key(POLICIES, &m.name), &m)?;
    }
    Ok(())
}

fn list_attached(api: &IamApi, p: &Params, entity: Entity) -> Result<String, ApiError> {
    let name = p.require(entity.field())?;
    let snap = api.store().snapshot();
    let attached = match entity {
        Entity::User => load_user(&*snap, name)?.attached,
        Entity::Role => load_role(&*snap, name)?.attached,
    };
    let members: String = attached
        .iter()
        .map(|arn| {
            format!(
                "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
                esc(arn.rsplit('/').next().unwrap_or_default()),
                esc(arn)
            )
        })
        .collect();
    Ok(format!(
        "<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>"
    ))
}
