//! The one thing a wire format must do for the span batch: write a batch
//! of spans as the body of one upload. Zipkin's v2 JSON is one
//! ([`crate::ZipkinJson`]); another format is one more implementation,
//! with the same queue, retries and account.

use opentelemetry_sdk::{Resource, trace::SpanData};

/// A wire format for uploads.
pub trait Encoding: Send + Sync + 'static {
    /// The body's `Content-Type`.
    fn content_type(&self) -> &'static str;

    /// Appends `spans`, of the service `resource` describes, to `body`.
    fn encode(&self, spans: &[SpanData], resource: &Resource, body: &mut Vec<u8>);
}
