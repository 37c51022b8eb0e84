//! Sampling decisions: a caller's "not sampled" and "debug" are honoured
//! by every service, `OTEL_TRACES_SAMPLER` works as OpenTelemetry documents
//! it, and `OTEL_SDK_DISABLED=true` turns tracing off. Every test that expects nothing also shows that something
//! else does arrive, so none passes because nothing is exported at all.

use e2e::*;
use serde_json::Value;

const SPAN: &str = "a2fb4a1d1a96d312";
// TraceIdRatioBased decides on the low 63 bits of the trace id: these two
// fall on either side of a 0.5 ratio, so the test decides nothing by chance.
const LOW_TRACE: &str = "4bf92f3577b34da60000000000000042";
const HIGH_TRACE: &str = "4bf92f3577b34da6fffffffffffffff0";

fn b3(trace_id: &str, decision: (&'static str, &'static str)) -> [(&'static str, String); 3] {
    [
        ("X-B3-TraceId", trace_id.to_owned()),
        ("X-B3-SpanId", SPAN.to_owned()),
        (decision.0, decision.1.to_owned()),
    ]
}

/// Stops the services and checks that, of everything they made, only the
/// trace `trace_id` arrived, whole.
async fn assert_only_recorded(stack: &mut Stack, trace_id: &str) {
    let spans = stack.stop().await;
    assert_eq!(of_trace(&spans, trace_id).len(), SPANS_PER_REQUEST);
    assert_eq!(spans.len(), SPANS_PER_REQUEST, "{spans:#?}");
}

async fn get(stack: &Stack, headers: &[(&'static str, String)]) -> Value {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, answer) = fetch(&stack.api_01.url, &headers).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn not_sampled_is_answered_passed_on_and_exported_by_no_service() {
    let mut stack = Stack::builder().record_hops().start().await;
    let answer = get(&stack, &b3(HIGH_TRACE, ("X-B3-Sampled", "0"))).await;
    assert_eq!(
        answer["downstream"]["api_02"]["downstream"]["api_03"]["service"],
        "api_03"
    );
    // Every hop carried the caller's trace and its decision.
    for hop in stack.hops() {
        let calls = hop.calls();
        assert_eq!(calls.len(), 1, "{} → {}", hop.caller, hop.callee);
        assert_eq!(calls[0]["x-b3-traceid"], HIGH_TRACE);
        assert_eq!(calls[0]["x-b3-sampled"], "0");
    }
    // The control: a sampled request afterwards is exported whole.
    get(&stack, &b3(LOW_TRACE, ("X-B3-Sampled", "1"))).await;
    assert_only_recorded(&mut stack, LOW_TRACE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_is_exported_and_marked_even_when_sampling_is_off() {
    let mut stack = Stack::start(&[("OTEL_TRACES_SAMPLER", "always_off")]).await;
    get(&stack, &b3(HIGH_TRACE, ("X-B3-Flags", "1"))).await;
    let spans = stack.stop().await;
    assert_eq!(spans.len(), SPANS_PER_REQUEST, "{spans:#?}");
    assert!(
        spans
            .iter()
            .all(|span| span["debug"] == Value::Bool(true) && span["traceId"] == HIGH_TRACE),
        "{spans:#?}"
    );
    for service_name in ["api_01", "api_02", "api_03"] {
        assert_eq!(
            spans_of(&spans, service_name, "SERVER").len(),
            1 + (service_name == "api_03") as usize
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn always_off_exports_nothing_but_debug() {
    let mut stack = Stack::start(&[("OTEL_TRACES_SAMPLER", "always_off")]).await;
    for _ in 0..3 {
        get(&stack, &[]).await;
    }
    // The control: a debug request is recorded under any sampler.
    get(&stack, &b3(LOW_TRACE, ("X-B3-Flags", "1"))).await;
    // Stopping flushes whatever was queued: only the debug trace arrives.
    assert_only_recorded(&mut stack, LOW_TRACE).await;
}

/// Requests in the traces HIGH_TRACE and LOW_TRACE, each sent with the
/// headers `context` gives, to a stack whose `sampler` has a ratio of 0.5:
/// only LOW_TRACE is recorded, and by every service.
async fn the_ratio_decides(sampler: &str, context: fn(&str) -> Vec<(&'static str, String)>) {
    let mut stack = Stack::start(&[
        ("OTEL_TRACES_SAMPLER", sampler),
        ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
    ])
    .await;
    for trace_id in [HIGH_TRACE, LOW_TRACE] {
        get(&stack, &context(trace_id)).await;
    }
    assert_only_recorded(&mut stack, LOW_TRACE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_id_ratio_samples_by_trace_id_in_every_service() {
    // Not parent-based: even a caller's "sampled" does not override the ratio.
    the_ratio_decides("traceidratio", |trace_id| {
        b3(trace_id, ("X-B3-Sampled", "1")).to_vec()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deferred_decision_is_made_by_the_ratio_sampler() {
    the_ratio_decides("parentbased_traceidratio", |trace_id| {
        vec![
            ("X-B3-TraceId", trace_id.to_owned()),
            ("X-B3-SpanId", SPAN.to_owned()),
        ]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_telemetry_exports_nothing_sends_no_headers_and_serves_as_usual() {
    // api_03 keeps its telemetry: the control that spans do get through.
    let mut stack = Stack::builder()
        .env_for(Api::Api01, "OTEL_SDK_DISABLED", "true")
        .env_for(Api::Api02, "OTEL_SDK_DISABLED", "true")
        .record_hops()
        .start()
        .await;
    let answer = get(&stack, &b3(LOW_TRACE, ("X-B3-Sampled", "1"))).await;
    assert_eq!(
        answer["downstream"]["api_02"]["downstream"]["api_03"]["service"],
        "api_03"
    );
    assert_eq!(answer["downstream"]["api_03"]["service"], "api_03");
    assert!(answer.get("trace_id").is_none(), "{answer}");
    for caller in [Api::Api01, Api::Api02] {
        for hop in stack
            .hops()
            .iter()
            .filter(|hop| hop.caller == caller.name())
        {
            let calls = hop.calls();
            assert_eq!(calls.len(), 1);
            assert!(
                calls[0]
                    .keys()
                    .all(|name| !name.as_str().starts_with("x-b3-")),
                "{} sends no trace headers: {:?}",
                hop.caller,
                calls[0]
            );
        }
    }
    let spans = stack.stop().await;
    // Only api_03's: a SERVER and a work span for each of its two requests,
    // each a trace of its own, since nobody told it of one.
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert!(
        spans.iter().all(|span| service(span) == "api_03"),
        "{spans:#?}"
    );
    assert!(of_trace(&spans, LOW_TRACE).is_empty());
}
