//! Sampling decisions: a caller's "not sampled" and "debug" are honoured
//! by every service, and `OTEL_TRACES_SAMPLER` works as OpenTelemetry
//! documents it.

use e2e::*;
use serde_json::Value;

const SPAN: &str = "a2fb4a1d1a96d312";
// TraceIdRatioBased decides on the low 63 bits of the trace id: these two
// fall on either side of a 0.5 ratio, so the test decides nothing by chance.
const LOW_TRACE: &str = "4bf92f3577b34da60000000000000042";
const HIGH_TRACE: &str = "4bf92f3577b34da6fffffffffffffff0";

/// Sends a traced request and waits for its spans: each service exports its
/// spans in order, so anything an earlier request exported is in by then.
async fn flush_with_a_sampled_request(stack: &Stack, trace_id: &str) {
    let headers = [
        ("X-B3-TraceId", trace_id),
        ("X-B3-SpanId", SPAN),
        ("X-B3-Sampled", "1"),
    ];
    let (status, answer) = fetch(&stack.api_01.url, &headers).await;
    assert_eq!(status, 200, "{answer}");
    wait_for_trace(&stack.collector, trace_id, SPANS_PER_REQUEST).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_marked_not_sampled_is_answered_and_exported_by_no_service() {
    let stack = Stack::start(&[]).await;
    let headers = [
        ("X-B3-TraceId", HIGH_TRACE),
        ("X-B3-SpanId", SPAN),
        ("X-B3-Sampled", "0"),
    ];
    let (status, answer) = fetch(&stack.api_01.url, &headers).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["downstream"]["api_02"]["downstream"]["api_03"]["service"],
        "api_03"
    );

    flush_with_a_sampled_request(&stack, LOW_TRACE).await;
    let spans = stack.collector.store.spans();
    assert!(of_trace(&spans, HIGH_TRACE).is_empty(), "{spans:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn not_sampled_is_passed_on_downstream() {
    let collector = Collector::start().await.unwrap();
    let recorder = HeaderRecorder::start().await;
    let endpoint = collector.endpoint();
    let api_01 = Service::start(
        "api_01",
        &[
            ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", endpoint.as_str()),
            ("API_02_URL", recorder.url.as_str()),
            ("API_03_URL", recorder.url.as_str()),
        ],
    );
    let headers = [
        ("X-B3-TraceId", HIGH_TRACE),
        ("X-B3-SpanId", SPAN),
        ("X-B3-Sampled", "0"),
    ];
    let (status, _) = fetch(&api_01.url, &headers).await;
    assert_eq!(status, 200);
    assert_eq!(recorder.header_values("x-b3-sampled"), ["0", "0"]);
    assert_eq!(
        recorder.header_values("x-b3-traceid"),
        [HIGH_TRACE, HIGH_TRACE]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_is_exported_and_marked_even_when_sampling_is_off() {
    let stack = Stack::start(&[("OTEL_TRACES_SAMPLER", "always_off")]).await;
    let headers = [
        ("X-B3-TraceId", HIGH_TRACE),
        ("X-B3-SpanId", SPAN),
        ("X-B3-Flags", "1"),
    ];
    let (status, answer) = fetch(&stack.api_01.url, &headers).await;
    assert_eq!(status, 200, "{answer}");
    let spans = wait_for_trace(&stack.collector, HIGH_TRACE, SPANS_PER_REQUEST).await;
    assert!(
        spans.iter().all(|span| span["debug"] == Value::Bool(true)),
        "{spans:#?}"
    );
    for service_name in ["api_01", "api_02", "api_03"] {
        assert!(
            !spans_of(&spans, service_name, "SERVER").is_empty(),
            "{service_name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn always_off_exports_nothing() {
    let mut stack = Stack::start(&[("OTEL_TRACES_SAMPLER", "always_off")]).await;
    for _ in 0..3 {
        let (status, answer) = fetch(&stack.api_01.url, &[]).await;
        assert_eq!(status, 200, "{answer}");
    }
    // Stopping flushes whatever was queued: nothing may arrive.
    for service in [&mut stack.api_01, &mut stack.api_02, &mut stack.api_03] {
        assert!(service.terminate(EXIT_LIMIT).await.success());
    }
    assert!(
        stack.collector.store.spans().is_empty(),
        "{:#?}",
        stack.collector.store.spans()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_id_ratio_samples_by_trace_id_in_every_service() {
    let stack = Stack::start(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
    ])
    .await;
    // Not parent-based: even a caller's "sampled" does not override the ratio.
    let headers = [
        ("X-B3-TraceId", HIGH_TRACE),
        ("X-B3-SpanId", SPAN),
        ("X-B3-Sampled", "1"),
    ];
    let (status, _) = fetch(&stack.api_01.url, &headers).await;
    assert_eq!(status, 200);
    flush_with_a_sampled_request(&stack, LOW_TRACE).await;
    assert!(of_trace(&stack.collector.store.spans(), HIGH_TRACE).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deferred_decision_is_made_by_the_ratio_sampler() {
    let stack = Stack::start(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
    ])
    .await;
    for trace_id in [HIGH_TRACE, LOW_TRACE] {
        let (status, _) = fetch(
            &stack.api_01.url,
            &[("X-B3-TraceId", trace_id), ("X-B3-SpanId", SPAN)],
        )
        .await;
        assert_eq!(status, 200);
    }
    wait_for_trace(&stack.collector, LOW_TRACE, SPANS_PER_REQUEST).await;
    assert!(of_trace(&stack.collector.store.spans(), HIGH_TRACE).is_empty());
}
