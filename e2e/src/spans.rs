//! Reading what Zipkin holds: a trace's spans, their fields, and the checks
//! every test makes of Zipkin's format.

use std::collections::BTreeMap;

use serde_json::Value;
use test_collector::zipkin_rules::{Kind, Span, TraceTree};

use crate::Links;

/// The spans of one request to api_01: 3 from api_01 (SERVER, two CLIENT),
/// 2 from api_02 (SERVER, CLIENT) and 4 from api_03 (a SERVER span and a
/// work span for each of its two callers).
pub const SPANS_PER_REQUEST: usize = 9;

/// The spans of one click on api_01's page: the request's, and the page's
/// own CLIENT span (service `browser`), which api_01's SERVER span joins.
pub const SPANS_PER_CLICK: usize = SPANS_PER_REQUEST + 1;

/// The spans of `trace_id`.
pub fn of_trace<'a>(spans: &'a [Value], trace_id: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|span| span["traceId"] == trace_id)
        .collect()
}

pub fn service(span: &Value) -> &str {
    span["localEndpoint"]["serviceName"]
        .as_str()
        .unwrap_or("<none>")
}

pub fn kind(span: &Value) -> &str {
    span["kind"].as_str().unwrap_or("INTERNAL")
}

pub fn tag<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["tags"][key].as_str()
}

/// The spans of `service` of `kind`.
pub fn spans_of<'a>(spans: &'a [Value], service_name: &str, span_kind: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|span| service(span) == service_name && kind(span) == span_kind)
        .collect()
}

fn is_lower_hex(text: &str, lengths: &[usize]) -> bool {
    lengths.contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Panics unless `span` is a valid Zipkin v2 span as this project promises.
pub fn assert_valid_zipkin_v2(span: &Value) {
    let text = |key: &str| {
        span[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing: {span}"))
    };
    assert!(is_lower_hex(text("traceId"), &[16, 32]), "traceId: {span}");
    assert!(is_lower_hex(text("id"), &[16]), "id: {span}");
    if let Some(parent) = span.get("parentId") {
        let parent = parent.as_str().unwrap();
        assert!(
            is_lower_hex(parent, &[16]) && parent != "0000000000000000",
            "parentId: {span}"
        );
    }
    assert!(
        span["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000_000),
        "timestamp µs: {span}"
    );
    assert!(
        span["duration"].as_u64().is_some_and(|d| d >= 1),
        "duration: {span}"
    );
    assert!(
        !service(span).is_empty() && service(span) != "<none>",
        "serviceName: {span}"
    );
    if let Some(kind) = span.get("kind") {
        assert!(
            ["CLIENT", "SERVER", "PRODUCER", "CONSUMER"].contains(&kind.as_str().unwrap()),
            "kind: {span}"
        );
    }
    if let Some(tags) = span.get("tags") {
        assert!(
            tags.as_object().unwrap().values().all(Value::is_string),
            "tags must be strings: {span}"
        );
    }
}

/// Links as call counts, `(caller, callee) → calls`.
pub fn call_counts(links: &Links) -> BTreeMap<(String, String), u64> {
    links
        .iter()
        .map(|(pair, link)| (pair.clone(), link.call_count))
        .collect()
}

/// The dependency graph of one request to api_01: api_01 → api_02,
/// api_01 → api_03 and api_02 → api_03, one call each.
pub fn one_request_links() -> BTreeMap<(String, String), u64> {
    [
        ("api_01", "api_02"),
        ("api_01", "api_03"),
        ("api_02", "api_03"),
    ]
    .map(|(caller, callee)| ((caller.to_owned(), callee.to_owned()), 1))
    .into()
}

/// The dependency graph of one click on api_01's page: the page's call to
/// api_01, then [`one_request_links`].
pub fn one_click_links() -> BTreeMap<(String, String), u64> {
    let mut links = one_request_links();
    links.insert(("browser".to_owned(), "api_01".to_owned()), 1);
    links
}

fn service_of(span: &Span) -> &str {
    span.local_endpoint
        .as_ref()
        .and_then(|endpoint| endpoint.service_name.as_deref())
        .unwrap_or("<none>")
}

/// Checks, by Zipkin's rules, that `trace` is one whole tree rooted at the
/// page's CLIENT span (service `browser`, calling api_01), whose child is
/// api_01's SERVER span, within the page's span in time; and that the
/// trace has four services: browser, api_01, api_02, api_03. Gives the
/// page's span.
pub fn assert_browser_rooted(trace: &[Value]) -> Span {
    trace.iter().for_each(assert_valid_zipkin_v2);
    let tree = TraceTree::build(trace).unwrap_or_else(|error| panic!("{error}: {trace:#?}"));
    assert!(tree.is_whole(), "one whole tree: {tree}");
    let root = tree.root_span().expect("a real root");
    assert_eq!(
        (service_of(root), root.kind),
        ("browser", Some(Kind::Client)),
        "the page's span is the root: {tree}"
    );
    let remote = root
        .remote_endpoint
        .as_ref()
        .and_then(|endpoint| endpoint.service_name.as_deref());
    assert_eq!(remote, Some("api_01"), "{root}");
    let servers: Vec<&Span> = tree
        .root()
        .children()
        .filter_map(|child| child.span())
        .collect();
    assert!(
        servers.len() == 1
            && service_of(servers[0]) == "api_01"
            && servers[0].kind == Some(Kind::Server),
        "api_01's SERVER span is the root's one child: {tree}"
    );
    let server = servers[0];
    // The page measured its call from before it was sent until the answer
    // was read: it covers api_01's time serving it.
    assert!(
        root.timestamp <= server.timestamp
            && root.timestamp + root.duration >= server.timestamp + server.duration,
        "the page's span ({} + {} µs) covers api_01's ({} + {} µs)",
        root.timestamp,
        root.duration,
        server.timestamp,
        server.duration
    );
    let services: std::collections::BTreeSet<&str> = tree.spans().iter().map(service_of).collect();
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        ["api_01", "api_02", "api_03", "browser"],
        "{tree}"
    );
    root.clone()
}
