//! Spans to Zipkin, or to any OTLP receiver, from any OpenTelemetry SDK
//! pipeline: [`ExportProcessor`] is a `SpanProcessor` that holds finished
//! spans in a bounded queue, uploads them in batches from a thread of its
//! own, tries again the uploads that fail for a reason that may pass, and
//! accounts for every span. Its wire format is an [`Encoding`]:
//! [`ZipkinJson`] writes Zipkin's v2 JSON, [`Otlp`] OTLP over HTTP.
//!
//! ```no_run
//! use opentelemetry::trace::{Tracer, TracerProvider};
//! use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
//! use span_export::{BatchConfig, ExportProcessor, ZipkinJson};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = "http://localhost:9411/api/v2/spans".parse()?;
//! let processor = ExportProcessor::start(endpoint, ZipkinJson, BatchConfig::default())?;
//! let provider = SdkTracerProvider::builder()
//!     // Zipkin lists the service by this name.
//!     .with_resource(Resource::builder().with_service_name("checkout").build())
//!     .with_span_processor(processor)
//!     .build();
//! provider.tracer("checkout").in_span("GET /", |_| {});
//! // The last spans go out before it returns (each upload bounded).
//! provider.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! What it promises:
//!
//! - **Serving never waits for the receiver.** `on_end` only pushes the
//!   span into the queue; uploads run on the processor's own thread and
//!   runtime, each bounded by `upload_timeout`.
//! - **Memory is bounded.** The queue's bound counts every span held,
//!   including those waiting to be tried again. When it is full, the
//!   newest spans are dropped, each with the rest of its trace
//!   (`queue.rs` says why).
//! - **A failure that may pass costs no span** while the queue has room:
//!   no answer, and the statuses the wire format names (Zipkin's `408`,
//!   `429`, `502`, `503`, `504`), are tried again with exponential backoff
//!   and jitter, honouring `Retry-After` (`retry.rs`).
//! - **Every span is accounted for**: exported, dropped or lost, logged
//!   while it happens at a bounded rate, and in full at the stop
//!   (`account.rs`).
//! - **How full the queue is can be read at any time**, through
//!   [`ExportProcessor::queue_gauge`].
//!
//! The modules, each one concern: `config` (the settings), `processor`
//! (the batch thread), `queue`, `retry`, `account`, `encoding` (the wire
//! format's interface), `zipkin` (Zipkin's v2 JSON), `otlp` (OTLP over
//! HTTP), `hex` (ids as text).

mod account;
mod config;
mod encoding;
mod hex;
mod otlp;
mod processor;
mod queue;
mod retry;
pub mod zipkin;

#[cfg(test)]
mod testing;

// For the fuzz targets (`fuzz_checks`) only; not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use config::{BatchConfig, Endpoint};
pub use encoding::{Encoding, Rejected};
pub use hex::HexId;
pub use otlp::Otlp;
pub use processor::{ExportProcessor, QueueGauge};
pub use zipkin::ZipkinJson;
