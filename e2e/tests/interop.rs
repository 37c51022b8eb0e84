//! Our services and the Python originals (Flask + py_zipkin) in every mix:
//! each of api_01, api_02 and api_03 in Rust or in Python, with the Python
//! callers in either call style, judged by Zipkin's own rules
//! ([`TraceTree`]). Prints the matrix; fails on any red cell.
//!
//! It needs the originals' virtualenv: `bash ci/interop.sh` makes it and
//! runs this test.
use e2e::*;
use serde_json::Value;
use test_collector::zipkin_rules::{TraceTree, call_counts};

const TRACE_128: &str = "5b8efff798038103d269b633813fc60c";
const TRACE_64: &str = "d269b633813fc60c";
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
    Broken(String),
}

impl Verdict {
    fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut worst = Verdict::Whole;
        for verdict in verdicts {
            match (&worst, verdict) {
                (Verdict::Broken(_), _) => {}
                (_, broken @ Verdict::Broken(_)) => worst = broken,
                (_, Verdict::OriginalLimit) => worst = Verdict::OriginalLimit,
                (_, Verdict::Whole) => {}
            }
        }
        worst
    }

    fn cell(&self) -> &'static str {
        match self {
            Verdict::Whole => "whole",
            Verdict::OriginalLimit => "limit*",
            Verdict::Broken(_) => "BROKEN",
        }
    }
}

/// Judges one request's trace as Zipkin draws it: all three services, one
/// tree under api_01's SERVER span, no span whose parent is missing, and
/// each call linked once.
fn judge(mix: Mix, spans: &[Value], trace_id: &str, incoming: bool) -> Verdict {
    let trace: Vec<Value> = of_trace(spans, trace_id).into_iter().cloned().collect();
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
    let limits = mix.original_limits();
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

/// Runs the requests of one row and judges each kind.
async fn run_row(mix: Mix, join: bool) -> Vec<(&'static str, Verdict)> {
    let mut builder = Stack::builder()
        .env("WORK_MS", "0")
        .env("B3_JOIN", if join { "true" } else { "false" })
        .record_hops();
    for api in Api::ALL {
        builder = builder.implementation(api, mix.implementations[api as usize]);
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
    // Nothing more can arrive once every service has stopped.
    let spans = stack.stop().await;

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
            judge(mix, &spans, trace_id, true)
        }
    };
    vec![
        ("plain", judge(mix, &spans, &plain, false)),
        (
            "concurrent",
            Verdict::worst(concurrent.iter().map(|id| judge(mix, &spans, id, false))),
        ),
        ("Sampled: 0", not_sampled),
        ("128-bit in", continued(&long, TRACE_128)),
        ("64-bit in", continued(&short, TRACE_64)),
    ]
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

/// Runs every row and prints the matrix; the red cells, with reasons.
async fn matrix(title: &str, mixes: Vec<Mix>, join: bool) -> Vec<(String, &'static str, Verdict)> {
    println!("\n{title}\n");
    let mut printed_header = false;
    let mut cells = Vec::new();
    for mix in mixes {
        let row = run_row(mix, join).await;
        if !printed_header {
            let names: Vec<String> = row.iter().map(|(name, _)| format!("{name:<11}")).collect();
            println!("{:<16}{}", "style  01 02 03", names.join(""));
            printed_header = true;
        }
        let line: Vec<String> = row
            .iter()
            .map(|(_, v)| format!("{:<11}", v.cell()))
            .collect();
        println!("{:<16}{}", mix.label(), line.join(""));
        cells.extend(
            row.into_iter()
                .map(|(name, verdict)| (mix.label(), name, verdict)),
        );
    }
    cells
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Python originals' virtualenv: run `bash ci/interop.sh`"]
async fn every_mix_of_rust_and_python_gives_whole_traces() {
    let mixes = [Mix::all(CallStyle::Client), Mix::all(CallStyle::Seed)].concat();
    let cells = matrix("B3_JOIN=true (the default)", mixes, true).await;
    println!("\nlimit*: the original's own limit, as in the all-Python row: a seed-style");
    println!("py_zipkin callee hangs its span from an id its caller never reports.");
    let red: Vec<_> = cells
        .iter()
        .filter(|(_, _, v)| matches!(v, Verdict::Broken(_)))
        .collect();
    for (row, column, verdict) in &red {
        println!("\nRED {row} / {column}: {verdict:?}");
    }
    assert!(red.is_empty(), "{} red cells", red.len());
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
