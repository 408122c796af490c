//! DynamoDB-compatible tables: the `DynamoDB_20120810` JSON 1.0 API on the storage engine.
//!
//! Owns: the data model ([`value`], [`number`]), the order-preserving key encoding ([`keys`]),
//! the expression language ([`expr`]), table metadata ([`catalog`]) and items ([`storage`]) in
//! the store, the operations ([`ops`]), and the [`nuvem_aws::Service`] implementation
//! ([`service`]). Must not: open sockets, read config files or env, or depend on any other
//! service crate.

pub mod capacity;
pub mod catalog;
pub mod error;
pub mod expr;
pub mod index;
pub mod keys;
pub mod number;
pub mod ops;
pub mod service;
pub mod storage;
pub mod streams;
pub mod ttl;
pub mod value;

pub use error::Error;
pub use service::{DynamoConfig, DynamoService};
