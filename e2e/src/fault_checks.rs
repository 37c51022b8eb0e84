//! The checks the fault suite makes of a case's [`Report`], shared by its
//! cases over Zipkin's v2 JSON (`e2e/tests/faults.rs`) and over OTLP
//! (`e2e/tests/faults_otlp.rs`): the exact span account, what Zipkin holds
//! and links, whole traces, the answers and their p99.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use serde_json::Value;
use test_collector::zipkin_rules::TraceTree;

use crate::{
    SPANS_PER_REQUEST, call_counts,
    faults::{self, Report, trace_id},
    one_request_links,
};

/// Every service's every account balances; the receiver took, from each
/// service with no killed life, exactly the spans it exported; and Zipkin
/// holds each span the receiver took in Zipkin's last life, once, and
/// nothing else.
pub fn accounts_balance(report: &Report) {
    zipkin_holds_what_it_took(report);
    for (name, (accounts, killed)) in &report.accounts {
        assert!(!accounts.is_empty() || *killed, "{name} gave no account");
        for account in accounts {
            assert!(account.balances(), "{name}: {account:?}");
        }
        if !killed {
            let exported: u64 = accounts.iter().map(|account| account.exported).sum();
            assert_eq!(
                report.received(name) as u64,
                exported,
                "{name}: received against exported: {accounts:?}"
            );
        }
    }
}

/// What Zipkin holds at the end (read through its API) is, span for span,
/// what the receiver took in Zipkin's last life (recorded on the wire; the
/// receiver is Zipkin, or the Collector in front of it): a span sent twice
/// is held once. With several Zipkin servers, one killed may take with it
/// what it had answered for and not yet stored
/// ([`Report::lost_with_killed_servers`]): only those may be missing.
pub fn zipkin_holds_what_it_took(report: &Report) {
    let keys =
        |spans: Vec<&Value>| -> BTreeSet<_> { spans.into_iter().map(faults::span_key).collect() };
    let stored: Vec<&Value> = report.stored.iter().collect();
    assert_eq!(
        stored.len(),
        faults::distinct(&stored),
        "{} holds a span twice",
        report.judge
    );
    let (held, taken) = (keys(stored), keys(report.taken_in_last_life()));
    let lost_with_servers = report.lost_with_killed_servers();
    let missing: Vec<_> = taken
        .difference(&held)
        .filter(|key| !lost_with_servers.contains(*key))
        .take(3)
        .collect();
    let extra: Vec<_> = held.difference(&taken).take(3).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} holds {} spans, the receiver took {}: missing {missing:?}, never taken {extra:?}",
        report.judge,
        held.len(),
        taken.len()
    );
}

/// Every trace of the load is whole in Zipkin: its nine spans held, and
/// Zipkin's own links count each of the three calls once a trace.
pub fn zipkin_links_every_trace(report: &Report) {
    let traces = report.answers.len() as u64;
    assert_eq!(
        report.stored.len() as u64,
        traces * SPANS_PER_REQUEST as u64,
        "{}",
        report.judge
    );
    let expected: BTreeMap<_, _> = one_request_links()
        .into_keys()
        .map(|pair| (pair, traces))
        .collect();
    assert_eq!(call_counts(&report.links), expected, "{}", report.judge);
}

/// Every request got `200`.
pub fn all_answered(report: &Report) {
    let failed: Vec<_> = report
        .answers
        .iter()
        .filter(|answer| !answer.ok())
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:#?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
}

/// Requests during the fault were not slowed by it: their p99 stays far
/// below the time the receiver takes (a request that waited on an upload
/// would take at least that).
pub fn not_slowed(report: &Report, receiver_takes: Duration) {
    let (before, during) = report.p99s();
    assert!(
        during < receiver_takes / 2,
        "p99 {during:?} during the fault ({before:?} before it)"
    );
}

/// The spans of every trace of the load, by trace id.
pub fn traces_of_the_load(report: &Report) -> BTreeMap<String, Vec<Value>> {
    let mut traces: BTreeMap<String, Vec<Value>> = report
        .answers
        .iter()
        .filter_map(trace_id)
        .map(|trace| (trace, Vec::new()))
        .collect();
    // One pass over the spans: a long case takes tens of thousands.
    for span in &report.spans {
        let trace = span["traceId"].as_str().unwrap_or_default();
        if let Some(spans) = traces.get_mut(trace) {
            spans.push(span.clone());
        }
    }
    traces
}

/// Every trace of the load is whole by Zipkin's rules: its nine spans in
/// one tree (spans received twice merge, as Zipkin merges them).
pub fn every_trace_whole(report: &Report) {
    let traces = traces_of_the_load(report);
    assert_eq!(traces.len(), report.answers.len());
    for (trace, spans) in traces {
        let tree = TraceTree::build(&spans).unwrap();
        assert!(tree.is_whole(), "{trace}: {tree}");
        assert_eq!(tree.spans().len(), SPANS_PER_REQUEST, "{trace}: {tree}");
    }
}

pub fn nothing_lost_or_dropped(report: &Report) {
    let total = report.total();
    assert_eq!((total.dropped, total.lost), (0, 0), "{total:?}");
    assert_eq!(
        report.settled,
        Some(true),
        "every span arrived before the stop"
    );
}
