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

/// Which of the event's `[host, port]` targets it can open a TCP connection to, whether
/// `AWS_ENDPOINT_URL/_nuvem/health` answers, and where its Runtime API is.
const PROBER: &str = r#"
const net = require("net");
const http = require("http");
function reach(host, port) {
  return new Promise((done) => {
    const s = net.connect({ host, port });
    const end = (ok) => { s.destroy(); done(ok); };
    s.setTimeout(2000, () => end(false));
    s.on("connect", () => end(true));
    s.on("error", () => end(false));
  });
}
function health(url) {
  return new Promise((done) => {
    const req = http.get(url + "/_nuvem/health", (res) => { res.resume(); done(res.statusCode); });
    req.setTimeout(2000, () => { req.destroy(); done(-1); });
    req.on("error", () => done(-1));
  });
}
exports.handler = async (event) => {
  const reached = {};
  for (const [host, port] of event.targets) reached[`${host}:${port}`] = await reach(host, port);
  return {
    api: process.env.AWS_LAMBDA_RUNTIME_API,
    endpoint: process.env.AWS_ENDPOINT_URL,
    uid: process.getuid(),
    health: await health(process.env.AWS_ENDPOINT_URL),
    reached,
  };
};
"#;

/// A `host:port` as the prober writes it.
fn target(addr: std::net::SocketAddr) -> (Value, String) {
    (
        json!([addr.ip().to_string(), addr.port()]),
        addr.to_string(),
    )
}

/// The network namespace of the processes of `uid` (the function's user), if any runs.
fn netns_of_uid(uid: u64) -> Option<std::path::PathBuf> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let status = std::fs::read_to_string(e.path().join("status")).ok()?;
        let real = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()?;
        (real == uid)
            .then(|| std::fs::read_link(e.path().join("ns/net")).ok())
            .flatten()
    })
}

/// Issue 17's VPC: an environment's network namespace holds its Runtime API (at
/// `127.0.0.1:9001`, as on AWS) and the AWS endpoint (plain and TLS, at the port its
/// `AWS_ENDPOINT_URL` names), and nothing else: not a listener on the host's loopback or on
/// the host's own address, not the edge, not another environment's Runtime API. A function the
/// manifest grants `egress = true` shares the host's network and reaches all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_an_environment_reaches_only_its_runtime_api_and_the_endpoint_unless_granted_egress()
 {
    let test = "issue_17_an_environment_reaches_only_its_runtime_api_and_the_endpoint_unless_granted_egress";
    if !std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    }) {
        nuvem_testkit::missing_tool(test, "needs root (network namespaces)");
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
    std::fs::write(src.path().join("index.js"), PROBER).unwrap();
    let code = src.path().display().to_string();
    let manifest = format!(
        "[[functions]]\nname = \"closed\"\nruntime = \"nodejs22.x\"\nhandler = \"index.handler\"\ncode = {code:?}\n\n\
         [[functions]]\nname = \"open\"\nruntime = \"nodejs22.x\"\nhandler = \"index.handler\"\ncode = {code:?}\negress = true\n",
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
    if !line.contains("runs as a user of its own") || line.contains("no namespaces") {
        // `node` out of other users' reach, or no util-linux: said by the other test.
        nuvem_testkit::missing_tool(test, &format!("no namespaces for functions: {line}"));
        return;
    }
    assert!(
        line.contains("mount, PID and network namespaces")
            && line.contains("egress granted to open"),
        "{line}"
    );

    // A listener of the host's, on every address: the loopback and (when the host has a
    // route) its own address.
    let host = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let mut outside = vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))];
    let own = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.255.255.255:9").map(|()| s))
        .and_then(|s| s.local_addr());
    if let Ok(own) = own
        && !own.ip().is_loopback()
    {
        outside.push(std::net::SocketAddr::new(own.ip(), port));
    }
    let addr = |url: &str| -> std::net::SocketAddr {
        url.split("://")
            .nth(1)
            .unwrap()
            .trim_end_matches('/')
            .parse()
            .unwrap()
    };
    let (api, edge) = (addr(&nuvem.api_url), addr(&nuvem.edge_url));
    let tls = addr(nuvem.api_tls_url.as_deref().unwrap());
    let lambda = nuvem.lambda();

    // The function granted egress: the host's network, its Runtime API on the host's loopback.
    let mut targets: Vec<(Value, String)> = outside.iter().map(|a| target(*a)).collect();
    let got = invoke(
        &lambda,
        "open",
        json!({ "targets": targets.iter().map(|t| t.0.clone()).collect::<Vec<_>>() }),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert_eq!(got.function_error, None, "{}", got.log);
    let open = got.payload;
    for (_, name) in &targets {
        assert_eq!(open["reached"][name], true, "egress to {name}: {open}");
    }
    assert_eq!(open["health"], 200, "{open}");
    let open_api: std::net::SocketAddr = open["api"].as_str().unwrap().parse().unwrap();
    assert!(open_api.ip().is_loopback(), "{open}");

    // The closed one: none of those, nor the edge, nor the other environment's Runtime API
    // (warm, on the host's loopback); the endpoint, plain and TLS, at the same port.
    targets.push(target(edge));
    targets.push(target(open_api));
    let inside = [
        target(std::net::SocketAddr::from(([127, 0, 0, 1], api.port()))),
        target(std::net::SocketAddr::from(([127, 0, 0, 1], tls.port()))),
    ];
    let got = invoke(
        &lambda,
        "closed",
        json!({ "targets": targets.iter().chain(&inside).map(|t| t.0.clone()).collect::<Vec<_>>() }),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert_eq!(got.function_error, None, "{}", got.log);
    let closed = got.payload;
    for (_, name) in &targets {
        assert_eq!(
            closed["reached"][name], false,
            "{name} was reachable: {closed}"
        );
    }
    for (_, name) in &inside {
        assert_eq!(closed["reached"][name], true, "{name} inside: {closed}");
    }
    assert_eq!(closed["api"], "127.0.0.1:9001", "{closed}");
    assert_eq!(closed["endpoint"], json!(nuvem.api_url), "{closed}");
    assert_eq!(closed["health"], 200, "the endpoint from inside: {closed}");

    // Its processes are in a network namespace that is not the host's; the open one's are.
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let ns = netns_of_uid(closed["uid"].as_u64().unwrap()).expect("the closed environment runs");
    assert_ne!(ns, host_ns);
    let open_ns = netns_of_uid(open["uid"].as_u64().unwrap()).expect("the open environment runs");
    assert_eq!(open_ns, host_ns);
    drop(host);
}

/// Issue 17 without namespaces (here: `unshare` and `setpriv` off nuvem's `PATH`): `up` says
/// the network isolation is missing, and environments work as before on the host's network,
/// their Runtime API on the host's loopback (behind the peer check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_without_namespaces_up_says_the_network_is_not_isolated() {
    let test = "issue_17_without_namespaces_up_says_the_network_is_not_isolated";
    let Ok(node) = std::process::Command::new("sh")
        .args(["-c", "command -v node"])
        .output()
    else {
        nuvem_testkit::missing_tool(test, "needs sh");
        return;
    };
    let node = String::from_utf8_lossy(&node.stdout).trim().to_string();
    let kill = std::process::Command::new("sh")
        .args(["-c", "command -v kill; command -v sh"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if node.is_empty() {
        nuvem_testkit::missing_tool(test, "needs node");
        return;
    }
    // A PATH with what functions need and neither `unshare` nor `setpriv`.
    let bin = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for tool in std::iter::once(node.as_str()).chain(kill.lines()) {
        let tool = std::path::Path::new(tool);
        if tool.is_absolute() {
            std::os::unix::fs::symlink(tool, bin.path().join(tool.file_name().unwrap())).unwrap();
        }
    }
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("index.js"), PROBER).unwrap();
    let manifest = format!(
        "[[functions]]\nname = \"prober\"\nruntime = \"nodejs22.x\"\nhandler = \"index.handler\"\ncode = {:?}\n",
        src.path().display().to_string()
    );
    let nuvem = Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        Options {
            manifest: Some(manifest),
            env: vec![("PATH".into(), Some(bin.path().display().to_string()))],
            ..Default::default()
        },
    );
    let line = nuvem
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("isolation"))
        .cloned()
        .unwrap_or_default();
    assert!(
        line.contains("no network isolation: functions share the host's network"),
        "{line}"
    );
    assert!(!line.contains("network namespaces ("), "{line}");

    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (value, name) = target(host.local_addr().unwrap());
    let got = invoke(
        &nuvem.lambda(),
        "prober",
        json!({ "targets": [value] }),
        InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert_eq!(got.function_error, None, "{}", got.log);
    let report = got.payload;
    // FIXME (issue 17): without namespaces a function reaches the host's listeners.
    assert_eq!(report["reached"][&name], true, "{report}");
    assert_eq!(report["health"], 200, "{report}");
    let api: std::net::SocketAddr = report["api"].as_str().unwrap().parse().unwrap();
    assert!(api.ip().is_loopback() && api.port() != 9001, "{report}");
}

/// Its uid, what it sees of the paths in the event (a folder's entries, a file's text, or
/// the error), whether any `/proc/*/environ` it can read holds the secret, which `[host,
/// port]` targets it can connect to, the endpoint's health from inside, and a boto3 call
/// with its role's credentials.
const PY_PROBER: &str = r#"
import json, os, socket, urllib.request

def look(p):
    try:
        if os.path.isdir(p):
            return {"entries": sorted(os.listdir(p))}
        with open(p) as f:
            return {"text": f.read()}
    except OSError as e:
        return {"error": type(e).__name__}

def reach(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False

def handler(event, context):
    found = False
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    found = found or event["secret"].encode() in f.read()
            except OSError:
                pass
    try:
        with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/_nuvem/health", timeout=5) as r:
            health = r.status
    except Exception as e:
        health = repr(e)
    import boto3
    try:
        names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    except Exception as e:
        names = repr(e)
    return {
        "uid": os.getuid(),
        "paths": {p: look(p) for p in event["paths"]},
        "found": found,
        "reached": {f"{h}:{p}": reach(h, p) for h, p in event["targets"]},
        "health": health,
        "boto3": boto3.__file__,
        "functions": names,
        "session": "AWS_SESSION_TOKEN" in os.environ,
    }
"#;

const PY_HOLDER: &str =
    "import os\n\ndef handler(event, context):\n    return {'secret': os.environ['SECRET']}\n";

/// A `provided` bootstrap (the Runtime API loop in the `python3` its `PATH` finds) that
/// answers its uid and `PATH`.
const PROVIDED_BOOTSTRAP: &str = r#"#!/bin/sh
exec python3 -c '
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        r.read()
    body = json.dumps({"uid": os.getuid(), "path": os.environ.get("PATH", "")}).encode()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=body, method="POST")).read()
'
"#;

/// The real installation prefix of the `python3` on `PATH` (its interpreter's `bin`'s
/// parent), and the topmost of its ancestors other users cannot traverse, if any.
fn python_prefix_and_cover() -> (std::path::PathBuf, Option<std::path::PathBuf>) {
    use std::os::unix::fs::MetadataExt;
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, sys; print(os.path.realpath(sys.executable))",
        ])
        .output()
        .expect("python3");
    let real = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let prefix = real.parent().unwrap().parent().unwrap().to_path_buf();
    let cover = prefix
        .ancestors()
        .skip(1)
        .filter(|a| std::fs::metadata(a).is_ok_and(|m| m.mode() & 0o001 == 0))
        .last()
        .map(std::path::Path::to_path_buf);
    (prefix, cover)
}

/// Issue 17 with a Python whose installation sits under a private home (pyenv under `/root`,
/// 0700, as on CI): Python and `provided` functions no longer run as root. The installation
/// is bound read-only into each environment's mount namespace over an empty `/root`, so a
/// Python function runs as its own uid, imports boto3 and calls the endpoint with its role's
/// credentials from its own network namespace, sees nothing else of `/root`, reaches no host
/// listener, and cannot read another function's environment. A `provided` function runs as
/// its own uid with a `PATH` of reachable folders (the bound toolchain's `bin` first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_python_under_a_private_home_runs_as_its_user_in_its_namespaces() {
    let test = "issue_17_python_under_a_private_home_runs_as_its_user_in_its_namespaces";
    if !std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    }) {
        nuvem_testkit::missing_tool(test, "needs root (environments as users of their own)");
        return;
    }
    if !crate::have_boto3(test) {
        return;
    }
    let (prefix, cover) = python_prefix_and_cover();
    let src = tempfile::tempdir().unwrap();
    for (name, file, code) in [
        ("holder", "index.py", PY_HOLDER),
        ("pyprobe", "index.py", PY_PROBER),
        ("native", "bootstrap", PROVIDED_BOOTSTRAP),
    ] {
        std::fs::create_dir_all(src.path().join(name)).unwrap();
        std::fs::write(src.path().join(name).join(file), code).unwrap();
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let bootstrap = src.path().join("native/bootstrap");
        std::fs::set_permissions(bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let code = |name: &str| src.path().join(name).display().to_string();
    let manifest = format!(
        "[[functions]]\nname = \"holder\"\nruntime = \"python3.12\"\nhandler = \"index.handler\"\ncode = {:?}\nenv = {{ SECRET = {SECRET:?} }}\n\n\
         [[functions]]\nname = \"pyprobe\"\nruntime = \"python3.12\"\nhandler = \"index.handler\"\ncode = {:?}\ntimeout_seconds = 30\n\
         permissions = [{{ actions = [\"lambda:ListFunctions\"], resources = [\"*\"] }}]\n\n\
         [[functions]]\nname = \"native\"\nruntime = \"provided.al2023\"\ncode = {:?}\n",
        code("holder"),
        code("pyprobe"),
        code("native"),
    );
    let nuvem = Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let line = nuvem
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("isolation"))
        .cloned()
        .unwrap_or_default();
    if !line.contains("runs as a user of its own") || line.contains("no namespaces") {
        nuvem_testkit::missing_tool(test, &format!("no namespaces for functions: {line}"));
        return;
    }
    // The runtimes of each "except <runtimes> functions, which run as root: <why>" clause.
    let as_root: Vec<&str> = line
        .split("; except ")
        .skip(1)
        .filter_map(|c| c.split_once(" functions, which run as root"))
        .map(|(runtimes, _)| runtimes)
        .collect();
    assert!(
        as_root
            .iter()
            .all(|r| !r.contains("Python") && !r.contains("provided")),
        "Python and provided functions run as their users: {line}"
    );
    match &cover {
        Some(cover) => assert!(
            line.contains(&format!(
                "Python's interpreter ({}) is bound read-only into Python and provided environments, the rest of {} hidden",
                prefix.display(),
                cover.display()
            )),
            "{line}"
        ),
        None => nuvem_testkit::missing_tool(
            test,
            &format!(
                "python3 ({}) is not under a private folder: only its user and namespaces are checked",
                prefix.display()
            ),
        ),
    }
    let lambda = nuvem.lambda();
    let rr = InvocationType::RequestResponse;
    let held = invoke(&lambda, "holder", json!({}), rr.clone())
        .await
        .unwrap();
    assert_eq!(held.payload["secret"], SECRET, "{}", held.log);

    // A folder of the private home that others could read were the home traversable.
    let private = cover.as_ref().map(|cover| {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("nuvem-e2e-private")
            .tempdir_in(cover)
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, SECRET).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        (dir, file)
    });
    let mut paths: Vec<String> = Vec::new();
    if let (Some(cover), Some((dir, file))) = (&cover, &private) {
        paths.extend([cover, dir.path(), file].map(|p| p.display().to_string()));
    }
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let outside = target(host.local_addr().unwrap());
    let api_port = nuvem.api_url.rsplit(':').next().unwrap();
    let endpoint = target(
        format!("127.0.0.1:{}", api_port.trim_end_matches('/'))
            .parse()
            .unwrap(),
    );
    let got = invoke(
        &lambda,
        "pyprobe",
        json!({ "secret": SECRET, "paths": paths, "targets": [outside.0, endpoint.0] }),
        rr.clone(),
    )
    .await
    .unwrap();
    assert_eq!(got.function_error, None, "{}", got.log);
    let report = got.payload;
    let uid = report["uid"].as_u64().unwrap();
    assert_ne!(uid, 0, "{report}");
    assert_eq!(
        report["found"], false,
        "another function's environ: {report}"
    );
    assert!(
        report["boto3"]
            .as_str()
            .is_some_and(|f| f.starts_with(&prefix.display().to_string())),
        "boto3 from the toolchain's site-packages: {report}"
    );
    assert_eq!(report["health"], 200, "the endpoint from inside: {report}");
    assert_eq!(report["session"], true, "{report}");
    assert!(
        report["functions"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("pyprobe"))),
        "boto3 with the role's credentials: {report}"
    );
    assert_eq!(
        report["reached"][&outside.1], false,
        "a host listener: {report}"
    );
    assert_eq!(
        report["reached"][&endpoint.1], true,
        "the endpoint: {report}"
    );
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let ns = netns_of_uid(uid).expect("the Python environment runs");
    assert_ne!(ns, host_ns, "a network namespace of its own");
    if let (Some(cover), Some((dir, file))) = (&cover, &private) {
        let first = prefix
            .strip_prefix(cover)
            .unwrap()
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let seen = &report["paths"];
        assert_eq!(
            seen[cover.display().to_string()],
            json!({ "entries": [first] }),
            "only the toolchain of {}: {report}",
            cover.display()
        );
        for hidden in [dir.path(), file.as_path()] {
            assert!(
                seen[hidden.display().to_string()]["error"].is_string(),
                "{} is hidden: {report}",
                hidden.display()
            );
        }
    }

    let got = invoke(&lambda, "native", json!({}), rr).await.unwrap();
    assert_eq!(got.function_error, None, "{}", got.log);
    let native = got.payload;
    assert!(native["uid"].as_u64().is_some_and(|u| u != 0), "{native}");
    let path = native["path"].as_str().unwrap_or_default();
    if let Some(cover) = &cover {
        for dir in std::env::split_paths(path) {
            assert!(
                !dir.starts_with(cover) || dir == prefix.join("bin"),
                "{} on a provided function's PATH: {native}",
                dir.display()
            );
        }
    }
    drop(host);
}
