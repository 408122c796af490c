//! The policy simulator: SimulatePrincipalPolicy and SimulateCustomPolicy
//! (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html>),
//! the same evaluation the endpoint runs, with what decided it.

use super::query::Params;
use super::records::{self, ManagedPolicy, POLICIES, ROLES, Role, USERS, User};
use super::{ApiError, IamApi, esc, parse_policy};
use crate::context::Context;
use crate::eval::{Decision, Principal, Request, Source, evaluate};
use crate::policy::{Kind, Policy};

/// An identity policy with the id and type the simulator reports for it.
struct Named {
    id: String,
    kind: &'static str,
    policy: Policy,
}

fn inputs(p: &Params) -> Result<Vec<Named>, ApiError> {
    p.list("PolicyInputList")
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            Ok(Named {
                id: format!("PolicyInputList.{}", i + 1),
                kind: "IAM Policy",
                policy: parse_policy(doc, Kind::Identity)?,
            })
        })
        .collect()
}

fn context(p: &Params) -> Context {
    let mut ctx = Context::new();
    for i in 1.. {
        let Some(name) = p.get(&format!("ContextEntries.member.{i}.ContextKeyName")) else {
            break;
        };
        let values = p.list(&format!("ContextEntries.member.{i}.ContextKeyValues"));
        ctx.set_all(name, values.into_iter().map(str::to_owned));
    }
    ctx
}

pub fn principal_policy(api: &IamApi, p: &Params) -> Result<String, ApiError> {
    let source = p.require("PolicySourceArn")?;
    let name = source.rsplit('/').next().unwrap_or_default();
    let snap = api.store().snapshot();
    let missing = || ApiError::NoSuchEntity(format!("The entity {source} cannot be found."));
    let (principal, inline, attached) = if source.contains(":user/") {
        let u: User = records::read(&*snap, &records::key(USERS, name))?
            .filter(|u: &User| u.arn == source)
            .ok_or_else(missing)?;
        (
            Principal::User {
                account: api.account().to_owned(),
                arn: u.arn,
            },
            u.inline,
            u.attached,
        )
    } else if source.contains(":role/") {
        let r: Role = records::read(&*snap, &records::key(ROLES, name))?
            .filter(|r: &Role| r.arn == source)
            .ok_or_else(missing)?;
        (
            Principal::AssumedRole {
                account: api.account().to_owned(),
                arn: format!(
                    "arn:aws:sts::{}:assumed-role/{}/simulation",
                    api.account(),
                    r.name
                ),
                role_arn: r.arn,
            },
            r.inline,
            r.attached,
        )
    } else {
        return Err(missing());
    };
    let mut named = Vec::new();
    for (policy_name, doc) in &inline {
        named.push(Named {
            id: policy_name.clone(),
            kind: if source.contains(":user/") {
                "user"
            } else {
                "role"
            },
            policy: parse_policy(doc, Kind::Identity)?,
        });
    }
    for arn in &attached {
        let pname = arn.rsplit('/').next().unwrap_or_default();
        if let Some(m) = records::read::<ManagedPolicy>(&*snap, &records::key(POLICIES, pname))?
            && let Some(doc) = m.default_document()
        {
            named.push(Named {
                id: arn.clone(),
                kind: "managed",
                policy: parse_policy(doc, Kind::Identity)?,
            });
        }
    }
    named.extend(inputs(p)?);
    simulate(&principal, &named, p)
}

pub fn custom_policy(api: &IamApi, p: &Params) -> Result<String, ApiError> {
    let named = inputs(p)?;
    if named.is_empty() {
        p.require("PolicyInputList.member.1")?;
    }
    let principal = Principal::User {
        account: api.account().to_owned(),
        arn: p
            .get("CallerArn")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("arn:aws:iam::{}:user/simulated", api.account())),
    };
    simulate(&principal, &named, p)
}

fn simulate(principal: &Principal, named: &[Named], p: &Params) -> Result<String, ApiError> {
    let actions = p.list("ActionNames");
    if actions.is_empty() {
        p.require("ActionNames.member.1")?;
    }
    let mut resources = p.list("ResourceArns");
    if resources.is_empty() {
        resources.push("*");
    }
    let resource_policy = p
        .get("ResourcePolicy")
        .map(|doc| parse_policy(doc, Kind::Resource))
        .transpose()?;
    let ctx = context(p);
    let policies: Vec<&Policy> = named.iter().map(|n| &n.policy).collect();
    let mut out = String::from("<EvaluationResults>");
    for action in &actions {
        for resource in &resources {
            let eval = evaluate(
                &policies,
                resource_policy.as_ref(),
                &Request {
                    principal,
                    action,
                    resource,
                    context: &ctx,
                },
            );
            let decision = match eval.decision {
                Decision::Allow => "allowed",
                Decision::ExplicitDeny => "explicitDeny",
                Decision::ImplicitDeny => "implicitDeny",
            };
            let matched: String = eval
                .matched
                .iter()
                .map(|(source, _sid)| {
                    let (id, kind) = match source {
                        Source::Identity(i) => (named[*i].id.as_str(), named[*i].kind),
                        Source::Resource => ("ResourcePolicy", "resource"),
                    };
                    format!(
                        "<member><SourcePolicyId>{}</SourcePolicyId><SourcePolicyType>{kind}</SourcePolicyType></member>",
                        esc(id)
                    )
                })
                .collect();
            out.push_str(&format!(
                "<member><EvalActionName>{}</EvalActionName><EvalResourceName>{}</EvalResourceName><EvalDecision>{decision}</EvalDecision><MatchedStatements>{matched}</MatchedStatements><MissingContextValues/></member>",
                esc(action),
                esc(resource)
            ));
        }
    }
    out.push_str("</EvaluationResults><IsTruncated>false</IsTruncated>");
    Ok(out)
}
