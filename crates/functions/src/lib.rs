//! Lambda-compatible functions: execution environments as child processes speaking the Lambda
//! Runtime API, the Invoke API (sync, Event, DryRun) and the control plane, as the `lambda`
//! service on the shared AWS endpoint.
//!
//! Owns: the function model ([`model`]), records and packages at rest ([`catalog`], and
//! [`packages`] for a store shared by several nodes), cluster-wide concurrency ([`slots`]) and events ([`queue`]), the
//! Runtime API listener of each environment ([`runtime_api`]), environment processes and their
//! logs ([`environment`], [`logs`]), users of their own ([`isolation`]), a network namespace per environment ([`netns`]), runtimes and the shipped Python/Node bootstraps
//! ([`runtimes`]), warm pools and scaling ([`pool`]), running one invocation ([`invoke`]), the
//! Invoke semantics ([`dispatch`]), the control plane ([`control`]), event source mappings on
//! DynamoDB streams ([`esm`], the stream reached through [`esm::StreamSource`]), the HTTP service
//! ([`service`]), versions and aliases ([`versions`]), provisioned concurrency
//! ([`provisioned`]), the in-process [`Invoker`] API
//! ([`invoker`]) and what metrics hear of each invocation ([`observer`]).
//!
//! Must not: read nuvem's config files or env (the binary passes [`FunctionsConfig`]), or
//! depend on another service crate.

pub mod catalog;
pub mod control;
pub mod credentials;
pub mod dispatch;
pub mod environment;
pub mod error;
pub mod esm;
pub mod event_config;
pub mod function_url;
pub mod invoke;
pub mod invoker;
pub mod isolation;
pub mod layers;
pub mod logs;
pub mod model;
pub mod netns;
pub mod observer;
pub mod packages;
mod peer;
pub mod pool;
pub mod provisioned;
pub mod queue;
pub mod runtime_api;
pub mod runtimes;
pub mod service;
pub mod slots;
pub mod versions;

pub use error::Error;
pub use invoker::{InvocationType, InvokeRequest, InvokeResponse, Invoker};
pub use observer::{InvocationObserver, Ran};
pub use pool::PoolStats;
pub use service::{FunctionsConfig, FunctionsService};
