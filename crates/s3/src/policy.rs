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
