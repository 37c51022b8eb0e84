//! Trace context in HTTP headers: B3 in and out, W3C `traceparent` in.
//!
//! B3 is what Zipkin, Brave and py_zipkin speak, so it is what we send and
//! what we read first; W3C `traceparent` is read too, so that callers on
//! OpenTelemetry's default propagator join the trace. The README's table
//! "B3 in, B3 out" shows what every form does, and the tests check each row.
//!
//! - [`b3`] reads and writes the headers (by hand: why, is said there).
//! - [`Caller::read`]: what a caller sent, its ids and its decision. A
//!   missing, malformed or partial context never fails a request: the
//!   request starts a new trace.
//! - [`Caller::place`]: where the SERVER span goes in the caller's trace.
//!   With *join* on (B3's own model, and the default), it takes the
//!   caller's span id as its own (`join.rs` says why and how); with it off,
//!   that id becomes its parent, as OpenTelemetry does.
//! - [`B3::write`]: the headers of a call: all four B3 ids, and this
//!   service's own decision, never a deferred one passed on.
//!
//! Nothing here decides whether a trace is recorded: that is
//! [`crate::sampling`], from what [`Caller`] read.

pub(crate) mod b3;
#[cfg(test)]
mod conformance;
pub(crate) mod join;

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderName};
use opentelemetry::{
    propagation::TextMapPropagator,
    trace::{SpanId, TraceContextExt, TraceId},
};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;

pub(crate) use b3::{B3, Ids, Sampling};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static W3C: LazyLock<TraceContextPropagator> = LazyLock::new(TraceContextPropagator::new);

/// What a caller sent: its ids, if it sent any usable ones, and its
/// decision (B3's four states; W3C's sampled flag as accept or deny).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    pub ids: Option<Ids>,
    pub sampling: Sampling,
    /// B3 callers may share their span with us (join); W3C callers never.
    pub joinable: bool,
}

/// Where the SERVER span of a request goes: the trace, its own id when it
/// joins the caller's span, and its parent. `None` where this service
/// makes a new one (the trace), or there is none (the parent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub parent_span_id: Option<SpanId>,
}

impl Caller {
    /// Reads the caller's context from request headers: B3 first, then W3C.
    pub(crate) fn read(headers: &HeaderMap) -> Self {
        if let Some(b3) = B3::read(headers) {
            return Self {
                ids: b3.ids,
                sampling: b3.sampling,
                joinable: true,
            };
        }
        // Most requests carry no traceparent: skip the propagator's work.
        let caller = headers
            .contains_key(TRACEPARENT)
            .then(|| W3C.extract(&HeaderExtractor(headers)))
            .map(|context| context.span().span_context().clone())
            .filter(|span| span.is_valid());
        match caller {
            Some(span) => Self {
                ids: Some(Ids {
                    trace_id: span.trace_id(),
                    span_id: span.span_id(),
                    parent_span_id: None,
                }),
                sampling: if span.is_sampled() {
                    Sampling::Accept
                } else {
                    Sampling::Deny
                },
                joinable: false,
            },
            None => Self {
                ids: None,
                sampling: Sampling::Defer,
                joinable: false,
            },
        }
    }

    /// Where this request's SERVER span goes in the caller's trace; with
    /// `join`, a B3 caller's span becomes its own, and the caller's parent
    /// its parent (without one, it is a root that keeps the caller's trace).
    pub(crate) fn place(&self, join: bool) -> Place {
        match self.ids {
            None => Place {
                trace_id: None,
                span_id: None,
                parent_span_id: None,
            },
            Some(ids) if join && self.joinable => Place {
                trace_id: Some(ids.trace_id),
                span_id: Some(ids.span_id),
                parent_span_id: ids.parent_span_id,
            },
            Some(ids) => Place {
                trace_id: Some(ids.trace_id),
                span_id: None,
                parent_span_id: Some(ids.span_id),
            },
        }
    }
}
