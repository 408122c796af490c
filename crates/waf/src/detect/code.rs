//! Application-code attacks: PHP, server-side templates, Log4j/JNDI, Java gadgets and expression injection, Node.js, XXE, SSRF.
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a family, not for a single payload.

use super::Family;

pub(super) const PATTERNS: &[(Family, &str)] = &[
    // Server-side template injection. Template text itself (`{{ user.name }}`,
    // `{% if x %}…{% endif %}`, `{{#each items}}`, `<%= title %>`, `${HOME}`) is no attack:
    // a probe makes the engine evaluate something. Arithmetic on literals inside a template
    // delimiter (`{{7*7}}`, `${7*7}`, `<%= 7*7 %>`, `#{7*7}`, `{{7|times:7}}`, `@(7*7)`).
    (
        Family::Ssti,
        r"(?:\{\{|[$#*@~]\{|\{%|<%[=-]?|\[\[)\s*\(?\s*-?\d+\s*(?:\*\*?|[-+/%])\s*\(?\s*['\x22]?\d|(?:\{\{|[$#*@]\{|<%[=-]?)\s*['\x22]\d+['\x22]\s*\*\s*\d|\{\{\s*\d+\s*\|\s*(?:times|plus|minus|divided_by|modulo)\s*:\s*\d|@\(\s*\d+\s*[-+*/]\s*\d",
    ),
    // Object internals reached from a template expression: Python's dunder attributes
    // (`__class__`, `__globals__`, also escaped `\x5f`), Jinja's `|attr`, the globals
    // (`config.items()`, a bare `{{config}}`), Twig's `_self.env`, Handlebars walking to a
    // constructor or opening a block over a string literal (`{{#with "s"}}`), EL's implicit
    // scopes (`${requestScope}`), Smarty's `{$smarty.…}`/`{self::…}`, Spring's `T(…)` type
    // references, Freemarker's `"…"?new()` and `?api.get…`, Tornado's `{% import os %}`,
    // Django's `{% debug %}`, Perl's interpolated code `@{[ system 'id' ]}`, conditionals on a
    // constant (`{% if True %}49{% endif %}`), a quoted name looked up (`${'ff'}`), and
    // polyglot probes that chain openers (`${{<%[%'"}}%\`).
    (
        Family::Ssti,
        r"(?:\{\{|[$#*@]\{|\{%|<%)[^}%]*(?:__[a-z]+__|\\x5f|\\u005f|\|\s*attr\b|\bconfig\s*\.\s*items\s*\(|_self\s*\.\s*env\b|\bconstructor\b|__proto__|\.(?:apply|call|bind)\s*[( ]\s*[^\s}]|\bstring\.s(?:ub|plit)\b|\b(?:popen|execsync|spawnsync|getruntime|forname|getclassloader|registerundefinedfiltercallback|getfilter|setcache|loadtemplate|file_excerpt|child_process|mainmodule)\b)|\{\{\s*(?:config|self|request|settings|_self)\s*\}\}|\{\{\s*#with\s+['\x22]|[$#]\{\s*(?:applicationscope|requestscope|sessionscope|pagescope|pagecontext|initparam|facescontext|headervalues|paramvalues)\b|\{\s*\$?smarty\.(?:version|template|now|const|server|env|get|post|cookies|request|session|capture|config|block)\b|\{\s*self::|smarty_internal_|[$#*]\{\s*(?:new\s+)?t\s*\(\s*[a-z_]+\.|['\x22]\s*\?\s*new\s*\(|freemarker\.template\.utility|\?api\s*\.\s*get|\{%\s*(?:import|from)\s+[a-z_]|\{%\s*debug\s*%\}|@\{\s*\[|(?:\{%|<%[=-]?)\s*if\s+(?:true|false|\d+)\s*(?:%\}|%>)|\$\{\s*'[^'}]*'\s*\}|\$\{\{\s*<%|\{\{\s*<%|<%\s*\[%",
    ),
    // Twig and Jinja filters handed a PHP or shell function name as a callable
    // (`['id']|filter('system')`, `'id'|system`), and ERB/EJS/Mako tags that run code
    // (`<%= system('id') %>`, `<%import os%>`, `<%= `ls` %>`).
    (
        Family::Ssti,
        r"\|\s*(?:filter|map|sort|reduce|apply)\s*\(\s*['\x22](?:system|exec|passthru|shell_exec|popen|proc_open|eval|assert|call_user_func|file_get_contents|readfile|include)['\x22]|\|\s*(?:system|exec|passthru|shell_exec|popen)\s*(?:\}|\||$)|<%[=-]?[^%]*(?:\b(?:system|exec|execsync|popen|spawn|eval|syscall|import|require)\s*[\s(]|`|\bos\.|\bprocess\.|\bkernel\.|\bio\.popen|\bfile\.(?:read|open|write)|\bruntime\b)",
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
    // PHP open tags: `<?php`, `<?=`, `<?` ending a value, and the short tag `<? ` with a
    // statement after it (`<? should not` is prose).
    (
        Family::Php,
        r"<\?(?:php|=|\s*$|\s+(?:php\b|echo\b|print\b|include|require|\$|\?>|[a-z_][a-z0-9_]*\s*[('\x22$;]))",
    ),
    (
        Family::Php,
        r"\b(?:eval|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|phpinfo|base64_decode|gzinflate|gzuncompress|str_rot13|file_get_contents|file_put_contents|fopen|fwrite|readfile|include_once|require_once|preg_replace|create_function|call_user_func(?:_array)?|unserialize|highlight_file|show_source|move_uploaded_file|array_map|usort|ini_set|putenv|posix_[a-z]+|get_defined_vars|var_dump|print_r|hex2bin|strrev|str_replace|escapeshellcmd|array_filter|ob_start|parse_str|scandir|opendir|unlink|rmdir|curl_exec|fsockopen|stream_socket_client)\s*(?:/\*(?s:.)*?\*/\s*)*\(",
    ),
    // PHP: dangerous functions named by English words (`system (OS)`, `include (VAT)` and
    // `mail(s)` are prose): called right at the `(`, or with a quoted or `$` argument, as
    // PHP's global functions (a method or a Python module's function, `hashlib.md5(`,
    // `glob.glob(`, is no PHP). `chr`/`ord` are Python built-ins too: only PHP's string
    // concatenation (`chr(115).chr(121)`) or a `$` argument makes them PHP.
    (
        Family::Php,
        r"(?:^|[^a-z0-9_.>])(?:assert|system|include|require|mail|dl|extract|glob|symlink|crypt|explode|serialize|md5|sha1|crc32)(?:(?:/\*(?s:.)*?\*/\s*)*\((?:$|[^s)]|s[^)])|\s+\(\s*['\x22$])|\b(?:chr|ord)\s*\(\s*(?:\$|\d+\s*\)\s*\.)|\.\s*(?:chr|ord)\s*\(\s*\d",
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
    // SSRF to instance metadata and internal endpoints, in the usual disguises. A value that is
    // only a loopback name (`localhost`, a server setting) is no URL: it needs a port or path.
    (
        Family::Ssrf,
        r"169\.254\.169\.254|\[?fd00:ec2::254|metadata\.google\.internal|100\.100\.100\.200|169\.254\.170\.2|2852039166|0xa9fea9fe|0251\.0376\.0251\.0376|instance-data|(?://|@)(?:localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[::1?\]|0x7f[0-9a-f.]*|2130706433|017700000001)(?:[:/?#]|$)|^(?:localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[::1?\]|0x7f[0-9a-f.]*|2130706433|017700000001)[:/?#]|\b(?:gopher|dict|ldap|tftp|sftp|netdoc)://",
    ),
    // Java: class names used in gadget chains and expression injection, serialized streams.
    (
        Family::Java,
        r"\bjava\.(?:lang|io|util|net|beans|nio|rmi|security)\.|\bjavax\.|\bgetruntime\b|\bruntime\s*\.\s*(?:getruntime|exec|halt|exit|load(?:library)?)\b|\(\s*runtime\s*\)|(?:\.|\b)(?:processbuilder|classloader|urlclassloader|scriptengine(?:manager)?|invokertransformer|chainedtransformer|instantiatetransformer|constanttransformer|templatesimpl|commons\.collections|jdbcrowsetimpl|xstream|xalan|bsh\.interpreter|groovy\.lang|ognlcontext|memberaccess|forname|getclass|getmethod|newinstance|defineclass|getdeclaredmethod)\s*[.(]|\.runtime\b|[.\x22'](?:processbuilder|classloader|urlclassloader|scriptengine(?:manager)?|invokertransformer|chainedtransformer|templatesimpl|jdbcrowsetimpl|xstream)\b|class\.(?:module\.)?classloader|\bro0ab|\baced0005|\$\{[^}]*\b(?:class|runtime|exec)\b|#(?:_memberaccess|context|request)\b|@java\.",
    ),
    // Node.js / JavaScript server-side: prototype pollution, child processes, serialized functions.
    (
        Family::NodeJs,
        r"__proto__|constructor\s*(?:\.|\]?\s*\[\s*['\x22]?)\s*prototype|\bchild_process\b|\brequire(?:\(|\s+\(\s*['\x22`])|process\.(?:mainmodule|binding|env|exit|kill)|_\$\$nd_func\$\$_|\bfunction\s*\([^)]*\)\s*\{|=>\s*\{|\bnew\s+function\s*\(\s*(?:['\x22`]|\)|$)|\bthis\.constructor\b|\.constructor\s*\(|\bglobal\.process\b",
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
        r"(?:^|//|@)(?:ip6-(?:localhost|loopback)|ipv6-localhost|(?:[a-z0-9-]+\.)*(?:localtest|lvh)\.me|[a-z.-]*\.docker\.internal|host\.containers\.internal|metadata\.(?:packet\.net|azure\.com|platformequinix\.com)|kubernetes\.default(?:\.svc(?:\.cluster\.local)?)?)(?:[:/?#]|$)|(?://|@)localhost[46]?(?:\.localdomain[46]?)?(?:[:/?#]|$)|^localhost[46]?(?:\.localdomain[46]?)?[:/?#]|//\[[0-9a-f:.%a-z]*\]|//(?:\d{8,10}|0x[0-9a-f]{8}|0x[0-9a-f]{1,2}\.0x|0[0-7]{2,3}\.0)(?:[:/?#.]|$)|^(?:https?|ftps?):[^/]",
    ),
    // PHP: variable functions (`$f(…)`, `$a['b'](…)`, with comments between), called with a
    // whole argument list that ends the statement (a password like `$dax(cw7` is no call);
    // with white space before the `(` only on code-like arguments (`$AAPL (Apple).` is prose),
    // callable strings and arrays. Other functions as PHP calls them: snake_case names with a
    // `$` argument, comments before the `(`, white space before an empty argument list or an
    // open call ending the value (`array_diff (`); names with the prefix of one of PHP's or a
    // database's extensions, not as a method (`curl_init()`, `pg_…`, `lo_get(…)`; not numpy's
    // `np.array_equal(`); PHP's functions named by English words that are no Python built-ins,
    // not as a method (`count(id)`, `printf(x)`; not `s.count(x)`, `max(a, b)` nor a method's
    // `def reset(self)`). Python's own snake_case calls (`get_content_type()`) are no PHP.
    (
        Family::Php,
        r"\$+[a-z_][a-z0-9_]*(?:\s*(?:\[[^()]*\]|\{[^}]*\}|/\*(?s:.)*?\*/|//[^\n]*\n|#[^\n]*\n))*(?:\([^)]*\)\s*(?:$|[;.,)\]}&|?/-])|\s+\(\s*(?:\d+|['\x22$@][^)]*)?\s*\))|\$\s+\{|[)\]]\s*(?:\[\s*\d+\s*\]\s*)?(?:\{[^}]*\}\s*)?(?:/\*(?s:.)*?\*/\s*)*\(\s*(?:/\*(?s:.)*?\*/\s*)*['\x22]?[a-z_]+['\x22]?\s*(?:/\*(?s:.)*?\*/\s*)*\)\s*;|\bdefine\s*\(|\b[a-z]{2,}_[a-z0-9_]{2,}\s*(?:/\*(?s:.)*?\*/\s*)+\(|\b[a-z]{2,}_[a-z0-9_]{2,}(?:\s*\(\s*$|\s+\(\s*\))|(?:^|[^a-z0-9_.>$])(?:curl|array|str|mysqli?|pg|odbc|zend|ob|preg|mb|posix|pcntl|proc|stream|socket|ftp|gz|bz|libxml|simplexml|ldap|imap|ini|spl|mcrypt|openssl|apache|php|opcache|apcu|sodium|sqlite|oci|sqlsrv|lo|pdo|gmp|highlight)_[a-z0-9_]+\s*\(|\b[a-z]{2,}_[a-z0-9_]{2,}\s*\(\s*(?:[^)$]*,\s*)?\$[a-z_]|\b(?:strip_tags|substr|chmod|chown|chgrp|mkdir|gzdecode|gzopen|bzopen|sprintf|vsprintf|sscanf|ucfirst|lcfirst|implode|strlen|strtolower|strtoupper|ltrim|rtrim|gethostbyname[l]?|getenv|passthru|popen|ldap_[a-z_]+|sodium_[a-z0-9_]+|tidy_[a-z_]+)\s*(?:/\*(?s:.)*?\*/\s*)*\(|\b(?:touch|link|rename|copy|exec|shell|system|assert|eval|header|mail|printf|trim|print|echo|die|exit|list|array|compact|range|file|stat|chdir|dir|key|next|reset|end|each|current|pos|sort|count|max|min|unpack)\(\s*(?:\$|\)\s*;)|(?:^|[^a-z0-9_.>$])(?:touch|link|rename|copy|shell|header|mail|printf|trim|echo|die|array|compact|file|stat|chdir|key|reset|each|current|pos|sort|count|unpack)\((?:$|[^s)]|s(?:$|[^e)]|e(?:$|[^l])|el(?:$|[^f])))|\b(?:mbstring|smtp|sendmail_path|error_log|session\.save_path|mail\.log|zend\.assertions|pcre\.(?:backtrack|recursion|jit)_limit|mbstring\.regex_[a-z_]+)\s*=",
    ),
    // PHP: a function name, then comments or a line comment before the `(` (`exec#x\n(…)`,
    // `touch/*…*/()`): only code puts comments there, so any PHP function name counts.
    (
        Family::Php,
        r"\b(?:touch|link|rename|copy|exec|shell|system|assert|eval|header|mail|printf|trim|print|echo|die|exit|list|array|compact|range|file|stat|chdir|dir|key|next|reset|end|each|current|pos|sort|count|max|min|unpack|pack|pi|abs|floor|ceil|round|sqrt|pow|log|date|time|sleep|flush|join|split|extract|define|include|require|serialize|unserialize|symlink|chr|ord|crypt|substr|implode|explode|readfile|opendir|glob|popen|passthru|phpinfo|chmod|chown|mkdir|rmdir|unlink|fopen|fwrite|intval|floatval|boolval|strval|settype|gettype|filegroup|fileowner|fileperms|filemtime|fileatime|filectime|fileinode|filesize|filetype|checkdate|chroot|getcwd|readdir|readlink|realpath|tempnam|tmpfile|fclose|feof|fgets|fgetc|fread|fputs|fscanf|fseek|fstat|ftell|fflush|ftruncate|lstat|hexdec|dechex|decoct|octdec|bindec|decbin|bin2hex|uasort|uksort|umask|usleep|srand|strpos|stripos|strstr|stristr|strrchr|strtr|ucwords|nl2br|htmlspecialchars|urldecode|rawurldecode|phpversion|fpassthru|fgetcsv|fputcsv|rewinddir|closedir|gzdecode|gzencode|gzdeflate|gzcompress|bzdecompress|bzcompress|pfsockopen)\s*(?:(?:/\*(?s:.)*?\*/|//[^\n]*\n|#[^\n]*\n)\s*)+\(",
    ),
    // PHP: functions whose names are no English words, called with white space before `(`;
    // functions named by English words only with an empty argument list that starts the
    // value or a statement or ends one (`pi()`, `;phpinfo();`): prose about Python names
    // `"print()"` and `x.split()`.
    (
        Family::Php,
        r"\b(?:intval|floatval|boolval|strval|settype|gettype|filegroup|fileowner|fileperms|filemtime|fileatime|filectime|fileinode|filesize|filetype|checkdate|chroot|getcwd|readdir|readlink|realpath|tempnam|tmpfile|fclose|feof|fgets|fgetc|fread|fputs|fscanf|fseek|fstat|ftell|fflush|ftruncate|lstat|hexdec|dechex|decoct|octdec|bindec|decbin|bin2hex|uasort|uksort|umask|usleep|srand|strpos|stripos|strstr|stristr|strrchr|strtr|ucwords|nl2br|htmlspecialchars|urldecode|rawurldecode|phpversion|fpassthru|fgetcsv|fputcsv|rewinddir|closedir|gzdecode|gzencode|gzdeflate|gzcompress|bzdecompress|bzcompress|pfsockopen)\s*\(|(?:^|[;{}@]|<\?(?:php)?)\s*(?:touch|link|rename|copy|exec|shell|system|assert|eval|header|mail|printf|trim|print|echo|die|exit|list|array|compact|range|file|stat|chdir|dir|key|next|reset|end|each|current|pos|sort|count|max|min|unpack|pack|pi|abs|floor|ceil|round|sqrt|pow|log|date|time|sleep|flush|join|split|extract|define|include|require|serialize|unserialize|symlink|chr|ord|crypt|substr|implode|explode|readfile|opendir|glob|popen|passthru|phpinfo|chmod|chown|mkdir|rmdir|unlink|fopen|fwrite)\s*\(\s*\)|\b(?:touch|link|rename|copy|exec|shell|system|assert|eval|header|mail|printf|trim|print|echo|die|exit|list|array|compact|range|file|stat|chdir|dir|key|next|reset|end|each|current|pos|sort|count|max|min|unpack|pack|pi|abs|floor|ceil|round|sqrt|pow|log|date|time|sleep|flush|join|split|extract|define|include|require|serialize|unserialize|symlink|chr|ord|crypt|substr|implode|explode|readfile|opendir|glob|popen|passthru|phpinfo|chmod|chown|mkdir|rmdir|unlink|fopen|fwrite)\s*\(\s*\)\s*;",
    ),
    // PHP: names of compression, socket and exec functions that obfuscated webshells use;
    // they are no words, so they count anywhere, called or not (`FOOgzinflate`).
    (
        Family::Php,
        r"fsockopen|call_user_func|get_defined_(?:functions|vars|constants)|create_function|gzinflate|gzdeflate|gzuncompress|gzdecode|zlib_decode|zlib_encode|bzdecompress|str_rot13|shell_exec|proc_open|pcntl_exec",
    ),
    // PHP: strings called as functions: `"system"(…)`, `(string)"sys"."tem" (…)`,
    // `return"system"(…)`, `('system')('id')`, `(sy.(st).em)(…)`.
    (
        Family::Php,
        r"['\x22][a-z_][a-z0-9_]+['\x22]\(|(?:\(\s*string\s*\)|\breturn)\s*['\x22][^'\x22]*['\x22]\s*(?:\.\s*['\x22][^'\x22]*['\x22]\s*)*\(|['\x22]\s*\.\s*['\x22][a-z0-9_]*['\x22]\s*\(|\(\s*['\x22]?\s*(?:system|exec|shell_exec|passthru|popen|proc_open|eval|assert|phpinfo|create_function|call_user_func|include|require|readfile|file_get_contents|base64_decode|unserialize)\s*['\x22]?\s*\)\s*\(|\.\s*\(\s*['\x22]?[a-z_]+['\x22]?\s*\)\s*\.",
    ),
    // PHP: code openers: Smarty `{php}`, `[php]` blocks with code in them.
    (
        Family::Php,
        r"\{/?php\}|\[[/\\]php\]|\[php\]\s*(?:\$|<|[a-z_]+\s*[(\x22'$])",
    ),
    // PHP: variable variables called (`${$x}['a'](1)`, `${'a'}(1)`).
    (Family::Php, r"\$\{[^}]+\}(?:\(|\s*\[[^()]*\]\s*\()"),
    // PHP: php.ini directives set from a request (`.user.ini` uploads, `ini_set` arguments).
    (
        Family::Php,
        r"\b(?:opcache\.[a-z_]+|memory_limit|extension_dir|unserialize_max_depth|max_execution_time|max_input_(?:time|vars|nesting_level)|upload_max_filesize|post_max_size|display_(?:startup_)?errors|error_reporting|log_errors|html_errors|register_globals|short_open_tag|include_path|file_uploads|upload_tmp_dir|user_ini\.[a-z_]+|enable_dl|expose_php|variables_order|request_order|output_(?:buffering|handler)|implicit_flush|serialize_precision|zend\.[a-z_]+|session\.[a-z_]+|assert\.[a-z_]+|phar\.[a-z_]+|xdebug\.[a-z_]+|realpath_cache_[a-z]+|date\.timezone|sys_temp_dir|doc_root|user_dir|cgi\.[a-z_]+|fastcgi\.[a-z_]+)\s*=|^(?:engine|extension|zend_extension|precision)\s*=",
    ),
    // SSRF: IPv4 hosts written in hex or zero-padded octal parts, or with 2–3 parts
    // (`0xa9.0xfe.…`, `0251.00376.…`, `169.254.43518`, `169.16689662`), hosts spelled in
    // enclosed alphanumerics (`①②⑦.⓪.⓪.①`, `ⓛⓞⓒⓐⓛⓗⓞⓢⓣ`), IPs with ideographic full stops, and
    // hosts written as backslash escapes (`//\l\o\c…`). (Enclosed alphanumerics are U+2440–24FF,
    // UTF-8 `e2 91..93 xx`; the third byte may have been folded to a space with NBSP.)
    (
        Family::Ssrf,
        r"//(?:(?:0x[0-9a-f]+|\d+)\.)*(?:0x[0-9a-f]+|0\d+)(?:\.(?:0x[0-9a-f]+|\d+))*(?:[:/?#]|$)|//\d+(?:\.\d+){1,2}(?:[:/?#]|$)|://\xe2[\x91-\x93]|//\d{1,3}(?:\xe3\x80\x82|\xef\xbc\x8e|\xef\xbd\xa1)\d|://\\[a-z0-9]",
    ),
    // SSRF: a value that is a `data:` URL of text (fetchers that accept URLs read the
    // attacker's own content from it); images, the everyday `data:` upload, stay allowed.
    (Family::Ssrf, r"^data:text/[a-z0-9.+-]+(?:[;,]|$)"),
    // Node.js: serialized functions (funcster's `__js_function`), module export overwrites,
    // console methods called through `call`/`apply`, process spawning, React Flight
    // references that walk to a prototype (`"$7:Module:prototype"`), and busy loops
    // (`while(-1);`, `while(new Date)`).
    (
        Family::NodeJs,
        r"__js_function|\bmodule\.exports\s*(?:\.\s*[a-z_$][a-z0-9_$]*\s*)?=|\bconsole\s*\.\s*[a-z]+\s*\.\s*(?:call|apply|bind)\s*\(|\bprocess\s*\.\s*(?:spawn|exec|fork|dlopen)\s*\(|\$[0-9a-f]+:(?:[a-z0-9_$]+:)*(?:prototype|constructor|__proto__)\b|\bwhile\(\s*[-+!(]*\s*(?:true|[1-9]|infinity|new\b|this\b|\[|\{)",
    ),
    // Java: a value that is a serialized object stream (magic `AC ED 00 05` at its start), raw
    // or mangled into UTF-8.
    (Family::Java, r"^(?:\xac\xed|\xc2\xac\xc3\xad)\x00?\x05"),
    // ---- Web shells: server code that runs what a request sends. ----
    // A request parameter handed straight to an API (or ASP's `Execute` statement) that runs
    // code or commands, reads or writes files, the registry or a database, loads classes or
    // renders a template
    // (`Execute Request("cmd")`, `File.WriteAllText(Request["file"], …)`,
    // `stmt.executeQuery(request.getParameter("q"))`, `os.system(request.args.get('cmd'))`,
    // `render_template_string(request.args['t'])`), and a request parameter named for a
    // command read into a variable (`cmd = Request.Form("cmd")`, `$q->param('cmd')`), or a
    // command variable filled from a socket or the query string (`cmd = conn.recv(1024)`).
    (
        Family::CommandInjection,
        r"\b(?:execute|executeglobal|eval|createtextfile|opentextfile|writealltext|writeallbytes|readalltext|readallbytes|appendalltext|getfiles|getdirectories|deletefile|copyfile|movefile|opensubkey|createsubkey|getvalue|setvalue|sqlcommand|oledbcommand|executequery|executeupdate|executereader|executenonquery|loadclass|forname|evaluate|addscript|addcommand|compileassemblyfromsource|jmxserviceurl|fileinputstream|fileoutputstream|filereader|filewriter|printwriter|objectinputstream|invoke|exec|system|popen|spawn|shell|run|start|call|check_output|listdir|rmtree|unlink|readfile|writefile|download|downloadfile|uploadfile|savetofile|loadfromfile|search|lookup|render|render_template_string)\s*\(\s*(?:new\s+[a-z_.]+\s*\(\s*)?(?:[^()\n]|\([^()\n]*\))*?(?:request\s*(?:\.\s*(?:form|querystring|params|item|cookies|servervariables|headers))?\s*[\[(]\s*['\x22]|request\s*\.\s*get(?:parameter|header|inputstream|reader|querystring)\s*\(|request\s*\.\s*(?:args|form|files|values|data|cookies|get_json)\b|\$_(?:get|post|request|cookie|files|server)\b|->\s*param\s*\(|\$argv\b|\benviron\s*(?:\.\s*get\s*\(|\[)\s*['\x22](?:query_string|http_))|(?:request\s*(?:\.\s*(?:form|querystring|params|item))?\s*[\[(]|request\s*\.\s*getparameter\s*\(|->\s*param\s*\(|request\s*\.\s*(?:args|form|values)\s*(?:\.\s*get\s*\(|\[))\s*['\x22](?:cmd|command|exec|execute|shell|code|payload)['\x22]|\b(?:execute|executeglobal|eval)\s+request\s*(?:\.\s*(?:form|querystring|item))?\s*\(\s*['\x22]|\b(?:cmd|command)\s*=\s*(?:[a-z_]+\s*\.\s*recv\s*\(|environ\s*(?:\.\s*get\s*\(|\[)\s*['\x22]query_string)",
    ),
    // Running commands from .NET, classic ASP and Windows scripting: the shell objects, the
    // process start information, reading a process's output, compiling or scripting code at
    // run time, WMI process creation.
    (
        Family::WindowsCommand,
        r"wscript\.shell|shell\.application|\.stdout\.readall\b|\bprocessstartinfo\b|\bsystem\.diagnostics\.process\b|\bprocess\s*\.\s*start\s*\(|\.standard(?:output|error)\s*\.\s*read|\buseshellexecute\b|\bredirectstandard(?:output|input|error)\b|\b(?:csharp|vb)codeprovider\b|compileassemblyfromsource|\bwin32_process\b|\bactivator\s*\.\s*createinstance\s*\(|\bpowershell\s*\.\s*create\s*\(|\brunspacefactory\b",
    ),
    // Perl, Python and Ruby shells: a pipe opened to a command (`open(CMD, "$cmd|")`), standard
    // streams duplicated onto a socket (`open(STDOUT, ">&S")`, `os.dup2(s.fileno(), 1)`), a
    // socket dialled to a raw address and port (reverse shells), a variable run in backticks
    // (`` `$cmd`; ``), modules imported by name to run commands (`__import__('os')`), Python's
    // process calls (`os.system(`, `os.popen(`, `pty.spawn(`, a subprocess with `shell=True`).
    (
        Family::CommandInjection,
        r"\bopen\s*\(\s*[a-z_]+\s*,\s*['\x22](?:\s*\||[^'\x22]*\|\s*['\x22])|\bopen\s*\(\s*std(?:in|out|err)\s*,\s*['\x22][<>+]*&|\bsocket\s*\(\s*[a-z_]+\s*,\s*(?:pf|af)_inet\b|\bos\s*\.\s*dup2\s*\(\s*[a-z_.]+\s*\.\s*fileno\s*\(\s*\)\s*,\s*[0-2]\s*\)|(?:new\s+socket|\.connect|tcpsocket\s*\.\s*(?:new|open))\s*\(\s*\(?\s*['\x22]\d{1,3}(?:\.\d{1,3}){3}['\x22]\s*,\s*\d{2,5}|`\$[a-z_][a-z0-9_]*`\s*[;)]|__import__\s*\(\s*['\x22](?:os|subprocess|pty|posix|commands|builtins)['\x22]\s*\)|\bos\s*\.\s*(?:system|popen[234]?|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?)\s*[(,]|\bpty\s*\.\s*spawn\s*\(|\bsubprocess\s*\.\s*[a-z_]+\s*\((?:[^()]|\([^()]*\))*\bshell\s*=\s*true|\bipc::(?:open[23]|run)\b|\b(?:do|require|eval|system|exec)\s+\$argv\b",
    ),
    // JVM and PHP: script engines and Groovy shells created to evaluate text, functions
    // reached by name through reflection (`new ReflectionFunction('system')`), and the end
    // of a PHP file that carries a payload after it (`__halt_compiler();`).
    (
        Family::Java,
        r"\bgetenginebyname\s*\(|\bgroovyshell\b|\bnashorn\b",
    ),
    (
        Family::Php,
        r"\breflectionfunction\s*\(\s*['\x22](?:system|exec|shell_exec|passthru|popen|proc_open|assert|eval|create_function|call_user_func)|\b__halt_compiler\s*\(",
    ),
    // Session fixation: a cookie planted by script or meta tag (`document.cookie="…;domain=…"`,
    // `http-equiv=set-cookie`).
    (
        Family::SessionFixation,
        r"\.cookie\b.*;\W*(?:expires|domain)\W*=|\bhttp-equiv\W+set-cookie\b",
    ),
];
