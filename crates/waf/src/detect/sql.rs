//! SQL injection patterns beyond libinjection's fingerprints (SqliMatch sensitivity HIGH, `SQLiExtendedPatterns`).
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a family, not for a single payload.

use super::Family;

pub(super) const PATTERNS: &[(Family, &str)] = &[
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
