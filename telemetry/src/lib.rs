//! Distributed tracing for an axum + reqwest service, exported to Zipkin:
//! one request becomes one trace across every service it reaches, with B3
//! headers between them (or W3C `traceparent`, by `OTEL_PROPAGATORS`).
//!
//! A service adds four things (`examples/quickstart.rs` is the whole
//! program):
//!
//! ```
//! use axum::{Router, routing::get};
//! use telemetry::{Telemetry, TelemetryConfig};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. At start-up: OpenTelemetry's settings from the environment
//! //    (OTEL_SERVICE_NAME, OTEL_EXPORTER_ZIPKIN_ENDPOINT, ...), and the
//! //    tracing subscriber that sends spans to Zipkin.
//! let telemetry = Telemetry::init(&TelemetryConfig::from_env("checkout")?)?;
//!
//! // 2. Every request to these routes runs in a SERVER span, in the
//! //    caller's trace when it sent one.
//! let app = Router::new().route("/", get(checkout)).layer(telemetry.layer());
//!
//! // 3. Serve until a signal; then flush the spans still queued.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let url = format!("http://{}/", listener.local_addr()?);
//! # let stop = async move { reqwest::get(url).await.unwrap(); };
//! axum::serve(listener, app).with_graceful_shutdown(stop).await?;
//! telemetry.shutdown().await;
//! # Ok(())
//! # }
//!
//! // 4. A call to another service: a CLIENT span, with B3 headers.
//! async fn checkout() -> String {
//!     let http = reqwest::Client::new();
//!     let call = http.get("http://localhost:5002/stock");
//!     match telemetry::client::send(call, "inventory").await {
//!         Ok(answer) => format!("inventory answered {}", answer.status()),
//!         Err(error) => format!("inventory could not be reached: {error}"),
//!     }
//! }
//! ```
//!
//! # The public API
//!
//! - [`Telemetry`]: [`init`](Telemetry::init) at start-up,
//!   [`layer`](Telemetry::layer) (or [`instrument`](Telemetry::instrument))
//!   for the routes to trace, [`shutdown`](Telemetry::shutdown) at the end.
//! - [`TelemetryConfig`], from OpenTelemetry's standard variables
//!   ([`from_env`](TelemetryConfig::from_env)), with [`SamplerConfig`],
//!   [`Propagators`] and [`BatchConfig`] as its parts.
//! - [`TelemetryLayer`]: the SERVER span of every request, as a tower layer.
//! - [`client::send`]: a call to another service in a CLIENT span.
//! - [`current_trace`]: the trace a request is in, for answers and links.
//! - [`env::Env`]: the environment reader the settings use, for a
//!   service's own settings too.
//! - [`ConfigError`], [`TelemetryError`]: what can go wrong at start-up.
//!
//! Nothing else is public. The `bench` feature opens the internals that
//! the project's benchmark measures, and the `fuzzing` feature the parsers
//! that the fuzz targets drive; neither is part of the API.
//!
//! # How it works
//!
//! Spans are `tracing` spans; the `tracing-opentelemetry` layer makes them
//! OpenTelemetry spans, which the SDK samples and hands to `span_export`'s
//! processor, which batches them and sends them to Zipkin (or, with
//! `OTEL_TRACES_EXPORTER=otlp`, to an OTLP receiver). A module each,
//! listed bottom up: each imports only modules above it in this list,
//! never one below (`tests/layering.rs` checks it).
//!
//! - `env`, `exporter`, `config`: the settings, from the environment;
//!   plain data (`exporter`: which exporter, and OTLP's settings).
//! - `hex`, `debug_trace`: ids as text, and the mark of a B3 debug trace.
//! - `propagation`: B3 and W3C headers in and out (`OTEL_PROPAGATORS`);
//!   where a SERVER span goes in its caller's trace (join).
//! - `sampling`: the sampler, one decision per request.
//! - `request`: a request's trace, from its headers to its SERVER span's
//!   ids and decision, in one file; kept for the code inside the request.
//! - `server` ([`TelemetryLayer`]) and [`client`]: the SERVER and CLIENT
//!   spans; `log_lines`: the log, each line of a request with its trace id.
//! - `ends_at_close`: the OpenTelemetry layer, not told of entries and
//!   exits (a span's end is its close).
//! - `setup` ([`Telemetry`]): ties them together at start-up, and flushes
//!   the last spans at shutdown.

mod config;
mod debug_trace;
pub mod env;
mod exporter;
mod hex;
mod propagation;

mod sampling;

mod request;

pub mod client;
mod log_lines;
mod server;

mod ends_at_close;
mod setup;

#[cfg(feature = "bench")]
pub mod bench;

// For the fuzz targets (`fuzz_checks`) only; not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use config::{BatchConfig, Propagators, RootSampler, SamplerConfig, TelemetryConfig};
pub use env::ConfigError;
pub use exporter::{OtlpConfig, TracesExporter};
pub use request::{CurrentTrace, current_trace};
pub use server::{TelemetryLayer, TelemetryService};
pub use setup::{Telemetry, TelemetryError};
pub use span_export::QueueGauge;

#[cfg(test)]
mod testing;
