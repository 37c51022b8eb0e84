//! The internals that the project's benchmark (`bench/`) measures, opened
//! by the `bench` feature. Not part of the API: they change with the
//! benchmark.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanProcessor};
use opentelemetry_semantic_conventions::attribute::HTTP_RESPONSE_STATUS_CODE;
use reqwest::Url;
use tracing::Dispatch;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::{
    TelemetryConfig, client,
    log_lines::log_lines,
    request::{self, RequestTrace},
    sampling::{Decision, Sampler},
    server,
    setup::{spans_layer, tracer_provider},
};

/// Appends `spans` to `out` as the exporter writes them for Zipkin.
pub fn write_spans(spans: &[SpanData], service_name: &str, out: &mut Vec<u8>) {
    use span_export::Encoding;
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(service_name.to_owned())
        .build();
    span_export::ZipkinJson.encode(spans, &resource, out);
}

/// The subscriber a service runs: the registry, the log lines (the fmt
/// layer with its `EnvFilter`) and, when `traced`, the filtered
/// OpenTelemetry layer, with the provider, sampler and id generator of
/// `Telemetry::init`; its spans go to `processor` instead of Zipkin.
/// Without `traced`, as with `OTEL_SDK_DISABLED`. Keep the provider
/// (`None` without `traced`) as long as the subscriber is used.
pub fn subscriber(
    traced: bool,
    processor: impl SpanProcessor + 'static,
) -> (Dispatch, Option<SdkTracerProvider>) {
    if !traced {
        let plain = Dispatch::new(tracing_subscriber::registry().with(log_lines()));
        return (plain, None);
    }
    let config = TelemetryConfig::from_vars("bench", |_| None).expect("the defaults");
    let provider = tracer_provider(&config, Sampler::new(&config.sampler))
        .with_span_processor(processor)
        .build();
    let traced = Dispatch::new(
        tracing_subscriber::registry()
            .with(spans_layer(&provider))
            .with(log_lines()),
    );
    (traced, Some(provider))
}

/// One request's worth of spans, as the three services make them, with
/// nothing else of a request: api_01's SERVER span and its two CLIENT
/// spans, api_02's SERVER and CLIENT spans, and api_03's SERVER and `work`
/// spans, twice. 9 spans, made by the services' own constructors, given
/// the same fields, records, parents and entries (a SERVER span entered
/// while its handler runs, a `work` span twice), each SERVER span built
/// with the request's decision and ids, each CLIENT span's context read
/// for its B3 headers, and the access log line. What it leaves out is the
/// rest of a request: HTTP, B3 headers, the answers, the export.
pub fn one_request_of_spans() {
    let request = Request::get("/").body(Body::empty()).expect("a request");
    let api_02 = Url::parse("http://api_02:5002/").expect("a URL");
    let api_03 = Url::parse("http://api_03:5003/").expect("a URL");
    let trace_id = TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736);
    let server_span = |id: u64, parent: Option<u64>| {
        let span = server::request_span(&request);
        let trace = RequestTrace::Recorded {
            trace_id,
            span_id: SpanId::from(id),
            parent_span_id: parent.map(SpanId::from),
            decision: Decision::Record,
        };
        request::build_server_span(&span, trace);
        span
    };
    let call = |url: &Url, peer: &str| {
        let span = client::call_span(&Method::GET, url, peer);
        drop(span.context());
        span.record(HTTP_RESPONSE_STATUS_CODE, 200i64);
    };
    let answered = |span: &tracing::Span| {
        server::record_answer(span, StatusCode::OK, Duration::ZERO);
    };

    // api_01: entered while its handler runs (polled three times).
    let api_01 = server_span(1, None);
    for round in 0..3 {
        api_01.in_scope(|| {
            if round == 0 {
                call(&api_02, "api_02");
                call(&api_03, "api_03");
            }
        });
    }
    answered(&api_01);
    // api_02, under api_01's call.
    let api_02_span = server_span(2, Some(1));
    for round in 0..3 {
        api_02_span.in_scope(|| {
            if round == 0 {
                call(&api_03, "api_03");
            }
        });
    }
    answered(&api_02_span);
    // api_03, twice: its work span entered twice, as the sleep is polled.
    for (id, parent) in [(3, 1), (4, 2)] {
        let api_03_span = server_span(id, Some(parent));
        let work = api_03_span.in_scope(|| tracing::info_span!("work", work_ms = 0i64));
        for _ in 0..2 {
            api_03_span.in_scope(|| work.in_scope(|| {}));
        }
        drop(work);
        answered(&api_03_span);
    }
}
