//! The function model: what a function is ([`FunctionRecord`], as stored), the runtimes nuvem
//! runs, the validation of CreateFunction/UpdateFunctionConfiguration parameters, function
//! name and ARN parsing, and the `FunctionConfiguration` JSON every control-plane operation
//! returns (https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html).
//!
//! Must not: touch the store, the disk or processes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The runtimes nuvem runs. Identifiers from
/// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html (deprecated ones too, so
/// old templates keep working: they all run on the local interpreter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// `provided`, `provided.al2`, `provided.al2023`: an executable named `bootstrap`.
    Provided,
    /// `python3.x`: nuvem's Python bootstrap on the local `python3`.
    Python,
    /// `nodejsNN.x`: nuvem's Node bootstrap on the local `node`.
    Node,
}

impl RuntimeKind {
    pub fn parse(runtime: &str) -> Option<Self> {
        let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        match runtime {
            "provided" | "provided.al2" | "provided.al2023" => Some(Self::Provided),
            r if r.strip_prefix("python3.").is_some_and(digits) => Some(Self::Python),
            r if r
                .strip_prefix("nodejs")
                .and_then(|v| v.strip_suffix(".x"))
                .is_some_and(digits) =>
            {
                Some(Self::Node)
            }
            _ => None,
        }
    }
}

/// Where a function's code lives on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeLocation {
    /// A folder (an unpacked zip in the data dir, or a local folder used in place).
    Dir(PathBuf),
    /// A single executable used as the `bootstrap` of a `provided` function.
    Executable(PathBuf),
    /// A zip kept in the store (a shared store), by the hex SHA-256 of its bytes: each node
    /// unpacks it on first use (see [`crate::packages`]).
    Package(String),
}

fn keys_fallback_default() -> bool {
    true
}

/// A function as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub name: String,
    pub runtime: String,
    pub handler: Option<String>,
    pub role: String,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    pub environment: BTreeMap<String, String>,
    pub code: CodeLocation,
    /// base64 of the SHA-256 of the deployment package, as Lambda reports it.
    pub code_sha256: String,
    pub code_size: u64,
    pub last_modified: String,
    pub revision_id: String,
    pub reserved_concurrency: Option<u32>,
    pub architectures: Vec<String>,
    /// The resource-based policy's statements (AddPermission), in order.
    #[serde(default)]
    pub policy: Vec<Value>,
    /// Whether the function may run with the service's configured keys when its execution
    /// role does not exist: only when the account's root set the role (records from before
    /// roles were checked were all set by the root).
    #[serde(default = "keys_fallback_default")]
    pub keys_fallback: bool,
    /// Lambda's `VpcConfig`, as given: recorded and reported, not a network of its own (see
    /// [`VpcConfig`]).
    #[serde(default)]
    pub vpc: Option<VpcConfig>,
    /// Asynchronous invocation configuration (PutFunctionEventInvokeConfig).
    #[serde(default)]
    pub event_invoke: Option<crate::event_config::EventInvokeConfig>,
    /// The function's layers, in order (`Layers`, see [`crate::layers`]).
    #[serde(default)]
    pub layers: Vec<crate::layers::LayerRef>,
    /// `None` for `$LATEST`; the number of a published version (an immutable snapshot, see
    /// [`crate::versions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// On `$LATEST`: the highest version number ever published (numbers are never reused,
    /// even after a version is deleted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_version: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A function's `VpcConfig` (subnets and security groups by id,
/// https://docs.aws.amazon.com/lambda/latest/api/API_VpcConfig.html). nuvem has no subnets:
/// where environments get network namespaces, every function's environment is already on a
/// private network of its own that reaches only the private plane, with or without a
/// `VpcConfig`; reaching anything else is granted by the manifest (`egress = true`), never
/// through the Lambda API. The ids are kept so that tools which set them read them back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfig {
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    #[serde(default)]
    pub ipv6_allowed_for_dual_stack: bool,
}

impl FunctionRecord {
    pub fn arn(&self, region: &str, account: &str) -> String {
        function_arn(region, account, &self.name)
    }

    /// `$LATEST`, or the version's number.
    pub fn version_label(&self) -> String {
        match self.version {
            Some(n) => n.to_string(),
            None => LATEST.to_owned(),
        }
    }

    /// The `FunctionConfiguration` shape.
    pub fn configuration(&self, region: &str, account: &str) -> Value {
        let mut c = json!({
            "FunctionName": self.name,
            "FunctionArn": self.arn(region, account),
            "Runtime": self.runtime,
            "Role": self.role,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": self.last_modified,
            "CodeSha256": self.code_sha256,
            "Version": self.version_label(),
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": self.revision_id,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": self.architectures,
            "EphemeralStorage": {"Size": 512},
        });
        if self.version.is_some() {
            c["FunctionArn"] = json!(format!(
                "{}:{}",
                self.arn(region, account),
                self.version_label()
            ));
        }
        if let Some(h) = &self.handler {
            c["Handler"] = json!(h);
        }
        if !self.environment.is_empty() {
            c["Environment"] = json!({"Variables": self.environment});
        }
        if !self.layers.is_empty() {
            c["Layers"] = crate::layers::configuration(&self.layers);
        }
        if let Some(vpc) = &self.vpc {
            // `VpcConfigResponse`: nuvem has no VPC ids, so `VpcId` is empty.
            c["VpcConfig"] = json!({
                "SubnetIds": vpc.subnet_ids,
                "SecurityGroupIds": vpc.security_group_ids,
                "VpcId": "",
                "Ipv6AllowedForDualStack": vpc.ipv6_allowed_for_dual_stack,
            });
        }
        c
    }
}

pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// The qualifier of `$LATEST`.
pub const LATEST: &str = "$LATEST";

/// What a qualifier names: `$LATEST`, a published version, or an alias
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualifier {
    Latest,
    Version(u64),
    Alias(String),
}

impl Qualifier {
    /// Parses a qualifier as the API's `Qualifier` pattern allows (`[a-zA-Z0-9$_-]+`, at most
    /// 128 characters): only `$LATEST` may hold a `$`; digits are a version, anything else
    /// an alias name.
    pub fn parse(q: &str) -> Result<Self> {
        let valid = !q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if q == LATEST {
            return Ok(Self::Latest);
        }
        if !valid {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
            )));
        }
        if q.bytes().all(|b| b.is_ascii_digit()) {
            // A number past u64 names no version that can exist.
            return Ok(Self::Version(q.parse().unwrap_or(u64::MAX)));
        }
        Ok(Self::Alias(q.to_owned()))
    }

    /// The qualifier as written in an ARN.
    pub fn label(&self) -> String {
        match self {
            Self::Latest => LATEST.to_owned(),
            Self::Version(n) => n.to_string(),
            Self::Alias(a) => a.clone(),
        }
    }
}

/// A function reference as clients write it: a name, `name:qualifier`, a full ARN or a partial
/// ARN (`123456789012:function:name`), per the `FunctionName` parameter's documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<String>,
}

impl FunctionRef {
    pub fn parse(input: &str) -> Result<Self> {
        let parts: Vec<&str> = input.split(':').collect();
        let (name, qualifier) = match parts.as_slice() {
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            [_acct, "function", name] => (*name, None),
            [_acct, "function", name, q] => (*name, Some(*q)),
            ["arn", _, "lambda", _region, _acct, "function", name] => (*name, None),
            ["arn", _, "lambda", _region, _acct, "function", name, q] => (*name, Some(*q)),
            _ => return Err(invalid_name(input)),
        };
        if !valid_name(name) || qualifier.is_some_and(|q| q.is_empty() || q.len() > 128) {
            return Err(invalid_name(input));
        }
        Ok(Self {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
        })
    }

    /// The qualifier meant: the one in the reference, else the `Qualifier` parameter; both
    /// given must agree, as Lambda requires. `None` is the unqualified function (`$LATEST`).
    pub fn qualifier(&self, param: Option<&str>) -> Result<Option<Qualifier>> {
        let param = param.filter(|q| !q.is_empty());
        match (self.qualifier.as_deref(), param) {
            (Some(a), Some(b)) if a != b => Err(Error::InvalidParameter(
                "The derived qualifier from the function name does not match the specified qualifier.".into(),
            )),
            (Some(q), _) | (None, Some(q)) => Qualifier::parse(q).map(Some),
            (None, None) => Ok(None),
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn invalid_name(input: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value '{input}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
    ))
}

/// The configuration parameters shared by CreateFunction and UpdateFunctionConfiguration, as
/// parsed from their JSON (absent members are `None`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigInput {
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub role: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<EnvironmentInput>,
    pub architectures: Option<Vec<String>>,
    pub vpc_config: Option<VpcConfig>,
    /// Layer version ARNs: resolved against the store by the control plane, not by
    /// [`ConfigInput::apply`].
    pub layers: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentInput {
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

impl ConfigInput {
    /// Applies the present members onto `record`, checking each against Lambda's constraints.
    pub fn apply(self, record: &mut FunctionRecord) -> Result<()> {
        if let Some(runtime) = self.runtime {
            if RuntimeKind::parse(&runtime).is_none() {
                return Err(Error::InvalidParameter(format!(
                    "Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [provided, provided.al2, provided.al2023, python3.9, python3.10, python3.11, python3.12, python3.13, nodejs18.x, nodejs20.x, nodejs22.x] or be a valid ARN"
                )));
            }
            record.runtime = runtime;
        }
        if let Some(h) = self.handler {
            if h.is_empty() || h.len() > 128 {
                return Err(constraint(
                    "handler",
                    &h,
                    "Member must have length less than or equal to 128",
                ));
            }
            record.handler = Some(h);
        }
        if let Some(role) = self.role {
            record.role = role;
        }
        if let Some(d) = self.description {
            if d.len() > 256 {
                return Err(constraint(
                    "description",
                    &d,
                    "Member must have length less than or equal to 256",
                ));
            }
            record.description = d;
        }
        if let Some(t) = self.timeout {
            if !(1..=900).contains(&t) {
                let rule = if t < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 900"
                };
                return Err(constraint("timeout", &t.to_string(), rule));
            }
            record.timeout = u32::try_from(t).unwrap_or(3);
        }
        if let Some(m) = self.memory_size {
            if !(128..=10240).contains(&m) {
                let rule = if m < 128 {
                    "Member must have value greater than or equal to 128"
                } else {
                    "Member must have value less than or equal to 10240"
                };
                return Err(constraint("memorySize", &m.to_string(), rule));
            }
            record.memory_size = u32::try_from(m).unwrap_or(128);
        }
        if let Some(env) = self.environment {
            for key in env.variables.keys() {
                let valid = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    return Err(Error::Validation(format!(
                        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+], key {key:?}"
                    )));
                }
                if RESERVED_ENV.contains(&key.as_str()) {
                    return Err(Error::InvalidParameter(format!(
                        "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {key}"
                    )));
                }
            }
            record.environment = env.variables;
        }
        if let Some(a) = self.architectures {
            if a.len() != 1 || !a.iter().all(|x| x == "x86_64" || x == "arm64") {
                return Err(Error::Validation(
                    "1 validation error detected: Value at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1, and each member must be x86_64 or arm64".into(),
                ));
            }
            record.architectures = a;
        }
        if let Some(vpc) = self.vpc_config {
            // The modelled limits (API_VpcConfig: at most 16 subnets, 5 security groups).
            if vpc.subnet_ids.len() > 16 {
                return Err(Error::Validation(
                    "1 validation error detected: Value at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length less than or equal to 16".into(),
                ));
            }
            if vpc.security_group_ids.len() > 5 {
                return Err(Error::Validation(
                    "1 validation error detected: Value at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have length less than or equal to 5".into(),
                ));
            }
            // Empty lists detach the function from its VPC, as on AWS.
            record.vpc =
                (!vpc.subnet_ids.is_empty() || !vpc.security_group_ids.is_empty()).then_some(vpc);
        }
        let kind = RuntimeKind::parse(&record.runtime);
        if matches!(kind, Some(RuntimeKind::Python | RuntimeKind::Node)) && record.handler.is_none()
        {
            return Err(Error::InvalidParameter(
                "Handler is required for the runtime of a .zip deployment package".into(),
            ));
        }
        Ok(())
    }
}

/// Keys Lambda sets itself and refuses in `Environment.Variables`
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

fn constraint(member: &str, value: &str, rule: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One reference and `Qualifier` parameter: the name and qualifier meant, or the error
    /// code a client gets.
    #[track_caller]
    fn check(
        reference: &str,
        param: Option<&str>,
        want: std::result::Result<(&str, Option<Qualifier>), &str>,
    ) {
        use nuvem_aws::IntoAwsError;
        let got = FunctionRef::parse(reference)
            .and_then(|f| Ok((f.qualifier(param)?, f.name)))
            .map_err(|e| e.into_aws_error().code);
        match (got, want) {
            (Ok((q, name)), Ok((want_name, want_q))) => {
                assert_eq!(
                    (name.as_str(), q),
                    (want_name, want_q),
                    "{reference} {param:?}"
                )
            }
            (Err(code), Err(want_code)) => assert_eq!(code, want_code, "{reference} {param:?}"),
            (got, want) => panic!("{reference} {param:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn references_and_qualifiers() {
        use Qualifier::*;
        let alias = |a: &str| Some(Alias(a.to_owned()));
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:f";
        let ok = |q| Ok(("f", q));
        check("f", None, ok(None));
        check("f", Some(""), ok(None));
        check("f:$LATEST", None, ok(Some(Latest)));
        check("f", Some("$LATEST"), ok(Some(Latest)));
        check("f:7", None, ok(Some(Version(7))));
        check("f", Some("12"), ok(Some(Version(12))));
        check("f:live", None, ok(alias("live")));
        check("f", Some("blue-2_x"), ok(alias("blue-2_x")));
        check("f:live", Some("live"), ok(alias("live")));
        check(arn, None, ok(None));
        check(&format!("{arn}:3"), None, ok(Some(Version(3))));
        check(&format!("{arn}:prod"), Some("prod"), ok(alias("prod")));
        check(&format!("{arn}:$LATEST"), None, ok(Some(Latest)));
        check("000000000000:function:f:5", None, ok(Some(Version(5))));
        check("000000000000:function:f", Some("5"), ok(Some(Version(5))));
        // A version number past u64 names no version (not found later), not an alias.
        check(
            "f:99999999999999999999999",
            None,
            ok(Some(Version(u64::MAX))),
        );
        // Both given and different.
        check("f:1", Some("2"), Err("InvalidParameterValueException"));
        check(
            &format!("{arn}:live"),
            Some("$LATEST"),
            Err("InvalidParameterValueException"),
        );
        // Malformed qualifiers and references.
        check("f", Some("$PREVIOUS"), Err("ValidationException"));
        check("f", Some("a.b"), Err("ValidationException"));
        check("f", Some(&"x".repeat(129)), Err("ValidationException"));
        check("f:", None, Err("ValidationException"));
        check("f:1:2", None, Err("ValidationException"));
        check("arn:aws:s3:::bucket", None, Err("ValidationException"));
        check("bad name", None, Err("ValidationException"));
    }

    #[test]
    fn version_configuration() {
        let record: FunctionRecord = serde_json::from_value(serde_json::json!({
            "name": "f", "runtime": "python3.12", "handler": "app.handler", "role": "r",
            "description": "", "timeout": 3, "memory_size": 128, "environment": {},
            "code": {"dir": "/x"}, "code_sha256": "s", "code_size": 1, "last_modified": "t",
            "revision_id": "r1", "reserved_concurrency": null, "architectures": ["x86_64"],
        }))
        .unwrap();
        // Records written before versions existed read as `$LATEST`.
        assert_eq!((record.version, record.last_version), (None, 0));
        let c = record.configuration("us-east-1", "000000000000");
        assert_eq!(c["Version"], "$LATEST");
        assert_eq!(
            c["FunctionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        let v = FunctionRecord {
            version: Some(4),
            ..record
        };
        let c = v.configuration("us-east-1", "000000000000");
        assert_eq!(c["Version"], "4");
        assert_eq!(
            c["FunctionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:f:4"
        );
    }
}
