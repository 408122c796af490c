//! Cross-site scripting patterns beyond libinjection's HTML5 tokenizer.
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a family, not for a single payload.

use super::Family;

pub(super) const PATTERNS: &[(Family, &str)] = &[
    // XSS beyond libinjection: script-capable URLs, handlers and tags in decoded text.
    (
        Family::Xss,
        r"<\s*/?\s*(?:script|svg|iframe|frame|frameset|object|embed|applet|meta|base|link|style|form|isindex|math|marquee|details|video|audio|img|image|body|input|textarea|button|select|keygen|xss|template|animate|set|handler|listener)\b",
    ),
    (
        Family::Xss,
        r"(?:java|vb|live)script\s*:|data\s*:\s*(?:text/html|image/svg|application/x?html)|-moz-binding|\bexpression\s*\(|<[^>]*\bon[a-z]{3,}\s*=|\bon(?:error|load|click|mouse[a-z]+|focus|blur|key[a-z]+|submit|change|toggle|begin|end|animation[a-z]+|transition[a-z]+|pointer[a-z]+|wheel|scroll|input|drag[a-z]*|drop|copy|paste|cut|select|abort|unload|beforeunload|message|hashchange|popstate|resize|show|pageshow|touch[a-z]+)\s*=\s*\S|\b(?:alert|prompt|confirm|eval|settimeout|setinterval|fromcharcode)\s*[(`]|document\s*\.\s*(?:cookie|domain|write|location)|window\s*\.\s*(?:location|name|open)|\.innerhtml\s*=|<[a-z]+[^>]*\bsrcdoc\s*=",
    ),
    // XSS: DOM sinks, JSFuck-style constructs, namespaced (VML) tags, handler-looking names.
    (
        Family::Xss,
        r"\bself\s*\[|\b(?:top|parent|frames|globalthis)\s*\[\s*['\x22]|document\s*(?:/\*.*?\*/\s*)*\.\s*(?:/\*.*?\*/\s*)*(?:cookie|domain|write|location|queryselector|getelementby)|\.textcontent\s*=|\b(?:atob|btoa)\s*\(|\breflect\s*\.\s*[a-z]+|!!\s*\[\s*\]|\+\s*!\s*\+\s*\[|\[\s*\]\s*\[\s*\(|<\s*[a-z]+:[a-z]+[\s/>]|(?:^|[\s\x22'/;])on[a-z]{4,}\s*=|<\s*(?:noscript|plaintext|xmp|listing|comment|dialog|slot|portal)\b|(?:java|vb)\s*script\s*:",
    ),
];
