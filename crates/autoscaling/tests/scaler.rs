//! The API and the scaler on the embedded store, with a scalable resource whose capacity and
//! consumption the test sets (the port another service implements), rounds run at chosen
//! times: each case is a sequence of steps checked against the capacity and the activities.

use std::sync::{Arc, Mutex};

use nuvem_autoscaling::{AutoScaling, AutoScalingConfig, Scalable};
use nuvem_store::{Durability, FjallEngine, Store};
use serde_json::{Value, json};

/// One resource (`table/t`, write capacity) of a `dynamodb`-like namespace.
#[derive(Default)]
struct Resource {
    capacity: Mutex<u64>,
    consumed: Mutex<f64>,
}

/// The port over a resource the test keeps a handle on.
struct Port(Arc<Resource>);

impl Scalable for Port {
    fn namespace(&self) -> &'static str {
        "dynamodb"
    }
    fn dimensions(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "dynamodb:table:WriteCapacityUnits",
            "DynamoDBWriteCapacityUtilization",
        )]
    }
    fn check(&self, resource_id: &str, _: &str) -> Result<(), String> {
        (resource_id == "table/t")
            .then_some(())
            .ok_or_else(|| format!("Table {resource_id} does not exist"))
    }
    fn capacity(&self, _: &str, _: &str) -> Result<Option<u64>, String> {
        Ok(Some(*self.0.capacity.lock().unwrap()))
    }
    fn set_capacity(&self, _: &str, _: &str, capacity: u64) -> Result<(), String> {
        *self.0.capacity.lock().unwrap() = capacity;
        Ok(())
    }
    fn consumed(&self, _: &str, _: &str) -> f64 {
        *self.0.consumed.lock().unwrap()
    }
}

const DIM: &str = "dynamodb:table:WriteCapacityUnits";

fn open() -> (tempfile::TempDir, AutoScaling, Arc<Resource>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).unwrap());
    let api = AutoScaling::open(store, AutoScalingConfig::default()).unwrap();
    let resource = Arc::new(Resource::default());
    *resource.capacity.lock().unwrap() = 10;
    api.register_scalable(Arc::new(Port(resource.clone())));
    (dir, api, resource)
}

fn target(extra: Value) -> Value {
    let mut v =
        json!({"ServiceNamespace": "dynamodb", "ResourceId": "table/t", "ScalableDimension": DIM});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

enum Step {
    /// Consume this many units per second for one 60 s window, then run a round.
    Window(f64),
    /// The capacity now.
    Capacity(u64),
    /// The causes of the activities, newest first, contain these.
    Causes(&'static [&'static str]),
}

#[track_caller]
fn check(policy: Value, steps: &[Step]) {
    let (_dir, api, resource) = open();
    api.execute(
        "RegisterScalableTarget",
        &target(json!({"MinCapacity": 5, "MaxCapacity": 100})),
    )
    .unwrap();
    api.execute(
        "PutScalingPolicy",
        &target(
            json!({"PolicyName": "p", "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": policy}),
        ),
    )
    .unwrap();
    let mut now = 1_000_000.0;
    api.tick(now).unwrap();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Window(rate) => {
                *resource.consumed.lock().unwrap() += rate * 60.0;
                now += 60.0;
                api.tick(now).unwrap();
            }
            Step::Capacity(want) => {
                assert_eq!(*resource.capacity.lock().unwrap(), *want, "step {i}")
            }
            Step::Causes(want) => {
                let out = api
                    .execute(
                        "DescribeScalingActivities",
                        &json!({"ServiceNamespace": "dynamodb"}),
                    )
                    .unwrap();
                let causes: Vec<&str> = out["ScalingActivities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["Cause"].as_str().unwrap())
                    .collect();
                assert_eq!(causes.len(), want.len(), "step {i}: {causes:#?}");
                for (got, want) in causes.iter().zip(*want) {
                    assert!(got.contains(want), "step {i}: {got:?} lacks {want:?}");
                }
            }
        }
    }
}

fn tracking(target: f64, cooldowns: (u64, u64)) -> Value {
    json!({"TargetValue": target,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"},
        "ScaleOutCooldown": cooldowns.0, "ScaleInCooldown": cooldowns.1})
}

#[test]
fn target_tracking_rounds() {
    use Step::*;
    // Out after two windows above 70 %, to where the last window is at the target.
    check(
        tracking(70.0, (0, 0)),
        &[
            Window(10.0),
            Capacity(10),
            Window(10.0),
            Capacity(15),
            Causes(&["utilization 100.0% of 10 above the target 70%"]),
            // Two windows of the new capacity before the next step.
            Window(14.0),
            Capacity(15),
            Window(14.0),
            Capacity(20),
        ],
    );
    // In only after fifteen windows well below, to the minimum at most.
    let mut steps: Vec<Step> = (0..14).map(|_| Window(1.0)).collect();
    steps.push(Capacity(10));
    steps.push(Window(1.0));
    steps.push(Capacity(5));
    steps.push(Causes(&["more than 20% below the target 70%"]));
    check(tracking(70.0, (0, 0)), &steps);
    // A scale-out cooldown of two windows holds the second step back.
    check(
        tracking(50.0, (150, 0)),
        &[
            Window(10.0),
            Window(10.0),
            Capacity(20),
            Window(20.0),
            Window(20.0),
            Capacity(20),
            Window(20.0),
            Capacity(40),
            Causes(&["above the target", "above the target"]),
        ],
    );
}

#[test]
fn bounds_scheduled_actions_and_refusals() {
    let (_dir, api, resource) = open();
    let err = |op: &str, input: Value| api.execute(op, &input).unwrap_err().to_string();
    // A namespace without a port (Lambda's, here) and other namespaces and dimensions are
    // refused; a missing resource is the port's refusal.
    let lambda = json!({"ServiceNamespace": "lambda", "ResourceId": "function:f:live",
        "ScalableDimension": "lambda:function:ProvisionedConcurrency", "MinCapacity": 1, "MaxCapacity": 2});
    assert!(err("RegisterScalableTarget", lambda).contains("not supported by nuvem"));
    let ecs = json!({"ServiceNamespace": "ecs", "ResourceId": "service/c/s",
        "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 2});
    assert!(err("RegisterScalableTarget", ecs).contains("not supported by nuvem"));
    let other = json!({"ServiceNamespace": "dynamodb", "ResourceId": "table/x",
        "ScalableDimension": DIM, "MinCapacity": 1, "MaxCapacity": 2});
    assert!(err("RegisterScalableTarget", other).contains("does not exist"));
    assert!(err("RegisterScalableTarget", target(json!({"MinCapacity": 1}))).contains("required"));
    assert!(
        err(
            "PutScalingPolicy",
            target(
                json!({"PolicyName": "p", "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": tracking(70.0, (0, 0))})
            )
        )
        .contains("No scalable target")
    );
    // Registered at 20..=30: the next round moves the capacity into the bounds.
    api.execute(
        "RegisterScalableTarget",
        &target(json!({"MinCapacity": 20, "MaxCapacity": 30})),
    )
    .unwrap();
    assert!(
        err(
            "PutScalingPolicy",
            target(json!({"PolicyName": "p", "PolicyType": "StepScaling"}))
        )
        .contains("StepScaling policies are not supported")
    );
    assert!(
        err(
            "PutScalingPolicy",
            target(
                json!({"PolicyName": "p", "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": tracking(120.0, (0, 0))})
            )
        )
        .contains("TargetValue must be between")
    );
    api.tick(1000.0).unwrap();
    assert_eq!(*resource.capacity.lock().unwrap(), 20);
    // A rate() action lowers the maximum every hour from its start.
    api.execute(
        "PutScheduledAction",
        &target(
            json!({"ScheduledActionName": "night", "Schedule": "rate(1 hour)",
            "StartTime": 2000.0, "ScalableTargetAction": {"MinCapacity": 6, "MaxCapacity": 8}}),
        ),
    )
    .unwrap();
    api.tick(3000.0).unwrap();
    assert_eq!(*resource.capacity.lock().unwrap(), 20);
    api.tick(5700.0).unwrap();
    assert_eq!(*resource.capacity.lock().unwrap(), 8);
    let t = api
        .execute(
            "DescribeScalableTargets",
            &json!({"ServiceNamespace": "dynamodb"}),
        )
        .unwrap();
    assert_eq!(t["ScalableTargets"][0]["MinCapacity"], 6);
    assert_eq!(t["ScalableTargets"][0]["MaxCapacity"], 8);
    let acts = api
        .execute(
            "DescribeScalingActivities",
            &json!({"ServiceNamespace": "dynamodb", "MaxResults": 2}),
        )
        .unwrap();
    let causes: Vec<&str> = acts["ScalingActivities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Cause"].as_str().unwrap())
        .collect();
    assert!(
        causes[0].contains("above the maximum capacity 8"),
        "{causes:?}"
    );
    assert!(
        causes[1].contains("scheduled action name night"),
        "{causes:?}"
    );
    assert_eq!(acts["NextToken"], "2");
    // Deregistering takes the policies and actions along.
    api.execute("DeregisterScalableTarget", &target(json!({})))
        .unwrap();
    let actions = api
        .execute(
            "DescribeScheduledActions",
            &json!({"ServiceNamespace": "dynamodb"}),
        )
        .unwrap();
    assert_eq!(actions["ScheduledActions"], json!([]));
    assert!(err("DeregisterScalableTarget", target(json!({}))).contains("No scalable target"));
}
