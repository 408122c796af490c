//! Per-request CPU cost of nuvem's default WebACL (what a distribution gets without `[waf]`)
//! on benign and attack requests, and of the SQLi + XSS tokenizers per value.
//! `cd benches/waf-cost && cargo bench`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use nuvem_waf::{Request, WebAcl, is_sqli, is_xss};

/// Headers of an ordinary browser request.
const HEADERS: &[(&str, &[u8])] = &[
    ("Host", b"shop.example.com"),
    (
        "User-Agent",
        b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    ),
    ("Accept", b"text/html,application/xhtml+xml,*/*;q=0.8"),
    ("Accept-Language", b"en-US,en;q=0.9,pt;q=0.8"),
    ("Accept-Encoding", b"gzip, deflate, br"),
    ("Referer", b"https://shop.example.com/"),
    ("Cookie", b"session=abc123def456; theme=dark; consent=yes"),
];

/// (name, method, path, query, content type, body)
const CASES: &[(&str, &str, &str, &str, &str, &[u8])] = &[
    ("benign cached GET", "GET", "/assets/app.js", "", "", b""),
    (
        "benign search GET",
        "GET",
        "/search",
        "q=cheap+flights+to+lisbon&page=2&sort=price",
        "",
        b"",
    ),
    (
        "benign form POST",
        "POST",
        "/api/items",
        "",
        "application/x-www-form-urlencoded",
        b"name=Ana+O%27Brien&email=ana%40example.com&comment=I%27d+like+to+select+the+blue+one%2C+please",
    ),
    (
        "benign JSON POST",
        "POST",
        "/api/items",
        "",
        "application/json",
        br#"{"title":"Rua Augusta 123","tags":["a","b"],"price":12.5,"note":"drop me a line"}"#,
    ),
    (
        "attack SQLi",
        "GET",
        "/search",
        "q=1%27+UNION+SELECT+password+FROM+users--",
        "",
        b"",
    ),
    (
        "attack XSS",
        "GET",
        "/search",
        "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "",
        b"",
    ),
    (
        "attack command injection",
        "POST",
        "/api/items",
        "",
        "application/x-www-form-urlencoded",
        b"host=example.com%3B+cat+%2Fetc%2Fpasswd",
    ),
];

fn per_request(c: &mut Criterion) {
    let acl = WebAcl::default_for_distribution();
    let mut group = c.benchmark_group("default WebACL");
    for (name, method, path, query, ctype, body) in CASES {
        let mut headers: Vec<(&str, &[u8])> = HEADERS.to_vec();
        if !ctype.is_empty() {
            headers.push(("Content-Type", ctype.as_bytes()));
        }
        let req = Request {
            method,
            path,
            query,
            headers: &headers,
            body,
            body_oversize: false,
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            at: Instant::now(),
        };
        let attack = name.starts_with("attack");
        assert_eq!(
            acl.evaluate(&req).is_blocked(),
            attack,
            "{name}: the default WebACL must block attacks and pass the rest"
        );
        group.bench_function(*name, |b| b.iter(|| acl.evaluate(black_box(&req))));
    }
    // The same cached GET from a browser never seen before: every header and cookie value is
    // new, so no remembered verdict helps (what a flood of varied requests costs).
    let mut n = 0u64;
    group.bench_function("benign cached GET, unseen values", |b| {
        b.iter(|| {
            n += 1;
            let ua = format!(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.{n} Safari/537.36"
            );
            let referer = format!("https://shop.example.com/page/{n}");
            let cookie = format!("session=abc{n}def; theme=dark; consent=yes");
            let headers: [(&str, &[u8]); 7] = [
                ("Host", b"shop.example.com"),
                ("User-Agent", ua.as_bytes()),
                ("Accept", b"text/html,application/xhtml+xml,*/*;q=0.8"),
                ("Accept-Language", b"en-US,en;q=0.9,pt;q=0.8"),
                ("Accept-Encoding", b"gzip, deflate, br"),
                ("Referer", referer.as_bytes()),
                ("Cookie", cookie.as_bytes()),
            ];
            let req = Request {
                method: "GET",
                path: "/assets/app.js",
                query: "",
                headers: &headers,
                body: b"",
                body_oversize: false,
                client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
                at: Instant::now(),
            };
            acl.evaluate(black_box(&req))
        })
    });
    group.finish();
}

/// Values as they reach the tokenizers (decoded), benign and hostile.
const VALUES: &[&str] = &[
    "cheap flights to lisbon",
    "O'Brien",
    "Rua Augusta 123, 1100-048 Lisboa",
    "I'd like to select the blue one",
    "1' OR '1'='1",
    "1 UNION SELECT username, password FROM users",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "https://shop.example.com/",
];

fn per_value(c: &mut Criterion) {
    let mut group = c.benchmark_group("libinjection SQLi + XSS per value");
    for v in VALUES {
        group.bench_function(*v, |b| {
            b.iter(|| is_sqli(black_box(v.as_bytes())) | is_xss(black_box(v.as_bytes())))
        });
    }
    group.finish();
}

criterion_group!(benches, per_request, per_value);
criterion_main!(benches);
