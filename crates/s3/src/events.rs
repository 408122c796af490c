//! The internal notification hook: told after an object was created (put, copy, completed
//! multipart upload) or removed. Functions (a later issue) subscribe through it; the binary
//! wires the subscriber in, so this crate depends on no consumer.
//!
//! Must not: block (it runs on the request path after the commit) or fail the request.

/// What happened to an object; sent after the change is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectEvent {
    Created {
        bucket: String,
        key: String,
        size: u64,
        etag: String,
    },
    Removed {
        bucket: String,
        key: String,
    },
}

/// A subscriber to object events.
pub trait ObjectEvents: Send + Sync + 'static {
    fn notify(&self, event: &ObjectEvent);
}
