//! End-to-end tests: the real `nuvem` binary (the one `cargo test` built) driven by real AWS
//! clients over loopback. One test binary for every area, so the SDKs are linked once.

mod capacity;
mod console;
mod console_browser;
mod dynamo;
mod dynamo_indexes;
mod dynamo_query;
mod dynamo_streams;
mod dynamo_triggers;
mod dynamo_triggers_depth;
mod edge;
mod edge_interim;
mod edge_update;
mod edge_waf_body;
mod endpoint;
mod endpoint_auth;
mod functions;
mod functions_async;
mod functions_isolation;
mod functions_layers;
mod functions_nodes;
mod functions_runtimes;
mod functions_urls;
mod functions_versions;
mod gateway;
mod gateway_guard;
mod gateway_import;
mod gateway_permissions;
mod iam;
mod limits;
mod logs;
mod manifest;
mod metrics;
mod meusite;
mod meusite_browser;
mod meusite_first_run;
mod network;
mod nodes;
mod request_logs;
mod s3;
mod s3_acl;
mod s3_browser;
mod s3_cli;
mod s3_crash;
mod s3_encryption;
mod s3_errors;
mod s3_exactness;
mod s3_kms;
mod s3_lifecycle;
mod s3_limits;
mod s3_lock;
mod s3_multipart;
mod s3_post;
mod s3_tagging;
mod s3_versioning;
mod security;
mod startup;
mod storage_postgres;
mod vpn;
mod waf_api;

/// A folder every function environment can write, for tests that count runs in files: not
/// under `/tmp` (an environment with namespaces has a `/tmp` of its own) and writable by the
/// users functions run as when nuvem is root (0777; what they write stays readable by root).
fn shared_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("nuvem-e2e-")
        .tempdir_in("/var/tmp")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Creates `bucket` with versioning Enabled.
async fn versioned_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Whether python3 can import boto3; when not, the test says so (fails under
/// `NUVEM_TEST_STRICT=1`) and the caller returns.
fn have_boto3(test: &str) -> bool {
    have_python_modules(test, &["boto3"])
}

/// Whether python3 can import every module of `modules` (named as pip installs them, with
/// `_` for `-`); when not, the test says so (fails under `NUVEM_TEST_STRICT=1`).
fn have_python_modules(test: &str, modules: &[&str]) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {}", modules.join(", "))])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let pip = modules.join(" ").replace('_', "-");
        nuvem_testkit::missing_tool(
            test,
            &format!(
                "python3 with {} is not available (pip install {pip})",
                modules.join(" and ")
            ),
        );
    }
    ok
}

/// Runs `tests/e2e/boto3/<script> <endpoint>` with the test credentials and no user AWS
/// config, and asserts that it printed `<done>` and exited 0.
#[track_caller]
fn run_boto3(script: &str, endpoint: &str, done: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/boto3")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(path)
        .arg(endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/nuvem-e2e-aws-config")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(done),
        "{script} failed\n{stdout}\n{stderr}"
    );
}

/// Creates an on-demand table `name` with a string hash key `id`.
async fn id_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb.create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}
