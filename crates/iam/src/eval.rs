//! Deciding a request: AWS's policy evaluation logic within one account
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>).
//!
//! 1. An explicit `Deny` in any applicable policy (identity or resource) decides: denied.
//! 2. A resource policy statement that allows the principal by name (its user or role ARN,
//!    its session, a service, or everyone) allows on its own.
//! 3. Otherwise an identity policy must allow it; a resource policy that names only the
//!    account (`123456789012`, `arn:aws:iam::123456789012:root`) delegates to the identity
//!    policies and allows nothing by itself.
//! 4. Nothing allows: denied by default.
//!
//! The account's root user is allowed whatever its (absent) identity policies say; only an
//! explicit `Deny` in a resource policy stops it.

use crate::context::{Context, substitute};
use crate::pattern;
use crate::policy::{Effect, Patterns, Policy, Principals, Statement, Version};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account's root credentials.
    Root { account: String },
    /// An IAM user: `arn:aws:iam::<account>:user/<path><name>`.
    User { account: String, arn: String },
    /// A session of an assumed role: `arn:aws:sts::<account>:assumed-role/<role>/<session>`,
    /// with the role's own ARN.
    AssumedRole {
        account: String,
        arn: String,
        role_arn: String,
    },
    /// An AWS service acting on the account's behalf (`apigateway.amazonaws.com`).
    Service { name: String },
    /// No credentials.
    Anonymous,
}

impl Principal {
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Root { account }
            | Principal::User { account, .. }
            | Principal::AssumedRole { account, .. } => Some(account),
            _ => None,
        }
    }

    /// The principal's ARN as `aws:PrincipalArn` shows it (for a session: the role's ARN).
    pub fn arn(&self) -> Option<String> {
        match self {
            Principal::Root { account } => Some(format!("arn:aws:iam::{account}:root")),
            Principal::User { arn, .. } => Some(arn.clone()),
            Principal::AssumedRole { role_arn, .. } => Some(role_arn.clone()),
            _ => None,
        }
    }
}

/// One request to decide.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub principal: &'a Principal,
    /// `service:Operation`, e.g. `dynamodb:GetItem`.
    pub action: &'a str,
    /// The ARN of the resource the operation touches (`*` for operations on none).
    pub resource: &'a str,
    pub context: &'a Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// Where a deciding statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The `n`th identity policy passed in.
    Identity(usize),
    Resource,
}

/// The decision and the statements that made it (for the policy simulator and for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    pub matched: Vec<(Source, Option<String>)>,
}

/// How a resource policy statement's principal meets the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    No,
    /// By account only: delegation to the account's identity policies.
    Account,
    /// By user, role, session, service or `*`.
    Directly,
}

fn principal_named(p: &Principals, who: &Principal) -> Named {
    let named = if p.everyone {
        Named::Directly
    } else {
        let mut best = Named::No;
        for id in &p.aws {
            let hit = match who {
                Principal::Root { account } => (id == account
                    || *id == format!("arn:aws:iam::{account}:root"))
                .then_some(Named::Directly),
                Principal::User { account, arn } => {
                    if id == arn {
                        Some(Named::Directly)
                    } else {
                        (id == account || *id == format!("arn:aws:iam::{account}:root"))
                            .then_some(Named::Account)
                    }
                }
                Principal::AssumedRole {
                    account,
                    arn,
                    role_arn,
                } => {
                    if id == arn || id == role_arn {
                        Some(Named::Directly)
                    } else {
                        (id == account || *id == format!("arn:aws:iam::{account}:root"))
                            .then_some(Named::Account)
                    }
                }
                Principal::Service { .. } | Principal::Anonymous => None,
            };
            match hit {
                Some(Named::Directly) => {
                    best = Named::Directly;
                    break;
                }
                Some(n) => best = n,
                None => {}
            }
        }
        if best == Named::No
            && let Principal::Service { name } = who
            && p.service.iter().any(|s| s == name)
        {
            best = Named::Directly;
        }
        best
    };
    if p.negated {
        // NotPrincipal: everyone but those named.
        if named == Named::No {
            Named::Directly
        } else {
            Named::No
        }
    } else {
        named
    }
}

fn patterns_match(p: &Patterns, matches: impl Fn(&str) -> bool) -> bool {
    p.items.iter().any(|i| matches(i)) != p.negated
}

/// Does the statement apply to this action, resource and context (its principal aside)?
fn applies(st: &Statement, version: Version, req: &Request<'_>) -> bool {
    let variables = version == Version::V2012;
    if !patterns_match(&st.action, |a| pattern::wildcard(a, req.action, true)) {
        return false;
    }
    if let Some(resource) = &st.resource
        && !patterns_match(resource, |r| {
            if variables {
                substitute(r, req.context).is_some_and(|r| pattern::arn(&r, req.resource))
            } else {
                pattern::arn(r, req.resource)
            }
        })
    {
        return false;
    }
    st.conditions
        .iter()
        .all(|c| c.holds(req.context, variables))
}

/// Decides `req` against the caller's identity policies and the resource's policy.
pub fn evaluate(identity: &[&Policy], resource: Option<&Policy>, req: &Request<'_>) -> Evaluation {
    let mut denies = Vec::new();
    let mut direct_allows = Vec::new();
    let mut identity_allows = Vec::new();
    for (i, policy) in identity.iter().enumerate() {
        for st in &policy.statements {
            if applies(st, policy.version, req) {
                let hit = (Source::Identity(i), st.sid.clone());
                match st.effect {
                    Effect::Deny => denies.push(hit),
                    Effect::Allow => identity_allows.push(hit),
                }
            }
        }
    }
    if let Some(policy) = resource {
        for st in &policy.statements {
            let named = st
                .principal
                .as_ref()
                .map(|p| principal_named(p, req.principal))
                .unwrap_or(Named::No);
            if named == Named::No || !applies(st, policy.version, req) {
                continue;
            }
            let hit = (Source::Resource, st.sid.clone());
            match (st.effect, named) {
                (Effect::Deny, _) => denies.push(hit),
                (Effect::Allow, Named::Directly) => direct_allows.push(hit),
                // Delegation: the identity policies decide.
                (Effect::Allow, _) => {}
            }
        }
    }
    if !denies.is_empty() {
        return Evaluation {
            decision: Decision::ExplicitDeny,
            matched: denies,
        };
    }
    if matches!(req.principal, Principal::Root { .. }) {
        return Evaluation {
            decision: Decision::Allow,
            matched: Vec::new(),
        };
    }
    let mut allows = direct_allows;
    // Identity policies speak only for principals of their own account, which they are.
    if matches!(
        req.principal,
        Principal::User { .. } | Principal::AssumedRole { .. }
    ) {
        allows.extend(identity_allows);
    }
    if allows.is_empty() {
        Evaluation {
            decision: Decision::ImplicitDeny,
            matched: Vec::new(),
        }
    } else {
        Evaluation {
            decision: Decision::Allow,
            matched: allows,
        }
    }
}
