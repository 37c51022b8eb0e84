//! The project's own Zipkin v2 exporter.
//!
//! Why not `opentelemetry-zipkin`'s exporter: in 0.33 it sends an empty
//! `localEndpoint` (no `serviceName`), never a `remoteEndpoint`, a `parentId`
//! of zeros on root spans and durations of 0 µs, so Zipkin can neither list
//! our services nor draw the links between them. [`model`] maps spans the way
//! the OpenTelemetry specification says instead.
//!
//! Where the upload runs: the SDK's batch processor calls `export` on a
//! thread of its own, which has no Tokio reactor, so an async `reqwest` call
//! made there would panic. Instead `export` hands the POST to the service's
//! own Tokio runtime (a [`Handle`] taken at start-up) and the batch thread
//! merely waits for the result. No blocking client is built, so nothing
//! panics when it is dropped inside `#[tokio::main]` either.
//!
//! A Zipkin that is down or slow must never hurt serving: the batch
//! processor's queue is bounded (spans beyond it are dropped, not buffered
//! forever), each upload has a timeout, and failures are logged at a bounded
//! rate with a count of the spans lost, instead of one line per batch.

pub mod model;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry::{Key, Value};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};
use reqwest::header::CONTENT_TYPE;
use tokio::runtime::Handle;

use crate::describe;

pub use model::{ZipkinSpan, trace_id_hex};

/// The longest one upload may take; it also bounds the final flush at shutdown.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one log line per this period while uploads keep failing.
pub const FAILURE_LOG_PERIOD: Duration = Duration::from_secs(10);

/// Sends finished spans to Zipkin's `POST /api/v2/spans`.
#[derive(Debug)]
pub struct ZipkinExporter {
    endpoint: String,
    http: reqwest::Client,
    runtime: Handle,
    service_name: String,
    failures: Arc<FailureLog>,
}

impl ZipkinExporter {
    /// An exporter that uploads to `endpoint` from `runtime`.
    pub fn new(endpoint: impl Into<String>, runtime: Handle) -> Result<Self, reqwest::Error> {
        Ok(Self {
            endpoint: endpoint.into(),
            http: reqwest::Client::builder().timeout(UPLOAD_TIMEOUT).build()?,
            runtime,
            // Replaced by the provider's resource (see `set_resource`).
            service_name: "unknown_service".into(),
            failures: Arc::default(),
        })
    }
}

impl SpanExporter for ZipkinExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let spans: Vec<ZipkinSpan> = batch
            .iter()
            .map(|span| ZipkinSpan::from_span_data(span, &self.service_name))
            .collect();
        let span_count = spans.len();
        let request = serde_json::to_vec(&spans).map(|body| {
            self.http
                .post(&self.endpoint)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
        });
        let upload = self.runtime.spawn(async move {
            let response = request.map_err(|error| error.to_string())?.send().await;
            match response.and_then(reqwest::Response::error_for_status) {
                Ok(_) => Ok(()),
                Err(error) => Err(describe(&error)),
            }
        });
        let failures = self.failures.clone();
        async move {
            let outcome = match upload.await {
                Ok(outcome) => outcome,
                Err(join_error) => Err(format!("upload task ended early: {join_error}")),
            };
            failures.record(outcome, span_count);
            // Failures are logged above, at a bounded rate. The SDK's only
            // use of an error here would be one more log line per batch.
            Ok(())
        }
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.failures.report_pending();
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(Value::String(name)) = resource.get(&Key::from_static_str("service.name")) {
            self.service_name = name.to_string();
        }
    }
}

/// Export failures, logged at most once per [`FAILURE_LOG_PERIOD`] with the
/// number of spans lost since the previous line.
#[derive(Debug, Default)]
struct FailureLog {
    state: Mutex<FailureState>,
}

#[derive(Debug, Default)]
struct FailureState {
    last_logged: Option<Instant>,
    spans_lost_unlogged: u64,
    spans_lost_total: u64,
    failing: bool,
}

impl FailureLog {
    fn record(&self, outcome: Result<(), String>, span_count: usize) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match outcome {
            Ok(()) if state.failing => {
                state.failing = false;
                tracing::info!(
                    spans_lost_total = state.spans_lost_total,
                    "span export to Zipkin works again"
                );
                state.spans_lost_unlogged = 0;
            }
            Ok(()) => {}
            Err(error) => {
                tracing::debug!(%error, spans_lost = span_count, "span upload failed");
                state.failing = true;
                state.spans_lost_unlogged += span_count as u64;
                state.spans_lost_total += span_count as u64;
                let due = state
                    .last_logged
                    .is_none_or(|last| last.elapsed() >= FAILURE_LOG_PERIOD);
                if due {
                    tracing::warn!(
                        %error,
                        spans_lost = state.spans_lost_unlogged,
                        spans_lost_total = state.spans_lost_total,
                        "span export to Zipkin failed; spans were dropped \
                         (next report in {}s at the earliest)",
                        FAILURE_LOG_PERIOD.as_secs()
                    );
                    state.last_logged = Some(Instant::now());
                    state.spans_lost_unlogged = 0;
                }
            }
        }
    }

    /// Logs losses not yet reported, so a shutdown never hides them.
    fn report_pending(&self) {
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.spans_lost_unlogged > 0 {
            tracing::warn!(
                spans_lost = state.spans_lost_unlogged,
                spans_lost_total = state.spans_lost_total,
                "span export to Zipkin failed; spans were dropped"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, body::Bytes, routing::post};
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
    use tokio::sync::mpsc;

    /// The SDK's batch processor calls `export` on its own thread, which has
    /// no Tokio reactor. The upload must still succeed (it runs on the
    /// runtime), and nothing may panic when the provider is shut down and
    /// dropped inside the runtime, as a service's `main` does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_batch_thread_uploads_through_the_runtime_without_panicking() {
        let (uploads, mut received) = mpsc::unbounded_channel::<Bytes>();
        let app = Router::new().route(
            "/api/v2/spans",
            post(move |body: Bytes| async move {
                let _ = uploads.send(body);
                axum::http::StatusCode::ACCEPTED
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/api/v2/spans", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let exporter = ZipkinExporter::new(endpoint, Handle::current()).unwrap();
        let provider = SdkTracerProvider::builder()
            .with_resource(
                Resource::builder_empty()
                    .with_service_name("api_test")
                    .build(),
            )
            .with_span_processor(BatchSpanProcessor::builder(exporter).build())
            .build();
        provider.tracer("test").start("GET /").end();

        // As `Telemetry::shutdown` does: wait for the flush off the workers.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown());
        flushed.await.unwrap().unwrap();

        let body = received
            .try_recv()
            .expect("the span was uploaded before shutdown returned");
        let spans: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(spans[0]["name"], "GET /");
        assert_eq!(spans[0]["localEndpoint"]["serviceName"], "api_test");
    }

    #[test]
    fn failures_are_counted_and_reported_at_a_bounded_rate() {
        let log = FailureLog::default();
        for _ in 0..5 {
            log.record(Err("connection refused".into()), 9);
        }
        let state = log.state.lock().unwrap();
        assert_eq!(state.spans_lost_total, 45);
        // The first failure was reported at once; the next four wait for the period.
        assert_eq!(state.spans_lost_unlogged, 36);
        assert!(state.failing);
        drop(state);
        log.record(Ok(()), 9);
        assert!(!log.state.lock().unwrap().failing);
    }
}
