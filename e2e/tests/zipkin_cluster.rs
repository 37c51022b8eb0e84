//! Zipkin as it scales, run for real: two real Zipkin servers over one
//! MariaDB (Zipkin's own MySQL schema), behind nginx, the one address the
//! services know (`e2e/src/zipkin_cluster.rs`). Under the fault suite's
//! steady load (`e2e/src/faults.rs`), each server killed and started again
//! in turn, then every server at once: every request answered, nothing
//! lost by the services' own accounts, and every trace whole in Zipkin's
//! API, those from before a restart of every server too (the store keeps
//! them). Then Zipkin's dependencies job, run for real over the store.
//!
//! Ignored by `cargo test`, which needs no database: `bash
//! ci/zipkin-cluster.sh` installs MariaDB and nginx (Debian), fetches
//! Zipkin's server and dependencies job (Maven Central), and runs these.

use e2e::{
    fault_checks::{accounts_balance, all_answered, every_trace_whole, nothing_lost_or_dropped},
    faults::{self, Case, Report, trace_id},
    *,
};
use std::collections::{BTreeMap, BTreeSet};

async fn run(case: Case) -> Report {
    faults::run_alone(case, faults::Exporter::ZipkinJson).await
}

/// The checks every case of several servers passes: every request
/// answered; each service's account balances, with nothing lost or
/// dropped; Zipkin took every span, every trace whole; and it holds every
/// span it took, but those a server killed had answered for and not yet
/// stored (Zipkin answers an upload before it stores it), each trace of
/// the others whole in its API.
///
/// Gives the traces of which Zipkin lost a span with a killed server.
fn nothing_lost_and_every_trace_whole(report: &Report) -> BTreeSet<String> {
    all_answered(report);
    accounts_balance(report);
    nothing_lost_or_dropped(report);
    every_trace_whole(report);
    let lost = report.lost_by_zipkin();
    let hit: BTreeSet<String> = lost.iter().map(|(trace, ..)| trace.clone()).collect();
    let mut held_of_trace: BTreeMap<&str, usize> = BTreeMap::new();
    for span in &report.stored {
        *held_of_trace
            .entry(span["traceId"].as_str().unwrap_or_default())
            .or_default() += 1;
    }
    for trace in report.answers.iter().filter_map(trace_id) {
        if !hit.contains(&trace) {
            let held = held_of_trace.get(trace.as_str()).copied().unwrap_or(0);
            assert_eq!(held, SPANS_PER_REQUEST, "{trace}");
        }
    }
    println!(
        "{} of {} traces whole in Zipkin; {} spans Zipkin took and lost with a killed server",
        report.answers.len() - hit.len(),
        report.answers.len(),
        lost.len(),
    );
    hit
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs MariaDB, nginx and the real Zipkin: bash ci/zipkin-cluster.sh"]
async fn each_server_killed_in_turn_loses_no_span() {
    let report = run(Case::ServersKilledInTurn).await;
    nothing_lost_and_every_trace_whole(&report);
    assert_eq!(report.server_kills.len(), 2, "each server killed once");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs MariaDB, nginx and the real Zipkin: bash ci/zipkin-cluster.sh"]
async fn every_server_restarted_keeps_every_trace() {
    let report = run(Case::AllServersRestarted).await;
    let hit = nothing_lost_and_every_trace_whole(&report);
    // The balancer answered for the servers while none was up, and the
    // services tried those uploads again.
    let (refused_uploads, _) = report.refused();
    assert!(refused_uploads > 0, "no upload met the outage");
    let total = report.total();
    assert!(total.retried > 0, "{total:?}");
    // The traces made before every server was killed are still there,
    // whole (checked above with the rest): the store kept them.
    let before = report
        .answers
        .iter()
        .filter(|answer| answer.due < report.fault_began)
        .filter_map(trace_id)
        .filter(|trace| !hit.contains(trace));
    assert!(before.count() > 0, "no whole trace from before the restart");
}

/// How many requests the dependencies job's test makes.
const REQUESTS: u64 = 5;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs MariaDB, nginx, the real Zipkin and its dependencies job: bash ci/zipkin-cluster.sh"]
async fn the_dependencies_job_fills_the_graph_zipkin_serves() {
    let _turn = faults::take_turn().await;
    let mut stack = Stack::builder()
        .zipkin(Zipkin::cluster(2).await)
        .start()
        .await;
    for _ in 0..REQUESTS {
        let (status, answer) = fetch(&stack.api_01.url, &[]).await;
        assert_eq!(status, 200, "{answer}");
    }
    let stored = stack.stop().await;
    assert_eq!(stored.len(), REQUESTS as usize * SPANS_PER_REQUEST);

    // Before the job, Zipkin links the traces itself, on every read (its
    // MySQL storage does while the job's table is empty).
    let three_links = one_request_links()
        .into_iter()
        .map(|(link, calls)| (link, calls * REQUESTS))
        .collect();
    assert_eq!(call_counts(&stack.zipkin.dependencies().await), three_links);

    let log = stack.zipkin.servers().database.run_dependencies_job();
    assert!(log.contains("MySQLDependenciesJob: Done"), "{log}");
    let job = stack.zipkin.servers().database.job_links();

    // A server reads the job's table once it has rows, from its start:
    // started again, both serve what the job wrote, and only that.
    stack.zipkin.kill().await;
    stack.zipkin.restart().await;
    assert_eq!(stack.zipkin.dependencies().await, job);

    // What the job writes, pinned: zipkin-dependencies 3.2.0's MySQL job
    // reads only the first annotation of each span (its
    // DependencyLinkSpanIterator reads the first row where it means the
    // current one), so a client span counts as a server of the caller's
    // own service, and the links differ from Zipkin's own. When this
    // fails, the job links as Zipkin does: expect `three_links` here, and
    // drop the warning in docs/beyond-one-machine.md.
    let upstream_misreading = [
        (("api_01", "api_01"), 2 * REQUESTS),
        (("api_01", "api_02"), REQUESTS),
    ]
    .map(|((parent, child), calls)| ((parent.to_owned(), child.to_owned()), calls))
    .into_iter()
    .collect();
    assert_eq!(call_counts(&job), upstream_misreading, "{log}");
}
