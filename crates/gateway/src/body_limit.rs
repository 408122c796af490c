//! API Gateway's payload limit for HTTP APIs: 10 MB, which cannot be raised
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
//! A larger request is answered 413 `{"message":"Request Entity Too Large"}`. A declared
//! length over the limit is refused before anything is read or forwarded; a body of unknown
//! length is read (Lambda integrations) or streamed on (HTTP integrations) only up to the
//! limit, so no request holds more than 10 MB in memory.
//!
//! Must not: buffer a body; it only counts the bytes that pass.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, SizeHint};
use nuvem_aws::{Body, BoxError};

use crate::response;

/// The payload limit, in bytes.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// API Gateway's answer to a request over the limit.
pub fn too_large() -> Response<Body> {
    response::message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
}

/// Whether the request says, before a byte is read, that its body is over the limit: by its
/// `Content-Length`, or by a body that knows its own size.
pub fn declared_over(headers: &HeaderMap, body: &Body) -> bool {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    declared > MAX_BODY as u64 || body.size_hint().lower() > MAX_BODY as u64
}

/// Wraps a body so that it ends with an error once more than [`MAX_BODY`] bytes have passed;
/// the flag tells the caller that this is why the body failed.
pub fn capped(body: Body) -> (Body, Arc<AtomicBool>) {
    let over = Arc::new(AtomicBool::new(false));
    let capped = Capped {
        inner: body,
        seen: 0,
        over: over.clone(),
    };
    (capped.boxed_unsync(), over)
}

struct Capped {
    inner: Body,
    seen: usize,
    over: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body is over API Gateway's {MAX_BODY}-byte payload limit")]
struct OverLimit;

impl hyper::body::Body for Capped {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len());
                    if this.seen > MAX_BODY {
                        this.over.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(Box::new(OverLimit))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
