//! The console at `/_nuvem/console/` on the AWS endpoint: static pages embedded in the binary,
//! a sign-in, and one door to the AWS APIs.
//!
//! Who may use it: a person who signs in with an access key and its secret (the manifest's keys
//! or an IAM user's), or who opens the one-time link `nuvem up` prints (it signs in as the
//! manifest's first key, the root credentials). Either way the server keeps a session (in
//! memory: a restart signs everybody out) holding that key, and hands the browser two things:
//! an `HttpOnly; SameSite=Strict` cookie and a second secret, the page token, that the page keeps
//! in `sessionStorage` and sends in `X-Nuvem-Console` with every call. A cross-site page cannot
//! send the header (nor the cookie); a same-origin page in another tab (an S3 object served by
//! this endpoint) cannot read the page token.
//!
//! What it may do: every action the page takes is an AWS API call, `/_nuvem/console/api/{service}/{path}`,
//! which the server signs with SigV4 under the session's key and hands to the endpoint's usual
//! dispatch: signature check, IAM policies for an IAM key, the service's own rules, metrics.
//! Nothing here reads a service directly; the one thing the server makes itself is a presigned
//! GET URL (`/_nuvem/console/presign`), signed with the session's key, which S3 authorizes as
//! that key when it is used. Failed sign-ins are throttled (20 a minute, all callers). Must not: render anything the services hold (the page
//! builds its DOM with text nodes only, under a CSP without inline scripts).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use nuvem_aws::sigv4::{canonical_query, canonical_uri, sha256_hex, signing_key, string_to_sign};
use nuvem_aws::time::AmzDate;
use nuvem_aws::{Body, full_body};
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "/_nuvem/console";
const API: &str = "/_nuvem/console/api/";
const COOKIE: &str = "nuvem_console";
/// How long a session lasts from its sign-in.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Sessions held at once; the oldest goes first.
const MAX_SESSIONS: usize = 256;
/// Failed sign-ins allowed per window, all callers together; past them every sign-in is
/// refused (429) until the window ends, so that secrets cannot be guessed at speed.
const MAX_FAILED_SIGN_INS: u32 = 20;
const SIGN_IN_WINDOW: Duration = Duration::from_secs(60);
/// The largest request body the console forwards (an upload).
const MAX_BODY: usize = 64 << 20;

const INDEX_HTML: &str = include_str!("console/index.html");
const SIGNIN_HTML: &str = include_str!("console/signin.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const SIGNIN_JS: &str = include_str!("console/signin.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");

/// What the console makes of a request.
pub enum Outcome {
    /// Not the console's, or an API call now signed: the endpoint dispatches it.
    Forward(Request<Body>),
    /// The console answered.
    Answer(Response<Body>),
}

/// Marks a request the console signed on a session's behalf: its answer gets the console's
/// security headers.
#[derive(Clone, Copy, Debug)]
pub struct Forwarded;

/// Checks an access key and its secret (the endpoint's keyring, then IAM).
pub trait Keys: Send + Sync {
    fn key_matches<'a>(
        &'a self,
        access_key_id: &'a str,
        secret: &'a str,
    ) -> nuvem_aws::BoxFuture<'a, Result<bool, ()>>;
}

struct Session {
    access_key_id: String,
    secret: String,
    page_token: String,
    expires: Instant,
}

pub struct Console {
    region: String,
    /// The key the one-time link signs in as (the manifest's first).
    link_key: (String, String),
    link_token: Mutex<Option<String>>,
    /// By cookie value.
    sessions: Mutex<HashMap<String, Session>>,
    /// Failed sign-ins in the current window: (window start, count).
    failures: Mutex<(Instant, u32)>,
}

/// The services the page may call, with the name and region their signature is scoped to.
fn signing(service: &str, region: &str) -> Option<(&'static str, String)> {
    let (name, global) = match service {
        "s3" => ("s3", false),
        "dynamodb" => ("dynamodb", false),
        "lambda" => ("lambda", false),
        "wafv2" => ("wafv2", false),
        "logs" => ("logs", false),
        "apigateway" => ("apigateway", false),
        "cloudfront" => ("cloudfront", true),
        "iam" => ("iam", true),
        // `/_nuvem/health` and `/_nuvem/metrics`, which take any signing name.
        "nuvem" => ("nuvem", false),
        _ => return None,
    };
    Some((
        name,
        if global {
            "us-east-1".into()
        } else {
            region.into()
        },
    ))
}

/// 32 random bytes as hex.
fn random_token() -> String {
    let mut buf = [0u8; 32];
    // The operating system's generator; without it there is no safe token to hand out.
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut buf)
        .expect("the system random generator");
    hex::encode(buf)
}

fn eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl Console {
    /// `link_key` is the identity the one-time link signs in as.
    pub fn new(region: String, link_key: (String, String)) -> Self {
        Self {
            region,
            link_key,
            link_token: Mutex::new(Some(random_token())),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new((Instant::now(), 0)),
        }
    }

    /// The one-time link's path and query (`/_nuvem/console/?token=…`), while unused.
    pub fn link(&self) -> Option<String> {
        let token = self.link_token.lock().unwrap_or_else(|e| e.into_inner());
        token.as_ref().map(|t| format!("{PREFIX}/?token={t}"))
    }

    /// The access key id the one-time link signs in as.
    pub fn link_identity(&self) -> &str {
        &self.link_key.0
    }

    /// A new session; (cookie value, page token).
    fn open(&self, access_key_id: String, secret: String) -> (String, String) {
        let (cookie, page_token) = (random_token(), random_token());
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        while sessions.len() >= MAX_SESSIONS {
            let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            sessions.remove(&oldest);
        }
        sessions.insert(
            cookie.clone(),
            Session {
                access_key_id,
                secret,
                page_token: page_token.clone(),
                expires: now + SESSION_LIFETIME,
            },
        );
        (cookie, page_token)
    }

    /// The session the request's cookie names, if it is live; with `page_token`, only when the
    /// request also carries the page token. (access key, secret).
    fn session(&self, parts: &http::request::Parts, page_token: bool) -> Option<(String, String)> {
        let cookie = cookie(parts)?;
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let s = sessions.get(cookie)?;
        if s.expires <= Instant::now() {
            return None;
        }
        if page_token {
            let given = parts.headers.get("x-nuvem-console")?.to_str().ok()?;
            if !eq(given, &s.page_token) {
                return None;
            }
        }
        Some((s.access_key_id.clone(), s.secret.clone()))
    }

    /// Serves a console path, or hands an API call on signed; any other request passes.
    pub async fn route(&self, keys: &dyn Keys, req: Request<Body>) -> Outcome {
        let path = req.uri().path();
        if path != PREFIX && !path.starts_with("/_nuvem/console/") {
            return Outcome::Forward(req);
        }
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let get = parts.method == http::Method::GET;
        let post = parts.method == http::Method::POST;
        let answer = match path.strip_prefix(PREFIX).unwrap_or_default() {
            "" => redirect(StatusCode::PERMANENT_REDIRECT, "/_nuvem/console/"),
            "/" if get => self.index(&parts),
            "/signin" if get => page(SIGNIN_HTML),
            "/signin" if post => self.sign_in(keys, &parts, body).await,
            "/signout" if post => self.sign_out(&parts),
            "/presign" if post => self.presign(&parts, body).await,
            "/assets/console.js" if get => asset(CONSOLE_JS, "text/javascript; charset=utf-8"),
            "/assets/signin.js" if get => asset(SIGNIN_JS, "text/javascript; charset=utf-8"),
            "/assets/console.css" if get => asset(CONSOLE_CSS, "text/css; charset=utf-8"),
            _ if path.starts_with(API) => {
                return match self.forward(parts, body).await {
                    Ok(req) => Outcome::Forward(req),
                    Err(resp) => Outcome::Answer(secured(resp)),
                };
            }
            "/"
            | "/signin"
            | "/signout"
            | "/assets/console.js"
            | "/assets/signin.js"
            | "/assets/console.css" => message(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "This console path does not take that method",
            ),
            _ => message(
                StatusCode::NOT_FOUND,
                "NotFound",
                "No such page in the console",
            ),
        };
        Outcome::Answer(secured(answer))
    }

    /// The console's page for a signed-in browser; the sign-in page's address for anyone
    /// else; the one-time link exchanged for a session.
    fn index(&self, parts: &http::request::Parts) -> Response<Body> {
        let token = parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .map(str::to_owned)
        });
        if let Some(given) = token {
            let taken = {
                let mut slot = self.link_token.lock().unwrap_or_else(|e| e.into_inner());
                match slot.as_deref() {
                    Some(t) if eq(t, &given) => slot.take(),
                    _ => None,
                }
            };
            if taken.is_none() {
                tracing::info!("console: a sign-in link that is used or not valid was refused");
                return message(
                    StatusCode::FORBIDDEN,
                    "InvalidLink",
                    "This sign-in link was already used or is not valid: sign in with an access key at /_nuvem/console/signin",
                );
            }
            let (id, secret) = self.link_key.clone();
            tracing::info!(access_key = %id, "console: signed in with the one-time link");
            let (cookie, page_token) = self.open(id, secret);
            // The page token travels in the fragment, which the browser never sends.
            let mut resp = redirect(
                StatusCode::SEE_OTHER,
                &format!("/_nuvem/console/#session={page_token}"),
            );
            set_cookie(&mut resp, parts, &cookie, SESSION_LIFETIME.as_secs());
            return resp;
        }
        if self.session(parts, false).is_none() {
            return redirect(StatusCode::SEE_OTHER, "/_nuvem/console/signin");
        }
        page(INDEX_HTML)
    }

    /// `POST /_nuvem/console/signin` from the sign-in page's script:
    /// `{"accessKeyId": …, "secretAccessKey": …}`.
    async fn sign_in(
        &self,
        keys: &dyn Keys,
        parts: &http::request::Parts,
        body: Body,
    ) -> Response<Body> {
        // Only the page's script sets this header: a form on another site cannot.
        if parts
            .headers
            .get("x-nuvem-console")
            .map(HeaderValue::as_bytes)
            != Some(b"signin")
        {
            return message(
                StatusCode::FORBIDDEN,
                "MissingHeader",
                "Sign in from the console's sign-in page",
            );
        }
        let Some(bytes) = read_limited(body, 4096).await else {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "The sign-in request is larger than 4096 bytes",
            );
        };
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct SignIn {
            access_key_id: String,
            secret_access_key: String,
        }
        let Ok(form) = serde_json::from_slice::<SignIn>(&bytes) else {
            return message(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Expected {\"accessKeyId\": …, \"secretAccessKey\": …}",
            );
        };
        let throttled = {
            let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if f.0.elapsed() > SIGN_IN_WINDOW {
                *f = (Instant::now(), 0);
            }
            f.1 >= MAX_FAILED_SIGN_INS
        };
        if throttled {
            tracing::warn!("console: sign-in refused, too many failed sign-ins this minute");
            let mut resp = message(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many failed sign-ins; try again in a minute",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return resp;
        }
        match keys
            .key_matches(&form.access_key_id, &form.secret_access_key)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
                f.1 += 1;
                drop(f);
                tracing::info!(access_key = %form.access_key_id, "console: sign-in refused");
                return message(
                    StatusCode::UNAUTHORIZED,
                    "InvalidCredentials",
                    "The access key or its secret is not valid (temporary credentials are not accepted)",
                );
            }
            Err(()) => {
                return message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The access key could not be checked; try again",
                );
            }
        }
        tracing::info!(access_key = %form.access_key_id, "console: signed in");
        let id = form.access_key_id;
        let (cookie, page_token) = self.open(id.clone(), form.secret_access_key);
        let mut resp = json(
            StatusCode::OK,
            &serde_json::json!({ "session": page_token, "accessKeyId": id }),
        );
        set_cookie(&mut resp, parts, &cookie, SESSION_LIFETIME.as_secs());
        resp
    }

    fn sign_out(&self, parts: &http::request::Parts) -> Response<Body> {
        if self.session(parts, true).is_none() {
            return not_signed_in();
        }
        if let Some(c) = cookie(parts) {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions.remove(c);
        }
        let mut resp = json(StatusCode::OK, &serde_json::json!({ "signedOut": true }));
        set_cookie(&mut resp, parts, "", 0);
        resp
    }

    /// `POST /_nuvem/console/presign` `{"bucket", "key", "expiresSeconds"}`: the path and query
    /// of a presigned GET URL for the object on this endpoint, signed with the session's key (S3 then authorizes whoever opens it
    /// as that key, as for any presigned URL).
    async fn presign(&self, parts: &http::request::Parts, body: Body) -> Response<Body> {
        let Some((access_key_id, secret)) = self.session(parts, true) else {
            return not_signed_in();
        };
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Presign {
            bucket: String,
            key: String,
            expires_seconds: Option<u64>,
        }
        let form = match read_limited(body, 8192).await {
            Some(bytes) => serde_json::from_slice::<Presign>(&bytes).ok(),
            None => None,
        };
        let Some(form) = form.filter(|f| !f.bucket.is_empty() && !f.key.is_empty()) else {
            return message(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Expected {\"bucket\": …, \"key\": …, \"expiresSeconds\": …}",
            );
        };
        let expires = form.expires_seconds.unwrap_or(3600);
        if !(1..=nuvem_aws::sigv4::MAX_PRESIGNED_EXPIRES).contains(&expires) {
            return message(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "expiresSeconds is 1 to 604800 (seven days)",
            );
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, KEEP).to_string();
        let path = format!(
            "/{}/{}",
            enc(&form.bucket),
            form.key.split('/').map(enc).collect::<Vec<_>>().join("/")
        );
        let amz = AmzDate::from_system_time(SystemTime::now()).to_amz_string();
        let date = &amz[..8];
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={amz}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
            enc(&format!("{access_key_id}/{scope}"))
        );
        let canonical = format!(
            "GET\n{path}\n{}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD",
            canonical_query(&query)
        );
        let key = signing_key(&secret, date, &self.region, "s3");
        let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key) else {
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "signing failed",
            );
        };
        mac.update(string_to_sign(&amz, &scope, &canonical).as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        // The page adds its own origin (the scheme is the listener's: HTTP or TLS).
        let url = format!("{path}?{query}&X-Amz-Signature={signature}");
        json(
            StatusCode::OK,
            &serde_json::json!({ "path": url, "expiresSeconds": expires }),
        )
    }

    /// `/_nuvem/console/api/{service}/{path}`: the same call signed with the session's key, for
    /// the endpoint to dispatch like any client's.
    async fn forward(
        &self,
        parts: http::request::Parts,
        body: Body,
    ) -> Result<Request<Body>, Response<Body>> {
        let Some((access_key_id, secret)) = self.session(&parts, true) else {
            return Err(not_signed_in());
        };
        let rest = parts.uri.path().strip_prefix(API).unwrap_or_default();
        let (service, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let Some((signing_name, region)) = signing(service, &self.region) else {
            return Err(message(
                StatusCode::NOT_FOUND,
                "UnknownService",
                "The console does not call that service",
            ));
        };
        if service == "nuvem" && path != "/_nuvem/health" && path != "/_nuvem/metrics" {
            return Err(message(
                StatusCode::NOT_FOUND,
                "NotFound",
                "Only /_nuvem/health and /_nuvem/metrics",
            ));
        }
        let Some(bytes) = read_limited(body, MAX_BODY).await else {
            return Err(message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "The console forwards request bodies up to 64 MiB",
            ));
        };
        let payload = sha256_hex(&bytes);
        let amz = AmzDate::from_system_time(SystemTime::now()).to_amz_string();
        let date = &amz[..8];
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in &parts.headers {
            let n = name.as_str();
            let passes = matches!(
                n,
                "content-type"
                    | "content-disposition"
                    | "content-encoding"
                    | "cache-control"
                    | "range"
                    | "x-amz-target"
                    | "x-amz-log-type"
                    | "x-amz-invocation-type"
                    | "x-amz-copy-source"
                    | "x-amz-metadata-directive"
                    | "x-amz-tagging"
            ) || n.starts_with("x-amz-meta-");
            if !passes {
                continue;
            }
            let Ok(v) = value.to_str() else {
                return Err(message(
                    StatusCode::BAD_REQUEST,
                    "InvalidHeader",
                    "A header value is not visible ASCII",
                ));
            };
            headers.push((n.to_owned(), v.to_owned()));
        }
        headers.extend([
            ("host".to_owned(), host),
            ("x-amz-content-sha256".to_owned(), payload.clone()),
            ("x-amz-date".to_owned(), amz.clone()),
        ]);
        headers.sort();
        headers.dedup_by(|a, b| a.0 == b.0);
        let names = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let lines: String = headers
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}:{}\n",
                    v.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
            .collect();
        let query = parts.uri.query().unwrap_or_default();
        let canonical = format!(
            "{}\n{}\n{}\n{lines}\n{names}\n{payload}",
            parts.method,
            canonical_uri(path, signing_name),
            canonical_query(query)
        );
        let scope = format!("{date}/{region}/{signing_name}/aws4_request");
        let key = signing_key(&secret, date, &region, signing_name);
        let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key) else {
            return Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "signing failed",
            ));
        };
        mac.update(string_to_sign(&amz, &scope, &canonical).as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let pq = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let mut out = Request::builder().method(parts.method.clone()).uri(pq);
        for (k, v) in &headers {
            out = out.header(k.as_str(), v.as_str());
        }
        out = out.header(
            header::AUTHORIZATION,
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={names}, Signature={signature}"
            ),
        );
        out = out
            .header(header::CONTENT_LENGTH, bytes.len())
            .extension(Forwarded);
        // How the browser's call arrived is the call's: `aws:SourceIp` and
        // `aws:SecureTransport` in policies, S3's TLS-only SSE-C keys.
        if let Some(peer) = parts.extensions.get::<std::net::SocketAddr>() {
            out = out.extension(*peer);
        }
        if let Some(transport) = parts.extensions.get::<nuvem_aws::Transport>() {
            out = out.extension(*transport);
        }
        out.body(full_body(bytes)).map_err(|_| {
            message(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "The call's path or a header is not valid",
            )
        })
    }
}

/// The headers every response to a console path carries, the forwarded API calls' included.
pub fn secured(mut resp: Response<Body>) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A page of the same origin that opens the console (an HTML object a path-style S3 URL
    // serves) gets no handle on its window, so cannot read the page token it keeps in
    // `sessionStorage` nor watch a sign-in typed into it.
    h.insert(
        http::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // An object's own Cache-Control is its metadata, shown by the page (which fetches with
    // `cache: "no-store"` anyway).
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The whole body, or `None` past `limit` bytes or when it breaks off.
async fn read_limited(mut body: Body, limit: usize) -> Option<Bytes> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            if buf.len() + data.len() > limit {
                return None;
            }
            buf.extend_from_slice(&data);
        }
    }
    Some(buf.freeze())
}

fn cookie(parts: &http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("nuvem_console="))
        .filter(|v| !v.is_empty())
}

/// The session cookie; `Secure` when the request came over TLS, so that the browser never
/// sends it over plain HTTP (a plain listener of the same host, or an attacker on the path).
fn set_cookie(resp: &mut Response<Body>, parts: &http::request::Parts, value: &str, max_age: u64) {
    let secure = parts
        .extensions
        .get::<nuvem_aws::Transport>()
        .is_some_and(|t| t.secure);
    let c = format!(
        "{COOKIE}={value}; Path=/_nuvem/console/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn page(html: &'static str) -> Response<Body> {
    asset(html, "text/html; charset=utf-8")
}

fn asset(text: &'static str, content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(full_body(Bytes::from_static(text.as_bytes())));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn redirect(status: StatusCode, to: &str) -> Response<Body> {
    let mut resp = Response::new(full_body(Bytes::new()));
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(full_body(Bytes::from(value.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn message(status: StatusCode, code: &str, text: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "code": code, "message": text }),
    )
}

fn not_signed_in() -> Response<Body> {
    message(
        StatusCode::UNAUTHORIZED,
        "NotSignedIn",
        "Sign in to the console first (/_nuvem/console/signin)",
    )
}
