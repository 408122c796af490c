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
    /// A session identifier planted through the URL or a form (set by `inspect`, which knows
    /// argument names and the Referer).
    SessionFixation = 1 << 13,
    /// A file upload (or upload name) with a server-executable extension or a session file name.
    DangerousUpload = 1 << 14,
}

/// A set of families, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Families(pub u32);

impl Families {
    pub fn has(self, f: Family) -> bool {
        self.0 & f as u32 != 0
    }
    pub fn add(&mut self, f: Family) {
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
        r"\bjava\.(?:lang|io|util|net|beans|nio|rmi|security)\.|\bjavax\.|\bgetruntime\b|(?:\.|\b)(?:runtime|processbuilder|classloader|urlclassloader|scriptengine(?:manager)?|invokertransformer|chainedtransformer|instantiatetransformer|constanttransformer|templatesimpl|commons\.collections|jdbcrowsetimpl|xstream|xalan|bsh\.interpreter|groovy\.lang|ognlcontext|memberaccess|forname|getclass|getmethod|newinstance|defineclass|getdeclaredmethod)\s*[.(]|[.\x22'](?:runtime|processbuilder|classloader|urlclassloader|scriptengine(?:manager)?|invokertransformer|chainedtransformer|templatesimpl|jdbcrowsetimpl|xstream)\b|class\.(?:module\.)?classloader|\bro0ab|\baced0005|\$\{[^}]*(?:class|runtime|exec)|#(?:_memberaccess|context|request)\b|@java\.",
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
    // ---- Families widened after measuring the CRS development set (see README). ----
    // Command lines: binaries that are no English word may start a value; English-looking
    // ones (`time`, `who`, `more`) only count after a shell separator (patterns above).
    (
        Family::CommandInjection,
        r"(?:^|[;&|\n`]|\$\()\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:strace|ltrace|visudo|sudoedit|cscli|ansible(?:-[a-z]+)?|chef-[a-z]+|irb|jrunscript|jjs|rmt(?:-tar)?|flock|nohup|setsid|busybox|smbclient|sqlite3|mongosh|redis-cli|crictl|systemctl|journalctl|iptables|tcpdump|tshark|gdb|lldb|valgrind|ldd|objdump|readelf|hexdump|shred|aa-[a-z]+|apt-get|dpkg|cpan|javac|tclsh|mawk|nawk|busctl|dmesg|lsof|fuser|pgrep|nproc|getent|chattr|lsattr|setcap|getcap|mknod|mkfifo|losetup|umount|chroot|unshare|nsenter|capsh|runuser|doas|pkexec|base32|uuencode|uudecode|ssh-keygen|ssh-keyscan|wget2|aria2c|lwp-(?:download|request)|w3m|elinks|uname|whoami|ifconfig|ipconfig|netcat|ncat|socat|nmap|masscan)(?:$|\s|[<>|;&`)(])",
    ),
    (
        Family::CommandInjection,
        r"(?:[;&|\n`]|\$\()\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:time|who|w|more|less|cut|sort|find|head|tail|diff|file|test|true|false|yes|read|exit|export|alias|unset|source|nice|env|id|ls|cat|nl|tac|rev|od|tee|which|whereis|locate|last|lastlog|users|groups|ip|ss|route|arp|host|dig|whois|traceroute|tracepath|mtr|curl|wget|bash|sh|mysql|psql|docker|kubectl|podman|npm|npx|pip[0-9]?|gem|go|cargo|java|openssl|rsync|gpg|tmux|screen|watch|at|script|expect|mount|service|wall|write|strings|dd|apt|yum|dnf|rpm|composer|puppet|knife|salt-[a-z]+)(?:\s+(?:[-/.$~\x22'%]|[a-z0-9_]+(?:$|\s*[;|&<>]))|$)",
    ),
    // Windows batch syntax and tools.
    (
        Family::CommandInjection,
        r"(?:^|[;&|\n])\s*(?:if\s+(?:/i\s+)?(?:not\s+)?(?:exist|defined|errorlevel|cmdextversion)\s+\S+\s+\S|if\s+(?:/i\s+)?(?:not\s+)?\S+\s*(?:==|\b(?:equ|neq|lss|leq|gtr|geq)\b)|for\s+(?:/[dlrf]\s+(?:\S+\s+)?)?%%?~?[a-z]\s+in\s*\(|@echo\s+o(?:ff|n)\b|(?:regedit|bcdboot|bcdedit|vssadmin|wevtutil|icacls|takeown|cacls|attrib|diskpart|iwr|iex|invoke-(?:webrequest|expression|restmethod)|start-process|new-object|set-executionpolicy|cmstp|msiexec|forfiles|pcalua|odbcconf|installutil|regasm|regsvcs|msbuild|wmic|bitsadmin|certutil|schtasks|net1?\s+(?:user|localgroup|share|use|view|start|stop))\b)",
    ),
    (
        Family::CommandInjection,
        r"%(?:comspec|systemroot|windir|temp|tmp|appdata|userprofile|programfiles|errorlevel|cd|path|random|username|computername)%|\^[a-z]\^[a-z]|\b(?:hkey_(?:local_machine|current_user|classes_root|users)|hklm|hkcu)\\",
    ),
    // Shell function definitions (Shellshock and friends) and history expansion.
    (Family::CommandInjection, r"\(\)\s*\{"),
    // Java: packages whose classes serve as gadgets or expression targets, and gadget class
    // names (these are no words of any language, so they count anywhere).
    (
        Family::Java,
        r"\b(?:com\.sun\.|org\.apache\.(?:commons|xalan|xerces|bcel|struts2?|tomcat|catalina|wicket|myfaces|velocity|log4j|naming|shiro)|org\.omg\.|com\.opensymphony\.|org\.springframework\.|org\.codehaus\.|org\.hibernate\.|org\.mozilla\.javascript|com\.mchange\.|com\.alibaba\.|org\.jboss\.|weblogic\.|javassist\.|ognl\.|sun\.(?:misc|reflect|rmi)\.)|(?:invoker|instantiate|chained|constant|clone|lazy|map|string|closure)transformer|instantiatefactory|prototype(?:clone|serialization)factory|(?:while|for|if|switch|transformer)closure|templatesimpl",
    ),
    // Node.js: handles to the runtime reached through computed members.
    (
        Family::NodeJs,
        r"\b(?:require|process|global|module|console)\s*\[|\bconsole\s*\.\s*(?:log|info|warn|error|dir)\s*\(|\bwhile\s*\(\s*(?:!|true\b|1\b|infinity\b|string\b)",
    ),
    // SSRF: loopback and container-host aliases, IPv6 literals, integer/hex IPv4 forms.
    (
        Family::Ssrf,
        r"(?:^|//|@)(?:localhost\.localdomain|ip6-(?:localhost|loopback)|ipv6-localhost|localtest\.me|[a-z.-]*\.docker\.internal|host\.containers\.internal|metadata\.(?:packet\.net|azure\.com|platformequinix\.com)|kubernetes\.default(?:\.svc)?)(?:[:/?#]|$)|//\[[0-9a-f:.%a-z]*\]|//(?:\d{8,10}|0x[0-9a-f]{8}|0x[0-9a-f]{1,2}\.0x|0[0-7]{2,3}\.0)(?:[:/?#.]|$)|^(?:https?|ftps?):[^/]",
    ),
    // XSS: DOM sinks, JSFuck-style constructs, namespaced (VML) tags, handler-looking names.
    (
        Family::Xss,
        r"\bself\s*\[|\b(?:top|parent|frames|globalthis)\s*\[\s*['\x22]|document\s*(?:/\*.*?\*/\s*)*\.\s*(?:/\*.*?\*/\s*)*(?:cookie|domain|write|location|queryselector|getelementby)|\.textcontent\s*=|\b(?:atob|btoa)\s*\(|\breflect\s*\.\s*[a-z]+|!!\s*\[\s*\]|\+\s*!\s*\+\s*\[|\[\s*\]\s*\[\s*\(|<\s*[a-z]+:[a-z]+[\s/>]|(?:^|[\s\x22'/;])on[a-z]{4,}\s*=|<\s*(?:noscript|plaintext|xmp|listing|comment|dialog|slot|portal)\b|(?:java|vb)\s*script\s*:",
    ),
    // PHP: variable functions (`$f(…)`, `$a['b'](…)`), callable strings and arrays, and any
    // snake_case function call (PHP's standard library is named that way).
    (
        Family::Php,
        r"\$+[a-z_][a-z0-9_]*\s*(?:(?:\[[^\]]*\]|\{[^}]*\}|/\*.*?\*/)\s*)*\(|\$\s+\{|[)\]]\s*(?:\[\s*\d+\s*\]\s*)?(?:\{[^}]*\}\s*)?(?:/\*.*?\*/\s*)*\(\s*(?:/\*.*?\*/\s*)*['\x22]?[a-z_]+['\x22]?\s*(?:/\*.*?\*/\s*)*\)\s*;|\bdefine\s*\(|\b[a-z]{2,}_[a-z0-9_]{2,}\s*(?:/\*.*?\*/\s*)*\(|\b(?:strip_tags|substr|crypt|symlink|chmod|chown|chgrp|mkdir|gzdecode|gzopen|bzopen|sprintf|vsprintf|sscanf|ucfirst|lcfirst|implode|explode|serialize|md5|sha1|crc32|strlen|strtolower|strtoupper|ltrim|rtrim|gethostbyname[l]?|getenv|passthru|popen|ldap_[a-z_]+|sodium_[a-z0-9_]+|tidy_[a-z_]+)\s*(?:/\*.*?\*/\s*)*\(|\b(?:touch|link|rename|copy|exec|shell|system|assert|eval|header|mail|printf|trim|print|echo|die|exit|list|array|compact|range|file|stat|chdir|dir|key|next|reset|end|each|current|pos|sort|count|max|min)\((?:$|[^s)]|s[^)])|\b(?:mbstring|smtp|sendmail_path|error_log|session\.save_path|mail\.log|zend\.assertions|pcre\.(?:backtrack|recursion|jit)_limit|mbstring\.regex_[a-z_]+)\s*=",
    ),
    // SQL function calls (sensitivity HIGH). Names that are also English words (`user`,
    // `version`, `count`) count only when the parenthesis follows at once; `(s)` plurals never.
    (
        Family::SqliHigh,
        r"\b(?:abs|acos|asin|atan2?|avg|benchmark|bit_(?:and|or|xor|count|length)|ceil(?:ing)?|char_length|charindex|chr|coalesce|concat(?:_ws)?|connection_id|convert(?:_tz)?|crc32|cur(?:date|time)|current_(?:date|time|timestamp|user|setting)|database|date_(?:add|format|sub)|datediff|dayof(?:month|week|year)|db_name|des_(?:en|de)crypt|export_set|extractvalue|find_in_set|from_(?:base64|days|unixtime)|get_lock|group_concat|host_name|ifnull|inet_ntoa|inet_aton|is_srvrolemember|isnull|json_(?:extract|keys|object|array)|last_insert_id|lcase|load_file|lo_import|log10|log2|lpad|ltrim|make_set|md5|name_const|nullif|nvl|octet_length|openrowset|openquery|pg_(?:sleep|read_file|ls_dir)|radians|randomblob|release_lock|rpad|rtrim|sec_to_time|session_user|sha[12]?|soundex|sqrt|stddev|str_to_date|strcmp|subdate|substr(?:ing(?:_index)?)?|suser_sname|sysdate|system_user|to_(?:base64|days|char)|ucase|uncompress(?:ed_length)?|unhex|unistr|unix_timestamp|updatexml|utc_(?:date|time)|uuid|var_pop|weekday|weekofyear|xmltype|zeroblob)\s*\(|\b(?:user|version|count|sum|min|max|left|right|field|format|position|space|quote|repeat|replace|reverse|round|schema|sign|values|length|char|ascii|insert|default|minute|hour|second|year|month|day|date|time|now|trim|floor|exp|pi|upper|lower|encode|decode|extract|password|exists|in|any|all|if|iif|case|cast|hex|mid|ord|conv|cos|cot|tan|ln|pow|power|rand|sleep|compress|collation|degrees|locate|variance|elt|instr|oct|procedure\s+analyse\s*)\((?:$|[^s)]|s[^)])",
    ),
    (
        Family::SqliHigh,
        r"::\s*(?:int|integer|text|varchar|json|jsonb|bigint|numeric|bool)\b|\b(?:nvarchar|varchar2?|tempdb|northwind|msdb|master\.\.|dbo\.|sys\.(?:tables|columns|objects|databases)|sysibm|syscat|all_tables|user_tables)|['\x22`]\s*(?:collate|glob|notnull|isnull|escape)\b|\bcreate\s+(?:table|database|procedure|function|trigger)\b|\b(?:drop|alter|truncate)\s*(?:/\*.*?\*/\s*)*(?:table|database|column|procedure)\b|\bdrop\s*/\*|\bfrom\s+`\w+`\.|\bgroup\s+by\b.{0,40}(?:having|--|#|;|&)|<=>|\b(?:or|and|xor)\s+\d+\s*[<>=!]|@@\w+|\bset\s+@\w+|\)\s*as\s+\w+\s+from\b|(?:^|\[)\$(?:ne|eq|gte?|lte?|in|nin|not|or|and|nor|regex|where|exists|expr|elemmatch|jsonschema)\b",
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

/// The families whose patterns match `lower` (no tokenizers): for text recovered from a
/// second decoding (base64), where libinjection's verdicts on binary noise mean nothing.
pub fn pattern_families(lower: &[u8]) -> Families {
    let mut out = Families::default();
    let (set, fams) = pattern_set();
    for i in set.matches(lower).iter() {
        if let Some(f) = fams.get(i) {
            out.add(*f);
        }
    }
    out
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
