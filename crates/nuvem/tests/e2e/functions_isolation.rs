//! Issue 17 end to end, as root (CI): two manifest functions run as users of their own. A
//! function cannot read another's environment variables through `/proc/<pid>/environ`, the
//! data dir's store, the TLS key, or another function's code; `up` says what is isolated.
//! Without root the test says it is skipped (a failure under `NUVEM_TEST_STRICT=1`).

use aws_sdk_lambda::types::InvocationType;
use nuvem_testkit::{Nuvem, Options};
use serde_json::{Value, json};

use super::functions::invoke;

const SECRET: &str = "e2e-secret-of-holder-7c1a";

const HOLDER: &str = "exports.handler = async () => ({ secret: process.env.SECRET });\n";

/// Its uid, whether any `/proc/*/environ` it can read holds the secret, and which of the
/// paths in the event it can read.
const SCANNER: &str = r#"
const fs = require("fs");
function readable(p) {
  try {
    if (fs.statSync(p).isDirectory()) { fs.readdirSync(p); } else { fs.readFileSync(p); }
    return true;
  } catch (e) { return false; }
}
exports.handler = async (event) => {
  let found = false, scanned = 0;
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      const env = fs.readFileSync(`/proc/${pid}/environ`, "latin1");
      scanned++;
      if (env.includes(event.secret)) found = true;
    } catch (e) {}
  }
  const paths = {};
  for (const p of event.paths) paths[p] = readable(p);
  return { uid: process.getuid(), found, scanned, paths };
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_a_function_cannot_read_another_functions_environ_code_or_the_data_dir() {
    let test = "issue_17_a_function_cannot_read_another_functions_environ_code_or_the_data_dir";
    if !std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    }) {
        nuvem_testkit::missing_tool(test, "needs root (environments as users of their own)");
        return;
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        nuvem_testkit::missing_tool(test, "needs node");
        return;
    }
    let src = tempfile::tempdir().unwrap();
    for (name, code) in [("holder", HOLDER), ("scanner", SCANNER)] {
        std::fs::create_dir_all(src.path().join(name)).unwrap();
        std::fs::write(src.path().join(name).join("index.js"), code).unwrap();
    }
    let manifest = format!(
        "[[functions]]\nname = \"holder\"\nruntime = \"nodejs22.x\"\nhandler = \"index.handler\"\ncode = {:?}\nenv = {{ SECRET = {SECRET:?} }}\n\n\
         [[functions]]\nname = \"scanner\"\nruntime = \"nodejs22.x\"\nhandler = \"index.handler\"\ncode = {:?}\n",
        src.path().join("holder").display().to_string(),
        src.path().join("scanner").display().to_string(),
    );
    let nuvem = Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        Options {
            manifest: Some(manifest),
            tls: true,
            ..Default::default()
        },
    );
    let line = nuvem
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("isolation"))
        .cloned()
        .unwrap_or_default();
    if !line.contains("runs as a user of its own") {
        // `node` may sit where other users cannot run it (a version manager under /root).
        nuvem_testkit::missing_tool(test, &format!("functions do not run as users: {line}"));
        return;
    }
    assert!(!line.contains("Node functions"), "{line}");
    let lambda = nuvem.lambda();
    let held = invoke(
        &lambda,
        "holder",
        json!({}),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert_eq!(held.payload["secret"], SECRET, "{}", held.log);

    let data = nuvem.dir().join("data");
    let mut paths: Vec<String> = vec![
        data.join("store").display().to_string(),
        data.join("functions/code").display().to_string(),
        data.join("functions/logs").display().to_string(),
        data.join("functions/isolated/holder").display().to_string(),
    ];
    // Every other top-level entry of the data dir (blobs, TLS key and certificate, markers).
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        if entry.file_name() != "functions" {
            paths.push(entry.path().display().to_string());
        }
    }
    let got = invoke(
        &lambda,
        "scanner",
        json!({ "secret": SECRET, "paths": paths }),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    let report: &Value = &got.payload;
    assert_eq!(got.function_error, None, "{}", got.log);
    assert_ne!(report["uid"], json!(0), "{report}");
    assert_eq!(
        report["found"], false,
        "another function's environ: {report}"
    );
    for (path, readable) in report["paths"].as_object().unwrap() {
        assert_eq!(readable, &json!(false), "{path} was readable: {report}");
    }
}
