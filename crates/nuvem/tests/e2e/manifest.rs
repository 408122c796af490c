//! `nuvem up` applies the manifest through the services' own API: declared tables exist after
//! start, survive restarts, and a second start creates nothing twice.

use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

const MANIFEST: &str = r#"
[[tables]]
name = "items"
partition_key = { name = "id", type = "S" }

[[tables]]
name = "events"
partition_key = { name = "stream", type = "S" }
sort_key = { name = "seq", type = "N" }
billing_mode = "PROVISIONED"
read_capacity = 7
write_capacity = 3
"#;

#[tokio::test]
async fn manifest_tables_are_created_once_and_persist() {
    let mut nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(MANIFEST.into()),
            ..Default::default()
        },
    );
    assert!(
        nuvem
            .banner
            .iter()
            .any(|l| l.contains("created table items")),
        "{:#?}",
        nuvem.banner
    );
    let ddb = nuvem.dynamodb();
    let events = ddb
        .describe_table()
        .table_name("events")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<_> = events
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("stream".into(), "HASH".into()),
            ("seq".into(), "RANGE".into())
        ]
    );
    let tp = events.provisioned_throughput().unwrap();
    assert_eq!(
        (tp.read_capacity_units(), tp.write_capacity_units()),
        (Some(7), Some(3))
    );

    ddb.put_item()
        .table_name("items")
        .item("id", aws_sdk_dynamodb::types::AttributeValue::S("a".into()))
        .item(
            "title",
            aws_sdk_dynamodb::types::AttributeValue::S("first".into()),
        )
        .send()
        .await
        .unwrap();

    // A crash, then a second start on the same data dir: nothing is created again, and the
    // acknowledged item is there.
    nuvem.restart();
    assert!(
        !nuvem.banner.iter().any(|l| l.contains("created table")),
        "{:#?}",
        nuvem.banner
    );
    let ddb = nuvem.dynamodb();
    let names = ddb
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names
        .unwrap_or_default();
    assert_eq!(names, vec!["events".to_string(), "items".to_string()]);
    let got = ddb
        .get_item()
        .table_name("items")
        .key("id", aws_sdk_dynamodb::types::AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.item.unwrap()["title"],
        aws_sdk_dynamodb::types::AttributeValue::S("first".into())
    );
}

#[test]
fn invalid_manifest_table_is_refused_at_up() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("nuvem.toml");
    std::fs::write(
        &manifest,
        "[[tables]]\nname = \"x\"\npartition_key = { name = \"id\", type = \"Q\" }\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "up",
            "--api-addr",
            "127.0.0.1:0",
            "--edge-addr",
            "127.0.0.1:0",
            "--manifest",
        ])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tables[0]"), "{stderr}");
}
