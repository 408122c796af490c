//! Asynchronous invocation configuration (Put/Update/Get/Delete/ListFunctionEventInvokeConfig,
//! https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html): how many
//! times a failed event is retried (0–2), how old an event may get before it is discarded
//! (60 s–6 h), and where the invocation record goes on success and on failure.
//!
//! Destinations are Lambda functions (invoked asynchronously with Lambda's invocation record
//! as the event); SQS, SNS, EventBridge and S3 destinations are refused by name, since nuvem
//! has none of those services to deliver to.
//!
//! Must not: run events (see [`crate::dispatch`]), or store anything itself: the configuration
//! lives in the function's record ([`crate::model::FunctionRecord::event_invoke`]).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Lambda's defaults: two retries, six hours.
pub const DEFAULT_RETRIES: u32 = 2;
pub const DEFAULT_MAX_AGE_SECS: u32 = 21_600;

/// One function's configuration, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInvokeConfig {
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age_in_seconds: Option<u32>,
    /// Destination function ARNs.
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    /// Milliseconds since the epoch (Lambda reports fractional seconds).
    pub last_modified_ms: u64,
}

impl EventInvokeConfig {
    pub fn retries(config: Option<&Self>) -> u32 {
        config
            .and_then(|c| c.maximum_retry_attempts)
            .unwrap_or(DEFAULT_RETRIES)
    }

    pub fn max_age_ms(config: Option<&Self>) -> u64 {
        u64::from(
            config
                .and_then(|c| c.maximum_event_age_in_seconds)
                .unwrap_or(DEFAULT_MAX_AGE_SECS),
        ) * 1000
    }

    /// The `FunctionEventInvokeConfig` shape, for a qualified ARN (an unqualified one is
    /// `$LATEST`'s).
    pub fn shape(&self, function_arn: &str) -> Value {
        let mut out = json!({
            "LastModified": self.last_modified_ms as f64 / 1000.0,
            "FunctionArn": qualified(function_arn),
            "DestinationConfig": {},
        });
        if let Some(n) = self.maximum_retry_attempts {
            out["MaximumRetryAttempts"] = json!(n);
        }
        if let Some(n) = self.maximum_event_age_in_seconds {
            out["MaximumEventAgeInSeconds"] = json!(n);
        }
        if let Some(d) = &self.on_success {
            out["DestinationConfig"]["OnSuccess"] = json!({ "Destination": d });
        }
        if let Some(d) = &self.on_failure {
            out["DestinationConfig"]["OnFailure"] = json!({ "Destination": d });
        }
        out
    }

    /// Applies a request's fields: all of them (`replace`, PutFunctionEventInvokeConfig) or
    /// only those present (UpdateFunctionEventInvokeConfig).
    pub fn apply(&mut self, input: &Value, replace: bool, region: &str) -> Result<()> {
        let number = |field: &str, name: &str, min: i64, max: i64| -> Result<Option<u32>> {
            match input.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_i64() {
                    Some(n) if (min..=max).contains(&n) => Ok(u32::try_from(n).ok()),
                    _ => Err(Error::Validation(format!(
                        "1 validation error detected: Value '{v}' at '{name}' failed to satisfy constraint: Member must have value {}",
                        if n_is_low(v, min) {
                            format!("greater than or equal to {min}")
                        } else {
                            format!("less than or equal to {max}")
                        }
                    ))),
                },
            }
        };
        let retries = number("MaximumRetryAttempts", "maximumRetryAttempts", 0, 2)?;
        let age = number(
            "MaximumEventAgeInSeconds",
            "maximumEventAgeInSeconds",
            60,
            21_600,
        )?;
        let destination = |which: &str| -> Result<Option<String>> {
            match input
                .get("DestinationConfig")
                .and_then(|d| d.get(which))
                .and_then(|d| d.get("Destination"))
            {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(arn)) => check_destination(arn, region).map(Some),
                Some(v) => Err(Error::Validation(format!(
                    "Destination must be a string, got {v}"
                ))),
            }
        };
        let (on_success, on_failure) = (destination("OnSuccess")?, destination("OnFailure")?);
        if replace {
            *self = Self::default();
        }
        let present = |field: &str| input.get(field).is_some_and(|v| !v.is_null());
        if replace || present("MaximumRetryAttempts") {
            self.maximum_retry_attempts = retries;
        }
        if replace || present("MaximumEventAgeInSeconds") {
            self.maximum_event_age_in_seconds = age;
        }
        let destinations = input.get("DestinationConfig");
        let given = |which: &str| destinations.is_some_and(|d| d.get(which).is_some());
        if replace || given("OnSuccess") {
            self.on_success = on_success;
        }
        if replace || given("OnFailure") {
            self.on_failure = on_failure;
        }
        self.last_modified_ms = crate::queue::now_ms();
        Ok(())
    }
}

fn n_is_low(v: &Value, min: i64) -> bool {
    v.as_i64().is_some_and(|n| n < min)
}

/// A destination must be a Lambda function's ARN in this region; other services' ARNs are
/// refused by name.
fn check_destination(arn: &str, region: &str) -> Result<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let service = parts.get(2).copied().unwrap_or("");
    if parts.first() != Some(&"arn") || parts.len() < 6 {
        return Err(Error::InvalidParameter(format!(
            "The destination ARN {arn} is invalid."
        )));
    }
    if service != "lambda" {
        return Err(Error::InvalidParameter(format!(
            "The destination ARN {arn} names the {service} service: nuvem delivers asynchronous invocation records to Lambda functions only (SQS, SNS, EventBridge and S3 destinations are not available)."
        )));
    }
    let resource = parts[5];
    let Some(function) = resource.strip_prefix("function:") else {
        return Err(Error::InvalidParameter(format!(
            "The destination ARN {arn} is not a function ARN."
        )));
    };
    if parts[3] != region || function.is_empty() {
        return Err(Error::InvalidParameter(format!(
            "The destination ARN {arn} is invalid: it must name a function in {region}."
        )));
    }
    crate::model::FunctionRef::parse(function)
        .map_err(|_| Error::InvalidParameter(format!("The destination ARN {arn} is invalid.")))?;
    Ok(arn.to_string())
}

/// Why an event's record goes to a destination (`requestContext.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Success,
    RetriesExhausted,
    EventAgeExceeded,
}

impl Condition {
    fn name(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::RetriesExhausted => "RetriesExhausted",
            Self::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// What the last attempt returned, for the record's `responseContext`/`responsePayload`.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub payload: Option<bytes::Bytes>,
    pub function_error: Option<String>,
    /// The version that ran (`None`: `$LATEST`).
    pub executed_version: Option<String>,
}

/// Lambda's invocation record
/// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
/// `function_arn` is the ARN invoked (an unqualified one stands for `$LATEST`).
pub fn record(
    request_id: &str,
    function_arn: &str,
    condition: Condition,
    invoke_count: u32,
    request_payload: &[u8],
    outcome: &Outcome,
) -> Value {
    let json_or_text = |b: &[u8]| {
        serde_json::from_slice::<Value>(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
    };
    let timestamp =
        nuvem_aws::time::AmzDate::from_system_time(std::time::SystemTime::now()).to_iso8601();
    let mut out = json!({
        "version": "1.0",
        "timestamp": timestamp,
        "requestContext": {
            "requestId": request_id,
            "functionArn": qualified(function_arn),
            "condition": condition.name(),
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": json_or_text(request_payload),
    });
    if condition != Condition::EventAgeExceeded {
        let mut response = json!({
            "statusCode": 200,
            "executedVersion": outcome.executed_version.as_deref().unwrap_or("$LATEST"),
        });
        if let Some(e) = &outcome.function_error {
            response["functionError"] = json!(e);
        }
        out["responseContext"] = response;
        if let Some(p) = &outcome.payload {
            out["responsePayload"] = json_or_text(p);
        }
    }
    out
}

/// A function ARN with its qualifier: `$LATEST` when it has none.
fn qualified(function_arn: &str) -> String {
    if function_arn.matches(':').count() >= 7 {
        function_arn.to_owned()
    } else {
        format!("{function_arn}:$LATEST")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: Value, want: std::result::Result<Value, &str>) {
        let mut c = EventInvokeConfig::default();
        match (c.apply(&input, true, "us-east-1"), want) {
            (Ok(()), Ok(shape)) => {
                let mut got = c.shape("arn:aws:lambda:us-east-1:000000000000:function:f");
                got.as_object_mut().unwrap().remove("LastModified");
                assert_eq!(got, shape, "{input}");
            }
            (Err(e), Err(fragment)) => {
                assert!(e.to_string().contains(fragment), "{input}: {e}")
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn configurations_and_their_refusals() {
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST";
        check(
            json!({"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}),
            Ok(json!({"FunctionArn": arn, "MaximumRetryAttempts": 0,
                      "MaximumEventAgeInSeconds": 60, "DestinationConfig": {}})),
        );
        check(
            json!({"DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:dlq"},
                "OnSuccess": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:ok:live"}}}),
            Ok(json!({"FunctionArn": arn, "DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:dlq"},
                "OnSuccess": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:ok:live"}}})),
        );
        check(
            json!({"MaximumRetryAttempts": 3}),
            Err("less than or equal to 2"),
        );
        check(
            json!({"MaximumRetryAttempts": -1}),
            Err("greater than or equal to 0"),
        );
        check(
            json!({"MaximumEventAgeInSeconds": 59}),
            Err("greater than or equal to 60"),
        );
        check(
            json!({"MaximumEventAgeInSeconds": 21601}),
            Err("less than or equal to 21600"),
        );
        check(
            json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}}}),
            Err("names the sqs service"),
        );
        check(
            json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:eu-west-1:000000000000:function:f"}}}),
            Err("must name a function in us-east-1"),
        );
        check(
            json!({"DestinationConfig": {"OnSuccess": {"Destination": "not-an-arn"}}}),
            Err("is invalid"),
        );
    }

    #[test]
    fn update_keeps_what_it_does_not_name() {
        let mut c = EventInvokeConfig::default();
        c.apply(
            &json!({"MaximumRetryAttempts": 1, "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:dlq"}}}),
            true,
            "us-east-1",
        )
        .unwrap();
        c.apply(
            &json!({"MaximumEventAgeInSeconds": 120}),
            false,
            "us-east-1",
        )
        .unwrap();
        assert_eq!(c.maximum_retry_attempts, Some(1));
        assert_eq!(c.maximum_event_age_in_seconds, Some(120));
        assert!(c.on_failure.is_some());
        c.apply(&json!({"MaximumEventAgeInSeconds": 300}), true, "us-east-1")
            .unwrap();
        assert_eq!(c.maximum_retry_attempts, None, "Put replaces everything");
        assert!(c.on_failure.is_none());
    }

    #[test]
    fn records_carry_the_condition_and_both_payloads() {
        let outcome = Outcome {
            payload: Some(bytes::Bytes::from_static(br#"{"errorMessage":"boom"}"#)),
            function_error: Some("Unhandled".into()),
            executed_version: None,
        };
        let r = record(
            "r1",
            "arn:aws:lambda:us-east-1:000000000000:function:f",
            Condition::RetriesExhausted,
            3,
            br#"{"a":1}"#,
            &outcome,
        );
        assert_eq!(r["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(r["requestPayload"], json!({"a": 1}));
        assert_eq!(r["responseContext"]["functionError"], "Unhandled");
        assert_eq!(r["responsePayload"]["errorMessage"], "boom");
        assert_eq!(
            r["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
        );
        assert_eq!(r["responseContext"]["executedVersion"], "$LATEST");
        let aged = record("r2", "arn", Condition::EventAgeExceeded, 0, b"{}", &outcome);
        assert!(aged.get("responseContext").is_none());
        // Invoked through an alias, run by version 3.
        let on_version = Outcome {
            executed_version: Some("3".into()),
            ..outcome
        };
        let r = record(
            "r3",
            "arn:aws:lambda:us-east-1:000000000000:function:f:live",
            Condition::Success,
            1,
            b"{}",
            &on_version,
        );
        assert_eq!(
            r["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:f:live"
        );
        assert_eq!(r["responseContext"]["executedVersion"], "3");
    }
}
