//! The same three spans as the `zipkin` example, over OTLP: to an
//! OpenTelemetry Collector, or to a Zipkin that runs its OTLP module.
//!
//! ```text
//! cargo run -p span_export --example otlp
//! # another receiver than http://localhost:4318/v1/traces:
//! OTLP=http://collector:4318/v1/traces cargo run -p span_export --example otlp
//! ```
//!
//! Only the encoding changes: the queue, the retries and the account are
//! the same, and so is the log at the stop.

use opentelemetry::{
    KeyValue,
    trace::{SpanKind, TraceContextExt, Tracer, TracerProvider},
};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use span_export::{BatchConfig, ExportProcessor, Otlp, zipkin::PEER_SERVICE};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The account is logged through `tracing`.
    tracing_subscriber::fmt().init();
    let endpoint = std::env::var("OTLP")
        .unwrap_or_else(|_| "http://localhost:4318/v1/traces".into())
        .parse()?;
    let processor = ExportProcessor::start(endpoint, Otlp::Protobuf, BatchConfig::default())?;
    let provider = SdkTracerProvider::builder()
        // Every OTLP receiver names the service by this resource attribute.
        .with_resource(Resource::builder().with_service_name("example").build())
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("example");
    tracer.in_span("GET /checkout", |context| {
        let trace_id = context.span().span_context().trace_id();
        println!("trace {trace_id}");
        for callee in ["inventory", "payment"] {
            // A CLIENT span naming its callee: OTLP receivers that feed
            // Zipkin turn `peer.service` into the remote endpoint.
            tracer
                .span_builder("GET")
                .with_kind(SpanKind::Client)
                .with_attributes([KeyValue::new(PEER_SERVICE, callee)])
                .start(&tracer);
        }
    });
    // Uploads what is still queued, each upload bounded by its timeout.
    provider.shutdown()?;
    Ok(())
}
