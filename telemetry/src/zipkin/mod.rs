//! Spans to Zipkin: the project's own batch processor and Zipkin v2 exporter.
//!
//! Why not `opentelemetry-zipkin`'s exporter: in 0.33 it sends an empty
//! `localEndpoint` (no `serviceName`), never a `remoteEndpoint`, a `parentId`
//! of zeros on root spans and durations of 0 µs, so Zipkin can neither list
//! our services nor draw the links between them. `model.rs` maps spans the
//! way the OpenTelemetry specification says instead.
//!
//! - `ZipkinProcessor` (`batch.rs`): the thread that uploads batches of
//!   spans, with its own runtime, and retries the uploads that fail for a
//!   reason that may pass (why not the SDK's batch processor is said there).
//! - `queue.rs`: the spans held, bounded in total; which are dropped when
//!   it is full (the newest, whole traces at a time), and why.
//! - `retry.rs`: which failures are tried again, and the pause before.
//! - `account.rs`: what became of every span, logged at a bounded rate.
//! - `model.rs`: a span in Zipkin's v2 JSON.
//!
//! A Zipkin that is down or slow never hurts serving: nothing on the request
//! path waits for it, what is held is bounded, and each upload has a timeout.

mod account;
mod batch;
mod model;
mod queue;
mod retry;

pub(crate) use batch::ZipkinProcessor;
pub(crate) use model::{PEER_SERVICE, write_spans};
