//! The demo's settings, from environment variables, with defaults that work
//! on localhost: telemetry's own (see `telemetry::config`), the port, the
//! Zipkin UI link, the callee timeout, and the limits on connections and
//! requests (see the `serving` crate).

use std::{net::SocketAddr, time::Duration};

use serving::ConnectionLimits;
use telemetry::{ConfigError, TelemetryConfig, env::Env};

use crate::faults::MAX_DELAY_MS;

/// Where a person opens the Zipkin UI by default.
pub const DEFAULT_ZIPKIN_UI_URL: &str = "http://localhost:9411/zipkin";
/// How long a service waits for a callee before it answers `504`.
pub const DEFAULT_DOWNSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// How far the default request time limit sits above the longest request
/// a client may ask for.
const REQUEST_MARGIN: Duration = Duration::from_secs(3);

/// The longest a request may legitimately take: the longest delay it may
/// ask for, then a callee that answers just before the callee timeout.
fn longest_request(downstream_timeout: Duration) -> Duration {
    Duration::from_millis(MAX_DELAY_MS) + downstream_timeout
}

/// What every demo service needs to know about itself.
#[derive(Clone, Debug)]
pub struct Settings {
    pub telemetry: TelemetryConfig,
    /// `PORT`: the service listens on all interfaces, so it works in a
    /// container.
    pub port: u16,
    /// `ZIPKIN_UI_URL`: the base of the trace links in each answer.
    pub zipkin_ui_url: String,
    /// `DOWNSTREAM_TIMEOUT_MS`: the limit on each call to another service.
    pub downstream_timeout: Duration,
    /// `REQUEST_TIMEOUT_MS`: the limit on a whole request. By default it
    /// sits above the longest delay a request may ask for plus a callee's
    /// timeout, so only a request stuck for another reason meets it.
    pub request_timeout: Duration,
    /// `HEADER_TIMEOUT_MS`, `IDLE_TIMEOUT_MS` and `MAX_CONNECTIONS`.
    pub connection_limits: ConnectionLimits,
    /// Whether this service's answers carry the trace id and the Zipkin
    /// link: the front door's (api_01's) do; a callee's answer, nested in
    /// its caller's, does not repeat them. Not a variable: it is the
    /// service's role.
    pub trace_link: bool,
}

impl Settings {
    /// Reads the process environment; `name` and `port` are the service's
    /// own defaults (`api_01` and 5001, and so on).
    pub fn from_env(name: &str, port: u16) -> Result<Self, ConfigError> {
        Self::read(&Env::process(), name, port)
    }

    /// Reads the variables from `env`.
    pub fn read<F>(env: &Env<F>, name: &str, port: u16) -> Result<Self, ConfigError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let millis = |name, default: Duration| {
            env.parse(name, default.as_millis() as u64)
                .map(Duration::from_millis)
        };
        let downstream_timeout = millis("DOWNSTREAM_TIMEOUT_MS", DEFAULT_DOWNSTREAM_TIMEOUT)?;
        let defaults = ConnectionLimits::default();
        Ok(Self {
            telemetry: TelemetryConfig::read(env, name)?,
            port: env.parse("PORT", port)?,
            zipkin_ui_url: env
                .text("ZIPKIN_UI_URL")
                .unwrap_or_else(|| DEFAULT_ZIPKIN_UI_URL.into())
                .trim_end_matches('/')
                .to_owned(),
            downstream_timeout,
            request_timeout: millis(
                "REQUEST_TIMEOUT_MS",
                longest_request(downstream_timeout) + REQUEST_MARGIN,
            )?,
            connection_limits: ConnectionLimits {
                header_timeout: millis("HEADER_TIMEOUT_MS", defaults.header_timeout)?,
                idle_timeout: millis("IDLE_TIMEOUT_MS", defaults.idle_timeout)?,
                // Unset: a share of the open-file limit, found at start-up.
                max_connections: env.optional("MAX_CONNECTIONS")?,
            },
            trace_link: false,
        })
    }

    /// Warns when `REQUEST_TIMEOUT_MS` is set so low that a request that
    /// asks for the longest delay would meet it.
    pub fn warn_of_a_short_request_timeout(&self) {
        let longest = longest_request(self.downstream_timeout);
        if self.request_timeout <= longest {
            tracing::warn!(
                request_timeout_ms = self.request_timeout.as_millis() as u64,
                longest_asked_ms = longest.as_millis() as u64,
                "REQUEST_TIMEOUT_MS is below a request that asks for the longest delay \
                 and then waits on a callee: such requests will be cut off with a 503"
            );
        }
    }

    /// The service's name, as Zipkin shows it.
    pub fn service_name(&self) -> &str {
        &self.telemetry.service_name
    }

    /// The address to listen on: every interface, at `PORT`.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], self.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::read(
            &Env::from_lookup(|name| vars.get(name).cloned()),
            "api_02",
            5002,
        )
    }

    #[test]
    fn defaults_work_on_localhost() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.service_name(), "api_02");
        assert_eq!(settings.port, 5002);
        assert_eq!(settings.zipkin_ui_url, DEFAULT_ZIPKIN_UI_URL);
        assert_eq!(settings.downstream_timeout, Duration::from_secs(2));
        assert_eq!(settings.listen_addr().to_string(), "0.0.0.0:5002");
        assert_eq!(settings.request_timeout, Duration::from_secs(15));
        assert_eq!(settings.connection_limits, ConnectionLimits::default());
    }

    #[test]
    fn the_request_limit_follows_the_callee_timeout() {
        let slow_callees = settings(&[("DOWNSTREAM_TIMEOUT_MS", "30000")]).unwrap();
        assert_eq!(slow_callees.request_timeout, Duration::from_secs(43));
        let limits = settings(&[
            ("REQUEST_TIMEOUT_MS", "1500"),
            ("HEADER_TIMEOUT_MS", "250"),
            ("IDLE_TIMEOUT_MS", "750"),
            ("MAX_CONNECTIONS", "64"),
        ])
        .unwrap();
        assert_eq!(limits.request_timeout, Duration::from_millis(1500));
        assert_eq!(
            limits.connection_limits,
            ConnectionLimits {
                header_timeout: Duration::from_millis(250),
                idle_timeout: Duration::from_millis(750),
                max_connections: Some(64),
            }
        );
    }

    #[test]
    fn variables_override_defaults() {
        let settings = settings(&[
            ("OTEL_SERVICE_NAME", "checkout"),
            ("PORT", "8080"),
            ("ZIPKIN_UI_URL", "http://example.test/zipkin/"),
            ("DOWNSTREAM_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(settings.service_name(), "checkout");
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.zipkin_ui_url, "http://example.test/zipkin");
        assert_eq!(settings.downstream_timeout, Duration::from_millis(250));
    }

    #[test]
    fn an_invalid_value_names_the_variable() {
        let error = settings(&[("PORT", "fifty")]).unwrap_err();
        assert_eq!(error.name, "PORT");
        assert!(error.to_string().contains("PORT=\"fifty\""), "{error}");
        assert!(settings(&[("DOWNSTREAM_TIMEOUT_MS", "-1")]).is_err());
        assert!(settings(&[("MAX_CONNECTIONS", "many")]).is_err());
    }
}
