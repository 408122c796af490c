//! The management operations of API Gateway v2 for HTTP APIs: CreateApi (including quick
//! create with `target`), GetApi(s), DeleteApi, and Create/Get/Delete of routes,
//! integrations, stages and authorizers
//! (https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis.html). Inputs and
//! outputs are the REST API's camelCase JSON. The manifest is applied through these same
//! operations. Every stage behaves as auto-deployed: changes are live at once.

use serde_json::{Value, json};

use crate::Gateway;
use crate::error::Error;
use crate::model::{Api, Authorizer, Integration, Route, Stage};
use crate::routes::RouteKey;

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

fn parse<T: serde::de::DeserializeOwned>(input: &Value) -> Result<T, Error> {
    serde_json::from_value(input.clone()).map_err(|e| bad(format!("Invalid request body: {e}")))
}

pub(crate) fn now_iso() -> String {
    nuvem_aws::time::AmzDate::from_system_time(std::time::SystemTime::now())
        .to_iso8601()
        .replace(".000Z", "Z")
}

/// A short random id like API Gateway's (10 lower-case alphanumerics for APIs, 7 for parts).
pub fn new_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes().iter())
        .take(len)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// The API a CreateApi input stands for (with quick create's parts).
fn new_api(input: &Value) -> Result<Api, Error> {
    let name = input
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("Name is required"))?;
    match input.get("protocolType").and_then(Value::as_str) {
        Some("HTTP") => {}
        Some(other) => {
            return Err(bad(format!(
                "Unsupported protocol type {other}: nuvem serves HTTP APIs"
            )));
        }
        None => return Err(bad("ProtocolType is required")),
    }
    // nuvem extension: the manifest asks for stable ids so URLs survive restarts.
    let api_id = match input.get("apiId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            id.to_ascii_lowercase()
        }
        Some(_) => return Err(bad("Invalid apiId")),
        None => new_id(10),
    };
    let created = now_iso();
    let mut api = Api {
        api_id,
        name: name.to_string(),
        protocol_type: "HTTP".into(),
        description: input
            .get("description")
            .and_then(Value::as_str)
            .map(String::from),
        created_date: created.clone(),
        cors_configuration: match input.get("corsConfiguration") {
            Some(c) => Some(parse(c)?),
            None => None,
        },
        disable_execute_api_endpoint: input
            .get("disableExecuteApiEndpoint")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        route_selection_expression: "${request.method} ${request.path}".into(),
        api_key_selection_expression: "$request.header.x-api-key".into(),
        tags: match input.get("tags") {
            Some(t) => parse(t)?,
            None => Default::default(),
        },
        ..Api::default()
    };
    // Quick create: one integration, one route, the `$default` stage.
    if let Some(target) = input.get("target").and_then(Value::as_str) {
        let route_key = input
            .get("routeKey")
            .and_then(Value::as_str)
            .unwrap_or("$default");
        RouteKey::parse(route_key).map_err(bad)?;
        let lambda = is_lambda_uri(target);
        let integration = Integration {
            integration_id: new_id(7),
            integration_type: if lambda { "AWS_PROXY" } else { "HTTP_PROXY" }.into(),
            integration_uri: target.to_string(),
            integration_method: (!lambda).then(|| "ANY".to_string()),
            payload_format_version: if lambda { "2.0" } else { "1.0" }.into(),
            timeout_in_millis: 30_000,
            connection_type: "INTERNET".into(),
            credentials_arn: input
                .get("credentialsArn")
                .and_then(Value::as_str)
                .map(String::from),
        };
        api.routes.push(Route {
            route_id: new_id(7),
            route_key: route_key.to_string(),
            target: Some(format!("integrations/{}", integration.integration_id)),
            authorization_type: "NONE".into(),
            ..Route::default()
        });
        api.integrations.push(integration);
        api.stages.push(Stage {
            stage_name: "$default".into(),
            auto_deploy: true,
            created_date: created.clone(),
            last_updated_date: created,
            ..Stage::default()
        });
    }
    Ok(api)
}

/// The integration a CreateIntegration input stands for, checked.
fn new_integration(input: &Value) -> Result<Integration, Error> {
    let mut i: Integration = parse(input)?;
    match i.integration_type.as_str() {
        "AWS_PROXY" => {
            if i.payload_format_version.is_empty() {
                return Err(bad(
                    "PayloadFormatVersion is required for AWS_PROXY integrations",
                ));
            }
        }
        "HTTP_PROXY" => {
            if i.payload_format_version.is_empty() {
                i.payload_format_version = "1.0".into();
            }
            if !i.integration_uri.starts_with("http://")
                && !i.integration_uri.starts_with("https://")
            {
                return Err(bad("IntegrationUri must be an HTTP URL for HTTP_PROXY"));
            }
        }
        "" => return Err(bad("IntegrationType is required")),
        other => return Err(bad(format!("Unsupported integration type {other}"))),
    }
    if !matches!(i.payload_format_version.as_str(), "1.0" | "2.0") {
        return Err(bad("PayloadFormatVersion must be 1.0 or 2.0"));
    }
    if i.integration_uri.is_empty() {
        return Err(bad("IntegrationUri is required"));
    }
    if i.timeout_in_millis == 0 {
        i.timeout_in_millis = 30_000;
    }
    if !(50..=30_000).contains(&i.timeout_in_millis) {
        return Err(bad("TimeoutInMillis must be between 50 and 30000"));
    }
    i.integration_id = new_id(7);
    i.connection_type = "INTERNET".into();
    Ok(i)
}

/// The route a CreateRoute input stands for, checked on its own.
fn new_route(input: &Value) -> Result<Route, Error> {
    let mut r: Route = parse(input)?;
    RouteKey::parse(&r.route_key).map_err(bad)?;
    if r.authorization_type.is_empty() {
        r.authorization_type = "NONE".into();
    }
    if !matches!(
        r.authorization_type.as_str(),
        "NONE" | "JWT" | "CUSTOM" | "AWS_IAM"
    ) {
        return Err(bad(format!(
            "Invalid authorization type {}",
            r.authorization_type
        )));
    }
    r.route_id = new_id(7);
    Ok(r)
}

/// Adds a route to an API, checked against it (key unique, target and authorizer exist).
fn add_route(api: &mut Api, r: Route) -> Result<(), Error> {
    if api.routes.iter().any(|x| x.route_key == r.route_key) {
        return Err(Error::Conflict(format!(
            "Route with key {} already exists for this API",
            r.route_key
        )));
    }
    if let Some(t) = &r.target {
        let id = t.strip_prefix("integrations/").unwrap_or(t);
        if !api.integrations.iter().any(|i| i.integration_id == id) {
            return Err(bad(format!("Invalid target {t}: no such integration")));
        }
    }
    if r.authorization_type == "JWT" || r.authorization_type == "CUSTOM" {
        let id = r.authorizer_id.as_deref().unwrap_or("");
        if !api.authorizers.iter().any(|a| a.authorizer_id == id) {
            return Err(bad(format!("Invalid authorizer id {id}")));
        }
    }
    api.routes.push(r);
    Ok(())
}

/// The stage a CreateStage input stands for, checked on its own.
fn new_stage(input: &Value) -> Result<Stage, Error> {
    let mut s: Stage = parse(input)?;
    if s.stage_name.is_empty() {
        return Err(bad("StageName is required"));
    }
    let valid = s.stage_name == "$default"
        || s.stage_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid || s.stage_name.len() > 128 {
        return Err(bad(format!("Invalid stage name {}", s.stage_name)));
    }
    s.created_date = now_iso();
    s.last_updated_date = s.created_date.clone();
    Ok(s)
}

/// Adds a stage to an API (names unique).
fn add_stage(api: &mut Api, s: Stage) -> Result<(), Error> {
    if api.stages.iter().any(|x| x.stage_name == s.stage_name) {
        return Err(Error::Conflict(format!(
            "Stage already exists: {}",
            s.stage_name
        )));
    }
    api.stages.push(s);
    Ok(())
}

/// A whole API as the manifest declares it, for [`Gateway::put_api`]: CreateApi's input
/// (with `apiId`), CreateIntegration inputs each with the CreateRoute input that targets it,
/// and CreateStage inputs.
#[derive(Debug, Clone, Default)]
pub struct ApiDefinition {
    pub api: Value,
    pub routes: Vec<(Value, Value)>,
    pub stages: Vec<Value>,
}

pub(crate) fn is_lambda_uri(uri: &str) -> bool {
    !(uri.starts_with("http://") || uri.starts_with("https://"))
}

impl Gateway {
    /// The API as GetApi returns it.
    pub fn api_output(&self, api: &Api) -> Value {
        let mut v = serde_json::to_value(api).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            for k in ["routes", "integrations", "stages", "authorizers"] {
                o.remove(k);
            }
            o.insert("apiEndpoint".into(), json!(self.api_endpoint(&api.api_id)));
        }
        v
    }

    pub fn create_api(&self, input: &Value) -> Result<Value, Error> {
        let api = new_api(input)?;
        let out = self.api_output(&api);
        self.registry.insert(api)?;
        Ok(out)
    }

    /// Stores a whole API in one transaction, replacing the one with its id if any (the
    /// manifest's APIs: nodes applying one manifest at once each store the same definition,
    /// and whoever serves the API sees the old one or the new one, never none). The parts go
    /// through the same checks as CreateApi, CreateIntegration, CreateRoute and CreateStage.
    /// Returns whether the API existed.
    pub fn put_api(&self, def: &ApiDefinition) -> Result<bool, Error> {
        let mut api = new_api(&def.api)?;
        for (integration, route) in &def.routes {
            let i = new_integration(integration)?;
            let mut route = route.clone();
            route["target"] = json!(format!("integrations/{}", i.integration_id));
            api.integrations.push(i);
            add_route(&mut api, new_route(&route)?)?;
        }
        for stage in &def.stages {
            add_stage(&mut api, new_stage(stage)?)?;
        }
        let existed = self.registry.put(api)?;
        self.throttle.reset();
        Ok(existed)
    }

    pub fn get_api(&self, id: &str) -> Result<Value, Error> {
        let c = self
            .registry
            .get_by_id(id)
            .ok_or_else(|| crate::registry::not_found(id))?;
        Ok(self.api_output(&c.api))
    }

    pub fn get_apis(&self) -> Value {
        let items: Vec<Value> = self
            .registry
            .list()
            .iter()
            .map(|c| self.api_output(&c.api))
            .collect();
        json!({ "items": items })
    }

    pub fn delete_api(&self, id: &str) -> Result<(), Error> {
        self.registry.delete(id)?;
        self.throttle.reset();
        Ok(())
    }

    /// Updates the API-level settings UpdateApi may change (name, description, CORS).
    pub fn update_api(&self, id: &str, input: &Value) -> Result<Value, Error> {
        let cors = match input.get("corsConfiguration") {
            Some(c) => Some(parse(c)?),
            None => None,
        };
        self.registry.update(id, |api| {
            if let Some(n) = input.get("name").and_then(Value::as_str) {
                api.name = n.to_string();
            }
            if let Some(d) = input.get("description").and_then(Value::as_str) {
                api.description = Some(d.to_string());
            }
            if cors.is_some() {
                api.cors_configuration = cors.clone();
            }
            Ok(self.api_output(api))
        })
    }

    pub fn create_integration(&self, api_id: &str, input: &Value) -> Result<Value, Error> {
        let i = new_integration(input)?;
        let out = serde_json::to_value(&i).unwrap_or_default();
        self.registry.update(api_id, |api| {
            api.integrations.push(i.clone());
            Ok(())
        })?;
        Ok(out)
    }

    pub fn create_route(&self, api_id: &str, input: &Value) -> Result<Value, Error> {
        let r = new_route(input)?;
        let out = serde_json::to_value(&r).unwrap_or_default();
        self.registry
            .update(api_id, |api| add_route(api, r.clone()))?;
        Ok(out)
    }

    pub fn create_stage(&self, api_id: &str, input: &Value) -> Result<Value, Error> {
        let s = new_stage(input)?;
        let out = serde_json::to_value(&s).unwrap_or_default();
        self.registry
            .update(api_id, |api| add_stage(api, s.clone()))?;
        self.throttle.reset();
        Ok(out)
    }

    pub fn create_authorizer(&self, api_id: &str, input: &Value) -> Result<Value, Error> {
        let mut a: Authorizer = parse(input)?;
        if a.name.is_empty() {
            return Err(bad("Name is required"));
        }
        match a.authorizer_type.as_str() {
            "JWT" => {
                let jwt = a
                    .jwt_configuration
                    .as_ref()
                    .ok_or_else(|| bad("JwtConfiguration is required for JWT authorizers"))?;
                if jwt.issuer.is_none() && jwt.jwks_uri.is_none() && jwt.jwks.is_none() {
                    return Err(bad("JwtConfiguration.Issuer is required"));
                }
                if a.identity_source.is_empty() {
                    a.identity_source = vec!["$request.header.Authorization".into()];
                }
            }
            "REQUEST" => {
                if a.authorizer_uri.as_deref().unwrap_or("").is_empty() {
                    return Err(bad("AuthorizerUri is required for REQUEST authorizers"));
                }
                if a.authorizer_payload_format_version.is_none() {
                    a.authorizer_payload_format_version = Some("2.0".into());
                }
            }
            other => return Err(bad(format!("Invalid authorizer type {other}"))),
        }
        if a.authorizer_result_ttl_in_seconds > 3600 {
            return Err(bad("AuthorizerResultTtlInSeconds must be at most 3600"));
        }
        a.authorizer_id = new_id(7);
        let out = serde_json::to_value(&a).unwrap_or_default();
        self.registry.update(api_id, |api| {
            api.authorizers.push(a.clone());
            Ok(())
        })?;
        Ok(out)
    }

    /// GetRoutes / GetIntegrations / GetStages / GetAuthorizers.
    pub fn list_parts(&self, api_id: &str, kind: &str) -> Result<Value, Error> {
        let c = self
            .registry
            .get_by_id(api_id)
            .ok_or_else(|| crate::registry::not_found(api_id))?;
        let full = serde_json::to_value(&c.api).unwrap_or_default();
        Ok(json!({ "items": full.get(kind).cloned().unwrap_or_else(|| json!([])) }))
    }

    /// GetRoute / GetIntegration / GetStage / GetAuthorizer and their Delete twins.
    pub fn part(&self, api_id: &str, kind: &str, id: &str, delete: bool) -> Result<Value, Error> {
        let id_field = match kind {
            "routes" => "routeId",
            "integrations" => "integrationId",
            "stages" => "stageName",
            _ => "authorizerId",
        };
        let missing = || {
            Error::NotFound(format!(
                "Invalid {} identifier specified {id}",
                kind.trim_end_matches('s')
            ))
        };
        if !delete {
            let list = self.list_parts(api_id, kind)?;
            return list["items"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x[id_field] == id))
                .cloned()
                .ok_or_else(missing);
        }
        self.registry.update(api_id, |api| {
            let before = (
                api.routes.len(),
                api.integrations.len(),
                api.stages.len(),
                api.authorizers.len(),
            );
            match kind {
                "routes" => api.routes.retain(|r| r.route_id != id),
                "integrations" => api.integrations.retain(|r| r.integration_id != id),
                "stages" => api.stages.retain(|r| r.stage_name != id),
                _ => api.authorizers.retain(|r| r.authorizer_id != id),
            }
            let after = (
                api.routes.len(),
                api.integrations.len(),
                api.stages.len(),
                api.authorizers.len(),
            );
            if before == after {
                return Err(missing());
            }
            Ok(Value::Null)
        })
    }
}
