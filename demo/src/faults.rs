//! Fault and latency injection, so a reader can make a failure or a slow call
//! appear in Zipkin from curl:
//!
//! - `?fail=api_03`: api_03 answers `500`; its callers answer `502`, and the
//!   spans on the way are marked as errors.
//! - `?slow=api_02&delay_ms=300`: api_02 waits 300 ms, in a span of its own.
//!
//! The knobs travel with the request: every service passes its query on to
//! the services it calls, so the one named acts on it wherever it sits.
//! An invalid value is answered with `400` and a JSON message.

use std::time::Duration;

use axum::{
    Json,
    extract::{FromRequestParts, Query},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::Instrument;

/// The longest delay a request may ask for: long enough to exceed any
/// caller's timeout, short enough that a typo cannot tie a service up.
pub const MAX_DELAY_MS: u64 = 10_000;
/// The delay `slow` gets when `delay_ms` is not given.
pub const DEFAULT_DELAY_MS: u64 = 1_000;

/// The fault knobs of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// The service that fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<String>,
    /// The service that is slow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<String>,
    /// How slow, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

/// The failure a request asked for with `fail=`.
#[derive(Debug, thiserror::Error)]
#[error("failure injected with fail={0}")]
pub struct InjectedFailure(pub String);

impl Faults {
    /// Checks the knobs; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        for (knob, value) in [("fail", &self.fail), ("slow", &self.slow)] {
            if let Some(service) = value {
                let valid_name = !service.is_empty()
                    && service.len() <= 64
                    && service
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                if !valid_name {
                    return Err(format!(
                        "{knob} must name a service (letters, digits, '_', '-', '.'; \
                         at most 64), got {service:?}"
                    ));
                }
            }
        }
        match (self.delay_ms, &self.slow) {
            (Some(_), None) => Err("delay_ms needs slow=<service>".into()),
            (Some(delay), Some(_)) if delay > MAX_DELAY_MS => Err(format!(
                "delay_ms must be at most {MAX_DELAY_MS}, got {delay}"
            )),
            _ => Ok(()),
        }
    }

    /// The knobs as a query string to pass on to the services called, or
    /// `None` when there are none. Validated values need no escaping.
    pub fn query_string(&self) -> Option<String> {
        let pairs: Vec<String> = [
            self.fail.as_ref().map(|service| format!("fail={service}")),
            self.slow.as_ref().map(|service| format!("slow={service}")),
            self.delay_ms.map(|delay| format!("delay_ms={delay}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!pairs.is_empty()).then(|| pairs.join("&"))
    }

    /// Acts on the knobs that name `service`: waits, then fails, as asked.
    pub async fn apply(&self, service: &str) -> Result<(), InjectedFailure> {
        if self.slow.as_deref() == Some(service) {
            let delay_ms = self.delay_ms.unwrap_or(DEFAULT_DELAY_MS);
            tracing::info!(
                delay_ms,
                "delaying this request, as asked with slow={service}"
            );
            // An i64 field: tracing-opentelemetry writes a u64 as a string.
            tokio::time::sleep(Duration::from_millis(delay_ms))
                .instrument(tracing::info_span!(
                    "injected delay",
                    delay_ms = delay_ms as i64
                ))
                .await;
        }
        if self.fail.as_deref() == Some(service) {
            tracing::warn!("failing this request, as asked with fail={service}");
            return Err(InjectedFailure(service.to_owned()));
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Faults {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let bad_request = |message: String| {
            let usage = "?fail=<service> or ?slow=<service>&delay_ms=<0..=10000>";
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": message, "usage": usage })),
            )
                .into_response()
        };
        let Query(faults) = Query::<Faults>::try_from_uri(&parts.uri)
            .map_err(|rejection| bad_request(rejection.body_text()))?;
        faults.validate().map_err(bad_request)?;
        Ok(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Faults, StatusCode> {
        let (mut parts, ()) = axum::http::Request::get(format!("/?{query}"))
            .body(())
            .unwrap()
            .into_parts();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(Faults::from_request_parts(&mut parts, &()))
            .map_err(|response| response.status())
    }

    #[test]
    fn knobs_parse_from_the_query() {
        assert_eq!(parse(""), Ok(Faults::default()));
        assert_eq!(
            parse("fail=api_03").unwrap().fail.as_deref(),
            Some("api_03")
        );
        let slow = parse("slow=api_02&delay_ms=300").unwrap();
        assert_eq!(
            (slow.slow.as_deref(), slow.delay_ms),
            (Some("api_02"), Some(300))
        );
    }

    #[test]
    fn invalid_knobs_are_a_bad_request() {
        for query in [
            "delay_ms=abc&slow=api_02",
            "delay_ms=-5&slow=api_02",
            "delay_ms=300",
            "slow=api_02&delay_ms=999999",
            "fail=",
            "fail=%3Cscript%3E",
        ] {
            assert_eq!(parse(query), Err(StatusCode::BAD_REQUEST), "{query}");
        }
    }

    #[test]
    fn knobs_pass_on_as_the_same_query() {
        assert_eq!(Faults::default().query_string(), None);
        let query = "fail=api_03&slow=api_02&delay_ms=300";
        assert_eq!(parse(query).unwrap().query_string().as_deref(), Some(query));
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_named_service_acts() {
        let faults = Faults {
            fail: Some("api_03".into()),
            slow: Some("api_02".into()),
            delay_ms: Some(300),
        };
        assert!(faults.apply("api_01").await.is_ok());
        let started = tokio::time::Instant::now();
        assert!(faults.apply("api_02").await.is_ok());
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        assert!(faults.apply("api_03").await.is_err());
    }
}
