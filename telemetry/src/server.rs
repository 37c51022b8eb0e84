//! The server side: every request to an instrumented router runs in a
//! SERVER span, in the caller's trace when the request carries one.
//!
//! A request that is not sampled skips OpenTelemetry entirely. The sampler
//! decides before any span exists, from the caller's context; the
//! OpenTelemetry layer's filter then passes none of the request's spans
//! (`request::unrecorded`), so they cost what logging costs, and its calls
//! pass the decision on (`request.rs`). Without this, the OpenTelemetry
//! layer did nearly all of a recorded span's work for every span it then
//! threw away.

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::Response,
};
use tracing::{Instrument, field::Empty};

use crate::{
    propagation,
    request::{self, RequestTrace},
    sampling::B3Sampler,
    zipkin::trace_id_hex,
};

/// How requests are traced (from [`crate::TelemetryConfig`]).
#[derive(Clone, Debug)]
pub(crate) struct Tracing {
    /// The sampler that decides each request; `None` with
    /// `OTEL_SDK_DISABLED`: the span is only a context for log lines, and no
    /// trace headers are read.
    pub sampler: Option<B3Sampler>,
    pub b3_join: bool,
}

pub(crate) fn instrument(routes: Router, tracing: Tracing) -> Router {
    routes.layer(middleware::from_fn_with_state(tracing, trace_request))
}

/// Runs one request inside its SERVER span. Written out rather than built
/// with tower-http's `TraceLayer`: the span's parent comes from our B3
/// extraction, and one plain function shows the whole life of the span.
async fn trace_request(State(tracing): State<Tracing>, request: Request, next: Next) -> Response {
    let Some(sampler) = tracing.sampler else {
        let span = request_span(&request);
        return serve_in(span, request, next).await;
    };
    let mut incoming = propagation::extract(request.headers(), tracing.b3_join);
    let trace = match incoming.decide(&sampler) {
        Some(trace_id) => RequestTrace::Recorded(trace_id),
        None => RequestTrace::Unrecorded(incoming.unrecorded_ids()),
    };
    // Inside the request's scope from the start, so that the OpenTelemetry
    // layer already skips the SERVER span of a request left out.
    request::serve(trace, async move {
        let span = request_span(&request);
        match trace {
            RequestTrace::Recorded(trace_id) => {
                incoming.continue_in(&span);
                span.record("trace_id", trace_id_hex(trace_id));
            }
            RequestTrace::Unrecorded(Some((trace_id, _))) => {
                span.record("trace_id", trace_id_hex(trace_id));
            }
            RequestTrace::Unrecorded(None) => {}
        }
        serve_in(span, request, next).await
    })
    .await
}

/// Serves `request` in `span`, records the outcome on it, and logs it.
async fn serve_in(span: tracing::Span, request: Request, next: Next) -> Response {
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

/// The SERVER span of `request`, with its HTTP attributes.
pub(crate) fn request_span(request: &Request) -> tracing::Span {
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
        http.request.method = method.as_str(),
        http.route = route,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        trace_id = Empty,
    )
}
