//! W3C Trace Context out: `traceparent`, for callees on OpenTelemetry's
//! default propagator, which reads no B3. (In, the SDK's own
//! `TraceContextPropagator` reads it: `super`.)
//!
//! Written by hand for the same reason as B3: the value is built from the
//! call's ids and decision in one buffer, without an OpenTelemetry context
//! to carry them. `tracestate` is not sent: the services keep no vendor
//! state to pass on (see docs/b3.md).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use super::{B3, Ids, Sampling};
use crate::hex::HexId;

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
