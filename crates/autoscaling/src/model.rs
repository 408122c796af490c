//! The stored records: scalable targets, scaling policies, scheduled actions and scaling
//! activities, as JSON under `autoscaling/` in the store.
//!
//! Layout (`<t>` is `<namespace>\0<resource id>\0<dimension>`):
//! `autoscaling/t/<t>` a target; `autoscaling/p/<t>\0<policy name>` a policy;
//! `autoscaling/s/<t>\0<action name>` a scheduled action; `autoscaling/a/<t>\0<!start µs>`
//! an activity, newest first per target ([`MAX_ACTIVITIES`] kept per target).

use nuvem_store::{Direction, KeyRange, Read, Tx};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Activities kept per target (AWS keeps six weeks; nuvem keeps the latest this many).
pub const MAX_ACTIVITIES: usize = 200;

/// One scalable dimension of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TargetId {
    pub namespace: String,
    pub resource_id: String,
    pub dimension: String,
}

impl TargetId {
    fn key_part(&self) -> String {
        format!(
            "{}\0{}\0{}",
            self.namespace, self.resource_id, self.dimension
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Suspended {
    pub dynamic_in: bool,
    pub dynamic_out: bool,
    pub scheduled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: TargetId,
    pub min: u64,
    pub max: u64,
    pub role_arn: String,
    pub arn: String,
    pub created: f64,
    #[serde(default)]
    pub suspended: Suspended,
    /// When the scaler last raised or lowered the capacity (cooldowns).
    #[serde(default)]
    pub last_scale_out: Option<f64>,
    #[serde(default)]
    pub last_scale_in: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub target: TargetId,
    pub name: String,
    pub arn: String,
    pub target_value: f64,
    pub metric: String,
    #[serde(default)]
    pub resource_label: Option<String>,
    pub scale_in_cooldown: u64,
    pub scale_out_cooldown: u64,
    pub disable_scale_in: bool,
    /// Whether the request gave each cooldown (they are echoed only then).
    #[serde(default)]
    pub cooldowns_given: (bool, bool),
    pub created: f64,
    pub alarms: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledAction {
    pub target: TargetId,
    pub name: String,
    pub arn: String,
    pub schedule: String,
    #[serde(default)]
    pub timezone: Option<String>,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub created: f64,
    #[serde(default)]
    pub last_run: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub target: TargetId,
    pub id: String,
    pub description: String,
    pub cause: String,
    pub start: f64,
    pub end: f64,
    /// `Successful`, `Failed`...
    pub status: String,
    pub message: String,
}

pub fn target_key(t: &TargetId) -> Vec<u8> {
    format!("autoscaling/t/{}", t.key_part()).into_bytes()
}

pub fn policy_key(t: &TargetId, name: &str) -> Vec<u8> {
    format!("autoscaling/p/{}\0{name}", t.key_part()).into_bytes()
}

pub fn scheduled_key(t: &TargetId, name: &str) -> Vec<u8> {
    format!("autoscaling/s/{}\0{name}", t.key_part()).into_bytes()
}

fn activity_prefix(t: &TargetId) -> Vec<u8> {
    format!("autoscaling/a/{}\0", t.key_part()).into_bytes()
}

/// The key prefix of one kind (`t`, `p`, `s`, `a`) of record, of one namespace and, when
/// given, one resource and dimension.
pub fn prefix(kind: char, namespace: &str, target: Option<&TargetId>) -> Vec<u8> {
    match target {
        Some(t) => format!("autoscaling/{kind}/{}\0", t.key_part()).into_bytes(),
        None => format!("autoscaling/{kind}/{namespace}\0").into_bytes(),
    }
}

/// Every record under `prefix`, in key order.
pub fn list<T: DeserializeOwned>(
    r: &(impl Read + ?Sized),
    prefix: &[u8],
) -> nuvem_store::Result<Vec<(Vec<u8>, T)>> {
    let mut out = Vec::new();
    for entry in r.scan(KeyRange::prefix(prefix), Direction::Forward) {
        let (key, value) = entry?;
        let record = serde_json::from_slice(&value)
            .map_err(|e| nuvem_store::Error::Io(format!("autoscaling record: {e}")))?;
        out.push((key, record));
    }
    Ok(out)
}

pub fn get<T: DeserializeOwned>(
    r: &(impl Read + ?Sized),
    key: &[u8],
) -> nuvem_store::Result<Option<T>> {
    match r.get(key)? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| nuvem_store::Error::Io(format!("autoscaling record: {e}"))),
    }
}

pub fn put<T: Serialize>(tx: &mut dyn Tx, key: &[u8], record: &T) {
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    tx.put(key, &bytes);
}

/// Records `activity`, trimming the target's oldest past [`MAX_ACTIVITIES`].
pub fn record_activity(tx: &mut dyn Tx, activity: &Activity) -> nuvem_store::Result<()> {
    let mut key = activity_prefix(&activity.target);
    let micros = (activity.start * 1e6) as u64;
    key.extend_from_slice(&(!micros).to_be_bytes());
    // Two activities of one target in one microsecond stay distinct.
    key.extend_from_slice(activity.id.as_bytes());
    put(tx, &key, activity);
    let prefix = activity_prefix(&activity.target);
    let old: Vec<Vec<u8>> = tx
        .scan(KeyRange::prefix(&prefix), Direction::Forward)
        .skip(MAX_ACTIVITIES)
        .map(|e| e.map(|(k, _)| k))
        .collect::<nuvem_store::Result<_>>()?;
    for k in old {
        tx.delete(&k);
    }
    Ok(())
}

/// Seconds since the epoch, with milliseconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}
