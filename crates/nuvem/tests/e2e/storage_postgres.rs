//! `nuvem up` on the PostgreSQL engine (`[server] storage = "postgres://…"`), end to end: a
//! throwaway PostgreSQL server, the real binary, aws-sdk clients. What is stored lives in the
//! database (a second nuvem with a fresh data dir sees it); while the database is down,
//! clients get retryable errors, and once it is back the same process serves again.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use nuvem_testkit::{Nuvem, Options};

// The same throwaway-server helper as the engine's own tests.
#[allow(dead_code)]
#[path = "../../../store-pg/tests/support/mod.rs"]
pub(crate) mod pg_server;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

fn manifest(url: &str) -> String {
    format!(
        "[server]\nstorage = \"{url}\"\n\n[[tables]]\nname = \"items\"\n\
         partition_key = {{ name = \"id\", type = \"S\" }}\n\n[[buckets]]\nname = \"media\"\n"
    )
}

async fn get(nuvem: &Nuvem, id: &str) -> Result<Option<String>, String> {
    let out = nuvem
        .dynamodb()
        .get_item()
        .table_name("items")
        .key("id", AttributeValue::S(id.into()))
        .send()
        .await
        .map_err(|e| e.code().unwrap_or("no code").to_string())?;
    Ok(out
        .item
        .and_then(|i| i.get("v").and_then(|v| v.as_s().ok()).cloned()))
}

async fn put(nuvem: &Nuvem, id: &str, v: &str) -> Result<(), String> {
    nuvem
        .dynamodb()
        .put_item()
        .table_name("items")
        .item("id", AttributeValue::S(id.into()))
        .item("v", AttributeValue::S(v.into()))
        .send()
        .await
        .map(drop)
        .map_err(|e| e.code().unwrap_or("no code").to_string())
}

#[tokio::test]
async fn nuvem_on_postgres_keeps_state_in_the_database_and_survives_an_outage() {
    let test = "nuvem_on_postgres_keeps_state_in_the_database_and_survives_an_outage";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let options = Options {
        manifest: Some(manifest(&server.url())),
        ..Options::default()
    };
    let mut first = Nuvem::start_with(BIN, options.clone());
    assert!(
        first
            .banner
            .iter()
            .any(|l| l.contains("storage") && l.contains("postgres://nuvem@127.0.0.1")),
        "the banner names the storage: {:?}",
        first.banner
    );
    let health = crate::endpoint::health_detail(&first.api_url).await;
    assert_eq!(health["storage"], "postgres");
    assert_eq!(health["storage_state"], "ok");

    put(&first, "a", "1").await.unwrap();
    assert_eq!(get(&first, "a").await.unwrap().as_deref(), Some("1"));
    let s3 = first.s3();
    s3.put_object()
        .bucket("media")
        .key("k")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .unwrap();
    let listed = s3.list_objects_v2().bucket("media").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1, "object metadata listed");

    // Another nuvem, with a data dir of its own, on the same database: the table and the item
    // are there (object blobs stay in the first one's data dir: several nodes are future work).
    first.terminate();
    let second = Nuvem::start_with(BIN, options);
    assert_eq!(get(&second, "a").await.unwrap().as_deref(), Some("1"));

    // The database goes away: requests fail with a retryable 500, not a hang or an exit.
    server.stop();
    assert_eq!(
        get(&second, "a").await.unwrap_err(),
        "InternalServerError",
        "read while the database is down"
    );
    assert_eq!(
        put(&second, "b", "2").await.unwrap_err(),
        "InternalServerError",
        "write while the database is down"
    );
    let health = crate::endpoint::health_detail(&second.api_url).await;
    assert_eq!(health["status"], "ok", "the process itself is fine");
    assert_eq!(health["storage_state"], "unreachable", "{health}");
    assert!(
        health["storage_detail"]["unreachable"].is_string(),
        "a signed caller sees why: {health}"
    );
    server.start_again();
    // Back: the same process reconnects.
    put(&second, "c", "3").await.unwrap();
    assert_eq!(get(&second, "a").await.unwrap().as_deref(), Some("1"));
    assert_eq!(get(&second, "c").await.unwrap().as_deref(), Some("3"));
    let health = crate::endpoint::health_detail(&second.api_url).await;
    assert_eq!(health["storage_state"], "ok", "{health}");
}
