//! What the crate's own tests share.

use opentelemetry::{
    InstrumentationScope,
    trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

/// A finished, sampled root span of the trace `trace_id`, as the SDK hands
/// it to a span processor.
pub(crate) fn span_of_trace(trace_id: u128) -> SpanData {
    let start = std::time::SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(trace_id),
            SpanId::from(7),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: "GET /".into(),
        start_time: start,
        end_time: start + std::time::Duration::from_millis(1),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("test").build(),
    }
}
