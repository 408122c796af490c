//! Several `nuvem up` processes on one PostgreSQL database (issue #16): each with its own
//! data dir, the same manifest, started at the same moment. What one node changes, the other
//! serves: items (no lost update, transaction conflicts resolved like DynamoDB), WebACLs
//! (UpdateWebACL on one node blocks on the other's edge within a second), invalidations
//! (CreateInvalidation on one node clears the other's caches before it reports Completed).
//! The database restarted under load: clients see retryable errors, then success; no node
//! exits; no acknowledged write is lost. No store call ever blocks an async worker.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use nuvem_testkit::{Nuvem, Options};
use serde_json::{Value, json};

// The throwaway PostgreSQL server of the engine's own tests.
use crate::storage_postgres::pg_server;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// An HTTP origin whose pages say which version of the site is live (cacheable for 5 min).
async fn origin() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let version = Arc::new(AtomicUsize::new(1));
    let v = version.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let v = v.clone();
            let svc = hyper::service::service_fn(move |_req: http::Request<_>| {
                let page = format!("version {}", v.load(Ordering::SeqCst));
                async move {
                    let mut r = Response::new(Full::new(Bytes::from(page)));
                    r.headers_mut()
                        .insert("cache-control", "max-age=300".parse().unwrap());
                    Ok::<_, Infallible>(r)
                }
            });
            tokio::spawn(
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .into_owned(),
            );
        }
    });
    (url, version)
}

fn manifest(db: &str, origin: &str) -> String {
    format!(
        r#"
[server]
storage = "{db}"

[[tables]]
name = "counters"
partition_key = {{ name = "id", type = "S" }}

[[apis]]
name = "hello"

[[apis.routes]]
key = "GET /ping"
url = "{origin}/ping"

[distribution]

[[distribution.behaviors]]
path_pattern = "default"
origin = "{origin}"
"#
    )
}

/// Starts two nodes on one database at the same moment, with the same manifest.
fn start_two(manifest: &str) -> (Nuvem, Nuvem) {
    let options = Options {
        manifest: Some(manifest.to_string()),
        ..Options::default()
    };
    std::thread::scope(|s| {
        let a = s.spawn(|| Nuvem::start_with(BIN, options.clone()));
        let b = s.spawn(|| Nuvem::start_with(BIN, options.clone()));
        (a.join().unwrap(), b.join().unwrap())
    })
}

/// A client for the e2e tests' plain-HTTP calls (rustls with its provider chosen here).
pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("nuvem-e2e")
        .use_preconfigured_tls(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A request signed for `service` (with `x-amz-target` when given), as an SDK would send it.
async fn signed(
    method: &str,
    url: &str,
    service: &str,
    target: Option<&str>,
    body: &str,
) -> (u16, String) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new("test", "test", None, None, "e2e").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut headers = vec![];
    if let Some(t) = target {
        headers.push(("x-amz-target".to_string(), t.to_string()));
        headers.push((
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ));
    }
    let mut req = http::Request::builder()
        .method(method)
        .uri(url)
        .body(body.to_string())
        .unwrap();
    for (k, v) in &headers {
        req.headers_mut().insert(
            http::HeaderName::try_from(k.as_str()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    let (parts, body) = req.into_parts();
    let mut r = http()
        .request(parts.method, parts.uri.to_string())
        .body(body);
    for (k, v) in &parts.headers {
        r = r.header(k, v);
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn waf(nuvem: &Nuvem, op: &str, input: Value) -> Value {
    let target = format!("AWSWAF_20190729.{op}");
    let (status, body) = signed(
        "POST",
        &format!("{}/", nuvem.api_url),
        "wafv2",
        Some(&target),
        &input.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{op}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn worker_calls(nuvem: &Nuvem) -> Value {
    let health = crate::endpoint::health_detail(&nuvem.api_url).await;
    health["storage_detail"]["worker_calls"].clone()
}

fn key(id: &str) -> AttributeValue {
    AttributeValue::S(id.to_string())
}

async fn counter(nuvem: &Nuvem, id: &str) -> i64 {
    let item = nuvem
        .dynamodb()
        .get_item()
        .table_name("counters")
        .key("id", key(id))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    item.get("n")
        .and_then(|n| n.as_n().ok())
        .map_or(0, |n| n.parse().unwrap())
}

/// The XML element `name`'s text in `body`.
fn element<'a>(body: &'a str, name: &str) -> &'a str {
    body.split(&format!("<{name}>"))
        .nth(1)
        .and_then(|s| s.split(&format!("</{name}>")).next())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_database_serve_one_state() {
    let test = "two_nodes_on_one_database_serve_one_state";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let (origin_url, version) = origin().await;
    let (mut a, mut b) = start_two(&manifest(&server.url(), &origin_url));

    // Both came up; the manifest was applied once and kept by the other node.
    let said = |n: &Nuvem, what: &str| n.banner.iter().any(|l| l.contains(what));
    assert!(
        said(&a, "created table counters") != said(&b, "created table counters"),
        "exactly one node created the table: {:?} / {:?}",
        a.banner,
        b.banner
    );
    assert!(said(&a, "kept table counters") || said(&b, "kept table counters"));
    for n in [&a, &b] {
        let tables = n.dynamodb().list_tables().send().await.unwrap();
        assert_eq!(tables.table_names(), ["counters"]);
        let acls = waf(n, "ListWebACLs", json!({"Scope": "CLOUDFRONT"})).await;
        assert_eq!(acls["WebACLs"].as_array().unwrap().len(), 1, "{acls}");
        let (status, apis) = signed(
            "GET",
            &format!("{}/v2/apis", n.api_url),
            "apigateway",
            None,
            "",
        )
        .await;
        assert_eq!(status, 200, "{apis}");
        let apis: Value = serde_json::from_str(&apis).unwrap();
        assert_eq!(apis["items"].as_array().unwrap().len(), 1, "{apis}");
    }

    // 8 clients adding through both nodes lose no update.
    let mut clients = Vec::new();
    for c in 0..8 {
        let ddb = if c % 2 == 0 {
            a.dynamodb()
        } else {
            b.dynamodb()
        };
        clients.push(tokio::spawn(async move {
            for _ in 0..25 {
                ddb.update_item()
                    .table_name("counters")
                    .key("id", key("hits"))
                    .update_expression("ADD n :one")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(counter(&a, "hits").await, 200);
    assert_eq!(counter(&b, "hits").await, 200);

    // Conflicting transactions across nodes: both read version v, both write "v → v+1" on
    // condition; one wins, the other is cancelled (never both applied against stale state).
    let mut applied = 0;
    for round in 0..10 {
        let v = counter(&a, "tx").await;
        let send = |ddb: aws_sdk_dynamodb::Client| async move {
            let update = Update::builder()
                .table_name("counters")
                .key("id", key("tx"))
                .update_expression("SET n = :next")
                .condition_expression("attribute_not_exists(n) OR n = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string()))
                .expression_attribute_values(":next", AttributeValue::N((v + 1).to_string()))
                .build()
                .unwrap();
            ddb.transact_write_items()
                .transact_items(TransactWriteItem::builder().update(update).build())
                .send()
                .await
        };
        let (ra, rb) = tokio::join!(send(a.dynamodb()), send(b.dynamodb()));
        let mut wins = 0;
        for r in [ra, rb] {
            match r {
                Ok(_) => wins += 1,
                Err(e) => {
                    assert_eq!(
                        e.code(),
                        Some("TransactionCanceledException"),
                        "round {round}: {e:?}"
                    );
                    let reasons = format!("{e:?}");
                    assert!(
                        reasons.contains("ConditionalCheckFailed")
                            || reasons.contains("TransactionConflict"),
                        "round {round}: {reasons}"
                    );
                }
            }
        }
        assert_eq!(wins, 1, "round {round}: exactly one transaction wins");
        applied += wins;
    }
    assert_eq!(counter(&b, "tx").await, applied);

    // CreateInvalidation on A clears B's caches before A reports Completed.
    let page_a = format!("{}/page.html", a.edge_url);
    let page_b = format!("{}/page.html", b.edge_url);
    let visitor = http();
    for page in [&page_a, &page_b, &page_b] {
        let body = visitor
            .get(page)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "version 1");
    }
    let cached = visitor.get(&page_b).send().await.unwrap();
    assert_eq!(cached.headers()["x-cache"], "Hit from nuvem");
    version.store(2, Ordering::SeqCst);
    let base = format!(
        "{}/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation",
        a.api_url
    );
    let batch = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
        <Paths><Quantity>1</Quantity><Items><Path>/page.html</Path></Items></Paths>\
        <CallerReference>deploy-2</CallerReference></InvalidationBatch>";
    let (status, created) = signed("POST", &base, "cloudfront", None, batch).await;
    assert_eq!(status, 201, "{created}");
    let id = element(&created, "Id").to_string();
    let started = Instant::now();
    loop {
        let (status, got) = signed("GET", &format!("{base}/{id}"), "cloudfront", None, "").await;
        assert_eq!(status, 200, "{got}");
        if element(&got, "Status") == "Completed" {
            break;
        }
        assert_eq!(element(&got, "Status"), "InProgress", "{got}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the invalidation completes within seconds"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for page in [&page_b, &page_a] {
        let body = visitor
            .get(page)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "version 2", "{page} after Completed");
    }
    // The CLI, pointed at B, waits until both nodes cleared the path.
    version.store(3, Ordering::SeqCst);
    let out = std::process::Command::new(BIN)
        .args(["invalidate", "--endpoint", &b.api_url, "/page.html"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Completed (1 paths)"), "{stdout}");
    for page in [&page_a, &page_b] {
        let body = visitor
            .get(page)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "version 3", "{page} after the CLI said Completed");
    }
    version.store(2, Ordering::SeqCst);
    // B lists the same invalidation.
    let (_, listed) = signed(
        "GET",
        &base.replace(&a.api_url, &b.api_url),
        "cloudfront",
        None,
        "",
    )
    .await;
    assert!(listed.contains(&id), "{listed}");

    // UpdateWebACL on A (a rule that blocks a path) blocks on B's edge within a second.
    let blocked = format!("{}/blockme.html", b.edge_url);
    assert_eq!(visitor.get(&blocked).send().await.unwrap().status(), 200);
    let summary =
        waf(&a, "ListWebACLs", json!({"Scope": "CLOUDFRONT"})).await["WebACLs"][0].clone();
    let got = waf(
        &a,
        "GetWebACL",
        json!({"Scope": "CLOUDFRONT", "Name": summary["Name"], "Id": summary["Id"]}),
    )
    .await;
    let acl = &got["WebACL"];
    let mut rules = vec![json!({
        "Name": "block-path", "Priority": 0, "Action": {"Block": {}},
        "Statement": {"ByteMatchStatement": {
            "SearchString": "blockme", "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            "PositionalConstraint": "CONTAINS"}},
        "VisibilityConfig": {"SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": false,
                             "MetricName": "block-path"},
    })];
    for r in acl["Rules"].as_array().unwrap() {
        let mut r = r.clone();
        r["Priority"] = json!(r["Priority"].as_i64().unwrap() + 1);
        rules.push(r);
    }
    waf(
        &a,
        "UpdateWebACL",
        json!({"Scope": "CLOUDFRONT", "Name": acl["Name"], "Id": acl["Id"],
               "DefaultAction": acl["DefaultAction"], "Rules": rules,
               "VisibilityConfig": acl["VisibilityConfig"], "LockToken": got["LockToken"]}),
    )
    .await;
    let updated = Instant::now();
    loop {
        let status = visitor.get(&blocked).send().await.unwrap().status();
        if status == 403 {
            break;
        }
        assert!(
            updated.elapsed() < Duration::from_secs(1),
            "B blocks within 1 s of UpdateWebACL on A (still {status})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(visitor.get(&page_b).send().await.unwrap().status(), 200);

    // A route created on A answers on B within a second.
    let (_, apis) = signed(
        "GET",
        &format!("{}/v2/apis", a.api_url),
        "apigateway",
        None,
        "",
    )
    .await;
    let api_id = serde_json::from_str::<Value>(&apis).unwrap()["items"][0]["apiId"]
        .as_str()
        .unwrap()
        .to_string();
    let integration = json!({"integrationType": "HTTP_PROXY", "integrationMethod": "ANY",
                             "integrationUri": format!("{origin_url}/new")});
    let (status, created) = signed(
        "POST",
        &format!("{}/v2/apis/{api_id}/integrations", a.api_url),
        "apigateway",
        None,
        &integration.to_string(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let target = format!(
        "integrations/{}",
        serde_json::from_str::<Value>(&created).unwrap()["integrationId"]
            .as_str()
            .unwrap()
    );
    let (status, created) = signed(
        "POST",
        &format!("{}/v2/apis/{api_id}/routes", a.api_url),
        "apigateway",
        None,
        &json!({"routeKey": "GET /new", "target": target}).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let route_created = Instant::now();
    let port = b.api_url.rsplit(':').next().unwrap();
    loop {
        let resp = visitor
            .get(format!("{}/new", b.api_url))
            .header(
                "host",
                format!("{api_id}.execute-api.localhost.localstack.cloud:{port}"),
            )
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            assert_eq!(resp.text().await.unwrap(), "version 2");
            break;
        }
        assert!(
            route_created.elapsed() < Duration::from_secs(1),
            "B serves A's new route within 1 s (still {})",
            resp.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for n in [&a, &b] {
        assert_eq!(worker_calls(n).await, 0, "no store call blocked a worker");
    }
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

/// Whether a client error is one a client retries (the database is away).
fn retryable(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InternalServerError" | "ServiceUnavailable" | "ThrottlingException")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_restarts_under_load() {
    let test = "the_database_restarts_under_load";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let (origin_url, _) = origin().await;
    let (mut a, mut b) = start_two(&manifest(&server.url(), &origin_url));

    // Clients write unique items through both nodes until told to stop, and remember what
    // was acknowledged and which errors they saw.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let restarted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recovered = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..4 {
        let ddb = if c % 2 == 0 {
            a.dynamodb()
        } else {
            b.dynamodb()
        };
        let (stop, restarted, recovered) = (stop.clone(), restarted.clone(), recovered.clone());
        clients.push(tokio::spawn(async move {
            let (mut acked, mut errors, mut after_restart) = (Vec::new(), Vec::new(), 0);
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("c{c}-{i}");
                i += 1;
                let put = ddb
                    .put_item()
                    .table_name("counters")
                    .item("id", key(&id))
                    .send()
                    .await;
                match put {
                    Ok(_) => {
                        acked.push(id);
                        if restarted.load(Ordering::SeqCst) {
                            if after_restart == 0 {
                                recovered.fetch_add(1, Ordering::SeqCst);
                            }
                            after_restart += 1;
                        }
                    }
                    Err(e) => {
                        let code = e.code().map(str::to_string);
                        assert!(
                            retryable(code.as_deref()) || e.as_service_error().is_none(),
                            "{e:?}"
                        );
                        errors.push(code);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (acked, errors, after_restart)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.start_again();
    restarted.store(true, Ordering::SeqCst);
    // Clients recover once the database is back (the nodes reconnect on their own).
    let back = Instant::now();
    while recovered.load(Ordering::SeqCst) < 4 && back.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acked = HashSet::new();
    let mut errors = 0;
    for c in clients {
        let (ids, errs, after) = c.await.unwrap();
        // A request may also span the outage (the engine retries a broken connection) and
        // succeed late: what matters is that every client is served again.
        assert!(
            after > 0,
            "every client succeeds again after the restart ({} errors)",
            errs.len()
        );
        errors += errs.len();
        acked.extend(ids);
    }
    assert!(errors > 0, "clients saw the outage");

    // No acknowledged write is lost: every item is there, read through either node.
    for (i, id) in acked.iter().enumerate() {
        let n = if i % 2 == 0 { &a } else { &b };
        let item = n
            .dynamodb()
            .get_item()
            .table_name("counters")
            .key("id", key(id))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        assert!(item.item.is_some(), "acknowledged {id} is stored");
    }
    for n in [&a, &b] {
        let health = crate::endpoint::health_detail(&n.api_url).await;
        assert_eq!(health["storage_state"], "ok", "{health}");
        assert_eq!(health["storage_detail"]["worker_calls"], 0, "{health}");
    }
    // Neither node exited: both still shut down cleanly.
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}
