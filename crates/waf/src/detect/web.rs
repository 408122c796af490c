//! Web-application injections beyond SQL and tags: JavaScript that runs without a tag, CR/LF
//! header injection, LDAP filter injection, NoSQL (MongoDB operator) injection.
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a technique, not for a single payload, and the comments name the ordinary text each
//! one must leave alone (tests/tables.rs holds both sides).

use super::Family;

/// MongoDB query and evaluation operators.
macro_rules! mongo_ops {
    () => {
        r"(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|expr|or|and|not|nor|elemmatch|size|type|all|mod|function|accumulator|jsonschema|text|options)"
    };
}

pub(super) const PATTERNS: &[(Family, &str)] = &[
    // Script without a tag: a dialog or `eval` called through call/apply/bind, optional
    // chaining or comments (`confirm.call(null,1)`, `alert?.(1)`, `alert/**/(1)`), or named in
    // parentheses and then called with code-like arguments (`(alert)(1)`, `(0,eval)('…')`,
    // `(top.confirm)``). Prose (`please confirm (yes)`, `levels (alert) (warning)`) has no
    // parenthesis right before the name or words, not code, in the next one.
    (
        Family::JsExec,
        r"\b(?:alert|confirm|prompt|eval|print|settimeout|setinterval|execscript|importscripts)\s*(?:\.\s*(?:call|apply|bind)\s*\(|\?\.\s*[(`]|(?:/\*.*?\*/\s*)+[(`])|\(\s*(?:[a-z0-9_$.'\x22]+\s*,\s*)*(?:(?:window|top|self|parent|frames|globalthis|this)\s*\.\s*)?(?:alert|confirm|prompt|eval|print)\s*\)\s*(?:`|\(\s*(?:\d|['\x22`/]|document\b|window\b|this\b|null\b|\)))",
    ),
    // Names put together from string pieces, then called or used as a member of a global:
    // `top['al'+'ert'](1)`, `window['ev'+'al']`, `self[/al/.source+/ert/.source]`,
    // `window[atob('…')]`. Code snippets index ordinary objects with whole names
    // (`obj['key']`, `Object.keys(x)`).
    (
        Family::JsExec,
        r"\[\s*(?:['\x22`][a-z0-9_$]*['\x22`]\s*\+\s*)+['\x22`][a-z0-9_$]*['\x22`]\s*\]\s*(?:\(|`|\.\s*(?:call|apply|bind)\b)|\b(?:window|self|top|parent|frames|globalthis|this|document|content|opener)\s*\[\s*(?:['\x22`][a-z0-9_$]*['\x22`]\s*\+|/[a-z]+/\s*\.\s*source\b|(?:atob|unescape|decodeuri(?:component)?|string\s*\.\s*fromcharcode)\s*\()",
    ),
    // The Function constructor reached through any object (`[].constructor.constructor('…')()`,
    // `x['constructor']['constructor']`), or a Function built from a string and called at once.
    (
        Family::JsExec,
        r"\bconstructor\s*(?:['\x22`]\s*)?\]?\s*(?:\.\s*|\[\s*['\x22`])constructor\b|\bfunction\s*\(\s*['\x22`][^'\x22`]*['\x22`]\s*\)\s*\(|\bimport\s*\(\s*['\x22`]\s*(?:https?:|data:|//)",
    ),
    // Script URLs assigned to a navigation or source property (`location='javascript:…'`,
    // `location.href=\x22data:text/html,…\x22`).
    (
        Family::JsExec,
        r"\b(?:location(?:\s*\.\s*href)?|\.src|\.href|\.action)\s*=\s*['\x22`]?\s*(?:javascript|vbscript|data\s*:\s*text/html)",
    ),
    // Response splitting: a line break (or a code point whose low byte is LF or CR, which
    // Node.js truncates to LF/CR: U+560A/U+560D, U+010A/U+010D …)
    // followed by a response header in its usual shape (a cookie with `=`, a location with
    // `//`, a content type, a `Set-Cookie:` line holding one token …) or a status line. A
    // textarea's `Location: Lisbon` line has no URL after it; a note's `Set-Cookie: is the
    // header …` goes on with words.
    (
        Family::HeaderInjection,
        r"(?:\n|\xe5\x98[\x8a\x8d]|[\xc4\xc8\xcc\xd0\xd4\xd8\xdc][\x8a\x8d])\s*(?:set-cookie2?\s*:\s*(?:[^=\s;:]+=|\S+\s*(?:$|[\r\n]))|location\s*:\s*(?:[a-z][a-z0-9+.-]*:)?//|content-(?:type\s*:\s*[a-z]+/[a-z]|length\s*:\s*\d|disposition\s*:\s*(?:attachment|inline)|security-policy\s*:)|(?:refresh\s*:\s*\d|x-xss-protection\s*:\s*[01]|access-control-allow-(?:origin|credentials|headers|methods)\s*:|transfer-encoding\s*:\s*chunked|x-forwarded-(?:for|host|proto)\s*:|x-original-url\s*:|x-rewrite-url\s*:)|http/[0-9.]+\s+\d{3}\b)",
    ),
    // The same in query arguments and the path (see `Family::HeaderBreak`), where a line
    // break never belongs: a CR or LF, then a header name that splits a response or forges a
    // request, then a colon, whatever the value (CRS 921160's list, plus the response headers
    // above). A multi-line textarea posts its body, not a query. Names that are no English
    // word are `Family::HeaderLine`, checked in cookies and headers too.
    (
        Family::HeaderBreak,
        r"(?:[\r\n]|[\xc4\xc8\xcc\xd0\xd4\xd8\xdc][\x8a\x8d]|\xe5\x98[\x8a\x8d])\s*(?:cookie|location|refresh|forwarded|via|host)\s*:",
    ),
    (
        Family::HeaderLine,
        r"(?:[\r\n]|[\xc4\xc8\xcc\xd0\xd4\xd8\xdc][\x8a\x8d]|\xe5\x98[\x8a\x8d])\s*(?:set-cookie2?|content-(?:type|length|disposition|security-policy|encoding)|x-content-type-options|x-frame-options|x-xss-protection|access-control-allow-[a-z-]+|transfer-encoding|x-forwarded-[a-z]+|x-original-url|x-rewrite-url|remote-ip|remote-addr|originating-ip)\s*:",
    ),
    // LDAP filters: a closed filter followed by a new one (`*)(uid=*`, `x)(|(`), an always-true
    // or always-false filter (`(&)`, `(|)`, `admin)(!)`), a filter closed and a wildcard one
    // left open (`admin)(*`), a value opening with `*)`, a wildcard on a
    // directory attribute (`(objectclass=*)`). Prose puts letters or digits between
    // parentheses (`5(a)(1)`), not an attribute with `=`.
    (
        Family::Ldap,
        r"\)\s*\(\s*[|&!]\s*\(|\)\s*\(\s*[a-z][a-z0-9;.-]*\s*[~<>]?=|\(\s*[|&]\s*\)|^\s*\*\s*\)\s*(?:\(|$)|[\w*]\)\s*\(\s*(?:\*\s*\)?\s*$|!\s*\))|\(\s*(?:objectclass|objectcategory|uid|cn|sn|mail|userpassword|samaccountname|userprincipalname|givenname|memberof|ou|dc)\s*[~<>]?=\s*\*",
    ),
    // NoSQL: an operator as a bracketed key (`user[$ne]=x`, `a[$regex]=.*`), an operator key
    // in JSON text (`{\x22$ne\x22: null}`), server-side JavaScript (`$where`), shell calls
    // (`db.users.find(`), and `this.field.match(` in a JavaScript predicate.
    (
        Family::NoSql,
        concat!(
            r"\[\s*\$",
            mongo_ops!(),
            r"\s*\]|['\x22]\$",
            mongo_ops!(),
            r"['\x22]\s*:|\$where\b\s*['\x22]?\s*[:=]|\bdb\s*\.\s*[a-z_]+\s*\.\s*(?:find|findone|insert|insertone|update|updateone|remove|deleteone|deletemany|drop|aggregate)\s*\(|\bthis\s*\.\s*[a-z_]+\s*\.\s*match\s*\(",
        ),
    ),
];

/// A MongoDB operator as a whole argument name or JSON key (`$ne`, `$where`): checked on
/// names only (a value may well be `$gt`-something).
pub(crate) const MONGO_OPERATOR_NAME: &str = concat!(r"^\$", mongo_ops!(), r"$");
