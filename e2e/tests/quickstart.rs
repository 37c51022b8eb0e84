//! The example people copy (`telemetry/examples/quickstart.rs`) works as it
//! says: it serves, traces, calls another service, stops on SIGTERM, and
//! sends its last spans before it exits; and the README shows it as it is.

use e2e::*;
use test_collector::zipkin_rules::TraceTree;

#[tokio::test(flavor = "multi_thread")]
async fn the_quickstart_traces_a_call_and_loses_no_span_at_sigterm() {
    let zipkin = Zipkin::start().await;
    let endpoint = zipkin.endpoint();
    let env = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        [("OTEL_EXPORTER_ZIPKIN_ENDPOINT", endpoint.as_str())]
            .iter()
            .chain(extra)
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    };
    let inventory = Service::start(
        "api_03",
        &Program::Rust("api_03"),
        &env(&[("WORK_MS", "20"), ("OTEL_BSP_SCHEDULE_DELAY", "100")]),
    )
    .await;
    // Its spans would leave on a timer only after the test: what arrives,
    // arrives because the stop sent it.
    let mut quickstart = Service::start(
        "quickstart",
        &Program::Example("quickstart"),
        &env(&[
            ("INVENTORY_URL", &format!("{}/", inventory.url)),
            ("OTEL_BSP_SCHEDULE_DELAY", "3600000"),
            ("RUST_LOG", "info"),
        ]),
    )
    .await;

    let (status, answer) = fetch(&quickstart.url, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(answer, "inventory answered 200 OK\n");
    let exit = quickstart.terminate(EXIT_LIMIT).await;
    assert!(exit.success(), "{exit}: {:#?}", quickstart.logs());
    assert_eq!(
        quickstart.span_account(),
        Some(SpanAccount::all_exported(2)),
        "{:#?}",
        quickstart.logs()
    );

    // Its SERVER and CLIENT spans, and api_03's SERVER and work spans: one
    // whole trace, the call linked to the callee.
    let spans = zipkin.spans_once_at_least(4).await;
    let tree = TraceTree::build(&spans).unwrap();
    assert!(tree.is_whole(), "{tree}");
    let count = |service_name, span_kind| spans_of(&spans, service_name, span_kind).len();
    assert_eq!(
        [
            count("checkout", "SERVER"),
            count("checkout", "CLIENT"),
            count("api_03", "SERVER"),
            count("api_03", "INTERNAL"),
        ],
        [1, 1, 1, 1],
        "{spans:#?}"
    );
    let call = spans_of(&spans, "checkout", "CLIENT")[0];
    assert_eq!(call["remoteEndpoint"]["serviceName"], "inventory");
    // Zipkin links the call to the service that served it.
    let links = call_counts(&zipkin.dependencies().await);
    let checkout_to_api_03 = [(("checkout".to_owned(), "api_03".to_owned()), 1)];
    assert_eq!(links, checkout_to_api_03.into(), "{spans:#?}");
}

#[test]
fn the_readme_shows_the_quickstart_as_it_is() {
    let readme = include_str!("../../README.md");
    let quickstart = include_str!("../../telemetry/examples/quickstart.rs");
    assert!(
        readme.contains(&format!("```rust\n{quickstart}```")),
        "README.md must show telemetry/examples/quickstart.rs whole, in a ```rust block"
    );
}
