//! GetSampledRequests over the sample ring of a live WebACL
//! (<https://docs.aws.amazon.com/waf/latest/APIReference/API_GetSampledRequests.html>), and
//! ListAvailableManagedRuleGroups over nuvem's built-in groups. A WebACL no resource uses
//! has no samples. Samples do not survive a restart or an update of the WebACL.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::records::{self, Kind, Scope};
use super::{ApiError, WafApi, invalid, required};
use crate::Sample;

/// Seconds since the epoch, as JSON 1.1 timestamps are sent.
fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// AWS's `SampledHTTPRequest` for one sample. The sample's rule is `Rule` or
/// `Rule/RuleWithinGroup` for a managed group's rule.
fn sampled_http_request(s: &Sample) -> Value {
    let headers: Vec<Value> = s
        .headers
        .iter()
        .map(|(n, v)| json!({"Name": n, "Value": v}))
        .collect();
    let mut out = json!({
        "Request": {
            "ClientIP": s.client_ip.to_string(),
            "URI": s.path,
            "Method": s.method,
            "Headers": headers,
        },
        "Weight": 1,
        "Timestamp": epoch(s.at),
        "Action": s.action,
        "Labels": s.labels.iter().map(|l| json!({"Name": l})).collect::<Vec<_>>(),
    });
    if let Some((_, within)) = s.rule.split_once('/') {
        out["RuleNameWithinRuleGroup"] = json!(within);
    }
    out
}

/// A `TimeWindow` member: epoch seconds (what the SDKs send).
fn time(input: &Value, member: &str) -> Result<f64, ApiError> {
    input["TimeWindow"][member].as_f64().ok_or_else(|| {
        invalid(
            "TIME_WINDOW",
            &format!("TimeWindow.{member}"),
            format!("TimeWindow.{member} is required (seconds since the epoch)."),
        )
    })
}

impl WafApi {
    pub(super) fn sampled_requests(&self, input: &Value) -> Result<Value, ApiError> {
        let scope = Scope::of(input)?;
        let arn = required(input, "WebAclArn", "RESOURCE_ARN")?;
        let metric = required(input, "RuleMetricName", "METRIC_NAME")?;
        let max = match input["MaxItems"].as_u64() {
            Some(n @ 1..=500) => n as usize,
            _ => return Err(invalid("MAX_ITEMS", "MaxItems", "MaxItems is 1-500.")),
        };
        let (start, end) = (time(input, "StartTime")?, time(input, "EndTime")?);
        let missing = || ApiError::Nonexistent(format!("WebACL {arn}"));
        let Some((s, Kind::WebAcl, _, id)) = records::parse_arn(arn) else {
            return Err(missing());
        };
        if s != scope {
            return Err(missing());
        }
        let rec =
            records::get(&*self.store.snapshot(), scope, Kind::WebAcl, id)?.ok_or_else(missing)?;
        // The WebACL's own metric name (or name) asks for every sample; a rule's metric
        // name (or name) for that rule's.
        let web_acl = &rec.resource;
        let rule =
            if web_acl["VisibilityConfig"]["MetricName"] == metric || web_acl["Name"] == metric {
                None
            } else {
                let named = web_acl["Rules"].as_array().and_then(|rules| {
                    rules
                        .iter()
                        .find(|r| r["VisibilityConfig"]["MetricName"] == metric)
                        .and_then(|r| r["Name"].as_str())
                });
                Some(named.unwrap_or(metric).to_string())
            };
        let samples = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(arn)
            .map(|live| live.acl.current().sampled_requests())
            .unwrap_or_default();
        let matching: Vec<&Sample> = samples
            .iter()
            .filter(|s| (start..=end).contains(&epoch(s.at)))
            .filter(|s| {
                rule.as_deref()
                    .is_none_or(|r| s.rule.split('/').next() == Some(r))
            })
            .collect();
        // The ring is oldest first: the most recent `max` are the sample.
        let skip = matching.len().saturating_sub(max);
        Ok(json!({
            "SampledRequests": matching[skip..].iter().map(|s| sampled_http_request(s)).collect::<Vec<_>>(),
            "PopulationSize": matching.len(),
            "TimeWindow": {
                "StartTime": input["TimeWindow"]["StartTime"],
                "EndTime": input["TimeWindow"]["EndTime"],
            },
        }))
    }
}

/// ListAvailableManagedRuleGroups: nuvem's built-in groups, under AWS's names.
pub(super) fn managed_rule_groups(input: &Value) -> Result<Value, ApiError> {
    Scope::of(input)?;
    let groups: Vec<Value> = crate::MANAGED_RULE_GROUPS
        .iter()
        .map(|name| {
            json!({
                "VendorName": "AWS",
                "Name": name,
                "VersioningSupported": false,
                "Description": format!("nuvem's built-in counterpart of AWS's {name}."),
            })
        })
        .collect();
    Ok(json!({"ManagedRuleGroups": groups}))
}
