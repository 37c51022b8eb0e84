//! What a failure looks like: a callee that is down, fails or hangs gives a
//! clear JSON error from its caller and red spans in Zipkin; fault knobs in
//! the query string make any service fail or slow down on demand.

use std::time::{Duration, Instant};

use e2e::*;
use serde_json::{Value, json};

fn client_span_to<'a>(spans: &'a [Value], caller: &str, callee: &str) -> &'a Value {
    let calls: Vec<_> = spans_of(spans, caller, "CLIENT")
        .into_iter()
        .filter(|span| span["remoteEndpoint"]["serviceName"] == callee)
        .collect();
    assert_eq!(
        calls.len(),
        1,
        "one CLIENT span {caller} → {callee}: {spans:#?}"
    );
    calls[0]
}

fn assert_error_span(span: &Value) {
    assert!(
        tag(span, "error").is_some_and(|e| !e.is_empty()),
        "error tag: {span}"
    );
    assert_eq!(tag(span, "otel.status_code"), Some("ERROR"), "{span}");
}

fn assert_ok_span(span: &Value) {
    assert!(tag(span, "error").is_none(), "no error: {span}");
}

/// Zipkin's dependency links over what it holds (the stack's one trace),
/// as `(caller, callee, calls, errors)`: its own count of the failures.
async fn zipkin_links(stack: &Stack) -> Vec<(String, String, u64, u64)> {
    let links = stack.zipkin.dependencies().await;
    links
        .into_iter()
        .map(|((caller, callee), link)| (caller, callee, link.call_count, link.error_count))
        .collect()
}

fn rows(rows: &[(&str, &str, u64, u64)]) -> Vec<(String, String, u64, u64)> {
    rows.iter()
        .map(|&(caller, callee, calls, errors)| (caller.into(), callee.into(), calls, errors))
        .collect()
}

/// How many spans of each (service, kind) `spans` holds.
fn shape(spans: &[Value]) -> Vec<(&str, &str, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for span in spans {
        *counts.entry((service(span), kind(span))).or_insert(0) += 1;
    }
    counts.into_iter().map(|((s, k), n)| (s, k, n)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_that_is_down_gives_502_naming_it_and_red_spans() {
    let down = RefusingPort::new();
    let mut stack = Stack::builder()
        .env("WORK_MS", "0")
        .redirect(Api::Api01, Api::Api03, &down.url())
        .start()
        .await;

    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["failed"], json!(["api_03"]));
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

    let spans = stack.stop_for_trace(&answer).await;
    // api_01: SERVER + 2 CLIENT; api_02: SERVER + CLIENT; api_03: SERVER + work.
    assert_eq!(
        shape(&spans),
        [
            ("api_01", "CLIENT", 2),
            ("api_01", "SERVER", 1),
            ("api_02", "CLIENT", 1),
            ("api_02", "SERVER", 1),
            ("api_03", "INTERNAL", 1),
            ("api_03", "SERVER", 1)
        ]
    );
    let failed_call = client_span_to(&spans, "api_01", "api_03");
    assert_error_span(failed_call);
    assert_eq!(tag(failed_call, "error.type"), Some("connection"));
    let server = spans_of(&spans, "api_01", "SERVER")[0];
    assert_error_span(server);
    assert_eq!(tag(server, "http.response.status_code"), Some("502"));
    assert_ok_span(client_span_to(&spans, "api_01", "api_02"));
    // Zipkin draws the call that found nobody, red, to the service named.
    assert_eq!(
        zipkin_links(&stack).await,
        rows(&[
            ("api_01", "api_02", 1, 0),
            ("api_01", "api_03", 1, 1),
            ("api_02", "api_03", 1, 0)
        ])
    );
}

/// Starts a stack and asks api_01 with `?fail={service}`: a 502 whose
/// `failed` lists `failed`.
async fn ask_to_fail(service: &str, failed: Value) -> (Stack, Value) {
    let stack = Stack::start(&[]).await;
    let url = format!("{}/?fail={service}", stack.api_01.url);
    let (status, answer) = fetch(&url, &[]).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["failed"], failed, "{answer}");
    (stack, answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_answering_5xx_gives_502_with_its_status_on_the_span() {
    // api_02 fails; api_03's answer must still be there.
    let (mut stack, answer) = ask_to_fail("api_02", json!(["api_02"])).await;
    assert_eq!(answer["error"], "api_02 answered 500 Internal Server Error");
    assert_eq!(
        answer["downstream"]["api_02"]["answer"]["error"],
        "failure injected with fail=api_02"
    );
    assert_eq!(answer["downstream"]["api_03"]["service"], "api_03");

    let spans = stack.stop_for_trace(&answer).await;
    // api_02 fails before calling api_03: 3 + 1 + 2 spans.
    assert_eq!(spans.len(), 6, "{spans:#?}");
    let failed_call = client_span_to(&spans, "api_01", "api_02");
    assert_error_span(failed_call);
    assert_eq!(tag(failed_call, "http.response.status_code"), Some("500"));
    assert_eq!(tag(failed_call, "error.type"), Some("500"));
    let failed_server = spans_of(&spans, "api_02", "SERVER")[0];
    assert_error_span(failed_server);
    assert_eq!(tag(failed_server, "http.response.status_code"), Some("500"));
    assert_error_span(spans_of(&spans, "api_01", "SERVER")[0]);
    assert_ok_span(client_span_to(&spans, "api_01", "api_03"));
    assert_eq!(
        zipkin_links(&stack).await,
        rows(&[("api_01", "api_02", 1, 1), ("api_01", "api_03", 1, 0)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_travels_to_the_service_it_names_and_shows_red_up_to_the_root() {
    // api_03 fails both for api_01 and, through api_02, for api_02.
    let (mut stack, answer) = ask_to_fail("api_03", json!(["api_02", "api_03"])).await;
    assert_eq!(
        answer["downstream"]["api_02"]["answer"]["failed"],
        json!(["api_03"])
    );

    let spans = stack.stop_for_trace(&answer).await;
    // api_03 fails before its work: 3 + 2 + 2 spans, every one of them red.
    assert_eq!(spans.len(), 7, "{spans:#?}");
    for span in &spans {
        assert_error_span(span);
    }
    for span in spans_of(&spans, "api_03", "SERVER") {
        assert_eq!(tag(span, "http.response.status_code"), Some("500"));
    }
    for (caller, callee, status) in [
        ("api_01", "api_02", "502"),
        ("api_01", "api_03", "500"),
        ("api_02", "api_03", "500"),
    ] {
        let call = client_span_to(&spans, caller, callee);
        assert_eq!(tag(call, "error.type"), Some(status), "{call}");
    }
    let root = spans_of(&spans, "api_01", "SERVER")[0];
    assert_eq!(tag(root, "http.response.status_code"), Some("502"));
    assert_eq!(
        zipkin_links(&stack).await,
        rows(&[
            ("api_01", "api_02", 1, 1),
            ("api_01", "api_03", 1, 1),
            ("api_02", "api_03", 1, 1)
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_that_hangs_gives_504_within_the_timeout() {
    let mut stack = Stack::start(&[("DOWNSTREAM_TIMEOUT_MS", "500")]).await;
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
    assert_eq!(answer["failed"], json!(["api_02"]));
    assert_eq!(answer["error"], "api_02 did not answer within 500 ms");
    assert_eq!(answer["downstream"]["api_03"]["service"], "api_03");

    let spans = stack.stop_for_trace(&answer).await;
    // api_01: 3 spans; api_03: 2. When api_01 gives up, the connection
    // closes and api_02's handler is dropped mid-delay: its SERVER and delay
    // spans end there, and are exported too.
    assert_eq!(spans.len(), 7, "{spans:#?}");
    let delay = spans.iter().find(|span| span["name"] == "injected delay");
    assert_eq!(delay.map(service), Some("api_02"), "{spans:#?}");
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
    // Zipkin counts a call's error on the callee's SERVER span when there
    // is one: api_02's, cut off mid-delay, is not red, so neither is the
    // link, though api_01's CLIENT span is.
    assert_eq!(
        zipkin_links(&stack).await,
        rows(&[("api_01", "api_02", 1, 0), ("api_01", "api_03", 1, 0)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_service_shows_a_long_span() {
    let mut stack = Stack::start(&[]).await;
    let (status, answer) = fetch(
        &format!("{}/?slow=api_03&delay_ms=300", stack.api_01.url),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let spans = stack.stop_for_trace(&answer).await;
    // 9 spans, plus an "injected delay" span in each of api_03's two requests.
    assert_eq!(spans.len(), SPANS_PER_REQUEST + 2, "{spans:#?}");
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
    let mut stack = Stack::start(&[]).await;
    let (status, _) = fetch(&format!("{}/nope", stack.api_01.url), &[]).await;
    assert_eq!(status, 404);
    let response = http().post(&stack.api_01.url).send().await.unwrap();
    assert_eq!(response.status(), 405);

    // Both are traced (one SERVER span each, nothing else), and neither is red.
    let spans = stack.stop().await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let status_of = |span: &Value| tag(span, "http.response.status_code").unwrap().to_owned();
    let mut statuses: Vec<String> = spans.iter().map(status_of).collect();
    statuses.sort();
    assert_eq!(statuses, ["404", "405"]);
    for span in &spans {
        assert_eq!((service(span), kind(span)), ("api_01", "SERVER"));
        assert_ok_span(span);
    }
}
