//! Malformed or hostile trace headers never cause a 5xx or a panic: the
//! request starts a fresh root trace. (What each valid form does is the
//! "B3 in, B3 out" table, checked in `b3_conformance.rs`.)

use e2e::*;

const TRACE_128: &str = "463ac35c9f6413ad48485a3953bb6124";
const TRACE_64: &str = "48485a3953bb6124";
const SPAN: &str = "a2fb4a1d1a96d312";

#[tokio::test(flavor = "multi_thread")]
async fn malformed_trace_headers_start_a_fresh_trace_and_never_fail() {
    let huge = "a".repeat(16 * 1024);
    let non_ascii = "4bf92f3577b34da6a3ce929d0e0e47é6";
    let single = |value: &str| vec![("b3", value.to_owned())];
    let multi = |trace: &str, span: &str| {
        vec![
            ("X-B3-TraceId", trace.to_owned()),
            ("X-B3-SpanId", span.to_owned()),
        ]
    };
    let traceparent = |value: String| vec![("traceparent", value)];
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("non-hex trace id", multi(&"z".repeat(32), SPAN)),
        ("trace id of 15 digits", multi(&TRACE_64[1..], SPAN)),
        (
            "trace id of 33 digits",
            multi(&format!("{TRACE_128}1"), SPAN),
        ),
        ("span id of 15 digits", multi(TRACE_128, &SPAN[1..])),
        (
            "span id of 17 digits",
            multi(TRACE_128, &format!("{SPAN}1")),
        ),
        ("all-zero trace id", multi(&"0".repeat(32), SPAN)),
        ("all-zero span id", multi(TRACE_128, &"0".repeat(16))),
        ("16 KiB trace id", multi(&huge, SPAN)),
        ("non-ASCII trace id", multi(non_ascii, SPAN)),
        ("b3 garbage", single("garbage")),
        ("b3 empty", single("")),
        ("b3 truncated", single(&format!("{TRACE_128}-"))),
        (
            "b3 truncated span id",
            single(&format!("{TRACE_128}-{}", &SPAN[..8])),
        ),
        (
            "b3 too many parts",
            single(&format!("{TRACE_128}-{SPAN}-1-{SPAN}-x")),
        ),
        (
            "b3 bad sampling state",
            single(&format!("{TRACE_128}-{SPAN}-x")),
        ),
        ("b3 sampling state alone, bad", single("x")),
        ("16 KiB b3 header", single(&huge)),
        ("traceparent garbage", traceparent("00-xyz".into())),
        (
            "traceparent all-zero",
            traceparent(format!("00-{}-{SPAN}-01", "0".repeat(32))),
        ),
        ("traceparent 16 KiB", traceparent(huge.clone())),
    ];

    let mut stack = Stack::start(&[]).await;
    let mut trace_ids = Vec::new();
    for (name, headers) in &cases {
        let mut request = http().get(&stack.api_01.url);
        for (header, value) in headers {
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
            .unwrap_or_else(|| panic!("{name}: {answer}"))
            .to_owned();
        assert!(
            trace_id.len() == 32 && trace_id != TRACE_128,
            "{name}: a fresh trace, got {trace_id}"
        );
        trace_ids.push(trace_id);
    }

    let spans = stack.stop().await;
    for ((name, _), trace_id) in cases.iter().zip(&trace_ids) {
        let trace = of_trace(&spans, trace_id);
        assert_eq!(trace.len(), SPANS_PER_REQUEST, "{name}");
        let root = trace
            .iter()
            .find(|span| service(span) == "api_01" && kind(span) == "SERVER")
            .unwrap();
        assert!(root.get("parentId").is_none(), "{name}: a root: {root}");
    }
    for service in stack.services() {
        assert!(
            !service.logs().iter().any(|line| line.contains("panicked")),
            "{}: {:#?}",
            service.name,
            service.logs()
        );
    }
}
