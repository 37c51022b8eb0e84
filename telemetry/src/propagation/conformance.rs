//! The "B3 in, B3 out" table (the `b3_table` crate), row by row, through
//! what a service really runs: the SERVER span of a request with the row's headers,
//! the sampler, the id generator, and the CLIENT span of a call made inside
//! it, with join on and off.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, Method},
    routing::get,
};
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::SpanData;
use reqwest::Url;
use tower::ServiceExt;

use b3_table::{OTHER_TRACE, PARENT, Row, SPAN, TRACE, TRACE_64, Trace};

use crate::{
    client::start_call,
    debug_trace::is_debug,
    testing::{self, Kept},
};

/// Serves one request with `row`'s headers through the SERVER-span
/// middleware, calling out once inside it: the spans exported, and the
/// headers of the call.
fn serve(row: &Row, join: bool) -> (Vec<SpanData>, HeaderMap) {
    let kept = Kept::default();
    let subscriber = testing::subscriber(&kept);
    let sent = Arc::new(Mutex::new(HeaderMap::new()));
    let call = sent.clone();
    let routes = Router::new().route(
        "/",
        get(move || async move {
            let callee = Url::parse("http://api_02:5002/").unwrap();
            let mut headers = HeaderMap::new();
            start_call(&Method::GET, &callee, "api_02", &mut headers);
            *call.lock().unwrap() = headers;
        }),
    );
    let app = routes.layer(testing::layer(join));
    let mut request = Request::get("/").body(Body::empty()).unwrap();
    for (name, value) in &row.headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(app.oneshot(request)).unwrap();
    });
    let spans = kept.spans();
    let sent = sent.lock().unwrap().clone();
    (spans, sent)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

fn span_id(text: &str) -> SpanId {
    SpanId::from_hex(text).unwrap()
}

/// Checks one row, with join on or off.
fn check(row: &Row, join: bool) {
    let what = format!("{} {:?} (join {join})", row.sender, row.headers);
    let (spans, sent) = serve(row, join);
    // The decision, and only it.
    let (name, value) = row.sends.header();
    assert_eq!(header(&sent, name), Some(value), "{what}: {sent:?}");
    let other = if name == "x-b3-flags" {
        "x-b3-sampled"
    } else {
        "x-b3-flags"
    };
    assert_eq!(header(&sent, other), None, "{what}: {sent:?}");
    if row.trace == Trace::Untraced {
        assert_eq!(sent.len(), 1, "{what}: the decision alone: {sent:?}");
        assert!(spans.is_empty(), "{what}: nothing recorded: {spans:#?}");
        return;
    }
    let sent_trace = header(&sent, "x-b3-traceid").unwrap_or_else(|| panic!("{what}: {sent:?}"));
    let server_id = header(&sent, "x-b3-parentspanid").expect("the SERVER span is sent as parent");
    let client_id = header(&sent, "x-b3-spanid").expect("the CLIENT span is sent");

    // Trace: the caller's, or a new 128-bit one.
    match row.trace {
        Trace::Continued(trace) => assert_eq!(sent_trace, trace, "{what}"),
        _ => assert!(
            sent_trace.len() == 32 && ![TRACE, TRACE_64, OTHER_TRACE].contains(&sent_trace),
            "{what}: a new trace, got {sent_trace}"
        ),
    }
    // The SERVER span's own id: the caller's span id when joined.
    let joined_id = if join { row.joined_id } else { None };
    match joined_id {
        Some(id) => assert_eq!(server_id, id, "{what}: joined"),
        None => assert!(
            ![SPAN, PARENT].contains(&server_id),
            "{what}: an id of its own"
        ),
    }
    assert_ne!(
        client_id, server_id,
        "{what}: the CLIENT span has an id of its own"
    );

    // Recorded or not; and when recorded, the spans Zipkin gets.
    if !row.recorded {
        assert!(spans.is_empty(), "{what}: nothing recorded: {spans:#?}");
        return;
    }
    let [client, server] = &spans[..] else {
        panic!("{what}: a SERVER and a CLIENT span: {spans:#?}");
    };
    assert_eq!(
        (server.span_kind.clone(), client.span_kind.clone()),
        (SpanKind::Server, SpanKind::Client)
    );
    let trace_id = TraceId::from_hex(sent_trace).unwrap();
    assert_eq!(server.span_context.trace_id(), trace_id, "{what}");
    assert_eq!(server.span_context.span_id(), span_id(server_id), "{what}");
    let parent = if join {
        row.joined_parent
    } else {
        row.own_parent
    };
    assert_eq!(
        server.parent_span_id,
        parent.map_or(SpanId::INVALID, span_id),
        "{what}: parent"
    );
    assert_eq!(client.span_context.span_id(), span_id(client_id), "{what}");
    assert_eq!(
        client.parent_span_id,
        server.span_context.span_id(),
        "{what}"
    );
    for span in [server, client] {
        assert_eq!(is_debug(&span.span_context), row.debug, "{what}: debug");
    }
}

#[test]
fn every_row_of_the_table_with_join_on_and_off() {
    let rows = b3_table::rows();
    assert!(rows.len() >= 30, "{} rows", rows.len());
    for row in &rows {
        check(row, true);
        check(row, false);
    }
}

/// What `opentelemetry-zipkin` 0.33's propagator does with the forms we
/// read ourselves. When an upgrade fails this test, re-check whether
/// `b3.rs` is still needed (see its module documentation).
#[test]
#[allow(deprecated)]
fn opentelemetry_zipkin_still_reads_these_forms_differently() {
    use opentelemetry::{
        Context,
        propagation::TextMapPropagator,
        trace::{SpanContext, TraceContextExt, TraceFlags, TraceState},
    };
    use opentelemetry_http::{HeaderExtractor, HeaderInjector};
    use opentelemetry_zipkin::{B3Encoding, Propagator};

    let reader = Propagator::with_encoding(B3Encoding::SingleAndMultiHeader);
    let read = |pairs: &[(&'static str, &str)]| {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        reader
            .extract(&HeaderExtractor(&headers))
            .span()
            .span_context()
            .clone()
    };
    let ids = [("x-b3-traceid", TRACE_64), ("x-b3-spanid", SPAN)];
    let py_zipkin = read(&[ids[0], ids[1], ("x-b3-sampled", "1"), ("x-b3-flags", "0")]);
    assert!(
        !py_zipkin.is_sampled(),
        "py_zipkin's Flags: 0 overrides Sampled: 1"
    );
    let legacy = read(&[ids[0], ids[1], ("x-b3-sampled", "true")]);
    assert!(
        !legacy.is_valid(),
        "`true` is refused with single-header support on"
    );
    assert!(
        !read(&[("b3", "0")]).is_valid(),
        "b3: 0 is not read as a decision"
    );
    assert!(
        !read(&[("x-b3-sampled", "0")]).is_valid(),
        "nor a lone X-B3-Sampled: 0"
    );
    assert!(
        !read(&[ids[0], ids[1]]).is_sampled(),
        "a deferred decision reads as not sampled"
    );

    let mut sent = HeaderMap::new();
    let span = SpanContext::new(
        TraceId::from_hex(TRACE).unwrap(),
        span_id(SPAN),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let cx = Context::new().with_remote_span_context(span);
    Propagator::new().inject_context(&cx, &mut HeaderInjector(&mut sent));
    assert!(
        !sent.contains_key("x-b3-parentspanid"),
        "it never sends the parent"
    );
}
