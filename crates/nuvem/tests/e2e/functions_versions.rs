//! Lambda versions and aliases end to end, with aws-sdk-lambda and boto3 against the real
//! binary: PublishVersion (and `Publish` on updates) with its preconditions, invoking by
//! version, alias, `$LATEST` and qualified ARN with `X-Amz-Executed-Version`, a 90/10
//! weighted alias, ListVersionsByFunction paging, and the deletes an alias forbids.

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, FunctionCode, Runtime};
use nuvem_testkit::Nuvem;
use serde_json::Value;

use super::functions::zip_of;

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:ver";

/// A handler that says which code it is, which version runs it, and the ARN it was invoked by.
fn code(v: u32) -> Vec<u8> {
    zip_of(&[(
        "app.py",
        &format!(
            "import os\ndef handler(event, context):\n    return {{'v': {v}, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'], 'arn': context.invoked_function_arn}}\n"
        ),
    )])
}

/// Invokes `function` (with `qualifier`): the payload and `X-Amz-Executed-Version`.
async fn run(
    c: &aws_sdk_lambda::Client,
    function: &str,
    qualifier: Option<&str>,
) -> Result<(Value, String), String> {
    let out = c
        .invoke()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
        .map_err(|e| {
            format!(
                "{}: {}",
                e.code().unwrap_or("?"),
                e.message().unwrap_or("?")
            )
        })?;
    assert_eq!(out.function_error(), None);
    let payload =
        serde_json::from_slice(out.payload().map(|b| b.as_ref()).unwrap_or(b"null")).unwrap();
    Ok((
        payload,
        out.executed_version().unwrap_or_default().to_owned(),
    ))
}

#[track_caller]
fn code_of<E: ProvideErrorMetadata>(e: &E) -> &str {
    e.code().unwrap_or("?")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_aliases_with_the_sdk() {
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let c = n.lambda();
    let created = c
        .create_function()
        .function_name("ver")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .code(FunctionCode::builder().zip_file(Blob::new(code(1))).build())
        .send()
        .await
        .unwrap();
    let v1 = c
        .publish_version()
        .function_name("ver")
        .code_sha256(created.code_sha256().unwrap())
        .description("first")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.version(), Some("1"));
    assert_eq!(v1.function_arn(), Some(format!("{ARN}:1").as_str()));
    // Nothing changed since version 1: publishing returns it.
    let again = c
        .publish_version()
        .function_name("ver")
        .send()
        .await
        .unwrap();
    assert_eq!(again.version(), Some("1"));
    // CodeSha256 and RevisionId are preconditions.
    let e = c
        .publish_version()
        .function_name("ver")
        .code_sha256("c3RhbGU=")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "PreconditionFailedException", "{e:?}");
    let e = c
        .publish_version()
        .function_name("ver")
        .revision_id("stale")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "PreconditionFailedException", "{e:?}");
    let e = c
        .update_function_configuration()
        .function_name("ver")
        .revision_id("stale")
        .timeout(9)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "PreconditionFailedException", "{e:?}");
    // New code, published by the update itself.
    let v2 = c
        .update_function_code()
        .function_name("ver")
        .zip_file(Blob::new(code(2)))
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(v2.version(), Some("2"));
    // Every way of naming what runs; version 1 still runs its own code.
    for (function, qualifier, v, version, arn) in [
        ("ver", Some("1"), 1, "1", format!("{ARN}:1")),
        ("ver:2", None, 2, "2", format!("{ARN}:2")),
        ("ver", None, 2, "$LATEST", ARN.to_owned()),
        (ARN, Some("$LATEST"), 2, "$LATEST", format!("{ARN}:$LATEST")),
        (&format!("{ARN}:1"), None, 1, "1", format!("{ARN}:1")),
    ] {
        let (payload, executed) = run(&c, function, qualifier).await.unwrap();
        assert_eq!(executed, version, "{function} {qualifier:?}");
        assert_eq!(payload["v"], v, "{function} {qualifier:?}: {payload}");
        assert_eq!(payload["version"], version, "{payload}");
        assert_eq!(payload["arn"], arn.as_str(), "{payload}");
    }
    let missing = run(&c, "ver", Some("7")).await.unwrap_err();
    assert!(
        missing.starts_with("ResourceNotFoundException"),
        "{missing}"
    );
    // ListVersionsByFunction, `$LATEST` first, in pages.
    let page = c
        .list_versions_by_function()
        .function_name("ver")
        .max_items(2)
        .send()
        .await
        .unwrap();
    let labels: Vec<_> = page.versions().iter().filter_map(|v| v.version()).collect();
    assert_eq!(labels, ["$LATEST", "1"]);
    let rest = c
        .list_versions_by_function()
        .function_name("ver")
        .marker(page.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    let labels: Vec<_> = rest.versions().iter().filter_map(|v| v.version()).collect();
    assert_eq!((labels, rest.next_marker()), (vec!["2"], None));
    // A 90/10 alias: about a tenth of the invocations run version 2.
    let weights = |w: Option<f64>| {
        let b = AliasRoutingConfiguration::builder();
        match w {
            Some(w) => b.additional_version_weights("2", w).build(),
            None => b.build(),
        }
    };
    let live = c
        .create_alias()
        .function_name("ver")
        .name("live")
        .function_version("1")
        .routing_config(weights(Some(0.1)))
        .send()
        .await
        .unwrap();
    assert_eq!(live.alias_arn(), Some(format!("{ARN}:live").as_str()));
    let e = c
        .create_alias()
        .function_name("ver")
        .name("bad")
        .function_version("$LATEST")
        .routing_config(weights(Some(0.1)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "InvalidParameterValueException", "{e:?}");
    let mut to_two = 0;
    for _ in 0..200 {
        let (payload, executed) = run(&c, "ver", Some("live")).await.unwrap();
        assert_eq!(payload["arn"], format!("{ARN}:live"));
        assert_eq!(payload["version"], executed.as_str());
        match executed.as_str() {
            "2" => to_two += 1,
            "1" => {}
            other => panic!("alias ran {other}"),
        }
    }
    // Binomial(200, 0.1): mean 20, sd 4.2. 10..=35 fails about once in 255 runs (a CI run
    // saw 9); 4..=40 about once in 115,000, and it is still far from 0 or 200 (weights
    // ignored) and from 100 (a coin flip).
    assert!((4..=40).contains(&to_two), "{to_two} of 200 ran version 2");
    // A version an alias routes to cannot be deleted.
    for v in ["1", "2"] {
        let e = c
            .delete_function()
            .function_name("ver")
            .qualifier(v)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), "ResourceConflictException", "{e:?}");
    }
    let got = c
        .get_function()
        .function_name("ver")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(got.configuration().and_then(|c| c.version()), Some("1"));
    // All traffic to version 1, then version 2 can go.
    let updated = c
        .update_alias()
        .function_name("ver")
        .name("live")
        .routing_config(weights(None))
        .revision_id(live.revision_id().unwrap())
        .send()
        .await
        .unwrap();
    assert!(updated.routing_config().is_none(), "{updated:?}");
    for _ in 0..10 {
        assert_eq!(run(&c, "ver:live", None).await.unwrap().1, "1");
    }
    c.delete_function()
        .function_name("ver")
        .qualifier("2")
        .send()
        .await
        .unwrap();
    let gone = run(&c, "ver:2", None).await.unwrap_err();
    assert!(gone.starts_with("ResourceNotFoundException"), "{gone}");
    // Version numbers are never reused.
    c.update_function_configuration()
        .function_name("ver")
        .timeout(5)
        .send()
        .await
        .unwrap();
    let v3 = c
        .publish_version()
        .function_name("ver")
        .send()
        .await
        .unwrap();
    assert_eq!(v3.version(), Some("3"));
    // Provisioned concurrency on the alias: environments of version 1 are initialised
    // ahead of invocations.
    let asked = c
        .put_provisioned_concurrency_config()
        .function_name("ver")
        .qualifier("live")
        .provisioned_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.requested_provisioned_concurrent_executions(), Some(1));
    let e = c
        .put_provisioned_concurrency_config()
        .function_name("ver")
        .qualifier("$LATEST")
        .provisioned_concurrent_executions(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "InvalidParameterValueException", "{e:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = c
            .get_provisioned_concurrency_config()
            .function_name("ver")
            .qualifier("live")
            .send()
            .await
            .unwrap();
        if got.status() == Some(&aws_sdk_lambda::types::ProvisionedConcurrencyStatusEnum::Ready) {
            assert_eq!(got.allocated_provisioned_concurrent_executions(), Some(1));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {got:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let listed = c
        .list_provisioned_concurrency_configs()
        .function_name("ver")
        .send()
        .await
        .unwrap();
    let arns: Vec<_> = listed
        .provisioned_concurrency_configs()
        .iter()
        .filter_map(|p| p.function_arn())
        .collect();
    assert_eq!(arns, [format!("{ARN}:live")]);
    let aliases = c.list_aliases().function_name("ver").send().await.unwrap();
    let names: Vec<_> = aliases.aliases().iter().filter_map(|a| a.name()).collect();
    assert_eq!(names, ["live"]);
    c.delete_alias()
        .function_name("ver")
        .name("live")
        .send()
        .await
        .unwrap();
    c.delete_function()
        .function_name("ver")
        .send()
        .await
        .unwrap();
    let e = c
        .get_function()
        .function_name("ver")
        .qualifier("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "ResourceNotFoundException", "{e:?}");
}

/// boto3: publish two versions, an alias, and invocations through it and by version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_aliases_with_boto3() {
    if !crate::have_boto3("versions_and_aliases_with_boto3") {
        return;
    }
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let api = n.api_url.clone();
    tokio::task::spawn_blocking(move || {
        crate::run_boto3(
            "lambda_versions_boto3.py",
            &api,
            "boto3 lambda versions: ok",
        )
    })
    .await
    .unwrap();
}

/// An event source mapping made for an alias's ARN invokes the alias: the version it points
/// at runs, not `$LATEST`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mapping_on_an_alias() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let (ddb, c) = (n.dynamodb(), n.lambda());
    crate::dynamo_triggers::create_table(&ddb, "Src", "id", true).await;
    crate::dynamo_triggers::create_table(&ddb, "Ran", "id", false).await;
    let stream = ddb
        .describe_table()
        .table_name("Src")
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.latest_stream_arn())
        .unwrap()
        .to_owned();
    let handler = |v: u32| {
        zip_of(&[(
            "app.py",
            &format!(
                "import boto3, os\nddb = boto3.client('dynamodb')\ndef handler(event, context):\n    for r in event['Records']:\n        ddb.put_item(TableName='Ran', Item={{'id': r['dynamodb']['Keys']['id'], 'code': {{'S': '{v}'}}, 'version': {{'S': os.environ['AWS_LAMBDA_FUNCTION_VERSION']}}}})\n"
            ),
        )])
    };
    c.create_function()
        .function_name("onsrc")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .timeout(30)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(handler(1)))
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.publish_version()
        .function_name("onsrc")
        .send()
        .await
        .unwrap();
    c.update_function_code()
        .function_name("onsrc")
        .zip_file(Blob::new(handler(2)))
        .send()
        .await
        .unwrap();
    c.create_alias()
        .function_name("onsrc")
        .name("prod")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let alias_arn = "arn:aws:lambda:us-east-1:000000000000:function:onsrc:prod";
    let mapping = c
        .create_event_source_mapping()
        .function_name(alias_arn)
        .event_source_arn(&stream)
        .starting_position(aws_sdk_lambda::types::EventSourcePosition::TrimHorizon)
        .send()
        .await
        .unwrap();
    assert_eq!(mapping.function_arn(), Some(alias_arn));
    ddb.put_item()
        .table_name("Src")
        .item("id", AttributeValue::S("k1".into()))
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let item = loop {
        let got = ddb
            .get_item()
            .table_name("Ran")
            .key("id", AttributeValue::S("k1".into()))
            .send()
            .await
            .unwrap();
        if let Some(item) = got.item {
            break item;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mapping never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    assert_eq!(
        (text("code").as_deref(), text("version").as_deref()),
        (Some("1"), Some("1"))
    );
}
