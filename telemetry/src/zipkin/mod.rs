//! Spans to Zipkin: the project's own batch processor and Zipkin v2 exporter.
//!
//! Why not `opentelemetry-zipkin`'s exporter: in 0.33 it sends an empty
//! `localEndpoint` (no `serviceName`), never a `remoteEndpoint`, a `parentId`
//! of zeros on root spans and durations of 0 µs, so Zipkin can neither list
//! our services nor draw the links between them. `model.rs` maps spans the
//! way the OpenTelemetry specification says instead.
//!
//! - `ZipkinProcessor` (`batch.rs`): the bounded queue, and the thread that
//!   uploads batches of spans, with its own runtime (why not the SDK's batch
//!   processor is said there).
//! - `losses.rs`: spans that never reach Zipkin, counted and logged at a
//!   bounded rate.
//! - `model.rs`: a span in Zipkin's v2 JSON.
//!
//! A Zipkin that is down or slow never hurts serving: nothing on the request
//! path waits for it, the queue is bounded, and each upload has a timeout.

mod batch;
mod losses;
mod model;

pub(crate) use batch::ZipkinProcessor;
pub(crate) use model::{PEER_SERVICE, write_spans};

use losses::Losses;
