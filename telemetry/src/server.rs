//! The server side: every request to an instrumented router runs in a
//! SERVER span, in the caller's trace when the request carries one.

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::Response,
};
use tracing::{Instrument, field::Empty};

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{propagation, zipkin::trace_id_hex};

/// How the SERVER spans are made (from [`crate::TelemetryConfig`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tracing {
    /// Off with `OTEL_SDK_DISABLED`: the span is only a context for log
    /// lines, and no trace headers are read.
    pub enabled: bool,
    pub b3_join: bool,
}

pub(crate) fn instrument(routes: Router, tracing: Tracing) -> Router {
    routes.layer(middleware::from_fn_with_state(tracing, trace_request))
}

/// Runs one request inside its SERVER span. Written out rather than built
/// with tower-http's `TraceLayer`: the span's parent comes from our B3
/// extraction, and one plain function shows the whole life of the span.
async fn trace_request(State(tracing): State<Tracing>, request: Request, next: Next) -> Response {
    let span = request_span(&request, tracing);
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
pub(crate) fn request_span(request: &Request, tracing: Tracing) -> tracing::Span {
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
    if tracing.enabled {
        propagation::extract(request.headers(), tracing.b3_join).continue_in(&span);
        if let Some(trace_id) = span.in_scope(current_trace_id) {
            span.record("trace_id", trace_id);
        }
    }
    span
}

/// The trace id of the current span, as Zipkin shows it, if there is one.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| trace_id_hex(span_context.trace_id()))
}
