//! The trace of the request being served, for the code that runs inside it:
//! its id (for answers and log lines), whether it is recorded, and, for a
//! request that is not, what its calls pass on.
//!
//! Why not read all this from the current span's OpenTelemetry context: a
//! request that is not recorded has none (it skips OpenTelemetry entirely,
//! see `server.rs`: the OpenTelemetry layer's filter asks [`unrecorded`]),
//! and reading it costs more than the request's own bookkeeping. The
//! middleware knows it all before the handler runs, and keeps it in a
//! task-local for the request's task.

use std::future::Future;

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    propagation::{B3, Ids, Sampling},
    zipkin::trace_id_hex,
};

tokio::task_local! {
    static REQUEST: RequestTrace;
}

/// What the middleware decided for one request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RequestTrace {
    /// Recorded, in this trace.
    Recorded(TraceId),
    /// Not recorded; with the trace id and SERVER span id to pass on, when
    /// the caller established a trace.
    Unrecorded(Option<(TraceId, SpanId)>),
}

/// Runs `request` (the rest of a request's handling) as `trace`.
pub(crate) async fn serve<F: Future>(trace: RequestTrace, request: F) -> F::Output {
    REQUEST.scope(trace, request).await
}

/// True inside a request the sampler left out.
pub(crate) fn unrecorded() -> bool {
    REQUEST
        .try_with(|trace| matches!(trace, RequestTrace::Unrecorded(_)))
        .unwrap_or(false)
}

/// The B3 context a call carries from inside a request that is not
/// recorded: its ids with a new span id, or only the decision when it has
/// no ids. `None` inside a recorded request, or outside any.
pub(crate) fn unrecorded_call() -> Option<B3> {
    let Ok(RequestTrace::Unrecorded(ids)) = REQUEST.try_with(|trace| *trace) else {
        return None;
    };
    Some(B3 {
        ids: ids.map(|(trace_id, server_span_id)| Ids {
            trace_id,
            span_id: RandomIdGenerator::default().new_span_id(),
            parent_span_id: Some(server_span_id),
        }),
        sampling: Sampling::Deny,
    })
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
    let (trace_id, recorded) = match REQUEST.try_with(|trace| *trace) {
        Ok(RequestTrace::Recorded(trace_id)) => (trace_id, true),
        Ok(RequestTrace::Unrecorded(ids)) => (ids?.0, false),
        Err(_) => {
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
        id: trace_id_hex(trace_id),
        recorded,
    })
}
