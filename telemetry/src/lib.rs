//! Everything the three demo services share, so that each service's `main.rs`
//! is only config, router, serve.
//!
//! One request to `api_01` becomes one trace in Zipkin because every service
//! does the same four things, each in its own module:
//!
//! - [`server`]: every incoming request gets a SERVER span, parented on the
//!   caller's trace context (read by [`propagation`]).
//! - [`client`]: every outgoing call gets a CLIENT span, and the caller's
//!   context travels in B3 headers (written by [`propagation`]).
//! - [`zipkin`]: finished spans are batched and POSTed to Zipkin's v2 API,
//!   each naming its service, so Zipkin can list services and draw links.
//! - [`Telemetry`]: ties the tracer, the sampler ([`sampling`]) and the log
//!   output together at start-up, and flushes the last spans at shutdown.
//!
//! [`config`] reads the environment, [`reply`] shapes the JSON answers, and
//! [`faults`] lets a request ask a service to fail or slow down.

pub mod client;
pub mod config;
pub mod faults;
pub mod propagation;
pub mod reply;
pub mod sampling;
pub mod server;
mod setup;
pub mod zipkin;

pub use client::{Downstream, DownstreamClient, DownstreamError};
pub use config::{ConfigError, ServiceConfig};
pub use faults::Faults;
pub use reply::Reply;
pub use setup::{Telemetry, TelemetryError, current_trace_id};
