//! The client side: a call to another service runs in a CLIENT span, and the
//! trace context travels with it in B3 headers.
//!
//! Written here rather than with `reqwest-middleware` + `reqwest-tracing`:
//! `reqwest-tracing` supports OpenTelemetry only up to 0.32, and its span
//! would lack `peer.service` (Zipkin draws the dependency graph by it) and
//! the B3 parent header.

use axum::http::{HeaderMap, Method};
use opentelemetry::trace::TraceContextExt;
use reqwest::{RequestBuilder, Response, Url};
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{describe, propagation, request};

/// Sends `request` to the service named `peer_service`, in a CLIENT span
/// (a child of the current span) whose context goes with it in B3 headers.
///
/// The span records the status code; a call that gets no answer, or a
/// status of 400 or more, marks it failed, with `error.type` `timeout`,
/// `connection`, `request` or the status code, and so does a call dropped
/// before its answer (`cancelled`). It ends when the answer's headers are
/// in: read the body after.
pub async fn send(request: RequestBuilder, peer_service: &str) -> reqwest::Result<Response> {
    let (client, request) = request.build_split();
    let mut request = request?;
    let (method, url) = (request.method().clone(), request.url().clone());
    let span = start_call(&method, &url, peer_service, request.headers_mut());
    let mut unanswered = Unanswered(Some(&span));
    let outcome = client.execute(request).instrument(span.clone()).await;
    unanswered.0 = None;
    match &outcome {
        Ok(response) => {
            let status = response.status();
            span.record("http.response.status_code", status.as_u16());
            if status.is_client_error() || status.is_server_error() {
                fail(&span, status.as_str(), &format!("answered {status}"));
            }
        }
        Err(error) => {
            let error_type = if error.is_timeout() {
                "timeout"
            } else if error.is_connect() {
                "connection"
            } else {
                "request"
            };
            fail(&span, error_type, &describe(error));
        }
    }
    outcome
}

/// Marks the CLIENT span failed if the call is dropped before its answer:
/// the request it served was cancelled (its own client went away, or its
/// time limit ran out). Without this, Zipkin would show an ordinary call.
struct Unanswered<'a>(Option<&'a tracing::Span>);

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(span) = self.0 {
            fail(
                span,
                "cancelled",
                "the call was cancelled before its answer",
            );
        }
    }
}

fn fail(span: &tracing::Span, error_type: &str, message: &str) {
    span.record("otel.status_code", "error");
    span.record("otel.status_description", message);
    span.record("error.type", error_type);
}

/// Starts the CLIENT span of a call, a child of the current span, and
/// writes the headers that carry its context to the callee into `headers`.
pub(crate) fn start_call(
    method: &Method,
    url: &Url,
    peer_service: &str,
    headers: &mut HeaderMap,
) -> tracing::Span {
    let span = tracing::info_span!(
        "call",
        otel.name = method.as_str(),
        otel.kind = "client",
        http.request.method = method.as_str(),
        url.full = url.as_str(),
        server.address = url.host_str(),
        server.port = url.port_or_known_default(),
        peer.service = peer_service,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        error.type = Empty,
    );
    match request::unrecorded_call() {
        Some(b3) => b3.write(headers),
        None => {
            // The current span (the SERVER span, usually; the CLIENT span is
            // not entered yet) is its parent: B3 sends it as X-B3-ParentSpanId.
            let parent = tracing::Span::current().context();
            let parent_span_id = parent.span().span_context().span_id();
            propagation::inject(
                span.context().span().span_context(),
                parent_span_id,
                headers,
            );
        }
    }
    span
}
