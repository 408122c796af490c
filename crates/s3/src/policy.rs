//! Enough of the bucket policy language for public-read and deny rules
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html): statements
//! with `Effect`, `Principal` (`*` or `{"AWS": "*"}` for everyone), `Action` and `Resource`
//! with `*`/`?` wildcards. An explicit Deny wins over an Allow. Conditions are not supported:
//! a statement with a `Condition` never matches (safe for Allow, and refused for Deny at
//! validation so no deny rule is silently ignored).

use serde_json::Value;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// No statement applies.
    Default,
}

fn list(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// Checks a policy document before it is stored (`MalformedPolicy` otherwise).
pub fn validate(text: &str, bucket: &str) -> Result<(), Error> {
    let bad = |m: &str| Err(Error::MalformedPolicy(m.to_string()));
    let doc: Value = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(_) => return bad("Policies must be valid JSON and the first byte must be '{'"),
    };
    let st = statements(&doc);
    if st.is_empty() {
        return bad("Missing required field Statement");
    }
    for s in st {
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") => {}
            Some("Deny") if s.get("Condition").is_some() => {
                return bad("Conditions in Deny statements are not supported by nuvem");
            }
            Some("Deny") => {}
            _ => return bad("Invalid effect"),
        }
        if s.get("Principal").is_none() {
            return bad("Missing required field Principal");
        }
        if list(s.get("Action")).is_empty() {
            return bad("Missing required field Action");
        }
        let resources = list(s.get("Resource"));
        if resources.is_empty() {
            return bad("Missing required field Resource");
        }
        let arn = format!("arn:aws:s3:::{bucket}");
        if resources
            .iter()
            .any(|r| *r != arn && !r.starts_with(&format!("{arn}/")))
        {
            return bad("Policy has invalid resource");
        }
    }
    Ok(())
}

fn principal_matches(p: Option<&Value>, anonymous: bool) -> bool {
    match p {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(o)) => o.get("AWS").is_some_and(|aws| {
            list(Some(aws))
                .iter()
                .any(|a| *a == "*" || (!anonymous && a.contains(":root")))
        }),
        _ => false,
    }
}

/// `*` matches any run of characters, `?` any one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Evaluates `action` (e.g. `s3:GetObject`) on `resource` (an S3 ARN) for a caller.
pub fn evaluate(text: &str, anonymous: bool, action: &str, resource: &str) -> Decision {
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return Decision::Default;
    };
    let mut decision = Decision::Default;
    for s in statements(&doc) {
        if s.get("Condition").is_some() && s.get("Effect").and_then(Value::as_str) == Some("Allow")
        {
            continue;
        }
        let applies = principal_matches(s.get("Principal"), anonymous)
            && list(s.get("Action"))
                .iter()
                .any(|a| wildcard(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && list(s.get("Resource"))
                .iter()
                .any(|r| wildcard(r, resource));
        if applies {
            match s.get("Effect").and_then(Value::as_str) {
                Some("Deny") => return Decision::Deny,
                Some("Allow") => decision = Decision::Allow,
                _ => {}
            }
        }
    }
    decision
}

/// The policy that makes every object of `bucket` readable by anyone.
pub fn public_read(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": [format!("arn:aws:s3:::{bucket}/*")],
        }]
    })
    .to_string()
}

/// Condition keys whose fixed (wildcard-free) values make a statement non-public: AWS's
/// definition of a public policy
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status).
const FIXING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "aws:userid",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:principalarn",
];

/// Whether a statement's Principal is everyone (`*`, or `*` among its AWS principals).
fn wildcard_principal(p: Option<&Value>) -> bool {
    match p {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(o)) => o.values().any(|v| list(Some(v)).contains(&"*")),
        _ => false,
    }
}

/// Whether a Condition pins the caller to fixed values of one of [`FIXING_KEYS`] (an
/// `aws:SourceIp` of `0.0.0.0/0` or `::/0` pins nothing).
fn fixes_caller(condition: Option<&Value>) -> bool {
    let Some(Value::Object(ops)) = condition else {
        return false;
    };
    ops.values().filter_map(Value::as_object).any(|keys| {
        keys.iter().any(|(k, v)| {
            let k = k.to_ascii_lowercase();
            let values = list(Some(v));
            FIXING_KEYS.contains(&k.as_str())
                && !values.is_empty()
                && values
                    .iter()
                    .all(|v| !v.contains('*') && !v.contains('?') && !v.ends_with("/0"))
        })
    })
}

/// Whether a bucket policy is public by AWS's definition: some Allow statement grants to
/// everyone without a condition that fixes who the caller is. Used by GetBucketPolicyStatus,
/// `BlockPublicPolicy` and `RestrictPublicBuckets`.
pub fn is_public(text: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    statements(&doc).into_iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && (wildcard_principal(s.get("Principal")) || s.get("NotPrincipal").is_some())
            && !fixes_caller(s.get("Condition"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_public(doc: serde_json::Value, expected: bool) {
        assert_eq!(is_public(&doc.to_string()), expected, "{doc}");
    }

    #[test]
    fn public_policies() {
        let st = |extra: serde_json::Value| {
            let mut s = serde_json::json!({"Effect": "Allow", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*", "Principal": "*"});
            if let (Some(o), Some(e)) = (s.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            serde_json::json!({"Statement": [s]})
        };
        check_public(st(serde_json::json!({})), true);
        check_public(st(serde_json::json!({"Principal": {"AWS": "*"}})), true);
        check_public(
            st(serde_json::json!({"Principal": {"AWS": "arn:aws:iam::000000000000:root"}})),
            false,
        );
        check_public(st(serde_json::json!({"Effect": "Deny"})), false);
        check_public(
            st(serde_json::json!({"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})),
            false,
        );
        check_public(
            st(serde_json::json!({"Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}})),
            true,
        );
        check_public(
            st(serde_json::json!({"Condition": {"StringLike": {"aws:SourceArn": "arn:*"}}})),
            true,
        );
        check_public(
            st(
                serde_json::json!({"Condition": {"StringEquals": {"aws:SourceAccount": "000000000000"}}}),
            ),
            false,
        );
        check_public(public_read_doc(), true);
    }

    fn public_read_doc() -> serde_json::Value {
        serde_json::from_str(&public_read("b")).unwrap()
    }
}
