//! Application-code attacks: PHP, server-side templates, Log4j/JNDI, Java gadgets and expression injection, Node.js, XXE, SSRF.
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a family, not for a single payload.

use super::Family;

pub(super) const PATTERNS: &[(Family, &str)] = &[
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
    // PHP: variable functions (`$f(…)`, `$a['b'](…)`), callable strings and arrays, and any
    // snake_case function call (PHP's standard library is named that way).
    (
        Family::Php,
        r"\$+[a-z_][a-z0-9_]*\s*(?:(?:\[[^\]]*\]|\{[^}]*\}|/\*.*?\*/)\s*)*\(|\$\s+\{|[)\]]\s*(?:\[\s*\d+\s*\]\s*)?(?:\{[^}]*\}\s*)?(?:/\*.*?\*/\s*)*\(\s*(?:/\*.*?\*/\s*)*['\x22]?[a-z_]+['\x22]?\s*(?:/\*.*?\*/\s*)*\)\s*;|\bdefine\s*\(|\b[a-z]{2,}_[a-z0-9_]{2,}\s*(?:/\*.*?\*/\s*)*\(|\b(?:strip_tags|substr|crypt|symlink|chmod|chown|chgrp|mkdir|gzdecode|gzopen|bzopen|sprintf|vsprintf|sscanf|ucfirst|lcfirst|implode|explode|serialize|md5|sha1|crc32|strlen|strtolower|strtoupper|ltrim|rtrim|gethostbyname[l]?|getenv|passthru|popen|ldap_[a-z_]+|sodium_[a-z0-9_]+|tidy_[a-z_]+)\s*(?:/\*.*?\*/\s*)*\(|\b(?:touch|link|rename|copy|exec|shell|system|assert|eval|header|mail|printf|trim|print|echo|die|exit|list|array|compact|range|file|stat|chdir|dir|key|next|reset|end|each|current|pos|sort|count|max|min)\((?:$|[^s)]|s[^)])|\b(?:mbstring|smtp|sendmail_path|error_log|session\.save_path|mail\.log|zend\.assertions|pcre\.(?:backtrack|recursion|jit)_limit|mbstring\.regex_[a-z_]+)\s*=",
    ),
];
