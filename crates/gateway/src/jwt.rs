//! JWT authorizers (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html):
//! take the token from the identity source (a leading `Bearer ` is dropped), check its
//! signature with a key from the issuer's JWKS (RS256, as API Gateway; HS256 with `oct` keys
//! as a nuvem extension for local tokens), then `iss`, `aud` (or `client_id`), `exp`, `nbf`,
//! and the route's scopes against `scope`/`scp`. The claims reach the function as
//! `requestContext.authorizer.jwt` with every value as a string, like API Gateway.
//!
//! Pure: fetching the JWKS is the caller's job (`dataplane`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

/// Why a token was refused. Every variant is a 401 except `MissingScope` (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("unsupported algorithm {0}")]
    Algorithm(String),
    #[error("no key in the JWKS matches the token")]
    UnknownKey,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the issuer does not match")]
    Issuer,
    #[error("the audience does not match")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token lacks a required scope")]
    MissingScope,
}

fn b64(s: &str) -> Result<Vec<u8>, JwtError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| JwtError::Malformed)
}

/// What the checks need besides the token.
pub struct Expect<'a> {
    pub issuer: Option<&'a str>,
    pub audiences: &'a [String],
    pub scopes: &'a [String],
    pub now_seconds: u64,
}

/// Verifies `token` against the keys of `jwks` and the expectations; returns the
/// `authorizer` value for the event: `{"jwt": {"claims": {...}, "scopes": [...]|null}}`.
pub fn verify(token: &str, jwks: &Value, expect: &Expect<'_>) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Value = serde_json::from_slice(&b64(h)?).map_err(|_| JwtError::Malformed)?;
    let claims: Value = serde_json::from_slice(&b64(p)?).map_err(|_| JwtError::Malformed)?;
    let claims = claims.as_object().ok_or(JwtError::Malformed)?;
    let signature = b64(s)?;
    let signed = token
        .get(..h.len() + 1 + p.len())
        .ok_or(JwtError::Malformed)?
        .as_bytes();
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kid = header.get("kid").and_then(Value::as_str);
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwtError::UnknownKey)?;
    let wanted_kty = match alg {
        "RS256" => "RSA",
        "HS256" => "oct",
        other => return Err(JwtError::Algorithm(other.to_string())),
    };
    let key = keys
        .iter()
        .filter(|k| k.get("kty").and_then(Value::as_str) == Some(wanted_kty))
        .find(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
        .ok_or(JwtError::UnknownKey)?;
    let field = |name: &str| -> Result<Vec<u8>, JwtError> {
        b64(key
            .get(name)
            .and_then(Value::as_str)
            .ok_or(JwtError::UnknownKey)?)
    };
    match alg {
        "RS256" => {
            let public = aws_lc_rs::signature::RsaPublicKeyComponents {
                n: field("n")?,
                e: field("e")?,
            };
            public
                .verify(
                    &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                    signed,
                    &signature,
                )
                .map_err(|_| JwtError::BadSignature)?;
        }
        _ => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(&field("k")?).map_err(|_| JwtError::UnknownKey)?;
            mac.update(signed);
            mac.verify_slice(&signature)
                .map_err(|_| JwtError::BadSignature)?;
        }
    }
    check_claims(claims, expect)?;
    let scopes: Vec<String> = claims
        .get("scope")
        .or_else(|| claims.get("scp"))
        .map(|v| match v {
            Value::String(s) => s.split(' ').map(String::from).collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    if !expect.scopes.is_empty() && !expect.scopes.iter().any(|s| scopes.contains(s)) {
        return Err(JwtError::MissingScope);
    }
    let claims_out: Map<String, Value> = claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(claim_string(v))))
        .collect();
    let scopes_out = if scopes.is_empty() {
        Value::Null
    } else {
        json!(scopes)
    };
    Ok(json!({"jwt": {"claims": claims_out, "scopes": scopes_out}}))
}

fn check_claims(claims: &Map<String, Value>, expect: &Expect<'_>) -> Result<(), JwtError> {
    if let Some(iss) = expect.issuer
        && claims.get("iss").and_then(Value::as_str) != Some(iss)
    {
        return Err(JwtError::Issuer);
    }
    if !expect.audiences.is_empty() {
        let mut auds: Vec<&str> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if let Some(cid) = claims.get("client_id").and_then(Value::as_str) {
            auds.push(cid);
        }
        if !expect.audiences.iter().any(|a| auds.contains(&a.as_str())) {
            return Err(JwtError::Audience);
        }
    }
    let num = |name: &str| claims.get(name).and_then(Value::as_f64);
    // `exp` is required by API Gateway.
    match num("exp") {
        Some(exp) if exp > expect.now_seconds as f64 => {}
        _ => return Err(JwtError::Expired),
    }
    if let Some(nbf) = num("nbf")
        && nbf > expect.now_seconds as f64
    {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

/// API Gateway's string form of a claim: strings as-is, arrays as `[a b]`, others as JSON.
fn claim_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(claim_string).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}
