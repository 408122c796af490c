//! Lambda layers end to end with aws-sdk-lambda: publish, read back, list, a function whose
//! layers provide a Python module and a program on `PATH` (later layers over earlier ones, as
//! Lambda merges them into `/opt`), a deleted version still serving the function that uses it,
//! the refusals, and layer version permissions.

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Environment, FunctionCode, InvocationType, LayerVersionContentInput, Runtime,
};
use base64::Engine as _;
use nuvem_testkit::Nuvem;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::functions::{invoke, zip_of};

const HANDLER: &str = r#"import os, subprocess

def handler(event, context):
    import greeting
    out = {"value": greeting.VALUE, "pythonpath": os.environ.get("PYTHONPATH", "")}
    try:
        import only_v2
        out["only_v2"] = only_v2.HERE
    except ImportError:
        out["only_v2"] = None
    try:
        out["tool"] = subprocess.run(["layer-tool"], capture_output=True, text=True).stdout.strip()
    except OSError as e:
        out["tool"] = "missing: %s" % e
    out["opt_python"] = os.path.isdir("/opt/python")
    return out
"#;

async fn publish(
    c: &aws_sdk_lambda::Client,
    name: &str,
    files: &[(&str, &str)],
    runtimes: &[Runtime],
) -> (
    aws_sdk_lambda::operation::publish_layer_version::PublishLayerVersionOutput,
    Vec<u8>,
) {
    let zip = zip_of(files);
    let out = c
        .publish_layer_version()
        .layer_name(name)
        .description(format!("{name} for tests"))
        .set_compatible_runtimes(Some(runtimes.to_vec()))
        .license_info("MIT")
        .content(
            LayerVersionContentInput::builder()
                .zip_file(Blob::new(zip.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    (out, zip)
}

async fn run(c: &aws_sdk_lambda::Client) -> Value {
    let got = invoke(c, "uses", json!({}), InvocationType::RequestResponse)
        .await
        .unwrap();
    assert_eq!(got.function_error, None, "{}", got.payload);
    got.payload
}

fn code(e: &impl ProvideErrorMetadata) -> String {
    e.code().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_publish_list_and_provide_opt_to_functions() {
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    // As root (CI) environments get mount namespaces, and with them the layers at `/opt`.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let strict = std::env::var("NUVEM_TEST_STRICT").is_ok_and(|v| v == "1");
    let c = n.lambda();
    let tool = "#!/bin/sh\necho tool-ok\n";

    // Publishing: versions count from 1 per layer; the content is described as Lambda does.
    let (v1, zip1) = publish(
        &c,
        "pylib",
        &[
            ("python/greeting.py", "VALUE = 'one'\n"),
            ("bin/layer-tool", tool),
        ],
        &[Runtime::Python312, Runtime::Python311],
    )
    .await;
    assert_eq!(v1.version, 1);
    let arn1 = v1.layer_version_arn.clone().unwrap();
    assert!(arn1.ends_with(":layer:pylib:1"), "{arn1}");
    assert_eq!(v1.layer_arn.as_deref(), arn1.strip_suffix(":1"));
    let content = v1.content.unwrap();
    assert_eq!(content.code_size, zip1.len() as i64);
    assert_eq!(
        content.code_sha256.unwrap(),
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&zip1))
    );
    assert_eq!(v1.license_info.as_deref(), Some("MIT"));
    let (v2, _) = publish(
        &c,
        "pylib",
        &[
            ("python/greeting.py", "VALUE = 'two'\n"),
            ("python/only_v2.py", "HERE = 'yes'\n"),
        ],
        &[Runtime::Python312],
    )
    .await;
    assert_eq!(v2.version, 2);
    let arn2 = v2.layer_version_arn.unwrap();
    let (overlay, _) = publish(
        &c,
        "overlay",
        &[("python/greeting.py", "VALUE = 'overlay'\n")],
        &[Runtime::Nodejs22x],
    )
    .await;
    let overlay = overlay.layer_version_arn.unwrap();

    // Reading back: by name and version, by ARN, lists newest first, filters.
    let got = c
        .get_layer_version()
        .layer_name("pylib")
        .version_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.description.as_deref(), Some("pylib for tests"));
    assert_eq!(
        got.compatible_runtimes(),
        &[Runtime::Python312, Runtime::Python311]
    );
    let by_arn = c
        .get_layer_version_by_arn()
        .arn(&arn2)
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.version, 2);
    let versions = c
        .list_layer_versions()
        .layer_name("pylib")
        .send()
        .await
        .unwrap();
    let numbers: Vec<i64> = versions
        .layer_versions()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(numbers, [2, 1]);
    let only_311 = c
        .list_layer_versions()
        .layer_name("pylib")
        .compatible_runtime(Runtime::Python311)
        .send()
        .await
        .unwrap();
    assert_eq!(only_311.layer_versions().len(), 1);
    let paged = c
        .list_layer_versions()
        .layer_name("pylib")
        .max_items(1)
        .send()
        .await
        .unwrap();
    assert_eq!(paged.layer_versions()[0].version, 2);
    let rest = c
        .list_layer_versions()
        .layer_name("pylib")
        .marker(paged.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.layer_versions()[0].version, 1);
    assert!(rest.next_marker().is_none());
    let layers = c.list_layers().send().await.unwrap();
    let names: Vec<(&str, i64)> = layers
        .layers()
        .iter()
        .map(|l| {
            (
                l.layer_name().unwrap(),
                l.latest_matching_version().unwrap().version,
            )
        })
        .collect();
    assert_eq!(names, [("overlay", 1), ("pylib", 2)]);
    let python_311 = c
        .list_layers()
        .compatible_runtime(Runtime::Python311)
        .send()
        .await
        .unwrap();
    let latest: Vec<i64> = python_311
        .layers()
        .iter()
        .map(|l| l.latest_matching_version().unwrap().version)
        .collect();
    assert_eq!(latest, [1], "pylib's latest version for python3.11 is 1");
    let missing = c
        .get_layer_version()
        .layer_name("pylib")
        .version_number(9)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "ResourceNotFoundException");

    // A function with a layer: its module imports, its program is on PATH.
    c.create_function()
        .function_name("uses")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .timeout(30)
        .layers(&arn1)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of(&[("app.py", HANDLER)])))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let config = c
        .get_function_configuration()
        .function_name("uses")
        .send()
        .await
        .unwrap();
    let layer = &config.layers()[0];
    assert_eq!(layer.arn.as_deref(), Some(arn1.as_str()));
    assert_eq!(layer.code_size, zip1.len() as i64);
    let out = run(&c).await;
    assert_eq!(out["value"], "one", "{out}");
    assert_eq!(out["tool"], "tool-ok", "{out}");
    assert_eq!(out["only_v2"], Value::Null, "{out}");
    let at_opt = out["pythonpath"]
        .as_str()
        .unwrap()
        .starts_with("/opt/python");
    if at_opt {
        // With mount namespaces the layers are at /opt, as on Lambda.
        assert_eq!(out["opt_python"], true, "{out}");
    } else {
        assert!(
            !(root && strict),
            "as root the layers belong at /opt: {out}"
        );
        // Without namespaces: the node's merged folder (or the environment's copy of it).
        assert!(
            out["pythonpath"]
                .as_str()
                .unwrap()
                .ends_with("/site-packages"),
            "{out}"
        );
    }

    // Two layers: the later one's files over the earlier one's.
    c.update_function_configuration()
        .function_name("uses")
        .layers(&arn2)
        .layers(&overlay)
        .send()
        .await
        .unwrap();
    let out = run(&c).await;
    assert_eq!(out["value"], "overlay", "{out}");
    assert_eq!(out["only_v2"], "yes", "{out}");
    assert!(
        out["tool"].as_str().unwrap().starts_with("missing"),
        "{out}"
    );

    // A deleted version leaves the API but keeps serving the function that uses it, even in
    // a new environment.
    c.delete_layer_version()
        .layer_name("pylib")
        .version_number(2)
        .send()
        .await
        .unwrap();
    let gone = c
        .get_layer_version_by_arn()
        .arn(&arn2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&gone), "ResourceNotFoundException");
    c.update_function_configuration()
        .function_name("uses")
        .environment(Environment::builder().variables("FRESH", "1").build())
        .send()
        .await
        .unwrap();
    let out = run(&c).await;
    assert_eq!(out["only_v2"], "yes", "{out}");
    // Deleting again is not an error; numbers are never reused.
    c.delete_layer_version()
        .layer_name("pylib")
        .version_number(2)
        .send()
        .await
        .unwrap();
    let (v3, _) = publish(&c, "pylib", &[("python/greeting.py", "VALUE = 3\n")], &[]).await;
    assert_eq!(v3.version, 3);

    // Refusals.
    let refused = c
        .update_function_configuration()
        .function_name("uses")
        .layers(&arn2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "InvalidParameterValueException");
    assert!(
        refused.message().unwrap().contains("does not exist"),
        "{refused:?}"
    );
    let same_twice = c
        .update_function_configuration()
        .function_name("uses")
        .layers(&arn1)
        .layers(v3.layer_version_arn.as_deref().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&same_twice), "InvalidParameterValueException");
    let mut six = c.update_function_configuration().function_name("uses");
    for _ in 0..6 {
        six = six.layers(&arn1);
    }
    assert_eq!(
        code(&six.send().await.unwrap_err()),
        "InvalidParameterValueException"
    );
    let bad_zip = c
        .publish_layer_version()
        .layer_name("broken")
        .content(
            LayerVersionContentInput::builder()
                .zip_file(Blob::new(b"not a zip".to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_zip), "InvalidParameterValueException");
    let bad_name = c
        .list_layer_versions()
        .layer_name("no spaces")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_name), "ValidationException");

    // Layer version permissions.
    let added = c
        .add_layer_version_permission()
        .layer_name("pylib")
        .version_number(1)
        .statement_id("everyone")
        .action("lambda:GetLayerVersion")
        .principal("*")
        .send()
        .await
        .unwrap();
    let statement: Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(statement["Resource"], arn1.as_str());
    assert_eq!(statement["Principal"], "*");
    let again = c
        .add_layer_version_permission()
        .layer_name("pylib")
        .version_number(1)
        .statement_id("everyone")
        .action("lambda:GetLayerVersion")
        .principal("111122223333")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "ResourceConflictException");
    let stale = c
        .add_layer_version_permission()
        .layer_name("pylib")
        .version_number(1)
        .statement_id("other")
        .action("lambda:GetLayerVersion")
        .principal("111122223333")
        .revision_id("not-the-revision")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&stale), "PreconditionFailedException");
    let policy = c
        .get_layer_version_policy()
        .layer_name("pylib")
        .version_number(1)
        .send()
        .await
        .unwrap();
    let document: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(document["Statement"][0]["Sid"], "everyone");
    c.remove_layer_version_permission()
        .layer_name("pylib")
        .version_number(1)
        .statement_id("everyone")
        .revision_id(policy.revision_id().unwrap())
        .send()
        .await
        .unwrap();
    let none = c
        .get_layer_version_policy()
        .layer_name("pylib")
        .version_number(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&none), "ResourceNotFoundException");

    // Deleting the function and the layer's last version frees the package: publishing the
    // same zip again stores it anew, and reads back whole.
    c.delete_function()
        .function_name("uses")
        .send()
        .await
        .unwrap();
    let again = c
        .get_layer_version()
        .layer_name("pylib")
        .version_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(again.content.unwrap().code_size, zip1.len() as i64);
}
