//! RFC 9111 as CloudFront applies it, through the edge's public API in front of a real HTTP
//! origin: what is stored, for how long, revalidation, Vary, cache keys, TTL bounds, and the
//! statuses and headers that forbid or allow reuse. Staleness is made with `Age` headers,
//! never with sleeps.

mod support;

use support::{Reply, TestOrigin, edge, runtime, send, simple};

/// One origin reply for `/x`, a behavior configuration, then requests (their headers) and the
/// `X-Cache` each must get, and how many requests the origin must have seen.
#[track_caller]
fn check(
    origin: Reply,
    behavior: &str,
    requests: &[&[(&str, &str)]],
    x_cache: &[&str],
    origin_hits: usize,
) {
    let rt = runtime();
    let (got, hits) = rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set("/x", origin);
        let e = edge(&simple(behavior), &o.url);
        let mut got = Vec::new();
        for h in requests {
            got.push(send(&e, 0, "GET", "/x", h).await.x_cache().to_string());
        }
        (got, o.hits("/x"))
    });
    assert_eq!(got, x_cache, "X-Cache sequence");
    assert_eq!(hits, origin_hits, "origin requests");
}

const TWO: &[&[(&str, &str)]] = &[&[], &[]];

fn future_date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(secs))
}

#[test]
fn storing_and_freshness() {
    let ok = Reply::ok;
    check(
        ok(&[("cache-control", "max-age=60")], "a"),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    check(ok(&[], "a"), "", TWO, &["Miss", "Hit"], 1); // default TTL, no heuristics
    check(
        ok(&[("cache-control", "no-store")], "a"),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(&[("cache-control", "private, max-age=60")], "a"),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(&[("cache-control", "s-maxage=60, max-age=0")], "a"),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    check(
        ok(&[("cache-control", "max-age=0")], "a"),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    // An upstream Age counts: 100 s old with a 60 s lifetime is stale on arrival.
    check(
        ok(&[("cache-control", "max-age=60"), ("age", "100")], "a"),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(&[("cache-control", "max-age=600"), ("age", "100")], "a"),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    // An Age that is not one non-negative integer is not trusted: stale on arrival, where
    // reading it as 0 would serve a response far older than its origin meant.
    for age in [
        "7200, 0",
        "0, 0",
        "abc",
        "-7200",
        "7200.0",
        "7200;foo=1",
        "",
    ] {
        check(
            ok(&[("cache-control", "max-age=3600"), ("age", age)], "a"),
            "",
            TWO,
            &["Miss", "Miss"],
            2,
        );
    }
    check(
        ok(
            &[
                ("cache-control", "max-age=3600"),
                ("age", "0"),
                ("age", "0"),
            ],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(&[("cache-control", "max-age=3600"), ("age", " 10 ")], "a"),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    // must-understand: a status the cache knows overrides no-store; an unknown one is never
    // stored (RFC 9111 §5.2.2.3).
    check(
        ok(
            &[("cache-control", "max-age=3600, must-understand, no-store")],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    check(
        Reply::status(
            599,
            &[("cache-control", "max-age=3600, must-understand")],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    // Surrogate-Control (untargeted) governs this cache ahead of Cache-Control.
    check(
        ok(
            &[
                ("cache-control", "max-age=3600"),
                ("surrogate-control", "max-age=0"),
            ],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(
            &[
                ("cache-control", "no-store"),
                ("surrogate-control", "max-age=60"),
            ],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    check(
        ok(
            &[
                ("cache-control", "no-store"),
                ("surrogate-control", "max-age=60;esi"),
            ],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    // Directives targeted at nuvem (the token it announces in Surrogate-Capability) apply,
    // and take precedence over untargeted ones; those for other devices do not.
    for (surrogate, x_cache, hits) in [
        ("max-age=60;nuvem", ["Miss", "Hit"], 1),
        ("max-age=60 ; NUVEM", ["Miss", "Hit"], 1),
        ("max-age=0, max-age=60;nuvem", ["Miss", "Hit"], 1),
        ("max-age=60, no-store;nuvem", ["Miss", "Miss"], 2),
        ("max-age=60;esi, max-age=0;nuvem", ["Miss", "Miss"], 2),
        ("max-age=60;nuvem-2", ["Miss", "Miss"], 2),
    ] {
        check(
            ok(
                &[
                    ("cache-control", "no-store"),
                    ("surrogate-control", surrogate),
                ],
                "a",
            ),
            "",
            TWO,
            &x_cache,
            hits,
        );
    }
    // Expires: past or invalid means stale; future means fresh.
    check(
        ok(&[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")], "a"),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(ok(&[("expires", "0")], "a"), "", TWO, &["Miss", "Miss"], 2);
    let later = future_date(3600);
    check(
        ok(&[("expires", &later)], "a"),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    // max-age wins over Expires.
    check(
        ok(&[("expires", &later), ("cache-control", "max-age=0")], "a"),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    // RFC 9213: CDN-Cache-Control governs this cache ahead of Cache-Control.
    check(
        ok(
            &[
                ("cdn-cache-control", "max-age=60"),
                ("cache-control", "no-store"),
            ],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    check(
        ok(
            &[
                ("cdn-cache-control", "no-store"),
                ("cache-control", "max-age=60"),
            ],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    // RFC 9213 §2.1: an invalid CDN-Cache-Control (not a structured-field Dictionary) is
    // ignored as a whole, and Cache-Control governs.
    for invalid in [
        "max-age=60,",
        "MAX-AGE=60",
        "max-age=60 public",
        "max-age=\"60",
    ] {
        check(
            ok(
                &[
                    ("cdn-cache-control", invalid),
                    ("cache-control", "no-store"),
                ],
                "a",
            ),
            "",
            TWO,
            &["Miss", "Miss"],
            2,
        );
        check(
            ok(
                &[
                    ("cdn-cache-control", invalid),
                    ("cache-control", "max-age=60"),
                ],
                "a",
            ),
            "",
            TWO,
            &["Miss", "Hit"],
            1,
        );
    }
    // Vary: * is never reused; Set-Cookie is not shared unless cookies are in the key.
    check(
        ok(&[("cache-control", "max-age=60"), ("vary", "*")], "a"),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(
            &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
            "a",
        ),
        "",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(
            &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
            "a",
        ),
        "cache_key = { cookies = \"all\" }",
        TWO,
        &["Miss", "Hit"],
        1,
    );
}

#[test]
fn ttl_bounds() {
    let ok = Reply::ok;
    // A positive min TTL overrides max-age=0, no-cache, no-store and private (CloudFront).
    check(
        ok(&[("cache-control", "max-age=0")], "a"),
        "min_ttl = 60",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    check(
        ok(&[("cache-control", "no-store")], "a"),
        "min_ttl = 60",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    check(
        ok(&[("cache-control", "private")], "a"),
        "min_ttl = 60",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    // max TTL caps the origin's max-age: 1000 s capped to 10 s, and 500 s old.
    check(
        ok(&[("cache-control", "max-age=1000"), ("age", "500")], "a"),
        "max_ttl = 10\ndefault_ttl = 5",
        TWO,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(&[("cache-control", "max-age=1000"), ("age", "500")], "a"),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
    // The default TTL applies without explicit freshness; 0 means revalidate every time.
    check(ok(&[], "a"), "default_ttl = 0", TWO, &["Miss", "Miss"], 2);
}

#[test]
fn statuses() {
    let st = Reply::status;
    for code in [203, 204, 300, 301, 308, 404, 405, 410, 414] {
        check(st(code, &[], ""), "", TWO, &["Miss", "Hit"], 1);
    }
    // Not heuristically cacheable: only with explicit freshness.
    for code in [302, 307, 500, 503] {
        check(st(code, &[], ""), "", TWO, &["Miss", "Miss"], 2);
    }
    check(
        st(302, &[("cache-control", "max-age=60")], ""),
        "",
        TWO,
        &["Miss", "Hit"],
        1,
    );
}

#[test]
fn authorization() {
    let auth: &[&[(&str, &str)]] = &[
        &[("authorization", "Bearer x")],
        &[("authorization", "Bearer x")],
    ];
    let ok = Reply::ok;
    check(
        ok(&[("cache-control", "max-age=60")], "a"),
        "",
        auth,
        &["Miss", "Miss"],
        2,
    );
    check(
        ok(&[("cache-control", "public, max-age=60")], "a"),
        "",
        auth,
        &["Miss", "Hit"],
        1,
    );
    check(
        ok(&[("cache-control", "s-maxage=60")], "a"),
        "",
        auth,
        &["Miss", "Hit"],
        1,
    );
    check(
        ok(&[("cache-control", "must-revalidate, max-age=60")], "a"),
        "",
        auth,
        &["Miss", "Hit"],
        1,
    );
}

#[test]
fn revalidation() {
    let ok = Reply::ok;
    // Stale with a validator: a conditional request, the origin's 304 refreshes the entry.
    let stale_etag = ok(
        &[
            ("cache-control", "max-age=60"),
            ("age", "100"),
            ("etag", "\"v1\""),
        ],
        "a",
    );
    check(stale_etag, "", TWO, &["Miss", "RefreshHit"], 2);
    // no-cache: stored, revalidated before each reuse.
    let no_cache = ok(&[("cache-control", "no-cache"), ("etag", "\"v1\"")], "a");
    check(
        no_cache,
        "",
        &[&[], &[], &[]],
        &["Miss", "RefreshHit", "RefreshHit"],
        3,
    );
}

#[test]
fn refresh_updates_stored_headers() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set(
            "/x",
            Reply::ok(
                &[
                    ("cache-control", "max-age=60"),
                    ("age", "100"),
                    ("etag", "\"v1\""),
                    ("x-v", "1"),
                    ("content-md5", "rL0Y20zC+Fzt72VPzMSk2A=="),
                ],
                "body",
            ),
        );
        let e = edge(&simple(""), &o.url);
        assert_eq!(send(&e, 0, "GET", "/x", &[]).await.x_cache(), "Miss");
        // The 304 carries a new lifetime and a new header value: both are kept.
        o.set(
            "/x",
            Reply::ok(
                &[
                    ("cache-control", "max-age=600"),
                    ("etag", "\"v1\""),
                    ("x-v", "2"),
                    ("content-md5", "N7UdGUp1E+RbVvZSTy1R8g=="),
                ],
                "ignored",
            ),
        );
        let r = send(&e, 0, "GET", "/x", &[]).await;
        assert_eq!(
            (r.x_cache(), r.header("x-v"), &r.body[..]),
            ("RefreshHit", "2", &b"body"[..])
        );
        // What describes the stored body (its digest, its validator) is not updated.
        assert_eq!(r.header("content-md5"), "rL0Y20zC+Fzt72VPzMSk2A==");
        let r = send(&e, 0, "GET", "/x", &[]).await;
        assert_eq!((r.x_cache(), r.header("x-v")), ("Hit", "2"));
        assert_eq!(o.hits("/x"), 2);
        // The conditional request carried the stored validator.
        let last = o.last.lock().unwrap().clone().unwrap();
        assert_eq!(last.headers.get("if-none-match").unwrap(), "\"v1\"");
    });
}

#[test]
fn vary_and_cache_keys() {
    let ok = Reply::ok;
    let vary = ok(&[("cache-control", "max-age=60"), ("vary", "X-Lang")], "a");
    check(
        vary,
        "",
        &[
            &[("x-lang", "pt")],
            &[("x-lang", "en")],
            &[("x-lang", "pt")],
            &[],
        ],
        &["Miss", "Miss", "Hit", "Miss"],
        3,
    );
    // Selecting values are compared as lists: lines combined, members trimmed; language
    // tags without case. Another member is another variant.
    check(
        ok(
            &[
                ("cache-control", "max-age=60"),
                ("vary", "Foo, Accept-Language"),
            ],
            "a",
        ),
        "",
        &[
            &[("foo", "1, 2"), ("accept-language", "en, de")],
            &[("foo", "1"), ("foo", "2"), ("accept-language", "en,de")],
            &[("foo", " 1 ,2 "), ("accept-language", "eN ,  De")],
            &[("foo", "1, 3"), ("accept-language", "en, de")],
            &[("foo", "1, 2"), ("accept-language", "de, en")],
        ],
        &["Miss", "Hit", "Hit", "Miss", "Miss"],
        3,
    );
    // Headers in the cache key split the cache without needing Vary.
    check(
        ok(&[("cache-control", "max-age=60")], "a"),
        "cache_key = { headers = [\"X-Device\"] }",
        &[
            &[("x-device", "a")],
            &[("x-device", "b")],
            &[("x-device", "a")],
        ],
        &["Miss", "Miss", "Hit"],
        2,
    );
}

#[track_caller]
fn check_query(behavior: &str, uris: &[&str], x_cache: &[&str]) {
    let rt = runtime();
    let got = rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set("/q", Reply::ok(&[("cache-control", "max-age=60")], "q"));
        let e = edge(&simple(behavior), &o.url);
        let mut got = Vec::new();
        for u in uris {
            got.push(send(&e, 0, "GET", u, &[]).await.x_cache().to_string());
        }
        got
    });
    assert_eq!(got, x_cache);
}

#[test]
fn query_strings_in_the_key() {
    check_query(
        "",
        &["/q?a=1", "/q?a=2", "/q?a=1", "/q?b=2&a=1", "/q?a=1&b=2"],
        &["Miss", "Miss", "Hit", "Miss", "Hit"],
    );
    let none = "cache_key = { query_strings = \"none\" }";
    check_query(none, &["/q?a=1", "/q?a=2", "/q"], &["Miss", "Hit", "Hit"]);
    let only = "cache_key = { query_strings = [\"v\"] }";
    check_query(
        only,
        &["/q?v=1&x=1", "/q?v=1&x=2", "/q?v=2"],
        &["Miss", "Hit", "Miss"],
    );
}

#[test]
fn stale_if_error_and_origin_failures() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set(
            "/sie",
            Reply::ok(
                &[
                    ("cache-control", "max-age=1, stale-if-error=600"),
                    ("age", "5"),
                ],
                "old",
            ),
        );
        o.set(
            "/mr",
            Reply::ok(
                &[
                    (
                        "cache-control",
                        "max-age=1, stale-if-error=600, must-revalidate",
                    ),
                    ("age", "5"),
                ],
                "old",
            ),
        );
        let e = edge(&simple(""), &o.url);
        assert_eq!(send(&e, 0, "GET", "/sie", &[]).await.status, 200);
        assert_eq!(send(&e, 0, "GET", "/mr", &[]).await.status, 200);
        // The origin now fails with 500: the stale copy stands in, unless must-revalidate.
        o.set("/sie", Reply::status(500, &[], "boom"));
        o.set("/mr", Reply::status(500, &[], "boom"));
        let r = send(&e, 0, "GET", "/sie", &[]).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"old"[..]));
        assert_eq!(send(&e, 0, "GET", "/mr", &[]).await.status, 500);
    });
    // Without stale-if-error, CloudFront still serves an expired object when the origin
    // fails — not when the origin asked for revalidation every time.
    for (cc, want) in [
        ("max-age=1", 200),
        ("max-age=1, public", 200),
        ("max-age=1, must-revalidate", 500),
        ("max-age=1, proxy-revalidate", 500),
        ("s-maxage=1", 500),
        ("no-cache", 500),
    ] {
        let (status, body) = rt.block_on(async {
            let o = TestOrigin::start().await;
            o.set(
                "/d",
                Reply::ok(
                    &[("cache-control", cc), ("age", "5"), ("etag", "\"v1\"")],
                    "old",
                ),
            );
            let e = edge(&simple(""), &o.url);
            assert_eq!(send(&e, 0, "GET", "/d", &[]).await.status, 200);
            o.set("/d", Reply::status(500, &[], "boom"));
            let r = send(&e, 0, "GET", "/d", &[]).await;
            (r.status, r.body)
        });
        assert_eq!(status, want, "{cc}");
        if want == 200 {
            assert_eq!(&body[..], b"old", "{cc}");
        }
    }
    // A 502 from the origin (a gateway in front of it that lost its backend) counts too.
    rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set(
            "/gone",
            Reply::ok(&[("cache-control", "max-age=1"), ("age", "5")], "old"),
        );
        let e = edge(&simple(""), &o.url);
        assert_eq!(send(&e, 0, "GET", "/gone", &[]).await.status, 200);
        o.set("/gone", Reply::status(502, &[], "bad gateway"));
        let r = send(&e, 0, "GET", "/gone", &[]).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"old"[..]));
    });
    rt.block_on(async {
        // An origin that refuses connections: 502 from the edge.
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let e = edge(&simple(""), &dead);
        let r = send(&e, 0, "GET", "/x", &[]).await;
        assert_eq!((r.status, r.header("x-cache")), (502, "Error from nuvem"));
    });
}

#[test]
fn stale_while_revalidate_serves_stale_then_refreshes() {
    let rt = runtime();
    rt.block_on(async {
        let o = TestOrigin::start().await;
        o.set(
            "/x",
            Reply::ok(
                &[
                    ("cache-control", "max-age=1, stale-while-revalidate=600"),
                    ("age", "5"),
                ],
                "old",
            ),
        );
        let e = edge(&simple(""), &o.url);
        assert_eq!(send(&e, 0, "GET", "/x", &[]).await.x_cache(), "Miss");
        let r = send(&e, 0, "GET", "/x", &[]).await;
        assert_eq!(
            (r.x_cache(), &r.body[..]),
            ("Hit", &b"old"[..]),
            "stale served at once"
        );
        // The background refresh reaches the origin.
        for _ in 0..200 {
            if o.hits("/x") == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(o.hits("/x"), 2);
    });
}
