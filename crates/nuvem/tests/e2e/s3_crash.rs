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
