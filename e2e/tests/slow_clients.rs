//! Slow, idle and too many clients cannot take a service down: what an
//! attacker would send, against the real binary, started with an open-file
//! limit of 256 (soft and hard, for that process only) so that the limit is
//! reached in a second and the machine's own limit does not matter.
//!
//! With that limit the service's connection cap is 64 (a quarter), and the
//! attacks use twice the open-file limit in connections. Every wait is on a
//! condition; each deadline is derived from the limit under test.

use std::time::Duration;

use e2e::*;
use serde_json::Value;
use test_collector::zipkin_rules::TraceTree;

/// The open-file limit of the service under attack.
const OPEN_FILES: u64 = 256;
/// Connections that never finish their headers: twice the limit.
const STALLED: usize = 2 * OPEN_FILES as usize;
/// How much later than its limit the service may close a connection, and
/// still pass: the service's timers fire on time, but this machine may be
/// busy. Nothing here is closed *before* its limit.
const SLACK: Duration = Duration::from_secs(10);

/// The three services, api_01 under the low open-file limit and `env`.
async fn stack_with_api_01(env: &[(&str, &str)]) -> Stack {
    env.iter()
        .fold(
            Stack::builder().open_file_limit(Api::Api01, OPEN_FILES),
            |builder, (name, value)| builder.env_for(Api::Api01, name, value),
        )
        .start()
        .await
}

fn millis(limit: Duration) -> String {
    limit.as_millis().to_string()
}

/// A value of the line "connections at the stop" in a service's log.
fn at_the_stop(service: &Service, field: &str) -> u64 {
    let logs = service.logs();
    let line = logs
        .iter()
        .find(|line| line.contains("connections at the stop"))
        .unwrap_or_else(|| panic!("no account at the stop: {logs:#?}"));
    let value = line
        .split(&format!("{field}="))
        .nth(1)
        .unwrap_or_else(|| panic!("{field} in {line}"));
    value.split_whitespace().next().unwrap().parse().unwrap()
}

/// At most one line per kind per 10 s, plus the first at once and the rest
/// at the stop.
fn assert_bounded_log(service: &Service, text: &str, over: Duration) {
    let bound = 2 + over.as_secs() as usize / 10;
    let lines = service.count_logs(text);
    assert!(
        lines <= bound,
        "{lines} lines of {text:?} in {over:?}: {:#?}",
        service.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twice_the_open_file_limit_of_stalled_headers_do_not_take_it_down() {
    let header_timeout = Duration::from_secs(5);
    let mut stack = stack_with_api_01(&[("HEADER_TIMEOUT_MS", &millis(header_timeout))]).await;
    let started = std::time::Instant::now();
    let stalled = StalledConnections::open(stack.api_01.addr(), STALLED).await;

    // Plain requests are answered while the stalled connections are held.
    let (status, _) = fetch(&format!("{}/health", stack.api_01.url), &[]).await;
    assert_eq!(status, 200);
    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        stalled.still_open() > 0,
        "answered only once every stalled connection had been closed"
    );

    // Each is closed by the header timeout, or earlier, to make room.
    let lasted = stalled.wait_until_closed(header_timeout + SLACK).await;
    assert_eq!(lasted.len(), STALLED);
    let by_the_timeout = lasted.iter().filter(|&&d| d >= header_timeout).count() as u64;

    let trace = stack.stop_for_trace(&answer).await;
    assert_eq!(trace.len(), SPANS_PER_REQUEST);
    let api_01 = &stack.api_01;
    let slow_headers = at_the_stop(api_01, "closed_slow_headers");
    let made_room = at_the_stop(api_01, "closed_to_make_room");
    assert_eq!(
        (slow_headers + made_room, at_the_stop(api_01, "refused")),
        (STALLED as u64, 0),
        "every stalled connection was closed by a limit, and no one refused"
    );
    assert_eq!(
        slow_headers, by_the_timeout,
        "those not closed to make room lasted the header timeout"
    );
    assert!(slow_headers > 0 && made_room > 0);
    let over = started.elapsed();
    assert_bounded_log(api_01, "did not send their headers in time", over);
    assert_bounded_log(api_01, "to make room", over);
    assert_eq!(api_01.count_logs("accepting a connection failed"), 0);
    assert_eq!(api_01.count_logs("Too many open files"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_trickling_its_headers_is_cut_off_at_the_header_timeout() {
    let header_timeout = Duration::from_secs(3);
    let stack = stack_with_api_01(&[("HEADER_TIMEOUT_MS", &millis(header_timeout))]).await;
    let lasted = trickle(
        stack.api_01.addr(),
        Duration::from_secs(1),
        header_timeout + SLACK,
    )
    .await;
    assert!(
        lasted >= header_timeout,
        "one byte a second: closed after {lasted:?}, the limit is {header_timeout:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_kept_alive_connection_is_closed_at_the_idle_timeout() {
    let idle_timeout = Duration::from_secs(2);
    let stack = stack_with_api_01(&[("IDLE_TIMEOUT_MS", &millis(idle_timeout))]).await;
    let lasted = idle_after_one_request(stack.api_01.addr(), "/health", idle_timeout + SLACK).await;
    assert!(
        lasted >= idle_timeout,
        "idle after its answer: closed {lasted:?} after the request, the limit is {idle_timeout:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_its_time_limit_gets_a_503_and_error_spans() {
    let request_timeout = Duration::from_millis(1500);
    let mut stack = stack_with_api_01(&[
        ("REQUEST_TIMEOUT_MS", &millis(request_timeout)),
        // Its callees may take longer than the request may: the request's
        // own limit is what ends it.
        ("DOWNSTREAM_TIMEOUT_MS", "10000"),
    ])
    .await;
    let started = std::time::Instant::now();
    let (status, answer) = fetch(
        &format!("{}/?slow=api_03&delay_ms=5000", stack.api_01.url),
        &[],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("1500 ms"),
        "{answer}"
    );
    assert!(took >= request_timeout, "answered after {took:?}");
    stack.api_01.expect_log("request cancelled", 1).await;

    let spans = stack.stop().await;
    let server = spans_of(&spans, "api_01", "SERVER");
    assert_eq!(server.len(), 1, "{spans:#?}");
    assert_eq!(tag(server[0], "http.response.status_code"), Some("503"));
    assert!(tag(server[0], "error").is_some(), "{}", server[0]);
    // The calls it was waiting on were cut off with it, and say so.
    let calls = spans_of(&spans, "api_01", "CLIENT");
    assert_eq!(calls.len(), 2, "{spans:#?}");
    for call in calls {
        assert_eq!(tag(call, "error.type"), Some("cancelled"), "{call}");
        assert!(tag(call, "error").is_some(), "{call}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_stalled_connections_held_a_burst_of_requests_is_served_whole() {
    // Far beyond the test: the stalled connections are never closed by the
    // timeout, so only making room at the cap lets new clients in.
    let header_timeout = Duration::from_secs(300);
    let mut stack = stack_with_api_01(&[("HEADER_TIMEOUT_MS", &millis(header_timeout))]).await;
    let stalled = StalledConnections::open(stack.api_01.addr(), STALLED).await;

    const BURST: usize = 24;
    let url = stack.api_01.url.clone();
    let started = std::time::Instant::now();
    // A client each, so a connection each, all at once.
    let burst: Vec<_> = (0..BURST)
        .map(|_| tokio::spawn(fetch_owned(url.clone())))
        .collect();
    let mut answers = Vec::new();
    for request in burst {
        answers.push(request.await.unwrap());
    }
    let served_in = started.elapsed();
    assert!(
        stalled.still_open() > 0,
        "the stalled connections were held throughout"
    );
    let mut trace_ids = Vec::new();
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        trace_ids.push(answer["trace_id"].as_str().unwrap().to_owned());
    }
    println!("{BURST} requests served in {served_in:?} with {STALLED} stalled connections held");

    let spans = stack.stop().await;
    for trace_id in &trace_ids {
        let trace: Vec<Value> = of_trace(&spans, trace_id).into_iter().cloned().collect();
        assert_eq!(trace.len(), SPANS_PER_REQUEST, "{trace_id}");
        let tree = TraceTree::build(&trace).unwrap();
        assert!(tree.is_whole(), "{tree}");
    }
    // Zipkin links each call of each request once.
    let links = call_counts(&stack.zipkin.dependencies().await);
    let each = trace_ids.len() as u64;
    assert_eq!(
        links,
        one_request_links()
            .into_keys()
            .map(|pair| (pair, each))
            .collect()
    );
    // At the stop, the service closed the connections still waiting.
    let lasted = stalled.wait_until_closed(SLACK).await;
    assert_eq!(lasted.len(), STALLED);
    assert_eq!(at_the_stop(&stack.api_01, "refused"), 0);
}

async fn fetch_owned(url: String) -> (u16, Value) {
    fetch(&url, &[]).await
}
