//! Which services run, and applying the manifest to them through the same handlers the AWS
//! API uses (one way in).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::config::{Config, TableSpec};
use crate::endpoint::Endpoint;

/// The running services, for the manifest step.
pub struct Services {
    pub dynamo: Arc<nuvem_dynamo::DynamoService>,
    pub s3: Arc<nuvem_s3::S3Service>,
    pub functions: Arc<nuvem_functions::FunctionsService>,
    pub gateway: Arc<nuvem_gateway::Gateway>,
    /// The wafv2 API: the edge registers the distribution's WebACL with it.
    pub waf: Arc<nuvem_waf::WafApi>,
    /// IAM and STS: the manifest's function roles are made through it.
    pub iam: nuvem_iam::api::IamApi,
    /// Function URLs' data plane (also the edge's `function:` origins).
    pub function_urls: Arc<crate::function_url::FunctionUrlService>,
    /// CloudWatch Logs: function logs are written into it.
    pub logs: nuvem_logs::LogsService,
    /// Application Auto Scaling: the manifest's `autoscaling` goes through it; its scaler
    /// runs from `up`.
    pub autoscaling: nuvem_autoscaling::AutoScaling,
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
        burst_secs: config.dynamodb_burst_secs,
    };
    let dynamo = Arc::new(
        nuvem_dynamo::DynamoService::open(store.clone(), dynamo_config)
            .context("opening the tables service")?,
    );
    endpoint.register(dynamo.clone());
    let master_key = crate::data_dir::master_key(&config.master_key_file)?;
    let s3_config = nuvem_s3::S3Config {
        region: config.region.clone(),
        data_dir: crate::data_dir::s3_dir(&config.data_dir),
        // Object data beside the metadata: in the data dir for the embedded store, in the
        // database (where every node sharing it reads it) for a remote one.
        blob_tier: match config.storage {
            crate::config::Storage::Embedded => nuvem_s3::store::BlobTier::Local {
                fsync: matches!(config.durability, nuvem_store::Durability::Fsync),
            },
            crate::config::Storage::Postgres(_) => nuvem_s3::store::BlobTier::Store {
                grace: config.blob_grace,
            },
        },
        keyring: config.keyring.clone(),
        base_domain: "s3.localhost".into(),
        gc_limit: nuvem_s3::store::garbage::DEFAULT_LIMIT,
        master_key: Some(Arc::new(nuvem_s3::store::sealing::MasterKey::from_bytes(
            &master_key,
        )?)),
        account_id: config.account_id.clone(),
    };
    let s3 = Arc::new(
        nuvem_s3::S3Service::open(store.clone(), s3_config)
            .context("opening the object store service")?,
    );
    s3.objects()
        .lifecycle_clock()
        .set_day_ms(i64::try_from(config.lifecycle_day.as_millis()).unwrap_or(i64::MAX));
    endpoint.register(s3.clone());
    let functions = Arc::new(
        nuvem_functions::FunctionsService::open(store.clone(), functions_config(config))
            .context("opening the functions service")?,
    );
    endpoint.register(functions.clone());
    let function_urls = Arc::new(crate::function_url::FunctionUrlService {
        functions: functions.clone(),
        region: config.region.clone(),
        account: config.account_id.clone(),
        parsed: moka::sync::Cache::new(1_000),
    });
    endpoint.register(function_urls.clone());
    endpoint.set_function_urls(functions.clone());
    let gateway = Arc::new(
        nuvem_gateway::Gateway::open(
            store.clone(),
            nuvem_gateway::GatewayConfig {
                region: config.region.clone(),
                account_id: config.account_id.clone(),
                extra_ca_pem: config.upstream_ca_pem(None)?,
            },
        )
        .context("opening the API gateway")?,
    );
    endpoint.register(Arc::new(nuvem_gateway::GatewayService(gateway.clone())));
    endpoint.set_execute_api(gateway.clone());
    let waf = Arc::new(
        nuvem_waf::WafApi::open(
            store.clone(),
            nuvem_waf::WafApiConfig {
                region: config.region.clone(),
                account_id: config.account_id.clone(),
            },
        )
        .context("opening the wafv2 API")?,
    );
    endpoint.register(waf.clone());
    let iam = nuvem_iam::api::IamApi::new(
        store.clone(),
        nuvem_iam::api::IamConfig {
            account_id: config.account_id.clone(),
            root_keys: config.keyring.access_key_ids().map(str::to_owned).collect(),
        },
    );
    endpoint.register(Arc::new(nuvem_iam::api::IamService(iam.clone())));
    endpoint.register(Arc::new(nuvem_iam::api::StsService(iam.clone())));
    functions.set_role_credentials(Arc::new(LambdaRoles(iam.clone())));
    functions.set_stream_source(Arc::new(DynamoStreams {
        dynamo: dynamo.clone(),
        iam: iam.clone(),
    }));
    functions.set_failure_bucket(Arc::new(FailureBuckets {
        s3: s3.clone(),
        iam: iam.clone(),
    }));
    s3.set_secret_lookup(Arc::new(IamSecrets(iam.clone())));
    // KMS: key material sealed under the same master key as SSE-S3 data keys; S3 reaches it
    // through its `KeyService` port, with the requester's IAM permissions checked here.
    let kms = nuvem_kms::Kms::new(
        store.clone(),
        nuvem_kms::KmsConfig {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
        },
        &master_key,
    )
    .context("opening KMS")?;
    endpoint.register(Arc::new(nuvem_kms::KmsService(kms.clone())));
    s3.objects().set_key_service(Arc::new(S3Keys {
        kms: kms.clone(),
        iam: iam.clone(),
        region: config.region.clone(),
    }));
    endpoint.set_kms(kms);
    gateway.set_invoker(Arc::new(GatewayInvoker {
        functions: functions.clone(),
        iam: iam.clone(),
        store: store.clone(),
        region: config.region.clone(),
        parsed: moka::sync::Cache::new(1_000),
    }));
    endpoint.set_condition_keys(Arc::new(ServiceConditionKeys {
        dynamo: dynamo.clone(),
        store: store.clone(),
        region: config.region.clone(),
        account: config.account_id.clone(),
    }));
    endpoint.set_resource_policies(Arc::new(ResourcePolicyLookup {
        functions: functions.clone(),
        s3: s3.clone(),
    }));
    let logs = nuvem_logs::LogsService::new(
        store.clone(),
        nuvem_logs::LogsConfig {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
        },
    );
    endpoint.register(Arc::new(logs.clone()));
    functions.set_log_emitter(Arc::new(FunctionLogs(logs.ingest().clone())));
    // Every invocation, whichever way it came, counts in `/_nuvem/metrics`.
    functions.set_invocation_observer(endpoint.metrics());
    endpoint.set_identities(iam.clone());
    let autoscaling = nuvem_autoscaling::AutoScaling::open(
        store.clone(),
        nuvem_autoscaling::AutoScalingConfig {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            window: config.autoscaling_window,
        },
    )
    .map_err(|e| anyhow::anyhow!("opening Application Auto Scaling: {e}"))?;
    autoscaling.register_scalable(Arc::new(DynamoCapacity {
        dynamo: dynamo.clone(),
    }));
    autoscaling.register_scalable(Arc::new(LambdaConcurrency {
        functions: functions.clone(),
    }));
    endpoint.register(Arc::new(autoscaling.clone()));
    Ok(Services {
        logs,
        function_urls,
        autoscaling,
        iam,
        dynamo,
        s3,
        functions,
        gateway,
        waf,
    })
}

/// Function log lines into the Logs service's write queue (never blocks an invocation).
struct FunctionLogs(nuvem_logs::Ingest);

impl nuvem_functions::logs::LogEmitter for FunctionLogs {
    fn emit(&self, group: &str, stream: &str, timestamp_ms: i64, message: String) {
        self.0.push(group, stream, timestamp_ms, message);
    }
}

/// The services' own condition keys (DynamoDB's fine-grained access control keys), for IAM
/// principals' requests.
struct ServiceConditionKeys {
    dynamo: Arc<nuvem_dynamo::DynamoService>,
    store: nuvem_store::Store,
    region: String,
    account: String,
}

impl crate::authorize::ConditionKeys for ServiceConditionKeys {
    fn keys(
        &self,
        service: &str,
        action: &str,
        resource: &str,
        body: &[u8],
    ) -> nuvem_aws::BoxFuture<'static, Option<crate::authorize::KeyValues>> {
        // Lambda's `lambda:FunctionArn`: the function an event source mapping is made for.
        if service == "lambda"
            && matches!(
                action,
                "lambda:CreateEventSourceMapping" | "lambda:UpdateEventSourceMapping"
            )
        {
            let function = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("FunctionName")?.as_str().map(str::to_owned));
            let keys = function
                .map(|f| {
                    let name = function_name(&f);
                    vec![(
                        "lambda:FunctionArn".to_owned(),
                        vec![format!(
                            "arn:aws:lambda:{}:{}:function:{name}",
                            self.region, self.account
                        )],
                    )]
                })
                .unwrap_or_default();
            return Box::pin(async move { Some(keys) });
        }
        // arn:aws:dynamodb:<region>:<account>:table/<name>[/index/<index>]
        let table = resource
            .split_once(":table/")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest).to_owned());
        let (Some(op), Some(table), "dynamodb") =
            (action.strip_prefix("dynamodb:"), table, service)
        else {
            return Box::pin(async { Some(Vec::new()) });
        };
        // A body that is not JSON is refused by the service itself.
        let Ok(input) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Box::pin(async { Some(Vec::new()) });
        };
        let (dynamo, store, op) = (self.dynamo.clone(), self.store.clone(), op.to_owned());
        Box::pin(async move {
            store
                .run(move || dynamo.condition_keys(&op, &table, &input))
                .await
                .map_err(|e| tracing::warn!(error = %e, "dynamodb: condition keys not read"))
                .ok()
                .map(|keys| keys.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        })
    }
}

/// DynamoDB tables and global indexes as Application Auto Scaling's scalable targets
/// (`table/<name>`, `table/<name>/index/<index>`): capacity read with DescribeTable and set
/// with UpdateTable (the same handlers the API uses), consumption from the table's capacity
/// counters on this node. The two services never import each other.
struct DynamoCapacity {
    dynamo: Arc<nuvem_dynamo::DynamoService>,
}

/// Lambda's provisioned concurrency as an Application Auto Scaling resource
/// (`function:<name>:<alias or version>`, `lambda:function:ProvisionedConcurrency`): the
/// capacity is the provisioned concurrency asked for (Get/Put/DeleteProvisionedConcurrencyConfig
/// through the functions service's own handlers), the consumption the seconds invocations held
/// an environment of what the qualifier runs, so that a window's rate is its average
/// concurrency and `LambdaProvisionedConcurrencyUtilization` that over the provisioned number.
struct LambdaConcurrency {
    functions: Arc<nuvem_functions::FunctionsService>,
}

/// `function:<name>:<qualifier>` → (name, qualifier).
fn lambda_target(resource_id: &str) -> Result<(&str, &str), String> {
    resource_id
        .strip_prefix("function:")
        .and_then(|r| r.split_once(':'))
        .filter(|(n, q)| !n.is_empty() && !q.is_empty() && *q != "$LATEST")
        .ok_or_else(|| {
            format!(
                "Unsupported resource ID {resource_id}: use function:<function name>:<alias or version>"
            )
        })
}

impl nuvem_autoscaling::Scalable for LambdaConcurrency {
    fn namespace(&self) -> &'static str {
        "lambda"
    }

    fn dimensions(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "lambda:function:ProvisionedConcurrency",
            "LambdaProvisionedConcurrencyUtilization",
        )]
    }

    /// Lambda's utilization target is a ratio between 0.1 and 0.9.
    fn target_value_range(&self) -> (f64, f64) {
        (0.1, 0.9)
    }

    fn target_in_percent(&self) -> bool {
        false
    }

    fn check(&self, resource_id: &str, _dimension: &str) -> Result<(), String> {
        let (name, qualifier) = lambda_target(resource_id)?;
        match self.functions.execute(
            "GetFunctionConfiguration",
            json!({"FunctionName": name, "Qualifier": qualifier}),
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.code == "ResourceNotFoundException" => Err(format!(
                "Function {name} with qualifier {qualifier} does not exist"
            )),
            Err(e) => Err(e.message),
        }
    }

    fn capacity(&self, resource_id: &str, _dimension: &str) -> Result<Option<u64>, String> {
        let (name, qualifier) = lambda_target(resource_id)?;
        match self.functions.execute(
            "GetProvisionedConcurrencyConfig",
            json!({"FunctionName": name, "Qualifier": qualifier}),
        ) {
            Ok(v) => Ok(v["RequestedProvisionedConcurrentExecutions"].as_u64()),
            // No configuration: nothing provisioned yet (the scaler raises it to the minimum).
            Err(e) if e.code == "ProvisionedConcurrencyConfigNotFoundException" => Ok(Some(0)),
            Err(e) if e.code == "ResourceNotFoundException" => Ok(None),
            Err(e) => Err(e.message),
        }
    }

    fn set_capacity(
        &self,
        resource_id: &str,
        _dimension: &str,
        capacity: u64,
    ) -> Result<(), String> {
        let (name, qualifier) = lambda_target(resource_id)?;
        let result = if capacity == 0 {
            self.functions.execute(
                "DeleteProvisionedConcurrencyConfig",
                json!({"FunctionName": name, "Qualifier": qualifier}),
            )
        } else {
            self.functions.execute(
                "PutProvisionedConcurrencyConfig",
                json!({"FunctionName": name, "Qualifier": qualifier,
                       "ProvisionedConcurrentExecutions": capacity}),
            )
        };
        result.map(|_| ()).map_err(|e| e.message)
    }

    fn consumed(&self, resource_id: &str, _dimension: &str) -> f64 {
        lambda_target(resource_id)
            .ok()
            .and_then(|(name, qualifier)| self.functions.busy_seconds(name, qualifier))
            .unwrap_or(0.0)
    }
}

/// DynamoDB's scalable dimensions and the predefined metric that tracks each.
const DYNAMO_DIMENSIONS: &[(&str, &str)] = &[
    (
        "dynamodb:table:ReadCapacityUnits",
        "DynamoDBReadCapacityUtilization",
    ),
    (
        "dynamodb:table:WriteCapacityUnits",
        "DynamoDBWriteCapacityUtilization",
    ),
    (
        "dynamodb:index:ReadCapacityUnits",
        "DynamoDBReadCapacityUtilization",
    ),
    (
        "dynamodb:index:WriteCapacityUnits",
        "DynamoDBWriteCapacityUtilization",
    ),
];

/// A DynamoDB resource id and dimension: (table, index, read?).
fn dynamo_target<'a>(
    resource_id: &'a str,
    dimension: &str,
) -> Result<(&'a str, Option<&'a str>, bool), String> {
    let read = dimension.ends_with(":ReadCapacityUnits");
    let rest = resource_id
        .strip_prefix("table/")
        .ok_or_else(|| format!("Unsupported resource ID {resource_id}: use table/<table name> or table/<table name>/index/<index name>"))?;
    let (table, index) = match rest.split_once("/index/") {
        Some((t, i)) => (t, Some(i)),
        None => (rest, None),
    };
    if table.is_empty() || index.is_some_and(str::is_empty) {
        return Err(format!("Unsupported resource ID {resource_id}"));
    }
    match (index.is_some(), dimension.starts_with("dynamodb:index:")) {
        (true, false) => Err(format!(
            "Scalable dimension {dimension} is for tables; resource ID {resource_id} names an index"
        )),
        (false, true) => Err(format!(
            "Scalable dimension {dimension} is for indexes; resource ID {resource_id} names a table"
        )),
        _ => Ok((table, index, read)),
    }
}

impl DynamoCapacity {
    fn describe(&self, table: &str) -> Result<Option<serde_json::Value>, String> {
        match self
            .dynamo
            .execute("DescribeTable", json!({"TableName": table}))
        {
            Ok(v) => Ok(Some(v["Table"].clone())),
            Err(e) if e.code == "ResourceNotFoundException" => Ok(None),
            Err(e) => Err(e.message),
        }
    }

    /// The provisioned units of the table or index, `None` when it is gone or on-demand.
    fn units(
        table: &serde_json::Value,
        index: Option<&str>,
        read: bool,
    ) -> Result<Option<u64>, String> {
        if table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST" {
            return Ok(None);
        }
        let holder = match index {
            None => table,
            Some(index) => match table["GlobalSecondaryIndexes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|g| g["IndexName"] == index)
            {
                Some(g) => g,
                None => return Ok(None),
            },
        };
        let member = if read {
            "ReadCapacityUnits"
        } else {
            "WriteCapacityUnits"
        };
        Ok(holder["ProvisionedThroughput"][member].as_u64())
    }
}

impl nuvem_autoscaling::Scalable for DynamoCapacity {
    fn namespace(&self) -> &'static str {
        "dynamodb"
    }

    fn dimensions(&self) -> &'static [(&'static str, &'static str)] {
        DYNAMO_DIMENSIONS
    }

    /// DynamoDB auto scaling's target utilization: 20 to 90 percent.
    fn target_value_range(&self) -> (f64, f64) {
        (20.0, 90.0)
    }

    fn check(&self, resource_id: &str, dimension: &str) -> Result<(), String> {
        let (table, index, read) = dynamo_target(resource_id, dimension)?;
        let Some(meta) = self.describe(table)? else {
            return Err(format!("Table {table} does not exist"));
        };
        if meta["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST" {
            return Err(format!(
                "Table {table} is in PAY_PER_REQUEST (on-demand) billing mode: only PROVISIONED tables and their global secondary indexes can be scaled"
            ));
        }
        match Self::units(&meta, index, read)? {
            Some(_) => Ok(()),
            None => Err(format!(
                "Table {table} has no global secondary index {}",
                index.unwrap_or_default()
            )),
        }
    }

    fn capacity(&self, resource_id: &str, dimension: &str) -> Result<Option<u64>, String> {
        let (table, index, read) = dynamo_target(resource_id, dimension)?;
        match self.describe(table)? {
            Some(meta) => Self::units(&meta, index, read),
            None => Ok(None),
        }
    }

    fn set_capacity(
        &self,
        resource_id: &str,
        dimension: &str,
        capacity: u64,
    ) -> Result<(), String> {
        let (table, index, read) = dynamo_target(resource_id, dimension)?;
        let meta = self
            .describe(table)?
            .ok_or_else(|| format!("Table {table} does not exist"))?;
        let other = Self::units(&meta, index, !read)?
            .ok_or_else(|| format!("{resource_id} is not provisioned"))?;
        let (r, w) = if read {
            (capacity, other)
        } else {
            (other, capacity)
        };
        let throughput = json!({"ReadCapacityUnits": r, "WriteCapacityUnits": w});
        let input = match index {
            None => json!({"TableName": table, "ProvisionedThroughput": throughput}),
            Some(index) => json!({"TableName": table, "GlobalSecondaryIndexUpdates": [
                {"Update": {"IndexName": index, "ProvisionedThroughput": throughput}}
            ]}),
        };
        self.dynamo
            .execute("UpdateTable", input)
            .map(|_| ())
            .map_err(|e| e.message)
    }

    fn consumed(&self, resource_id: &str, dimension: &str) -> f64 {
        let Ok((table, index, read)) = dynamo_target(resource_id, dimension) else {
            return 0.0;
        };
        self.dynamo
            .capacity_usage()
            .into_iter()
            .find(|u| u.table == table && u.index.as_deref() == index)
            .map_or(0.0, |u| {
                if read {
                    u.read.consumed
                } else {
                    u.write.consumed
                }
            })
    }
}

/// Registers the manifest's `autoscaling` of a table and its global indexes through the
/// Application Auto Scaling handlers: a scalable target per read and write capacity, each
/// with a target tracking policy (RegisterScalableTarget and PutScalingPolicy update what
/// exists, so `up` can run again).
fn apply_table_autoscaling(
    autoscaling: &nuvem_autoscaling::AutoScaling,
    i: usize,
    t: &TableSpec,
) -> anyhow::Result<()> {
    let mut targets: Vec<(String, &str, crate::config::AutoscalingSpec)> = Vec::new();
    if let Some(a) = t.autoscaling {
        targets.push((format!("table/{}", t.name), "table", a));
    }
    for g in &t.global_indexes {
        if let Some(a) = t.index_autoscaling(g) {
            targets.push((format!("table/{}/index/{}", t.name, g.name), "index", a));
        }
    }
    for (resource, kind, a) in targets {
        for (units, metric) in [
            ("ReadCapacityUnits", "DynamoDBReadCapacityUtilization"),
            ("WriteCapacityUnits", "DynamoDBWriteCapacityUtilization"),
        ] {
            let dimension = format!("dynamodb:{kind}:{units}");
            let fail = |e: nuvem_autoscaling::ApiError| {
                anyhow::anyhow!(
                    "at `tables[{i}]` ({}): autoscaling of {resource}: {e}",
                    t.name
                )
            };
            autoscaling
                .execute(
                    "RegisterScalableTarget",
                    &json!({"ServiceNamespace": "dynamodb", "ResourceId": resource,
                        "ScalableDimension": dimension, "MinCapacity": a.min, "MaxCapacity": a.max}),
                )
                .map_err(fail)?;
            autoscaling
                .execute(
                    "PutScalingPolicy",
                    &json!({"PolicyName": format!("{metric}:{resource}"), "ServiceNamespace": "dynamodb",
                        "ResourceId": resource, "ScalableDimension": dimension,
                        "PolicyType": "TargetTrackingScaling",
                        "TargetTrackingScalingPolicyConfiguration": {
                            "TargetValue": a.target(),
                            "PredefinedMetricSpecification": {"PredefinedMetricType": metric}}}),
                )
                .map_err(fail)?;
        }
    }
    Ok(())
}

/// DynamoDB streams for the functions service's event source mappings: the two services
/// meet here, through the functions crate's `StreamSource` port.
struct DynamoStreams {
    dynamo: Arc<nuvem_dynamo::DynamoService>,
    iam: nuvem_iam::api::IamApi,
}

impl nuvem_functions::esm::StreamSource for DynamoStreams {
    fn exists(&self, arn: &str) -> Result<bool, String> {
        match nuvem_dynamo::ops::streams::latest_sequence_number(&self.dynamo, arn) {
            Ok(_) => Ok(true),
            Err(nuvem_dynamo::Error::ResourceNotFound(_)) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    fn latest(&self, arn: &str) -> Result<Option<String>, String> {
        nuvem_dynamo::ops::streams::latest_sequence_number(&self.dynamo, arn)
            .map_err(|e| e.to_string())
    }

    fn read(
        &self,
        arn: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, nuvem_functions::esm::StreamReadError> {
        use nuvem_dynamo::ops::streams::{ReadError, read_after};
        use nuvem_functions::esm::StreamReadError;
        read_after(&self.dynamo, arn, after, limit).map_err(|e| match e {
            ReadError::Trimmed => StreamReadError::Trimmed,
            ReadError::Other(e) => StreamReadError::Other(e.to_string()),
        })
    }

    fn role_may_read(
        &self,
        role_arn: &str,
        arn: &str,
    ) -> Result<nuvem_functions::esm::RoleAccess, String> {
        use nuvem_functions::esm::RoleAccess;
        let role = match self.iam.service_role(role_arn, "lambda.amazonaws.com") {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(RoleAccess::NoSuchRole),
            Err(nuvem_iam::api::ApiError::AccessDenied(_)) => return Ok(RoleAccess::Denied),
            Err(e) => return Err(e.to_string()),
        };
        let policies: Vec<&nuvem_iam::Policy> = role.policies.iter().collect();
        let ctx = nuvem_iam::Context::new();
        let allowed = [
            "dynamodb:DescribeStream",
            "dynamodb:GetShardIterator",
            "dynamodb:GetRecords",
            "dynamodb:ListStreams",
        ]
        .iter()
        .all(|action| {
            let resource = if *action == "dynamodb:ListStreams" {
                "*"
            } else {
                arn
            };
            nuvem_iam::evaluate(
                &policies,
                None,
                &nuvem_iam::Request {
                    principal: &role.principal,
                    action,
                    resource,
                    context: &ctx,
                },
            )
            .decision
                == nuvem_iam::Decision::Allow
        });
        Ok(if allowed {
            RoleAccess::Allowed
        } else {
            RoleAccess::Denied
        })
    }

    fn shard_id(&self, arn: &str) -> Result<String, String> {
        nuvem_dynamo::ops::streams::shard_of(&self.dynamo, arn).map_err(|e| e.to_string())
    }
}

/// S3 buckets as event source mappings' on-failure destinations: the functions and S3
/// services meet here, through the functions crate's `FailureBucket` port.
struct FailureBuckets {
    s3: Arc<nuvem_s3::S3Service>,
    iam: nuvem_iam::api::IamApi,
}

impl nuvem_functions::esm::FailureBucket for FailureBuckets {
    fn exists(&self, bucket: &str) -> Result<bool, String> {
        match self.s3.objects().bucket_sync(bucket) {
            Ok(_) => Ok(true),
            Err(nuvem_s3::Error::NoSuchBucket(_)) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    fn role_may_put(
        &self,
        role_arn: &str,
        bucket: &str,
        key: &str,
    ) -> Result<nuvem_functions::esm::RoleAccess, String> {
        use nuvem_functions::esm::RoleAccess;
        let role = match self.iam.service_role(role_arn, "lambda.amazonaws.com") {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(RoleAccess::NoSuchRole),
            Err(nuvem_iam::api::ApiError::AccessDenied(_)) => return Ok(RoleAccess::Denied),
            Err(e) => return Err(e.to_string()),
        };
        let policies: Vec<&nuvem_iam::Policy> = role.policies.iter().collect();
        let ctx = nuvem_iam::Context::new();
        let resource = format!("arn:aws:s3:::{bucket}/{key}");
        let decision = nuvem_iam::evaluate(
            &policies,
            None,
            &nuvem_iam::Request {
                principal: &role.principal,
                action: "s3:PutObject",
                resource: &resource,
                context: &ctx,
            },
        )
        .decision;
        Ok(if decision == nuvem_iam::Decision::Allow {
            RoleAccess::Allowed
        } else {
            RoleAccess::Denied
        })
    }

    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> nuvem_aws::BoxFuture<'static, Result<(), String>> {
        let (s3, bucket, key) = (self.s3.clone(), bucket.to_owned(), key.to_owned());
        Box::pin(async move {
            let opts = nuvem_s3::store::objects::PutOptions {
                headers: nuvem_s3::store::Headers {
                    content_type: Some("application/json".into()),
                    ..Default::default()
                },
                ..Default::default()
            };
            let body =
                futures_util::stream::iter([Ok::<_, nuvem_s3::Error>(bytes::Bytes::from(body))]);
            s3.objects()
                .put_object(&bucket, &key, body, opts, |_| Ok(()))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// Functions' and buckets' resource-based policies, for IAM principals' requests.
struct ResourcePolicyLookup {
    functions: Arc<nuvem_functions::FunctionsService>,
    s3: Arc<nuvem_s3::S3Service>,
}

impl crate::authorize::ResourcePolicies for ResourcePolicyLookup {
    fn policy_for(
        &self,
        service: &str,
        resource: &str,
    ) -> nuvem_aws::BoxFuture<'static, Option<String>> {
        let (functions, s3) = (self.functions.clone(), self.s3.clone());
        let (service, resource) = (service.to_owned(), resource.to_owned());
        Box::pin(async move {
            match service.as_str() {
                // arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]: a version
                // or an alias has a policy of its own.
                "lambda" | "lambda-url" => {
                    let reference = resource.splitn(7, ':').nth(6)?;
                    functions.resource_policy(reference).await.ok().flatten()
                }
                // arn:aws:s3:::<bucket>[/<key>]
                "s3" => {
                    let rest = resource.strip_prefix("arn:aws:s3:::")?;
                    let bucket = rest.split('/').next()?;
                    s3.objects().bucket(bucket).await.ok()?.policy
                }
                _ => None,
            }
        })
    }
}

/// SSE-KMS: the s3 crate's `KeyService` port over the KMS key ring. S3 calls KMS on the
/// requester's behalf (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#aws-managed-customer-managed-keys):
/// an IAM principal needs `kms:GenerateDataKey` (writes) or `kms:Decrypt` (reads, parts of an
/// upload) on a customer managed key in its identity policies (the default key policy lets
/// IAM policies decide); the AWS managed key `aws/s3` is open to every principal of the
/// account through S3, as its key policy says. The root credentials and nuvem itself are
/// never checked.
#[derive(Clone)]
struct S3Keys {
    kms: nuvem_kms::Kms,
    iam: nuvem_iam::api::IamApi,
    region: String,
}

fn kms_failure(e: nuvem_kms::KmsError) -> nuvem_s3::kms::KmsFailure {
    use nuvem_kms::KmsError as K;
    use nuvem_s3::kms::KmsFailure as F;
    match e {
        K::NotFound(m) => F::NotFound(m),
        K::InvalidArn(m) => F::NotFound(m),
        K::Disabled(m) => F::Disabled(m),
        K::InvalidState(m) => F::InvalidState(m),
        K::InvalidCiphertext(_) => F::InvalidCiphertext(
            "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.".into(),
        ),
        K::AccessDenied(m) => F::AccessDenied(m),
        e => F::Internal(e.to_string()),
    }
}

impl S3Keys {
    /// Whether `caller` may take `action` with the key `arn` through S3.
    fn check(
        &self,
        caller: &nuvem_s3::kms::KmsCaller,
        action: &str,
        arn: &str,
        manager: nuvem_kms::keyring::Manager,
        context: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), nuvem_s3::kms::KmsFailure> {
        use nuvem_s3::kms::{KmsCaller, KmsFailure};
        let access_key = match caller {
            KmsCaller::Service | KmsCaller::Root => return Ok(()),
            KmsCaller::Anonymous => {
                return Err(KmsFailure::AccessDenied(format!(
                    "Anonymous callers may not use {arn}"
                )));
            }
            KmsCaller::Principal(k) => k,
        };
        if manager == nuvem_kms::keyring::Manager::Aws {
            return Ok(());
        }
        let identity = match self.iam.identity(access_key) {
            Ok(Some(i)) => i,
            // A key that is not IAM's is one of the manifest's: the root.
            Ok(None) => return Ok(()),
            Err(e) => return Err(KmsFailure::Internal(e.to_string())),
        };
        if matches!(identity.principal, nuvem_iam::Principal::Root { .. }) {
            return Ok(());
        }
        let mut ctx = nuvem_iam::Context::new();
        ctx.set(
            "kms:ViaService",
            format!("s3.{}.amazonaws.com", self.region),
        );
        ctx.set("kms:CallerAccount", self.iam.account().to_owned());
        for (k, v) in context {
            ctx.set(&format!("kms:EncryptionContext:{k}"), v.clone());
        }
        let policies: Vec<&nuvem_iam::Policy> = identity.policies.iter().collect();
        let decision = nuvem_iam::evaluate(
            &policies,
            None,
            &nuvem_iam::Request {
                principal: &identity.principal,
                action,
                resource: arn,
                context: &ctx,
            },
        )
        .decision;
        if decision == nuvem_iam::Decision::Allow {
            return Ok(());
        }
        let who = identity.principal.arn().unwrap_or_default();
        tracing::info!(principal = %who, %action, resource = %arn, "access denied (SSE-KMS)");
        Err(KmsFailure::AccessDenied(format!(
            "User: {who} is not authorized to perform: {action} on resource: {arn} because no identity-based policy allows the {action} action"
        )))
    }
}

impl nuvem_s3::kms::KeyService for S3Keys {
    fn generate_data_key(
        &self,
        key_id: String,
        context: nuvem_s3::kms::Context,
        caller: nuvem_s3::kms::KmsCaller,
    ) -> nuvem_aws::BoxFuture<'static, Result<nuvem_s3::kms::DataKey, nuvem_s3::kms::KmsFailure>>
    {
        let me = self.clone();
        Box::pin(async move {
            let store = me.kms.store().clone();
            store
                .run(move || {
                    let (arn, manager) = me.kms.key_for_service(&key_id).map_err(kms_failure)?;
                    me.check(&caller, "kms:GenerateDataKey", &arn, manager, &context)?;
                    let dk = me
                        .kms
                        .generate_data_key_for_service(&arn, &context)
                        .map_err(kms_failure)?;
                    Ok(nuvem_s3::kms::DataKey {
                        key_arn: dk.key_arn,
                        plaintext: dk.plaintext,
                        ciphertext: dk.ciphertext,
                    })
                })
                .await
        })
    }

    fn decrypt(
        &self,
        ciphertext: Vec<u8>,
        context: nuvem_s3::kms::Context,
        caller: nuvem_s3::kms::KmsCaller,
    ) -> nuvem_aws::BoxFuture<'static, Result<nuvem_s3::kms::DataKey, nuvem_s3::kms::KmsFailure>>
    {
        let me = self.clone();
        Box::pin(async move {
            let store = me.kms.store().clone();
            store
                .run(move || {
                    let (arn, manager) = me
                        .kms
                        .blob_key_for_service(&ciphertext)
                        .map_err(kms_failure)?;
                    me.check(&caller, "kms:Decrypt", &arn, manager, &context)?;
                    let dk = me
                        .kms
                        .decrypt_for_service(&ciphertext, &context)
                        .map_err(kms_failure)?;
                    Ok(nuvem_s3::kms::DataKey {
                        key_arn: dk.key_arn,
                        plaintext: dk.plaintext,
                        ciphertext,
                    })
                })
                .await
        })
    }
}

/// Secrets of IAM-issued keys for the S3 protocol library's own signature checks.
struct IamSecrets(nuvem_iam::api::IamApi);

impl nuvem_s3::api::SecretLookup for IamSecrets {
    fn secret(&self, access_key: &str) -> nuvem_aws::BoxFuture<'static, Option<String>> {
        let iam = self.0.clone();
        let key = access_key.to_owned();
        Box::pin(async move {
            let store = iam.store().clone();
            store
                .run(move || iam.identity(&key))
                .await
                .ok()
                .flatten()
                .and_then(|i| i.secret.clone())
        })
    }
}

/// Functions' execution roles: a session per environment, assumed for the Lambda service
/// principal through the IAM API (services never import each other; the binary wires them).
#[derive(Debug)]
struct LambdaRoles(nuvem_iam::api::IamApi);

impl nuvem_functions::credentials::RoleCredentials for LambdaRoles {
    fn session(
        &self,
        role_arn: &str,
        function: &str,
    ) -> nuvem_aws::BoxFuture<
        'static,
        Result<Option<nuvem_functions::credentials::TempCredentials>, String>,
    > {
        let iam = self.0.clone();
        let (role_arn, function) = (role_arn.to_owned(), function.to_owned());
        Box::pin(async move {
            let store = iam.store().clone();
            let found = store
                .run(move || iam.service_session(&role_arn, "lambda.amazonaws.com", &function))
                .await
                .map_err(|e| e.to_string())?;
            Ok(
                found.map(|s| nuvem_functions::credentials::TempCredentials {
                    access_key_id: s.access_key_id,
                    secret_access_key: s.secret_access_key,
                    session_token: s.session_token,
                    expires_ms: s.expires_ms,
                }),
            )
        })
    }
}

/// The gateway's port to functions, over the functions service's in-process Invoke
/// (services never import each other; the binary wires them). API Gateway invokes a function
/// only when it may: the function's resource-based policy allows `lambda:InvokeFunction` to
/// `apigateway.amazonaws.com` from the route's execute-api ARN, or the integration's role
/// (`credentialsArn`, which must trust API Gateway) allows it.
struct GatewayInvoker {
    functions: Arc<nuvem_functions::FunctionsService>,
    iam: nuvem_iam::api::IamApi,
    store: nuvem_store::Store,
    region: String,
    /// Resource policies parsed once per document.
    parsed: moka::sync::Cache<String, Arc<nuvem_iam::Policy>>,
}

/// The name part of what an integration names (a name, `name:qualifier`, a partial or full
/// function ARN), as the functions service parses it; what does not parse is passed on as it
/// is, for the service to refuse.
fn function_name(function: &str) -> String {
    nuvem_functions::model::FunctionRef::parse(function)
        .map(|f| f.name)
        .unwrap_or_else(|_| function.to_owned())
}

/// What an integration invokes, as permissions name it: the function's name, with the
/// version or alias when it names one (a version or an alias has a policy of its own;
/// `$LATEST` is the function's).
fn function_target(function: &str) -> String {
    match nuvem_functions::model::FunctionRef::parse(function) {
        Ok(f) => match f.qualifier {
            Some(q) if q != "$LATEST" => format!("{}:{q}", f.name),
            _ => f.name,
        },
        Err(_) => function.to_owned(),
    }
}

impl GatewayInvoker {
    /// Whether API Gateway may invoke `name` (a function, or `name:qualifier`) on behalf of
    /// `caller`; `Err` says why not.
    async fn permitted(&self, name: &str, caller: &nuvem_gateway::Caller) -> Result<(), String> {
        let account = self.iam.account().to_owned();
        let function_arn = format!("arn:aws:lambda:{}:{account}:function:{name}", self.region);
        let document = self
            .functions
            .resource_policy(name)
            .await
            .map_err(|e| e.to_string())?;
        let resource_policy = match document {
            None => None,
            Some(doc) => match self.parsed.get(&doc) {
                Some(p) => Some(p),
                None => {
                    let p = Arc::new(
                        nuvem_iam::Policy::parse(&doc, nuvem_iam::Kind::Resource)
                            .map_err(|e| format!("the function's policy does not parse: {e}"))?,
                    );
                    self.parsed.insert(doc, p.clone());
                    Some(p)
                }
            },
        };
        let mut ctx = nuvem_iam::Context::new();
        ctx.set("aws:SourceArn", caller.source_arn.clone());
        ctx.set("aws:SourceAccount", account.clone());
        let service = nuvem_iam::Principal::Service {
            name: "apigateway.amazonaws.com".into(),
        };
        let (principal, policies) = match &caller.credentials_arn {
            None => (service, Vec::new()),
            Some(role) => {
                let (iam, role) = (self.iam.clone(), role.clone());
                let found = self
                    .store
                    .run(move || iam.service_role(&role, "apigateway.amazonaws.com"))
                    .await
                    .map_err(|e| e.to_string())?;
                let Some(r) = found else {
                    return Err(format!(
                        "the integration's role {} does not exist",
                        caller.credentials_arn.as_deref().unwrap_or_default()
                    ));
                };
                if let Some(arn) = r.principal.arn() {
                    ctx.set("aws:PrincipalArn", arn);
                }
                (r.principal, r.policies)
            }
        };
        let identity: Vec<&nuvem_iam::Policy> = policies.iter().collect();
        let decision = nuvem_iam::evaluate(
            &identity,
            resource_policy.as_deref(),
            &nuvem_iam::Request {
                principal: &principal,
                action: "lambda:InvokeFunction",
                resource: &function_arn,
                context: &ctx,
            },
        )
        .decision;
        match decision {
            nuvem_iam::Decision::Allow => Ok(()),
            nuvem_iam::Decision::ExplicitDeny => Err("explicitly denied".into()),
            nuvem_iam::Decision::ImplicitDeny => Err(match &caller.credentials_arn {
                None => "no statement of the function's resource-based policy allows apigateway.amazonaws.com from this source ARN".into(),
                Some(role) => format!("neither the role {role} nor the function's policy allows lambda:InvokeFunction"),
            }),
        }
    }
}

impl nuvem_gateway::LambdaInvoker for GatewayInvoker {
    fn grant(
        &self,
        function: &str,
        statement_id: &str,
        source_arn: &str,
    ) -> nuvem_aws::BoxFuture<'_, Result<(), String>> {
        let input = json!({
            "FunctionName": function_target(function),
            "StatementId": statement_id,
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": source_arn,
        });
        let functions = self.functions.clone();
        Box::pin(async move {
            self.store
                .run(move || match functions.execute("AddPermission", input) {
                    Ok(_) => Ok(()),
                    // Granted before (the same statement id): nothing to add.
                    Err(e) if e.code == "ResourceConflictException" => Ok(()),
                    Err(e) => Err(e.message),
                })
                .await
        })
    }

    fn invoke(
        &self,
        function: &str,
        payload: bytes::Bytes,
        caller: &nuvem_gateway::Caller,
    ) -> nuvem_aws::BoxFuture<'_, Result<nuvem_gateway::InvokeResult, nuvem_gateway::InvokeError>>
    {
        use nuvem_functions::Invoker as _;
        let request = nuvem_functions::InvokeRequest {
            function: function.to_string(),
            qualifier: None,
            payload,
            kind: nuvem_functions::InvocationType::RequestResponse,
            tail: false,
            client_context: None,
            request_id: uuid_like(),
        };
        let caller = caller.clone();
        Box::pin(async move {
            let name = function_name(&request.function);
            // A pending function (still building) is "retry later" whoever asks: its record
            // and policy may not exist yet.
            if !self.functions.is_pending(&name)
                && let Err(why) = self
                    .permitted(&function_target(&request.function), &caller)
                    .await
            {
                // A function that does not exist is the same 500 either way.
                return Err(nuvem_gateway::InvokeError::Denied(why));
            }
            match self.functions.invoke(request).await {
                Ok(r) => Ok(nuvem_gateway::InvokeResult {
                    payload: r.payload,
                    function_error: r.function_error,
                }),
                Err(e) if e.code == "ResourceNotFoundException" => {
                    Err(nuvem_gateway::InvokeError::NotFound(e.message))
                }
                // The only conflict Invoke answers: the function is `Pending` (building).
                Err(e) if e.code == "ResourceConflictException" => {
                    Err(nuvem_gateway::InvokeError::NotReady(e.message))
                }
                Err(e) if e.status == http::StatusCode::TOO_MANY_REQUESTS => {
                    Err(nuvem_gateway::InvokeError::Throttled)
                }
                Err(e) => Err(nuvem_gateway::InvokeError::Failed(e.to_string())),
            }
        })
    }
}

/// A manifest API's id: stable across restarts (derived from its name), so its
/// execute-api URL is too. FNV-1a, written as 10 base-36 digits like API Gateway's ids.
fn manifest_api_id(name: &str) -> String {
    let mut h = crate::config::fnv1a(name);
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..10)
        .map(|_| {
            let d = digits.get((h % 36) as usize).copied().unwrap_or(b'0');
            h /= 36;
            char::from(d)
        })
        .collect()
}

/// Creates one manifest API, or replaces it when it exists (the manifest is the truth for its
/// APIs), in one store transaction through the management operations' checks: a node that
/// serves it meanwhile sees the old API or the new one, and nodes applying the manifest at
/// once each store the same definition. Returns whether it existed.
fn apply_api(
    gateway: &nuvem_gateway::Gateway,
    a: &crate::config::ApiSpec,
) -> Result<bool, nuvem_aws::AwsError> {
    use nuvem_aws::IntoAwsError;
    let id = manifest_api_id(&a.name);
    let mut def = nuvem_gateway::ApiDefinition {
        api: json!({"name": a.name, "protocolType": "HTTP", "apiId": id}),
        stages: vec![json!({"stageName": "$default", "autoDeploy": true})],
        ..Default::default()
    };
    for r in &a.routes {
        let integration = match (&r.function, &r.url) {
            (Some(f), None) => json!({"integrationType": "AWS_PROXY", "integrationUri": f,
                "payloadFormatVersion": r.payload_format.as_deref().unwrap_or("2.0")}),
            (None, Some(u)) => json!({"integrationType": "HTTP_PROXY", "integrationUri": u,
                "integrationMethod": "ANY"}),
            _ => {
                return Err(nuvem_aws::AwsError::new(
                    http::StatusCode::BAD_REQUEST,
                    "BadRequestException",
                    format!(
                        "route `{}` needs exactly one of `function` and `url`",
                        r.key
                    ),
                ));
            }
        };
        def.routes.push((integration, json!({"routeKey": r.key})));
    }
    gateway.put_api(&def).map_err(IntoAwsError::into_aws_error)
}

/// This node's hold on the cluster-wide lease `manifest`, while it applies the manifest:
/// nodes that start at once on one database apply it one after the other, each finding what
/// the one before created ("kept"). Renewed in the background; released on [`Self::release`].
/// Not taken on the embedded store, which has one process.
pub struct ApplyLease {
    store: nuvem_store::Store,
    renew: Option<tokio::task::JoinHandle<()>>,
}

const APPLY_LEASE: &str = "manifest";
const APPLY_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(15);

impl ApplyLease {
    /// Waits until this node holds the lease (another node may be applying the manifest).
    pub async fn take(store: &nuvem_store::Store) -> anyhow::Result<Self> {
        use nuvem_store::cluster::{Lease, node_id};
        if !store.is_remote() {
            return Ok(Self {
                store: store.clone(),
                renew: None,
            });
        }
        let mut said = false;
        loop {
            let s = store.clone();
            let held = store
                .run(move || Lease::try_acquire(&s, APPLY_LEASE, node_id(), APPLY_LEASE_TTL))
                .await
                .context("taking the lease to apply the manifest")?;
            if held {
                break;
            }
            if !said {
                let s = store.clone();
                let holder = store
                    .run(move || Lease::holder(&s, APPLY_LEASE))
                    .await
                    .ok()
                    .flatten()
                    .map_or_else(|| "another node".to_string(), |l| l.holder);
                println!("  waiting for {holder} to finish applying the manifest");
                said = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let s = store.clone();
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(APPLY_LEASE_TTL / 5).await;
                let s2 = s.clone();
                let renewed = s
                    .run(move || Lease::try_acquire(&s2, APPLY_LEASE, node_id(), APPLY_LEASE_TTL))
                    .await;
                if let Err(e) = renewed {
                    tracing::warn!(error = %e, "renewing the manifest lease failed; retrying");
                }
            }
        });
        Ok(Self {
            store: store.clone(),
            renew: Some(renew),
        })
    }

    /// Gives the lease up, so the next node applies at once.
    pub async fn release(mut self) {
        if let Some(renew) = self.renew.take() {
            renew.abort();
            let s = self.store.clone();
            let released = self
                .store
                .run(move || {
                    nuvem_store::cluster::Lease::release(
                        &s,
                        APPLY_LEASE,
                        nuvem_store::cluster::node_id(),
                    )
                })
                .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, "releasing the manifest lease failed (it expires)");
            }
        }
    }
}

/// A request id for a gateway-originated invocation.
fn uuid_like() -> String {
    nuvem_aws::RequestId::new().as_str().to_string()
}

/// The functions section: functions act with the first configured access key (the
/// LocalStack `test`/`test` by default), so their SDK calls to nuvem are signed.
fn functions_config(config: &Config) -> nuvem_functions::FunctionsConfig {
    let mut c = nuvem_functions::FunctionsConfig::new(config.data_dir.join("functions"));
    c.region = config.region.clone();
    c.account_id = config.account_id.clone();
    if let Some(cred) = config.manifest.credentials.first() {
        c.access_key_id = cred.access_key_id.clone();
        c.secret_access_key = cred.secret_access_key.clone();
    }
    c.egress = config
        .manifest
        .functions
        .iter()
        .filter(|f| f.egress)
        .map(|f| f.name.clone())
        .collect();
    c.interpreters = config.manifest.runtimes.clone();
    c
}

/// The CreateFunction request a manifest function stands for, with its code at `code`
/// (used in place: the `hot-reload` code source, so a rebuilt binary or edited handler is
/// picked up).
fn create_function_input(f: &crate::config::FunctionSpec, code: &Path) -> serde_json::Value {
    let code = code.canonicalize().unwrap_or_else(|_| code.to_path_buf());
    let mut input = json!({
        "FunctionName": f.name,
        "Runtime": f.runtime,
        "Code": {"S3Bucket": "hot-reload", "S3Key": code.to_string_lossy()},
        "Environment": {"Variables": f.env},
    });
    if let Some(h) = &f.handler {
        input["Handler"] = json!(h);
    }
    if let Some(m) = f.memory_mb {
        input["MemorySize"] = json!(m);
    }
    if let Some(t) = f.timeout_seconds {
        input["Timeout"] = json!(t);
    }
    if let Some(role) = &f.role {
        input["Role"] = json!(role);
    }
    input
}

/// Keeps the role a manifest function's `permissions` stand for: `nuvem-fn-<name>`, trusting
/// Lambda, with the statements as its inline policy `manifest` (replaced at every `up`).
/// Returns the role's ARN, or `None` for a function without `permissions`.
fn apply_function_role(
    iam: &nuvem_iam::api::IamApi,
    f: &crate::config::FunctionSpec,
) -> anyhow::Result<Option<String>> {
    use nuvem_iam::api::{IAM_XMLNS, query::Params};
    let Some(policy) = f.policy_document().map_err(|e| anyhow::anyhow!(e))? else {
        return Ok(None);
    };
    let name = f.managed_role_name();
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    .to_string();
    let form = |pairs: &[(&str, &str)]| {
        let mut s = String::from("Version=2010-05-08");
        for (k, v) in pairs {
            s.push_str(&format!(
                "&{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            ));
        }
        Params::parse(&s)
    };
    let call = |pairs: &[(&str, &str)]| iam.execute(IAM_XMLNS, &form(pairs), None, "manifest");
    match call(&[
        ("Action", "CreateRole"),
        ("RoleName", &name),
        ("AssumeRolePolicyDocument", &trust),
        (
            "Description",
            &format!("nuvem: the permissions of manifest function {}", f.name),
        ),
    ]) {
        Ok(_) => {}
        Err(nuvem_iam::api::ApiError::AlreadyExists(_)) => {
            call(&[
                ("Action", "UpdateAssumeRolePolicy"),
                ("RoleName", &name),
                ("PolicyDocument", &trust),
            ])?;
        }
        Err(e) => return Err(e.into()),
    }
    call(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", &name),
        ("PolicyName", "manifest"),
        ("PolicyDocument", &policy),
    ])?;
    Ok(Some(format!("arn:aws:iam::{}:role/{name}", iam.account())))
}

/// Creates a manifest function, or brings an existing one up to date (the manifest is the
/// truth for its functions), and prints the step.
fn apply_function(
    functions: &nuvem_functions::FunctionsService,
    i: usize,
    f: &crate::config::FunctionSpec,
    code: &Path,
    grants: &[Grant],
    triggers: &[Trigger],
) -> anyhow::Result<()> {
    let input = create_function_input(f, code);
    let started = Instant::now();
    let fail =
        |e: nuvem_aws::AwsError| anyhow::anyhow!("at `functions[{i}]` ({}): {}", f.name, e.message);
    let outcome = match functions.execute("CreateFunction", input.clone()) {
        Ok(_) => "created",
        Err(e) if e.code == "ResourceConflictException" => {
            functions
                .execute("UpdateFunctionConfiguration", input.clone())
                .map_err(fail)?;
            let mut code = input["Code"].clone();
            code["FunctionName"] = json!(f.name);
            functions
                .execute("UpdateFunctionCode", code)
                .map_err(fail)?;
            "updated"
        }
        Err(e) => return Err(fail(e)),
    };
    for g in grants {
        let input = json!({
            "FunctionName": f.name,
            "StatementId": g.statement_id,
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": g.source_arn,
        });
        match functions.execute("AddPermission", input) {
            Ok(_) => {}
            Err(e) if e.code == "ResourceConflictException" => {}
            Err(e) => return Err(fail(e)),
        }
    }
    apply_alias(functions, f, grants).map_err(fail)?;
    step(&format!("{outcome} function {}", f.name), started);
    apply_triggers(functions, i, f, triggers)
}

/// A manifest function's `alias` (and `provisioned_concurrency` on it), as SAM's
/// `AutoPublishAlias` does: publish what `$LATEST` is now as a version (PublishVersion answers
/// the last version when nothing changed), point the alias at it, give it the routes'
/// permissions, and ask for the provisioned concurrency.
fn apply_alias(
    functions: &nuvem_functions::FunctionsService,
    f: &crate::config::FunctionSpec,
    grants: &[Grant],
) -> Result<(), nuvem_aws::AwsError> {
    let alias = match (&f.alias, f.provisioned_concurrency) {
        (Some(a), _) => a.clone(),
        (None, Some(_)) => "live".to_string(),
        (None, None) => return Ok(()),
    };
    let published = functions.execute("PublishVersion", json!({"FunctionName": f.name}))?;
    let version = published["Version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let input = json!({"FunctionName": f.name, "Name": alias, "FunctionVersion": version});
    match functions.execute("CreateAlias", input.clone()) {
        Ok(_) => {}
        Err(e) if e.code == "ResourceConflictException" => {
            functions.execute("UpdateAlias", input)?;
        }
        Err(e) => return Err(e),
    }
    for g in grants {
        let input = json!({
            "FunctionName": f.name,
            "Qualifier": alias,
            "StatementId": g.statement_id,
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": g.source_arn,
        });
        match functions.execute("AddPermission", input) {
            Ok(_) => {}
            Err(e) if e.code == "ResourceConflictException" => {}
            Err(e) => return Err(e),
        }
    }
    match f.provisioned_concurrency {
        Some(n) => {
            functions.execute(
                "PutProvisionedConcurrencyConfig",
                json!({"FunctionName": f.name, "Qualifier": alias,
                       "ProvisionedConcurrentExecutions": n}),
            )?;
        }
        None => match functions.execute(
            "DeleteProvisionedConcurrencyConfig",
            json!({"FunctionName": f.name, "Qualifier": alias}),
        ) {
            Ok(_) => {}
            Err(e)
                if e.code == "ProvisionedConcurrencyConfigNotFoundException"
                    || e.code == "ResourceNotFoundException" => {}
            Err(e) => return Err(e),
        },
    }
    Ok(())
}

/// A manifest stream trigger with its table's stream ARN resolved: the input of
/// CreateEventSourceMapping but for the function.
pub struct Trigger {
    index: usize,
    table: String,
    input: serde_json::Value,
}

/// Resolves a function's `stream_triggers` against the tables (each needs an enabled
/// stream), before the function exists (a cargo function is built later).
fn resolve_triggers(
    dynamo: &nuvem_dynamo::DynamoService,
    i: usize,
    f: &crate::config::FunctionSpec,
) -> anyhow::Result<Vec<Trigger>> {
    let mut out = Vec::new();
    for (j, t) in f.stream_triggers.iter().enumerate() {
        let at = format!("at `functions[{i}].stream_triggers[{j}]` ({})", f.name);
        let table = dynamo
            .execute("DescribeTable", json!({"TableName": t.table}))
            .map_err(|e| anyhow::anyhow!("{at}: table {}: {}", t.table, e.message))?;
        let arn = match (
            table["Table"]["StreamSpecification"]["StreamEnabled"].as_bool(),
            table["Table"]["LatestStreamArn"].as_str(),
        ) {
            (Some(true), Some(arn)) => arn.to_owned(),
            _ => anyhow::bail!(
                "{at}: table {} has no stream; declare `stream` on it in `[[tables]]`",
                t.table
            ),
        };
        let mut input = json!({
            "EventSourceArn": arn,
            "StartingPosition": t.starting_position.clone().unwrap_or_else(|| "LATEST".into()),
            "BisectBatchOnFunctionError": t.bisect_on_error,
        });
        if let Some(n) = t.batch_size {
            input["BatchSize"] = json!(n);
        }
        if let Some(n) = t.batching_window_seconds {
            input["MaximumBatchingWindowInSeconds"] = json!(n);
        }
        if let Some(n) = t.maximum_retry_attempts {
            input["MaximumRetryAttempts"] = json!(n);
        }
        if !t.filters.is_empty() {
            let filters: Vec<serde_json::Value> =
                t.filters.iter().map(|p| json!({"Pattern": p})).collect();
            input["FilterCriteria"] = json!({"Filters": filters});
        }
        out.push(Trigger {
            index: j,
            table: t.table.clone(),
            input,
        });
    }
    Ok(out)
}

/// Creates the function's event source mappings it has not got yet (one per stream; an
/// existing one is kept as it is).
fn apply_triggers(
    functions: &nuvem_functions::FunctionsService,
    i: usize,
    f: &crate::config::FunctionSpec,
    triggers: &[Trigger],
) -> anyhow::Result<()> {
    for t in triggers {
        let at = format!(
            "at `functions[{i}].stream_triggers[{}]` ({})",
            t.index, f.name
        );
        let listed = functions
            .execute(
                "ListEventSourceMappings",
                json!({"FunctionName": f.name, "EventSourceArn": t.input["EventSourceArn"]}),
            )
            .map_err(|e| anyhow::anyhow!("{at}: {}", e.message))?;
        let exists = listed["EventSourceMappings"]
            .as_array()
            .is_some_and(|l| !l.is_empty());
        if !exists {
            let mut input = t.input.clone();
            input["FunctionName"] = json!(f.name);
            functions
                .execute("CreateEventSourceMapping", input)
                .map_err(|e| anyhow::anyhow!("{at}: {}", e.message))?;
            println!("  stream of table {} triggers function {}", t.table, f.name);
        }
    }
    Ok(())
}

/// A statement a manifest function's resource policy gets so that a manifest API routing to
/// it may invoke it (what SAM's implicit `AWS::Lambda::Permission` does): API Gateway from
/// any route and stage of that API.
#[derive(Debug, Clone)]
pub struct Grant {
    statement_id: String,
    source_arn: String,
}

/// The grants each manifest function needs, by function name.
fn manifest_grants(config: &Config) -> std::collections::HashMap<String, Vec<Grant>> {
    let mut out: std::collections::HashMap<String, Vec<Grant>> = Default::default();
    for a in &config.manifest.apis {
        let id = manifest_api_id(&a.name);
        let mut names: Vec<String> = a
            .routes
            .iter()
            .filter_map(|r| r.function.as_deref())
            .map(function_name)
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            out.entry(name).or_default().push(Grant {
                statement_id: format!("nuvem-manifest-api-{id}"),
                source_arn: format!(
                    "arn:aws:execute-api:{}:{}:{id}/*",
                    config.region, config.account_id
                ),
            });
        }
    }
    out
}

/// A manifest function whose cargo package `up` builds in the background: until it is
/// built and applied, the functions service holds it `Pending` (Invoke is a retryable
/// conflict, the gateway answers 503 with `Retry-After`, health lists it).
pub struct FunctionBuild {
    index: usize,
    grants: Vec<Grant>,
    spec: crate::config::FunctionSpec,
    triggers: Vec<Trigger>,
    package: String,
    dir: PathBuf,
    hint: PathBuf,
}

/// Builds the functions `apply_manifest` left pending, one after the other, and applies
/// each once built. Meant for a thread of its own: cargo runs for seconds to minutes.
pub fn build_functions(
    functions: &nuvem_functions::FunctionsService,
    builds: Vec<FunctionBuild>,
    running: &crate::build::Running,
) {
    for b in builds {
        let name = &b.spec.name;
        let built = crate::build::cargo_binary(&b.dir, &b.package, name, &b.hint, running)
            .and_then(|code| {
                apply_function(functions, b.index, &b.spec, &code, &b.grants, &b.triggers)
            });
        match built {
            Ok(()) => functions.set_available(name),
            // nuvem is shutting down: the build was stopped, it did not fail.
            Err(_) if running.stopped() => return,
            Err(e) => {
                eprintln!("  function {name} could not be built: {e:#}");
                functions.set_pending(
                    name,
                    format!(
                        "cargo could not build package {} (see nuvem's output), fix it and run `nuvem up` again",
                        b.package
                    ),
                );
            }
        }
    }
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
    let mode = t.mode().to_owned();
    let mut input = json!({"TableName": t.name, "KeySchema": keys, "AttributeDefinitions": attrs, "BillingMode": mode});
    if mode == "PROVISIONED" {
        let (read, write) = t.units();
        input["ProvisionedThroughput"] = json!({
            "ReadCapacityUnits": read,
            "WriteCapacityUnits": write,
        });
    }
    if let Some(view) = &t.stream {
        input["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": view});
    }
    let mut defined: Vec<String> = vec![t.partition_key.name.clone()];
    defined.extend(t.sort_key.iter().map(|k| k.name.clone()));
    let mut define = |k: &crate::config::KeySpec, attrs: &mut Vec<serde_json::Value>| {
        if !defined.contains(&k.name) {
            defined.push(k.name.clone());
            attrs.push(json!({"AttributeName": k.name, "AttributeType": k.kind}));
        }
    };
    let mut attrs = input["AttributeDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut globals = Vec::new();
    for g in &t.global_indexes {
        if let Some(k) = &g.partition_key {
            define(k, &mut attrs);
        }
        if let Some(k) = &g.sort_key {
            define(k, &mut attrs);
        }
        globals.push(index_input(g, t, mode == "PROVISIONED"));
    }
    let mut locals = Vec::new();
    for l in &t.local_indexes {
        if let Some(k) = &l.sort_key {
            define(k, &mut attrs);
        }
        locals.push(index_input(l, t, false));
    }
    input["AttributeDefinitions"] = json!(attrs);
    if !globals.is_empty() {
        input["GlobalSecondaryIndexes"] = json!(globals);
    }
    if !locals.is_empty() {
        input["LocalSecondaryIndexes"] = json!(locals);
    }
    input
}

/// A manifest index as CreateTable's `GlobalSecondaryIndexes`/`LocalSecondaryIndexes` entry
/// (a local index, or a global one without its own partition key, partitions on the table's
/// key); with `provisioned`, its ProvisionedThroughput.
fn index_input(
    ix: &crate::config::IndexSpec,
    t: &TableSpec,
    provisioned: bool,
) -> serde_json::Value {
    let partition = ix.partition_key.as_ref().unwrap_or(&t.partition_key);
    let mut keys = vec![json!({"AttributeName": partition.name, "KeyType": "HASH"})];
    if let Some(sk) = &ix.sort_key {
        keys.push(json!({"AttributeName": sk.name, "KeyType": "RANGE"}));
    }
    let mut projection = json!({"ProjectionType": ix.projection.as_deref().unwrap_or("ALL")});
    if !ix.non_key_attributes.is_empty() {
        projection["NonKeyAttributes"] = json!(ix.non_key_attributes);
    }
    let mut out = json!({"IndexName": ix.name, "KeySchema": keys, "Projection": projection});
    if provisioned {
        let (read, write) = ix.units(t);
        out["ProvisionedThroughput"] = json!({
            "ReadCapacityUnits": read,
            "WriteCapacityUnits": write,
        });
    }
    out
}

/// Adds the manifest's global indexes a kept table lacks (UpdateTable, one at a time, as
/// DynamoDB requires; each is backfilled in the background) and says which local indexes it
/// lacks (those exist only from CreateTable). Never deletes an index.
fn apply_table_indexes(
    dynamo: &nuvem_dynamo::DynamoService,
    i: usize,
    t: &TableSpec,
) -> anyhow::Result<()> {
    if t.global_indexes.is_empty() && t.local_indexes.is_empty() {
        return Ok(());
    }
    let fail =
        |e: nuvem_aws::AwsError| anyhow::anyhow!("at `tables[{i}]` ({}): {}", t.name, e.message);
    let table = dynamo
        .execute("DescribeTable", json!({"TableName": t.name}))
        .map_err(fail)?;
    let names = |member: &str| -> Vec<String> {
        table["Table"][member]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|ix| ix["IndexName"].as_str().map(str::to_owned))
            .collect()
    };
    let (globals, locals) = (
        names("GlobalSecondaryIndexes"),
        names("LocalSecondaryIndexes"),
    );
    let full = create_table_input(t);
    let provisioned = full["BillingMode"] == "PROVISIONED";
    for g in t
        .global_indexes
        .iter()
        .filter(|g| !globals.contains(&g.name))
    {
        let create = index_input(g, t, provisioned);
        dynamo
            .execute(
                "UpdateTable",
                json!({"TableName": t.name, "AttributeDefinitions": full["AttributeDefinitions"],
                    "GlobalSecondaryIndexUpdates": [{"Create": create}]}),
            )
            .map_err(fail)?;
        println!(
            "  table {}: adding global index {} (backfilling)",
            t.name, g.name
        );
    }
    for l in t.local_indexes.iter().filter(|l| !locals.contains(&l.name)) {
        println!(
            "  table {}: has no local index {} (DynamoDB makes local indexes only with the table; delete and re-create it to add one)",
            t.name, l.name
        );
    }
    Ok(())
}

/// Brings a table's stream and TTL up to what the manifest declares, through UpdateTable
/// and UpdateTimeToLive: enables what is missing, never disables or changes what the table
/// has (a stream of another view type, TTL on another attribute are reported and kept).
fn apply_table_stream_and_ttl(
    dynamo: &nuvem_dynamo::DynamoService,
    i: usize,
    t: &TableSpec,
) -> anyhow::Result<()> {
    if let Some(view) = &t.stream {
        let table = dynamo
            .execute("DescribeTable", json!({"TableName": t.name}))
            .map_err(|e| anyhow::anyhow!("at `tables[{i}]` ({}): {}", t.name, e.message))?;
        match table["Table"]["StreamSpecification"]["StreamViewType"].as_str() {
            Some(current) if current == view => {}
            Some(current) => println!(
                "  table {}: kept its stream of {current} (the manifest says {view}; disable it to change)",
                t.name
            ),
            None => {
                dynamo
                    .execute(
                        "UpdateTable",
                        json!({"TableName": t.name,
                            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": view}}),
                    )
                    .map_err(|e| {
                        anyhow::anyhow!("at `tables[{i}].stream` ({}): {}", t.name, e.message)
                    })?;
            }
        }
    }
    if let Some(attribute) = &t.ttl_attribute {
        let enabled = dynamo.execute(
            "UpdateTimeToLive",
            json!({"TableName": t.name,
                "TimeToLiveSpecification": {"AttributeName": attribute, "Enabled": true}}),
        );
        match enabled {
            Ok(_) => {}
            Err(e) if e.message == "TimeToLive is already enabled" => {}
            Err(e) if e.message.starts_with("TimeToLive is active on a different") => println!(
                "  table {}: kept its TTL ({}; the manifest says {attribute})",
                t.name, e.message
            ),
            Err(e) => anyhow::bail!("at `tables[{i}].ttl_attribute` ({}): {}", t.name, e.message),
        }
    }
    Ok(())
}

/// Creates the manifest's buckets and uploads their files through the S3 handlers
/// (CreateBucket, PutBucketPolicy, PutObject), then sets their CORS rules. Never deletes
/// anything.
pub async fn apply_buckets(config: &Config, services: &Services) -> anyhow::Result<()> {
    for (i, b) in config.manifest.buckets.iter().enumerate() {
        let started = Instant::now();
        let files = b.files.as_ref().map(|f| config.base_dir.join(f));
        let applied = services
            .s3
            .apply_bucket(&b.name, files.as_deref(), b.public_read)
            .await
            .map_err(|e| anyhow::anyhow!("at `buckets[{i}]` ({}): {e}", b.name))?;
        if !b.cors_origins.is_empty() {
            apply_cors(services, &b.name, &b.cors_origins)
                .await
                .map_err(|e| anyhow::anyhow!("at `buckets[{i}].cors_origins`: {e}"))?;
        }
        let what = if applied.created { "created" } else { "kept" };
        let files = match applied.uploaded {
            0 => String::new(),
            n => format!(", {n} files uploaded"),
        };
        step(&format!("{what} bucket {}{files}", b.name), started);
    }
    Ok(())
}

/// The CORS configuration `cors_origins` stands for, stored as PutBucketCors stores it: one
/// rule for the methods a browser uses on objects (a presigned PUT, a GET), any request
/// header (presigned uploads send `Content-Type` and checksum headers), and `ETag` readable
/// by scripts (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ManageCorsUsing.html).
async fn apply_cors(services: &Services, bucket: &str, origins: &[String]) -> anyhow::Result<()> {
    if let Some(bad) = origins
        .iter()
        .find(|o| o.is_empty() || o.contains(char::is_whitespace))
    {
        anyhow::bail!("{bad:?} is not an origin (`https://site.example` or `*`)");
    }
    let rule = nuvem_s3::store::CorsRule {
        allowed_origins: origins.to_vec(),
        allowed_methods: ["GET", "PUT", "POST", "HEAD"].map(String::from).to_vec(),
        allowed_headers: vec!["*".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(3000),
    };
    services
        .s3
        .objects()
        .update_bucket(bucket, move |b| {
            b.cors = Some(vec![rule.clone()]);
            Ok(())
        })
        .await?;
    Ok(())
}

/// One line of `up`'s progress: what happened, and how long it took.
fn step(what: &str, started: Instant) {
    println!("  {what} ({} ms)", started.elapsed().as_millis());
}

/// Creates what the manifest declares and is missing, and brings functions and APIs up to
/// date with it. Never deletes user data: tables and their items are left as they are.
/// Functions built from a cargo package are left pending and returned, for
/// [`build_functions`] to build in the background.
pub fn apply_manifest(config: &Config, services: &Services) -> anyhow::Result<Vec<FunctionBuild>> {
    let m = &config.manifest;
    for (i, t) in m.tables.iter().enumerate() {
        let started = Instant::now();
        let outcome = match services
            .dynamo
            .execute("CreateTable", create_table_input(t))
        {
            Ok(_) => "created",
            Err(e) if e.code == "ResourceInUseException" => "kept",
            Err(e) => anyhow::bail!("at `tables[{i}]` ({}): {}", t.name, e.message),
        };
        apply_table_stream_and_ttl(&services.dynamo, i, t)?;
        if outcome == "kept" {
            apply_table_indexes(&services.dynamo, i, t)?;
        }
        apply_table_autoscaling(&services.autoscaling, i, t)?;
        step(&format!("{outcome} table {}", t.name), started);
    }
    let mut builds = Vec::new();
    let grants = manifest_grants(config);
    for (i, f) in m.functions.iter().enumerate() {
        let grants = grants.get(&f.name).cloned().unwrap_or_default();
        let mut f = f.clone();
        if let Some(role) = apply_function_role(&services.iam, &f)
            .map_err(|e| anyhow::anyhow!("at `functions[{i}]` ({}): {e:#}", f.name))?
        {
            f.role = Some(role);
        }
        let f = &f;
        let triggers = resolve_triggers(&services.dynamo, i, f)?;
        match (&f.code, &f.cargo_package) {
            (Some(code), None) => apply_function(
                &services.functions,
                i,
                f,
                &config.base_dir.join(code),
                &grants,
                &triggers,
            )?,
            (None, Some(package)) => {
                // Built in the background once the rest is up: the site does not wait.
                let why = match crate::build::find_cargo() {
                    Ok(_) => {
                        builds.push(FunctionBuild {
                            index: i,
                            grants,
                            spec: f.clone(),
                            triggers,
                            package: package.clone(),
                            dir: config.base_dir.clone(),
                            hint: config
                                .data_dir
                                .join("builds")
                                .join(format!("{package}.units")),
                        });
                        format!("building (cargo build --release -p {package})")
                    }
                    Err(missing) => {
                        let why = format!(
                            "{missing} (to build package {package} of {}), then run `nuvem up` again",
                            config.base_dir.display()
                        );
                        println!("  function {} {why}", f.name);
                        why
                    }
                };
                services.functions.set_pending(&f.name, why);
            }
            _ => anyhow::bail!(
                "at `functions[{i}]`: function {}: give exactly one of `code` and `cargo_package`",
                f.name
            ),
        }
        // Created all the same (the AWS API shows it); it runs once the tool is installed
        // and `up` runs again.
        if let Some(missing) = crate::build::missing_runtime(&f.runtime) {
            let why = format!("{missing}, then run `nuvem up` again");
            println!("  function {} {why}", f.name);
            services.functions.set_pending(&f.name, why);
        }
    }
    for (i, a) in m.apis.iter().enumerate() {
        let started = Instant::now();
        let existed = apply_api(&services.gateway, a)
            .map_err(|e| anyhow::anyhow!("at `apis[{i}]` ({}): {}", a.name, e.message))?;
        let id = manifest_api_id(&a.name);
        // Tests and people read the URL as the line's last word.
        println!("  api {} at {}", a.name, services.gateway.api_endpoint(&id));
        tracing::debug!(
            api = a.name,
            existed,
            ms = started.elapsed().as_millis() as u64,
            routes = a.routes.len(),
            "api applied"
        );
    }
    Ok(builds)
}
