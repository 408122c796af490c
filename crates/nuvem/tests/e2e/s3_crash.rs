//! `kill -9` in the middle of a large upload through the real binary: after the restart the
//! half-sent object is not visible, its temp space is gone, and the object acknowledged
//! before the crash is intact.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// Total bytes of the regular files under `dir` (0 when it does not exist).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                bytes_under(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

#[tokio::test]
async fn kill_9_during_a_large_upload_leaves_no_object_and_no_temp_space() {
    let mut nuvem = Nuvem::start(BIN);
    let s3_dir = nuvem.dir().join("data/s3");
    let c = nuvem.s3();
    c.create_bucket().bucket("big").send().await.unwrap();
    let kept: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    c.put_object()
        .bucket("big")
        .key("kept.bin")
        .body(ByteStream::from(kept.clone()))
        .send()
        .await
        .unwrap();
    let committed = bytes_under(&s3_dir.join("blobs"));
    assert_eq!(committed, kept.len() as u64);

    // A presigned PUT announcing 256 MiB, of which only 40 MiB ever arrive: the server is
    // mid-stream, writing the temp blob, when it dies.
    let conf = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let url: http::Uri = c
        .put_object()
        .bucket("big")
        .key("half.bin")
        .presigned(conf)
        .await
        .unwrap()
        .uri()
        .parse()
        .unwrap();
    let addr = url.authority().unwrap().to_string();
    let target = url.path_and_query().unwrap().to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "PUT {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        256u64 << 20
    )
    .unwrap();
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..40 {
        conn.write_all(&chunk).unwrap();
    }
    conn.flush().unwrap();
    // Wait until the server has written a good part of it to its temp file.
    let tmp = s3_dir.join("tmp");
    let mut waited = 0;
    while bytes_under(&tmp) < 8 << 20 {
        assert!(waited < 3000, "the upload never reached the temp dir");
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    nuvem.kill();
    drop(conn);
    assert!(bytes_under(&tmp) > 0, "the crash should leave a temp file");

    nuvem.restart();
    let c = nuvem.s3();
    let head = c.head_object().bucket("big").key("half.bin").send().await;
    assert_eq!(
        head.unwrap_err()
            .raw_response()
            .map(|r| r.status().as_u16()),
        Some(404)
    );
    let keys: Vec<String> = c
        .list_objects_v2()
        .bucket("big")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key.clone())
        .collect();
    assert_eq!(keys, ["kept.bin"]);
    let got = c
        .get_object()
        .bucket("big")
        .key("kept.bin")
        .send()
        .await
        .unwrap();
    assert!(got.body.collect().await.unwrap().into_bytes() == kept);
    assert_eq!(bytes_under(&tmp), 0, "temp space leaked");
    assert_eq!(bytes_under(&s3_dir.join("blobs")), committed, "blob leaked");
}

/// `kill -9` while the lifecycle sweep expires objects: after the restart every object no rule
/// expires is intact, the expired ones are gone or still whole (never half-deleted), the sweep
/// finishes the work, and no blob is left behind.
#[tokio::test]
async fn kill_9_during_lifecycle_expiry_loses_nothing_unexpired() {
    use aws_sdk_s3::types::{BucketLifecycleConfiguration, LifecycleExpiration};

    use crate::s3_lifecycle::{FAST, eventually, rule};

    let mut nuvem = Nuvem::start_with(
        BIN,
        nuvem_testkit::Options {
            manifest: Some(FAST.into()),
            ..Default::default()
        },
    );
    let blobs = nuvem.dir().join("data/s3/blobs");
    let c = nuvem.s3();
    c.create_bucket().bucket("life").send().await.unwrap();
    const OLD: usize = 1500;
    const KEPT: usize = 50;
    let body = |key: &str| format!("{key}:{}", "x".repeat(64));
    let puts = (0..OLD)
        .map(|i| format!("old/{i:05}"))
        .chain((0..KEPT).map(|i| format!("keep/{i:05}")));
    let keys: Vec<String> = puts.collect();
    for chunk in keys.chunks(50) {
        let mut batch = Vec::new();
        for key in chunk {
            batch.push(
                c.put_object()
                    .bucket("life")
                    .key(key)
                    .body(ByteStream::from(body(key).into_bytes()))
                    .send(),
            );
        }
        for r in futures_util::future::join_all(batch).await {
            r.unwrap();
        }
    }
    c.put_bucket_lifecycle_configuration()
        .bucket("life")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    rule(
                        "old",
                        aws_sdk_s3::types::LifecycleRuleFilter::builder()
                            .prefix("old/")
                            .build(),
                    )
                    .expiration(LifecycleExpiration::builder().days(1).build())
                    .build()
                    .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let count = |c: aws_sdk_s3::Client| async move {
        let mut n = 0;
        let mut token = None;
        loop {
            let out = c
                .list_objects_v2()
                .bucket("life")
                .prefix("old/")
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            n += out.contents().len();
            token = out.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return n;
            }
        }
    };
    // Kill it as soon as the sweep has started.
    let start = std::time::Instant::now();
    while count(c.clone()).await == OLD {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the sweep never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    nuvem.kill();
    nuvem.restart();
    let c = nuvem.s3();
    for key in keys.iter().filter(|k| k.starts_with("keep/")) {
        let got = c.get_object().bucket("life").key(key).send().await.unwrap();
        let data = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(&data[..], body(key).as_bytes(), "{key}");
    }
    // What is left of old/ is whole until the sweep takes it.
    let left = count(c.clone()).await;
    eprintln!("{left} of {OLD} expired objects were left at the crash");
    eventually("the sweep finishes after the restart", || {
        let c = c.clone();
        async move { count(c).await == 0 }
    })
    .await;
    assert_eq!(
        std::fs::read_dir(&blobs)
            .unwrap()
            .filter_map(Result::ok)
            .map(|d| std::fs::read_dir(d.path()).map_or(0, |f| f.count()))
            .sum::<usize>(),
        KEPT,
        "one blob per kept object, none leaked"
    );
}
