//! Attack detectors: SQL injection and XSS through libinjection's tokenizer and fingerprints
//! (the `libinjectionrs` port), plus nuvem's own detectors for the other families attackers
//! send (traversal/LFI, RFI, command injection, SSTI, Log4j, PHP, XXE, SSRF, Java, Node.js,
//! session fixation). Input is one already-decoded value; decoding lives in `inspect`.
//! Must not allocate per pattern or backtrack: one `RegexSet` pass per value.

use std::sync::OnceLock;

use regex::bytes::RegexSet;

/// An attack family. Bits of a `Families` mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Family {
    Sqli = 1,
    Xss = 1 << 1,
    Traversal = 1 << 2,
    Rfi = 1 << 3,
    CommandInjection = 1 << 4,
    Ssti = 1 << 5,
    Log4j = 1 << 6,
    Php = 1 << 7,
    Xxe = 1 << 8,
    Ssrf = 1 << 9,
    Java = 1 << 10,
    NodeJs = 1 << 11,
    /// Extra SQL patterns beyond libinjection (SqliMatch sensitivity HIGH).
    SqliHigh = 1 << 12,
}

/// A set of families, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Families(pub u32);

impl Families {
    pub fn has(self, f: Family) -> bool {
        self.0 & f as u32 != 0
    }
    fn add(&mut self, f: Family) {
        self.0 |= f as u32;
    }
}

/// Patterns run on the lowercased, decoded value. Each is written for a family, not for a
/// single payload; the comments say what a pattern is about.
const PATTERNS: &[(Family, &str)] = &[
    // Traversal: `../` at a path boundary, or repeated; sensitive OS and app files.
    (Family::Traversal, r"(?:^|[/\\=:;|])\.{2,}[/\\]"),
    (Family::Traversal, r"[/\\]\.\.(?:[/\\;]|$)"),
    (Family::Traversal, r"\.\.[/\\]+\.\."),
    (
        Family::Traversal,
        r"(?:^|[/\\ ])(?:etc[/\\]+(?:passwd|shadow|group|hosts|issue|crontab|sudoers|master\.passwd|security|httpd|apache2?|nginx|mysql|php)|proc[/\\]+(?:self|\d+)[/\\]|(?:usr|var)[/\\]+(?:local|log|lib|www)[/\\]|windows[/\\]+(?:win\.ini|system32|system\.ini|repair)|boot\.ini|win\.ini|\.htaccess|\.htpasswd|\.git[/\\]|\.svn[/\\]|\.ssh[/\\]|id_[rd]sa|\.bash_(?:history|profile|rc)|\.aws[/\\]+credentials|wp-config\.php|web\.config|\.env(?:$|\.))",
    ),
    (
        Family::Traversal,
        r"^(?:/|[a-z]:[/\\])?(?:etc|proc|var|windows|winnt|usr|root|home)[/\\]+\S*(?:passwd|shadow|\.ini|\.log|\.conf|environ|cmdline|\.key|\.pem)\b",
    ),
    // RFI: a URL to a raw IP address, or ending in `?` (to cut off an appended suffix).
    (Family::Rfi, r"^(?:https?|ftps?)://(?:\d{1,3}\.){3}\d{1,3}"),
    (Family::Rfi, r"^(?:https?|ftps?)://[^\s?#]+[?#]+$"),
    (
        Family::Rfi,
        r"(?:include|require)(?:_once)?\s*\(?\s*['\x22]?(?:https?|ftps?|file)://",
    ),
    (
        Family::Rfi,
        r"^(?:file|ftps?|gopher|dict|ldaps?|jar|tftp|netdoc|mailto):",
    ),
    // Unix and Windows command injection: a command after a shell separator or substitution.
    (
        Family::CommandInjection,
        r"(?:[;&|\n\r`]|\$\(|\{)\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:whoami|uname|wget|curl|netcat|ncat|nc|bash|sh|zsh|ksh|dash|csh|tcsh|python[0-9.]*|perl|ruby|php|lua|node|powershell|pwsh|cmd(?:\.exe)?|systeminfo|ifconfig|ipconfig|nslookup|dig|ping|telnet|chmod|chown|rm|kill|killall|pkill|passwd|useradd|crontab|nohup|xterm|socat|tftp|ftp|scp|ssh|sudo|su|id|ls|cat|tac|nl|more|less|head|tail|grep|awk|gawk|sed|find|xargs|base64|xxd|od|env|printenv|ps|netstat|pwd|hostname|echo|printf|sleep|touch|mkdir|cp|mv|tar|zip|unzip|gzip|gcc|cc|make|nmap|vi|vim|ex|exec|eval|time|timeout|wc|cut|sort|uniq|strings|set|dir|type|copy|del|net|tasklist|taskkill|reg|certutil|bitsadmin|wmic|rundll32|regsvr32|mshta|cscript|wscript|schtasks|sc|start|call)(?:$|[\s<>|;&`)(]|\$\{?ifs)",
    ),
    (
        Family::CommandInjection,
        r"^\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:whoami|uname|wget|curl|netcat|ncat|nc|bash|sh|zsh|ksh|dash|csh|tcsh|python[0-9.]*|perl|ruby|php|lua|node|powershell|pwsh|cmd(?:\.exe)?|systeminfo|ifconfig|ipconfig|nslookup|dig|ping|telnet|chmod|chown|rm|kill|killall|pkill|passwd|useradd|crontab|nohup|xterm|socat|tftp|ftp|scp|ssh|sudo|su|id|ls|cat|tac|nl|more|less|head|tail|grep|awk|gawk|sed|find|xargs|base64|xxd|od|env|printenv|ps|netstat|pwd|hostname|echo|printf|sleep|touch|mkdir|cp|mv|tar|zip|unzip|gzip|gcc|cc|make|nmap|vi|vim|ex|exec|eval|time|timeout|wc|cut|sort|uniq|strings|set|dir|type|copy|del|net|tasklist|taskkill|reg|certutil|bitsadmin|wmic|rundll32|regsvr32|mshta|cscript|wscript|schtasks|sc|start|call)(?:\s+[-/.$~\x22'%]|\s*[<>|;&`]|\$\{?ifs)",
    ),
    (
        Family::CommandInjection,
        r"\$\{?ifs\b|\$\((?:[a-z]|\s)|`[^`]*\b(?:[a-z]+)\b[^`]*`|\$\{[a-z_]+:[0-9]|/(?:usr/)?s?bin/[a-z]|%comspec%|\bfor\s+/[fdlr]\b|\bcmd(?:\.exe)?\s*/[ck]\b|powershell|\bshell_exec\b",
    ),
    (Family::CommandInjection, r"\(\)\s*\{[^}]*;\s*\}"),
    (
        Family::CommandInjection,
        r"(?:^|[;&|\s])(?:[a-z]:\\|\\\\)[^\s]*\.(?:exe|bat|cmd|ps1|vbs)\b",
    ),
    // Server-side template injection: template expressions with code in them.
    (
        Family::Ssti,
        r"\{\{[^}]*[-+*/%().\[\]|'\x22_=<>][^}]*\}\}|\{%.*?%\}|<%=?.*?%>|[$#*]\{[^}]*[-+*/%().\[\]|'\x22:@=<>][^}]*\}|@\{\[|\{\{[^}]*\b(?:self|config|request|class|mro|subclasses|globals|builtins|import)\b",
    ),
    // Log4j / JNDI lookups, including nested obfuscation.
    (
        Family::Log4j,
        r"\$\{[^}]{0,40}(?:jndi|\$\{|::-|lower:|upper:|env:|sys:|date:|base64:|main:|java:|ctx:)",
    ),
    // PHP: stream wrappers, code openers, dangerous functions, superglobals, serialized objects.
    (
        Family::Php,
        r"\b(?:php|phar|zip|data|expect|glob|zlib|compress\.zlib|compress\.bzip2|ogg|rar|ssh2(?:\.[a-z]+)?)://",
    ),
    (Family::Php, r"<\?(?:php|=|\s)"),
    (
        Family::Php,
        r"\b(?:eval|assert|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|phpinfo|base64_decode|gzinflate|gzuncompress|str_rot13|file_get_contents|file_put_contents|fopen|fwrite|readfile|include|require|include_once|require_once|preg_replace|create_function|call_user_func(?:_array)?|unserialize|highlight_file|show_source|move_uploaded_file|array_map|usort|ini_set|putenv|mail|symlink|dl|posix_[a-z]+|get_defined_vars|var_dump|print_r|chr|ord|hex2bin|strrev|str_replace|escapeshellcmd|array_filter|ob_start|extract|parse_str|scandir|glob|opendir|unlink|rmdir|curl_exec|fsockopen|stream_socket_client)\s*(?:/\*.*?\*/\s*)*\(",
    ),
    (
        Family::Php,
        r"\$_(?:get|post|cookie|request|server|files|env|session|globals)\b|\$globals\b|\b[oc]:\d+:\x22[^\x22]+\x22:\d+:\{|\ba:\d+:\{[si]:\d+[:;]|\b(?:allow_url_include|allow_url_fopen|auto_prepend_file|auto_append_file|disable_functions|open_basedir|safe_mode)\b",
    ),
    // XXE: entity declarations and external DTDs.
    (
        Family::Xxe,
        r"<!entity|<!doctype[^>]*(?:\[|system|public)|xi:include|xmlns:xi=",
    ),
    // SSRF to instance metadata and internal endpoints, in the usual disguises.
    (
        Family::Ssrf,
        r"169\.254\.169\.254|\[?fd00:ec2::254|metadata\.google\.internal|100\.100\.100\.200|169\.254\.170\.2|2852039166|0xa9fea9fe|0251\.0376\.0251\.0376|instance-data|(?:^|//|@)(?:localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[::1?\]|0x7f[0-9a-f.]*|2130706433|017700000001)(?:[:/?#]|$)|\b(?:gopher|dict|ldap|tftp|sftp|netdoc)://",
    ),
    // Java: class names used in gadget chains and expression injection, serialized streams.
    (
        Family::Java,
        r"\bjava\.(?:lang|io|util|net|beans|nio|rmi|security)\.|\bjavax\.|\bgetruntime\b|(?:\.|\b)(?:runtime|processbuilder|classloader|urlclassloader|scriptengine(?:manager)?|invokertransformer|chainedtransformer|instantiatetransformer|constanttransformer|templatesimpl|commons\.collections|jdbcrowsetimpl|xstream|xalan|bsh\.interpreter|groovy\.lang|ognlcontext|memberaccess|forname|getclass|getmethod|newinstance|defineclass|getdeclaredmethod)\s*[.(]|[.\x22'/](?:runtime|processbuilder|classloader|urlclassloader|scriptengine(?:manager)?|invokertransformer|chainedtransformer|templatesimpl|jdbcrowsetimpl|xstream)\b|class\.(?:module\.)?classloader|\bro0ab|\baced0005|\$\{[^}]*(?:class|runtime|exec)|#(?:_memberaccess|context|request)\b|@java\.",
    ),
    // Node.js / JavaScript server-side: prototype pollution, child processes, serialized functions.
    (
        Family::NodeJs,
        r"__proto__|constructor\s*(?:\.|\[\s*['\x22]?)\s*prototype|\bchild_process\b|\brequire\s*\(|process\.(?:mainmodule|binding|env|exit|kill)|_\$\$nd_func\$\$_|\bfunction\s*\([^)]*\)\s*\{|=>\s*\{|\bnew\s+function\b|\bthis\.constructor\b|\.constructor\s*\(|\bglobal\.process\b",
    ),
    // XSS beyond libinjection: script-capable URLs, handlers and tags in decoded text.
    (
        Family::Xss,
        r"<\s*/?\s*(?:script|svg|iframe|frame|frameset|object|embed|applet|meta|base|link|style|form|isindex|math|marquee|details|video|audio|img|image|body|input|textarea|button|select|keygen|xss|template|animate|set|handler|listener)\b",
    ),
    (
        Family::Xss,
        r"(?:java|vb|live)script\s*:|data\s*:\s*(?:text/html|image/svg|application/x?html)|-moz-binding|\bexpression\s*\(|<[^>]*\bon[a-z]{3,}\s*=|\bon(?:error|load|click|mouse[a-z]+|focus|blur|key[a-z]+|submit|change|toggle|begin|end|animation[a-z]+|transition[a-z]+|pointer[a-z]+|wheel|scroll|input|drag[a-z]*|drop|copy|paste|cut|select|abort|unload|beforeunload|message|hashchange|popstate|resize|show|pageshow|touch[a-z]+)\s*=\s*\S|\b(?:alert|prompt|confirm|eval|settimeout|setinterval|fromcharcode)\s*[(`]|document\s*\.\s*(?:cookie|domain|write|location)|window\s*\.\s*(?:location|name|open)|\.innerhtml\s*=|<[a-z]+[^>]*\bsrcdoc\s*=",
    ),
    // SQL beyond libinjection's fingerprints (sensitivity HIGH).
    (
        Family::SqliHigh,
        r"\bunion\b(?:\s|/\*.*?\*/|\(|all|distinct)+select\b",
    ),
    (
        Family::SqliHigh,
        r"\b(?:sleep|benchmark|pg_sleep|dbms_pipe\.receive_message|dbms_lock\.sleep|extractvalue|updatexml|load_file)\s*\(|\bwaitfor\s+(?:delay|time)\s+['\x22]|\b(?:information_schema|sysobjects|syscolumns|xp_cmdshell|sp_executesql|sp_oacreate|utl_http|utl_inaddr|pg_catalog|sqlite_master|mysql\.user|sys\.user_objects|msysaccessobjects)\b",
    ),
    (
        Family::SqliHigh,
        r"\binto\s+(?:out|dump)file\b|\b(?:or|and|xor|not|\|\||&&)\s+['\x22`(]?\s*['\x22`]?\w*['\x22`]?\s*(?:=|<=>|\blike\b|\bis\b|\brlike\b|\bregexp\b|\bbetween\b)\s*['\x22`(]?\w*['\x22`]?\s*(?:--|#|/\*|;|$|\))",
    ),
    (
        Family::SqliHigh,
        r"['\x22`]\s*(?:\)\s*)*(?:or|and|xor|div|like|rlike|regexp|sounds\s+like|&&|\|\|)\s*(?:['\x22`(\d@]|not\b|true\b|false\b|null\b|[a-z_]+\s*\()",
    ),
    (
        Family::SqliHigh,
        r"(?:;|['\x22`)]\s*;?)\s*(?:drop|delete|insert|update|shutdown|truncate|exec|execute|declare|create|alter|select|grant|rename|replace|handler|load|call|set\s+@)\b|['\x22`]\s*(?:--|#|/\*|;)|\bhaving\s+\d|\border\s+by\s+\d+\s*(?:--|#|/\*|$)|\bexec(?:ute)?\s+(?:master\.|xp_|sp_)|\b(?:concat(?:_ws)?|group_concat|char|unhex|ascii|substring|substr|mid|ord|cast|convert|hex|version|database|current_user|user|schema|coalesce|ifnull|nullif|if|case|elt|make_set|json_extract|row_count)\s*\(\s*(?:@|['\x22`]|\d|select\b|0x|\w+\s*[(,])|@@(?:version|datadir|hostname|basedir)|\bselect\s+(?:\*|@@|\w+\s*\(|null\b|\d+\s*,|count\b)|0x[0-9a-f]{8,}",
    ),
];

fn pattern_set() -> &'static (RegexSet, Vec<Family>) {
    static SET: OnceLock<(RegexSet, Vec<Family>)> = OnceLock::new();
    SET.get_or_init(|| {
        let set =
            regex::bytes::RegexSetBuilder::new(PATTERNS.iter().map(|(_, p)| format!("(?-u){p}")))
                .size_limit(64 << 20)
                .dfa_size_limit(64 << 20)
                .build()
                .unwrap_or_else(|e| panic!("built-in WAF patterns must compile: {e}"));
        (set, PATTERNS.iter().map(|(f, _)| *f).collect())
    })
}

/// libinjection's SQLi verdict (tokenizer + fingerprint list).
pub fn is_sqli(value: &[u8]) -> bool {
    !value.is_empty() && libinjectionrs::detect_sqli(value).is_injection()
}

/// libinjection's XSS verdict (HTML5 tokenizer in every quoting context).
pub fn is_xss(value: &[u8]) -> bool {
    !value.is_empty() && libinjectionrs::detect_xss(value).is_injection()
}

/// Every family whose patterns match the lowercased, decoded `lower`; `raw` (decoded, original
/// case) feeds libinjection.
pub fn families(raw: &[u8], lower: &[u8]) -> Families {
    let mut out = Families::default();
    if raw.is_empty() {
        return out;
    }
    let (set, fams) = pattern_set();
    for i in set.matches(lower).iter() {
        if let Some(f) = fams.get(i) {
            out.add(*f);
        }
    }
    // Pure alphanumeric values cannot carry any of these attacks: skip the tokenizers.
    if raw.iter().any(|b| !b.is_ascii_alphanumeric() && *b != b' ') {
        if is_sqli(raw) {
            out.add(Family::Sqli);
        }
        if is_xss(raw) {
            out.add(Family::Xss);
        }
    }
    out
}
