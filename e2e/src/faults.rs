//! The fault suite's cases: the three services under a steady load, one
//! fault made and undone by the case itself, and everything needed to
//! judge it afterwards: every answer, every upload that crossed the
//! [`Wire`](crate::Wire) to Zipkin with Zipkin's answer, what Zipkin holds
//! at the end (the real server in `.ci/run`), each service's own span
//! account, its memory during the fault.
//!
//! The wire makes the faults a Zipkin does not make on demand (slow, `503`,
//! a refusal in Zipkin's own words); the case kills and restarts Zipkin
//! itself. A killed Zipkin forgets what it stored, as Zipkin's in-memory
//! storage does: what it took before is known from the wire.
//!
//! `e2e/tests/faults.rs` runs each case and checks it; `bench/run.sh
//! --faults` runs the same cases longer and prints the table
//! (`e2e/examples/fault_table.rs`).
//!
//! Over OTLP ([`Exporter::Otlp`], `e2e/tests/faults_otlp.rs`), the three
//! services send OTLP/HTTP to the OpenTelemetry Collector, the wire in
//! front of it, and the Collector hands the spans to Zipkin. The cases of
//! [`Case::OVER_OTLP`] run there: the receiver away is the wire dropping
//! every upload's connection unanswered (the Collector is not killed: it
//! answers before Zipkin stores, and a kill would lose what it queued,
//! which is no fault of ours); its `400` is the Collector's own, to a body
//! the wire cut short.
//!
//! A case's phases are set by the clock (a fault of three seconds must
//! last three seconds), but nothing judged depends on the clock: the load
//! keeps its rate whatever the machine does, each answer is judged by
//! whether it came before, during or after the fault, and before the
//! stack stops, a case waits, with a deadline, until Zipkin has taken
//! every span it must.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use loadgen::{Answer, Load, percentile};
use serde_json::Value;
use tokio::time::{Instant, sleep, sleep_until};

use crate::{
    Api, EXIT_LIMIT, Fault, Links, SPANS_PER_REQUEST, SpanAccount, Stack, Upload, Zipkin, service,
};

/// How the services send their spans, and so what the wire stands in
/// front of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Exporter {
    /// Zipkin's v2 JSON, to Zipkin.
    #[default]
    ZipkinJson,
    /// OTLP/HTTP (protobuf), to an OpenTelemetry Collector, which hands
    /// the spans to Zipkin.
    Otlp,
}

/// A fault, and what undoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Zipkin killed, then started again on its port.
    ZipkinRestart,
    /// Zipkin away twice as long as the queue holds api_03's spans.
    ZipkinAwayLong,
    /// Every upload answered two seconds late.
    ZipkinSlow,
    /// Every upload answered `503` with `Retry-After: 1`.
    ZipkinUnavailable,
    /// Every upload refused with `400` (sent to Zipkin's v1 endpoint).
    ZipkinRefuses,
    /// Every upload stored, and answered after the upload timeout: each
    /// retry reaches Zipkin again.
    ZipkinAnswersLate,
    /// api_03 killed with SIGKILL, then started again.
    CalleeKilled,
    /// api_03 stopped with SIGTERM (a rolling restart), then started again.
    CalleeStopped,
    /// Zipkin as several servers over MariaDB behind nginx
    /// ([`Zipkin::cluster`]): each server killed and started again in
    /// turn, the others serving meanwhile.
    ServersKilledInTurn,
    /// Zipkin as several servers over MariaDB behind nginx: every server
    /// killed, then all started again; the store keeps every span.
    AllServersRestarted,
}

impl Case {
    pub const ALL: [Case; 8] = [
        Case::ZipkinRestart,
        Case::ZipkinAwayLong,
        Case::ZipkinSlow,
        Case::ZipkinUnavailable,
        Case::ZipkinRefuses,
        Case::ZipkinAnswersLate,
        Case::CalleeKilled,
        Case::CalleeStopped,
    ];

    /// The cases of Zipkin as several servers over one store
    /// ([`Zipkin::cluster`]; `e2e/tests/zipkin_cluster.rs`).
    pub const CLUSTER: [Case; 2] = [Case::ServersKilledInTurn, Case::AllServersRestarted];

    /// The cases that run over OTLP too ([`run_over`]).
    pub const OVER_OTLP: [Case; 4] = [
        Case::ZipkinRestart,
        Case::ZipkinSlow,
        Case::ZipkinUnavailable,
        Case::ZipkinRefuses,
    ];

    /// The case's name over `exporter`: over OTLP, the receiver is the
    /// Collector.
    pub fn name_over(self, exporter: Exporter) -> &'static str {
        match (exporter, self) {
            (Exporter::ZipkinJson, _) => self.name(),
            (Exporter::Otlp, Case::ZipkinRestart) => "OTLP: Collector away, then back",
            (Exporter::Otlp, Case::ZipkinSlow) => "OTLP: Collector slow (2 s an upload)",
            (Exporter::Otlp, Case::ZipkinUnavailable) => "OTLP: Collector 503, Retry-After: 1",
            (Exporter::Otlp, Case::ZipkinRefuses) => "OTLP: Collector 400 (a body cut short)",
            (Exporter::Otlp, case) => panic!("{case:?} does not run over OTLP"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Case::ZipkinRestart => "Zipkin away, then back",
            Case::ZipkinAwayLong => "Zipkin away past the queue",
            Case::ZipkinSlow => "Zipkin slow (2 s an upload)",
            Case::ZipkinUnavailable => "Zipkin 503, Retry-After: 1",
            Case::ZipkinRefuses => "Zipkin 400",
            Case::ZipkinAnswersLate => "Zipkin answers after the timeout",
            Case::CalleeKilled => "api_03 kill -9, restarted",
            Case::CalleeStopped => "api_03 SIGTERM, restarted",
            Case::ServersKilledInTurn => {
                "2 Zipkin servers over MariaDB: each kill -9, restarted, in turn"
            }
            Case::AllServersRestarted => "2 Zipkin servers over MariaDB: both kill -9, restarted",
        }
    }

    /// Whether every span made reaches Zipkin while the stack still runs.
    fn loses_nothing(self) -> bool {
        matches!(
            self,
            Case::ZipkinRestart
                | Case::ZipkinSlow
                | Case::ZipkinUnavailable
                | Case::ZipkinAnswersLate
                | Case::ServersKilledInTurn
                | Case::AllServersRestarted
        )
    }

    /// How many Zipkin servers the case runs over one store (none: one
    /// Zipkin, in memory).
    pub fn zipkin_servers(self) -> Option<usize> {
        Case::CLUSTER.contains(&self).then_some(2)
    }
}

/// What Zipkin answers to [`Case::ZipkinRefuses`]'s uploads, in its own
/// words (the stand-in's copy of them, which the real server confirms).
pub const REFUSAL_TEXT: &str = test_collector::V1_REFUSAL;
/// How late [`Case::ZipkinSlow`] answers.
pub const SLOW_ANSWER: Duration = Duration::from_secs(2);
/// The upload timeout of [`Case::ZipkinAnswersLate`], and how late it
/// answers.
const LATE_TIMEOUT: Duration = Duration::from_millis(1000);
const LATE_ANSWER: Duration = Duration::from_millis(1500);
/// How long the spans of a case may take to arrive once its fault is
/// undone: the longest pause between retries (5 s) and more.
const SETTLE_LIMIT: Duration = Duration::from_secs(40);
/// At most how long a restarted Zipkin takes to answer again (the real
/// one is a JVM).
const ZIPKIN_START: Duration = Duration::from_secs(20);
/// How long several Zipkin servers over one database may take to store
/// what they took (see [`stored_once_settled`]).
const STORED_LIMIT: Duration = Duration::from_secs(90);

/// The spans of the `uploads` Zipkin took once its life beginning at
/// `life_began` had begun (a killed Zipkin forgets what it took before).
fn taken_since(uploads: &[Upload], life_began: std::time::Instant) -> Vec<&Value> {
    uploads
        .iter()
        .filter(|upload| upload.accepted() && upload.answered >= life_began)
        .flat_map(|upload| upload.spans.iter())
        .collect()
}

/// How long and how hard a case runs.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// Requests a second to api_01.
    pub rate: f64,
    /// The load before the fault, during it, and after it is undone.
    pub before: Duration,
    pub fault: Duration,
    pub after: Duration,
}

impl Scale {
    /// For the tests: a few seconds a phase.
    pub const TEST: Scale = Scale {
        rate: 50.0,
        before: Duration::from_secs(3),
        fault: Duration::from_secs(3),
        after: Duration::from_secs(3),
    };

    /// For the benchmark: the measurement, 50 requests a second
    /// for 20 s with a fault of 3 s.
    pub const BENCH: Scale = Scale {
        rate: 50.0,
        before: Duration::from_secs(5),
        fault: Duration::from_secs(3),
        after: Duration::from_secs(12),
    };

    /// How long `case`'s fault lasts: for the cases of several servers,
    /// at least as long as their restarts take.
    pub fn fault_of(&self, case: Case) -> Duration {
        match case {
            Case::ZipkinAwayLong => self.fault * 2,
            Case::ServersKilledInTurn => self.fault.max(ZIPKIN_START * 2),
            Case::AllServersRestarted => self.fault + ZIPKIN_START,
            _ => self.fault,
        }
    }

    /// The queue of [`Case::ZipkinAwayLong`]: api_03's spans (4 a request)
    /// of half its outage.
    pub fn small_queue(&self) -> usize {
        (self.rate * 4.0 * self.fault.as_secs_f64()).round() as usize
    }
}

/// What a case did, and what came of it.
pub struct Report {
    pub case: Case,
    /// How the services sent their spans.
    pub exporter: Exporter,
    /// Every request of the load, in the order they were due.
    pub answers: Vec<Answer>,
    /// When the fault was made, and when it was undone.
    pub fault_began: Instant,
    pub fault_ended: Instant,
    /// Whether Zipkin took every span it had to before the stop (only for
    /// the cases that lose nothing).
    pub settled: Option<bool>,
    /// Which Zipkin judged: the real one or the stand-in.
    pub judge: &'static str,
    /// Every upload that crossed the wire, with the receiver's answer
    /// (Zipkin's, or over OTLP the Collector's).
    pub uploads: Vec<Upload>,
    /// The spans of every upload the receiver took, in order (a span sent
    /// twice is here twice).
    pub spans: Vec<Value>,
    /// When Zipkin's last life began (a killed Zipkin forgets), and every
    /// span it holds at the end, read through its API.
    pub life_began: std::time::Instant,
    pub stored: Vec<Value>,
    /// Zipkin's own dependency links over what it holds at the end.
    pub links: Links,
    /// Each service's accounts, one per life that stopped cleanly, and
    /// whether a life of it was killed (and so gave none).
    pub accounts: BTreeMap<&'static str, (Vec<SpanAccount>, bool)>,
    /// For Zipkin as several servers: each server killed (its address, as
    /// the balancer names it), and when.
    pub server_kills: Vec<(String, std::time::Instant)>,
    /// Each service's resident memory (KiB) at the fault's start and at
    /// its highest during the fault.
    pub rss_kib: BTreeMap<&'static str, (u64, u64)>,
    /// Each service's log, every life.
    pub logs: BTreeMap<&'static str, Vec<String>>,
}

/// Runs `case` at `scale`, every service on Zipkin's v2 JSON, and stops
/// the stack.
pub async fn run(case: Case, scale: Scale) -> Report {
    run_over(case, scale, Exporter::ZipkinJson).await
}

/// Runs `case` at `scale`, every service sending as `exporter` says (over
/// OTLP, one of [`Case::OVER_OTLP`]), and stops the stack.
pub async fn run_over(case: Case, scale: Scale, exporter: Exporter) -> Report {
    let otlp = exporter == Exporter::Otlp;
    assert!(
        !otlp || Case::OVER_OTLP.contains(&case),
        "{case:?} does not run over OTLP"
    );
    let mut builder = Stack::builder()
        .through_wire()
        // The measurement: spans leave every 500 ms at the latest.
        .env("OTEL_BSP_SCHEDULE_DELAY", "500");
    if otlp {
        builder = Api::ALL
            .into_iter()
            .fold(builder, |builder, api| builder.otlp(api));
    }
    if let Some(servers) = case.zipkin_servers() {
        builder = builder.zipkin(Zipkin::cluster(servers).await);
    }
    match case {
        Case::ZipkinRestart | Case::AllServersRestarted => {
            // Away for the fault and then the time a real Zipkin takes to
            // start: the queue holds all of it, so nothing is dropped.
            let queue = scale.rate * 4.0 * (scale.fault_of(case) + ZIPKIN_START).as_secs_f64();
            builder = builder.env("OTEL_BSP_MAX_QUEUE_SIZE", &queue.to_string());
        }
        Case::ZipkinAwayLong => {
            builder = builder.env("OTEL_BSP_MAX_QUEUE_SIZE", &scale.small_queue().to_string());
        }
        Case::ZipkinAnswersLate => {
            let timeout = LATE_TIMEOUT.as_millis().to_string();
            builder = builder.env("OTEL_BSP_EXPORT_TIMEOUT", &timeout);
        }
        Case::CalleeKilled | Case::CalleeStopped => builder = builder.restartable(Api::Api03),
        _ => {}
    }
    let mut stack = builder.start().await;

    let load = Load::new(&stack.api_01.url, scale.rate);
    let fault = scale.fault_of(case);
    let length = scale.before + fault + scale.after;
    let load_started = Instant::now();
    let running = tokio::spawn(async move { load.run(length).await });
    // The load's first request is due 100 ms after it starts.
    sleep_until(load_started + Duration::from_millis(100) + scale.before).await;

    let fault_began = Instant::now();
    let mut killed = false;
    match case {
        // The receiver away, its queue kept: the wire answers no upload.
        Case::ZipkinRestart if otlp => stack.wire().set_fault(Fault::Away),
        Case::ZipkinRestart | Case::ZipkinAwayLong => stack.zipkin.kill().await,
        // The Collector refuses, in its own words, what it cannot read.
        Case::ZipkinRefuses if otlp => stack.wire().set_fault(Fault::CutShort),
        Case::ZipkinSlow => stack.wire().set_fault(Fault::Slow(SLOW_ANSWER)),
        Case::ZipkinUnavailable => stack
            .wire()
            .set_fault(Fault::Unavailable { retry_after_s: 1 }),
        Case::ZipkinRefuses => stack.wire().set_fault(Fault::Misrouted),
        Case::ZipkinAnswersLate => stack.wire().set_fault(Fault::Slow(LATE_ANSWER)),
        Case::CalleeKilled => {
            stack.api_03.kill().await;
            killed = true;
        }
        Case::CalleeStopped => {
            let exit = stack.api_03.terminate(EXIT_LIMIT).await;
            assert!(exit.success(), "api_03 stopped with {exit}");
        }
        // All but the last server's restart; the last one's undoes it.
        Case::ServersKilledInTurn => {
            let servers = stack.zipkin.servers();
            for index in 0..servers.count() - 1 {
                servers.kill(index).await;
                servers.start_again(index).await;
            }
            servers.kill(servers.count() - 1).await;
        }
        // Every server away for a while, then all started again; the
        // store kept their spans.
        Case::AllServersRestarted => {
            stack.zipkin.kill().await;
            sleep(scale.fault).await;
            stack.zipkin.restart().await;
        }
    }
    let rss_kib = watch_memory(&mut stack, fault_began + fault).await;
    match case {
        Case::ZipkinRestart if otlp => stack.wire().set_fault(Fault::None),
        Case::ZipkinRestart | Case::ZipkinAwayLong => stack.zipkin.restart().await,
        Case::ServersKilledInTurn => {
            let servers = stack.zipkin.servers();
            servers.start_again(servers.count() - 1).await;
        }
        Case::CalleeKilled | Case::CalleeStopped => stack.api_03.restart().await,
        Case::AllServersRestarted => {}
        _ => stack.wire().set_fault(Fault::None),
    }
    let fault_ended = Instant::now();
    let answers = running
        .await
        .expect("the load does not panic")
        .expect("the load's client starts")
        .answers;

    // Before the stop, which would send what is held anyway: the spans of
    // every answered request must have been taken on their own.
    let settled = if case.loses_nothing() {
        let traces: Vec<String> = answers.iter().filter_map(trace_id).collect();
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let taken = distinct_by_trace(&stack.wire().accepted_spans());
            let complete = traces
                .iter()
                .all(|trace| taken.get(trace).is_some_and(|&n| n >= SPANS_PER_REQUEST));
            if complete || Instant::now() >= deadline {
                break Some(complete);
            }
            sleep(Duration::from_millis(100)).await;
        }
    } else {
        None
    };

    for service in stack.services() {
        service.sigterm();
    }
    let mut accounts = BTreeMap::new();
    let mut logs = BTreeMap::new();
    for api in Api::ALL {
        let service = stack.service(api);
        service.wait_for_exit(EXIT_LIMIT).await;
        let was_killed = killed && api == Api::Api03;
        accounts.insert(api.name(), (service.span_accounts(), was_killed));
        logs.insert(api.name(), service.logs());
    }
    let uploads = stack.wire().uploads();
    let life_began = stack.zipkin.life_began;
    // Over OTLP, the Collector hands Zipkin what it took tens of
    // milliseconds after it answered: this waits for it too.
    let server_kills = stack.zipkin.server_kills();
    let stored = match server_kills.is_empty() {
        true => {
            let must_hold = distinct(&taken_since(&uploads, life_began));
            stack.zipkin.spans_once_at_least(must_hold).await
        }
        false => {
            let may_be_lost = lost_with_killed_servers(&uploads, &server_kills);
            let taken = taken_since(&uploads, life_began);
            stored_once_settled(&stack.zipkin, &taken, &may_be_lost).await
        }
    };
    Report {
        case,
        exporter,
        answers,
        fault_began,
        fault_ended,
        settled,
        judge: stack.zipkin.judge.name(),
        spans: stack.wire().accepted_spans(),
        uploads,
        life_began,
        stored,
        links: stack.zipkin.dependencies().await,
        server_kills,
        accounts,
        rss_kib,
        logs,
    }
}

/// The tests' cases run one at a time (each has a stack and a load of its
/// own): side by side on a small machine they would measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the turn of a test that must run alone (see [`run_alone`]),
/// and holds it until the guard drops.
pub async fn take_turn() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// For the tests: runs `case` at [`Scale::TEST`] over `exporter`, alone,
/// and prints its row of the table.
pub async fn run_alone(case: Case, exporter: Exporter) -> Report {
    let _turn = take_turn().await;
    let report = run_over(case, Scale::TEST, exporter).await;
    println!("{}\n{}", Report::head(), report.row());
    report
}

/// Samples the memory of the services that run, every 100 ms until
/// `until`: at the start, and the highest.
async fn watch_memory(stack: &mut Stack, until: Instant) -> BTreeMap<&'static str, (u64, u64)> {
    let mut memory: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    loop {
        for api in Api::ALL {
            let service = stack.service(api);
            if let Some(rss) = service.running_rss_kib() {
                let entry = memory.entry(api.name()).or_insert((rss, rss));
                entry.1 = entry.1.max(rss);
            }
        }
        if Instant::now() >= until {
            return memory;
        }
        sleep(Duration::from_millis(100).min(until - Instant::now())).await;
    }
}

/// The trace id of an answer of api_01's, if it carries one.
pub fn trace_id(answer: &Answer) -> Option<String> {
    let body: Value = serde_json::from_str(&answer.text).ok()?;
    Some(body["trace_id"].as_str()?.to_owned())
}

/// A span as Zipkin tells it apart: trace id, span id, kind, service.
pub type SpanKey = (String, String, String, String);

/// A span as Zipkin tells spans apart: sent twice, it is one.
pub fn span_key(span: &Value) -> SpanKey {
    let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
    (
        text("traceId"),
        text("id"),
        text("kind"),
        service(span).to_owned(),
    )
}

/// The spans a killed server may have lost: Zipkin answers an upload before
/// it stores it, so a server killed between the two loses what it took.
/// These are the spans of which every upload Zipkin took was answered by a
/// server killed after it answered.
pub fn lost_with_killed_servers(
    uploads: &[Upload],
    kills: &[(String, std::time::Instant)],
) -> BTreeSet<SpanKey> {
    let killed_after = |upload: &Upload| {
        kills.iter().any(|(server, killed)| {
            upload.server.as_ref() == Some(server) && *killed >= upload.answered
        })
    };
    let mut taken: BTreeMap<SpanKey, bool> = BTreeMap::new();
    for upload in uploads.iter().filter(|upload| upload.accepted()) {
        let lost_with_server = killed_after(upload);
        for span in &upload.spans {
            *taken.entry(span_key(span)).or_insert(true) &= lost_with_server;
        }
    }
    taken
        .into_iter()
        .filter_map(|(key, lost)| lost.then_some(key))
        .collect()
}

/// Every span Zipkin holds once it holds every span of `taken` but those a
/// killed server may have lost, and what it holds of those no longer
/// grows (each read a second apart); at most [`STORED_LIMIT`]. Several
/// servers just started, writing to one database, may take tens of
/// seconds to store what they answered for.
async fn stored_once_settled(
    zipkin: &Zipkin,
    taken: &[&Value],
    may_be_lost: &BTreeSet<SpanKey>,
) -> Vec<Value> {
    let must_hold: BTreeSet<SpanKey> = taken
        .iter()
        .map(|span| span_key(span))
        .filter(|key| !may_be_lost.contains(key))
        .collect();
    let deadline = Instant::now() + STORED_LIMIT;
    let mut last_count = None;
    loop {
        let stored = zipkin.spans().await;
        let held: BTreeSet<SpanKey> = stored.iter().map(span_key).collect();
        let settled = must_hold.is_subset(&held) && last_count == Some(stored.len());
        if settled || Instant::now() >= deadline {
            return stored;
        }
        if must_hold.is_subset(&held) {
            last_count = Some(stored.len());
        }
        sleep(Duration::from_secs(1)).await;
    }
}

/// How many distinct spans `spans` holds of each trace, in one pass (a
/// long case takes tens of thousands).
fn distinct_by_trace(spans: &[Value]) -> BTreeMap<String, usize> {
    let keys: BTreeSet<_> = spans.iter().map(span_key).collect();
    let mut counts = BTreeMap::new();
    for (trace, ..) in keys {
        *counts.entry(trace).or_insert(0) += 1;
    }
    counts
}

/// How many distinct spans `spans` holds.
pub fn distinct(spans: &[&Value]) -> usize {
    let keys: std::collections::BTreeSet<_> = spans.iter().map(|span| span_key(span)).collect();
    keys.len()
}

impl Report {
    /// Whether a request was due during the fault.
    pub fn during_fault(&self, answer: &Answer) -> bool {
        answer.due >= self.fault_began && answer.due < self.fault_ended
    }

    /// Whether a request met the fault: due during it, or due before and
    /// still in flight when it was made.
    pub fn met_fault(&self, answer: &Answer) -> bool {
        answer.due < self.fault_ended && answer.due + answer.latency >= self.fault_began
    }

    /// The answers by status (`none` for no answer).
    pub fn by_status(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for answer in &self.answers {
            let status = answer.status.map_or("none".to_owned(), |s| s.to_string());
            *counts.entry(status).or_insert(0) += 1;
        }
        counts
    }

    /// The p99 latency of the requests due before the fault, and of those
    /// due during it.
    pub fn p99s(&self) -> (Duration, Duration) {
        let (mut before, mut during) = (Vec::new(), Vec::new());
        for answer in &self.answers {
            if answer.due < self.fault_began {
                before.push(answer.latency);
            } else if self.during_fault(answer) {
                during.push(answer.latency);
            }
        }
        (percentile(&before, 0.99), percentile(&during, 0.99))
    }

    /// Uploads Zipkin (or the wire, for it) answered with an error, and the
    /// spans they carried (sent again, a span counts again).
    pub fn refused(&self) -> (u64, u64) {
        let refused = self
            .uploads
            .iter()
            .filter(|upload| upload.status.is_some_and(|status| status >= 300));
        refused.fold((0, 0), |(uploads, spans), upload| {
            (uploads + 1, spans + upload.spans.len() as u64)
        })
    }

    /// The spans Zipkin took in its last life: what it must hold.
    pub fn taken_in_last_life(&self) -> Vec<&Value> {
        taken_since(&self.uploads, self.life_began)
    }

    /// The spans a killed server may have lost ([`lost_with_killed_servers`]).
    pub fn lost_with_killed_servers(&self) -> BTreeSet<SpanKey> {
        lost_with_killed_servers(&self.uploads, &self.server_kills)
    }

    /// The spans Zipkin took and does not hold at the end, of those a
    /// killed server may have lost.
    pub fn lost_by_zipkin(&self) -> BTreeSet<SpanKey> {
        let held: BTreeSet<SpanKey> = self.stored.iter().map(span_key).collect();
        let may_be_lost = self.lost_with_killed_servers();
        may_be_lost.difference(&held).cloned().collect()
    }

    /// The distinct spans Zipkin took from `service_name`.
    pub fn received(&self, service_name: &str) -> usize {
        let spans: Vec<&Value> = self
            .spans
            .iter()
            .filter(|span| service(span) == service_name)
            .collect();
        distinct(&spans)
    }

    /// Spans Zipkin was sent again after it had taken them.
    pub fn duplicates(&self) -> usize {
        let all: Vec<&Value> = self.spans.iter().collect();
        self.spans.len() - distinct(&all)
    }

    /// The sum of every account of the services that have one for each of
    /// their lives (a killed life has none).
    pub fn total(&self) -> SpanAccount {
        let mut total = SpanAccount::default();
        for (accounts, killed) in self.accounts.values() {
            if *killed {
                continue;
            }
            for account in accounts {
                total.ended += account.ended;
                total.exported += account.exported;
                total.retried += account.retried;
                total.exported_after_retry += account.exported_after_retry;
                total.dropped += account.dropped;
                total.lost += account.lost;
                total.traces_sent_in_part += account.traces_sent_in_part;
            }
        }
        total
    }

    /// The distinct spans received from the services counted in
    /// [`Report::total`].
    pub fn total_received(&self) -> usize {
        self.accounts
            .iter()
            .filter(|(_, (_, killed))| !killed)
            .map(|(name, _)| self.received(name))
            .sum()
    }

    /// One row of the benchmark's table.
    pub fn row(&self) -> String {
        let statuses: Vec<String> = self
            .by_status()
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        let total = self.total();
        let (before, during) = self.p99s();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let growth: Vec<String> = self
            .rss_kib
            .iter()
            .map(|(name, (start, high))| {
                format!("{name} +{:.1}", (*high as f64 - *start as f64) / 1024.0)
            })
            .collect();
        let killed: Vec<&str> = self
            .accounts
            .iter()
            .filter(|(_, (_, killed))| *killed)
            .map(|(name, _)| *name)
            .collect();
        let mut note = format!("RSS MB during the fault: {}", growth.join(", "));
        if !killed.is_empty() {
            note.push_str(&format!(
                "; {} left out (killed: no account)",
                killed.join(", ")
            ));
        }
        if self.duplicates() > 0 {
            note.push_str(&format!(
                "; {} received twice (Zipkin keeps one)",
                self.duplicates()
            ));
        }
        let lost_with_servers = self.lost_by_zipkin().len();
        if lost_with_servers > 0 {
            note.push_str(&format!(
                "; Zipkin lost {lost_with_servers} it had answered for, with a killed server"
            ));
        }
        if total.traces_sent_in_part > 0 {
            note.push_str(&format!(
                "; {} traces sent in part",
                total.traces_sent_in_part
            ));
        }
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} ({:.2}×) | {} |",
            self.case.name_over(self.exporter),
            statuses.join(", "),
            total.ended,
            self.total_received(),
            total.retried,
            total.dropped,
            total.lost,
            ms(before),
            ms(during),
            ms(during) / ms(before).max(0.001),
            note,
        )
    }

    /// The table's head, for [`Report::row`].
    pub fn head() -> &'static str {
        "| case | answers by status | spans made | received | retried | dropped | lost \
         | p99 before (ms) | p99 during (ms) | notes |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    }
}
