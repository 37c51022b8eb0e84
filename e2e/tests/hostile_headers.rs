//! Malformed or hostile trace headers never cause a 5xx or a panic: a
//! malformed context starts a fresh root trace, a valid one is continued.

use e2e::*;

const TRACE_128: &str = "463ac35c9f6413ad48485a3953bb6124";
const TRACE_64: &str = "48485a3953bb6124";
const SPAN: &str = "a2fb4a1d1a96d312";
const OTHER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// Request headers, by name.
type Headers = Vec<(&'static str, String)>;

/// What api_01's SERVER span must show for a request.
enum Expect {
    /// A new trace, with no parent.
    FreshRoot,
    /// The caller's trace, as child of the caller's span.
    Continued(&'static str),
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_trace_headers_start_a_fresh_trace_and_never_fail() {
    use Expect::*;
    let huge = "a".repeat(16 * 1024);
    let non_ascii = "4bf92f3577b34da6a3ce929d0e0e47é6";
    let single = |value: &str| -> Headers { vec![("b3", value.to_owned())] };
    let multi = |trace: &str, span: &str| {
        vec![
            ("X-B3-TraceId", trace.to_owned()),
            ("X-B3-SpanId", span.to_owned()),
        ]
    };
    let with = |mut headers: Vec<(&'static str, String)>, name: &'static str, value: &str| {
        headers.push((name, value.to_owned()));
        headers
    };
    let cases: Vec<(&str, Headers, Expect)> = vec![
        ("no headers", vec![], FreshRoot),
        (
            "non-hex trace id",
            multi("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", SPAN),
            FreshRoot,
        ),
        (
            "trace id of 15 digits",
            multi(&TRACE_64[1..], SPAN),
            FreshRoot,
        ),
        (
            "trace id of 33 digits",
            multi(&format!("{TRACE_128}1"), SPAN),
            FreshRoot,
        ),
        (
            "span id of 15 digits",
            multi(TRACE_128, &SPAN[1..]),
            FreshRoot,
        ),
        (
            "span id of 17 digits",
            multi(TRACE_128, &format!("{SPAN}1")),
            FreshRoot,
        ),
        ("all-zero trace id", multi(&"0".repeat(32), SPAN), FreshRoot),
        (
            "all-zero span id",
            multi(TRACE_128, &"0".repeat(16)),
            FreshRoot,
        ),
        (
            "upper-case trace id",
            multi(&TRACE_128.to_uppercase(), SPAN),
            FreshRoot,
        ),
        (
            "trace id only",
            vec![("X-B3-TraceId", TRACE_128.to_owned())],
            FreshRoot,
        ),
        (
            "valid 64-bit trace id",
            multi(TRACE_64, SPAN),
            Continued(TRACE_64),
        ),
        (
            "valid 128-bit trace id",
            multi(TRACE_128, SPAN),
            Continued(TRACE_128),
        ),
        (
            "garbage X-B3-Sampled",
            with(multi(TRACE_128, SPAN), "X-B3-Sampled", "maybe"),
            FreshRoot,
        ),
        (
            "garbage X-B3-Flags",
            with(multi(TRACE_128, SPAN), "X-B3-Flags", "2"),
            Continued(TRACE_128),
        ),
        (
            "garbage X-B3-ParentSpanId",
            with(multi(TRACE_128, SPAN), "X-B3-ParentSpanId", "nope"),
            Continued(TRACE_128),
        ),
        ("b3 garbage", single("garbage"), FreshRoot),
        ("b3 truncated", single(&format!("{TRACE_128}-")), FreshRoot),
        (
            "b3 truncated span id",
            single(&format!("{TRACE_128}-{}", &SPAN[..8])),
            FreshRoot,
        ),
        (
            "b3 too many parts",
            single(&format!("{TRACE_128}-{SPAN}-1-{SPAN}-x")),
            FreshRoot,
        ),
        (
            "b3 bad sampling flag",
            single(&format!("{TRACE_128}-{SPAN}-x")),
            FreshRoot,
        ),
        (
            "b3 valid",
            single(&format!("{TRACE_128}-{SPAN}-1")),
            Continued(TRACE_128),
        ),
        (
            "b3 single and multi disagree: single wins",
            with(
                multi(OTHER_TRACE, SPAN),
                "b3",
                &format!("{TRACE_128}-{SPAN}-1"),
            ),
            Continued(TRACE_128),
        ),
        (
            "repeated X-B3-TraceId: the first counts",
            vec![
                ("X-B3-TraceId", TRACE_128.to_owned()),
                ("X-B3-TraceId", OTHER_TRACE.to_owned()),
                ("X-B3-SpanId", SPAN.to_owned()),
            ],
            Continued(TRACE_128),
        ),
        ("16 KiB trace id", multi(&huge, SPAN), FreshRoot),
        ("16 KiB b3 header", single(&huge), FreshRoot),
        ("non-ASCII trace id", multi(non_ascii, SPAN), FreshRoot),
        (
            "traceparent garbage",
            vec![("traceparent", "00-xyz".to_owned())],
            FreshRoot,
        ),
        (
            "traceparent all-zero",
            vec![("traceparent", format!("00-{}-{SPAN}-01", "0".repeat(32)))],
            FreshRoot,
        ),
        (
            "traceparent valid",
            vec![("traceparent", format!("00-{TRACE_128}-{SPAN}-01"))],
            Continued(TRACE_128),
        ),
    ];
    assert!(cases.len() >= 20);

    let stack = Stack::start(&[]).await;
    for (name, headers, expect) in cases {
        stack.collector.store.clear();
        let mut request = http().get(&stack.api_01.url);
        for (header, value) in &headers {
            request = request.header(
                *header,
                reqwest::header::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(response.status(), 200, "{name}");
        let answer: serde_json::Value = response.json().await.unwrap();
        let trace_id = answer["trace_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {answer}"));
        let spans = wait_for_trace(&stack.collector, trace_id, SPANS_PER_REQUEST).await;
        let root = spans_of(&spans, "api_01", "SERVER")[0];
        match expect {
            FreshRoot => {
                assert!(
                    root.get("parentId").is_none(),
                    "{name}: a fresh trace has no parent: {root}"
                );
                assert!(
                    ![TRACE_128, TRACE_64, OTHER_TRACE].contains(&trace_id),
                    "{name}: {trace_id}"
                );
            }
            Continued(expected) => {
                assert_eq!(trace_id, expected, "{name}");
                assert_eq!(root["parentId"], SPAN, "{name}");
            }
        }
    }
    for service in [&stack.api_01, &stack.api_02, &stack.api_03] {
        assert!(
            !service.logs().iter().any(|line| line.contains("panicked")),
            "{}: {:#?}",
            service.name,
            service.logs()
        );
    }
}
