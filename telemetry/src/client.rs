//! The client side: a call to another service runs in a CLIENT span, and the
//! trace context travels with it in the headers `OTEL_PROPAGATORS` lists
//! (B3 by default).
//!
//! Written here rather than with `reqwest-middleware` + `reqwest-tracing`:
//! `reqwest-tracing` supports OpenTelemetry only up to 0.32, and its span
//! would lack `peer.service` (Zipkin draws the dependency graph by it) and
//! the B3 parent header.

use axum::http::{HeaderMap, Method};
use log_report::describe;
use opentelemetry::trace::{SpanId, TraceContextExt};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, SERVER_ADDRESS, SERVER_PORT,
    URL_FULL,
};
use reqwest::{RequestBuilder, Response, Url};
use span_export::zipkin::PEER_SERVICE;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    config::Propagators,
    propagation::{self, B3, Ids, Sampling},
    request::{self, RequestTrace},
    sampling::Decision,
};

/// Sends `request` to the service named `peer_service`, in a CLIENT span
/// (a child of the current span) whose context goes with it in the headers
/// of the service's `OTEL_PROPAGATORS` (B3's `X-B3-*` by default).
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
    let span = start_call(
        &method,
        &url,
        peer_service,
        propagation::installed(),
        request.headers_mut(),
    );
    let mut cancelled = MarkCancelledIfDropped(Some(&span));
    // Not entered while the call runs (reqwest's own events are debug
    // ones): each exit of an entered span costs a clock read and a lock,
    // on every poll (4 % of a span). It ends when the answer's headers are
    // in, as it is dropped then.
    let outcome = client.execute(request).await;
    cancelled.0 = None;
    match &outcome {
        Ok(response) => {
            let status = response.status();
            span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
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
struct MarkCancelledIfDropped<'a>(Option<&'a tracing::Span>);

impl Drop for MarkCancelledIfDropped<'_> {
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
    span.record(ERROR_TYPE, error_type);
}

/// Starts the CLIENT span of a call, a child of the current span, and
/// writes the headers that carry its context to the callee, in the formats
/// `propagators` lists, into `headers`.
pub(crate) fn start_call(
    method: &Method,
    url: &Url,
    peer_service: &str,
    propagators: Propagators,
    headers: &mut HeaderMap,
) -> tracing::Span {
    let span = call_span(method, url, peer_service);
    propagation::write(&call_context(&span), propagators, headers);
    span
}

/// The CLIENT span of a call, with its HTTP attributes.
pub(crate) fn call_span(method: &Method, url: &Url, peer_service: &str) -> tracing::Span {
    tracing::info_span!(
        "call",
        otel.name = method.as_str(),
        otel.kind = "client",
        { HTTP_REQUEST_METHOD } = method.as_str(),
        { URL_FULL } = url.as_str(),
        { SERVER_ADDRESS } = url.host_str(),
        { SERVER_PORT } = url.port_or_known_default().map(i64::from),
        { PEER_SERVICE } = peer_service,
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        { ERROR_TYPE } = Empty,
    )
}

/// The context a call made in the CLIENT span `span` carries (as B3 knows
/// it: the richest of the formats).
fn call_context(span: &tracing::Span) -> B3 {
    if let Some(RequestTrace::Unrecorded(ids)) = request::current() {
        // Not recorded: its ids with a new span id, or only the decision
        // when it has none.
        return B3 {
            ids: ids.map(|(trace_id, server_span_id)| Ids {
                trace_id,
                span_id: RandomIdGenerator::default().new_span_id(),
                parent_span_id: Some(server_span_id),
            }),
            sampling: Sampling::Deny,
        };
    }
    // The current span (the CLIENT span is not entered) is its parent: B3
    // sends it as X-B3-ParentSpanId.
    let parent = tracing::Span::current().context();
    let parent_span_id = parent.span().span_context().span_id();
    let context = span.context();
    let call = context.span();
    let call = call.span_context();
    if !call.is_valid() {
        // OpenTelemetry is off for this span: nothing to pass on.
        return B3 {
            ids: None,
            sampling: Sampling::Defer,
        };
    }
    B3 {
        ids: Some(Ids {
            trace_id: call.trace_id(),
            span_id: call.span_id(),
            parent_span_id: (parent_span_id != SpanId::INVALID).then_some(parent_span_id),
        }),
        sampling: Decision::of(call).into(),
    }
}
