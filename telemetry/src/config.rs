//! Telemetry's settings, from OpenTelemetry's standard environment variables,
//! with defaults that work on localhost.
//!
//! `OTEL_SERVICE_NAME`, `OTEL_TRACES_EXPORTER` with
//! `OTEL_EXPORTER_ZIPKIN_ENDPOINT` or `OTEL_EXPORTER_OTLP_*` (see
//! `exporter.rs`), `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`,
//! `OTEL_PROPAGATORS`, `OTEL_SDK_DISABLED` and `OTEL_BSP_*` (for our own
//! span batch), so what a reader learns here carries over to any
//! OpenTelemetry SDK; plus `B3_JOIN`, for which OpenTelemetry has no name. A value that is set but invalid is an error
//! that names the variable: a typo silently ignored teaches the wrong thing.
//!
//! Plain data, read once at start-up (through [`Env`], the one reader of
//! the environment): every other module reads its part.

use std::{str::FromStr, time::Duration};

use reqwest::Url;
pub use span_export::BatchConfig;

use crate::{
    env::{ConfigError, Env},
    exporter::TracesExporter,
};

/// Where Zipkin listens by default: its standard port on this machine.
pub const DEFAULT_ZIPKIN_ENDPOINT: &str = "http://localhost:9411/api/v2/spans";

/// What [`crate::Telemetry::init`] needs.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`: the name Zipkin lists, searches and links the
    /// service by.
    pub service_name: String,
    /// `OTEL_TRACES_EXPORTER`: Zipkin's v2 JSON (the default), OTLP, or
    /// none.
    pub exporter: TracesExporter,
    /// `OTEL_EXPORTER_ZIPKIN_ENDPOINT`: where Zipkin's v2 JSON is POSTed, an
    /// `http` URL. Spans go there with the `zipkin` exporter; a page's spans
    /// (`browser_relay`) go there with either.
    pub zipkin_endpoint: Url,
    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler: SamplerConfig,
    /// `OTEL_PROPAGATORS`: the headers a call carries its trace in.
    pub propagators: Propagators,
    /// `B3_JOIN`: whether a B3 caller's span id becomes this service's
    /// SERVER span id (B3's shared span, as Brave and py_zipkin do), so that
    /// callers which never report that id still get a whole trace. On by
    /// default; off gives every span an id of its own, as OpenTelemetry does.
    pub b3_join: bool,
    /// `OTEL_SDK_DISABLED=true`: no OpenTelemetry at all (no spans, no
    /// exporter, no trace headers read or sent); log lines stay.
    pub disabled: bool,
    /// `OTEL_BSP_*`: the span batch.
    pub batch: BatchConfig,
}

/// The sampler named by `OTEL_TRACES_SAMPLER`, with its argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Whether a caller's decision (sampled or not) holds for this service.
    pub parent_based: bool,
    /// What decides a trace this service starts, or one whose caller left
    /// the decision to it (B3's *deferred*).
    pub root: RootSampler,
}

/// The decision for traces with no decision to follow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RootSampler {
    AlwaysOn,
    AlwaysOff,
    /// Records this fraction of traces, chosen by trace id, so that every
    /// service makes the same choice for the same trace.
    TraceIdRatio(f64),
}

impl Default for SamplerConfig {
    /// `parentbased_always_on`, the OpenTelemetry default.
    fn default() -> Self {
        Self {
            parent_based: true,
            root: RootSampler::AlwaysOn,
        }
    }
}

/// `OTEL_PROPAGATORS`, the values that fit a B3 world: `b3multi` (the
/// `X-B3-*` headers), `b3` (the single `b3` header), `tracecontext` (W3C
/// `traceparent`), a comma-separated list of them, or `none`.
///
/// A call sends every format listed. A request is read in either B3 or
/// W3C whatever the list says (so a neighbour on another format still
/// joins the trace): when it carries both, the format listed last wins, as
/// in OpenTelemetry's composite propagator; `none` reads and sends nothing.
///
/// The default is `b3multi`, not the specification's `tracecontext,baggage`:
/// py_zipkin, which the original demo runs, reads only the `X-B3-*`
/// headers. `baggage`, `jaeger`, `xray` and `ottrace` are refused by name:
/// this crate does not carry them, and a setting silently ignored would
/// teach the wrong thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Propagators {
    b3_multi: bool,
    b3_single: bool,
    trace_context: bool,
    /// Whether W3C is read before B3 (`tracecontext` listed after the B3
    /// formats, or alone).
    w3c_first: bool,
}

impl Propagators {
    /// `none`: no trace context read or sent.
    pub const NONE: Self = Self {
        b3_multi: false,
        b3_single: false,
        trace_context: false,
        w3c_first: false,
    };

    /// Whether calls carry the `X-B3-*` headers (`b3multi`).
    pub fn sends_b3_multi(&self) -> bool {
        self.b3_multi
    }

    /// Whether calls carry the single `b3` header (`b3`).
    pub fn sends_b3_single(&self) -> bool {
        self.b3_single
    }

    /// Whether calls carry W3C `traceparent` (`tracecontext`).
    pub fn sends_trace_context(&self) -> bool {
        self.trace_context
    }

    /// Whether requests' headers are read at all (not `none`).
    pub fn reads(&self) -> bool {
        *self != Self::NONE
    }

    /// Whether a request's W3C context wins over its B3 one.
    pub fn reads_w3c_first(&self) -> bool {
        self.w3c_first
    }
}

impl Default for Propagators {
    /// `b3multi`.
    fn default() -> Self {
        Self {
            b3_multi: true,
            ..Self::NONE
        }
    }
}

impl FromStr for Propagators {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        let mut propagators = Self::NONE;
        let mut none = false;
        let mut listed = 0;
        for name in list.split(',').map(str::trim) {
            listed += 1;
            // The specification: a name listed twice counts once, where
            // it first appears.
            let first_time = |seen: &mut bool| !std::mem::replace(seen, true);
            match name {
                "b3multi" if first_time(&mut propagators.b3_multi) => {
                    propagators.w3c_first = false;
                }
                "b3" if first_time(&mut propagators.b3_single) => {
                    propagators.w3c_first = false;
                }
                "tracecontext" if first_time(&mut propagators.trace_context) => {
                    propagators.w3c_first = true;
                }
                "b3multi" | "b3" | "tracecontext" => {}
                "none" => none = true,
                "baggage" | "jaeger" | "xray" | "ottrace" => {
                    return Err(format!(
                        "{name} is an OpenTelemetry propagator this crate does not carry; \
                         expected b3multi, b3, tracecontext (or a list of them), or none"
                    ));
                }
                _ => {
                    return Err(format!(
                        "unknown propagator {name:?}; expected b3multi, b3, tracecontext \
                         (or a comma-separated list of them), or none"
                    ));
                }
            }
        }
        match (none, listed) {
            (true, 1) => Ok(Self::NONE),
            (true, _) => Err("none cannot be listed with other propagators".into()),
            (false, _) => Ok(propagators),
        }
    }
}

/// `OTEL_BSP_*`: the span batch's settings.
fn batch_config<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<BatchConfig, ConfigError> {
    let default = BatchConfig::default();
    let millis = |name, default: Duration| {
        env.parse(name, default.as_millis() as u64)
            .map(Duration::from_millis)
    };
    Ok(BatchConfig {
        schedule_delay: millis("OTEL_BSP_SCHEDULE_DELAY", default.schedule_delay)?,
        max_queue_size: env.parse("OTEL_BSP_MAX_QUEUE_SIZE", default.max_queue_size)?,
        max_export_batch_size: env.parse(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            default.max_export_batch_size,
        )?,
        upload_timeout: millis("OTEL_BSP_EXPORT_TIMEOUT", default.upload_timeout)?,
        max_concurrent_uploads: env.parse(
            "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
            default.max_concurrent_uploads,
        )?,
    })
}

impl TelemetryConfig {
    /// Reads the process environment; `default_service_name` is the name
    /// when `OTEL_SERVICE_NAME` is not set.
    pub fn from_env(default_service_name: &str) -> Result<Self, ConfigError> {
        Self::read(&Env::process(), default_service_name)
    }

    /// Reads the variables from `vars` (for tests, or settings kept
    /// elsewhere than in the environment).
    pub fn from_vars(
        default_service_name: &str,
        vars: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::read(&Env::from_lookup(vars), default_service_name)
    }

    /// Reads the variables from `env`.
    pub fn read<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        default_service_name: &str,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            service_name: env
                .text("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| default_service_name.to_owned()),
            exporter: TracesExporter::read(env)?,
            zipkin_endpoint: env
                .http_url_or("OTEL_EXPORTER_ZIPKIN_ENDPOINT", DEFAULT_ZIPKIN_ENDPOINT)?,
            sampler: sampler(
                env.text("OTEL_TRACES_SAMPLER"),
                env.text("OTEL_TRACES_SAMPLER_ARG"),
            )?,
            propagators: env.parse("OTEL_PROPAGATORS", Propagators::default())?,
            b3_join: env.parse("B3_JOIN", true)?,
            // The specification: only `true` (in any case) disables.
            disabled: env
                .text("OTEL_SDK_DISABLED")
                .is_some_and(|value| value.eq_ignore_ascii_case("true")),
            batch: batch_config(env)?,
        })
    }

    /// Where a page's spans go (`browser_relay`): Zipkin's endpoint, as
    /// the page writes Zipkin's v2 JSON, whichever exporter the services'
    /// own spans take; `None` when telemetry is off or exports nothing.
    pub fn relay_endpoint(&self) -> Option<Url> {
        let exports = !self.disabled && !matches!(self.exporter, TracesExporter::None);
        exports.then(|| self.zipkin_endpoint.clone())
    }
}

/// `OTEL_TRACES_SAMPLER`'s names, as the OpenTelemetry specification lists
/// them. As it says, a ratio sampler without an argument samples
/// everything (1.0).
fn sampler(name: Option<String>, arg: Option<String>) -> Result<SamplerConfig, ConfigError> {
    let Some(name) = name else {
        return Ok(SamplerConfig::default());
    };
    let (parent_based, root_name) = match name.strip_prefix("parentbased_") {
        Some(root_name) => (true, root_name),
        None => (false, name.as_str()),
    };
    let root = match root_name {
        "always_on" => RootSampler::AlwaysOn,
        "always_off" => RootSampler::AlwaysOff,
        "traceidratio" => RootSampler::TraceIdRatio(ratio(arg)?),
        _ => {
            return Err(ConfigError {
                name: "OTEL_TRACES_SAMPLER",
                value: name,
                reason: "expected one of always_on, always_off, traceidratio, \
                         parentbased_always_on, parentbased_always_off, \
                         parentbased_traceidratio"
                    .into(),
            });
        }
    };
    Ok(SamplerConfig { parent_based, root })
}

fn ratio(arg: Option<String>) -> Result<f64, ConfigError> {
    let Some(arg) = arg else { return Ok(1.0) };
    match arg.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(ConfigError {
            name: "OTEL_TRACES_SAMPLER_ARG",
            value: arg,
            reason: "expected a sampling ratio from 0 to 1".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<TelemetryConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TelemetryConfig::from_vars("api_02", |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_work_on_localhost() {
        let config = config(&[]).unwrap();
        assert_eq!(config.service_name, "api_02");
        assert_eq!(config.zipkin_endpoint.as_str(), DEFAULT_ZIPKIN_ENDPOINT);
        assert_eq!(config.sampler, SamplerConfig::default());
        assert_eq!(config.propagators, Propagators::default());
        assert!(config.propagators.sends_b3_multi() && !config.propagators.reads_w3c_first());
        assert!(config.b3_join);
        assert!(!config.disabled);
        assert_eq!(config.batch, BatchConfig::default());
    }

    #[test]
    fn variables_override_defaults() {
        let config = config(&[
            ("OTEL_SERVICE_NAME", "checkout"),
            (
                "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                "http://zipkin:9411/api/v2/spans",
            ),
            ("B3_JOIN", "false"),
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
        ])
        .unwrap();
        assert_eq!(config.batch.schedule_delay, Duration::from_millis(100));
        assert_eq!(config.batch.max_queue_size, 16);
        assert_eq!(config.service_name, "checkout");
        assert_eq!(
            config.zipkin_endpoint.as_str(),
            "http://zipkin:9411/api/v2/spans"
        );
        assert!(!config.b3_join);
        assert!(config.disabled);
        assert!(
            !self::config(&[("OTEL_SDK_DISABLED", "yes")])
                .unwrap()
                .disabled
        );
    }

    #[test]
    fn sampler_names_follow_the_specification() {
        let sampler = |name, arg: Option<&str>| {
            let mut vars = vec![("OTEL_TRACES_SAMPLER", name)];
            vars.extend(arg.map(|arg| ("OTEL_TRACES_SAMPLER_ARG", arg)));
            config(&vars).map(|config| config.sampler)
        };
        let expect = |parent_based, root| SamplerConfig { parent_based, root };
        assert_eq!(
            sampler("traceidratio", Some("0.25")).unwrap(),
            expect(false, RootSampler::TraceIdRatio(0.25))
        );
        assert_eq!(
            sampler("parentbased_traceidratio", None).unwrap(),
            expect(true, RootSampler::TraceIdRatio(1.0))
        );
        assert_eq!(
            sampler("always_on", None).unwrap(),
            expect(false, RootSampler::AlwaysOn)
        );
        assert_eq!(
            sampler("parentbased_always_off", None).unwrap(),
            expect(true, RootSampler::AlwaysOff)
        );
        assert!(sampler("sometimes", None).is_err());
        assert!(sampler("traceidratio", Some("half")).is_err());
        assert!(sampler("traceidratio", Some("1.5")).is_err());
    }

    #[test]
    fn propagator_lists_follow_the_specification() {
        let propagators =
            |list| config(&[("OTEL_PROPAGATORS", list)]).map(|config| config.propagators);
        // What each list sends (multi, single, W3C), and whether W3C wins.
        let expect = |list, sends: (bool, bool, bool), w3c_first| {
            let read = propagators(list).unwrap();
            assert_eq!(
                (
                    (
                        read.sends_b3_multi(),
                        read.sends_b3_single(),
                        read.sends_trace_context()
                    ),
                    read.reads_w3c_first()
                ),
                (sends, w3c_first),
                "{list}"
            );
        };
        expect("b3multi", (true, false, false), false);
        expect("b3", (false, true, false), false);
        expect("tracecontext", (false, false, true), true);
        expect("b3multi,tracecontext", (true, false, true), true);
        expect(" tracecontext , b3multi ", (true, false, true), false);
        expect("b3,b3multi", (true, true, false), false);
        // Listed twice: where it first appears counts.
        expect(
            "tracecontext,b3multi,tracecontext",
            (true, false, true),
            false,
        );
        assert_eq!(propagators("none").unwrap(), Propagators::NONE);
        assert!(!Propagators::NONE.reads());
        assert_eq!(propagators("").unwrap(), Propagators::default());

        for refused in [
            "tracecontext,baggage",
            "jaeger",
            "b3,none",
            "B3",
            "b3single",
            "b3,",
        ] {
            let error = config(&[("OTEL_PROPAGATORS", refused)]).unwrap_err();
            assert_eq!(error.name, "OTEL_PROPAGATORS", "{refused}");
            assert!(
                error.to_string().contains("expected") || refused.contains("none"),
                "{error}"
            );
        }
        let baggage = propagators("tracecontext,baggage").unwrap_err();
        assert!(
            baggage
                .reason
                .contains("baggage is an OpenTelemetry propagator"),
            "{baggage}"
        );
    }

    #[test]
    fn an_invalid_value_names_the_variable() {
        let endpoint = config(&[("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "zipkin:9411")]).unwrap_err();
        assert_eq!(endpoint.name, "OTEL_EXPORTER_ZIPKIN_ENDPOINT");
        let error = config(&[("B3_JOIN", "sometimes")]).unwrap_err();
        assert_eq!(error.name, "B3_JOIN");
        assert!(
            error.to_string().contains("B3_JOIN=\"sometimes\""),
            "{error}"
        );
    }
}
