//! Function URLs: Create/Get/Update/Delete/ListFunctionUrlConfigs
//! (https://docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html) and the lookup the
//! binary's HTTP front uses to serve `http://<url-id>.lambda-url.<region>.localhost.localstack.cloud:<port>/`
//! (LocalStack's host name for what AWS serves at `<url-id>.lambda-url.<region>.on.aws`).
//!
//! At rest: `lambda/url/id/<url-id>` → JSON [`UrlConfig`] and `lambda/url/fn/<function>/<qualifier
//! or "$LATEST">` → the url id, written together. Who may call a URL (AuthType, the function's
//! resource-based policy) is decided by the binary, which has the policy engine. Must not:
//! run functions or speak HTTP.

use nuvem_store::{Direction, KeyRange, Read, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::service::Inner;

const BY_ID: &[u8] = b"lambda/url/id/";
const BY_FUNCTION: &[u8] = b"lambda/url/fn/";

/// The host name suffix of function URLs on the AWS endpoint.
pub const HOST_INFIX: &str = ".lambda-url.";

/// A function URL as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlConfig {
    pub url_id: String,
    pub function: String,
    /// An alias name, or `None` for the unqualified function (`$LATEST`).
    pub qualifier: Option<String>,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    pub cors: Option<Cors>,
    pub invoke_mode: String,
    pub created: String,
    pub last_modified: String,
}

/// A function URL's CORS settings, as the API takes and returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

fn id_key(id: &str) -> Vec<u8> {
    [BY_ID, id.as_bytes()].concat()
}

fn function_prefix(function: &str) -> Vec<u8> {
    [BY_FUNCTION, function.as_bytes(), b"/"].concat()
}

fn function_key(function: &str, qualifier: Option<&str>) -> Vec<u8> {
    [
        &function_prefix(function)[..],
        qualifier.unwrap_or("$LATEST").as_bytes(),
    ]
    .concat()
}

fn now() -> String {
    nuvem_aws::time::AmzDate::from_system_time(std::time::SystemTime::now())
        .to_iso8601()
        .replace('Z', ".000Z")
}

fn validation(member: &str, value: &str, rule: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

/// A URL's `Qualifier`: an alias name (`$LATEST` is the unqualified function); version
/// numbers are refused, as on AWS.
fn qualifier(q: Option<&str>) -> Result<Option<String>> {
    match q {
        None | Some("$LATEST") => Ok(None),
        Some(q) => {
            let alias = !q.is_empty()
                && q.len() <= 128
                && !q.bytes().all(|b| b.is_ascii_digit())
                && q.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if alias {
                Ok(Some(q.to_string()))
            } else {
                Err(validation(
                    "qualifier",
                    q,
                    "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)",
                ))
            }
        }
    }
}

fn check_cors(cors: &Cors) -> Result<()> {
    let list = |member: &str, values: &Option<Vec<String>>, max: usize, each: usize| {
        let Some(values) = values else {
            return Ok(());
        };
        if values.len() > max {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value at 'cors.{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
            )));
        }
        for v in values {
            if v.is_empty() || v.len() > each {
                return Err(validation(
                    &format!("cors.{member}"),
                    v,
                    &format!("Member must have length between 1 and {each}"),
                ));
            }
        }
        Ok(())
    };
    list("allowHeaders", &cors.allow_headers, 100, 1024)?;
    list("allowMethods", &cors.allow_methods, 6, 6)?;
    list("allowOrigins", &cors.allow_origins, 100, 253)?;
    list("exposeHeaders", &cors.expose_headers, 100, 1024)?;
    if let Some(methods) = &cors.allow_methods {
        for m in methods {
            let known = [
                "*", "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS",
            ];
            if !known.contains(&m.to_ascii_uppercase().as_str()) {
                return Err(validation(
                    "cors.allowMethods",
                    m,
                    "Member must satisfy regular expression pattern: .*",
                ));
            }
        }
    }
    if let Some(age) = cors.max_age
        && !(0..=86400).contains(&age)
    {
        return Err(validation(
            "cors.maxAge",
            &age.to_string(),
            "Member must have value between 0 and 86400",
        ));
    }
    Ok(())
}

fn auth_type(value: Option<&Value>, required: bool) -> Result<Option<String>> {
    match value.and_then(Value::as_str) {
        None if required => Err(Error::Validation(
            "1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null".into(),
        )),
        None => Ok(None),
        Some(a @ ("NONE" | "AWS_IAM")) => Ok(Some(a.to_string())),
        Some(a) => Err(validation(
            "authType",
            a,
            "Member must satisfy enum value set: [NONE, AWS_IAM]",
        )),
    }
}

fn invoke_mode(value: Option<&Value>) -> Result<Option<String>> {
    match value.and_then(Value::as_str) {
        None => Ok(None),
        Some("BUFFERED") => Ok(Some("BUFFERED".into())),
        Some("RESPONSE_STREAM") => Err(Error::InvalidParameter(
            "nuvem serves function URLs in BUFFERED mode only; InvokeMode RESPONSE_STREAM is not supported".into(),
        )),
        Some(m) => Err(validation(
            "invokeMode",
            m,
            "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]",
        )),
    }
}

fn cors_input(value: Option<&Value>) -> Result<Option<Cors>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let cors: Cors = serde_json::from_value(v.clone())
                .map_err(|e| Error::InvalidRequestContent(format!("Cors: {e}")))?;
            check_cors(&cors)?;
            Ok(Some(cors))
        }
    }
}

/// `http://<id>.lambda-url.<region>.localhost.localstack.cloud:<port>/`, with the scheme and
/// port of the AWS endpoint.
fn url(inner: &Inner, id: &str) -> String {
    let endpoint = inner
        .endpoint_url()
        .unwrap_or_else(|| "http://127.0.0.1:4566".into());
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("http", &endpoint));
    let port = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!(
        "{scheme}://{id}{HOST_INFIX}{}.localhost.localstack.cloud{port}/",
        inner.config.region
    )
}

impl UrlConfig {
    fn function_arn(&self, inner: &Inner) -> String {
        let base = crate::model::function_arn(
            &inner.config.region,
            &inner.config.account_id,
            &self.function,
        );
        match &self.qualifier {
            Some(q) => format!("{base}:{q}"),
            None => base,
        }
    }

    fn shape(&self, inner: &Inner) -> Value {
        let mut v = json!({
            "FunctionUrl": url(inner, &self.url_id),
            "FunctionArn": self.function_arn(inner),
            "AuthType": self.auth_type,
            "CreationTime": self.created,
            "LastModifiedTime": self.last_modified,
            "InvokeMode": self.invoke_mode,
        });
        if let Some(c) = &self.cors {
            v["Cors"] = serde_json::to_value(c).unwrap_or_default();
        }
        v
    }
}

fn read(tx: &dyn Read, function: &str, q: Option<&str>) -> Result<Option<UrlConfig>> {
    let Some(id) = tx.get(&function_key(function, q))? else {
        return Ok(None);
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    match tx.get(&id_key(&id))? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("function url {id}: {e}"))),
    }
}

fn write(tx: &mut dyn Tx, c: &UrlConfig) -> Result<()> {
    let bytes = serde_json::to_vec(c).map_err(|e| Error::Corrupt(e.to_string()))?;
    tx.put(&id_key(&c.url_id), &bytes);
    tx.put(
        &function_key(&c.function, c.qualifier.as_deref()),
        c.url_id.as_bytes(),
    );
    Ok(())
}

fn not_found(inner: &Inner, function: &str, q: Option<&str>) -> Error {
    let arn = crate::model::function_arn(&inner.config.region, &inner.config.account_id, function);
    Error::NotFound(format!(
        "The resource you requested does not exist. (function URL of {arn}{})",
        q.map(|q| format!(":{q}")).unwrap_or_default()
    ))
}

/// The function (and alias) a URL is for must exist.
fn check_target(inner: &Inner, function: &str, q: Option<&str>) -> Result<String> {
    let f = crate::model::FunctionRef::parse(function)?;
    crate::control::lookup(inner, &f.name, q)?;
    Ok(f.name)
}

/// CreateFunctionUrlConfig.
pub fn create(
    inner: &Inner,
    function: &str,
    q: Option<&str>,
    input: &Value,
) -> Result<(u16, Value)> {
    let q = qualifier(q)?;
    let name = check_target(inner, function, q.as_deref())?;
    let auth = auth_type(input.get("AuthType"), true)?.unwrap_or_default();
    let cors = cors_input(input.get("Cors"))?;
    let mode = invoke_mode(input.get("InvokeMode"))?.unwrap_or_else(|| "BUFFERED".into());
    let created = now();
    let config = UrlConfig {
        url_id: uuid::Uuid::new_v4().simple().to_string(),
        function: name.clone(),
        qualifier: q.clone(),
        auth_type: auth,
        cors,
        invoke_mode: mode,
        created: created.clone(),
        last_modified: created,
    };
    inner.store.transact(|tx: &mut dyn Tx| {
        if read(&*tx, &name, q.as_deref())?.is_some() {
            let arn = config.function_arn(inner);
            return Err(Error::Conflict(format!(
                "Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists for this Lambda function"
            )));
        }
        write(tx, &config)
    })?;
    let mut out = config.shape(inner);
    if let Some(o) = out.as_object_mut() {
        o.remove("LastModifiedTime");
    }
    Ok((201, out))
}

/// GetFunctionUrlConfig.
pub fn get(inner: &Inner, function: &str, q: Option<&str>) -> Result<(u16, Value)> {
    let q = qualifier(q)?;
    let name = crate::model::FunctionRef::parse(function)?.name;
    let config = read(&*inner.store.snapshot(), &name, q.as_deref())?
        .ok_or_else(|| not_found(inner, &name, q.as_deref()))?;
    Ok((200, config.shape(inner)))
}

/// UpdateFunctionUrlConfig: the members given replace the stored ones.
pub fn update(
    inner: &Inner,
    function: &str,
    q: Option<&str>,
    input: &Value,
) -> Result<(u16, Value)> {
    let q = qualifier(q)?;
    let name = crate::model::FunctionRef::parse(function)?.name;
    let auth = auth_type(input.get("AuthType"), false)?;
    let cors = match input.get("Cors") {
        None => None,
        some => Some(cors_input(some)?),
    };
    let mode = invoke_mode(input.get("InvokeMode"))?;
    let config = inner.store.transact(|tx: &mut dyn Tx| {
        let mut c = read(&*tx, &name, q.as_deref())?
            .ok_or_else(|| not_found(inner, &name, q.as_deref()))?;
        if let Some(a) = &auth {
            c.auth_type = a.clone();
        }
        if let Some(cors) = &cors {
            c.cors = cors.clone();
        }
        if let Some(m) = &mode {
            c.invoke_mode = m.clone();
        }
        c.last_modified = now();
        write(tx, &c)?;
        Ok::<_, Error>(c)
    })?;
    Ok((200, config.shape(inner)))
}

/// DeleteFunctionUrlConfig.
pub fn delete(inner: &Inner, function: &str, q: Option<&str>) -> Result<(u16, Value)> {
    let q = qualifier(q)?;
    let name = crate::model::FunctionRef::parse(function)?.name;
    inner.store.transact(|tx: &mut dyn Tx| {
        let c = read(&*tx, &name, q.as_deref())?
            .ok_or_else(|| not_found(inner, &name, q.as_deref()))?;
        tx.delete(&id_key(&c.url_id));
        tx.delete(&function_key(&name, q.as_deref()));
        Ok::<_, Error>(())
    })?;
    Ok((204, Value::Null))
}

fn all_of(tx: &dyn Read, function: &str) -> Result<Vec<UrlConfig>> {
    let mut out = Vec::new();
    for entry in tx.scan(
        KeyRange::prefix(&function_prefix(function)),
        Direction::Forward,
    ) {
        let (_, id) = entry?;
        if let Some(b) = tx.get(&id_key(&String::from_utf8_lossy(&id)))? {
            out.push(
                serde_json::from_slice(&b)
                    .map_err(|e| Error::Corrupt(format!("function url: {e}")))?,
            );
        }
    }
    Ok(out)
}

/// ListFunctionUrlConfigs.
pub fn list(
    inner: &Inner,
    function: &str,
    marker: Option<&str>,
    max: Option<&str>,
) -> Result<(u16, Value)> {
    let name = crate::model::FunctionRef::parse(function)?.name;
    crate::control::lookup(inner, &name, None)?;
    let max = match max {
        None => 50,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| validation("maxItems", s, "Member must have value between 1 and 50"))?,
    };
    let all: Vec<UrlConfig> = all_of(&*inner.store.snapshot(), &name)?
        .into_iter()
        .filter(|c| marker.is_none_or(|m| c.url_id.as_str() > m))
        .collect();
    let page: Vec<Value> = all.iter().take(max).map(|c| c.shape(inner)).collect();
    let mut out = json!({"FunctionUrlConfigs": page});
    if all.len() > max
        && let Some(last) = all.get(max - 1)
    {
        out["NextMarker"] = json!(last.url_id);
    }
    Ok((200, out))
}

/// Removes every URL of a deleted function (in the transaction given).
pub fn delete_all(tx: &mut dyn Tx, function: &str) -> Result<()> {
    for c in all_of(&*tx, function)? {
        tx.delete(&id_key(&c.url_id));
        tx.delete(&function_key(function, c.qualifier.as_deref()));
    }
    Ok(())
}

/// The URL a host name's id names, if there is one.
pub fn by_id(tx: &dyn Read, id: &str) -> Result<Option<UrlConfig>> {
    match tx.get(&id_key(id))? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("function url {id}: {e}"))),
    }
}

/// The url id a `Host` header names: `<id>.lambda-url.<region>.localhost.localstack.cloud[:port]`
/// or `<id>.lambda-url.<region>.localhost[:port]`.
pub fn id_from_host(host: &str) -> Option<&str> {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let (id, rest) = name.split_once(HOST_INFIX)?;
    let region = rest
        .strip_suffix(".localhost.localstack.cloud")
        .or_else(|| rest.strip_suffix(".localhost"))?;
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_of_function_urls() {
        for (host, id) in [
            (
                "abc123.lambda-url.eu-west-1.localhost.localstack.cloud:4566",
                Some("abc123"),
            ),
            ("abc123.lambda-url.us-east-1.localhost", Some("abc123")),
            (
                "abc123.lambda-url.us-east-1.localhost.localstack.cloud",
                Some("abc123"),
            ),
            ("ABC.lambda-url.us-east-1.localhost", None),
            ("abc.lambda-url..localhost", None),
            ("abc.execute-api.localhost.localstack.cloud", None),
            ("abc.lambda-url.us-east-1.on.aws", None),
            ("127.0.0.1:4566", None),
        ] {
            assert_eq!(id_from_host(host), id, "{host}");
        }
    }

    #[test]
    fn qualifiers_are_aliases_or_latest() {
        for (q, ok) in [
            (None, Some(None)),
            (Some("$LATEST"), Some(None)),
            (Some("live"), Some(Some("live"))),
            (Some("v-2_b"), Some(Some("v-2_b"))),
            (Some("3"), None),
            (Some(""), None),
            (Some("a b"), None),
        ] {
            let got = qualifier(q).ok();
            assert_eq!(
                got,
                ok.map(|o: Option<&str>| o.map(str::to_string)),
                "{q:?}"
            );
        }
    }
}
