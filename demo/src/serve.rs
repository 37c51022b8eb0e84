//! Serving a demo service: its routes, traced, plus an untraced health
//! check; until SIGTERM or Ctrl-C; then the requests in flight finish and
//! the last spans are flushed. And the other end of the health check: the
//! probe a container runs (`api_01 healthcheck`), so the image needs no
//! shell or curl.

use std::time::Duration;

use axum::{Router, routing::get};
use telemetry::Telemetry;
use tokio::net::TcpListener;

use crate::Settings;

/// The path of the health check.
pub const HEALTH_PATH: &str = "/health";

/// Serves `app` as the service `settings` describe, until SIGTERM or
/// Ctrl-C; then lets requests in flight finish and flushes the spans.
pub async fn serve(settings: &Settings, app: Router, telemetry: Telemetry) -> anyhow::Result<()> {
    // The health check is added after instrumenting: probes never flood
    // Zipkin.
    let app = telemetry
        .instrument(app)
        .route(HEALTH_PATH, get(|| async { "ok" }));
    let listener = TcpListener::bind(settings.listen_addr()).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    tracing::info!("stopped accepting; requests in flight are done");
    // Without this, the spans of the last requests would be lost.
    telemetry.shutdown().await;
    Ok(served?)
}

/// Completes on Ctrl-C, or on SIGTERM (what `docker stop` sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}

/// True when the program was started as `<service> healthcheck`.
pub fn healthcheck_requested() -> bool {
    std::env::args().nth(1).as_deref() == Some("healthcheck")
}

/// Asks the service on this machine at `PORT` for its health: `Ok` when it
/// answers `200`, an error saying what happened otherwise (so the process
/// exits 1, as a container health check expects).
pub async fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{}{HEALTH_PATH}", settings.port);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let status = http.get(&url).send().await?.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}
