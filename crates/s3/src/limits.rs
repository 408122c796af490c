//! The limits AWS puts on what a client attaches to an object or a bucket: user-defined
//! metadata, object tags, CORS rules. Every check runs before anything is stored, so a
//! refused request leaves no trace.
//!
//! Must not: know the s3s types (`api` hands plain strings in) or touch the store.

use std::collections::BTreeMap;

use crate::error::Error;

/// "Within the PUT request header, the user-defined metadata is limited to 2 KB in size. The
/// size of user-defined metadata is measured by taking the sum of the number of bytes in the
/// UTF-8 encoding of each key and value."
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html#UserMetadata).
/// The keys are the names after `x-amz-meta-`, as SDKs and `x-amz-meta-*` headers name them.
pub const MAX_METADATA_BYTES: usize = 2 * 1024;

/// "You can associate up to 10 tags with an object. Tags that are associated with an object
/// must have unique tag keys. A tag key can be up to 128 Unicode characters in length, and
/// tag values can be up to 256 Unicode characters in length. Amazon S3 object tags are
/// internally represented in UTF-16" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html),
/// so lengths count UTF-16 code units.
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_KEY: usize = 128;
pub const MAX_TAG_VALUE: usize = 256;

/// "You can add up to 50 tags to a bucket"
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/CostAllocTagging.html).
pub const MAX_BUCKET_TAGS: usize = 50;

/// The characters a tag key or value may hold: "letters, numbers, and spaces representable in
/// UTF-8, and the following characters: + - = . _ : / @"
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/tagging-managing.html).
fn tag_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c))
}

/// "The CORS configuration can have up to 100 rules"
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html).
pub const MAX_CORS_RULES: usize = 100;

/// Refuses user-defined metadata over 2 KB with `MetadataTooLarge`.
pub fn check_metadata(user: &BTreeMap<String, String>) -> Result<(), Error> {
    let size: usize = user.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_METADATA_BYTES {
        return Err(Error::MetadataTooLarge);
    }
    Ok(())
}

/// Where a tag set came from: the two forms answer a repeated key differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSource {
    /// The `x-amz-tagging` header of PutObject, CopyObject and CreateMultipartUpload.
    Header,
    /// The `<Tagging>` document of PutObjectTagging.
    Document,
}

/// The message S3 gives for an `x-amz-tagging` header it cannot read, including one that
/// repeats a key.
const BAD_HEADER: &str = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.";

/// Checks a tag set as S3 does and returns it keyed by tag key. More than 10 tags is
/// `BadRequest` "Object tags cannot be greater than 10" (what S3 answers for both forms, see
/// hashicorp/terraform-provider-aws#19895 and #41747); a key that is empty or too long, or a
/// value that is too long, is `InvalidTag`; a repeated key is `InvalidTag` "Cannot provide
/// multiple Tags with the same key" in a document and `InvalidArgument` in the header.
pub fn tag_set(
    pairs: Vec<(String, String)>,
    source: TagSource,
) -> Result<BTreeMap<String, String>, Error> {
    if pairs.len() > MAX_TAGS {
        return Err(Error::BadRequest(format!(
            "Object tags cannot be greater than {MAX_TAGS}"
        )));
    }
    let mut tags = BTreeMap::new();
    for (key, value) in pairs {
        if key.is_empty() && source == TagSource::Header {
            return Err(Error::InvalidArgument(BAD_HEADER.into()));
        }
        if key.is_empty() || utf16_len(&key) > MAX_TAG_KEY || !tag_chars_ok(&key) {
            return Err(Error::InvalidTag(
                "The TagKey you have provided is invalid".into(),
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(Error::InvalidTag(
                "Your TagKey cannot be prefixed with aws:".into(),
            ));
        }
        if utf16_len(&value) > MAX_TAG_VALUE || !tag_chars_ok(&value) {
            return Err(Error::InvalidTag(
                "The TagValue you have provided is invalid".into(),
            ));
        }
        if tags.contains_key(&key) {
            return Err(match source {
                TagSource::Header => Error::InvalidArgument(BAD_HEADER.into()),
                TagSource::Document => {
                    Error::InvalidTag("Cannot provide multiple Tags with the same key".into())
                }
            });
        }
        tags.insert(key, value);
    }
    Ok(tags)
}

/// Checks a bucket's tag set (PutBucketTagging): up to 50 tags, otherwise the object rules; an
/// `aws:` key is a system tag S3 does not let a requester set.
pub fn bucket_tag_set(pairs: Vec<(String, String)>) -> Result<BTreeMap<String, String>, Error> {
    if pairs.len() > MAX_BUCKET_TAGS {
        return Err(Error::BadRequest(format!(
            "Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}"
        )));
    }
    if pairs
        .iter()
        .any(|(k, _)| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(Error::InvalidTag(
            "System tags cannot be added/updated by requester".into(),
        ));
    }
    let mut tags = BTreeMap::new();
    for chunk in pairs.chunks(MAX_TAGS) {
        let checked = tag_set(chunk.to_vec(), TagSource::Document)?;
        for (k, v) in checked {
            if tags.insert(k, v).is_some() {
                return Err(Error::InvalidTag(
                    "Cannot provide multiple Tags with the same key".into(),
                ));
            }
        }
    }
    Ok(tags)
}

/// Parses and checks the `x-amz-tagging` header (URL query encoding; a key without `=` has
/// the empty value).
pub fn header_tags(header: Option<&str>) -> Result<BTreeMap<String, String>, Error> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| Error::InvalidArgument(BAD_HEADER.into()))
    };
    let mut pairs = Vec::new();
    for pair in header.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((decode(k)?, decode(v)?));
    }
    tag_set(pairs, TagSource::Header)
}

/// Refuses a CORS configuration of more than 100 rules, with the answer S3 gives.
pub fn check_cors_rules(count: usize) -> Result<(), Error> {
    if count > MAX_CORS_RULES {
        return Err(Error::InvalidRequest(format!(
            "The number of CORS rules should not exceed allowed limit of {MAX_CORS_RULES} rules."
        )));
    }
    Ok(())
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), "v".to_string())).collect()
    }

    #[track_caller]
    fn check(pairs: Vec<(String, String)>, source: TagSource, expected: Result<usize, &str>) {
        let got = tag_set(pairs, source)
            .map(|t| t.len())
            .map_err(|e| format!("{} {e}", e.code()));
        assert_eq!(got, expected.map_err(str::to_string));
    }

    fn one(k: String, v: String) -> Vec<(String, String)> {
        vec![(k, v)]
    }

    #[test]
    fn tag_limits() {
        use TagSource::*;
        check(pairs(10), Document, Ok(10));
        check(
            pairs(11),
            Header,
            Err("BadRequest Object tags cannot be greater than 10"),
        );
        check(one("k".repeat(128), "v".repeat(256)), Header, Ok(1));
        // An astral letter is two UTF-16 code units: 64 of them fill a key.
        check(one("𝐀".repeat(64), String::new()), Document, Ok(1));
        check(
            one("𝐀".repeat(64) + "a", String::new()),
            Document,
            Err("InvalidTag The TagKey you have provided is invalid"),
        );
        check(
            one("k".repeat(129), "v".into()),
            Document,
            Err("InvalidTag The TagKey you have provided is invalid"),
        );
        check(
            one("k".into(), "v".repeat(257)),
            Header,
            Err("InvalidTag The TagValue you have provided is invalid"),
        );
        check(
            one(String::new(), "v".into()),
            Document,
            Err("InvalidTag The TagKey you have provided is invalid"),
        );
        let twice = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        check(
            twice.clone(),
            Document,
            Err("InvalidTag Cannot provide multiple Tags with the same key"),
        );
        check(twice, Header, Err(&format!("InvalidArgument {BAD_HEADER}")));
        check(
            one("aws:cost".into(), "v".into()),
            Document,
            Err("InvalidTag Your TagKey cannot be prefixed with aws:"),
        );
        check(
            one("a#b".into(), "v".into()),
            Header,
            Err("InvalidTag The TagKey you have provided is invalid"),
        );
        check(
            one("😀".into(), "v".into()),
            Document,
            Err("InvalidTag The TagKey you have provided is invalid"),
        );
        check(
            one("k".into(), "a<b".into()),
            Document,
            Err("InvalidTag The TagValue you have provided is invalid"),
        );
        check(
            one("Ünïcode key +-=._:/@".into(), "value with spaces".into()),
            Document,
            Ok(1),
        );
    }

    #[test]
    fn bucket_tag_limits() {
        let got = |n: usize| {
            bucket_tag_set(pairs(n))
                .map(|t| t.len())
                .map_err(|e| format!("{} {e}", e.code()))
        };
        assert_eq!(got(50), Ok(50));
        assert_eq!(
            got(51),
            Err("BadRequest Bucket tag count cannot be greater than 50".to_string())
        );
        let mut dup = pairs(12);
        dup.push(("k1".into(), "again".into()));
        assert_eq!(
            bucket_tag_set(dup).unwrap_err().code(),
            "InvalidTag",
            "a key repeated across chunks of ten"
        );
        assert_eq!(
            bucket_tag_set(vec![("aws:x".into(), "v".into())])
                .unwrap_err()
                .to_string(),
            "System tags cannot be added/updated by requester"
        );
    }

    #[test]
    fn header_parsing() {
        let tags = header_tags(Some("a=1&b&c=x%2Fy+z&&")).unwrap();
        let want: BTreeMap<String, String> = [("a", "1"), ("b", ""), ("c", "x/y z")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(tags, want);
        assert_eq!(header_tags(None).unwrap().len(), 0);
        assert_eq!(
            header_tags(Some("=v")).unwrap_err().code(),
            "InvalidArgument"
        );
        assert_eq!(
            header_tags(Some("a=%FF")).unwrap_err().code(),
            "InvalidArgument"
        );
    }

    #[test]
    fn metadata_and_cors_limits() {
        let meta = |k: &str, v: usize| BTreeMap::from([(k.to_string(), "é".repeat(v / 2))]);
        // "k" + 2046 bytes of two-byte characters = 2047; "kk" + 2046 = 2048; one more is over.
        assert!(check_metadata(&meta("k", 2046)).is_ok());
        assert!(check_metadata(&meta("kk", 2046)).is_ok());
        assert_eq!(
            check_metadata(&meta("kkk", 2046)).unwrap_err().code(),
            "MetadataTooLarge"
        );
        assert!(check_cors_rules(100).is_ok());
        assert_eq!(check_cors_rules(101).unwrap_err().code(), "InvalidRequest");
    }
}
