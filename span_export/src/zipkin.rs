//! Zipkin's v2 JSON: the one model of a Zipkin span in this project
//! ([`Span`]), its writer, and [`ZipkinJson`], the encoding that maps the
//! SDK's spans onto it. The relay of a page's spans writes through the same
//! model.
//!
//! The mapping is the one the OpenTelemetry specification gives for Zipkin
//! exporters. What matters most for a usable trace: the resource's
//! `service.name` becomes `localEndpoint.serviceName` (Zipkin lists, searches
//! and links services by it) and `peer.service` becomes
//! `remoteEndpoint.serviceName` (the callee in the dependency graph). A
//! root span has no `parentId` (Zipkin reads an all-zero one as a parent),
//! every duration is at least 1 µs (Zipkin reads 0 as unknown), an error
//! status becomes the `error` tag Zipkin colours red, and a debug trace's
//! spans say `"debug": true`.
//!
//! Why not `opentelemetry-zipkin`'s exporter: in 0.33 it sends an empty
//! `localEndpoint` (no `serviceName`), never a `remoteEndpoint`, a
//! `parentId` of zeros on root spans and durations of 0 µs, so Zipkin can
//! neither list the services nor draw the links between them (and the
//! crate is deprecated upstream).
//!
//! Written by hand, not with serde: the writer runs for every span, and
//! through serde_json it cost about a third of a span more
//! (docs/performance.md).

use std::{borrow::Cow, time::SystemTime};

use opentelemetry::{
    Key, Value,
    trace::{SpanContext, SpanId, SpanKind, Status},
};
use opentelemetry_sdk::{Resource, trace::SpanData};
use reqwest::StatusCode;

use crate::{Encoding, HexId};

/// The attribute naming the service a CLIENT span calls, which becomes the
/// `remoteEndpoint`. Not the semantic-conventions crate's constant: the
/// crate marks `peer.service` deprecated, for `service.peer.name`, which is
/// still experimental; but the OpenTelemetry specification's mapping to
/// Zipkin reads `peer.service`.
pub const PEER_SERVICE: &str = "peer.service";

/// The trace-state entry (key, value) that marks a span of a B3 *debug*
/// trace, written `"debug": true`. OpenTelemetry has no trace flag for it;
/// trace state is what the SDK hands from a sampler to the span and on to
/// its children.
pub const DEBUG_MARK: (&str, &str) = ("zipkin", "debug");

/// True when `span` carries [`DEBUG_MARK`].
pub fn is_debug(span: &SpanContext) -> bool {
    span.trace_state().get(DEBUG_MARK.0) == Some(DEBUG_MARK.1)
}

/// A span as `POST /api/v2/spans` takes it (a body is a list of them).
/// Fields left empty are left out of the JSON, as Zipkin writes them.
#[derive(Debug)]
pub struct Span<'a> {
    /// 16 or 32 digits ([`HexId::trace`] writes a trace id that fits in
    /// 64 bits in 16, as Zipkin shows it).
    pub trace_id: HexId,
    pub parent_id: Option<HexId>,
    pub id: HexId,
    pub kind: Option<Kind>,
    pub name: &'a str,
    /// Microseconds since the epoch.
    pub timestamp: u64,
    /// Microseconds, at least 1.
    pub duration: u64,
    pub local_endpoint: Endpoint<'a>,
    pub remote_endpoint: Option<Endpoint<'a>>,
    pub annotations: Vec<Annotation<'a>>,
    /// Zipkin's tags are a map of strings: each key once.
    pub tags: Vec<(&'a str, Tag<'a>)>,
    pub debug: bool,
}

/// Zipkin's span kinds; a local span has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Client,
    Server,
    Producer,
    Consumer,
}

#[derive(Debug)]
pub struct Endpoint<'a> {
    pub service_name: &'a str,
}

#[derive(Debug)]
pub struct Annotation<'a> {
    pub timestamp: u64,
    pub value: &'a str,
}

/// A tag's value, written as the string Zipkin wants.
#[derive(Debug)]
pub enum Tag<'a> {
    Text(Cow<'a, str>),
    Number(i64),
    Bool(bool),
}

/// Writes `spans` as the JSON list `POST /api/v2/spans` takes.
pub fn write_spans<'a>(spans: impl IntoIterator<Item = Span<'a>>, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, span) in spans.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        span.write(out);
    }
    out.push(b']');
}

impl Span<'_> {
    /// Writes the span as one JSON object.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"traceId\":\"");
        out.extend_from_slice(self.trace_id.as_bytes());
        if let Some(parent_id) = &self.parent_id {
            out.extend_from_slice(b"\",\"parentId\":\"");
            out.extend_from_slice(parent_id.as_bytes());
        }
        out.extend_from_slice(b"\",\"id\":\"");
        out.extend_from_slice(self.id.as_bytes());
        out.push(b'"');
        if let Some(kind) = self.kind {
            out.extend_from_slice(match kind {
                Kind::Client => b",\"kind\":\"CLIENT\"",
                Kind::Server => b",\"kind\":\"SERVER\"",
                Kind::Producer => b",\"kind\":\"PRODUCER\"",
                Kind::Consumer => b",\"kind\":\"CONSUMER\"",
            });
        }
        out.extend_from_slice(b",\"name\":");
        push_string(out, self.name);
        out.extend_from_slice(b",\"timestamp\":");
        push_number(out, self.timestamp);
        out.extend_from_slice(b",\"duration\":");
        push_number(out, self.duration);
        out.extend_from_slice(b",\"localEndpoint\":");
        self.local_endpoint.write(out);
        if let Some(remote_endpoint) = &self.remote_endpoint {
            out.extend_from_slice(b",\"remoteEndpoint\":");
            remote_endpoint.write(out);
        }
        for (i, annotation) in self.annotations.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b",\"annotations\":[" } else { b"," });
            out.extend_from_slice(b"{\"timestamp\":");
            push_number(out, annotation.timestamp);
            out.extend_from_slice(b",\"value\":");
            push_string(out, annotation.value);
            out.push(b'}');
        }
        if !self.annotations.is_empty() {
            out.push(b']');
        }
        for (i, (key, value)) in self.tags.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b",\"tags\":{" } else { b"," });
            push_string(out, key);
            out.push(b':');
            match value {
                Tag::Text(text) => push_string(out, text),
                Tag::Number(number) => {
                    out.push(b'"');
                    push_number(out, *number);
                    out.push(b'"');
                }
                Tag::Bool(true) => out.extend_from_slice(b"\"true\""),
                Tag::Bool(false) => out.extend_from_slice(b"\"false\""),
            }
        }
        if !self.tags.is_empty() {
            out.push(b'}');
        }
        if self.debug {
            out.extend_from_slice(b",\"debug\":true");
        }
        out.push(b'}');
    }
}

impl Endpoint<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"serviceName\":");
        push_string(out, self.service_name);
        out.push(b'}');
    }
}

fn push_number(out: &mut Vec<u8>, number: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes());
}

/// `text` as a JSON string: quote, backslash and control characters
/// escaped, everything else (UTF-8 included) as it is.
fn push_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    // Nearly all text needs no escape. This test runs over every string of
    // every span: written as a fold with no early exit, the compiler checks
    // 16 bytes at a time (a byte-by-byte search cost half the writer).
    let needs_escape = bytes
        .iter()
        .fold(false, |found, &byte| found | is_escaped(byte));
    if !needs_escape {
        out.extend_from_slice(bytes);
    } else {
        for &byte in bytes {
            match byte {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                control if control < 0x20 => {
                    out.extend_from_slice(format!("\\u{control:04x}").as_bytes());
                }
                other => out.push(other),
            }
        }
    }
    out.push(b'"');
}

/// The bytes JSON text must escape: control characters, quote, backslash.
fn is_escaped(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The SDK's spans in Zipkin's v2 JSON, for `POST /api/v2/spans`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZipkinJson;

impl Encoding for ZipkinJson {
    fn receiver(&self) -> &'static str {
        "Zipkin"
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }

    /// No answer in time (`408`), too many requests (`429`), and a proxy's
    /// or Zipkin's own "not now" (`502`, `503`, `504`). Zipkin's `500` is
    /// its own error, which the same spans would meet again.
    fn is_transient(&self, status: StatusCode) -> bool {
        matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
    }

    fn encode(&self, spans: &[SpanData], resource: &Resource, body: &mut Vec<u8>) {
        let service = resource.get(&Key::from_static_str("service.name"));
        let service_name = service
            .as_ref()
            .map_or(Cow::Borrowed("unknown_service"), Value::as_str);
        let zipkin_spans = spans.iter().map(|span| zipkin_span(span, &service_name));
        write_spans(zipkin_spans, body);
    }
}

/// `span`, of the service `service_name`, as a Zipkin span.
fn zipkin_span<'a>(span: &'a SpanData, service_name: &'a str) -> Span<'a> {
    let context = &span.span_context;
    let start = micros_since_epoch(span.start_time);
    let end = micros_since_epoch(span.end_time);
    Span {
        trace_id: HexId::trace(context.trace_id()),
        parent_id: (span.parent_span_id != SpanId::INVALID)
            .then(|| HexId::span(span.parent_span_id)),
        id: HexId::span(context.span_id()),
        kind: match span.span_kind {
            SpanKind::Client => Some(Kind::Client),
            SpanKind::Server => Some(Kind::Server),
            SpanKind::Producer => Some(Kind::Producer),
            SpanKind::Consumer => Some(Kind::Consumer),
            SpanKind::Internal => None,
        },
        name: &span.name,
        timestamp: start,
        duration: end.saturating_sub(start).max(1),
        local_endpoint: Endpoint { service_name },
        remote_endpoint: span
            .attributes
            .iter()
            .rfind(|kv| kv.key.as_str() == PEER_SERVICE)
            .and_then(|kv| match &kv.value {
                Value::String(name) => Some(Endpoint {
                    service_name: name.as_str(),
                }),
                _ => None,
            }),
        annotations: span
            .events
            .events
            .iter()
            .map(|event| Annotation {
                timestamp: micros_since_epoch(event.timestamp),
                value: &event.name,
            })
            .collect(),
        tags: tags(span),
        debug: is_debug(context),
    }
}

/// The attributes as tags (a key set twice keeps its last value, as a map
/// would), and the status: an error becomes the `error` tag.
fn tags(span: &SpanData) -> Vec<(&str, Tag<'_>)> {
    let attributes = &span.attributes;
    let mut tags = Vec::with_capacity(attributes.len() + 2);
    for (i, attribute) in attributes.iter().enumerate() {
        let set_again = attributes[i + 1..]
            .iter()
            .any(|later| later.key == attribute.key);
        if set_again {
            continue;
        }
        let value = match &attribute.value {
            Value::String(text) => Tag::Text(Cow::Borrowed(text.as_str())),
            Value::I64(number) => Tag::Number(*number),
            Value::Bool(value) => Tag::Bool(*value),
            other => Tag::Text(other.as_str()),
        };
        tags.push((attribute.key.as_str(), value));
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => tags.push(("otel.status_code", Tag::Text(Cow::Borrowed("OK")))),
        Status::Error { description } => {
            tags.push(("otel.status_code", Tag::Text(Cow::Borrowed("ERROR"))));
            tags.push(("error", Tag::Text(Cow::Borrowed(description))));
        }
    }
    tags
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
        trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState},
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

    fn body_of(spans: &[SpanData]) -> Vec<u8> {
        let resource = Resource::builder_empty()
            .with_service_name("api_01")
            .build();
        let mut out = Vec::new();
        ZipkinJson.encode(spans, &resource, &mut out);
        out
    }

    fn json_of(span: &SpanData) -> Value {
        let out = body_of(std::slice::from_ref(span));
        let spans: Value = serde_json::from_slice(&out).unwrap();
        spans[0].clone()
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
            TraceState::from_key_value([DEBUG_MARK]).unwrap(),
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
        let text = String::from_utf8(body_of(&[root_server_span(vec![])])).unwrap();
        assert!(!text.contains("tags"), "no empty tags object: {text}");
    }

    #[test]
    fn text_is_escaped_as_json_requires() {
        let name = "quote \" backslash \\ newline \n tab \t bell \u{7} é 漢";
        let attributes = vec![KeyValue::new("note", name)];
        let mut span = root_server_span(attributes);
        span.name = name.to_owned().into();
        let zipkin = json_of(&span);
        assert_eq!(zipkin["name"], name);
        assert_eq!(zipkin["tags"]["note"], name);
    }

    #[test]
    fn a_batch_is_one_list_in_the_order_given() {
        let spans = [root_server_span(vec![]), root_server_span(vec![])];
        let list: Vec<Value> = serde_json::from_slice(&body_of(&spans)).unwrap();
        assert_eq!(list.len(), 2);
        assert!(body_of(&[]) == b"[]");
    }

    #[test]
    fn which_of_zipkins_answers_are_tried_again() {
        for status in [408, 429, 502, 503, 504] {
            assert!(
                ZipkinJson.is_transient(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 413, 415, 500, 501, 505] {
            assert!(
                !ZipkinJson.is_transient(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }
}
