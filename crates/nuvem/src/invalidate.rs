//! `nuvem invalidate PATH...`: CloudFront's CreateInvalidation against a running nuvem's AWS
//! endpoint, signed with SigV4 like any AWS client (CloudFront signs for `us-east-1`). The
//! CLI is one more client of the API, never a side door into the edge. With several nodes, an
//! invalidation is `InProgress` until every node has cleared the paths: the CLI waits for
//! `Completed` (GetInvalidation), like `aws cloudfront wait invalidation-completed`.

use std::time::SystemTime;

use anyhow::{Context, bail};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use nuvem_aws::error::xml_escape;
use nuvem_aws::sigv4::{canonical_uri, sha256_hex, signing_key, string_to_sign};
use nuvem_aws::time::AmzDate;

#[derive(clap::Args, Debug)]
pub struct InvalidateArgs {
    /// Paths to clear from every edge location and the regional tier, e.g. '/images/*'.
    #[arg(required = true)]
    paths: Vec<String>,
    /// The AWS endpoint of the running nuvem.
    #[arg(long, env = "NUVEM_ENDPOINT", default_value = "http://127.0.0.1:4566")]
    endpoint: String,
    /// The distribution's id (`distribution.id` in the manifest).
    #[arg(long, default_value = "EDFDVBD6EXAMPLE")]
    distribution_id: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = "test")]
    access_key_id: String,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "test",
        hide_env_values = true
    )]
    secret_access_key: String,
}

pub fn run(args: InvalidateArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (status, mut body) = runtime.block_on(send(&args))?;
    if status != 201 {
        bail!("CreateInvalidation failed ({status}): {body}");
    }
    let id = element(&body, "Id").to_string();
    let started = std::time::Instant::now();
    while element(&body, "Status") == "InProgress" && started.elapsed() < WAIT {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (status, got) = runtime.block_on(get(&args, &id))?;
        if status != 200 {
            bail!("GetInvalidation failed ({status}): {got}");
        }
        body = got;
    }
    let status = element(&body, "Status");
    println!("invalidation {id}: {status} ({} paths)", args.paths.len());
    if status != "Completed" {
        bail!(
            "invalidation {id} is still {status} after {} s: a node has not cleared the paths yet",
            WAIT.as_secs()
        );
    }
    Ok(())
}

/// How long the CLI waits for every node to clear the paths.
const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The text of the first `<name>` element of a CloudFront response.
fn element<'a>(body: &'a str, name: &str) -> &'a str {
    body.split(&format!("<{name}>"))
        .nth(1)
        .and_then(|s| s.split(&format!("</{name}>")).next())
        .unwrap_or("?")
}

/// GetInvalidation.
async fn get(args: &InvalidateArgs, id: &str) -> anyhow::Result<(u16, String)> {
    let path = format!(
        "/2020-05-31/distribution/{}/invalidation/{id}",
        args.distribution_id
    );
    request(args, "GET", &path, String::new()).await
}

async fn send(args: &InvalidateArgs) -> anyhow::Result<(u16, String)> {
    let mut items = String::new();
    for p in &args.paths {
        items.push_str(&format!("<Path>{}</Path>", xml_escape(p)));
    }
    let reference = format!(
        "nuvem-cli-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Paths><Quantity>{}</Quantity><Items>{items}</Items></Paths><CallerReference>{reference}</CallerReference></InvalidationBatch>",
        args.paths.len()
    );
    let path = format!(
        "/2020-05-31/distribution/{}/invalidation",
        args.distribution_id
    );
    request(args, "POST", &path, body).await
}

/// One request to the CloudFront API, signed with SigV4.
async fn request(
    args: &InvalidateArgs,
    method: &str,
    path: &str,
    body: String,
) -> anyhow::Result<(u16, String)> {
    let base = args.endpoint.trim_end_matches('/');
    let uri: http::Uri = format!("{base}{path}")
        .parse()
        .with_context(|| format!("endpoint {base:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("--endpoint must be an http:// URL");
    }
    let host = uri
        .authority()
        .context("the endpoint has no host")?
        .to_string();

    let payload = sha256_hex(body.as_bytes());
    let amz = AmzDate::from_system_time(SystemTime::now()).to_amz_string();
    let date = &amz[..8];
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "{method}\n{}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz}\n\n{signed_headers}\n{payload}",
        canonical_uri(uri.path(), "cloudfront")
    );
    let scope = format!("{date}/us-east-1/cloudfront/aws4_request");
    let to_sign = string_to_sign(&amz, &scope, &canonical);
    let key = signing_key(&args.secret_access_key, date, "us-east-1", "cloudfront");
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).context("HMAC takes any key")?;
    mac.update(to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        args.access_key_id
    );

    let req = http::Request::builder()
        .method(method)
        .uri(uri.path())
        .header("host", &host)
        .header("x-amz-date", &amz)
        .header("x-amz-content-sha256", &payload)
        .header("authorization", authorization)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .context("building the request")?;
    let stream = tokio::net::TcpStream::connect(&host)
        .await
        .with_context(|| format!("connecting to {host} (is `nuvem up` running?)"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
    tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .context("sending CreateInvalidation")?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .context("reading the response")?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
