//! meusite's API, as a Lambda function behind the gateway (payload 2.0 via `lambda_http`).
//!
//! Routes: `GET /api/items` (newest first), `GET /api/items/{id}`, `POST /api/uploads`
//! (creates the item and returns a presigned PUT URL for the media bucket),
//! `POST /api/items/{id}/like`. It reaches nuvem's tables and buckets with the ordinary AWS
//! SDKs through `AWS_ENDPOINT_URL`, exactly as it would reach AWS: no nuvem-specific code.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_s3::presigning::PresigningConfig;
use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn};
use serde_json::{Value, json};

struct App {
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    table: String,
    bucket: String,
}

fn reply(status: u16, body: Value) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(body.to_string()))?)
}

fn s(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn n(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The JSON the browser sees for one item; media is served by the edge under `/media/`.
fn item_json(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    json!({
        "id": s(item, "id"),
        "title": s(item, "title"),
        "filename": s(item, "filename"),
        "contentType": s(item, "contentType"),
        "likes": n(item, "likes"),
        "created": n(item, "created"),
        "url": format!("/{}", s(item, "key")),
    })
}

impl App {
    async fn list(&self) -> Result<Response<Body>, Error> {
        let mut items = Vec::new();
        let mut pages = self
            .ddb
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            items.push(item?);
        }
        items.sort_by_key(|i| std::cmp::Reverse((n(i, "created"), s(i, "id"))));
        reply(
            200,
            json!({"items": items.iter().map(item_json).collect::<Vec<_>>()}),
        )
    }

    async fn get(&self, id: &str) -> Result<Response<Body>, Error> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.into()))
            .send()
            .await?;
        match out.item {
            Some(item) => reply(200, item_json(&item)),
            None => reply(404, json!({"message": "no such item"})),
        }
    }

    async fn upload(&self, body: &[u8]) -> Result<Response<Body>, Error> {
        let Ok(input) = serde_json::from_slice::<Value>(body) else {
            return reply(400, json!({"message": "body must be JSON"}));
        };
        let title = input["title"].as_str().unwrap_or("").trim();
        let filename = input["filename"].as_str().unwrap_or("").trim();
        let content_type = input["contentType"]
            .as_str()
            .unwrap_or("application/octet-stream");
        if title.is_empty() || title.len() > 120 || filename.is_empty() {
            return reply(
                400,
                json!({"message": "title (1-120 characters) and filename are required"}),
            );
        }
        // Keys keep only safe characters of the file name, so that URLs need no escaping.
        let safe: String = filename
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key = format!("media/{id}/{safe}");
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.ddb
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(id.clone()))
            .item("title", AttributeValue::S(title.into()))
            .item("filename", AttributeValue::S(filename.into()))
            .item("contentType", AttributeValue::S(content_type.into()))
            .item("key", AttributeValue::S(key.clone()))
            .item("likes", AttributeValue::N("0".into()))
            .item("created", AttributeValue::N(created.to_string()))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await?;
        let presigned = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .presigned(PresigningConfig::expires_in(Duration::from_secs(600))?)
            .await?;
        reply(
            201,
            json!({"id": id, "uploadUrl": presigned.uri(), "url": format!("/{key}")}),
        )
    }

    async fn like(&self, id: &str) -> Result<Response<Body>, Error> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.into()))
            .update_expression("ADD likes :one")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => reply(
                200,
                json!({"id": id, "likes": out.attributes.as_ref().map(|a| n(a, "likes")).unwrap_or(0)}),
            ),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                reply(404, json!({"message": "no such item"}))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn handle(&self, req: Request) -> Result<Response<Body>, Error> {
        let path = req.raw_http_path().trim_end_matches('/').to_string();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (req.method().as_str(), parts.as_slice()) {
            ("GET", ["api", "items"]) => self.list().await,
            ("GET", ["api", "items", id]) => self.get(id).await,
            ("POST", ["api", "uploads"]) => self.upload(req.body().as_ref()).await,
            ("POST", ["api", "items", id, "like"]) => self.like(id).await,
            _ => reply(404, json!({"message": "no such route"})),
        }
    }
}

/// What `aws_config::load_from_env` would read, read directly: the Lambda environment always
/// sets these, and skipping aws-config (with its SSO and STS clients) keeps the build small.
fn env_config() -> (aws_credential_types::Credentials, String, Option<String>) {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let credentials = aws_credential_types::Credentials::new(
        var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
        var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
        var("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    (credentials, region, var("AWS_ENDPOINT_URL"))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (credentials, region, endpoint) = env_config();
    let mut ddb = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(region.clone()))
        .credentials_provider(credentials.clone());
    let mut s3 = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(region))
        .credentials_provider(credentials)
        .force_path_style(true);
    if let Some(url) = endpoint {
        ddb = ddb.endpoint_url(&url);
        s3 = s3.endpoint_url(url);
    }
    let app = App {
        ddb: aws_sdk_dynamodb::Client::from_conf(ddb.build()),
        s3: aws_sdk_s3::Client::from_conf(s3.build()),
        table: std::env::var("TABLE_NAME").unwrap_or_else(|_| "items".into()),
        bucket: std::env::var("MEDIA_BUCKET").unwrap_or_else(|_| "meusite-media".into()),
    };
    let app = &app;
    run(service_fn(move |req: Request| async move {
        app.handle(req).await
    }))
    .await
}
