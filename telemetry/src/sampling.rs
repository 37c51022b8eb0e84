//! Which traces are recorded: OpenTelemetry's standard sampler choice, plus
//! the two decisions B3 adds.
//!
//! `OTEL_TRACES_SAMPLER` picks the sampler exactly as the OpenTelemetry
//! specification lists them (`parentbased_always_on` by default). B3 adds two
//! cases that a plain parent-based sampler gets wrong:
//!
//! - *deferred*: the caller sent a trace id and span id but no sampling
//!   decision. B3 says the receiver decides. The B3 propagator marks such a
//!   parent "not sampled", so a parent-based sampler would drop the request;
//!   here the service's own root sampler decides instead, and the span still
//!   joins the caller's trace.
//! - *debug* (`X-B3-Flags: 1`, or `d` in the single `b3` header): always
//!   recorded, whatever the sampler says, as B3 requires.

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanKind, TraceContextExt, TraceId},
};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

use crate::{
    config::ConfigError,
    propagation::{is_debug, is_deferred},
};

/// The sampler named by `OTEL_TRACES_SAMPLER`, with its argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Whether a sampled (or not sampled) parent decides for its children.
    pub parent_based: bool,
    /// What a root span (no parent, or a deferred one) is decided by.
    pub root: RootSampler,
}

/// The decision for spans that start a trace.
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

impl SamplerConfig {
    /// Parses `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`. As the
    /// specification says, a ratio sampler without an argument samples
    /// everything (1.0).
    pub fn from_vars(sampler: Option<&str>, arg: Option<&str>) -> Result<Self, ConfigError> {
        let Some(name) = sampler else {
            return Ok(Self::default());
        };
        let (parent_based, root_name) = match name.trim().strip_prefix("parentbased_") {
            Some(root_name) => (true, root_name),
            None => (false, name.trim()),
        };
        let root = match root_name {
            "always_on" => RootSampler::AlwaysOn,
            "always_off" => RootSampler::AlwaysOff,
            "traceidratio" => RootSampler::TraceIdRatio(parse_ratio(arg)?),
            _ => {
                return Err(ConfigError {
                    name: "OTEL_TRACES_SAMPLER",
                    value: name.to_owned(),
                    reason: "expected one of always_on, always_off, traceidratio, \
                             parentbased_always_on, parentbased_always_off, \
                             parentbased_traceidratio"
                        .into(),
                });
            }
        };
        Ok(Self { parent_based, root })
    }

    /// The sampler to give the tracer provider.
    pub fn build(&self) -> B3Sampler {
        let root = match self.root {
            RootSampler::AlwaysOn => Sampler::AlwaysOn,
            RootSampler::AlwaysOff => Sampler::AlwaysOff,
            RootSampler::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        };
        let configured = if self.parent_based {
            Sampler::ParentBased(Box::new(root.clone()))
        } else {
            root.clone()
        };
        B3Sampler { configured, root }
    }
}

fn parse_ratio(arg: Option<&str>) -> Result<f64, ConfigError> {
    let Some(arg) = arg else { return Ok(1.0) };
    match arg.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(ConfigError {
            name: "OTEL_TRACES_SAMPLER_ARG",
            value: arg.to_owned(),
            reason: "expected a sampling ratio from 0 to 1".into(),
        }),
    }
}

/// The configured sampler, except that B3's deferred and debug decisions from
/// a remote caller are honoured (see the module documentation).
#[derive(Clone, Debug)]
pub struct B3Sampler {
    configured: Sampler,
    root: Sampler,
}

impl ShouldSample for B3Sampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let parent = parent_context
            .map(|cx| cx.span().span_context().clone())
            .filter(|parent| parent.is_valid());
        match parent {
            // The debug flag passes from span to span (the SDK copies a
            // parent's flags), so it holds for the caller's children and ours.
            Some(parent) if is_debug(parent.trace_flags()) => SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: parent.trace_state().clone(),
            },
            // Only the caller's missing decision is deferred; once this
            // service has decided, its own spans follow that decision.
            Some(parent) if parent.is_remote() && is_deferred(parent.trace_flags()) => self
                .root
                .should_sample(parent_context, trace_id, name, span_kind, attributes, links),
            _ => self.configured.should_sample(
                parent_context,
                trace_id,
                name,
                span_kind,
                attributes,
                links,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};

    fn decide(config: SamplerConfig, parent_flags: Option<u8>) -> SamplingDecision {
        decide_with(config, parent_flags, true)
    }

    fn decide_with(
        config: SamplerConfig,
        parent_flags: Option<u8>,
        remote: bool,
    ) -> SamplingDecision {
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let parent = parent_flags.map(|flags| {
            Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                TraceFlags::new(flags),
                remote,
                TraceState::default(),
            ))
        });
        config
            .build()
            .should_sample(
                parent.as_ref(),
                trace_id,
                "GET /",
                &SpanKind::Server,
                &[],
                &[],
            )
            .decision
    }

    const NOT_SAMPLED: u8 = 0x00;
    const SAMPLED: u8 = 0x01;
    const DEFERRED: u8 = 0x02;
    const DEBUG: u8 = 0x04;

    #[test]
    fn the_default_is_parent_based_always_on() {
        assert_eq!(
            SamplerConfig::from_vars(None, None).unwrap(),
            SamplerConfig::default()
        );
        let config = SamplerConfig::default();
        assert_eq!(decide(config, None), SamplingDecision::RecordAndSample);
        assert_eq!(
            decide(config, Some(SAMPLED)),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(decide(config, Some(NOT_SAMPLED)), SamplingDecision::Drop);
    }

    #[test]
    fn a_deferred_parent_is_decided_by_the_root_sampler() {
        let on = SamplerConfig::default();
        assert_eq!(
            decide(on, Some(DEFERRED)),
            SamplingDecision::RecordAndSample
        );
        let off = SamplerConfig::from_vars(Some("parentbased_always_off"), None).unwrap();
        assert_eq!(decide(off, Some(DEFERRED)), SamplingDecision::Drop);
    }

    #[test]
    fn debug_is_always_recorded() {
        let off = SamplerConfig::from_vars(Some("always_off"), None).unwrap();
        assert_eq!(decide(off, Some(DEBUG)), SamplingDecision::RecordAndSample);
        assert_eq!(
            decide(off, Some(DEBUG | SAMPLED)),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(decide(off, None), SamplingDecision::Drop);
        // The children of a debug span in this service are recorded too.
        assert_eq!(
            decide_with(off, Some(DEBUG | SAMPLED), false),
            SamplingDecision::RecordAndSample
        );
    }

    #[test]
    fn only_a_remote_parent_defers() {
        let off = SamplerConfig::from_vars(Some("parentbased_always_off"), None).unwrap();
        // A local parent that inherited the marker was already decided: sampled.
        assert_eq!(
            decide_with(off, Some(DEFERRED | SAMPLED), false),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide_with(off, Some(DEFERRED), true),
            SamplingDecision::Drop
        );
    }

    #[test]
    fn sampler_names_follow_the_specification() {
        let parse = |name, arg| SamplerConfig::from_vars(Some(name), arg).unwrap();
        assert_eq!(
            parse("traceidratio", Some("0.25")),
            SamplerConfig {
                parent_based: false,
                root: RootSampler::TraceIdRatio(0.25)
            }
        );
        assert_eq!(
            parse("parentbased_traceidratio", None),
            SamplerConfig {
                parent_based: true,
                root: RootSampler::TraceIdRatio(1.0)
            }
        );
        assert_eq!(
            parse("always_on", None),
            SamplerConfig {
                parent_based: false,
                root: RootSampler::AlwaysOn
            }
        );
        // Not parent-based: a sampled parent does not force a root sampler that says no.
        let off = parse("always_off", None);
        assert_eq!(decide(off, Some(SAMPLED)), SamplingDecision::Drop);
    }

    #[test]
    fn invalid_sampler_settings_are_refused() {
        assert!(SamplerConfig::from_vars(Some("sometimes"), None).is_err());
        assert!(SamplerConfig::from_vars(Some("traceidratio"), Some("half")).is_err());
        assert!(SamplerConfig::from_vars(Some("traceidratio"), Some("1.5")).is_err());
    }
}
