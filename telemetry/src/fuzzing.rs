//! The parsers of outside input, opened to the fuzz targets
//! (`fuzz_checks`, `fuzz/`) by the `fuzzing` feature: B3 and W3C headers
//! in and out, a request's whole inbound path, OTLP's headers setting, and
//! the start of the exporter a configuration names. Not part of the API:
//! it changes with the targets.
//!
//! The crate's own types stay private: these functions take and give
//! plain copies of them, so that opening the parsers opens nothing else.

use axum::http::HeaderMap;
use opentelemetry::trace::{SpanId, TraceId};
use span_export::ExportProcessor;

use crate::{
    config::{Propagators, SamplerConfig, TelemetryConfig},
    exporter, propagation,
    request::{self, RequestTrace},
    sampling::{Decision, Sampler},
    setup,
};

/// B3's four decisions (`propagation::Sampling`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    Defer,
    Deny,
    Accept,
    Debug,
}

/// A caller's ids (`propagation::Ids`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
}

/// A trace context, read or to write (`propagation::B3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub ids: Option<Ids>,
    pub sampling: Sampling,
}

/// The B3 headers as the crate reads them; `None` when they hold no
/// usable context.
pub fn read_b3(headers: &HeaderMap) -> Option<Context> {
    propagation::B3::read(headers).map(Context::from)
}

/// `traceparent` as the crate reads it; `None` when it holds no usable
/// context.
pub fn read_traceparent(headers: &HeaderMap) -> Option<Context> {
    propagation::Caller::read_w3c(headers).map(|caller| Context {
        ids: caller.ids.map(Ids::from),
        sampling: caller.sampling.into(),
    })
}

/// What the SERVER layer reads from a request's headers under
/// `propagators`, and whether the caller's span may be joined (B3).
pub fn read_caller(headers: &HeaderMap, propagators: Propagators) -> (Context, bool) {
    let caller = propagation::Caller::read(headers, propagators);
    let context = Context {
        ids: caller.ids.map(Ids::from),
        sampling: caller.sampling.into(),
    };
    (context, caller.joinable)
}

/// Writes a call's `context` into `headers`, in every format `propagators`
/// lists, as a call does.
pub fn write(context: &Context, propagators: Propagators, headers: &mut HeaderMap) {
    let call = propagation::B3 {
        ids: context.ids.map(|ids| propagation::Ids {
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            parent_span_id: ids.parent_span_id,
        }),
        sampling: match context.sampling {
            Sampling::Defer => propagation::Sampling::Defer,
            Sampling::Deny => propagation::Sampling::Deny,
            Sampling::Accept => propagation::Sampling::Accept,
            Sampling::Debug => propagation::Sampling::Debug,
        },
    };
    propagation::write(&call, propagators, headers);
}

/// What `request::begin` decided for a request (`request::RequestTrace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    Recorded {
        trace_id: TraceId,
        span_id: SpanId,
        parent_span_id: Option<SpanId>,
        debug: bool,
    },
    Unrecorded(Option<(TraceId, SpanId)>),
}

/// The whole inbound path of a request's headers, as the SERVER layer
/// runs it (`server.rs` calls `request::begin` with the service's
/// settings).
pub fn begin(
    headers: &HeaderMap,
    propagators: Propagators,
    b3_join: bool,
    sampler: &SamplerConfig,
) -> Inbound {
    match request::begin(headers, propagators, b3_join, &Sampler::new(sampler)) {
        RequestTrace::Recorded {
            trace_id,
            span_id,
            parent_span_id,
            decision,
        } => Inbound::Recorded {
            trace_id,
            span_id,
            parent_span_id,
            debug: decision == Decision::Debug,
        },
        RequestTrace::Unrecorded(ids) => Inbound::Unrecorded(ids),
    }
}

/// OTLP's headers setting (`OTEL_EXPORTER_OTLP_HEADERS`), read.
pub fn otlp_headers(list: &str) -> Result<HeaderMap, String> {
    exporter::headers(list)
}

/// The span processor `config` names, started as `Telemetry::init` starts
/// it; `None` when it names none.
pub fn start_exporter(config: &TelemetryConfig) -> Result<Option<ExportProcessor>, reqwest::Error> {
    setup::export_processor(config)
}

impl From<propagation::B3> for Context {
    fn from(b3: propagation::B3) -> Self {
        Self {
            ids: b3.ids.map(Ids::from),
            sampling: b3.sampling.into(),
        }
    }
}

impl From<propagation::Ids> for Ids {
    fn from(ids: propagation::Ids) -> Self {
        Self {
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            parent_span_id: ids.parent_span_id,
        }
    }
}

impl From<propagation::Sampling> for Sampling {
    fn from(sampling: propagation::Sampling) -> Self {
        match sampling {
            propagation::Sampling::Defer => Sampling::Defer,
            propagation::Sampling::Deny => Sampling::Deny,
            propagation::Sampling::Accept => Sampling::Accept,
            propagation::Sampling::Debug => Sampling::Debug,
        }
    }
}
