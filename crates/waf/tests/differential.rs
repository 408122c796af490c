//! Differential test of nuvem's SQLi/XSS verdicts (`is_sqli`, `is_xss`, the `libinjectionrs`
//! port) against the C libinjection, through its Python wrapper (PyPI `libinjection-python`,
//! module `libinjection`; `scripts/test` installs it with pip). Inputs: every decoded query
//! argument, form field and raw body of the CRS development set (tests/data/crs/crs.jsonl),
//! plus nuvem's benign set: a few thousand real values. When python3 or the module is missing
//! the test fails under `NUVEM_TEST_STRICT=1`, and elsewhere prints a notice and checks nothing
//! else.
//!
//! Known differences are listed in `KNOWN` with the reason; any other difference fails.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use nuvem_waf::{is_sqli, is_xss};
use serde_json::Value;

/// Inputs on which the port and the C library are known to disagree, with the reason.
/// (Empty: on this corpus the port agrees with libinjection 3.x as wrapped by the module.)
const KNOWN: &[(&str, &str)] = &[];

const SCRIPT: &str = r#"
import json, sys
import libinjection
for line in sys.stdin:
    s = json.loads(line)
    print(json.dumps([bool(libinjection.is_sql_injection(s)["is_sqli"]), bool(libinjection.is_xss(s)["is_xss"])]))
"#;

fn percent_decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

fn corpus_inputs() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let mut set = BTreeSet::new();
    let text = std::fs::read_to_string(format!("{dir}/crs/crs.jsonl")).expect("crs.jsonl");
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("jsonl line");
        let uri = v["uri"].as_str().unwrap_or_default();
        let body = v["body"].as_str().unwrap_or_default();
        let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
        for raw in query.split('&').chain(body.split('&')) {
            let (name, value) = raw.split_once('=').unwrap_or((raw, ""));
            set.insert(percent_decode(name));
            set.insert(percent_decode(value));
        }
        set.insert(body.to_string());
    }
    let benign = std::fs::read_to_string(format!("{dir}/benign.txt")).expect("benign.txt");
    set.extend(
        benign
            .lines()
            .filter(|l| !l.starts_with("# "))
            .map(str::to_string),
    );
    set.into_iter()
        .filter(|s| !s.is_empty() && !s.contains('\0'))
        .collect()
}

/// Fails under `NUVEM_TEST_STRICT=1` (set by `scripts/test`, which installs the module, and
/// so by CI); elsewhere says the test skipped.
fn missing_tool(what: &str) {
    if std::env::var("NUVEM_TEST_STRICT").is_ok_and(|v| v == "1") {
        panic!("{what} — NUVEM_TEST_STRICT=1 makes a missing tool a failure");
    }
    eprintln!("SKIPPED sqli_and_xss_agree_with_the_c_libinjection: {what}");
}

#[test]
fn sqli_and_xss_agree_with_the_c_libinjection() {
    let inputs = corpus_inputs();
    assert!(inputs.len() > 2000, "corpus too small: {}", inputs.len());
    let child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        missing_tool("python3 not found; install it and `pip install libinjection-python`");
        return;
    };
    let mut stdin = child.stdin.take().expect("stdin");
    let lines: String = inputs
        .iter()
        .map(|s| format!("{}\n", Value::from(s.as_str())))
        .collect();
    // Write from a thread: the child answers while we feed it, and both pipes are bounded.
    let writer = std::thread::spawn(move || stdin.write_all(lines.as_bytes()));
    let out = child.wait_with_output().expect("python3 output");
    // A python3 that exited at once (module missing) breaks the pipe: look at why it exited
    // before at the write.
    let written = writer.join().expect("writer thread");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'libinjection'") {
            missing_tool("python module libinjection missing; `pip install libinjection-python`");
            return;
        }
        panic!("python3 failed: {err}");
    }
    written.expect("write to python3");
    let verdicts: Vec<(bool, bool)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("verdict line"))
        .collect();
    assert_eq!(verdicts.len(), inputs.len(), "one verdict per input");

    let mut diffs = Vec::new();
    for (input, (c_sqli, c_xss)) in inputs.iter().zip(&verdicts) {
        let (r_sqli, r_xss) = (is_sqli(input.as_bytes()), is_xss(input.as_bytes()));
        if (r_sqli, r_xss) != (*c_sqli, *c_xss) && !KNOWN.iter().any(|(k, _)| k == input) {
            diffs.push(format!(
                "{input:?}: C sqli={c_sqli} xss={c_xss}, nuvem sqli={r_sqli} xss={r_xss}"
            ));
        }
    }
    println!(
        "{} inputs compared, {} differences",
        inputs.len(),
        diffs.len()
    );
    for d in &diffs {
        println!("  {d}");
    }
    assert!(diffs.is_empty(), "{} unexplained differences", diffs.len());
}
