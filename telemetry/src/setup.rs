//! Start-up and shutdown of telemetry: one call wires the tracer, the
//! sampler, the exporter (Zipkin's v2 JSON or OTLP) and the log output, and the returned guard
//! flushes what is left when the service stops.
//!
//! `tracing` is the API the code uses (spans and log events); the
//! `tracing-opentelemetry` layer turns its spans into OpenTelemetry spans,
//! which the SDK samples and hands to `span_export`'s processor to batch and
//! upload.

use std::time::Duration;

use axum::Router;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    Resource,
    trace::{SdkTracerProvider, TracerProviderBuilder},
};
use span_export::{BatchConfig, Endpoint, ExportProcessor, QueueGauge, ZipkinJson};
use tracing::{Level, subscriber::Interest};
use tracing_subscriber::{
    Layer,
    filter::{DynFilterFn, LevelFilter},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::{
    TelemetryConfig,
    ends_at_close::EndsAtClose,
    exporter::TracesExporter,
    log_lines::log_lines,
    propagation,
    request::{self, JoiningIdGenerator, RequestSampler},
    sampling::Sampler,
    server::{TelemetryLayer, Tracing},
};

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("could not build the HTTP client for span export: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("a global tracing subscriber is already installed: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// The running telemetry. Keep it until the server has stopped, then call
/// [`Telemetry::shutdown`].
#[must_use = "dropping the guard without `shutdown` loses the last spans"]
pub struct Telemetry {
    /// `None` when telemetry is disabled (`OTEL_SDK_DISABLED=true`).
    provider: Option<SdkTracerProvider>,
    layer: TelemetryLayer,
    /// How long the last upload may take.
    upload_timeout: Duration,
    /// How full the exporter's queue is; `None` with no exporter.
    queue: Option<QueueGauge>,
}

impl Telemetry {
    /// Installs the global `tracing` subscriber: log lines to stdout,
    /// filtered by `RUST_LOG` (default `info`), and spans to Zipkin.
    /// Call it once.
    pub fn init(config: &TelemetryConfig) -> Result<Self, TelemetryError> {
        if config.disabled {
            tracing_subscriber::registry()
                .with(log_lines())
                .try_init()?;
            tracing::info!("telemetry disabled (OTEL_SDK_DISABLED): no spans, no trace headers");
            return Ok(Self {
                provider: None,
                layer: TelemetryLayer::new(Tracing {
                    sampler: None,
                    b3_join: config.b3_join,
                    propagators: config.propagators,
                }),
                upload_timeout: config.batch.upload_timeout,
                queue: None,
            });
        }
        // One sampler: the SERVER-span layer decides with it, and the SDK
        // asks it for every span (see `sampling.rs`).
        let sampler = Sampler::new(&config.sampler);
        propagation::install(config.propagators);
        let batch = export_batch(config);
        let processor = export_processor(config)?;
        let queue = processor.as_ref().map(ExportProcessor::queue_gauge);
        let mut provider = tracer_provider(config, sampler.clone());
        // With no exporter (`none`), spans are still made and sampled, and
        // their context sent on: the services around keep whole traces.
        if let Some(processor) = processor {
            provider = provider.with_span_processor(processor);
        }
        let provider = provider.build();
        tracing_subscriber::registry()
            .with(spans_layer(&provider))
            .with(log_lines())
            .try_init()?;
        // Where the spans go, said once: a wrong endpoint shows at the start.
        match &config.exporter {
            TracesExporter::Zipkin => {
                tracing::info!(endpoint = %config.zipkin_endpoint, "spans to Zipkin")
            }
            TracesExporter::Otlp(otlp) => tracing::info!(
                endpoint = %otlp.endpoint,
                protocol = ?otlp.protocol,
                gzip = otlp.gzip,
                "spans over OTLP"
            ),
            TracesExporter::None => {
                tracing::info!("spans not exported (OTEL_TRACES_EXPORTER=none)")
            }
        }
        Ok(Self {
            provider: Some(provider),
            layer: TelemetryLayer::new(Tracing {
                sampler: Some(sampler),
                b3_join: config.b3_join,
                propagators: config.propagators,
            }),
            upload_timeout: batch.upload_timeout,
            queue,
        })
    }

    /// How full the span exporter's queue is, read at any time; `None` when
    /// nothing is exported (`OTEL_TRACES_EXPORTER=none`, or telemetry
    /// disabled).
    pub fn queue_gauge(&self) -> Option<QueueGauge> {
        self.queue.clone()
    }

    /// The tower layer that runs every request in a SERVER span, in the
    /// caller's trace when it sent one (see [`TelemetryLayer`]).
    pub fn layer(&self) -> TelemetryLayer {
        self.layer.clone()
    }

    /// `routes.layer(self.layer())`: every request to these routes runs in a
    /// SERVER span. Routes added to the router afterwards, such as a health
    /// check, are not traced.
    pub fn instrument(&self, routes: Router) -> Router {
        routes.layer(self.layer())
    }

    /// Exports the spans still queued, then stops the exporter. The
    /// subscriber does not do this itself: without it, the spans of the last
    /// requests before a shutdown would be lost.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The provider blocks until the final upload, which runs on this
        // runtime: wait on a blocking thread, not on a runtime worker.
        // The last uploads run at once, each bounded by the upload timeout.
        let limit = self.upload_timeout + Duration::from_secs(1);
        let outcome =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(limit)).await;
        match outcome {
            Ok(Ok(())) => tracing::info!("spans flushed; telemetry stopped"),
            Ok(Err(error)) => tracing::warn!(%error, "telemetry did not stop cleanly"),
            Err(error) => tracing::warn!(%error, "telemetry shutdown task failed"),
        }
    }
}

/// The span processor that `config` names, started: Zipkin's or OTLP's;
/// `None` with `OTEL_TRACES_EXPORTER=none`.
pub(crate) fn export_processor(
    config: &TelemetryConfig,
) -> Result<Option<ExportProcessor>, reqwest::Error> {
    let batch = export_batch(config);
    let processor = match &config.exporter {
        TracesExporter::Zipkin => {
            ExportProcessor::start(config.zipkin_endpoint.clone().into(), ZipkinJson, batch)?
        }
        TracesExporter::Otlp(otlp) => ExportProcessor::start(
            Endpoint {
                url: otlp.endpoint.clone(),
                headers: otlp.headers.clone(),
                gzip: otlp.gzip,
            },
            otlp.protocol,
            batch,
        )?,
        TracesExporter::None => return Ok(None),
    };
    Ok(Some(processor))
}

/// The span batch's settings. OTLP's timeout bounds each of its requests,
/// and an upload is one request: the smaller of it and
/// `OTEL_BSP_EXPORT_TIMEOUT` bounds each upload.
fn export_batch(config: &TelemetryConfig) -> BatchConfig {
    let mut batch = config.batch;
    if let TracesExporter::Otlp(otlp) = &config.exporter {
        batch.upload_timeout = batch.upload_timeout.min(otlp.timeout);
    }
    batch
}

/// The provider every span goes through, before its processor: this
/// service's name, `sampler`, and the id generator and sampler hooks that
/// hand a SERVER span its request's ids and decision (`request.rs`).
pub(crate) fn tracer_provider(config: &TelemetryConfig, sampler: Sampler) -> TracerProviderBuilder {
    SdkTracerProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .with_sampler(RequestSampler(sampler))
        .with_id_generator(JoiningIdGenerator::default())
}

/// The layer that turns `tracing` spans into OpenTelemetry spans.
pub(crate) fn spans_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    // Only INFO spans become OpenTelemetry spans, so the libraries' debug
    // spans never reach Zipkin, whatever `RUST_LOG` says; only warnings
    // and errors become span annotations, not every access-log line. And
    // nothing of a request the sampler left out (see `server.rs`).
    let exported_only =
        DynFilterFn::new(|metadata, _| is_exported(metadata) && !request::unrecorded())
            // The level is known per call site: decided once, not at every span.
            .with_callsite_filter(|metadata| {
                if is_exported(metadata) {
                    Interest::sometimes()
                } else {
                    Interest::never()
                }
            })
            // Said, not only done: without it the subscriber's highest level
            // is TRACE, and every `trace!` of hyper, reqwest and tokio asks
            // the subscriber before being thrown away.
            .with_max_level_hint(LevelFilter::INFO);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        .with_filter(exported_only);
    EndsAtClose(layer)
}

/// What goes to Zipkin: INFO spans and WARN events, at least.
fn is_exported(metadata: &tracing::Metadata<'_>) -> bool {
    let level = if metadata.is_span() {
        Level::INFO
    } else {
        Level::WARN
    };
    *metadata.level() <= level
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> TelemetryConfig {
        TelemetryConfig::from_vars("api_01", |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
        .unwrap()
    }

    #[test]
    fn an_otlp_upload_is_bounded_by_the_smaller_of_the_two_timeouts() {
        let upload = |vars: &[(&str, &str)]| export_batch(&config(vars)).upload_timeout;
        let ms = Duration::from_millis;
        // Zipkin: the batch's own bound, whatever OTLP's says.
        assert_eq!(upload(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "100")]), ms(5000));
        // OTLP's default (10 s) is above the batch's (5 s).
        assert_eq!(upload(&[("OTEL_TRACES_EXPORTER", "otlp")]), ms(5000));
        assert_eq!(
            upload(&[
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500")
            ]),
            ms(1500)
        );
        assert_eq!(
            upload(&[
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "20000"),
                ("OTEL_BSP_EXPORT_TIMEOUT", "7000")
            ]),
            ms(7000)
        );
    }
}
