//! One request to api_01 becomes one correct Zipkin trace across the three
//! services, every call carries its B3 headers, and the last spans are
//! flushed when the services stop. (How a caller's context is continued is
//! the "B3 in, B3 out" table: `b3_conformance.rs`.)

use e2e::*;
use serde_json::Value;
use test_collector::zipkin_rules::TraceTree;

#[tokio::test(flavor = "multi_thread")]
async fn one_request_is_one_trace_across_three_services() {
    one_whole_trace(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_join_every_span_has_an_id_of_its_own() {
    one_whole_trace(false).await;
}

/// One request, its 9 spans, and the trace Zipkin draws of them. With B3
/// join, a callee's SERVER span shares its id with the caller's CLIENT span;
/// without, it is that span's child, as OpenTelemetry does.
async fn one_whole_trace(join: bool) {
    let mut stack = Stack::start(&[("B3_JOIN", if join { "true" } else { "false" })]).await;
    for service in stack.services() {
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

    let trace_id = trace_id.to_owned();
    let spans = stack.stop().await;
    assert_eq!(
        of_trace(&spans, &trace_id).len(),
        SPANS_PER_REQUEST,
        "one trace, no other span (no /health): {spans:#?}"
    );
    assert_eq!(spans.len(), SPANS_PER_REQUEST, "{spans:#?}");
    spans.iter().for_each(assert_valid_zipkin_v2);
    // As Zipkin draws it: one tree, every span in place.
    let tree = TraceTree::build(&spans).unwrap();
    assert!(tree.is_whole(), "{tree}");

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
    let without_parent: Vec<&Value> = spans
        .iter()
        .filter(|span| span.get("parentId").is_none())
        .collect();
    assert_eq!(without_parent, [root], "one root");
    // Sent as "GET /"; Zipkin lowercases span names as it stores them.
    assert_eq!(root["name"], "get /");
    assert_eq!(tag(root, "http.request.method"), Some("GET"));
    assert_eq!(tag(root, "http.route"), Some("/"));
    assert_eq!(tag(root, "http.response.status_code"), Some("200"));

    // Every callee's SERVER span belongs to a CLIENT span of its caller,
    // which names the callee as its remote endpoint; and each CLIENT span
    // hangs under its service's SERVER span.
    for server in spans
        .iter()
        .filter(|span| kind(span) == "SERVER" && span.get("parentId").is_some())
    {
        let client_id = if join {
            &server["id"]
        } else {
            &server["parentId"]
        };
        let client = spans
            .iter()
            .find(|span| span["id"] == *client_id && kind(span) == "CLIENT")
            .unwrap_or_else(|| panic!("the CLIENT span of {server}"));
        if join {
            assert_eq!(client["parentId"], server["parentId"], "{server} {client}");
        }
        assert_eq!(client["remoteEndpoint"]["serviceName"], service(server));
        assert_eq!(tag(client, "peer.service"), Some(service(server)));
        assert_eq!(tag(client, "http.request.method"), Some("GET"));
        assert_eq!(tag(client, "http.response.status_code"), Some("200"));
        assert!(tag(client, "url.full").is_some_and(|url| url.starts_with("http://127.0.0.1:")));
        let caller_server = spans
            .iter()
            .find(|span| span["id"] == client["parentId"] && service(span) == service(client))
            .unwrap();
        assert_eq!(kind(caller_server), "SERVER");
    }
    for work in spans_of(&spans, "api_03", "INTERNAL") {
        assert_eq!(work["name"], "work");
        let parent = spans
            .iter()
            .find(|span| span["id"] == work["parentId"] && service(span) == "api_03")
            .unwrap();
        assert_eq!(kind(parent), "SERVER");
    }

    // Zipkin's dependency graph: exactly the three calls, once each, none
    // failed.
    let links = stack.zipkin.dependencies().await;
    assert_eq!(call_counts(&links), one_request_links(), "{links:?}");
    assert!(
        links.values().all(|link| link.error_count == 0),
        "{links:?}"
    );
    assert_eq!(
        stack.zipkin.services().await,
        ["api_01", "api_02", "api_03"]
    );

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

    // Each service accounts for every span it made: all exported, and
    // exactly the ones Zipkin got.
    for service in stack.services() {
        let exported = spans
            .iter()
            .filter(|span| e2e::service(span) == service.name)
            .count();
        assert_eq!(
            service.span_account(),
            Some(SpanAccount::all_exported(exported as u64)),
            "{}",
            service.name
        );
    }
    // Log lines of the request carry its trace id (the services have
    // stopped: their logs are complete).
    for service in stack.services() {
        let logs = service.logs();
        assert!(
            logs.iter()
                .any(|line| line.contains("answered") && line.contains(&trace_id)),
            "{} logs the request with its trace id: {logs:#?}",
            service.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_carries_all_four_b3_headers() {
    let mut stack = Stack::builder().record_hops().start().await;
    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"].as_str().unwrap().to_owned();
    let spans = stack.stop().await;
    assert_eq!(spans.len(), SPANS_PER_REQUEST);

    for hop in stack.hops() {
        let calls = hop.calls();
        assert_eq!(calls.len(), 1, "{} → {}", hop.caller, hop.callee);
        let header = |name: &str| calls[0][name].to_str().unwrap().to_owned();
        assert_eq!(header("x-b3-traceid"), trace_id);
        assert_eq!(header("x-b3-sampled"), "1");
        assert!(!calls[0].contains_key("x-b3-flags"));
        // X-B3-SpanId is the caller's CLIENT span, X-B3-ParentSpanId its
        // SERVER span.
        let caller_span = |id: String, span_kind: &str| {
            spans
                .iter()
                .find(|span| span["id"] == id && service(span) == hop.caller)
                .map(kind)
                .unwrap_or_else(|| panic!("no span {id} of {}", hop.caller))
                == span_kind
        };
        assert!(
            caller_span(header("x-b3-spanid"), "CLIENT"),
            "{:?}",
            calls[0]
        );
        assert!(
            caller_span(header("x-b3-parentspanid"), "SERVER"),
            "{:?}",
            calls[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_of_a_request_just_before_sigterm_are_flushed() {
    // A schedule far longer than the test: spans can only arrive through
    // the flush at shutdown.
    let mut stack = Stack::builder()
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .through_wire()
        .start()
        .await;
    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"].as_str().unwrap().to_owned();
    assert!(
        stack.wire().uploads().is_empty(),
        "nothing exported before shutdown"
    );

    for service in stack.services() {
        let status = service.terminate(EXIT_LIMIT).await;
        assert!(
            status.success(),
            "{} exits 0 after SIGTERM: {status}",
            service.name
        );
    }
    // The processes have exited, so Zipkin took their spans already (and
    // stores them a moment after).
    let taken = stack.wire().accepted_spans();
    assert_eq!(of_trace(&taken, &trace_id).len(), SPANS_PER_REQUEST);
    let spans = stack.zipkin.spans_once_at_least(SPANS_PER_REQUEST).await;
    assert_eq!(
        of_trace(&spans, &trace_id).len(),
        SPANS_PER_REQUEST,
        "{spans:#?}"
    );
}
