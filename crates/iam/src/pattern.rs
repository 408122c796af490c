//! IAM's wildcard matching: `*` matches any run of characters (including none), `?` exactly
//! one. Actions compare case-insensitively, resources and most condition values exactly.
//! ARNs compare part by part (`arn:partition:service:region:account:resource`), so a wildcard
//! never spans the colons between the first five parts.

/// Does `text` match `pattern` (`*`, `?`)? Greedy matching with backtracking to the last `*`
/// only: `O(n·m)` at worst, no allocation for ASCII text (the usual case).
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        let eq = |a: u8, b: u8| {
            if ignore_case {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        };
        return glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?', eq);
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        // `${*}` and `${?}` in a policy stand for the plain characters.
        let a = match a {
            crate::context::LITERAL_STAR => '*',
            crate::context::LITERAL_QUESTION => '?',
            a => a,
        };
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    glob(&p, &t, '*', '?', eq)
}

fn glob<T: Copy + PartialEq>(
    p: &[T],
    t: &[T],
    star_c: T,
    any_c: T,
    eq: impl Fn(T, T) -> bool,
) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == any_c || (p[pi] != star_c && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star_c {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star_c)
}

/// Does the ARN `text` match the ARN pattern `pattern`? `*` alone matches everything; otherwise
/// both must have the six ARN parts and each part matches on its own (the resource part keeps
/// any further colons).
pub fn arn(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let parts = |s: &str| s.bytes().filter(|&b| b == b':').count() >= 5;
    if !parts(pattern) || !parts(text) {
        // Not an ARN on one side: only an exact (wildcard) match of the whole, and only when
        // neither side is an ARN with parts to compare.
        return !parts(pattern) && !parts(text) && wildcard(pattern, text, false);
    }
    pattern
        .splitn(6, ':')
        .zip(text.splitn(6, ':'))
        .all(|(p, t)| wildcard(p, t, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(pattern: &str, text: &str, expected: bool) {
        assert_eq!(
            wildcard(pattern, text, false),
            expected,
            "{pattern} ~ {text}"
        );
    }

    #[test]
    fn wildcards() {
        check("*", "", true);
        check("*", "anything", true);
        check("a*c", "abbbc", true);
        check("a*c", "abbbd", false);
        check("a?c", "abc", true);
        check("a?c", "ac", false);
        check("*a*b*", "xxaxxbxx", true);
        check("*a*b*", "xxbxxaxx", false);
        check("GetItem", "getitem", false);
        check("", "", true);
        check("", "a", false);
        check("**", "a", true);
        check("é?", "éü", true);
        check("a\u{F8FE}", "a*", true);
        check("a\u{F8FE}", "ab", false);
        assert!(wildcard("Get*", "getitem", true));
        assert!(wildcard("dynamodb:get*", "DynamoDB:GetItem", true));
    }

    #[test]
    fn arns() {
        assert!(arn("*", "arn:aws:s3:::b/k"));
        assert!(arn("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c"));
        assert!(!arn("arn:aws:s3:::b/*", "arn:aws:s3:::bb/a"));
        assert!(arn(
            "arn:aws:dynamodb:*:*:table/items",
            "arn:aws:dynamodb:us-east-1:000000000000:table/items"
        ));
        assert!(!arn(
            "arn:aws:dynamodb:*:*:table/items",
            "arn:aws:dynamodb:us-east-1:000000000000:table/items/index/byDate"
        ));
        // A wildcard does not reach across the parts: `*` in the region is not the account.
        assert!(!arn(
            "arn:aws:lambda:*",
            "arn:aws:lambda:us-east-1:0:function:f"
        ));
        assert!(arn(
            "arn:aws:lambda:*:*:function:*",
            "arn:aws:lambda:us-east-1:0:function:f:prod"
        ));
    }
}
