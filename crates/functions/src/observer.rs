//! What the binary's metrics hear of invocations, whichever way they came (the Invoke API,
//! API Gateway, function URLs, asynchronous events and their retries, event source mappings,
//! destinations): every run and every throttled request, reported from [`crate::dispatch`],
//! through which all of them pass. These are Lambda's CloudWatch figures (`Invocations`,
//! `Errors`, `Throttles`, `Duration`); `ConcurrentExecutions` is read from the pools.
//!
//! Only functions that exist are reported (a run or a throttle needs the function's pool),
//! by name without qualifier (a version's or alias's runs count for the function).
//!
//! Must not: block (it is called on the invocation path).

use std::time::Duration;

/// One invocation that ran.
#[derive(Debug, Clone, Copy)]
pub struct Ran<'a> {
    pub function: &'a str,
    /// It started a new execution environment.
    pub cold: bool,
    /// It ended in a function error (the handler's, a timeout, a crash, an init failure):
    /// Lambda's `Errors`.
    pub function_error: bool,
    /// The time the function spent on the event (the REPORT line's `Duration`, init not
    /// included): Lambda's `Duration`.
    pub duration: Duration,
}

/// Hears of invocations (see the module's documentation).
pub trait InvocationObserver: Send + Sync {
    /// One invocation ran.
    fn ran(&self, ran: &Ran<'_>);
    /// A synchronous invocation request of `function` was refused for want of concurrency
    /// (`TooManyRequestsException`): Lambda's `Throttles`.
    fn throttled(&self, function: &str);
    /// `function` was deleted: its figures may be forgotten.
    fn deleted(&self, function: &str);
}
