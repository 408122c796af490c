//! Application Auto Scaling (`application-autoscaling`, JSON 1.1,
//! `X-Amz-Target: AnyScaleFrontendService.<Operation>`): scalable targets, target tracking
//! scaling policies, scheduled actions, the record of scaling activities, and the scaler that
//! acts on them
//! (<https://docs.aws.amazon.com/autoscaling/application/APIReference/Welcome.html>).
//!
//! The resources it scales belong to other services, which this crate never imports: each is
//! reached through a [`Scalable`] port the binary implements (DynamoDB tables and global
//! indexes today; Lambda provisioned concurrency plugs in the same way, and is refused with a
//! clear error until it does).
//!
//! Owns: the records under `autoscaling/` in the store ([`model`]), the API ([`api`]), the
//! scaler ([`scaler`]: one round per metrics window, on the node that holds its lease), and
//! schedule expressions ([`schedule`]). Must not: read another service's data except through
//! its port, open sockets, or read configuration.

pub mod api;
pub mod model;
pub mod port;
pub mod scaler;
pub mod schedule;

pub use api::{ApiError, AutoScaling, AutoScalingConfig};
pub use port::Scalable;
