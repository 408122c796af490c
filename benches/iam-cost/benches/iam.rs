//! What deciding one request costs: the evaluation the endpoint runs for an IAM user's
//! request, with the policies already parsed (as `IamApi::identity` hands them over).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use nuvem_iam::{Context, Kind, Policy, Principal, Request, evaluate};
use serde_json::json;

const ACCOUNT: &str = "111122223333";

/// Twenty statements of the kinds real policies hold: service wildcards, table and bucket
/// ARNs with variables, conditions on the source IP, time and leading keys; the matching one
/// comes last.
fn twenty_statements() -> Policy {
    let mut statements = Vec::new();
    for i in 0..19 {
        statements.push(match i % 4 {
            0 => json!({"Effect": "Allow", "Action": [format!("s3:Get*"), "s3:List*"],
                        "Resource": format!("arn:aws:s3:::bucket-{i}/${{aws:username}}/*")}),
            1 => json!({"Effect": "Allow", "Action": "dynamodb:Query",
                        "Resource": format!("arn:aws:dynamodb:*:*:table/t{i}"),
                        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}}),
            2 => json!({"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*",
                        "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}}),
            _ => json!({"Effect": "Allow", "Action": "lambda:InvokeFunction",
                        "Resource": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:f{i}"),
                        "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}),
        });
    }
    statements.push(json!({"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
        "Resource": format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/items"),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}));
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    Policy::parse(&doc.to_string(), Kind::Identity).unwrap()
}

fn bench(c: &mut Criterion) {
    let user = Principal::User {
        account: ACCOUNT.into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/alice"),
    };
    let root = Principal::Root {
        account: ACCOUNT.into(),
    };
    let mut ctx = Context::new();
    ctx.set("aws:SourceIp", "127.0.0.1")
        .set("aws:SecureTransport", "false")
        .set("aws:CurrentTime", "2026-12-06T05:00:00Z")
        .set("aws:username", "alice");
    let table = format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/items");
    let small = Policy::parse(
        &json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Action": "dynamodb:GetItem", "Resource": table}})
        .to_string(),
        Kind::Identity,
    )
    .unwrap();
    let big = twenty_statements();
    let request = |principal| Request {
        principal,
        action: "dynamodb:GetItem",
        resource: &table,
        context: &ctx,
    };
    c.bench_function("root key", |b| {
        b.iter(|| evaluate(black_box(&[]), None, black_box(&request(&root))))
    });
    c.bench_function("one statement", |b| {
        b.iter(|| evaluate(black_box(&[&small]), None, black_box(&request(&user))))
    });
    c.bench_function("twenty statements", |b| {
        b.iter(|| evaluate(black_box(&[&big]), None, black_box(&request(&user))))
    });
    c.bench_function("parse twenty statements", |b| b.iter(twenty_statements));
}

criterion_group!(benches, bench);
criterion_main!(benches);
