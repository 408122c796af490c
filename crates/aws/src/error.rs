//! AWS error shapes: one [`AwsError`] value (code, HTTP status, message) rendered in the wire
//! format of the protocol the client speaks. Every service error reaches the client through
//! [`IntoAwsError`], so a client always gets the code and status AWS would send.
//!
//! Formats, from the Smithy protocol specifications:
//! - REST-XML (S3): `<Error><Code/><Message/><Resource/><RequestId/></Error>`
//!   (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)
//! - JSON 1.0 / 1.1 (DynamoDB, WAFv2): `{"__type": "<namespace>#<Code>", "message": "..."}`
//! - REST-JSON (Lambda, API Gateway): `{"Type": "User", "message": "..."}` plus the
//!   `x-amzn-ErrorType` header naming the code.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::{Body, RequestId, full_body};

/// The wire protocol a service speaks, which decides how its errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    RestXml,
    /// JSON 1.0 with the namespace used in `__type`, e.g. `com.amazonaws.dynamodb.v20120810`.
    AwsJson1_0 {
        namespace: &'static str,
    },
    AwsJson1_1 {
        namespace: &'static str,
    },
    RestJson,
    /// The query protocol (IAM, STS): form-encoded `Action=…` requests, XML responses in the
    /// service's namespace, e.g. `https://iam.amazonaws.com/doc/2010-05-08/`.
    AwsQuery {
        xmlns: &'static str,
    },
}

/// An error as a client of an AWS service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Overrides the protocol namespace in JSON `__type` (auth errors come from the
    /// `com.amazon.coral.service` front end on JSON services).
    pub namespace: Option<&'static str>,
    /// S3's `<Resource>` element.
    pub resource: Option<String>,
    /// Extra members of the error structure: in JSON after `__type` and `message` (WAFv2's
    /// `WAFInvalidParameterException` carries `Field`, `Parameter` and `Reason`), in XML as
    /// elements after `<Message>` (S3's `<HeadersNotSigned>`).
    pub members: Vec<(&'static str, String)>,
}

impl AwsError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            namespace: None,
            resource: None,
            members: Vec::new(),
        }
    }

    /// Adds a member to the error structure (a JSON member, an XML element).
    pub fn with_member(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.members.push((name, value.into()));
        self
    }

    pub fn with_namespace(mut self, namespace: &'static str) -> Self {
        self.namespace = Some(namespace);
        self
    }

    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The catch-all for failures that are not the client's fault. The cause is logged by the
    /// caller with the request id; the client only learns that it happened.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// Renders the error in `protocol`'s wire format, with the request id headers.
    pub fn to_response(&self, protocol: Protocol, request_id: &RequestId) -> Response<Body> {
        let (content_type, body) = match protocol {
            Protocol::RestXml => {
                let mut xml =
                    String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
                xml.push_str(&xml_escape(self.code));
                xml.push_str("</Code><Message>");
                xml.push_str(&xml_escape(&self.message));
                xml.push_str("</Message>");
                for (name, value) in &self.members {
                    xml.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
                }
                if let Some(resource) = &self.resource {
                    xml.push_str("<Resource>");
                    xml.push_str(&xml_escape(resource));
                    xml.push_str("</Resource>");
                }
                xml.push_str("<RequestId>");
                xml.push_str(request_id.as_str());
                xml.push_str("</RequestId></Error>");
                ("application/xml", xml)
            }
            Protocol::AwsJson1_0 { namespace } | Protocol::AwsJson1_1 { namespace } => {
                let ns = self.namespace.unwrap_or(namespace);
                let mut body = serde_json::json!({
                    "__type": format!("{ns}#{}", self.code),
                    "message": self.message,
                });
                for (name, value) in &self.members {
                    body[*name] = serde_json::Value::String(value.clone());
                }
                let ct = if matches!(protocol, Protocol::AwsJson1_0 { .. }) {
                    "application/x-amz-json-1.0"
                } else {
                    "application/x-amz-json-1.1"
                };
                (ct, body.to_string())
            }
            Protocol::AwsQuery { xmlns } => {
                // https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
                let kind = if self.status.is_server_error() {
                    "Receiver"
                } else {
                    "Sender"
                };
                let mut xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type><Code>"
                );
                xml.push_str(&xml_escape(self.code));
                xml.push_str("</Code><Message>");
                xml.push_str(&xml_escape(&self.message));
                xml.push_str("</Message></Error><RequestId>");
                xml.push_str(request_id.as_str());
                xml.push_str("</RequestId></ErrorResponse>");
                ("text/xml", xml)
            }
            Protocol::RestJson => {
                let kind = if self.status.is_server_error() {
                    "Service"
                } else {
                    "User"
                };
                let mut body = serde_json::json!({"Type": kind, "message": self.message});
                // Lambda's TooManyRequestsException carries `Reason`.
                for (name, value) in &self.members {
                    body[*name] = serde_json::Value::String(value.clone());
                }
                ("application/json", body.to_string())
            }
        };
        let mut resp = Response::new(full_body(Bytes::from(body)));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        if protocol == Protocol::RestJson
            && let Ok(v) = HeaderValue::from_str(self.code)
        {
            headers.insert("x-amzn-errortype", v);
        }
        request_id.add_headers(headers);
        resp.extensions_mut().insert(ErrorCode(self.code.into()));
        resp
    }
}

/// The AWS error code of a response made by [`AwsError::to_response`], in its extensions:
/// how the endpoint's metrics tell error codes apart without parsing bodies. Borrowed for the
/// services' own codes; owned for S3's, which s3s renders (nuvem-s3 reads them from the error
/// body it completes anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCode(pub std::borrow::Cow<'static, str>);

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for AwsError {}

/// Implemented by every service's error type: how the error looks to an AWS client.
pub trait IntoAwsError {
    fn into_aws_error(self) -> AwsError;
}

impl IntoAwsError for AwsError {
    fn into_aws_error(self) -> AwsError {
        self
    }
}

/// Escapes text for an XML element body.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_text(resp: Response<Body>) -> String {
        String::from_utf8(
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The bodies here are always ready; a trivial executor is enough.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[track_caller]
    fn check(err: AwsError, protocol: Protocol, status: u16, expected_body: &str) {
        let id = RequestId::from_string("REQ1".into());
        let resp = err.to_response(protocol, &id);
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(resp.headers()["x-amzn-requestid"], "REQ1");
        assert_eq!(block_on(body_text(resp)), expected_body);
    }

    #[test]
    fn error_shapes() {
        check(
            AwsError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", "bad <sig>")
                .with_resource("/b/k"),
            Protocol::RestXml,
            403,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>bad &lt;sig&gt;</Message><Resource>/b/k</Resource><RequestId>REQ1</RequestId></Error>",
        );
        check(
            AwsError::new(StatusCode::BAD_REQUEST, "ValidationException", "nope"),
            Protocol::AwsJson1_0 {
                namespace: "com.amazonaws.dynamodb.v20120810",
            },
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"nope"}"#,
        );
        check(
            AwsError::new(StatusCode::BAD_REQUEST, "InvalidSignatureException", "sig")
                .with_namespace("com.amazon.coral.service"),
            Protocol::AwsJson1_0 {
                namespace: "com.amazonaws.dynamodb.v20120810",
            },
            400,
            r#"{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"sig"}"#,
        );
        check(
            AwsError::new(
                StatusCode::BAD_REQUEST,
                "WAFInvalidParameterException",
                "bad",
            )
            .with_member("Field", "RULE")
            .with_member("Parameter", "Rules[0].Name"),
            Protocol::AwsJson1_1 {
                namespace: "com.amazonaws.wafv2",
            },
            400,
            r#"{"Field":"RULE","Parameter":"Rules[0].Name","__type":"com.amazonaws.wafv2#WAFInvalidParameterException","message":"bad"}"#,
        );
        check(
            AwsError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", "no fn"),
            Protocol::RestJson,
            404,
            r#"{"Type":"User","message":"no fn"}"#,
        );
    }
}
