//! The scaler: once per metrics window, on the node that holds the `autoscaling-scaler`
//! lease, it runs the scheduled actions that are due, keeps every target's capacity within
//! its minimum and maximum, and applies target tracking as DynamoDB auto scaling does
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/AutoScaling.html>):
//! scale out when utilization was above the target for [`OUT_WINDOWS`] consecutive windows,
//! to the capacity that brings it back to the target; scale in only when it was more than
//! 20 % below the target for [`IN_WINDOWS`] consecutive windows, and never within a policy's
//! cooldown. Every change is recorded as a scaling activity with its cause.
//!
//! Utilization of a window = (consumed over the window ÷ its seconds) ÷ capacity, from the
//! port's counter ([`crate::Scalable::consumed`]). Observations live in this node's memory: a
//! node that takes the lease over starts observing afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{ApiError, AutoScaling, activity_json};
use crate::model::{self, Activity, Policy, ScheduledAction, Target, TargetId};
use crate::port::Scalable;
use crate::schedule::Schedule;

/// Windows above the target before scaling out (DynamoDB: 2 consecutive minutes).
pub const OUT_WINDOWS: usize = 2;
/// Windows well below the target before scaling in (DynamoDB: 15 consecutive minutes).
pub const IN_WINDOWS: usize = 15;
/// "Well below": utilization under this share of the target (DynamoDB: 20 % below).
pub const IN_MARGIN: f64 = 0.8;
/// Activities this node keeps in memory for `/_nuvem/health`.
const RECENT: usize = 20;
/// The scaler's lease.
pub const LEASE: &str = "autoscaling-scaler";

/// What one target tracking policy says about a target.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Hold,
    /// Scale out to this capacity, for this reason.
    Out(u64, String),
    /// Scale in to this capacity, for this reason.
    In(u64, String),
}

/// A target tracking policy's settings, for [`decide`].
#[derive(Debug, Clone)]
pub struct Tracking {
    pub name: String,
    pub target_value: f64,
    pub scale_out_cooldown: f64,
    pub scale_in_cooldown: f64,
    pub disable_scale_in: bool,
}

impl From<&Policy> for Tracking {
    fn from(p: &Policy) -> Self {
        Self {
            name: p.name.clone(),
            target_value: p.target_value,
            scale_out_cooldown: p.scale_out_cooldown as f64,
            scale_in_cooldown: p.scale_in_cooldown as f64,
            disable_scale_in: p.disable_scale_in,
        }
    }
}

fn utilization(rate: f64, capacity: u64) -> f64 {
    if capacity == 0 {
        if rate > 0.0 { f64::INFINITY } else { 0.0 }
    } else {
        rate * 100.0 / capacity as f64
    }
}

/// The capacity at which `rate` is `target` percent.
fn capacity_for(rate: f64, target: f64) -> u64 {
    (rate * 100.0 / target - 1e-9).ceil().max(0.0) as u64
}

/// What `policy` says given the consumption rates of the last windows (oldest first, since
/// the last change of capacity), the current capacity and the target's bounds, at `now`.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    rates: &[f64],
    capacity: u64,
    min: u64,
    max: u64,
    policy: &Tracking,
    now: f64,
    last_out: Option<f64>,
    last_in: Option<f64>,
) -> Decision {
    let target = policy.target_value;
    if rates.len() >= OUT_WINDOWS {
        let recent = &rates[rates.len() - OUT_WINDOWS..];
        if recent.iter().all(|r| utilization(*r, capacity) > target) {
            let rate = recent[OUT_WINDOWS - 1];
            let desired = capacity_for(rate, target).clamp(min, max);
            let cooled = last_out.is_none_or(|t| now - t >= policy.scale_out_cooldown);
            if desired > capacity && cooled {
                return Decision::Out(
                    desired,
                    format!(
                        "utilization {:.1}% of {capacity} above the target {target}% for {OUT_WINDOWS} consecutive windows (policy {})",
                        utilization(rate, capacity),
                        policy.name
                    ),
                );
            }
            return Decision::Hold;
        }
    }
    if rates.len() >= IN_WINDOWS && !policy.disable_scale_in {
        let recent = &rates[rates.len() - IN_WINDOWS..];
        if recent
            .iter()
            .all(|r| utilization(*r, capacity) < target * IN_MARGIN)
        {
            let peak = recent.iter().copied().fold(0.0, f64::max);
            let desired = capacity_for(peak, target).clamp(min, max);
            let cooled = last_in.is_none_or(|t| now - t >= policy.scale_in_cooldown);
            if desired < capacity && cooled {
                return Decision::In(
                    desired,
                    format!(
                        "utilization at most {:.1}% of {capacity}, more than 20% below the target {target}% for {IN_WINDOWS} consecutive windows (policy {})",
                        utilization(peak, capacity),
                        policy.name
                    ),
                );
            }
        }
    }
    Decision::Hold
}

/// Several policies on one target: out if any says out (to the largest capacity), in only
/// if all say in (to the largest of theirs), as Application Auto Scaling combines them.
pub fn combine(decisions: Vec<Decision>) -> Decision {
    let mut out: Option<(u64, String)> = None;
    let mut ins: Vec<(u64, String)> = Vec::new();
    let n = decisions.len();
    for d in decisions {
        match d {
            Decision::Out(c, why) if out.as_ref().is_none_or(|(o, _)| c > *o) => {
                out = Some((c, why))
            }
            Decision::In(c, why) => ins.push((c, why)),
            _ => {}
        }
    }
    if let Some((c, why)) = out {
        return Decision::Out(c, why);
    }
    if n > 0 && ins.len() == n {
        let (c, why) = ins
            .into_iter()
            .max_by_key(|(c, _)| *c)
            .unwrap_or((0, String::new()));
        return Decision::In(c, why);
    }
    Decision::Hold
}

#[derive(Debug, Default)]
struct Observed {
    last: Option<(f64, f64)>,
    rates: VecDeque<f64>,
    capacity: Option<u64>,
}

/// This node's observations and recent activities.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    targets: HashMap<TargetId, Observed>,
    recent: VecDeque<Activity>,
}

impl State {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn forget(&self, t: &TargetId) {
        self.lock().targets.remove(t);
    }

    /// Records a sample of the counter; returns the rates since the last change.
    fn observe(&self, t: &TargetId, now: f64, consumed: f64, capacity: u64) -> Vec<f64> {
        let mut inner = self.lock();
        let o = inner.targets.entry(t.clone()).or_default();
        if let Some((t0, c0)) = o.last
            && now > t0
            && consumed >= c0
        {
            o.rates.push_back((consumed - c0) / (now - t0));
            while o.rates.len() > IN_WINDOWS {
                o.rates.pop_front();
            }
        }
        if o.capacity != Some(capacity) {
            // A new capacity (ours or someone's UpdateTable): utilization starts afresh.
            o.rates.clear();
        }
        o.capacity = Some(capacity);
        o.last = Some((now, consumed));
        o.rates.iter().copied().collect()
    }

    fn changed(&self, t: &TargetId, capacity: u64) {
        let mut inner = self.lock();
        let o = inner.targets.entry(t.clone()).or_default();
        o.rates.clear();
        o.capacity = Some(capacity);
    }

    fn remember(&self, a: &Activity) {
        let mut inner = self.lock();
        inner.recent.push_front(a.clone());
        inner.recent.truncate(RECENT);
    }

    /// For `/_nuvem/health`: each observed target's capacity and last utilization, and the
    /// activities this node ran, newest first.
    pub fn stats(&self, window: Duration) -> Value {
        let inner = self.lock();
        let mut targets: Vec<Value> = inner
            .targets
            .iter()
            .map(|(t, o)| {
                let util = match (o.rates.back(), o.capacity) {
                    (Some(r), Some(c)) => json!((utilization(*r, c) * 10.0).round() / 10.0),
                    _ => Value::Null,
                };
                json!({
                    "service_namespace": t.namespace,
                    "resource_id": t.resource_id,
                    "scalable_dimension": t.dimension,
                    "capacity": o.capacity,
                    "utilization_percent": util,
                    "windows_observed": o.rates.len(),
                })
            })
            .collect();
        targets
            .sort_by_key(|v| v["resource_id"].to_string() + &v["scalable_dimension"].to_string());
        json!({
            "window_seconds": window.as_secs_f64(),
            "targets": targets,
            "recent_activities": inner.recent.iter().map(activity_json).collect::<Vec<_>>(),
        })
    }
}

/// "dynamodb:table:WriteCapacityUnits" → "write capacity units".
fn noun(dimension: &str) -> String {
    let last = dimension.rsplit(':').next().unwrap_or(dimension);
    let mut out = String::new();
    for (i, c) in last.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

impl AutoScaling {
    /// One round of the scaler at `now` (seconds since the epoch). Blocking.
    pub fn tick(&self, now: f64) -> Result<(), ApiError> {
        let targets: Vec<(Vec<u8>, Target)> = {
            let snap = self.store().snapshot();
            model::list(&*snap, b"autoscaling/t/")?
        };
        for (_, target) in targets {
            let Some(port) = self.port_of(&target.id.namespace) else {
                continue;
            };
            if let Err(e) = self.tick_target(&*port, target, now) {
                tracing::warn!(error = %e, "autoscaling: a scaling round failed");
            }
        }
        Ok(())
    }

    fn tick_target(&self, port: &dyn Scalable, target: Target, now: f64) -> Result<(), ApiError> {
        let id = target.id.clone();
        let target = self.run_scheduled(target, now)?;
        let capacity = match port.capacity(&id.resource_id, &id.dimension) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::debug!(resource = %id.resource_id, error = %e, "autoscaling: capacity not read");
                return Ok(());
            }
        };
        let rates = self.state.observe(
            &id,
            now,
            port.consumed(&id.resource_id, &id.dimension),
            capacity,
        );
        // Within the bounds first (a new target, or bounds a scheduled action moved).
        if capacity < target.min || capacity > target.max {
            let (to, bound, side) = if capacity < target.min {
                (target.min, "minimum", "below")
            } else {
                (target.max, "maximum", "above")
            };
            let cause = format!(
                "current capacity {capacity} is {side} the {bound} capacity {to} of the scalable target"
            );
            self.scale(port, &target, capacity, to, cause, now, None)?;
            return Ok(());
        }
        let policies: Vec<(Vec<u8>, Policy)> = {
            let snap = self.store().snapshot();
            model::list(&*snap, &model::prefix('p', &id.namespace, Some(&id)))?
        };
        if policies.is_empty() {
            return Ok(());
        }
        let decisions = policies
            .iter()
            .map(|(_, p)| {
                let mut tracking = Tracking::from(p);
                if !port.target_in_percent() {
                    // A ratio metric (0.7): the scaler works in percent.
                    tracking.target_value *= 100.0;
                }
                decide(
                    &rates,
                    capacity,
                    target.min,
                    target.max,
                    &tracking,
                    now,
                    target.last_scale_out,
                    target.last_scale_in,
                )
            })
            .collect();
        match combine(decisions) {
            Decision::Out(to, why) if !target.suspended.dynamic_out => {
                let cause = format!("monitor alarm AlarmHigh in state ALARM: {why}");
                self.scale(port, &target, capacity, to, cause, now, Some(true))?;
            }
            Decision::In(to, why) if !target.suspended.dynamic_in => {
                let cause = format!("monitor alarm AlarmLow in state ALARM: {why}");
                self.scale(port, &target, capacity, to, cause, now, Some(false))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets the capacity through the port and records the activity (and, for a policy's
    /// change, `out`, the time for its cooldown).
    #[allow(clippy::too_many_arguments)]
    fn scale(
        &self,
        port: &dyn Scalable,
        target: &Target,
        from: u64,
        to: u64,
        cause: String,
        now: f64,
        out: Option<bool>,
    ) -> Result<(), ApiError> {
        let id = &target.id;
        let what = noun(&id.dimension);
        let result = port.set_capacity(&id.resource_id, &id.dimension, to);
        let (status, message) = match &result {
            Ok(()) => (
                "Successful",
                format!(
                    "Successfully set {what} to {to}. Change successfully fulfilled by {}.",
                    id.namespace
                ),
            ),
            Err(e) => ("Failed", format!("Failed to set {what} to {to}: {e}")),
        };
        let activity = Activity {
            target: id.clone(),
            id: uuid::Uuid::new_v4().to_string(),
            description: format!("Setting {what} to {to}."),
            cause,
            start: now,
            end: model::now().max(now),
            status: status.into(),
            message,
        };
        tracing::info!(
            resource = %id.resource_id,
            dimension = %id.dimension,
            from,
            to,
            status,
            cause = %activity.cause,
            "autoscaling: scaling activity"
        );
        self.store().transact(|tx| {
            model::record_activity(tx, &activity)?;
            if result.is_ok()
                && let Some(out) = out
            {
                let key = model::target_key(id);
                if let Some(mut t) = model::get::<Target>(&*tx, &key)? {
                    if out {
                        t.last_scale_out = Some(now);
                    } else {
                        t.last_scale_in = Some(now);
                    }
                    model::put(tx, &key, &t);
                }
            }
            Ok::<_, ApiError>(())
        })?;
        self.state.remember(&activity);
        if result.is_ok() {
            self.state.changed(id, to);
        }
        Ok(())
    }

    /// Runs the target's scheduled actions that are due: each sets the target's minimum
    /// and/or maximum (the bounds check that follows moves the capacity into them).
    fn run_scheduled(&self, target: Target, now: f64) -> Result<Target, ApiError> {
        if target.suspended.scheduled {
            return Ok(target);
        }
        let id = target.id.clone();
        let actions: Vec<(Vec<u8>, ScheduledAction)> = {
            let snap = self.store().snapshot();
            model::list(&*snap, &model::prefix('s', &id.namespace, Some(&id)))?
        };
        let mut target = target;
        for (key, action) in actions {
            let Ok(schedule) = Schedule::parse(&action.schedule) else {
                continue;
            };
            if action.start.is_some_and(|s| now < s) {
                continue;
            }
            let from = action.start.unwrap_or(action.created);
            let due = schedule
                .next(from, action.last_run, action.end)
                .is_some_and(|at| at <= now);
            if !due {
                continue;
            }
            let activity = Activity {
                target: id.clone(),
                id: uuid::Uuid::new_v4().to_string(),
                description: format!(
                    "Setting min capacity to {} and max capacity to {}",
                    action.min.map_or("(unchanged)".into(), |m| m.to_string()),
                    action.max.map_or("(unchanged)".into(), |m| m.to_string()),
                ),
                cause: format!("scheduled action name {} was triggered", action.name),
                start: now,
                end: now,
                status: "Successful".into(),
                message: String::new(),
            };
            target = self.store().transact(|tx| {
                let tkey = model::target_key(&id);
                let Some(mut t) = model::get::<Target>(&*tx, &tkey)? else {
                    return Ok(target.clone());
                };
                if let Some(min) = action.min {
                    t.min = min;
                }
                if let Some(max) = action.max {
                    t.max = max;
                }
                if t.min > t.max {
                    t.max = t.min;
                }
                model::put(tx, &tkey, &t);
                let mut a = action.clone();
                a.last_run = Some(now);
                model::put(tx, &key, &a);
                model::record_activity(tx, &activity)?;
                Ok::<_, ApiError>(t)
            })?;
            self.state.remember(&activity);
        }
        Ok(target)
    }

    /// Runs [`tick`](Self::tick) every window, for as long as the runtime runs, on the one
    /// node of the cluster that holds the scaler's lease (a dead holder's lease expires after
    /// two windows). Each round runs on the blocking pool.
    pub async fn scale_forever(self) {
        use nuvem_store::cluster::{Lease, node_id};
        let every = self.config().window;
        let lease_ttl = (every * 2).max(Duration::from_secs(2));
        loop {
            tokio::time::sleep(every).await;
            let store = self.store().clone();
            let ours = self
                .store()
                .run(move || Lease::try_acquire(&store, LEASE, node_id(), lease_ttl))
                .await;
            match ours {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "autoscaling: could not take the scaler's lease; retrying later");
                    continue;
                }
            }
            let me = self.clone();
            let round = tokio::task::spawn_blocking(move || {
                nuvem_store::Store::blocking(|| me.tick(model::now()))
            })
            .await;
            match round {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "autoscaling: a scaler round failed"),
                Err(e) => tracing::error!(error = %e, "autoscaling: the scaler panicked"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(target: f64, out_cd: f64, in_cd: f64, disable_in: bool) -> Tracking {
        Tracking {
            name: "p".into(),
            target_value: target,
            scale_out_cooldown: out_cd,
            scale_in_cooldown: in_cd,
            disable_scale_in: disable_in,
        }
    }

    /// Rates (units/s per window, oldest first), capacity 10 within 1..=100, target 70 %,
    /// cooldowns 60 s, at t = 1000 with the given last scale-out and scale-in.
    #[track_caller]
    fn check(
        rates: &[f64],
        p: &Tracking,
        last: (Option<f64>, Option<f64>),
        want: Option<(bool, u64)>,
    ) {
        let got = decide(rates, 10, 1, 100, p, 1000.0, last.0, last.1);
        match (got, want) {
            (Decision::Hold, None) => {}
            (Decision::Out(c, _), Some((true, w))) | (Decision::In(c, _), Some((false, w))) => {
                assert_eq!(c, w, "{rates:?}")
            }
            (got, want) => panic!("{rates:?}: {got:?}, wanted {want:?}"),
        }
    }

    #[test]
    fn target_tracking() {
        let p = policy(70.0, 60.0, 60.0, false);
        let none = (None, None);
        // One window above the target is not enough; two are.
        check(&[10.0], &p, none, None);
        check(&[10.0, 10.0], &p, none, Some((true, 15)));
        // Scale out to the capacity at which the latest rate is the target.
        check(&[8.0, 14.0], &p, none, Some((true, 20)));
        // Exactly at the target: no change (7 of 10 is 70 %, not above).
        check(&[7.0, 7.0], &p, none, None);
        // Bounded by the maximum.
        check(&[500.0, 500.0], &p, none, Some((true, 100)));
        // Within the scale-out cooldown: hold.
        check(&[10.0, 10.0], &p, (Some(950.0), None), None);
        check(&[10.0, 10.0], &p, (Some(900.0), None), Some((true, 15)));
        // Scale in only after 15 windows more than 20 % below the target (56 % of 10).
        let low = [1.0; 15];
        check(&low[..14], &p, none, None);
        check(&low, &p, none, Some((false, 2)));
        let mut one_high = low;
        one_high[3] = 5.7;
        check(&one_high, &p, none, None);
        // To the capacity that fits the busiest of those windows, never below the minimum.
        let mut busier = low;
        busier[0] = 4.2;
        check(&busier, &p, none, Some((false, 6)));
        check(&[0.0; 15], &p, none, Some((false, 1)));
        // Scale-in cooldown, and DisableScaleIn.
        check(&low, &p, (None, Some(990.0)), None);
        check(&low, &policy(70.0, 60.0, 60.0, true), none, None);
        // A recent scale-out does not block a scale-in after its own cooldown.
        check(&low, &p, (Some(999.0), None), Some((false, 2)));
    }

    #[test]
    fn policies_combine() {
        use Decision::*;
        let c = |d: Vec<Decision>| combine(d);
        assert_eq!(c(vec![]), Hold);
        assert_eq!(
            c(vec![Out(5, "a".into()), Out(8, "b".into())]),
            Out(8, "b".into())
        );
        assert_eq!(c(vec![In(3, "a".into()), Hold]), Hold);
        assert_eq!(
            c(vec![In(3, "a".into()), In(4, "b".into())]),
            In(4, "b".into())
        );
        assert_eq!(
            c(vec![In(3, "a".into()), Out(12, "b".into())]),
            Out(12, "b".into())
        );
        assert_eq!(
            noun("dynamodb:index:WriteCapacityUnits"),
            "write capacity units"
        );
    }
}
