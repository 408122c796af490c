//! The console in headless Chromium (chromedriver + fantoccini, as the example site's browser
//! test): sign in with the form, create a table and put an item, turn on its Time to Live and
//! give it provisioned capacity, create a bucket and upload a file, invoke a function and read
//! its log line, see a request the WAF blocked at the edge counted on the overview, the WAF page
//! and the edge page (per cache behavior), set a WebACL rule group to Count and remove another
//! (and see WAF refuse a save with a stale lock token). What the page did is checked again
//! with the SDKs or at the edge.
//! A screenshot of the overview is saved under the target dir (`console-overview.png`).
//!
//! Needs `chromium` and `chromedriver`; skipped without them unless `NUVEM_TEST_STRICT=1`.

use std::time::Duration;

use fantoccini::{Client, Locator};
use nuvem_testkit::{Nuvem, Options};

use super::meusite_browser::{Driver, browser, find_in_path, text, until};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

const GREETER: &str = r#"
def handler(event, context):
    print("console says hello to", event.get("who"))
    return {"greeting": "hello " + str(event.get("who"))}
"#;

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Sets a textarea's value at once (typing JSON key by key is slow and auto-indents nothing,
/// but the value is what matters).
async fn set_value(c: &Client, css: &str, value: &str) {
    c.execute(
        "document.querySelector(arguments[0]).value = arguments[1];",
        vec![css.into(), value.into()],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_headless_chromium() {
    let (Some(chromium), Some(chromedriver)) = (
        find_in_path(&["chromium", "chromium-browser"]),
        find_in_path(&["chromedriver"]),
    ) else {
        nuvem_testkit::missing_tool(
            "console_in_headless_chromium",
            "needs `chromium` and `chromedriver` on PATH (Debian: apt-get install chromium chromium-driver)",
        );
        return;
    };
    let src = crate::shared_dir();
    std::fs::write(src.path().join("index.py"), GREETER).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            src.path().join("index.py"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let (origin, _hits) = crate::edge::origin().await;
    let manifest = format!(
        "[[functions]]\nname = \"greeter\"\nruntime = \"python3.12\"\nhandler = \"index.handler\"\ncode = {:?}\ntimeout_seconds = 30\n\n\
         [[apis]]\nname = \"hello\"\nroutes = [{{ key = \"GET /hello\", function = \"greeter\" }}]\n\n\
         [[distribution.behaviors]]\npath_pattern = \"default\"\norigin = \"{origin}\"\n",
        src.path().display().to_string()
    );
    let n = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let api = n.api_url.clone();
    let file = n.dir().join("hello.txt");
    std::fs::write(&file, "hello from the browser\n").unwrap();
    let driver = Driver::start(&chromedriver);
    let c = browser(&driver, &chromium, &n.dir().join("chromium-profile")).await;

    // Without a session the console sends the browser to its sign-in page; a wrong secret is
    // refused there; the right one opens the overview.
    c.goto(&format!("{api}/_nuvem/console/")).await.unwrap();
    until(&c, "location.pathname === '/_nuvem/console/signin'").await;
    fill(&c, "#access-key", "test").await;
    fill(&c, "#secret-key", "wrong").await;
    click(&c, "#signin-button").await;
    until(
        &c,
        "document.querySelector('#signin-error').textContent.includes('not valid')",
    )
    .await;
    fill(&c, "#secret-key", "test").await;
    click(&c, "#signin-button").await;
    until(
        &c,
        "(document.querySelector('#health-status') || {}).textContent?.startsWith('ok')",
    )
    .await;

    // Tables: create one, put an item as DynamoDB JSON, see it in the scan.
    c.goto(&format!("{api}/_nuvem/console/#/tables"))
        .await
        .unwrap();
    until(&c, "!!document.querySelector('#create-table-button')").await;
    fill(&c, "#new-table-name", "notes").await;
    click(&c, "#create-table-button").await;
    until(&c, "(document.querySelector('#table-name') || {}).textContent === 'notes' && !!document.querySelector('#put-item')").await;
    set_value(
        &c,
        "#item-editor",
        r#"{"pk": {"S": "n1"}, "text": {"S": "hello from the console"}}"#,
    )
    .await;
    click(&c, "#put-item").await;
    until(
        &c,
        "document.querySelector('#items').textContent.includes('hello from the console')",
    )
    .await;
    let got = n
        .dynamodb()
        .get_item()
        .table_name("notes")
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("n1".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.item()
            .and_then(|i| i.get("text"))
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("hello from the console")
    );

    // A second item, deleted from its row (the page asks first); then a scratch table deleted.
    set_value(
        &c,
        "#item-editor",
        r#"{"pk": {"S": "n2"}, "text": {"S": "short-lived"}}"#,
    )
    .await;
    click(&c, "#put-item").await;
    until(
        &c,
        "document.querySelector('#items').textContent.includes('short-lived')",
    )
    .await;
    c.execute(
        "[...document.querySelectorAll('#items tr')].find(r => r.textContent.includes('short-lived')).querySelector('.delete-item').click();",
        vec![],
    )
    .await
    .unwrap();
    c.accept_alert().await.unwrap();
    until(&c, "!document.querySelector('#items').textContent.includes('short-lived') && document.querySelector('#items').textContent.includes('hello from the console')").await;
    let gone = n
        .dynamodb()
        .get_item()
        .table_name("notes")
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("n2".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(gone.item().is_none());

    // The table's settings: Time to Live on an attribute (UpdateTimeToLive), then provisioned
    // capacity (UpdateTable); the page shows each change, and DynamoDB has it.
    until(
        &c,
        "document.querySelector('#ttl-status')?.textContent === 'DISABLED'",
    )
    .await;
    fill(&c, "#ttl-attribute", "expires").await;
    click(&c, "#toggle-ttl").await;
    until(
        &c,
        "document.querySelector('#ttl-status')?.textContent === 'ENABLED (expires)' && document.querySelector('#toggle-ttl').textContent === 'Disable TTL'",
    )
    .await;
    let ttl = n
        .dynamodb()
        .describe_time_to_live()
        .table_name("notes")
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
    assert_eq!(ttl.attribute_name(), Some("expires"));
    c.execute(
        "const m = document.querySelector('#billing-mode'); m.value = 'PROVISIONED'; m.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await
    .unwrap();
    fill(&c, "#read-capacity", "3").await;
    fill(&c, "#write-capacity", "2").await;
    click(&c, "#save-capacity").await;
    until(
        &c,
        "document.querySelector('#status').textContent === 'Capacity saved.' && document.querySelector('#billing-mode').value === 'PROVISIONED'",
    )
    .await;
    let described = n
        .dynamodb()
        .describe_table()
        .table_name("notes")
        .send()
        .await
        .unwrap();
    let pt = described
        .table()
        .and_then(|t| t.provisioned_throughput())
        .unwrap();
    assert_eq!(
        (pt.read_capacity_units(), pt.write_capacity_units()),
        (Some(3), Some(2))
    );
    c.goto(&format!("{api}/_nuvem/console/#/tables"))
        .await
        .unwrap();
    until(&c, "!!document.querySelector('#create-table-button')").await;
    fill(&c, "#new-table-name", "scratch").await;
    click(&c, "#create-table-button").await;
    until(
        &c,
        "(document.querySelector('#table-name') || {}).textContent === 'scratch'",
    )
    .await;
    click(&c, "#delete-table").await;
    c.accept_alert().await.unwrap();
    until(&c, "location.hash === '#/tables' && document.querySelector('#table-list')?.textContent.includes('notes') && !document.querySelector('#table-list').textContent.includes('scratch')").await;

    // Buckets: create one, upload a file, see it listed.
    c.goto(&format!("{api}/_nuvem/console/#/buckets"))
        .await
        .unwrap();
    until(&c, "!!document.querySelector('#create-bucket-button')").await;
    fill(&c, "#new-bucket-name", "files").await;
    click(&c, "#create-bucket-button").await;
    until(&c, "!!document.querySelector('#upload-file')").await;
    c.find(Locator::Css("#upload-file"))
        .await
        .unwrap()
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    until(&c, "[...document.querySelectorAll('#objects tr.object .key')].some(e => e.textContent === 'hello.txt')").await;
    // A presigned link for it, signed with the session's key, opens without credentials.
    click(&c, "#objects tr.object button.presign").await;
    until(
        &c,
        "document.querySelector('#object-info').textContent.includes('X-Amz-Signature=')",
    )
    .await;
    let info = text(&c, "#object-info").await;
    let link = info
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL")
        .to_string();
    let got = super::meusite::visitor().get(&link).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 200, "{link}");
    assert_eq!(got.text().await.unwrap(), "hello from the browser\n");
    let object = n
        .s3()
        .get_object()
        .bucket("files")
        .key("hello.txt")
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], b"hello from the browser\n");

    // Functions: invoke with a payload, see the result and the log line.
    c.goto(&format!("{api}/_nuvem/console/#/functions"))
        .await
        .unwrap();
    until(
        &c,
        "document.querySelector('#function-list')?.textContent.includes('greeter')",
    )
    .await;
    c.goto(&format!("{api}/_nuvem/console/#/functions/greeter"))
        .await
        .unwrap();
    until(&c, "!!document.querySelector('#invoke')").await;
    set_value(&c, "#invoke-payload", r#"{"who": "the console"}"#).await;
    click(&c, "#invoke").await;
    until(&c, "document.querySelector('#invoke-log').textContent.includes('console says hello to the console')").await;
    assert!(
        text(&c, "#invoke-result")
            .await
            .contains("hello the console")
    );
    // The same line reaches the function's log group, shown live, and the invocation is listed
    // with its duration.
    until(
        &c,
        "document.querySelector('#live-log').textContent.includes('console says hello to the console')",
    )
    .await;
    until(
        &c,
        "document.querySelector('#recent-invocations')?.textContent.includes(' ms')",
    )
    .await;

    // APIs: the manifest's HTTP API with its route and Lambda integration.
    c.goto(&format!("{api}/_nuvem/console/#/apis"))
        .await
        .unwrap();
    until(
        &c,
        "[...document.querySelectorAll('table.routes tr')].some(r => r.textContent.includes('GET /hello') && r.textContent.includes('AWS_PROXY'))",
    )
    .await;

    // The WAF: a SQL injection at the edge is blocked, and counted on the overview and the
    // WAF page.
    let visitor = super::meusite::visitor();
    let r = visitor
        .get(format!("{}/search?q=1%27%20OR%201%3D1--", n.edge_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    for _ in 0..2 {
        let r = visitor
            .get(format!("{}/page.html", n.edge_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    c.goto(&format!("{api}/_nuvem/console/#/waf"))
        .await
        .unwrap();
    until(
        &c,
        "[...document.querySelectorAll('#waf-rules td.blocked')].some(e => e.textContent === '1')",
    )
    .await;
    // The edge page: the distribution's behavior to the test origin, its cache figures, and an
    // invalidation sent from the form.
    c.goto(&format!("{api}/_nuvem/console/#/edge"))
        .await
        .unwrap();
    until(
        &c,
        "document.querySelector('#behaviors')?.textContent.includes('default (*)') && document.querySelectorAll('#cache-stats tr').length > 0",
    )
    .await;
    // Per behavior: the blocked request and the two page requests, one of them a hit.
    until(
        &c,
        "document.querySelector(\"#behavior-stats tr[data-behavior='*'] .requests\")?.textContent === '3' && document.querySelector(\"#behavior-stats tr[data-behavior='*'] .hits\")?.textContent === '1'",
    )
    .await;
    set_value(&c, "#invalidation-paths", "/page.html").await;
    click(&c, "#invalidate").await;
    until(
        &c,
        "/^Invalidation \\S+: (InProgress|Completed)$/.test(document.querySelector('#invalidation-result').textContent)",
    )
    .await;
    c.goto(&format!("{api}/_nuvem/console/#/waf"))
        .await
        .unwrap();
    // The blocked request among the sampled ones; an IP set created from the page.
    until(
        &c,
        "[...document.querySelectorAll('#waf-samples tr')].some(r => r.textContent.includes('/search') && r.querySelector('.action')?.textContent === 'BLOCK')",
    )
    .await;
    until(&c, "!!document.querySelector('#new-ip-set-name')").await;
    fill(&c, "#new-ip-set-name", "blocked-office").await;
    fill(&c, "#new-ip-set-addresses", "203.0.113.0/24").await;
    click(&c, "#create-ip-set").await;
    until(
        &c,
        "[...document.querySelectorAll('#ip-sets .ip-addresses')].some(t => t.value === '203.0.113.0/24')",
    )
    .await;
    c.goto(&format!("{api}/_nuvem/console/#/overview"))
        .await
        .unwrap();
    until(
        &c,
        "document.querySelector('#waf-blocks')?.textContent === '1'",
    )
    .await;
    until(
        &c,
        "document.querySelector('#cache-hit')?.textContent.includes('%')",
    )
    .await;
    // Some traffic over a few polls (one call of each round refused): the chart, the rates and
    // the per-service table have something to show. The console's own polls are not counted.
    let ddb = n.dynamodb();
    for calls in [4, 12, 6, 15, 8] {
        for _ in 0..calls {
            ddb.list_tables().send().await.unwrap();
        }
        let missing = ddb.describe_table().table_name("absent").send().await;
        assert!(missing.is_err());
        tokio::time::sleep(Duration::from_millis(3000)).await;
    }
    until(&c, "[...document.querySelectorAll('#per-service td:first-child')].some(e => e.textContent === 'dynamodb')").await;
    until(&c, "![...document.querySelectorAll('#per-service td:first-child')].some(e => e.textContent === '_nuvem')").await;
    let screenshot = c.screenshot().await.unwrap();

    // Last, as an update restarts the WebACL's rule counters (the overview's blocks above).
    c.goto(&format!("{api}/_nuvem/console/#/waf"))
        .await
        .unwrap();
    // WebACL rules: the SQL injection group's override action set to Count and the PHP group
    // removed (UpdateWebACL with GetWebACL's lock token); the reloaded editor shows both, and
    // the injection that was blocked now passes (counted).
    let sqli = "[data-web-acl='nuvem-default'] select.rule-action[data-rule='AWS-AWSManagedRulesSQLiRuleSet']";
    until(
        &c,
        &format!("document.querySelector(\"{sqli}\")?.value === 'None'"),
    )
    .await;
    c.execute(
        "const s = document.querySelector(arguments[0]); s.value = 'Count'; s.dispatchEvent(new Event('change'));\
         document.querySelector(\"[data-web-acl='nuvem-default'] tr[data-rule='AWS-AWSManagedRulesPHPRuleSet'] .remove-rule\").click();\
         document.querySelector(\"[data-web-acl='nuvem-default'] .save-rules\").click();",
        vec![sqli.into()],
    )
    .await
    .unwrap();
    until(
        &c,
        &format!(
            "document.querySelector('#status').textContent === 'Saved the rules of nuvem-default.' && document.querySelector(\"{sqli}\")?.value === 'Count' && !document.querySelector(\"tr[data-rule='AWS-AWSManagedRulesPHPRuleSet']\")"
        ),
    )
    .await;
    let r = visitor
        .get(format!("{}/search?q=1%27%20OR%201%3D1--", n.edge_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the SQLi group counts now");
    // A stale lock token: the WebACL changes behind the editor's back (another client's
    // UpdateWebACL, sent here through the same console API), and saving shows WAF's refusal.
    let acl_id = c
        .execute(
            "return document.querySelector(\"[data-web-acl='nuvem-default']\").dataset.webAclId;",
            vec![],
        )
        .await
        .unwrap();
    let changed = c
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             (async () => {\
               const g = await wafCall('GetWebACL', {Name: 'nuvem-default', Scope: 'CLOUDFRONT', Id: arguments[0]});\
               const a = g.WebACL;\
               await wafCall('UpdateWebACL', {Name: a.Name, Scope: 'CLOUDFRONT', Id: a.Id, LockToken: g.LockToken, DefaultAction: a.DefaultAction, VisibilityConfig: a.VisibilityConfig, Rules: a.Rules});\
             })().then(() => done('ok'), (e) => done(String(e)));",
            vec![acl_id],
        )
        .await
        .unwrap();
    assert_eq!(changed, serde_json::json!("ok"));
    c.execute(
        "const s = document.querySelector(arguments[0]); s.value = 'None'; s.dispatchEvent(new Event('change'));\
         document.querySelector(\"[data-web-acl='nuvem-default'] .save-rules\").click();",
        vec![sqli.into()],
    )
    .await
    .unwrap();
    until(
        &c,
        "document.querySelector('#status').className === 'error' && document.querySelector('#status').textContent.startsWith('WAFOptimisticLockException')",
    )
    .await;

    c.close().await.unwrap();
    assert!(screenshot.starts_with(b"\x89PNG"));
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-overview.png");
    std::fs::write(&artifact, &screenshot).unwrap();
    println!("screenshot: {}", artifact.display());
}
