//! The query protocol's request side: `Action=CreateUser&UserName=alice&Version=…`, form-encoded
//! in a POST body (or the query string), lists as `Name.member.N`
//! (<https://docs.aws.amazon.com/IAM/latest/APIReference/iam-api.pdf>, "Making query requests").

use std::collections::HashMap;

use percent_encoding::percent_decode_str;

use super::ApiError;

/// The parameters of one request.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `a=1&b=x+y%21`.
    pub fn parse(form: &str) -> Self {
        let decode = |s: &str| {
            let plus = s.replace('+', " ");
            percent_decode_str(&plus).decode_utf8_lossy().into_owned()
        };
        Self(
            form.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(pair), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter, or IAM's `ValidationError` naming it.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            ApiError::Validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))
        })
    }

    /// `Name.member.1`, `Name.member.2`, … in order, stopping at the first gap.
    pub fn list(&self, name: &str) -> Vec<&str> {
        (1..)
            .map_while(|i| self.get(&format!("{name}.member.{i}")))
            .collect()
    }

    /// `Tags.member.N.Key` / `.Value` pairs.
    pub fn tags(&self) -> Vec<(String, String)> {
        (1..)
            .map_while(|i| {
                let key = self.get(&format!("Tags.member.{i}.Key"))?;
                let value = self.get(&format!("Tags.member.{i}.Value")).unwrap_or("");
                Some((key.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// An integer parameter within `range`, or `default` when absent.
    pub fn int(
        &self,
        name: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        v.parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ApiError::Validation(format!(
                    "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must have value between {} and {}",
                    lower_first(name),
                    range.start(),
                    range.end()
                ))
            })
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = Params::parse(
            "Action=CreateUser&UserName=a%2Bb&Path=%2Fteam%2F&X.member.1=one&X.member.2=two+words&X.member.4=gap&Tags.member.1.Key=k&Tags.member.1.Value=v&Empty",
        );
        assert_eq!(p.get("Action"), Some("CreateUser"));
        assert_eq!(p.get("UserName"), Some("a+b"));
        assert_eq!(p.get("Path"), Some("/team/"));
        assert_eq!(p.list("X"), ["one", "two words"]);
        assert_eq!(p.tags(), [("k".to_string(), "v".to_string())]);
        assert_eq!(p.get("Empty"), Some(""));
        assert!(p.require("Empty").is_err());
        assert!(p.require("Missing").is_err());
        assert_eq!(p.int("D", 3600, 900..=43200).unwrap(), 3600);
    }
}
