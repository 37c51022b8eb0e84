//! Serving an axum app so that slow, idle and too many clients cannot take
//! it down, and so that a stop loses nothing.
//!
//! `axum::serve` is deliberately simple: it has no header-read timeout, no
//! idle timeout and no connection cap, so a few thousand sockets that never
//! finish their headers hold a service's file descriptors until it can
//! accept no one (axum declined to change this: tokio-rs/axum#2741). This
//! crate serves the same `Router` with hyper's HTTP/1 connection directly,
//! and adds what a server facing real clients needs:
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use serving::{ConnectionLimits, RequestTimeoutLayer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     // Inside any tracing layer, so that its span records the 503.
//!     .layer(RequestTimeoutLayer::new(std::time::Duration::from_secs(15)));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! serving::serve(listener, app, ConnectionLimits::default(), serving::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! - [`ConnectionLimits`] (`limits.rs`): the header-read and idle timeouts and
//!   the connection cap, and the open-file limit the cap must stay under.
//! - [`serve`] (`serve.rs`): accepts connections up to the cap, and at the
//!   cap makes room by closing the connection that has waited longest for
//!   its client; stops on the shutdown future, letting requests finish.
//! - `connections.rs`: what each connection is doing, which is what its time
//!   limits and the choice of whom to close depend on.
//! - [`RequestTimeoutLayer`] (`request_timeout.rs`): a limit on a whole
//!   request, answered with a JSON `503`.
//! - `report.rs`: every connection closed by a limit is counted, and logged
//!   at a bounded rate.
//! - [`shutdown_signal`], [`HEALTH_PATH`] and [`healthcheck`] (`health.rs`):
//!   SIGTERM or Ctrl-C, and a container's health probe that needs no shell.

mod connections;
mod health;
mod limits;
mod report;
mod request_timeout;
mod serve;

pub use health::{HEALTH_PATH, healthcheck, shutdown_signal};
pub use limits::{ConnectionLimits, LimitsError};
pub use request_timeout::{RequestTimeout, RequestTimeoutLayer, TimedAnswer};
pub use serve::serve;
