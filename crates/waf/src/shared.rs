//! [`SharedWebAcl`]: a WebACL that can be replaced while requests are being evaluated. The
//! wafv2 API holds one per WebACL a resource uses (the distribution's) and swaps in the new
//! compilation after UpdateWebACL, or after an update of a set it references; whoever
//! evaluates requests (the edge's guard) holds a clone. Must not: know who evaluates, or
//! carry state across a swap (counters and samples start afresh with the new WebACL).

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::{Verdict, WebAcl};

/// A cloneable handle on the current version of one WebACL.
#[derive(Clone)]
pub struct SharedWebAcl(Arc<ArcSwap<WebAcl>>);

impl std::fmt::Debug for SharedWebAcl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedWebAcl")
            .field(&self.0.load().name())
            .finish()
    }
}

impl SharedWebAcl {
    pub fn new(acl: WebAcl) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(acl)))
    }

    /// Evaluates `req` with the current WebACL. Costs one uncontended atomic operation more
    /// than [`WebAcl::evaluate`]; a swap during the call does not affect it.
    pub fn evaluate(&self, req: &crate::Request<'_>) -> Verdict {
        self.0.load().evaluate(req)
    }

    /// The current WebACL (for its counters and samples).
    pub fn current(&self) -> Arc<WebAcl> {
        self.0.load_full()
    }

    /// Whether `other` is a handle on the same WebACL.
    pub fn same(&self, other: &SharedWebAcl) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Replaces the WebACL: requests that start after this call see `acl`.
    pub fn replace(&self, acl: WebAcl) {
        self.0.store(Arc::new(acl));
    }
}
