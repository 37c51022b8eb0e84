//! What the demo's own spans cost in the project's own subscriber: one
//! request's 9 spans (`telemetry::bench::one_request_of_spans`: the
//! services' SERVER, CLIENT and `work` spans, made by their constructors,
//! with their fields, records, entries and the access log line), through
//! the subscriber `Telemetry::init` installs (the registry, the filtered
//! OpenTelemetry layer, the fmt layer with its `EnvFilter`) into a processor
//! that drops them; against the same spans with OpenTelemetry disabled
//! (the registry and the log lines only). The difference over the spans is
//! the floor of a traced span in this design: what a span costs before any
//! export, any header or anything else of a request.
//!
//!     span_shapes disabled|traced REQUESTS
//!
//! `bench/run.sh --instructions` runs each setting under callgrind for two
//! counts of requests, as it does `span_cost`: the difference over the
//! difference in spans is one span's cost, start-up excluded.

use reference_costs::Drop;

// The services' allocator: this is the floor of the services' spans.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [setting, requests] = args.as_slice() else {
        eprintln!("usage: span_shapes disabled|traced REQUESTS");
        std::process::exit(2);
    };
    let requests: u32 = requests.parse().expect("a count of requests");
    let (subscriber, _provider) = telemetry::bench::subscriber(setting == "traced", Drop);
    tracing::dispatcher::with_default(&subscriber, || {
        for _ in 0..requests {
            telemetry::bench::one_request_of_spans();
        }
    });
}
