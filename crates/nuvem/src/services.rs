//! Which services run, and applying the manifest to them through the same handlers the AWS
//! API uses (one way in).

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use crate::config::{Config, TableSpec};
use crate::endpoint::Endpoint;

/// The running services, for the manifest step.
pub struct Services {
    pub dynamo: Arc<nuvem_dynamo::DynamoService>,
}

/// Creates every available service on the shared store and registers it with the endpoint.
pub fn register(
    endpoint: &mut Endpoint,
    store: &nuvem_store::Store,
    config: &Config,
) -> anyhow::Result<Services> {
    let dynamo_config = nuvem_dynamo::DynamoConfig {
        region: config.region.clone(),
        account_id: config.account_id.clone(),
    };
    let dynamo = Arc::new(
        nuvem_dynamo::DynamoService::open(store.clone(), dynamo_config)
            .context("opening the tables service")?,
    );
    endpoint.register(dynamo.clone());
    Ok(Services { dynamo })
}

/// The CreateTable request a manifest table stands for.
fn create_table_input(t: &TableSpec) -> serde_json::Value {
    let mut keys = vec![json!({"AttributeName": t.partition_key.name, "KeyType": "HASH"})];
    let mut attrs =
        vec![json!({"AttributeName": t.partition_key.name, "AttributeType": t.partition_key.kind})];
    if let Some(sk) = &t.sort_key {
        keys.push(json!({"AttributeName": sk.name, "KeyType": "RANGE"}));
        attrs.push(json!({"AttributeName": sk.name, "AttributeType": sk.kind}));
    }
    let mode = t
        .billing_mode
        .clone()
        .unwrap_or_else(|| "PAY_PER_REQUEST".into());
    let mut input = json!({"TableName": t.name, "KeySchema": keys, "AttributeDefinitions": attrs, "BillingMode": mode});
    if mode == "PROVISIONED" {
        input["ProvisionedThroughput"] = json!({
            "ReadCapacityUnits": t.read_capacity.unwrap_or(5),
            "WriteCapacityUnits": t.write_capacity.unwrap_or(5),
        });
    }
    input
}

/// Creates what the manifest declares and is missing. Never deletes anything.
pub fn apply_manifest(config: &Config, services: &Services) -> anyhow::Result<()> {
    let m = &config.manifest;
    for (i, t) in m.tables.iter().enumerate() {
        match services
            .dynamo
            .execute("CreateTable", create_table_input(t))
        {
            Ok(_) => println!("  created table {}", t.name),
            Err(e) if e.code == "ResourceInUseException" => {}
            Err(e) => anyhow::bail!("at `tables[{i}]` ({}): {}", t.name, e.message),
        }
    }
    let pending = [
        ("buckets", !m.buckets.is_empty()),
        ("functions", !m.functions.is_empty()),
        ("apis", !m.apis.is_empty()),
        ("distribution", m.distribution.is_some()),
        ("waf", m.waf.is_some()),
    ];
    for (section, declared) in pending {
        if declared {
            println!(
                "  note: the manifest declares `{section}`, which this build of nuvem does not serve yet"
            );
        }
    }
    Ok(())
}
