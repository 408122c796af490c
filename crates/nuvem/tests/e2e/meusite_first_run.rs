//! Issue 23, the first run: the example's function is built in the background, so the
//! static site is served at once while `/api/*` answers 503 with `Retry-After`; without
//! cargo, `up` says what to install and the site is still served. A stand-in `cargo` (a
//! shell script that waits for the test, then reports the prebuilt function like cargo's
//! `--message-format json` would) makes the build as slow as the test wants, for free.

use std::path::Path;

use nuvem_testkit::{Log, Nuvem, Options};

use crate::meusite::{function_binary, get, manifest_with_function, visitor};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// The test's `PATH` without the folders that hold a `cargo`, with `first` in front.
fn path_without_cargo(first: Option<&Path>) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).filter(|d| !d.join("cargo").exists());
    std::env::join_paths(first.map(Path::to_path_buf).into_iter().chain(dirs))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// What a visitor gets from `/api/items`: status, `Retry-After`, the message.
async fn api_items(http: &reqwest::Client, edge: &str) -> (u16, Option<String>, String) {
    let r = http.get(format!("{edge}/api/items")).send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (
        status,
        retry,
        body["message"].as_str().unwrap_or("").to_string(),
    )
}

/// Anonymous `/_nuvem/health`: status code and body.
async fn health(api_url: &str) -> (u16, serde_json::Value) {
    let r = visitor()
        .get(format!("{api_url}/_nuvem/health"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_23_site_is_served_while_the_function_builds() {
    let tools = tempfile::tempdir().unwrap();
    let gate = tools.path().join("go");
    let bootstrap = function_binary();
    let artifact = serde_json::json!({
        "reason": "compiler-artifact",
        "package_id": "path+file:///example#meusite-api@0.1.0",
        "fresh": false,
        "executable": bootstrap,
    });
    let cargo = tools.path().join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\nwhile [ ! -e '{}' ]; do sleep 0.1; done\necho '{artifact}'\n",
            gate.display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&cargo).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&cargo, perms).unwrap();
    let mut n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest_with_function(None)),
            log: Log::Default,
            env: vec![
                ("CARGO".into(), None),
                ("PATH".into(), Some(path_without_cargo(Some(tools.path())))),
            ],
            ..Default::default()
        },
    );
    let http = visitor();
    let edge = n.edge_url.clone();

    // Ready before the function is built: the page is served, the API asks to retry.
    assert!(
        !n.banner.iter().any(|l| l.contains("function api")),
        "{:#?}",
        n.banner
    );
    let (status, _, page) = get(&http, &format!("{edge}/")).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("id=\"gallery\""));
    let (status, retry, message) = api_items(&http, &edge).await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")), "{message}");
    assert!(
        message.contains("building (cargo build --release -p meusite-api)"),
        "{message}"
    );
    let (status, body) = health(&n.api_url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    let lambda = body["services"]["lambda"]["degraded"]
        .as_str()
        .unwrap_or("");
    assert!(lambda.contains("api: building"), "{body}");

    // The build finishes: the function is created and the API answers.
    std::fs::write(&gate, "").unwrap();
    let mut answered = None;
    for _ in 0..100 {
        let got = api_items(&http, &edge).await;
        if got.0 != 503 {
            answered = Some(got);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, _, _) = answered.expect("the API answers once the function is built");
    assert_eq!(status, 200);
    assert_eq!(health(&n.api_url).await.1["services"]["lambda"], "ready");
    let printed = n.drain_output();
    assert!(
        printed.iter().any(|l| l.contains("created function api")),
        "{printed:#?}"
    );
    let logged = n.drain_logs();
    assert!(
        logged.iter().any(|l| l.contains("building function api")),
        "{logged:#?}"
    );
    assert!(n.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_23_without_cargo_up_says_what_to_install_and_serves_the_site() {
    let n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest_with_function(None)),
            env: vec![
                ("CARGO".into(), None),
                ("PATH".into(), Some(path_without_cargo(None))),
            ],
            ..Default::default()
        },
    );
    let said: Vec<&String> = n
        .banner
        .iter()
        .filter(|l| l.contains("function api"))
        .collect();
    assert_eq!(said.len(), 1, "{:#?}", n.banner);
    assert!(
        said[0].contains("needs cargo") && said[0].contains("install Rust from https://rustup.rs"),
        "{said:?}"
    );
    let http = visitor();
    let (status, _, _) = get(&http, &format!("{}/", n.edge_url)).await;
    assert_eq!(status, 200);
    let (status, retry, message) = api_items(&http, &n.edge_url).await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")), "{message}");
    assert!(message.contains("https://rustup.rs"), "{message}");
    let (status, body) = health(&n.api_url).await;
    assert_eq!((status, &body["status"]), (200, &serde_json::json!("ok")));
    let lambda = body["services"]["lambda"]["degraded"]
        .as_str()
        .unwrap_or("");
    assert!(lambda.contains("api: needs cargo"), "{body}");
}

/// A Python function on a machine without `python3`: `up` says what to install, the
/// function is created but `Pending`, and Invoke says so (Lambda's conflict for a function
/// that is not `Active`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_23_without_python_up_says_what_to_install() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .filter(|d| !d.join("python3").exists() && !d.join("cargo").exists());
    let path = std::env::join_paths(dirs).unwrap();
    let n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(
                "[[functions]]\nname = \"py\"\nruntime = \"python3.12\"\nhandler = \"app.handler\"\ncode = \".\"\n"
                    .into(),
            ),
            env: vec![("PATH".into(), Some(path.to_string_lossy().into_owned()))],
            ..Default::default()
        },
    );
    let said: Vec<&String> = n
        .banner
        .iter()
        .filter(|l| l.contains("function py"))
        .collect();
    assert!(
        said.iter()
            .any(|l| l.contains("needs python3") && l.contains("install Python 3")),
        "{:#?}",
        n.banner
    );
    let err = n
        .lambda()
        .invoke()
        .function_name("py")
        .send()
        .await
        .expect_err("a pending function does not run");
    let err = err.into_service_error();
    assert!(err.is_resource_conflict_exception(), "{err:?}");
    let message = aws_sdk_lambda::error::ProvideErrorMetadata::message(&err).unwrap_or("");
    assert!(
        message.contains("state: Pending") && message.contains("needs python3"),
        "{message}"
    );
}
