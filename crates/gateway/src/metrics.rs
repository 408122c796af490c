//! Per-route request metrics (count, 4xx, 5xx, latency p50/p99 over the most recent
//! requests), kept in memory and read as JSON.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Value, json};

/// How many recent latencies each route keeps for its percentiles.
const WINDOW: usize = 1024;

#[derive(Debug, Default)]
struct RouteStats {
    count: u64,
    client_errors: u64,
    server_errors: u64,
    latencies_us: VecDeque<u64>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
}

impl Metrics {
    pub fn record(&self, api_id: &str, route_key: &str, status: u16, latency_us: u64) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let s = routes
            .entry((api_id.to_string(), route_key.to_string()))
            .or_default();
        s.count += 1;
        match status {
            400..=499 => s.client_errors += 1,
            500..=599 => s.server_errors += 1,
            _ => {}
        }
        if s.latencies_us.len() == WINDOW {
            s.latencies_us.pop_front();
        }
        s.latencies_us.push_back(latency_us);
    }

    /// `{"<apiId>": {"<routeKey>": {"count", "4xx", "5xx", "p50_us", "p99_us"}}}`.
    pub fn snapshot(&self) -> Value {
        let Ok(routes) = self.routes.lock() else {
            return json!({});
        };
        let mut out = serde_json::Map::new();
        for ((api, route), s) in routes.iter() {
            let mut sorted: Vec<u64> = s.latencies_us.iter().copied().collect();
            sorted.sort_unstable();
            let pct = |p: usize| {
                sorted
                    .get((sorted.len().saturating_sub(1)) * p / 100)
                    .copied()
                    .unwrap_or(0)
            };
            let entry = out.entry(api.clone()).or_insert_with(|| json!({}));
            if let Some(o) = entry.as_object_mut() {
                o.insert(
                    route.clone(),
                    json!({"count": s.count, "4xx": s.client_errors, "5xx": s.server_errors,
                           "p50_us": pct(50), "p99_us": pct(99)}),
                );
            }
        }
        Value::Object(out)
    }
}
