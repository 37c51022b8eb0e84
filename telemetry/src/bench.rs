//! The internals that the project's benchmark (`bench/`) measures, opened
//! by the `bench` feature. Not part of the API: they change with the
//! benchmark.

use opentelemetry_sdk::trace::SpanData;

/// Appends `spans` to `out` as the exporter writes them for Zipkin.
pub fn write_spans(spans: &[SpanData], service_name: &str, out: &mut Vec<u8>) {
    crate::zipkin::write_spans(spans, service_name, out);
}
