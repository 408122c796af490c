//! Built-in managed rule groups, named like AWS's (`AWSManagedRulesCommonRuleSet`, …) and
//! with AWS's rule names where a rule has an AWS counterpart, but with nuvem's own rules:
//! <https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html>.
//! Each detector rule covers the locations AWS's do, plus the URI path and cookies, which
//! rule sets commonly under-inspect. Labels follow AWS's `awswaf:managed:aws:<group>:<rule>`.

use std::time::Instant;

use crate::acl::{Action, BlockResponse, MatchKind, Rule, RuleAction, RuleBody, Stmt};
use crate::detect::Family;
use crate::fields::Field;
use crate::inspect::Location::{self, Body, Cookie, Header, QueryArguments, UriPath};
use crate::model::{Comparison, Oversize, Positional};
use crate::transform::Transformation;

/// Names of the built-in groups, for documentation and the wafv2 API's list call.
pub const GROUPS: &[&str] = &[
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesUnixRuleSet",
    "AWSManagedRulesWindowsRuleSet",
    "AWSManagedRulesPHPRuleSet",
];

fn block() -> RuleAction {
    RuleAction::Action(Action::Block(BlockResponse::default()))
}

fn rule(label_ns: &str, name: &str, stmt: Stmt) -> Rule {
    Rule {
        name: name.to_string(),
        action: block(),
        body: RuleBody::Stmt(stmt),
        labels: vec![format!("awswaf:managed:aws:{label_ns}:{name}")],
        counters: Default::default(),
    }
}

fn detect(family: Family, locations: &[Location]) -> Stmt {
    Stmt::Detect {
        family,
        locations: locations.to_vec(),
    }
}

/// One rule per (family, location), named `<Prefix>_<LOCATION>` like AWS's.
fn per_location(
    ns: &str,
    prefix: &str,
    family: Family,
    locations: &[Location],
    out: &mut Vec<Rule>,
) {
    for loc in locations {
        out.push(rule(
            ns,
            &format!("{prefix}_{}", loc.as_str()),
            detect(family, &[*loc]),
        ));
    }
}

fn size(field: Field, op: Comparison, n: u64) -> Stmt {
    Stmt::Match {
        field,
        transforms: vec![Transformation::None],
        kind: MatchKind::Size(op, n),
    }
}

const ALL: &[Location] = &[UriPath, QueryArguments, Body, Cookie, Header];

/// The rules of a built-in group, or None when nuvem has no group by that name.
pub(crate) fn group(name: &str, _origin: Instant) -> Option<Vec<Rule>> {
    let mut r = Vec::new();
    match name {
        "AWSManagedRulesCommonRuleSet" => {
            let ns = "core-rule-set";
            r.push(rule(
                ns,
                "NoUserAgent_HEADER",
                size(Field::SingleHeader("user-agent".into()), Comparison::Eq, 0),
            ));
            // Attack tools that name themselves in the User-Agent (AWS's rule of the same name
            // inspects for `nessus`, `nmap` and the like).
            r.push(rule(
                ns,
                "UserAgent_BadBots_HEADER",
                Stmt::Match {
                    field: Field::SingleHeader("user-agent".into()),
                    transforms: vec![Transformation::Lowercase],
                    kind: MatchKind::Regex(bad_bots()),
                },
            ));
            r.push(rule(
                ns,
                "SizeRestrictions_QUERYSTRING",
                size(Field::QueryString, Comparison::Gt, 2048),
            ));
            r.push(rule(
                ns,
                "SizeRestrictions_Cookie_HEADER",
                size(Field::SingleHeader("cookie".into()), Comparison::Gt, 10240),
            ));
            r.push(rule(
                ns,
                "SizeRestrictions_URIPATH",
                size(Field::UriPath, Comparison::Gt, 1024),
            ));
            // AWS blocks bodies over 8 KB here. nuvem matches only bodies it could not inspect
            // whole (larger than the WebACL's body inspection limit, 16 KiB by default at the
            // edge), so every body it lets through was inspected. Large uploads go straight to
            // the bucket with presigned URLs, as on AWS, or through a WebACL without this group.
            r.push(rule(
                ns,
                "SizeRestrictions_BODY",
                Stmt::Match {
                    field: Field::Body(Oversize::Match),
                    transforms: vec![Transformation::None],
                    kind: MatchKind::Size(Comparison::Gt, u64::MAX >> 1),
                },
            ));
            per_location(
                ns,
                "EC2MetaDataSSRF",
                Family::Ssrf,
                &[Body, Cookie, UriPath, QueryArguments, Header],
                &mut r,
            );
            per_location(
                ns,
                "GenericLFI",
                Family::Traversal,
                &[QueryArguments, UriPath, Body, Cookie, Header],
                &mut r,
            );
            per_location(
                ns,
                "GenericRFI",
                Family::Rfi,
                &[QueryArguments, Body, UriPath, Cookie],
                &mut r,
            );
            per_location(
                ns,
                "CrossSiteScripting",
                Family::Xss,
                &[Cookie, QueryArguments, Body, UriPath, Header],
                &mut r,
            );
            // nuvem's own: script without a tag, response splitting, LDAP and NoSQL injection.
            per_location(ns, "ScriptWithoutTag", Family::JsExec, ALL, &mut r);
            // In the query and the path, a line break before a header name is enough.
            for loc in [QueryArguments, UriPath] {
                r.push(rule(
                    ns,
                    &format!("HeaderInjection_{}", loc.as_str()),
                    Stmt::Or(vec![
                        detect(Family::HeaderInjection, &[loc]),
                        detect(Family::HeaderBreak, &[loc]),
                        detect(Family::HeaderLine, &[loc]),
                    ]),
                ));
            }
            // A cookie or a header value never holds a line break of its own either: one
            // before a header name that is no English word (`Set-Cookie:`) is a header
            // smuggled into a forwarded or logged value.
            for loc in [Cookie, Header] {
                r.push(rule(
                    ns,
                    &format!("HeaderInjection_{}", loc.as_str()),
                    Stmt::Or(vec![
                        detect(Family::HeaderInjection, &[loc]),
                        detect(Family::HeaderLine, &[loc]),
                    ]),
                ));
            }
            per_location(
                ns,
                "HeaderInjection",
                Family::HeaderInjection,
                &[Body],
                &mut r,
            );
            per_location(ns, "LDAPInjection", Family::Ldap, ALL, &mut r);
            per_location(
                ns,
                "NoSQLInjection",
                Family::NoSql,
                &[QueryArguments, Body, Cookie],
                &mut r,
            );
            per_location(ns, "ServerSideTemplateInjection", Family::Ssti, ALL, &mut r);
            per_location(
                ns,
                "XmlExternalEntity",
                Family::Xxe,
                &[Body, QueryArguments, Cookie],
                &mut r,
            );
            per_location(ns, "NodeJsInjection", Family::NodeJs, ALL, &mut r);
            per_location(
                ns,
                "SessionFixation",
                Family::SessionFixation,
                &[QueryArguments, Body],
                &mut r,
            );
            per_location(
                ns,
                "DangerousUpload",
                Family::DangerousUpload,
                &[Body, Header],
                &mut r,
            );
            r.push(rule(
                ns,
                "RestrictedExtensions_URIPATH",
                Stmt::Match {
                    field: Field::UriPath,
                    transforms: vec![Transformation::UrlDecode, Transformation::Lowercase],
                    kind: MatchKind::Regex(restricted_extensions()),
                },
            ));
        }
        "AWSManagedRulesSQLiRuleSet" => {
            let ns = "sql-database";
            per_location(ns, "SQLi", Family::Sqli, ALL, &mut r);
            per_location(ns, "SQLiExtendedPatterns", Family::SqliHigh, ALL, &mut r);
        }
        "AWSManagedRulesKnownBadInputsRuleSet" => {
            let ns = "known-bad-inputs";
            per_location(ns, "JavaDeserializationRCE", Family::Java, ALL, &mut r);
            per_location(ns, "Log4JRCE", Family::Log4j, ALL, &mut r);
            r.push(rule(
                ns,
                "Host_localhost_HEADER",
                Stmt::Match {
                    field: Field::SingleHeader("host".into()),
                    transforms: vec![Transformation::Lowercase],
                    kind: MatchKind::Regex(fixed(r"^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?$")),
                },
            ));
            r.push(rule(
                ns,
                "PROPFIND_METHOD",
                Stmt::Match {
                    field: Field::Method,
                    transforms: vec![Transformation::None],
                    kind: MatchKind::Bytes(b"PROPFIND".to_vec(), Positional::Exactly),
                },
            ));
            r.push(rule(ns, "ExploitablePaths_URIPATH", Stmt::Match {
                field: Field::UriPath,
                transforms: vec![Transformation::UrlDecode, Transformation::Lowercase],
                kind: MatchKind::Regex(fixed(r"(?:^|/)(?:web-inf|meta-inf|\.git|\.svn|\.hg|\.env|\.aws|\.ssh|phpmyadmin|wp-admin/install\.php|cgi-bin/.*\.(?:sh|pl|cgi)|server-status|actuator/(?:env|heapdump|jolokia|gateway)|jmx-console|invoker/|manager/html|solr/admin|_ignition/execute-solution)(?:/|$|\?)")),
            }));
        }
        "AWSManagedRulesUnixRuleSet" => {
            per_location(
                "unix-os",
                "UNIXShellCommandsVariables",
                Family::CommandInjection,
                ALL,
                &mut r,
            );
        }
        "AWSManagedRulesWindowsRuleSet" => {
            let ns = "windows-os";
            per_location(
                ns,
                "WindowsShellCommands",
                Family::WindowsCommand,
                ALL,
                &mut r,
            );
            per_location(ns, "PowerShellCommands", Family::PowerShell, ALL, &mut r);
        }
        "AWSManagedRulesPHPRuleSet" => {
            per_location(
                "php-app",
                "PHPHighRiskMethodsVariables",
                Family::Php,
                ALL,
                &mut r,
            );
        }
        _ => return None,
    }
    Some(r)
}

fn fixed(pattern: &str) -> regex::bytes::Regex {
    regex::bytes::Regex::new(pattern).unwrap_or_else(|e| panic!("built-in pattern {pattern}: {e}"))
}

/// Scanners, fuzzers and exploitation tools that say who they are (the lowercased
/// User-Agent). Libraries and ordinary command-line clients (curl, wget, python-requests,
/// Go-http-client) are no attack tools and pass, as on AWS, where bot control is another group.
fn bad_bots() -> regex::bytes::Regex {
    fixed(
        r"sqlmap|nikto|\bnuclei\b|\bffuf\b|fuzz faster u fool|openvas|masscan|dirbuster|gobuster|feroxbuster|\bdirb\b|wpscan|zgrab|nmap scripting engine|\bnmap\b|acunetix|nessus|w3af|havij|arachni|netsparker|appscan|webinspect|\bqualys|burp\s?suite|\bowasp zap\b|zaproxy|wfuzz|skipfish|commix|xsstrike|joomscan|droopescan|cmsmap|whatweb|wapiti|sqlninja|pangolin|bsqlbf|metasploit|\bmorfeus\b|zmeu|\bzmap\b|jaeles|dotdotpwn|fimap|paros|\bhydra\b|brutus|\bvega/|nsfocus|\bqualysguard|\binterrogator\b|\bsf-scanner|struts-pwn|\bx-scan|\bwebshag|\bgrendel-scan|\bnetlab360|\bcensysinspect|\bleakix|\bl9(?:explore|tcpid)",
    )
}

fn restricted_extensions() -> regex::bytes::Regex {
    fixed(
        r"\.(?:log|ini|bak|backup|old|orig|sql|sqlite|db|mdb|swp|sav|cfg|conf|config|inc|dist|pem|crt|htaccess|htpasswd|asa|asax|ascx|cer|cdx|csr|dll|exe|idq|printer|rdb|rem|resources|resx|shtm|shtml|stm|vb|vbs|vbproj|vsdisco|webinfo|xsd|xsx|passwd|history)(?:$|[/;?])",
    )
}

/// The WebACL a distribution gets when its manifest names none: default Allow, the built-in
/// groups in AWS's recommended order (IP reputation first would come here; nuvem has none).
pub const DEFAULT_DISTRIBUTION_ACL: &str = r#"{
  "Name": "nuvem-default",
  "DefaultAction": {"Allow": {}},
  "VisibilityConfig": {"SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": false, "MetricName": "nuvem-default"},
  "Rules": [
    {"Name": "AWS-AWSManagedRulesKnownBadInputsRuleSet", "Priority": 10, "OverrideAction": {"None": {}},
     "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesKnownBadInputsRuleSet"}}},
    {"Name": "AWS-AWSManagedRulesCommonRuleSet", "Priority": 20, "OverrideAction": {"None": {}},
     "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"}}},
    {"Name": "AWS-AWSManagedRulesSQLiRuleSet", "Priority": 30, "OverrideAction": {"None": {}},
     "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesSQLiRuleSet"}}},
    {"Name": "AWS-AWSManagedRulesUnixRuleSet", "Priority": 40, "OverrideAction": {"None": {}},
     "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesUnixRuleSet"}}},
    {"Name": "AWS-AWSManagedRulesWindowsRuleSet", "Priority": 45, "OverrideAction": {"None": {}},
     "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesWindowsRuleSet"}}},
    {"Name": "AWS-AWSManagedRulesPHPRuleSet", "Priority": 50, "OverrideAction": {"None": {}},
     "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesPHPRuleSet"}}}
  ]
}"#;
