//! The bucket origin through the edge: keys from paths, the default root object, a website
//! bucket's index and error documents, custom error pages, S3's errors, and range and
//! conditional headers handed to GetObject. The object store is an in-memory `BucketReader`
//! here; the binary implements the same trait over the s3 service.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::{Response, StatusCode};
use nuvem_aws::{Body, BoxFuture, full_body};
use nuvem_edge::{BucketError, BucketReader, ObjectRequest, Origin, OriginProvider, Website};
use support::{edge_with, runtime, send};

#[derive(Default)]
struct Bucket {
    objects: HashMap<String, (&'static str, &'static str)>,
    website: Option<Website>,
    denied: Vec<String>,
    reads: Mutex<Vec<ObjectRequest>>,
}

impl BucketReader for Bucket {
    fn get_object(&self, req: ObjectRequest) -> BoxFuture<'_, Result<Response<Body>, BucketError>> {
        Box::pin(async move {
            self.reads.lock().unwrap().push(req.clone());
            if req.bucket != "site" {
                return Err(BucketError::NoSuchBucket);
            }
            if self.denied.contains(&req.key) {
                return Err(BucketError::AccessDenied);
            }
            let (ctype, body) = self.objects.get(&req.key).ok_or(BucketError::NoSuchKey)?;
            let mut r = Response::new(full_body(if req.head { "" } else { *body }));
            r.headers_mut()
                .insert("content-type", ctype.parse().unwrap());
            r.headers_mut().insert("etag", "\"abc\"".parse().unwrap());
            Ok(r)
        })
    }

    fn website(&self, _bucket: &str) -> BoxFuture<'_, Option<Website>> {
        Box::pin(async move { self.website.clone() })
    }
}

struct Provider(Arc<Bucket>);

impl OriginProvider for Provider {
    fn bucket_reader(&self) -> Option<Arc<dyn BucketReader>> {
        Some(self.0.clone())
    }
    fn api(&self, _name: &str) -> Option<Arc<dyn Origin>> {
        None
    }
}

fn bucket(website: bool) -> Arc<Bucket> {
    let mut b = Bucket::default();
    for (k, v) in [
        ("index.html", ("text/html", "home")),
        ("docs/index.html", ("text/html", "docs home")),
        ("404.html", ("text/html", "lost")),
        ("a b.txt", ("text/plain", "spaced")),
        ("secret.txt", ("text/plain", "secret")),
    ] {
        b.objects.insert(k.to_string(), v);
    }
    b.denied.push("secret.txt".into());
    if website {
        b.website = Some(Website {
            index_document: Some("index.html".into()),
            error_document: Some("404.html".into()),
        });
    }
    Arc::new(b)
}

/// A GET through a distribution whose default behavior is `origin`, and the status and
/// body it must get.
#[track_caller]
fn check(website: bool, origin: &str, extra: &str, path: &str, status: u16, body: &str) {
    let rt = runtime();
    let got = rt.block_on(async {
        let b = bucket(website);
        let toml = format!(
            "default_root_object = \"index.html\"\n[[behaviors]]\npath_pattern = \"default\"\norigin = \"{origin}\"\n{extra}"
        );
        let e = edge_with(&toml, "", &Provider(b));
        send(&e, 0, "GET", path, &[]).await
    });
    assert_eq!(got.status, status, "status for {path}");
    let text = String::from_utf8_lossy(&got.body);
    assert!(
        text == body || (status >= 500 && text.contains(body)),
        "body for {path}: {text:?}"
    );
}

#[test]
fn bucket_origin() {
    check(false, "bucket:site", "", "/", 200, "home");
    check(false, "bucket:site", "", "/index.html", 200, "home");
    check(false, "bucket:site", "", "/a%20b.txt", 200, "spaced");
    check(
        false,
        "bucket:site",
        "",
        "/docs/",
        404,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
    );
    check(
        false,
        "bucket:site",
        "",
        "/secret.txt",
        403,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
    );
    check(
        false,
        "bucket:other",
        "",
        "/index.html",
        404,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>",
    );
    // A website bucket: index documents for folders, its error document for missing keys.
    check(true, "bucket:site", "", "/docs/", 200, "docs home");
    check(true, "bucket:site", "", "/nope", 404, "lost");
    // A distribution's custom error response for S3's 403 (the SPA pattern).
    let spa = "[[custom_error_responses]]\nerror_code = 403\nresponse_page_path = \"/index.html\"\nresponse_code = 200\n";
    check(false, "bucket:site", spa, "/secret.txt", 200, "home");
    // An API origin that this build does not provide: 502, not a failed start.
    check(false, "api:shop", "", "/x", 502, "502 Bad Gateway");
}

#[test]
fn get_object_gets_what_it_needs() {
    let rt = runtime();
    rt.block_on(async {
        let b = bucket(false);
        let toml = "[[behaviors]]\npath_pattern = \"default\"\norigin = \"bucket:site\"\n";
        let e = edge_with(toml, "", &Provider(b.clone()));
        let r = send(
            &e,
            0,
            "GET",
            "/index.html",
            &[("range", "bytes=0-1"), ("if-none-match", "\"zzz\"")],
        )
        .await;
        assert_eq!((r.status, &r.body[..]), (206, &b"ho"[..]));
        let r = send(&e, 0, "HEAD", "/index.html", &[]).await;
        assert_eq!((r.status, r.x_cache()), (200, "Hit"));
        let reads = b.reads.lock().unwrap();
        assert_eq!(reads.len(), 1, "one read, then the cache");
        // The cacheable fetch reads the whole object; the cache answers ranges itself.
        assert!(!reads[0].head && reads[0].headers.get("range").is_none());
        assert_eq!(reads[0].key, "index.html");
        let _ = StatusCode::OK;
    });
}
