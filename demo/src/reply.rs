//! The JSON every service answers with: its name, what its callees said,
//! and, in the front door's answer (api_01's), where to see this request's
//! trace.
//!
//! ```json
//! { "service": "api_01",
//!   "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
//!   "zipkin_url": "http://localhost:9411/zipkin/traces/4bf92f3577b34da6a3ce929d0e0e4736",
//!   "downstream": { "api_02": { "service": "api_02", "downstream": { ... } },
//!                   "api_03": { "service": "api_03", ... } } }
//! ```
//!
//! The callees' answers, nested in their callers', do not repeat the trace id
//! and the link: the person who asked has them from api_01, and each copy
//! cost writing and parsing JSON at every hop of every traced request.
//!
//! When a callee fails, the answer says which, keeps what the other callees
//! answered, and its status is `502` (or `504` when the callee was too slow).
//! When the request asked this service to fail (`?fail=`), it is `500`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use telemetry::current_trace;

use crate::{DownstreamError, Faults, Settings};

/// A service's JSON answer, built up field by field.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: Map<String, Value>,
}

impl Reply {
    /// A `200` answer naming the service. In the front door's answer
    /// ([`Settings::trace_link`]), also the trace id when the request is in a
    /// trace, and a link to it in the Zipkin UI when the trace is recorded
    /// (a trace that is not recorded is not in Zipkin).
    pub fn new(settings: &Settings) -> Self {
        let mut body = Map::new();
        body.insert("service".into(), settings.service_name().into());
        if settings.trace_link
            && let Some(trace) = current_trace()
        {
            if trace.recorded {
                // Put together, not formatted: it is on every traced request.
                let base = &settings.zipkin_ui_url;
                let mut link = String::with_capacity(base.len() + 8 + trace.id.len());
                link.push_str(base);
                link.push_str("/traces/");
                link.push_str(&trace.id);
                body.insert("zipkin_url".into(), link.into());
            }
            body.insert("trace_id".into(), trace.id.into());
        }
        Self {
            status: StatusCode::OK,
            body,
        }
    }

    /// Starts the answer to a request, first acting on the request's fault
    /// knobs that name this service. `Err` is the finished answer to a
    /// request that asked this service to fail, so handlers can use `?`.
    pub async fn begin(settings: &Settings, faults: &Faults) -> Result<Self, Self> {
        let reply = Self::new(settings);
        match faults.apply(settings.service_name()).await {
            Ok(()) => Ok(reply),
            Err(failure) => {
                Err(reply.failure(StatusCode::INTERNAL_SERVER_ERROR, failure.to_string()))
            }
        }
    }

    /// Adds a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.body.insert(key.into(), value.into());
        self
    }

    /// Records what `callee` answered under `downstream`; a failure also
    /// goes under `error` and `failed`, and sets the status.
    pub fn downstream(mut self, callee: &str, result: Result<Value, DownstreamError>) -> Self {
        let answer = match result {
            Ok(answer) => answer,
            Err(error) => {
                let answer = match &error {
                    DownstreamError::Failed { answer, .. } => {
                        json!({ "error": error.to_string(), "answer": answer })
                    }
                    _ => json!({ "error": error.to_string() }),
                };
                self.record_failure(error.status_code(), error.to_string(), Some(callee));
                answer
            }
        };
        self.body
            .entry("downstream")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("downstream is always an object")
            .insert(callee.into(), answer);
        self
    }

    /// Marks the answer failed with `status` and `message`.
    pub fn failure(mut self, status: StatusCode, message: impl Into<String>) -> Self {
        self.record_failure(status, message.into(), None);
        self
    }

    fn record_failure(&mut self, status: StatusCode, message: String, callee: Option<&str>) {
        // The first failure sets the status, except that a callee too slow
        // (504) outranks one that failed (502): the status then does not
        // depend on which of two concurrent failures came back first.
        if self.status.is_success() || status == StatusCode::GATEWAY_TIMEOUT {
            self.status = status;
        }
        let error = match self.body.get("error").and_then(Value::as_str) {
            Some(earlier) => format!("{earlier}; {message}"),
            None => message,
        };
        self.body.insert("error".into(), error.into());
        if let Some(callee) = callee {
            self.body
                .entry("failed")
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
                .expect("failed is always an array")
                .push(callee.into());
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.status, Json(Value::Object(self.body))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(name: &str) -> Settings {
        Settings::read(&telemetry::env::Env::from_lookup(|_| None), name, 5001).unwrap()
    }

    fn status_of(reply: Reply) -> (StatusCode, Value) {
        (reply.status, Value::Object(reply.body))
    }

    #[test]
    fn a_timeout_outranks_a_failure_whatever_the_order() {
        let config = settings("api_01");
        let timeout = || DownstreamError::Timeout {
            service: "api_03".into(),
            timeout: Duration::from_millis(500),
        };
        let failure = || DownstreamError::Failed {
            service: "api_02".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            answer: json!({ "error": "boom" }),
        };
        let first = Reply::new(&config)
            .downstream("api_02", Err(failure()))
            .downstream("api_03", Err(timeout()));
        let second = Reply::new(&config)
            .downstream("api_03", Err(timeout()))
            .downstream("api_02", Err(failure()));
        for (status, body) in [status_of(first), status_of(second)] {
            assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
            assert_eq!(body["downstream"]["api_02"]["answer"]["error"], "boom");
            assert_eq!(body["failed"].as_array().unwrap().len(), 2);
        }
    }

    #[test]
    fn a_success_keeps_the_answer_and_the_status() {
        let config = settings("api_02");
        let (status, body) =
            status_of(Reply::new(&config).downstream("api_03", Ok(json!({ "service": "api_03" }))));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["service"], "api_02");
        assert_eq!(body["downstream"]["api_03"]["service"], "api_03");
        assert!(body.get("error").is_none() && body.get("failed").is_none());
    }
}
