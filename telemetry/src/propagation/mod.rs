//! Trace context in HTTP headers: B3, the format Zipkin and py_zipkin speak.
//!
//! B3 is what the Python original and every Zipkin-instrumented service
//! understand, so it is what we send. `opentelemetry_zipkin::Propagator` does
//! most of the work; this module fills the gaps that matter for a demo that
//! must interoperate:
//!
//! - **inject** writes the multi-header form, plus `X-B3-ParentSpanId`, which
//!   the propagator never sends but which B3 servers that read all four
//!   headers (py_zipkin among them) expect. Our own sampling decision is
//!   always sent, never a deferred one passed through.
//! - **extract** reads the single `b3` header, then the multi-header form, and
//!   falls back to W3C `traceparent`, so callers instrumented with
//!   OpenTelemetry's default propagator join the trace too.
//! - a context that is missing or malformed yields an empty [`Context`]: the
//!   request starts a fresh trace instead of failing.
//!
//! The deferred and debug markers stay in the trace flags, where the
//! propagator puts them, for [`crate::sampling`] to act on.
//!
//! `opentelemetry-zipkin` 0.33 marks the whole crate deprecated, pointing to
//! OTLP (which newer Zipkins accept). Its B3 propagator is still the one
//! OpenTelemetry ships for Rust, and B3 headers are what Zipkin-instrumented
//! callers send, so we use it; the `allow` below is for that alone.
#![allow(deprecated)]

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_zipkin::{B3Encoding, Propagator as B3Propagator};

/// The header the B3 propagator does not write.
pub const PARENT_SPAN_ID_HEADER: HeaderName = HeaderName::from_static("x-b3-parentspanid");

// The propagator's private trace-flag bits: "no sampling decision was sent"
// and "debug". Their values are part of its behaviour, checked by the tests.
const DEFERRED: u8 = 0x02;
const DEBUG: u8 = 0x04;

// Reading accepts both B3 forms; with single-header support on, the
// propagator also understands the `d` (debug) flag of the single header.
static B3_READER: LazyLock<B3Propagator> =
    LazyLock::new(|| B3Propagator::with_encoding(B3Encoding::SingleAndMultiHeader));
static B3_WRITER: LazyLock<B3Propagator> =
    LazyLock::new(|| B3Propagator::with_encoding(B3Encoding::MultipleHeader));
static W3C: LazyLock<TraceContextPropagator> = LazyLock::new(TraceContextPropagator::new);

/// The caller's trace context, read from request headers: B3 first, then
/// W3C `traceparent`. Empty when there is none, or none that is valid.
pub fn extract(headers: &HeaderMap) -> Context {
    let carrier = HeaderExtractor(headers);
    let b3 = B3_READER.extract(&carrier);
    if b3.span().span_context().is_valid() {
        return b3;
    }
    W3C.extract(&carrier)
}

/// Writes the B3 headers for a call made inside `span`, whose parent is
/// `parent_span_id` (the span that was current when the call began).
pub fn inject(span: &SpanContext, parent_span_id: SpanId, headers: &mut HeaderMap) {
    // By the time we call out, this service has decided: send the decision,
    // not the "deferred" marker it may have inherited from its caller.
    let decided_flags = TraceFlags::new(span.trace_flags().to_u8() & !DEFERRED);
    let decided = SpanContext::new(
        span.trace_id(),
        span.span_id(),
        decided_flags,
        span.is_remote(),
        span.trace_state().clone(),
    );
    let cx = Context::new().with_remote_span_context(decided);
    B3_WRITER.inject_context(&cx, &mut HeaderInjector(headers));
    if span.is_valid() && parent_span_id != SpanId::INVALID {
        let value = HeaderValue::from_str(&parent_span_id.to_string())
            .expect("a hex span id is a valid header value");
        headers.insert(PARENT_SPAN_ID_HEADER, value);
    }
}

/// True when the caller sent no sampling decision (B3 "deferred").
pub fn is_deferred(flags: TraceFlags) -> bool {
    flags.to_u8() & DEFERRED != 0
}

/// True when the caller asked for this trace to be recorded (B3 "debug").
pub fn is_debug(flags: TraceFlags) -> bool {
    flags.to_u8() & DEBUG != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceId, TraceState};

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN_ID: &str = "00f067aa0ba902b7";
    const PARENT_ID: &str = "a2fb4a1d1a96d312";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn extracted(pairs: &[(&str, &str)]) -> SpanContext {
        extract(&headers(pairs)).span().span_context().clone()
    }

    fn span(flags: u8) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex(TRACE_ID).unwrap(),
            SpanId::from_hex(SPAN_ID).unwrap(),
            TraceFlags::new(flags),
            false,
            TraceState::default(),
        )
    }

    fn injected(flags: u8) -> HeaderMap {
        let mut headers = HeaderMap::new();
        inject(
            &span(flags),
            SpanId::from_hex(PARENT_ID).unwrap(),
            &mut headers,
        );
        headers
    }

    #[test]
    fn inject_writes_all_four_b3_headers() {
        let headers = injected(0x01);
        assert_eq!(headers["x-b3-traceid"], TRACE_ID);
        assert_eq!(headers["x-b3-spanid"], SPAN_ID);
        assert_eq!(headers["x-b3-parentspanid"], PARENT_ID);
        assert_eq!(headers["x-b3-sampled"], "1");
        assert_eq!(injected(0x00)["x-b3-sampled"], "0");
    }

    #[test]
    fn inject_sends_our_decision_not_a_deferred_one() {
        let sampled_after_deferral = injected(0x01 | DEFERRED);
        assert_eq!(sampled_after_deferral["x-b3-sampled"], "1");
        let debug = injected(0x01 | DEBUG);
        assert_eq!(debug["x-b3-flags"], "1");
    }

    #[test]
    fn a_root_call_has_no_parent_header() {
        let mut headers = HeaderMap::new();
        inject(&span(0x01), SpanId::INVALID, &mut headers);
        assert!(!headers.contains_key(PARENT_SPAN_ID_HEADER));
        assert_eq!(headers["x-b3-spanid"], SPAN_ID);
    }

    #[test]
    fn extract_reads_the_multi_header_form() {
        let cx = extracted(&[
            ("X-B3-TraceId", TRACE_ID),
            ("X-B3-SpanId", SPAN_ID),
            ("X-B3-ParentSpanId", PARENT_ID),
            ("X-B3-Sampled", "1"),
        ]);
        assert_eq!(cx.trace_id().to_string(), TRACE_ID);
        assert_eq!(cx.span_id().to_string(), SPAN_ID);
        assert!(cx.is_remote() && cx.is_sampled());
    }

    #[test]
    fn extract_reads_the_single_header_form() {
        let cx = extracted(&[("b3", &format!("{TRACE_ID}-{SPAN_ID}-1-{PARENT_ID}"))]);
        assert_eq!(cx.trace_id().to_string(), TRACE_ID);
        assert!(cx.is_sampled());
        let debug = extracted(&[("b3", &format!("{TRACE_ID}-{SPAN_ID}-d"))]);
        assert!(is_debug(debug.trace_flags()));
    }

    #[test]
    fn extract_falls_back_to_w3c_traceparent() {
        let cx = extracted(&[("traceparent", &format!("00-{TRACE_ID}-{SPAN_ID}-01"))]);
        assert_eq!(cx.trace_id().to_string(), TRACE_ID);
        assert!(cx.is_sampled());
    }

    #[test]
    fn a_missing_decision_is_deferred_and_debug_is_kept() {
        let deferred = extracted(&[("X-B3-TraceId", TRACE_ID), ("X-B3-SpanId", SPAN_ID)]);
        assert!(deferred.is_valid());
        assert!(is_deferred(deferred.trace_flags()));
        let debug = extracted(&[
            ("X-B3-TraceId", TRACE_ID),
            ("X-B3-SpanId", SPAN_ID),
            ("X-B3-Flags", "1"),
        ]);
        assert!(is_debug(debug.trace_flags()));
    }

    #[test]
    fn a_64_bit_trace_id_is_kept() {
        let cx = extracted(&[
            ("X-B3-TraceId", "a3ce929d0e0e4736"),
            ("X-B3-SpanId", SPAN_ID),
        ]);
        assert_eq!(
            cx.trace_id().to_string(),
            "0000000000000000a3ce929d0e0e4736"
        );
    }

    #[test]
    fn malformed_context_is_empty() {
        assert!(!extracted(&[("X-B3-TraceId", "xyz"), ("X-B3-SpanId", SPAN_ID)]).is_valid());
        assert!(!extracted(&[("b3", "garbage")]).is_valid());
        assert!(!extracted(&[]).is_valid());
    }
}
