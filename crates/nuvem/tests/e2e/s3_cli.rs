//! The object store driven by the Python clients people actually use: the AWS CLI (`aws s3 cp`
//! of a 50 MiB file, which it uploads in parts; `aws s3 sync` both ways; `aws s3 ls`; a few
//! `aws s3api` calls) and boto3 (`tests/e2e/boto3/s3_boto3.py`: put/get/list, `upload_file`
//! multipart, presigned URLs in SigV4 and SigV2). Both skip with a notice when the tool is not
//! installed; CI installs them (`pip install awscli boto3`).

use std::path::Path;
use std::process::{Command, Output};

use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

pub(crate) fn have(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `aws <args> --endpoint-url <nuvem>` with the test credentials and no user config.
#[track_caller]
pub(crate) fn aws(nuvem: &Nuvem, args: &[&str]) -> String {
    let out = aws_raw(nuvem, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "aws {args:?} failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub(crate) fn aws_raw(nuvem: &Nuvem, args: &[&str]) -> Output {
    Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &nuvem.api_url])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", nuvem.dir().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            nuvem.dir().join("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run aws")
}

/// Deterministic, incompressible-looking bytes (a xorshift stream).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Every file under `dir` as (relative path, bytes), sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn aws_cli_cp_sync_ls_and_s3api() {
    if !have("aws", &["--version"]) {
        nuvem_testkit::missing_tool(
            "aws_cli_cp_sync_ls_and_s3api",
            "the AWS CLI is not installed (pip install awscli)",
        );
        return;
    }
    let nuvem = Nuvem::start(BIN);
    let work = tempfile::tempdir().unwrap();
    aws(&nuvem, &["s3", "mb", "s3://cli"]);

    // 50 MiB: above the CLI's 8 MiB multipart threshold, so it goes up in parts.
    let big = pseudo_random(50 * 1024 * 1024, 6);
    let up = work.path().join("big.bin");
    std::fs::write(&up, &big).unwrap();
    aws(
        &nuvem,
        &["s3", "cp", up.to_str().unwrap(), "s3://cli/media/big.bin"],
    );
    let down = work.path().join("big.down");
    aws(
        &nuvem,
        &["s3", "cp", "s3://cli/media/big.bin", down.to_str().unwrap()],
    );
    assert!(
        std::fs::read(&down).unwrap() == big,
        "50 MiB round trip differs"
    );
    let head: serde_json::Value = serde_json::from_str(&aws(
        &nuvem,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "cli",
            "--key",
            "media/big.bin",
        ],
    ))
    .unwrap();
    assert_eq!(head["ContentLength"], 50 * 1024 * 1024);
    let etag = head["ETag"].as_str().unwrap();
    assert!(etag.ends_with("-7\""), "multipart ETag {etag}");

    // sync a folder up, then into an empty folder, and compare the trees.
    let site = work.path().join("site");
    for (path, data) in [
        ("index.html", b"<h1>oi</h1>".to_vec()),
        ("css/site.css", b"body{}".to_vec()),
        ("img/a b.png", pseudo_random(300_000, 1)),
        ("img/deep/x.bin", pseudo_random(9 * 1024 * 1024, 2)),
        ("empty.txt", Vec::new()),
    ] {
        let p = site.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    aws(
        &nuvem,
        &["s3", "sync", site.to_str().unwrap(), "s3://cli/site"],
    );
    let back = work.path().join("back");
    aws(
        &nuvem,
        &["s3", "sync", "s3://cli/site", back.to_str().unwrap()],
    );
    assert!(tree(&site) == tree(&back), "sync round trip differs");
    // A second sync has nothing to do.
    let again = aws(
        &nuvem,
        &["s3", "sync", site.to_str().unwrap(), "s3://cli/site"],
    );
    assert_eq!(again.trim(), "");

    let ls = aws(&nuvem, &["s3", "ls"]);
    assert!(ls.trim_end().ends_with(" cli"), "{ls}");
    let ls = aws(&nuvem, &["s3", "ls", "s3://cli/site/"]);
    let names: Vec<&str> = ls
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(names, ["css/", "img/", "empty.txt", "index.html"], "{ls}");
    let ls = aws(&nuvem, &["s3", "ls", "--recursive", "s3://cli/"]);
    assert_eq!(ls.lines().count(), 6, "{ls}");
    assert!(ls.contains(" 52428800 media/big.bin"), "{ls}");

    // s3api: tagging round trip, a listing in JSON, and an error with its code.
    aws(
        &nuvem,
        &[
            "s3api",
            "put-object-tagging",
            "--bucket",
            "cli",
            "--key",
            "site/index.html",
            "--tagging",
            "TagSet=[{Key=team,Value=web}]",
        ],
    );
    let tags: serde_json::Value = serde_json::from_str(&aws(
        &nuvem,
        &[
            "s3api",
            "get-object-tagging",
            "--bucket",
            "cli",
            "--key",
            "site/index.html",
        ],
    ))
    .unwrap();
    assert_eq!(tags["TagSet"][0]["Value"], "web");
    let list: serde_json::Value = serde_json::from_str(&aws(
        &nuvem,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "cli",
            "--prefix",
            "site/img/",
        ],
    ))
    .unwrap();
    let keys: Vec<&str> = list["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["Key"].as_str())
        .collect();
    assert_eq!(keys, ["site/img/a b.png", "site/img/deep/x.bin"]);
    let missing = aws_raw(
        &nuvem,
        &[
            "s3api",
            "get-object",
            "--bucket",
            "cli",
            "--key",
            "nope",
            "/dev/null",
        ],
    );
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("NoSuchKey"),
        "{missing:?}"
    );
    let rb = aws_raw(&nuvem, &["s3", "rb", "s3://cli"]);
    assert!(String::from_utf8_lossy(&rb.stderr).contains("BucketNotEmpty"));
    aws(&nuvem, &["s3", "rb", "--force", "s3://cli"]);
    assert_eq!(aws(&nuvem, &["s3", "ls"]).trim(), "");
}

/// Skips (with a note) when boto3 is not installed; CI installs it.
#[test]
fn s3_boto3() {
    if !crate::have_boto3("s3_boto3") {
        return;
    }
    let nuvem = Nuvem::start(BIN);
    crate::run_boto3("s3_boto3.py", &nuvem.api_url, "boto3 s3: ok");
}
