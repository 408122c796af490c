//! Shared by the service-level test files: a `DynamoService` on the real storage engine in a
//! temp dir, and helpers that run one operation and check its output or its error.

#![allow(dead_code)]

use nuvem_dynamo::{DynamoConfig, DynamoService};
use nuvem_store::{Durability, FjallEngine, Store};
use serde_json::{Value, json};

pub const VALIDATION: &str = "ValidationException";

pub struct Env {
    _dir: Option<tempfile::TempDir>,
    pub svc: DynamoService,
}

/// An `Env` around a service the test opened itself (on a store it keeps).
impl From<DynamoService> for Env {
    fn from(svc: DynamoService) -> Self {
        Env { _dir: None, svc }
    }
}

pub fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(FjallEngine::open(dir.path(), Durability::Process).expect("engine"));
    let svc = DynamoService::open(store, DynamoConfig::default()).expect("open service");
    Env {
        _dir: Some(dir),
        svc,
    }
}

impl Env {
    #[track_caller]
    pub fn ok(&self, op: &str, input: Value) -> Value {
        match self.svc.execute(op, input.clone()) {
            Ok(v) => v,
            Err(e) => panic!("{op} {input} failed: {} {}", e.code, e.message),
        }
    }

    /// Runs `op`, which must fail with `code` and `message` (a 400).
    #[track_caller]
    pub fn err(&self, op: &str, input: Value, code: &str, message: &str) {
        match self.svc.execute(op, input.clone()) {
            Ok(v) => panic!("{op} {input} succeeded with {v}, expected {code}"),
            Err(e) => {
                assert_eq!(
                    (e.code, e.message.as_str()),
                    (code, message),
                    "{op} {input}"
                );
                assert_eq!(e.status.as_u16(), 400);
            }
        }
    }

    /// Creates an on-demand table with a hash key and an optional range key.
    pub fn create(&self, name: &str, hash: (&str, &str), range: Option<(&str, &str)>) {
        let mut defs = vec![json!({"AttributeName": hash.0, "AttributeType": hash.1})];
        let mut ks = vec![json!({"AttributeName": hash.0, "KeyType": "HASH"})];
        if let Some(r) = range {
            defs.push(json!({"AttributeName": r.0, "AttributeType": r.1}));
            ks.push(json!({"AttributeName": r.0, "KeyType": "RANGE"}));
        }
        self.ok(
            "CreateTable",
            json!({"TableName": name, "AttributeDefinitions": defs, "KeySchema": ks, "BillingMode": "PAY_PER_REQUEST"}),
        );
    }

    pub fn put(&self, table: &str, item: Value) {
        self.ok("PutItem", json!({"TableName": table, "Item": item}));
    }

    pub fn get(&self, table: &str, key: Value) -> Value {
        self.ok("GetItem", json!({"TableName": table, "Key": key}))
            .get("Item")
            .cloned()
            .unwrap_or(Value::Null)
    }
}
