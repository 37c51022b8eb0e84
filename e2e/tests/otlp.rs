//! Our services over OTLP give, in Zipkin, the traces and dependency links
//! they give over Zipkin's own v2 JSON: the same trees, span for span, the
//! same links, a B3 caller's 64-bit trace id kept as it was sent, with B3
//! join on and off; and a stack that mixes the two exporters gives whole
//! traces too.
//!
//! The OTLP receiver is the OpenTelemetry Collector (its OTLP/HTTP
//! receiver, and its `zipkin` exporter to the Zipkin the test asks): see
//! `e2e/src/collector.rs` for why not Zipkin's own module. Ignored by
//! `cargo test`, which needs no Go: `bash ci/otlp.sh` builds the
//! Collector and runs them with the real Zipkin server. The last test, of
//! settings refused at start-up, runs in `cargo test`.

use std::collections::BTreeMap;

use e2e::*;
use serde_json::Value;
use test_collector::zipkin_rules::{TraceTree, dependency_links};

/// A B3 caller's 64-bit trace id, as py_zipkin sends them.
const TRACE_64: &str = "a3ce929d0e0e4736";
const CALLER_SPAN_64: &str = "c2fb4a1d1a96d312";
/// A B3 caller's 128-bit trace id.
const TRACE_128: &str = "5b8efff798038103d269b633813fc60c";
const CALLER_SPAN_128: &str = "e457b5a2e4d86bd1";

/// Which services send OTLP.
#[derive(Clone, Copy, Debug)]
enum Exporters {
    AllJson,
    AllOtlp,
    /// Every service over OTLP in its JSON encoding, gzip-compressed.
    AllOtlpJsonGzip,
    /// api_02 over OTLP, api_01 and api_03 over v2 JSON.
    Mixed,
}

/// What one stack made of three requests: each trace as a drawing of its
/// tree, the links Zipkin draws, and the trace ids Zipkin stored.
#[derive(Debug, PartialEq)]
struct Outcome {
    trees: Vec<String>,
    links: BTreeMap<(String, String), u64>,
    trace_ids: Vec<String>,
}

/// A tree as its shape: each span's service, kind, name and depth, in
/// Zipkin's breadth-first order; no ids, no times, no tags (OTLP adds the
/// instrumentation scope as tags).
fn shape(tree: &TraceTree) -> String {
    let mut lines = Vec::new();
    for node in tree.traverse() {
        let Some(span) = node.span() else { continue };
        let mut depth = 0;
        let mut up = node.parent();
        while let Some(parent) = up {
            depth += 1;
            up = parent.parent();
        }
        lines.push(format!(
            "{}{} {} {}",
            "  ".repeat(depth),
            span.local_service().unwrap_or("?"),
            span.kind.map_or("LOCAL", |kind| kind.as_str()),
            span.name.as_deref().unwrap_or("")
        ));
    }
    lines.join("\n")
}

/// Three requests to api_01 of a stack exporting as `exporters` say: one
/// starting its own trace, one from a B3 caller with a 64-bit trace id,
/// one with a 128-bit id; then every span Zipkin holds, judged.
async fn run(exporters: Exporters, join: bool) -> Outcome {
    let mut builder = Stack::builder().env("B3_JOIN", if join { "true" } else { "false" });
    builder = match exporters {
        Exporters::AllJson => builder,
        Exporters::AllOtlp => Api::ALL
            .into_iter()
            .fold(builder, |builder, api| builder.otlp(api)),
        Exporters::AllOtlpJsonGzip => Api::ALL
            .into_iter()
            .fold(builder, |builder, api| builder.otlp(api))
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
            .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        Exporters::Mixed => builder.otlp(Api::Api02),
    };
    let mut stack = builder.start().await;
    let mut trace_ids = Vec::new();
    for headers in [
        vec![],
        vec![
            ("X-B3-TraceId", TRACE_64),
            ("X-B3-SpanId", CALLER_SPAN_64),
            ("X-B3-Sampled", "1"),
        ],
        vec![
            ("X-B3-TraceId", TRACE_128),
            ("X-B3-SpanId", CALLER_SPAN_128),
            ("X-B3-Sampled", "1"),
        ],
    ] {
        let (status, answer) = fetch(&stack.api_01.url, &headers).await;
        assert_eq!(status, 200, "{exporters:?}: {answer}");
        trace_ids.push(answer["trace_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(trace_ids[1..], [TRACE_64, TRACE_128], "{exporters:?}");
    let spans = stack.stop().await;
    assert_eq!(
        spans.len(),
        3 * SPANS_PER_REQUEST,
        "{exporters:?}: every span, once: {spans:#?}"
    );
    let mut stored: Vec<String> = spans
        .iter()
        .map(|span| span["traceId"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    stored.dedup();
    let mut trees = Vec::new();
    for trace_id in &trace_ids {
        let trace: Vec<Value> = of_trace(&spans, trace_id).into_iter().cloned().collect();
        assert_eq!(trace.len(), SPANS_PER_REQUEST, "{exporters:?} {trace_id}");
        let tree = TraceTree::build(&trace).unwrap();
        // Without join, a B3 caller's SERVER span hangs from the caller's
        // span, which this test never reports: one orphan, the rest whole.
        let from_a_caller = trace_id != &trace_ids[0];
        if join || !from_a_caller {
            assert!(tree.is_whole(), "{exporters:?}: {tree}");
        } else {
            assert_eq!(tree.orphans().count(), 1, "{exporters:?}: {tree}");
            assert_eq!(tree.unplaced().count(), 0, "{exporters:?}: {tree}");
        }
        trees.push(shape(&tree));
        // Zipkin itself: its own merge and links over what it stored.
        let links = call_counts(&stack.zipkin.links_of(trace_id).await);
        assert_eq!(links, one_request_links(), "{exporters:?} {trace_id}");
    }
    Outcome {
        trees,
        links: dependency_links(&spans)
            .into_iter()
            .map(|(pair, link)| (pair, link.call_count))
            .collect(),
        trace_ids: stored,
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the OpenTelemetry Collector: run bash ci/otlp.sh"]
async fn over_otlp_our_traces_and_links_are_those_of_zipkins_json() {
    for join in [true, false] {
        let json = run(Exporters::AllJson, join).await;
        let otlp = run(Exporters::AllOtlp, join).await;
        let mixed = run(Exporters::Mixed, join).await;
        let json_gzip = run(Exporters::AllOtlpJsonGzip, join).await;
        println!(
            "join={join}, every exporter alike:\n{}",
            otlp.trees.join("\n--\n")
        );
        assert_eq!(otlp.trees, json.trees, "join={join}: OTLP against v2 JSON");
        assert_eq!(
            mixed.trees, json.trees,
            "join={join}: mixed against v2 JSON"
        );
        assert_eq!(
            json_gzip.trees, json.trees,
            "join={join}: OTLP's JSON, gzipped, against v2 JSON"
        );
        assert_eq!(otlp.links, json.links, "join={join}");
        assert_eq!(json_gzip.links, json.links, "join={join}");
        assert_eq!(mixed.links, json.links, "join={join}");
        // The 64-bit id stays 16 digits: the trace of py_zipkin's spans.
        for outcome in [&json, &otlp, &mixed, &json_gzip] {
            assert!(
                outcome.trace_ids.iter().any(|id| id == TRACE_64),
                "{outcome:?}"
            );
            assert!(
                outcome.trace_ids.iter().any(|id| id == TRACE_128),
                "{outcome:?}"
            );
        }
    }
}

/// An exporter setting the services cannot honour stops them at start-up
/// with a message that names the variable (no Collector needed: this one
/// runs in `cargo test`).
#[test]
fn an_otlp_setting_a_service_cannot_honour_stops_it_with_the_variable_named() {
    for (vars, named, reason) in [
        (
            vec![("OTEL_TRACES_EXPORTER", "jaeger")],
            "OTEL_TRACES_EXPORTER=\"jaeger\" is invalid",
            "expected zipkin, otlp or none",
        ),
        (
            vec![
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\" is invalid",
            "gRPC is not built in",
        ),
        (
            vec![
                ("OTEL_TRACES_EXPORTER", "otlp"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://collector:4318",
                ),
            ],
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=\"https://collector:4318\" is invalid",
            "plain HTTP only",
        ),
        (
            vec![
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
            ],
            "OTEL_EXPORTER_OTLP_HEADERS=\"api-key\" is invalid",
            "is not key=value",
        ),
    ] {
        let stderr = refused_at_start("api_02", &vars);
        assert!(
            stderr.contains(named) && stderr.contains(reason),
            "{vars:?}: {stderr}"
        );
    }
}
