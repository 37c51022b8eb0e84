//! The end-to-end test harness: the three services as real processes on
//! loopback (our binaries, or the Python and zipkin-js peers), exporting to
//! Zipkin (the real server, or the project's stand-in: [`Zipkin`]), and
//! what Zipkin says it holds.
//!
//! Nothing here waits on luck:
//! - each service listens on a port the OS picks (`PORT=0`); the harness
//!   reads that port from the kernel's socket table, not from the log, and
//!   fails at once, with the log, if the process exits first ([`Service::start`]);
//! - every wait is for a condition, with a deadline;
//! - a port a test needs stays held until the test ends ([`RefusingPort`]);
//! - every process is killed when its [`Service`] is dropped.
//!
//! [`browser`] adds a real, headless Chromium for the tests of api_01's page,
//! and [`lens`] reads the UI the real Zipkin serves.

mod account;
pub mod browser;
mod clients;
mod collector;
mod endpoints;
pub mod fault_checks;
pub mod faults;
mod hops;
mod http;
pub mod lens;
pub mod page;
mod process;
mod spans;
mod stack;
pub mod wire;
mod zipkin;
pub mod zipkin_cluster;
mod zipkin_server;

pub use account::SpanAccount;
pub use clients::{StalledConnections, UNFINISHED_HEAD, idle_after_one_request, trickle};
pub use collector::Collector;
pub use endpoints::{HangingEndpoint, RefusingPort};
pub use hops::Hop;
pub use http::{fetch, http};
pub use process::{Program, Service, binaries, refused_at_start, workspace};
pub use spans::*;
pub use stack::{Api, CallStyle, EXIT_LIMIT, Implementation, SPANS_LIMIT, Stack, StackBuilder};
pub use wire::{Fault, Upload, Wire};
pub use zipkin::{Judge, Link, Links, Zipkin, next_millisecond};
