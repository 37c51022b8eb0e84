//! Calls between the demo services: a `GET` of the callee's `/` (traced by
//! `telemetry::client`), its JSON answer, or an error that says what went
//! wrong and which status to answer with.

use std::time::Duration;

use axum::http::StatusCode;
use reqwest::Url;
use serde_json::Value;
use telemetry::ConfigError;

use telemetry::env::Env;

use crate::Settings;

/// Another service this one calls: its name (Zipkin's dependency graph
/// names it so) and its URL.
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
        Self::read(&Env::process(), service, url_var, default_url)
    }

    /// [`Downstream::from_env`], the variables read from `env`. The URL is
    /// plain HTTP, as every endpoint: the client has no TLS.
    pub fn read<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        service: &str,
        url_var: &'static str,
        default_url: &str,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            service: service.to_owned(),
            url: env.http_url_or(url_var, default_url)?,
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
}

/// One pooled HTTP client per service, reused for every call, so calls
/// between services keep their connections alive.
#[derive(Clone, Debug)]
pub struct DownstreamClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl DownstreamClient {
    /// A client whose calls each give up after `DOWNSTREAM_TIMEOUT_MS`.
    pub fn new(settings: &Settings) -> Result<Self, reqwest::Error> {
        let timeout = settings.downstream_timeout;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // Shorter than the callee's own idle limit (the services share
            // IDLE_TIMEOUT_MS): a pooled connection is dropped here before
            // the callee closes it, never sent a request as it closes.
            .pool_idle_timeout(settings.connection_limits.idle_timeout / 2)
            .build()?;
        Ok(Self { http, timeout })
    }

    /// `GET`s the callee's `/`, with `query` when there is one, and returns
    /// its JSON answer.
    pub async fn get_json(
        &self,
        callee: &Downstream,
        query: Option<&str>,
    ) -> Result<Value, DownstreamError> {
        let failed = |error: reqwest::Error| {
            if error.is_timeout() {
                DownstreamError::Timeout {
                    service: callee.service.clone(),
                    timeout: self.timeout,
                }
            } else {
                DownstreamError::Unreachable {
                    service: callee.service.clone(),
                    reason: format!("{:#}", anyhow::Error::from(error)),
                }
            }
        };
        // Only a request with fault knobs pays for a changed URL: setting a
        // query re-parses it, which showed up in the profile of every call.
        let mut url = callee.url.clone();
        if query.is_some() {
            url.set_query(query);
        }
        let response = telemetry::client::send(self.http.get(url), &callee.service)
            .await
            .map_err(failed)?;
        let status = response.status();
        let body = response.bytes().await.map_err(failed)?;
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
