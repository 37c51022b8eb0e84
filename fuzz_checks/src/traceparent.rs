//! W3C `traceparent`, read by `telemetry`'s W3C reader, next to any other
//! headers (`tracestate`, a second `traceparent`, B3's).
//!
//! Why: callers on OpenTelemetry's default propagator send it, and what
//! the reader accepts becomes the trace our spans join and whether they
//! are recorded. The rules:
//!
//! - no input panics the reader;
//! - it reads exactly what [`crate::spec::traceparent`], the
//!   specification's plain reading (Level 2: version `00` exactly, higher
//!   versions as `00`, `ff` refused, only the sampled flag read, two
//!   headers refused), reads;
//! - the ids it keeps are the header's, digit for digit: 32 and 16
//!   lower-hex digits at their places, neither all zeros; W3C has no
//!   parent to pass and no debug, so neither is read;
//! - `tracestate` changes nothing: the services keep no vendor state.
//!
//! Input: the first line is the `traceparent` value (sent first, if HTTP
//! allows it as a value); the other lines are more headers
//! ([`crate::headers`]).

use axum::http::{HeaderMap, HeaderName};
use telemetry::fuzzing::{self, Sampling};

use crate::{
    headers,
    spec::{self, spelled},
};

pub fn check(data: &[u8]) {
    let (value, rest) = headers::first_line(data);
    let mut headers = HeaderMap::new();
    headers::append(&mut headers, HeaderName::from_static("traceparent"), value);
    for line in rest.split(|&byte| byte == b'\n') {
        headers::append_line(&mut headers, line);
    }
    check_headers(&headers);
}

/// The rules of W3C reading, for any request headers.
pub fn check_headers(headers: &HeaderMap) {
    let read = fuzzing::read_traceparent(headers);
    let reference = spec::traceparent(headers);
    assert_eq!(
        read, reference,
        "traceparent read {read:?} from {headers:?}; the specification reads {reference:?}"
    );
    if let Some(context) = read {
        let ids = context.ids.expect("a W3C context always has ids");
        let sent = headers["traceparent"].as_bytes();
        let trace = u128::from_be_bytes(ids.trace_id.to_bytes());
        let span = u128::from(u64::from_be_bytes(ids.span_id.to_bytes()));
        assert_eq!(
            (spelled(trace, 32).as_bytes(), spelled(span, 16).as_bytes()),
            (&sent[3..35], &sent[36..52]),
            "the ids read are not the ones sent in {sent:?}"
        );
        assert!(trace != 0 && span != 0, "an id of zeros read from {sent:?}");
        assert_eq!(ids.parent_span_id, None, "W3C sends no parent");
        assert!(
            matches!(context.sampling, Sampling::Accept | Sampling::Deny),
            "W3C's decision is sampled or not: {:?}",
            context.sampling
        );
    }
    let mut without = headers.clone();
    without.remove("tracestate");
    assert_eq!(
        fuzzing::read_traceparent(&without),
        read,
        "tracestate changed the reading of {headers:?}"
    );
}
