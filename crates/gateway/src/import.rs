//! ImportApi and ReimportApi: an HTTP API from an OpenAPI 3 definition, as API Gateway reads
//! one (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html):
//! routes from `paths`, integrations from `x-amazon-apigateway-integration` (`aws_proxy` with
//! a function ARN or name, `http_proxy` with a URL and `httpMethod`), CORS from
//! `x-amazon-apigateway-cors`, JWT authorizers from `x-amazon-apigateway-authorizer` security
//! schemes, the name and description from `info`.
//!
//! Must not: read YAML (nuvem takes JSON definitions only), or store anything unless the
//! whole definition translated (one registry write per import).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Gateway;
use crate::error::Error;
use crate::manage::new_id;
use crate::model::{Api, Authorizer, Cors, Integration, JwtConfiguration, Route, Stage};
use crate::routes::RouteKey;

/// OpenAPI operation names and the HTTP methods of their route keys.
const METHODS: &[(&str, &str)] = &[
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// What one definition translates to, before it becomes (part of) an API.
struct Imported {
    name: String,
    description: Option<String>,
    cors: Option<Cors>,
    routes: Vec<Route>,
    integrations: Vec<Integration>,
    authorizers: Vec<Authorizer>,
    warnings: Vec<String>,
}

/// The definition an ImportApi/ReimportApi body carries: `{"body": "<OpenAPI JSON text>"}` as
/// the SDKs send it, or the OpenAPI object itself.
fn definition(input: &Value) -> Result<Value, Error> {
    match input.get("body") {
        Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "Invalid OpenAPI input: nuvem imports JSON definitions only ({e})"
            ))
        }),
        Some(doc @ Value::Object(_)) => Ok(doc.clone()),
        Some(_) => Err(bad("Invalid OpenAPI input: body must be a string")),
        None if input.get("openapi").is_some() => Ok(input.clone()),
        None => Err(bad("Body is required")),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `x-amazon-apigateway-integration` of one operation. Identical integrations are shared.
fn integration(x: &Value, integrations: &mut Vec<Integration>) -> Result<String, Error> {
    let kind = str_of(x, "type").unwrap_or("").to_ascii_lowercase();
    let uri = str_of(x, "uri").unwrap_or("").to_string();
    if uri.is_empty() {
        return Err(bad("Invalid OpenAPI input: integration uri is required"));
    }
    let timeout = x
        .get("timeoutInMillis")
        .and_then(Value::as_u64)
        .unwrap_or(30_000);
    if !(50..=30_000).contains(&timeout) {
        return Err(bad("TimeoutInMillis must be between 50 and 30000"));
    }
    let version = str_of(x, "payloadFormatVersion");
    let mut i = match kind.as_str() {
        "aws_proxy" => Integration {
            integration_type: "AWS_PROXY".into(),
            // API Gateway's importer takes 1.0 when the definition names no version.
            payload_format_version: version.unwrap_or("1.0").into(),
            ..Integration::default()
        },
        "http_proxy" => {
            if !uri.starts_with("http://") && !uri.starts_with("https://") {
                return Err(bad("IntegrationUri must be an HTTP URL for HTTP_PROXY"));
            }
            Integration {
                integration_type: "HTTP_PROXY".into(),
                integration_method: Some(str_of(x, "httpMethod").unwrap_or("ANY").to_string()),
                payload_format_version: version.unwrap_or("1.0").into(),
                ..Integration::default()
            }
        }
        other => {
            return Err(bad(format!(
                "Unsupported integration type {other}: nuvem imports aws_proxy and http_proxy"
            )));
        }
    };
    if !matches!(i.payload_format_version.as_str(), "1.0" | "2.0") {
        return Err(bad("PayloadFormatVersion must be 1.0 or 2.0"));
    }
    i.integration_uri = uri;
    i.timeout_in_millis = timeout;
    i.connection_type = "INTERNET".into();
    if let Some(same) = integrations.iter().find(|e| {
        Integration {
            integration_id: String::new(),
            ..(*e).clone()
        } == i
    }) {
        return Ok(same.integration_id.clone());
    }
    i.integration_id = new_id(7);
    let id = i.integration_id.clone();
    integrations.push(i);
    Ok(id)
}

/// JWT authorizers from `components.securitySchemes`, by scheme name.
fn authorizers(doc: &Value, warnings: &mut Vec<String>) -> BTreeMap<String, Authorizer> {
    let mut out = BTreeMap::new();
    let Some(schemes) = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
    else {
        return out;
    };
    for (name, scheme) in schemes {
        let Some(x) = scheme.get("x-amazon-apigateway-authorizer") else {
            warnings.push(format!("Security scheme {name} has no authorizer; ignored"));
            continue;
        };
        if !str_of(x, "type").is_some_and(|t| t.eq_ignore_ascii_case("jwt")) {
            warnings.push(format!(
                "Authorizer {name}: nuvem imports JWT authorizers only; ignored"
            ));
            continue;
        }
        let jwt = x.get("jwtConfiguration").cloned().unwrap_or(json!({}));
        let identity_source = match x.get("identitySource") {
            Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
            _ => vec!["$request.header.Authorization".to_string()],
        };
        out.insert(
            name.clone(),
            Authorizer {
                authorizer_id: new_id(7),
                name: name.clone(),
                authorizer_type: "JWT".into(),
                identity_source,
                jwt_configuration: Some(JwtConfiguration {
                    audience: serde_json::from_value(
                        jwt.get("audience").cloned().unwrap_or(Value::Null),
                    )
                    .unwrap_or_default(),
                    issuer: str_of(&jwt, "issuer").map(String::from),
                    ..JwtConfiguration::default()
                }),
                ..Authorizer::default()
            },
        );
    }
    out
}

fn translate(doc: &Value) -> Result<Imported, Error> {
    let version = str_of(doc, "openapi").unwrap_or("");
    if !version.starts_with("3.") {
        return Err(bad(
            "Invalid OpenAPI input: nuvem imports OpenAPI 3 definitions (\"openapi\": \"3.0.1\")",
        ));
    }
    let info = doc.get("info").cloned().unwrap_or(json!({}));
    let name = str_of(&info, "title")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("Invalid OpenAPI input: info.title is required"))?
        .to_string();
    let mut warnings = Vec::new();
    let auths = authorizers(doc, &mut warnings);
    let mut routes = Vec::new();
    let mut integrations = Vec::new();
    let paths = doc.get("paths").and_then(Value::as_object);
    for (path, item) in paths.into_iter().flatten() {
        for (op_name, method) in METHODS {
            let Some(op) = item.get(*op_name) else {
                continue;
            };
            // `/$default` with any method is the `$default` route.
            let key = if path == "/$default" && *method == "ANY" {
                "$default".to_string()
            } else {
                format!("{method} {path}")
            };
            RouteKey::parse(&key).map_err(|e| bad(format!("Invalid OpenAPI input: {e}")))?;
            if routes.iter().any(|r: &Route| r.route_key == key) {
                return Err(bad(format!("Duplicate route {key}")));
            }
            let target = match op.get("x-amazon-apigateway-integration") {
                Some(x) => Some(format!(
                    "integrations/{}",
                    integration(x, &mut integrations)?
                )),
                None => {
                    warnings.push(format!("Route {key} has no integration"));
                    None
                }
            };
            let mut route = Route {
                route_id: new_id(7),
                route_key: key,
                target,
                authorization_type: "NONE".into(),
                ..Route::default()
            };
            let security = op.get("security").or_else(|| doc.get("security"));
            if let Some(req) = security
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_object)
                && let Some((scheme, scopes)) = req.iter().next()
                && let Some(a) = auths.get(scheme)
            {
                route.authorization_type = "JWT".into();
                route.authorizer_id = Some(a.authorizer_id.clone());
                route.authorization_scopes =
                    serde_json::from_value(scopes.clone()).unwrap_or_default();
            }
            routes.push(route);
        }
    }
    let cors = match doc.get("x-amazon-apigateway-cors") {
        Some(c) => Some(
            serde_json::from_value(c.clone())
                .map_err(|e| bad(format!("Invalid x-amazon-apigateway-cors: {e}")))?,
        ),
        None => None,
    };
    Ok(Imported {
        name,
        description: str_of(&info, "description").map(String::from),
        cors,
        routes,
        integrations,
        authorizers: auths.into_values().collect(),
        warnings,
    })
}

impl Gateway {
    fn import_output(&self, api: &Api, warnings: &[String]) -> Value {
        let mut out = self.api_output(api);
        if !warnings.is_empty()
            && let Some(o) = out.as_object_mut()
        {
            o.insert("warnings".into(), json!(warnings));
        }
        out
    }

    /// ImportApi (`PUT /v2/apis`): a new API from the definition. Like API Gateway, the
    /// import deploys nothing: a stage is created separately (CreateStage).
    pub fn import_api(&self, input: &Value) -> Result<Value, Error> {
        let imported = translate(&definition(input)?)?;
        let fail = input.get("failOnWarnings").and_then(Value::as_bool) == Some(true);
        if fail && let Some(w) = imported.warnings.first() {
            return Err(bad(format!("Warnings found during import: {w}")));
        }
        let api = Api {
            api_id: new_id(10),
            name: imported.name,
            protocol_type: "HTTP".into(),
            description: imported.description,
            created_date: crate::manage::now_iso(),
            cors_configuration: imported.cors,
            route_selection_expression: "${request.method} ${request.path}".into(),
            api_key_selection_expression: "$request.header.x-api-key".into(),
            routes: imported.routes,
            integrations: imported.integrations,
            authorizers: imported.authorizers,
            stages: Vec::<Stage>::new(),
            ..Api::default()
        };
        let out = self.import_output(&api, &imported.warnings);
        self.registry.insert(api)?;
        Ok(out)
    }

    /// ReimportApi (`PUT /v2/apis/{apiId}`): the definition replaces the API's routes,
    /// integrations, authorizers, CORS, name and description; its stages stay.
    pub fn reimport_api(&self, id: &str, input: &Value) -> Result<Value, Error> {
        let imported = translate(&definition(input)?)?;
        let fail = input.get("failOnWarnings").and_then(Value::as_bool) == Some(true);
        if fail && let Some(w) = imported.warnings.first() {
            return Err(bad(format!("Warnings found during import: {w}")));
        }
        let out = self.registry.update(id, |api| {
            api.name = imported.name.clone();
            api.description = imported.description.clone();
            api.cors_configuration = imported.cors.clone();
            api.routes = imported.routes.clone();
            api.integrations = imported.integrations.clone();
            api.authorizers = imported.authorizers.clone();
            Ok(self.import_output(api, &imported.warnings))
        })?;
        self.throttle.reset();
        Ok(out)
    }
}
