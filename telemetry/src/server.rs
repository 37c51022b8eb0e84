//! The server side: a SERVER span for every request, a health check that is
//! not traced, and serving until a shutdown signal.

use std::{future::Future, io, net::SocketAddr};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::Response,
    routing::get,
};
use tokio::net::TcpListener;
use tracing::{Instrument, field::Empty};

use crate::{Telemetry, current_trace_id, propagation};

/// The path of the health check compose probes.
pub const HEALTH_PATH: &str = "/health";

/// Wraps a service's routes: each request to them gets a SERVER span, and
/// `GET /health` is added outside the span, so probes never flood Zipkin.
/// `b3_join`: see [`crate::ServiceConfig::b3_join`].
pub fn instrument(routes: Router, b3_join: bool) -> Router {
    routes
        .layer(middleware::from_fn_with_state(b3_join, trace_request))
        .route(HEALTH_PATH, get(|| async { "ok" }))
}

/// Runs one request inside its SERVER span. Written out rather than built
/// with tower-http's `TraceLayer`: the span's parent comes from our B3
/// extraction, and one plain function shows the whole life of the span.
async fn trace_request(State(b3_join): State<bool>, request: Request, next: Next) -> Response {
    let span = request_span(&request, b3_join);
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;

    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "answered"
        );
    });
    // A 4xx is the caller's mistake, not the service's: only 5xx marks a
    // SERVER span as failed (HTTP semantic conventions).
    if status.is_server_error() {
        span.record("otel.status_code", "error");
        span.record("otel.status_description", status.to_string());
    }
    response
}

/// The SERVER span of `request`, in the caller's trace when it sent one.
pub fn request_span(request: &Request, b3_join: bool) -> tracing::Span {
    let method = request.method();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    // Semantic conventions: "{method} {route}", or just the method when no
    // route matched (a 404 must not invent a route from the raw path).
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        trace_id = Empty,
    );
    propagation::extract(request.headers(), b3_join).continue_in(&span);
    if let Some(trace_id) = span.in_scope(current_trace_id) {
        span.record("trace_id", trace_id);
    }
    span
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests
/// in flight finish.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// What each service's `main` does: listen on `addr`, serve until SIGTERM or
/// Ctrl-C, then flush the last spans.
pub async fn serve(addr: SocketAddr, app: Router, telemetry: Telemetry) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let app = instrument(app, telemetry.b3_join);
    let served = run(listener, app, shutdown_signal()).await;
    tracing::info!("stopped accepting; requests in flight are done");
    telemetry.shutdown().await;
    served
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
