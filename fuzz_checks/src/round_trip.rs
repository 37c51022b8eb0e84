//! Every context a call can carry (ids or none, 64- or 128-bit trace ids,
//! a parent or none, each of B3's four decisions), written by `telemetry`
//! under every `OTEL_PROPAGATORS` list, then read back by the SERVER
//! layer's reader under the same list.
//!
//! Why: a service reads what its neighbours write, and they are the same
//! crate: whatever one writes, the next must read as the same context, or
//! traces break at that hop. The rules:
//!
//! - writing never panics, and writes only the headers of the formats
//!   listed;
//! - each format written is read by the specifications' plain readers
//!   ([`crate::spec`]) as exactly what that format carries;
//! - reading it back gives the same context, as far as the format read
//!   first carries it: B3 carries all of it (the single header leaves the
//!   parent out when there is no decision, as it comes after the
//!   decision); W3C carries the trace and span, not the parent, and its
//!   one flag, so debug reads back as accept, and a lone "not sampled"
//!   travels with ids made for it.
//!
//! Input: the first byte picks the list ([`crate::inbound::PROPAGATORS`]);
//! the second has ids (bit 0), a 64-bit trace id (bit 1), a parent (bit
//! 2) and the decision (bits 3 and 4); then 16 bytes of trace id, 8 of span
//! id, 8 of parent (zeros where the input ends). A context with an id of
//! zeros is not one a call can carry (the SDK makes no such id): skipped.

use axum::http::HeaderMap;
use opentelemetry::trace::{SpanId, TraceId};
use telemetry::{
    Propagators,
    fuzzing::{self, Context, Ids, Sampling},
};

use crate::{inbound::PROPAGATORS, spec};

/// The context `data` describes, and the list to write it under; `None`
/// for one with an id of zeros.
pub fn context(data: &[u8]) -> Option<(&'static str, Context)> {
    let byte = |at: usize| data.get(at).copied().unwrap_or(0);
    let list = PROPAGATORS[usize::from(byte(0)) % PROPAGATORS.len()];
    let flags = byte(1);
    let mut trace = [0u8; 16];
    let mut span = [0u8; 8];
    let mut parent = [0u8; 8];
    for (i, slot) in trace
        .iter_mut()
        .chain(&mut span)
        .chain(&mut parent)
        .enumerate()
    {
        *slot = byte(2 + i);
    }
    if flags & 2 != 0 {
        // A 64-bit trace id, as py_zipkin makes them.
        trace[..8].fill(0);
    }
    let sampling = match (flags >> 3) & 3 {
        0 => Sampling::Defer,
        1 => Sampling::Deny,
        2 => Sampling::Accept,
        _ => Sampling::Debug,
    };
    let ids = if flags & 1 != 0 {
        let parent_span_id = if flags & 4 != 0 {
            Some(valid_span(parent)?)
        } else {
            None
        };
        let trace_id = TraceId::from_bytes(trace);
        if trace_id == TraceId::INVALID {
            return None;
        }
        Some(Ids {
            trace_id,
            span_id: valid_span(span)?,
            parent_span_id,
        })
    } else {
        None
    };
    Some((list, Context { ids, sampling }))
}

fn valid_span(bytes: [u8; 8]) -> Option<SpanId> {
    let id = SpanId::from_bytes(bytes);
    (id != SpanId::INVALID).then_some(id)
}

/// The input [`check`] reads as `context` written under `PROPAGATORS[list]`.
pub fn encode(list: u8, context: &Context) -> Vec<u8> {
    let sampling = match context.sampling {
        Sampling::Defer => 0,
        Sampling::Deny => 1,
        Sampling::Accept => 2,
        Sampling::Debug => 3,
    };
    let mut flags = sampling << 3;
    let mut data = vec![list, 0];
    if let Some(ids) = context.ids {
        flags |= 1;
        if ids.trace_id.to_bytes()[..8] == [0; 8] {
            flags |= 2;
        }
        data.extend_from_slice(&ids.trace_id.to_bytes());
        data.extend_from_slice(&ids.span_id.to_bytes());
        if let Some(parent) = ids.parent_span_id {
            flags |= 4;
            data.extend_from_slice(&parent.to_bytes());
        }
    }
    data[1] = flags;
    data
}

pub fn check(data: &[u8]) {
    if let Some((list, context)) = context(data) {
        check_context(list, &context);
    }
}

/// What one format carries of a context: `None` when it writes nothing.
/// W3C's ids for a lone "not sampled" are made when written: `Made`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Carried {
    Exactly(Context),
    Made(Sampling),
}

/// The rules of the round trip, for `context` under `list`.
pub fn check_context(list: &str, context: &Context) {
    let propagators: Propagators = list.parse().expect("a list the crate takes");
    let listed = |name: &str| list.split(',').any(|listed| listed == name);
    let mut headers = HeaderMap::new();
    fuzzing::write(context, propagators, &mut headers);
    let says = |what: &str| format!("{what}: {context:?} under {list} wrote {headers:?}");

    // Only the headers of the formats listed.
    let mut allowed = Vec::new();
    if listed("b3multi") {
        allowed.extend([
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-parentspanid",
            "x-b3-sampled",
            "x-b3-flags",
        ]);
    }
    if listed("b3") {
        allowed.push("b3");
    }
    if listed("tracecontext") {
        allowed.push("traceparent");
    }
    for name in headers.keys() {
        assert!(
            allowed.contains(&name.as_str()),
            "{}",
            says("a header of a format not listed")
        );
    }

    // Each format, read by the specification.
    let single = listed("b3").then(|| b3_single_carries(context)).flatten();
    let multi = listed("b3multi")
        .then(|| b3_multi_carries(context))
        .flatten();
    let w3c = listed("tracecontext")
        .then(|| w3c_carries(context))
        .flatten();
    let single_read = headers
        .get("b3")
        .and_then(|value| spec::b3_single(value.as_bytes()));
    assert_eq!(
        single_read.map(Carried::Exactly),
        single,
        "{}",
        says("the b3 header")
    );
    let multi_read = spec::b3_multi(&headers);
    assert_eq!(
        multi_read.map(Carried::Exactly),
        multi,
        "{}",
        says("the X-B3 headers")
    );
    assert!(
        same(spec::traceparent(&headers), w3c),
        "{}",
        says("traceparent")
    );

    // Read back: the format read first, or the other when it has nothing.
    let b3 = single.or(multi);
    let expected = if !propagators.reads() {
        None
    } else if list.ends_with("tracecontext") {
        w3c.or(b3)
    } else {
        b3.or(w3c)
    };
    let (read, _) = fuzzing::read_caller(&headers, propagators);
    let read = (read.ids.is_some() || read.sampling != Sampling::Defer).then_some(read);
    assert!(
        same(read, expected),
        "{}",
        says(&format!("read back {read:?}, expected {expected:?}"))
    );
}

/// Whether `read` is what was `carried`.
fn same(read: Option<Context>, carried: Option<Carried>) -> bool {
    match (read, carried) {
        (None, None) => true,
        (Some(read), Some(Carried::Exactly(carried))) => read == carried,
        (Some(read), Some(Carried::Made(sampling))) => {
            read.sampling == sampling && read.ids.is_some_and(|ids| ids.parent_span_id.is_none())
        }
        _ => false,
    }
}

/// The single `b3` header: everything, but the parent only after a
/// decision; nothing for no ids and no decision.
fn b3_single_carries(context: &Context) -> Option<Carried> {
    let mut carried = *context;
    if carried.sampling == Sampling::Defer {
        if let Some(ids) = &mut carried.ids {
            ids.parent_span_id = None;
        } else {
            return None;
        }
    }
    Some(Carried::Exactly(carried))
}

/// The `X-B3-*` headers: everything; nothing for no ids and no decision.
fn b3_multi_carries(context: &Context) -> Option<Carried> {
    (context.ids.is_some() || context.sampling != Sampling::Defer)
        .then_some(Carried::Exactly(*context))
}

/// `traceparent`: the trace and span, and sampled or not (debug, and no
/// decision, as sampled: a call with ids always carries one, and recording
/// is the safe side); a lone "not sampled" with ids made for it; nothing
/// else without ids.
fn w3c_carries(context: &Context) -> Option<Carried> {
    let sampling = match context.sampling {
        Sampling::Deny => Sampling::Deny,
        _ => Sampling::Accept,
    };
    match context.ids {
        Some(ids) => Some(Carried::Exactly(Context {
            ids: Some(Ids {
                parent_span_id: None,
                ..ids
            }),
            sampling,
        })),
        None if context.sampling == Sampling::Deny => Some(Carried::Made(Sampling::Deny)),
        None => None,
    }
}
