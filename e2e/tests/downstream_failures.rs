//! What a failure looks like: a callee that is down, fails or hangs gives a
//! clear JSON error from its caller and red spans in Zipkin; fault knobs in
//! the query string make any service fail or slow down on demand.

use std::time::{Duration, Instant};

use e2e::*;
use serde_json::Value;

fn client_span_to<'a>(spans: &'a [Value], caller: &str, callee: &str) -> &'a Value {
    spans_of(spans, caller, "CLIENT")
        .into_iter()
        .find(|span| span["remoteEndpoint"]["serviceName"] == callee)
        .unwrap_or_else(|| panic!("no CLIENT span {caller} → {callee}: {spans:#?}"))
}

fn assert_error_span(span: &Value) {
    assert!(
        tag(span, "error").is_some_and(|e| !e.is_empty()),
        "error tag: {span}"
    );
    assert_eq!(tag(span, "otel.status_code"), Some("ERROR"), "{span}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_that_is_down_gives_502_naming_it_and_red_spans() {
    let collector = Collector::start().await.unwrap();
    let (down, _) = refusing_endpoint();
    let down_url = down.trim_end_matches("/api/v2/spans").to_owned();
    let endpoint = collector.endpoint();
    let common = [
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("WORK_MS", "0"),
    ];
    let api_03 = Service::start("api_03", &common);
    let api_02 = Service::start(
        "api_02",
        &[&common[..], &[("API_03_URL", api_03.url.as_str())]].concat(),
    );
    let api_01 = Service::start(
        "api_01",
        &[
            &common[..],
            &[
                ("API_02_URL", api_02.url.as_str()),
                ("API_03_URL", down_url.as_str()),
            ],
        ]
        .concat(),
    );

    let (status, answer) = fetch(&api_01.url, &[]).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["failed"], serde_json::json!(["api_03"]));
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("api_03 could not be reached"),
        "{answer}"
    );
    assert_eq!(
        answer["downstream"]["api_02"]["service"], "api_02",
        "the other callee's answer is kept"
    );

    let trace_id = answer["trace_id"].as_str().unwrap();
    // api_01: SERVER + 2 CLIENT; api_02: SERVER + CLIENT; api_03: SERVER + work.
    let spans = wait_for_trace(&collector, trace_id, 7).await;
    let failed_call = client_span_to(&spans, "api_01", "api_03");
    assert_error_span(failed_call);
    assert_eq!(tag(failed_call, "error.type"), Some("connection"));
    let server = spans_of(&spans, "api_01", "SERVER")[0];
    assert_error_span(server);
    assert_eq!(tag(server, "http.response.status_code"), Some("502"));
    assert!(tag(client_span_to(&spans, "api_01", "api_02"), "error").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_answering_5xx_gives_502_with_its_status_on_the_span() {
    let stack = Stack::start(&[]).await;
    // api_02 fails; api_03's answer must still be there.
    let (status, answer) = fetch(&format!("{}/?fail=api_02", stack.api_01.url), &[]).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["failed"], serde_json::json!(["api_02"]));
    assert_eq!(answer["error"], "api_02 answered 500 Internal Server Error");
    assert_eq!(
        answer["downstream"]["api_02"]["answer"]["error"],
        "failure injected with fail=api_02"
    );
    assert_eq!(answer["downstream"]["api_03"]["service"], "api_03");

    let trace_id = answer["trace_id"].as_str().unwrap();
    // api_02 fails before calling api_03: 3 + 1 + 2 spans.
    let spans = wait_for_trace(&stack.collector, trace_id, 6).await;
    let failed_call = client_span_to(&spans, "api_01", "api_02");
    assert_error_span(failed_call);
    assert_eq!(tag(failed_call, "http.response.status_code"), Some("500"));
    let failed_server = spans_of(&spans, "api_02", "SERVER")[0];
    assert_error_span(failed_server);
    assert_eq!(tag(failed_server, "http.response.status_code"), Some("500"));
    assert_error_span(spans_of(&spans, "api_01", "SERVER")[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_travels_to_the_service_it_names() {
    let stack = Stack::start(&[]).await;
    // api_03 fails both for api_01 and, through api_02, for api_02.
    let (status, answer) = fetch(&format!("{}/?fail=api_03", stack.api_01.url), &[]).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["failed"], serde_json::json!(["api_02", "api_03"]));
    assert_eq!(
        answer["downstream"]["api_02"]["answer"]["failed"],
        serde_json::json!(["api_03"])
    );

    let trace_id = answer["trace_id"].as_str().unwrap();
    // api_03 fails before its work: 3 + 2 + 2 spans.
    let spans = wait_for_trace(&stack.collector, trace_id, 7).await;
    for span in spans_of(&spans, "api_03", "SERVER") {
        assert_error_span(span);
        assert_eq!(tag(span, "http.response.status_code"), Some("500"));
    }
    assert_error_span(client_span_to(&spans, "api_02", "api_03"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_that_hangs_gives_504_within_the_timeout() {
    let stack = Stack::start(&[("DOWNSTREAM_TIMEOUT_MS", "500")]).await;
    let started = Instant::now();
    let (status, answer) = fetch(
        &format!("{}/?slow=api_02&delay_ms=5000", stack.api_01.url),
        &[],
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(status, 504, "{answer}");
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}"
    );
    assert_eq!(answer["failed"], serde_json::json!(["api_02"]));
    assert_eq!(answer["error"], "api_02 did not answer within 500 ms");
    assert_eq!(answer["downstream"]["api_03"]["service"], "api_03");

    let trace_id = answer["trace_id"].as_str().unwrap();
    // api_01: 3 spans; api_03: 2. When api_01 gives up, the connection
    // closes and api_02's handler is dropped mid-delay: its SERVER and delay
    // spans end there, and are exported too.
    let spans = wait_for_trace(&stack.collector, trace_id, 7).await;
    assert!(
        spans
            .iter()
            .any(|span| span["name"] == "injected delay" && service(span) == "api_02")
    );
    let timed_out = client_span_to(&spans, "api_01", "api_02");
    assert_error_span(timed_out);
    assert_eq!(tag(timed_out, "error.type"), Some("timeout"));
    assert_eq!(
        tag(
            spans_of(&spans, "api_01", "SERVER")[0],
            "http.response.status_code"
        ),
        Some("504")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_service_shows_a_long_span() {
    let stack = Stack::start(&[]).await;
    let (status, answer) = fetch(
        &format!("{}/?slow=api_03&delay_ms=300", stack.api_01.url),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"].as_str().unwrap();
    // 9 spans, plus an "injected delay" span in each of api_03's two requests.
    let spans = wait_for_trace(&stack.collector, trace_id, SPANS_PER_REQUEST + 2).await;
    let delays: Vec<_> = spans
        .iter()
        .filter(|span| span["name"] == "injected delay")
        .collect();
    assert_eq!(delays.len(), 2, "{spans:#?}");
    for delay in delays {
        assert_eq!(service(delay), "api_03");
        assert!(delay["duration"].as_u64().unwrap() >= 300_000, "{delay}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_knobs_get_400_with_a_json_message() {
    let stack = Stack::start(&[]).await;
    for query in [
        "slow=api_02&delay_ms=abc",
        "slow=api_02&delay_ms=99999",
        "delay_ms=300",
        "fail=",
    ] {
        let (status, answer) = fetch(&format!("{}/?{query}", stack.api_01.url), &[]).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{query}: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_get_404_and_wrong_methods_405_without_error_spans() {
    let stack = Stack::start(&[]).await;
    let (status, _) = fetch(&format!("{}/nope", stack.api_01.url), &[]).await;
    assert_eq!(status, 404);
    let response = http().post(&stack.api_01.url).send().await.unwrap();
    assert_eq!(response.status(), 405);

    // A traced request afterwards: once its spans are in, any of the above
    // would be too (each service exports its spans in order).
    let (_, answer) = fetch(&stack.api_01.url, &[]).await;
    wait_for_trace(
        &stack.collector,
        answer["trace_id"].as_str().unwrap(),
        SPANS_PER_REQUEST,
    )
    .await;
    let spans = stack.collector.store.spans();
    assert!(
        spans.iter().all(|span| tag(span, "error").is_none()),
        "no error spans: {spans:#?}"
    );
}
