//! A small stand-in for Zipkin's server that speaks the part of its v2 HTTP
//! API the project needs, so that `cargo test` needs no Java; `.ci/run`
//! asks the real server the same questions (see `docs/tests.md`).
//!
//! - `POST /api/v2/spans`: a JSON array of spans. Like Zipkin, it refuses
//!   the whole upload (`400`, with the reason) when a span cannot be
//!   decoded, stores each span as Zipkin decodes and writes it (a 128-bit
//!   trace id whose high half is zero as 64 bits, names lowercased), and a
//!   span sent twice once. `POST /api/v1/spans` refuses v2 spans in
//!   Zipkin's words.
//! - `GET /api/v2/traces`, `GET /api/v2/trace/{id}`, `GET /api/v2/services`,
//!   `GET /api/v2/dependencies`: what arrived, shaped as Zipkin answers;
//!   `traces` and `dependencies` take Zipkin's time window (`endTs`,
//!   `lookback`, in milliseconds, over each span's start), and links, with
//!   their `callCount` and `errorCount`, come from Zipkin's span-tree and
//!   linker rules, re-implemented in [`zipkin_rules`].
//! - `POST /v1/traces`: OTLP over HTTP, a protobuf `ExportTraceServiceRequest`
//!   (`application/x-protobuf`), read in [`Mode::CountOnly`] only: its spans
//!   are counted as Zipkin spans are (service from the resource's
//!   `service.name`, kind in Zipkin's words), and the answer is OTLP's: `200`
//!   with an empty `ExportTraceServiceResponse`; `400` when the body does not
//!   decode (a gzipped body included: the stand-in does not inflate), `415`
//!   for another content type (OTLP's JSON). With [`Mode::KeepSpans`] it
//!   answers `501` ([`OTLP_NOT_STORED`]): the stand-in does not turn OTLP
//!   into Zipkin spans; the real Zipkin with its OTLP module is the judge
//!   of OTLP.
//! - `GET /stats`: how many spans and uploads arrived (Zipkin's and OTLP's
//!   together), and spans by service and kind; `GET /health`.
//!
//! With [`Mode::CountOnly`] it keeps only counts: the benchmark's sink,
//! where storing spans would cost more than the services being measured.

pub mod zipkin_rules;

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{KeyValue, any_value},
    trace::v1::span::SpanKind,
};
use prost::Message;
use serde_json::{Value, json};
use zipkin_rules::{Span, normalize_trace_id};

/// Whether the collector keeps spans or only counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    KeepSpans,
    CountOnly,
}

/// What Zipkin answers to v2 spans posted to its v1 endpoint (its
/// `ZipkinHttpCollector`), which the stand-in answers too. The real server
/// is asked the same in `.ci/run`, and must give these words.
pub const V1_REFUSAL: &str = "Expected a JSON_V1 encoded list, but received: JSON_V2";

/// What the stand-in answers (`501`) to OTLP in [`Mode::KeepSpans`].
pub const OTLP_NOT_STORED: &str = "the stand-in reads OTLP only in --count-only mode; \
     the real Zipkin with its OTLP module judges OTLP";

/// OTLP/HTTP's protobuf content type, the one the stand-in reads.
const OTLP_PROTOBUF: &str = "application/x-protobuf";

/// What has arrived so far.
#[derive(Debug)]
pub struct Store {
    mode: Mode,
    received: Mutex<Received>,
}

#[derive(Debug, Default)]
struct Received {
    /// Distinct spans, in arrival order.
    spans: Vec<Value>,
    /// The JSON text of each span in `spans`: finds a span sent again
    /// without comparing it with every span stored.
    stored: HashSet<String>,
    span_count: u64,
    upload_count: u64,
    /// Spans by "service KIND", so a benchmark can tell which were lost.
    by_service_and_kind: BTreeMap<String, u64>,
}

/// The two fields of a span that [`Mode::CountOnly`] reads.
#[derive(serde::Deserialize)]
struct SpanHead {
    kind: Option<String>,
    #[serde(rename = "localEndpoint")]
    local_endpoint: Option<EndpointHead>,
}

#[derive(serde::Deserialize)]
struct EndpointHead {
    #[serde(rename = "serviceName")]
    service_name: Option<String>,
}

impl Received {
    fn count(&mut self, service: Option<&str>, kind: Option<&str>) {
        let key = format!("{} {}", service.unwrap_or("?"), kind.unwrap_or("INTERNAL"));
        *self.by_service_and_kind.entry(key).or_insert(0) += 1;
        self.span_count += 1;
    }
}

impl Store {
    pub fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode,
            received: Mutex::default(),
        })
    }

    /// What `GET /stats` answers: how many spans and uploads arrived, and
    /// spans by "service KIND".
    pub fn stats(&self) -> Value {
        let received = self.lock();
        json!({
            "spans": received.span_count,
            "uploads": received.upload_count,
            "by_service_and_kind": received.by_service_and_kind,
        })
    }

    /// Every distinct span stored, in arrival order (empty in count-only
    /// mode).
    pub fn spans(&self) -> Vec<Value> {
        self.lock().spans.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn accept(&self, body: &[u8]) -> Result<(), String> {
        let mut received = match self.mode {
            Mode::CountOnly => {
                let spans: Vec<SpanHead> =
                    serde_json::from_slice(body).map_err(|error| error.to_string())?;
                let mut received = self.lock();
                for span in &spans {
                    let service = span
                        .local_endpoint
                        .as_ref()
                        .and_then(|e| e.service_name.as_deref());
                    received.count(service, span.kind.as_deref());
                }
                received
            }
            Mode::KeepSpans => {
                let spans = decode(body)?;
                let mut received = self.lock();
                for span in spans {
                    received.count(
                        span["localEndpoint"]["serviceName"].as_str(),
                        span["kind"].as_str(),
                    );
                    // Zipkin's in-memory storage keeps a set: a span sent
                    // twice (an upload retried) is stored once.
                    if received.stored.insert(span.to_string()) {
                        received.spans.push(span);
                    }
                }
                received
            }
        };
        received.upload_count += 1;
        Ok(())
    }

    /// Counts the spans of an OTLP `ExportTraceServiceRequest` as
    /// [`Mode::CountOnly`] counts Zipkin's: by the service of their
    /// resource and their kind in Zipkin's words. Only in that mode (see
    /// [`receive_otlp`]).
    fn accept_otlp(&self, body: &[u8]) -> Result<(), String> {
        let request = ExportTraceServiceRequest::decode(body)
            .map_err(|error| format!("{error} reading an OTLP ExportTraceServiceRequest"))?;
        let mut received = self.lock();
        for resource_spans in &request.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| service_name(&resource.attributes));
            for span in resource_spans
                .scope_spans
                .iter()
                .flat_map(|scope| &scope.spans)
            {
                received.count(service, zipkin_kind(span.kind));
            }
        }
        received.upload_count += 1;
        Ok(())
    }
}

/// The resource's `service.name`, which Zipkin's OTLP module reads as the
/// span's `localEndpoint.serviceName`.
fn service_name(attributes: &[KeyValue]) -> Option<&str> {
    attributes
        .iter()
        .find(|attribute| attribute.key == "service.name")
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(name) => Some(name.as_str()),
                _ => None,
            },
        )
}

/// An OTLP span kind as Zipkin writes it: an internal span (or one of no
/// kind) has none.
fn zipkin_kind(kind: i32) -> Option<&'static str> {
    match SpanKind::try_from(kind).ok()? {
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal | SpanKind::Unspecified => None,
    }
}

/// The spans of an upload as Zipkin stores them (ids normalized, names
/// lowercased, empty fields left out: see [`Span::to_json`]), or why Zipkin
/// would refuse the upload whole.
fn decode(body: &[u8]) -> Result<Vec<Value>, String> {
    let spans: Vec<Value> = serde_json::from_slice(body)
        .map_err(|error| format!("{error} reading List<Span> from json"))?;
    spans
        .iter()
        .map(|span| Ok(Span::from_json(span)?.to_json()))
        .collect()
}

/// The collector's routes, over `store`.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/v2/spans", post(receive_spans))
        .route("/api/v1/spans", post(refuse_v1))
        .route("/v1/traces", post(receive_otlp))
        .route("/api/v2/traces", get(traces))
        .route("/api/v2/trace/{trace_id}", get(trace))
        .route("/api/v2/services", get(services))
        .route("/api/v2/dependencies", get(dependencies))
        .route("/stats", get(stats))
        .route("/health", get(|| async { "ok" }))
        .with_state(store)
}

async fn receive_spans(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match store.accept(&body) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, error).into_response(),
    }
}

/// OTLP/HTTP's traces endpoint: `200` with an empty
/// `ExportTraceServiceResponse` (protobuf) once the spans are counted, as an
/// OTLP receiver answers a full success.
async fn receive_otlp(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if store.mode == Mode::KeepSpans {
        return (StatusCode::NOT_IMPLEMENTED, format!("{OTLP_NOT_STORED}\n")).into_response();
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case(OTLP_PROTOBUF) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the stand-in reads OTLP in protobuf ({OTLP_PROTOBUF}) only, not {content_type:?}\n"
            ),
        )
            .into_response();
    }
    match store.accept_otlp(&body) {
        Ok(()) => (
            StatusCode::OK,
            [(CONTENT_TYPE, OTLP_PROTOBUF)],
            ExportTraceServiceResponse::default().encode_to_vec(),
        )
            .into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    }
}

async fn refuse_v1() -> Response {
    (StatusCode::BAD_REQUEST, format!("{V1_REFUSAL}\n")).into_response()
}

/// Zipkin's time window: spans that started within `lookback`
/// milliseconds before `endTs` (both in milliseconds, as its API takes
/// them); every span when neither is given.
#[derive(serde::Deserialize)]
struct Window {
    #[serde(rename = "endTs")]
    end_ts: Option<u64>,
    lookback: Option<u64>,
}

impl Window {
    /// The trace ids with a span in the window, as Zipkin's in-memory
    /// storage picks them (by their low 64 bits).
    fn low_trace_ids(&self, spans: &[Value]) -> BTreeSet<String> {
        let end = self.end_ts.unwrap_or(u64::MAX);
        let begin = end.saturating_sub(self.lookback.unwrap_or(u64::MAX));
        spans
            .iter()
            .filter(|span| {
                let started_ms = span["timestamp"].as_u64().unwrap_or(0) / 1000;
                (begin..=end).contains(&started_ms)
            })
            .map(low_trace_id)
            .collect()
    }
}

fn low_trace_id(span: &Value) -> String {
    let id = span["traceId"].as_str().unwrap_or_default();
    id[id.len().saturating_sub(16)..].to_owned()
}

/// Spans by full trace id (Zipkin's default `strictTraceId`), in order.
fn by_trace<'a>(spans: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, Vec<Value>> {
    let mut traces: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for span in spans {
        let trace_id = span["traceId"].as_str().unwrap_or_default().to_owned();
        traces.entry(trace_id).or_default().push(span.clone());
    }
    traces
}

async fn traces(
    State(store): State<Arc<Store>>,
    Query(window): Query<Window>,
) -> Json<Vec<Vec<Value>>> {
    let spans = store.spans();
    let in_window = window.low_trace_ids(&spans);
    let chosen = spans
        .iter()
        .filter(|span| in_window.contains(&low_trace_id(span)));
    Json(by_trace(chosen).into_values().collect())
}

async fn trace(
    State(store): State<Arc<Store>>,
    Path(trace_id): Path<String>,
) -> Result<Json<Vec<Value>>, StatusCode> {
    let trace_id = normalize_trace_id(&trace_id).map_err(|_| StatusCode::BAD_REQUEST)?;
    by_trace(&store.spans())
        .remove(&trace_id)
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn services(State(store): State<Arc<Store>>) -> Json<BTreeSet<String>> {
    Json(
        store
            .spans()
            .iter()
            .filter_map(|span| span["localEndpoint"]["serviceName"].as_str())
            .map(str::to_lowercase)
            .collect(),
    )
}

async fn dependencies(
    State(store): State<Arc<Store>>,
    Query(window): Query<Window>,
) -> Json<Vec<Value>> {
    let spans = store.spans();
    let in_window = window.low_trace_ids(&spans);
    let chosen: Vec<Value> = spans
        .into_iter()
        .filter(|span| in_window.contains(&low_trace_id(span)))
        .collect();
    let links = zipkin_rules::dependency_links(&chosen);
    Json(
        links
            .into_iter()
            .map(|((parent, child), link)| {
                let mut json =
                    json!({ "parent": parent, "child": child, "callCount": link.call_count });
                // Zipkin writes `errorCount` only when there were errors.
                if link.error_count > 0 {
                    json["errorCount"] = link.error_count.into();
                }
                json
            })
            .collect(),
    )
}

async fn stats(State(store): State<Arc<Store>>) -> Json<Value> {
    Json(store.stats())
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use opentelemetry_proto::tonic::{
        common::v1::AnyValue,
        resource::v1::Resource,
        trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan},
    };
    use tower::ServiceExt as _;

    use super::*;

    /// `kinds.len()` spans of `service`, as OTLP carries them.
    fn resource_spans(service: &str, kinds: &[SpanKind]) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: kinds
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| OtlpSpan {
                        trace_id: vec![0xa3; 16],
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        name: "get /".into(),
                        kind: *kind as i32,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// `POST /v1/traces` with `body`: the status, the body of the answer.
    async fn post_otlp(
        store: &Arc<Store>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Bytes) {
        let request = Request::post("/v1/traces")
            .header(CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let answer = router(store.clone()).oneshot(request).await.unwrap();
        let status = answer.status();
        (
            status,
            axum::body::to_bytes(answer.into_body(), 1 << 20)
                .await
                .unwrap(),
        )
    }

    async fn stats_of(store: &Arc<Store>) -> Value {
        let request = Request::get("/stats").body(Body::empty()).unwrap();
        let answer = router(store.clone()).oneshot(request).await.unwrap();
        serde_json::from_slice(
            &axum::body::to_bytes(answer.into_body(), 1 << 20)
                .await
                .unwrap(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn otlp_spans_are_counted_as_zipkin_spans() {
        let store = Store::new(Mode::CountOnly);
        let request = ExportTraceServiceRequest {
            resource_spans: vec![
                resource_spans(
                    "api_01",
                    &[SpanKind::Server, SpanKind::Client, SpanKind::Internal],
                ),
                resource_spans("api_03", &[SpanKind::Server]),
            ],
        };
        let (status, body) = post_otlp(&store, OTLP_PROTOBUF, request.encode_to_vec()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            ExportTraceServiceResponse::decode(body).unwrap(),
            ExportTraceServiceResponse::default(),
        );
        assert_eq!(
            stats_of(&store).await,
            json!({
                "spans": 4,
                "uploads": 1,
                "by_service_and_kind": {
                    "api_01 CLIENT": 1,
                    "api_01 INTERNAL": 1,
                    "api_01 SERVER": 1,
                    "api_03 SERVER": 1,
                },
            }),
        );
    }

    #[tokio::test]
    async fn a_body_that_does_not_decode_is_refused_and_not_counted() {
        let store = Store::new(Mode::CountOnly);
        // Field 31 of wire type 7, which protobuf does not have.
        let (status, body) = post_otlp(&store, OTLP_PROTOBUF, vec![0xff; 8]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("ExportTraceServiceRequest"), "{text}");
        assert_eq!(stats_of(&store).await["uploads"], 0);
    }

    #[tokio::test]
    async fn otlp_json_is_an_unsupported_media_type() {
        let store = Store::new(Mode::CountOnly);
        let (status, _) = post_otlp(&store, "application/json", b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[tokio::test]
    async fn keeping_spans_the_stand_in_does_not_read_otlp() {
        let store = Store::new(Mode::KeepSpans);
        let request = ExportTraceServiceRequest {
            resource_spans: vec![resource_spans("api_01", &[SpanKind::Server])],
        };
        let (status, body) = post_otlp(&store, OTLP_PROTOBUF, request.encode_to_vec()).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        assert_eq!(body, format!("{OTLP_NOT_STORED}\n"));
        assert_eq!(stats_of(&store).await["spans"], 0);
    }
}
