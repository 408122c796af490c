//! The control plane: CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, Put/Get/Delete
//! FunctionConcurrency, GetAccountSettings, and versions and aliases (see
//! [`crate::versions`]), each a JSON-in, JSON-out operation
//! (https://docs.aws.amazon.com/lambda/latest/api/API_Operations.html).
//!
//! The HTTP layer and the manifest both come through [`Operation`] and
//! [`crate::FunctionsService::execute`], so there is one way in. Every change is one store
//! transaction, then the function's warm pool is replaced. Must not: run functions.

use serde_json::{Value, json};
use sha2::Digest as _;

use crate::catalog::{self, CodeInput};
use crate::error::{Error, Result};
use crate::model::{ConfigInput, FunctionRecord, FunctionRef, Qualifier, function_arn};
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
        /// `FunctionVersion`: `ALL` lists every published version after each `$LATEST`.
        version: Option<String>,
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
    PublishVersion {
        function: String,
    },
    ListVersionsByFunction {
        function: String,
        marker: Option<String>,
        max_items: Option<String>,
    },
    CreateAlias {
        function: String,
    },
    GetAlias {
        function: String,
        alias: String,
    },
    UpdateAlias {
        function: String,
        alias: String,
    },
    DeleteAlias {
        function: String,
        alias: String,
    },
    ListAliases {
        function: String,
        version: Option<String>,
        marker: Option<String>,
        max_items: Option<String>,
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
    PutProvisionedConcurrencyConfig {
        function: String,
        qualifier: Option<String>,
    },
    GetProvisionedConcurrencyConfig {
        function: String,
        qualifier: Option<String>,
    },
    DeleteProvisionedConcurrencyConfig {
        function: String,
        qualifier: Option<String>,
    },
    ListProvisionedConcurrencyConfigs {
        function: String,
    },
    AddPermission {
        function: String,
        qualifier: Option<String>,
    },
    GetPolicy {
        function: String,
        qualifier: Option<String>,
    },
    RemovePermission {
        function: String,
        statement_id: String,
        qualifier: Option<String>,
        revision_id: Option<String>,
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
                marker: text("Marker"),
                max_items: text("MaxItems"),
                version: text("FunctionVersion"),
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
                qualifier,
            },
            "GetPolicy" => Self::GetPolicy {
                function: function()?,
                qualifier,
            },
            "RemovePermission" => Self::RemovePermission {
                function: function()?,
                statement_id: input
                    .get("StatementId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| Error::Validation("StatementId is required".into()))?,
                qualifier,
                revision_id: text("RevisionId"),
            },
            "PublishVersion" => Self::PublishVersion {
                function: function()?,
            },
            "ListVersionsByFunction" => Self::ListVersionsByFunction {
                function: function()?,
                marker: text("Marker"),
                max_items: text("MaxItems"),
            },
            "CreateAlias" => Self::CreateAlias {
                function: function()?,
            },
            "GetAlias" | "UpdateAlias" | "DeleteAlias" => {
                let (function, alias) = (
                    function()?,
                    text("Name").ok_or_else(|| Error::Validation("Name is required".into()))?,
                );
                match name {
                    "GetAlias" => Self::GetAlias { function, alias },
                    "UpdateAlias" => Self::UpdateAlias { function, alias },
                    _ => Self::DeleteAlias { function, alias },
                }
            }
            "ListAliases" => Self::ListAliases {
                function: function()?,
                version: text("FunctionVersion"),
                marker: text("Marker"),
                max_items: text("MaxItems"),
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
            "PutProvisionedConcurrencyConfig" => Self::PutProvisionedConcurrencyConfig {
                function: function()?,
                qualifier,
            },
            "GetProvisionedConcurrencyConfig" => Self::GetProvisionedConcurrencyConfig {
                function: function()?,
                qualifier,
            },
            "DeleteProvisionedConcurrencyConfig" => Self::DeleteProvisionedConcurrencyConfig {
                function: function()?,
                qualifier,
            },
            "ListProvisionedConcurrencyConfigs" => Self::ListProvisionedConcurrencyConfigs {
                function: function()?,
            },
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
        Operation::ListFunctions {
            marker,
            max_items,
            version,
        } => list(inner, marker, max_items, version),
        Operation::GetFunction {
            function,
            qualifier,
        } => {
            let t = resolve(inner, &function, qualifier.as_deref())?;
            let r = t.record().clone();
            let mut out = json!({
                "Configuration": t.configuration(inner),
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
            let t = resolve(inner, &function, qualifier.as_deref())?;
            Ok((200, t.configuration(inner)))
        }
        Operation::UpdateFunctionCode { function } => {
            let r = latest(inner, &function)?;
            let (publish, revision) = update_options(&input);
            crate::versions::check_revision(revision.as_deref(), &r.revision_id)?;
            let code: CodeInput = parse(input)?;
            let old = r.code.clone();
            let answer = save_with_code(inner, r, false, &code, root)?;
            collect_package(inner, &old);
            if publish {
                return publish_version(inner, &function, &Value::Null);
            }
            Ok(answer)
        }
        Operation::UpdateFunctionConfiguration { function } => {
            let mut r = latest(inner, &function)?;
            let (publish, revision) = update_options(&input);
            crate::versions::check_revision(revision.as_deref(), &r.revision_id)?;
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
            if publish {
                return publish_version(inner, &function, &Value::Null);
            }
            Ok(answer)
        }
        Operation::PublishVersion { function } => publish_version(inner, &function, &input),
        Operation::PutProvisionedConcurrencyConfig {
            function,
            qualifier,
        } => Ok((
            202,
            crate::provisioned::put(inner, &function, qualifier.as_deref(), &input)?,
        )),
        Operation::GetProvisionedConcurrencyConfig {
            function,
            qualifier,
        } => Ok((
            200,
            crate::provisioned::get(inner, &function, qualifier.as_deref())?,
        )),
        Operation::DeleteProvisionedConcurrencyConfig {
            function,
            qualifier,
        } => {
            crate::provisioned::delete(inner, &function, qualifier.as_deref())?;
            Ok((204, Value::Null))
        }
        Operation::ListProvisionedConcurrencyConfigs { function } => {
            Ok((200, crate::provisioned::list(inner, &function)?))
        }
        Operation::ListVersionsByFunction {
            function,
            marker,
            max_items,
        } => {
            let r = latest(inner, &function)?;
            let out = crate::versions::list_versions_page(
                inner,
                &r,
                marker.as_deref(),
                max_items.as_deref(),
                |v| config_out(inner, &with_concurrency(v, &r)),
            )?;
            Ok((200, out))
        }
        Operation::CreateAlias { function } => {
            let name = crate::versions::unqualified(&function)?;
            Ok((201, crate::versions::create_alias(inner, &name, &input)?))
        }
        Operation::GetAlias { function, alias } => {
            let name = crate::versions::unqualified(&function)?;
            Ok((200, crate::versions::get_alias_shape(inner, &name, &alias)?))
        }
        Operation::UpdateAlias { function, alias } => {
            let name = crate::versions::unqualified(&function)?;
            Ok((
                200,
                crate::versions::update_alias(inner, &name, &alias, &input)?,
            ))
        }
        Operation::DeleteAlias { function, alias } => {
            let name = crate::versions::unqualified(&function)?;
            crate::versions::delete_alias(inner, &name, &alias)?;
            Ok((204, Value::Null))
        }
        Operation::ListAliases {
            function,
            version,
            marker,
            max_items,
        } => {
            let name = crate::versions::unqualified(&function)?;
            Ok((
                200,
                crate::versions::list_aliases_page(
                    inner,
                    &name,
                    version.as_deref(),
                    marker.as_deref(),
                    max_items.as_deref(),
                )?,
            ))
        }
        Operation::DeleteFunction {
            function,
            qualifier,
        } => {
            let f = FunctionRef::parse(&function)?;
            match f.qualifier(qualifier.as_deref())? {
                None => {
                    let base =
                        function_arn(&inner.config.region, &inner.config.account_id, &f.name);
                    let gone = inner
                        .store
                        .transact(|tx| crate::versions::delete_function(tx, &f.name))?
                        .ok_or(Error::FunctionNotFound(base))?;
                    inner
                        .store
                        .transact(|tx| crate::function_url::delete_all(tx, &f.name))?;
                    inner.drop_pools(&f.name);
                    if let Some(o) = inner.observer() {
                        o.deleted(&f.name);
                    }
                    catalog::remove_code(&inner.code_dir(), &f.name);
                    for r in &gone {
                        collect_package(inner, &r.code);
                        for l in &r.layers {
                            crate::layers::collect(inner, &l.package);
                        }
                    }
                }
                Some(Qualifier::Version(n)) => {
                    let gone = crate::versions::delete_version(inner, &f.name, n)?;
                    inner.drop_pool(&crate::service::pool_key(&f.name, Some(n)));
                    collect_package(inner, &gone.code);
                }
                Some(Qualifier::Latest) => {
                    return Err(Error::InvalidParameter(
                        "$LATEST version cannot be deleted without deleting the function.".into(),
                    ));
                }
                Some(Qualifier::Alias(a)) => {
                    return Err(Error::InvalidParameter(format!(
                        "Deletion of aliases is not supported by DeleteFunction: use DeleteAlias for {a}"
                    )));
                }
            }
            Ok((204, Value::Null))
        }
        Operation::PutFunctionConcurrency { function } => {
            let mut r = latest(inner, &function)?;
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
            let name = r.name.clone();
            save(inner, r, false)?;
            // Every version's environments count against the function's reservation.
            inner.drop_pools(&name);
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
            let t = resolve(inner, &function, qualifier.as_deref())?;
            let arn = t.config_arn(inner);
            match t.event_invoke() {
                Some(c) => Ok((200, c.shape(&arn))),
                None => Err(Error::NotFound(format!(
                    "The function {arn} doesn't have an EventInvokeConfig"
                ))),
            }
        }
        Operation::DeleteFunctionEventInvokeConfig {
            function,
            qualifier,
        } => {
            let mut t = resolve(inner, &function, qualifier.as_deref())?;
            let arn = t.config_arn(inner);
            if t.event_invoke_mut().take().is_none() {
                return Err(Error::NotFound(format!(
                    "The function {arn} doesn't have an EventInvokeConfig"
                )));
            }
            t.save_settings(inner)?;
            Ok((204, Value::Null))
        }
        Operation::ListFunctionEventInvokeConfigs { function } => {
            let r = latest(inner, &function)?;
            let arn = r.arn(&inner.config.region, &inner.config.account_id);
            let snap = inner.store.snapshot();
            let mut configs: Vec<Value> = r.event_invoke.iter().map(|c| c.shape(&arn)).collect();
            for v in crate::versions::list_versions(&*snap, &r.name)? {
                if let Some(c) = &v.event_invoke {
                    configs.push(c.shape(&format!("{arn}:{}", v.version_label())));
                }
            }
            for a in crate::versions::list_aliases(&*snap, &r.name)? {
                if let Some(c) = &a.event_invoke {
                    configs.push(c.shape(&format!("{arn}:{}", a.name)));
                }
            }
            Ok((200, json!({ "FunctionEventInvokeConfigs": configs })))
        }
        Operation::GetFunctionConcurrency { function } => {
            let r = latest(inner, &function)?;
            Ok((
                200,
                match r.reserved_concurrency {
                    Some(n) => json!({"ReservedConcurrentExecutions": n}),
                    None => json!({}),
                },
            ))
        }
        Operation::DeleteFunctionConcurrency { function } => {
            let mut r = latest(inner, &function)?;
            r.reserved_concurrency = None;
            let name = r.name.clone();
            save(inner, r, false)?;
            inner.drop_pools(&name);
            Ok((204, Value::Null))
        }
        Operation::AddPermission {
            function,
            qualifier,
        } => {
            let mut t = resolve(inner, &function, qualifier.as_deref())?;
            let revision = input.get("RevisionId").and_then(Value::as_str);
            crate::versions::check_revision(revision, t.revision())?;
            let arn = t.arn(inner);
            let statement = permission_statement(&input, &arn)?;
            let sid = statement["Sid"].as_str().unwrap_or_default().to_owned();
            let policy = t.policy_mut();
            if policy.iter().any(|s| s["Sid"] == sid.as_str()) {
                return Err(Error::Conflict(format!(
                    "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
                )));
            }
            policy.push(statement.clone());
            let document = policy_document(policy);
            if document.len() > MAX_POLICY_BYTES {
                return Err(Error::PolicyTooLong(format!(
                    "The final policy size ({}) is bigger than the limit ({MAX_POLICY_BYTES}).",
                    document.len()
                )));
            }
            if t.qualifier.is_none() {
                save(inner, t.latest, false)?;
            } else {
                t.save_settings(inner)?;
            }
            Ok((201, json!({"Statement": statement.to_string()})))
        }
        Operation::GetPolicy {
            function,
            qualifier,
        } => {
            let mut t = resolve(inner, &function, qualifier.as_deref())?;
            let revision = t.revision().to_owned();
            let policy = t.policy_mut();
            if policy.is_empty() {
                return Err(Error::NotFound(
                    "The resource you requested does not exist.".into(),
                ));
            }
            Ok((
                200,
                json!({"Policy": policy_document(policy), "RevisionId": revision}),
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
            qualifier,
            revision_id,
        } => {
            let mut t = resolve(inner, &function, qualifier.as_deref())?;
            crate::versions::check_revision(revision_id.as_deref(), t.revision())?;
            let policy = t.policy_mut();
            let before = policy.len();
            policy.retain(|s| s["Sid"] != statement_id.as_str());
            if policy.len() == before {
                return Err(Error::NotFound(format!(
                    "Statement {statement_id} is not found in resource policy."
                )));
            }
            if t.qualifier.is_none() {
                save(inner, t.latest, false)?;
            } else {
                t.save_settings(inner)?;
            }
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

/// The record that runs for `reference` and its qualifier: `$LATEST`, a published version,
/// or an alias's primary version (see [`resolve`]).
pub fn lookup(inner: &Inner, reference: &str, qualifier: Option<&str>) -> Result<FunctionRecord> {
    Ok(resolve(inner, reference, qualifier)?.record().clone())
}

/// `$LATEST`, for the operations that change the function itself (its code, configuration,
/// concurrency, versions and aliases): a qualifier other than `$LATEST` is refused, since
/// versions are immutable.
pub fn latest(inner: &Inner, reference: &str) -> Result<FunctionRecord> {
    let name = crate::versions::unqualified(reference)?;
    catalog::get(&inner.store, &name)?.ok_or_else(|| {
        Error::FunctionNotFound(function_arn(
            &inner.config.region,
            &inner.config.account_id,
            &name,
        ))
    })
}

/// The ARN a reference names, with its qualifier when it has one (event source mappings
/// keep it so that they invoke that version or alias); the function and the version or
/// alias must exist.
pub fn qualified_arn(inner: &Inner, reference: &str) -> Result<String> {
    Ok(resolve(inner, reference, None)?.arn(inner))
}

/// What a function reference and a `Qualifier` name, read from one snapshot.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub latest: FunctionRecord,
    pub qualifier: Option<Qualifier>,
    /// The version named, or the alias's primary version (`None`: `$LATEST`), with the
    /// function's reserved concurrency.
    pub version: Option<FunctionRecord>,
    pub alias: Option<crate::versions::AliasRecord>,
}

impl Resolved {
    /// The record that runs.
    pub fn record(&self) -> &FunctionRecord {
        self.version.as_ref().unwrap_or(&self.latest)
    }

    /// The ARN as asked: unqualified, or with the qualifier given.
    pub fn arn(&self, inner: &Inner) -> String {
        let base = self
            .latest
            .arn(&inner.config.region, &inner.config.account_id);
        match &self.qualifier {
            None => base,
            Some(q) => format!("{base}:{}", q.label()),
        }
    }

    /// The ARN a per-qualifier configuration is reported under (`:$LATEST` when unqualified).
    fn config_arn(&self, inner: &Inner) -> String {
        match &self.qualifier {
            None => format!(
                "{}:{}",
                self.latest
                    .arn(&inner.config.region, &inner.config.account_id),
                crate::model::LATEST
            ),
            Some(_) => self.arn(inner),
        }
    }

    /// The `FunctionConfiguration` of what runs; its `FunctionArn` qualified as asked.
    pub fn configuration(&self, inner: &Inner) -> Value {
        let mut c = config_out(inner, self.record());
        if self.qualifier.is_some() {
            c["FunctionArn"] = json!(self.arn(inner));
        }
        c
    }

    /// The revision of the resource named: the alias's, the version's, or `$LATEST`'s.
    fn revision(&self) -> &str {
        match (&self.alias, &self.qualifier) {
            (Some(a), _) => &a.revision_id,
            (None, Some(Qualifier::Version(_))) => &self.record().revision_id,
            _ => &self.latest.revision_id,
        }
    }

    /// The resource named by the qualifier itself (not an alias's version).
    fn own(&mut self) -> Own<'_> {
        match (&mut self.alias, &self.qualifier, &mut self.version) {
            (Some(a), _, _) => Own::Alias(a),
            (None, Some(Qualifier::Version(_)), Some(v)) => Own::Record(v),
            _ => Own::Record(&mut self.latest),
        }
    }

    /// The resource-based policy of the resource named (an alias's or a version's own).
    pub fn policy(&self) -> &[Value] {
        match (&self.alias, &self.qualifier) {
            (Some(a), _) => &a.policy,
            (None, Some(Qualifier::Version(_))) => &self.record().policy,
            _ => &self.latest.policy,
        }
    }

    fn policy_mut(&mut self) -> &mut Vec<Value> {
        match self.own() {
            Own::Alias(a) => &mut a.policy,
            Own::Record(r) => &mut r.policy,
        }
    }

    fn event_invoke_mut(&mut self) -> &mut Option<crate::event_config::EventInvokeConfig> {
        match self.own() {
            Own::Alias(a) => &mut a.event_invoke,
            Own::Record(r) => &mut r.event_invoke,
        }
    }

    /// The asynchronous invocation configuration of the resource named (an alias's own, not
    /// its version's).
    pub fn event_invoke(&self) -> Option<&crate::event_config::EventInvokeConfig> {
        match (&self.alias, &self.qualifier) {
            (Some(a), _) => a.event_invoke.as_ref(),
            (None, Some(Qualifier::Version(_))) => self.record().event_invoke.as_ref(),
            _ => self.latest.event_invoke.as_ref(),
        }
    }

    /// Writes back the per-qualifier settings (policy, asynchronous configuration) of the
    /// resource named, keeping its revision and its warm environments.
    fn save_settings(&mut self, inner: &Inner) -> Result<()> {
        let arn = self.arn(inner);
        match self.own() {
            Own::Alias(a) => {
                let a = a.clone();
                inner
                    .store
                    .transact(|tx| crate::versions::put_alias(tx, &a, &arn))?;
                inner.forget_aliases(&a.function);
            }
            Own::Record(r) if r.version.is_some() => {
                let r = r.clone();
                inner
                    .store
                    .transact(|tx| crate::versions::put_version(tx, &r, &arn))?;
            }
            Own::Record(r) => catalog::put(&inner.store, r, false, &arn)?,
        }
        Ok(())
    }
}

enum Own<'a> {
    Alias(&'a mut crate::versions::AliasRecord),
    Record(&'a mut FunctionRecord),
}

/// Resolves `reference` (a name, `name:qualifier`, a full or partial ARN) and the
/// `Qualifier` parameter. A version or alias that does not exist is "not found" with the
/// qualified ARN.
pub fn resolve(inner: &Inner, reference: &str, qualifier: Option<&str>) -> Result<Resolved> {
    let f = FunctionRef::parse(reference)?;
    let qualifier = f.qualifier(qualifier)?;
    let base = function_arn(&inner.config.region, &inner.config.account_id, &f.name);
    let not_found = |q: &Option<Qualifier>| {
        Error::FunctionNotFound(match q {
            Some(q) => format!("{base}:{}", q.label()),
            None => base.clone(),
        })
    };
    let snap = inner.store.snapshot();
    let key = catalog::key(&f.name);
    let latest: FunctionRecord = match snap.get(&key)? {
        Some(v) => {
            serde_json::from_slice(&v).map_err(|e| Error::Corrupt(format!("{}: {e}", f.name)))?
        }
        None => return Err(not_found(&qualifier)),
    };
    let version_of = |n: u64| -> Result<FunctionRecord> {
        crate::versions::get_version(&*snap, &f.name, n)?
            .map(|v| with_concurrency(&v, &latest))
            .ok_or_else(|| not_found(&Some(Qualifier::Version(n))))
    };
    let (version, alias) = match &qualifier {
        None | Some(Qualifier::Latest) => (None, None),
        Some(Qualifier::Version(n)) => (Some(version_of(*n)?), None),
        Some(Qualifier::Alias(a)) => {
            let alias = crate::versions::get_alias(&*snap, &f.name, a)?
                .ok_or_else(|| not_found(&qualifier))?;
            let version = match Qualifier::parse(&alias.function_version)? {
                Qualifier::Version(n) => Some(version_of(n)?),
                _ => None,
            };
            (version, Some(alias))
        }
    };
    Ok(Resolved {
        latest,
        qualifier,
        version,
        alias,
    })
}

/// A version's record with the function's reserved concurrency (a setting of the function,
/// shared by every version).
pub fn with_concurrency(version: &FunctionRecord, latest: &FunctionRecord) -> FunctionRecord {
    FunctionRecord {
        reserved_concurrency: latest.reserved_concurrency,
        ..version.clone()
    }
}

/// `Publish` and `RevisionId` of UpdateFunctionCode and UpdateFunctionConfiguration.
fn update_options(input: &Value) -> (bool, Option<String>) {
    (
        input
            .get("Publish")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        input
            .get("RevisionId")
            .and_then(Value::as_str)
            .map(str::to_owned),
    )
}

/// PublishVersion (201, the version's `FunctionConfiguration`).
fn publish_version(inner: &Inner, function: &str, input: &Value) -> Result<Answer> {
    let name = crate::versions::unqualified(function)?;
    let version = crate::versions::publish(inner, &name, input)?;
    let latest = catalog::get(&inner.store, &name)?.unwrap_or_else(|| version.clone());
    Ok((201, config_out(inner, &with_concurrency(&version, &latest))))
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
        version: None,
        last_version: 0,
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
    let (_, config) = save_with_code(inner, record, true, &code, root)?;
    Ok((201, config))
}

/// Stores the code, then saves the record pointing at it. On a shared store, another node may
/// collect an identical package between the two (it deleted the last function using it): then
/// the package is stored again. `root`: the account's root credentials asked (only they may
/// name a local path, see [`catalog::check_source`]).
fn save_with_code(
    inner: &Inner,
    mut record: FunctionRecord,
    new: bool,
    code: &CodeInput,
    root: bool,
) -> Result<Answer> {
    catalog::check_source(code, root)?;
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
    let mut t = resolve(inner, function, qualifier)?;
    let arn = t.config_arn(inner);
    let slot = t.event_invoke_mut();
    let mut config = slot.clone().unwrap_or_default();
    config.apply(input, replace, &inner.config.region)?;
    let shape = config.shape(&arn);
    *slot = Some(config);
    t.save_settings(inner)?;
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

fn list(
    inner: &Inner,
    marker: Option<String>,
    max_items: Option<String>,
    version: Option<String>,
) -> Result<Answer> {
    let all_versions = match version.as_deref() {
        None => false,
        Some("ALL") => true,
        Some(v) => {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{v}' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
            )));
        }
    };
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
    let mut all = catalog::list(&inner.store)?;
    if all_versions {
        let snap = inner.store.snapshot();
        let mut expanded = Vec::with_capacity(all.len());
        for latest in all {
            let versions = crate::versions::list_versions(&*snap, &latest.name)?;
            let versions: Vec<FunctionRecord> = versions
                .iter()
                .map(|v| with_concurrency(v, &latest))
                .collect();
            expanded.push(latest);
            expanded.extend(versions);
        }
        all = expanded;
    }
    // A marker is the last name (or `name:version`) of the page before.
    let marker_of = |r: &FunctionRecord| match r.version {
        None => r.name.clone(),
        Some(n) => format!("{}:{n}", r.name),
    };
    let start = match &marker {
        Some(m) => match all.iter().position(|r| marker_of(r) == *m) {
            Some(i) => i + 1,
            None => all
                .iter()
                .position(|r| r.name.as_str() > m.as_str())
                .unwrap_or(all.len()),
        },
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
        out["NextMarker"] = json!(marker_of(last));
    }
    Ok((200, out))
}
