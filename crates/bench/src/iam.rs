//! What IAM enforcement costs a request end to end: an IAM user whose identity policy has 20
//! statements (19 that do not apply to the request: other actions, other tables, a Deny on
//! another table, conditions; the last one allows `dynamodb:Get*` on the table from
//! 127.0.0.0/8) against the root key, GetItem through aws-sdk-dynamodb. Must not: time
//! anything (the load generator does).

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;

/// The 20-statement policy.
pub fn policy(table_arn_prefix: &str, table: &str) -> String {
    let mut statements = Vec::new();
    for i in 0..17 {
        statements.push(serde_json::json!({
            "Sid": format!("Other{i}"),
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
            "Resource": format!("{table_arn_prefix}other-{i}"),
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": format!("t{i}")}},
        }));
    }
    statements.push(serde_json::json!({
        "Sid": "NoSecrets", "Effect": "Deny", "Action": "dynamodb:*",
        "Resource": format!("{table_arn_prefix}secrets*"),
    }));
    statements.push(serde_json::json!({
        "Sid": "S3Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": ["arn:aws:s3:::media", "arn:aws:s3:::media/*"],
    }));
    statements.push(serde_json::json!({
        "Sid": "ReadTable", "Effect": "Allow", "Action": "dynamodb:Get*",
        "Resource": format!("{table_arn_prefix}{table}"),
        "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
    }));
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// One IAM query action signed with the root key; returns the XML answer.
async fn call(endpoint: &str, params: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut body = String::from("Version=2010-05-08");
    for (k, v) in params {
        body.push('&');
        body.push_str(k);
        body.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                body.push(char::from(b));
            } else {
                body.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let uri = format!("{}/", endpoint.trim_end_matches('/'));
    let mut req = Request::post(&uri)
        .header(http::header::HOST, crate::web::authority(endpoint))
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Bytes::from(body))
        .context("building an IAM request")?;
    crate::web::sign(&mut req, "iam")?;
    let (parts, body) = req.into_parts();
    let resp = crate::web::client(1)
        .request(Request::from_parts(parts, http_body_util::Full::new(body)))
        .await
        .context("an IAM request")?;
    let status = resp.status();
    let text = String::from_utf8_lossy(&resp.into_body().collect().await?.to_bytes()).into_owned();
    if !status.is_success() {
        bail!("IAM {params:?}: {status} {text}");
    }
    Ok(text)
}

/// The text of the first `<tag>` element of `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

/// Creates user `bench-reader` with the 20-statement policy (managed, attached) on `table`
/// and returns its key.
pub async fn limited_user(endpoint: &str, table: &str) -> anyhow::Result<Credentials> {
    let user = "bench-reader";
    call(endpoint, &[("Action", "CreateUser"), ("UserName", user)]).await?;
    let doc = policy("arn:aws:dynamodb:us-east-1:000000000000:table/", table);
    // A managed policy: 20 statements are more than an inline user policy's 2048 characters.
    let created = call(
        endpoint,
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", "twenty"),
            ("PolicyDocument", &doc),
        ],
    )
    .await?;
    let arn = element(&created, "Arn").context("CreatePolicy answered no Arn")?;
    call(
        endpoint,
        &[
            ("Action", "AttachUserPolicy"),
            ("UserName", user),
            ("PolicyArn", arn),
        ],
    )
    .await?;
    let xml = call(
        endpoint,
        &[("Action", "CreateAccessKey"), ("UserName", user)],
    )
    .await?;
    let (Some(id), Some(secret)) = (
        element(&xml, "AccessKeyId"),
        element(&xml, "SecretAccessKey"),
    ) else {
        bail!("CreateAccessKey answered no key: {xml}");
    };
    Ok(Credentials::new(id, secret, None, None, "nuvem-bench-iam"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_has_twenty_statements() {
        let doc: serde_json::Value =
            serde_json::from_str(&super::policy("arn:aws:dynamodb:us-east-1:0:table/", "t"))
                .unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 20);
    }
}
