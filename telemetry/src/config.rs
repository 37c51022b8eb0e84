//! Configuration from environment variables, with defaults that work on
//! localhost.
//!
//! The tracing variables are OpenTelemetry's standard ones
//! (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_ZIPKIN_ENDPOINT`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*`), so what a
//! reader learns here carries over to any OpenTelemetry SDK. A value that is
//! set but invalid stops the service with a message naming the variable:
//! a demo that silently ignores a typo teaches the wrong thing.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use crate::sampling::SamplerConfig;

/// Where Zipkin listens by default: its standard port on this machine.
pub const DEFAULT_ZIPKIN_ENDPOINT: &str = "http://localhost:9411/api/v2/spans";
/// Where a person opens the Zipkin UI by default.
pub const DEFAULT_ZIPKIN_UI_URL: &str = "http://localhost:9411/zipkin";
/// How long a service waits for a callee before it answers `504`.
pub const DEFAULT_DOWNSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// What every service needs to know about itself.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// `OTEL_SERVICE_NAME`: the name Zipkin lists and links this service by.
    pub service_name: String,
    /// `PORT`: the service listens on all interfaces, so it works in a container.
    pub port: u16,
    /// `OTEL_EXPORTER_ZIPKIN_ENDPOINT`: where spans are POSTed (Zipkin's v2 JSON API).
    pub zipkin_endpoint: String,
    /// `ZIPKIN_UI_URL`: the base of the trace links in each answer.
    pub zipkin_ui_url: String,
    /// `DOWNSTREAM_TIMEOUT_MS`: the limit on each call to another service.
    pub downstream_timeout: Duration,
    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler: SamplerConfig,
    /// `B3_JOIN`: whether a B3 caller's span id becomes this service's
    /// SERVER span id (B3's shared span, as Brave and py_zipkin do), so that
    /// callers which never report that id still get a whole trace. On by
    /// default; off gives every span an id of its own, as OpenTelemetry does.
    pub b3_join: bool,
}

impl ServiceConfig {
    /// Reads the process environment; `default_name` and `default_port` are
    /// this service's own defaults (`api_01` and 5001, and so on).
    pub fn from_env(default_name: &str, default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(default_name, default_port, |name| std::env::var(name).ok())
    }

    /// Like [`ServiceConfig::from_env`], reading variables through `lookup`
    /// (tests pass a map instead of changing the process environment).
    pub fn from_lookup(
        default_name: &str,
        default_port: u16,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let non_empty = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        Ok(Self {
            service_name: non_empty("OTEL_SERVICE_NAME").unwrap_or_else(|| default_name.into()),
            port: parse_or("PORT", non_empty("PORT"), default_port)?,
            zipkin_endpoint: non_empty("OTEL_EXPORTER_ZIPKIN_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ZIPKIN_ENDPOINT.into()),
            zipkin_ui_url: non_empty("ZIPKIN_UI_URL")
                .unwrap_or_else(|| DEFAULT_ZIPKIN_UI_URL.into())
                .trim_end_matches('/')
                .to_owned(),
            downstream_timeout: parse_or(
                "DOWNSTREAM_TIMEOUT_MS",
                non_empty("DOWNSTREAM_TIMEOUT_MS"),
                DEFAULT_DOWNSTREAM_TIMEOUT.as_millis() as u64,
            )
            .map(Duration::from_millis)?,
            sampler: SamplerConfig::from_vars(
                non_empty("OTEL_TRACES_SAMPLER").as_deref(),
                non_empty("OTEL_TRACES_SAMPLER_ARG").as_deref(),
            )?,
            b3_join: parse_or("B3_JOIN", non_empty("B3_JOIN"), true)?,
        })
    }

    /// The address to listen on: every interface, at `PORT`.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], self.port))
    }
}

/// Reads a service-specific variable (such as `API_03_URL`), or `default`
/// when it is unset or empty.
pub fn var_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Parses a service-specific variable, or gives `default` when it is unset.
pub fn parse_var_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    parse_or(name, std::env::var(name).ok(), default)
}

fn parse_or<T>(name: &'static str, value: Option<String>, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match value {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|error: T::Err| ConfigError {
            name,
            reason: error.to_string(),
            value,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ServiceConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServiceConfig::from_lookup("api_02", 5002, |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_work_on_localhost() {
        let config = config(&[]).unwrap();
        assert_eq!(config.service_name, "api_02");
        assert_eq!(config.port, 5002);
        assert_eq!(config.zipkin_endpoint, DEFAULT_ZIPKIN_ENDPOINT);
        assert_eq!(config.zipkin_ui_url, DEFAULT_ZIPKIN_UI_URL);
        assert_eq!(config.downstream_timeout, Duration::from_secs(2));
        assert_eq!(config.listen_addr().to_string(), "0.0.0.0:5002");
        assert!(config.b3_join);
    }

    #[test]
    fn variables_override_defaults() {
        let config = config(&[
            ("OTEL_SERVICE_NAME", "checkout"),
            ("PORT", "8080"),
            (
                "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                "http://zipkin:9411/api/v2/spans",
            ),
            ("ZIPKIN_UI_URL", "http://example.test/zipkin/"),
            ("DOWNSTREAM_TIMEOUT_MS", "250"),
            ("B3_JOIN", "false"),
        ])
        .unwrap();
        assert_eq!(config.service_name, "checkout");
        assert_eq!(config.port, 8080);
        assert_eq!(config.zipkin_endpoint, "http://zipkin:9411/api/v2/spans");
        assert_eq!(config.zipkin_ui_url, "http://example.test/zipkin");
        assert_eq!(config.downstream_timeout, Duration::from_millis(250));
        assert!(!config.b3_join);
    }

    #[test]
    fn an_invalid_value_names_the_variable() {
        let error = config(&[("PORT", "fifty")]).unwrap_err();
        assert_eq!(error.name, "PORT");
        assert!(error.to_string().contains("PORT=\"fifty\""), "{error}");
        assert!(config(&[("DOWNSTREAM_TIMEOUT_MS", "-1")]).is_err());
    }
}
