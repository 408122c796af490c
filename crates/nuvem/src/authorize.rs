//! Which IAM action and resource a request is, per service, so that the endpoint can decide
//! it with nuvem-iam before the service runs
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html>).
//!
//! The root credentials (the manifest's keys) are never checked. Every other principal (an
//! IAM user's key, an STS session) needs an identity policy that allows each action on its
//! resource, and no explicit deny. A service whose requests this module cannot name is
//! refused to such principals rather than let through: the lists below are the ones nuvem
//! enforces today.

use std::net::SocketAddr;

use http::request::Parts;
use nuvem_iam::Context;
use nuvem_iam::api::Identity;

/// Where the resource-based policy of a resource comes from (a function's, a bucket's): the
/// binary wires the services in.
pub trait ResourcePolicies: Send + Sync {
    /// The policy document governing `resource` (an ARN) of `service`, if there is one.
    fn policy_for(
        &self,
        service: &str,
        resource: &str,
    ) -> nuvem_aws::BoxFuture<'static, Option<String>>;
}

/// Condition keys and their values.
pub type KeyValues = Vec<(String, Vec<String>)>;

/// The service-specific condition keys of one action on one resource
/// (`dynamodb:LeadingKeys`, ...): the services know their requests; the binary wires them in.
pub trait ConditionKeys: Send + Sync {
    /// `None` when they could not be worked out (the store failed): the request is refused
    /// as retryable rather than decided without them.
    fn keys(
        &self,
        service: &str,
        action: &str,
        resource: &str,
        body: &[u8],
    ) -> nuvem_aws::BoxFuture<'static, Option<KeyValues>>;
}

/// One thing a request does: `(action, resource ARN)`.
pub type Act = (String, String);

/// What a request does, or `None` when nuvem does not know how to authorize it.
pub fn acts(
    service: &str,
    parts: &Parts,
    body: Option<&[u8]>,
    region: &str,
    account: &str,
) -> Option<Vec<Act>> {
    match service {
        "dynamodb" => dynamodb(parts, body?, region, account),
        "s3" => s3_acts(parts),
        "lambda" => lambda(parts, body, region, account),
        // A function URL with AuthType AWS_IAM: both actions on the function (the URL's
        // qualifier included), as Lambda requires since October 2025.
        "lambda-url" => {
            let arn = parts
                .extensions
                .get::<crate::function_url::UrlTarget>()?
                .function_arn(region, account);
            Some(vec![
                ("lambda:InvokeFunctionUrl".into(), arn.clone()),
                ("lambda:InvokeFunction".into(), arn),
            ])
        }
        "iam" => Some(vec![iam(body?, account)]),
        "apigateway" => Some(vec![apigateway(parts, region)]),
        "wafv2" => wafv2(parts, body?, region, account),
        "logs" => logs(parts, body?, region, account),
        "application-autoscaling" => application_autoscaling(parts),
        "cloudfront" => cloudfront(parts, account),
        "kms" => kms(parts, body?, region, account),
        // STS decides AssumeRole itself (trust and identity policies); GetCallerIdentity and
        // GetSessionToken need no permission on AWS either.
        "sts" => Some(Vec::new()),
        _ => None,
    }
}

fn dynamodb(parts: &Parts, body: &[u8], region: &str, account: &str) -> Option<Vec<Act>> {
    let target = parts.headers.get("x-amz-target")?.to_str().ok()?;
    if let Some(op) = target.strip_prefix("DynamoDBStreams_20120810.") {
        return dynamodb_streams(op, body);
    }
    let op = target.strip_prefix("DynamoDB_20120810.")?.to_owned();
    let input: serde_json::Value = serde_json::from_slice(body).ok()?;
    let table = |name: &str| format!("arn:aws:dynamodb:{region}:{account}:table/{name}");
    let action = format!("dynamodb:{op}");
    let mut tables: Vec<String> = Vec::new();
    if let Some(t) = input.get("TableName").and_then(|v| v.as_str()) {
        tables.push(t.to_owned());
    }
    if let Some(map) = input.get("RequestItems").and_then(|v| v.as_object()) {
        tables.extend(map.keys().cloned());
    }
    if let Some(items) = input.get("TransactItems").and_then(|v| v.as_array()) {
        for item in items {
            if let Some(inner) = item.as_object().and_then(|o| o.values().next())
                && let Some(t) = inner.get("TableName").and_then(|v| v.as_str())
            {
                tables.push(t.to_owned());
            }
        }
    }
    if let Some(arn) = input.get("ResourceArn").and_then(|v| v.as_str()) {
        return Some(vec![(action, arn.to_owned())]);
    }
    // A Query or Scan of an index acts on the index's ARN (a policy on the table alone does
    // not cover it), as on AWS.
    if matches!(op.as_str(), "Query" | "Scan")
        && let (Some(t), Some(i)) = (
            input.get("TableName").and_then(|v| v.as_str()),
            input.get("IndexName").and_then(|v| v.as_str()),
        )
    {
        return Some(vec![(action, format!("{}/index/{i}", table(t)))]);
    }
    if tables.is_empty() {
        // ListTables, DescribeLimits, DescribeEndpoints: no resource.
        return Some(vec![(action, "*".into())]);
    }
    tables.sort();
    tables.dedup();
    Some(tables.iter().map(|t| (action.clone(), table(t))).collect())
}

/// DynamoDB Streams: `dynamodb:<Op>` on the stream's ARN
/// (`arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>`), which GetRecords
/// carries inside its shard iterator; ListStreams has no resource. The service answers only
/// for the exact ARN of a stream in its own region and account.
fn dynamodb_streams(op: &str, body: &[u8]) -> Option<Vec<Act>> {
    let input: serde_json::Value = serde_json::from_slice(body).ok()?;
    let action = format!("dynamodb:{op}");
    let resource = match op {
        "ListStreams" => "*".to_owned(),
        "DescribeStream" | "GetShardIterator" => input.get("StreamArn")?.as_str()?.to_owned(),
        "GetRecords" => {
            nuvem_dynamo::ops::streams::iterator_stream_arn(input.get("ShardIterator")?.as_str()?)?
        }
        _ => return None,
    };
    Some(vec![(action, resource)])
}

/// The S3 service's base domain (`<bucket>.s3.localhost` is virtual-hosted style).
const S3_BASE_DOMAIN: &str = "s3.localhost";

/// An S3 request's acts: its action, and the ones S3 also requires when a write sets an ACL
/// (`s3:PutObjectAcl` for an object, `s3:PutBucketAcl` for CreateBucket) or CreateBucket sets
/// object ownership (`s3:PutBucketOwnershipControls`)
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html,
/// https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html), and
/// `s3:BypassGovernanceRetention` on the object when it asks to bypass GOVERNANCE retention
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-bypass).
///
/// `None` (refused) when the query names more than one of the sub-resources that choose the
/// operation (`?tagging&acl`): s3s picks one in its own order, and IAM must not judge another.
fn s3_acts(parts: &Parts) -> Option<Vec<Act>> {
    let names = query_names(parts);
    if ROUTE_KEYS
        .iter()
        .filter(|k| names.iter().any(|n| n == *k))
        .count()
        > 1
    {
        return None;
    }
    let main = s3(parts);
    let sets_acl = parts
        .headers
        .keys()
        .any(|k| k == "x-amz-acl" || k.as_str().starts_with("x-amz-grant-"));
    let mut acts = vec![main.clone()];
    match main.0.as_str() {
        "s3:PutObject" if sets_acl => acts.push(("s3:PutObjectAcl".into(), main.1.clone())),
        "s3:CreateBucket" => {
            if sets_acl {
                acts.push(("s3:PutBucketAcl".into(), main.1.clone()));
            }
            if parts.headers.contains_key("x-amz-object-ownership") {
                acts.push(("s3:PutBucketOwnershipControls".into(), main.1.clone()));
            }
        }
        _ => {}
    }
    // A copy reads its source: `s3:GetObject` on it (`s3:GetObjectVersion` for a version),
    // as S3 requires (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).
    if main.0 == "s3:PutObject"
        && let Some((bucket, key, version)) = nuvem_s3::service::copy_source(parts)
    {
        let action = if version.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        };
        acts.push((action.into(), format!("arn:aws:s3:::{bucket}/{key}")));
    }
    let bypass = parts
        .headers
        .get("x-amz-bypass-governance-retention")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if bypass {
        // DeleteObjects names its keys in the body: the bucket's objects stand for them.
        let resource = if main.1.contains('/') {
            main.1.clone()
        } else {
            format!("{}/*", main.1)
        };
        acts.push(("s3:BypassGovernanceRetention".into(), resource));
    }
    Some(acts)
}

/// The query parameters s3s reads to choose an S3 operation (its router's `qs.has(…)`), but
/// `id` (with `analytics`, `inventory`, `metrics`) and `partNumber` (with `uploadId`), which
/// only come with another.
const ROUTE_KEYS: [&str; 34] = [
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "delete",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "session",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versioning",
    "versions",
    "website",
];

/// The names of a request's query parameters, percent-decoded as s3s reads them.
fn query_names(parts: &Parts) -> Vec<String> {
    parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .map(|kv| kv.split('=').next().unwrap_or_default())
        .map(|k| {
            percent_encoding::percent_decode_str(&k.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

fn s3(parts: &Parts) -> Act {
    // The bucket and key s3s will serve, whatever the addressing (a `Host` with a port that
    // is not a number, HTTP/2's `:authority`): judged any other way, a request allowed on
    // one bucket could act on another.
    let (bucket, key) = nuvem_s3::service::addressed(S3_BASE_DOMAIN, parts);
    let (bucket, key) = (bucket.unwrap_or_default(), key.unwrap_or_default());
    let query = query_names(parts);
    let has = |q: &str| query.iter().any(|n| n == q);
    // A request for one version of an object is an action of its own: reading, deleting
    // (for good), tagging a version (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html).
    let version = if has("versionId") { "Version" } else { "" };
    let m = &parts.method;
    let get = m == http::Method::GET || m == http::Method::HEAD;
    let put = m == http::Method::PUT;
    let post = m == http::Method::POST;
    let delete = m == http::Method::DELETE;
    if bucket.is_empty() {
        return ("s3:ListAllMyBuckets".into(), "*".into());
    }
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let object_arn = format!("arn:aws:s3:::{bucket}/{key}");
    let action = if key.is_empty() {
        let sub = [
            ("policy", "BucketPolicy"),
            ("cors", "BucketCORS"),
            ("tagging", "BucketTagging"),
            ("versioning", "BucketVersioning"),
            ("acl", "BucketAcl"),
            ("website", "BucketWebsite"),
            ("lifecycle", "LifecycleConfiguration"),
            ("encryption", "EncryptionConfiguration"),
            ("notification", "BucketNotification"),
            ("ownershipControls", "BucketOwnershipControls"),
            ("publicAccessBlock", "BucketPublicAccessBlock"),
            ("policyStatus", "BucketPolicyStatus"),
            ("object-lock", "BucketObjectLockConfiguration"),
        ]
        .into_iter()
        .find(|(q, _)| has(q));
        match sub {
            Some((_, what)) if get => format!("s3:Get{what}"),
            Some((_, what)) if put => format!("s3:Put{what}"),
            // S3 authorizes DeleteBucketPolicy with its own action; the other deletes are
            // the Put action (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketCors.html).
            Some(("policy", _)) if delete => "s3:DeleteBucketPolicy".into(),
            Some((_, what)) if delete => format!("s3:Put{what}"),
            _ if has("location") => "s3:GetBucketLocation".into(),
            _ if has("uploads") => "s3:ListBucketMultipartUploads".into(),
            _ if has("versions") && get => "s3:ListBucketVersions".into(),
            _ if has("delete") && post => "s3:DeleteObject".into(),
            _ if get => "s3:ListBucket".into(),
            _ if put => "s3:CreateBucket".into(),
            _ if delete => "s3:DeleteBucket".into(),
            _ => "s3:PutObject".into(),
        }
    } else if has("tagging") {
        match () {
            _ if get => format!("s3:GetObject{version}Tagging"),
            _ if delete => format!("s3:DeleteObject{version}Tagging"),
            _ => format!("s3:PutObject{version}Tagging"),
        }
    } else if has("acl") {
        if get {
            format!("s3:GetObject{version}Acl")
        } else {
            format!("s3:PutObject{version}Acl")
        }
    } else if has("retention") {
        if get {
            "s3:GetObjectRetention"
        } else {
            "s3:PutObjectRetention"
        }
        .into()
    } else if has("legal-hold") {
        if get {
            "s3:GetObjectLegalHold"
        } else {
            "s3:PutObjectLegalHold"
        }
        .into()
    } else if has("attributes") {
        "s3:GetObjectAttributes".into()
    } else if has("uploadId") {
        match () {
            _ if get => "s3:ListMultipartUploadParts".into(),
            _ if delete => "s3:AbortMultipartUpload".into(),
            _ => "s3:PutObject".into(),
        }
    } else if get {
        format!("s3:GetObject{version}")
    } else if delete {
        format!("s3:DeleteObject{version}")
    } else {
        // PUT, POST (uploads, restore, select): writing the object.
        "s3:PutObject".into()
    };
    let resource = if key.is_empty() {
        bucket_arn
    } else {
        object_arn
    };
    (action, resource)
}

fn lambda(parts: &Parts, body: Option<&[u8]>, region: &str, account: &str) -> Option<Vec<Act>> {
    let path = parts.uri.path();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = parts.method.as_str();
    let function = |name: &str| {
        let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
        // A function named by ARN or partial ARN: the ARN's name part.
        let name = name
            .strip_prefix("arn:aws:lambda:")
            .and_then(|r| r.split(':').nth(3))
            .map(str::to_owned)
            .unwrap_or_else(|| name.into_owned());
        format!("arn:aws:lambda:{region}:{account}:function:{name}")
    };
    let layer = |name: &str| {
        let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
        // A layer named by ARN: its name part.
        let name = name
            .strip_prefix("arn:aws:lambda:")
            .and_then(|r| r.split(':').nth(3))
            .map(str::to_owned)
            .unwrap_or_else(|| name.into_owned());
        format!("arn:aws:lambda:{region}:{account}:layer:{name}")
    };
    let query = |key: &str| {
        parts.uri.query().and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == key).then(|| {
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned()
                })
            })
        })
    };
    let op = match (m, segs.as_slice()) {
        ("GET", [_, "functions"]) => ("ListFunctions", "*".into()),
        ("POST", [_, "functions"]) => ("CreateFunction", "*".into()),
        ("GET", [_, "functions", f]) => ("GetFunction", function(f)),
        ("DELETE", [_, "functions", f]) => ("DeleteFunction", function(f)),
        ("POST", [_, "functions", f, "invocations"]) => ("InvokeFunction", function(f)),
        ("POST", [_, "functions", f, "invoke-async"]) => ("InvokeFunction", function(f)),
        ("GET", [_, "functions", f, "configuration"]) => ("GetFunctionConfiguration", function(f)),
        ("PUT", [_, "functions", f, "configuration"]) => {
            ("UpdateFunctionConfiguration", function(f))
        }
        ("PUT", [_, "functions", f, "code"]) => ("UpdateFunctionCode", function(f)),
        ("PUT", [_, "functions", f, "concurrency"]) => ("PutFunctionConcurrency", function(f)),
        ("GET", [_, "functions", f, "concurrency"]) => ("GetFunctionConcurrency", function(f)),
        ("DELETE", [_, "functions", f, "concurrency"]) => {
            ("DeleteFunctionConcurrency", function(f))
        }
        ("POST", [_, "functions", f, "versions"]) => ("PublishVersion", function(f)),
        ("GET", [_, "functions", f, "versions"]) => ("ListVersionsByFunction", function(f)),
        ("GET", [_, "functions", f, "policy"]) => ("GetPolicy", function(f)),
        ("POST", [_, "functions", f, "policy"]) => ("AddPermission", function(f)),
        ("DELETE", [_, "functions", f, "policy", _]) => ("RemovePermission", function(f)),
        ("GET", [_, "account-settings"]) => ("GetAccountSettings", "*".into()),
        ("POST", [_, "functions", f, "aliases"]) => ("CreateAlias", function(f)),
        ("GET", [_, "functions", f, "aliases"]) => ("ListAliases", function(f)),
        ("GET" | "PUT" | "DELETE", [_, "functions", f, "aliases", _]) => (
            match m {
                "GET" => "GetAlias",
                "PUT" => "UpdateAlias",
                _ => "DeleteAlias",
            },
            function(f),
        ),
        ("GET" | "PUT" | "DELETE", [_, "functions", f, "provisioned-concurrency"]) => (
            match m {
                "PUT" => "PutProvisionedConcurrencyConfig",
                "DELETE" => "DeleteProvisionedConcurrencyConfig",
                _ if parts
                    .uri
                    .query()
                    .is_some_and(|q| q.split('&').any(|p| p.starts_with("List="))) =>
                {
                    "ListProvisionedConcurrencyConfigs"
                }
                _ => "GetProvisionedConcurrencyConfig",
            },
            function(f),
        ),
        (_, [_, "functions", f, "event-invoke-config"]) => (
            match m {
                "PUT" => "PutFunctionEventInvokeConfig",
                "POST" => "UpdateFunctionEventInvokeConfig",
                "DELETE" => "DeleteFunctionEventInvokeConfig",
                _ => "GetFunctionEventInvokeConfig",
            },
            function(f),
        ),
        ("GET", [_, "functions", f, "event-invoke-config", "list"]) => {
            ("ListFunctionEventInvokeConfigs", function(f))
        }
        // Event source mappings: Create and List have no resource; the others name the
        // mapping (`arn:aws:lambda:<region>:<account>:event-source-mapping:<UUID>`).
        ("POST", [_, "event-source-mappings"]) => ("CreateEventSourceMapping", "*".into()),
        ("GET", [_, "event-source-mappings"]) => ("ListEventSourceMappings", "*".into()),
        ("GET" | "PUT" | "DELETE", [_, "event-source-mappings", id]) => (
            match m {
                "GET" => "GetEventSourceMapping",
                "PUT" => "UpdateEventSourceMapping",
                _ => "DeleteEventSourceMapping",
            },
            format!("arn:aws:lambda:{region}:{account}:event-source-mapping:{id}"),
        ),
        // Layers: a version is `…:layer:<name>:<version>`; publishing names the layer.
        ("POST", [_, "layers", l, "versions"]) => ("PublishLayerVersion", layer(l)),
        ("GET", [_, "layers", _, "versions"]) => ("ListLayerVersions", "*".into()),
        ("GET", [_, "layers"]) => match query("Arn") {
            Some(arn) if query("find").as_deref() == Some("LayerVersion") => {
                ("GetLayerVersion", arn)
            }
            _ => ("ListLayers", "*".into()),
        },
        ("GET", [_, "layers", l, "versions", v]) => {
            ("GetLayerVersion", format!("{}:{v}", layer(l)))
        }
        ("DELETE", [_, "layers", l, "versions", v]) => {
            ("DeleteLayerVersion", format!("{}:{v}", layer(l)))
        }
        ("POST", [_, "layers", l, "versions", v, "policy"]) => {
            ("AddLayerVersionPermission", format!("{}:{v}", layer(l)))
        }
        ("GET", [_, "layers", l, "versions", v, "policy"]) => {
            ("GetLayerVersionPolicy", format!("{}:{v}", layer(l)))
        }
        ("DELETE", [_, "layers", l, "versions", v, "policy", _]) => {
            ("RemoveLayerVersionPermission", format!("{}:{v}", layer(l)))
        }
        // Function URL configurations.
        (_, [_, "functions", f, "url"]) => (
            match m {
                "POST" => "CreateFunctionUrlConfig",
                "PUT" => "UpdateFunctionUrlConfig",
                "DELETE" => "DeleteFunctionUrlConfig",
                _ => "GetFunctionUrlConfig",
            },
            function(f),
        ),
        ("GET", [_, "functions", f, "urls"]) => ("ListFunctionUrlConfigs", function(f)),
        ("GET", [_, "tags", arn]) => ("ListTags", function(arn)),
        ("POST", [_, "tags", arn]) => ("TagResource", function(arn)),
        ("DELETE", [_, "tags", arn]) => ("UntagResource", function(arn)),
        _ => return None,
    };
    let mut acts = vec![(format!("lambda:{}", op.0), op.1)];
    // Handing a function a role is passing it (iam:PassRole on the role), as on AWS.
    if matches!(op.0, "CreateFunction" | "UpdateFunctionConfiguration")
        && let Some(role) = passed_role(body)
    {
        acts.push(("iam:PassRole".into(), role));
    }
    // Using a layer is reading it (lambda:GetLayerVersion on each version), as on AWS.
    if matches!(op.0, "CreateFunction" | "UpdateFunctionConfiguration") {
        for arn in named_layers(body) {
            acts.push(("lambda:GetLayerVersion".into(), arn));
        }
    }
    Some(acts)
}

/// The layer version ARNs a CreateFunction/UpdateFunctionConfiguration body names.
fn named_layers(body: Option<&[u8]>) -> Vec<String> {
    body.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("Layers").and_then(|l| l.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

/// The execution role a CreateFunction/UpdateFunctionConfiguration body names.
pub fn passed_role(body: Option<&[u8]>) -> Option<String> {
    let input: serde_json::Value = serde_json::from_slice(body?).ok()?;
    input.get("Role")?.as_str().map(str::to_owned)
}

/// API Gateway's management actions are the HTTP method on the resource path
/// (`apigateway:GET` on `arn:aws:apigateway:<region>::/apis/<id>/routes`), as on AWS.
fn apigateway(parts: &Parts, region: &str) -> Act {
    let path = percent_encoding::percent_decode_str(parts.uri.path()).decode_utf8_lossy();
    let path = path.strip_prefix("/v2").unwrap_or(&path);
    (
        format!("apigateway:{}", parts.method.as_str()),
        format!("arn:aws:apigateway:{region}::{path}"),
    )
}

/// WAFv2 (`X-Amz-Target: AWSWAF_20190729.<Op>`): the operation on the web ACL, IP set or
/// regex pattern set it names by scope, name and id (a create: any id of that name; a list:
/// every resource of the scope's kind), or on the `ResourceArn` it names.
fn wafv2(parts: &Parts, body: &[u8], region: &str, account: &str) -> Option<Vec<Act>> {
    let op = parts
        .headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix("AWSWAF_20190729.")?
        .to_owned();
    let input: serde_json::Value = serde_json::from_slice(body).ok()?;
    let action = format!("wafv2:{op}");
    let text = |k: &str| input.get(k).and_then(|v| v.as_str());
    if let Some(arn) = text("ResourceArn")
        .or(text("WebACLArn"))
        .or(text("WebAclArn"))
    {
        return Some(vec![(action, arn.to_owned())]);
    }
    let kind = ["WebACL", "IPSet", "RegexPatternSet", "RuleGroup"]
        .into_iter()
        .find(|k| op.ends_with(k) || op.ends_with(&format!("{k}s")))
        .map(|k| match k {
            "WebACL" => "webacl",
            "IPSet" => "ipset",
            "RegexPatternSet" => "regexpatternset",
            _ => "rulegroup",
        });
    let (scope, region) = match text("Scope") {
        Some("CLOUDFRONT") => ("global", "us-east-1"),
        _ => ("regional", region),
    };
    let resource = match (kind, text("Name"), text("Id")) {
        (Some(kind), Some(name), id) => format!(
            "arn:aws:wafv2:{region}:{account}:{scope}/{kind}/{name}/{}",
            id.unwrap_or("*")
        ),
        (Some(kind), None, _) => format!("arn:aws:wafv2:{region}:{account}:{scope}/{kind}/*"),
        (None, ..) => "*".into(),
    };
    Some(vec![(action, resource)])
}

/// CloudWatch Logs (`X-Amz-Target: Logs_20140328.<Op>`): `logs:<Op>` on the log stream
/// (`arn:aws:logs:<region>:<account>:log-group:<group>:log-stream:<stream>`) for the operations
/// on one stream, on the group's `:*` ARN (what IAM policies name, and what a
/// `log-group:<group>:*` resource covers with its streams) for the others, on the `resourceArn`
/// for tag operations, and on `log-group:*` for DescribeLogGroups
/// (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html>).
fn logs(parts: &Parts, body: &[u8], region: &str, account: &str) -> Option<Vec<Act>> {
    let op = parts
        .headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix("Logs_20140328.")?
        .to_owned();
    let input: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |k: &str| input.get(k).and_then(|v| v.as_str());
    let base = format!("arn:aws:logs:{region}:{account}:log-group:");
    let group = text("logGroupName").map(str::to_owned).or_else(|| {
        text("logGroupIdentifier").map(|id| {
            id.strip_prefix(&base)
                .map(|n| n.strip_suffix(":*").unwrap_or(n))
                .unwrap_or(id)
                .to_owned()
        })
    });
    let action = format!("logs:{op}");
    if let Some(arn) = text("resourceArn") {
        return Some(vec![(action, arn.to_owned())]);
    }
    let resource = match (op.as_str(), group, text("logStreamName")) {
        ("DescribeLogGroups", ..) => format!("{base}*"),
        (
            "CreateLogStream" | "DeleteLogStream" | "PutLogEvents" | "GetLogEvents",
            Some(g),
            Some(s),
        ) => format!("{base}{g}:log-stream:{s}"),
        (_, Some(g), _) => format!("{base}{g}:*"),
        (_, None, _) => "*".to_owned(),
    };
    Some(vec![(action, resource)])
}

/// Application Auto Scaling (`AnyScaleFrontendService.<Op>`): the operation on `*`, as AWS
/// authorizes it (its actions take no resource-level permissions besides tagging).
fn application_autoscaling(parts: &Parts) -> Option<Vec<Act>> {
    let op = parts
        .headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix("AnyScaleFrontendService.")?;
    Some(vec![(format!("application-autoscaling:{op}"), "*".into())])
}

/// CloudFront's API (`/2020-05-31/distribution[/<id>[/config|/invalidation[/<id>]]]`):
/// the operation on the distribution's ARN.
fn cloudfront(parts: &Parts, account: &str) -> Option<Vec<Act>> {
    let rest = parts.uri.path().strip_prefix("/2020-05-31/distribution")?;
    let segs: Vec<&str> = rest
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let dist = |id: &str| format!("arn:aws:cloudfront::{account}:distribution/{id}");
    let (op, resource) = match (parts.method.as_str(), segs.as_slice()) {
        ("GET", []) => ("ListDistributions", "*".to_owned()),
        ("POST", []) => ("CreateDistribution", "*".to_owned()),
        ("GET", [id]) => ("GetDistribution", dist(id)),
        ("DELETE", [id]) => ("DeleteDistribution", dist(id)),
        ("GET", [id, "config"]) => ("GetDistributionConfig", dist(id)),
        ("PUT", [id, "config"]) => ("UpdateDistribution", dist(id)),
        ("POST", [id, "invalidation"]) => ("CreateInvalidation", dist(id)),
        ("GET", [id, "invalidation"]) => ("ListInvalidations", dist(id)),
        ("GET", [id, "invalidation", _]) => ("GetInvalidation", dist(id)),
        _ => return None,
    };
    Some(vec![(format!("cloudfront:{op}"), resource)])
}

/// KMS (`X-Amz-Target: TrentService.<Op>`): `kms:<Op>` on the key the request names (`KeyId`
/// as key id, key ARN, alias name or alias ARN; the endpoint turns an alias into its key's
/// ARN; Decrypt's key is the one its ciphertext blob names), CreateKey and the List
/// operations on `*` (ListAliases with a `KeyId` on that key), and the alias operations on
/// the alias and, for CreateAlias/UpdateAlias, also on the target key
/// (https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html).
fn kms(parts: &Parts, body: &[u8], region: &str, account: &str) -> Option<Vec<Act>> {
    use base64::Engine as _;
    let op = parts
        .headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix(nuvem_kms::TARGET_PREFIX)?
        .to_owned();
    let input: serde_json::Value = serde_json::from_slice(body).ok()?;
    let action = format!("kms:{op}");
    let text = |k: &str| input.get(k).and_then(|v| v.as_str());
    let key = |id: &str| {
        if id.starts_with("arn:") {
            id.to_owned()
        } else if id.starts_with("alias/") {
            format!("arn:aws:kms:{region}:{account}:{id}")
        } else {
            format!("arn:aws:kms:{region}:{account}:key/{id}")
        }
    };
    let acts = match op.as_str() {
        "CreateKey" | "ListKeys" => vec![(action, "*".to_owned())],
        "ListAliases" => vec![(action, text("KeyId").map(key).unwrap_or_else(|| "*".into()))],
        "CreateAlias" | "UpdateAlias" => {
            let alias = key(text("AliasName")?);
            let target = key(text("TargetKeyId")?);
            vec![(action.clone(), alias), (action, target)]
        }
        "DeleteAlias" => vec![(action, key(text("AliasName")?))],
        "Decrypt" => {
            let named = text("CiphertextBlob")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| nuvem_kms::keyring::blob_key_id(&b).map(key));
            vec![(
                action,
                named
                    .or(text("KeyId").map(key))
                    .unwrap_or_else(|| "*".into()),
            )]
        }
        _ => vec![(action, text("KeyId").map(key).unwrap_or_else(|| "*".into()))],
    };
    Some(acts)
}

fn iam(body: &[u8], account: &str) -> Act {
    let params = nuvem_iam::api::query::Params::parse(&String::from_utf8_lossy(body));
    let action = params.get("Action").unwrap_or_default().to_owned();
    let resource = if let Some(u) = params.get("UserName") {
        format!("arn:aws:iam::{account}:user/{u}")
    } else if let Some(r) = params.get("RoleName") {
        format!("arn:aws:iam::{account}:role/{r}")
    } else if let Some(p) = params.get("PolicyArn") {
        p.to_owned()
    } else if let Some(p) = params.get("PolicyName") {
        format!("arn:aws:iam::{account}:policy/{p}")
    } else {
        "*".into()
    };
    (format!("iam:{action}"), resource)
}

/// The request's global condition keys
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>).
pub fn context(parts: &Parts, identity: &Identity, account: &str) -> Context {
    let mut ctx = Context::new();
    if let Some(peer) = parts.extensions.get::<SocketAddr>() {
        ctx.set("aws:SourceIp", peer.ip().to_string());
    }
    if let Some(t) = parts.extensions.get::<crate::listen::Transport>() {
        ctx.set("aws:SecureTransport", t.secure.to_string());
    }
    // Lambda's keys for calls through a function URL.
    if let Some(url) = parts.extensions.get::<crate::function_url::UrlTarget>() {
        ctx.set("lambda:FunctionUrlAuthType", url.0.auth_type.clone());
        ctx.set("lambda:InvokedViaFunctionUrl", "true".to_string());
    }
    // S3's request keys (https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html).
    for (k, v) in parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
    {
        let name = match k {
            "prefix" => "s3:prefix",
            "delimiter" => "s3:delimiter",
            "max-keys" => "s3:max-keys",
            _ => continue,
        };
        ctx.set(
            name,
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned(),
        );
    }
    for (header, key) in [
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        (
            "x-amz-server-side-encryption",
            "s3:x-amz-server-side-encryption",
        ),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
    ] {
        if let Some(v) = parts.headers.get(header).and_then(|v| v.to_str().ok()) {
            ctx.set(key, v);
        }
    }
    let now = std::time::SystemTime::now();
    ctx.set(
        "aws:CurrentTime",
        nuvem_aws::time::AmzDate::from_system_time(now).to_iso8601(),
    );
    if let Ok(d) = now.duration_since(std::time::UNIX_EPOCH) {
        ctx.set("aws:EpochTime", d.as_secs().to_string());
    }
    ctx.set("aws:PrincipalAccount", account);
    if let Some(arn) = identity.principal.arn() {
        ctx.set("aws:PrincipalArn", arn);
    }
    let kind = match &identity.principal {
        nuvem_iam::Principal::Root { .. } => "Account",
        nuvem_iam::Principal::User { .. } => "User",
        nuvem_iam::Principal::AssumedRole { .. } => "AssumedRole",
        _ => "Anonymous",
    };
    ctx.set("aws:PrincipalType", kind);
    ctx.set("aws:userid", identity.userid.clone());
    if let Some(u) = &identity.username {
        ctx.set("aws:username", u.clone());
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_s3(method: &str, uri: &str, host: &str, action: &str, resource: &str) {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", host)
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        assert_eq!(
            s3(&parts),
            (action.to_owned(), resource.to_owned()),
            "{method} {uri}"
        );
    }

    /// What `acts` names for a request of `service`: `(method, uri, x-amz-target, body)`.
    #[track_caller]
    fn check_acts(service: &str, req: (&str, &str, &str, &str), want: &[(&str, &str)]) {
        let (method, uri, target, body) = req;
        let mut b = http::Request::builder().method(method).uri(uri);
        if !target.is_empty() {
            b = b.header("x-amz-target", target);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        let got = acts(
            service,
            &parts,
            Some(body.as_bytes()),
            "eu-west-1",
            "000000000000",
        );
        let want: Vec<Act> = want
            .iter()
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .collect();
        assert_eq!(got, Some(want), "{service} {method} {uri} {target}");
    }

    #[test]
    fn logs_actions() {
        let t = |op: &str| format!("Logs_20140328.{op}");
        let arn = "arn:aws:logs:eu-west-1:000000000000:log-group:";
        check_acts(
            "logs",
            (
                "POST",
                "/",
                &t("PutLogEvents"),
                r#"{"logGroupName":"/aws/lambda/f","logStreamName":"2026/01/01/[$LATEST]ab","logEvents":[]}"#,
            ),
            &[(
                "logs:PutLogEvents",
                &format!("{arn}/aws/lambda/f:log-stream:2026/01/01/[$LATEST]ab"),
            )],
        );
        check_acts(
            "logs",
            (
                "POST",
                "/",
                &t("FilterLogEvents"),
                r#"{"logGroupName":"/aws/lambda/f"}"#,
            ),
            &[("logs:FilterLogEvents", &format!("{arn}/aws/lambda/f:*"))],
        );
        check_acts(
            "logs",
            (
                "POST",
                "/",
                &t("GetLogEvents"),
                &format!(r#"{{"logGroupIdentifier":"{arn}g","logStreamName":"s"}}"#),
            ),
            &[("logs:GetLogEvents", &format!("{arn}g:log-stream:s"))],
        );
        check_acts(
            "logs",
            ("POST", "/", &t("DescribeLogGroups"), "{}"),
            &[("logs:DescribeLogGroups", &format!("{arn}*"))],
        );
        check_acts(
            "logs",
            (
                "POST",
                "/",
                &t("TagResource"),
                &format!(r#"{{"resourceArn":"{arn}g","tags":{{}}}}"#),
            ),
            &[("logs:TagResource", &format!("{arn}g"))],
        );
    }

    #[test]
    fn other_services_actions() {
        check_acts(
            "apigateway",
            ("POST", "/v2/apis/abc/routes", "", "{}"),
            &[(
                "apigateway:POST",
                "arn:aws:apigateway:eu-west-1::/apis/abc/routes",
            )],
        );
        check_acts(
            "apigateway",
            ("GET", "/v2/apis", "", ""),
            &[("apigateway:GET", "arn:aws:apigateway:eu-west-1::/apis")],
        );
        let waf = "AWSWAF_20190729.";
        check_acts(
            "wafv2",
            (
                "POST",
                "/",
                &format!("{waf}GetWebACL"),
                r#"{"Name":"site","Id":"1234","Scope":"CLOUDFRONT"}"#,
            ),
            &[(
                "wafv2:GetWebACL",
                "arn:aws:wafv2:us-east-1:000000000000:global/webacl/site/1234",
            )],
        );
        check_acts(
            "wafv2",
            (
                "POST",
                "/",
                &format!("{waf}CreateIPSet"),
                r#"{"Name":"bad","Scope":"REGIONAL"}"#,
            ),
            &[(
                "wafv2:CreateIPSet",
                "arn:aws:wafv2:eu-west-1:000000000000:regional/ipset/bad/*",
            )],
        );
        check_acts(
            "wafv2",
            (
                "POST",
                "/",
                &format!("{waf}ListRegexPatternSets"),
                r#"{"Scope":"REGIONAL"}"#,
            ),
            &[(
                "wafv2:ListRegexPatternSets",
                "arn:aws:wafv2:eu-west-1:000000000000:regional/regexpatternset/*",
            )],
        );
        let acl = "arn:aws:wafv2:us-east-1:000000000000:global/webacl/site/1234";
        check_acts(
            "wafv2",
            (
                "POST",
                "/",
                &format!("{waf}GetSampledRequests"),
                &format!(r#"{{"WebAclArn":"{acl}"}}"#),
            ),
            &[("wafv2:GetSampledRequests", acl)],
        );
        let kms = "TrentService.";
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let key = format!("arn:aws:kms:eu-west-1:000000000000:key/{id}");
        let alias = "arn:aws:kms:eu-west-1:000000000000:alias/app";
        for (op, body, want) in [
            ("CreateKey", "{}".to_owned(), vec![("kms:CreateKey", "*")]),
            ("ListKeys", "{}".to_owned(), vec![("kms:ListKeys", "*")]),
            (
                "ListAliases",
                "{}".to_owned(),
                vec![("kms:ListAliases", "*")],
            ),
            (
                "DescribeKey",
                format!(r#"{{"KeyId":"{id}"}}"#),
                vec![("kms:DescribeKey", key.as_str())],
            ),
            (
                "Encrypt",
                format!(r#"{{"KeyId":"{key}"}}"#),
                vec![("kms:Encrypt", key.as_str())],
            ),
            // An alias here; the endpoint turns it into the key's ARN.
            (
                "GenerateDataKey",
                r#"{"KeyId":"alias/app"}"#.to_owned(),
                vec![("kms:GenerateDataKey", alias)],
            ),
            (
                "CreateAlias",
                format!(r#"{{"AliasName":"alias/app","TargetKeyId":"{id}"}}"#),
                vec![
                    ("kms:CreateAlias", alias),
                    ("kms:CreateAlias", key.as_str()),
                ],
            ),
            (
                "DeleteAlias",
                r#"{"AliasName":"alias/app"}"#.to_owned(),
                vec![("kms:DeleteAlias", alias)],
            ),
            // Decrypt acts on the key its ciphertext blob names.
            (
                "Decrypt",
                {
                    use base64::Engine as _;
                    let mut blob = b"NVK1".to_vec();
                    blob.extend_from_slice(id.as_bytes());
                    blob.extend_from_slice(&[0u8; 40]);
                    let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
                    format!(r#"{{"CiphertextBlob":"{b64}"}}"#)
                },
                vec![("kms:Decrypt", key.as_str())],
            ),
        ] {
            check_acts("kms", ("POST", "/", &format!("{kms}{op}"), &body), &want);
        }
        check_acts(
            "application-autoscaling",
            (
                "POST",
                "/",
                "AnyScaleFrontendService.RegisterScalableTarget",
                r#"{"ServiceNamespace":"dynamodb","ResourceId":"table/t"}"#,
            ),
            &[("application-autoscaling:RegisterScalableTarget", "*")],
        );
        let dist = "arn:aws:cloudfront::000000000000:distribution/E1";
        check_acts(
            "cloudfront",
            ("POST", "/2020-05-31/distribution/E1/invalidation", "", ""),
            &[("cloudfront:CreateInvalidation", dist)],
        );
        check_acts(
            "cloudfront",
            ("GET", "/2020-05-31/distribution", "", ""),
            &[("cloudfront:ListDistributions", "*")],
        );
        check_acts(
            "cloudfront",
            ("GET", "/2020-05-31/distribution/E1/config", "", ""),
            &[("cloudfront:GetDistributionConfig", dist)],
        );
        check_acts(
            "cloudfront",
            ("PUT", "/2020-05-31/distribution/E1/config", "", ""),
            &[("cloudfront:UpdateDistribution", dist)],
        );
        check_acts(
            "dynamodb",
            (
                "POST",
                "/",
                "DynamoDB_20120810.Query",
                r#"{"TableName":"t","IndexName":"by-x"}"#,
            ),
            &[(
                "dynamodb:Query",
                "arn:aws:dynamodb:eu-west-1:000000000000:table/t/index/by-x",
            )],
        );
        check_acts(
            "lambda",
            (
                "POST",
                "/2015-03-31/functions",
                "",
                r#"{"FunctionName":"f","Role":"arn:aws:iam::000000000000:role/r"}"#,
            ),
            &[
                ("lambda:CreateFunction", "*"),
                ("iam:PassRole", "arn:aws:iam::000000000000:role/r"),
            ],
        );
        let f = "arn:aws:lambda:eu-west-1:000000000000:function:f";
        for (method, uri, action) in [
            (
                "PUT",
                "/2019-09-25/functions/f/event-invoke-config",
                "PutFunctionEventInvokeConfig",
            ),
            (
                "POST",
                "/2019-09-25/functions/f/event-invoke-config",
                "UpdateFunctionEventInvokeConfig",
            ),
            (
                "GET",
                "/2019-09-25/functions/f/event-invoke-config",
                "GetFunctionEventInvokeConfig",
            ),
            (
                "DELETE",
                "/2019-09-25/functions/f/event-invoke-config",
                "DeleteFunctionEventInvokeConfig",
            ),
            (
                "GET",
                "/2019-09-25/functions/f/event-invoke-config/list",
                "ListFunctionEventInvokeConfigs",
            ),
            ("POST", "/2015-03-31/functions/f/versions", "PublishVersion"),
            (
                "GET",
                "/2015-03-31/functions/f/versions",
                "ListVersionsByFunction",
            ),
            ("POST", "/2015-03-31/functions/f/aliases", "CreateAlias"),
            ("GET", "/2015-03-31/functions/f/aliases", "ListAliases"),
            ("GET", "/2015-03-31/functions/f/aliases/live", "GetAlias"),
            ("PUT", "/2015-03-31/functions/f/aliases/live", "UpdateAlias"),
            (
                "DELETE",
                "/2015-03-31/functions/f/aliases/live",
                "DeleteAlias",
            ),
            (
                "PUT",
                "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=live",
                "PutProvisionedConcurrencyConfig",
            ),
            (
                "GET",
                "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=live",
                "GetProvisionedConcurrencyConfig",
            ),
            (
                "DELETE",
                "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=live",
                "DeleteProvisionedConcurrencyConfig",
            ),
            (
                "GET",
                "/2019-09-30/functions/f/provisioned-concurrency?List=ALL",
                "ListProvisionedConcurrencyConfigs",
            ),
        ] {
            check_acts(
                "lambda",
                (method, uri, "", ""),
                &[(&format!("lambda:{action}"), f)],
            );
        }
    }

    #[track_caller]
    fn check_dynamodb(target: &str, body: serde_json::Value, expected: Option<Vec<(&str, &str)>>) {
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("x-amz-target", target)
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let got = dynamodb(
            &parts,
            body.to_string().as_bytes(),
            "us-east-1",
            "000000000000",
        );
        let expected = expected.map(|acts| {
            acts.into_iter()
                .map(|(a, r)| (a.to_owned(), r.to_owned()))
                .collect::<Vec<_>>()
        });
        assert_eq!(got, expected, "{target} {body}");
    }

    #[test]
    fn dynamodb_streams_actions() {
        let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000";
        check_dynamodb(
            "DynamoDBStreams_20120810.ListStreams",
            serde_json::json!({"TableName": "t"}),
            Some(vec![("dynamodb:ListStreams", "*")]),
        );
        check_dynamodb(
            "DynamoDBStreams_20120810.DescribeStream",
            serde_json::json!({"StreamArn": arn}),
            Some(vec![("dynamodb:DescribeStream", arn)]),
        );
        check_dynamodb(
            "DynamoDBStreams_20120810.GetShardIterator",
            serde_json::json!({"StreamArn": arn, "ShardId": "s", "ShardIteratorType": "LATEST"}),
            Some(vec![("dynamodb:GetShardIterator", arn)]),
        );
        // GetRecords: the stream ARN inside the iterator the service handed out.
        check_dynamodb(
            "DynamoDBStreams_20120810.GetRecords",
            serde_json::json!({"ShardIterator": "not an iterator"}),
            None,
        );
        check_dynamodb(
            "DynamoDB_20120810.GetItem",
            serde_json::json!({"TableName": "t", "Key": {}}),
            Some(vec![(
                "dynamodb:GetItem",
                "arn:aws:dynamodb:us-east-1:000000000000:table/t",
            )]),
        );
    }

    #[test]
    fn s3_writes_that_set_acls_need_the_acl_action_too() {
        let acts = |method: &str, uri: &str, header: Option<(&str, &str)>| {
            let mut b = http::Request::builder()
                .method(method)
                .uri(uri)
                .header("host", "127.0.0.1:4566");
            if let Some((k, v)) = header {
                b = b.header(k, v);
            }
            let (parts, ()) = b.body(()).unwrap().into_parts();
            s3_acts(&parts)
                .unwrap()
                .into_iter()
                .map(|(a, _)| a)
                .collect::<Vec<_>>()
        };
        assert_eq!(acts("PUT", "/b/k", None), ["s3:PutObject"]);
        assert_eq!(
            acts("PUT", "/b/k", Some(("x-amz-acl", "public-read"))),
            ["s3:PutObject", "s3:PutObjectAcl"]
        );
        assert_eq!(
            acts(
                "POST",
                "/b/k?uploads",
                Some(("x-amz-grant-read", "uri=\"x\""))
            ),
            ["s3:PutObject", "s3:PutObjectAcl"]
        );
        assert_eq!(
            acts("PUT", "/b", Some(("x-amz-acl", "private"))),
            ["s3:CreateBucket", "s3:PutBucketAcl"]
        );
        assert_eq!(
            acts(
                "PUT",
                "/b",
                Some(("x-amz-object-ownership", "ObjectWriter"))
            ),
            ["s3:CreateBucket", "s3:PutBucketOwnershipControls"]
        );
    }

    #[test]
    fn s3_actions() {
        let h = "127.0.0.1:4566";
        check_s3("GET", "/", h, "s3:ListAllMyBuckets", "*");
        check_s3("PUT", "/media", h, "s3:CreateBucket", "arn:aws:s3:::media");
        check_s3(
            "GET",
            "/media?list-type=2&prefix=a",
            h,
            "s3:ListBucket",
            "arn:aws:s3:::media",
        );
        check_s3(
            "GET",
            "/media/a/b.jpg",
            h,
            "s3:GetObject",
            "arn:aws:s3:::media/a/b.jpg",
        );
        check_s3(
            "HEAD",
            "/media/a%20b",
            h,
            "s3:GetObject",
            "arn:aws:s3:::media/a b",
        );
        check_s3("PUT", "/media/k", h, "s3:PutObject", "arn:aws:s3:::media/k");
        check_s3(
            "PUT",
            "/media/k?retention",
            h,
            "s3:PutObjectRetention",
            "arn:aws:s3:::media/k",
        );
        check_s3(
            "GET",
            "/media/k?legal-hold",
            h,
            "s3:GetObjectLegalHold",
            "arn:aws:s3:::media/k",
        );
        check_s3(
            "PUT",
            "/media?object-lock",
            h,
            "s3:PutBucketObjectLockConfiguration",
            "arn:aws:s3:::media",
        );
        check_s3(
            "GET",
            "/media/k?attributes",
            h,
            "s3:GetObjectAttributes",
            "arn:aws:s3:::media/k",
        );
        // Bypassing GOVERNANCE retention is a permission of its own.
        let (parts, ()) = http::Request::builder()
            .method("DELETE")
            .uri("/media/k?versionId=v")
            .header("host", h)
            .header("x-amz-bypass-governance-retention", "true")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            s3_acts(&parts).unwrap(),
            [
                (
                    "s3:DeleteObjectVersion".to_string(),
                    "arn:aws:s3:::media/k".to_string()
                ),
                (
                    "s3:BypassGovernanceRetention".to_string(),
                    "arn:aws:s3:::media/k".to_string()
                ),
            ]
        );
        check_s3(
            "DELETE",
            "/media/k",
            h,
            "s3:DeleteObject",
            "arn:aws:s3:::media/k",
        );
        check_s3(
            "PUT",
            "/media?policy",
            h,
            "s3:PutBucketPolicy",
            "arn:aws:s3:::media",
        );
        check_s3(
            "GET",
            "/media?policyStatus",
            h,
            "s3:GetBucketPolicyStatus",
            "arn:aws:s3:::media",
        );
        check_s3(
            "DELETE",
            "/media?ownershipControls",
            h,
            "s3:PutBucketOwnershipControls",
            "arn:aws:s3:::media",
        );
        check_s3(
            "GET",
            "/media?publicAccessBlock",
            h,
            "s3:GetBucketPublicAccessBlock",
            "arn:aws:s3:::media",
        );
        check_s3(
            "DELETE",
            "/media?policy",
            h,
            "s3:DeleteBucketPolicy",
            "arn:aws:s3:::media",
        );
        check_s3(
            "DELETE",
            "/media?cors",
            h,
            "s3:PutBucketCORS",
            "arn:aws:s3:::media",
        );
        check_s3(
            "POST",
            "/media?delete",
            h,
            "s3:DeleteObject",
            "arn:aws:s3:::media",
        );
        check_s3(
            "GET",
            "/media/k?tagging",
            h,
            "s3:GetObjectTagging",
            "arn:aws:s3:::media/k",
        );
        check_s3(
            "POST",
            "/media/k?uploads",
            h,
            "s3:PutObject",
            "arn:aws:s3:::media/k",
        );
        check_s3(
            "DELETE",
            "/media/k?uploadId=1",
            h,
            "s3:AbortMultipartUpload",
            "arn:aws:s3:::media/k",
        );
        check_s3(
            "GET",
            "/k",
            "media.s3.localhost:4566",
            "s3:GetObject",
            "arn:aws:s3:::media/k",
        );
        check_s3(
            "DELETE",
            "/media",
            h,
            "s3:DeleteBucket",
            "arn:aws:s3:::media",
        );
    }
}
