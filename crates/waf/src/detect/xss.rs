//! Cross-site scripting patterns beyond libinjection's HTML5 tokenizer.
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a family, not for a single payload.

use super::Family;

pub(super) const PATTERNS: &[(Family, &str)] = &[
    // XSS beyond libinjection: tags that run or load script by themselves, forms and their
    // controls (hijacking, web shells), and tags rare outside attacks (`<details`, `<math`);
    // media tags (`<img>`, `<video>`, `<audio>`) need a handler or a script URL, which the
    // patterns below and libinjection catch, so pasted markup with images passes; `<meta>`
    // counts when it redirects, sets a cookie or a UTF-7 charset, not for a content type. Script-capable
    // URLs and handlers: a script scheme counts when code follows it (`javascript:alert(1)`,
    // `javascript: x(`), not prose (a title `JavaScript: The Good Parts`). A handler's name may
    // be set off by `/`, `+` (a form-encoded space), tabs and line breaks
    // (`<a/+/onpointerenter+=+…>`).
    (
        Family::Xss,
        r"<\s*/?\s*(?:script|svg|iframe|frame|frameset|object|embed|applet|base|link|style|form|isindex|math|marquee|details|body|input|textarea|button|select|keygen|xss|template|animate|set|handler|listener)\b|<\s*meta\b(?:[^>]*(?:refresh|url\s*=|set-cookie|charset\s*=\s*['\x22]?(?:utf-7|x-))|\s*/?>|\s*$)",
    ),
    (
        Family::Xss,
        r"(?:java|vb|live)script\s*:(?:\S|\s*[^\s\w]|\s*\w+[^\w\s]|\s*$)|data\s*:\s*(?:text/html|image/svg|application/x?html)|-moz-binding|\bexpression(?:/\*.*?\*/)*\(|<[^>]*\bon[a-z]{3,}\s*=|<[a-z][^>]*[\s/+]on[a-z]{3,}[\s+]*=|\bon(?:error|load|click|mouse[a-z]+|focus|blur|key[a-z]+|submit|change|toggle|begin|end|animation[a-z]+|transition[a-z]+|pointer[a-z]+|wheel|scroll|input|drag[a-z]*|drop|copy|paste|cut|select|abort|unload|beforeunload|message|hashchange|popstate|resize|show|pageshow|touch[a-z]+)\s*=\s*\S|\b(?:alert|prompt|confirm|eval|settimeout|setinterval|fromcharcode)\s*\(|(?:^|[^\w`])(?:alert|prompt|confirm|eval|settimeout|setinterval|fromcharcode)`|document\s*\.\s*(?:cookie|domain|write|location)|window\s*\.\s*(?:location|name|open)|\.innerhtml\s*=|<[a-z]+[^>]*\bsrcdoc\s*=",
    ),
    // XSS: DOM sinks (`self['…']`, `self[atob(…)]`; Python's `self[key]` is no sink),
    // JSFuck-style constructs, namespaced (VML) tags, handler-looking names, a literal closed
    // right into the end of an HTML comment (`'-->`, a polyglot's way out).
    (
        Family::Xss,
        r"\bself\s*\[\s*(?:['\x22`/]|\w+\s*\()|\b(?:top|parent|frames|globalthis)\s*\[\s*['\x22]|document\s*(?:/\*.*?\*/\s*)*\.\s*(?:/\*.*?\*/\s*)*(?:cookie|domain|write|location|queryselector|getelementby)|\.textcontent\s*=|\b(?:atob|btoa)\s*\(|\breflect\s*\.\s*[a-z]+|!!\s*\[\s*\]|\+\s*!\s*\+\s*\[|\[\s*\]\s*\[\s*\(|<\s*[a-z]+:[a-z]+[\s/>]|['\x22`]-->|(?:^|[\s\x22'/;])on[a-z]{4,}\s*=|<\s*(?:noscript|plaintext|xmp|listing|comment|dialog|slot|portal)\b|(?:java|vb)\s*script\s*:(?:\S|\s*[^\s\w]|\s*\w+[^\w\s]|\s*$)",
    ),
    // Script URL schemes split by the tabs and newlines browsers drop (`ja&tab;vascript:`,
    // `v&newline;b&tab;s…`), CSS `url(javascript`, `data:` URLs that carry markup, UTF-7 `<`
    // (`+ADw-script`), attributes that take a script URL (`formaction=`, `xlink:href=`).
    (
        Family::Xss,
        r"j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t\s*:(?:\S|\s*[^\s\w]|\s*\w+[^\w\s]|\s*$)|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t\s*:(?:\S|\s*[^\s\w]|\s*\w+[^\w\s]|\s*$)|\burl\s*\(\s*['\x22]?\s*(?:java|vb)script\b|\bdata\s*:[\w/+;=.\s-]{0,60},\s*<[a-z]|\+ad[w4]-|\b(?:formaction|xlink\s*:\s*href)\s*=",
    ),
    // Tag names spelled out with spaces (`<f o r m`, `<d i a l o g`), namespaced tags with spaces
    // or an empty prefix (`< x: script`, `<:vmlframe`).
    (
        Family::Xss,
        r"<\s*(?:f\s+o\s+r\s+m|d\s+i\s+a\s+l\s+o\s+g|s\s+c\s+r\s+i\s+p\s+t|i\s+f\s+r\s+a\s+m\s+e|o\s+b\s+j\s+e\s+c\s+t|e\s+m\s+b\s+e\s+d|s\s+v\s+g|i\s+m\s+g|s\s+t\s+y\s+l\s+e)\b|<\s*[a-z]*\s*:\s*(?:script|vml[a-z]*|image|imagedata|svg|iframe|animate|set|handler|listener)\b",
    ),
    // JavaScript without a tag: bracket access to a sensitive name on an object, a call or a
    // parenthesised object (`window["alert"]`, `(document)["cookie"]`, with `/**/` between),
    // JSFuck's `(![]`, tagged template calls (`[].sort.call`${alert}``), `new Function()`,
    // `new Function('…')` (prose says “new function (foo)”), the tail of such a call whose
    // opening is elsewhere (`alert"](1)`, `ale"+"rt"](1)`).
    (
        Family::Xss,
        r"(?:\w|\))\s*(?:/\*.*?\*/\s*)*\[\s*(?:/\*.*?\*/\s*)*['\x22`](?:alert|prompt|confirm|eval|cookie|document|location|constructor|innerhtml|outerhtml|write|domain|fromcharcode|settimeout|setinterval|atob)['\x22`]|\(\s*!\s*\[\s*\]|\b(?:call|apply|bind)\s*`\s*\$\{|\$\{\s*(?:alert|eval|prompt|confirm)\s*\}|(?:alert|prompt|confirm|eval)['\x22`]\s*\]\s*[(`]|['\x22`]\s*\+\s*['\x22`][a-z0-9_$]*['\x22`]\s*\]\s*[(`]|\bnew\s+function\s*\(\s*(?:\)|['\x22`])",
    ),
];
