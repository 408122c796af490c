//! The WAF at the edge: the distribution's WebACL (the manifest's `[waf]`, or nuvem's default
//! WebACL for distributions) evaluated through the edge's `Guard` hook on every viewer
//! request, before the cache, so rate rules count cache hits too. A blocked request gets the
//! rule's response (WAF's default: 403) carrying the request id.
//!
//! A same-site `Referer`/`Origin` is inspected without its `scheme://host` prefix (see
//! `same_origin_stripped`).
//!
//! Body statements see the first `body_limit` bytes of the body (the edge reads them for the
//! hook; 16 KB unless the WebACL's `AssociationConfig` raises it, see [`body_limit`]).
//!
//! The WebACL is live: the guard holds the wafv2 API's [`SharedWebAcl`] handle, so an
//! UpdateWebACL applies to the next request. The body limit is fixed at start.
//!
//! Must not: read files (the binary loads the WebACL JSON before building the guard) or
//! buffer bodies itself.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use nuvem_aws::{Body, RequestId, full_body};
use nuvem_waf::{Action, SharedWebAcl};

pub struct WafGuard {
    /// The current WebACL, which the wafv2 API swaps on UpdateWebACL; read once per request.
    pub acl: SharedWebAcl,
    /// How many body bytes the WAF inspects.
    pub body_limit: usize,
}

impl nuvem_edge::Guard for WafGuard {
    fn body_limit(&self) -> usize {
        self.body_limit
    }

    fn inspect(
        &self,
        parts: &Parts,
        body: &[u8],
        body_oversize: bool,
        location: &str,
    ) -> Option<Response<Body>> {
        let host = parts
            .headers
            .get(header::HOST)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        let headers: Vec<(&str, &[u8])> = parts
            .headers
            .iter()
            .map(|(n, v)| {
                let v = v.as_bytes();
                match *n {
                    header::REFERER | header::ORIGIN => (n.as_str(), same_origin_stripped(v, host)),
                    _ => (n.as_str(), v),
                }
            })
            .collect();
        // The listener records the TCP peer on every request; without it (an in-process
        // caller) the request counts as loopback.
        let client_ip = parts
            .extensions
            .get::<SocketAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), SocketAddr::ip);
        let req = nuvem_waf::Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
            body,
            body_oversize,
            client_ip,
            at: Instant::now(),
        };
        let verdict = self.acl.evaluate(&req);
        let Action::Block(block) = verdict.action else {
            return None;
        };
        let id = RequestId::new();
        // The WAF logs the block itself; this line ties it to the id the visitor sees.
        tracing::debug!(
            request_id = id.as_str(),
            rule = verdict.terminating_rule,
            field = verdict.matched_field.as_deref().unwrap_or("-"),
            %client_ip,
            location,
            path = parts.uri.path(),
            "WAF blocked a request"
        );
        let status = StatusCode::from_u16(block.status).unwrap_or(StatusCode::FORBIDDEN);
        let (content_type, body) = block.body.unwrap_or_else(|| {
            // CloudFront's page for a request its WebACL blocked names the request id.
            (
                "text/html".into(),
                format!(
                    "<!DOCTYPE html><title>{code} ERROR</title><h1>{code} ERROR</h1>\
                     <p>The request could not be satisfied: it was blocked by the web application firewall.</p>\
                     <p>Request ID: {id}</p>\n",
                    code = status.as_u16(),
                    id = id.as_str()
                ),
            )
        });
        let mut resp = Response::new(full_body(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        for (name, value) in &block.headers {
            if let (Ok(n), Ok(v)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                h.append(n, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            nuvem_edge::X_CACHE,
            HeaderValue::from_static("Error from nuvem"),
        );
        if let Ok(v) = HeaderValue::from_str(id.as_str()) {
            h.insert("x-amz-cf-id", v.clone());
            h.insert("x-amz-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(location) {
            h.insert("x-amz-cf-pop", v);
        }
        Some(resp)
    }
}

/// A `Referer` or `Origin` naming the site itself, without its `scheme://host` part: the
/// page a visitor came from on the same site. That prefix repeats the `Host` header (inspected
/// on its own), and for a site opened at `http://localhost:8080` it reads like an SSRF target
/// to the managed rules, which would block every request a browser makes after the first
/// page. The rest (path and query, where an attacker's payload would be) is still inspected.
fn same_origin_stripped<'a>(value: &'a [u8], host: &[u8]) -> &'a [u8] {
    if host.is_empty() {
        return value;
    }
    for scheme in [&b"http://"[..], b"https://"] {
        if let Some(rest) = value
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix(host))
            && matches!(rest.first(), None | Some(b'/' | b'?' | b'#'))
        {
            return rest;
        }
    }
    value
}

/// The body inspection limit a WebACL JSON asks for CloudFront:
/// `AssociationConfig.RequestBody.CLOUDFRONT.DefaultSizeInspectionLimit` (`KB_16`, `KB_32`,
/// `KB_48` or `KB_64`; 16 KB when absent). A value outside that list is an error, as it is
/// for CreateWebACL:
/// <https://docs.aws.amazon.com/waf/latest/APIReference/API_RequestBodyAssociatedResourceTypeConfig.html>
pub fn body_limit(web_acl_json: &str) -> Result<usize, String> {
    let v: serde_json::Value = serde_json::from_str(web_acl_json).map_err(|e| e.to_string())?;
    let Some(limit) =
        v.pointer("/AssociationConfig/RequestBody/CLOUDFRONT/DefaultSizeInspectionLimit")
    else {
        return Ok(nuvem_edge::DEFAULT_BODY_LIMIT);
    };
    match limit.as_str() {
        Some("KB_16") => Ok(16 * 1024),
        Some("KB_32") => Ok(32 * 1024),
        Some("KB_48") => Ok(48 * 1024),
        Some("KB_64") => Ok(64 * 1024),
        _ => Err(format!(
            "AssociationConfig.RequestBody.CLOUDFRONT.DefaultSizeInspectionLimit: {limit} is not one of KB_16, KB_32, KB_48, KB_64"
        )),
    }
}
