//! The wire between the services and their receiver: a small HTTP proxy
//! that passes every span upload on, to Zipkin (v2 JSON) or to the
//! OpenTelemetry Collector (OTLP/HTTP, `/v1/traces`), records it with the
//! receiver's answer, and makes, on a test's word, the faults a real
//! receiver does not make on demand.
//!
//! Why a proxy: Zipkin answers `202` before it stores a batch, the
//! Collector `200` before it hands the spans to Zipkin, and a Zipkin that
//! is killed forgets what it stored; what crossed the wire, and what the
//! receiver answered, is the exact record a span account is checked
//! against, whichever Zipkin runs behind it (see [`crate::Zipkin`]).
//!
//! Every upload is recorded as the spans Zipkin would make of it, in
//! Zipkin's v2 JSON: a v2 JSON upload as it is; an OTLP one (protobuf or
//! OTLP's JSON, gzip or not) read as the Collector's `zipkin` exporter and
//! Zipkin read it (trace id, span id, parent, kind, names lower-cased, the
//! resource's `service.name`: [`otlp_spans`]), so that the same checks
//! judge both.
//!
//! When the receiver cannot be reached (killed), or the wire is told it is
//! away ([`Fault::Away`]), the wire drops the services' connection without
//! an answer, as a dead server's does: the services try again, as they
//! would after connection refused.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{Span as OtlpSpan, span::SpanKind, status::StatusCode as OtlpStatus},
};
use prost::Message as _;
use serde_json::{Map, Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

/// How the wire treats the uploads that cross it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Passes each upload on and Zipkin's answer back.
    #[default]
    None,
    /// Passes each upload on, and Zipkin's answer back this much later (a
    /// Zipkin under load; past the sender's timeout, a sender that tries
    /// again sends the batch twice).
    Slow(Duration),
    /// Answers `503 Service Unavailable` with `Retry-After` in seconds
    /// itself, passing nothing on (a Zipkin whose storage is not ready, or
    /// a gateway in front of it).
    Unavailable { retry_after_s: u64 },
    /// Passes each upload on to Zipkin's v1 endpoint, which refuses v2
    /// spans in Zipkin's own words (an endpoint set wrong). For v2 JSON
    /// uploads.
    Misrouted,
    /// Passes each upload on with its last byte cut off, which the
    /// receiver cannot read and refuses in its own words (the Collector:
    /// `400` with a `google.rpc.Status`).
    CutShort,
    /// Passes nothing on: each upload's connection is dropped unanswered,
    /// as a receiver that is away does (the receiver itself, and what it
    /// holds, are left alone).
    Away,
}

/// One upload that crossed the wire.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The spans it carried, as Zipkin's v2 JSON (an OTLP upload's as
    /// Zipkin would store them: [`otlp_spans`]).
    pub spans: Vec<Value>,
    /// Whether it was an OTLP upload (to the Collector).
    pub otlp: bool,
    /// What the services were answered; `None` when the receiver could
    /// not be reached and the connection was dropped.
    pub status: Option<u16>,
    /// The receiver's words, when it answered with an error (the message
    /// of a `google.rpc.Status`, for an OTLP receiver's protobuf answer).
    pub text: String,
    /// When the receiver answered (before a slow answer's wait).
    pub answered: Instant,
    /// Which server answered, when the receiver is a balancer that says
    /// so (`X-Zipkin-Server`: [`crate::zipkin_cluster`]).
    pub server: Option<String>,
}

impl Upload {
    /// Whether the receiver took it.
    pub fn accepted(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

struct State {
    zipkin_url: String,
    /// The Collector's base URL, for OTLP uploads (`/v1/traces`).
    otlp_url: Option<String>,
    http: reqwest::Client,
    fault: Mutex<Fault>,
    uploads: Mutex<Vec<Upload>>,
}

/// The wire, listening on a loopback port of its own until dropped.
pub struct Wire {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Wire {
    /// A wire in front of the Zipkin at `zipkin_url` (`http://host:port`).
    pub async fn start(zipkin_url: &str) -> Wire {
        Wire::start_with_otlp(zipkin_url, None).await
    }

    /// A wire in front of the Zipkin at `zipkin_url`, and of the OTLP
    /// receiver at `otlp_url` (a Collector's base URL) for the uploads to
    /// `/v1/traces`.
    pub async fn start_with_otlp(zipkin_url: &str, otlp_url: Option<&str>) -> Wire {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            zipkin_url: zipkin_url.trim_end_matches('/').to_owned(),
            otlp_url: otlp_url.map(|url| url.trim_end_matches('/').to_owned()),
            // Far above every fault's delay: the services' own timeout is
            // what a slow Zipkin meets.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            fault: Mutex::default(),
            uploads: Mutex::default(),
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        Wire { url, state, task }
    }

    /// The URL to give services as `OTEL_EXPORTER_ZIPKIN_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("{}/api/v2/spans", self.url)
    }

    /// The URL to give services as `OTEL_EXPORTER_OTLP_ENDPOINT` (they add
    /// `/v1/traces`), for a wire started with an OTLP receiver.
    pub fn otlp_endpoint(&self) -> String {
        assert!(
            self.state.otlp_url.is_some(),
            "a wire started without an OTLP receiver"
        );
        self.url.clone()
    }

    /// Treats every upload as `fault` says, from now on.
    pub fn set_fault(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
    }

    /// Every upload so far, in the order they were answered.
    pub fn uploads(&self) -> Vec<Upload> {
        self.state.uploads.lock().unwrap().clone()
    }

    /// The spans of every upload the receiver took, in order (a span sent
    /// twice is here twice).
    pub fn accepted_spans(&self) -> Vec<Value> {
        let uploads = self.state.uploads.lock().unwrap();
        let accepted = uploads.iter().filter(|upload| upload.accepted());
        accepted.flat_map(|upload| upload.spans.clone()).collect()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| pass_on(state.clone(), request));
            // An upload Zipkin did not answer ends the connection unanswered.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The receiver could not be reached, or is away: the connection is
/// dropped unanswered.
#[derive(Debug)]
struct Unreachable;

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the receiver could not be reached")
    }
}

impl std::error::Error for Unreachable {}

async fn pass_on(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Unreachable> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Unreachable)?.to_bytes();
    let otlp = parts.uri.path().ends_with("/v1/traces");
    let header = |name: header::HeaderName| parts.headers.get(name).cloned();
    let (content_type, content_encoding) = (
        header(header::CONTENT_TYPE),
        header(header::CONTENT_ENCODING),
    );
    let spans = match otlp {
        true => otlp_spans(&body, content_type.as_ref(), content_encoding.as_ref()),
        false => serde_json::from_slice::<Vec<Value>>(&body).unwrap_or_default(),
    };
    let fault = state.fault.lock().unwrap().clone();
    let record_from = |status: Option<u16>, text: &str, server: Option<String>| {
        state.uploads.lock().unwrap().push(Upload {
            spans: spans.clone(),
            otlp,
            status,
            text: text.to_owned(),
            answered: Instant::now(),
            server,
        });
    };
    let record = |status: Option<u16>, text: &str| record_from(status, text, None);
    match fault {
        Fault::Away => {
            record(None, "");
            return Err(Unreachable);
        }
        Fault::Unavailable { retry_after_s } => {
            let text = "storage is not ready";
            record(Some(503), text);
            let mut answer = answer(StatusCode::SERVICE_UNAVAILABLE, None, text.into());
            let retry_after = HeaderValue::from(retry_after_s);
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
            return Ok(answer);
        }
        _ => {}
    }
    let receiver = match (otlp, &state.otlp_url) {
        (false, _) => &state.zipkin_url,
        (true, Some(otlp_url)) => otlp_url,
        (true, None) => {
            record(None, "");
            return Err(Unreachable);
        }
    };
    let path = match fault {
        Fault::Misrouted => "/api/v1/spans",
        _ => parts.uri.path(),
    };
    let body = match fault {
        Fault::CutShort => body.slice(..body.len().saturating_sub(1)),
        _ => body,
    };
    let mut forward = state.http.post(format!("{receiver}{path}")).body(body);
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_ENCODING, content_encoding),
    ] {
        if let Some(value) = value {
            forward = forward.header(name, value);
        }
    }
    let Ok(answered) = forward.send().await else {
        record(None, "");
        return Err(Unreachable);
    };
    let status = answered.status();
    let headers = answered.headers().clone();
    let Ok(text) = answered.bytes().await else {
        record(None, "");
        return Err(Unreachable);
    };
    let protobuf = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/x-protobuf"));
    let words = match (protobuf, status.is_success()) {
        // An `ExportTraceServiceResponse`: nothing to say in words.
        (true, true) => String::new(),
        (true, false) => rpc_status_message(&text),
        (false, _) => String::from_utf8_lossy(&text).into_owned(),
    };
    // The balancer names every server it tried; the last one answered.
    let server = headers
        .get(crate::zipkin_cluster::SERVER_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|servers| servers.rsplit(", ").next())
        .map(str::to_owned);
    record_from(Some(status.as_u16()), &words, server);
    if let Fault::Slow(delay) = fault {
        tokio::time::sleep(delay).await;
    }
    let mut answer = answer(status, None, text);
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::RETRY_AFTER,
    ] {
        if let Some(value) = headers.get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    Ok(answer)
}

fn answer(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let mut answer = Response::new(Full::new(body));
    *answer.status_mut() = status;
    if let Some(content_type) = content_type {
        answer
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    answer
}

/// The spans of an OTLP upload (`ExportTraceServiceRequest`, in protobuf
/// or, for `application/json`, OTLP's JSON; gzip-compressed when
/// `Content-Encoding` says so), as Zipkin's v2 JSON, the way the
/// Collector's `zipkin` exporter writes them and Zipkin stores them: the
/// trace id in 16 hex digits when its high 8 bytes are zero, else 32; the
/// kind, none for an internal span; the service, the resource's
/// `service.name`, and the span's name, lower-cased; `peer.service` as the
/// remote service; attributes as string tags, and `error` for an error
/// status. A body that cannot be read gives none.
pub fn otlp_spans(
    body: &[u8],
    content_type: Option<&HeaderValue>,
    content_encoding: Option<&HeaderValue>,
) -> Vec<Value> {
    let gzip = content_encoding.is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let inflated;
    let body = if gzip {
        use std::io::Read as _;
        let mut bytes = Vec::new();
        if flate2::read::GzDecoder::new(body)
            .read_to_end(&mut bytes)
            .is_err()
        {
            return Vec::new();
        }
        inflated = bytes;
        &inflated[..]
    } else {
        body
    };
    let json = content_type.is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    let request = match json {
        true => serde_json::from_slice::<ExportTraceServiceRequest>(body).ok(),
        false => ExportTraceServiceRequest::decode(body).ok(),
    };
    let Some(request) = request else {
        return Vec::new();
    };
    let mut spans = Vec::new();
    for resource_spans in &request.resource_spans {
        let attributes = resource_spans
            .resource
            .as_ref()
            .map_or(&[][..], |resource| &resource.attributes[..]);
        let service = attribute(attributes, "service.name")
            .map_or_else(|| "unknown_service".to_owned(), |name| name.to_lowercase());
        for scope_spans in &resource_spans.scope_spans {
            spans.extend(
                scope_spans
                    .spans
                    .iter()
                    .map(|span| zipkin_span(span, &service)),
            );
        }
    }
    spans
}

/// One OTLP span of `service` as Zipkin's v2 JSON (see [`otlp_spans`]).
fn zipkin_span(span: &OtlpSpan, service: &str) -> Value {
    let mut zipkin = Map::new();
    zipkin.insert("traceId".into(), zipkin_trace_id(&span.trace_id).into());
    zipkin.insert("id".into(), hex(&span.span_id).into());
    if !span.parent_span_id.is_empty() && span.parent_span_id.iter().any(|&b| b != 0) {
        zipkin.insert("parentId".into(), hex(&span.parent_span_id).into());
    }
    let kind = match SpanKind::try_from(span.kind) {
        Ok(SpanKind::Server) => Some("SERVER"),
        Ok(SpanKind::Client) => Some("CLIENT"),
        Ok(SpanKind::Producer) => Some("PRODUCER"),
        Ok(SpanKind::Consumer) => Some("CONSUMER"),
        _ => None,
    };
    if let Some(kind) = kind {
        zipkin.insert("kind".into(), kind.into());
    }
    zipkin.insert("name".into(), span.name.to_lowercase().into());
    let start_us = span.start_time_unix_nano / 1000;
    let end_us = span.end_time_unix_nano / 1000;
    zipkin.insert("timestamp".into(), start_us.into());
    zipkin.insert(
        "duration".into(),
        end_us.saturating_sub(start_us).max(1).into(),
    );
    zipkin.insert("localEndpoint".into(), json!({ "serviceName": service }));
    if let Some(peer) = attribute(&span.attributes, "peer.service") {
        let remote = json!({ "serviceName": peer.to_lowercase() });
        zipkin.insert("remoteEndpoint".into(), remote);
    }
    let mut tags: Map<String, Value> = span
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?)?.into())))
        .collect();
    let status = span.status.as_ref().map_or(0, |status| status.code);
    if status == OtlpStatus::Error as i32 {
        tags.insert("error".into(), "true".into());
    }
    if !tags.is_empty() {
        zipkin.insert("tags".into(), Value::Object(tags));
    }
    Value::Object(zipkin)
}

/// A trace id as Zipkin writes it: 16 hex digits when its high 8 bytes are
/// zero (a 64-bit id), else 32.
fn zipkin_trace_id(bytes: &[u8]) -> String {
    match bytes.split_at_checked(8) {
        Some((high, low)) if bytes.len() == 16 && high.iter().all(|&b| b == 0) => hex(low),
        _ => hex(bytes),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The value of `key` among `attributes`, as text.
fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    text(value)
}

/// A scalar attribute's value as a Zipkin tag writes it.
fn text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text.clone()),
        any_value::Value::BoolValue(flag) => Some(flag.to_string()),
        any_value::Value::IntValue(number) => Some(number.to_string()),
        any_value::Value::DoubleValue(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The two fields of `google.rpc.Status` that say why (OTLP/HTTP's error
/// answer), as our exporter reads them (span_export/src/otlp.rs).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The message of a `google.rpc.Status` answer; the bytes as text when it
/// is none.
fn rpc_status_message(body: &[u8]) -> String {
    match RpcStatus::decode(body) {
        Ok(status) if !status.message.is_empty() => status.message,
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::{
        resource::v1::Resource,
        trace::v1::{ResourceSpans, ScopeSpans, Status},
    };

    use super::*;

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..KeyValue::default()
        }
    }

    fn request() -> ExportTraceServiceRequest {
        let mut trace_64 = vec![0; 8];
        trace_64.extend(0xa3ce_929d_0e0e_4736u64.to_be_bytes());
        let trace_128 = 0x5b8e_fff7_9803_8103_d269_b633_813f_c60cu128.to_be_bytes();
        let client = OtlpSpan {
            trace_id: trace_64.clone(),
            span_id: 0xc2fb_4a1d_1a96_d312u64.to_be_bytes().to_vec(),
            parent_span_id: 1u64.to_be_bytes().to_vec(),
            name: "GET /Items".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_002_500_000,
            attributes: vec![
                string("peer.service", "API_02"),
                KeyValue {
                    key: "http.response.status_code".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(500)),
                    }),
                    ..KeyValue::default()
                },
            ],
            status: Some(Status {
                message: "api_02 answered 500".into(),
                code: OtlpStatus::Error as i32,
            }),
            ..OtlpSpan::default()
        };
        let work = OtlpSpan {
            trace_id: trace_128.to_vec(),
            span_id: 2u64.to_be_bytes().to_vec(),
            name: "work".into(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_000_100,
            ..OtlpSpan::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string("service.name", "API_01")],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![client, work],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    #[test]
    fn an_otlp_upload_is_recorded_as_zipkin_stores_it() {
        let body = request().encode_to_vec();
        let protobuf = HeaderValue::from_static("application/x-protobuf");
        let spans = otlp_spans(&body, Some(&protobuf), None);
        assert_eq!(
            spans,
            [
                json!({
                    "traceId": "a3ce929d0e0e4736",
                    "id": "c2fb4a1d1a96d312",
                    "parentId": "0000000000000001",
                    "kind": "CLIENT",
                    "name": "get /items",
                    "timestamp": 1_700_000_000_000_000u64,
                    "duration": 2500,
                    "localEndpoint": { "serviceName": "api_01" },
                    "remoteEndpoint": { "serviceName": "api_02" },
                    "tags": {
                        "peer.service": "API_02",
                        "http.response.status_code": "500",
                        "error": "true",
                    },
                }),
                json!({
                    "traceId": "5b8efff798038103d269b633813fc60c",
                    "id": "0000000000000002",
                    "name": "work",
                    "timestamp": 1_700_000_000_000_000u64,
                    "duration": 1,
                    "localEndpoint": { "serviceName": "api_01" },
                }),
            ]
        );
        for span in &spans {
            crate::assert_valid_zipkin_v2(span);
        }
        let keys: Vec<_> = spans.iter().map(crate::faults::span_key).collect();
        assert_eq!(
            keys[1],
            (
                "5b8efff798038103d269b633813fc60c".into(),
                "0000000000000002".into(),
                String::new(),
                "api_01".into()
            )
        );

        // The same in gzip, and in OTLP's JSON.
        let gzip = {
            use std::io::Write as _;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&body).unwrap();
            encoder.finish().unwrap()
        };
        let gzip_header = HeaderValue::from_static("gzip");
        assert_eq!(
            otlp_spans(&gzip, Some(&protobuf), Some(&gzip_header)),
            spans
        );
        let json_body = serde_json::to_vec(&request()).unwrap();
        let json_type = HeaderValue::from_static("application/json");
        assert_eq!(otlp_spans(&json_body, Some(&json_type), None), spans);

        // Cut short, it is not read at all.
        assert!(otlp_spans(&body[..body.len() - 1], Some(&protobuf), None).is_empty());
    }

    #[test]
    fn a_refusal_is_read_from_its_google_rpc_status() {
        let status = RpcStatus {
            code: 3,
            message: "unexpected EOF".into(),
        };
        assert_eq!(
            rpc_status_message(&status.encode_to_vec()),
            "unexpected EOF"
        );
        assert_eq!(rpc_status_message(b"plain words"), "plain words");
    }
}
