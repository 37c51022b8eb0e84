//! Which traces are recorded: OpenTelemetry's standard sampler choice, and
//! what a B3 caller decided. One decision per request, made here.
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
//!   sampler says, and every span of the trace is marked `debug`
//!   (see `debug_trace.rs`).
//!
//! [`Sampler::decide`] makes the decision, once per request, before any
//! span exists (`request.rs`), so that a request left out costs no
//! OpenTelemetry span at all. The SDK asks its sampler again for every
//! span it builds: the SERVER span gets the request's decision back
//! (`request::RequestSampler`), and any other span its parent's
//! ([`Sampler::decide_for_span`]); a span that no request decided for (one
//! started outside any request) is decided anew.

use opentelemetry::trace::{SpanContext, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry_sdk::trace::{
    Sampler as OtelSampler, SamplingDecision, SamplingResult, ShouldSample,
};

use crate::{
    config::{RootSampler, SamplerConfig},
    debug_trace::{debug_trace_state, is_debug},
    propagation::Sampling,
};

/// Whether a trace is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Drop,
    Record,
    /// Recorded, and every span marked `debug`.
    Debug,
}

impl Decision {
    pub(crate) fn recorded(self) -> bool {
        self != Decision::Drop
    }

    /// The decision of a span of this service, for its children and for
    /// the calls made in it.
    pub(crate) fn of(span: &SpanContext) -> Self {
        if is_debug(span) {
            Decision::Debug
        } else if span.is_sampled() {
            Decision::Record
        } else {
            Decision::Drop
        }
    }

    /// The decision as the SDK takes it from a sampler.
    pub(crate) fn result(self) -> SamplingResult {
        let (decision, trace_state) = match self {
            Decision::Drop => (SamplingDecision::Drop, TraceState::default()),
            Decision::Record => (SamplingDecision::RecordAndSample, TraceState::default()),
            Decision::Debug => (SamplingDecision::RecordAndSample, debug_trace_state()),
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state,
        }
    }
}

/// The decision as B3 sends it on a call.
impl From<Decision> for Sampling {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Drop => Sampling::Deny,
            Decision::Record => Sampling::Accept,
            Decision::Debug => Sampling::Debug,
        }
    }
}

/// The configured sampler, with B3's deferred, sampling-only and debug
/// decisions honoured (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct Sampler {
    parent_based: bool,
    root: OtelSampler,
}

impl Sampler {
    pub(crate) fn new(config: &SamplerConfig) -> Self {
        let root = match config.root {
            RootSampler::AlwaysOn => OtelSampler::AlwaysOn,
            RootSampler::AlwaysOff => OtelSampler::AlwaysOff,
            RootSampler::TraceIdRatio(ratio) => OtelSampler::TraceIdRatioBased(ratio),
        };
        Self {
            parent_based: config.parent_based,
            root,
        }
    }

    /// The decision for a trace whose caller said `caller` (`Defer` when
    /// there is no caller), with trace id `trace_id`.
    pub(crate) fn decide(&self, caller: Sampling, trace_id: TraceId) -> Decision {
        match caller {
            Sampling::Debug => Decision::Debug,
            Sampling::Accept if self.parent_based => Decision::Record,
            Sampling::Deny if self.parent_based => Decision::Drop,
            // No decision to follow: the root sampler decides, on the trace
            // id alone, so every service decides alike for one trace.
            _ => {
                let root = self
                    .root
                    .should_sample(None, trace_id, "", &SpanKind::Server, &[], &[]);
                if root.decision == SamplingDecision::RecordAndSample {
                    Decision::Record
                } else {
                    Decision::Drop
                }
            }
        }
    }

    /// The decision for a span built with `parent_context` in the trace
    /// `trace_id`, other than a request's SERVER span: a span of this
    /// service decides for its children; with no local parent (a span
    /// started outside any request), as for a request.
    pub(crate) fn decide_for_span(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
    ) -> Decision {
        let Some(context) = parent_context else {
            return self.decide(Sampling::Defer, trace_id);
        };
        let span = context.span();
        let parent = span.span_context();
        if parent.is_valid() && !parent.is_remote() {
            Decision::of(parent)
        } else if parent.is_valid() {
            let caller = if parent.is_sampled() {
                Sampling::Accept
            } else {
                Sampling::Deny
            };
            self.decide(caller, trace_id)
        } else {
            self.decide(Sampling::Defer, trace_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{
        Context,
        trace::{SpanId, TraceFlags},
    };

    fn trace_id() -> TraceId {
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
    }

    fn sampler(parent_based: bool, root: RootSampler) -> Sampler {
        Sampler::new(&SamplerConfig { parent_based, root })
    }

    #[test]
    fn the_default_is_parent_based_always_on() {
        let default = Sampler::new(&SamplerConfig::default());
        let decide = |caller| default.decide(caller, trace_id());
        assert_eq!(decide(Sampling::Defer), Decision::Record);
        assert_eq!(decide(Sampling::Accept), Decision::Record);
        assert_eq!(decide(Sampling::Deny), Decision::Drop);
        assert_eq!(decide(Sampling::Debug), Decision::Debug);
    }

    #[test]
    fn a_deferred_decision_is_made_by_the_root_sampler() {
        let off = sampler(true, RootSampler::AlwaysOff);
        assert_eq!(off.decide(Sampling::Defer, trace_id()), Decision::Drop);
        assert_eq!(off.decide(Sampling::Accept, trace_id()), Decision::Record);
    }

    #[test]
    fn debug_is_recorded_whatever_the_sampler() {
        let off = sampler(false, RootSampler::AlwaysOff);
        assert_eq!(off.decide(Sampling::Debug, trace_id()), Decision::Debug);
        assert_eq!(off.decide(Sampling::Defer, trace_id()), Decision::Drop);
    }

    #[test]
    fn a_sampler_that_is_not_parent_based_decides_alone() {
        let off = sampler(false, RootSampler::AlwaysOff);
        assert_eq!(off.decide(Sampling::Accept, trace_id()), Decision::Drop);
        let on = sampler(false, RootSampler::AlwaysOn);
        assert_eq!(on.decide(Sampling::Deny, trace_id()), Decision::Record);
    }

    /// The decision for a span whose parent is `parent`.
    fn asked(sampler: &Sampler, parent: Option<Context>) -> Decision {
        sampler.decide_for_span(parent.as_ref(), trace_id())
    }

    fn span(sampled: bool, remote: bool, debug: bool) -> SpanContext {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let state = if debug {
            debug_trace_state()
        } else {
            TraceState::default()
        };
        SpanContext::new(trace_id(), SpanId::from(7), flags, remote, state)
    }

    #[test]
    fn a_span_of_this_service_decides_for_its_children() {
        let on = Sampler::new(&SamplerConfig::default());
        let local =
            |sampled, debug| Context::new().with_remote_span_context(span(sampled, false, debug));
        assert_eq!(asked(&on, Some(local(false, false))), Decision::Drop);
        let off = sampler(false, RootSampler::AlwaysOff);
        assert_eq!(asked(&off, Some(local(true, false))), Decision::Record);
        assert_eq!(asked(&off, Some(local(true, true))), Decision::Debug);
    }

    #[test]
    fn outside_any_request_the_sampler_decides() {
        let off = sampler(true, RootSampler::AlwaysOff);
        assert_eq!(asked(&off, None), Decision::Drop);
        let w3c = Context::new().with_remote_span_context(span(true, true, false));
        assert_eq!(asked(&off, Some(w3c)), Decision::Record, "parent-based");
    }
}
