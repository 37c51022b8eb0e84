//! The client side: every call to another service gets a CLIENT span, and
//! the trace context travels with it in B3 headers.
//!
//! Written here rather than with `reqwest-middleware` + `reqwest-tracing`:
//! `reqwest-tracing` supports OpenTelemetry only up to 0.32, and the span it
//! makes would still lack `peer.service` and our B3 parent header.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use opentelemetry::trace::TraceContextExt;
use reqwest::Url;
use serde_json::Value;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{config::ConfigError, propagation, zipkin::describe};

/// Another service this one calls: its name (for `peer.service`, and so for
/// Zipkin's dependency graph) and its URL.
#[derive(Clone, Debug)]
pub struct Downstream {
    pub service: String,
    pub url: Url,
}

impl Downstream {
    /// The service `service` at the URL in the variable `url_var`, or at
    /// `default_url` when it is unset.
    pub fn from_env(
        service: &str,
        url_var: &'static str,
        default_url: &str,
    ) -> Result<Self, ConfigError> {
        let url = crate::config::var_or(url_var, default_url);
        let parsed = Url::parse(&url).map_err(|error| ConfigError {
            name: url_var,
            value: url.clone(),
            reason: error.to_string(),
        })?;
        Ok(Self {
            service: service.to_owned(),
            url: parsed,
        })
    }
}

/// Why a call to another service gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum DownstreamError {
    #[error("{service} did not answer within {} ms", .timeout.as_millis())]
    Timeout { service: String, timeout: Duration },
    #[error("{service} could not be reached: {reason}")]
    Unreachable { service: String, reason: String },
    #[error("{service} answered {status}")]
    Failed {
        service: String,
        status: StatusCode,
        answer: Value,
    },
    #[error("{service} answered with a body that is not JSON: {reason}")]
    InvalidAnswer { service: String, reason: String },
}

impl DownstreamError {
    /// The status this service answers with: `504` when the callee was too
    /// slow, `502` for any other failure of the callee.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// The `error.type` attribute of the CLIENT span.
    fn error_type(&self) -> String {
        match self {
            Self::Timeout { .. } => "timeout".into(),
            Self::Unreachable { .. } => "connection".into(),
            Self::Failed { status, .. } => status.as_u16().to_string(),
            Self::InvalidAnswer { .. } => "invalid_answer".into(),
        }
    }
}

/// One pooled HTTP client per service, reused for every call, so calls
/// between services keep their connections alive.
#[derive(Clone, Debug)]
pub struct DownstreamClient {
    http: reqwest::Client,
    timeout: Duration,
}

/// Starts the CLIENT span of a call to `peer_service` at `url`, a child of
/// the current span, and gives it with the headers that carry its context
/// to the callee. The caller records the outcome on the span.
pub fn start_call(peer_service: &str, url: &Url) -> (tracing::Span, HeaderMap) {
    // The span current now (the SERVER span) is the CLIENT span's parent:
    // B3 sends its id as X-B3-ParentSpanId.
    let parent_span_id = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .span_id();
    let span = tracing::info_span!(
        "call",
        otel.name = "GET",
        otel.kind = "client",
        http.request.method = "GET",
        url.full = %url,
        server.address = url.host_str(),
        server.port = url.port_or_known_default(),
        peer.service = peer_service,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        error.type = Empty,
    );
    let mut headers = HeaderMap::new();
    propagation::inject(
        span.context().span().span_context(),
        parent_span_id,
        &mut headers,
    );
    (span, headers)
}

impl DownstreamClient {
    /// A client whose calls each give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self { http, timeout })
    }

    /// `GET`s the callee's `/`, with `query` when there is one, inside a
    /// CLIENT span, and returns its JSON answer.
    pub async fn get_json(
        &self,
        callee: &Downstream,
        query: Option<&str>,
    ) -> Result<Value, DownstreamError> {
        let (span, headers) = start_call(&callee.service, &callee.url);
        let result = self
            .send(callee, headers, query)
            .instrument(span.clone())
            .await;
        if let Err(error) = &result {
            span.record("otel.status_code", "error");
            span.record("otel.status_description", error.to_string());
            span.record("error.type", error.error_type());
        }
        result
    }

    async fn send(
        &self,
        callee: &Downstream,
        headers: HeaderMap,
        query: Option<&str>,
    ) -> Result<Value, DownstreamError> {
        let request_failed = |error: reqwest::Error| {
            if error.is_timeout() {
                DownstreamError::Timeout {
                    service: callee.service.clone(),
                    timeout: self.timeout,
                }
            } else {
                DownstreamError::Unreachable {
                    service: callee.service.clone(),
                    reason: describe(&error),
                }
            }
        };
        // Only a request with fault knobs pays for a changed URL: setting a
        // query re-parses it, which showed up in the profile of every call.
        let mut url = callee.url.clone();
        if query.is_some() {
            url.set_query(query);
        }
        let response = self
            .http
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(request_failed)?;
        let status = response.status();
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        let body = response.bytes().await.map_err(request_failed)?;
        let answer = serde_json::from_slice::<Value>(&body);
        if !status.is_success() {
            return Err(DownstreamError::Failed {
                service: callee.service.clone(),
                status,
                answer: answer.unwrap_or_else(|_| String::from_utf8_lossy(&body).into()),
            });
        }
        answer.map_err(|error| DownstreamError::InvalidAnswer {
            service: callee.service.clone(),
            reason: error.to_string(),
        })
    }
}
