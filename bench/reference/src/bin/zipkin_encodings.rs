//! What the two encodings Zipkin accepts on `POST /api/v2/spans` cost to
//! write: JSON (what the exporter sends, `telemetry::bench::write_spans`) and proto3
//! (`zipkin.proto`'s `ListOfSpans`, written here by hand for the comparison
//! only). Run under callgrind by `bench/run.sh --instructions`, which reads
//! the instructions spent in `encode_json` and `encode_proto`: the same
//! 128 spans, shaped like the demo's, 100 times each.

use std::{
    hint::black_box,
    time::{Duration, SystemTime},
};

use opentelemetry::{
    InstrumentationScope, KeyValue, Value,
    trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

const ROUNDS: usize = 100;
const SPANS: usize = 128;

fn main() {
    let spans = demo_spans();
    let mut json = Vec::new();
    let mut proto = Vec::new();
    for _ in 0..ROUNDS {
        json.clear();
        proto.clear();
        encode_json(black_box(&spans), &mut json);
        encode_proto(black_box(&spans), &mut proto);
    }
    println!(
        "{SPANS} spans, {ROUNDS} rounds: JSON {} bytes, proto3 {} bytes a batch",
        json.len(),
        proto.len()
    );
}

#[inline(never)]
fn encode_json(spans: &[SpanData], out: &mut Vec<u8>) {
    out.reserve(640 * spans.len());
    telemetry::bench::write_spans(spans, "api_01", out);
}

#[inline(never)]
fn encode_proto(spans: &[SpanData], out: &mut Vec<u8>) {
    out.reserve(400 * spans.len());
    let mut span_bytes = Vec::with_capacity(512);
    for span in spans {
        span_bytes.clear();
        write_span_proto(span, "api_01", &mut span_bytes);
        field_bytes(out, 1, &span_bytes);
    }
}

fn write_span_proto(span: &SpanData, service: &str, out: &mut Vec<u8>) {
    let context = &span.span_context;
    let trace_id = context.trace_id().to_bytes();
    let trace_id = if trace_id[..8] == [0; 8] {
        &trace_id[8..]
    } else {
        &trace_id[..]
    };
    field_bytes(out, 1, trace_id);
    if span.parent_span_id != SpanId::INVALID {
        field_bytes(out, 2, &span.parent_span_id.to_bytes());
    }
    field_bytes(out, 3, &context.span_id().to_bytes());
    let kind = match span.span_kind {
        SpanKind::Client => 1,
        SpanKind::Server => 2,
        SpanKind::Producer => 3,
        SpanKind::Consumer => 4,
        SpanKind::Internal => 0,
    };
    if kind != 0 {
        key(out, 4, 0);
        varint(out, kind);
    }
    field_bytes(out, 5, span.name.as_bytes());
    let micros = |time: SystemTime| {
        time.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
    };
    let start = micros(span.start_time);
    key(out, 6, 1);
    out.extend_from_slice(&start.to_le_bytes());
    key(out, 7, 0);
    varint(out, micros(span.end_time).saturating_sub(start).max(1));
    // localEndpoint { service_name = 1 }
    key(out, 8, 2);
    varint(
        out,
        (1 + varint_len(service.len() as u64) + service.len()) as u64,
    );
    field_bytes(out, 1, service.as_bytes());
    if let Some(peer) = span
        .attributes
        .iter()
        .rfind(|kv| kv.key.as_str() == "peer.service")
    {
        let peer = peer.value.as_str();
        key(out, 9, 2);
        varint(out, (1 + varint_len(peer.len() as u64) + peer.len()) as u64);
        field_bytes(out, 1, peer.as_bytes());
    }
    let mut number = itoa::Buffer::new();
    for attribute in &span.attributes {
        let value: &[u8] = match &attribute.value {
            Value::String(text) => text.as_str().as_bytes(),
            Value::I64(n) => number.format(*n).as_bytes(),
            _ => b"?",
        };
        map_entry(out, attribute.key.as_str().as_bytes(), value);
    }
    if let Status::Error { description } = &span.status {
        map_entry(out, b"error", description.as_bytes());
    }
}

fn map_entry(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    let len = 2
        + varint_len(name.len() as u64)
        + name.len()
        + varint_len(value.len() as u64)
        + value.len();
    key(out, 11, 2);
    varint(out, len as u64);
    field_bytes(out, 1, name);
    field_bytes(out, 2, value);
}

fn key(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    varint(out, field << 3 | wire_type);
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    (64 - value.max(1).leading_zeros() as usize).div_ceil(7)
}

/// 128 spans shaped like one service's share of the demo's requests: a
/// SERVER span and two CLIENT spans each, with their attributes.
fn demo_spans() -> Vec<SpanData> {
    let start = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_000_000_000_000);
    (0..SPANS)
        .map(|i| {
            let server = i % 3 == 0;
            let attributes = if server {
                vec![
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("http.route", "/"),
                    KeyValue::new("url.path", "/"),
                    KeyValue::new("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
                    KeyValue::new("http.response.status_code", 200),
                ]
            } else {
                vec![
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("url.full", "http://api_02:5002/"),
                    KeyValue::new("server.address", "api_02"),
                    KeyValue::new("server.port", 5002),
                    KeyValue::new("peer.service", "api_02"),
                    KeyValue::new("http.response.status_code", 200),
                ]
            };
            SpanData {
                span_context: SpanContext::new(
                    TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736 + i as u128),
                    SpanId::from(0x00f0_67aa_0ba9_02b7 + i as u64),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                ),
                parent_span_id: SpanId::from(0x0a2f_b4a1_d1a9_6d31 + i as u64),
                parent_span_is_remote: false,
                span_kind: if server {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                },
                name: if server { "GET /".into() } else { "GET".into() },
                start_time: start,
                end_time: start + Duration::from_micros(1234),
                attributes,
                dropped_attributes_count: 0,
                events: SpanEvents::default(),
                links: SpanLinks::default(),
                status: Status::Unset,
                instrumentation_scope: InstrumentationScope::builder("telemetry").build(),
            }
        })
        .collect()
}
