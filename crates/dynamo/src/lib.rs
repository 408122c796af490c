//! DynamoDB-compatible tables: the `DynamoDB_20120810` JSON 1.0 API on the storage engine.
//!
//! Owns: the data model ([`value`], [`number`]), the order-preserving key encoding ([`keys`]),
//! the expression language ([`expr`]), table metadata ([`catalog`]) and items ([`storage`]) in
//! the store, stream records ([`streams`], written in each item write's transaction) and Time
//! to Live ([`ttl`], the sweep of expired items), provisioned capacity ([`throughput`]: token
//! buckets per table and global index, on this node), the operations ([`ops`]), including the
//! DynamoDB Streams API (`DynamoDBStreams_20120810`, [`ops::streams`]), and the
//! [`nuvem_aws::Service`] implementation ([`service`]), which answers both APIs. Must not: open
//! sockets, read config files or env, decide when background sweeps run (the binary calls
//! [`DynamoService::sweep_forever`]), or depend on any other service crate.

pub mod authz;
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
pub mod throughput;
pub mod ttl;
pub mod value;

pub use error::Error;
pub use service::{DynamoConfig, DynamoService};
