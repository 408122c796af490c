//! The `Condition` element: operators, `…IfExists`, `ForAllValues:`/`ForAnyValue:`, and how
//! each meets the request context
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>).
//!
//! The rules: operators AND together, keys within an operator AND together, values of one
//! key OR together (for a negated operator: NOR). A key missing from the request makes a
//! condition false, except for negated operators (true), `…IfExists` (true) and `Null`;
//! `ForAllValues:` over a missing key is true, `ForAnyValue:` false.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::context::{Context, substitute};
use crate::pattern;
use crate::policy::Malformed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

impl Op {
    fn parse(name: &str) -> Option<Self> {
        use Op::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "BinaryEquals" => BinaryEquals,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            "ArnEquals" => ArnEquals,
            "ArnLike" => ArnLike,
            "ArnNotEquals" => ArnNotEquals,
            "ArnNotLike" => ArnNotLike,
            "Null" => Null,
            _ => return None,
        })
    }

    /// The negated operators: true when no policy value matches.
    fn negated(self) -> bool {
        use Op::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// Whether policy variables are substituted in this operator's values.
    fn takes_variables(self) -> bool {
        use Op::*;
        matches!(
            self,
            StringEquals
                | StringNotEquals
                | StringEqualsIgnoreCase
                | StringNotEqualsIgnoreCase
                | StringLike
                | StringNotLike
                | ArnEquals
                | ArnLike
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// Does the request value `actual` match the policy value `wanted`, before negation?
    fn matches(self, wanted: &str, actual: &str) -> bool {
        use Op::*;
        match self {
            StringEquals | StringNotEquals => wanted == actual,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
                wanted.to_lowercase() == actual.to_lowercase()
            }
            StringLike | StringNotLike => pattern::wildcard(wanted, actual, false),
            NumericEquals | NumericNotEquals => num(wanted, actual, |a, w| a == w),
            NumericLessThan => num(wanted, actual, |a, w| a < w),
            NumericLessThanEquals => num(wanted, actual, |a, w| a <= w),
            NumericGreaterThan => num(wanted, actual, |a, w| a > w),
            NumericGreaterThanEquals => num(wanted, actual, |a, w| a >= w),
            DateEquals | DateNotEquals => date(wanted, actual, |a, w| a == w),
            DateLessThan => date(wanted, actual, |a, w| a < w),
            DateLessThanEquals => date(wanted, actual, |a, w| a <= w),
            DateGreaterThan => date(wanted, actual, |a, w| a > w),
            DateGreaterThanEquals => date(wanted, actual, |a, w| a >= w),
            Bool => wanted.eq_ignore_ascii_case(actual),
            BinaryEquals => wanted == actual,
            IpAddress | NotIpAddress => in_cidr(wanted, actual),
            ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => pattern::arn(wanted, actual),
            Null => false,
        }
    }
}

fn num(wanted: &str, actual: &str, cmp: impl Fn(f64, f64) -> bool) -> bool {
    match (actual.trim().parse::<f64>(), wanted.trim().parse::<f64>()) {
        (Ok(a), Ok(w)) => cmp(a, w),
        _ => false,
    }
}

fn date(wanted: &str, actual: &str, cmp: impl Fn(i64, i64) -> bool) -> bool {
    match (parse_date(actual), parse_date(wanted)) {
        (Some(a), Some(w)) => cmp(a, w),
        _ => false,
    }
}

/// Milliseconds since the epoch of an ISO 8601 date (`2026-12-31`, `2026-12-31T23:59:59Z`,
/// with fractions or a `±hh:mm` offset) or of epoch seconds (`1767225599`).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, time) = match s.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut ms = days_from_civil(y, m, day) * 86_400_000;
    if let Some(t) = time {
        let (clock, offset_min) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else if let Some(i) = t.rfind(['+', '-']) {
            let (c, o) = t.split_at(i);
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':').unwrap_or((&o[1..], "0"));
            (c, sign * (num(oh)? * 60 + num(om)?))
        } else {
            (t, 0)
        };
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let mut parts = hms.split(':');
        let h = num(parts.next()?)?;
        let mi = parts.next().map(num).unwrap_or(Some(0))?;
        let sec = parts.next().map(num).unwrap_or(Some(0))?;
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let frac_ms = if frac.is_empty() {
            0
        } else {
            let digits: String = frac.chars().chain("000".chars()).take(3).collect();
            num(&digits)?
        };
        ms += ((h * 60 + mi) * 60 + sec) * 1000 + frac_ms - offset_min * 60_000;
    }
    Some(ms)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Is the address `actual` inside `cidr` (`203.0.113.0/24`, `2001:db8::/32`, or one address)?
fn in_cidr(cidr: &str, actual: &str) -> bool {
    let Ok(ip) = actual.trim().parse::<IpAddr>() else {
        return false;
    };
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => match b.parse::<u32>() {
            Ok(b) => (n, Some(b)),
            Err(_) => return false,
        },
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        (IpAddr::V6(a), IpAddr::V4(n)) => match a.to_ipv4_mapped() {
            Some(a) => (u32::from(a) as u128, u32::from(n) as u128, 32),
            None => return false,
        },
        _ => return false,
    };
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (ip >> shift) == (net >> shift)
}

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    ForAllValues,
    ForAnyValue,
}

/// One operator applied to one key: `"StringLike": {"s3:prefix": ["home/", "home/*"]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub op: Op,
    pub set: Option<SetOp>,
    pub if_exists: bool,
    /// The context key, in lower case (keys compare case-insensitively).
    pub key: String,
    pub values: Vec<String>,
}

/// Parses a `Condition` element's object.
pub fn parse_block(ops: &Map<String, Value>) -> Result<Vec<Condition>, Malformed> {
    let mut out = Vec::new();
    for (name, keys) in ops {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetOp::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetOp::ForAnyValue), r)
        } else {
            (None, name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let op = Op::parse(base)
            .filter(|op| !(if_exists && *op == Op::Null))
            .ok_or_else(|| Malformed(format!("Invalid Condition type : {name}")))?;
        let keys = keys.as_object().ok_or_else(|| {
            Malformed(format!(
                "Syntax errors in policy: {name} must map keys to values."
            ))
        })?;
        for (key, v) in keys {
            if !key.contains(':') {
                return Err(Malformed(format!(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. ({key})"
                )));
            }
            let values = match v {
                Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
                other => scalar(other).map(|s| vec![s]),
            }
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                Malformed(format!(
                    "Syntax errors in policy: the values of {key} must be strings."
                ))
            })?;
            out.push(Condition {
                op,
                set,
                if_exists,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Condition {
    /// Does this condition hold for the request? `variables` says whether the policy's
    /// version substitutes policy variables.
    pub fn holds(&self, ctx: &Context, variables: bool) -> bool {
        let actual = ctx.get_lowercase(&self.key);
        if self.op == Op::Null {
            // `"Null": {"k": "true"}`: the key is absent; `"false"`: it is present.
            return self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true") == actual.is_none());
        }
        let Some(actual) = actual else {
            return match self.set {
                _ if self.if_exists => true,
                Some(SetOp::ForAllValues) => true,
                Some(SetOp::ForAnyValue) => false,
                None => self.op.negated(),
            };
        };
        let substituting = variables && self.op.takes_variables();
        let any_match = |a: &String| {
            self.values.iter().any(|w| {
                if substituting {
                    substitute(w, ctx).is_some_and(|w| self.op.matches(&w, a))
                } else {
                    self.op.matches(w, a)
                }
            })
        };
        let passes = |a: &String| any_match(a) != self.op.negated();
        match self.set {
            Some(SetOp::ForAllValues) => actual.iter().all(passes),
            Some(SetOp::ForAnyValue) => actual.iter().any(passes),
            // A single-valued operator over several request values: a positive operator
            // holds when one of them matches, a negated one when none does.
            None if self.op.negated() => actual.iter().all(passes),
            None => actual.iter().any(passes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-02T00:00:00Z"), Some(86_400_000));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(
            parse_date("2000-03-01T01:00:00+01:00"),
            Some(951_868_800_000)
        );
        assert_eq!(
            parse_date("2000-03-01T00:00:00.250Z"),
            Some(951_868_800_250)
        );
        assert_eq!(parse_date("951868800"), Some(951_868_800_000));
        assert_eq!(parse_date("2000-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn cidrs() {
        assert!(in_cidr("203.0.113.0/24", "203.0.113.9"));
        assert!(!in_cidr("203.0.113.0/24", "203.0.114.9"));
        assert!(in_cidr("0.0.0.0/0", "8.8.8.8"));
        assert!(in_cidr("127.0.0.1", "127.0.0.1"));
        assert!(in_cidr("2001:db8::/32", "2001:db8:1::5"));
        assert!(!in_cidr("2001:db8::/32", "2001:db9::5"));
        assert!(in_cidr("10.0.0.0/8", "::ffff:10.1.2.3"));
        assert!(!in_cidr("10.0.0.0/33", "10.0.0.1"));
        assert!(!in_cidr("10.0.0.0/8", "not an ip"));
    }
}
