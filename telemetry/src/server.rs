//! The server side: [`TelemetryLayer`], a tower layer under which every
//! request runs in a SERVER span, in the caller's trace when the request
//! carries one.
//!
//! How a request's headers become its SERVER span's ids and decision is
//! `request.rs`, in the order it runs: this layer calls it, then records
//! the answer on the span and logs it.
//!
//! Written as a plain tower layer, not built on tower-http's `TraceLayer`:
//! the span's parent comes from our B3 reading, and one function shows the
//! whole life of the span. It fits an axum `Router` (`Router::layer`, so
//! that the route is known), a nested router, or any tower HTTP service.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    extract::MatchedPath,
    http::{Request, Response, StatusCode},
};
use opentelemetry_semantic_conventions::attribute::{
    HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_PATH,
};
use tower::{Layer, Service};
use tracing::{Instrument, field::Empty};

use crate::{config::Propagators, request, sampling::Sampler};

/// Runs every request of the service it wraps in a SERVER span, in the
/// caller's trace when the request carries one (B3 or W3C headers), and
/// logs one line per answer. Get it from [`crate::Telemetry::layer`].
///
/// Add it last (outermost) to a `Router`, after the routes it traces;
/// routes added after it (a health check, say) are not traced.
#[derive(Clone, Debug)]
pub struct TelemetryLayer {
    tracing: Arc<Tracing>,
}

/// How requests are traced.
#[derive(Debug)]
pub(crate) struct Tracing {
    /// `None` with `OTEL_SDK_DISABLED`: the span is only a context for log
    /// lines, and no trace headers are read.
    pub(crate) sampler: Option<Sampler>,
    pub(crate) b3_join: bool,
    /// `OTEL_PROPAGATORS`: the formats requests are read in.
    pub(crate) propagators: Propagators,
}

impl TelemetryLayer {
    pub(crate) fn new(tracing: Tracing) -> Self {
        Self {
            tracing: Arc::new(tracing),
        }
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            tracing: self.tracing.clone(),
        }
    }
}

/// A service whose requests run in SERVER spans (see [`TelemetryLayer`]).
#[derive(Clone, Debug)]
pub struct TelemetryService<S> {
    inner: S,
    tracing: Arc<Tracing>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TelemetryService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service made ready is the one to call; a clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(trace_request(self.tracing.clone(), request, inner))
    }
}

/// Serves one request in its SERVER span.
async fn trace_request<S, ReqBody, ResBody>(
    tracing: Arc<Tracing>,
    request: Request<ReqBody>,
    inner: S,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let Some(sampler) = &tracing.sampler else {
        let span = request_span(&request);
        return serve_in(span, request, inner).await;
    };
    let trace = request::begin(
        request.headers(),
        tracing.propagators,
        tracing.b3_join,
        sampler,
    );
    // Inside the request's scope from the start, so that the OpenTelemetry
    // layer already skips the SERVER span of a request left out.
    request::serve(trace, async move {
        let span = request_span(&request);
        request::build_server_span(&span, trace);
        serve_in(span, request, inner).await
    })
    .await
}

/// Serves `request` in `span`, records the outcome on it, and logs it.
async fn serve_in<S, ReqBody, ResBody>(
    span: tracing::Span,
    request: Request<ReqBody>,
    mut inner: S,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let started = std::time::Instant::now();
    let answered = async move { inner.call(request).await }
        .instrument(span.clone())
        .await;
    if let Ok(response) = &answered {
        record_answer(&span, response.status(), started.elapsed());
    }
    answered
}

/// Records the answer's `status` on the SERVER span `span`, and logs it
/// with the time the request took.
pub(crate) fn record_answer(span: &tracing::Span, status: StatusCode, elapsed: Duration) {
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    // In the span without entering it: an exit costs the OpenTelemetry
    // layer a clock read and a lock.
    tracing::info!(
        parent: span,
        status = status.as_u16(),
        elapsed_ms = elapsed.as_millis() as u64,
        "answered"
    );
    // A 4xx is the caller's mistake, not the service's: only 5xx marks a
    // SERVER span as failed (HTTP semantic conventions).
    if status.is_server_error() {
        span.record("otel.status_code", "error");
        span.record("otel.status_description", status.to_string());
    }
}

/// The SERVER span of `request`, with its HTTP attributes. (Its log lines
/// get the trace id from the request, `log_lines.rs`.)
pub(crate) fn request_span<B>(request: &Request<B>) -> tracing::Span {
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
    tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        { HTTP_REQUEST_METHOD } = method.as_str(),
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    )
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::{Router, body::Body, routing::get};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::testing::{self, FinishedSpans};

    /// The names of the spans of one request to `service`, served under a
    /// real subscriber.
    fn names_of_server_spans<S>(service: S) -> Vec<String>
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    {
        let kept = FinishedSpans::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let request = Request::get("/inner/stock").body(Body::empty()).unwrap();
        tracing::subscriber::with_default(testing::subscriber(&kept), || {
            runtime.block_on(service.oneshot(request)).unwrap();
        });
        kept.spans()
            .iter()
            .map(|span| span.name.to_string())
            .collect()
    }

    #[test]
    fn the_layer_fits_a_plain_tower_service() {
        let plain = ServiceBuilder::new()
            .layer(testing::layer(true))
            .service(service_fn(|_: Request<Body>| async {
                Ok::<_, Infallible>(Response::new(Body::empty()))
            }));
        // No router: no route to name the span by, only the method.
        assert_eq!(names_of_server_spans(plain), ["GET"]);
    }

    #[test]
    fn the_layer_fits_a_nested_router() {
        let inner = Router::new()
            .route("/stock", get(|| async { "ok" }))
            .layer(testing::layer(true));
        let app = Router::new().nest("/inner", inner);
        assert_eq!(names_of_server_spans(app), ["GET /inner/stock"]);
    }
}
