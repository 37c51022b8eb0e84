//! The fault suite over OTLP: the three services send OTLP/HTTP to the
//! OpenTelemetry Collector, across the wire (`e2e/src/wire.rs`), which
//! reads every upload and records it with the Collector's answer, and the
//! Collector hands the spans to Zipkin. Under the same steady load as
//! `e2e/tests/faults.rs`, four of its cases: the receiver away and back
//! (the wire drops every upload's connection unanswered; the Collector is
//! not killed, see `e2e/src/faults.rs`), slow, `503` with `Retry-After`,
//! and a `400` in the Collector's own words (a `google.rpc.Status`, to a
//! body the wire cut short). Each ends with the same exact span account:
//! every span a service made is received, dropped or lost, the Collector
//! took exactly the spans exported (counted on the wire), Zipkin holds
//! every one it took, and every trace is whole.
//!
//! Ignored by `cargo test`, which needs no Go: `bash ci/otlp.sh` builds the
//! Collector and runs these with the real Zipkin server.

use std::{collections::BTreeSet, time::Duration};

use e2e::{
    fault_checks::{
        self, all_answered, every_trace_whole, not_slowed, nothing_lost_or_dropped,
        zipkin_links_every_trace,
    },
    faults::{self, Case, Exporter, Report, Scale, trace_id},
    *,
};
use serde_json::Value;
use test_collector::zipkin_rules::TraceTree;

/// How our exporter names the receiver in its log lines.
const RECEIVER: &str = "the OTLP receiver";

async fn run(case: Case) -> Report {
    faults::run_alone(case, Exporter::Otlp).await
}

/// Every upload crossed the wire as OTLP, and the wire read its spans.
fn every_upload_read(report: &Report) {
    assert!(!report.uploads.is_empty(), "no upload crossed the wire");
    for upload in &report.uploads {
        assert!(upload.otlp, "not an OTLP upload: {upload:?}");
        assert!(
            !upload.spans.is_empty(),
            "an upload the wire could not read"
        );
    }
}

/// Every upload crossed the wire as OTLP and was read, no service was
/// killed, and the account is as exact as over v2 JSON
/// ([`fault_checks::accounts_balance`]), the Collector being the receiver.
fn accounts_balance(report: &Report) {
    every_upload_read(report);
    for (name, (_, killed)) in &report.accounts {
        assert!(!killed, "{name}: no service is killed over OTLP");
    }
    fault_checks::accounts_balance(report);
}

/// The spans that failed were tried again, and got through.
fn retried_and_delivered(report: &Report) {
    let total = report.total();
    assert!(total.retried > 0, "{total:?}");
    assert_eq!(total.exported_after_retry, total.retried, "{total:?}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the OpenTelemetry Collector: run bash ci/otlp.sh"]
async fn over_otlp_the_receiver_away_then_back_loses_no_span() {
    let report = run(Case::ZipkinRestart).await;
    all_answered(&report);
    accounts_balance(&report);
    nothing_lost_or_dropped(&report);
    every_trace_whole(&report);
    // Zipkin was never away: it holds every trace, whole.
    zipkin_links_every_trace(&report);
    retried_and_delivered(&report);
    // The wire dropped uploads unanswered, and only while it was away (an
    // upload that met the fault as it was undone is recorded a moment
    // after).
    let unanswered: Vec<_> = report
        .uploads
        .iter()
        .filter(|upload| upload.status.is_none())
        .collect();
    assert!(!unanswered.is_empty(), "no upload met the outage");
    for upload in &unanswered {
        let dropped = tokio::time::Instant::from_std(upload.answered);
        assert!(
            dropped >= report.fault_began
                && dropped <= report.fault_ended + Duration::from_millis(100),
            "dropped outside the outage: {upload:?}"
        );
    }
    // Every request made while the receiver was away reached Zipkin whole.
    for answer in report.answers.iter().filter(|a| report.during_fault(a)) {
        let trace = trace_id(answer).expect("a traced answer");
        let held = of_trace(&report.stored, &trace);
        assert_eq!(held.len(), SPANS_PER_REQUEST, "{}: {trace}", report.judge);
        let held: Vec<Value> = held.into_iter().cloned().collect();
        assert!(TraceTree::build(&held).unwrap().is_whole(), "{trace}");
    }
    for (name, logs) in &report.logs {
        for words in [
            format!("span upload to {RECEIVER} failed; the spans are kept and tried again"),
            format!("span export to {RECEIVER} works again"),
        ] {
            let line = logs.iter().find(|line| line.contains(&words));
            let line = line.unwrap_or_else(|| panic!("{name}: {logs:#?}"));
            if *name == "api_03" {
                println!("{line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the OpenTelemetry Collector: run bash ci/otlp.sh"]
async fn over_otlp_a_slow_receiver_does_not_slow_requests_and_loses_nothing() {
    let report = run(Case::ZipkinSlow).await;
    all_answered(&report);
    not_slowed(&report, faults::SLOW_ANSWER);
    accounts_balance(&report);
    nothing_lost_or_dropped(&report);
    every_trace_whole(&report);
    zipkin_links_every_trace(&report);
    assert_eq!(report.total().retried, 0, "slow is not failed");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the OpenTelemetry Collector: run bash ci/otlp.sh"]
async fn over_otlp_a_503_is_retried_after_its_retry_after() {
    let report = run(Case::ZipkinUnavailable).await;
    all_answered(&report);
    not_slowed(&report, Duration::from_secs(1));
    accounts_balance(&report);
    nothing_lost_or_dropped(&report);
    every_trace_whole(&report);
    zipkin_links_every_trace(&report);
    retried_and_delivered(&report);
    let (uploads, _) = report.refused();
    assert!(uploads > 0, "the 503s were met");
    // One attempt a pause of at least a second, per service: a retry loop
    // would have made hundreds.
    let seconds = Scale::TEST.fault.as_secs() + 1;
    assert!(
        uploads <= 3 * (seconds + 4 + 1),
        "{uploads} uploads refused in {seconds} s"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the OpenTelemetry Collector: run bash ci/otlp.sh"]
async fn over_otlp_a_batch_the_collector_refuses_with_400_is_lost_once_with_its_words() {
    let report = run(Case::ZipkinRefuses).await;
    all_answered(&report);
    accounts_balance(&report);
    let total = report.total();
    let (_, refused_spans) = report.refused();
    assert!(total.lost > 0, "{total:?}");
    // Each span refused was refused once: sent once, never again, and
    // never taken.
    assert_eq!(refused_spans, total.lost, "{total:?}");
    assert_eq!((total.retried, total.dropped), (0, 0), "{total:?}");
    let refused: Vec<_> = report
        .uploads
        .iter()
        .filter(|upload| upload.status.is_some_and(|status| status >= 300))
        .collect();
    let refused_keys: BTreeSet<_> = refused
        .iter()
        .flat_map(|upload| upload.spans.iter().map(faults::span_key))
        .collect();
    assert_eq!(
        refused_keys.len() as u64,
        refused_spans,
        "a span sent twice"
    );
    let taken: BTreeSet<_> = report.spans.iter().map(faults::span_key).collect();
    assert!(
        refused_keys.is_disjoint(&taken),
        "a refused span was sent again and taken"
    );
    // The Collector's own words: a `google.rpc.Status` (read on the wire),
    // one for every refusal, the same each time.
    let words: BTreeSet<&str> = refused.iter().map(|upload| upload.text.as_str()).collect();
    assert!(
        refused.iter().all(|upload| upload.status == Some(400)),
        "{refused:#?}"
    );
    assert_eq!(words.len(), 1, "{words:?}");
    let words = *words.first().unwrap();
    assert!(!words.trim().is_empty(), "the Collector said nothing");
    println!("the Collector's words: {words:?}");
    // Every service logged the refusal with the status and those words.
    for (name, logs) in &report.logs {
        let warnings: Vec<&String> = logs
            .iter()
            .filter(|line| {
                line.contains("WARN") && line.contains(&format!("{RECEIVER} refused spans"))
            })
            .collect();
        assert!(!warnings.is_empty(), "{name}: {logs:#?}");
        for warning in &warnings {
            assert!(
                warning.contains("400 Bad Request") && warning.contains(words.trim()),
                "{warning}"
            );
        }
        if *name == "api_03" {
            println!("{}", warnings[0]);
        }
        // At once, then at most once per 10 s, and once at the stop.
        assert!(warnings.len() <= 3, "{name}: {warnings:#?}");
    }
}
