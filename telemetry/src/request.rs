//! A request's trace, from its headers to its SERVER span: the one path,
//! in the order it runs. The SERVER-span layer (`server.rs`) calls
//! [`begin`], runs the request inside [`serve`], and builds the SERVER
//! span with [`build_server_span`].
//!
//! 1. **[`begin`]**, before any span exists: the caller's context is read
//!    from the headers (`propagation::Caller::read`); the SERVER span's ids
//!    are found ([`server_span_ids`]: with B3 *join*, a B3 caller's span id
//!    becomes this span's own); a trace this service starts gets new ids;
//!    and the sampler decides, once (`Sampler::decide`). The result is a
//!    [`RequestTrace`].
//! 2. **[`serve`]**: the request runs with its `RequestTrace` in a
//!    task-local, where the code inside reads it: the log lines (its trace
//!    id), the calls (the decision they pass on, `client.rs`),
//!    [`current_trace`], and the OpenTelemetry layer's filter, which skips
//!    every span of a request that is not recorded ([`unrecorded`]), so
//!    that such a request costs no OpenTelemetry span at all.
//! 3. **[`build_server_span`]**, for a recorded request: the SERVER span is
//!    built at once, its caller's span as its remote parent. OpenTelemetry
//!    has no way to choose a span's ids (the SDK asks its `IdGenerator` for
//!    every id, and is told nothing of the span it is for), and its
//!    sampler would decide again. So while this one span is built, a
//!    thread-local holds its ids and decision, and the SDK's id generator
//!    ([`JoiningIdGenerator`]) and sampler ([`RequestSampler`]) hand those
//!    back. Everywhere else they are the SDK's random ids and the
//!    configured sampler.
//!
//! B3 join, and why it matters: in B3 the client and the server side of a
//! call may share a span id, and Zipkin, Brave and py_zipkin are built
//! around it. py_zipkin callers that use
//! `create_http_headers_for_new_span()` (as the original Python demo does)
//! send a fresh span id but never report a span under it: a callee that
//! made that id its *parent* would hang from nothing in Zipkin. Joined,
//! the callee's span takes that id, and the caller's `X-B3-ParentSpanId`
//! as its parent, and the tree is whole.

use std::{cell::Cell, future::Future};

use axum::http::HeaderMap;
use opentelemetry::{
    KeyValue,
    trace::{
        Link, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    },
};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SamplingResult, ShouldSample};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    config::Propagators,
    hex::HexId,
    propagation::{Caller, Ids},
    sampling::{Decision, Sampler},
};

/// What [`begin`] decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestTrace {
    /// Recorded: the SERVER span's ids, its parent (the caller's span, if
    /// any) and the decision (recorded, or recorded and `debug`).
    Recorded {
        trace_id: TraceId,
        span_id: SpanId,
        parent_span_id: Option<SpanId>,
        decision: Decision,
    },
    /// Not recorded; with the trace id and the SERVER span's id to pass on,
    /// when the caller established a trace (B3 says to propagate ids once
    /// they exist, and that a decision alone is valid when none do).
    Unrecorded(Option<(TraceId, SpanId)>),
}

impl RequestTrace {
    /// The trace id, when the request is in a trace.
    pub(crate) fn trace_id(&self) -> Option<TraceId> {
        match *self {
            RequestTrace::Recorded { trace_id, .. } => Some(trace_id),
            RequestTrace::Unrecorded(ids) => ids.map(|(trace_id, _)| trace_id),
        }
    }
}

/// The trace of a request with these `headers`: read in the formats
/// `propagators` lists, joined to a B3 caller's span when `b3_join`, and
/// decided by `sampler`.
pub(crate) fn begin(
    headers: &HeaderMap,
    propagators: Propagators,
    b3_join: bool,
    sampler: &Sampler,
) -> RequestTrace {
    let caller = Caller::read(headers, propagators);
    let ids = server_span_ids(&caller, b3_join);
    // A trace this service starts gets its ids now: the sampler decides on
    // the trace id, and the span must take the same.
    let random = RandomIdGenerator::default();
    let trace_id = ids.trace_id.unwrap_or_else(|| random.new_trace_id());
    let span_id = ids.span_id.unwrap_or_else(|| random.new_span_id());
    let decision = sampler.decide(caller.sampling, trace_id);
    if decision.recorded() {
        RequestTrace::Recorded {
            trace_id,
            span_id,
            parent_span_id: ids.parent_span_id,
            decision,
        }
    } else {
        RequestTrace::Unrecorded(ids.trace_id.map(|trace_id| (trace_id, span_id)))
    }
}

/// The SERVER span's ids as the caller's context gives them; `None` where
/// this service makes a new one (the trace, the span) or there is none
/// (the parent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ServerSpanIds {
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub parent_span_id: Option<SpanId>,
}

/// Where the SERVER span goes in the caller's trace. With `b3_join`, a B3
/// caller's span becomes its own and the caller's parent its parent
/// (without one, it is a root that keeps the caller's trace); otherwise,
/// and for W3C callers, the caller's span is its parent, as OpenTelemetry
/// does.
pub(crate) fn server_span_ids(caller: &Caller, b3_join: bool) -> ServerSpanIds {
    match caller.ids {
        None => ServerSpanIds {
            trace_id: None,
            span_id: None,
            parent_span_id: None,
        },
        Some(Ids {
            trace_id,
            span_id,
            parent_span_id,
        }) if b3_join && caller.joinable => ServerSpanIds {
            trace_id: Some(trace_id),
            span_id: Some(span_id),
            parent_span_id,
        },
        Some(Ids {
            trace_id, span_id, ..
        }) => ServerSpanIds {
            trace_id: Some(trace_id),
            span_id: None,
            parent_span_id: Some(span_id),
        },
    }
}

tokio::task_local! {
    static REQUEST: RequestTrace;
}

/// Runs `request` (the rest of a request's handling) as `trace`.
pub(crate) async fn serve<F: Future>(trace: RequestTrace, request: F) -> F::Output {
    REQUEST.scope(trace, request).await
}

/// The trace of the request being served, if any.
pub(crate) fn current() -> Option<RequestTrace> {
    REQUEST.try_with(|trace| *trace).ok()
}

/// True inside a request the sampler left out.
pub(crate) fn unrecorded() -> bool {
    matches!(current(), Some(RequestTrace::Unrecorded(_)))
}

/// The SERVER span being built on this thread, by [`build_server_span`].
#[derive(Clone, Copy)]
struct Building {
    trace_id: TraceId,
    span_id: SpanId,
    decision: Decision,
}

thread_local! {
    static BUILDING: Cell<Option<Building>> = const { Cell::new(None) };
}

/// Builds `span`, the SERVER span of a request recorded as `trace`, with
/// the request's ids, parent and decision. Does nothing for a request
/// that is not recorded.
pub(crate) fn build_server_span(span: &tracing::Span, trace: RequestTrace) {
    let RequestTrace::Recorded {
        trace_id,
        span_id,
        parent_span_id,
        decision,
    } = trace
    else {
        return;
    };
    if let Some(parent_span_id) = parent_span_id {
        let parent = SpanContext::new(
            trace_id,
            parent_span_id,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        // An error here means telemetry is off for this span: nothing to do.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
    // Cleared however the build ends, so that no later span takes these.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            BUILDING.set(None);
        }
    }
    let _clear = Clear;
    BUILDING.set(Some(Building {
        trace_id,
        span_id,
        decision,
    }));
    // Reading its context builds the OpenTelemetry span, now.
    drop(span.context());
}

/// The SDK's id generator: random ids, except for the SERVER span being
/// built by [`build_server_span`], which gets its request's.
#[derive(Debug, Default)]
pub(crate) struct JoiningIdGenerator {
    random: RandomIdGenerator,
}

impl IdGenerator for JoiningIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        match BUILDING.get() {
            Some(building) => building.trace_id,
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match BUILDING.get() {
            Some(building) => building.span_id,
            None => self.random.new_span_id(),
        }
    }
}

/// The SDK's sampler: the SERVER span being built by [`build_server_span`]
/// gets its request's decision; any other span, the one `Sampler` gives it
/// (its parent's, inside a request).
#[derive(Clone, Debug)]
pub(crate) struct RequestSampler(pub Sampler);

impl ShouldSample for RequestSampler {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = match BUILDING.get() {
            Some(building) => building.decision,
            None => self.0.decide_for_span(parent_context, trace_id),
        };
        decision.result()
    }
}

/// The trace the code runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentTrace {
    /// The trace id as Zipkin shows it (16 digits when it fits in 64 bits).
    pub id: String,
    /// Whether the trace is recorded, and so can be found in Zipkin.
    pub recorded: bool,
}

/// The trace of the request being served (or of the current span, outside
/// a request), if there is one.
pub fn current_trace() -> Option<CurrentTrace> {
    let (trace_id, recorded) = match current() {
        Some(RequestTrace::Recorded { trace_id, .. }) => (trace_id, true),
        Some(RequestTrace::Unrecorded(ids)) => (ids?.0, false),
        None => {
            let context = tracing::Span::current().context();
            let span = context.span();
            let span = span.span_context();
            if !span.is_valid() {
                return None;
            }
            (span.trace_id(), span.is_sampled())
        }
    };
    Some(CurrentTrace {
        id: HexId::trace(trace_id).as_str().to_owned(),
        recorded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ids_are_handed_out_only_while_the_server_span_is_built() {
        let generator = JoiningIdGenerator::default();
        let (trace_id, span_id) = (TraceId::from(7), SpanId::from(9));
        BUILDING.set(Some(Building {
            trace_id,
            span_id,
            decision: Decision::Record,
        }));
        let inside = (generator.new_trace_id(), generator.new_span_id());
        BUILDING.set(None);
        assert_eq!(inside, (trace_id, span_id));
        assert_ne!(generator.new_trace_id(), trace_id, "nothing is left over");
        assert_ne!(generator.new_span_id(), span_id);
    }

    #[test]
    fn the_sdk_gets_the_request_decision_back_not_a_second_one() {
        use crate::config::{RootSampler, SamplerConfig};
        use opentelemetry_sdk::trace::SamplingDecision;
        // Were the root sampler asked, it would drop every trace.
        let off = RequestSampler(Sampler::new(&SamplerConfig {
            parent_based: true,
            root: RootSampler::AlwaysOff,
        }));
        let trace_id = TraceId::from(7);
        // A remote parent that says otherwise.
        let remote = SpanContext::new(
            trace_id,
            SpanId::from(3),
            TraceFlags::default(),
            true,
            TraceState::default(),
        );
        let parent = opentelemetry::Context::new().with_remote_span_context(remote);
        let ask = || {
            off.should_sample(
                Some(&parent),
                trace_id,
                "GET /",
                &SpanKind::Server,
                &[],
                &[],
            )
        };
        for decision in [Decision::Record, Decision::Debug] {
            BUILDING.set(Some(Building {
                trace_id,
                span_id: SpanId::from(9),
                decision,
            }));
            let asked = ask();
            BUILDING.set(None);
            assert_eq!(asked.decision, SamplingDecision::RecordAndSample);
            assert_eq!(asked.trace_state, decision.result().trace_state);
        }
        assert_eq!(ask().decision, SamplingDecision::Drop, "outside the build");
    }
}
