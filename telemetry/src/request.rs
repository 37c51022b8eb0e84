//! The trace of the request being served: one value, decided by the
//! SERVER-span middleware before any span exists (`server.rs`), kept in a
//! task-local for the code that runs inside the request.
//!
//! Everything else derives from it: the SERVER span's ids and its
//! decision (which the middleware hands to OpenTelemetry), the OpenTelemetry
//! layer's choice to skip every span of a request that is not recorded
//! ([`unrecorded`]), the ids a call of such a request passes on (`client.rs`),
//! and [`current_trace`], for answers and links. Why not read it from the
//! current span's OpenTelemetry context instead: a request that is not
//! recorded has none (it skips OpenTelemetry entirely), and reading a span's
//! context costs more than the request's own bookkeeping.

use std::{cell::Cell, future::Future};

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::hex::HexId;

tokio::task_local! {
    static REQUEST: Request;
}

/// The request's trace, and the `tracing` id of its SERVER span once the
/// span exists (to know a call made directly in it).
struct Request {
    trace: RequestTrace,
    server_span: Cell<Option<u64>>,
}

/// What the middleware decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestTrace {
    /// Recorded: its trace, and the SERVER span's id.
    Recorded { trace_id: TraceId, span_id: SpanId },
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

/// Runs `request` (the rest of a request's handling) as `trace`.
pub(crate) async fn serve<F: Future>(trace: RequestTrace, request: F) -> F::Output {
    let scope = Request {
        trace,
        server_span: Cell::new(None),
    };
    REQUEST.scope(scope, request).await
}

/// The trace of the request being served, if any.
pub(crate) fn current() -> Option<RequestTrace> {
    REQUEST.try_with(|request| request.trace).ok()
}

/// Notes the request's SERVER span (`tracing`'s id for it).
pub(crate) fn set_server_span(span: &tracing::Span) {
    let id = span.id().map(|id| id.into_u64());
    let _ = REQUEST.try_with(|request| request.server_span.set(id));
}

/// The SERVER span's id, when the current span is the request's recorded
/// SERVER span.
pub(crate) fn server_span_id_if_current() -> Option<SpanId> {
    REQUEST
        .try_with(|request| {
            let RequestTrace::Recorded { span_id, .. } = request.trace else {
                return None;
            };
            let server_span = request.server_span.get()?;
            let current = tracing::dispatcher::get_default(|dispatch| {
                dispatch.current_span().id().map(|id| id.into_u64())
            });
            (current == Some(server_span)).then_some(span_id)
        })
        .ok()
        .flatten()
}

/// True inside a request the sampler left out.
pub(crate) fn unrecorded() -> bool {
    matches!(current(), Some(RequestTrace::Unrecorded(_)))
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
