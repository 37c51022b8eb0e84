//! Serving a demo service: its routes, traced, each request under a time
//! limit, plus an untraced health check and metrics; every connection
//! under the limits of the `serving` crate; until SIGTERM or Ctrl-C; then
//! the requests in flight finish and the last spans are flushed.
//!
//! A service may also answer some requests in front of all that, before
//! any span exists ([`Front`]): api_01's page for a browser is one, and the
//! relay its page posts its own spans to is another.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
    routing::get,
};
use serving::{HEALTH_PATH, RequestTimeoutLayer};
use telemetry::Telemetry;
use tokio::net::TcpListener;

use crate::{
    Settings,
    metrics::{self, METRICS_PATH},
};

/// Answers that a service gives in front of tracing: a request it answers
/// (`Some`) makes no span, no trace and no call downstream; any other
/// (`None`) goes on to the traced routes unchanged. Routes of its own
/// ([`with_routes`](Self::with_routes)) are served untraced too.
#[derive(Clone)]
pub struct Front {
    answer: Arc<Answer>,
    routes: Router,
}

/// The answer to a request, or `None` to let it through.
type Answer = dyn Fn(&Request) -> Option<Response> + Send + Sync;

impl Front {
    pub fn new(answer: impl Fn(&Request) -> Option<Response> + Send + Sync + 'static) -> Self {
        Self {
            answer: Arc::new(answer),
            routes: Router::new(),
        }
    }

    /// Also serves `routes` outside the traced routes: a request to them
    /// makes no span.
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }
}

/// Serves `app` as the service `settings` describe, until SIGTERM or
/// Ctrl-C; then lets requests in flight finish and flushes the spans.
pub async fn serve(settings: &Settings, app: Router, telemetry: Telemetry) -> anyhow::Result<()> {
    let app = traced(settings, app, &telemetry);
    serve_routes(settings, app, telemetry).await
}

/// [`serve`], with `front` answering first, outside the traced routes.
pub async fn serve_with_front(
    settings: &Settings,
    front: Front,
    app: Router,
    telemetry: Telemetry,
) -> anyhow::Result<()> {
    // The front's routes first, untraced; anything else goes to the traced
    // routes, whose own fallback (a traced 404) stays theirs. (Merging the
    // two would keep the untraced router's default fallback: an unknown
    // path would make no span.) The answer is the outermost layer: it
    // runs before the tracing middleware, so a request it answers is never
    // seen by it.
    let app = front
        .routes
        .fallback_service(traced(settings, app, &telemetry))
        .layer(middleware::from_fn_with_state(
            front.answer,
            answer_in_front,
        ));
    serve_routes(settings, app, telemetry).await
}

/// `app` traced and under the request time limit, plus the health check
/// and the metrics.
fn traced(settings: &Settings, app: Router, telemetry: &Telemetry) -> Router {
    let queue = telemetry.queue_gauge();
    // The time limit sits inside the SERVER span, so a request cut off by
    // it is traced with its 503. The health check and the metrics are
    // added after the tracing layer: probes and scrapes never flood Zipkin.
    app.layer(RequestTimeoutLayer::new(settings.request_timeout))
        .layer(telemetry.layer())
        .route(HEALTH_PATH, get(|| async { "ok" }))
        .route(
            METRICS_PATH,
            get(move || std::future::ready(metrics::answer(queue.as_ref()))),
        )
}

async fn answer_in_front(
    State(answer): State<Arc<Answer>>,
    request: Request,
    next: Next,
) -> Response {
    match answer(&request) {
        Some(answer) => answer,
        None => next.run(request).await,
    }
}

async fn serve_routes(
    settings: &Settings,
    app: Router,
    telemetry: Telemetry,
) -> anyhow::Result<()> {
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
