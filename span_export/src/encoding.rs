//! What a wire format decides for the span batch: how a batch of spans is
//! written as the body of one upload, which failed answers may pass if
//! sent again, and what a successful answer says of spans refused. Zipkin's
//! v2 JSON is one ([`crate::ZipkinJson`]), OTLP over HTTP another
//! ([`crate::Otlp`]); both share the queue, the retries and the account.

use opentelemetry_sdk::{Resource, trace::SpanData};
use reqwest::StatusCode;

/// A wire format for uploads, with its receiver's rules.
pub trait Encoding: Send + Sync + 'static {
    /// Who receives it, as log lines name it ("Zipkin").
    fn receiver(&self) -> &'static str;

    /// The body's `Content-Type`.
    fn content_type(&self) -> &'static str;

    /// Appends `spans`, of the service `resource` describes, to `body`.
    fn encode(&self, spans: &[SpanData], resource: &Resource, body: &mut Vec<u8>);

    /// Whether an answer with this status may succeed if sent again.
    fn is_transient(&self, status: StatusCode) -> bool;

    /// The spans a successful answer's `body` says were refused, with the
    /// receiver's reason. `None` when it took them all.
    fn rejected(&self, body: &[u8]) -> Option<Rejected> {
        let _ = body;
        None
    }

    /// The receiver's reason for a refusal, from the answer's `body`.
    fn refusal_text(&self, body: &[u8]) -> String {
        String::from_utf8_lossy(body).into_owned()
    }
}

/// Spans the receiver took the upload of, but did not keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub spans: u64,
    pub reason: String,
}
