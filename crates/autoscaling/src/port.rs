//! The port through which the scaler reads and sets another service's capacity.
//!
//! A [`Scalable`] answers for one service namespace (`dynamodb`): which scalable dimensions
//! it has and which predefined metric tracks each, whether a resource exists and can be
//! scaled, its current capacity, a new capacity, and a counter of what it consumed. The
//! scaler turns the counter into utilization: (consumed over a window ÷ window seconds) ÷
//! capacity. For DynamoDB the counter is capacity units consumed; for Lambda provisioned
//! concurrency it would be busy environment-seconds (average concurrency over the window ÷
//! provisioned concurrency), so the same loop serves both.

/// A service whose resources Application Auto Scaling may scale.
pub trait Scalable: Send + Sync + 'static {
    /// The `ServiceNamespace` it answers for.
    fn namespace(&self) -> &'static str;

    /// Its scalable dimensions, each with the predefined metric type that tracks it.
    fn dimensions(&self) -> &'static [(&'static str, &'static str)];

    /// The `TargetValue`s a target tracking policy may ask for (percent utilization).
    fn target_value_range(&self) -> (f64, f64) {
        (f64::MIN_POSITIVE, 100.0)
    }

    /// Whether its predefined metrics are percentages (DynamoDB's: a `TargetValue` of 70
    /// means 70 %) rather than ratios (Lambda's provisioned concurrency utilization: 0.7).
    fn target_in_percent(&self) -> bool {
        true
    }

    /// Whether `resource_id` names a resource that exists and can be scaled on `dimension`;
    /// the refusal is a `ValidationException`'s message.
    fn check(&self, resource_id: &str, dimension: &str) -> Result<(), String>;

    /// The resource's current capacity on `dimension`, or `None` when it is gone (or cannot
    /// be scaled any more, like a table switched to on-demand).
    fn capacity(&self, resource_id: &str, dimension: &str) -> Result<Option<u64>, String>;

    /// Sets the resource's capacity on `dimension`.
    fn set_capacity(&self, resource_id: &str, dimension: &str, capacity: u64)
    -> Result<(), String>;

    /// A counter of what the resource consumed on `dimension` (on this node, since it
    /// started): the scaler divides its increase over a window by the window's length.
    fn consumed(&self, resource_id: &str, dimension: &str) -> f64;
}

/// Dimensions AWS has that nuvem will scale once their service plugs in a [`Scalable`],
/// with what is missing.
pub const NOT_YET: &[(&str, &str, &str)] = &[];

/// AWS's `ServiceNamespace` values.
pub const NAMESPACES: &[&str] = &[
    "ecs",
    "elasticmapreduce",
    "ec2",
    "appstream",
    "dynamodb",
    "rds",
    "sagemaker",
    "custom-resource",
    "comprehend",
    "lambda",
    "cassandra",
    "kafka",
    "elasticache",
    "neptune",
    "workspaces",
];
