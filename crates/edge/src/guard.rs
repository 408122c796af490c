//! The hook the WAF plugs into ([`Guard`]) and the body peek that feeds it: the first bytes of
//! a request body are read for inspection, then handed on to the origin ahead of the rest of
//! the stream, so the origin receives every byte unchanged.
//!
//! Must not: buffer more than the guard's limit (plus the one frame that crosses it): an
//! upload of any size streams through, only its head waits for the verdict.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use nuvem_aws::{Body, BoxError};

/// How much of a body a guard inspects unless it says otherwise: AWS WAF's default for
/// CloudFront, 16 KB (configurable up to 64 KB through the WebACL's `AssociationConfig`):
/// <https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-fields-list.html#waf-rule-statement-request-component-body>
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// The hook the WAF plugs into: it sees every viewer request before the cache does.
pub trait Guard: Send + Sync + 'static {
    /// How many body bytes [`Guard::inspect`] sees at most.
    fn body_limit(&self) -> usize {
        DEFAULT_BODY_LIMIT
    }

    /// `body` is the first bytes of the request body (at most [`Guard::body_limit`]; empty for
    /// GET and HEAD, whose bodies the edge never forwards); `body_oversize` says the body was
    /// longer. `Some(response)` answers the request (blocked); `None` lets it through.
    fn inspect(
        &self,
        req: &Parts,
        body: &[u8],
        body_oversize: bool,
        location: &str,
    ) -> Option<Response<Body>>;
}

/// A body whose head was read for inspection.
pub(crate) struct Peeked {
    /// At most `limit` bytes.
    pub inspected: Vec<u8>,
    /// The body was longer than `limit`.
    pub oversize: bool,
    /// The whole body again: the frames read, then the rest of the stream.
    pub body: Body,
}

/// Reads frames of `body` until more than `limit` bytes have arrived or it ends.
pub(crate) async fn peek(mut body: Body, limit: usize) -> Result<Peeked, BoxError> {
    let mut frames = VecDeque::new();
    let mut inspected = Vec::new();
    let mut total = 0usize;
    let mut ended = false;
    while total <= limit {
        let Some(frame) = body.frame().await else {
            ended = true;
            break;
        };
        let frame = frame?;
        if let Some(data) = frame.data_ref() {
            let room = limit.saturating_sub(inspected.len());
            inspected.extend(data.iter().take(room));
            total = total.saturating_add(data.len());
        }
        // Nothing follows trailers.
        let trailers = frame.is_trailers();
        frames.push_back(frame);
        if trailers {
            ended = true;
            break;
        }
    }
    let rest = (!ended).then_some(body);
    Ok(Peeked {
        inspected,
        oversize: total > limit,
        body: Prefixed { frames, rest }.boxed_unsync(),
    })
}

/// The frames already read, then the rest of the original body.
struct Prefixed {
    frames: VecDeque<Frame<Bytes>>,
    rest: Option<Body>,
}

impl Prefixed {
    fn buffered(&self) -> u64 {
        self.frames
            .iter()
            .filter_map(Frame::data_ref)
            .map(|d| d.len() as u64)
            .sum()
    }
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(f) = this.frames.pop_front() {
            return Poll::Ready(Some(Ok(f)));
        }
        match &mut this.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    /// The original body's hint, so a known length still goes out as `Content-Length`.
    fn size_hint(&self) -> SizeHint {
        let buffered = self.buffered();
        let Some(rest) = &self.rest else {
            return SizeHint::with_exact(buffered);
        };
        let h = rest.size_hint();
        let mut out = SizeHint::new();
        out.set_lower(h.lower().saturating_add(buffered));
        if let Some(upper) = h.upper() {
            out.set_upper(upper.saturating_add(buffered));
        }
        out
    }
}
