//! Per-request cost of the default WebACL on a benign cached GET, a benign form POST and
//! attack requests. A hand-timed loop, outside CI's test path:
//! `cargo run --release -p nuvem-waf --example waf_bench`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use nuvem_waf::{Request, WebAcl};

fn main() {
    let acl = WebAcl::default_for_distribution();
    let headers: &[(&str, &[u8])] = &[
        ("Host", b"shop.example.com"),
        (
            "User-Agent",
            b"Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0",
        ),
        ("Accept", b"text/html,*/*;q=0.8"),
        ("Accept-Language", b"en-US,en;q=0.9"),
        ("Cookie", b"session=abc123; theme=dark"),
    ];
    let cases: &[(&str, &str, &str, &[u8])] = &[
        ("benign cached GET", "/assets/app.js", "", b""),
        (
            "benign search GET",
            "/search",
            "q=cheap+flights+to+lisbon&page=2",
            b"",
        ),
        (
            "benign form POST",
            "/api/items",
            "",
            b"name=Ana+O%27Brien&email=ana%40example.com&comment=hello+world",
        ),
        (
            "attack SQLi",
            "/search",
            "q=1%27+UNION+SELECT+password+FROM+users--",
            b"",
        ),
        (
            "attack XSS",
            "/search",
            "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            b"",
        ),
    ];
    for (name, path, query, body) in cases {
        let req = Request {
            method: if body.is_empty() { "GET" } else { "POST" },
            path,
            query,
            headers,
            body,
            body_oversize: false,
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            at: Instant::now(),
        };
        let n = 100_000u32;
        let start = Instant::now();
        let mut blocked = 0;
        for _ in 0..n {
            blocked += usize::from(acl.evaluate(&req).is_blocked());
        }
        let per = start.elapsed() / n;
        println!(
            "{name:<20} {per:>10.2?} per request (blocked: {})",
            blocked > 0
        );
    }
}
