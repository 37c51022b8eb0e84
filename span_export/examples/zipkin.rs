//! A program that sends three spans to Zipkin with nothing but the
//! OpenTelemetry SDK and this crate, then stops and logs the account.
//!
//! ```text
//! cargo run -p span_export --example zipkin
//! # another Zipkin than http://localhost:9411/api/v2/spans:
//! ZIPKIN=http://zipkin:9411/api/v2/spans cargo run -p span_export --example zipkin
//! ```
//!
//! With no Zipkin there, the log says at the stop that the upload still
//! failed and that the three spans were lost: nothing is lost silently.

use opentelemetry::{
    KeyValue,
    trace::{SpanKind, TraceContextExt, Tracer, TracerProvider},
};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use span_export::{BatchConfig, ExportProcessor, ZipkinJson, zipkin::PEER_SERVICE};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The account is logged through `tracing`.
    tracing_subscriber::fmt().init();
    let endpoint = std::env::var("ZIPKIN")
        .unwrap_or_else(|_| "http://localhost:9411/api/v2/spans".into())
        .parse()?;
    let processor = ExportProcessor::start(endpoint, ZipkinJson, BatchConfig::default())?;
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("example").build())
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("example");
    tracer.in_span("GET /checkout", |context| {
        let trace_id = context.span().span_context().trace_id();
        println!("trace {trace_id}: http://localhost:9411/zipkin/traces/{trace_id}");
        for callee in ["inventory", "payment"] {
            // A CLIENT span naming its callee: Zipkin draws the link.
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
