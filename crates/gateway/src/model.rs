//! The HTTP API model as API Gateway v2 defines it (Api, Route, Integration, Stage,
//! Authorizer, CORS configuration), in the camelCase shapes of the apigatewayv2 REST API so
//! the management API serializes them directly and the store keeps one JSON document per API.
//! Reference: https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/resources.html
//!
//! Pure data: no I/O, no matching logic (see `routes`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One HTTP API with everything that hangs off it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Api {
    pub api_id: String,
    pub name: String,
    pub protocol_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_configuration: Option<Cors>,
    pub disable_execute_api_endpoint: bool,
    pub route_selection_expression: String,
    pub api_key_selection_expression: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub routes: Vec<Route>,
    pub integrations: Vec<Integration>,
    pub stages: Vec<Stage>,
    pub authorizers: Vec<Authorizer>,
}

/// `corsConfiguration`:
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    pub allow_credentials: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Route {
    pub route_id: String,
    /// `GET /items/{id}`, `ANY /{proxy+}` or `$default`.
    pub route_key: String,
    /// `integrations/<integrationId>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `NONE`, `JWT`, `CUSTOM` (Lambda authorizer) or `AWS_IAM`.
    pub authorization_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_scopes: Vec<String>,
    pub api_key_required: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Integration {
    pub integration_id: String,
    /// `AWS_PROXY` (Lambda) or `HTTP_PROXY`.
    pub integration_type: String,
    /// A Lambda function ARN (or name) or an HTTP URL.
    pub integration_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_method: Option<String>,
    /// `1.0` or `2.0` (Lambda); HTTP integrations use `1.0`.
    pub payload_format_version: String,
    pub timeout_in_millis: u64,
    pub connection_type: String,
    /// A role API Gateway assumes to invoke a Lambda function; without one, the function's
    /// resource-based policy must let `apigateway.amazonaws.com` invoke it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Stage {
    pub stage_name: String,
    pub auto_deploy: bool,
    pub created_date: String,
    pub last_updated_date: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_variables: BTreeMap<String, String>,
    pub default_route_settings: RouteSettings,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub route_settings: BTreeMap<String, RouteSettings>,
}

/// Per-stage and per-route throttling. Both unset means no limit (nuvem has no account
/// quota to fall back on).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttling_burst_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttling_rate_limit: Option<f64>,
    /// nuvem extension: apply the limits per client (source IP) instead of per route.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub throttling_per_client: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Authorizer {
    pub authorizer_id: String,
    pub name: String,
    /// `JWT` or `REQUEST` (Lambda).
    pub authorizer_type: String,
    /// `$request.header.Authorization`, `$request.querystring.token`, ...
    pub identity_source: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_configuration: Option<JwtConfiguration>,
    /// The Lambda authorizer's function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_payload_format_version: Option<String>,
    pub enable_simple_responses: bool,
    pub authorizer_result_ttl_in_seconds: u64,
    /// A role API Gateway assumes to invoke the authorizer function (see
    /// [`Integration::credentials_arn`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_credentials_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtConfiguration {
    pub audience: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// nuvem extension: where the keys are, instead of OIDC discovery under the issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// nuvem extension: the JWKS document itself (the manifest's `jwks_file`, read by the
    /// binary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
}
