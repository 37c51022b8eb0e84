//! Everyday faults under a steady load (50 requests a second): Zipkin
//! killed and started again, away longer than the queue holds, slow,
//! answering 503, refusing, answering after the timeout; a callee killed
//! or stopped and started again. Each case is made and undone by the test
//! itself (`e2e/src/faults.rs`), and each ends with an exact span
//! account: every span a service made is received, dropped or lost, Zipkin
//! took exactly the ones exported (counted on the wire to it), and it holds
//! every one it took (asked through its API: the real server in
//! `.ci/run`).
//!
//! The cases run one at a time (each has a stack and a load of its own):
//! side by side on a small machine they would measure each other.

use std::{collections::BTreeMap, time::Duration};

use e2e::{
    fault_checks::*,
    faults::{self, Case, Report, Scale, trace_id},
    *,
};
use serde_json::Value;
use test_collector::zipkin_rules::TraceTree;

async fn run(case: Case) -> Report {
    faults::run_alone(case, faults::Exporter::ZipkinJson).await
}

#[tokio::test(flavor = "multi_thread")]
async fn zipkin_away_for_seconds_then_back_loses_no_span() {
    let report = run(Case::ZipkinRestart).await;
    all_answered(&report);
    accounts_balance(&report);
    nothing_lost_or_dropped(&report);
    every_trace_whole(&report);
    // Every request made while Zipkin was away reached its new life whole:
    // the spans held and tried again arrived.
    for answer in report.answers.iter().filter(|a| report.during_fault(a)) {
        let trace = trace_id(answer).expect("a traced answer");
        let held = of_trace(&report.stored, &trace);
        assert_eq!(held.len(), SPANS_PER_REQUEST, "{}: {trace}", report.judge);
        let held: Vec<Value> = held.into_iter().cloned().collect();
        assert!(TraceTree::build(&held).unwrap().is_whole(), "{trace}");
    }
    // The outage's spans were tried again, and got through.
    let total = report.total();
    assert!(total.retried > 0, "{total:?}");
    assert_eq!(total.exported_after_retry, total.retried, "{total:?}");
    let api_03 = &report.logs["api_03"];
    assert!(
        api_03
            .iter()
            .any(|line| line.contains("the spans are kept and tried again"))
    );
    assert!(
        api_03
            .iter()
            .any(|line| line.contains("span export to Zipkin works again"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn zipkin_away_past_the_queue_drops_whole_traces_and_counts_them() {
    let report = run(Case::ZipkinAwayLong).await;
    all_answered(&report);
    accounts_balance(&report);
    let api_03 = &report.accounts["api_03"].0[0];
    assert!(api_03.dropped > 0, "the queue overflowed: {api_03:?}");
    assert_eq!(api_03.lost, 0, "{api_03:?}");
    // Held, at most the queue: memory stays bounded. A queue of this size
    // holds well under a megabyte of spans; without the bound, api_03's
    // 1,200 spans of the outage would still be small, so this is a loose
    // check of the process, and the exact one is the account above.
    for (name, (start, high)) in &report.rss_kib {
        assert!(
            high - start < 16 * 1024,
            "{name}: {start} KiB → {high} KiB during the outage"
        );
    }
    // A service's part of a trace is all there or missing whole; a trace
    // with a part missing is one the service dropped, or says it sent in
    // part.
    let expected = [("api_01", 3), ("api_02", 2), ("api_03", 4)];
    let mut half = BTreeMap::new();
    let mut missing = 0;
    for (trace, spans) in traces_of_the_load(&report) {
        for (name, count) in expected {
            let of_service: Vec<&Value> =
                spans.iter().filter(|span| service(span) == name).collect();
            match faults::distinct(&of_service) {
                0 => missing += 1,
                n if n == count => {}
                n => {
                    *half.entry(name).or_insert(0u64) += 1;
                    println!("{trace}: {name} sent {n} of {count}");
                }
            }
        }
    }
    assert!(missing > 0, "some traces went whole from a service");
    for (name, (accounts, _)) in &report.accounts {
        let sent_in_part: u64 = accounts.iter().map(|a| a.traces_sent_in_part).sum();
        let found = half.get(name).copied().unwrap_or(0);
        assert!(
            found <= sent_in_part,
            "{name}: {found} traces half there, {sent_in_part} said to be"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_zipkin_does_not_slow_requests_and_loses_nothing() {
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
async fn a_zipkin_answering_503_is_retried_after_its_retry_after() {
    let report = run(Case::ZipkinUnavailable).await;
    all_answered(&report);
    not_slowed(&report, Duration::from_secs(1));
    accounts_balance(&report);
    nothing_lost_or_dropped(&report);
    every_trace_whole(&report);
    zipkin_links_every_trace(&report);
    let total = report.total();
    assert!(
        total.retried > 0 && total.exported_after_retry == total.retried,
        "{total:?}"
    );
    let (uploads, _) = report.refused();
    // One attempt a pause of at least a second, per service: a retry loop
    // would have made hundreds.
    let seconds = Scale::TEST.fault.as_secs() + 1;
    assert!(
        uploads <= 3 * (seconds + 4 + 1),
        "{uploads} uploads refused in {seconds} s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_refused_with_400_is_lost_once_with_zipkins_reason() {
    let report = run(Case::ZipkinRefuses).await;
    all_answered(&report);
    accounts_balance(&report);
    let total = report.total();
    let (_, refused_spans) = report.refused();
    assert!(total.lost > 0, "{total:?}");
    // Each span refused was refused once: sent once, never again.
    assert_eq!(refused_spans, total.lost, "{total:?}");
    assert_eq!((total.retried, total.dropped), (0, 0), "{total:?}");
    for (name, logs) in &report.logs {
        let warnings: Vec<&String> = logs
            .iter()
            .filter(|line| line.contains("WARN") && line.contains("Zipkin refused spans"))
            .collect();
        assert!(!warnings.is_empty(), "{name}: {logs:#?}");
        for warning in &warnings {
            assert!(
                warning.contains("400 Bad Request") && warning.contains(faults::REFUSAL_TEXT),
                "{warning}"
            );
        }
        // At once, then at most once per 10 s, and once at the stop.
        assert!(warnings.len() <= 3, "{name}: {warnings:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_span_stored_but_answered_late_is_sent_again_and_zipkin_merges_it() {
    let report = run(Case::ZipkinAnswersLate).await;
    all_answered(&report);
    nothing_lost_or_dropped(&report);
    // Taken twice or more, but held once by Zipkin, each trace whole and
    // linked once; and the account counts each span once.
    assert!(report.duplicates() > 0, "the late answers were sent again");
    accounts_balance(&report);
    every_trace_whole(&report);
    zipkin_links_every_trace(&report);
}

/// The answers that met a callee's outage: clear `502`s naming api_03 (a
/// request in flight as it was killed included).
fn clear_errors_naming_api_03(report: &Report) -> usize {
    let mut failed = 0;
    for answer in &report.answers {
        if answer.ok() {
            continue;
        }
        failed += 1;
        assert!(
            report.met_fault(answer),
            "failed outside the outage: {answer:?}"
        );
        assert_eq!(answer.status, Some(502), "{answer:?}");
        let body: Value = serde_json::from_str(&answer.text).expect("a JSON answer");
        assert!(names_failed(&body, "api_03"), "{body}");
    }
    failed
}

/// Whether `answer`, or the answer of a callee inside it, lists `callee`
/// under `failed` with an `error` that names it: api_01 names api_02 when
/// api_02's call to api_03 failed, and api_02's answer inside names api_03.
fn names_failed(answer: &Value, callee: &str) -> bool {
    let listed = answer["failed"]
        .as_array()
        .is_some_and(|failed| failed.iter().any(|name| name == callee));
    let said = answer["error"]
        .as_str()
        .is_some_and(|error| error.contains(callee));
    if listed && said {
        return true;
    }
    let Some(callees) = answer["downstream"].as_object() else {
        return false;
    };
    callees.values().any(|callee_answer| {
        // A failed callee's own answer sits under `answer`.
        names_failed(&callee_answer["answer"], callee) || names_failed(callee_answer, callee)
    })
}

/// The first request due after the callee is back succeeds: no stale
/// pooled connection to the old process.
fn first_request_after_the_restart_succeeds(report: &Report) {
    let first = report
        .answers
        .iter()
        .find(|answer| answer.due >= report.fault_ended)
        .expect("requests after the restart");
    assert!(first.ok(), "{first:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_killed_under_load_gives_clear_502s_and_its_callers_lose_no_span() {
    let report = run(Case::CalleeKilled).await;
    let failed = clear_errors_naming_api_03(&report);
    assert!(failed > 0, "the outage was seen");
    first_request_after_the_restart_succeeds(&report);
    // The callers' spans all arrive (api_03's killed life had no stop).
    accounts_balance(&report);
    for name in ["api_01", "api_02"] {
        let account = report.accounts[name].0[0];
        assert_eq!(account, SpanAccount::all_exported(account.ended), "{name}");
    }
    // The trace of every 502 has api_01's CLIENT span to api_03 marked
    // failed, and api_02's too when its call failed.
    for answer in report.answers.iter().filter(|answer| !answer.ok()) {
        let trace = trace_id(answer).expect("a 502 is traced");
        let spans: Vec<Value> = of_trace(&report.spans, &trace)
            .into_iter()
            .cloned()
            .collect();
        let calls = spans.iter().filter(|span| {
            kind(span) == "CLIENT" && span["remoteEndpoint"]["serviceName"] == "api_03"
        });
        let failed_calls: Vec<&Value> = calls.filter(|span| tag(span, "error").is_some()).collect();
        assert!(
            failed_calls.iter().any(|span| service(span) == "api_01"),
            "{trace}: {spans:#?}"
        );
        for call in failed_calls {
            assert!(
                matches!(tag(call, "error.type"), Some("connection" | "request")),
                "{call}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_stopped_under_load_finishes_its_requests_and_exports_every_span() {
    let report = run(Case::CalleeStopped).await;
    clear_errors_naming_api_03(&report);
    first_request_after_the_restart_succeeds(&report);
    accounts_balance(&report);
    // Both of api_03's lives stopped cleanly, each with nothing lost.
    let lives = &report.accounts["api_03"].0;
    assert_eq!(lives.len(), 2, "{lives:?}");
    for life in lives {
        assert_eq!(*life, SpanAccount::all_exported(life.ended), "{lives:?}");
    }
    // Every request api_03 took, it answered: each of its SERVER spans
    // says 200, and so does the CLIENT span that shares its id.
    for server in spans_of(&report.spans, "api_03", "SERVER") {
        assert_eq!(
            tag(server, "http.response.status_code"),
            Some("200"),
            "{server}"
        );
        let client = report
            .spans
            .iter()
            .find(|span| kind(span) == "CLIENT" && span["id"] == server["id"])
            .expect("its caller's CLIENT span");
        assert_eq!(
            tag(client, "http.response.status_code"),
            Some("200"),
            "{client}"
        );
    }
}
