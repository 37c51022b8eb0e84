//! Serving a demo service: its routes, traced, each request under a time
//! limit, plus an untraced health check; every connection under the limits
//! of the `serving` crate; until SIGTERM or Ctrl-C; then the requests in
//! flight finish and the last spans are flushed.

use axum::{Router, routing::get};
use serving::{HEALTH_PATH, RequestTimeoutLayer};
use telemetry::Telemetry;
use tokio::net::TcpListener;

use crate::Settings;

/// Serves `app` as the service `settings` describe, until SIGTERM or
/// Ctrl-C; then lets requests in flight finish and flushes the spans.
pub async fn serve(settings: &Settings, app: Router, telemetry: Telemetry) -> anyhow::Result<()> {
    // The time limit sits inside the SERVER span, so a request cut off by
    // it is traced with its 503. The health check is added after the
    // tracing layer: probes never flood Zipkin.
    let app = app
        .layer(RequestTimeoutLayer::new(settings.request_timeout))
        .layer(telemetry.layer())
        .route(HEALTH_PATH, get(|| async { "ok" }));
    let listener = TcpListener::bind(settings.listen_addr()).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    settings.warn_of_a_short_request_timeout();
    let served = serving::serve(
        listener,
        app,
        settings.connection_limits,
        serving::shutdown_signal(),
    )
    .await;
    tracing::info!("requests in flight are done");
    // Without this, the spans of the last requests would be lost.
    telemetry.shutdown().await;
    Ok(served?)
}

/// True when the program was started as `<service> healthcheck`.
pub fn healthcheck_requested() -> bool {
    std::env::args().nth(1).as_deref() == Some("healthcheck")
}

/// The container's probe: asks the service on this machine at `PORT` for
/// its health (see [`serving::healthcheck`]).
pub fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    Ok(serving::healthcheck(settings.port)?)
}
