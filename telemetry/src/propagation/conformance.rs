//! The "B3 in, B3 out" table (the `b3_table` crate), row by row, through
//! what a service really runs: the SERVER span of a request with the row's
//! headers, the sampler, the id generator, and the CLIENT span of a call
//! made inside it, with join on and off, and the row's `OTEL_PROPAGATORS`.

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

use b3_table::{Format, OTHER_TRACE, PARENT, Row, SPAN, Sends, TRACE, TRACE_64, Trace};

use crate::{
    client::start_call,
    config::Propagators,
    debug_trace::is_debug,
    testing::{self, FinishedSpans},
};

/// Serves one request with `row`'s headers through the SERVER-span
/// middleware, reading and calling out as the row's `OTEL_PROPAGATORS`
/// say: the spans exported, and the headers of the call.
fn serve(row: &Row, join: bool) -> (Vec<SpanData>, HeaderMap) {
    let propagators: Propagators = row.propagators.parse().unwrap();
    let kept = FinishedSpans::default();
    let subscriber = testing::subscriber(&kept);
    let sent = Arc::new(Mutex::new(HeaderMap::new()));
    let call = sent.clone();
    let routes = Router::new().route(
        "/",
        get(move || async move {
            let callee = Url::parse("http://api_02:5002/").unwrap();
            let mut headers = HeaderMap::new();
            start_call(&Method::GET, &callee, "api_02", propagators, &mut headers);
            *call.lock().unwrap() = headers;
        }),
    );
    let app = routes.layer(testing::layer_reading(join, propagators));
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

/// The context a call carried in one format: the trace, the CLIENT span
/// (the callee's parent), the SERVER span when the format sends it, and
/// the decision.
#[derive(Debug)]
struct Sent {
    trace: Option<TraceId>,
    client: Option<SpanId>,
    server: Option<SpanId>,
    sends: Sends,
}

/// The header names `format` puts on a call, and what they say.
fn decode(format: Format, headers: &HeaderMap) -> (Vec<&'static str>, Sent) {
    let trace = |text: &str| TraceId::from_hex(text).unwrap();
    match format {
        Format::B3Multi => {
            let sends = match (
                header(headers, "x-b3-sampled"),
                header(headers, "x-b3-flags"),
            ) {
                (Some("1"), None) => Sends::Sampled,
                (Some("0"), None) => Sends::NotSampled,
                (None, Some("1")) => Sends::Debug,
                other => panic!("no single decision: {other:?} in {headers:?}"),
            };
            let (name, _) = sends.header();
            let sent = Sent {
                trace: header(headers, "x-b3-traceid").map(trace),
                client: header(headers, "x-b3-spanid").map(span_id),
                server: header(headers, "x-b3-parentspanid").map(span_id),
                sends,
            };
            let names = match sent.trace {
                Some(_) => vec!["x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", name],
                None => vec![name],
            };
            (names, sent)
        }
        Format::B3Single => {
            let value = header(headers, "b3").unwrap_or_else(|| panic!("no b3: {headers:?}"));
            let parts: Vec<&str> = value.split('-').collect();
            let sends = |decision| match decision {
                "1" => Sends::Sampled,
                "0" => Sends::NotSampled,
                "d" => Sends::Debug,
                _ => panic!("decision {value}"),
            };
            let sent = match parts[..] {
                [decision] => Sent {
                    trace: None,
                    client: None,
                    server: None,
                    sends: sends(decision),
                },
                [trace_id, client, decision, server] => Sent {
                    trace: Some(trace(trace_id)),
                    client: Some(span_id(client)),
                    server: Some(span_id(server)),
                    sends: sends(decision),
                },
                _ => panic!("b3: {value}"),
            };
            (vec!["b3"], sent)
        }
        Format::TraceContext => {
            let value = header(headers, "traceparent")
                .unwrap_or_else(|| panic!("no traceparent: {headers:?}"));
            let [version, trace_id, client, flags] = value.split('-').collect::<Vec<_>>()[..]
            else {
                panic!("traceparent: {value}");
            };
            assert_eq!((version, trace_id.len()), ("00", 32), "{value}");
            let sends = match flags {
                "01" => Sends::Sampled,
                "00" => Sends::NotSampled,
                _ => panic!("flags {value}"),
            };
            let sent = Sent {
                trace: Some(trace(trace_id)),
                client: Some(span_id(client)),
                server: None,
                sends,
            };
            (vec!["traceparent"], sent)
        }
    }
}

/// Checks one row, with join on or off.
fn check(row: &Row, join: bool) {
    let what = format!(
        "{} {} {:?} (join {join})",
        row.propagators, row.sender, row.headers
    );
    let (spans, sent) = serve(row, join);

    // Every listed format, and nothing else; each with the row's decision
    // (W3C has no debug: it says sampled).
    let mut names = Vec::new();
    let mut contexts = Vec::new();
    for format in row.formats() {
        let (format_names, context) = decode(format, &sent);
        let decision = match (format, row.sends) {
            (Format::TraceContext, Sends::Debug) => Sends::Sampled,
            (_, sends) => sends,
        };
        assert_eq!(context.sends, decision, "{what}: {format:?} {sent:?}");
        names.extend(format_names);
        contexts.push((format, context));
    }
    let mut sent_names: Vec<&str> = sent.keys().map(|name| name.as_str()).collect();
    names.sort_unstable();
    sent_names.sort_unstable();
    assert_eq!(sent_names, names, "{what}: {sent:?}");

    let known = [TRACE, TRACE_64, OTHER_TRACE].map(|id| TraceId::from_hex(id).unwrap());
    if row.trace == Trace::Untraced {
        for (format, context) in &contexts {
            match format {
                // W3C has no decision without ids: fresh ones carry it.
                Format::TraceContext => {
                    assert!(!known.contains(&context.trace.unwrap()), "{what}")
                }
                _ => assert!(context.trace.is_none(), "{what}: the decision alone"),
            }
        }
        assert!(spans.is_empty(), "{what}: nothing recorded: {spans:#?}");
        return;
    }
    // All formats say the same; without any, the spans tell.
    let server_span = spans.iter().find(|span| span.span_kind == SpanKind::Server);
    let first = contexts.first().map(|(_, context)| context);
    let trace_id = first
        .and_then(|context| context.trace)
        .or(server_span.map(|span| span.span_context.trace_id()))
        .unwrap_or_else(|| panic!("{what}: no trace sent, none recorded"));
    let client_id = first.and_then(|context| context.client);
    let server_id = contexts
        .iter()
        .find_map(|(_, context)| context.server)
        .or(server_span.map(|span| span.span_context.span_id()));
    for (format, context) in &contexts {
        assert_eq!(context.trace, Some(trace_id), "{what}: {format:?}");
        assert_eq!(context.client, client_id, "{what}: {format:?}");
        if context.server.is_some() {
            assert_eq!(context.server, server_id, "{what}: {format:?}");
        }
    }

    // Trace: the caller's, or a new 128-bit one.
    match row.trace {
        Trace::Continued(trace) => {
            assert_eq!(trace_id, TraceId::from_hex(trace).unwrap(), "{what}")
        }
        _ => assert!(
            u128::from_be_bytes(trace_id.to_bytes()) >> 64 != 0 && !known.contains(&trace_id),
            "{what}: a new trace, got {trace_id}"
        ),
    }
    // The SERVER span's own id: the caller's span id when joined.
    let joined_id = if join { row.joined_id } else { None };
    if let Some(server_id) = server_id {
        match joined_id {
            Some(id) => assert_eq!(server_id, span_id(id), "{what}: joined"),
            None => assert!(
                ![SPAN, PARENT].map(span_id).contains(&server_id),
                "{what}: an id of its own"
            ),
        }
        assert_ne!(
            client_id,
            Some(server_id),
            "{what}: the CLIENT span has an id of its own"
        );
    }

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
    assert_eq!(server.span_context.trace_id(), trace_id, "{what}");
    assert_eq!(Some(server.span_context.span_id()), server_id, "{what}");
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
    if let Some(client_id) = client_id {
        assert_eq!(client.span_context.span_id(), client_id, "{what}");
    }
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
    assert!(rows.len() >= 40, "{} rows", rows.len());
    for row in &rows {
        check(row, true);
        check(row, false);
    }
}

/// What `opentelemetry-propagator-b3` 0.33's propagator does with the forms
/// we read ourselves. When an upgrade fails this test, re-check whether
/// `b3.rs` is still needed (see its module documentation).
#[test]
fn upstream_b3_propagator_still_reads_these_forms_differently() {
    use opentelemetry::{
        Context,
        propagation::TextMapPropagator,
        trace::{SpanContext, TraceContextExt, TraceFlags, TraceState},
    };
    use opentelemetry_http::{HeaderExtractor, HeaderInjector};
    use opentelemetry_propagator_b3::{B3Encoding, Propagator};

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
