//! A small stand-in for Zipkin that speaks the part of its v2 HTTP API the
//! project needs, and keeps what it receives for tests to inspect.
//!
//! - `POST /api/v2/spans`: a JSON array of spans, as Zipkin accepts them.
//! - `GET /api/v2/traces`, `GET /api/v2/trace/{id}`, `GET /api/v2/services`,
//!   `GET /api/v2/dependencies`: read back what arrived, shaped as Zipkin
//!   answers (dependency links, with their `callCount` and `errorCount`, come
//!   from Zipkin's own span-tree and linker rules, re-implemented in
//!   [`zipkin_rules`]).
//! - `GET /stats`: how many spans and uploads arrived, and spans by service
//!   and kind; `GET /health`.
//!
//! A test can make it misbehave as a real Zipkin does ([`Store::set_fault`]):
//! answer slowly, answer `503` with `Retry-After`, or refuse a batch.
//!
//! It reads spans as plain JSON, not through the exporter's types, so the
//! tests check the wire format itself. With [`Mode::CountOnly`] it keeps
//! only counts: the benchmark's sink, where storing spans would cost more
//! than the services being measured.

pub mod zipkin_rules;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

/// Whether the collector keeps spans or only counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    KeepSpans,
    CountOnly,
}

/// How the collector answers an upload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// As Zipkin does: the spans are stored, and the answer is `202`.
    #[default]
    None,
    /// The spans are stored at once, and the answer comes this much later
    /// (a Zipkin under load; past the sender's timeout, a sender that tries
    /// again sends them twice).
    Slow(Duration),
    /// `503 Service Unavailable` with `Retry-After` in seconds; nothing is
    /// stored.
    Unavailable { retry_after_s: u64 },
    /// This status (a `400`, say) with this text; nothing is stored.
    Refuse { status: u16, text: String },
}

/// What has arrived so far.
#[derive(Debug)]
pub struct Store {
    mode: Mode,
    received: Mutex<Received>,
    arrived: Notify,
    fault: Mutex<Fault>,
}

#[derive(Debug, Default)]
struct Received {
    spans: Vec<Value>,
    span_count: u64,
    upload_count: u64,
    /// Spans by "service KIND", so a benchmark can tell which were lost.
    by_service_and_kind: BTreeMap<String, u64>,
    /// Uploads answered with a fault, not stored, and their spans.
    refused_uploads: u64,
    refused_spans: u64,
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
            arrived: Notify::new(),
            fault: Mutex::default(),
        })
    }

    /// Answers every upload from now on as `fault` says.
    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    fn fault(&self) -> Fault {
        self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Uploads answered with a fault, and the spans they carried (sent
    /// again, a span counts again).
    pub fn refused(&self) -> (u64, u64) {
        let received = self.lock();
        (received.refused_uploads, received.refused_spans)
    }

    /// Every span received, in arrival order (empty in count-only mode).
    pub fn spans(&self) -> Vec<Value> {
        self.lock().spans.clone()
    }

    /// How many spans have arrived.
    pub fn span_count(&self) -> u64 {
        self.lock().span_count
    }

    /// Forgets every span received so far.
    pub fn clear(&self) {
        *self.lock() = Received::default();
    }

    /// Waits until `done` holds for the spans received, or `limit` passes;
    /// returns the spans as they were then, and whether `done` held.
    pub async fn wait_for(
        &self,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> (Vec<Value>, bool) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.arrived.notified();
            let spans = self.spans();
            if done(&spans) {
                return (spans, true);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let spans = self.spans();
                let held = done(&spans);
                return (spans, held);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An upload answered with a fault: counted, with its spans, not kept.
    fn count_refused(&self, body: &[u8]) {
        let spans = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body)
            .map_or(0, |spans| spans.len() as u64);
        let mut received = self.lock();
        received.refused_uploads += 1;
        received.refused_spans += spans;
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
                let spans: Vec<Value> =
                    serde_json::from_slice(body).map_err(|error| error.to_string())?;
                if let Some(bad) = spans.iter().find(|span| !span.is_object()) {
                    return Err(format!("a span must be a JSON object, got {bad}"));
                }
                let mut received = self.lock();
                for span in &spans {
                    received.count(
                        span["localEndpoint"]["serviceName"].as_str(),
                        span["kind"].as_str(),
                    );
                }
                received.spans.extend(spans);
                received
            }
        };
        received.upload_count += 1;
        drop(received);
        self.arrived.notify_waiters();
        Ok(())
    }
}

/// The collector's routes, over `store`.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/v2/spans", post(receive_spans))
        .route("/api/v2/traces", get(traces))
        .route("/api/v2/trace/{trace_id}", get(trace))
        .route("/api/v2/services", get(services))
        .route("/api/v2/dependencies", get(dependencies))
        .route("/stats", get(stats))
        .route("/health", get(|| async { "ok" }))
        .with_state(store)
}

/// A collector running on a Tokio task; it stops when dropped.
#[derive(Debug)]
pub struct Collector {
    pub store: Arc<Store>,
    pub addr: std::net::SocketAddr,
    task: JoinHandle<()>,
}

impl Collector {
    /// Starts a collector that keeps spans, on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(
            TcpListener::bind("127.0.0.1:0").await?,
            Store::new(Mode::KeepSpans),
        )
    }

    /// Starts a collector on `listener`, filling `store`.
    pub fn start_on(listener: TcpListener, store: Arc<Store>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let app = router(store.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { store, addr, task })
    }

    /// The URL to give services as `OTEL_EXPORTER_ZIPKIN_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/api/v2/spans", self.addr)
    }

    /// Stops listening; the port is free again once this returns.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive_spans(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match store.fault() {
        Fault::None => stored(store.accept(&body)),
        Fault::Slow(delay) => {
            let accepted = store.accept(&body);
            tokio::time::sleep(delay).await;
            stored(accepted)
        }
        Fault::Unavailable { retry_after_s } => {
            store.count_refused(&body);
            let retry_after = [(RETRY_AFTER, retry_after_s.to_string())];
            (
                StatusCode::SERVICE_UNAVAILABLE,
                retry_after,
                "storage is not ready",
            )
                .into_response()
        }
        Fault::Refuse { status, text } => {
            store.count_refused(&body);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, text).into_response()
        }
    }
}

fn stored(accepted: Result<(), String>) -> Response {
    match accepted {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, error).into_response(),
    }
}

fn by_trace(spans: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut traces: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for span in spans {
        let trace_id = span["traceId"].as_str().unwrap_or_default().to_owned();
        traces.entry(trace_id).or_default().push(span.clone());
    }
    traces
}

async fn traces(State(store): State<Arc<Store>>) -> Json<Vec<Vec<Value>>> {
    Json(by_trace(&store.spans()).into_values().collect())
}

async fn trace(
    State(store): State<Arc<Store>>,
    Path(trace_id): Path<String>,
) -> Result<Json<Vec<Value>>, StatusCode> {
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
            .map(str::to_owned)
            .collect(),
    )
}

async fn dependencies(State(store): State<Arc<Store>>) -> Json<Vec<Value>> {
    let links = zipkin_rules::dependency_links(&store.spans());
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

/// `(caller, callee) → calls`, as Zipkin's dependency graph counts them (see
/// [`zipkin_rules::dependency_links`], which also counts errors).
pub fn dependency_links(spans: &[Value]) -> BTreeMap<(String, String), u64> {
    zipkin_rules::call_counts(zipkin_rules::dependency_links(spans))
}

async fn stats(State(store): State<Arc<Store>>) -> Json<Value> {
    let received = store.lock();
    Json(json!({
        "spans": received.span_count,
        "uploads": received.upload_count,
        "by_service_and_kind": received.by_service_and_kind,
        "refused_uploads": received.refused_uploads,
        "refused_spans": received.refused_spans,
    }))
}
