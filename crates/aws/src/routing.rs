//! Which service a request on the shared AWS endpoint is for.
//!
//! The order follows what clients send: the SigV4 credential scope names the service for
//! every signed request; JSON-protocol clients also name it in `X-Amz-Target`; anonymous
//! requests (public bucket reads, browser uploads to presigned URLs are signed) fall back to the
//! path, where the REST services have well-known prefixes and everything else is S3.

use http::request::Parts;

use crate::sigv4::SignedRequest;

/// `X-Amz-Target` prefixes of the JSON-protocol services and the scope names they belong to.
const TARGET_PREFIXES: &[(&str, &str)] = &[
    ("DynamoDB_20120810.", "dynamodb"),
    ("DynamoDBStreams_20120810.", "dynamodb"),
    ("AWSWAF_20190729.", "wafv2"),
    ("Logs_20140328.", "logs"),
    ("AnyScaleFrontendService.", "application-autoscaling"),
    ("TrentService.", "kms"),
];

/// Path prefixes of the REST-JSON services.
const PATH_PREFIXES: &[(&str, &str)] = &[
    ("/2015-03-31/", "lambda"),
    ("/2021-10-31/", "lambda"),
    ("/v2/apis", "apigateway"),
];

/// The service a request is for, by its SigV4 scope, `X-Amz-Target`, then path.
pub fn service_for(parts: &Parts, signed: Option<&SignedRequest>) -> String {
    if let Some(signed) = signed {
        // `execute-api` is how API Gateway's management API is sometimes scoped.
        return match signed.service.as_str() {
            "execute-api" => "apigateway".to_string(),
            // DynamoDB Streams' SDKs sign with `dynamodb`; some clients use these.
            "streams.dynamodb" | "dynamodbstreams" => "dynamodb".to_string(),
            s => s.to_string(),
        };
    }
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        for (prefix, service) in TARGET_PREFIXES {
            if target.starts_with(prefix) {
                return service.to_string();
            }
        }
    }
    let path = parts.uri.path();
    for (prefix, service) in PATH_PREFIXES {
        if path.starts_with(prefix) {
            return service.to_string();
        }
    }
    "s3".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(scope_service: Option<&str>, target: Option<&str>, path: &str, expected: &str) {
        let mut req = http::Request::builder().uri(path);
        if let Some(t) = target {
            req = req.header("x-amz-target", t);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let signed = scope_service.map(|s| SignedRequest {
            access_key_id: "test".into(),
            date: "20240101".into(),
            region: "us-east-1".into(),
            service: s.into(),
            signed_headers: vec![],
            signature: String::new(),
            amz_date: String::new(),
            expires: None,
        });
        assert_eq!(service_for(&parts, signed.as_ref()), expected);
    }

    #[test]
    fn routing() {
        check(
            Some("dynamodb"),
            Some("DynamoDB_20120810.GetItem"),
            "/",
            "dynamodb",
        );
        check(
            Some("dynamodb"),
            Some("DynamoDBStreams_20120810.GetRecords"),
            "/",
            "dynamodb",
        );
        check(Some("dynamodbstreams"), None, "/", "dynamodb");
        check(Some("s3"), None, "/bucket/key", "s3");
        check(Some("lambda"), None, "/2015-03-31/functions", "lambda");
        check(Some("sqs"), None, "/", "sqs");
        check(None, Some("DynamoDB_20120810.ListTables"), "/", "dynamodb");
        check(None, Some("AWSWAF_20190729.ListWebACLs"), "/", "wafv2");
        check(None, Some("Logs_20140328.FilterLogEvents"), "/", "logs");
        check(
            Some("logs"),
            Some("Logs_20140328.GetLogEvents"),
            "/",
            "logs",
        );
        check(None, Some("TrentService.ListKeys"), "/", "kms");
        check(None, None, "/2015-03-31/functions/f/invocations", "lambda");
        check(None, None, "/public-bucket/photo.jpg", "s3");
        check(None, None, "/", "s3");
    }
}
