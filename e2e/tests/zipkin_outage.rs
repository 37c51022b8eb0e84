//! Tracing never breaks serving: with Zipkin refusing, hanging or gone, the
//! services answer normally and promptly, log the failure at a bounded rate,
//! keep what they hold bounded, account for every span at the stop, and
//! export again once Zipkin is back. (Under a steady load, with every fault
//! made and undone by the test, see `faults.rs`.)

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

fn warnings(service: &Service, text: &str) -> Vec<String> {
    service
        .logs()
        .into_iter()
        .filter(|line| line.contains("WARN") && line.contains(text))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusing_zipkin_does_not_affect_serving_and_is_logged_at_a_bounded_rate() {
    let zipkin = RefusingPort::new();
    let started = Instant::now();
    let mut stack = Stack::builder()
        .zipkin_endpoint(&zipkin.zipkin_endpoint())
        .env("RUST_LOG", "info,span_export=debug")
        .start()
        .await;

    // Requests spread over several export periods, so uploads fail again
    // and again (each retry, after its pause, fails too).
    let rounds = 5;
    for _ in 0..rounds {
        let failed_before = stack.api_01.count_logs("span upload failed; retrying");
        requests_are_served_promptly(&stack.api_01, 2).await;
        stack
            .api_01
            .expect_log("span upload failed; retrying", failed_before + 1)
            .await;
    }
    // Stopping tries a last upload, and reports what no warning has yet.
    assert!(stack.api_01.terminate(EXIT_LIMIT).await.success());
    let elapsed = started.elapsed();

    let retrying = warnings(&stack.api_01, "the spans are kept and tried again");
    let at_most = 1 + (elapsed.as_secs_f64() / LOG_PERIOD.as_secs_f64()) as usize;
    assert!(
        !retrying.is_empty() && retrying.len() <= at_most,
        "{} warnings in {elapsed:?}, at most {at_most}: {retrying:#?}",
        retrying.len()
    );
    assert!(
        retrying[0].contains("Connection refused") || retrying[0].contains("connect"),
        "{}",
        retrying[0]
    );
    let at_stop = warnings(&stack.api_01, "still failed at the stop");
    assert_eq!(at_stop.len(), 1, "{:#?}", stack.api_01.logs());
    // Every span api_01 made (3 a request) was held, retried, and lost at
    // the stop, once.
    let account = stack.api_01.span_account().expect("an account");
    assert_eq!(
        (account.ended, account.lost, account.exported),
        (3 * 2 * rounds as u64, 3 * 2 * rounds as u64, 0),
        "{account:?}"
    );
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
    // queue, or lost in an upload that still timed out at the stop.
    assert!(stack.api_03.terminate(EXIT_LIMIT).await.success());
    let account = stack.api_03.span_account().expect("an account");
    assert!(account.dropped > 0, "{account:?}");
    assert!(account.lost <= 16, "at most the queue is held: {account:?}");
    assert_eq!(account.ended, 4 * requests as u64, "{account:?}");
    assert!(account.balances(), "{account:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spans_of_an_outage_arrive_when_zipkin_comes_back() {
    // Zipkin is away from the start: its port refuses connections.
    let mut stack = Stack::builder().zipkin(Zipkin::away()).start().await;
    let mut traces = Vec::new();
    for _ in 0..10 {
        let (status, answer) = fetch(&stack.api_01.url, &[]).await;
        assert_eq!(status, 200, "{answer}");
        traces.push(answer["trace_id"].as_str().unwrap().to_owned());
    }
    stack
        .api_01
        .expect_log("span upload to Zipkin failed", 1)
        .await;
    // Its metrics show what it holds: 3 spans a request (the last ones
    // end just after their answer), of the default 2048.
    assert_eq!(queue_gauges_once(&stack.api_01, 30).await, (30, 2048));

    // Zipkin comes up on that address: what was held goes, and what comes
    // next.
    stack.zipkin.restart().await;
    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    traces.push(answer["trace_id"].as_str().unwrap().to_owned());
    for trace_id in &traces {
        stack
            .zipkin
            .wait_for_trace(trace_id, SPANS_PER_REQUEST)
            .await;
    }
    stack
        .api_01
        .expect_log("span export to Zipkin works again", 1)
        .await;
    assert_eq!(queue_gauges_once(&stack.api_01, 0).await, (0, 2048));
    // Once they have stopped, nothing more can arrive: exactly 9 a trace.
    let spans = stack.stop().await;
    for trace_id in &traces {
        assert_eq!(of_trace(&spans, trace_id).len(), SPANS_PER_REQUEST);
    }
    assert_eq!(spans.len(), SPANS_PER_REQUEST * traces.len());
}

/// The queue's size and capacity, as `service`'s `GET /metrics` gives them
/// in Prometheus' text format, once the size is `size` (or after 10 s).
async fn queue_gauges_once(service: &Service, size: u64) -> (u64, u64) {
    let url = format!("{}/metrics", service.url.trim_end_matches('/'));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = fetch(&url, &[]).await;
        assert_eq!(status, 200, "{text}");
        let text = text.as_str().expect("text, not JSON");
        let value = |name: &str| -> u64 {
            let line = text
                .lines()
                .find(|line| line.split(' ').next() == Some(name))
                .unwrap_or_else(|| panic!("no {name} in {text}"));
            line[name.len() + 1..].parse().expect("a whole number")
        };
        let gauges = (
            value("otel_sdk_processor_span_queue_size"),
            value("otel_sdk_processor_span_queue_capacity"),
        );
        if gauges.0 == size || Instant::now() >= deadline {
            return gauges;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
