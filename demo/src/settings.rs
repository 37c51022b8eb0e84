//! The demo's settings, from environment variables, with defaults that work
//! on localhost: telemetry's own (see `telemetry::config`), and the port,
//! the Zipkin UI link and the callee timeout.

use std::{net::SocketAddr, time::Duration};

use telemetry::{ConfigError, TelemetryConfig, config::Env};

/// Where a person opens the Zipkin UI by default.
pub const DEFAULT_ZIPKIN_UI_URL: &str = "http://localhost:9411/zipkin";
/// How long a service waits for a callee before it answers `504`.
pub const DEFAULT_DOWNSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

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
        let timeout_ms = DEFAULT_DOWNSTREAM_TIMEOUT.as_millis() as u64;
        Ok(Self {
            telemetry: TelemetryConfig::read(env, name)?,
            port: env.parse("PORT", port)?,
            zipkin_ui_url: env
                .text("ZIPKIN_UI_URL")
                .unwrap_or_else(|| DEFAULT_ZIPKIN_UI_URL.into())
                .trim_end_matches('/')
                .to_owned(),
            downstream_timeout: Duration::from_millis(
                env.parse("DOWNSTREAM_TIMEOUT_MS", timeout_ms)?,
            ),
        })
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
    }
}
