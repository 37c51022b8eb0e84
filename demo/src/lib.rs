//! What the three demo services (api_01, api_02, api_03) share, so that each
//! `main.rs` is config, router, serve. The tracing itself is the
//! `telemetry` crate's; nothing here is needed to trace a service.
//!
//! - [`Settings`]: the demo's settings from the environment (through
//!   `telemetry::env::Env`, the project's one reader of it).
//! - [`Reply`]: the JSON every service answers with.
//! - [`Faults`]: the knobs that make a service fail or slow down on demand.
//! - [`DownstreamClient`]: a call to another service, with a JSON answer or
//!   a clear error.
//! - [`serve`]: serving under the connection and request limits until
//!   SIGTERM, then flushing the last spans, optionally behind a [`Front`]
//!   that answers some requests before tracing sees them; and
//!   [`healthcheck`], the container's probe.
//! - `GET /metrics` ([`METRICS_PATH`]): how full the span exporter's queue
//!   is, in Prometheus' text format.

mod downstream;
mod faults;
mod metrics;
mod reply;
mod serve;
mod settings;

pub use downstream::{Downstream, DownstreamClient, DownstreamError};
pub use faults::{Faults, MAX_DELAY_MS};
pub use metrics::METRICS_PATH;
pub use reply::Reply;
pub use serve::{Front, healthcheck, healthcheck_requested, serve, serve_with_front};
pub use settings::Settings;
