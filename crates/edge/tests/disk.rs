//! The regional tier's disk layer: entries survive a restart of the edge, invalidations and
//! unsafe methods delete them, damaged files are misses, not errors.

mod support;

use support::{Reply, TestOrigin, edge_on_disk, runtime, send, simple, wait_for_files};

#[test]
fn entries_survive_a_restart_until_invalidated() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let o = TestOrigin::start().await;
        o.set(
            "/a",
            Reply::ok(&[("cache-control", "max-age=600"), ("x-v", "1")], "A"),
        );
        o.set("/b", Reply::ok(&[("cache-control", "max-age=600")], "B"));
        let e = edge_on_disk(&simple(""), &o.url, dir.path());
        assert_eq!(send(&e, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
        assert_eq!(send(&e, 0, "GET", "/b", &[]).await.x_cache(), "Miss");
        assert_eq!(wait_for_files(dir.path(), 2).await, 2);
        drop(e);

        // A new edge on the same folder: served from disk, headers and body intact.
        let e = edge_on_disk(&simple(""), &o.url, dir.path());
        let r = send(&e, 0, "GET", "/a", &[]).await;
        assert_eq!(
            (r.x_cache(), &r.body[..], r.header("x-v")),
            ("Hit", &b"A"[..], "1")
        );
        assert_eq!(o.hits("/a"), 1);
        e.invalidate("r1", vec!["/a".into()]).unwrap();
        assert_eq!(
            wait_for_files(dir.path(), 1).await,
            1,
            "the invalidated file is deleted"
        );
        drop(e);

        let e = edge_on_disk(&simple(""), &o.url, dir.path());
        assert_eq!(send(&e, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
        assert_eq!(send(&e, 0, "GET", "/b", &[]).await.x_cache(), "Hit");
        assert_eq!((o.hits("/a"), o.hits("/b")), (2, 1));
    });
}

#[test]
fn damaged_files_are_misses() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let o = TestOrigin::start().await;
        o.set("/a", Reply::ok(&[("cache-control", "max-age=600")], "A"));
        let e = edge_on_disk(&simple(""), &o.url, dir.path());
        send(&e, 0, "GET", "/a", &[]).await;
        assert_eq!(wait_for_files(dir.path(), 1).await, 1);
        drop(e);
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&file, bytes).unwrap();
        std::fs::write(dir.path().join("junk"), b"not an entry").unwrap();
        let e = edge_on_disk(&simple(""), &o.url, dir.path());
        let r = send(&e, 0, "GET", "/a", &[]).await;
        assert_eq!(
            (r.status, r.x_cache(), &r.body[..]),
            (200, "Miss", &b"A"[..])
        );
        assert_eq!(o.hits("/a"), 2);
    });
}

/// A file counts at least one 4 KiB block against `disk_mb`: 300 tiny objects under a 1 MiB
/// bound (256 blocks) leave at most 256 files, where their bytes alone (about 300 KB) would
/// have fitted them all.
#[test]
fn small_files_count_whole_blocks_against_the_bound() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let o = TestOrigin::start().await;
        for i in 0..300 {
            o.set(
                &format!("/s{i}"),
                Reply::ok(&[("cache-control", "max-age=600")], "tiny"),
            );
        }
        let toml = format!("regional = {{ disk_mb = 1 }}\n{}", simple(""));
        let e = edge_on_disk(&toml, &o.url, dir.path());
        let count = || {
            std::fs::read_dir(dir.path())
                .map(|d| d.count())
                .unwrap_or(0)
        };
        // In batches the writer's queue holds, each written before the next.
        for batch in 0..3 {
            for i in batch * 100..(batch + 1) * 100 {
                let r = send(&e, 0, "GET", &format!("/s{i}"), &[]).await;
                assert_eq!(r.x_cache(), "Miss");
            }
            let want = ((batch + 1) * 100).min(256);
            for _ in 0..500 {
                if count() >= want {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        let mut files = count();
        for _ in 0..500 {
            if files <= 256 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            files = count();
        }
        assert!(files > 200, "the disk kept {files} files");
        assert!(files <= 256, "{files} files under a bound of 256 blocks");
    });
}
