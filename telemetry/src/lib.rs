//! Distributed tracing for an axum + reqwest service, exported to Zipkin:
//! one request becomes one trace across every service it reaches, with B3
//! headers between them.
//!
//! A service adds four things:
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
//! let app = telemetry.instrument(Router::new().route("/", get(checkout)));
//!
//! // 3. Serve; at the end, flush the spans still queued.
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
//! How it works, a module each:
//!
//! - `server` ([`Telemetry::instrument`]): the SERVER span of each request,
//!   parented on the caller's trace context (read by [`propagation`]).
//! - [`client`]: the CLIENT span of each call, whose context travels in B3
//!   headers (written by [`propagation`]).
//! - [`zipkin`]: finished spans are batched and POSTed to Zipkin's v2 API,
//!   each naming its service, so Zipkin can list services and draw links.
//! - [`Telemetry`]: ties the tracer, the sampler ([`sampling`]) and the log
//!   output together at start-up, and flushes the last spans at shutdown;
//!   [`config`] reads its settings.
//!
//! Spans are `tracing` spans; the `tracing-opentelemetry` layer makes them
//! OpenTelemetry spans, which the SDK samples, batches and exports.

pub mod client;
pub mod config;
mod hex;
pub mod propagation;
mod request;
pub mod sampling;
mod server;
mod setup;
pub mod zipkin;

pub use config::{ConfigError, TelemetryConfig};
pub use request::{CurrentTrace, current_trace};
pub use setup::{Telemetry, TelemetryError};

/// An error with its causes, which `reqwest` keeps out of its own message
/// ("connection refused" is a cause of "error sending request").
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
