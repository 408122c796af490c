//! The results of a run and how they are written: every measured row (scenario, target, load
//! mode, HDR percentiles, peak RSS), the ratio rows that compare nuvem with its peer in the
//! same run, as Markdown (`bench/results/<date>.md`, the README table) and as JSON. Must not:
//! measure anything.

use std::fmt::Write as _;

use serde_json::json;

use crate::load::Stats;

/// Which number decides "better" in a ratio row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Operations per second: higher is better.
    Throughput,
    /// Median latency (or a duration, like start-up): lower is better.
    Latency,
    /// The 99th percentile latency: lower is better (open-loop rows, where throughput is fixed).
    TailLatency,
    /// Through a proxy (the subject, e.g. the gateway) against straight to what it proxies
    /// (the peer): the headline is the p50 the proxy adds, in ms; throughput is shown too.
    Overhead,
}

/// One measurement: a scenario against one target.
pub struct Row {
    /// `dynamodb.put`, `edge.hit 1KiB`, `startup`…
    pub scenario: String,
    /// `nuvem`, `moto`, `nginx`, `varnish`, `nuvem waf=on`…
    pub target: String,
    pub stats: Stats,
    /// Peak RSS of the server during the phase, MiB (nuvem's own process only).
    pub peak_rss_mib: Option<f64>,
    /// The server's CPU time (user + system, its child processes included) per request, µs.
    pub cpu_us_per_op: Option<f64>,
    pub metric: Metric,
}

/// A whole run.
#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Plain facts for the header: machine, pinning, commands, memory lines, failures.
    pub notes: Vec<String>,
    /// Groups that failed, with why; a failed group does not stop the run.
    pub failures: Vec<String>,
    /// Comparisons that are not a load phase (idle memory), already computed.
    pub extra_ratios: Vec<Ratio>,
    /// Targets compared with the targets measured after them, besides the first one of each
    /// scenario (`nuvem-pg` with moto).
    pub subjects: Vec<String>,
    /// Database round trips per request (targets on PostgreSQL): scenario, load, number.
    pub round_trips: Vec<(String, String, String)>,
}

/// A ratio row: nuvem against one peer for one scenario and mode.
#[derive(Clone)]
pub struct Ratio {
    pub scenario: String,
    pub mode: String,
    pub subject: String,
    pub subject_value: String,
    pub peer: String,
    pub peer_value: String,
    /// Above 1: nuvem is better by that factor.
    pub ratio: Option<f64>,
    /// Shown instead of the ratio when set ([`Metric::Overhead`]: `+0.123 ms p50`).
    pub headline: Option<String>,
}

impl Report {
    pub fn push(&mut self, scenario: &str, target: &str, stats: Stats, metric: Metric) {
        self.rows.push(Row {
            scenario: scenario.into(),
            target: target.into(),
            stats,
            peak_rss_mib: None,
            cpu_us_per_op: None,
            metric,
        });
    }

    /// The peak RSS of the last row pushed.
    pub fn set_peak_rss(&mut self, kib: Option<u64>) {
        if let Some(row) = self.rows.last_mut() {
            row.peak_rss_mib = kib.map(|k| k as f64 / 1024.0);
        }
    }

    /// The server CPU time per request of the last row pushed.
    pub fn set_cpu_per_op(&mut self, us: Option<f64>) {
        if let Some(row) = self.rows.last_mut() {
            row.cpu_us_per_op = us;
        }
    }

    /// For each (scenario, mode) the first target measured is the subject (nuvem) and every
    /// other target is a peer it is compared with; so is each target named in `subjects`,
    /// with the targets measured after it.
    pub fn ratios(&self) -> Vec<Ratio> {
        let mut out: Vec<Ratio> = self.extra_ratios.clone();
        for (i, subject) in self.rows.iter().enumerate() {
            let mode = subject.stats.mode.label();
            let first = self.rows[..i]
                .iter()
                .all(|r| r.scenario != subject.scenario || r.stats.mode.label() != mode);
            if !first && !self.subjects.contains(&subject.target) {
                continue;
            }
            let mut peers = self.rows[i + 1..]
                .iter()
                .filter(|r| r.scenario == subject.scenario && r.stats.mode.label() == mode)
                .peekable();
            if peers.peek().is_none() && first {
                // No peer runs this here: the row still belongs in the one table.
                let (sv, _, _) = compare(subject, subject);
                out.push(Ratio {
                    scenario: subject.scenario.clone(),
                    mode: mode.clone(),
                    subject: subject.target.clone(),
                    subject_value: sv,
                    peer: "no peer".into(),
                    peer_value: String::new(),
                    ratio: None,
                    headline: None,
                });
            }
            for peer in peers {
                let (sv, pv, ratio) = compare(subject, peer);
                out.push(Ratio {
                    scenario: subject.scenario.clone(),
                    mode: mode.clone(),
                    subject: subject.target.clone(),
                    subject_value: sv,
                    peer: peer.target.clone(),
                    peer_value: pv,
                    ratio,
                    headline: (subject.metric == Metric::Overhead)
                        .then(|| added_p50(subject, peer)),
                });
            }
        }
        out
    }

    /// The ratio rows as one line each, for the terminal.
    pub fn ratio_lines(&self) -> String {
        let mut out = String::new();
        for r in self.ratios() {
            if r.peer_value.is_empty() {
                let _ = writeln!(
                    out,
                    "{} {}: {} {} (no peer runs here)",
                    r.scenario, r.mode, r.subject, r.subject_value
                );
                continue;
            }
            let _ = writeln!(
                out,
                "{} {}: {} {}, {} {}, {}",
                r.scenario,
                r.mode,
                r.subject,
                r.subject_value,
                r.peer,
                r.peer_value,
                r.headline
                    .clone()
                    .unwrap_or_else(|| format!("ratio {}", ratio_text(r.ratio)))
            );
        }
        out
    }

    /// The ratio table (the README's performance table): scenario, nuvem, peer, ratio, and
    /// the command that reproduces the row.
    pub fn ratio_table(&self, command: impl Fn(&str) -> String) -> String {
        let mut out = String::from("| scenario | load | nuvem | peer | ratio | reproduce |\n");
        out.push_str("|---|---|---:|---:|---:|---|\n");
        for r in self.ratios() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} {} | **{}** | `{}` |",
                r.scenario,
                r.mode,
                r.subject_value,
                r.peer,
                r.peer_value,
                r.headline.clone().unwrap_or_else(|| ratio_text(r.ratio)),
                command(&r.scenario)
            );
        }
        out
    }

    /// Every row with all its numbers.
    pub fn full_table(&self) -> String {
        let mut out = String::from(
            "| scenario | target | load | ok | errors | ops/s | MiB/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | peak RSS MiB | server CPU µs/op |\n",
        );
        out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.rows {
            let s = &r.stats;
            let ms = |v: Option<u64>| v.map_or_else(|| "–".into(), fmt_ms);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.scenario,
                r.target,
                s.mode.label(),
                s.ok(),
                s.errors,
                group_digits(s.ops_per_sec()),
                if s.bytes > 0 {
                    format!("{:.1}", s.mib_per_sec())
                } else {
                    "–".into()
                },
                ms(s.quantile_us(0.5)),
                ms(s.quantile_us(0.9)),
                ms(s.quantile_us(0.99)),
                ms(s.quantile_us(0.999)),
                ms(s.max_us()),
                r.peak_rss_mib
                    .map_or_else(|| "–".into(), |m| format!("{m:.1}")),
                r.cpu_us_per_op
                    .map_or_else(|| "–".into(), |c| format!("{c:.1}")),
            );
        }
        for r in self.rows.iter().filter(|r| r.stats.errors > 0) {
            let _ = writeln!(
                out,
                "\n- {} {} {}: {} errors; first: {}",
                r.scenario,
                r.target,
                r.stats.mode.label(),
                r.stats.errors,
                r.stats.first_error.as_deref().unwrap_or("?")
            );
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "notes": self.notes,
            "failures": self.failures,
            "round_trips": self.round_trips.iter().map(|(scenario, load, per)| json!({
                "scenario": scenario, "load": load, "per_request": per,
            })).collect::<Vec<_>>(),
            "rows": self.rows.iter().map(|r| {
                let mut v = r.stats.to_json();
                v["scenario"] = json!(r.scenario);
                v["target"] = json!(r.target);
                v["peak_rss_mib"] = json!(r.peak_rss_mib);
                v["server_cpu_us_per_op"] = json!(r.cpu_us_per_op);
                v
            }).collect::<Vec<_>>(),
            "ratios": self.ratios().iter().map(|r| json!({
                "scenario": r.scenario, "mode": r.mode, "subject": r.subject,
                "subject_value": r.subject_value, "peer": r.peer,
                "peer_value": r.peer_value, "ratio": r.ratio,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The two values as text and nuvem's advantage (above 1 = nuvem better).
fn compare(subject: &Row, peer: &Row) -> (String, String, Option<f64>) {
    let (a, b) = (&subject.stats, &peer.stats);
    if subject.metric == Metric::Overhead {
        let text = |s: &Stats| match s.quantile_us(0.5) {
            Some(p50) => format!("p50 {} ms, {}", fmt_ms(p50), ops(s)),
            None => "failed".into(),
        };
        // Higher is better for nuvem, as everywhere: gateway ops/s ÷ direct ops/s.
        let ratio =
            (b.ops_per_sec() > 0.0 && a.ok() > 0).then(|| a.ops_per_sec() / b.ops_per_sec());
        return (text(a), text(b), ratio);
    }
    if subject.metric == Metric::Throughput {
        let ratio =
            (b.ops_per_sec() > 0.0 && a.ok() > 0).then(|| a.ops_per_sec() / b.ops_per_sec());
        return (ops(a), ops(b), ratio);
    }
    let q = if subject.metric == Metric::TailLatency {
        0.99
    } else {
        0.5
    };
    let label = if q > 0.5 { "p99" } else { "p50" };
    let (x, y) = (a.quantile_us(q), b.quantile_us(q));
    let text =
        |v: Option<u64>| v.map_or_else(|| "failed".into(), |v| format!("{label} {} ms", fmt_ms(v)));
    let ratio = match (x, y) {
        (Some(x), Some(y)) if x > 0 => Some(y as f64 / x as f64),
        _ => None,
    };
    (text(x), text(y), ratio)
}

/// `+0.123 ms p50 (ops/s 0.85x)`: the median latency the subject adds over the peer, and
/// subject ÷ peer throughput.
fn added_p50(subject: &Row, peer: &Row) -> String {
    let (a, b) = (&subject.stats, &peer.stats);
    let Some((x, y)) = a.quantile_us(0.5).zip(b.quantile_us(0.5)) else {
        return "–".into();
    };
    let added = (x as f64 - y as f64) / 1000.0;
    let ratio = (b.ops_per_sec() > 0.0).then(|| a.ops_per_sec() / b.ops_per_sec());
    format!("{added:+.3} ms p50 (ops/s {})", ratio_text(ratio))
}

fn ops(s: &Stats) -> String {
    if s.ok() == 0 {
        return "failed".into();
    }
    format!("{} ops/s", group_digits(s.ops_per_sec()))
}

fn ratio_text(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => format!("{r:.0}x"),
        Some(r) => format!("{r:.2}x"),
        None => "–".into(),
    }
}

/// Milliseconds from µs, with as many decimals as make sense.
pub fn fmt_ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

/// `41200.4` → `41 200` (thin groups, as the issue writes ratio rows).
pub fn group_digits(v: f64) -> String {
    let n = v.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
