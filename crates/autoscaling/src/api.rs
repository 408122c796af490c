//! The Application Auto Scaling API on the AWS endpoint (SigV4 scope
//! `application-autoscaling`, JSON 1.1, `X-Amz-Target: AnyScaleFrontendService.<Operation>`):
//! Register/DeregisterScalableTarget, DescribeScalableTargets, Put/Delete/DescribeScalingPolicies
//! (target tracking), DescribeScalingActivities, Put/Delete/DescribeScheduledActions.
//!
//! Owns: validating requests against AWS's rules and the ports' dimensions, and the records
//! ([`crate::model`]). Must not: change a resource's capacity (the scaler does, through its
//! port) or open sockets.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{Response, StatusCode};
use nuvem_aws::{
    AwsError, AwsRequest, Body, BodyHandling, BoxFuture, IntoAwsError, Protocol, Service,
};
use nuvem_store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::model::{self, Activity, Policy, ScheduledAction, Suspended, Target, TargetId};
use crate::port::{NAMESPACES, NOT_YET, Scalable};

const TARGET_PREFIX: &str = "AnyScaleFrontendService.";
const NAMESPACE: &str = "com.amazonaws.applicationautoscaling";
/// DescribeX's largest page (and its default).
const MAX_RESULTS: usize = 50;

/// Where ARNs say the resources live, and the scaler's metrics window.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoScalingConfig {
    pub region: String,
    pub account_id: String,
    /// The length of one metrics window (CloudWatch's one-minute period by default).
    pub window: Duration,
}

impl Default for AutoScalingConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            window: Duration::from_secs(60),
        }
    }
}

/// Why a call failed, as Application Auto Scaling says it
/// (<https://docs.aws.amazon.com/autoscaling/application/APIReference/CommonErrors.html>).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    ObjectNotFound(String),
    #[error("{0}")]
    Serialization(String),
    #[error("The operation {0} is not supported by nuvem's Application Auto Scaling.")]
    UnknownOperation(String),
    #[error("storage: {0}")]
    Store(#[from] nuvem_store::Error),
}

impl IntoAwsError for ApiError {
    fn into_aws_error(self) -> AwsError {
        let bad = StatusCode::BAD_REQUEST;
        match self {
            ApiError::Validation(m) => AwsError::new(bad, "ValidationException", m),
            ApiError::ObjectNotFound(m) => AwsError::new(bad, "ObjectNotFoundException", m),
            ApiError::Serialization(m) => AwsError::new(bad, "SerializationException", m),
            e @ ApiError::UnknownOperation(_) => {
                AwsError::new(bad, "UnknownOperationException", e.to_string())
            }
            ApiError::Store(_) => {
                let mut e = AwsError::internal();
                e.code = "InternalServiceException";
                e
            }
        }
    }
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::Validation(msg.into())
}

/// The `application-autoscaling` service. Cheap to clone: clones share everything.
#[derive(Clone)]
pub struct AutoScaling {
    store: Store,
    config: Arc<AutoScalingConfig>,
    ports: Arc<RwLock<HashMap<&'static str, Arc<dyn Scalable>>>>,
    pub(crate) state: Arc<crate::scaler::State>,
}

impl std::fmt::Debug for AutoScaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoScaling")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetInput {
    service_namespace: Option<String>,
    resource_id: Option<String>,
    scalable_dimension: Option<String>,
}

impl TargetInput {
    /// The target a request names, every member required.
    fn id(&self) -> Result<TargetId, ApiError> {
        let need = |v: &Option<String>, field: &str| {
            v.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
                invalid(format!(
                    "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
                ))
            })
        };
        Ok(TargetId {
            namespace: need(&self.service_namespace, "serviceNamespace")?,
            resource_id: need(&self.resource_id, "resourceId")?,
            dimension: need(&self.scalable_dimension, "scalableDimension")?,
        })
    }
}

fn not_registered(t: &TargetId) -> ApiError {
    ApiError::ObjectNotFound(format!(
        "No scalable target registered for service namespace: {}, resource ID: {}, scalable dimension: {}",
        t.namespace, t.resource_id, t.dimension
    ))
}

fn parse<T: serde::de::DeserializeOwned>(input: &Value) -> Result<T, ApiError> {
    serde_json::from_value(input.clone()).map_err(|e| ApiError::Serialization(e.to_string()))
}

/// The output of a Describe call: a page of `items` under `member`, from `NextToken` (an
/// offset this API handed out), with the next page's token when there is one.
fn page(
    member: &str,
    items: Vec<Value>,
    max: Option<usize>,
    token: Option<&str>,
) -> Result<Value, ApiError> {
    let max = match max {
        None => MAX_RESULTS,
        Some(n) if (1..=MAX_RESULTS).contains(&n) => n,
        Some(n) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {MAX_RESULTS}"
            )));
        }
    };
    let from = match token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| invalid("Invalid NextToken"))?,
    };
    let total = items.len();
    let items: Vec<Value> = items.into_iter().skip(from).take(max).collect();
    let end = from + items.len();
    let mut out = json!({ member: items });
    if end < total {
        out["NextToken"] = json!(end.to_string());
    }
    Ok(out)
}

impl AutoScaling {
    /// Opens the API on `store`, checking that its records are readable.
    pub fn open(store: Store, config: AutoScalingConfig) -> Result<Self, ApiError> {
        let targets: Vec<(Vec<u8>, Target)> = {
            let snap = store.snapshot();
            model::list(&*snap, b"autoscaling/t/")?
        };
        tracing::debug!(targets = targets.len(), "autoscaling: targets loaded");
        Ok(Self {
            store,
            config: Arc::new(config),
            ports: Arc::default(),
            state: Arc::default(),
        })
    }

    /// Plugs in the service that answers for `port.namespace()`.
    pub fn register_scalable(&self, port: Arc<dyn Scalable>) {
        self.ports
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(port.namespace(), port);
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn config(&self) -> &AutoScalingConfig {
        &self.config
    }

    pub(crate) fn port_of(&self, namespace: &str) -> Option<Arc<dyn Scalable>> {
        self.ports
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(namespace)
            .cloned()
    }

    /// The port for a target's namespace and dimension, or AWS's refusal (an unknown
    /// namespace or dimension; one nuvem does not scale yet, said as such).
    fn port(&self, t: &TargetId) -> Result<Arc<dyn Scalable>, ApiError> {
        if !NAMESPACES.contains(&t.namespace.as_str()) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'serviceNamespace' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                t.namespace,
                NAMESPACES.join(", ")
            )));
        }
        if let Some((_, dim, why)) = NOT_YET
            .iter()
            .find(|(ns, dim, _)| *ns == t.namespace && *dim == t.dimension)
        {
            return Err(invalid(format!(
                "The scalable dimension {dim} is not supported yet: {why}."
            )));
        }
        let Some(port) = self.port_of(&t.namespace) else {
            let mut have: Vec<&str> = self
                .ports
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .copied()
                .collect();
            have.sort();
            return Err(invalid(format!(
                "Service namespace {} is not supported by nuvem's Application Auto Scaling (it scales: {})",
                t.namespace,
                have.join(", ")
            )));
        };
        if !port.dimensions().iter().any(|(d, _)| *d == t.dimension) {
            let dims: Vec<&str> = port.dimensions().iter().map(|(d, _)| *d).collect();
            return Err(invalid(format!(
                "Unsupported scalable dimension {} for service namespace {}; supported: {}",
                t.dimension,
                t.namespace,
                dims.join(", ")
            )));
        }
        Ok(port)
    }

    /// Runs one operation on its JSON input, as the HTTP API does.
    pub fn execute(&self, operation: &str, input: &Value) -> Result<Value, ApiError> {
        match operation {
            "RegisterScalableTarget" => self.register_target(input),
            "DeregisterScalableTarget" => self.deregister_target(input),
            "DescribeScalableTargets" => self.describe_targets(input),
            "PutScalingPolicy" => self.put_policy(input),
            "DeleteScalingPolicy" => self.delete_policy(input),
            "DescribeScalingPolicies" => self.describe_policies(input),
            "DescribeScalingActivities" => self.describe_activities(input),
            "PutScheduledAction" => self.put_scheduled(input),
            "DeleteScheduledAction" => self.delete_scheduled(input),
            "DescribeScheduledActions" => self.describe_scheduled(input),
            other => Err(ApiError::UnknownOperation(other.to_owned())),
        }
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{rest}",
            self.config.region, self.config.account_id
        )
    }

    /// https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html
    fn register_target(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            #[serde(flatten)]
            target: TargetInput,
            min_capacity: Option<i64>,
            max_capacity: Option<i64>,
            #[serde(rename = "RoleARN")]
            role_arn: Option<String>,
            suspended_state: Option<SuspendedIn>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct SuspendedIn {
            dynamic_scaling_in_suspended: Option<bool>,
            dynamic_scaling_out_suspended: Option<bool>,
            scheduled_scaling_suspended: Option<bool>,
        }
        let i: In = parse(input)?;
        let id = i.target.id()?;
        let port = self.port(&id)?;
        for (v, field) in [
            (i.min_capacity, "minCapacity"),
            (i.max_capacity, "maxCapacity"),
        ] {
            if v.is_some_and(|v| v < 0) {
                return Err(invalid(format!(
                    "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have value greater than or equal to 0"
                )));
            }
        }
        port.check(&id.resource_id, &id.dimension)
            .map_err(ApiError::Validation)?;
        let key = model::target_key(&id);
        let role = i.role_arn.unwrap_or_else(|| {
            self.arn(
                "iam",
                &format!(
                    "role/aws-service-role/{0}.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_{1}",
                    id.namespace,
                    service_role_suffix(&id.namespace)
                ),
            )
            .replace(&format!(":{}:", self.config.region), "::")
        });
        let arn_id = uuid::Uuid::new_v4().simple().to_string();
        let target = self.store.transact(|tx| {
            let old: Option<Target> = model::get(&*tx, &key)?;
            let mut t = match old {
                Some(t) => t,
                None => {
                    let (Some(min), Some(max)) = (i.min_capacity, i.max_capacity) else {
                        return Err(invalid(
                            "MinCapacity and MaxCapacity are required to register a new scalable target",
                        ));
                    };
                    Target {
                        id: id.clone(),
                        min: min as u64,
                        max: max as u64,
                        role_arn: role.clone(),
                        arn: self.arn(
                            "application-autoscaling",
                            &format!("scalable-target/{arn_id}"),
                        ),
                        created: model::now(),
                        suspended: Suspended::default(),
                        last_scale_out: None,
                        last_scale_in: None,
                    }
                }
            };
            if let Some(min) = i.min_capacity {
                t.min = min as u64;
            }
            if let Some(max) = i.max_capacity {
                t.max = max as u64;
            }
            if t.min > t.max {
                return Err(invalid(format!(
                    "Minimum capacity cannot be greater than maximum capacity: {} > {}",
                    t.min, t.max
                )));
            }
            if let Some(s) = &i.suspended_state {
                let current = t.suspended.clone();
                t.suspended = Suspended {
                    dynamic_in: s.dynamic_scaling_in_suspended.unwrap_or(current.dynamic_in),
                    dynamic_out: s.dynamic_scaling_out_suspended.unwrap_or(current.dynamic_out),
                    scheduled: s.scheduled_scaling_suspended.unwrap_or(current.scheduled),
                };
            }
            model::put(tx, &key, &t);
            Ok(t)
        })?;
        Ok(json!({"ScalableTargetARN": target.arn}))
    }

    /// Deregistering deletes the target's scaling policies and scheduled actions, as on AWS.
    fn deregister_target(&self, input: &Value) -> Result<Value, ApiError> {
        let i: TargetInput = parse(input)?;
        let id = i.id()?;
        self.port(&id)?;
        self.store.transact(|tx| {
            let key = model::target_key(&id);
            if tx.get(&key)?.is_none() {
                return Err(not_registered(&id));
            }
            tx.delete(&key);
            for kind in ['p', 's'] {
                let records: Vec<(Vec<u8>, Value)> =
                    model::list(&*tx, &model::prefix(kind, &id.namespace, Some(&id)))?;
                for (k, _) in records {
                    tx.delete(&k);
                }
            }
            Ok(())
        })?;
        self.state.forget(&id);
        Ok(json!({}))
    }

    fn describe_targets(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            service_namespace: Option<String>,
            resource_ids: Option<Vec<String>>,
            scalable_dimension: Option<String>,
            max_results: Option<usize>,
            next_token: Option<String>,
        }
        let i: In = parse(input)?;
        let ns = required_namespace(i.service_namespace.as_deref())?;
        let snap = self.store.snapshot();
        let all: Vec<(Vec<u8>, Target)> = model::list(&*snap, &model::prefix('t', ns, None))?;
        let items: Vec<Value> = all
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| {
                i.resource_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&t.id.resource_id))
                    && i.scalable_dimension
                        .as_ref()
                        .is_none_or(|d| *d == t.id.dimension)
            })
            .map(|t| target_json(&t))
            .collect();
        page(
            "ScalableTargets",
            items,
            i.max_results,
            i.next_token.as_deref(),
        )
    }

    /// https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html
    fn put_policy(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            policy_name: Option<String>,
            #[serde(flatten)]
            target: TargetInput,
            policy_type: Option<String>,
            target_tracking_scaling_policy_configuration: Option<Tracking>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Tracking {
            target_value: Option<f64>,
            predefined_metric_specification: Option<Predefined>,
            customized_metric_specification: Option<Value>,
            scale_out_cooldown: Option<i64>,
            scale_in_cooldown: Option<i64>,
            disable_scale_in: Option<bool>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Predefined {
            predefined_metric_type: Option<String>,
            resource_label: Option<String>,
        }
        let i: In = parse(input)?;
        let name = i
            .policy_name
            .clone()
            .filter(|n| !n.is_empty() && n.len() <= 256)
            .ok_or_else(|| invalid("PolicyName is required (1 to 256 characters)"))?;
        let id = i.target.id()?;
        let port = self.port(&id)?;
        // AWS's default policy type is StepScaling.
        match i.policy_type.as_deref().unwrap_or("StepScaling") {
            "TargetTrackingScaling" => {}
            "StepScaling" | "PredictiveScaling" => {
                return Err(invalid(format!(
                    "{} policies are not supported by nuvem yet; use PolicyType TargetTrackingScaling",
                    i.policy_type.as_deref().unwrap_or("StepScaling")
                )));
            }
            other => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{other}' at 'policyType' failed to satisfy constraint: Member must satisfy enum value set: [PredictiveScaling, StepScaling, TargetTrackingScaling]"
                )));
            }
        }
        let c = i
            .target_tracking_scaling_policy_configuration
            .ok_or_else(|| {
                invalid("TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy")
            })?;
        if c.customized_metric_specification.is_some() {
            return Err(invalid(
                "CustomizedMetricSpecification is not supported by nuvem yet; use PredefinedMetricSpecification",
            ));
        }
        let target_value = c
            .target_value
            .ok_or_else(|| invalid("TargetValue is required"))?;
        let (low, high) = port.target_value_range();
        if !(low..=high).contains(&target_value) {
            return Err(invalid(format!(
                "TargetValue must be between {low} and {high} for {}, got {target_value}",
                id.namespace
            )));
        }
        let spec = c
            .predefined_metric_specification
            .ok_or_else(|| invalid("PredefinedMetricSpecification is required"))?;
        let metric = spec
            .predefined_metric_type
            .ok_or_else(|| invalid("PredefinedMetricType is required"))?;
        let wanted = port
            .dimensions()
            .iter()
            .find(|(d, _)| *d == id.dimension)
            .map(|(_, m)| *m)
            .unwrap_or_default();
        if metric != wanted {
            return Err(invalid(format!(
                "Unsupported metric {metric} for scalable dimension {}; it is tracked by {wanted}",
                id.dimension
            )));
        }
        let cooldown = |v: Option<i64>, field: &str| match v {
            Some(v) if !(0..=86_400).contains(&v) => Err(invalid(format!(
                "{field} must be between 0 and 86400 seconds, got {v}"
            ))),
            v => Ok(v.map(|v| v as u64)),
        };
        let out_cd = cooldown(c.scale_out_cooldown, "ScaleOutCooldown")?;
        let in_cd = cooldown(c.scale_in_cooldown, "ScaleInCooldown")?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let policy = self.store.transact(|tx| {
            if tx.get(&model::target_key(&id))?.is_none() {
                return Err(not_registered(&id));
            }
            let key = model::policy_key(&id, &name);
            let old: Option<Policy> = model::get(&*tx, &key)?;
            let (arn, alarms, created) = match old {
                Some(p) => (p.arn, p.alarms, p.created),
                None => {
                    let resource = format!("{}/{}", id.namespace, id.resource_id);
                    let alarm = |side: &str| {
                        let n = format!("TargetTracking-{}-{side}-{uuid}", id.resource_id);
                        let arn = self.arn("cloudwatch", &format!("alarm:{n}"));
                        (n, arn)
                    };
                    (
                        self.arn(
                            "autoscaling",
                            &format!("scalingPolicy:{uuid}:resource/{resource}:policyName/{name}"),
                        ),
                        vec![alarm("AlarmHigh"), alarm("AlarmLow")],
                        model::now(),
                    )
                }
            };
            let p = Policy {
                target: id.clone(),
                name: name.clone(),
                arn,
                target_value,
                metric: metric.clone(),
                resource_label: spec.resource_label.clone(),
                scale_in_cooldown: in_cd.unwrap_or(0),
                scale_out_cooldown: out_cd.unwrap_or(0),
                disable_scale_in: c.disable_scale_in.unwrap_or(false),
                cooldowns_given: (in_cd.is_some(), out_cd.is_some()),
                created,
                alarms,
            };
            model::put(tx, &key, &p);
            Ok(p)
        })?;
        Ok(json!({"PolicyARN": policy.arn, "Alarms": alarms_json(&policy)}))
    }

    fn delete_policy(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            policy_name: Option<String>,
            #[serde(flatten)]
            target: TargetInput,
        }
        let i: In = parse(input)?;
        let id = i.target.id()?;
        let name = i
            .policy_name
            .ok_or_else(|| invalid("PolicyName is required"))?;
        self.delete_named(
            &id,
            &model::policy_key(&id, &name),
            "scaling policy",
            "policy name",
            &name,
        )
    }

    fn describe_policies(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            service_namespace: Option<String>,
            policy_names: Option<Vec<String>>,
            resource_id: Option<String>,
            scalable_dimension: Option<String>,
            max_results: Option<usize>,
            next_token: Option<String>,
        }
        let i: In = parse(input)?;
        let ns = required_namespace(i.service_namespace.as_deref())?;
        let snap = self.store.snapshot();
        let all: Vec<(Vec<u8>, Policy)> = model::list(&*snap, &model::prefix('p', ns, None))?;
        let items: Vec<Value> = all
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| {
                i.policy_names.as_ref().is_none_or(|n| n.contains(&p.name))
                    && i.resource_id
                        .as_ref()
                        .is_none_or(|r| *r == p.target.resource_id)
                    && i.scalable_dimension
                        .as_ref()
                        .is_none_or(|d| *d == p.target.dimension)
            })
            .map(|p| policy_json(&p))
            .collect();
        page(
            "ScalingPolicies",
            items,
            i.max_results,
            i.next_token.as_deref(),
        )
    }

    fn describe_activities(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            service_namespace: Option<String>,
            resource_id: Option<String>,
            scalable_dimension: Option<String>,
            max_results: Option<usize>,
            next_token: Option<String>,
        }
        let i: In = parse(input)?;
        let ns = required_namespace(i.service_namespace.as_deref())?;
        let snap = self.store.snapshot();
        let mut all: Vec<Activity> = model::list(&*snap, &model::prefix('a', ns, None))?
            .into_iter()
            .map(|(_, a): (Vec<u8>, Activity)| a)
            .filter(|a| {
                i.resource_id
                    .as_ref()
                    .is_none_or(|r| *r == a.target.resource_id)
                    && i.scalable_dimension
                        .as_ref()
                        .is_none_or(|d| *d == a.target.dimension)
            })
            .collect();
        // Newest first, across targets (of one round, the later step first).
        all.sort_by(|a, b| b.start.total_cmp(&a.start).then(b.end.total_cmp(&a.end)));
        let items: Vec<Value> = all.iter().map(activity_json).collect();
        page(
            "ScalingActivities",
            items,
            i.max_results,
            i.next_token.as_deref(),
        )
    }

    /// https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScheduledAction.html
    fn put_scheduled(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            scheduled_action_name: Option<String>,
            #[serde(flatten)]
            target: TargetInput,
            schedule: Option<String>,
            timezone: Option<String>,
            start_time: Option<f64>,
            end_time: Option<f64>,
            scalable_target_action: Option<Action>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Action {
            min_capacity: Option<i64>,
            max_capacity: Option<i64>,
        }
        let i: In = parse(input)?;
        let id = i.target.id()?;
        self.port(&id)?;
        let name = i
            .scheduled_action_name
            .clone()
            .filter(|n| !n.is_empty() && n.len() <= 256)
            .ok_or_else(|| invalid("ScheduledActionName is required (1 to 256 characters)"))?;
        if let Some(s) = &i.schedule {
            crate::schedule::Schedule::parse(s).map_err(ApiError::Validation)?;
        }
        if let Some(tz) = i.timezone.as_deref()
            && !matches!(tz, "UTC" | "Etc/UTC" | "GMT")
        {
            return Err(invalid(format!(
                "Timezone {tz} is not supported by nuvem yet; schedules are in UTC"
            )));
        }
        let (min, max) = match &i.scalable_target_action {
            Some(a) => (a.min_capacity, a.max_capacity),
            None => (None, None),
        };
        if min.is_some_and(|v| v < 0) || max.is_some_and(|v| v < 0) {
            return Err(invalid("MinCapacity and MaxCapacity must be 0 or more"));
        }
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            return Err(invalid(format!(
                "Minimum capacity cannot be greater than maximum capacity: {lo} > {hi}"
            )));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        self.store.transact(|tx| {
            if tx.get(&model::target_key(&id))?.is_none() {
                return Err(not_registered(&id));
            }
            let key = model::scheduled_key(&id, &name);
            let old: Option<ScheduledAction> = model::get(&*tx, &key)?;
            let action = match old {
                Some(mut a) => {
                    if let Some(s) = &i.schedule {
                        a.schedule = s.clone();
                        a.last_run = None;
                    }
                    a.timezone = i.timezone.clone().or(a.timezone);
                    a.start = i.start_time.or(a.start);
                    a.end = i.end_time.or(a.end);
                    if i.scalable_target_action.is_some() {
                        a.min = min.map(|v| v as u64);
                        a.max = max.map(|v| v as u64);
                    }
                    a
                }
                None => ScheduledAction {
                    target: id.clone(),
                    name: name.clone(),
                    arn: self.arn(
                        "autoscaling",
                        &format!(
                            "scheduledAction:{uuid}:resource/{}/{}:scheduledActionName/{name}",
                            id.namespace, id.resource_id
                        ),
                    ),
                    schedule: i
                        .schedule
                        .clone()
                        .ok_or_else(|| invalid("Schedule is required"))?,
                    timezone: i.timezone.clone(),
                    start: i.start_time,
                    end: i.end_time,
                    min: min.map(|v| v as u64),
                    max: max.map(|v| v as u64),
                    created: model::now(),
                    last_run: None,
                },
            };
            model::put(tx, &key, &action);
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn delete_scheduled(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            scheduled_action_name: Option<String>,
            #[serde(flatten)]
            target: TargetInput,
        }
        let i: In = parse(input)?;
        let id = i.target.id()?;
        let name = i
            .scheduled_action_name
            .ok_or_else(|| invalid("ScheduledActionName is required"))?;
        self.delete_named(
            &id,
            &model::scheduled_key(&id, &name),
            "scheduled action",
            "scheduled action name",
            &name,
        )
    }

    /// Deletes the policy or scheduled action at `key` of target `id`, or answers
    /// ObjectNotFoundException in Application Auto Scaling's words.
    fn delete_named(
        &self,
        id: &TargetId,
        key: &[u8],
        what: &str,
        name_label: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.port(id)?;
        self.store.transact(|tx| {
            if tx.get(key)?.is_none() {
                return Err(ApiError::ObjectNotFound(format!(
                    "No {what} found for service namespace: {}, resource ID: {}, scalable dimension: {}, {name_label}: {name}",
                    id.namespace, id.resource_id, id.dimension
                )));
            }
            tx.delete(key);
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn describe_scheduled(&self, input: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct In {
            service_namespace: Option<String>,
            scheduled_action_names: Option<Vec<String>>,
            resource_id: Option<String>,
            scalable_dimension: Option<String>,
            max_results: Option<usize>,
            next_token: Option<String>,
        }
        let i: In = parse(input)?;
        let ns = required_namespace(i.service_namespace.as_deref())?;
        let snap = self.store.snapshot();
        let all: Vec<(Vec<u8>, ScheduledAction)> =
            model::list(&*snap, &model::prefix('s', ns, None))?;
        let items: Vec<Value> = all
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| {
                i.scheduled_action_names
                    .as_ref()
                    .is_none_or(|n| n.contains(&a.name))
                    && i.resource_id
                        .as_ref()
                        .is_none_or(|r| *r == a.target.resource_id)
                    && i.scalable_dimension
                        .as_ref()
                        .is_none_or(|d| *d == a.target.dimension)
            })
            .map(|a| scheduled_json(&a))
            .collect();
        page(
            "ScheduledActions",
            items,
            i.max_results,
            i.next_token.as_deref(),
        )
    }

    async fn handle(&self, request: AwsRequest) -> Result<Value, ApiError> {
        use nuvem_aws::json_api::{JsonRequestError, operation_and_input};
        let (operation, input) =
            operation_and_input(request, TARGET_PREFIX)
                .await
                .map_err(|e| match e {
                    JsonRequestError::UnknownOperation(t) => ApiError::UnknownOperation(t),
                    JsonRequestError::Serialization(m) => ApiError::Serialization(m),
                })?;
        let me = self.clone();
        self.store.run(move || me.execute(&operation, &input)).await
    }
}

fn required_namespace(ns: Option<&str>) -> Result<&str, ApiError> {
    let ns = ns.ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'serviceNamespace' failed to satisfy constraint: Member must not be null")
    })?;
    if !NAMESPACES.contains(&ns) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{ns}' at 'serviceNamespace' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            NAMESPACES.join(", ")
        )));
    }
    Ok(ns)
}

/// The suffix of the service-linked role AWS makes for a namespace.
fn service_role_suffix(ns: &str) -> &'static str {
    match ns {
        "dynamodb" => "DynamoDBTable",
        "lambda" => "LambdaConcurrency",
        _ => "Resource",
    }
}

fn target_json(t: &Target) -> Value {
    json!({
        "ServiceNamespace": t.id.namespace,
        "ResourceId": t.id.resource_id,
        "ScalableDimension": t.id.dimension,
        "MinCapacity": t.min,
        "MaxCapacity": t.max,
        "RoleARN": t.role_arn,
        "CreationTime": t.created,
        "SuspendedState": {
            "DynamicScalingInSuspended": t.suspended.dynamic_in,
            "DynamicScalingOutSuspended": t.suspended.dynamic_out,
            "ScheduledScalingSuspended": t.suspended.scheduled,
        },
        "ScalableTargetARN": t.arn,
    })
}

fn alarms_json(p: &Policy) -> Value {
    p.alarms
        .iter()
        .map(|(name, arn)| json!({"AlarmName": name, "AlarmARN": arn}))
        .collect()
}

fn policy_json(p: &Policy) -> Value {
    let mut metric = json!({"PredefinedMetricType": p.metric});
    if let Some(label) = &p.resource_label {
        metric["ResourceLabel"] = json!(label);
    }
    let mut config = json!({
        "TargetValue": p.target_value,
        "PredefinedMetricSpecification": metric,
        "DisableScaleIn": p.disable_scale_in,
    });
    if p.cooldowns_given.0 {
        config["ScaleInCooldown"] = json!(p.scale_in_cooldown);
    }
    if p.cooldowns_given.1 {
        config["ScaleOutCooldown"] = json!(p.scale_out_cooldown);
    }
    json!({
        "PolicyARN": p.arn,
        "PolicyName": p.name,
        "ServiceNamespace": p.target.namespace,
        "ResourceId": p.target.resource_id,
        "ScalableDimension": p.target.dimension,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": config,
        "Alarms": alarms_json(p),
        "CreationTime": p.created,
    })
}

pub(crate) fn activity_json(a: &Activity) -> Value {
    json!({
        "ActivityId": a.id,
        "ServiceNamespace": a.target.namespace,
        "ResourceId": a.target.resource_id,
        "ScalableDimension": a.target.dimension,
        "Description": a.description,
        "Cause": a.cause,
        "StartTime": a.start,
        "EndTime": a.end,
        "StatusCode": a.status,
        "StatusMessage": a.message,
    })
}

fn scheduled_json(a: &ScheduledAction) -> Value {
    let mut out = json!({
        "ScheduledActionName": a.name,
        "ScheduledActionARN": a.arn,
        "ServiceNamespace": a.target.namespace,
        "Schedule": a.schedule,
        "ResourceId": a.target.resource_id,
        "ScalableDimension": a.target.dimension,
        "CreationTime": a.created,
    });
    if let Some(tz) = &a.timezone {
        out["Timezone"] = json!(tz);
    }
    if let Some(s) = a.start {
        out["StartTime"] = json!(s);
    }
    if let Some(e) = a.end {
        out["EndTime"] = json!(e);
    }
    let mut action = json!({});
    if let Some(m) = a.min {
        action["MinCapacity"] = json!(m);
    }
    if let Some(m) = a.max {
        action["MaxCapacity"] = json!(m);
    }
    out["ScalableTargetAction"] = action;
    out
}

impl Service for AutoScaling {
    fn name(&self) -> &'static str {
        "application-autoscaling"
    }

    fn protocol(&self) -> Protocol {
        Protocol::AwsJson1_1 {
            namespace: NAMESPACE,
        }
    }

    fn body_handling(&self) -> BodyHandling {
        BodyHandling::Buffered { limit: 1024 * 1024 }
    }

    fn stats(&self) -> Option<Value> {
        Some(self.state.stats(self.config.window))
    }

    fn call(&self, request: AwsRequest) -> BoxFuture<'_, Response<Body>> {
        Box::pin(async move {
            let request_id = request.request_id.clone();
            match self.handle(request).await {
                Ok(output) => nuvem_aws::json_api::ok_response(&output, &request_id),
                Err(e) => {
                    if let ApiError::Store(cause) = &e {
                        tracing::error!(request_id = request_id.as_str(), %cause, "autoscaling: storage failed");
                    }
                    e.into_aws_error().to_response(self.protocol(), &request_id)
                }
            }
        })
    }
}
