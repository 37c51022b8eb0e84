//! Zipkin's v2 JSON span, and how an OpenTelemetry span becomes one.
//!
//! The mapping is the one the OpenTelemetry specification gives for Zipkin
//! exporters. What matters most for a usable trace: the resource's
//! `service.name` becomes `localEndpoint.serviceName` (Zipkin lists, searches
//! and links services by it) and `peer.service` becomes
//! `remoteEndpoint.serviceName` (the callee in the dependency graph).

use std::{collections::BTreeMap, time::SystemTime};

use opentelemetry::{
    Key, KeyValue,
    trace::{SpanKind, Status, TraceId},
};
use opentelemetry_sdk::trace::SpanData;
use serde::Serialize;

use crate::propagation::is_debug;

/// The attribute that names the service a CLIENT span calls.
pub const PEER_SERVICE: Key = Key::from_static_str("peer.service");

/// One span in Zipkin's v2 JSON format.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipkinSpan {
    pub trace_id: String,
    pub id: String,
    /// Absent on a root span: Zipkin reads an all-zero id as a parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub name: String,
    /// Absent for internal spans, as Zipkin expects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Start, in microseconds since the Unix epoch.
    pub timestamp: u64,
    /// At least 1: Zipkin treats 0 as "unknown".
    pub duration: u64,
    pub local_endpoint: Endpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub debug: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    Client,
    Server,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub service_name: String,
}

/// A timestamped event on a span (an OpenTelemetry span event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub timestamp: u64,
    pub value: String,
}

/// A trace id as Zipkin shows it: 16 hex digits when the id fits in 64 bits
/// (as from a B3 caller with 64-bit ids), 32 otherwise. Zipkin itself drops
/// the zero high half, so this is the id a person searches for.
pub fn trace_id_hex(trace_id: TraceId) -> String {
    let id = u128::from_be_bytes(trace_id.to_bytes());
    if id >> 64 == 0 {
        format!("{:016x}", id as u64)
    } else {
        format!("{id:032x}")
    }
}

impl ZipkinSpan {
    /// Maps a finished span of the service `service_name`.
    pub fn from_span_data(span: &SpanData, service_name: &str) -> Self {
        let context = &span.span_context;
        let start = micros_since_epoch(span.start_time);
        let end = micros_since_epoch(span.end_time);
        let mut tags: BTreeMap<String, String> = span
            .attributes
            .iter()
            .map(|KeyValue { key, value, .. }| (key.to_string(), value.as_str().into_owned()))
            .collect();
        match &span.status {
            Status::Unset => {}
            Status::Ok => {
                tags.insert("otel.status_code".into(), "OK".into());
            }
            Status::Error { description } => {
                tags.insert("otel.status_code".into(), "ERROR".into());
                tags.insert("error".into(), description.to_string());
            }
        }
        let remote_service = span
            .attributes
            .iter()
            .find(|attribute| attribute.key == PEER_SERVICE)
            .map(|attribute| attribute.value.as_str().into_owned());

        Self {
            trace_id: trace_id_hex(context.trace_id()),
            id: context.span_id().to_string(),
            parent_id: (span.parent_span_id != opentelemetry::trace::SpanId::INVALID)
                .then(|| span.parent_span_id.to_string()),
            name: span.name.to_string(),
            kind: match span.span_kind {
                SpanKind::Client => Some(Kind::Client),
                SpanKind::Server => Some(Kind::Server),
                SpanKind::Producer => Some(Kind::Producer),
                SpanKind::Consumer => Some(Kind::Consumer),
                SpanKind::Internal => None,
            },
            timestamp: start,
            duration: end.saturating_sub(start).max(1),
            local_endpoint: Endpoint {
                service_name: service_name.to_owned(),
            },
            remote_endpoint: remote_service.map(|service_name| Endpoint { service_name }),
            annotations: span
                .events
                .events
                .iter()
                .map(|event| Annotation {
                    timestamp: micros_since_epoch(event.timestamp),
                    value: event.name.to_string(),
                })
                .collect(),
            tags,
            debug: is_debug(context.trace_flags()),
        }
    }
}

fn micros_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{
        InstrumentationScope,
        trace::{SpanContext, SpanId, TraceFlags, TraceState},
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use serde_json::{Value, json};
    use std::time::Duration;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn span(parent: SpanId, kind: SpanKind, status: Status, attributes: Vec<KeyValue>) -> SpanData {
        let start = SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_000);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_hex(TRACE_ID).unwrap(),
                SpanId::from_hex("00F067AA0BA902B7").unwrap(),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent,
            parent_span_is_remote: false,
            span_kind: kind,
            name: "GET /".into(),
            start_time: start,
            // Shorter than a microsecond: Zipkin must still see a duration.
            end_time: start + Duration::from_nanos(300),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn json_of(span: &SpanData) -> Value {
        serde_json::to_value(ZipkinSpan::from_span_data(span, "api_01")).unwrap()
    }

    #[test]
    fn a_root_server_span_maps_to_zipkin_v2() {
        let attributes = vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200),
        ];
        let zipkin = json_of(&span(
            SpanId::INVALID,
            SpanKind::Server,
            Status::Unset,
            attributes,
        ));
        assert_eq!(
            zipkin,
            json!({
                "traceId": TRACE_ID,
                "id": "00f067aa0ba902b7",
                "name": "GET /",
                "kind": "SERVER",
                "timestamp": 1_700_000_000_000_000u64,
                "duration": 1,
                "localEndpoint": { "serviceName": "api_01" },
                "tags": { "http.request.method": "GET", "http.response.status_code": "200" }
            })
        );
    }

    #[test]
    fn a_client_span_names_its_callee_and_parent() {
        let attributes = vec![KeyValue::new(PEER_SERVICE, "api_02")];
        let parent = SpanId::from_hex("a2fb4a1d1a96d312").unwrap();
        let zipkin = json_of(&span(parent, SpanKind::Client, Status::Unset, attributes));
        assert_eq!(zipkin["kind"], "CLIENT");
        assert_eq!(zipkin["parentId"], "a2fb4a1d1a96d312");
        assert_eq!(zipkin["remoteEndpoint"], json!({ "serviceName": "api_02" }));
    }

    #[test]
    fn an_error_status_becomes_the_error_tag() {
        let status = Status::error("api_03 answered 500");
        let zipkin = json_of(&span(SpanId::INVALID, SpanKind::Client, status, vec![]));
        assert_eq!(zipkin["tags"]["error"], "api_03 answered 500");
        assert_eq!(zipkin["tags"]["otel.status_code"], "ERROR");
    }

    #[test]
    fn internal_spans_have_no_kind_and_debug_is_marked() {
        let mut internal = span(SpanId::INVALID, SpanKind::Internal, Status::Unset, vec![]);
        assert!(json_of(&internal).get("kind").is_none());
        assert!(json_of(&internal).get("debug").is_none());
        internal.span_context = SpanContext::new(
            internal.span_context.trace_id(),
            internal.span_context.span_id(),
            TraceFlags::new(0x05),
            false,
            TraceState::default(),
        );
        assert_eq!(json_of(&internal)["debug"], true);
    }

    #[test]
    fn a_64_bit_trace_id_is_shown_in_16_digits() {
        let short = TraceId::from_hex("a3ce929d0e0e4736").unwrap();
        assert_eq!(trace_id_hex(short), "a3ce929d0e0e4736");
        assert_eq!(trace_id_hex(TraceId::from_hex(TRACE_ID).unwrap()), TRACE_ID);
    }
}
