//! What one span costs in the layers this project builds on, with nothing of
//! ours around it: a `tracing` span like the demo's SERVER span, created,
//! entered, given its status, exited and closed, first with only the
//! registry, then through the `tracing-opentelemetry` layer (set up as the
//! telemetry crate does) and the OpenTelemetry SDK, sampled, ending in a
//! processor that drops it. The difference is the floor of a traced span
//! before any export. `bench/run.sh --instructions` runs each setting under
//! callgrind for two counts of spans: the difference over the difference in
//! spans is the cost of one span, start-up excluded. Run with no argument,
//! it prints nanoseconds per span instead (noisy on a shared machine).

use std::time::Instant;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use reference_costs::Drop;
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

const SPANS: u32 = 10_000;

#[inline(never)]
fn one_span() {
    let span = tracing::info_span!(
        "request",
        otel.name = "GET /",
        otel.kind = "server",
        http.request.method = "GET",
        http.route = "/",
        url.path = "/",
        http.response.status_code = Empty,
    );
    let _entered = span.enter();
    span.record("http.response.status_code", 200u16);
}

fn main() {
    // `span_cost [plain|traced COUNT]`: one setting only, for callgrind;
    // with no argument, both, timed.
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [setting, count] => {
            let count = count.parse().expect("a count of spans");
            run(setting == "traced", count);
        }
        _ => {
            let plain = run(false, SPANS);
            let traced = run(true, SPANS);
            println!(
                "{SPANS} spans: {plain} ns each with the registry only, {traced} ns through \
                 tracing-opentelemetry and the SDK"
            );
        }
    }
}

/// Makes `count` spans, with or without OpenTelemetry; nanoseconds a span.
fn run(traced: bool, count: u32) -> u128 {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Drop)
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("span_cost"))
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false);
    let spans = || {
        for _ in 0..count {
            one_span();
        }
    };
    // Two subscribers, not an `Option` layer: a `None` layer turns every
    // span off, which would measure nothing.
    let started = Instant::now();
    if traced {
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), spans);
    } else {
        tracing::subscriber::with_default(tracing_subscriber::registry(), spans);
    }
    started.elapsed().as_nanos() / u128::from(count)
}
