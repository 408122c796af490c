//! Serving from the cache: range and conditional requests, HEAD, compression, behaviors,
//! methods, custom errors, default root object, unsafe-method invalidation, invalidations
//! across locations, and request coalescing — through the edge's public API in front of a
//! real HTTP origin.

mod support;

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use support::{Reply, TestOrigin, edge, runtime, send, send_body, simple};

const BODY: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

/// A request with headers against a cached `/r` (36 bytes, ETag "e1", a Last-Modified), and
/// the status, body and one header it must get.
#[track_caller]
fn check(headers: &[(&str, &str)], status: u16, body: &str, header: (&str, &str)) {
    let rt = runtime();
    let got = rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set(
            "/r",
            Reply::ok(
                &[
                    ("cache-control", "max-age=60"),
                    ("etag", "\"e1\""),
                    ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
                    ("content-type", "application/octet-stream"),
                ],
                BODY,
            ),
        );
        let e = edge(&simple(""), &o.url);
        send(&e, 0, "GET", "/r", &[]).await;
        let got = send(&e, 0, "GET", "/r", headers).await;
        assert_eq!(o.hits("/r"), 1, "served from the cache");
        got
    });
    assert_eq!(got.status, status);
    assert_eq!(String::from_utf8_lossy(&got.body), body);
    assert_eq!(got.header(header.0), header.1, "header {}", header.0);
}

#[test]
fn ranges() {
    check(
        &[("range", "bytes=0-3")],
        206,
        "0123",
        ("content-range", "bytes 0-3/36"),
    );
    check(
        &[("range", "bytes=30-")],
        206,
        "uvwxyz",
        ("content-range", "bytes 30-35/36"),
    );
    check(
        &[("range", "bytes=-4")],
        206,
        "wxyz",
        ("content-range", "bytes 32-35/36"),
    );
    check(
        &[("range", "bytes=30-100")],
        206,
        "uvwxyz",
        ("content-length", "6"),
    );
    check(
        &[("range", "bytes=36-")],
        416,
        "",
        ("content-range", "bytes */36"),
    );
    // Multipart and malformed ranges: the whole body.
    check(
        &[("range", "bytes=0-1,4-5")],
        200,
        BODY,
        ("content-length", "36"),
    );
    check(
        &[("range", "lines=1-2")],
        200,
        BODY,
        ("x-cache", "Hit from nuvem"),
    );
    // If-Range: the range only while the validator matches.
    check(
        &[("range", "bytes=0-1"), ("if-range", "\"e1\"")],
        206,
        "01",
        ("etag", "\"e1\""),
    );
    check(
        &[("range", "bytes=0-1"), ("if-range", "\"old\"")],
        200,
        BODY,
        ("etag", "\"e1\""),
    );
}

#[test]
fn conditionals() {
    check(&[("if-none-match", "\"e1\"")], 304, "", ("etag", "\"e1\""));
    check(
        &[("if-none-match", "\"x\", W/\"e1\"")],
        304,
        "",
        ("etag", "\"e1\""),
    );
    check(&[("if-none-match", "*")], 304, "", ("etag", "\"e1\""));
    check(&[("if-none-match", "\"x\"")], 200, BODY, ("etag", "\"e1\""));
    check(
        &[("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT")],
        304,
        "",
        ("content-length", ""),
    );
    check(
        &[("if-modified-since", "Tue, 20 Oct 2015 07:28:00 GMT")],
        200,
        BODY,
        ("content-length", "36"),
    );
    // If-None-Match wins over If-Modified-Since.
    check(
        &[
            ("if-none-match", "\"x\""),
            ("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ],
        200,
        BODY,
        ("etag", "\"e1\""),
    );
    check(
        &[("if-match", "\"x\"")],
        412,
        "",
        ("x-cache", "Hit from nuvem"),
    );
    check(
        &[("if-match", "\"e1\"")],
        200,
        BODY,
        ("x-cache", "Hit from nuvem"),
    );
    check(
        &[("if-unmodified-since", "Tue, 20 Oct 2015 07:28:00 GMT")],
        412,
        "",
        ("x-cache", "Hit from nuvem"),
    );
}

#[test]
fn cloudfront_headers_and_head() {
    check(&[], 200, BODY, ("x-amz-cf-pop", "edge"));
    check(&[], 200, BODY, ("via", "1.1 edge.nuvem (nuvem)"));
    check(&[], 200, BODY, ("age", "0"));
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set("/h", Reply::ok(&[("cache-control", "max-age=60")], BODY));
        let e = edge(&simple(""), &o.url);
        let r = send(&e, 0, "HEAD", "/h", &[]).await;
        assert_eq!(
            (r.status, r.body.len(), r.header("content-length")),
            (200, 0, "36")
        );
        // The HEAD miss fetched a GET, so the GET is a hit.
        let r = send(&e, 0, "GET", "/h", &[]).await;
        assert_eq!((r.x_cache(), &r.body[..]), ("Hit", BODY.as_bytes()));
        assert_eq!(o.hits("/h"), 1);
        assert!(!r.header("x-amz-cf-id").is_empty());
    });
}

fn decode(encoding: &str, body: &[u8]) -> String {
    let mut out = String::new();
    match encoding {
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_string(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::Decompressor::new(body, 4096)
                .read_to_string(&mut out)
                .unwrap();
        }
        _ => out = String::from_utf8(body.to_vec()).unwrap(),
    }
    out
}

/// Accept-Encoding, content type and size of the origin's body → the encoding served.
#[track_caller]
fn check_compression(accept: &str, content_type: &str, size: usize, behavior: &str, want: &str) {
    let rt = runtime();
    let text = "nuvem edge ".repeat(size / 11 + 1)[..size].to_string();
    let (got, hits) = rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set(
            "/c",
            Reply::ok(
                &[
                    ("cache-control", "max-age=60"),
                    ("content-type", content_type),
                    ("etag", "\"c\""),
                ],
                &text,
            ),
        );
        let e = edge(&simple(behavior), &o.url);
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(send(&e, 0, "GET", "/c", &[("accept-encoding", accept)]).await);
        }
        (got, o.hits("/c"))
    });
    assert_eq!(hits, 1);
    for r in &got {
        let enc = r.header("content-encoding");
        assert_eq!(enc, want, "content-encoding");
        assert_eq!(decode(enc, &r.body), text, "body round-trips");
        assert_eq!(r.header("content-length"), r.body.len().to_string());
        if !want.is_empty() {
            assert_eq!(
                r.header("etag"),
                "W/\"c\"",
                "a compressed representation's ETag is weak"
            );
            assert!(r.body.len() < size);
        }
    }
    // The origin was asked for identity: the edge compresses, never the origin.
    if content_type.starts_with("text")
        && (1000..=10_000_000).contains(&size)
        && behavior.is_empty()
    {
        assert!(
            got.iter()
                .all(|r| r.header("vary").contains("Accept-Encoding"))
        );
    }
}

#[test]
fn compression() {
    check_compression("gzip, deflate, br", "text/html", 5000, "", "br");
    check_compression("gzip", "text/html; charset=utf-8", 5000, "", "gzip");
    check_compression("br;q=0, gzip", "application/json", 5000, "", "gzip");
    check_compression("identity", "text/html", 5000, "", "");
    check_compression("gzip, br", "image/png", 5000, "", "");
    check_compression("gzip, br", "text/css", 999, "", "");
    check_compression("gzip, br", "text/css", 1000, "", "br");
    check_compression("gzip, br", "text/css", 5000, "compress = false", "");
}

/// One cached text response (its extra headers, its size) asked for with br/gzip: the
/// Content-Encoding the viewer gets and how many times `Vary` names Accept-Encoding.
#[track_caller]
fn check_transform(extra: &[(&str, &str)], size: usize, want_encoding: &str, want_vary: usize) {
    let rt = runtime();
    let text = "nuvem edge ".repeat(size / 11 + 1)[..size].to_string();
    let got = rt.block_on(async {
        let o = TestOrigin::start().await;
        let mut headers = vec![("content-type", "text/html")];
        headers.extend_from_slice(extra);
        if !extra.iter().any(|(k, _)| *k == "cache-control") {
            headers.push(("cache-control", "max-age=60"));
        }
        o.set("/t", Reply::ok(&headers, &text));
        let e = edge(&simple(""), &o.url);
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(send(&e, 0, "GET", "/t", &[("accept-encoding", "br, gzip")]).await);
        }
        got
    });
    for r in got {
        assert_eq!(
            r.header("content-encoding"),
            want_encoding,
            "{extra:?} {size}"
        );
        let vary = r
            .headers
            .get_all("vary")
            .iter()
            .flat_map(|v| {
                v.to_str()
                    .unwrap()
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .filter(|t| t == "accept-encoding")
            .count();
        assert_eq!(
            vary,
            want_vary,
            "{extra:?} {size}: Vary {:?}",
            r.headers.get_all("vary")
        );
    }
}

#[test]
fn compression_obeys_no_transform_and_varies_once() {
    check_transform(&[], 5000, "br", 1);
    // RFC 9110 §7.7: no-transform forbids a new content coding.
    check_transform(
        &[("cache-control", "max-age=60, no-transform")],
        5000,
        "",
        0,
    );
    // Too small to compress: it does not vary by Accept-Encoding.
    check_transform(&[], 500, "", 0);
    // The origin already says it: once, not twice.
    check_transform(&[("vary", "Accept-Encoding")], 5000, "br", 1);
    check_transform(&[("vary", "accept-encoding, Origin")], 5000, "br", 1);
}

#[test]
fn never_double_compressed() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(BODY.repeat(100).as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let gz2 = gz.clone();
        let o2 = TestOrigin::start_with(Some(Arc::new(move |_p: &http::request::Parts| {
            let mut r = Response::new(Full::new(Bytes::from(gz2.clone())));
            r.headers_mut()
                .insert("content-encoding", "gzip".parse().unwrap());
            r.headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
            Some(r)
        })))
        .await;
        drop(o);
        let e = edge(&simple(""), &o2.url);
        let r = send(&e, 0, "GET", "/g", &[("accept-encoding", "br, gzip")]).await;
        assert_eq!(r.header("content-encoding"), "gzip");
        assert_eq!(&r.body[..], &gz[..]);
    });
}

#[test]
fn behaviors_methods_and_protocols() {
    let rt = runtime();
    rt.block_on(async {
        let api = TestOrigin::start().await;
        let site = TestOrigin::start().await;
        api.set("/api/items", Reply::ok(&[("cache-control", "no-store")], "items"));
        site.set("/index.html", Reply::ok(&[], "home"));
        site.set("/a.jpg", Reply::ok(&[], "jpg"));
        site.set("/api/x.jpg", Reply::ok(&[], "not reached"));
        api.set("/api/x.jpg", Reply::ok(&[], "api jpg"));
        let toml = format!(
            "default_root_object = \"index.html\"\n\
             [[behaviors]]\npath_pattern = \"/api/*\"\norigin = \"{}\"\nallowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]\n\
             [[behaviors]]\npath_pattern = \"/secure/*\"\norigin = \"{}\"\nviewer_protocol_policy = \"redirect-to-https\"\n\
             [[behaviors]]\npath_pattern = \"/only/*\"\norigin = \"{}\"\nviewer_protocol_policy = \"https-only\"\n\
             [[behaviors]]\npath_pattern = \"default\"\norigin = \"{{origin}}\"\n",
            api.url, site.url, site.url
        );
        let e = edge(&toml, &site.url);
        assert_eq!(&send(&e, 0, "GET", "/", &[]).await.body[..], b"home");
        assert_eq!(&send(&e, 0, "GET", "/a.jpg", &[]).await.body[..], b"jpg");
        assert_eq!(&send(&e, 0, "GET", "/api/items", &[]).await.body[..], b"items");
        assert_eq!(&send(&e, 0, "GET", "/api/x.jpg", &[]).await.body[..], b"api jpg", "first match wins");
        let r = send(&e, 0, "POST", "/a.jpg", &[]).await;
        assert_eq!(r.status, 403, "POST is not allowed by the default behavior");
        let r = send_body(&e, 0, "POST", "/api/items", &[], "{}").await;
        assert_eq!((r.status, r.x_cache()), (200, "Miss"));
        let r = send(&e, 0, "GET", "/secure/x?y=1", &[("host", "shop.example")]).await;
        assert_eq!((r.status, r.header("location")), (301, "https://shop.example/secure/x?y=1"));
        assert_eq!(send(&e, 0, "GET", "/only/x", &[]).await.status, 403);
        assert_eq!(site.hits("/api/x.jpg"), 0);
    });
}

#[test]
fn unsafe_methods_invalidate() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set("/items/1", Reply::ok(&[("cache-control", "max-age=600")], "v1"));
        o.set("/items", Reply::status(201, &[("location", "/items/1")], "created"));
        let e = edge(&simple("allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]"), &o.url);
        assert_eq!(send(&e, 0, "GET", "/items/1", &[]).await.x_cache(), "Miss");
        assert_eq!(send(&e, 0, "GET", "/items/1", &[]).await.x_cache(), "Hit");
        // A POST whose Location names /items/1 invalidates it (RFC 9111 §4.4).
        assert_eq!(send_body(&e, 0, "POST", "/items", &[], "x").await.status, 201);
        assert_eq!(send(&e, 0, "GET", "/items/1", &[]).await.x_cache(), "Miss");
        assert_eq!(send(&e, 0, "GET", "/items/1", &[]).await.x_cache(), "Hit");
        // A PUT to the URL itself, too.
        o.set("/items/1", Reply::ok(&[("cache-control", "max-age=600")], "v2"));
        send_body(&e, 0, "PUT", "/items/1", &[], "v2").await;
        let r = send(&e, 0, "GET", "/items/1", &[]).await;
        assert_eq!((r.x_cache(), &r.body[..]), ("Miss", &b"v2"[..]));
    });
}

/// A write spoils the fills of the paths it names, and only those: 25 parallel fills of
/// other paths, with writes arriving while they are in flight, are all stored.
#[test]
fn writes_elsewhere_leave_fills_in_flight_stored() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        let slow = std::time::Duration::from_millis(400);
        for i in 0..25 {
            o.set(
                &format!("/media/{i}"),
                Reply::ok(&[("cache-control", "max-age=600")], "img").delayed(slow),
            );
        }
        o.set("/api/items/1", Reply::ok(&[("cache-control", "max-age=600")], "v1").delayed(slow));
        o.set("/api/items", Reply::status(201, &[("location", "/api/items/1")], "created"));
        o.set("/api/other", Reply::status(200, &[], "ok"));
        let toml = simple("allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]")
            + "[[locations]]\nname = \"A\"\n[[locations]]\nname = \"B\"\n";
        let e = edge(&toml, &o.url);
        let mut fills = Vec::new();
        for i in 0..25 {
            let e = e.clone();
            fills.push(tokio::spawn(async move {
                send(&e, i % 2, "GET", &format!("/media/{i}"), &[]).await
            }));
        }
        let e2 = e.clone();
        let item = tokio::spawn(async move { send(&e2, 0, "GET", "/api/items/1", &[]).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // Writes while the fills wait on the origin: to an unrelated path, and one whose
        // Location names /api/items/1.
        for _ in 0..5 {
            assert_eq!(send_body(&e, 0, "POST", "/api/other", &[], "x").await.status, 200);
        }
        assert_eq!(send_body(&e, 1, "POST", "/api/items", &[], "x").await.status, 201);
        for f in fills {
            assert_eq!(f.await.unwrap().x_cache(), "Miss");
        }
        assert_eq!(item.await.unwrap().x_cache(), "Miss");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Asked at the other location: the regional tier stored every fill.
        for i in 0..25 {
            let got = send(&e, (i + 1) % 2, "GET", &format!("/media/{i}"), &[]).await;
            assert_eq!(got.x_cache(), "Hit", "/media/{i} was stored");
            assert_eq!(o.hits(&format!("/media/{i}")), 1);
        }
        // The fill of the path the write named was spoiled: fetched again.
        assert_eq!(send(&e, 0, "GET", "/api/items/1", &[]).await.x_cache(), "Miss");
        assert_eq!(o.hits("/api/items/1"), 2);
    });
}

/// What reaches the origin on a cacheable request: one behavior, the viewer's request, and
/// the origin's view of its `Cookie`, one other header and its URI.
#[track_caller]
fn check_forwarded(behavior: &str, want_cookie: &str, want_header: &str, want_uri: &str) {
    let rt = runtime();
    let last = rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set("/p", Reply::ok(&[("cache-control", "max-age=60")], "page"));
        let e = edge(&simple(behavior), &o.url);
        let viewer = [
            ("cookie", "session=alice; theme=dark"),
            ("x-user", "alice"),
            ("authorization", "Bearer alice"),
        ];
        send(&e, 0, "GET", "/p?user=alice&lang=pt", &viewer).await;
        o.last.lock().unwrap().clone().expect("origin was asked")
    });
    let h = |n: &str| {
        last.headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(h("cookie"), want_cookie, "{behavior}: Cookie at the origin");
    assert_eq!(h("x-user"), want_header, "{behavior}: x-user at the origin");
    assert_eq!(
        last.uri.to_string(),
        want_uri,
        "{behavior}: URI at the origin"
    );
    if !behavior.contains("headers = \"all\"") {
        assert_eq!(
            h("authorization"),
            "",
            "{behavior}: Authorization at the origin"
        );
    }
    // The edge announces itself as a surrogate (W3C Edge Architecture), whatever the policy.
    assert_eq!(
        h("surrogate-capability"),
        "nuvem=\"Surrogate/1.0\"",
        "{behavior}: Surrogate-Capability at the origin"
    );
}

/// A cacheable request carries to the origin only what the cache key or the origin request
/// policy names (CloudFront's rule): one viewer's cookie or header can't personalise a
/// response that others get from the cache.
#[test]
fn origin_gets_only_what_key_and_origin_request_policy_name() {
    check_forwarded("", "", "", "/p?user=alice&lang=pt");
    check_forwarded("cache_key = { query_strings = \"none\" }", "", "", "/p");
    check_forwarded(
        "cache_key = { query_strings = [\"lang\"], cookies = [\"theme\"], headers = [\"X-User\"] }",
        "theme=dark",
        "alice",
        "/p?lang=pt",
    );
    check_forwarded(
        "cache_key = { query_strings = \"none\" }\norigin_request = { query_strings = [\"user\"], cookies = \"all\" }",
        "session=alice; theme=dark",
        "",
        "/p?user=alice",
    );
    check_forwarded(
        "origin_request = { headers = \"all\", cookies = \"all\", query_strings = \"all\" }",
        "session=alice; theme=dark",
        "alice",
        "/p?user=alice&lang=pt",
    );
}

/// A request that arrives after a write to its path does not follow a fill that started
/// before the write: it makes its own origin request.
#[test]
fn requests_after_a_write_do_not_follow_an_older_fill() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        let slow = std::time::Duration::from_millis(500);
        o.set("/r", Reply::ok(&[("cache-control", "max-age=600")], "old").delayed(slow));
        o.set("/items", Reply::status(201, &[("location", "/r")], "created"));
        let toml = simple("allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]");
        let e = edge(&toml, &o.url);
        let e1 = e.clone();
        let first = tokio::spawn(async move { send(&e1, 0, "GET", "/r", &[]).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(send_body(&e, 0, "POST", "/items", &[], "x").await.status, 201);
        let after = send(&e, 0, "GET", "/r", &[]).await;
        assert_eq!(first.await.unwrap().x_cache(), "Miss");
        assert_eq!(after.x_cache(), "Miss", "made its own origin request");
        assert_eq!(o.hits("/r"), 2);
    });
}

#[test]
fn custom_errors() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set("/404.html", Reply::ok(&[("content-type", "text/html")], "custom not found"));
        o.set("/spa.html", Reply::ok(&[("content-type", "text/html")], "app"));
        let toml = simple("")
            + "[[custom_error_responses]]\nerror_code = 404\nresponse_page_path = \"/404.html\"\nerror_caching_min_ttl = 30\n\
               [[custom_error_responses]]\nerror_code = 403\nresponse_page_path = \"/spa.html\"\nresponse_code = 200\n";
        let e = edge(&toml, &o.url);
        let r = send(&e, 0, "GET", "/missing", &[]).await;
        assert_eq!((r.status, &r.body[..]), (404, &b"custom not found"[..]));
        let r = send(&e, 0, "GET", "/missing", &[]).await;
        assert_eq!((r.status, r.x_cache()), (404, "Hit"), "the error is cached for its TTL");
        assert_eq!(o.hits("/missing"), 1);
        assert_eq!(o.hits("/404.html"), 1);
        o.set("/forbidden", Reply::status(403, &[], "no"));
        let r = send(&e, 0, "GET", "/forbidden", &[]).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"app"[..]));
    });
}

#[test]
fn invalidation_across_locations() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        for p in ["/images/a.png", "/images/b.png", "/index.html"] {
            o.set(p, Reply::ok(&[("cache-control", "max-age=600")], p));
        }
        let toml = simple("") + "[[locations]]\nname = \"GRU1\"\n[[locations]]\nname = \"GIG1\"\n";
        let e = edge(&toml, &o.url);
        for p in ["/images/a.png", "/images/b.png", "/index.html"] {
            assert_eq!(send(&e, 0, "GET", p, &[]).await.x_cache(), "Miss");
            // The second location misses its own cache but hits the regional tier.
            let r = send(&e, 1, "GET", p, &[]).await;
            assert_eq!(r.header("x-amz-cf-pop"), "GIG1");
            assert_eq!(send(&e, 1, "GET", p, &[]).await.x_cache(), "Hit");
        }
        assert_eq!(o.total.load(std::sync::atomic::Ordering::SeqCst), 3);
        let inv = e.invalidate("ref-1", vec!["/images/*".into()]).unwrap();
        assert_eq!(inv.status, "Completed");
        assert_eq!(
            e.invalidate("ref-1", vec!["/images/*".into()]).unwrap().id,
            inv.id,
            "idempotent"
        );
        assert!(e.invalidate("ref-1", vec!["/other".into()]).is_err());
        assert!(
            e.invalidate("ref-2", vec!["/a*b".into()]).is_err(),
            "* only at the end"
        );
        assert!(e.invalidate("ref-3", vec!["nope".into()]).is_err());
        assert_eq!(
            send(&e, 0, "GET", "/images/a.png", &[]).await.x_cache(),
            "Miss"
        );
        assert_eq!(
            send(&e, 1, "GET", "/images/a.png", &[]).await.x_cache(),
            "Hit"
        );
        assert_eq!(
            send(&e, 1, "GET", "/images/b.png", &[]).await.x_cache(),
            "Miss"
        );
        assert_eq!(
            send(&e, 0, "GET", "/index.html", &[]).await.x_cache(),
            "Hit"
        );
        assert_eq!(
            send(&e, 1, "GET", "/index.html", &[]).await.x_cache(),
            "Hit"
        );
        assert_eq!(o.hits("/images/a.png"), 2);
        assert_eq!(o.hits("/index.html"), 1);
        assert_eq!(e.list_invalidations().unwrap().len(), 1);
        assert_eq!(
            e.get_invalidation(&inv.id).unwrap().paths,
            vec!["/images/*"]
        );
    });
}

#[test]
fn coalescing_100_concurrent_misses_make_one_origin_request() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set(
            "/hot",
            Reply::ok(&[("cache-control", "max-age=60")], &BODY.repeat(1000)),
        );
        // Two locations: their misses meet in the regional tier.
        let toml = simple("") + "[[locations]]\nname = \"A\"\n[[locations]]\nname = \"B\"\n";
        let e = edge(&toml, &o.url);
        let mut tasks = Vec::new();
        for i in 0..100 {
            let e = e.clone();
            tasks.push(tokio::spawn(async move {
                send(&e, i % 2, "GET", "/hot", &[]).await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!((r.status, r.body.len()), (200, BODY.len() * 1000));
        }
        assert_eq!(o.hits("/hot"), 1);
    });
}

#[test]
fn coalesced_readers_stream_a_body_still_arriving() {
    let rt = runtime();
    rt.block_on(async {
        let gate = Arc::new(tokio::sync::Notify::new());
        let g = gate.clone();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        // An origin that sends the first chunk at once and the rest when the gate opens.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (g, h) = (g.clone(), h.clone());
                let svc = hyper::service::service_fn(move |_req| {
                    let (g, h) = (g.clone(), h.clone());
                    async move {
                        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let (tx, rx) = tokio::sync::mpsc::channel::<
                            Result<http_body::Frame<Bytes>, std::convert::Infallible>,
                        >(4);
                        tokio::spawn(async move {
                            tx.send(Ok(http_body::Frame::data(Bytes::from_static(b"first;"))))
                                .await
                                .unwrap();
                            g.notified().await;
                            tx.send(Ok(http_body::Frame::data(Bytes::from_static(b"rest"))))
                                .await
                                .unwrap();
                        });
                        let body = http_body_util::StreamBody::new(tokio_stream(rx));
                        let mut r = Response::new(body);
                        r.headers_mut()
                            .insert("cache-control", "max-age=60".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                tokio::spawn(
                    hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .into_owned(),
                );
            }
        });
        let e = edge(&simple(""), &url);
        let mut readers = Vec::new();
        for _ in 0..2 {
            let req = http::Request::get("/s")
                .body(nuvem_aws::empty_body())
                .unwrap();
            let mut body = e.location(0).unwrap().handle(req, false).await.into_body();
            let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(
                &first[..],
                b"first;",
                "the first chunk arrives before the rest exists"
            );
            readers.push(body);
        }
        gate.notify_one();
        for body in readers {
            let rest = body.collect().await.unwrap().to_bytes();
            assert_eq!(&rest[..], b"rest");
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    });
}

/// An mpsc receiver as a stream.
fn tokio_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}
