//! The "B3 in, B3 out" table, end to end: each row's headers sent to
//! api_01, the headers seen at every hop between the three services, and the
//! spans the collector receives, with join on and off. The same table is
//! the propagation module's unit test, and `docs/b3.md` shows it.

use b3_table::{OTHER_TRACE, PARENT, Row, SPAN, Sends, TRACE, TRACE_64, Trace, rows};
use e2e::*;
use serde_json::Value;
use test_collector::zipkin_rules::{TraceTree, call_counts};

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
        // one), and each call drawn once.
        let tree = TraceTree::build(&trace).unwrap();
        assert_eq!(
            tree.orphans().count(),
            usize::from(parent.is_some()),
            "{what}: {tree}"
        );
        let links = call_counts(tree.links());
        assert_eq!(links.len(), 3, "{what}: {links:?}");
        assert!(links.values().all(|calls| *calls == 1), "{what}: {links:?}");
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
        "| Sender | Headers in | Recorded | Trace | SERVER span, join on | join off | Decision sent on |\n\
         |---|---|---|---|---|---|---|\n",
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
        let (name, value) = row.sends.header();
        let mut sends = match name {
            "x-b3-sampled" => format!("`X-B3-Sampled: {value}`"),
            _ => format!("`X-B3-Flags: {value}`"),
        };
        let (trace, joined, own) = match row.trace {
            Trace::Untraced => {
                sends.push_str(" alone");
                ("none".to_owned(), "—".to_owned(), "—".to_owned())
            }
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
            "| {} | {} | {recorded} | {trace} | {joined} | {own} | {sends} |\n",
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

#[test]
fn the_docs_show_the_table_as_it_is() {
    let page = include_str!("../../docs/b3.md");
    let table = markdown_table();
    assert!(
        page.contains(&table),
        "docs/b3.md's \"B3 in, B3 out\" table differs from the one tested; it should read:\n\n{table}"
    );
}
