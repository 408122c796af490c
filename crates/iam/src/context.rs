//! The request context: the facts a request brings that conditions and policy variables read
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>).
//! Key names compare case-insensitively, as in IAM.

use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key (`aws:SourceIp`, `s3:prefix`).
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets a multivalued key (`dynamodb:Attributes`, `aws:TagKeys`).
    pub fn set_all(&mut self, key: &str, values: impl IntoIterator<Item = String>) -> &mut Self {
        self.values
            .insert(key.to_ascii_lowercase(), values.into_iter().collect());
        self
    }

    /// A key's values; `None` when the request does not carry it. An empty list counts as
    /// absent.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.get_lowercase(&key.to_ascii_lowercase())
        } else {
            self.get_lowercase(key)
        }
    }

    /// [`get`](Self::get) for a key already in lower case (no allocation).
    pub fn get_lowercase(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(key)
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }
}

/// Substitutes policy variables (`${aws:username}`, `${aws:username, 'default'}`, and the
/// escapes `${*}`, `${?}`, `${$}`) in `text`. Returns `None` when a variable has no value in
/// the context and no default: then the element that holds it matches nothing. `${*}` and
/// `${?}` become [`LITERAL_STAR`]/[`LITERAL_QUESTION`], which wildcard matching treats as
/// plain characters.
pub fn substitute<'a>(text: &'a str, ctx: &Context) -> Option<std::borrow::Cow<'a, str>> {
    if !text.contains("${") {
        return Some(std::borrow::Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(out.into());
        };
        let inner = after[..end].trim();
        match inner {
            "*" => out.push(LITERAL_STAR),
            "?" => out.push(LITERAL_QUESTION),
            "$" => out.push('$'),
            _ => {
                let (name, default) = match inner.split_once(',') {
                    Some((n, d)) => {
                        let d = d.trim();
                        let d = d
                            .strip_prefix('\'')
                            .and_then(|d| d.strip_suffix('\''))
                            .unwrap_or(d);
                        (n.trim(), Some(d))
                    }
                    None => (inner, None),
                };
                match ctx.get(name) {
                    // A multivalued key cannot stand in for one value.
                    Some([one]) => out.push_str(one),
                    _ => out.push_str(default?),
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out.into())
}

/// What `${*}` becomes: a character of the private-use area that matches only a literal `*`.
pub const LITERAL_STAR: char = '\u{F8FE}';
/// What `${?}` becomes: matches only a literal `?`.
pub const LITERAL_QUESTION: char = '\u{F8FF}';

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables() {
        let mut ctx = Context::new();
        ctx.set("aws:username", "alice");
        ctx.set_all("aws:TagKeys", ["a".to_string(), "b".to_string()]);
        let s = |t: &str| substitute(t, &ctx).map(|c| c.into_owned());
        assert_eq!(s("home/${aws:username}/*").as_deref(), Some("home/alice/*"));
        assert_eq!(s("home/${AWS:UserName}/").as_deref(), Some("home/alice/"));
        assert_eq!(s("x/${aws:userid}"), None);
        assert_eq!(s("x/${aws:userid, 'nobody'}").as_deref(), Some("x/nobody"));
        assert_eq!(s("${aws:TagKeys}"), None, "multivalued");
        assert_eq!(s("a${$}b").as_deref(), Some("a$b"));
        assert_eq!(
            s("a${*}b"),
            Some(format!("a{LITERAL_STAR}b")),
            "escaped star"
        );
        assert_eq!(s("plain").as_deref(), Some("plain"));
        assert_eq!(s("open ${ end").as_deref(), Some("open ${ end"));
    }
}
