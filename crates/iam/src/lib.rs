//! IAM policy evaluation: the pure engine behind access control in every nuvem service.
//!
//! What this crate owns: the policy document grammar ([`Policy::parse`], with IAM's
//! `MalformedPolicyDocument` messages), wildcard and ARN matching ([`pattern`]), the
//! `Condition` operators with `…IfExists` and the set qualifiers ([`condition`]), policy
//! variables ([`context::substitute`]), and AWS's evaluation logic over identity and resource
//! policies ([`evaluate`]). Request context in, [`Decision`] out.
//!
//! [`api`] is the IAM and STS APIs over the store (users, keys, roles, policies, sessions),
//! kept apart from the pure engine as the waf crate keeps the wafv2 API apart from its rules.
//!
//! Must not: know any service's operations or resources (services say which action and ARN
//! a request is), store anything, or do I/O. Like the WAF engine, it is pure and cheap to
//! call on every request.

pub mod api;
pub mod condition;
pub mod context;
pub mod eval;
pub mod pattern;
pub mod policy;

pub use context::Context;
pub use eval::{Decision, Evaluation, Principal, Request, Source, evaluate};
pub use policy::{Kind, Malformed, Policy};
