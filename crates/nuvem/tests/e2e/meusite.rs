//! The bundled example site (examples/meusite) through the real binary: its manifest as
//! shipped (only the function's code points at a prebuilt `meusite-api` instead of building
//! it in release mode), used through the public edge like a visitor's browser would (page,
//! API, presigned upload to the media bucket, media through the cache), then a restart on the
//! same data dir: the data is there and no resource is created twice. The real browser drives
//! the same site in `meusite_browser`.

use std::path::{Path, PathBuf};
use std::process::Command;

use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const EXAMPLE_MANIFEST: &str = include_str!("../../../../examples/meusite/nuvem.toml");

/// The example's folder in the source tree.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/meusite")
}

/// Builds the example's API function (`cargo build -p meusite-api`, debug: fast to build,
/// and cargo makes a second call a no-op) and returns its `bootstrap` binary.
pub fn function_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "-p",
            "meusite-api",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "cargo build -p meusite-api failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .find(|p| p.file_name().is_some_and(|n| n == "bootstrap"))
        .expect("cargo reported the bootstrap executable")
}

/// The example's manifest with its relative paths made absolute and the prebuilt function.
pub fn manifest() -> String {
    manifest_with_function(Some(&function_binary()))
}

/// The example's manifest with its relative paths made absolute; the function is the
/// prebuilt `code` given, or (`None`) built by `up` from its cargo package as shipped.
pub fn manifest_with_function(code: Option<&Path>) -> String {
    let dir = example_dir().canonicalize().expect("the example folder");
    let replace = |text: String, from: &str, to: String| {
        assert!(text.contains(from), "the example manifest has {from:?}");
        text.replace(from, &to)
    };
    let mut m = EXAMPLE_MANIFEST.to_string();
    if let Some(code) = code {
        m = replace(
            m,
            "cargo_package = \"meusite-api\"",
            format!("code = {:?}", code.display().to_string()),
        );
    }
    let m = replace(
        m,
        "files = \"site\"",
        format!("files = {:?}", dir.join("site").display().to_string()),
    );
    replace(
        m,
        "web_acl = \"waf.json\"",
        format!("web_acl = {:?}", dir.join("waf.json").display().to_string()),
    )
}

/// A visitor's HTTP client (browsers always send a User-Agent).
pub fn visitor() -> reqwest::Client {
    // Plain HTTP, but reqwest still wants a TLS provider chosen.
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .user_agent("Mozilla/5.0 (nuvem e2e)")
        .build()
        .unwrap()
}

/// GET through the edge: status, `X-Cache`, body.
pub async fn get(http: &reqwest::Client, url: &str) -> (u16, String, bytes::Bytes) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, cache, r.bytes().await.unwrap())
}

async fn post_json(http: &reqwest::Client, url: &str, body: &str) -> (u16, serde_json::Value) {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// Lines of the start-up banner that mention `what`.
fn lines<'a>(n: &'a Nuvem, what: &str) -> Vec<&'a str> {
    n.banner
        .iter()
        .filter(|l| l.contains(what))
        .map(String::as_str)
        .collect()
}

/// The example API's id, from its execute-api URL in the banner.
fn api_id(n: &Nuvem) -> String {
    let line = lines(n, "api meusite at http://").concat();
    let host = line.rsplit("http://").next().unwrap_or("");
    host.split('.').next().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_site_works_and_survives_a_restart() {
    let mut n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest()),
            ..Default::default()
        },
    );
    let http = visitor();
    let edge = n.edge_url.clone();
    for created in [
        "created table items",
        "created bucket meusite-static",
        "created bucket meusite-media",
        "created function api",
    ] {
        assert_eq!(lines(&n, created).len(), 1, "{created}: {:#?}", n.banner);
    }
    let first_api_id = api_id(&n);

    // The page, from the static bucket through the edge; unknown paths get the 404 page.
    let (status, _, page) = get(&http, &format!("{edge}/")).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("id=\"gallery\""));
    let (status, _, page) = get(&http, &format!("{edge}/no/such/page")).await;
    assert_eq!(status, 404);
    assert!(
        String::from_utf8_lossy(&page).contains("<html"),
        "the custom 404 page"
    );

    // Upload: the API hands out a presigned PUT, the file goes straight to the bucket.
    let (status, ticket) = post_json(
        &http,
        &format!("{edge}/api/uploads"),
        r#"{"title":"Pôr do sol","filename":"sunset.png","contentType":"image/png"}"#,
    )
    .await;
    assert_eq!(status, 201, "{ticket}");
    let upload_url = ticket["uploadUrl"].as_str().unwrap();
    assert!(upload_url.starts_with(&n.api_url), "{upload_url}");
    let put = http
        .put(upload_url)
        .header("content-type", "image/png")
        .body(b"\x89PNG not really".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200, "{:?}", put.text().await);
    let id = ticket["id"].as_str().unwrap().to_string();
    let media = format!("{edge}{}", ticket["url"].as_str().unwrap());
    assert!(media.contains("/media/"), "{media}");
    let (_, like) = post_json(&http, &format!("{edge}/api/items/{id}/like"), "{}").await;
    assert_eq!(like["likes"], 1);
    assert_eq!(get(&http, &media).await.0, 200);

    // Stop (gracefully), start again on the same data dir.
    assert!(n.terminate().success());
    n.restart();
    let edge = n.edge_url.clone();
    assert!(lines(&n, "created").is_empty(), "{:#?}", n.banner);
    assert_eq!(lines(&n, "kept table items").len(), 1, "{:#?}", n.banner);
    assert_eq!(api_id(&n), first_api_id, "the API keeps its id");

    let (status, _, body) = get(&http, &format!("{edge}/api/items")).await;
    assert_eq!(status, 200);
    let items: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let items = items["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["title"], "Pôr do sol");
    assert_eq!(items[0]["likes"], 1);
    let media = format!("{edge}{}", items[0]["url"].as_str().unwrap());
    let (status, _, data) = get(&http, &media).await;
    assert_eq!((status, &data[..]), (200, &b"\x89PNG not really"[..]));

    // Exactly the declared resources, once each.
    let buckets = n.s3().list_buckets().send().await.unwrap();
    let mut names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    names.sort();
    assert_eq!(names, ["meusite-media", "meusite-static"]);
    let tables = n.dynamodb().list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["items"]);
    let functions = n.lambda().list_functions().send().await.unwrap();
    assert_eq!(functions.functions().len(), 1);
    // The function runs with the role its manifest `permissions` stand for, and API Gateway
    // may invoke it from the manifest API.
    assert_eq!(
        functions.functions()[0].role(),
        Some("arn:aws:iam::000000000000:role/nuvem-fn-api")
    );
    let policy = n
        .lambda()
        .get_policy()
        .function_name("api")
        .send()
        .await
        .unwrap();
    assert!(
        policy
            .policy()
            .unwrap()
            .contains("apigateway.amazonaws.com"),
        "{policy:?}"
    );
    let static_files = n
        .s3()
        .list_objects_v2()
        .bucket("meusite-static")
        .send()
        .await
        .unwrap();
    let files = std::fs::read_dir(example_dir().join("site"))
        .unwrap()
        .count();
    assert_eq!(static_files.key_count(), Some(files as i32));
}

/// What the WAF of the example refuses at the edge, and what it lets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_waf_blocks_attacks_at_the_edge() {
    let n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest()),
            ..Default::default()
        },
    );
    let http = visitor();
    #[track_caller]
    fn check(got: (u16, String, bytes::Bytes), status: u16) {
        assert_eq!(got.0, status, "{}", String::from_utf8_lossy(&got.2));
        if status == 403 {
            assert!(String::from_utf8_lossy(&got.2).contains("Request ID: "));
        }
    }
    let edge = &n.edge_url;
    check(
        get(&http, &format!("{edge}/api/items?title=Praia")).await,
        200,
    );
    check(
        get(&http, &format!("{edge}/api/items?title=O%27Brien")).await,
        200,
    );
    check(
        get(
            &http,
            &format!("{edge}/api/items?title=1%27%20OR%20%271%27=%271"),
        )
        .await,
        403,
    );
    check(
        get(
            &http,
            &format!("{edge}/api/items?title=1%27%20UNION%20SELECT%20password%20FROM%20users--"),
        )
        .await,
        403,
    );
    check(
        get(
            &http,
            &format!("{edge}/?q=%3Cscript%3Ealert(1)%3C/script%3E"),
        )
        .await,
        403,
    );
    check(
        get(&http, &format!("{edge}/index.html?f=../../etc/passwd")).await,
        403,
    );
    check(get(&http, &format!("{edge}/style.css")).await, 200);

    // Bodies: the edge hands the WAF the first 16 KB of a POST (SQLi_BODY,
    // CrossSiteScripting_BODY), and what passes still reaches the API whole.
    let uploads = format!("{edge}/api/uploads");
    let form = "application/x-www-form-urlencoded";
    let json = "application/json";
    check(
        post(&http, &uploads, form, "title=1%27%20OR%20%271%27=%271").await,
        403,
    );
    check(
        post(
            &http,
            &uploads,
            json,
            r#"{"title":"x' UNION SELECT password FROM users--"}"#,
        )
        .await,
        403,
    );
    check(
        post(
            &http,
            &uploads,
            json,
            r#"{"title":"<script>alert(1)</script>"}"#,
        )
        .await,
        403,
    );
    let benign = r#"{"title":"O'Brien","filename":"a.png","contentType":"image/png"}"#;
    check(post(&http, &uploads, json, benign).await, 201);
    // Past 16 KB the body cannot be inspected whole, and nuvem's Common rule set blocks it
    // (SizeRestrictions_BODY; AWS's blocks bodies over 8 KB).
    let padded = format!("{{\"title\":\"{}\"}}", "a".repeat(20 * 1024));
    check(post(&http, &uploads, json, &padded).await, 403);
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: &str,
) -> (u16, String, bytes::Bytes) {
    let r = http
        .post(url)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), String::new(), r.bytes().await.unwrap())
}
