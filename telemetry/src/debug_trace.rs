//! How a B3 *debug* trace (`X-B3-Flags: 1`) is marked on its spans.
//!
//! OpenTelemetry has no trace flag for B3's debug, and the SDK gives a new
//! span its parent's flags, not the sampler's. What it does hand from the
//! sampler to the span, and on to the span's children, is trace state: the
//! sampler marks a debug trace there (`span_export::zipkin::DEBUG_MARK`,
//! which Zipkin's JSON writes as `"debug": true`), and calls from a marked
//! span send `X-B3-Flags: 1`. The mark is never sent to other services
//! (they get B3), so it cannot clash with anyone's `tracestate`.

use std::sync::LazyLock;

use opentelemetry::trace::TraceState;
use span_export::zipkin::DEBUG_MARK;
pub(crate) use span_export::zipkin::is_debug;

static MARK: LazyLock<TraceState> =
    LazyLock::new(|| TraceState::from_key_value([DEBUG_MARK]).expect("a valid trace-state entry"));

/// The trace state of a span in a debug trace.
pub(crate) fn debug_trace_state() -> TraceState {
    MARK.clone()
}
