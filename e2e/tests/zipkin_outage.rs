//! Tracing never breaks serving: with Zipkin refusing, hanging or gone, the
//! services answer normally and promptly, log the failure at a bounded rate
//! with a count of what was lost, keep their span queue bounded, and export
//! again once Zipkin is back.

use std::time::{Duration, Instant};

use e2e::*;

/// Far below the 5 s upload timeout: a request that waited on span export
/// would take at least that long.
const PROMPT: Duration = Duration::from_secs(2);
/// The failure log's period: at most one warning per this.
const LOG_PERIOD: Duration = Duration::from_secs(10);

async fn requests_are_served_promptly(api_01: &Service, count: usize) {
    for _ in 0..count {
        let started = Instant::now();
        let (status, answer) = fetch(&api_01.url, &[]).await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            started.elapsed() < PROMPT,
            "a request took {:?}",
            started.elapsed()
        );
    }
}

/// The lines of `service`'s log that warn of lost uploads, and the sum of
/// the spans they say were lost.
fn loss_warnings(service: &Service) -> (Vec<String>, u64) {
    let text = "span export to Zipkin failed";
    (
        warnings(service, text),
        counts(service, text, "spans_lost="),
    )
}

fn warnings(service: &Service, text: &str) -> Vec<String> {
    service
        .logs()
        .into_iter()
        .filter(|line| line.contains("WARN") && line.contains(text))
        .collect()
}

/// The sum of the numbers after `field` in the warnings that contain `text`.
fn counts(service: &Service, text: &str, field: &str) -> u64 {
    warnings(service, text)
        .iter()
        .map(|line| {
            let count = line.split(field).nth(1).expect("a count");
            count
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusing_zipkin_does_not_affect_serving_and_is_logged_at_a_bounded_rate() {
    let zipkin = RefusingPort::new();
    let started = Instant::now();
    let mut stack = Stack::builder()
        .zipkin_endpoint(&zipkin.zipkin_endpoint())
        .env("RUST_LOG", "info,telemetry::zipkin=debug")
        .start()
        .await;

    // Requests spread over several export periods, so several uploads fail.
    let rounds = 5;
    for _ in 0..rounds {
        let failed_before = stack.api_01.count_logs("span upload failed");
        requests_are_served_promptly(&stack.api_01, 2).await;
        // Each batch's upload fails.
        stack
            .api_01
            .expect_log("span upload failed", failed_before + 1)
            .await;
    }
    // Stopping tries a last upload, and reports what no warning has yet.
    assert!(stack.api_01.terminate(EXIT_LIMIT).await.success());
    let elapsed = started.elapsed();

    let (warnings, lost) = loss_warnings(&stack.api_01);
    let at_most = 2 + (elapsed.as_secs_f64() / LOG_PERIOD.as_secs_f64()) as usize;
    assert!(
        !warnings.is_empty() && warnings.len() <= at_most,
        "{} warnings in {elapsed:?}, at most {at_most}: {warnings:#?}",
        warnings.len()
    );
    assert!(
        warnings[0].contains("Connection refused") || warnings[0].contains("connect"),
        "{}",
        warnings[0]
    );
    // Every span api_01 made (3 a request) is counted as lost, once.
    assert_eq!(lost, 3 * 2 * rounds as u64, "{warnings:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_zipkin_does_not_slow_requests_and_every_lost_span_is_counted() {
    let zipkin = HangingEndpoint::start().await;
    // A small queue and batches, one upload at a time, that gives up after
    // a second: the queue overflows within the test.
    let mut stack = Stack::builder()
        .zipkin_endpoint(&zipkin.url)
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "16")
        .env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8")
        .env("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "1")
        .env("OTEL_BSP_EXPORT_TIMEOUT", "1000")
        .start()
        .await;

    // api_03 makes 4 spans a request: 40 requests overflow its queue while
    // its uploads hang.
    let requests = 40;
    requests_are_served_promptly(&stack.api_01, requests).await;
    // Spans beyond the queue are dropped rather than buffered (memory stays
    // bounded), and the log says so while it happens.
    stack.api_03.expect_log("span queue full", 1).await;
    // At the stop, every span api_03 made is accounted for: dropped from the
    // queue, or lost in an upload that timed out.
    assert!(stack.api_03.terminate(EXIT_LIMIT).await.success());
    let (_, lost) = loss_warnings(&stack.api_03);
    let dropped: u64 = counts(&stack.api_03, "span queue full", "spans_dropped=");
    assert!(dropped > 0, "{:#?}", stack.api_03.logs());
    assert_eq!(
        lost + dropped,
        4 * requests as u64,
        "{:#?}",
        stack.api_03.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_arrive_again_when_zipkin_comes_back() {
    let zipkin = RefusingPort::new();
    let mut stack = Stack::builder()
        .zipkin_endpoint(&zipkin.zipkin_endpoint())
        .start()
        .await;
    requests_are_served_promptly(&stack.api_01, 10).await;
    stack
        .api_01
        .expect_log("span export to Zipkin failed", 1)
        .await;

    // Zipkin comes back on the same address.
    let collector = Collector::start_on(
        zipkin.listen(),
        test_collector::Store::new(test_collector::Mode::KeepSpans),
    )
    .unwrap();
    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"].as_str().unwrap().to_owned();
    wait_for_trace(&collector, &trace_id, SPANS_PER_REQUEST).await;
    stack
        .api_01
        .expect_log("span export to Zipkin works again", 1)
        .await;
    // Once they have stopped, nothing more can arrive: exactly the 9.
    stack.stop().await;
    let spans = collector.store.spans();
    assert_eq!(of_trace(&spans, &trace_id).len(), SPANS_PER_REQUEST);
}
