//! Which traces are recorded: OpenTelemetry's standard sampler choice, and
//! what a B3 caller decided.
//!
//! `OTEL_TRACES_SAMPLER` picks the sampler exactly as the OpenTelemetry
//! specification lists them (`parentbased_always_on` by default). A
//! parent-based sampler follows the caller's decision, read from B3 (or W3C
//! `traceparent`) by [`crate::propagation`]; B3 adds what OpenTelemetry's
//! parent-based samplers cannot express:
//!
//! - *deferred*: the caller sent ids but no decision. B3 says the receiver
//!   decides, so the service's own root sampler does, and the span still
//!   joins the caller's trace.
//! - *sampling only* (`b3: 0`, a lone `X-B3-Sampled: 0`): a decision without
//!   ids, such as Zipkin's own health checks send. The trace is new, the
//!   decision is the caller's.
//! - *debug* (`X-B3-Flags: 1`, `b3: …-d`): always recorded, whatever the
//!   sampler says, and every span of the trace is marked `debug`.
//!
//! A debug trace is marked in the trace state the sampler returns (see
//! [`crate::propagation::is_debug`] for why there).

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanContext, SpanKind, TraceContextExt, TraceId, TraceState},
};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

use crate::propagation::{CallerSampling, Sampling, debug_trace_state, is_debug};

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
    /// The sampler to give the tracer provider.
    pub fn build(&self) -> B3Sampler {
        let root = match self.root {
            RootSampler::AlwaysOn => Sampler::AlwaysOn,
            RootSampler::AlwaysOff => Sampler::AlwaysOff,
            RootSampler::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        };
        B3Sampler {
            parent_based: self.parent_based,
            root,
        }
    }
}

/// The configured sampler, with B3's deferred, sampling-only and debug
/// decisions honoured (see the module documentation).
#[derive(Clone, Debug)]
pub struct B3Sampler {
    parent_based: bool,
    root: Sampler,
}

/// What the parent of a new span says about sampling.
enum ParentSays {
    Debug,
    Sampled,
    NotSampled,
    Nothing,
}

impl ParentSays {
    fn of(parent_context: Option<&Context>) -> Self {
        let Some(cx) = parent_context else {
            return Self::Nothing;
        };
        let span = cx.span();
        let parent = span.span_context();
        // A span of this service: its decision was made here, and holds.
        if parent.is_valid() && !parent.is_remote() {
            return Self::of_span(parent);
        }
        match cx.get::<CallerSampling>() {
            Some(CallerSampling(Sampling::Debug)) => Self::Debug,
            Some(CallerSampling(Sampling::Accept)) => Self::Sampled,
            Some(CallerSampling(Sampling::Deny)) => Self::NotSampled,
            Some(CallerSampling(Sampling::Defer)) => Self::Nothing,
            // A W3C caller: its sampled flag.
            None if parent.is_valid() => Self::of_span(parent),
            None => Self::Nothing,
        }
    }

    fn of_span(span: &SpanContext) -> Self {
        if is_debug(span) {
            Self::Debug
        } else if span.is_sampled() {
            Self::Sampled
        } else {
            Self::NotSampled
        }
    }
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
        let decided = |decision| SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: TraceState::default(),
        };
        match ParentSays::of(parent_context) {
            ParentSays::Debug => SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: debug_trace_state(),
            },
            ParentSays::Sampled if self.parent_based => decided(SamplingDecision::RecordAndSample),
            ParentSays::NotSampled if self.parent_based => decided(SamplingDecision::Drop),
            // No decision to follow: the root sampler decides, on the trace
            // id alone, so every service decides alike for one trace.
            _ => decided(
                self.root
                    .should_sample(None, trace_id, name, span_kind, attributes, links)
                    .decision,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags};

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    /// Where the parent of the span to decide comes from.
    enum Parent {
        None,
        /// A B3 caller's decision, with the caller's ids when `ids` is set.
        B3 {
            sampling: Sampling,
            ids: bool,
        },
        /// A W3C caller, sampled or not.
        W3c(bool),
        /// A span of this service.
        Local {
            sampled: bool,
            debug: bool,
        },
    }

    fn decide(config: SamplerConfig, parent: Parent) -> (SamplingDecision, bool) {
        let trace_id = TraceId::from_hex(TRACE_ID).unwrap();
        let span = |sampled: bool, remote: bool, state: TraceState| {
            let flags = if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            SpanContext::new(trace_id, SpanId::from(7), flags, remote, state)
        };
        let context = match parent {
            Parent::None => None,
            Parent::B3 { sampling, ids } => {
                let caller = Context::new().with_value(CallerSampling(sampling));
                Some(if ids {
                    caller.with_remote_span_context(span(false, true, TraceState::default()))
                } else {
                    caller
                })
            }
            Parent::W3c(sampled) => Some(Context::new().with_remote_span_context(span(
                sampled,
                true,
                TraceState::default(),
            ))),
            Parent::Local { sampled, debug } => {
                let state = if debug {
                    debug_trace_state()
                } else {
                    TraceState::default()
                };
                Some(Context::new().with_remote_span_context(span(sampled, false, state)))
            }
        };
        let result = config.build().should_sample(
            context.as_ref(),
            trace_id,
            "GET /",
            &SpanKind::Server,
            &[],
            &[],
        );
        let debug = result.trace_state == debug_trace_state();
        (result.decision, debug)
    }

    fn sampler(parent_based: bool, root: RootSampler) -> SamplerConfig {
        SamplerConfig { parent_based, root }
    }

    const SAMPLE: (SamplingDecision, bool) = (SamplingDecision::RecordAndSample, false);
    const DROP: (SamplingDecision, bool) = (SamplingDecision::Drop, false);
    const DEBUG: (SamplingDecision, bool) = (SamplingDecision::RecordAndSample, true);

    #[test]
    fn the_default_is_parent_based_always_on() {
        let config = SamplerConfig::default();
        assert_eq!(config, sampler(true, RootSampler::AlwaysOn));
        assert_eq!(decide(config, Parent::None), SAMPLE);
        for ids in [true, false] {
            let b3 = |sampling| Parent::B3 { sampling, ids };
            assert_eq!(decide(config, b3(Sampling::Accept)), SAMPLE);
            assert_eq!(decide(config, b3(Sampling::Deny)), DROP, "ids: {ids}");
        }
        assert_eq!(decide(config, Parent::W3c(true)), SAMPLE);
        assert_eq!(decide(config, Parent::W3c(false)), DROP);
    }

    #[test]
    fn a_deferred_decision_is_made_by_the_root_sampler() {
        let deferred = || Parent::B3 {
            sampling: Sampling::Defer,
            ids: true,
        };
        assert_eq!(decide(SamplerConfig::default(), deferred()), SAMPLE);
        assert_eq!(
            decide(sampler(true, RootSampler::AlwaysOff), deferred()),
            DROP
        );
    }

    #[test]
    fn debug_is_always_recorded_and_marked() {
        let off = sampler(false, RootSampler::AlwaysOff);
        for ids in [true, false] {
            assert_eq!(
                decide(
                    off,
                    Parent::B3 {
                        sampling: Sampling::Debug,
                        ids
                    }
                ),
                DEBUG
            );
        }
        assert_eq!(decide(off, Parent::None), DROP);
        // The children of a debug span in this service are debug too.
        assert_eq!(
            decide(
                off,
                Parent::Local {
                    sampled: true,
                    debug: true
                }
            ),
            DEBUG
        );
        assert_eq!(
            decide(
                SamplerConfig::default(),
                Parent::Local {
                    sampled: true,
                    debug: false
                }
            ),
            SAMPLE
        );
    }

    #[test]
    fn a_local_parent_decides_for_its_children() {
        let on = SamplerConfig::default();
        assert_eq!(
            decide(
                on,
                Parent::Local {
                    sampled: false,
                    debug: false
                }
            ),
            DROP
        );
        let off = sampler(true, RootSampler::AlwaysOff);
        assert_eq!(
            decide(
                off,
                Parent::Local {
                    sampled: true,
                    debug: false
                }
            ),
            SAMPLE
        );
    }

    #[test]
    fn a_sampler_that_is_not_parent_based_decides_alone() {
        let caller_sampled = Parent::B3 {
            sampling: Sampling::Accept,
            ids: true,
        };
        assert_eq!(
            decide(sampler(false, RootSampler::AlwaysOff), caller_sampled),
            DROP
        );
        let on = sampler(false, RootSampler::AlwaysOn);
        assert_eq!(decide(on, Parent::W3c(false)), SAMPLE);
    }
}
