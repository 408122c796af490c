//! The manifest's distribution as CloudFront's API shows one: `DistributionConfig`,
//! `Distribution` and `DistributionSummary` XML (API version 2020-05-31), for
//! GetDistributionConfig, GetDistribution and ListDistributions
//! (<https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_DistributionConfig.html>).
//!
//! Cache behaviors are rendered with the legacy `ForwardedValues` (what the cache key holds),
//! origins with an `S3OriginConfig` for buckets and a `CustomOriginConfig` otherwise. Must not:
//! invent state — every element is derived from the live [`Distribution`] and its [`Meta`]
//! (the WebACL ARN and comment, which the manifest does not hold in the distribution).

use nuvem_aws::error::xml_escape;
use sha2::{Digest, Sha256};

use crate::distribution::{Behavior, Distribution, Names, OriginRef, ViewerProtocol};

/// What a distribution's config shows besides the [`Distribution`].
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// The WAFv2 WebACL ARN, or empty.
    pub web_acl_id: &'a str,
    pub comment: &'a str,
}

/// The comment of a distribution nobody updated.
pub const MANIFEST_COMMENT: &str = "from nuvem.toml";

/// The id CloudFront's API gives an origin: the manifest's origin string.
pub(crate) fn origin_id(o: &OriginRef) -> String {
    match o {
        OriginRef::Bucket(b) => format!("bucket:{b}"),
        OriginRef::Api(a) => format!("api:{a}"),
        OriginRef::Function(f) => format!("function:{f}"),
        OriginRef::Url(u) => u.clone(),
    }
}

fn origin_xml(o: &OriginRef) -> String {
    let id = xml_escape(&origin_id(o));
    match o {
        OriginRef::Bucket(b) => format!(
            "<Origin><Id>{id}</Id><DomainName>{}.s3.localhost.localstack.cloud</DomainName><OriginPath></OriginPath><CustomHeaders><Quantity>0</Quantity></CustomHeaders><S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity></S3OriginConfig><ConnectionAttempts>3</ConnectionAttempts><ConnectionTimeout>10</ConnectionTimeout></Origin>",
            xml_escape(b)
        ),
        OriginRef::Function(f) => format!(
            "<Origin><Id>{id}</Id><DomainName>{}.lambda-url.localhost.localstack.cloud</DomainName><OriginPath></OriginPath><CustomHeaders><Quantity>0</Quantity></CustomHeaders><CustomOriginConfig><HTTPPort>80</HTTPPort><HTTPSPort>443</HTTPSPort><OriginProtocolPolicy>http-only</OriginProtocolPolicy></CustomOriginConfig><ConnectionAttempts>3</ConnectionAttempts><ConnectionTimeout>10</ConnectionTimeout></Origin>",
            xml_escape(f)
        ),
        OriginRef::Api(a) => format!(
            "<Origin><Id>{id}</Id><DomainName>{}.execute-api.localhost.localstack.cloud</DomainName><OriginPath></OriginPath><CustomHeaders><Quantity>0</Quantity></CustomHeaders><CustomOriginConfig><HTTPPort>80</HTTPPort><HTTPSPort>443</HTTPSPort><OriginProtocolPolicy>http-only</OriginProtocolPolicy></CustomOriginConfig><ConnectionAttempts>3</ConnectionAttempts><ConnectionTimeout>10</ConnectionTimeout></Origin>",
            xml_escape(a)
        ),
        OriginRef::Url(u) => {
            let uri: http::Uri = u.parse().unwrap_or_default();
            let https = uri.scheme_str() == Some("https");
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let (http_port, https_port) = if https { (80, port) } else { (port, 443) };
            format!(
                "<Origin><Id>{id}</Id><DomainName>{}</DomainName><OriginPath>{}</OriginPath><CustomHeaders><Quantity>0</Quantity></CustomHeaders><CustomOriginConfig><HTTPPort>{http_port}</HTTPPort><HTTPSPort>{https_port}</HTTPSPort><OriginProtocolPolicy>{}</OriginProtocolPolicy></CustomOriginConfig><ConnectionAttempts>3</ConnectionAttempts><ConnectionTimeout>10</ConnectionTimeout></Origin>",
                xml_escape(uri.host().unwrap_or("")),
                xml_escape(uri.path().trim_end_matches('/')),
                if https { "https-only" } else { "http-only" }
            )
        }
    }
}

fn names_xml(outer: &str, inner: &str, names: &[String]) -> String {
    if names.is_empty() {
        return format!("<{outer}><Quantity>0</Quantity></{outer}>");
    }
    let items: String = names
        .iter()
        .map(|n| format!("<{inner}>{}</{inner}>", xml_escape(n)))
        .collect();
    format!(
        "<{outer}><Quantity>{}</Quantity><Items>{items}</Items></{outer}>",
        names.len()
    )
}

fn methods_xml(b: &Behavior) -> String {
    let allowed: Vec<String> = b.methods.iter().map(|m| m.to_string()).collect();
    let cached = vec!["HEAD".to_string(), "GET".to_string()];
    format!(
        "<AllowedMethods><Quantity>{}</Quantity><Items>{}</Items>{}</AllowedMethods>",
        allowed.len(),
        allowed
            .iter()
            .map(|m| format!("<Method>{m}</Method>"))
            .collect::<String>(),
        names_xml("CachedMethods", "Method", &cached)
    )
}

fn forwarded_xml(b: &Behavior) -> String {
    let p = &b.policy;
    let (query, query_keys) = match &p.query_strings {
        Names::None => (false, Vec::new()),
        Names::All => (true, Vec::new()),
        Names::Only(n) => (true, n.clone()),
    };
    let cookies = match &p.cookies {
        Names::None => "<Cookies><Forward>none</Forward></Cookies>".to_string(),
        Names::All => "<Cookies><Forward>all</Forward></Cookies>".to_string(),
        Names::Only(n) => format!(
            "<Cookies><Forward>whitelist</Forward>{}</Cookies>",
            names_xml("WhitelistedNames", "Name", n)
        ),
    };
    let headers: Vec<String> = p.headers.iter().map(|h| h.to_string()).collect();
    format!(
        "<ForwardedValues><QueryString>{query}</QueryString>{cookies}{}{}</ForwardedValues>",
        names_xml("Headers", "Name", &headers),
        names_xml("QueryStringCacheKeys", "Name", &query_keys)
    )
}

pub(crate) fn viewer_protocol(v: ViewerProtocol) -> &'static str {
    match v {
        ViewerProtocol::AllowAll => "allow-all",
        ViewerProtocol::RedirectToHttps => "redirect-to-https",
        ViewerProtocol::HttpsOnly => "https-only",
    }
}

fn behavior_body(b: &Behavior) -> String {
    let viewer = viewer_protocol(b.viewer_protocol);
    format!(
        "<TargetOriginId>{}</TargetOriginId><TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners><TrustedKeyGroups><Enabled>false</Enabled><Quantity>0</Quantity></TrustedKeyGroups><ViewerProtocolPolicy>{viewer}</ViewerProtocolPolicy>{}<SmoothStreaming>false</SmoothStreaming><Compress>{}</Compress><LambdaFunctionAssociations><Quantity>0</Quantity></LambdaFunctionAssociations><FunctionAssociations><Quantity>0</Quantity></FunctionAssociations><FieldLevelEncryptionId></FieldLevelEncryptionId>{}<MinTTL>{}</MinTTL><DefaultTTL>{}</DefaultTTL><MaxTTL>{}</MaxTTL>",
        xml_escape(&origin_id(&b.origin)),
        methods_xml(b),
        b.compress,
        forwarded_xml(b),
        b.policy.min_ttl,
        b.policy.default_ttl,
        b.policy.max_ttl,
    )
}

fn is_default(b: &Behavior) -> bool {
    b.pattern == "default" || b.pattern == "*"
}

/// The parts of a `DistributionConfig` that `DistributionSummary` repeats, in its order.
struct Parts {
    origins: String,
    default_behavior: String,
    behaviors: String,
    errors: String,
}

/// The distribution's origins, once each, in the order of their first behavior.
fn origins(d: &Distribution) -> Vec<&OriginRef> {
    let mut origins: Vec<&OriginRef> = Vec::new();
    for b in &d.behaviors {
        if !origins.contains(&&b.origin) {
            origins.push(&b.origin);
        }
    }
    origins
}

/// The ids the config gives the distribution's origins.
pub(crate) fn origin_ids(d: &Distribution) -> Vec<String> {
    origins(d).into_iter().map(origin_id).collect()
}

/// Which behavior is CloudFront's `DefaultCacheBehavior`: the `default` one, else the last.
pub(crate) fn default_index(d: &Distribution) -> usize {
    d.behaviors
        .iter()
        .position(is_default)
        .unwrap_or(d.behaviors.len().saturating_sub(1))
}

fn parts(d: &Distribution) -> Parts {
    let origins = origins(d);
    let origins = format!(
        "<Origins><Quantity>{}</Quantity><Items>{}</Items></Origins>",
        origins.len(),
        origins.iter().map(|o| origin_xml(o)).collect::<String>()
    );
    // The `default` behavior (or the last one) is CloudFront's DefaultCacheBehavior; the
    // others keep their order as CacheBehaviors.
    let default_index = default_index(d);
    let default_behavior = d
        .behaviors
        .get(default_index)
        .map(|b| {
            format!(
                "<DefaultCacheBehavior>{}</DefaultCacheBehavior>",
                behavior_body(b)
            )
        })
        .unwrap_or_default();
    let others: Vec<&Behavior> = d
        .behaviors
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != default_index)
        .map(|(_, b)| b)
        .collect();
    let behaviors = if others.is_empty() {
        "<CacheBehaviors><Quantity>0</Quantity></CacheBehaviors>".to_string()
    } else {
        format!(
            "<CacheBehaviors><Quantity>{}</Quantity><Items>{}</Items></CacheBehaviors>",
            others.len(),
            others
                .iter()
                .map(|b| format!(
                    "<CacheBehavior><PathPattern>{}</PathPattern>{}</CacheBehavior>",
                    xml_escape(&b.pattern),
                    behavior_body(b)
                ))
                .collect::<String>()
        )
    };
    let errors = if d.custom_errors.is_empty() {
        "<CustomErrorResponses><Quantity>0</Quantity></CustomErrorResponses>".to_string()
    } else {
        format!(
            "<CustomErrorResponses><Quantity>{}</Quantity><Items>{}</Items></CustomErrorResponses>",
            d.custom_errors.len(),
            d.custom_errors
                .iter()
                .map(|e| format!(
                    "<CustomErrorResponse><ErrorCode>{}</ErrorCode><ResponsePagePath>{}</ResponsePagePath><ResponseCode>{}</ResponseCode><ErrorCachingMinTTL>{}</ErrorCachingMinTTL></CustomErrorResponse>",
                    e.error_code,
                    xml_escape(e.page.as_deref().unwrap_or("")),
                    e.response_code.map(|c| c.to_string()).unwrap_or_default(),
                    e.caching_min_ttl
                ))
                .collect::<String>()
        )
    };
    Parts {
        origins,
        default_behavior,
        behaviors,
        errors,
    }
}

const TAIL: &str = "<PriceClass>PriceClass_All</PriceClass><Enabled>true</Enabled><ViewerCertificate><CloudFrontDefaultCertificate>true</CloudFrontDefaultCertificate><SSLSupportMethod>vip</SSLSupportMethod><MinimumProtocolVersion>TLSv1</MinimumProtocolVersion><CertificateSource>cloudfront</CertificateSource></ViewerCertificate><Restrictions><GeoRestriction><RestrictionType>none</RestrictionType><Quantity>0</Quantity></GeoRestriction></Restrictions>";

/// The `DistributionConfig` element (without the XML declaration); `xmlns` is its namespace
/// attribute (` xmlns="…"`) when it is the document's root, or empty inside `Distribution`.
pub fn config_xml(d: &Distribution, meta: Meta<'_>, xmlns: &str) -> String {
    let p = parts(d);
    format!(
        "<DistributionConfig{xmlns}><CallerReference>nuvem-manifest</CallerReference><Aliases><Quantity>0</Quantity></Aliases><DefaultRootObject>{}</DefaultRootObject>{}<OriginGroups><Quantity>0</Quantity></OriginGroups>{}{}{}<Comment>{}</Comment><Logging><Enabled>false</Enabled><IncludeCookies>false</IncludeCookies><Bucket></Bucket><Prefix></Prefix></Logging>{TAIL}<WebACLId>{}</WebACLId><HttpVersion>http2</HttpVersion><IsIPV6Enabled>true</IsIPV6Enabled><Staging>false</Staging></DistributionConfig>",
        xml_escape(d.default_root_object.as_deref().unwrap_or("")),
        p.origins,
        p.default_behavior,
        p.behaviors,
        p.errors,
        xml_escape(meta.comment),
        xml_escape(meta.web_acl_id),
    )
}

/// The ETag CloudFront returns with a distribution's config: it changes when the config does,
/// and with every update (`version`, 0 for the manifest's config as it is).
pub fn etag(config_xml: &str, version: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut h = Sha256::new();
    h.update(config_xml.as_bytes());
    if version > 0 {
        h.update(format!("#{version}").as_bytes());
    }
    let digest = h.finalize();
    let tail: String = digest
        .iter()
        .take(13)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("E{tail}")
}

/// A `DistributionSummary` element for ListDistributions.
pub fn summary_xml(
    d: &Distribution,
    meta: Meta<'_>,
    arn: &str,
    domain: &str,
    modified: &str,
) -> String {
    let p = parts(d);
    format!(
        "<DistributionSummary><Id>{}</Id><ARN>{}</ARN><Status>Deployed</Status><LastModifiedTime>{modified}</LastModifiedTime><DomainName>{}</DomainName><Aliases><Quantity>0</Quantity></Aliases>{}<OriginGroups><Quantity>0</Quantity></OriginGroups>{}{}{}<Comment>{}</Comment>{TAIL}<WebACLId>{}</WebACLId><HttpVersion>http2</HttpVersion><IsIPV6Enabled>true</IsIPV6Enabled><Staging>false</Staging></DistributionSummary>",
        xml_escape(&d.id),
        xml_escape(arn),
        xml_escape(domain),
        p.origins,
        p.default_behavior,
        p.behaviors,
        p.errors,
        xml_escape(meta.comment),
        xml_escape(meta.web_acl_id),
    )
}
