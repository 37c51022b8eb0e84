//! Tracing never breaks serving: with Zipkin refusing, hanging or gone, the
//! services answer normally and promptly, log the failure at a bounded rate,
//! keep their span queue bounded, and export again once Zipkin is back.

use std::time::{Duration, Instant};

use e2e::*;

/// Far below the 5 s upload timeout: a request that waited on span export
/// would take at least that long.
const PROMPT: Duration = Duration::from_secs(2);

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

#[tokio::test(flavor = "multi_thread")]
async fn a_refusing_zipkin_does_not_affect_serving_and_is_logged_at_a_bounded_rate() {
    let (endpoint, _) = refusing_endpoint();
    let (api_01, _api_02, _api_03) =
        start_services(&endpoint, &[("RUST_LOG", "info,telemetry::zipkin=debug")]);

    // Requests spread over several export periods, so several uploads fail.
    for _ in 0..5 {
        requests_are_served_promptly(&api_01, 2).await;
        let failed_before = api_01
            .logs()
            .iter()
            .filter(|l| l.contains("span upload failed"))
            .count();
        assert!(
            api_01
                .wait_for_log("span upload failed", failed_before + 1, SPANS_LIMIT)
                .await,
            "each batch's upload fails: {:#?}",
            api_01.logs()
        );
    }
    let logs = api_01.logs();
    let failed_uploads = logs
        .iter()
        .filter(|l| l.contains("span upload failed"))
        .count();
    let warnings: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("WARN") && l.contains("span export to Zipkin failed"))
        .collect();
    assert!(failed_uploads >= 5, "{logs:#?}");
    // One warning per 10 s at most: the whole test is shorter than that.
    assert_eq!(warnings.len(), 1, "{logs:#?}");
    assert!(
        warnings[0].contains("spans_lost="),
        "the warning counts lost spans: {}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("Connection refused") || warnings[0].contains("connect"),
        "{}",
        warnings[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_zipkin_does_not_slow_requests_and_the_queue_stays_bounded() {
    let (endpoint, _hang) = hanging_endpoint().await;
    // A small queue, so that it overflows within the test.
    let (api_01, _api_02, api_03) = start_services(&endpoint, &[("OTEL_BSP_MAX_QUEUE_SIZE", "16")]);

    // api_03 makes 4 spans a request: 40 requests overflow its queue of 16
    // while its first upload hangs.
    requests_are_served_promptly(&api_01, 40).await;
    // The SDK drops spans beyond the queue rather than buffering them: memory
    // stays bounded. It says so once, when dropping starts.
    let dropping = "dropped a Span due to queue full";
    assert!(
        api_03.wait_for_log(dropping, 1, SPANS_LIMIT).await,
        "api_03 drops spans beyond its queue: {:#?}",
        api_03.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_arrive_again_when_zipkin_comes_back() {
    let (endpoint, addr) = refusing_endpoint();
    let (api_01, _api_02, _api_03) = start_services(&endpoint, &[]);
    requests_are_served_promptly(&api_01, 10).await;
    assert!(
        api_01
            .wait_for_log("span export to Zipkin failed", 1, SPANS_LIMIT)
            .await
    );

    // Zipkin comes back on the same address.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the port is still free");
    let collector = Collector::start_on(
        listener,
        test_collector::Store::new(test_collector::Mode::KeepSpans),
    )
    .unwrap();
    let (status, answer) = fetch(&api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"].as_str().unwrap();
    let spans = wait_for_trace(&collector, trace_id, SPANS_PER_REQUEST).await;
    assert_eq!(spans.len(), SPANS_PER_REQUEST);
    assert!(
        api_01
            .wait_for_log("span export to Zipkin works again", 1, SPANS_LIMIT)
            .await,
        "{:#?}",
        api_01.logs()
    );
}
