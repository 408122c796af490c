//! `GET /_nuvem/metrics`: what nuvem counts, in the Prometheus text exposition format
//! (version 0.0.4, through the `prometheus-client` crate), on the AWS endpoint (the private
//! plane) for signed callers and for scrapers holding the configured bearer token.
//!
//! Two kinds of series:
//! - **recorded per request** ([`Metrics`]): the AWS endpoint's requests by service,
//!   operation and status, its errors by AWS error code, latency histograms per operation;
//!   Lambda Invoke calls per function and outcome with their latency; every function
//!   invocation that ran, whichever way it came, with its errors, cold starts and duration,
//!   and every throttled one (heard from the functions service, see
//!   `nuvem_functions::observer`); the edge's viewer
//!   requests by location, cache behavior and cache result, bytes and time to the response
//!   head. A record
//!   builds its label values (a few short strings) and does a few atomic adds (a label set
//!   already seen is a hash lookup under a read lock); measured within the benchmark's noise.
//! - **read at scrape time** ([`Snapshot`], from [`Source`]s): functions' environments
//!   and concurrency, tables' consumed capacity and throttles, log events,
//!   listener counters, storage engine counters, WAF rule counters, edge cache sizes — the
//!   counters `/_nuvem/health` shows, as series.
//!
//! Label values are bounded: services are the endpoint's, operations are recorded only when
//! the service recognised them (not for an unknown-operation error), functions only when the
//! function exists (not for a 404; a deleted function's invocation series go with it), locations and rules are the manifest's, behaviors are
//! the distribution's path patterns (the manifest's or UpdateDistribution's).
//!
//! Must not: format the exposition by hand, or take locks a request path waits on for long.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    service: String,
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    service: String,
    operation: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    service: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvokeLabels {
    function: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StartLabels {
    function: String,
    start: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EdgeLabels {
    location: String,
    behavior: String,
    cache: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LocationLabels {
    location: String,
    behavior: String,
}

type Seconds<L> = Family<L, Histogram, fn() -> Histogram>;

/// 100 µs to ~26 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

/// The series recorded per request, and the registry they live in.
pub struct Metrics {
    registry: Registry,
    api_requests: Family<ApiLabels, Counter>,
    api_errors: Family<ErrorLabels, Counter>,
    api_seconds: Seconds<OpLabels>,
    invokes: Family<InvokeLabels, Counter>,
    invoke_seconds: Seconds<FunctionLabels>,
    runs: Family<StartLabels, Counter>,
    run_errors: Family<FunctionLabels, Counter>,
    throttles: Family<FunctionLabels, Counter>,
    run_seconds: Seconds<FunctionLabels>,
    edge_requests: Family<EdgeLabels, Counter>,
    edge_bytes: Family<EdgeLabels, Counter>,
    edge_seconds: Seconds<LocationLabels>,
    /// Operations and functions seen answered with success: only these become label values
    /// of error responses too, so a caller cannot mint series with made-up names (an IAM
    /// user's AccessDenied for `X-Amz-Target: …Random123` counts under the empty operation).
    known: std::sync::RwLock<std::collections::HashSet<String>>,
    /// False when metrics are off (`[server] metrics = false`): nothing is recorded.
    enabled: bool,
}

/// How many operations and functions [`Metrics`] remembers as known.
const KNOWN_MAX: usize = 8192;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One finished request on the AWS endpoint.
pub struct ApiRecord<'a> {
    pub service: &'a str,
    /// Empty when the operation is not known (REST routes, unknown operations).
    pub operation: &'a str,
    pub status: u16,
    /// The AWS error code of an error response, when the response carries it.
    pub error_code: Option<&'a str>,
    pub seconds: f64,
}

impl Metrics {
    /// Series that record nothing: `[server] metrics = false`.
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// Whether requests are recorded (and `/_nuvem/metrics` served).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn new() -> Self {
        let mut registry = Registry::default();
        let api_requests = Family::<ApiLabels, Counter>::default();
        registry.register(
            "nuvem_api_requests",
            "Requests answered by the AWS endpoint, by service, operation and HTTP status",
            api_requests.clone(),
        );
        let api_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "nuvem_api_errors",
            "Error responses of the AWS endpoint, by service, operation and AWS error code",
            api_errors.clone(),
        );
        let api_seconds: Seconds<OpLabels> = Family::new_with_constructor(latency);
        registry.register(
            "nuvem_api_request_duration_seconds",
            "Time from a request's arrival to its response head, by service and operation",
            api_seconds.clone(),
        );
        let invokes = Family::<InvokeLabels, Counter>::default();
        registry.register(
            "nuvem_lambda_invoke_requests",
            "Lambda Invoke API calls by function and outcome (ok, function_error, throttled, error)",
            invokes.clone(),
        );
        let invoke_seconds: Seconds<FunctionLabels> = Family::new_with_constructor(latency);
        registry.register(
            "nuvem_lambda_invoke_duration_seconds",
            "Lambda Invoke API calls' time end to end (runtime start included for cold starts), by function",
            invoke_seconds.clone(),
        );
        let runs = Family::<StartLabels, Counter>::default();
        registry.register(
            "nuvem_lambda_invocations",
            "Invocations that ran, whichever way they came (Invoke, API Gateway, function URLs, asynchronous events and each of their retries, event source mappings), by function and whether they started a new environment (Lambda's Invocations)",
            runs.clone(),
        );
        let run_errors = Family::<FunctionLabels, Counter>::default();
        registry.register(
            "nuvem_lambda_errors",
            "Invocations that ended in a function error (the handler's error, a timeout, a crash, an init failure), by function (Lambda's Errors)",
            run_errors.clone(),
        );
        let throttles = Family::<FunctionLabels, Counter>::default();
        registry.register(
            "nuvem_lambda_throttles",
            "Synchronous invocation requests refused for want of concurrency (TooManyRequestsException), any path, by function (Lambda's Throttles)",
            throttles.clone(),
        );
        let run_seconds: Seconds<FunctionLabels> = Family::new_with_constructor(latency);
        registry.register(
            "nuvem_lambda_duration_seconds",
            "Time functions spent on their events (the REPORT line's Duration, init not included), any path, by function (Lambda's Duration)",
            run_seconds.clone(),
        );
        let edge_requests = Family::<EdgeLabels, Counter>::default();
        registry.register(
            "nuvem_edge_requests",
            "Viewer requests answered by the edge, by location, cache behavior (its path pattern, * for the default) and cache result (hit, miss, refresh_hit, error, other)",
            edge_requests.clone(),
        );
        let edge_bytes = Family::<EdgeLabels, Counter>::default();
        registry.register(
            "nuvem_edge_response_bytes",
            "Bytes of the edge's response bodies whose length was known at the head, by location, cache behavior and cache result",
            edge_bytes.clone(),
        );
        let edge_seconds: Seconds<LocationLabels> = Family::new_with_constructor(latency);
        registry.register(
            "nuvem_edge_response_duration_seconds",
            "Time from a viewer request's arrival to the edge's response head, by location and cache behavior",
            edge_seconds.clone(),
        );
        Self {
            registry,
            api_requests,
            api_errors,
            api_seconds,
            invokes,
            invoke_seconds,
            runs,
            run_errors,
            throttles,
            run_seconds,
            edge_requests,
            edge_bytes,
            edge_seconds,
            known: Default::default(),
            enabled: true,
        }
    }

    /// Whether `name` (of kind `kind`) may be a label value: always after a success (which
    /// makes it known), after an error only when it is known.
    fn admit(&self, kind: &str, name: &str, success: bool) -> bool {
        if name.is_empty() {
            return true;
        }
        let key = format!("{kind}\u{0}{name}");
        let known = self
            .known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key);
        if known || !success {
            return known;
        }
        let mut set = self.known.write().unwrap_or_else(|e| e.into_inner());
        if set.len() < KNOWN_MAX {
            set.insert(key);
        }
        true
    }

    /// Records one request of the AWS endpoint.
    pub fn api(&self, r: &ApiRecord<'_>) {
        if !self.enabled {
            return;
        }
        let admitted = self.admit(r.service, r.operation, r.status < 400);
        let r = &ApiRecord {
            operation: if admitted { r.operation } else { "" },
            ..*r
        };
        self.api_requests
            .get_or_create(&ApiLabels {
                service: r.service.to_owned(),
                operation: r.operation.to_owned(),
                status: r.status.to_string(),
            })
            .inc();
        if r.status >= 400 {
            let code = r
                .error_code
                .unwrap_or(if r.status >= 500 { "5xx" } else { "4xx" });
            self.api_errors
                .get_or_create(&ErrorLabels {
                    service: r.service.to_owned(),
                    operation: r.operation.to_owned(),
                    code: code.to_owned(),
                })
                .inc();
        }
        self.api_seconds
            .get_or_create(&OpLabels {
                service: r.service.to_owned(),
                operation: r.operation.to_owned(),
            })
            .observe(r.seconds);
    }

    /// Records one Lambda Invoke call of a function (`success`: the call was answered 2xx);
    /// an error for a function never invoked successfully is not recorded here.
    pub fn invoke(&self, function: &str, outcome: &str, success: bool, seconds: f64) {
        if !self.enabled || !self.admit("lambda-function", function, success) {
            return;
        }
        self.invokes
            .get_or_create(&InvokeLabels {
                function: function.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.invoke_seconds
            .get_or_create(&FunctionLabels {
                function: function.to_owned(),
            })
            .observe(seconds);
    }

    /// The function's series of one kind, created at 0 when it first runs or is throttled.
    fn function_series(&self, function: &str) -> FunctionLabels {
        let f = FunctionLabels {
            function: function.to_owned(),
        };
        // The guards are let go at once (a later `get_or_create` of the same family waits
        // for no one).
        let _ = self.run_errors.get_or_create(&f);
        let _ = self.throttles.get_or_create(&f);
        f
    }

    /// The series an edge request of `location`, `behavior` and `cache` result counts in,
    /// to keep and record into without looking the labels up again (`None` when metrics
    /// are off). A listener resolves each of its few combinations once.
    pub fn edge_series(&self, location: &str, behavior: &str, cache: &str) -> Option<EdgeSeries> {
        if !self.enabled {
            return None;
        }
        let timed = LocationLabels {
            location: location.to_owned(),
            behavior: behavior.to_owned(),
        };
        let seconds = self.edge_seconds.get_or_create(&timed).clone();
        let labels = EdgeLabels {
            location: timed.location,
            behavior: timed.behavior,
            cache: cache.to_owned(),
        };
        Some(EdgeSeries {
            seconds,
            requests: self.edge_requests.get_or_create(&labels).clone(),
            bytes: self.edge_bytes.get_or_create(&labels).clone(),
        })
    }

    /// The exposition: the recorded series, then `snapshot`'s.
    pub fn render(&self, snapshot: Snapshot) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        let mut scraped = Registry::default();
        scraped.register_collector(Box::new(snapshot));
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &scraped);
        out
    }
}

/// The three series one edge request counts in (see [`Metrics::edge_series`]): handles that
/// share their values with the registry.
#[derive(Clone)]
pub struct EdgeSeries {
    seconds: Histogram,
    requests: Counter,
    bytes: Counter,
}

impl EdgeSeries {
    pub fn record(&self, bytes: Option<u64>, seconds: f64) {
        self.seconds.observe(seconds);
        self.requests.inc();
        if let Some(b) = bytes {
            self.bytes.inc_by(b);
        }
    }
}

/// Every invocation and throttle of a function, from the functions service (the names are
/// of functions that exist: a run or a throttle needs the function's pool).
impl nuvem_functions::InvocationObserver for Metrics {
    fn ran(&self, ran: &nuvem_functions::Ran<'_>) {
        if !self.enabled {
            return;
        }
        let f = self.function_series(ran.function);
        self.runs
            .get_or_create(&StartLabels {
                function: f.function.clone(),
                start: if ran.cold { "cold" } else { "warm" }.to_owned(),
            })
            .inc();
        if ran.function_error {
            self.run_errors.get_or_create(&f).inc();
        }
        self.run_seconds
            .get_or_create(&f)
            .observe(ran.duration.as_secs_f64());
    }

    fn throttled(&self, function: &str) {
        if !self.enabled {
            return;
        }
        let f = self.function_series(function);
        self.throttles.get_or_create(&f).inc();
    }

    fn deleted(&self, function: &str) {
        let f = FunctionLabels {
            function: function.to_owned(),
        };
        for start in ["cold", "warm"] {
            self.runs.remove(&StartLabels {
                function: function.to_owned(),
                start: start.to_owned(),
            });
        }
        self.run_errors.remove(&f);
        self.throttles.remove(&f);
        self.run_seconds.remove(&f);
    }
}

/// The kind of a scraped series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (the name gets `_total`).
    Counter,
    Gauge,
}

#[derive(Debug)]
struct SnapFamily {
    name: String,
    help: String,
    kind: Kind,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

/// Series read at scrape time; [`Source`]s add to it.
#[derive(Debug, Default)]
pub struct Snapshot {
    families: Vec<SnapFamily>,
}

impl Snapshot {
    /// Adds one sample of `name` (created with `help` and `kind` on first use).
    pub fn add(&mut self, name: &str, help: &str, kind: Kind, labels: &[(&str, &str)], value: f64) {
        let i = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(SnapFamily {
                    name: name.to_owned(),
                    help: help.to_owned(),
                    kind,
                    samples: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.families[i].samples.push((labels, value));
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            let kind = match f.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
            };
            let mut metric = encoder.encode_descriptor(&f.name, &f.help, None, kind)?;
            for (labels, value) in &f.samples {
                let mut sample = metric.encode_family(labels)?;
                match f.kind {
                    Kind::Counter => sample
                        .encode_counter::<prometheus_client::encoding::NoLabelSet, f64, f64>(
                            value, None,
                        )?,
                    Kind::Gauge => sample.encode_gauge(value)?,
                }
            }
        }
        Ok(())
    }
}

/// Something whose counters are read at scrape time.
pub trait Source: Send + Sync {
    fn collect(&self, out: &mut Snapshot);
}

/// The WAF's rule counters of the WebACLs in front of the distribution (the manifest's, and
/// any UpdateDistribution switched to since start): allowed, blocked and counted per rule.
pub struct WafSource {
    pub waf: Arc<nuvem_waf::WafApi>,
}

impl Source for WafSource {
    fn collect(&self, out: &mut Snapshot) {
        for shared in self.waf.live_web_acls() {
            web_acl_stats(&shared.current(), out);
        }
    }
}

fn web_acl_stats(acl: &nuvem_waf::WebAcl, out: &mut Snapshot) {
    {
        let name = acl.name().to_owned();
        for s in acl.rule_stats() {
            for (action, n) in [
                ("allow", s.allowed),
                ("block", s.blocked),
                ("count", s.counted),
            ] {
                out.add(
                    "nuvem_waf_rule_matches",
                    "Requests a WebACL rule decided or counted, by WebACL, rule (Group/Rule for managed rules, Default_Action for the default) and action",
                    Kind::Counter,
                    &[("web_acl", &name), ("rule", &s.rule), ("action", action)],
                    n as f64,
                );
            }
        }
    }
}

/// The edge's cache tiers: entries and bytes held.
pub struct EdgeSource {
    pub edge: Arc<nuvem_edge::Edge>,
}

impl Source for EdgeSource {
    fn collect(&self, out: &mut Snapshot) {
        for t in self.edge.stats() {
            out.add(
                "nuvem_edge_cache_entries",
                "Responses held by an edge cache tier (each location, the regional memory and disk tiers)",
                Kind::Gauge,
                &[("tier", &t.name)],
                t.entries as f64,
            );
            out.add(
                "nuvem_edge_cache_bytes",
                "Bytes held by an edge cache tier",
                Kind::Gauge,
                &[("tier", &t.name)],
                t.bytes as f64,
            );
        }
    }
}

/// Numbers of a service's `stats` JSON turned into series: Lambda's per-function pools,
/// DynamoDB's per-table capacity, the logs queue, API Gateway's routes.
pub fn service_stats(service: &str, stats: &serde_json::Value, out: &mut Snapshot) {
    use serde_json::Value;
    let num = |v: &Value| v.as_f64();
    match service {
        "lambda" => {
            let Some(functions) = stats.get("functions").and_then(Value::as_object) else {
                return;
            };
            for (function, s) in functions {
                let f = [("function", function.as_str())];
                for (key, name, help, kind) in [
                    (
                        "environments",
                        "nuvem_lambda_environments",
                        "Execution environments alive (idle and busy), by function and version",
                        Kind::Gauge,
                    ),
                    (
                        "concurrency",
                        "nuvem_lambda_concurrent_executions",
                        "Invocations running now (Lambda's ConcurrentExecutions)",
                        Kind::Gauge,
                    ),
                    (
                        "concurrency_limit",
                        "nuvem_lambda_concurrency_limit",
                        "Reserved concurrency, else the account's limit",
                        Kind::Gauge,
                    ),
                ] {
                    if let Some(v) = s.get(key).and_then(num) {
                        out.add(name, help, kind, &f, v);
                    }
                }
            }
        }
        "dynamodb" => {
            let Some(tables) = stats.get("capacity").and_then(Value::as_array) else {
                return;
            };
            for t in tables {
                let Some(table) = t.get("table").and_then(Value::as_str) else {
                    continue;
                };
                let index = t.get("index").and_then(Value::as_str).unwrap_or("");
                for side in ["read", "write"] {
                    let Some(s) = t.get(side) else { continue };
                    let l = [("table", table), ("index", index), ("side", side)];
                    if let Some(v) = s.get("consumed").and_then(num) {
                        out.add(
                            "nuvem_dynamodb_consumed_capacity_units",
                            "Capacity units consumed, by table, index and side (read or write)",
                            Kind::Counter,
                            &l,
                            v,
                        );
                    }
                    if let Some(v) = s.get("throttled").and_then(num) {
                        out.add(
                            "nuvem_dynamodb_throttled_requests",
                            "Requests refused with ProvisionedThroughputExceededException, by table, index and side",
                            Kind::Counter,
                            &l,
                            v,
                        );
                    }
                    if let Some(v) = s.get("provisioned").and_then(num) {
                        out.add(
                            "nuvem_dynamodb_provisioned_capacity_units",
                            "Provisioned capacity units per second (0 for on-demand tables)",
                            Kind::Gauge,
                            &l,
                            v,
                        );
                    }
                }
            }
        }
        "logs" => {
            for (key, what) in [("ingested", "written"), ("dropped", "dropped")] {
                if let Some(v) = stats.get(key).and_then(num) {
                    out.add(
                        "nuvem_logs_function_events",
                        "Function log events written to CloudWatch Logs or dropped (queue full or write failed)",
                        Kind::Counter,
                        &[("result", what)],
                        v,
                    );
                }
            }
        }
        "apigateway" => {
            let Some(apis) = stats.as_object() else {
                return;
            };
            for (api, routes) in apis {
                let Some(routes) = routes.as_object() else {
                    continue;
                };
                for (route, r) in routes {
                    let l = [("api", api.as_str()), ("route", route.as_str())];
                    for (key, class) in [("count", "all"), ("4xx", "4xx"), ("5xx", "5xx")] {
                        if let Some(v) = r.get(key).and_then(num) {
                            out.add(
                                "nuvem_apigateway_route_requests",
                                "HTTP API requests by API, route and class (all, 4xx, 5xx)",
                                Kind::Counter,
                                &[l[0], l[1], ("class", class)],
                                v,
                            );
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// The listeners' counters (`/_nuvem/health`'s `listeners`): open and accepted connections
/// and refusals by reason, per listener group.
pub fn listener_stats(health: &serde_json::Value, out: &mut Snapshot) {
    for group in ["api", "edge"] {
        let Some(g) = health.get(group).and_then(serde_json::Value::as_object) else {
            continue;
        };
        for (key, v) in g {
            let Some(v) = v.as_f64() else { continue };
            match key.as_str() {
                "open" => out.add(
                    "nuvem_listener_open_connections",
                    "Connections open now, by listener group",
                    Kind::Gauge,
                    &[("listener", group)],
                    v,
                ),
                "accepted" => out.add(
                    "nuvem_listener_accepted_connections",
                    "Connections accepted, by listener group",
                    Kind::Counter,
                    &[("listener", group)],
                    v,
                ),
                "max_connections" | "max_connections_per_ip" => out.add(
                    &format!("nuvem_listener_{key}"),
                    "A listener group's connection cap",
                    Kind::Gauge,
                    &[("listener", group)],
                    v,
                ),
                reason => out.add(
                    "nuvem_listener_refusals",
                    "Connections refused or cut by the listener limits, by listener group and reason",
                    Kind::Counter,
                    &[("listener", group), ("reason", reason)],
                    v,
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of the exposition is a comment or `name{labels} value`, and the recorded
    /// and scraped series are there with their values.
    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.api(&ApiRecord {
            service: "dynamodb",
            operation: "GetItem",
            status: 200,
            error_code: None,
            seconds: 0.002,
        });
        m.api(&ApiRecord {
            service: "dynamodb",
            operation: "GetItem",
            status: 400,
            error_code: Some("ResourceNotFoundException"),
            seconds: 0.001,
        });
        m.api(&ApiRecord {
            service: "dynamodb",
            operation: "MadeUp123",
            status: 400,
            error_code: Some("AccessDeniedException"),
            seconds: 0.001,
        });
        m.edge_series("edge", "/img/*", "hit")
            .unwrap()
            .record(Some(1024), 0.0001);
        let mut s = Snapshot::default();
        s.add("nuvem_x", "an \"x\"", Kind::Counter, &[("a", "q\"\\")], 3.0);
        s.add("nuvem_y", "a y", Kind::Gauge, &[], 1.5);
        let text = m.render(s);
        for line in text.lines() {
            assert!(
                line.starts_with('#')
                    || line
                        .rsplit_once(' ')
                        .is_some_and(|(_, v)| v.parse::<f64>().is_ok()),
                "{line}"
            );
        }
        for want in [
            "nuvem_api_requests_total{service=\"dynamodb\",operation=\"GetItem\",status=\"200\"} 1",
            "nuvem_api_errors_total{service=\"dynamodb\",operation=\"GetItem\",code=\"ResourceNotFoundException\"} 1",
            "nuvem_api_request_duration_seconds_count{service=\"dynamodb\",operation=\"GetItem\"} 2",
            "nuvem_edge_response_bytes_total{location=\"edge\",behavior=\"/img/*\",cache=\"hit\"} 1024",
            "nuvem_edge_response_duration_seconds_count{location=\"edge\",behavior=\"/img/*\"} 1",
            "nuvem_x_total{a=\"q\\\"\\\\\"} 3",
            "nuvem_y 1.5",
            "# TYPE nuvem_y gauge",
            "nuvem_api_errors_total{service=\"dynamodb\",operation=\"\",code=\"AccessDeniedException\"} 1",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
        assert!(!text.contains("MadeUp123"), "{text}");
    }

    /// Invocations from the functions service: runs by start, errors, throttles and the
    /// duration histogram per function, gone with the function.
    #[test]
    fn counts_invocations_of_every_path() {
        use nuvem_functions::{InvocationObserver, Ran};
        let m = Metrics::new();
        let ran = |cold, function_error, ms| Ran {
            function: "f",
            cold,
            function_error,
            duration: std::time::Duration::from_millis(ms),
        };
        m.ran(&ran(true, false, 3));
        m.ran(&ran(false, true, 1));
        m.ran(&ran(false, false, 1));
        m.throttled("g");
        let text = m.render(Snapshot::default());
        for want in [
            "nuvem_lambda_invocations_total{function=\"f\",start=\"cold\"} 1",
            "nuvem_lambda_invocations_total{function=\"f\",start=\"warm\"} 2",
            "nuvem_lambda_errors_total{function=\"f\"} 1",
            "nuvem_lambda_throttles_total{function=\"f\"} 0",
            "nuvem_lambda_throttles_total{function=\"g\"} 1",
            "nuvem_lambda_errors_total{function=\"g\"} 0",
            "nuvem_lambda_duration_seconds_count{function=\"f\"} 3",
            "nuvem_lambda_duration_seconds_bucket{function=\"f\",le=\"0.0016\"} 2",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
        m.deleted("f");
        let text = m.render(Snapshot::default());
        assert!(!text.contains("function=\"f\""), "{text}");
    }
}
