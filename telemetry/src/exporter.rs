//! `OTEL_TRACES_EXPORTER` and the settings of the exporter it names, as
//! OpenTelemetry's specification defines them: `zipkin` (the default here,
//! as the demo shows Zipkin), `otlp` (OTLP over HTTP) or `none`.
//!
//! OTLP's variables come in a general form (`OTEL_EXPORTER_OTLP_*`) and a
//! form for traces (`OTEL_EXPORTER_OTLP_TRACES_*`), which wins when both
//! are set. The general endpoint is a base to which `/v1/traces` is added;
//! the one for traces is used as given.

use std::time::Duration;

use reqwest::{
    Url,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use span_export::Otlp;

use crate::env::{ConfigError, Env, http_url};

/// OTLP over HTTP's default endpoint (a Collector on this machine).
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318";

/// Where spans go (`OTEL_TRACES_EXPORTER`).
#[derive(Clone, Debug)]
pub enum TracesExporter {
    /// Zipkin's v2 JSON, to `OTEL_EXPORTER_ZIPKIN_ENDPOINT`.
    Zipkin,
    /// OTLP over HTTP.
    Otlp(Box<OtlpConfig>),
    /// No export: spans are still sampled and trace headers still sent on,
    /// so the services around keep whole traces.
    None,
}

/// OTLP's settings.
#[derive(Clone, Debug)]
pub struct OtlpConfig {
    /// Where spans are POSTed: the traces endpoint, or the general one with
    /// `/v1/traces` added.
    pub endpoint: Url,
    /// `http/protobuf` (the default) or `http/json`.
    pub protocol: Otlp,
    /// Sent with every upload (an API key, say).
    pub headers: HeaderMap,
    /// The longest one upload may take (10 s by default).
    pub timeout: Duration,
    /// `gzip`, or no compression (`none`, the default).
    pub gzip: bool,
}

impl TracesExporter {
    /// Reads `OTEL_TRACES_EXPORTER` and, for `otlp`, OTLP's variables.
    pub(crate) fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let Some(name) = env.text("OTEL_TRACES_EXPORTER") else {
            return Ok(Self::Zipkin);
        };
        match name.as_str() {
            "zipkin" => Ok(Self::Zipkin),
            "otlp" => Ok(Self::Otlp(Box::new(OtlpConfig::read(env)?))),
            "none" => Ok(Self::None),
            _ => Err(ConfigError {
                name: "OTEL_TRACES_EXPORTER",
                reason: if name.contains(',') {
                    "one exporter at a time: zipkin, otlp or none".into()
                } else {
                    "expected zipkin, otlp or none".into()
                },
                value: name,
            }),
        }
    }
}

impl OtlpConfig {
    fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        // The form for traces wins over the general one.
        let either = |traces: &'static str, general: &'static str| {
            env.text(traces)
                .map(|value| (traces, value))
                .or_else(|| env.text(general).map(|value| (general, value)))
        };
        let endpoint = match either(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ) {
            Some((name @ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value)) => http_url(name, value)?,
            Some((name, value)) => with_traces_path(http_url(name, value)?),
            None => with_traces_path(DEFAULT_OTLP_ENDPOINT.parse().expect("a valid URL")),
        };
        let protocol = match either(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ) {
            None => Otlp::Protobuf,
            Some((_, value)) if value == "http/protobuf" => Otlp::Protobuf,
            Some((_, value)) if value == "http/json" => Otlp::Json,
            Some((name, value)) => {
                return Err(ConfigError {
                    name,
                    reason: if value == "grpc" {
                        "OTLP over gRPC is not built in (it would bring tonic); use \
                         http/protobuf, which every OTLP receiver also takes on its \
                         HTTP port (4318)"
                            .into()
                    } else {
                        "expected http/protobuf or http/json".into()
                    },
                    value,
                });
            }
        };
        let headers = match either(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ) {
            None => HeaderMap::new(),
            Some((name, value)) => headers(&value).map_err(|reason| ConfigError {
                name,
                value,
                reason,
            })?,
        };
        let timeout = match either(
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ) {
            None => Duration::from_secs(10),
            Some((name, value)) => match value.parse::<u64>() {
                Ok(millis) if millis > 0 => Duration::from_millis(millis),
                _ => {
                    return Err(ConfigError {
                        name,
                        value,
                        reason: "expected a number of milliseconds above 0".into(),
                    });
                }
            },
        };
        let gzip = match either(
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ) {
            None => false,
            Some((_, value)) if value == "gzip" => true,
            Some((_, value)) if value == "none" => false,
            Some((name, value)) => {
                return Err(ConfigError {
                    name,
                    value,
                    reason: "expected gzip or none".into(),
                });
            }
        };
        Ok(Self {
            endpoint,
            protocol,
            headers,
            timeout,
            gzip,
        })
    }
}

/// The general endpoint with the traces path added to its own, as the
/// specification says: `http://collector:4318` and `http://collector:4318/`
/// become `http://collector:4318/v1/traces`, `http://proxy/otlp`
/// becomes `http://proxy/otlp/v1/traces`.
fn with_traces_path(mut base: Url) -> Url {
    let path = format!("{}/v1/traces", base.path().trim_end_matches('/'));
    base.set_path(&path);
    base
}

/// OTLP's headers setting: `key=value` pairs separated by commas, values
/// percent-decoded (the W3C Baggage format the specification names).
pub(crate) fn headers(list: &str) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for pair in list
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
    {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not key=value"));
        };
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| format!("the value of {key:?} is not UTF-8 once decoded"))?;
        let name = HeaderName::from_bytes(key.trim().as_bytes())
            .map_err(|_| format!("{key:?} is not an HTTP header name"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of {key:?} cannot be an HTTP header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn exporter(vars: &[(&str, &str)]) -> Result<TracesExporter, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TracesExporter::read(&Env::from_lookup(|name| vars.get(name).cloned()))
    }

    fn otlp(vars: &[(&str, &str)]) -> OtlpConfig {
        let mut vars = vars.to_vec();
        vars.push(("OTEL_TRACES_EXPORTER", "otlp"));
        match exporter(&vars).unwrap() {
            TracesExporter::Otlp(config) => *config,
            other => panic!("{other:?}"),
        }
    }

    fn refused(vars: &[(&str, &str)]) -> ConfigError {
        let mut vars = vars.to_vec();
        vars.push(("OTEL_TRACES_EXPORTER", "otlp"));
        exporter(&vars).unwrap_err()
    }

    #[test]
    fn zipkin_by_default_and_otlp_or_none_by_name() {
        assert!(matches!(exporter(&[]).unwrap(), TracesExporter::Zipkin));
        let named = |name| exporter(&[("OTEL_TRACES_EXPORTER", name)]);
        assert!(matches!(named("zipkin").unwrap(), TracesExporter::Zipkin));
        assert!(matches!(named("none").unwrap(), TracesExporter::None));
        assert!(matches!(named(" otlp ").unwrap(), TracesExporter::Otlp(_)));
        for name in ["jaeger", "console", "OTLP", "otlp,zipkin"] {
            let error = named(name).unwrap_err();
            assert_eq!(error.name, "OTEL_TRACES_EXPORTER", "{name}");
        }
        assert!(
            named("otlp,zipkin")
                .unwrap_err()
                .reason
                .contains("one exporter at a time")
        );
    }

    #[test]
    fn otlp_defaults_follow_the_specification() {
        let config = otlp(&[]);
        assert_eq!(config.endpoint.as_str(), "http://localhost:4318/v1/traces");
        assert_eq!(config.protocol, Otlp::Protobuf);
        assert!(config.headers.is_empty());
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert!(!config.gzip);
    }

    #[test]
    fn the_general_endpoint_gets_the_traces_path_the_traces_one_is_kept() {
        let endpoint = |vars: &[(&str, &str)]| otlp(vars).endpoint.to_string();
        let general = "OTEL_EXPORTER_OTLP_ENDPOINT";
        let traces = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
        assert_eq!(
            endpoint(&[(general, "http://zipkin:9411")]),
            "http://zipkin:9411/v1/traces"
        );
        assert_eq!(
            endpoint(&[(general, "http://zipkin:9411/")]),
            "http://zipkin:9411/v1/traces"
        );
        assert_eq!(
            endpoint(&[(general, "http://proxy/otlp/")]),
            "http://proxy/otlp/v1/traces"
        );
        assert_eq!(
            endpoint(&[(traces, "http://collector:4318/custom")]),
            "http://collector:4318/custom"
        );
        assert_eq!(
            endpoint(&[(general, "http://a:1"), (traces, "http://b:2/t")]),
            "http://b:2/t"
        );
        for (name, value) in [
            (general, "zipkin:9411"),
            (traces, "https://collector:4318/v1/traces"),
            (general, "not a url"),
        ] {
            let error = refused(&[(name, value)]);
            assert_eq!(error.name, name, "{value}");
        }
    }

    #[test]
    fn protocol_compression_and_timeout_the_traces_form_winning() {
        assert_eq!(
            otlp(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).protocol,
            Otlp::Json
        );
        assert_eq!(
            otlp(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ])
            .protocol,
            Otlp::Protobuf
        );
        let grpc = refused(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(grpc.name, "OTEL_EXPORTER_OTLP_PROTOCOL");
        assert!(grpc.reason.contains("gRPC is not built in"), "{grpc}");
        let other = refused(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http")]);
        assert_eq!(other.name, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");

        assert!(otlp(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]).gzip);
        assert!(
            !otlp(&[
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
            ])
            .gzip
        );
        let zstd = refused(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]);
        assert_eq!(zstd.name, "OTEL_EXPORTER_OTLP_COMPRESSION");

        assert_eq!(
            otlp(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]).timeout,
            Duration::from_millis(2500)
        );
        assert_eq!(
            otlp(&[
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ])
            .timeout,
            Duration::from_millis(700)
        );
        for value in ["0", "-1", "1s", "1.5"] {
            let error = refused(&[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", value)]);
            assert_eq!(error.name, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "{value}");
        }
    }

    #[test]
    fn headers_are_pairs_with_percent_decoded_values() {
        let config = otlp(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=secret%3D1, x-tenant = blue ,",
        )]);
        assert_eq!(config.headers["api-key"], "secret=1");
        assert_eq!(config.headers["x-tenant"], "blue");
        assert_eq!(config.headers.len(), 2);
        let traces = otlp(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
        ]);
        assert!(traces.headers.get("a").is_none() && traces.headers["b"] == "2");
        for value in ["novalue", "bad header=1", "a=%0A", "a=%FF"] {
            let error = refused(&[("OTEL_EXPORTER_OTLP_HEADERS", value)]);
            assert_eq!(error.name, "OTEL_EXPORTER_OTLP_HEADERS", "{value}");
        }
    }
}
