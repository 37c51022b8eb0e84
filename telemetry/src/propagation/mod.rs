//! Trace context in HTTP headers: B3 in and out, W3C `traceparent` in.
//!
//! B3 is what Zipkin, Brave and py_zipkin speak, so it is what we send and
//! what we read first; W3C `traceparent` is read too, so that callers on
//! OpenTelemetry's default propagator join the trace. The README's table
//! "B3 in, B3 out" shows what every form does, and
//! `tests/b3_conformance.rs` checks each row.
//!
//! - [`b3`] reads and writes the headers (by hand: why, is said there).
//! - [`extract`] turns a caller's context into the parent of the SERVER
//!   span. With *join* on (B3's own model, and the default), the SERVER
//!   span takes the caller's span id as its own (`join.rs` says why and how);
//!   with it off, that id becomes its parent, as OpenTelemetry does. The
//!   caller's decision travels in the [`Context`] for [`crate::sampling`].
//! - [`inject`] writes a CLIENT span's context: all four ids, and this
//!   service's own decision, never a deferred one passed on. A missing,
//!   malformed or partial context never fails a request: it starts a new
//!   trace.

pub mod b3;
#[cfg(test)]
mod b3_table;
#[cfg(test)]
mod conformance;
mod join;

use std::sync::LazyLock;

use axum::http::HeaderMap;
use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{IdGenerator, RandomIdGenerator, SamplingDecision, ShouldSample},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use b3::{B3, Ids, Sampling};
pub use join::JoiningIdGenerator;

static W3C: LazyLock<TraceContextPropagator> = LazyLock::new(TraceContextPropagator::new);

/// A B3 caller's sampling decision, carried in the parent [`Context`] of the
/// SERVER span for the sampler (B3 has four states, OpenTelemetry's sampled
/// flag two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallerSampling(pub Sampling);

/// A caller's trace context, ready to become the parent of a SERVER span.
#[derive(Debug)]
#[must_use = "an incoming context does nothing until `continue_in` a span"]
pub struct Incoming {
    parent: Context,
    /// The trace id the caller sent, B3 or W3C.
    caller_trace_id: Option<TraceId>,
    /// The ids the SERVER span takes as its own: the caller's, with join,
    /// or new ones for a trace this service starts (see [`Incoming::decide`]).
    own_ids: Option<(TraceId, SpanId)>,
}

/// Reads the caller's context from request headers: B3 first, then W3C.
/// With `join`, a B3 caller's span id becomes the SERVER span's own.
pub fn extract(headers: &HeaderMap, join: bool) -> Incoming {
    match B3::read(headers) {
        Some(b3) => Incoming::from_b3(b3, join),
        None => {
            let parent = W3C.extract(&HeaderExtractor(headers));
            let caller = parent.span().span_context().clone();
            let caller_trace_id = caller.is_valid().then(|| caller.trace_id());
            Incoming {
                parent,
                caller_trace_id,
                own_ids: None,
            }
        }
    }
}

impl Incoming {
    fn from_b3(b3: B3, join: bool) -> Self {
        let caller = Context::new().with_value(CallerSampling(b3.sampling));
        // The sampling-only forms: a new trace with the caller's decision.
        let Some(ids) = b3.ids else {
            return Self {
                parent: caller,
                caller_trace_id: None,
                own_ids: None,
            };
        };
        let sampled = matches!(b3.sampling, Sampling::Accept | Sampling::Debug);
        let remote_span = |span_id| {
            let flags = if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            SpanContext::new(ids.trace_id, span_id, flags, true, TraceState::default())
        };
        if !join {
            return Self {
                parent: caller.with_remote_span_context(remote_span(ids.span_id)),
                caller_trace_id: Some(ids.trace_id),
                own_ids: None,
            };
        }
        // Joined, the parent is the caller's parent; without one, the SERVER
        // span is a root that keeps the caller's trace id.
        let parent = match ids.parent_span_id {
            Some(parent) => caller.with_remote_span_context(remote_span(parent)),
            None => caller,
        };
        Self {
            parent,
            caller_trace_id: Some(ids.trace_id),
            own_ids: Some((ids.trace_id, ids.span_id)),
        }
    }

    /// Decides, before any span exists, whether this request is recorded:
    /// `sampler` gets the caller's context, and the trace id the SERVER span
    /// will have. A request that starts a trace gets its ids now, and its
    /// span takes them if it is recorded. Returns the trace id when the
    /// request is recorded.
    pub(crate) fn decide(&mut self, sampler: &dyn ShouldSample) -> Option<TraceId> {
        let trace_id = match self.caller_trace_id {
            Some(trace_id) => trace_id,
            None => {
                let random = RandomIdGenerator::default();
                let trace_id = random.new_trace_id();
                self.own_ids = Some((trace_id, random.new_span_id()));
                trace_id
            }
        };
        let decision = sampler
            .should_sample(
                Some(&self.parent),
                trace_id,
                "request",
                &SpanKind::Server,
                &[],
                &[],
            )
            .decision;
        (decision == SamplingDecision::RecordAndSample).then_some(trace_id)
    }

    /// For a request that is not recorded: the trace id and the SERVER
    /// span's id to pass on, when the caller established a trace. B3 says
    /// to propagate identifiers once they exist, and that a decision alone
    /// (`X-B3-Sampled: 0`) is valid when none do.
    pub(crate) fn unrecorded_ids(&self) -> Option<(TraceId, SpanId)> {
        let trace_id = self.caller_trace_id?;
        let span_id = match self.own_ids {
            Some((_, joined)) => joined,
            None => RandomIdGenerator::default().new_span_id(),
        };
        Some((trace_id, span_id))
    }

    /// Makes `span` the continuation of the caller's trace. Call it before
    /// the span is first entered: that is when its OpenTelemetry span is
    /// built and sampled.
    pub fn continue_in(self, span: &tracing::Span) {
        // An error here means telemetry is off for this span: nothing to do.
        let _ = span.set_parent(self.parent);
        if let Some((trace_id, span_id)) = self.own_ids {
            // Build the OpenTelemetry span now, while these are the ids the
            // id generator hands out.
            join::with_ids(trace_id, span_id, || drop(span.context()));
        }
    }
}

/// Writes the B3 headers for a call made in the CLIENT span `span`, whose
/// parent is `parent_span_id` (this service's span current at the call).
pub fn inject(span: &SpanContext, parent_span_id: SpanId, headers: &mut HeaderMap) {
    if !span.is_valid() {
        return;
    }
    let sampling = if is_debug(span) {
        Sampling::Debug
    } else if span.is_sampled() {
        Sampling::Accept
    } else {
        Sampling::Deny
    };
    let b3 = B3 {
        ids: Some(Ids {
            trace_id: span.trace_id(),
            span_id: span.span_id(),
            parent_span_id: (parent_span_id != SpanId::INVALID).then_some(parent_span_id),
        }),
        sampling,
    };
    b3.write(headers);
}

/// The trace-state entry that marks a debug trace. OpenTelemetry has no
/// trace flag for B3's debug, and the SDK gives a new span its parent's
/// flags, not the sampler's; what it does hand from the sampler to the span,
/// and on to its children, is trace state. The mark is never sent to other
/// services (they get B3), so it cannot clash with anyone's `tracestate`.
const DEBUG_KEY: &str = "zipkin";
const DEBUG_VALUE: &str = "debug";
static DEBUG_TRACE_STATE: LazyLock<TraceState> = LazyLock::new(|| {
    TraceState::from_key_value([(DEBUG_KEY, DEBUG_VALUE)]).expect("a valid trace-state entry")
});

/// The trace state of a span in a debug trace.
pub(crate) fn debug_trace_state() -> TraceState {
    DEBUG_TRACE_STATE.clone()
}

/// True when `span` belongs to a debug trace (B3 `X-B3-Flags: 1`): Zipkin
/// then marks it `debug`, and calls from it send `X-B3-Flags: 1`.
pub fn is_debug(span: &SpanContext) -> bool {
    span.trace_state().get(DEBUG_KEY) == Some(DEBUG_VALUE)
}
