//! The control plane: CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, Put/Get/Delete
//! FunctionConcurrency and GetAccountSettings, each a JSON-in, JSON-out operation
//! (https://docs.aws.amazon.com/lambda/latest/api/API_Operations.html).
//!
//! The HTTP layer and the manifest both come through [`Operation`] and
//! [`crate::FunctionsService::execute`], so there is one way in. Every change is one store
//! transaction, then the function's warm pool is replaced. Must not: run functions.

use serde_json::{Value, json};
use sha2::Digest as _;

use crate::catalog::{self, CodeInput};
use crate::error::{Error, Result};
use crate::model::{ConfigInput, FunctionRecord, FunctionRef, function_arn};
use crate::service::Inner;

/// Lambda's limit on a function's resource-based policy
/// (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
const MAX_POLICY_BYTES: usize = 20 * 1024;

/// The function's resource-based policy as Lambda returns it (GetPolicy's `Policy`).
pub fn policy_document(statements: &[Value]) -> String {
    json!({"Version": "2012-10-17", "Id": "default", "Statement": statements}).to_string()
}

/// The statement AddPermission adds, shaped as Lambda stores it
/// (https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html).
fn permission_statement(input: &Value, function_arn: &str) -> Result<Value> {
    let text = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_owned);
    let sid = text("StatementId")
        .ok_or_else(|| Error::Validation("1 validation error detected: Value null at 'statementId' failed to satisfy constraint: Member must not be null".into()))?;
    if sid.is_empty()
        || sid.len() > 100
        || !sid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{sid}' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)"
        )));
    }
    let action = text("Action")
        .ok_or_else(|| Error::Validation("1 validation error detected: Value null at 'action' failed to satisfy constraint: Member must not be null".into()))?;
    if !(action == "*" || action.starts_with("lambda:")) {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{action}' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])"
        )));
    }
    let principal = text("Principal")
        .ok_or_else(|| Error::Validation("1 validation error detected: Value null at 'principal' failed to satisfy constraint: Member must not be null".into()))?;
    let principal = if principal == "*" {
        json!("*")
    } else if principal.ends_with(".amazonaws.com") || principal.ends_with(".amazonaws.com.cn") {
        json!({"Service": principal})
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({"AWS": format!("arn:aws:iam::{principal}:root")})
    } else if principal.starts_with("arn:") {
        json!({"AWS": principal})
    } else {
        return Err(Error::InvalidParameter(format!(
            "The provided principal was invalid. Please check the principal and try again. ({principal})"
        )));
    };
    let mut statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": function_arn,
    });
    let mut condition = serde_json::Map::new();
    if let Some(source) = text("SourceArn") {
        condition.insert("ArnLike".into(), json!({"AWS:SourceArn": source}));
    }
    let mut equals = serde_json::Map::new();
    if let Some(source_account) = text("SourceAccount") {
        equals.insert("AWS:SourceAccount".into(), json!(source_account));
    }
    // Function URLs: the policy names the URL's auth type
    // (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
    if let Some(auth) = text("FunctionUrlAuthType") {
        if auth != "NONE" && auth != "AWS_IAM" {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{auth}' at 'functionUrlAuthType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]"
            )));
        }
        equals.insert("lambda:FunctionUrlAuthType".into(), json!(auth));
    }
    if !equals.is_empty() {
        condition.insert("StringEquals".into(), Value::Object(equals));
    }
    if input.get("InvokedViaFunctionUrl").and_then(Value::as_bool) == Some(true) {
        if action != "lambda:InvokeFunction" {
            return Err(Error::InvalidParameter(
                "InvokedViaFunctionUrl can only be set with the lambda:InvokeFunction action"
                    .into(),
            ));
        }
        condition.insert(
            "Bool".into(),
            json!({"lambda:InvokedViaFunctionUrl": "true"}),
        );
    }
    if !condition.is_empty() {
        statement["Condition"] = Value::Object(condition);
    }
    Ok(statement)
}

/// A control-plane operation, with its path parameters already taken out of the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    CreateFunction,
    ListFunctions {
        marker: Option<String>,
        max_items: Option<String>,
    },
    GetFunction {
        function: String,
        qualifier: Option<String>,
    },
    GetFunctionConfiguration {
        function: String,
        qualifier: Option<String>,
    },
    UpdateFunctionCode {
        function: String,
    },
    UpdateFunctionConfiguration {
        function: String,
    },
    DeleteFunction {
        function: String,
        qualifier: Option<String>,
    },
    PutFunctionConcurrency {
        function: String,
    },
    GetFunctionConcurrency {
        function: String,
    },
    DeleteFunctionConcurrency {
        function: String,
    },
    GetAccountSettings,
    AddPermission {
        function: String,
    },
    GetPolicy {
        function: String,
    },
    RemovePermission {
        function: String,
        statement_id: String,
    },
    CreateEventSourceMapping,
    ListEventSourceMappings {
        function: Option<String>,
        source: Option<String>,
        marker: Option<String>,
        max_items: Option<String>,
    },
    GetEventSourceMapping {
        uuid: String,
    },
    UpdateEventSourceMapping {
        uuid: String,
    },
    DeleteEventSourceMapping {
        uuid: String,
    },
    PutFunctionEventInvokeConfig {
        function: String,
        qualifier: Option<String>,
    },
    UpdateFunctionEventInvokeConfig {
        function: String,
        qualifier: Option<String>,
    },
    GetFunctionEventInvokeConfig {
        function: String,
        qualifier: Option<String>,
    },
    DeleteFunctionEventInvokeConfig {
        function: String,
        qualifier: Option<String>,
    },
    ListFunctionEventInvokeConfigs {
        function: String,
    },
    PublishLayerVersion {
        layer: String,
    },
    CreateFunctionUrlConfig {
        function: String,
        qualifier: Option<String>,
    },
    GetFunctionUrlConfig {
        function: String,
        qualifier: Option<String>,
    },
    UpdateFunctionUrlConfig {
        function: String,
        qualifier: Option<String>,
    },
    DeleteFunctionUrlConfig {
        function: String,
        qualifier: Option<String>,
    },
    ListFunctionUrlConfigs {
        function: String,
        marker: Option<String>,
        max_items: Option<String>,
    },
    GetLayerVersion {
        layer: String,
        version: String,
    },
    GetLayerVersionByArn {
        arn: String,
    },
    ListLayerVersions {
        layer: String,
        runtime: Option<String>,
        architecture: Option<String>,
        marker: Option<String>,
        max_items: Option<String>,
    },
    ListLayers {
        runtime: Option<String>,
        architecture: Option<String>,
        marker: Option<String>,
        max_items: Option<String>,
    },
    DeleteLayerVersion {
        layer: String,
        version: String,
    },
    AddLayerVersionPermission {
        layer: String,
        version: String,
        revision: Option<String>,
    },
    GetLayerVersionPolicy {
        layer: String,
        version: String,
    },
    RemoveLayerVersionPermission {
        layer: String,
        version: String,
        statement_id: String,
        revision: Option<String>,
    },
}

impl Operation {
    /// The operation by its API name, for [`crate::FunctionsService::execute`]: path
    /// parameters come from `FunctionName` (and `Qualifier`) in the input.
    pub fn by_name(name: &str, input: &Value) -> Result<Self> {
        let function = || {
            input
                .get("FunctionName")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Error::Validation("FunctionName is required".into()))
        };
        let text = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
        let uuid = || text("UUID").ok_or_else(|| Error::Validation("UUID is required".into()));
        let qualifier = input
            .get("Qualifier")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(match name {
            "CreateFunction" => Self::CreateFunction,
            "ListFunctions" => Self::ListFunctions {
                marker: None,
                max_items: None,
            },
            "GetFunction" => Self::GetFunction {
                function: function()?,
                qualifier,
            },
            "GetFunctionConfiguration" => Self::GetFunctionConfiguration {
                function: function()?,
                qualifier,
            },
            "UpdateFunctionCode" => Self::UpdateFunctionCode {
                function: function()?,
            },
            "UpdateFunctionConfiguration" => Self::UpdateFunctionConfiguration {
                function: function()?,
            },
            "DeleteFunction" => Self::DeleteFunction {
                function: function()?,
                qualifier,
            },
            "AddPermission" => Self::AddPermission {
                function: function()?,
            },
            "GetPolicy" => Self::GetPolicy {
                function: function()?,
            },
            "RemovePermission" => Self::RemovePermission {
                function: function()?,
                statement_id: input
                    .get("StatementId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| Error::Validation("StatementId is required".into()))?,
            },
            "PutFunctionConcurrency" => Self::PutFunctionConcurrency {
                function: function()?,
            },
            "GetFunctionConcurrency" => Self::GetFunctionConcurrency {
                function: function()?,
            },
            "DeleteFunctionConcurrency" => Self::DeleteFunctionConcurrency {
                function: function()?,
            },
            "GetAccountSettings" => Self::GetAccountSettings,
            "CreateEventSourceMapping" => Self::CreateEventSourceMapping,
            "ListEventSourceMappings" => Self::ListEventSourceMappings {
                function: text("FunctionName"),
                source: text("EventSourceArn"),
                marker: text("Marker"),
                max_items: text("MaxItems"),
            },
            "GetEventSourceMapping" => Self::GetEventSourceMapping { uuid: uuid()? },
            "UpdateEventSourceMapping" => Self::UpdateEventSourceMapping { uuid: uuid()? },
            "DeleteEventSourceMapping" => Self::DeleteEventSourceMapping { uuid: uuid()? },
            "PutFunctionEventInvokeConfig" => Self::PutFunctionEventInvokeConfig {
                function: function()?,
                qualifier,
            },
            "UpdateFunctionEventInvokeConfig" => Self::UpdateFunctionEventInvokeConfig {
                function: function()?,
                qualifier,
            },
            "GetFunctionEventInvokeConfig" => Self::GetFunctionEventInvokeConfig {
                function: function()?,
                qualifier,
            },
            "DeleteFunctionEventInvokeConfig" => Self::DeleteFunctionEventInvokeConfig {
                function: function()?,
                qualifier,
            },
            "ListFunctionEventInvokeConfigs" => Self::ListFunctionEventInvokeConfigs {
                function: function()?,
            },
            _ => return Err(Error::UnknownOperation),
        })
    }
}

/// The status and JSON body an operation answers with (`Value::Null` means no body).
pub type Answer = (u16, Value);

/// Runs `op`; `root` says whether the account's root credentials asked (the manifest does):
/// only then may a function whose execution role does not exist run with the configured keys
/// (see [`crate::credentials`]).
pub fn execute(inner: &Inner, op: Operation, input: Value, root: bool) -> Result<Answer> {
    match op {
        Operation::CreateFunction => create(inner, input, root),
        Operation::ListFunctions { marker, max_items } => list(inner, marker, max_items),
        Operation::GetFunction {
            function,
            qualifier,
        } => {
            let r = lookup(inner, &function, qualifier.as_deref())?;
            let mut out = json!({
                "Configuration": config_out(inner, &r),
                "Code": {"RepositoryType": "S3", "Location": location(&r)},
            });
            if let Some(n) = r.reserved_concurrency {
                out["Concurrency"] = json!({"ReservedConcurrentExecutions": n});
            }
            Ok((200, out))
        }
        Operation::GetFunctionConfiguration {
            function,
            qualifier,
        } => {
            let r = lookup(inner, &function, qualifier.as_deref())?;
            Ok((200, config_out(inner, &r)))
        }
        Operation::UpdateFunctionCode { function } => {
            let r = lookup(inner, &function, None)?;
            let code: CodeInput = parse(input)?;
            let old = r.code.clone();
            let answer = save_with_code(inner, r, false, &code)?;
            collect_package(inner, &old);
            Ok(answer)
        }
        Operation::UpdateFunctionConfiguration { function } => {
            let mut r = lookup(inner, &function, None)?;
            let mut config: ConfigInput = parse(input)?;
            if config.role.is_some() {
                r.keys_fallback = root;
            }
            let old_layers = match config.layers.take() {
                Some(arns) => {
                    std::mem::replace(&mut r.layers, crate::layers::resolve(inner, &arns)?)
                }
                None => Vec::new(),
            };
            config.apply(&mut r)?;
            let answer = save(inner, r, false)?;
            for l in &old_layers {
                crate::layers::collect(inner, &l.package);
            }
            Ok(answer)
        }
        Operation::DeleteFunction {
            function,
            qualifier,
        } => {
            let r = lookup(inner, &function, qualifier.as_deref())?;
            catalog::delete(&inner.store, &r.name)?;
            let name = r.name.clone();
            inner
                .store
                .transact(|tx| crate::function_url::delete_all(tx, &name))?;
            inner.drop_pool(&r.name);
            catalog::remove_code(&inner.code_dir(), &r.name);
            collect_package(inner, &r.code);
            for l in &r.layers {
                crate::layers::collect(inner, &l.package);
            }
            Ok((204, Value::Null))
        }
        Operation::PutFunctionConcurrency { function } => {
            let mut r = lookup(inner, &function, None)?;
            let n = input
                .get("ReservedConcurrentExecutions")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    Error::Validation("ReservedConcurrentExecutions is required".into())
                })?;
            let limit = i64::from(inner.config.account_concurrency);
            if n < 0 {
                return Err(Error::Validation(format!(
                    "1 validation error detected: Value '{n}' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0"
                )));
            }
            if n > limit {
                return Err(Error::InvalidParameter(format!(
                    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [0]. (account limit {limit})"
                )));
            }
            r.reserved_concurrency = u32::try_from(n).ok();
            save(inner, r, false)?;
            Ok((200, json!({"ReservedConcurrentExecutions": n})))
        }
        Operation::PutFunctionEventInvokeConfig {
            function,
            qualifier,
        } => put_event_invoke_config(inner, &function, qualifier.as_deref(), &input, true),
        Operation::UpdateFunctionEventInvokeConfig {
            function,
            qualifier,
        } => put_event_invoke_config(inner, &function, qualifier.as_deref(), &input, false),
        Operation::GetFunctionEventInvokeConfig {
            function,
            qualifier,
        } => {
            let r = lookup(inner, &function, qualifier.as_deref())?;
            let arn = r.arn(&inner.config.region, &inner.config.account_id);
            match &r.event_invoke {
                Some(c) => Ok((200, c.shape(&arn))),
                None => Err(Error::NotFound(format!(
                    "The function {arn}:$LATEST doesn't have an EventInvokeConfig"
                ))),
            }
        }
        Operation::DeleteFunctionEventInvokeConfig {
            function,
            qualifier,
        } => {
            let mut r = lookup(inner, &function, qualifier.as_deref())?;
            let arn = r.arn(&inner.config.region, &inner.config.account_id);
            if r.event_invoke.take().is_none() {
                return Err(Error::NotFound(format!(
                    "The function {arn}:$LATEST doesn't have an EventInvokeConfig"
                )));
            }
            catalog::put(&inner.store, &r, false, &arn)?;
            Ok((204, Value::Null))
        }
        Operation::ListFunctionEventInvokeConfigs { function } => {
            let r = lookup(inner, &function, None)?;
            let arn = r.arn(&inner.config.region, &inner.config.account_id);
            let configs: Vec<Value> = r.event_invoke.iter().map(|c| c.shape(&arn)).collect();
            Ok((200, json!({ "FunctionEventInvokeConfigs": configs })))
        }
        Operation::GetFunctionConcurrency { function } => {
            let r = lookup(inner, &function, None)?;
            Ok((
                200,
                match r.reserved_concurrency {
                    Some(n) => json!({"ReservedConcurrentExecutions": n}),
                    None => json!({}),
                },
            ))
        }
        Operation::DeleteFunctionConcurrency { function } => {
            let mut r = lookup(inner, &function, None)?;
            r.reserved_concurrency = None;
            save(inner, r, false)?;
            Ok((204, Value::Null))
        }
        Operation::AddPermission { function } => {
            let mut r = lookup(inner, &function, None)?;
            let arn = r.arn(&inner.config.region, &inner.config.account_id);
            let statement = permission_statement(&input, &arn)?;
            let sid = statement["Sid"].as_str().unwrap_or_default().to_owned();
            if r.policy.iter().any(|s| s["Sid"] == sid.as_str()) {
                return Err(Error::Conflict(format!(
                    "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
                )));
            }
            r.policy.push(statement.clone());
            let document = policy_document(&r.policy);
            if document.len() > MAX_POLICY_BYTES {
                return Err(Error::PolicyTooLong(format!(
                    "The final policy size ({}) is bigger than the limit ({MAX_POLICY_BYTES}).",
                    document.len()
                )));
            }
            save(inner, r, false)?;
            Ok((201, json!({"Statement": statement.to_string()})))
        }
        Operation::GetPolicy { function } => {
            let r = lookup(inner, &function, None)?;
            if r.policy.is_empty() {
                return Err(Error::NotFound(
                    "The resource you requested does not exist.".into(),
                ));
            }
            Ok((
                200,
                json!({"Policy": policy_document(&r.policy), "RevisionId": r.revision_id}),
            ))
        }
        Operation::CreateEventSourceMapping => crate::esm::create(inner, input),
        Operation::PublishLayerVersion { layer } => crate::layers::publish(inner, &layer, input),
        Operation::CreateFunctionUrlConfig {
            function,
            qualifier,
        } => crate::function_url::create(inner, &function, qualifier.as_deref(), &input),
        Operation::GetFunctionUrlConfig {
            function,
            qualifier,
        } => crate::function_url::get(inner, &function, qualifier.as_deref()),
        Operation::UpdateFunctionUrlConfig {
            function,
            qualifier,
        } => crate::function_url::update(inner, &function, qualifier.as_deref(), &input),
        Operation::DeleteFunctionUrlConfig {
            function,
            qualifier,
        } => crate::function_url::delete(inner, &function, qualifier.as_deref()),
        Operation::ListFunctionUrlConfigs {
            function,
            marker,
            max_items,
        } => crate::function_url::list(inner, &function, marker.as_deref(), max_items.as_deref()),
        Operation::GetLayerVersion { layer, version } => {
            crate::layers::get(inner, &layer, &version)
        }
        Operation::GetLayerVersionByArn { arn } => crate::layers::get_by_arn(inner, &arn),
        Operation::ListLayerVersions {
            layer,
            runtime,
            architecture,
            marker,
            max_items,
        } => crate::layers::list_versions(
            inner,
            &layer,
            runtime.as_deref(),
            architecture.as_deref(),
            marker.as_deref(),
            max_items.as_deref(),
        ),
        Operation::ListLayers {
            runtime,
            architecture,
            marker,
            max_items,
        } => crate::layers::list_layers(
            inner,
            runtime.as_deref(),
            architecture.as_deref(),
            marker.as_deref(),
            max_items.as_deref(),
        ),
        Operation::DeleteLayerVersion { layer, version } => {
            crate::layers::delete(inner, &layer, &version)
        }
        Operation::AddLayerVersionPermission {
            layer,
            version,
            revision,
        } => crate::layers::add_permission(inner, &layer, &version, revision.as_deref(), input),
        Operation::GetLayerVersionPolicy { layer, version } => {
            crate::layers::get_policy(inner, &layer, &version)
        }
        Operation::RemoveLayerVersionPermission {
            layer,
            version,
            statement_id,
            revision,
        } => crate::layers::remove_permission(
            inner,
            &layer,
            &version,
            &statement_id,
            revision.as_deref(),
        ),
        Operation::ListEventSourceMappings {
            function,
            source,
            marker,
            max_items,
        } => crate::esm::list(
            inner,
            function.as_deref(),
            source.as_deref(),
            marker.as_deref(),
            max_items.as_deref(),
        ),
        Operation::GetEventSourceMapping { uuid } => crate::esm::get(inner, &uuid),
        Operation::UpdateEventSourceMapping { uuid } => crate::esm::update(inner, &uuid, input),
        Operation::DeleteEventSourceMapping { uuid } => crate::esm::delete(inner, &uuid),
        Operation::RemovePermission {
            function,
            statement_id,
        } => {
            let mut r = lookup(inner, &function, None)?;
            let before = r.policy.len();
            r.policy.retain(|s| s["Sid"] != statement_id.as_str());
            if r.policy.len() == before {
                return Err(Error::NotFound(format!(
                    "Statement {statement_id} is not found in resource policy."
                )));
            }
            save(inner, r, false)?;
            Ok((204, Value::Null))
        }
        Operation::GetAccountSettings => {
            let all = catalog::list(&inner.store)?;
            let reserved: u64 = all
                .iter()
                .filter_map(|r| r.reserved_concurrency)
                .map(u64::from)
                .sum();
            let limit = u64::from(inner.config.account_concurrency);
            Ok((
                200,
                json!({
                    "AccountLimit": {
                        "ConcurrentExecutions": limit,
                        "UnreservedConcurrentExecutions": limit.saturating_sub(reserved),
                        "CodeSizeUnzipped": 262_144_000,
                        "CodeSizeZipped": 52_428_800,
                        "TotalCodeSize": 80_530_636_800u64,
                    },
                    "AccountUsage": {
                        "FunctionCount": all.len(),
                        "TotalCodeSize": all.iter().map(|r| r.code_size).sum::<u64>(),
                    },
                }),
            ))
        }
    }
}

fn location(r: &FunctionRecord) -> String {
    match &r.code {
        crate::model::CodeLocation::Dir(p) | crate::model::CodeLocation::Executable(p) => {
            format!("file://{}", p.display())
        }
        crate::model::CodeLocation::Package(hex) => format!("nuvem://lambda/pkg/{hex}"),
    }
}

fn parse<T: serde::de::DeserializeOwned>(input: Value) -> Result<T> {
    serde_json::from_value(input)
        .map_err(|e| Error::InvalidRequestContent(format!("Could not parse request body: {e}")))
}

/// The function `reference` names; only `$LATEST` exists as a qualifier (no versions or
/// aliases yet), so any other qualifier is "not found", with the qualified ARN.
pub fn lookup(inner: &Inner, reference: &str, qualifier: Option<&str>) -> Result<FunctionRecord> {
    let f = FunctionRef::parse(reference)?;
    let qualifier = qualifier.or(f.qualifier.as_deref());
    let arn = |q: Option<&str>| {
        let base = function_arn(&inner.config.region, &inner.config.account_id, &f.name);
        match q {
            Some(q) => format!("{base}:{q}"),
            None => base,
        }
    };
    let record = catalog::get(&inner.store, &f.name)?
        .ok_or_else(|| Error::FunctionNotFound(arn(qualifier)))?;
    match qualifier {
        None | Some("$LATEST") => Ok(record),
        Some(q) => Err(Error::FunctionNotFound(arn(Some(q)))),
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    function_name: String,
    code: Option<CodeInput>,
    package_type: Option<String>,
    #[serde(flatten)]
    config: ConfigInput,
}

fn create(inner: &Inner, input: Value, root: bool) -> Result<Answer> {
    let input: CreateInput = parse(input)?;
    let f = FunctionRef::parse(&input.function_name)?;
    if input.package_type.as_deref().is_some_and(|p| p != "Zip") {
        return Err(Error::InvalidParameter(
            "nuvem runs Zip packages; PackageType Image is not supported".into(),
        ));
    }
    if input.config.runtime.is_none() {
        return Err(Error::InvalidParameter(
            "The Runtime parameter is required for a .zip deployment package".into(),
        ));
    }
    let mut record = FunctionRecord {
        name: f.name,
        runtime: String::new(),
        handler: None,
        role: format!("arn:aws:iam::{}:role/lambda-role", inner.config.account_id),
        description: String::new(),
        timeout: 3,
        memory_size: 128,
        environment: Default::default(),
        code: crate::model::CodeLocation::Dir(Default::default()),
        code_sha256: String::new(),
        code_size: 0,
        last_modified: String::new(),
        revision_id: String::new(),
        reserved_concurrency: None,
        architectures: vec!["x86_64".into()],
        policy: Vec::new(),
        keys_fallback: root,
        vpc: None,
        event_invoke: None,
        layers: Vec::new(),
    };
    let mut input = input;
    if let Some(arns) = input.config.layers.take() {
        record.layers = crate::layers::resolve(inner, &arns)?;
    }
    input.config.apply(&mut record)?;
    if catalog::get(&inner.store, &record.name)?.is_some() {
        return Err(Error::FunctionExists(record.name));
    }
    let code = input.code.ok_or_else(|| {
        Error::InvalidParameter("Please provide a source for function code.".into())
    })?;
    let (_, config) = save_with_code(inner, record, true, &code)?;
    Ok((201, config))
}

/// Stores the code, then saves the record pointing at it. On a shared store, another node may
/// collect an identical package between the two (it deleted the last function using it): then
/// the package is stored again.
fn save_with_code(
    inner: &Inner,
    mut record: FunctionRecord,
    new: bool,
    code: &CodeInput,
) -> Result<Answer> {
    let code_dir = inner.code_dir();
    let target = if inner.store.is_remote() {
        catalog::Target::Shared(&inner.store)
    } else {
        catalog::Target::Local(&code_dir)
    };
    let mut attempts = 0;
    loop {
        let stored = catalog::store_code(target, &record.name, code)?;
        record.code = stored.location;
        record.code_sha256 = stored.sha256;
        record.code_size = stored.size;
        match save(inner, record.clone(), new) {
            Err(Error::PackageGone(_)) if attempts < 3 => attempts += 1,
            answer => return answer,
        }
    }
}

/// Deletes a stored package that no function uses any more (after the change that stopped
/// using it), and this node's unpacked copy (best effort: a failure leaves an unreferenced
/// package, never a broken function).
fn collect_package(inner: &Inner, old: &crate::model::CodeLocation) {
    let crate::model::CodeLocation::Package(hex) = old else {
        return;
    };
    match crate::packages::collect(&inner.store, hex) {
        Ok(true) => {
            let _ =
                std::fs::remove_dir_all(crate::packages::local_root(&inner.code_dir()).join(hex));
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(package = %hex, error = %e, "lambda: could not collect old code"),
    }
}

/// PutFunctionEventInvokeConfig (`replace`) and UpdateFunctionEventInvokeConfig. The
/// configuration is read by each asynchronous event as it runs: the function keeps its
/// revision and its warm environments.
fn put_event_invoke_config(
    inner: &Inner,
    function: &str,
    qualifier: Option<&str>,
    input: &Value,
    replace: bool,
) -> Result<Answer> {
    let mut r = lookup(inner, function, qualifier)?;
    let arn = r.arn(&inner.config.region, &inner.config.account_id);
    let mut config = r.event_invoke.clone().unwrap_or_default();
    config.apply(input, replace, &inner.config.region)?;
    let shape = config.shape(&arn);
    r.event_invoke = Some(config);
    catalog::put(&inner.store, &r, false, &arn)?;
    Ok((200, shape))
}

/// The `FunctionConfiguration` shape, with `RuntimeVersionConfig` for Python and Node
/// functions: the interpreter that runs them here, and, when it is not the version the
/// runtime names, an `Error` saying what runs instead and how to get the right one.
fn config_out(inner: &Inner, record: &FunctionRecord) -> Value {
    let mut c = record.configuration(&inner.config.region, &inner.config.account_id);
    if let Some(i) = inner.interpreter(&record.runtime) {
        let id = hex::encode(sha2::Sha256::digest(
            format!("{}\n{}", i.path.display(), i.version).as_bytes(),
        ));
        let mut v = json!({
            "RuntimeVersionArn": format!(
                "arn:aws:lambda:{}::runtime:{id}",
                inner.config.region
            ),
        });
        if let Some(m) = i.mismatch {
            v["Error"] = json!({"ErrorCode": "RuntimeVersionMismatch", "Message": m});
        }
        c["RuntimeVersionConfig"] = v;
    }
    c
}

/// Refuses a Python or Node runtime that nothing runs here: the API's CreateFunction and
/// UpdateFunctionConfiguration (the manifest creates its functions all the same and marks
/// them pending, saying what to install).
pub(crate) fn check_interpreter(inner: &Inner, runtime: &str) -> Result<()> {
    match crate::model::RuntimeKind::parse(runtime) {
        Some(crate::model::RuntimeKind::Python | crate::model::RuntimeKind::Node)
            if inner.interpreter(runtime).is_none() =>
        {
            Err(crate::runtimes::missing_interpreter(runtime))
        }
        _ => Ok(()),
    }
}

/// Stamps a new revision, writes the record, and retires the function's warm environments.
fn save(inner: &Inner, mut record: FunctionRecord, new: bool) -> Result<Answer> {
    let now = nuvem_aws::time::AmzDate::from_system_time(std::time::SystemTime::now());
    record.last_modified = now.to_iso8601().replace('Z', "+0000");
    record.revision_id = uuid::Uuid::new_v4().to_string();
    let arn = record.arn(&inner.config.region, &inner.config.account_id);
    catalog::put(&inner.store, &record, new, &arn)?;
    inner.drop_pool(&record.name);
    Ok((200, config_out(inner, &record)))
}

fn list(inner: &Inner, marker: Option<String>, max_items: Option<String>) -> Result<Answer> {
    let max = match max_items {
        None => 50,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(Error::Validation(format!(
                    "1 validation error detected: Value '{s}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000"
                )));
            }
        },
    };
    let all = catalog::list(&inner.store)?;
    let start = match &marker {
        Some(m) => all
            .iter()
            .position(|r| r.name.as_str() > m.as_str())
            .unwrap_or(all.len()),
        None => 0,
    };
    let page: Vec<&FunctionRecord> = all.iter().skip(start).take(max).collect();
    let mut out = json!({
        "Functions": page
            .iter()
            .map(|r| config_out(inner, r))
            .collect::<Vec<_>>(),
    });
    if start + page.len() < all.len()
        && let Some(last) = page.last()
    {
        out["NextMarker"] = json!(last.name);
    }
    Ok((200, out))
}
