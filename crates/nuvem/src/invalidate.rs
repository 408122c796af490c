//! `nuvem invalidate PATH...`: CloudFront's CreateInvalidation against a running nuvem's AWS
//! endpoint, signed with SigV4 like any AWS client (CloudFront signs for `us-east-1`). The
//! CLI is one more client of the API, never a side door into the edge. With several nodes, an
//! invalidation is `InProgress` until every node has cleared the paths: the CLI waits for
//! `Completed` (GetInvalidation), like `aws cloudfront wait invalidation-completed`.

use std::time::SystemTime;

use anyhow::{Context, bail};
use nuvem_aws::error::xml_escape;

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

/// One request to the CloudFront API, signed with SigV4 (CloudFront signs for `us-east-1`).
async fn request(
    args: &InvalidateArgs,
    method: &str,
    path: &str,
    body: String,
) -> anyhow::Result<(u16, String)> {
    let to = crate::cli_client::Endpoint {
        url: &args.endpoint,
        access_key_id: &args.access_key_id,
        secret_access_key: &args.secret_access_key,
        region: "us-east-1",
        service: "cloudfront",
    };
    let (status, bytes) =
        crate::cli_client::call(&to, method, path, &[("content-type", "text/xml")], body).await?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
