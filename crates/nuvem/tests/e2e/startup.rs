//! Issue 15: start-up never destroys data. A data dir whose store is missing, empty or rolled
//! back keeps every blob (nuvem refuses to start, or starts and says so at WARN); deleting
//! many unreferenced blobs takes `nuvem repair --yes`; a damaged blob is an InternalError,
//! never a 200 cut short.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// Every blob file under `data/s3/blobs`.
fn blobs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(fans) = std::fs::read_dir(root.join("data/s3/blobs")) else {
        return found;
    };
    for fan in fans.filter_map(Result::ok) {
        for f in std::fs::read_dir(fan.path()).into_iter().flatten() {
            found.push(f.unwrap().path());
        }
    }
    found.sort();
    found
}

/// How one `nuvem up` on an existing data dir went.
#[derive(Debug)]
enum Up {
    /// It exited before it was ready.
    Exited { status: ExitStatus, stderr: String },
    /// It became ready (and was then stopped).
    Ready { stderr: String },
}

/// Runs `nuvem up` on the manifest and data dir under `root` until it is ready or exits.
fn up(root: &Path) -> Up {
    let log = root.join("up.stderr");
    let mut child = Command::new(BIN)
        .arg("up")
        .arg("--manifest")
        .arg(root.join("nuvem.toml"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(["--api-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0"])
        .env("NUVEM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("ready in") {
                let _ = tx.send(true);
                return;
            }
        }
        let _ = tx.send(false);
    });
    let ready = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("nuvem neither became ready nor exited");
    let outcome = if ready {
        let _ = child.kill();
        child.wait().unwrap();
        None
    } else {
        Some(child.wait().unwrap())
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    match outcome {
        Some(status) => Up::Exited { status, stderr },
        None => Up::Ready { stderr },
    }
}

/// Runs `nuvem repair` on the data dir under `root`: (success, stdout, stderr).
fn repair(root: &Path, yes: bool) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("repair")
        .arg("--manifest")
        .arg(root.join("nuvem.toml"))
        .arg("--data-dir")
        .arg(root.join("data"));
    if yes {
        cmd.arg("--yes");
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A stopped nuvem whose data dir holds bucket `bkt` with `n` small objects.
async fn with_objects(n: usize) -> Nuvem {
    let mut nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    for i in 0..n {
        c.put_object()
            .bucket("bkt")
            .key(format!("k{i:03}"))
            .body(ByteStream::from(format!("object {i}").into_bytes()))
            .send()
            .await
            .unwrap();
    }
    assert!(nuvem.terminate().success());
    assert_eq!(blobs(nuvem.dir()).len(), n);
    nuvem
}

#[track_caller]
fn check_refused(root: &Path, outcome: Up, what: &str) {
    let Up::Exited { status, stderr } = outcome else {
        panic!("nuvem started on a data dir whose store {what}: {outcome:?}");
    };
    assert!(!status.success());
    let store = root.join("data/store").display().to_string();
    for needle in ["refusing to start", &store, what, "nuvem repair"] {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
}

#[tokio::test]
async fn issue_15_store_removed_with_blobs_refuses_to_start() {
    let mut nuvem = with_objects(3).await;
    let root = nuvem.dir().to_path_buf();
    let before = blobs(&root);
    std::fs::remove_dir_all(root.join("data/store")).unwrap();

    check_refused(&root, up(&root), "is missing");
    assert_eq!(blobs(&root), before, "a blob was deleted");

    // Giving the data up is an explicit, listed decision; then nuvem starts afresh.
    let (ok, out, _) = repair(&root, false);
    assert!(ok);
    assert!(out.contains("3 unreferenced blob file(s)"), "{out}");
    assert_eq!(
        blobs(&root),
        before,
        "repair without --yes deleted something"
    );
    let (ok, out, err) = repair(&root, true);
    assert!(ok, "{err}");
    assert!(out.contains("deleted 3 unreferenced blob file(s)"), "{out}");
    assert!(blobs(&root).is_empty());
    nuvem.restart();
    let buckets = nuvem.s3().list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty());
}

#[tokio::test]
async fn issue_15_store_emptied_refuses_to_start() {
    let nuvem = with_objects(3).await;
    let root = nuvem.dir().to_path_buf();
    let before = blobs(&root);
    std::fs::remove_dir_all(root.join("data/store")).unwrap();
    std::fs::create_dir(root.join("data/store")).unwrap();

    check_refused(&root, up(&root), "is empty");
    assert_eq!(blobs(&root), before, "a blob was deleted");
}

#[tokio::test]
async fn issue_15_unreadable_store_refuses_to_start() {
    let nuvem = with_objects(3).await;
    let root = nuvem.dir().to_path_buf();
    let before = blobs(&root);
    let version = root.join("data/store/version");
    let original = std::fs::read(&version).unwrap();

    std::fs::write(&version, b"not a fjall marker").unwrap();
    check_refused(&root, up(&root), "is unreadable");
    assert_eq!(blobs(&root), before, "a blob was deleted");

    std::fs::remove_file(&version).unwrap();
    check_refused(&root, up(&root), "holds files but no store");
    assert_eq!(blobs(&root), before, "a blob was deleted");

    // Put back, the same store serves its objects again.
    std::fs::write(&version, original).unwrap();
    assert!(matches!(up(&root), Up::Ready { .. }));
    assert_eq!(blobs(&root), before);
}

#[tokio::test]
async fn issue_15_store_removed_without_blobs_refuses_to_start() {
    // Tables only, no blobs: the data dir's own record says a store was there.
    let mut nuvem = Nuvem::start(BIN);
    assert!(nuvem.terminate().success());
    let root = nuvem.dir().to_path_buf();
    std::fs::remove_dir_all(root.join("data/store")).unwrap();
    check_refused(&root, up(&root), "is missing");
}

#[tokio::test]
async fn issue_15_truncated_journal_deletes_no_blob_beyond_the_bound() {
    let n = 60;
    let nuvem = with_objects(n).await;
    let root = nuvem.dir().to_path_buf();
    let journals = root.join("data/store/journals");
    let last = std::fs::read_dir(&journals)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap();
    // The journal file is preallocated: cut half of what was written into it.
    let bytes = std::fs::read(&last).unwrap();
    let used = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(used as u64 / 2)
        .unwrap();

    match up(&root) {
        Up::Exited { status, stderr } => {
            assert!(!status.success());
            assert!(stderr.contains("refusing to start"), "{stderr}");
        }
        Up::Ready { stderr } => {
            assert!(stderr.contains("WARN"), "{stderr}");
            assert!(stderr.contains("not referenced by the store"), "{stderr}");
            assert!(stderr.contains("nuvem repair"), "{stderr}");
        }
    }
    let left = blobs(&root).len();
    assert!(
        left + nuvem_s3::store::garbage::DEFAULT_LIMIT >= n,
        "{} blobs deleted after a rollback",
        n - left
    );
}

#[tokio::test]
async fn issue_15_many_unreferenced_blobs_wait_for_nuvem_repair() {
    let mut nuvem = with_objects(1).await;
    let root = nuvem.dir().to_path_buf();
    let kept = blobs(&root);
    let fan = root.join("data/s3/blobs/zz");
    std::fs::create_dir_all(&fan).unwrap();
    for i in 0..40 {
        std::fs::write(fan.join(format!("zz{i:030}")), b"lost object data").unwrap();
    }
    let all = blobs(&root);
    assert_eq!(all.len(), 41);

    let Up::Ready { stderr } = up(&root) else {
        panic!("nuvem should start (the store is intact)");
    };
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(
        stderr.contains("40 blob files are not referenced"),
        "{stderr}"
    );
    assert_eq!(blobs(&root), all, "start-up deleted unreferenced blobs");

    let (ok, out, _) = repair(&root, false);
    assert!(ok);
    assert!(
        out.contains("40 unreferenced blob file(s), 640 bytes"),
        "{out}"
    );
    assert!(out.contains(&fan.join(format!("zz{:030}", 0)).display().to_string()));
    assert_eq!(blobs(&root), all, "repair without --yes deleted something");

    let (ok, out, err) = repair(&root, true);
    assert!(ok, "{err}");
    assert!(
        out.contains("deleted 40 unreferenced blob file(s), 640 bytes"),
        "{out}"
    );
    assert_eq!(blobs(&root), kept);

    nuvem.restart();
    let got = nuvem
        .s3()
        .get_object()
        .bucket("bkt")
        .key("k000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"object 0"
    );
}

#[tokio::test]
async fn issue_15_truncated_blob_is_an_internal_error_not_a_cut_200() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let data = vec![42u8; 300_000];
    c.put_object()
        .bucket("bkt")
        .key("big.bin")
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap();
    let [blob] = &blobs(nuvem.dir())[..] else {
        panic!("one blob expected");
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(blob)
        .unwrap()
        .set_len(100_000)
        .unwrap();

    for range in [None, Some("bytes=0-99"), Some("bytes=200000-200099")] {
        let err = c
            .get_object()
            .bucket("bkt")
            .key("big.bin")
            .set_range(range.map(Into::into))
            .send()
            .await
            .expect_err("a damaged object must not be answered with a 2xx");
        let status = err.raw_response().map(|r| r.status().as_u16());
        assert_eq!(status, Some(500), "range {range:?}");
        let code = err.into_service_error().meta().code().map(str::to_string);
        assert_eq!(code.as_deref(), Some("InternalError"), "range {range:?}");
    }
}

#[tokio::test]
async fn issue_15_truncated_blob_through_the_edge_is_not_a_200() {
    let manifest = r#"
[[buckets]]
name = "site"

[distribution]

[[distribution.behaviors]]
path_pattern = "default"
origin = "bucket:site"
"#;
    let nuvem = Nuvem::start_with(
        BIN,
        nuvem_testkit::Options {
            manifest: Some(manifest.into()),
            ..Default::default()
        },
    );
    nuvem
        .s3()
        .put_object()
        .bucket("site")
        .key("big.bin")
        .body(ByteStream::from(vec![42u8; 300_000]))
        .send()
        .await
        .unwrap();
    let [blob] = &blobs(nuvem.dir())[..] else {
        panic!("one blob expected");
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(blob)
        .unwrap()
        .set_len(100_000)
        .unwrap();
    // Raw HTTP/1.1, to see exactly the status line the visitor's connection is given.
    let addr = nuvem.edge_url.trim_start_matches("http://").to_string();
    for range in ["", "Range: bytes=0-99\r\n"] {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            conn,
            "GET /big.bin HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: nuvem-e2e\r\n{range}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut status = String::new();
        BufReader::new(conn).read_line(&mut status).unwrap();
        let code: u16 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!((500..600).contains(&code), "{range:?}: {status}");
    }
}

#[tokio::test]
async fn issue_15_repair_and_a_second_up_refuse_a_data_dir_in_use() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let fan = nuvem.dir().join("data/s3/blobs/zz");
    std::fs::create_dir_all(&fan).unwrap();
    std::fs::write(fan.join(format!("zz{:030}", 1)), b"in flight").unwrap();

    let (ok, _, err) = repair(nuvem.dir(), true);
    assert!(!ok);
    assert!(err.contains("another nuvem is using the data dir"), "{err}");
    assert_eq!(blobs(nuvem.dir()).len(), 1, "repair deleted a blob in use");

    let Up::Exited { status, stderr } = up(nuvem.dir()) else {
        panic!("a second nuvem started on the same data dir");
    };
    assert!(!status.success());
    assert!(
        stderr.contains("another nuvem is using the data dir"),
        "{stderr}"
    );
}
