//! The whole inbound path of a request's trace headers, as the SERVER
//! layer runs it (`telemetry`'s `request::begin`: read the caller, place
//! the SERVER span, decide once), for any set of header names and values,
//! under every `OTEL_PROPAGATORS` list the crate takes, with B3 join on
//! and off, and under each kind of sampler.
//!
//! Why: this is what every request to every service goes through, before
//! any code of the service runs. The rules:
//!
//! - no input panics it;
//! - the caller it reads is the specifications' reading
//!   ([`crate::spec`]) of the format the list puts first (the one listed
//!   last), or of the other when that one has nothing; with `none`,
//!   nothing;
//! - with a caller's ids, the request stays in the caller's trace: a B3
//!   caller's span is joined (its id becomes the SERVER span's, its parent
//!   the SERVER span's parent) when `B3_JOIN` is on; otherwise the
//!   caller's span is the parent and the SERVER span gets an id of its
//!   own. Without them, a fresh root: no parent, and no trace at all when
//!   not recorded;
//! - every id it keeps is a valid one (no zeros);
//! - the decision is the caller's where the sampler follows it (debug
//!   always records), else the root sampler's on the trace id;
//! - for the rows of the `b3_table` crate, what the table says
//!   ([`crate::table::check_inbound`]).
//!
//! Input: the first byte picks the `OTEL_PROPAGATORS` list
//! ([`PROPAGATORS`]), the second `B3_JOIN` (bit 0 set: off) and the
//! sampler ([`sampler`], from the other bits); the rest is header lines
//! ([`crate::headers`]).

use axum::http::HeaderMap;
use opentelemetry::trace::{SpanId, TraceId};
use telemetry::{
    Propagators, RootSampler, SamplerConfig,
    fuzzing::{self, Context, Inbound, Sampling},
};

use crate::{headers, spec, table};

/// Every `OTEL_PROPAGATORS` list the crate takes, up to repeats and
/// spaces: `none`, and each order of each set of `b3multi`, `b3` and
/// `tracecontext`.
pub const PROPAGATORS: [&str; 16] = [
    "b3multi",
    "b3",
    "tracecontext",
    "none",
    "b3multi,b3",
    "b3,b3multi",
    "b3multi,tracecontext",
    "tracecontext,b3multi",
    "b3,tracecontext",
    "tracecontext,b3",
    "b3multi,b3,tracecontext",
    "b3multi,tracecontext,b3",
    "b3,b3multi,tracecontext",
    "b3,tracecontext,b3multi",
    "tracecontext,b3multi,b3",
    "tracecontext,b3,b3multi",
];

/// The samplers, by number: the default (`parentbased_always_on`) first.
pub fn sampler(choice: u8) -> SamplerConfig {
    let (parent_based, root) = match choice % 6 {
        0 => (true, RootSampler::AlwaysOn),
        1 => (false, RootSampler::AlwaysOn),
        2 => (true, RootSampler::AlwaysOff),
        3 => (false, RootSampler::AlwaysOff),
        4 => (true, RootSampler::TraceIdRatio(0.5)),
        _ => (false, RootSampler::TraceIdRatio(0.25)),
    };
    SamplerConfig { parent_based, root }
}

/// The input that [`check`] reads as a request with `headers` (lines), under
/// `PROPAGATORS[list]`, with join on or off, and `sampler(sampler_choice)`.
pub fn encode(list: u8, b3_join: bool, sampler_choice: u8, headers: &[u8]) -> Vec<u8> {
    let mut data = vec![list, (sampler_choice << 1) | u8::from(!b3_join)];
    data.extend_from_slice(headers);
    data
}

pub fn check(data: &[u8]) {
    let list = PROPAGATORS[usize::from(data.first().copied().unwrap_or(0)) % PROPAGATORS.len()];
    let control = data.get(1).copied().unwrap_or(0);
    let b3_join = control & 1 == 0;
    let headers = headers::decode(data.get(2..).unwrap_or_default());
    check_request(&headers, list, b3_join, sampler(control >> 1));
}

/// The rules of the inbound path, for a request with `headers` to a
/// service with `OTEL_PROPAGATORS=list`, `B3_JOIN=b3_join` and `sampler`.
pub fn check_request(headers: &HeaderMap, list: &str, b3_join: bool, sampler: SamplerConfig) {
    let propagators: Propagators = list.parse().expect("a list the crate takes");
    let (caller, joinable) = caller(headers, list);
    assert_eq!(
        fuzzing::read_caller(headers, propagators),
        (
            caller.unwrap_or(Context {
                ids: None,
                sampling: Sampling::Defer
            }),
            joinable
        ),
        "the caller read from {headers:?} under {list}"
    );
    let inbound = fuzzing::begin(headers, propagators, b3_join, &sampler);
    let says = |what: &str| {
        format!("{what}: {inbound:?} from {headers:?} under {list}, join {b3_join}, {sampler:?}")
    };

    // Where the SERVER span goes.
    let (trace_id, span_id, parent_span_id) = match inbound {
        Inbound::Recorded {
            trace_id,
            span_id,
            parent_span_id,
            ..
        } => (Some(trace_id), Some(span_id), parent_span_id),
        Inbound::Unrecorded(ids) => (ids.map(|ids| ids.0), ids.map(|ids| ids.1), None),
    };
    let recorded = matches!(inbound, Inbound::Recorded { .. });
    match caller.and_then(|caller| caller.ids) {
        Some(ids) => {
            assert_eq!(
                trace_id,
                Some(ids.trace_id),
                "{}",
                says("the caller's trace")
            );
            if b3_join && joinable {
                assert_eq!(
                    span_id,
                    Some(ids.span_id),
                    "{}",
                    says("the caller's span joined")
                );
                if recorded {
                    assert_eq!(
                        parent_span_id,
                        ids.parent_span_id,
                        "{}",
                        says("the caller's parent")
                    );
                }
            } else if recorded {
                assert_eq!(
                    parent_span_id,
                    Some(ids.span_id),
                    "{}",
                    says("the caller as parent")
                );
            }
        }
        None => {
            assert_eq!(parent_span_id, None, "{}", says("a root has no parent"));
            if !recorded {
                assert_eq!(inbound, Inbound::Unrecorded(None), "{}", says("no trace"));
            }
        }
    }
    assert!(
        trace_id != Some(TraceId::INVALID)
            && span_id != Some(SpanId::INVALID)
            && parent_span_id != Some(SpanId::INVALID),
        "{}",
        says("an id of zeros")
    );

    // The decision.
    let sampling = caller.map_or(Sampling::Defer, |caller| caller.sampling);
    match inbound {
        Inbound::Recorded {
            trace_id, debug, ..
        } => {
            assert_eq!(
                decision(&sampler, sampling, Some(trace_id)),
                Some(if debug {
                    Decision::Debug
                } else {
                    Decision::Record
                }),
                "{}",
                says("the decision")
            );
        }
        Inbound::Unrecorded(ids) => {
            // A fresh trace's id is not kept: the decision is then known
            // only when it does not depend on the id.
            let decided = decision(&sampler, sampling, ids.map(|ids| ids.0));
            assert!(
                matches!(decided, Some(Decision::Drop) | None),
                "{}",
                says("the decision")
            );
        }
    }

    // The table says what happens under the default sampler.
    if sampler == SamplerConfig::default() {
        table::check_inbound(headers, propagators, b3_join, inbound);
    }
}

/// The caller by the specifications, under `list`, and whether its span
/// may be joined (B3's may; W3C has no shared spans).
fn caller(headers: &HeaderMap, list: &str) -> (Option<Context>, bool) {
    if list == "none" {
        return (None, false);
    }
    let b3 = spec::b3(headers).map(|context| (context, true));
    let w3c = spec::traceparent(headers).map(|context| (context, false));
    // When a request carries both, the format listed last wins, as in
    // OpenTelemetry's composite propagator; either is read whatever the
    // list, so a neighbour on the other format still joins the trace.
    let read = if list.ends_with("tracecontext") {
        w3c.or(b3)
    } else {
        b3.or(w3c)
    };
    (
        read.map(|(context, _)| context),
        read.is_some_and(|(_, b3)| b3),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Drop,
    Record,
    Debug,
}

/// The decision for a caller's `sampling` under `sampler`, on the trace
/// `trace_id`; `None` when it depends on the trace id and that is not
/// known. B3's debug always records; a parent-based sampler follows a
/// caller's accept or deny; anything else is the root sampler's.
fn decision(
    sampler: &SamplerConfig,
    sampling: Sampling,
    trace_id: Option<TraceId>,
) -> Option<Decision> {
    match sampling {
        Sampling::Debug => return Some(Decision::Debug),
        Sampling::Accept if sampler.parent_based => return Some(Decision::Record),
        Sampling::Deny if sampler.parent_based => return Some(Decision::Drop),
        _ => {}
    }
    let records = match sampler.root {
        RootSampler::AlwaysOn => true,
        RootSampler::AlwaysOff => false,
        RootSampler::TraceIdRatio(ratio) => ratio_records(ratio, trace_id?),
    };
    Some(if records {
        Decision::Record
    } else {
        Decision::Drop
    })
}

/// OpenTelemetry's `TraceIdRatioBased`: the trace id's low 64 bits,
/// halved, below `ratio` of 2^63.
fn ratio_records(ratio: f64, trace_id: TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let bytes = trace_id.to_bytes();
    let low = u64::from_be_bytes(bytes[8..].try_into().expect("8 bytes"));
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    (low >> 1) < bound
}
