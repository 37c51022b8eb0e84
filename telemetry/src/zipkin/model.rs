//! A span in Zipkin's v2 JSON, written straight from the SDK's span data.
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
//! Written by hand rather than with serde: the exporter is where tracing
//! spends most of its instructions, and serde_json escaped every string it
//! wrote, ids and keys included (about 140 instructions each, 300 a request).
//! Here ids come from a table, numbers from `itoa`, only text that can hold
//! a quote, a backslash or a control character is scanned, and nothing is
//! allocated but the output buffer.

use std::time::SystemTime;

use opentelemetry::{
    Value,
    trace::{SpanId, SpanKind, Status},
};
use opentelemetry_sdk::trace::SpanData;

use crate::{
    debug_trace::is_debug,
    hex::{self, HexId},
};

/// The attribute naming the service a CLIENT span calls, which becomes the
/// `remoteEndpoint`. Not the semantic-conventions crate's constant: the
/// crate marks `peer.service` deprecated, for `service.peer.name`, which is
/// still experimental; but the OpenTelemetry specification's mapping to
/// Zipkin reads `peer.service`.
pub(crate) const PEER_SERVICE: &str = "peer.service";

/// Appends `spans`, of the service `service_name`, to `out` as the JSON
/// array `POST /api/v2/spans` takes.
pub(crate) fn write_spans(spans: &[SpanData], service_name: &str, out: &mut Vec<u8>) {
    // The same for every span of the batch: written once.
    let mut local_endpoint = b",\"localEndpoint\":{\"serviceName\":".to_vec();
    push_string(&mut local_endpoint, service_name);
    local_endpoint.push(b'}');
    out.push(b'[');
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_span(span, &local_endpoint, out);
    }
    out.push(b']');
}

fn write_span(span: &SpanData, local_endpoint: &[u8], out: &mut Vec<u8>) {
    let context = &span.span_context;
    out.extend_from_slice(b"{\"traceId\":\"");
    out.extend_from_slice(HexId::trace(context.trace_id()).as_bytes());
    if span.parent_span_id != SpanId::INVALID {
        out.extend_from_slice(b"\",\"parentId\":\"");
        out.extend_from_slice(HexId::span(span.parent_span_id).as_bytes());
    }
    out.extend_from_slice(b"\",\"id\":\"");
    out.extend_from_slice(HexId::span(context.span_id()).as_bytes());
    out.push(b'"');
    let kind: &[u8] = match span.span_kind {
        SpanKind::Client => b",\"kind\":\"CLIENT\"",
        SpanKind::Server => b",\"kind\":\"SERVER\"",
        SpanKind::Producer => b",\"kind\":\"PRODUCER\"",
        SpanKind::Consumer => b",\"kind\":\"CONSUMER\"",
        // Zipkin wants no kind on a local span.
        SpanKind::Internal => b"",
    };
    out.extend_from_slice(kind);
    out.extend_from_slice(b",\"name\":");
    push_string(out, &span.name);
    let start = micros_since_epoch(span.start_time);
    let end = micros_since_epoch(span.end_time);
    out.extend_from_slice(b",\"timestamp\":");
    push_u64(out, start);
    out.extend_from_slice(b",\"duration\":");
    push_u64(out, end.saturating_sub(start).max(1));
    out.extend_from_slice(local_endpoint);
    let remote = span
        .attributes
        .iter()
        .rfind(|kv| kv.key.as_str() == PEER_SERVICE);
    if let Some(remote) = remote {
        out.extend_from_slice(b",\"remoteEndpoint\":{\"serviceName\":");
        push_value(out, &remote.value);
        out.push(b'}');
    }
    if !span.events.events.is_empty() {
        out.extend_from_slice(b",\"annotations\":[");
        for (i, event) in span.events.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"timestamp\":");
            push_u64(out, micros_since_epoch(event.timestamp));
            out.extend_from_slice(b",\"value\":");
            push_string(out, &event.name);
            out.push(b'}');
        }
        out.push(b']');
    }
    write_tags(span, out);
    if is_debug(context) {
        out.extend_from_slice(b",\"debug\":true");
    }
    out.push(b'}');
}

/// The attributes as string tags (a key set twice keeps its last value, as
/// a map would), and the status: an error becomes the `error` tag.
fn write_tags(span: &SpanData, out: &mut Vec<u8>) {
    let attributes = &span.attributes;
    let mut first = true;
    let mut tag = |out: &mut Vec<u8>, key: &str| {
        out.extend_from_slice(if first { b",\"tags\":{" } else { b"," });
        first = false;
        push_string(out, key);
        out.push(b':');
    };
    for (i, attribute) in attributes.iter().enumerate() {
        if attributes[i + 1..]
            .iter()
            .any(|later| later.key == attribute.key)
        {
            continue;
        }
        tag(out, attribute.key.as_str());
        push_value(out, &attribute.value);
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => {
            tag(out, "otel.status_code");
            out.extend_from_slice(b"\"OK\"");
        }
        Status::Error { description } => {
            tag(out, "otel.status_code");
            out.extend_from_slice(b"\"ERROR\"");
            tag(out, "error");
            push_string(out, description);
        }
    }
    if !first {
        out.push(b'}');
    }
}

/// A tag value: Zipkin's tags are strings.
fn push_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(text) => push_string(out, text.as_str()),
        Value::I64(number) => {
            out.push(b'"');
            out.extend_from_slice(itoa::Buffer::new().format(*number).as_bytes());
            out.push(b'"');
        }
        Value::Bool(true) => out.extend_from_slice(b"\"true\""),
        Value::Bool(false) => out.extend_from_slice(b"\"false\""),
        other => push_string(out, &other.as_str()),
    }
}

fn push_u64(out: &mut Vec<u8>, number: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes());
}

/// `text` as a JSON string: quote, backslash and control characters
/// escaped, everything else (UTF-8 included) as it is.
fn push_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let mut rest = text.as_bytes();
    // Most text needs no escape at all: find the next byte that does.
    while let Some(at) = first_escaped(rest) {
        out.extend_from_slice(&rest[..at]);
        let byte = rest[at];
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                hex::DIGITS[usize::from(byte >> 4)],
                hex::DIGITS[usize::from(byte & 0xf)],
            ]),
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Where the first byte JSON text must escape is, if anywhere. Eight bytes
/// at a time, as memchr does: a word with none of them (nearly every word of
/// a span's names, keys and values) costs a few operations, not a table
/// lookup a byte (callgrind: 1.3k instructions a span in `push_string`
/// before, on the demo's spans).
fn first_escaped(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A byte of `word` below `n` (`n` at most 0x80) sets its high bit.
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    let equal = |word: u64, byte: u8| below(word ^ (ONES * u64::from(byte)), 1);
    let mut checked = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
        if below(word, 0x20) | equal(word, b'"') | equal(word, b'\\') != 0 {
            break;
        }
        checked += 8;
    }
    bytes[checked..]
        .iter()
        .position(|&byte| ESCAPED[usize::from(byte)])
        .map(|at| checked + at)
}

/// The bytes JSON text must escape: control characters, quote, backslash.
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

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

    fn json_of(span: &SpanData) -> Value {
        let mut out = Vec::new();
        write_spans(std::slice::from_ref(span), "api_01", &mut out);
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
            crate::debug_trace::debug_trace_state(),
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
        let mut out = Vec::new();
        write_spans(&[root_server_span(vec![])], "api_01", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("tags"), "no empty tags object: {text}");
    }

    #[test]
    fn the_word_scan_finds_every_byte_to_escape_wherever_it_is() {
        for byte in (0u8..0x20).chain([b'"', b'\\']) {
            for at in 0..20 {
                let mut text = vec![b'a'; 20];
                text[at] = byte;
                assert_eq!(first_escaped(&text), Some(at), "{byte:#x} at {at}");
            }
        }
        let clean = "abcdefghijklmnopqrstuvwxyz é 漢 ~\x7f".as_bytes();
        assert_eq!(first_escaped(clean), None);
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
}
