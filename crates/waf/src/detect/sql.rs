//! SQL injection patterns beyond libinjection's fingerprints (SqliMatch sensitivity HIGH, `SQLiExtendedPatterns`).
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a family, not for a single payload. `SqliHigh` patterns are strong evidence on their
//! own; a `SqliWeak` pattern also matches ordinary text and counts only with a second,
//! independent signal (another weak pattern or libinjection, see `super::sqli_families`).

use super::Family;

/// What follows `or`/`and` in an injected condition: an operand and then a comparison, a
/// comment or `;` (`'1'='1`, `1=1`, `1--`, `name like 'a`, `'x' #`, `'' '`), an operand whose quote the
/// application closes (`'1` at the end), a call with SQL's arguments (`sleep(5)`, `user()`; not
/// `isinstance(value, int)`) or cut off by `;` or a comment (`json (id);`) or by a boolean operator
/// and a quote the application closes (`starts_with(password) and 'true`), a subquery, a variable, or a
/// boolean literal. Ordinary text goes on with words after the operand.
macro_rules! sql_condition {
    () => {
        concat!(
            r"\(*\s*(?:",
            r"['\x22`][^'\x22`]{0,40}['\x22`]\s*(?:[=<>!]|(?:not\s+)?(?:r?like|regexp|between|sounds\s+like)\b|--|#|/\*|;|['\x22`]\s*$)",
            r"|['\x22`][^'\x22`\s]*$",
            r"|[-+]?\d+(?:\.\d+)?\s*(?:[-=<>!+*/%)#;|&^,]|$|(?:x?or|and|div|like|rlike|regexp|is|in|between)\b)",
            r"|[a-z_][\w.$]*\s*(?:[=<>!]|(?:not\s+)?(?:r?like|regexp)\s|is\s+(?:not\s+)?null\b)",
            r"|[a-z_][\w.]*\s*\(\s*(?:[\d'\x22`@()]|select\b|null\b|0x|$)|[a-z_][\w.]*\s*\([^()'\x22`]*\)[\s)]*(?:;|--|#|/\*)",
            r"|[a-z_][\w.]*\s*\([^()'\x22`]*\)\s*(?:x?or|and|&&|\|\|)\s*['\x22`][^'\x22`\s]*$",
            r"|(?:not\s+)?exists\b|select\b|@",
            r"|(?:not|true|false|null)\b\s*(?:[-=<>!)#;(@'\x22`\d]|$|--|/\*)",
            r")"
        )
    };
}

pub(super) const PATTERNS: &[(Family, &str)] = &[
    // SQL beyond libinjection's fingerprints (sensitivity HIGH).
    (
        Family::SqliHigh,
        r"\bunion\b(?:\s|\+|/\*.*?\*/|\(|all|distinct)+select\b",
    ),
    (
        Family::SqliHigh,
        r"(?:^|[^\w.])(?:sleep|benchmark|pg_sleep)\s*\(\s*(?:[\d@(]|select\b|['\x22]\d|\w+\s*\(|$)|\b(?:dbms_pipe\.receive_message|dbms_lock\.sleep|extractvalue|updatexml|load_file)\s*\(|\bwaitfor\s+(?:delay|time)\s+['\x22]|\b(?:information_schema|sysobjects|syscolumns|xp_cmdshell|sp_executesql|sp_oacreate|utl_http|utl_inaddr|pg_catalog|sqlite_master|mysql\.user|sys\.user_objects|msysaccessobjects)\b",
    ),
    (
        Family::SqliHigh,
        r"\binto\s+(?:out|dump)file\b|\b(?:or|and|xor|not|\|\||&&)\s+['\x22`(]?\s*['\x22`]?\w*['\x22`]?\s*(?:=|<=>)\s*['\x22`(]?\w*['\x22`]?\s*(?:--|#|/\*|;|$|\))",
    ),
    (
        Family::SqliHigh,
        r"\b(?:or|and|xor|not|\|\||&&)\s+['\x22`(]?\s*['\x22`]?\w*['\x22`]?\s*(?:\brlike\b|\bregexp\b)\s*['\x22`(]?\w*['\x22`]?\s*(?:--|#|/\*|;|$|\))",
    ),
    // The same condition with an English word for the comparison reads like prose (`cats and
    // dogs like food`): weak.
    (
        Family::SqliWeak,
        r"\b(?:or|and|xor|not|\|\||&&)\s+['\x22`(]?\s*['\x22`]?\w*['\x22`]?\s*(?:\blike\b|\bis\b|\bbetween\b)\s*['\x22`(]?\w*['\x22`]?\s*(?:--|#|/\*|;|$|\))",
    ),
    // A quote that closes a literal, then a boolean or pattern operator and what an injection
    // puts after it (`sql_condition!`): the quote at the start, after a non-letter, or followed
    // by a space or `)` (`admin' or 'x'='x`, `1" or 1=1`, `foo''or'1`). Prose and docs quote
    // words and join them with `or`/`and` too (`"text/plain" or "message/rfc822", although`,
    // `"__get__()" and "__set__()"`): there the second operand is followed by more prose, not
    // by a comparison, a comment or the end of the value. Quoted phrases (`"dress" AND
    // "christmas"`) and Markdown code spans are text shapes (`super::sql_text_shape`).
    (
        Family::SqliHigh,
        concat!(
            r"(?:(?:^|[^a-z\x80-\xff])['\x22`]|[a-z\x80-\xff](?:['`](?:\s|\))|\x22))\s*(?:\)\s*)*(?:(?:x?or|and|div|like|rlike|regexp|sounds\s+like)\b|&&|\|\|)\s*",
            sql_condition!(),
        ),
    ),
    // An apostrophe inside a word, glued to the operator (`D'or 1st`, `l'or`): an elided article
    // as often as `admin'or 1=1`: weak.
    (
        Family::SqliWeak,
        r"[a-z\x80-\xff]['`](?:or|and|xor|div|like|rlike|regexp|sounds\s+like|&&|\|\|)\s*(?:['\x22`(\d@]|not\b|true\b|false\b|null\b|[a-z_]+\s*\()",
    ),
    // Statements after a quote or `;`, comments after a quote, calls of SQL functions on SQL
    // arguments (a name glued to a non-ASCII letter ends a word: `Haßelt (1599)`; English words
    // take a bare-word argument only glued to `(`: prose writes `if (i, j, n)`), a subquery or a
    // SELECT of a call, strings built from character codes (`chr(122).chr(97)`). A bare `SELECT *
    // FROM users` is prose or docs about SQL, not an injection.
    (
        Family::SqliHigh,
        r"(?:;|['\x22`)]\s*;)\s*(?:drop|delete|insert|update|shutdown|truncate|exec|execute|declare|create|alter|select|grant|rename|replace|handler|load|call|set\s+@)\b\s*[^\s]|;\s*shutdown\b|\bhaving\s+\d|\border\s+by\s+\d+\s*(?:--|#|/\*|$)|\bexec(?:ute)?\s+(?:master\.|xp_|sp_)|(?:^|[^\w\x80-\xff])(?:concat(?:_ws)?|group_concat|char|unhex|ascii|substring|substr|mid|ord|cast|convert|hex|version|database|current_user|user|schema|coalesce|ifnull|nullif|if|case|elt|make_set|json_extract|row_count)(?:\s*\(\s*(?:@|['\x22`]|\d|select\b|0x)|\(\s*\w+\s*[(,])|@@(?:version|datadir|hostname|basedir)|\bselect\s+(?:@@|null\b|\d+\s*,|\w+\()|\(\s*select\s+(?:\*|\w+\s*\(|count\b)|\b(?:chr|char)\s*\(\s*\d+\s*\)\s*(?:\.|\|\||\+|&|,)\s*(?:chr|char)\s*\(",
    ),
    // Weak: a statement keyword right after a quote or parenthesis (`` `DELETE` ``, `"Select
    // one"`, `(optional) update`) or alone after `;` at the end (`table - olive; select`), a
    // quote followed by a comment or `;` (`7" #2 needle`,
    // `hat 18';`), a long hex number (`0x71C7…`, a wallet address).
    (
        Family::SqliWeak,
        r"['\x22`)]\s*(?:drop|delete|insert|update|shutdown|truncate|exec|execute|declare|create|alter|select|grant|rename|replace|handler|load|call|set\s+@)\b|;\s*(?:drop|delete|insert|update|shutdown|truncate|exec|execute|declare|create|alter|select|grant|rename|replace|handler|load|call|set\s+@)\s*$|[\w)]['\x22`]\s*(?:--|#|/\*|;)|^['\x22`]\s*(?:--|#|/\*|;)[^'\x22`]*$|0x[0-9a-f]{8,}",
    ),
    // Strong: a value that opens with a quote and a statement (`'alter a`, `" ALTER A`), or that
    // is one word (not ending in a digit, an inch or foot mark) closed by a quote and cut off by
    // a comment or `;` (`';`, `admin'--`, `user@example.com';`, `';@@#--`), with no other quote
    // after it unless one reopens a literal at the very end (`'; return true; var x='`): a
    // string literal in code (`';'  # semicolon`, `'-----\n'`) closes its quote.
    (
        Family::SqliHigh,
        r"^\s*['\x22`]\s*(?:drop|delete|insert|update|shutdown|truncate|exec|execute|declare|create|alter|select|grant|rename|replace|handler|load|call)(?:[\s/(]|$)|^(?:[^\s'\x22`]*[^\s'\x22`\d])?['\x22`]\s*(?:--|#|/\*|;)(?:[^'\x22`]*|.*[=(,+]\s*['\x22`])$",
    ),
    // SQL function calls (sensitivity HIGH). Names that are also English words or acronyms
    // (`user`, `version`, `count`, `database`, `weekday`, `MD5 (hash)`) count only when the
    // parenthesis follows at once; `(s)` plurals never.
    // A name glued to a non-ASCII letter is the end of a word (`Haßelt (1599)`), not a call.
    (
        Family::SqliHigh,
        r"(?:^|[^\w\x80-\xff])(?:acos|asin|atan2?|bit_(?:and|or|xor|count|length)|char_length|charindex|coalesce|concat(?:_ws)?|connection_id|convert(?:_tz)?|crc32|cur(?:date|time)|current_(?:date|time|timestamp|user|setting)|date_(?:add|format|sub)|datediff|dayof(?:month|week|year)|db_name|des_(?:en|de)crypt|export_set|extractvalue|find_in_set|from_(?:base64|days|unixtime)|get_lock|group_concat|host_name|ifnull|inet_ntoa|inet_aton|is_srvrolemember|isnull|json_(?:extract|keys|object|array)|last_insert_id|lcase|load_file|lo_import|log10|log2|lpad|ltrim|make_set|name_const|nullif|nvl|octet_length|openrowset|openquery|pg_(?:sleep|read_file|ls_dir)|randomblob|release_lock|rpad|rtrim|sec_to_time|session_user|soundex|stddev|str_to_date|strcmp|subdate|substr(?:ing(?:_index)?)?|suser_sname|sysdate|system_user|to_(?:base64|days|char)|ucase|uncompress(?:ed_length)?|unhex|unistr|unix_timestamp|updatexml|utc_(?:date|time)|var_pop|weekofyear|xmltype|zeroblob)\s*\(",
    ),
    // Names that are also English words or everyday identifiers (`User(login_name)`,
    // `max(a, b)`, `format()`): the weakest signal (see `Family::SqliName`).
    (
        Family::SqliName,
        r"(?:^|[^\w\x80-\xff])(?:abs|avg|ceil|ceiling|database|md5|radians|sha|sha1|sha2|sqrt|uuid|weekday|user|version|count|sum|min|max|left|right|field|format|position|space|quote|repeat|replace|reverse|round|schema|sign|values|length|char|chr|ascii|insert|default|minute|hour|second|year|month|day|date|time|now|trim|floor|exp|pi|upper|lower|encode|decode|extract|password|exists|in|any|all|if|iif|case|cast|hex|mid|ord|conv|cos|cot|tan|ln|pow|power|rand|sleep|compress|collation|degrees|locate|variance|elt|instr|oct|div|procedure\s+analyse\s*)\((?:[^s)]|s[^)])",
    ),
    // The same names called with nothing after `(` (a call left open, CRS 942410) or with an
    // argument only SQL has (`@`, a subquery or a parenthesis, a hex literal): strong. Numbers, quotes and calls
    // are every language's arguments (`max(2, w)`, `encode('ascii')`): weak, above.
    (
        Family::SqliHigh,
        r"(?:^|[^\w.\x80-\xff])(?:abs|avg|ceil|ceiling|database|md5|radians|sha|sha1|sha2|sqrt|uuid|weekday|user|version|count|sum|min|max|left|right|field|format|position|space|quote|repeat|replace|reverse|round|schema|sign|values|length|char|chr|ascii|insert|default|minute|hour|second|year|month|day|date|time|now|trim|floor|exp|pi|upper|lower|encode|decode|extract|password|exists|in|any|all|if|iif|case|cast|hex|mid|ord|conv|cos|cot|tan|ln|pow|power|rand|sleep|compress|collation|degrees|locate|variance|elt|instr|oct|div|procedure\s+analyse\s*)\(\s*(?:$|[@(]|select\b|0x)",
    ),
    (
        Family::SqliHigh,
        r"::\s*(?:int|integer|text|varchar|json|jsonb|bigint|numeric|bool)\b|\b(?:nvarchar|varchar2?|tempdb|northwind|msdb|master\.\.|dbo\.|sys\.(?:tables|columns|objects|databases)|sysibm|syscat|all_tables|user_tables)|['\x22`]\s*(?:collate|notnull|isnull)\b|['\x22`]\s*(?:glob|escape)\s|\bcreate\s+(?:table|database|procedure|function|trigger)\b|\b(?:drop|alter|truncate)\s*(?:/\*.*?\*/\s*)*(?:table|database|column|procedure)\b|\bdrop\s*/\*|\bfrom\s+`\w+`\.`?\w|\bgroup\s+by\b.{0,40}(?:having|--|#|;|&)|<=>|\b(?:or|and|xor)\s+\d+\s*[<>=!]|@@(?:version|datadir|basedir|hostname|servername|servicename|spid|language|identity|rowcount|error|trancount|tmpdir|port|secure_file_priv|plugin_dir|sql_mode|variable|global\.|session\.|[a-z]+_(?:dir|version|mode|path|priv|name)\b)|\bset\s+@\w+|\)\s*as\s+\w+\s+from\b|(?:^|\[)\$(?:ne|eq|gte?|lte?|in|nin|not|or|and|nor|regex|where|exists|expr|elemmatch|jsonschema|text)\b",
    ),
    // Chained conditions (CRS 942210): a logical operator (`||`, `&&`, `or`, `and`) followed by
    // an operand and a comparison (`|| c == '`, `&&(e===`, `AND uid!=(`), and a comparison
    // against a subquery (`= ( SELECT`, `= all (select`).
    (
        Family::SqliHigh,
        r"(?:\|\||&&)\s*\(?\s*[\w$][\w$.]*\s*(?:(?:[!=]==?|[<>]=?)\s*(?:['\x22(]|$)|=\s*(?:['\x22(]|!\d|\d\)))|\b(?:x?or|and)\s+\(?\s*[a-z_][\w.]*\s*(?:!=|==)\s*(?:['\x22(]|$)|[=<>!]\s*(?:(?:all|any|some)\s*)?\(\s*select\b",
    ),
    // A call left open at the end of the value (CRS 942410/942151): an SQL function name, a few
    // separators that SQL skips or an injection adds (`/**/`, `||`, `]=`, `')?$`), then `(`.
    // Only at the very end: a closed `if (x) then y`, `round (2 pm)` is prose; `:(`, `;(` and `=(`
    // are emoticons (`forgot my password :(`).
    (
        Family::SqliHigh,
        r"(?:^|[^\w.])(?:abs|ascii|avg|bin|ceil|ceiling|char|chr|coalesce|compress|concat|cos|cot|count|database|date|day|decode|div|elt|encode|exp|extract|field|floor|format|hex|hour|if|ifnull|in|insert|instr|left|length|ln|local|locate|log|log2|log10|lower|md5|mid|minute|month|now|oct|ord|password|pow|power|quarter|rand|repeat|replace|reverse|right|round|schema|second|sha1?|sign|sin|sleep|space|sqrt|substr|substring|sum|tan|time|trim|upper|user|uuid|values|version|week|weekday|year)(?:\]=|[^\w\s:;=]|\s){0,8}\(\s*$",
    ),
    // A quoted value closed, then an operator or boolean keyword and the rest of the query cut off
    // by a trailing comment (CRS 942520/942521/942120/942340): `x'|email--`, `id'is not-id--`,
    // `admin' and email ilike email--`, `' is not?--`. A statement ended by `;--`. A closed quote,
    // a boolean and a pattern operator that is no English word (`' and password glob password`).
    (
        Family::SqliHigh,
        r"(?:^|\w)['`]\s*(?:x?or|and|div|mod|not|is|like|rlike|regexp|glob|sounds\s+like|[-+|^&<>=/%*!?])[^'\x22`]{0,80}--[\s-]*$|\s\w+\s*;\s*--[\s-]*$|['`]\s*(?:x?or|and)\s+\w+\s+(?:not\s+)?(?:glob|rlike|regexp|ilike)\s+\w",
    ),
    // Tautologies on quoted numbers (`1='1'`, `'1001'='10`, `'admin', '1'='1'`), comparisons of
    // two quoted strings (`'x'!='y`), and the same tautology written with typographic quotes
    // that some collations fold (`’ OR ’1’=’x’`).
    (
        Family::SqliHigh,
        r"(?:^|[^\w.'\x22])\d+\s*=\s*['\x22]\d|['\x22]\d+['\x22]\s*=\s*['\x22]\d|['\x22`]\w*['\x22`]\s*(?:!=|<>)\s*['\x22`]|(?:\xe2\x80[\x98\x99]|\xc2\xb4)\s*(?:or|and)\s+(?:\xe2\x80[\x98\x99]|\xc2\xb4)?\w+(?:\xe2\x80[\x98\x99]|\xc2\xb4)?\s*=",
    ),
    // JSON operators on a quoted JSON literal (CRS 942550): `'{"a":2}' -> '$.a'`,
    // `'{"a":"b"}' ? 'a'`, `?| array['a']`, `@>`.
    (
        Family::SqliHigh,
        r"'[\[{][^']*[\]}]'\s*(?:->>?|#>>?|\?[|&]?|@>|<@|<|>|=)\s*(?:'|array\s*\[)",
    ),
    // Probes that open a value by closing a literal (CRS 942390/942490/942361): a boolean and a
    // comparison (`' or abc!`, `or 'a' <`, `xor 5-`), a comparison with a number (`` `>65 ``,
    // `">%5`), a column list of empty strings and numbers (`'', '', 13`, `', 2, 1`), UNION
    // (`' union/`; a quoted `"Union Square"` goes on with a word), a value that is only a
    // quote and a boolean operator (`' OR`) or a boolean operator and a constant cut off by a
    // comment (`or true--`).
    (
        Family::SqliHigh,
        r"^['\x22`]\s*x?or\s+['\x22`]?\w+['\x22`]?\s*[!<>=-]$|^x?or\s+(?:['\x22`]\w+['\x22`]|\d+)\s*[!<>=-]$|^`\s*[<>]=?\s*\d|^['\x22]\s*>\s*[%\d]|^'\s*,\s*\d+\s*,|^'[^']{0,3}'\s*,\s*(?:'[^']{0,3}'\s*,\s*)*\d+\s*$|^['\x22`]\s*union\s*(?:/|\(|all\b|select\b|distinct\b)|^\s*['\x22`]\s*(?:x?or|and|\|\||&&)\s*$|^\s*(?:x?or|and)\s+(?:true|false|not\s+false|\d+)\s*(?:--|#|/\*)[\s-]*$",
    ),
    // Column aliases before FROM (`) AS 'x' FROM`, `1234 AS "foobar" FROM`), a backtick-quoted
    // operand before REGEXP, a value that is an `IN (` number list or opens a subquery
    // (`in (0,1)`; prose `in (2 weeks)`, `In (2019, 2020) we …` goes on), SQL keywords glued
    // to an inline comment (`SELECT/*x*/password`), CASE/WHEN and other statement fragments, MSSQL
    // extended procedures and OLE DB providers, hex literals selected, `1.e(` (MySQL float
    // notation used to hide a call), `PROCEDURE ANALYSE(`, a set operation on a row of values
    // (`except values(1,2)`).
    (
        Family::SqliHigh,
        r"(?:\)|\d|`)\s*as\s*(?:['\x22`]\w*['\x22`]|['\x22`])\s*from\b|\bfrom\s+`[\w.]+`\s+where\b|`\s+(?:not\s+)?(?:regexp|rlike)\s|^\s*in\s*\(\s*(?:select\b|-?\d+(?:\s*,\s*-?\d+)+\s*\)?\s*$)|\bexec(?:ute)?\s*\(\s*@|\b(?:select|union|insert|update|delete|drop|from|where|and|or|order|group|having|into|values|exec)/\*.*?\*/|/\*.*?\*/(?:select|union|from|where|and|or)\b|\bselect\s*\(\s*case\b|\)\s*when\s+\d+\s+then\b|\)\s*like\s*\(|\bexecute\s+immediate\b|\bdeclare\s*(?:/\*.*?\*/\s*)*@\w|\bselect\s+0x[0-9a-f]|\bpg_sleep\b|\bxp_(?:dirtree|regread|regwrite|fileexist|servicecontrol|availablemedia|subdirs|terminate_process|loginconfig|enumgroups|makecab)\b|\bsp_(?:password|makewebtask|addextendedproc|addsrvrolemember|addlogin|configure)\b|\bopen(?:rowset|datasource)\b|\b(?:msdasql|sqloledb)\b|\d\.e\s*\(|\bprocedure\s+analyse\s*\(|\b(?:union|except|intersect)\s+(?:all\s+|distinct\s+)?values\s*\(",
    ),
];
