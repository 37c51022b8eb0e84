//! What the reference programs share: a span processor that takes every
//! finished span and drops it, so that a measure stops where export would
//! begin.

use std::hint::black_box;

use opentelemetry::Context;
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{Span, SpanData, SpanProcessor},
};

/// Takes every finished span, and drops it.
#[derive(Debug)]
pub struct Drop;

impl SpanProcessor for Drop {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
}
