//! Settings from environment variables: the one reader of the environment
//! in this project. A value that is set but invalid is an error that names
//! the variable: a typo silently ignored teaches the wrong thing.
//!
//! [`crate::TelemetryConfig`] reads OpenTelemetry's variables through it;
//! a service reads its own (`PORT`, say) through the same [`Env`].

use std::str::FromStr;

use reqwest::Url;

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// Where settings come from: the process environment, or a map in tests.
pub struct Env<F = fn(&str) -> Option<String>> {
    lookup: F,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: |name| std::env::var(name).ok(),
        }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Variables looked up by `lookup`.
    pub fn from_lookup(lookup: F) -> Self {
        Self { lookup }
    }

    /// The variable `name` as it is set, untrimmed.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The variable `name`, trimmed; `None` when it is unset or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The variable `name` parsed as a `T`, or `default` when it is unset.
    pub fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.text(name) {
            None => Ok(default),
            Some(value) => parse_value(name, value),
        }
    }

    /// The variable `name` parsed as a `T`, or `default` parsed when it is
    /// unset; either way, an error names the variable.
    pub fn parse_or<T>(&self, name: &'static str, default: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let value = self.text(name).unwrap_or_else(|| default.to_owned());
        parse_value(name, value)
    }

    /// The variable `name` as a plain-HTTP URL, or `default` when it is
    /// unset: where a service sends anything, read as every endpoint is.
    pub fn http_url_or(&self, name: &'static str, default: &str) -> Result<Url, ConfigError> {
        http_url(name, self.text(name).unwrap_or_else(|| default.to_owned()))
    }

    /// The variable `name` parsed as a `T`, or `None` when it is unset.
    pub fn optional<T>(&self, name: &'static str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.text(name)
            .map(|value| parse_value(name, value))
            .transpose()
    }
}

/// `value`, the value of the variable `name`, parsed as a `T`.
fn parse_value<T>(name: &'static str, value: String) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|error: T::Err| ConfigError {
        name,
        reason: error.to_string(),
        value,
    })
}

/// `value`, the variable `name`, as a plain-HTTP URL: the one check of
/// every endpoint setting.
pub(crate) fn http_url(name: &'static str, value: String) -> Result<Url, ConfigError> {
    let reason = match value.parse::<Url>() {
        Ok(url) if url.scheme() == "http" => return Ok(url),
        // The HTTP client is built without TLS (see the workspace's
        // Cargo.toml): an https endpoint would fail at every upload.
        Ok(url) if url.scheme() == "https" => {
            "this build speaks plain HTTP only (no TLS); reach an https receiver \
             through a Collector or proxy on the private network"
                .to_owned()
        }
        Ok(url) => format!("expected an http:// URL, not {}:", url.scheme()),
        Err(error) => error.to_string(),
    };
    Err(ConfigError {
        name,
        value,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_text_is_parsed_like_the_variable() {
        let env = Env::from_lookup(|name| (name == "PORT").then(|| "fifty".to_owned()));
        assert_eq!(env.parse_or::<u16>("WORKERS", "7").unwrap(), 7);
        let error = env.parse_or::<u16>("PORT", "7").unwrap_err();
        assert_eq!((error.name, error.value.as_str()), ("PORT", "fifty"));
        assert_eq!(env.optional::<u16>("WORKERS").unwrap(), None);
        assert!(env.optional::<u16>("PORT").is_err());
    }
}
