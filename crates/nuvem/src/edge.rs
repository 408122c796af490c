//! The public listener. Until the edge service lands (its own issue), it answers every
//! visitor with a clear 404 naming what is missing; it never exposes the AWS endpoint or
//! anything private.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use nuvem_aws::{Body, full_body};

pub struct Placeholder;

impl crate::listen::Handler for Placeholder {
    async fn handle(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        tracing::debug!(path = %req.uri().path(), "edge request with no distribution");
        let mut resp = Response::new(full_body(
            "<!doctype html><title>nuvem</title><h1>No distribution is configured</h1>\
             <p>This is nuvem's public edge. Declare a <code>[distribution]</code> in nuvem.toml to serve a site here.</p>\n",
        ));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        resp
    }
}
