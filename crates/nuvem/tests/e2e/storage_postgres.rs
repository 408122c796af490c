//! `nuvem up` on the PostgreSQL engine (`[server] storage = "postgres://…"`), end to end: a
//! throwaway PostgreSQL server, the real binary, aws-sdk clients. What is stored lives in the
//! database (a second nuvem with a fresh data dir sees it); while the database is down,
//! clients get retryable errors, and once it is back the same process serves again. Object
//! data lives in the database too: two nodes with their own data dirs serve the same objects,
//! multipart uploads span nodes, and a node killed mid-upload leaves nothing visible and
//! nothing that is not collected.

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
    // are there.
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

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(2_654_435_761).rotate_right(13) as u8 ^ seed)
        .collect()
}

async fn get_bytes(nuvem: &Nuvem, key: &str, range: Option<&str>) -> (Vec<u8>, String) {
    let out = nuvem
        .s3()
        .get_object()
        .bucket("media")
        .key(key)
        .set_range(range.map(str::to_string))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key} {range:?}: {e:?}"));
    let etag = out.e_tag().unwrap_or_default().to_string();
    (out.body.collect().await.unwrap().to_vec(), etag)
}

/// The store's `worker_calls` (store calls that blocked an async worker): must be 0.
async fn worker_calls(nuvem: &Nuvem) -> serde_json::Value {
    let health = crate::endpoint::health_detail(&nuvem.api_url).await;
    health["storage_detail"]["worker_calls"].clone()
}

/// The blob heads in the database, by state (`Pending`, `Live`, `Gone`).
async fn blob_states(url: &str) -> Vec<String> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let engine = nuvem_store_pg::PgEngine::open(nuvem_store_pg::PgOptions::new(url)).unwrap();
        let store = nuvem_store::Store::new(engine);
        nuvem_store::blobs::StoreBlobs::heads(&*store.snapshot())
            .unwrap()
            .into_iter()
            .map(|(_, h)| format!("{:?}", h.state))
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_on_postgres_are_shared_by_nodes_and_crashes_leave_nothing() {
    let test = "objects_on_postgres_are_shared_by_nodes_and_crashes_leave_nothing";
    let Some(server) = pg_server::PgServer::start(test, true) else {
        return;
    };
    let url = server.url();
    // A short grace period, so that the crashed upload is collected within the test.
    let manifest = format!(
        "[server]\nstorage = \"{url}\"\nblob_grace_secs = 2\n\n[[buckets]]\nname = \"media\"\n"
    );
    let options = Options {
        manifest: Some(manifest),
        ..Options::default()
    };
    // Two nodes, each with a data dir of its own, on one database.
    let mut a = Nuvem::start_with(BIN, options.clone());
    let b = Nuvem::start_with(BIN, options.clone());
    assert_ne!(a.dir(), b.dir());

    // A large object streamed into A (64 chunks) is read back, whole and by ranges, on B.
    const MIB: usize = 1 << 20;
    let big = pattern(64 * MIB + 12_345, 1);
    let put = a
        .s3()
        .put_object()
        .bucket("media")
        .key("big")
        .body(big.clone().into())
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_string();
    let (got, got_etag) = get_bytes(&b, "big", None).await;
    assert!(
        got == big,
        "B reads back what A stored ({} bytes)",
        got.len()
    );
    assert_eq!(got_etag, etag);
    for (range, from, to) in [
        ("bytes=0-0", 0, 1),
        ("bytes=1048570-3145740", 1_048_570, 3_145_741),
        ("bytes=67108864-", 64 * MIB, big.len()),
        ("bytes=-100", big.len() - 100, big.len()),
    ] {
        let (part, _) = get_bytes(&b, "big", Some(range)).await;
        assert!(part == big[from..to], "range {range}: {} bytes", part.len());
    }
    let listed = b
        .s3()
        .list_objects_v2()
        .bucket("media")
        .send()
        .await
        .unwrap();
    let sizes: Vec<(String, i64)> = listed
        .contents()
        .iter()
        .map(|o| (o.key().unwrap().to_string(), o.size().unwrap()))
        .collect();
    assert_eq!(sizes, vec![("big".to_string(), big.len() as i64)]);

    // A 100 MiB multipart upload whose parts go through A and B in turn, completed on B.
    let parts: Vec<Vec<u8>> = (0..9u8)
        .map(|i| pattern(11 * MIB, 2 + i))
        .chain([pattern(MIB + 777, 11)])
        .collect();
    let up = a
        .s3()
        .create_multipart_upload()
        .bucket("media")
        .key("multi")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let node = if i % 2 == 1 { &b } else { &a };
        let n = i32::try_from(i + 1).unwrap();
        let p = node
            .s3()
            .upload_part()
            .bucket("media")
            .key("multi")
            .upload_id(id)
            .part_number(n)
            .body(data.clone().into())
            .send()
            .await
            .unwrap();
        done.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    let completed = b
        .s3()
        .complete_multipart_upload()
        .bucket("media")
        .key("multi")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        completed.e_tag().unwrap().ends_with("-10\""),
        "{completed:?}"
    );
    let whole = parts.concat();
    for node in [&a, &b] {
        let (got, got_etag) = get_bytes(node, "multi", None).await;
        assert!(
            got == whole,
            "multipart object read back ({} bytes)",
            got.len()
        );
        assert_eq!(Some(got_etag.as_str()), completed.e_tag());
    }
    assert_eq!(whole.len(), 100 * MIB + 777);
    // 11 MiB parts: a range across the first and second part boundaries.
    let edge = 11 * MIB;
    let (tail, _) = get_bytes(
        &a,
        "multi",
        Some(&format!("bytes={}-{}", edge - 10, edge + 10)),
    )
    .await;
    assert!(tail == whole[edge - 10..edge + 11], "range across parts");

    // No store call blocked an async worker on either node.
    assert_eq!(worker_calls(&a).await, 0, "node A");
    assert_eq!(worker_calls(&b).await, 0, "node B");

    // Overwritten and deleted objects' data is collected once readers had their grace period.
    a.s3()
        .delete_object()
        .bucket("media")
        .key("multi")
        .send()
        .await
        .unwrap();
    let mut waited = 0;
    loop {
        let states = blob_states(&url).await;
        if states == ["Live"] {
            break;
        }
        assert!(
            waited < 100,
            "deleted object's blobs not collected: {states:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        waited += 1;
    }

    // A is killed in the middle of a large upload: nothing is visible, and B collects what
    // A had written once it is idle past the grace period.
    let crash = pattern(128 * MIB, 5);
    let s3 = a.s3();
    let upload = tokio::spawn(async move {
        s3.put_object()
            .bucket("media")
            .key("crash")
            .body(crash.into())
            .send()
            .await
    });
    let mut waited = 0;
    while !blob_states(&url).await.iter().any(|s| s == "Pending") {
        assert!(waited < 1000, "the upload never began writing chunks");
        assert!(
            !upload.is_finished(),
            "the upload ended before it was killed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    a.kill();
    assert!(upload.await.unwrap().is_err(), "the killed upload failed");
    let head = b
        .s3()
        .head_object()
        .bucket("media")
        .key("crash")
        .send()
        .await;
    assert!(head.is_err(), "no visible half-object");
    let mut waited = 0;
    loop {
        let states = blob_states(&url).await;
        if states == ["Live"] {
            break;
        }
        assert!(
            waited < 100,
            "the crashed upload's chunks were not collected: {states:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        waited += 1;
    }
    let listed = b
        .s3()
        .list_objects_v2()
        .bucket("media")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 1, "only `big` is listed");
    assert_eq!(worker_calls(&b).await, 0, "node B, after the sweeps");
}
