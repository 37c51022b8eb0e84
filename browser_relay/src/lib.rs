//! A same-origin relay for a page's spans: `POST /browser/spans` on the
//! service that serves the page, forwarded to the service's own Zipkin
//! (`OTEL_EXPORTER_ZIPKIN_ENDPOINT`).
//!
//! Why a relay, and not the page posting to Zipkin itself: the page then
//! needs no Zipkin address, Zipkin needs no CORS, and the page's
//! `Content-Security-Policy` keeps `connect-src 'self'`. It is the pattern
//! of the OpenTelemetry demo's front end (browser spans through a path on
//! its own proxy) and of zipkin-js's browser example (Zipkin's POST
//! endpoint mounted under the front-end server).
//!
//! A relay is an open door into Zipkin, so it lets through only what a
//! page's click span is (`page_span.rs` says each rule and why), and Zipkin gets
//! a span written again from the checked fields, never the posted bytes:
//!
//! | the post | the answer |
//! |---|---|
//! | tracing is off (`OTEL_SDK_DISABLED`) | `503` |
//! | past the flood limit (a burst of 30, then 10 a second, for the whole relay) | `429`, `Retry-After` |
//! | not `Content-Type: application/json`, or compressed | `415` |
//! | a body over 4 KiB | `413` |
//! | a body not all in within 2 s | `408` |
//! | not JSON, not a list, not exactly one span, or a span that breaks a rule | `400`, `{"error": ...}` saying what |
//! | more than 4 forwards already in flight | `503`, `Retry-After` |
//! | Zipkin did not take it (no answer in 5 s, or not `2xx`) | `502` (`504` for the time-out) |
//! | Zipkin took it | `202` |
//!
//! Each error is `{"error": "..."}`. A refused post reaches nothing and
//! costs no span: the relay is meant to be served in front of tracing (as
//! api_01 serves it), so its own requests are not traced.
//!
//! Why no retry: the report goes at once or not at all, and the page is
//! told which (it counts the unsent). Retrying here would hold each post
//! open, or need a queue of its own; the service's span batch, which does
//! retry, holds the service's own spans (OpenTelemetry's `SpanData`, each
//! written with this service's name), not spans of another service.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use browser_relay::BrowserRelay;
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let zipkin = "http://localhost:9411/api/v2/spans".parse()?;
//! // Merged after the traced routes' layer, so its posts make no span.
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .merge(BrowserRelay::new("checkout", Some(zipkin))?.router());
//! # Ok(app)
//! # }
//! ```
//!
//! `examples/relay.rs` serves a page that reports its own click through it.

mod bucket;
mod page_span;

// For the fuzz targets (`fuzz_checks`) only; not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use log_report::describe;

use bucket::TokenBucket;
pub use page_span::BROWSER_SERVICE;
use page_span::PageSpan;

/// The largest body taken: a click span is about 500 bytes.
pub const BODY_LIMIT: usize = 4 * 1024;
/// How long the whole body may take to arrive: a page sends it at once, so
/// a trickle is a client holding the relay open.
const BODY_TIME_LIMIT: Duration = Duration::from_secs(2);
/// The flood limit: posts at once, then a second, for the whole relay.
const BURST: u32 = 30;
const PER_SECOND: u32 = 10;
/// Forwards to Zipkin in flight at once.
const FORWARDS: usize = 4;
/// How long Zipkin may take to take a span.
const FORWARD_TIME_LIMIT: Duration = Duration::from_secs(5);

/// Why a relay could not be made: its HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("the relay's HTTP client: {0}")]
pub struct RelayError(String);

/// The relay of one service: [`router`](Self::router) serves it.
#[derive(Clone, Debug)]
pub struct BrowserRelay {
    relay: Arc<Relay>,
}

#[derive(Debug)]
struct Relay {
    /// The name a page's span must give as its remote endpoint.
    service_name: String,
    /// Where spans go; `None` when tracing is off.
    endpoint: Option<reqwest::Url>,
    http: reqwest::Client,
    bucket: Mutex<TokenBucket>,
    forwards: Semaphore,
}

impl BrowserRelay {
    /// The path a page posts its spans to.
    pub const PATH: &'static str = "/browser/spans";

    /// A relay in front of the service `service_name`, to the Zipkin at
    /// `zipkin_endpoint` (its `POST /api/v2/spans`); with `None` (tracing
    /// is off), every post is answered `503`.
    pub fn new(
        service_name: &str,
        zipkin_endpoint: Option<reqwest::Url>,
    ) -> Result<Self, RelayError> {
        let endpoint = zipkin_endpoint;
        let http = reqwest::Client::builder()
            .timeout(FORWARD_TIME_LIMIT)
            .build()
            .map_err(|error| RelayError(describe(&error)))?;
        Ok(Self {
            relay: Arc::new(Relay {
                service_name: service_name.to_owned(),
                endpoint,
                http,
                bucket: Mutex::new(TokenBucket::new(BURST, PER_SECOND)),
                forwards: Semaphore::new(FORWARDS),
            }),
        })
    }

    /// `POST` [`PATH`](Self::PATH). Serve it outside the traced routes
    /// (merge it after `telemetry`'s layer), or every report would make a
    /// span of its own.
    pub fn router(&self) -> Router {
        Router::new()
            .route(Self::PATH, post(relay))
            .with_state(self.relay.clone())
    }
}

/// A post the relay did not take: its status, why, and when to try again.
/// Answered as `{"error": message}`.
#[derive(Debug)]
struct Refused {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
}

fn refusal(status: StatusCode, message: impl Into<String>) -> Refused {
    Refused {
        status,
        message: message.into(),
        retry_after: None,
    }
}

impl Refused {
    fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(wait) = self.retry_after {
            // Whole seconds, at least one: what `Retry-After` can say.
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

async fn relay(State(relay): State<Arc<Relay>>, headers: HeaderMap, body: Body) -> Response {
    match handle(&relay, &headers, body).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

/// Each check in the order of the table in this module's documentation:
/// the cheapest first, so a flood is refused before its body is read.
async fn handle(relay: &Relay, headers: &HeaderMap, body: Body) -> Result<Response, Refused> {
    let Some(endpoint) = &relay.endpoint else {
        return Err(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "tracing is off in this service (OTEL_SDK_DISABLED)",
        ));
    };
    let taken = relay
        .bucket
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take(Instant::now());
    if let Err(wait) = taken {
        let message = format!("more than {BURST} reports at once or {PER_SECOND} a second");
        return Err(refusal(StatusCode::TOO_MANY_REQUESTS, message).retry_after(wait));
    }
    let body = accepted(&relay.service_name, headers, body, SystemTime::now()).await?;
    let Ok(_permit) = relay.forwards.try_acquire() else {
        let message = format!("{FORWARDS} reports are on their way to Zipkin already");
        return Err(
            refusal(StatusCode::SERVICE_UNAVAILABLE, message).retry_after(Duration::from_secs(1))
        );
    };
    forward(relay, endpoint, body).await
}

/// The checks of the post itself (its headers, its body, its span), for a
/// relay in front of `service_name`, at `now`; gives the body Zipkin gets.
/// Everything the client sends goes through here, and only here.
async fn accepted(
    service_name: &str,
    headers: &HeaderMap,
    body: Body,
    now: SystemTime,
) -> Result<Vec<u8>, Refused> {
    check_headers(headers)?;
    let bytes = read_body(body).await?;
    let spans = parse(&bytes)?;
    let checked = spans
        .check(service_name, now)
        .map_err(|why| refusal(StatusCode::BAD_REQUEST, format!("span {why}")))?;
    let mut body = Vec::with_capacity(bytes.len());
    span_export::zipkin::write_spans([checked], &mut body);
    Ok(body)
}

fn check_headers(headers: &HeaderMap) -> Result<(), Refused> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let identity = headers
        .get(header::CONTENT_ENCODING)
        .is_none_or(|value| value.as_bytes().eq_ignore_ascii_case(b"identity"));
    if !identity {
        return Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a compressed body is not taken",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    Ok(())
}

fn too_large() -> Refused {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is over {BODY_LIMIT} bytes"),
    )
}

/// The body, at most [`BODY_LIMIT`] bytes, all in within
/// [`BODY_TIME_LIMIT`]: a body sent without a length is cut at the limit
/// too.
async fn read_body(body: Body) -> Result<Bytes, Refused> {
    match tokio::time::timeout(BODY_TIME_LIMIT, axum::body::to_bytes(body, BODY_LIMIT)).await {
        Err(_) => Err(refusal(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {BODY_TIME_LIMIT:?}"),
        )),
        // `to_bytes` fails past the limit, or when the client's body breaks.
        Ok(Err(error)) if is_length_limit(&error) => Err(too_large()),
        Ok(Err(error)) => Err(refusal(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {error}"),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The body as exactly one span; each way it is not says so.
fn parse(bytes: &[u8]) -> Result<PageSpan, Refused> {
    let bad = |message: String| refusal(StatusCode::BAD_REQUEST, message);
    let value: Value =
        serde_json::from_slice(bytes).map_err(|error| bad(format!("not JSON: {error}")))?;
    let Value::Array(mut spans) = value else {
        return Err(bad("not a list of spans".into()));
    };
    if spans.len() != 1 {
        return Err(bad(format!(
            "a page reports one span at a time, not {}",
            spans.len()
        )));
    }
    serde_json::from_value(spans.remove(0))
        .map_err(|error| bad(format!("not a page's span: {error}")))
}

async fn forward(
    relay: &Relay,
    endpoint: &reqwest::Url,
    body: Vec<u8>,
) -> Result<Response, Refused> {
    let sent = relay
        .http
        .post(endpoint.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(answer) if answer.status().is_success() => {
            Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": 1 }))).into_response())
        }
        Ok(answer) => Err(refusal(
            StatusCode::BAD_GATEWAY,
            format!("Zipkin answered {}", answer.status()),
        )),
        Err(error) if error.is_timeout() => Err(refusal(
            StatusCode::GATEWAY_TIMEOUT,
            format!("Zipkin did not answer within {FORWARD_TIME_LIMIT:?}"),
        )),
        Err(error) => Err(refusal(
            StatusCode::BAD_GATEWAY,
            format!("Zipkin could not be reached: {}", describe(&error)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    fn relay(zipkin_endpoint: Option<&str>) -> Router {
        let endpoint = zipkin_endpoint.map(|url| url.parse().unwrap());
        BrowserRelay::new("api_01", endpoint).unwrap().router()
    }

    async fn post(router: Router, content_type: &str, body: &str) -> (StatusCode, Value) {
        let request = Request::post(BrowserRelay::PATH)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), BODY_LIMIT)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn with_tracing_off_every_post_is_a_503() {
        let router = relay(None);
        let (status, answer) = post(router, "application/json", "[]").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(answer["error"].as_str().unwrap().contains("tracing is off"));
    }

    #[tokio::test]
    async fn a_charset_is_fine_and_the_checks_answer_before_any_forward() {
        // Nothing listens at this endpoint: a refusal comes from the checks.
        let router = relay(Some("http://127.0.0.1:9/"));
        let (status, answer) = post(router, "application/json; charset=utf-8", "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(answer["error"], "not a list of spans");
    }
}
