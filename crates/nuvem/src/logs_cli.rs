//! `nuvem logs NAME [--follow] [--since 10m]`: a function's log events from a running nuvem,
//! read through the Logs API on its AWS endpoint (FilterLogEvents on `/aws/lambda/NAME`,
//! SigV4-signed with the account's keys, like `invalidate`): one more client of the API, never
//! a side door into the store. Printed as `aws logs tail` prints them: time, stream, message.
//! `--follow` polls once a second from the newest event seen, as `aws logs tail --follow`
//! does, skipping events already printed.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use serde_json::{Value, json};

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// The function's name.
    name: String,
    /// Keep printing new events as they arrive (Ctrl-C to stop).
    #[arg(long, short)]
    follow: bool,
    /// How far back to start: `30s`, `10m`, `2h`, `1d`.
    #[arg(long, default_value = "10m")]
    since: String,
    /// Only events matching this CloudWatch Logs filter pattern (`ERROR`, `?ERROR ?WARN`).
    #[arg(long)]
    filter_pattern: Option<String>,
    /// The AWS endpoint of the running nuvem.
    #[arg(long, env = "NUVEM_ENDPOINT", default_value = "http://127.0.0.1:4566")]
    endpoint: String,
    /// The region to sign for (nuvem's `region`).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = "test")]
    access_key_id: String,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "test",
        hide_env_values = true
    )]
    secret_access_key: String,
}

/// `30s`, `10m`, `2h`, `1d`, `1w` (a bare number is minutes).
pub fn parse_since(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().with_context(|| {
        format!("--since {text:?}: expected a number and a unit (30s, 10m, 2h, 1d)")
    })?;
    let secs = match unit {
        "s" => 1,
        "" | "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        other => bail!("--since {text:?}: unknown unit {other:?} (s, m, h, d or w)"),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let since = parse_since(&args.since)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(tail(&args, since))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

async fn tail(args: &LogsArgs, since: Duration) -> anyhow::Result<()> {
    use std::io::Write;
    let group = format!("/aws/lambda/{}", args.name);
    let mut start = now_ms() - i64::try_from(since.as_millis()).unwrap_or(i64::MAX / 2);
    // Events at `start` already printed (the next poll asks from `start` again, inclusive).
    let mut printed: HashSet<String> = HashSet::new();
    let mut waiting_said = false;
    loop {
        let mut token: Option<String> = None;
        loop {
            let mut input = json!({"logGroupName": group, "startTime": start, "interleaved": true});
            if let Some(p) = &args.filter_pattern {
                input["filterPattern"] = json!(p);
            }
            if let Some(t) = &token {
                input["nextToken"] = json!(t);
            }
            let (status, body) = call(args, "FilterLogEvents", &input).await?;
            if status != 200 {
                let code = body["__type"].as_str().unwrap_or("?");
                if code.ends_with("ResourceNotFoundException") {
                    if !args.follow {
                        bail!(
                            "function {} has no logs yet (log group {group} does not exist)",
                            args.name
                        );
                    }
                    if !waiting_said {
                        eprintln!("nuvem: waiting for {group} (the function has not run yet)");
                        waiting_said = true;
                    }
                    break;
                }
                bail!(
                    "FilterLogEvents failed ({status}): {} {}",
                    code,
                    body["message"].as_str().unwrap_or_default()
                );
            }
            let mut out = std::io::stdout().lock();
            for e in body["events"].as_array().into_iter().flatten() {
                let id = e["eventId"].as_str().unwrap_or_default().to_owned();
                let ts = e["timestamp"].as_i64().unwrap_or(0);
                if printed.contains(&id) {
                    continue;
                }
                if ts > start {
                    start = ts;
                    printed.clear();
                }
                printed.insert(id);
                let message = e["message"].as_str().unwrap_or_default();
                let _ = write!(
                    out,
                    "{} {} {}",
                    iso_time(ts),
                    e["logStreamName"].as_str().unwrap_or_default(),
                    message
                );
                if !message.ends_with('\n') {
                    let _ = writeln!(out);
                }
            }
            let _ = out.flush();
            match body["nextToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `2026-01-02T03:04:05.678000+00:00`, as `aws logs tail` prints times.
pub fn iso_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil(days);
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}000+00:00")
}

/// (year, month, day) of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// One Logs operation, signed with SigV4 for `logs`: (status, JSON body).
async fn call(args: &LogsArgs, operation: &str, input: &Value) -> anyhow::Result<(u16, Value)> {
    let to = crate::cli_client::Endpoint {
        url: &args.endpoint,
        access_key_id: &args.access_key_id,
        secret_access_key: &args.secret_access_key,
        region: &args.region,
        service: "logs",
    };
    let target = format!("Logs_20140328.{operation}");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target.as_str()),
    ];
    let (status, bytes) = crate::cli_client::call(&to, "POST", "/", &headers, input.to_string())
        .await
        .with_context(|| format!("calling {operation}"))?;
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({"__type": "?", "message": String::from_utf8_lossy(&bytes)}));
    Ok((status, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_and_times() {
        #[track_caller]
        fn check(text: &str, secs: Option<u64>) {
            assert_eq!(parse_since(text).ok().map(|d| d.as_secs()), secs, "{text}");
        }
        check("30s", Some(30));
        check("10m", Some(600));
        check("10", Some(600));
        check("2h", Some(7200));
        check("1d", Some(86_400));
        check("1w", Some(604_800));
        check("m", None);
        check("5y", None);
        check("-1m", None);
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso_time(1_767_225_599_999),
            "2025-12-31T23:59:59.999000+00:00"
        );
        assert_eq!(
            iso_time(951_825_845_006),
            "2000-02-29T12:04:05.006000+00:00"
        );
    }
}
