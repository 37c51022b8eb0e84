//! The "B3 in, B3 out" table, end to end: each row's headers sent to
//! api_01, the headers seen at every hop between the three services, and the
//! spans the collector receives, with join on and off; the rows of other
//! `OTEL_PROPAGATORS` on a stack of their own each. The same table is the
//! propagation module's unit test, and `docs/b3.md` shows it.

use std::collections::BTreeSet;

use b3_table::{
    DEFAULT_PROPAGATORS, Format, OTHER_TRACE, PARENT, Row, SPAN, Sends, TRACE, TRACE_64, Trace,
    rows,
};
use e2e::*;
use serde_json::Value;
use test_collector::zipkin_rules::TraceTree;

/// Each row gets trace ids of its own, so that all rows can run on one
/// stack and be counted exactly at the end.
fn ids_for(index: usize) -> [(&'static str, String); 3] {
    let n = index as u128 + 1;
    [
        (TRACE, format!("{:032x}", (0xb3 << 120) | n)),
        (TRACE_64, format!("{:016x}", (0xb3 << 56) | n as u64)),
        (OTHER_TRACE, format!("{:032x}", (0x0f << 120) | n)),
    ]
}

fn substitute(text: &str, ids: &[(&str, String)]) -> String {
    let mut text = text.to_owned();
    // The 128-bit id first: the 64-bit one is its low half.
    for (from, to) in ids {
        text = text
            .replace(from, to)
            .replace(&from.to_uppercase(), &to.to_uppercase());
    }
    text
}

/// What a row sent and what came back, to be checked once everything is in.
struct Sent {
    row: Row,
    trace_id: String,
    api_01_server: String,
}

fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

/// Sends every row to a stack with `B3_JOIN=join` and checks it.
async fn check_every_row(join: bool) {
    let mut stack = Stack::builder()
        .env("B3_JOIN", if join { "true" } else { "false" })
        .env("WORK_MS", "0")
        .record_hops()
        .start()
        .await;
    let mut sent = Vec::new();
    for (index, row) in rows().into_iter().enumerate() {
        if row.propagators != DEFAULT_PROPAGATORS {
            continue;
        }
        let ids = ids_for(index);
        let own_id = |id: &str| substitute(id, &ids);
        let headers: Vec<(&str, String)> = row
            .headers
            .iter()
            .map(|(name, value)| (*name, substitute(value, &ids)))
            .collect();
        let what = format!("{} {headers:?} (join {join})", row.sender);
        let request: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for hop in stack.hops() {
            hop.clear();
        }
        let (status, answer) = fetch(&stack.api_01.url, &request).await;
        assert_eq!(status, 200, "{what}: {answer}");
        // So that Zipkin can give this trace's links alone.
        next_millisecond().await;

        // Every hop: one call, the same trace, the row's decision.
        let hop = |caller, callee| {
            let calls = stack.hop(caller, callee).calls();
            assert_eq!(calls.len(), 1, "{what}: {caller:?} → {callee:?}");
            calls.into_iter().next().unwrap()
        };
        let to_02 = hop(Api::Api01, Api::Api02);
        let to_03 = hop(Api::Api01, Api::Api03);
        let from_02 = hop(Api::Api02, Api::Api03);
        let (name, value) = row.sends.header();
        if row.trace == Trace::Untraced {
            // No trace: every hop carries the decision alone.
            for call in [&to_02, &to_03, &from_02] {
                let b3: Vec<_> = call
                    .keys()
                    .filter(|k| k.as_str().starts_with("x-b3-"))
                    .collect();
                assert_eq!(b3, [name], "{what}: {call:?}");
                assert_eq!(header(call, name), Some(value), "{what}: {call:?}");
            }
            continue;
        }
        let trace_id = header(&to_02, "x-b3-traceid").unwrap().to_owned();
        match row.trace {
            Trace::Continued(trace) => assert_eq!(trace_id, own_id(trace), "{what}"),
            _ => assert!(
                trace_id.len() == 32 && !ids.iter().any(|(_, id)| *id == trace_id),
                "{what}: a new trace, got {trace_id}"
            ),
        }
        let other = if row.sends == Sends::Debug {
            "x-b3-sampled"
        } else {
            "x-b3-flags"
        };
        for call in [&to_02, &to_03, &from_02] {
            assert_eq!(
                header(call, "x-b3-traceid"),
                Some(trace_id.as_str()),
                "{what}: {call:?}"
            );
            assert_eq!(header(call, name), Some(value), "{what}: {call:?}");
            assert_eq!(header(call, other), None, "{what}: {call:?}");
        }
        // api_01's SERVER span is the parent of its calls; joined, it is
        // the caller's span; and api_02's is the span of api_01's call.
        let api_01_server = header(&to_02, "x-b3-parentspanid").unwrap().to_owned();
        assert_eq!(
            header(&to_03, "x-b3-parentspanid"),
            Some(api_01_server.as_str()),
            "{what}"
        );
        match (join, row.joined_id) {
            (true, Some(id)) => assert_eq!(api_01_server, own_id(id), "{what}: joined"),
            _ => assert!(![SPAN, PARENT].contains(&api_01_server.as_str()), "{what}"),
        }
        let api_02_server = header(&from_02, "x-b3-parentspanid").unwrap();
        if join {
            assert_eq!(
                Some(api_02_server),
                header(&to_02, "x-b3-spanid"),
                "{what}: api_02 joined"
            );
        } else {
            assert_ne!(Some(api_02_server), header(&to_02, "x-b3-spanid"), "{what}");
        }
        sent.push(Sent {
            row,
            trace_id,
            api_01_server,
        });
    }

    // Nothing more can arrive once the services have stopped: every span
    // belongs to a recorded row.
    let spans = stack.stop().await;
    let recorded = sent.iter().filter(|sent| sent.row.recorded).count();
    assert_eq!(spans.len(), recorded * SPANS_PER_REQUEST, "{spans:#?}");
    for Sent {
        row,
        trace_id,
        api_01_server,
    } in &sent
    {
        let what = format!("{} {:?} (join {join})", row.sender, row.headers);
        let trace: Vec<Value> = of_trace(&spans, trace_id).into_iter().cloned().collect();
        if !row.recorded {
            assert!(trace.is_empty(), "{what}: nothing recorded: {trace:#?}");
            continue;
        }
        assert_eq!(trace.len(), SPANS_PER_REQUEST, "{what}: {trace:#?}");
        let root = spans_of(&trace, "api_01", "SERVER")[0];
        assert_eq!(root["id"], api_01_server.as_str(), "{what}");
        let parent = if join {
            row.joined_parent
        } else {
            row.own_parent
        };
        let index = sent.iter().position(|s| &s.trace_id == trace_id).unwrap();
        let expected_parent = parent.map(|id| substitute(id, &ids_for(index)));
        assert_eq!(
            root["parentId"].as_str(),
            expected_parent.as_deref(),
            "{what}: {root}"
        );
        for span in &trace {
            assert_eq!(span["debug"] == true, row.debug, "{what}: debug: {span}");
        }
        // In Zipkin: one tree (hung under the caller's span when there is
        // one), and each call drawn once by Zipkin's own links.
        let tree = TraceTree::build(&trace).unwrap();
        assert_eq!(
            tree.orphans().count(),
            usize::from(parent.is_some()),
            "{what}: {tree}"
        );
        let links = call_counts(&stack.zipkin.links_of(trace_id).await);
        assert_eq!(links, one_request_links(), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_row_end_to_end_with_join() {
    check_every_row(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_row_end_to_end_without_join() {
    check_every_row(false).await;
}

/// A call's trace headers, and its trace id (as Zipkin writes it: 16
/// digits when it fits in 64 bits) in whichever format it came.
fn trace_headers(call: &axum::http::HeaderMap) -> (BTreeSet<String>, Option<String>) {
    let names = call
        .keys()
        .map(|name| name.as_str())
        .filter(|name| name.starts_with("x-b3-") || ["b3", "traceparent"].contains(name))
        .map(str::to_owned)
        .collect();
    let b3_single = header(call, "b3")
        .filter(|value| value.len() > 1)
        .and_then(|value| value.split('-').next());
    let w3c = header(call, "traceparent").and_then(|value| value.get(3..35));
    let trace = header(call, "x-b3-traceid")
        .or(b3_single)
        .or(w3c)
        .map(|id| id.strip_prefix("0000000000000000").unwrap_or(id).to_owned());
    (names, trace)
}

/// Whether every format on `call` says the row's decision (W3C has no
/// debug: it says sampled).
fn carries_the_decision(row: &Row, call: &axum::http::HeaderMap) -> bool {
    let (name, value) = row.sends.header();
    let single = match row.sends {
        Sends::Sampled => "1",
        Sends::NotSampled => "0",
        Sends::Debug => "d",
    };
    let flags = if row.sends == Sends::NotSampled {
        "-00"
    } else {
        "-01"
    };
    row.formats().into_iter().all(|format| match format {
        Format::B3Multi => header(call, name) == Some(value),
        Format::B3Single => header(call, "b3")
            .is_some_and(|b3| b3 == single || b3.split('-').nth(2) == Some(single)),
        Format::TraceContext => header(call, "traceparent").is_some_and(|w3c| w3c.ends_with(flags)),
    })
}

/// The trace header names a row's calls carry.
fn expected_names(row: &Row) -> BTreeSet<String> {
    let untraced = row.trace == Trace::Untraced;
    let mut names = BTreeSet::new();
    for format in row.formats() {
        let found: Vec<&str> = match format {
            Format::B3Multi if untraced => vec![row.sends.header().0],
            Format::B3Multi => vec![
                "x-b3-traceid",
                "x-b3-spanid",
                "x-b3-parentspanid",
                row.sends.header().0,
            ],
            Format::B3Single => vec!["b3"],
            Format::TraceContext => vec!["traceparent"],
        };
        names.extend(found.into_iter().map(str::to_owned));
    }
    names
}

/// The rows of every other `OTEL_PROPAGATORS`, through three services that
/// all run with it: the formats on every hop, one trace id throughout, and
/// the trace Zipkin draws (or, with `none`, the four traces it breaks into:
/// no service hears another).
#[tokio::test(flavor = "multi_thread")]
async fn every_other_propagators_row_end_to_end() {
    let rows: Vec<(usize, Row)> = rows()
        .into_iter()
        .enumerate()
        .filter(|(_, row)| row.propagators != DEFAULT_PROPAGATORS)
        .collect();
    let lists: BTreeSet<&str> = rows.iter().map(|(_, row)| row.propagators).collect();
    for list in lists {
        let mut stack = Stack::builder()
            .env("OTEL_PROPAGATORS", list)
            .env("WORK_MS", "0")
            .record_hops()
            .start()
            .await;
        let mut sent = Vec::new();
        for (index, row) in rows.iter().filter(|(_, row)| row.propagators == list) {
            let ids = ids_for(*index);
            let headers: Vec<(&str, String)> = row
                .headers
                .iter()
                .map(|(name, value)| (*name, substitute(value, &ids)))
                .collect();
            let what = format!("{list}: {} {headers:?}", row.sender);
            for hop in stack.hops() {
                hop.clear();
            }
            let request: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, answer) = fetch(&stack.api_01.url, &request).await;
            assert_eq!(status, 200, "{what}: {answer}");
            next_millisecond().await;
            let mut traces = BTreeSet::new();
            for (caller, callee) in [
                (Api::Api01, Api::Api02),
                (Api::Api01, Api::Api03),
                (Api::Api02, Api::Api03),
            ] {
                let calls = stack.hop(caller, callee).calls();
                assert_eq!(calls.len(), 1, "{what}: {caller:?} → {callee:?}");
                let (names, trace) = trace_headers(&calls[0]);
                assert_eq!(names, expected_names(row), "{what}: {:?}", calls[0]);
                assert!(
                    carries_the_decision(row, &calls[0]),
                    "{what}: {:?}",
                    calls[0]
                );
                traces.insert(trace);
            }
            // W3C cannot carry a decision without ids, so each call of a
            // request that has none makes its own: nothing is recorded,
            // and no trace is broken.
            if row.trace != Trace::Untraced {
                assert_eq!(
                    traces.len(),
                    1,
                    "{what}: one trace on every hop: {traces:?}"
                );
            }
            let answered = answer["trace_id"].as_str().map(str::to_owned);
            if let Some(Some(trace)) = traces.first()
                && row.trace != Trace::Untraced
            {
                assert_eq!(answered.as_ref(), Some(trace), "{what}: {answer}");
            }
            if let Trace::Continued(trace) = row.trace {
                assert_eq!(answered, Some(substitute(trace, &ids)), "{what}: {answer}");
            }
            sent.push((row, ids, answered));
        }
        let spans = stack.stop().await;
        let recorded: Vec<_> = sent.iter().filter(|(row, ..)| row.recorded).collect();
        assert_eq!(
            spans.len(),
            recorded.len() * SPANS_PER_REQUEST,
            "{list}: {spans:#?}"
        );
        for (row, ids, answered) in &sent {
            let what = format!("{list}: {}", row.sender);
            let answered = answered.as_deref().unwrap_or("");
            let trace: Vec<Value> = of_trace(&spans, answered).into_iter().cloned().collect();
            if !row.recorded {
                assert!(trace.is_empty(), "{what}: nothing recorded: {trace:#?}");
                continue;
            }
            if row.propagates_nothing() {
                // api_01's SERVER span and its two calls, alone in a trace.
                assert_eq!(trace.len(), 3, "{what}: {trace:#?}");
                let traces: BTreeSet<&str> = spans
                    .iter()
                    .filter_map(|span| span["traceId"].as_str())
                    .collect();
                assert_eq!(
                    traces.len(),
                    4,
                    "{what}: api_02 and api_03 (twice) each alone"
                );
                continue;
            }
            assert_eq!(trace.len(), SPANS_PER_REQUEST, "{what}: {trace:#?}");
            let root = spans_of(&trace, "api_01", "SERVER")[0];
            let expected_parent = row.joined_parent.map(|id| substitute(id, ids));
            assert_eq!(
                root["parentId"].as_str(),
                expected_parent.as_deref(),
                "{what}: {root}"
            );
            // Debug travels in B3 only: over W3C alone, only api_01 has it.
            let debug_travels = row
                .formats()
                .iter()
                .any(|format| *format != Format::TraceContext);
            for span in &trace {
                let debug = row.debug && (debug_travels || service(span) == "api_01");
                assert_eq!(span["debug"] == true, debug, "{what}: debug: {span}");
            }
            let tree = TraceTree::build(&trace).unwrap();
            assert_eq!(
                tree.orphans().count(),
                usize::from(expected_parent.is_some()),
                "{what}: {tree}"
            );
            let links = call_counts(&stack.zipkin.links_of(answered).await);
            assert_eq!(links, one_request_links(), "{what}");
        }
    }
}

/// The table as `docs/b3.md` shows it, ids written as short names.
fn markdown_table() -> String {
    let names = [
        (TRACE, "T"),
        (TRACE_64, "T64"),
        (OTHER_TRACE, "T2"),
        (SPAN, "S"),
        (PARENT, "P"),
    ];
    let short = |text: &str| {
        let mut text = text.to_owned();
        for (id, name) in names {
            text = text
                .replace(id, name)
                .replace(&id.to_uppercase(), &format!("{name} (upper case)"));
        }
        text
    };
    let span = |id: Option<&str>, parent: Option<&str>| {
        let id = id.map_or("new".to_owned(), short);
        match parent {
            Some(parent) => format!("{id}, under {}", short(parent)),
            None => format!("{id}, root"),
        }
    };
    let mut table = String::from(
        "| `OTEL_PROPAGATORS` | Sender | Headers in | Recorded | Trace | SERVER span, join on | join off | Sent on |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for row in rows() {
        let headers: Vec<String> = row
            .headers
            .iter()
            .map(|(name, value)| format!("`{name}: {}`", short(value)))
            .collect();
        let recorded = match (row.recorded, row.debug) {
            (true, true) => "yes, debug",
            (true, false) => "yes",
            (false, _) => "**no**",
        };
        let untraced = row.trace == Trace::Untraced;
        let trace_short = match row.trace {
            Trace::Continued(trace) => short(trace),
            _ => "new".to_owned(),
        };
        let sends = sent_on(&row, untraced, &trace_short);
        let (trace, joined, own) = match row.trace {
            Trace::Untraced => ("none".to_owned(), "—".to_owned(), "—".to_owned()),
            trace => (
                match trace {
                    Trace::Continued(trace) => short(trace),
                    _ => "new".to_owned(),
                },
                span(row.joined_id, row.joined_parent),
                span(None, row.own_parent),
            ),
        };
        table.push_str(&format!(
            "| `{}` | {} | {} | {recorded} | {trace} | {joined} | {own} | {sends} |\n",
            row.propagators,
            row.sender,
            if headers.is_empty() {
                "(none)".to_owned()
            } else {
                headers.join(" ")
            },
        ));
    }
    table
}

/// The "Sent on" cell: for `b3multi`, the decision (the ids are always
/// there, as the page says); for the other formats, the whole header, C
/// being the CLIENT span and V the SERVER span.
fn sent_on(row: &Row, untraced: bool, trace: &str) -> String {
    let formats = row.formats();
    if formats.is_empty() {
        return "nothing".into();
    }
    let cells: Vec<String> = formats
        .into_iter()
        .map(|format| match format {
            Format::B3Multi => {
                let (name, value) = row.sends.header();
                let name = match name {
                    "x-b3-sampled" => "X-B3-Sampled",
                    _ => "X-B3-Flags",
                };
                let alone = if untraced { " alone" } else { "" };
                format!("`{name}: {value}`{alone}")
            }
            Format::B3Single => {
                let decision = match row.sends {
                    Sends::Sampled => "1",
                    Sends::NotSampled => "0",
                    Sends::Debug => "d",
                };
                match untraced {
                    true => format!("`b3: {decision}` alone"),
                    false => format!("`b3: {trace}-C-{decision}-V`"),
                }
            }
            Format::TraceContext => {
                let flags = match row.sends {
                    Sends::NotSampled => "00",
                    _ => "01",
                };
                match untraced {
                    true => format!("`traceparent: 00-new-new-{flags}`"),
                    false => format!("`traceparent: 00-{trace}-C-{flags}`"),
                }
            }
        })
        .collect();
    cells.join(" ")
}

#[test]
fn the_docs_show_the_table_as_it_is() {
    let page = include_str!("../../docs/b3.md");
    let table = markdown_table();
    assert!(
        page.contains(&table),
        "docs/b3.md's \"B3 in, B3 out\" table differs from the one tested; it should read:\n\n{table}"
    );
}

/// A list the services cannot honour stops them at start-up, with a message
/// that names the variable, as every other setting does.
#[test]
fn an_unknown_propagator_stops_the_service_with_the_variable_named() {
    for (list, reason) in [
        (
            "tracecontext,baggage",
            "baggage is an OpenTelemetry propagator",
        ),
        ("b3,none", "none cannot be listed with other propagators"),
        ("w3c", "unknown propagator \"w3c\""),
    ] {
        let stderr = refused_at_start("api_02", &[("OTEL_PROPAGATORS", list)]);
        let named = format!("OTEL_PROPAGATORS={list:?} is invalid");
        assert!(
            stderr.contains(&named) && stderr.contains(reason),
            "{list}: {stderr}"
        );
    }
}
