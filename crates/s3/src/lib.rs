//! S3-compatible object store: buckets and streamed objects on local disk behind the S3 REST
//! API that aws-sdk-s3, boto3 and the AWS CLI speak.
//!
//! Owns: the storage layer ([`store`]: metadata in the shared `Store`, data as blob files;
//! object versions in [`store::versions`], encryption at rest in [`store::sealing`], SSE-KMS
//! data keys through the [`kms::KeyService`] port the binary wires to KMS),
//! the protocol layer ([`api`]: the `s3s` crate's routing, XML and signature handling, mapped
//! onto [`store`]), AWS's limits on metadata, tags and CORS rules ([`limits`]), bucket
//! policies ([`policy`]), CORS preflight, and the
//! [`nuvem_aws::Service`] implementation ([`service`]), which completes every error body
//! (Code, Message, Resource, RequestId, HostId) in one place (`error_body`). Must not: read config files or env,
//! open sockets, or depend on another service crate. s3s types stay in [`api`] and
//! [`service`], so upgrading s3s touches nothing in [`store`].

pub mod acl;
pub mod api;
pub mod cors;
pub mod error;
mod error_body;
pub mod events;
pub mod kms;
pub mod limits;
pub mod manifest;
pub mod policy;
pub mod service;
pub mod sigv2;
pub mod store;

pub use error::Error;
pub use events::{ObjectEvent, ObjectEvents};
pub use service::{S3Config, S3Service};
