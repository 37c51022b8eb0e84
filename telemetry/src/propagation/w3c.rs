//! W3C Trace Context: `traceparent` in, from callers on OpenTelemetry's
//! default propagator, and out, for callees on it, which read no B3.
//!
//! Written by hand for the same reason as B3. Out: the value is built from
//! the call's ids and decision in one buffer, without an OpenTelemetry
//! context to carry them. In: the SDK's `TraceContextPropagator` (0.33)
//! reads what the specification refuses: ids of any length up to theirs
//! (`00-1-1-01` is trace 1, span 1), a version or flags of one digit or a
//! `+` sign, a `-` after version 00's flags, and the first of two
//! `traceparent` headers (the fuzz target `traceparent` found these; a
//! test below pins them, so that an upgrade that fixes them is noticed).
//! `tracestate` is neither read nor sent: the services keep no vendor
//! state to pass on (see docs/b3.md).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use super::{B3, Ids, Sampling};
use crate::hex::{self, HexId};

pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Writes `traceparent: 00-{trace-id}-{parent-id}-{flags}` for a call:
/// the trace in 32 digits, the CLIENT span as the callee's parent, and
/// `01` when recorded. W3C has no debug (it is sent as sampled) and no
/// decision without ids: a call that carries only "not sampled" gets ids
/// of its own, so that the callee still hears the decision.
pub(crate) fn write(call: &B3, headers: &mut HeaderMap) {
    let ids = match (call.ids, call.sampling) {
        (Some(ids), _) => ids,
        (None, Sampling::Deny) => {
            let random = RandomIdGenerator::default();
            Ids {
                trace_id: random.new_trace_id(),
                span_id: random.new_span_id(),
                parent_span_id: None,
            }
        }
        // No ids and no decision to pass on: nothing to say.
        (None, _) => return,
    };
    let flags: &[u8] = match call.sampling {
        Sampling::Deny => b"00",
        // A call with ids always carries a decision (`client.rs`); were
        // there none, recording is the safe side.
        Sampling::Accept | Sampling::Debug | Sampling::Defer => b"01",
    };
    let mut value = [0u8; 55];
    value[..3].copy_from_slice(b"00-");
    value[3..35].copy_from_slice(HexId::trace_32(ids.trace_id).as_bytes());
    value[35] = b'-';
    value[36..52].copy_from_slice(HexId::span(ids.span_id).as_bytes());
    value[52] = b'-';
    value[53..].copy_from_slice(flags);
    let value = HeaderValue::from_bytes(&value).expect("hex digits and dashes");
    headers.insert(TRACEPARENT, value);
}

/// The caller's trace, its span (the SERVER span's parent) and whether it
/// sampled, from a request's `traceparent`, as W3C Trace Context (Level
/// 2) reads it: `{version}-{trace-id}-{parent-id}-{flags}`, lower-hex of
/// 2, 32, 16 and 2 digits at their places, neither id all zeros; version
/// `ff` is invalid, `00` is exactly 55 characters, and a higher version is
/// read as `00` is, going on after the flags only with a `-`; of the
/// flags, only `sampled` is read. Two `traceparent` headers are invalid
/// (a new trace, as the W3C test suite has it). `None` when unusable.
pub(crate) fn read(headers: &HeaderMap) -> Option<(TraceId, SpanId, bool)> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let value = values.next()?.as_bytes().trim_ascii();
    if values.next().is_some() {
        return None;
    }
    if value.len() < 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let fits = match hex::parse_2(value[0..2].try_into().ok()?)? {
        0x00 => value.len() == 55,
        0xff => false,
        _ => value.len() == 55 || value[55] == b'-',
    };
    let high = hex::parse_16(value[3..19].try_into().ok()?)?;
    let low = hex::parse_16(value[19..35].try_into().ok()?)?;
    let span_id = hex::parse_16(value[36..52].try_into().ok()?)?;
    let flags = hex::parse_2(value[53..55].try_into().ok()?)?;
    let trace_id = u128::from(high) << 64 | u128::from(low);
    (fits && trace_id != 0 && span_id != 0).then(|| {
        (
            TraceId::from(trace_id),
            SpanId::from(span_id),
            flags & 1 == 1,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceId};

    fn traceparent(ids: Option<Ids>, sampling: Sampling) -> Option<String> {
        let mut headers = HeaderMap::new();
        write(&B3 { ids, sampling }, &mut headers);
        assert!(headers.len() <= 1, "{headers:?}");
        headers
            .get(TRACEPARENT)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    #[test]
    fn the_call_is_the_parent_and_the_decision_is_the_flag() {
        let ids = Ids {
            trace_id: TraceId::from_hex("48485a3953bb6124").unwrap(),
            span_id: SpanId::from_hex("a2fb4a1d1a96d312").unwrap(),
            parent_span_id: SpanId::from_hex("0020000000000001").ok(),
        };
        // A 64-bit trace id is padded to 32 digits; the parent is not sent.
        let expect =
            |flags| format!("00-000000000000000048485a3953bb6124-a2fb4a1d1a96d312-{flags}");
        assert_eq!(traceparent(Some(ids), Sampling::Accept), Some(expect("01")));
        assert_eq!(traceparent(Some(ids), Sampling::Debug), Some(expect("01")));
        assert_eq!(traceparent(Some(ids), Sampling::Deny), Some(expect("00")));
    }

    fn read_one(value: &str) -> Option<(TraceId, SpanId, bool)> {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_str(value).unwrap());
        read(&headers)
    }

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn traceparent_is_read_as_the_specification_says() {
        let ids = |sampled| {
            Some((
                TraceId::from_hex(TRACE).unwrap(),
                SpanId::from_hex(SPAN).unwrap(),
                sampled,
            ))
        };
        assert_eq!(read_one(&format!("00-{TRACE}-{SPAN}-01")), ids(true));
        assert_eq!(read_one(&format!("00-{TRACE}-{SPAN}-00")), ids(false));
        // Flags this version does not know are ignored (Level 2's random).
        assert_eq!(read_one(&format!("00-{TRACE}-{SPAN}-03")), ids(true));
        assert_eq!(read_one(&format!("00-{TRACE}-{SPAN}-02")), ids(false));
        assert_eq!(
            read_one(&format!(
                "cc-{TRACE}-{SPAN}-01-what-the-future-will-be-like"
            )),
            ids(true)
        );
        assert_eq!(read_one(&format!("cc-{TRACE}-{SPAN}-01")), ids(true));
        for refused in [
            "00-1-1-01".to_owned(),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("+0-{TRACE}-{SPAN}-01"),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-01-"),
            format!("00-{TRACE}-{SPAN}-1"),
            format!("00-{TRACE}-{SPAN}-+1"),
            format!("cc-{TRACE}-{SPAN}-01.what-the-future-will-be-like"),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
        ] {
            assert_eq!(read_one(&refused), None, "{refused}");
        }
        let mut twice = HeaderMap::new();
        for _ in 0..2 {
            let value = HeaderValue::from_str(&format!("00-{TRACE}-{SPAN}-01")).unwrap();
            twice.append(TRACEPARENT, value);
        }
        assert_eq!(read(&twice), None, "two traceparent headers");
    }

    /// What the SDK's `TraceContextPropagator` 0.33 reads that the
    /// specification refuses. When an upgrade fails this test, re-check
    /// whether [`read`] is still needed (see the module documentation).
    #[test]
    fn upstream_trace_context_propagator_still_reads_these_values() {
        use opentelemetry::{propagation::TextMapPropagator, trace::TraceContextExt};
        use opentelemetry_http::HeaderExtractor;
        use opentelemetry_sdk::propagation::TraceContextPropagator;

        let upstream = |values: &[String]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(TRACEPARENT, HeaderValue::from_str(value).unwrap());
            }
            let context = TraceContextPropagator::new().extract(&HeaderExtractor(&headers));
            context.span().span_context().is_valid()
        };
        for value in [
            "00-1-1-01".to_owned(),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-01-"),
            format!("00-{TRACE}-{SPAN}-1"),
        ] {
            assert!(upstream(std::slice::from_ref(&value)), "{value}");
        }
        let one = format!("00-{TRACE}-{SPAN}-01");
        assert!(upstream(&[one.clone(), one]), "the first of two");
    }

    #[test]
    fn a_decision_without_ids_gets_ids_of_its_own() {
        let sent = traceparent(None, Sampling::Deny).unwrap();
        assert!(sent.starts_with("00-") && sent.ends_with("-00"), "{sent}");
        assert_eq!(sent.len(), 55, "{sent}");
        assert_ne!(
            traceparent(None, Sampling::Deny).unwrap(),
            sent,
            "fresh ids"
        );
        assert_eq!(traceparent(None, Sampling::Defer), None);
    }
}
