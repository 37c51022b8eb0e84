//! Zipkin, as the tests meet it: the real Zipkin server, or the project's
//! stand-in for it, on a loopback port held for the whole test, and read
//! only through Zipkin's own HTTP API (`/api/v2/trace/{id}`, `traces`,
//! `services`, `dependencies`). So a test asks both the same questions, and
//! the real server decides whatever it is asked in `.ci/run`.
//!
//! Which one runs is the run's choice, not the test's: `ZIPKIN_SERVER_JAR`
//! names the real server's executable jar (`bash ci/zipkin-server.sh`
//! fetches it and prints its path); without it, the stand-in
//! (`test_collector`) runs in process, so that `cargo test` needs no Java.
//! A test that only the real server can answer (its UI, its answer to a
//! batch it refuses) asks for it with [`Zipkin::real`].
//!
//! Killed ([`Zipkin::kill`]), either one closes its port and every
//! connection, and what it stored is gone, as with Zipkin's in-memory
//! storage; started again ([`Zipkin::restart`]), it listens on the same
//! port. While it is away the port stays held ([`RefusingPort`]), so the
//! services meet connection refused, never another program.
//!
//! A test of Zipkin as it scales asks for [`Zipkin::cluster`]: several real
//! servers over one MariaDB, behind nginx on the held port
//! ([`crate::zipkin_cluster`]). Killed, its servers go and its store keeps
//! what they wrote.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use test_collector::{Mode, Store, zipkin_rules::normalize_trace_id};
use tokio::runtime::Runtime;

use crate::{
    RefusingPort, SPANS_LIMIT, Service, http, zipkin_cluster::ZipkinServers,
    zipkin_server::start_server,
};

/// How often a wait on Zipkin's API asks again.
const POLL: Duration = Duration::from_millis(50);

/// One dependency link as Zipkin counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub call_count: u64,
    pub error_count: u64,
}

/// `(caller, callee) → link`, as `/api/v2/dependencies` answers.
pub type Links = BTreeMap<(String, String), Link>;

/// What judges the spans: the real server or the stand-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judge {
    StandIn,
    /// The executable jar of `io.zipkin:zipkin-server`.
    Server(PathBuf),
}

impl Judge {
    /// The run's judge: the real server when `ZIPKIN_SERVER_JAR` names its
    /// jar, the stand-in otherwise.
    pub fn of_this_run() -> Judge {
        match std::env::var_os("ZIPKIN_SERVER_JAR") {
            Some(jar) => Judge::Server(PathBuf::from(jar)),
            None => Judge::StandIn,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Judge::StandIn => "the stand-in",
            Judge::Server(_) => "the real Zipkin",
        }
    }
}

enum Running {
    Away,
    StandIn(Runtime),
    Server(Box<Service>),
    /// Several real servers over one store, behind a balancer that
    /// listens on the held port ([`Zipkin::cluster`]).
    Cluster(Box<ZipkinServers>),
}

/// A Zipkin on a held loopback port.
pub struct Zipkin {
    port: RefusingPort,
    pub judge: Judge,
    running: Running,
    /// When its current life began answering.
    pub life_began: Instant,
}

impl Zipkin {
    /// Starts the run's judge ([`Judge::of_this_run`]).
    pub async fn start() -> Zipkin {
        Zipkin::start_as(Judge::of_this_run()).await
    }

    /// Starts the real server, whatever the run's judge: for a test whose
    /// question only the real Zipkin can answer. Fails, saying how to get
    /// it, when `ZIPKIN_SERVER_JAR` is not set.
    pub async fn real() -> Zipkin {
        match Judge::of_this_run() {
            judge @ Judge::Server(_) => Zipkin::start_as(judge).await,
            Judge::StandIn => panic!(
                "this test needs the real Zipkin server: run it with \
                 ZIPKIN_SERVER_JAR=\"$(bash ci/zipkin-server.sh)\""
            ),
        }
    }

    /// `count` real servers over one MariaDB, behind nginx on the held
    /// port (see [`crate::zipkin_cluster`]): what it stores survives a
    /// restart of every server. Fails, saying how to get it, when
    /// `ZIPKIN_SERVER_JAR` is not set.
    pub async fn cluster(count: usize) -> Zipkin {
        let Judge::Server(jar) = Judge::of_this_run() else {
            panic!(
                "this test needs the real Zipkin server: run it with \
                 ZIPKIN_SERVER_JAR=\"$(bash ci/zipkin-server.sh)\""
            )
        };
        let mut zipkin = Zipkin::away_as(Judge::Server(jar.clone()));
        let servers = ZipkinServers::start(&jar, count, &zipkin.port).await;
        zipkin.running = Running::Cluster(Box::new(servers));
        zipkin.life_began = Instant::now();
        zipkin
    }

    /// The servers of a [`Zipkin::cluster`], to kill and start one by one.
    pub fn servers(&mut self) -> &mut ZipkinServers {
        match &mut self.running {
            Running::Cluster(servers) => servers,
            _ => panic!("not a cluster: Zipkin::cluster makes one"),
        }
    }

    /// Each server killed so far (a cluster's; none otherwise): its
    /// address, and when.
    pub fn server_kills(&self) -> Vec<(String, Instant)> {
        match &self.running {
            Running::Cluster(servers) => servers.kills().to_vec(),
            _ => Vec::new(),
        }
    }

    async fn start_as(judge: Judge) -> Zipkin {
        let mut zipkin = Zipkin::away_as(judge);
        zipkin.restart().await;
        zipkin
    }

    /// The run's judge, not started yet: its port refuses connections
    /// until [`Zipkin::restart`].
    pub fn away() -> Zipkin {
        Zipkin::away_as(Judge::of_this_run())
    }

    fn away_as(judge: Judge) -> Zipkin {
        Zipkin {
            port: RefusingPort::new(),
            judge,
            running: Running::Away,
            life_began: Instant::now(),
        }
    }

    /// Whether it is up (not away or killed).
    pub fn is_running(&self) -> bool {
        !matches!(self.running, Running::Away)
    }

    pub fn is_real(&self) -> bool {
        matches!(self.judge, Judge::Server(_))
    }

    /// `http://127.0.0.1:<port>`: the API, and the UI under `/zipkin/`.
    pub fn url(&self) -> String {
        self.port.url()
    }

    /// The URL to give services as `OTEL_EXPORTER_ZIPKIN_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.port.zipkin_endpoint()
    }

    /// Kills it: its port refuses connections, every connection it held is
    /// closed, and what it stored is gone. A cluster's servers are killed,
    /// its balancer answers `502`, and its store keeps what it holds.
    pub async fn kill(&mut self) {
        if let Running::Cluster(servers) = &mut self.running {
            return servers.kill_all().await;
        }
        match std::mem::replace(&mut self.running, Running::Away) {
            Running::Away => {}
            Running::StandIn(runtime) => runtime.shutdown_background(),
            Running::Server(mut server) => server.kill().await,
            Running::Cluster(_) => unreachable!("a cluster's servers are killed above"),
        }
    }

    /// Starts a new life on its port (killing the current one), empty, and
    /// waits until it answers.
    pub async fn restart(&mut self) {
        if let Running::Cluster(servers) = &mut self.running {
            // Its life goes on: the store kept everything.
            return servers.start_all().await;
        }
        self.kill().await;
        self.running = match &self.judge {
            Judge::StandIn => Running::StandIn(self.stand_in()),
            Judge::Server(jar) => Running::Server(Box::new(self.server(jar).await)),
        };
        self.life_began = Instant::now();
    }

    /// The stand-in's routes on a runtime of its own: shutting that down
    /// closes its listener and connections, as a process's death does.
    fn stand_in(&self) -> Runtime {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zipkin-stand-in")
            .enable_all()
            .build()
            .expect("a runtime for the stand-in");
        let listener = {
            let _inside = runtime.enter();
            tokio::net::TcpListener::from_std(self.port.listener()).expect("a Tokio listener")
        };
        let app = test_collector::router(Store::new(Mode::KeepSpans));
        runtime.spawn(async move { axum::serve(listener, app).await });
        runtime
    }

    /// The real server, on the held port of loopback only, with its
    /// in-memory storage (Zipkin's default).
    async fn server(&self, jar: &std::path::Path) -> Service {
        start_server("zipkin", jar, &self.port, &[]).await
    }

    /// What the real server has logged (nothing for the stand-in; for a
    /// cluster, every server's and the balancer's lines, each named).
    pub fn logs(&self) -> Vec<String> {
        match &self.running {
            Running::Server(server) => server.logs(),
            Running::Cluster(servers) => servers
                .logs()
                .into_iter()
                .flat_map(|(name, lines)| {
                    lines.into_iter().map(move |line| format!("{name}: {line}"))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    async fn get(&self, path_and_query: &str) -> Option<Value> {
        let url = format!("{}{path_and_query}", self.url());
        let answer = http()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {url}: {error}"));
        match answer.status().as_u16() {
            200 => Some(answer.json().await.expect("Zipkin answers JSON")),
            404 => None,
            status => panic!(
                "GET {url}: {status} {}",
                answer.text().await.unwrap_or_default()
            ),
        }
    }

    /// The spans of `trace_id`, as Zipkin stores them (`/api/v2/trace/{id}`).
    pub async fn trace(&self, trace_id: &str) -> Vec<Value> {
        let trace = self.get(&format!("/api/v2/trace/{trace_id}")).await;
        trace.map_or_else(Vec::new, array)
    }

    /// Every span Zipkin holds, trace by trace (`/api/v2/traces`, over every
    /// time the tests could have made a span in).
    pub async fn spans(&self) -> Vec<Value> {
        let (end_ms, lookback_ms) = all_time();
        let traces = self
            .get(&format!(
                "/api/v2/traces?endTs={end_ms}&lookback={lookback_ms}&limit=1000000"
            ))
            .await
            .expect("Zipkin lists traces");
        array(traces).into_iter().flat_map(array).collect()
    }

    /// The services Zipkin knows (`/api/v2/services`).
    pub async fn services(&self) -> Vec<String> {
        let services = self.get("/api/v2/services").await.expect("a list");
        serde_json::from_value(services).expect("a list of names")
    }

    /// Zipkin's dependency links over every span it holds
    /// (`/api/v2/dependencies`: its own linker).
    pub async fn dependencies(&self) -> Links {
        let (end_ms, lookback_ms) = all_time();
        self.dependencies_in(end_ms, lookback_ms).await
    }

    async fn dependencies_in(&self, end_ms: u64, lookback_ms: u64) -> Links {
        let links = self
            .get(&format!(
                "/api/v2/dependencies?endTs={end_ms}&lookback={lookback_ms}"
            ))
            .await
            .expect("Zipkin lists links");
        array(links)
            .into_iter()
            .map(|link| {
                let count = |key: &str| link[key].as_u64().unwrap_or(0);
                let name = |key: &str| link[key].as_str().expect("a service").to_owned();
                let counts = Link {
                    call_count: count("callCount"),
                    error_count: count("errorCount"),
                };
                ((name("parent"), name("child")), counts)
            })
            .collect()
    }

    /// Zipkin's dependency links of `trace_id` alone: asked for the time
    /// its spans started in (Zipkin's window, in milliseconds), after
    /// checking that no other trace has a span in that window (so a test
    /// that makes its traces one after another leaves a millisecond
    /// between them: [`next_millisecond`]). "Other" is strict: Zipkin
    /// links two traces that share their low 64 bits as one, so such a
    /// pair in one window fails here too.
    pub async fn links_of(&self, trace_id: &str) -> Links {
        let trace = self.trace(trace_id).await;
        let starts = trace.iter().filter_map(|span| span["timestamp"].as_u64());
        let (first, last) = starts.fold((u64::MAX, 0), |(first, last), start| {
            (first.min(start / 1000), last.max(start / 1000))
        });
        assert!(first <= last, "no span of {trace_id} has a timestamp");
        let lookback = (last - first).max(1);
        let window = format!("/api/v2/traces?endTs={last}&lookback={lookback}&limit=1000");
        let in_window = array(self.get(&window).await.expect("a list of traces"));
        // As Zipkin stores it: a 128-bit id whose high half is zero is 64 bits.
        let stored = normalize_trace_id(trace_id);
        let others: Vec<&str> = in_window
            .iter()
            .filter_map(|trace| trace[0]["traceId"].as_str())
            .filter(|&id| normalize_trace_id(id) != stored)
            .collect();
        assert!(
            others.is_empty(),
            "other traces started spans in {trace_id}'s milliseconds, so Zipkin cannot give \
             its links alone (it also links as one any traces sharing their low 64 bits): \
             {others:?}"
        );
        self.dependencies_in(last, lookback).await
    }

    /// Waits until Zipkin holds `count` spans of `trace_id`, and gives them.
    pub async fn wait_for_trace(&self, trace_id: &str, count: usize) -> Vec<Value> {
        let (spans, held) = self
            .wait_for_trace_where(trace_id, |spans| spans.len() >= count)
            .await;
        assert!(
            held,
            "{} holds {} spans of trace {trace_id} after {SPANS_LIMIT:?}, not {count}: {spans:#?}",
            self.judge.name(),
            spans.len()
        );
        spans
    }

    /// Waits until the spans Zipkin holds of `trace_id` make `done` true,
    /// at most [`SPANS_LIMIT`]; gives them, and whether `done` held.
    pub async fn wait_for_trace_where(
        &self,
        trace_id: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> (Vec<Value>, bool) {
        poll(|| self.trace(trace_id), |spans| done(spans)).await
    }

    /// Every span Zipkin holds once it holds `count` or more, or when
    /// [`SPANS_LIMIT`] has passed (the test then judges what is there).
    /// Zipkin answers an upload before it stores it: this is how a test
    /// knows that what was accepted is stored.
    pub async fn spans_once_at_least(&self, count: usize) -> Vec<Value> {
        let (spans, held) = poll(|| self.spans(), |spans| spans.len() >= count).await;
        if !held {
            eprintln!(
                "{} holds {} spans after {SPANS_LIMIT:?}, not the {count} it took",
                self.judge.name(),
                spans.len()
            );
        }
        spans
    }
}

impl Drop for Zipkin {
    fn drop(&mut self) {
        if let Running::StandIn(runtime) = std::mem::replace(&mut self.running, Running::Away) {
            runtime.shutdown_background();
        }
        // A server is a Service: killed as it drops.
    }
}

/// Waits until the wall clock is in a later millisecond than now, and one
/// more: what a span starts after this is in a later millisecond of
/// Zipkin's than anything started before (see [`Zipkin::links_of`]).
pub async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

/// Asks `ask` every [`POLL`] until `done` holds of its answer, at most
/// [`SPANS_LIMIT`]; gives the last answer, and whether `done` held.
async fn poll<T, Answer: Future<Output = T>>(
    ask: impl Fn() -> Answer,
    done: impl Fn(&T) -> bool,
) -> (T, bool) {
    let deadline = Instant::now() + SPANS_LIMIT;
    loop {
        let answer = ask().await;
        if done(&answer) {
            return (answer, true);
        }
        if Instant::now() >= deadline {
            return (answer, false);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `(endTs, lookback)` in milliseconds covering every span a test run
/// makes: from a day ago to a day ahead.
fn all_time() -> (u64, u64) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    let day = 86_400_000;
    (now_ms + day, 2 * day)
}

fn array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => panic!("Zipkin answered {other}, not a list"),
    }
}
