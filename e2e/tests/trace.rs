//! One request to api_01 becomes one correct Zipkin trace across the three
//! services, B3 context from a caller is continued, and the last spans are
//! flushed when the services stop.

use std::collections::BTreeMap;

use e2e::*;
use serde_json::Value;

const TRACE_ID: &str = "463ac35c9f6413ad48485a3953bb6124";
const SPAN_ID: &str = "a2fb4a1d1a96d312";

#[tokio::test(flavor = "multi_thread")]
async fn one_request_is_one_trace_across_three_services() {
    let stack = Stack::start(&[]).await;
    for service in [&stack.api_01, &stack.api_02, &stack.api_03] {
        let response = http()
            .get(format!("{}/health", service.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{} /health", service.name);
    }

    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"]
        .as_str()
        .expect("api_01 answers its trace id");
    assert_eq!(
        answer["zipkin_url"],
        format!("http://localhost:9411/zipkin/traces/{trace_id}")
    );
    assert_eq!(answer["downstream"]["api_02"]["service"], "api_02");
    assert_eq!(
        answer["downstream"]["api_02"]["downstream"]["api_03"]["service"],
        "api_03"
    );
    assert_eq!(answer["downstream"]["api_03"]["service"], "api_03");

    let spans = wait_for_trace(&stack.collector, trace_id, SPANS_PER_REQUEST).await;
    let everything = stack.collector.store.spans();
    assert_eq!(
        everything.len(),
        SPANS_PER_REQUEST,
        "one trace, no other span (no /health): {everything:#?}"
    );
    spans.iter().for_each(assert_valid_zipkin_v2);

    // Which service made which kind of span.
    let count = |service_name, span_kind| spans_of(&spans, service_name, span_kind).len();
    assert_eq!(
        [
            count("api_01", "SERVER"),
            count("api_01", "CLIENT"),
            count("api_02", "SERVER"),
            count("api_02", "CLIENT"),
            count("api_03", "SERVER"),
            count("api_03", "INTERNAL")
        ],
        [1, 2, 1, 1, 2, 2],
        "{spans:#?}"
    );

    // The root: api_01's SERVER span, with HTTP attributes as tags.
    let root = spans_of(&spans, "api_01", "SERVER")[0];
    assert!(
        root.get("parentId").is_none(),
        "the root has no parent: {root}"
    );
    assert_eq!(root["name"], "GET /");
    assert_eq!(tag(root, "http.request.method"), Some("GET"));
    assert_eq!(tag(root, "http.route"), Some("/"));
    assert_eq!(tag(root, "http.response.status_code"), Some("200"));

    // Every callee's SERVER span is the child of its caller's CLIENT span,
    // which names the callee as its remote endpoint.
    for server in spans
        .iter()
        .filter(|span| kind(span) == "SERVER" && span.get("parentId").is_some())
    {
        let client =
            by_id(&spans, server["parentId"].as_str().unwrap()).expect("the parent was exported");
        assert_eq!(kind(client), "CLIENT", "{server} under {client}");
        assert_eq!(client["remoteEndpoint"]["serviceName"], service(server));
        assert_eq!(tag(client, "peer.service"), Some(service(server)));
        assert_eq!(tag(client, "http.request.method"), Some("GET"));
        assert_eq!(tag(client, "http.response.status_code"), Some("200"));
        assert!(tag(client, "url.full").is_some_and(|url| url.starts_with("http://127.0.0.1:")));
        // ... and each CLIENT span is the child of its service's SERVER span.
        let caller_server = by_id(&spans, client["parentId"].as_str().unwrap()).unwrap();
        assert_eq!(
            (kind(caller_server), service(caller_server)),
            ("SERVER", service(client))
        );
    }
    for work in spans_of(&spans, "api_03", "INTERNAL") {
        assert_eq!(work["name"], "work");
        let parent = by_id(&spans, work["parentId"].as_str().unwrap()).unwrap();
        assert_eq!((service(parent), kind(parent)), ("api_03", "SERVER"));
    }

    // The dependency graph: exactly the three calls, once each.
    let expected: BTreeMap<(String, String), u64> = [
        ("api_01", "api_02"),
        ("api_01", "api_03"),
        ("api_02", "api_03"),
    ]
    .into_iter()
    .map(|(caller, callee)| ((caller.to_owned(), callee.to_owned()), 1))
    .collect();
    assert_eq!(links(&spans), expected);

    // api_01 calls its two callees concurrently: their spans overlap.
    let clients = spans_of(&spans, "api_01", "CLIENT");
    let interval = |span: &Value| {
        let start = span["timestamp"].as_u64().unwrap();
        (start, start + span["duration"].as_u64().unwrap())
    };
    let ((start_a, end_a), (start_b, end_b)) = (interval(clients[0]), interval(clients[1]));
    assert!(
        start_a < end_b && start_b < end_a,
        "calls overlap: {clients:#?}"
    );

    // Log lines of the request carry its trace id.
    for service in [&stack.api_01, &stack.api_02, &stack.api_03] {
        assert!(
            service
                .logs()
                .iter()
                .any(|line| line.contains("answered") && line.contains(trace_id)),
            "{} logs the request with its trace id: {:#?}",
            service.name,
            service.logs()
        );
    }
}

/// Sends `headers` (a caller's context for TRACE_ID and SPAN_ID) to api_01,
/// and checks that the whole request joined the caller's trace.
async fn assert_continues_the_callers_trace(stack: &Stack, headers: &[(&str, &str)]) {
    stack.collector.store.clear();
    let (status, answer) = fetch(&stack.api_01.url, headers).await;
    assert_eq!(
        (status, answer["trace_id"].as_str()),
        (200, Some(TRACE_ID)),
        "{headers:?}: {answer}"
    );
    let spans = wait_for_trace(&stack.collector, TRACE_ID, SPANS_PER_REQUEST).await;
    let root = spans_of(&spans, "api_01", "SERVER")[0];
    assert_eq!(
        root["parentId"], SPAN_ID,
        "{headers:?}: api_01's SERVER span is the caller's child"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sampled_b3_context_is_continued() {
    let stack = Stack::start(&[]).await;
    let headers = [
        ("X-B3-TraceId", TRACE_ID),
        ("X-B3-SpanId", SPAN_ID),
        ("X-B3-Sampled", "1"),
    ];
    assert_continues_the_callers_trace(&stack, &headers).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deferred_b3_context_is_sampled_here_and_continued() {
    let stack = Stack::start(&[]).await;
    // Trace and span id, but no sampling decision: B3 lets the receiver decide.
    let headers = [("X-B3-TraceId", TRACE_ID), ("X-B3-SpanId", SPAN_ID)];
    assert_continues_the_callers_trace(&stack, &headers).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn single_header_b3_and_w3c_traceparent_are_continued() {
    let stack = Stack::start(&[]).await;
    let b3 = format!("{TRACE_ID}-{SPAN_ID}-1");
    assert_continues_the_callers_trace(&stack, &[("b3", &b3)]).await;
    let traceparent = format!("00-{TRACE_ID}-{SPAN_ID}-01");
    assert_continues_the_callers_trace(&stack, &[("traceparent", &traceparent)]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_carry_all_four_b3_headers() {
    let collector = Collector::start().await.unwrap();
    let recorder = HeaderRecorder::start().await;
    let endpoint = collector.endpoint();
    let env = [
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("API_02_URL", recorder.url.as_str()),
        ("API_03_URL", recorder.url.as_str()),
    ];
    let api_01 = Service::start("api_01", &env);
    let (status, answer) = fetch(&api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"].as_str().unwrap();
    let spans = wait_for_trace(&collector, trace_id, 3).await;
    let server = spans_of(&spans, "api_01", "SERVER")[0];

    let received = recorder.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "api_01 called the recorder twice");
    for headers in &received {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let client =
            by_id(&spans, &header("x-b3-spanid")).expect("X-B3-SpanId is api_01's CLIENT span");
        assert_eq!(kind(client), "CLIENT");
        assert_eq!(header("x-b3-traceid"), trace_id);
        assert_eq!(header("x-b3-parentspanid"), server["id"].as_str().unwrap());
        assert_eq!(header("x-b3-sampled"), "1");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_of_a_request_just_before_sigterm_are_flushed() {
    // A schedule far longer than the test: spans can only arrive through
    // the flush at shutdown.
    let mut stack = Stack::start(&[("OTEL_BSP_SCHEDULE_DELAY", "600000")]).await;
    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"].as_str().unwrap().to_owned();
    assert!(
        stack.collector.store.spans().is_empty(),
        "nothing exported before shutdown"
    );

    for service in [&mut stack.api_01, &mut stack.api_02, &mut stack.api_03] {
        let status = service.terminate(EXIT_LIMIT).await;
        assert!(
            status.success(),
            "{} exits 0 after SIGTERM: {status}",
            service.name
        );
    }
    // No waiting: the processes have exited, so their spans must be here.
    let spans = stack.collector.store.spans();
    assert_eq!(
        of_trace(&spans, &trace_id).len(),
        SPANS_PER_REQUEST,
        "{spans:#?}"
    );
}
