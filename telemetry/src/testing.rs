//! What the crate's own tests share: a subscriber like the one
//! `Telemetry::init` installs (the OpenTelemetry layer, the default
//! sampler, the joining id generator) whose spans are kept for the test to
//! read, and the SERVER-span layer.

use std::sync::{Arc, Mutex};

use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SimpleSpanProcessor, SpanData, SpanExporter},
};
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;

use crate::{
    TelemetryConfig,
    config::Propagators,
    sampling::Sampler,
    server::{TelemetryLayer, Tracing},
    setup::{spans_layer, tracer_provider},
};

/// Every span finished under [`subscriber`], in the order they ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct FinishedSpans(Arc<Mutex<Vec<SpanData>>>);

impl FinishedSpans {
    pub(crate) fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap().clone()
    }
}

impl SpanExporter for FinishedSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// A subscriber that sends its spans, as they end, to `kept`.
pub(crate) fn subscriber(kept: &FinishedSpans) -> impl Subscriber + Send + Sync {
    let config = TelemetryConfig::from_vars("api_01", |_| None).unwrap();
    let provider = tracer_provider(&config, Sampler::new(&config.sampler))
        .with_span_processor(SimpleSpanProcessor::new(kept.clone()))
        .build();
    tracing_subscriber::registry().with(spans_layer(&provider))
}

/// The SERVER-span layer with the default sampler, join on or off.
pub(crate) fn layer(b3_join: bool) -> TelemetryLayer {
    layer_reading(b3_join, Propagators::default())
}

/// The SERVER-span layer with the default sampler, reading `propagators`.
pub(crate) fn layer_reading(b3_join: bool, propagators: Propagators) -> TelemetryLayer {
    let config = TelemetryConfig::from_vars("api_01", |_| None).unwrap();
    TelemetryLayer::new(Tracing {
        sampler: Some(Sampler::new(&config.sampler)),
        b3_join,
        propagators,
    })
}
