//! The rules every parser of outside input must keep, written once: a
//! module per parser, each with a `check(data)` that drives the real
//! parser with `data` and panics, saying which rule broke and on what,
//! when one does not hold.
//!
//! Two runners share these checks:
//!
//! - the coverage-guided fuzz targets in `fuzz/` (libFuzzer, through
//!   `cargo +nightly fuzz run <module>`; `bench/fuzz.sh` runs them all and
//!   minimises what they grow into `fuzz/corpus/<module>/`);
//! - `cargo test -p fuzz_checks`, which replays that committed corpus and
//!   runs `proptest` properties on a fixed seed: a bounded, repeatable
//!   slice of the same rules in every test run, with no luck in it.
//!
//! The parsers, and the module that holds each to its rules:
//!
//! | module | parser | the outside input |
//! |---|---|---|
//! | [`b3_multi`], [`b3_single`] | `telemetry`'s B3 reader | a request's `X-B3-*` and `b3` headers |
//! | [`traceparent`] | `telemetry`'s W3C reader | a request's `traceparent` (and `tracestate`) |
//! | [`inbound`] | `telemetry`'s `request::begin`, the SERVER layer's whole path | any request headers, under every `OTEL_PROPAGATORS` |
//! | [`round_trip`] | `telemetry`'s writers, then its readers | every context a call can carry |
//! | [`relay_body`] | `browser_relay`'s checks of a post | anything a page can post to `/browser/spans` |
//! | [`retry_after`] | `span_export`'s `Retry-After` reading | Zipkin's (or an OTLP receiver's) answer |
//! | [`settings`] | `TelemetryConfig::read`, OTLP's settings, `demo::Settings::read` | the environment |
//!
//! What they are compared with: [`spec`] reads B3 and W3C Trace Context
//! straight from their specifications, in the plainest code that does it,
//! sharing nothing with the parsers under test; [`table`] is what the
//! `b3_table` crate (docs/b3.md's "B3 in, B3 out") says for the forms it
//! lists. [`headers`] turns fuzz bytes into request headers as a server
//! would hold them.
//!
//! Each check is quick and bounded: no input makes one allocate more than
//! a few times its length or run longer than a few milliseconds (the fuzz
//! targets enforce it with `-rss_limit_mb` and `-timeout`).

pub mod b3_multi;
pub mod b3_single;
pub mod headers;
pub mod inbound;
pub mod relay_body;
pub mod retry_after;
pub mod round_trip;
pub mod settings;
pub mod spec;
pub mod table;
pub mod traceparent;

/// A target's check: panics when a rule breaks.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name: one module above and one `fuzz/fuzz_targets`
/// file each, and a corpus directory each under `fuzz/corpus/`.
pub const TARGETS: [(&str, Check); 8] = [
    ("b3_multi", b3_multi::check),
    ("b3_single", b3_single::check),
    ("traceparent", traceparent::check),
    ("inbound", inbound::check),
    ("round_trip", round_trip::check),
    ("relay_body", relay_body::check),
    ("retry_after", retry_after::check),
    ("settings", settings::check),
];
