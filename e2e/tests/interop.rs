//! Our services beside three peers, in every mix, each trace judged by
//! Zipkin's own rules ([`TraceTree`]) over the spans Zipkin holds, and each
//! row's dependency graph as Zipkin itself draws it (the real server in
//! `.ci/run`); each matrix is printed, and any red cell fails the test.
//!
//! - The Python originals (Flask + py_zipkin, B3 only): each of api_01,
//!   api_02 and api_03 in Rust or in Python, with the Python callers in
//!   either call style.
//! - OpenTelemetry-Python (Flask and requests auto-instrumented, its default
//!   propagators: W3C Trace Context, no B3): each service in Rust or in
//!   OTel-Python, ours sending `OTEL_PROPAGATORS=b3multi,tracecontext`.
//! - zipkin-js (express and node-fetch with zipkin-js's own
//!   instrumentation, B3 only): each service in Rust or in zipkin-js, ours
//!   at their defaults.
//!
//!
//! Over OTLP too, judged the same way: OpenTelemetry-Python's own OTLP/HTTP
//! exporter beside ours, every service of its 8 mixes on OTLP; and ours on
//! OTLP beside py_zipkin's v2 JSON, in the 8 mixes of the client style. The
//! OTLP uploads go to an OpenTelemetry Collector ([`Collector`]: its OTLP
//! receiver, its `zipkin` exporter) in front of the same Zipkin.
//!
//! It needs the Python peers' virtualenvs, the zipkin-js peer's packages and
//! the Collector: `bash ci/interop.sh` makes them and runs these tests.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use e2e::*;
use serde_json::Value;
use test_collector::zipkin_rules::{TraceTree, call_counts, normalize_trace_id};

const TRACE_128: &str = "5b8efff798038103d269b633813fc60c";
// Not TRACE_128's low half: Zipkin links traces that share their low 64
// bits as one, and both go into one Zipkin in a row.
const TRACE_64: &str = "a3ce929d0e0e4736";
const NOT_SAMPLED_TRACE: &str = "0d1f6d6c1d5c0e2a81f1f7e1a9c3b5d7";
const CALLER_SPAN: &str = "c2fb4a1d1a96d312";
const CONCURRENT: usize = 8;

/// One row: who runs each service, and how a Python caller calls.
#[derive(Clone, Copy)]
struct Mix {
    implementations: [Implementation; 3],
    style: CallStyle,
}

impl Mix {
    fn all(style: CallStyle) -> Vec<Mix> {
        (0..8)
            .map(|bits: usize| {
                let of = |api: usize| match bits >> (2 - api) & 1 {
                    0 => Implementation::Rust,
                    _ => Implementation::Python(style),
                };
                Mix {
                    implementations: [of(0), of(1), of(2)],
                    style,
                }
            })
            .collect()
    }

    fn is_python(self, api: Api) -> bool {
        self.implementations[api as usize] != Implementation::Rust
    }

    fn label(self) -> String {
        let letter = |api| if self.is_python(api) { "Py" } else { "Rs" };
        let [a, b, c] = Api::ALL.map(letter);
        format!("{:<6} {a} {b} {c}", self.style.name())
    }

    /// The hops where a seed-style Python caller calls a Python callee: the
    /// callee's span hangs from an id nobody reports, in the original demo
    /// too. Only these may break a trace, and only so.
    fn original_limits(self) -> Vec<Api> {
        let hops = [
            (Api::Api01, Api::Api02),
            (Api::Api01, Api::Api03),
            (Api::Api02, Api::Api03),
        ];
        hops.into_iter()
            .filter(|&(caller, callee)| {
                self.style == CallStyle::Seed && self.is_python(caller) && self.is_python(callee)
            })
            .map(|(_, callee)| callee)
            .collect()
    }
}

/// One cell of the matrix.
#[derive(Debug, PartialEq)]
enum Verdict {
    Whole,
    /// Broken only where the original demo breaks too.
    OriginalLimit,
    /// Not whole because of what OpenTelemetry-Python does by design, with
    /// the evidence, printed under the matrix.
    PeerLimit(String),
    /// Not whole because of what zipkin-js writes (see
    /// [`zipkin_js_endpoint_limit`]), with the evidence, printed under the
    /// matrix.
    ZipkinJsLimit(String),
    Broken(String),
}

impl Verdict {
    fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut worst = Verdict::Whole;
        for verdict in verdicts {
            match (&worst, verdict) {
                (Verdict::Broken(_), _) => {}
                (_, broken @ Verdict::Broken(_)) => worst = broken,
                (
                    _,
                    limit @ (Verdict::OriginalLimit
                    | Verdict::PeerLimit(_)
                    | Verdict::ZipkinJsLimit(_)),
                ) => worst = limit,
                (_, Verdict::Whole) => {}
            }
        }
        worst
    }

    fn cell(&self) -> &'static str {
        match self {
            Verdict::Whole => "whole",
            Verdict::OriginalLimit => "limit*",
            Verdict::PeerLimit(_) => "limit†",
            Verdict::ZipkinJsLimit(_) => "limit‡",
            Verdict::Broken(_) => "BROKEN",
        }
    }
}

/// Judges one request's trace as Zipkin draws it: all three services, one
/// tree under api_01's SERVER span, no span whose parent is missing, and
/// each call linked once.
/// An orphan SERVER span of a service in `limits` is the peer's named
/// limit, not a break.
fn judge(spans: &[Value], trace_id: &str, incoming: bool, limits: &[Api]) -> Verdict {
    let trace: Vec<Value> = of_zipkin_trace(spans, trace_id)
        .into_iter()
        .cloned()
        .collect();
    let mut services: Vec<&str> = trace.iter().map(service).collect();
    services.sort();
    services.dedup();
    if services != ["api_01", "api_02", "api_03"] {
        return Verdict::Broken(format!("services {services:?} in trace {trace_id}"));
    }
    let tree = match TraceTree::build(&trace) {
        Ok(tree) => tree,
        Err(error) => return Verdict::Broken(format!("Zipkin would refuse it: {error}")),
    };
    if tree.unplaced().count() > 0 {
        return Verdict::Broken(format!("spans lost from the tree:\n{tree}"));
    }
    let is_top = |span: &test_collector::zipkin_rules::Span| {
        span.local_service() == Some("api_01") && span.kind.is_some_and(|k| k.as_str() == "SERVER")
    };
    // With an incoming context the top span hangs from the test's own span,
    // which nobody reports: that orphan is expected.
    let mut at_limit = false;
    for orphan in tree.orphans() {
        if incoming && is_top(orphan) {
            continue;
        }
        let limited = limits
            .iter()
            .any(|callee| orphan.local_service() == Some(callee.name()));
        if !limited {
            return Verdict::Broken(format!("{orphan} has no parent in the trace:\n{tree}"));
        }
        at_limit = true;
    }
    match tree.root_span() {
        Some(root) if is_top(root) => {}
        None if incoming => {}
        _ => return Verdict::Broken(format!("the root is not api_01's SERVER span:\n{tree}")),
    }
    let links = call_counts(tree.links());
    if at_limit {
        Verdict::OriginalLimit
    } else if links != one_request_links() {
        Verdict::Broken(format!("links {links:?}:\n{tree}"))
    } else {
        Verdict::Whole
    }
}

/// Whether Zipkin's own dependency graph of a row (`/api/v2/dependencies`,
/// its linker over every trace it holds) is the sum of the links of each of
/// the row's traces by Zipkin's rules: a trace that Zipkin links otherwise
/// than the rules judged it shows here.
async fn zipkin_links(zipkin: &Zipkin, spans: &[Value], traces: &[String]) -> Verdict {
    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    for trace_id in traces {
        let trace: Vec<Value> = of_zipkin_trace(spans, trace_id)
            .into_iter()
            .cloned()
            .collect();
        let Ok(tree) = TraceTree::build(&trace) else {
            continue; // judged Broken already
        };
        for (pair, calls) in call_counts(tree.links()) {
            *expected.entry(pair).or_default() += calls;
        }
    }
    let links = e2e::call_counts(&zipkin.dependencies().await);
    if links == expected {
        Verdict::Whole
    } else {
        Verdict::Broken(format!(
            "{} links {links:?}, by the rules trace by trace {expected:?}",
            zipkin.judge.name()
        ))
    }
}

/// The spans of `trace_id` as Zipkin groups them: by normalized trace id,
/// so a 64-bit id and the same id padded to 128 bits with zeros (as W3C
/// carries a 64-bit B3 trace) are one trace.
fn of_zipkin_trace<'a>(spans: &'a [Value], trace_id: &str) -> Vec<&'a Value> {
    let wanted = normalize_trace_id(trace_id).ok();
    spans
        .iter()
        .filter(|span| {
            let id = span["traceId"].as_str().map(normalize_trace_id);
            wanted.is_some() && id.and_then(Result::ok) == wanted
        })
        .collect()
}

/// How a row's services send their spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Export {
    /// Zipkin's v2 JSON, to Zipkin (across the wire in the peer rows that
    /// ask for it): every service, as before OTLP.
    Json,
    /// OTLP/HTTP to the stack's [`Collector`], which hands the spans to
    /// Zipkin: our services, and OpenTelemetry-Python in its rows; py_zipkin
    /// keeps its v2 JSON, straight to Zipkin.
    Otlp,
}

/// Runs the requests of one row and judges each kind.
async fn run_row(mix: Mix, join: bool, export: Export) -> Vec<(&'static str, Verdict)> {
    let mut builder = Stack::builder()
        .env("WORK_MS", "0")
        .env("B3_JOIN", if join { "true" } else { "false" })
        .record_hops();
    for api in Api::ALL {
        builder = builder.implementation(api, mix.implementations[api as usize]);
        if export == Export::Otlp && !mix.is_python(api) {
            builder = builder.otlp(api);
        }
    }
    let mut stack = builder.start().await;
    let url = stack.api_01.url.clone();
    let get = |headers: Vec<(&'static str, &'static str)>| {
        let url = url.clone();
        async move {
            let (status, answer) = fetch(&url, &headers).await;
            assert_eq!(status, 200, "{answer}");
            answer["trace_id"]
                .as_str()
                .expect("a traced answer names its trace")
                .to_owned()
        }
    };
    let context = |trace| {
        vec![
            ("X-B3-TraceId", trace),
            ("X-B3-SpanId", CALLER_SPAN),
            ("X-B3-Sampled", "1"),
        ]
    };

    let plain = get(vec![]).await;
    let concurrent = futures_join_all((0..CONCURRENT).map(|_| get(vec![]))).await;
    let not_sampled_hops_before: Vec<usize> =
        stack.hops().iter().map(|hop| hop.calls().len()).collect();
    get(vec![
        ("X-B3-TraceId", NOT_SAMPLED_TRACE),
        ("X-B3-SpanId", CALLER_SPAN),
        ("X-B3-Sampled", "0"),
    ])
    .await;
    let not_sampled_honoured_on_the_wire =
        stack
            .hops()
            .iter()
            .zip(&not_sampled_hops_before)
            .all(|(hop, &before)| {
                hop.calls()[before..].iter().all(|call| {
                    call["x-b3-sampled"] == "0" && call["x-b3-traceid"] == NOT_SAMPLED_TRACE
                })
            });
    let long = get(context(TRACE_128)).await;
    let short = get(context(TRACE_64)).await;
    // Nothing more can arrive once every service has stopped (and the
    // Collector, over OTLP). py_zipkin sends while it answers: its spans
    // were taken before the last answer came.
    let ours: Vec<Api> = Api::ALL
        .into_iter()
        .filter(|&api| !mix.is_python(api))
        .collect();
    let spans = match export {
        Export::Json => stack.stop().await,
        Export::Otlp => stop_through_collector(&mut stack, &ours, 0).await,
    };
    let traces: Vec<String> = [&plain, &long, &short]
        .into_iter()
        .chain(&concurrent)
        .cloned()
        .collect();
    let links = zipkin_links(&stack.zipkin, &spans, &traces).await;

    let not_sampled = if !not_sampled_honoured_on_the_wire {
        Verdict::Broken("a hop did not carry X-B3-Sampled: 0".into())
    } else if !of_trace(&spans, NOT_SAMPLED_TRACE).is_empty() {
        Verdict::Broken(format!(
            "spans of a not-sampled trace: {:#?}",
            of_trace(&spans, NOT_SAMPLED_TRACE)
        ))
    } else {
        Verdict::Whole
    };
    let continued = |trace_id: &str, expected: &str| {
        if trace_id != expected {
            Verdict::Broken(format!("trace {trace_id}, not the caller's {expected}"))
        } else {
            judge(&spans, trace_id, true, &mix.original_limits())
        }
    };
    let mut row = vec![
        (
            "plain",
            judge(&spans, &plain, false, &mix.original_limits()),
        ),
        (
            "concurrent",
            Verdict::worst(
                concurrent
                    .iter()
                    .map(|id| judge(&spans, id, false, &mix.original_limits())),
            ),
        ),
        ("Sampled: 0", not_sampled),
        ("128-bit in", continued(&long, TRACE_128)),
        ("64-bit in", continued(&short, TRACE_64)),
        ("links", links),
    ];
    if export == Export::Otlp {
        row.push(("via", came_as_sent(&spans, &ours)));
    }
    row
}

/// Whether each span reached Zipkin the way its service was told to send
/// it: through the Collector for a service in `otlp`, straight for the
/// others. The Collector's `zipkin` exporter writes the instrumentation
/// scope's name as the tag `otel.library.name`, and never
/// `otel.scope.name` (opentelemetry-collector-contrib v0.148.0,
/// pkg/translator/zipkin/zipkinv2/from_translator.go, `extractScopeTags`);
/// over v2 JSON ours write neither, py_zipkin neither, OpenTelemetry-Python's
/// exporter both. So a service that ignored `OTEL_TRACES_EXPORTER=otlp`
/// and sent v2 JSON to Zipkin, which it is also told of, shows here.
fn came_as_sent(spans: &[Value], otlp: &[Api]) -> Verdict {
    let otlp: Vec<&str> = otlp.iter().map(|api| api.name()).collect();
    let wrong: Vec<&Value> = spans
        .iter()
        .filter(|span| {
            let collectors =
                tag(span, "otel.library.name").is_some() && tag(span, "otel.scope.name").is_none();
            collectors != otlp.contains(&service(span))
        })
        .collect();
    if wrong.is_empty() {
        Verdict::Whole
    } else {
        Verdict::Broken(format!(
            "spans not the way their service sends (OTLP: {otlp:?}): {wrong:#?}"
        ))
    }
}

/// Awaits all of `futures` concurrently, in order.
async fn futures_join_all<F: Future<Output = String> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<String> {
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// One judged cell: its row's label, its column, its verdict.
type Cell = (String, &'static str, Verdict);

/// Prints one row of a matrix, under the column names if it is the first,
/// and gives its cells.
fn print_row(
    corner: &str,
    label: String,
    row: Vec<(&'static str, Verdict)>,
    first: bool,
) -> Vec<Cell> {
    if first {
        let names: Vec<String> = row.iter().map(|(name, _)| format!("{name:<11}")).collect();
        println!("{corner:<16}{}", names.join("").trim_end());
    }
    let line: Vec<String> = row
        .iter()
        .map(|(_, v)| format!("{:<11}", v.cell()))
        .collect();
    println!("{label:<16}{}", line.join("").trim_end());
    row.into_iter()
        .map(|(name, verdict)| (label.clone(), name, verdict))
        .collect()
}

/// Prints the red cells with their reasons, and fails if there is any.
fn fail_on_red(cells: &[Cell]) {
    let red: Vec<_> = cells
        .iter()
        .filter(|(_, _, v)| matches!(v, Verdict::Broken(_)))
        .collect();
    for (row, column, verdict) in &red {
        println!("\nRED {row} / {column}: {verdict:?}");
    }
    assert!(red.is_empty(), "{} red cells", red.len());
}

/// Runs every row and prints the matrix.
async fn matrix(title: &str, mixes: Vec<Mix>, join: bool, export: Export) -> Vec<Cell> {
    println!("\n{title}\n");
    let mut cells = Vec::new();
    for (index, mix) in mixes.into_iter().enumerate() {
        let row = run_row(mix, join, export).await;
        cells.extend(print_row("style  01 02 03", mix.label(), row, index == 0));
    }
    cells
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Python originals' virtualenv: run `bash ci/interop.sh`"]
async fn every_mix_of_rust_and_python_gives_whole_traces() {
    let mixes = [Mix::all(CallStyle::Client), Mix::all(CallStyle::Seed)].concat();
    let cells = matrix("B3_JOIN=true (the default)", mixes, true, Export::Json).await;
    println!("\nlimit*: the original's own limit, as in the all-Python row: a seed-style");
    println!("py_zipkin callee hangs its span from an id its caller never reports.");
    fail_on_red(&cells);
    // The limit is the original's: the all-Python seed row has it.
    let all_python_seed = Mix::all(CallStyle::Seed).last().unwrap().label();
    assert!(
        cells
            .iter()
            .any(|(row, _, v)| *row == all_python_seed && *v == Verdict::OriginalLimit)
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Python originals' virtualenv: run `bash ci/interop.sh`"]
async fn without_join_a_seed_style_python_caller_breaks_our_callee() {
    let cells = matrix(
        "B3_JOIN=false, seed style (for comparison)",
        Mix::all(CallStyle::Seed),
        false,
        Export::Json,
    )
    .await;
    for mix in Mix::all(CallStyle::Seed) {
        let python_seeds_rust = [
            (Api::Api01, Api::Api02),
            (Api::Api01, Api::Api03),
            (Api::Api02, Api::Api03),
        ]
        .iter()
        .any(|&(caller, callee)| mix.is_python(caller) && !mix.is_python(callee));
        let plain = cells
            .iter()
            .find(|(row, column, _)| *row == mix.label() && *column == "plain")
            .unwrap();
        assert_eq!(
            matches!(plain.2, Verdict::Broken(_)),
            python_seeds_rust,
            "{}: {:?}",
            mix.label(),
            plain.2
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Python originals' virtualenv and the OpenTelemetry Collector: run \
            `bash ci/interop.sh`"]
async fn ours_over_otlp_beside_py_zipkin_over_json_give_whole_traces() {
    // One trace, two exporters: ours over OTLP (16-byte trace ids, a 64-bit
    // B3 trace sent as 8 zero bytes and its 8 bytes) through the Collector,
    // py_zipkin's v2 JSON (its 64-bit trace ids as they are) straight to
    // Zipkin. Client style: its rows have no limit of the original's.
    let cells = matrix(
        "B3_JOIN=true, ours (Rs) over OTLP through the Collector, py_zipkin (Py) \
         over v2 JSON to Zipkin",
        Mix::all(CallStyle::Client),
        true,
        Export::Otlp,
    )
    .await;
    println!("\nvia: every span of ours came through the Collector (its zipkin exporter's");
    println!("mark: the tag otel.library.name without otel.scope.name), every one of");
    println!("py_zipkin's straight to Zipkin. The all-Python row has no service over");
    println!("OTLP: no Collector, as in the first matrix.");
    fail_on_red(&cells);
    for (row, column, verdict) in &cells {
        assert_eq!(*verdict, Verdict::Whole, "{row} / {column}");
    }
}

/// Stops a stack whose services send OTLP, then its Collector, which hands
/// Zipkin what it still holds as it stops; gives every span Zipkin holds
/// once it holds as many spans of `ours` as they say they exported (to the
/// Collector: [`Service::span_accounts`]), and `at_least` spans in all.
/// Every exporter has been answered by then (each service flushes before
/// it exits, py_zipkin sends while it answers, the Collector before it
/// exits); Zipkin stores a batch just after it answers it, hence the wait.
/// A stack without a Collector (no service on OTLP) is only stopped.
async fn stop_through_collector(stack: &mut Stack, ours: &[Api], at_least: usize) -> Vec<Value> {
    let spans = stack.stop().await;
    let Some(collector) = stack.collector.as_mut() else {
        return spans;
    };
    collector.service.sigterm();
    let status = collector.service.wait_for_exit(EXIT_LIMIT).await;
    assert!(
        status.success(),
        "the Collector exited with {status}: {:#?}",
        collector.service.logs()
    );
    let exported: u64 = ours
        .iter()
        .filter_map(|&api| stack.service(api).span_account())
        .map(|account| account.exported)
        .sum();
    let names: Vec<&str> = ours.iter().map(|api| api.name()).collect();
    let of_ours = |spans: &[Value]| {
        spans
            .iter()
            .filter(|span| names.contains(&service(span)))
            .count() as u64
    };
    let deadline = Instant::now() + SPANS_LIMIT;
    loop {
        let spans = stack.zipkin.spans().await;
        if of_ours(&spans) >= exported && spans.len() >= at_least {
            return spans;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "Zipkin holds {} spans, {} of ours, after {SPANS_LIMIT:?}, not {at_least} \
                 and the {exported} ours exported",
                spans.len(),
                of_ours(&spans)
            );
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What our services send in the OpenTelemetry-Python rows: B3 for the
/// peers that read only B3 (py_zipkin, Brave) and W3C for the OpenTelemetry
/// ones, as a user adding OpenTelemetry services to a B3 mesh would set it;
/// `tracecontext` alone would cut the B3 peers off. Our callees read
/// either; given both, the one listed last, W3C, so that every hop of
/// these rows, ours to ours too, is a CLIENT span and its child.
const RUST_PROPAGATORS: &str = "b3multi,tracecontext";
/// OTel-Python's batch delay in those rows, in ms: ten minutes, longer than
/// any row, so its spans can only reach Zipkin by the SIGTERM flush.
const OTEL_HELD_DELAY_MS: &str = "600000";
/// The spans one request gives each service, in every mix: api_01 a SERVER
/// and two CLIENT spans, api_02 a SERVER and a CLIENT span, api_03 a SERVER
/// and a `work` span for each of its two callers.
const SPANS_PER_SERVICE: [(Api, usize); 3] = [(Api::Api01, 3), (Api::Api02, 2), (Api::Api03, 4)];

/// One row of a matrix of ours beside one peer: which services run as the
/// peer (`letters`: `Ot` for OpenTelemetry-Python, `Js` for zipkin-js), the
/// others being ours (`Rs`).
#[derive(Clone, Copy)]
struct PeerMix {
    peer: [bool; 3],
    letters: &'static str,
}

impl PeerMix {
    fn all(letters: &'static str) -> Vec<PeerMix> {
        (0..8)
            .map(|bits: usize| PeerMix {
                peer: [0, 1, 2].map(|api| bits >> (2 - api) & 1 == 1),
                letters,
            })
            .collect()
    }

    fn is_peer(self, api: Api) -> bool {
        self.peer[api as usize]
    }

    fn label(self) -> String {
        let letter = |api| {
            if self.is_peer(api) {
                self.letters
            } else {
                "Rs"
            }
        };
        let [a, b, c] = Api::ALL.map(letter);
        format!("{a} {b} {c}")
    }
}

/// A W3C `traceparent` header's trace id and sampled flag, if it is one.
fn traceparent(value: &str) -> Option<(&str, bool)> {
    let [version, trace_id, parent_id, flags] =
        <[&str; 4]>::try_from(value.split('-').collect::<Vec<_>>()).ok()?;
    let flags = u8::from_str_radix(flags, 16)
        .ok()
        .filter(|_| flags.len() == 2)?;
    (version == "00" && trace_id.len() == 32 && parent_id.len() == 16)
        .then_some((trace_id, flags & 1 == 1))
}

/// Whether one recorded call carried the not-sampled trace with its
/// decision: in `traceparent` always (every callee reads it), and in B3 too
/// where the caller also sent B3 (ours do, for B3 peers).
fn carries_not_sampled(call: &http::HeaderMap) -> bool {
    let header = |name: &str| call.get(name).and_then(|value| value.to_str().ok());
    let w3c = header("traceparent").and_then(traceparent) == Some((NOT_SAMPLED_TRACE, false));
    let b3_agrees = match (header("x-b3-traceid"), header("x-b3-sampled")) {
        (None, None) => true,
        (trace_id, sampled) => trace_id == Some(NOT_SAMPLED_TRACE) && sampled == Some("0"),
    };
    w3c && b3_agrees
}

/// The account of a row's spans: none of the peer's (`peer` names it)
/// before SIGTERM (its batch delay is held past the row), and after it
/// every span in one of the row's sampled traces, each trace [`complete`]:
/// nothing lost at the stop, nothing stray (a trace a callee started
/// because it could not read its caller's, an upload to Zipkin traced as a
/// call).
fn account(
    mix: PeerMix,
    peer: &str,
    before_stop: &[Value],
    spans: &[Value],
    sampled: &[String],
) -> Verdict {
    let peer_services: Vec<&str> = Api::ALL
        .into_iter()
        .filter(|&api| mix.is_peer(api))
        .map(Api::name)
        .collect();
    let early: Vec<&Value> = before_stop
        .iter()
        .filter(|span| peer_services.contains(&service(span)))
        .collect();
    if !early.is_empty() {
        return Verdict::Broken(format!(
            "{peer} spans before SIGTERM, with its batch delay held: {early:#?}"
        ));
    }
    let normalized = |id: &str| normalize_trace_id(id).unwrap_or_default();
    let traces: BTreeSet<String> = sampled.iter().map(|id| normalized(id)).collect();
    let stray: Vec<&Value> = spans
        .iter()
        .filter(|span| !traces.contains(&normalized(span["traceId"].as_str().unwrap_or(""))))
        .collect();
    if !stray.is_empty() {
        return Verdict::Broken(format!("spans of no sampled request: {stray:#?}"));
    }
    Verdict::worst(traces.iter().map(|trace_id| complete(spans, trace_id)))
}

/// Whether `trace_id` holds exactly one request's spans from each service.
/// Zipkin's rules alone would pass a trace whose callee answered one call
/// in a trace of its own: the caller's CLIENT span, naming the callee as
/// its remote service, still makes the link.
fn complete(spans: &[Value], trace_id: &str) -> Verdict {
    let mut per_service: BTreeMap<&str, usize> = BTreeMap::new();
    for span in of_zipkin_trace(spans, trace_id) {
        *per_service.entry(service(span)).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = SPANS_PER_SERVICE
        .iter()
        .map(|&(api, count)| (api.name(), count))
        .collect();
    if per_service == expected {
        Verdict::Whole
    } else {
        Verdict::Broken(format!(
            "trace {trace_id}: spans per service {per_service:?}, not {expected:?}"
        ))
    }
}

/// GETs api_01 at `url` with `headers`, and gives the trace its answer
/// names; anything but a `200` fails the test.
async fn answered_trace(url: String, headers: Vec<(&'static str, String)>) -> String {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let (status, answer) = fetch(&url, &headers).await;
    assert_eq!(status, 200, "{answer}");
    answer["trace_id"]
        .as_str()
        .expect("a traced answer names its trace")
        .to_owned()
}

/// How many calls each hop has seen so far: [`calls_since`] then gives the
/// calls of the requests made after.
fn calls_so_far(stack: &Stack) -> Vec<usize> {
    stack.hops().iter().map(|hop| hop.calls().len()).collect()
}

/// The calls each hop has seen since [`calls_so_far`] said `before`, each
/// hop named "caller → callee".
fn calls_since(stack: &Stack, before: &[usize]) -> Vec<(String, Vec<http::HeaderMap>)> {
    stack
        .hops()
        .iter()
        .zip(before)
        .map(|(hop, &before)| {
            (
                format!("{} → {}", hop.caller, hop.callee),
                hop.calls()[before..].to_vec(),
            )
        })
        .collect()
}

/// The verdict on a request sent with the not-sampled trace: api_01
/// answered that trace, every hop carried it and the decision once
/// (`carries` reads them in the peer's format), and Zipkin holds no span
/// of it.
fn not_sampled_verdict(
    answered: &str,
    calls: &[(String, Vec<http::HeaderMap>)],
    carries: fn(&http::HeaderMap) -> bool,
    spans: &[Value],
) -> Verdict {
    let recorded = of_zipkin_trace(spans, NOT_SAMPLED_TRACE);
    if answered != NOT_SAMPLED_TRACE {
        Verdict::Broken(format!(
            "trace {answered}, not the caller's {NOT_SAMPLED_TRACE}"
        ))
    } else if let Some((hop, calls)) = calls
        .iter()
        .find(|(_, calls)| calls.len() != 1 || !carries(&calls[0]))
    {
        Verdict::Broken(format!(
            "hop {hop} did not carry the not-sampled decision once: {calls:#?}"
        ))
    } else if !recorded.is_empty() {
        Verdict::Broken(format!("spans of a not-sampled trace: {recorded:#?}"))
    } else {
        Verdict::Whole
    }
}

/// Stops the services of a stack started `through_wire`, and gives every
/// span Zipkin holds once it holds every span the wire saw it take: Zipkin
/// answers an upload before it stores it, and a peer, unlike ours, does not
/// log how many spans it had taken ([`Stack::stop`] waits for ours).
async fn stop_through_wire(stack: &mut Stack) -> Vec<Value> {
    stack.stop().await;
    let accepted = stack.wire().accepted_spans().len();
    stack.zipkin.spans_once_at_least(accepted).await
}

/// [`judge`] with no named limit, and each service's spans all there.
fn judge_peer(spans: &[Value], trace_id: &str, incoming: bool) -> Verdict {
    Verdict::worst([
        judge(spans, trace_id, incoming, &[]),
        complete(spans, trace_id),
    ])
}

/// Runs the requests of one OpenTelemetry-Python row and judges each kind:
/// every service over Zipkin's v2 JSON, or every one over OTLP.
async fn run_otel_row(mix: PeerMix, export: Export) -> Vec<(&'static str, Verdict)> {
    let mut builder = Stack::builder().env("WORK_MS", "0").record_hops();
    builder = match export {
        // Through the wire: what OTel-Python sent before SIGTERM is known
        // exactly, not only what Zipkin had stored yet.
        Export::Json => builder.through_wire(),
        // OTLP goes to the Collector, which no wire watches: see
        // `otlp_account`.
        Export::Otlp => Api::ALL
            .into_iter()
            .fold(builder, |builder, api| builder.otlp(api)),
    };
    for api in Api::ALL {
        builder = if mix.is_peer(api) {
            // Its default propagators: no OTEL_PROPAGATORS for it (the
            // harness passes nothing of the test's own environment).
            builder
                .implementation(api, Implementation::OtelPython)
                .env_for(api, "OTEL_BSP_SCHEDULE_DELAY", OTEL_HELD_DELAY_MS)
        } else {
            builder.env_for(api, "OTEL_PROPAGATORS", RUST_PROPAGATORS)
        };
    }
    let mut stack = builder.start().await;
    let url = stack.api_01.url.clone();
    let get = |headers| answered_trace(url.clone(), headers);
    let w3c = |trace_id: &str, flags: &str| {
        vec![(
            "traceparent",
            format!("00-{trace_id}-{CALLER_SPAN}-{flags}"),
        )]
    };

    let plain = get(vec![]).await;
    let concurrent = futures_join_all((0..CONCURRENT).map(|_| get(vec![]))).await;
    let continued = get(w3c(TRACE_128, "01")).await;
    let first_call_before = stack.hop(Api::Api01, Api::Api02).calls().len();
    let b3_in = get(vec![
        ("X-B3-TraceId", TRACE_64.to_owned()),
        ("X-B3-SpanId", CALLER_SPAN.to_owned()),
        ("X-B3-Sampled", "1".to_owned()),
    ])
    .await;
    let b3_in_first_call = stack.hop(Api::Api01, Api::Api02).calls()[first_call_before].clone();
    let hops_before = calls_so_far(&stack);
    let not_sampled = get(w3c(NOT_SAMPLED_TRACE, "00")).await;
    let not_sampled_calls = calls_since(&stack, &hops_before);
    let sampled: Vec<String> = [plain.clone(), continued.clone(), b3_in.clone()]
        .into_iter()
        .chain(concurrent.iter().cloned())
        .collect();
    let ours: Vec<Api> = Api::ALL
        .into_iter()
        .filter(|&api| !mix.is_peer(api))
        .collect();
    // Nothing more can arrive once every service has stopped (and the
    // Collector, over OTLP).
    let (before_stop, spans) = match export {
        Export::Json => {
            let before_stop = stack.wire().accepted_spans();
            (before_stop, stop_through_wire(&mut stack).await)
        }
        Export::Otlp => {
            let before_stop = stack.zipkin.spans().await;
            let every_span = sampled.len() * SPANS_PER_REQUEST;
            let spans = stop_through_collector(&mut stack, &ours, every_span).await;
            (before_stop, spans)
        }
    };

    let not_sampled_verdict = not_sampled_verdict(
        &not_sampled,
        &not_sampled_calls,
        carries_not_sampled,
        &spans,
    );
    let continued_verdict = if continued != TRACE_128 {
        Verdict::Broken(format!("trace {continued}, not the caller's {TRACE_128}"))
    } else {
        judge_peer(&spans, &continued, true)
    };
    let b3_in_verdict = if !mix.is_peer(Api::Api01) {
        // Ours read the B3 context and pass it on in both formats: the
        // 64-bit trace padded to 32 digits in `traceparent`.
        if b3_in != TRACE_64 {
            Verdict::Broken(format!("trace {b3_in}, not the caller's {TRACE_64}"))
        } else {
            judge_peer(&spans, &b3_in, true)
        }
    } else {
        // OTel-Python's default propagators read no B3: it starts a trace
        // of its own, which must still be whole.
        let header = |name: &str| {
            b3_in_first_call
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("none")
                .to_owned()
        };
        let sent = header("traceparent");
        if b3_in == TRACE_64 || traceparent(&sent).map(|(id, _)| id) != Some(b3_in.as_str()) {
            Verdict::Broken(format!(
                "OTel-Python api_01 answered trace {b3_in} and called api_02 with \
                 traceparent {sent}: it was expected to start a trace of its own"
            ))
        } else {
            match judge_peer(&spans, &b3_in, false) {
                Verdict::Whole => Verdict::PeerLimit(format!(
                    "sent X-B3-TraceId: {TRACE_64}, api_01 answered trace_id {b3_in}, \
                     and its call to api_02 carried traceparent: {sent}, X-B3-TraceId: {}",
                    header("x-b3-traceid")
                )),
                broken => broken,
            }
        }
    };
    let links = zipkin_links(&stack.zipkin, &spans, &sampled).await;
    let account = match export {
        Export::Json => (
            "account",
            account(mix, "OTel-Python", &before_stop, &spans, &sampled),
        ),
        Export::Otlp => (
            "account°",
            Verdict::worst([
                account(mix, "OTel-Python", &before_stop, &spans, &sampled),
                otlp_account(&mut stack, &ours, &spans, sampled.len()),
            ]),
        ),
    };
    let mut row = vec![
        ("plain", judge_peer(&spans, &plain, false)),
        (
            "concurrent",
            Verdict::worst(concurrent.iter().map(|id| judge_peer(&spans, id, false))),
        ),
        ("W3C in", continued_verdict),
        ("W3C -00 in", not_sampled_verdict),
        ("B3 64 in", b3_in_verdict),
        account,
        ("links", links),
    ];
    if export == Export::Otlp {
        row.push(("via", came_as_sent(&spans, &Api::ALL)));
    }
    row
}

/// The part of a row's account over OTLP that the wire gives over v2 JSON,
/// from our services' own accounts instead ([`Service::span_accounts`]):
/// no wire sees what goes to the Collector. Each of `ours` stopped once,
/// having ended exactly its spans of the row's `requests` sampled requests
/// ([`SPANS_PER_SERVICE`]) and exported every one at the first try (taken
/// by the Collector), none dropped or lost; and Zipkin holds as many spans
/// of ours as they exported, so the Collector passed every one on.
fn otlp_account(stack: &mut Stack, ours: &[Api], spans: &[Value], requests: usize) -> Verdict {
    let mut exported = 0;
    for &(api, per_request) in &SPANS_PER_SERVICE {
        if !ours.contains(&api) {
            continue;
        }
        let accounts = stack.service(api).span_accounts();
        let expected = SpanAccount::all_exported((per_request * requests) as u64);
        if accounts != [expected] {
            return Verdict::Broken(format!(
                "{}'s own account {accounts:?}, not [{expected:?}]",
                api.name()
            ));
        }
        exported += expected.exported;
    }
    let names: Vec<&str> = ours.iter().map(|api| api.name()).collect();
    let in_zipkin = spans
        .iter()
        .filter(|span| names.contains(&service(span)))
        .count() as u64;
    if in_zipkin == exported {
        Verdict::Whole
    } else {
        Verdict::Broken(format!(
            "ours exported {exported} spans to the Collector, Zipkin holds {in_zipkin} of theirs"
        ))
    }
}

/// Runs the 8 OpenTelemetry-Python rows, prints their matrix under `title`
/// and their limits, and fails on a red cell, or on a limit anywhere but
/// the peer's own: exactly the rows with OTel-Python as api_01.
async fn otel_matrix(title: &str, export: Export) {
    println!("\n{title}\n");
    let mut cells = Vec::new();
    for (index, mix) in PeerMix::all("Ot").into_iter().enumerate() {
        let row = run_otel_row(mix, export).await;
        cells.extend(print_row("01 02 03", mix.label(), row, index == 0));
    }
    if export == Export::Otlp {
        println!("\naccount°: no wire sees OTLP's uploads, so this is Zipkin's word and ours:");
        println!("no OTel-Python span in Zipkin (through the Collector) before SIGTERM; each");
        println!("of ours, by its own account, exported to the Collector every span of the");
        println!("row's sampled requests at the first try, and Zipkin holds as many of ours;");
        println!("after SIGTERM (and the Collector's stop), every span in a sampled trace,");
        println!("each trace complete.");
        println!("via: every span came through the Collector (its zipkin exporter's mark:");
        println!("the tag otel.library.name without otel.scope.name).");
    }
    println!("\nlimit†: OTel-Python as api_01 reads no B3 (its default propagators are");
    println!("tracecontext,baggage): it starts a trace of its own, whole. As seen:");
    for (row, column, verdict) in &cells {
        if let Verdict::PeerLimit(evidence) = verdict {
            println!("  {row} / {column}: {evidence}");
        }
    }
    fail_on_red(&cells);
    // The limit is the peer's: exactly the rows with OTel-Python as api_01.
    for (row, column, verdict) in &cells {
        let limited = matches!(verdict, Verdict::PeerLimit(_));
        assert_eq!(
            limited,
            *column == "B3 64 in" && row.starts_with("Ot"),
            "{row} / {column}: {verdict:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the OpenTelemetry-Python virtualenv: run `bash ci/interop.sh`"]
async fn every_mix_of_rust_and_opentelemetry_python_gives_whole_traces() {
    otel_matrix(
        &format!("OpenTelemetry-Python (Ot) beside ours (Rs, OTEL_PROPAGATORS={RUST_PROPAGATORS})"),
        Export::Json,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the OpenTelemetry-Python virtualenv and the OpenTelemetry Collector: run \
            `bash ci/interop.sh`"]
async fn every_mix_of_rust_and_opentelemetry_python_over_otlp_gives_whole_traces() {
    otel_matrix(
        &format!(
            "Over OTLP: OpenTelemetry-Python (Ot, its OTLP/HTTP exporter) beside ours (Rs, \
             OTEL_PROPAGATORS={RUST_PROPAGATORS}), every service to the Collector"
        ),
        Export::Otlp,
    )
    .await;
}

/// zipkin-js's upload interval in its rows, in ms (its HttpLogger's
/// `httpInterval`, which the peer reads from `ZIPKIN_HTTP_INTERVAL_MS`): ten
/// minutes, longer than any row, so its spans can only reach Zipkin by the
/// SIGTERM flush.
const ZIPKIN_JS_HELD_INTERVAL_MS: &str = "600000";

/// The B3 context of a caller, sampled.
fn b3_context(trace_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-B3-TraceId", trace_id.to_owned()),
        ("X-B3-SpanId", CALLER_SPAN.to_owned()),
        ("X-B3-Sampled", "1".to_owned()),
    ]
}

/// Whether one recorded call carried the not-sampled trace and its
/// decision in B3, the only format zipkin-js reads and sends.
fn carries_b3_not_sampled(call: &http::HeaderMap) -> bool {
    let header = |name: &str| call.get(name).and_then(|value| value.to_str().ok());
    header("x-b3-traceid") == Some(NOT_SAMPLED_TRACE) && header("x-b3-sampled") == Some("0")
}

/// zipkin-js's limit, if it is what keeps `trace_id` from being whole, with
/// the evidence: the trace came in to zipkin-js as api_01 with a caller's
/// B3 context, the caller (the test) reports no span, and zipkin-js's
/// SERVER span, sharing the caller's span id, has a local endpoint other
/// than its own CLIENT spans' (its express instrumentation adds the host's
/// IPv4 to the SERVER span only). Zipkin finds the children of a shared
/// span by id *and* local endpoint (`SpanNode.Builder`, ported in
/// `zipkin_rules`); failing that, by id alone, which names the caller's
/// CLIENT span, not in the trace. So api_01's CLIENT spans, and all below
/// them, hang from nothing.
///
/// It is the limit only if every span without a parent, but api_01's
/// SERVER span, is such a CLIENT span of api_01, nothing else is amiss:
/// every span placed, one request's spans from each service, and each call
/// linked once.
fn zipkin_js_endpoint_limit(spans: &[Value], trace_id: &str) -> Option<String> {
    let trace: Vec<Value> = of_zipkin_trace(spans, trace_id)
        .into_iter()
        .cloned()
        .collect();
    let tree = TraceTree::build(&trace).ok()?;
    let is_api_01 = |span: &&Value| service(span) == Api::Api01.name();
    let server = trace
        .iter()
        .filter(is_api_01)
        .find(|span| kind(span) == "SERVER")?;
    let server_id = server["id"].as_str()?;
    let clients: Vec<&Value> = trace
        .iter()
        .filter(is_api_01)
        .filter(|span| kind(span) == "CLIENT" && span["parentId"] == server_id)
        .collect();
    let loose: Vec<&str> = tree
        .orphans()
        .filter(|orphan| orphan.id != server_id)
        .map(|orphan| orphan.id.as_str())
        .collect();
    let client_ids: BTreeSet<&str> = clients.iter().filter_map(|c| c["id"].as_str()).collect();
    let only_these = !loose.is_empty() && loose.iter().all(|id| client_ids.contains(id));
    let other_endpoint = clients
        .iter()
        .all(|client| client["localEndpoint"] != server["localEndpoint"]);
    let rest_whole = server["shared"] == true
        && tree.unplaced().count() == 0
        && complete(spans, trace_id) == Verdict::Whole
        && call_counts(tree.links()) == one_request_links();
    (only_these && other_endpoint && rest_whole).then(|| {
        format!(
            "api_01's SERVER span {server_id} (shared) has localEndpoint {}, its CLIENT \
             spans {} have {}: {} of them without a parent",
            server["localEndpoint"],
            client_ids.iter().copied().collect::<Vec<_>>().join(", "),
            clients[0]["localEndpoint"],
            loose.len(),
        )
    })
}

/// Runs the requests of one zipkin-js row and judges each kind. Ours run as
/// they are by default (`OTEL_PROPAGATORS=b3multi`, `B3_JOIN=true`), as
/// zipkin-js does (B3 multi headers, the callee's SERVER span sharing the
/// caller's span id).
async fn run_zipkin_js_row(mix: PeerMix) -> Vec<(&'static str, Verdict)> {
    // Through the wire: what zipkin-js sent before SIGTERM is known exactly.
    let mut builder = Stack::builder()
        .env("WORK_MS", "0")
        .record_hops()
        .through_wire();
    for api in Api::ALL {
        if mix.is_peer(api) {
            builder = builder
                .implementation(api, Implementation::ZipkinJs)
                .env_for(api, "ZIPKIN_HTTP_INTERVAL_MS", ZIPKIN_JS_HELD_INTERVAL_MS);
        }
    }
    let mut stack = builder.start().await;
    let url = stack.api_01.url.clone();
    let get = |headers| answered_trace(url.clone(), headers);

    let plain = get(vec![]).await;
    let concurrent = futures_join_all((0..CONCURRENT).map(|_| get(vec![]))).await;
    let hops_before = calls_so_far(&stack);
    let mut not_sampled_context = b3_context(NOT_SAMPLED_TRACE);
    not_sampled_context[2].1 = "0".to_owned();
    let not_sampled = get(not_sampled_context).await;
    let not_sampled_calls = calls_since(&stack, &hops_before);
    let long = get(b3_context(TRACE_128)).await;
    let short = get(b3_context(TRACE_64)).await;
    let before_stop = stack.wire().accepted_spans();
    // Nothing more can arrive once every service has stopped.
    let spans = stop_through_wire(&mut stack).await;

    let not_sampled_verdict = not_sampled_verdict(
        &not_sampled,
        &not_sampled_calls,
        carries_b3_not_sampled,
        &spans,
    );
    let continued = |trace_id: &str, expected: &str| {
        if trace_id != expected {
            return Verdict::Broken(format!("trace {trace_id}, not the caller's {expected}"));
        }
        match judge_peer(&spans, trace_id, true) {
            Verdict::Whole => Verdict::Whole,
            broken if mix.is_peer(Api::Api01) => {
                zipkin_js_endpoint_limit(&spans, trace_id).map_or(broken, Verdict::ZipkinJsLimit)
            }
            broken => broken,
        }
    };
    let sampled: Vec<String> = [plain.clone(), long.clone(), short.clone()]
        .into_iter()
        .chain(concurrent.iter().cloned())
        .collect();
    let links = zipkin_links(&stack.zipkin, &spans, &sampled).await;
    vec![
        ("plain", judge_peer(&spans, &plain, false)),
        (
            "concurrent",
            Verdict::worst(concurrent.iter().map(|id| judge_peer(&spans, id, false))),
        ),
        ("Sampled: 0", not_sampled_verdict),
        ("128-bit in", continued(&long, TRACE_128)),
        ("64-bit in", continued(&short, TRACE_64)),
        (
            "account",
            account(mix, "zipkin-js", &before_stop, &spans, &sampled),
        ),
        ("links", links),
    ]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the zipkin-js peer's packages: run `bash ci/interop.sh`"]
async fn every_mix_of_rust_and_zipkin_js_gives_whole_traces() {
    println!("\nzipkin-js (Js) beside ours (Rs, their defaults: B3 multi headers, B3_JOIN=true)\n");
    let mut cells = Vec::new();
    for (index, mix) in PeerMix::all("Js").into_iter().enumerate() {
        let row = run_zipkin_js_row(mix).await;
        cells.extend(print_row("01 02 03", mix.label(), row, index == 0));
    }
    println!("\nlimit‡: zipkin-js as api_01, given a caller's B3 context, shares the");
    println!("caller's span id, and writes the host's IPv4 into its SERVER span's");
    println!("localEndpoint but not its CLIENT spans': Zipkin looks for the children");
    println!("of a shared span by id and local endpoint, so, the caller reporting no");
    println!("span, api_01's calls hang from nothing. The rest is whole. As seen:");
    for (row, column, verdict) in &cells {
        if let Verdict::ZipkinJsLimit(evidence) = verdict {
            println!("  {row} / {column}: {evidence}");
        }
    }
    fail_on_red(&cells);
    // The limit is zipkin-js's: exactly the incoming contexts of the rows
    // with zipkin-js as api_01; every other cell is whole.
    for (row, column, verdict) in &cells {
        let limited = matches!(verdict, Verdict::ZipkinJsLimit(_));
        assert_eq!(
            limited,
            ["128-bit in", "64-bit in"].contains(column) && row.starts_with("Js"),
            "{row} / {column}: {verdict:?}"
        );
    }
}
