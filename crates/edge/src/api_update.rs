//! UpdateDistribution's body: a `DistributionConfig` document read into an [`Update`], the
//! part of a distribution that nuvem changes live (behaviors' TTLs and cache keys, custom
//! error responses, the WebACL id, the comment), checked against the manifest's distribution
//! for everything else (<https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_UpdateDistribution.html>).
//!
//! CloudFront replaces the whole config on update, so every element the manifest decides
//! (origins, behaviors' patterns, targets, methods, viewer protocol, compression, the default
//! root object, aliases, logging) must come back as GetDistributionConfig rendered it, or the
//! update is refused with `IllegalUpdate`; elements nuvem does not model (price class,
//! certificate, geo restrictions, HTTP version, IPv6) are accepted and left as rendered.
//!
//! Must not: touch the edge or the store (`Edge::update_distribution` applies and persists).

use http::HeaderName;
use serde::{Deserialize, Serialize};

use crate::distribution::{CustomError, Distribution, Names};

/// What an UpdateDistribution changed, per manifest behavior (in the manifest's order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub behaviors: Vec<BehaviorUpdate>,
    pub custom_errors: Vec<CustomError>,
    /// A WAFv2 WebACL ARN, or empty for none.
    pub web_acl_id: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehaviorUpdate {
    /// The manifest pattern it applies to (a check: the update was made on that behavior).
    pub pattern: String,
    pub min_ttl: u64,
    pub default_ttl: u64,
    pub max_ttl: u64,
    /// Lower-case header names in the cache key.
    pub headers: Vec<String>,
    pub cookies: Names,
    pub query_strings: Names,
}

impl Update {
    /// The manifest's distribution with this update applied. `None` when the update was made
    /// on a distribution with other behaviors.
    pub fn apply(&self, manifest: &Distribution) -> Option<Distribution> {
        if self.behaviors.len() != manifest.behaviors.len() {
            return None;
        }
        let mut d = manifest.clone();
        for (b, u) in d.behaviors.iter_mut().zip(&self.behaviors) {
            if b.pattern != u.pattern {
                return None;
            }
            let p = &mut b.policy;
            p.min_ttl = u.min_ttl;
            p.default_ttl = u.default_ttl;
            p.max_ttl = u.max_ttl;
            p.headers = u
                .headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect();
            p.cookies = u.cookies.clone();
            p.query_strings = u.query_strings.clone();
        }
        d.custom_errors = self.custom_errors.clone();
        Some(d)
    }
}

/// Why an UpdateDistribution body is refused: CloudFront's error code, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

fn illegal(message: impl Into<String>) -> Refusal {
    refuse(
        "IllegalUpdate",
        format!(
            "{} nuvem takes this from nuvem.toml's [distribution]: change it there and run `nuvem up` again.",
            message.into()
        ),
    )
}

/// AWS's managed cache policies nuvem knows by id: (id, name, min, default, max TTL). Their
/// cache keys hold no header, cookie or query string.
const MANAGED_CACHE_POLICIES: [(&str, &str, u64, u64, u64); 2] = [
    (
        "658327ea-f89d-4fab-a63d-7e88639e58f6",
        "CachingOptimized",
        1,
        86_400,
        31_536_000,
    ),
    (
        "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        "CachingDisabled",
        0,
        0,
        0,
    ),
];

/// Reads an UpdateDistribution body against the manifest's distribution (`manifest`, whose
/// behaviors appear as rendered by `api_config`: the default one first, then the others in
/// their order) and the ids GetDistributionConfig rendered for its origins.
pub fn parse(
    body: &[u8],
    manifest: &Distribution,
    origin_ids: &[String],
    default_index: usize,
) -> Result<Update, Refusal> {
    let text = std::str::from_utf8(body)
        .map_err(|_| refuse("MalformedInput", "The DistributionConfig is not UTF-8."))?;
    if text.trim().is_empty() {
        return Err(refuse(
            "MissingBody",
            "This operation requires a body: a DistributionConfig document.",
        ));
    }
    let root = parse_xml(text).map_err(|e| refuse("MalformedInput", e))?;
    if root.name != "DistributionConfig" {
        return Err(refuse(
            "MalformedInput",
            format!(
                "The body must be a DistributionConfig document, not <{}>.",
                root.name
            ),
        ));
    }
    if root.text_of("CallerReference").unwrap_or("") != "nuvem-manifest" {
        return Err(refuse(
            "IllegalUpdate",
            "CallerReference cannot be changed: it must stay \"nuvem-manifest\".",
        ));
    }
    if root.text_of("Enabled") != Some("true") {
        return Err(illegal(
            "Enabled must be true: nuvem cannot disable the distribution it serves.",
        ));
    }
    let root_object = manifest.default_root_object.as_deref().unwrap_or("");
    if root.text_of("DefaultRootObject").unwrap_or("") != root_object {
        return Err(illegal(format!(
            "DefaultRootObject cannot be changed (it is {root_object:?})."
        )));
    }
    for (container, what) in [
        ("Aliases", "Aliases (alternate domain names)"),
        ("OriginGroups", "OriginGroups"),
    ] {
        if !root.items(container, "")?.is_empty() {
            return Err(illegal(format!("{what} cannot be added.")));
        }
    }
    if root
        .child("Logging")
        .and_then(|l| l.text_of("Enabled"))
        .is_some_and(|e| e == "true")
    {
        return Err(illegal("Standard logging cannot be turned on."));
    }
    if root.text_of("Staging") == Some("true") {
        return Err(illegal(
            "A distribution cannot become a staging distribution.",
        ));
    }
    let mut ids: Vec<String> = root
        .items("Origins", "Origin")?
        .iter()
        .map(|o| o.text_of("Id").unwrap_or("").to_string())
        .collect();
    let mut want = origin_ids.to_vec();
    ids.sort();
    want.sort();
    if ids != want {
        return Err(illegal(format!(
            "Origins cannot be added, removed or renamed (they are {}).",
            want.join(", ")
        )));
    }
    // The rendered order: the default behavior, then the others.
    let default = root
        .child("DefaultCacheBehavior")
        .ok_or_else(|| refuse("InvalidArgument", "DefaultCacheBehavior is required."))?;
    let others = root.items("CacheBehaviors", "CacheBehavior")?;
    if others.len() + 1 != manifest.behaviors.len() {
        return Err(illegal(format!(
            "Cache behaviors cannot be added or removed (there are {} besides the default).",
            manifest.behaviors.len() - 1
        )));
    }
    let mut given: Vec<Option<&Node>> = vec![None; manifest.behaviors.len()];
    given[default_index] = Some(default);
    let mut rest = others.into_iter();
    for (i, slot) in given.iter_mut().enumerate() {
        if i != default_index {
            *slot = rest.next();
        }
    }
    let mut behaviors = Vec::new();
    for (i, (b, node)) in manifest.behaviors.iter().zip(given).enumerate() {
        let node = node.expect("one node per behavior");
        let name = if i == default_index {
            "DefaultCacheBehavior".to_string()
        } else {
            format!("the cache behavior {:?}", b.pattern)
        };
        if i != default_index && node.text_of("PathPattern").unwrap_or("") != b.pattern {
            return Err(illegal(format!(
                "Cache behaviors cannot be renamed or reordered: expected PathPattern {:?}, got {:?}.",
                b.pattern,
                node.text_of("PathPattern").unwrap_or("")
            )));
        }
        behaviors.push(behavior(node, b, &name)?);
    }
    let mut custom_errors = Vec::new();
    for e in root.items("CustomErrorResponses", "CustomErrorResponse")? {
        custom_errors.push(custom_error(e)?);
    }
    let comment = root.text_of("Comment").unwrap_or("").to_string();
    if comment.chars().count() > 128 {
        return Err(refuse(
            "InvalidArgument",
            "Comment is at most 128 characters.",
        ));
    }
    Ok(Update {
        behaviors,
        custom_errors,
        web_acl_id: root.text_of("WebACLId").unwrap_or("").trim().to_string(),
        comment,
    })
}

fn behavior(
    node: &Node,
    b: &crate::distribution::Behavior,
    name: &str,
) -> Result<BehaviorUpdate, Refusal> {
    let target = crate::api_config::origin_id(&b.origin);
    if node.text_of("TargetOriginId").unwrap_or("") != target {
        return Err(illegal(format!(
            "The TargetOriginId of {name} cannot be changed (it is {target:?})."
        )));
    }
    let viewer = crate::api_config::viewer_protocol(b.viewer_protocol);
    if node.text_of("ViewerProtocolPolicy").unwrap_or("") != viewer {
        return Err(illegal(format!(
            "The ViewerProtocolPolicy of {name} cannot be changed (it is {viewer})."
        )));
    }
    if let Some(c) = node.text_of("Compress")
        && c != b.compress.to_string()
    {
        return Err(illegal(format!(
            "Compress of {name} cannot be changed (it is {}).",
            b.compress
        )));
    }
    if let Some(allowed) = node.child("AllowedMethods") {
        let mut got: Vec<String> = allowed
            .items_here("Method")?
            .iter()
            .map(|m| m.text.trim().to_ascii_uppercase())
            .collect();
        let mut want: Vec<String> = b.methods.iter().map(|m| m.to_string()).collect();
        got.sort();
        want.sort();
        if got != want {
            return Err(illegal(format!(
                "AllowedMethods of {name} cannot be changed (they are {}).",
                want.join(", ")
            )));
        }
    }
    if node
        .text_of("OriginRequestPolicyId")
        .is_some_and(|p| !p.trim().is_empty())
    {
        return Err(illegal(format!(
            "{name} cannot take an OriginRequestPolicyId: what reaches the origin is the behavior's `origin_request`."
        )));
    }
    for list in ["LambdaFunctionAssociations", "FunctionAssociations"] {
        if !node.items(list, "")?.is_empty() {
            return Err(illegal(format!("{name} cannot have {list}.")));
        }
    }
    if let Some(id) = node
        .text_of("CachePolicyId")
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((_, _, min, default, max)) =
            MANAGED_CACHE_POLICIES.iter().find(|(i, ..)| *i == id)
        else {
            return Err(refuse(
                "NoSuchCachePolicy",
                format!(
                    "The cache policy {id:?} of {name} does not exist: nuvem knows the managed policies {}, or a behavior's ForwardedValues and TTLs.",
                    MANAGED_CACHE_POLICIES
                        .iter()
                        .map(|(i, n, ..)| format!("{n} ({i})"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            ));
        };
        return Ok(BehaviorUpdate {
            pattern: b.pattern.clone(),
            min_ttl: *min,
            default_ttl: *default,
            max_ttl: *max,
            headers: Vec::new(),
            cookies: Names::None,
            query_strings: Names::None,
        });
    }
    let ttl = |field: &str, default: u64| -> Result<u64, Refusal> {
        match node.text_of(field).map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => v.parse::<u64>().map_err(|_| {
                refuse(
                    "InvalidArgument",
                    format!("{field} of {name} must be a whole number of seconds, got {v:?}."),
                )
            }),
        }
    };
    let min_ttl = ttl("MinTTL", 0)?;
    let max_ttl = ttl("MaxTTL", 31_536_000)?;
    let default_ttl = ttl("DefaultTTL", 86_400.min(max_ttl))?;
    if !(min_ttl <= default_ttl && default_ttl <= max_ttl) {
        return Err(refuse(
            "InvalidTTLOrder",
            format!(
                "The TTLs of {name} must satisfy MinTTL <= DefaultTTL <= MaxTTL, got {min_ttl}, {default_ttl}, {max_ttl}."
            ),
        ));
    }
    let fv = node.child("ForwardedValues").ok_or_else(|| {
        refuse(
            "InvalidArgument",
            format!("{name} needs ForwardedValues or a CachePolicyId."),
        )
    })?;
    let query = match fv.text_of("QueryString").map(str::trim) {
        Some("true") => true,
        Some("false") => false,
        other => {
            return Err(refuse(
                "InvalidArgument",
                format!(
                    "ForwardedValues/QueryString of {name} must be true or false, got {:?}.",
                    other.unwrap_or("nothing")
                ),
            ));
        }
    };
    let query_keys = texts(fv, "QueryStringCacheKeys", "Name")?;
    let query_strings = match (query, query_keys.is_empty()) {
        (false, _) => Names::None,
        (true, true) => Names::All,
        (true, false) => Names::Only(query_keys),
    };
    let cookies_node = fv.child("Cookies").ok_or_else(|| {
        refuse(
            "InvalidArgument",
            format!("ForwardedValues/Cookies of {name} is required."),
        )
    })?;
    let names = texts(cookies_node, "WhitelistedNames", "Name")?;
    let cookies = match (
        cookies_node.text_of("Forward").map(str::trim),
        names.is_empty(),
    ) {
        (Some("none"), true) => Names::None,
        (Some("all"), true) => Names::All,
        (Some("whitelist"), false) => Names::Only(names),
        (Some("whitelist"), true) => {
            return Err(refuse(
                "InvalidForwardCookies",
                format!("{name} forwards a whitelist of cookies but names none."),
            ));
        }
        (Some("none" | "all"), false) => {
            return Err(refuse(
                "InvalidForwardCookies",
                format!("{name} names cookies but does not forward a whitelist."),
            ));
        }
        (other, _) => {
            return Err(refuse(
                "InvalidArgument",
                format!(
                    "Cookies/Forward of {name} must be none, all or whitelist, got {:?}.",
                    other.unwrap_or("nothing")
                ),
            ));
        }
    };
    let mut headers = Vec::new();
    for h in texts(fv, "Headers", "Name")? {
        if h == "*" {
            return Err(refuse(
                "InvalidArgument",
                format!(
                    "{name}: nuvem cannot put every header in the cache key (\"*\"); name them."
                ),
            ));
        }
        let lower = h.to_ascii_lowercase();
        if HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(refuse(
                "InvalidArgument",
                format!("{name}: {h:?} is not a header name."),
            ));
        }
        if !headers.contains(&lower) {
            headers.push(lower);
        }
    }
    Ok(BehaviorUpdate {
        pattern: b.pattern.clone(),
        min_ttl,
        default_ttl,
        max_ttl,
        headers,
        cookies,
        query_strings,
    })
}

fn custom_error(e: &Node) -> Result<CustomError, Refusal> {
    let code = e.text_of("ErrorCode").unwrap_or("").trim();
    let error_code = code
        .parse::<u16>()
        .ok()
        .filter(|c| (400..=599).contains(c))
        .ok_or_else(|| {
            refuse(
                "InvalidErrorCode",
                format!("ErrorCode must be an HTTP error status 400-599, got {code:?}."),
            )
        })?;
    let page = e
        .text_of("ResponsePagePath")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    if let Some(p) = &page
        && !p.starts_with('/')
    {
        return Err(refuse(
            "InvalidRelativePath",
            format!("ResponsePagePath {p:?} must begin with /."),
        ));
    }
    let response_code = match e.text_of("ResponseCode").map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<u16>()
                .ok()
                .filter(|c| (200..=599).contains(c))
                .ok_or_else(|| {
                    refuse(
                        "InvalidResponseCode",
                        format!("ResponseCode must be an HTTP status 200-599, got {c:?}."),
                    )
                })?,
        ),
    };
    if page.is_some() != response_code.is_some() {
        return Err(refuse(
            "InvalidResponseCode",
            format!(
                "The custom error response for {error_code} needs both ResponsePagePath and ResponseCode, or neither."
            ),
        ));
    }
    let caching_min_ttl = match e.text_of("ErrorCachingMinTTL").map(str::trim) {
        None | Some("") => 10,
        Some(v) => v.parse::<u64>().map_err(|_| {
            refuse(
                "InvalidArgument",
                format!("ErrorCachingMinTTL must be a whole number of seconds, got {v:?}."),
            )
        })?,
    };
    Ok(CustomError {
        error_code,
        page,
        response_code,
        caching_min_ttl,
    })
}

/// The texts of `container/Items/<item>` (checked against `container/Quantity`).
fn texts(parent: &Node, container: &str, item: &str) -> Result<Vec<String>, Refusal> {
    Ok(parent
        .items(container, item)?
        .iter()
        .map(|n| n.text.trim().to_string())
        .collect())
}

/// An element of a parsed document: its name, its text (entities decoded) and its children.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The elements of a CloudFront list `container` (`<Quantity>` and `<Items>`); `item`
    /// names the element expected inside `Items` (any when empty). A missing container is
    /// an empty list.
    pub fn items(&self, container: &str, item: &str) -> Result<Vec<&Node>, Refusal> {
        match self.child(container) {
            None => Ok(Vec::new()),
            Some(c) => c.items_here(item).map_err(|mut r| {
                r.message = format!("{container}: {}", r.message);
                r
            }),
        }
    }

    /// [`Node::items`] of this element itself.
    pub fn items_here(&self, item: &str) -> Result<Vec<&Node>, Refusal> {
        let list: Vec<&Node> = self
            .child("Items")
            .map(|i| {
                i.children
                    .iter()
                    .filter(|n| item.is_empty() || n.name == item)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(q) = self.text_of("Quantity")
            && q.trim().parse::<usize>().ok() != Some(list.len())
        {
            return Err(refuse(
                "InconsistentQuantities",
                format!("Quantity is {}, but Items holds {}.", q.trim(), list.len()),
            ));
        }
        Ok(list)
    }
}

/// A small XML reader for request documents: elements, text and the predefined and numeric
/// entities; the declaration, comments, processing instructions and attributes are skipped.
/// Mixed content keeps only the text. Refuses what is not well formed.
pub(crate) fn parse_xml(text: &str) -> Result<Node, String> {
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            if let Some(r) = after.strip_prefix("!--") {
                let end = r.find("-->").ok_or("an unterminated comment")?;
                rest = &r[end + 3..];
            } else if let Some(r) = after.strip_prefix("![CDATA[") {
                let end = r.find("]]>").ok_or("an unterminated CDATA section")?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&r[..end]);
                }
                rest = &r[end + 3..];
            } else if after.starts_with('?') || after.starts_with('!') {
                let end = after.find('>').ok_or("an unterminated declaration")?;
                rest = &after[end + 1..];
            } else if let Some(r) = after.strip_prefix('/') {
                let end = r.find('>').ok_or("an unterminated end tag")?;
                let name = r[..end].trim();
                let node = stack.pop().ok_or("an unexpected end tag")?;
                if node.name != name || stack.is_empty() {
                    return Err(format!(
                        "</{name}> does not close <{}>",
                        if node.name.is_empty() {
                            "nothing"
                        } else {
                            &node.name
                        }
                    ));
                }
                stack
                    .last_mut()
                    .ok_or("an unexpected end tag")?
                    .children
                    .push(node);
                rest = &r[end + 1..];
            } else {
                let end = after.find('>').ok_or("an unterminated start tag")?;
                let tag = &after[..end];
                let (tag, empty) = match tag.strip_suffix('/') {
                    Some(t) => (t, true),
                    None => (tag, false),
                };
                let name = tag.split_whitespace().next().unwrap_or("");
                if name.is_empty() {
                    return Err("an element without a name".into());
                }
                let node = Node {
                    name: name.to_string(),
                    ..Node::default()
                };
                if empty {
                    stack.last_mut().ok_or("no parent")?.children.push(node);
                } else {
                    stack.push(node);
                }
                rest = &after[end + 1..];
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let chunk = unescape(&rest[..end])?;
            if stack.len() == 1 && !chunk.trim().is_empty() {
                return Err("text outside the root element".into());
            }
            if let Some(top) = stack.last_mut() {
                top.text.push_str(&chunk);
            }
            rest = &rest[end..];
        }
    }
    if stack.len() != 1 {
        return Err(format!(
            "<{}> is not closed",
            stack.last().map_or("", |n| n.name.as_str())
        ));
    }
    let mut doc = stack.pop().unwrap_or_default();
    match doc.children.len() {
        1 => Ok(doc.children.remove(0)),
        0 => Err("no root element".into()),
        _ => Err("more than one root element".into()),
    }
}

fn unescape(s: &str) -> Result<String, String> {
    if !s.contains('&') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').ok_or("an unterminated entity")?;
        let entity = &after[..end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            e => {
                let code = if let Some(h) = e.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = e.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("an unknown entity &{e};"))?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_reader() {
        let check = |doc: &str, want: Result<&str, &str>| {
            let got = parse_xml(doc).map(|n| {
                fn show(n: &Node) -> String {
                    let kids: String = n.children.iter().map(show).collect();
                    format!("{}[{}{kids}]", n.name, n.text.trim())
                }
                show(&n)
            });
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(w), "{doc}"),
                Err(w) => assert!(got.as_ref().is_err_and(|e| e.contains(w)), "{doc}: {got:?}"),
            }
        };
        check(
            "<?xml version=\"1.0\"?>\n<A xmlns=\"x\"><B>1 &amp; 2</B><!-- c --><C/><D>&#65;&#x42;</D></A>",
            Ok("A[B[1 & 2]C[]D[AB]]"),
        );
        check("<A><B></A>", Err("does not close"));
        check("<A>", Err("not closed"));
        check("<A/><B/>", Err("more than one root"));
        check("<A>&bogus;</A>", Err("unknown entity"));
        check("", Err("no root"));
    }
}
