//! Replays requests through nuvem's default distribution WebACL, in process, for tuning.
//!
//! `bench/waf-heldout.py --replay` writes one request per line on stdin as JSON
//! `{"m": method, "p": path-and-query, "h": [[name, value], …], "b": body}`, where every string's
//! characters are bytes 0–255 (latin-1), and reads one line per request back:
//! `403 <terminating rule>` when the WebACL blocks it, `200 -` when it does not. It is the same
//! engine and WebACL the edge runs (with the edge's default Count override of
//! `Host_localhost_HEADER`, which the replayed `Host` never meets), without HTTP in between, so a
//! tuning round takes seconds instead of a quarter of an hour. The numbers to report still come
//! from the HTTP run (`bench/waf-heldout.py` without `--replay`).
//!
//!     cargo run --release -p nuvem-waf --example replay < requests.jsonl > verdicts.txt

use std::io::{BufRead, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use nuvem_waf::{Request, WebAcl};

fn bytes(s: &str) -> Vec<u8> {
    s.chars().map(|c| u32::from(c).min(255) as u8).collect()
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(serde_json::Value::as_str).unwrap_or("")
}

fn main() -> std::io::Result<()> {
    let acl = WebAcl::default_for_distribution();
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            writeln!(out, "0 unreadable")?;
            continue;
        };
        let target = String::from_utf8_lossy(&bytes(field(&v, "p"))).into_owned();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let names_values: Vec<(String, Vec<u8>)> = v
            .get("h")
            .and_then(serde_json::Value::as_array)
            .map(|hs| {
                hs.iter()
                    .filter_map(|h| {
                        let pair = h.as_array()?;
                        let name = pair.first()?.as_str()?.to_ascii_lowercase();
                        let value = bytes(pair.get(1)?.as_str()?);
                        Some((name, value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let headers: Vec<(&str, &[u8])> = names_values
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let body = bytes(field(&v, "b"));
        let req = Request {
            method: field(&v, "m"),
            path,
            query,
            headers: &headers,
            body: &body,
            body_oversize: false,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            at: Instant::now(),
        };
        let verdict = acl.evaluate(&req);
        if verdict.is_blocked() {
            writeln!(out, "403 {}", verdict.terminating_rule)?;
        } else {
            writeln!(out, "200 -")?;
        }
    }
    out.flush()
}
