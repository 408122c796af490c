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

/// Secondary indexes declared in the manifest: made with the table; a global index added to
/// the manifest later is added to the kept table (backfilled) at the next `up`.
#[tokio::test]
async fn issue_18_manifest_indexes() {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let table = r#"
[[tables]]
name = "posts"
partition_key = { name = "author", type = "S" }
sort_key = { name = "id", type = "S" }

[[tables.global_indexes]]
name = "by-tag"
partition_key = { name = "tag", type = "S" }
sort_key = { name = "at", type = "N" }
projection = "INCLUDE"
non_key_attributes = ["title"]

[[tables.local_indexes]]
name = "by-at"
sort_key = { name = "at", type = "N" }
projection = "KEYS_ONLY"
"#;
    let mut n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(table.into()),
            ..Default::default()
        },
    );
    let ddb = n.dynamodb();
    for (author, id, tag, at) in [
        ("ana", "1", "rust", "3"),
        ("bia", "2", "rust", "1"),
        ("ana", "3", "go", "2"),
    ] {
        ddb.put_item()
            .table_name("posts")
            .item("author", V::S(author.into()))
            .item("id", V::S(id.into()))
            .item("tag", V::S(tag.into()))
            .item("at", V::N(at.into()))
            .item("title", V::S(format!("post {id}")))
            .item("body", V::S("long".into()))
            .send()
            .await
            .unwrap();
    }
    let got = ddb
        .query()
        .table_name("posts")
        .index_name("by-tag")
        .key_condition_expression("tag = :t")
        .expression_attribute_values(":t", V::S("rust".into()))
        .send()
        .await
        .unwrap();
    let items = got.items();
    let ids: Vec<_> = items
        .iter()
        .map(|i| i["id"].as_s().unwrap().as_str())
        .collect();
    assert_eq!(ids, ["2", "1"], "ordered by `at`");
    assert!(
        items
            .iter()
            .all(|i| i.contains_key("title") && !i.contains_key("body")),
        "{items:?}"
    );
    let local = ddb
        .query()
        .table_name("posts")
        .index_name("by-at")
        .key_condition_expression("author = :a")
        .expression_attribute_values(":a", V::S("ana".into()))
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = local
        .items()
        .iter()
        .map(|i| i["id"].as_s().unwrap().as_str())
        .collect();
    assert_eq!(ids, ["3", "1"]);

    // A second global index in the manifest: added to the kept table at the next `up`.
    let more = format!(
        "{table}\n[[tables.global_indexes]]\nname = \"by-title\"\npartition_key = {{ name = \"title\", type = \"S\" }}\n"
    );
    std::fs::write(n.dir().join("nuvem.toml"), more).unwrap();
    n.restart();
    assert!(
        n.banner
            .iter()
            .any(|l| l.contains("adding global index by-title")),
        "{:#?}",
        n.banner
    );
    let ddb = n.dynamodb();
    let mut found = 0;
    for _ in 0..100 {
        let got = ddb
            .query()
            .table_name("posts")
            .index_name("by-title")
            .key_condition_expression("title = :t")
            .expression_attribute_values(":t", V::S("post 3".into()))
            .send()
            .await;
        if let Ok(got) = got {
            found = got.items().len();
            if found == 1 {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        found, 1,
        "the backfilled index finds the item written before it existed"
    );
    // Kept again: nothing added twice.
    n.restart();
    assert!(
        !n.banner.iter().any(|l| l.contains("adding global index")),
        "{:#?}",
        n.banner
    );
}
