//! `GET /metrics`: how full the span exporter's queue is, in Prometheus'
//! text format, so a scraper (or `curl`) sees spans pile up while Zipkin
//! is away, before any is dropped. The names are those of OpenTelemetry's
//! SDK metrics (`otel.sdk.processor.span.queue.size` and `.capacity`),
//! written as Prometheus writes them.
//!
//! Two gauges are written by hand: a metrics crate and its registry would
//! be more code than the two lines they replace.

use std::fmt::Write as _;

use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};
use telemetry::QueueGauge;

/// The path of the metrics.
pub const METRICS_PATH: &str = "/metrics";

/// Prometheus' text format, version 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The answer to `GET /metrics`: the queue's two gauges, or none when
/// nothing is exported.
pub(crate) fn answer(queue: Option<&QueueGauge>) -> Response {
    let mut text = String::new();
    if let Some(queue) = queue {
        gauge(
            &mut text,
            "otel_sdk_processor_span_queue_size",
            "Spans held by the exporter: waiting for a batch, in an upload, or waiting to be tried again.",
            queue.spans(),
        );
        gauge(
            &mut text,
            "otel_sdk_processor_span_queue_capacity",
            "The most spans the exporter holds (OTEL_BSP_MAX_QUEUE_SIZE); past it, spans are dropped.",
            queue.capacity(),
        );
    }
    (
        [(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))],
        text,
    )
        .into_response()
}

fn gauge(text: &mut String, name: &str, help: &str, value: usize) {
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    );
}
