//! B3 *join*: a SERVER span that takes its caller's span id as its own.
//!
//! In B3 the client and the server side of one call may share a span id, and
//! Zipkin, Brave and py_zipkin are built around it. It matters most for
//! py_zipkin callers that use `create_http_headers_for_new_span()` (as the
//! original Python demo does): they send a fresh span id but never report a
//! span under it, so a callee that made that id its *parent* would hang from
//! nothing in Zipkin. Joined, the callee's span takes that id and the
//! caller's `X-B3-ParentSpanId` as its parent, and the tree is whole.
//!
//! The same door serves a trace this service starts: its ids are chosen
//! before the span exists, since the sampler decides on the trace id, and
//! the span must then take exactly those.
//!
//! Why a thread-local, when the request's ids already live in its
//! task-local (`request.rs`): OpenTelemetry has no way to choose a span's
//! id. The SDK (0.33, `Tracer::build_with_context`) asks its
//! [`IdGenerator`] for every id and ignores `SpanBuilder::span_id` and
//! `trace_id`; `tracing-opentelemetry` (0.34) gives no access to the
//! builder anyway; and `IdGenerator::new_span_id` is told nothing of the
//! span it is for. So the provider is given [`JoiningIdGenerator`], which
//! hands out random ids, except inside [`with_ids`]: there, on that
//! thread, for the one span built inside, the next span id (and trace id,
//! for a span without parent) are the ones the request chose. The
//! thread-local holds them only for that call: the request's task-local
//! stays the one place they are kept.

use std::cell::Cell;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

thread_local! {
    static NEXT_SPAN_ID: Cell<Option<SpanId>> = const { Cell::new(None) };
    static NEXT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// The SDK's random ids, except where `with_ids` has set the next ones.
#[derive(Debug, Default)]
pub struct JoiningIdGenerator {
    random: RandomIdGenerator,
}

impl IdGenerator for JoiningIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID
            .take()
            .unwrap_or_else(|| self.random.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        NEXT_SPAN_ID
            .take()
            .unwrap_or_else(|| self.random.new_span_id())
    }
}

/// Runs `start_span`, which must start one span on this thread: that span
/// gets `span_id`, and `trace_id` if it has no parent to take one from.
pub(crate) fn with_ids<R>(trace_id: TraceId, span_id: SpanId, start_span: impl FnOnce() -> R) -> R {
    // Cleared however `start_span` ends, so no later span takes these ids.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            NEXT_SPAN_ID.set(None);
            NEXT_TRACE_ID.set(None);
        }
    }
    let _clear = Clear;
    NEXT_SPAN_ID.set(Some(span_id));
    NEXT_TRACE_ID.set(Some(trace_id));
    start_span()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ids_are_handed_out_once_and_only_inside() {
        let generator = JoiningIdGenerator::default();
        let (trace_id, span_id) = (TraceId::from(7), SpanId::from(9));
        let (inside, again) = with_ids(trace_id, span_id, || {
            (
                (generator.new_trace_id(), generator.new_span_id()),
                generator.new_span_id(),
            )
        });
        assert_eq!(inside, (trace_id, span_id));
        assert_ne!(again, span_id, "a second span gets a random id");
        with_ids(trace_id, span_id, || {});
        assert_ne!(generator.new_trace_id(), trace_id, "nothing is left over");
        assert_ne!(generator.new_span_id(), span_id);
    }
}
