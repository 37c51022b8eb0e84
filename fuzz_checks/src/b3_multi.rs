//! B3's multi-header form (`X-B3-TraceId`, `X-B3-SpanId`,
//! `X-B3-ParentSpanId`, `X-B3-Sampled`, `X-B3-Flags`), read by
//! `telemetry`'s B3 reader from any set of header names and values.
//!
//! Why: these headers come from anyone who can reach a service, and what
//! the reader accepts becomes the ids of our spans and the decision to
//! record them. The rules:
//!
//! - no input panics the reader;
//! - it reads exactly what [`crate::spec::b3`], the specification's plain
//!   reading, reads: the same ids and the same decision, or nothing;
//! - every id it keeps is spelled, digit for digit, in a header the caller
//!   sent, as 16 (or, for a trace id, 32) lower-hex digits: no non-hex
//!   digit, no wrong length, no id of zeros gets in;
//! - for the forms the `b3_table` crate lists, it reads what the table
//!   says ([`crate::table::check_b3_reading`]).
//!
//! Input: header lines ([`crate::headers`]).

use axum::http::HeaderMap;
use opentelemetry::trace::{SpanId, TraceId};
use telemetry::fuzzing::{self, Context};

use crate::{
    headers,
    spec::{self, spelled},
    table,
};

pub fn check(data: &[u8]) {
    check_headers(&headers::decode(data));
}

/// The rules of B3 reading, for any request headers (both forms: the
/// single header's target uses it too).
pub fn check_headers(headers: &HeaderMap) {
    let read = fuzzing::read_b3(headers);
    let reference = spec::b3(headers);
    assert_eq!(
        read, reference,
        "B3 read {read:?} from {headers:?}; the specification reads {reference:?}"
    );
    if let Some(context) = read {
        ids_are_spelled_as_sent(headers, &context);
    }
    table::check_b3_reading(headers, read);
}

/// Every id in `context` is one the caller spelled in a B3 header, in
/// lower-hex digits of a length B3 allows.
fn ids_are_spelled_as_sent(headers: &HeaderMap, context: &Context) {
    let Some(ids) = context.ids else {
        return;
    };
    // What the caller sent as ids: the X-B3 values and the single
    // header's parts.
    let mut sent: Vec<&[u8]> = ["x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid"]
        .iter()
        .flat_map(|name| headers.get_all(*name))
        .map(|value| value.as_bytes())
        .collect();
    for single in headers.get_all("b3") {
        sent.extend(single.as_bytes().split(|&byte| byte == b'-'));
    }
    let was_sent = |text: String| sent.contains(&text.as_bytes());
    let trace = u128::from_be_bytes(ids.trace_id.to_bytes());
    assert!(
        was_sent(spelled(trace, 16)) || was_sent(spelled(trace, 32)),
        "trace id {} is not spelled in 16 or 32 lower-hex digits in {headers:?}",
        ids.trace_id
    );
    let span_ids: [Option<SpanId>; 2] = [Some(ids.span_id), ids.parent_span_id];
    for span in span_ids.into_iter().flatten() {
        let id = u128::from(u64::from_be_bytes(span.to_bytes()));
        assert!(
            was_sent(spelled(id, 16)),
            "span id {span} is not spelled in 16 lower-hex digits in {headers:?}"
        );
    }
    assert_ne!(ids.trace_id, TraceId::INVALID, "a trace id of zeros");
    assert!(
        span_ids
            .into_iter()
            .flatten()
            .all(|span| span != SpanId::INVALID),
        "a span id of zeros"
    );
}
