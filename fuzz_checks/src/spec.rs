//! The references the checks compare the parsers with: B3 and W3C Trace
//! Context read straight from their specifications, in the plainest code
//! that does it (byte by byte, no look-up tables, no shortcuts), sharing
//! no code with the parsers under test. Where the two disagree, one of
//! them is wrong, and the check says where.
//!
//! **B3** (openzipkin/b3-propagation): a trace id is 16 or 32 lower-hex
//! digits, a span id (and a parent) 16, and none may be all zeros; the
//! single header is `{trace}-{span}[-{decision}[-{parent}]]` or a
//! decision alone, the decision `0`, `1` or `d`; `X-B3-Sampled` is `0` or
//! `1`, and `X-B3-Flags: 1` is debug. Where the specification leaves a
//! reader a choice, the project's choices (docs/b3.md, the `b3_table`
//! crate):
//!
//! - the single `b3` header wins over the `X-B3-*` headers, and an
//!   unusable one falls back to them (the specification's precedence);
//! - of a header sent twice, the first counts;
//! - a malformed parent costs only the parent, not the trace;
//! - `X-B3-Sampled` also takes `true` and `false`, in any case (senders
//!   older than the specification, which allows a lenient reader to);
//!   any other value spoils the whole context;
//! - `X-B3-Flags` other than `1` is no flag (py_zipkin sends `0` always).
//!
//! **W3C Trace Context** (Level 2, <https://www.w3.org/TR/trace-context-2/>):
//! `traceparent` is `{version}-{trace-id}-{parent-id}-{flags}`, each field
//! lower-hex of a fixed length (2, 32, 16, 2), neither id all zeros;
//! version `ff` is invalid; version `00` is exactly 55 characters; a
//! higher version is read as `00` is, and may go on after the flags only
//! with a `-`; of the flags only `sampled` (bit 0) is read, the others
//! ignored. Two `traceparent` headers are invalid (the W3C test suite's
//! `test_traceparent_duplicated`: a new trace). `tracestate` is not read:
//! the services keep no vendor state.

use axum::http::HeaderMap;
use opentelemetry::trace::{SpanId, TraceId};
use telemetry::fuzzing::{Context, Ids, Sampling};

use crate::headers::trim_ows;

/// `text` as a number if it is exactly one of `lengths` lower-hex digits
/// long, and not zero: an id as B3 and W3C both write it.
pub fn lower_hex_id(text: &[u8], lengths: &[usize]) -> Option<u128> {
    if !lengths.contains(&text.len()) {
        return None;
    }
    let mut value: u128 = 0;
    for &byte in text {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return None,
        };
        value = value * 16 + u128::from(digit);
    }
    (value != 0).then_some(value)
}

/// A B3 trace id: 16 or 32 lower-hex digits, not all zeros.
pub fn b3_trace_id(text: &[u8]) -> Option<TraceId> {
    lower_hex_id(text, &[16, 32]).map(TraceId::from)
}

/// A span id: 16 lower-hex digits, not all zeros.
pub fn span_id(text: &[u8]) -> Option<SpanId> {
    // 16 digits fit in 64 bits.
    lower_hex_id(text, &[16]).map(|id| SpanId::from(id as u64))
}

/// B3 from request headers: the single header first, then the others.
pub fn b3(headers: &HeaderMap) -> Option<Context> {
    if let Some(single) = headers.get("b3")
        && let Some(context) = b3_single(single.as_bytes())
    {
        return Some(context);
    }
    b3_multi(headers)
}

/// B3's decision in the single header.
fn single_decision(text: &[u8]) -> Option<Sampling> {
    match text {
        b"0" => Some(Sampling::Deny),
        b"1" => Some(Sampling::Accept),
        b"d" => Some(Sampling::Debug),
        _ => None,
    }
}

/// The single `b3` header's value.
pub fn b3_single(value: &[u8]) -> Option<Context> {
    let parts: Vec<&[u8]> = value.split(|&byte| byte == b'-').collect();
    match parts.as_slice() {
        [decision] => Some(Context {
            ids: None,
            sampling: single_decision(decision)?,
        }),
        [trace, span, rest @ ..] if rest.len() <= 2 => {
            let sampling = match rest.first() {
                None => Sampling::Defer,
                Some(decision) => single_decision(decision)?,
            };
            let ids = Ids {
                trace_id: b3_trace_id(trace)?,
                span_id: span_id(span)?,
                parent_span_id: rest.get(1).and_then(|parent| span_id(parent)),
            };
            Some(Context {
                ids: Some(ids),
                sampling,
            })
        }
        _ => None,
    }
}

/// The `X-B3-*` headers.
pub fn b3_multi(headers: &HeaderMap) -> Option<Context> {
    let first = |name: &str| headers.get(name).map(|value| value.as_bytes());
    let mut sampling = match first("x-b3-sampled") {
        None => Sampling::Defer,
        Some(b"1") => Sampling::Accept,
        Some(b"0") => Sampling::Deny,
        Some(value) if value.eq_ignore_ascii_case(b"true") => Sampling::Accept,
        Some(value) if value.eq_ignore_ascii_case(b"false") => Sampling::Deny,
        Some(_) => return None,
    };
    if first("x-b3-flags") == Some(b"1") {
        sampling = Sampling::Debug;
    }
    let Some(trace) = first("x-b3-traceid") else {
        // A decision alone, or nothing.
        return (sampling != Sampling::Defer).then_some(Context {
            ids: None,
            sampling,
        });
    };
    let ids = Ids {
        trace_id: b3_trace_id(trace)?,
        span_id: span_id(first("x-b3-spanid")?)?,
        parent_span_id: first("x-b3-parentspanid").and_then(span_id),
    };
    Some(Context {
        ids: Some(ids),
        sampling,
    })
}

/// Two lower-hex digits as a byte.
fn lower_hex_byte(text: &[u8]) -> Option<u8> {
    let digit = |byte: u8| match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    };
    match text {
        [high, low] => Some(digit(*high)? * 16 + digit(*low)?),
        _ => None,
    }
}

/// W3C `traceparent` from request headers: the caller's trace and span
/// (the SERVER span's parent), and its sampled flag as accept or deny.
pub fn traceparent(headers: &HeaderMap) -> Option<Context> {
    let mut values = headers.get_all("traceparent").iter();
    let value = trim_ows(values.next()?.as_bytes());
    if values.next().is_some() {
        return None;
    }
    if value.len() < 55 {
        return None;
    }
    let version = lower_hex_byte(&value[0..2])?;
    if version == 0xff {
        return None;
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let trace_id = TraceId::from(lower_hex_id(&value[3..35], &[32])?);
    let parent_id = span_id(&value[36..52])?;
    let flags = lower_hex_byte(&value[53..55])?;
    let fits = match version {
        0 => value.len() == 55,
        _ => value.len() == 55 || value[55] == b'-',
    };
    if !fits {
        return None;
    }
    Some(Context {
        ids: Some(Ids {
            trace_id,
            span_id: parent_id,
            parent_span_id: None,
        }),
        sampling: if flags & 1 == 1 {
            Sampling::Accept
        } else {
            Sampling::Deny
        },
    })
}

/// `id`'s digits, `digits` of them, as B3 and W3C write ids.
pub fn spelled(id: u128, digits: usize) -> String {
    format!("{id:0digits$x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{decode, encode};

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn w3c(value: &str) -> Option<Context> {
        traceparent(&decode(&encode(&[("traceparent", value)])))
    }

    #[test]
    fn the_w3c_test_suite_cases_read_as_the_specification_says() {
        let sampled = w3c(&format!("00-{TRACE}-{SPAN}-01")).unwrap();
        assert_eq!(sampled.sampling, Sampling::Accept);
        assert_eq!(
            sampled.ids.unwrap().trace_id,
            TraceId::from_hex(TRACE).unwrap()
        );
        // Unknown flags are ignored; the sampled bit alone counts.
        assert_eq!(
            w3c(&format!("00-{TRACE}-{SPAN}-02")).unwrap().sampling,
            Sampling::Deny
        );
        assert!(
            w3c(&format!(
                "cc-{TRACE}-{SPAN}-01-what-the-future-will-be-like"
            ))
            .is_some()
        );
        for refused in [
            format!("ff-{TRACE}-{SPAN}-01"),
            format!(".0-{TRACE}-{SPAN}-01"),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("000-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-01."),
            format!("00-{TRACE}-{SPAN}-01-"),
            format!("cc-{TRACE}-{SPAN}-01.what-the-future-will-be-like"),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00-{TRACE}-{SPAN}-0"),
            format!("00-{TRACE}-{SPAN}-001"),
            format!("00-{TRACE}-{SPAN}-.0"),
            format!("00-{}-{SPAN}-01", &TRACE[1..]),
            "00-1-1-01".to_owned(),
        ] {
            assert_eq!(w3c(&refused), None, "{refused}");
        }
        let twice = encode(&[
            ("traceparent", format!("00-{TRACE}-{SPAN}-01")),
            ("traceparent", format!("00-{TRACE}-{SPAN}-01")),
        ]);
        assert_eq!(traceparent(&decode(&twice)), None);
    }

    #[test]
    fn b3_reads_as_the_specification_and_the_table_say() {
        let single = b3_single(format!("{TRACE}-{SPAN}-1-{SPAN}").as_bytes()).unwrap();
        assert_eq!(single.sampling, Sampling::Accept);
        assert!(single.ids.unwrap().parent_span_id.is_some());
        assert_eq!(
            b3_single(b"d"),
            Some(Context {
                ids: None,
                sampling: Sampling::Debug
            })
        );
        assert_eq!(
            b3_single(format!("{TRACE}-{SPAN}-1-{SPAN}-1").as_bytes()),
            None
        );
        assert_eq!(b3_single(b""), None);
        let multi = |pairs: &[(&str, &str)]| b3(&decode(&encode(pairs)));
        assert_eq!(
            multi(&[("X-B3-Sampled", "TRUE")]).unwrap().sampling,
            Sampling::Accept
        );
        assert_eq!(multi(&[("X-B3-Flags", "0")]), None);
        assert_eq!(
            multi(&[("X-B3-TraceId", TRACE), ("X-B3-Sampled", "1")]),
            None
        );
        assert_eq!(spelled(0xab, 16), "00000000000000ab");
    }
}
