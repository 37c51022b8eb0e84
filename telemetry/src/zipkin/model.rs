//! Zipkin's v2 JSON span, and how an OpenTelemetry span becomes one.
//!
//! The mapping is the one the OpenTelemetry specification gives for Zipkin
//! exporters. What matters most for a usable trace: the resource's
//! `service.name` becomes `localEndpoint.serviceName` (Zipkin lists, searches
//! and links services by it) and `peer.service` becomes
//! `remoteEndpoint.serviceName` (the callee in the dependency graph).

use std::{borrow::Cow, time::SystemTime};

use opentelemetry::{
    Key,
    trace::{SpanId, SpanKind, Status, TraceId},
};
use opentelemetry_sdk::trace::SpanData;
use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::propagation::is_debug;

/// The attribute that names the service a CLIENT span calls.
pub const PEER_SERVICE: Key = Key::from_static_str("peer.service");

/// One span in Zipkin's v2 JSON format. It borrows from the span it maps,
/// so an export serializes each batch without copying it first: the
/// exporter is where tracing spends most of its CPU (see the README's
/// Performance section).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipkinSpan<'a> {
    pub trace_id: Hex,
    pub id: Hex,
    /// Absent on a root span: Zipkin reads an all-zero id as a parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Hex>,
    pub name: &'a str,
    /// Absent for internal spans, as Zipkin expects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Start, in microseconds since the Unix epoch.
    pub timestamp: u64,
    /// At least 1: Zipkin treats 0 as "unknown".
    pub duration: u64,
    pub local_endpoint: Endpoint<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_endpoint: Option<Endpoint<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation<'a>>,
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags<'a>,
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
pub struct Endpoint<'a> {
    pub service_name: Cow<'a, str>,
}

/// A timestamped event on a span (an OpenTelemetry span event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation<'a> {
    pub timestamp: u64,
    pub value: &'a str,
}

/// A lowercase hex id, written without going through `fmt`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex {
    digits: [u8; 32],
    len: u8,
}

impl Hex {
    fn new(bytes: &[u8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0; 32];
        for (i, byte) in bytes.iter().enumerate() {
            digits[2 * i] = DIGITS[usize::from(byte >> 4)];
            digits[2 * i + 1] = DIGITS[usize::from(byte & 0xf)];
        }
        Self {
            digits,
            len: (2 * bytes.len()) as u8,
        }
    }

    /// A trace id as Zipkin shows it: 16 digits when the id fits in 64 bits
    /// (as from a B3 caller with 64-bit ids), 32 otherwise. Zipkin itself
    /// drops the zero high half, so this is the id a person searches for.
    pub fn trace_id(trace_id: TraceId) -> Self {
        let bytes = trace_id.to_bytes();
        if bytes[..8] == [0; 8] {
            Self::new(&bytes[8..])
        } else {
            Self::new(&bytes)
        }
    }

    pub fn span_id(span_id: SpanId) -> Self {
        Self::new(&span_id.to_bytes())
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).expect("hex digits are ASCII")
    }
}

impl std::fmt::Debug for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A span's attributes as Zipkin string tags, plus its status: an error
/// status becomes the `error` tag Zipkin colours red.
#[derive(Debug, Clone, Copy)]
pub struct Tags<'a> {
    span: &'a SpanData,
}

impl Tags<'_> {
    fn is_empty(&self) -> bool {
        self.span.attributes.is_empty() && self.span.status == Status::Unset
    }
}

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let attributes = &self.span.attributes;
        let mut map = serializer.serialize_map(None)?;
        for (i, attribute) in attributes.iter().enumerate() {
            // A key set twice keeps its last value, as a map would.
            if attributes[i + 1..]
                .iter()
                .any(|later| later.key == attribute.key)
            {
                continue;
            }
            map.serialize_entry(attribute.key.as_str(), &attribute.value.as_str())?;
        }
        match &self.span.status {
            Status::Unset => {}
            Status::Ok => map.serialize_entry("otel.status_code", "OK")?,
            Status::Error { description } => {
                map.serialize_entry("otel.status_code", "ERROR")?;
                map.serialize_entry("error", description)?;
            }
        }
        map.end()
    }
}

/// The trace id as Zipkin shows it (see [`Hex::trace_id`]).
pub fn trace_id_hex(trace_id: TraceId) -> String {
    Hex::trace_id(trace_id).as_str().to_owned()
}

impl<'a> ZipkinSpan<'a> {
    /// Maps a finished span of the service `service_name`.
    pub fn from_span_data(span: &'a SpanData, service_name: &'a str) -> Self {
        let context = &span.span_context;
        let start = micros_since_epoch(span.start_time);
        let end = micros_since_epoch(span.end_time);
        let remote_service = span
            .attributes
            .iter()
            .rfind(|attribute| attribute.key == PEER_SERVICE)
            .map(|attribute| attribute.value.as_str());

        Self {
            trace_id: Hex::trace_id(context.trace_id()),
            id: Hex::span_id(context.span_id()),
            parent_id: (span.parent_span_id != SpanId::INVALID)
                .then(|| Hex::span_id(span.parent_span_id)),
            name: &span.name,
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
                service_name: Cow::Borrowed(service_name),
            },
            remote_endpoint: remote_service.map(|service_name| Endpoint { service_name }),
            annotations: span
                .events
                .events
                .iter()
                .map(|event| Annotation {
                    timestamp: micros_since_epoch(event.timestamp),
                    value: &event.name,
                })
                .collect(),
            tags: Tags { span },
            debug: is_debug(context),
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
        InstrumentationScope, KeyValue,
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

    fn root_server_span(attributes: Vec<KeyValue>) -> SpanData {
        span(SpanId::INVALID, SpanKind::Server, Status::Unset, attributes)
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
        let zipkin = json_of(&root_server_span(attributes));
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
            TraceFlags::SAMPLED,
            false,
            crate::propagation::debug_trace_state(),
        );
        assert_eq!(json_of(&internal)["debug"], true);
    }

    #[test]
    fn a_key_set_twice_keeps_its_last_value() {
        let attributes = vec![
            KeyValue::new("http.response.status_code", 200),
            KeyValue::new("http.response.status_code", 502),
        ];
        let zipkin = json_of(&root_server_span(attributes));
        assert_eq!(
            zipkin["tags"],
            json!({ "http.response.status_code": "502" })
        );
        let text = serde_json::to_string(&ZipkinSpan::from_span_data(
            &root_server_span(vec![]),
            "api_01",
        ))
        .unwrap();
        assert!(!text.contains("tags"), "no empty tags object: {text}");
    }

    #[test]
    fn a_64_bit_trace_id_is_shown_in_16_digits() {
        let short = TraceId::from_hex("a3ce929d0e0e4736").unwrap();
        assert_eq!(trace_id_hex(short), "a3ce929d0e0e4736");
        assert_eq!(trace_id_hex(TraceId::from_hex(TRACE_ID).unwrap()), TRACE_ID);
    }
}
