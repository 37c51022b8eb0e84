//! Trace context in HTTP headers: B3 and W3C `traceparent`, in and out, as
//! `OTEL_PROPAGATORS` lists them ([`Propagators`]).
//!
//! B3 is what Zipkin, Brave and py_zipkin speak, so by default it is what
//! we send (`b3multi`) and what we read first; W3C `traceparent` is read
//! too, so that callers on OpenTelemetry's default propagator join the
//! trace, and sent when `tracecontext` is listed, so that such callees do.
//! docs/b3.md's table "B3 in, B3 out" shows what every form does, and the
//! tests check each row.
//!
//! - [`b3`] reads and writes the B3 headers, [`w3c`] `traceparent` (both
//!   by hand: why, is said in each).
//! - [`Caller::read`]: what a caller sent, its ids and its decision. A
//!   missing, malformed or partial context never fails a request: the
//!   request starts a new trace.
//! - [`write`]: the headers of a call, in every format listed: all the
//!   ids, and this service's own decision, never a deferred one passed on.
//!
//! Nothing here decides whether a trace is recorded: that is
//! [`crate::sampling`], from what [`Caller`] read.

pub(crate) mod b3;
#[cfg(test)]
mod conformance;
mod w3c;

use std::sync::OnceLock;

use axum::http::HeaderMap;

pub(crate) use b3::{B3, Ids, Sampling};

use crate::config::Propagators;

/// The service's `OTEL_PROPAGATORS`, for calls: a call is made anywhere in
/// the service's code, far from its settings, as OpenTelemetry's own
/// global propagator is.
static PROPAGATORS: OnceLock<Propagators> = OnceLock::new();

/// Sets the formats of every call from now on; the first setting holds
/// (`Telemetry::init` runs once).
pub(crate) fn install(propagators: Propagators) {
    let _ = PROPAGATORS.set(propagators);
}

/// The formats calls are sent in: as installed, or the default.
pub(crate) fn installed() -> Propagators {
    PROPAGATORS.get().copied().unwrap_or_default()
}

/// Writes the context of a call, `call`, into its `headers`, in every
/// format `propagators` lists.
pub(crate) fn write(call: &B3, propagators: Propagators, headers: &mut HeaderMap) {
    if propagators.sends_b3_multi() {
        call.write_multi(headers);
    }
    if propagators.sends_b3_single() {
        call.write_single(headers);
    }
    if propagators.sends_trace_context() {
        w3c::write(call, headers);
    }
}

/// What a caller sent: its ids, if it sent any usable ones, and its
/// decision (B3's four states; W3C's sampled flag as accept or deny).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    pub ids: Option<Ids>,
    pub sampling: Sampling,
    /// B3 callers may share their span with us (join); W3C callers never.
    pub joinable: bool,
}

impl Caller {
    /// Reads the caller's context from request headers, in B3 or W3C: the
    /// one `propagators` puts first wins when a request carries both;
    /// with `none`, nothing is read.
    pub(crate) fn read(headers: &HeaderMap, propagators: Propagators) -> Self {
        let read = if !propagators.reads() {
            None
        } else if propagators.reads_w3c_first() {
            Self::read_w3c(headers).or_else(|| Self::read_b3(headers))
        } else {
            Self::read_b3(headers).or_else(|| Self::read_w3c(headers))
        };
        read.unwrap_or(Self {
            ids: None,
            sampling: Sampling::Defer,
            joinable: false,
        })
    }

    fn read_b3(headers: &HeaderMap) -> Option<Self> {
        B3::read(headers).map(|b3| Self {
            ids: b3.ids,
            sampling: b3.sampling,
            joinable: true,
        })
    }

    pub(crate) fn read_w3c(headers: &HeaderMap) -> Option<Self> {
        let (trace_id, span_id, sampled) = w3c::read(headers)?;
        Some(Self {
            ids: Some(Ids {
                trace_id,
                span_id,
                parent_span_id: None,
            }),
            sampling: if sampled {
                Sampling::Accept
            } else {
                Sampling::Deny
            },
            joinable: false,
        })
    }
}
