//! OTLP over HTTP: [`Otlp`] writes a batch of the SDK's spans as one
//! `ExportTraceServiceRequest`, in protobuf (`application/x-protobuf`) or
//! in OTLP's JSON (`application/json`), for a receiver's `/v1/traces`: an
//! OpenTelemetry Collector, Jaeger, Tempo, or Zipkin with its OTLP module.
//!
//! The messages and the mapping from the SDK's spans are
//! `opentelemetry-proto`'s, the OpenTelemetry project's own: no span is
//! written by hand here. What this file adds is the receiver's rules from
//! the OTLP specification (its "OTLP/HTTP" section): which answers are
//! tried again, a partial success, whose refused spans are counted as lost
//! with the receiver's message, and the words of a refusal. Two small
//! readers of answers are our own, each saying why.
//!
//! OTLP carries each span once, with its own ids, so a B3 trace needs no
//! change to cross it: docs/otlp.md says how Zipkin's OTLP module reads a
//! SERVER span that shares its caller's id, and a 64-bit trace id.

use opentelemetry_proto::{
    tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    },
    transform::{
        common::tonic::ResourceAttributesWithSchema,
        trace::tonic::group_spans_by_resource_and_scope,
    },
};
use opentelemetry_sdk::{Resource, trace::SpanData};
use prost::Message;
use reqwest::StatusCode;

use crate::{Encoding, encoding::Rejected};

/// OTLP over HTTP, in one of its two encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Otlp {
    /// `http/protobuf`, OTLP's default.
    Protobuf,
    /// `http/json`: the same messages in OTLP's JSON mapping (ids as hex).
    Json,
}

impl Encoding for Otlp {
    fn receiver(&self) -> &'static str {
        "the OTLP receiver"
    }

    fn content_type(&self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }

    fn encode(&self, spans: &[SpanData], resource: &Resource, body: &mut Vec<u8>) {
        // The crate's mapping takes the spans by value; the batch keeps its
        // own until the receiver has them, in case they must be sent again.
        let resource_spans = group_spans_by_resource_and_scope(
            spans.to_vec(),
            &ResourceAttributesWithSchema::from(resource),
        );
        let request = ExportTraceServiceRequest { resource_spans };
        match self {
            Self::Protobuf => request.encode(body).expect("a Vec grows as needed"),
            Self::Json => serde_json::to_writer(body, &request).expect("a Vec grows as needed"),
        }
    }

    /// The statuses OTLP/HTTP lists as retryable: `429`, `502`, `503`, `504`.
    fn is_transient(&self, status: StatusCode) -> bool {
        matches!(status.as_u16(), 429 | 502 | 503 | 504)
    }

    /// A partial success: the receiver kept the request but refused
    /// `rejected_spans` of its spans, and says why in `error_message`.
    fn rejected(&self, body: &[u8]) -> Option<Rejected> {
        let partial = match self {
            Self::Protobuf => {
                ExportTraceServiceResponse::decode(body)
                    .ok()?
                    .partial_success?
            }
            Self::Json => json_partial_success(body)?,
        };
        (partial.rejected_spans > 0).then(|| Rejected {
            spans: partial.rejected_spans as u64,
            reason: format!(
                "the OTLP receiver rejected spans: {}",
                partial.error_message
            ),
        })
    }

    /// OTLP answers a failure with a `google.rpc.Status` message in the
    /// request's encoding; a proxy on the way answers in plain text.
    fn refusal_text(&self, body: &[u8]) -> String {
        if let Ok(text) = std::str::from_utf8(body)
            && !text.chars().any(|c| c.is_control() && !c.is_whitespace())
        {
            return text.to_owned();
        }
        match RpcStatus::decode(body) {
            Ok(status) if !status.message.is_empty() => status.message,
            _ => format!("({} bytes the answer did not explain)", body.len()),
        }
    }
}

/// The partial success of an answer in OTLP's JSON. Not read with
/// `opentelemetry-proto`'s serde, which takes `rejectedSpans` only as a
/// number: the proto3 JSON mapping writes an int64 as a string (`"3"`), as
/// the Collector does, and a reader must take both.
fn json_partial_success(body: &[u8]) -> Option<ExportTracePartialSuccess> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let partial = answer.get("partialSuccess")?;
    let rejected_spans = match partial.get("rejectedSpans") {
        Some(serde_json::Value::Number(number)) => number.as_i64()?,
        Some(serde_json::Value::String(number)) => number.parse().ok()?,
        _ => 0,
    };
    let error_message = partial
        .get("errorMessage")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some(ExportTracePartialSuccess {
        rejected_spans,
        error_message,
    })
}

/// The two fields of `google.rpc.Status` a log line needs. Written here:
/// `opentelemetry-proto` does not carry Google's messages, and the crate
/// that does (`tonic-types`) would bring tonic for two fields.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    };

    use opentelemetry::{
        Context, KeyValue,
        trace::{
            Span as _, SpanId, SpanKind, Status, TraceContextExt as _, TraceId, Tracer as _,
            TracerProvider as _,
        },
    };
    use opentelemetry_proto::tonic::{
        common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value},
        trace::v1::{
            Span as ProtoSpan, span::SpanKind as ProtoKind, status::StatusCode as ProtoCode,
        },
    };
    use opentelemetry_sdk::{
        error::OTelSdkResult,
        trace::{IdGenerator, SdkTracerProvider, SpanProcessor},
    };
    use serde_json::Value;

    use super::*;
    use crate::zipkin::PEER_SERVICE;

    /// A trace id that fits in 64 bits, as a B3 caller may send.
    const TRACE_ID: u128 = 0xa3ce_929d_0e0e_4736;

    /// Every trace gets [`TRACE_ID`]; span ids count from 1.
    #[derive(Debug, Default)]
    struct FixedIds(AtomicU64);

    impl IdGenerator for FixedIds {
        fn new_trace_id(&self) -> TraceId {
            TraceId::from(TRACE_ID)
        }

        fn new_span_id(&self) -> SpanId {
            SpanId::from(self.0.fetch_add(1, Ordering::SeqCst) + 1)
        }
    }

    /// Keeps the spans the SDK ends, as an exporter would get them.
    #[derive(Debug, Default)]
    struct Keep(Arc<Mutex<Vec<SpanData>>>);

    impl SpanProcessor for Keep {
        fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}

        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    /// What the SDK made of a SERVER span and the CLIENT span under it,
    /// which calls api_02 and fails: the spans (the CLIENT first, as they
    /// ended), and the ids (server, client).
    fn sdk_spans() -> (Vec<SpanData>, SpanId, SpanId) {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let provider = SdkTracerProvider::builder()
            .with_id_generator(FixedIds::default())
            .with_span_processor(Keep(kept.clone()))
            .build();
        let tracer = provider.tracer("api_01");
        let server = tracer
            .span_builder("GET /")
            .with_kind(SpanKind::Server)
            .start(&tracer);
        let server_id = server.span_context().span_id();
        let cx = Context::current_with_span(server);
        let mut client = tracer
            .span_builder("GET /items")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new(PEER_SERVICE, "api_02"),
                KeyValue::new("http.response.status_code", 500),
            ])
            .start_with_context(&tracer, &cx);
        let client_id = client.span_context().span_id();
        client.set_status(Status::error("api_02 answered 500"));
        client.end();
        cx.span().end();
        let spans = std::mem::take(&mut *kept.lock().unwrap());
        assert_eq!(spans.len(), 2);
        (spans, server_id, client_id)
    }

    fn resource() -> Resource {
        Resource::builder_empty()
            .with_service_name("api_01")
            .build()
    }

    fn body_of(encoding: Otlp, spans: &[SpanData]) -> Vec<u8> {
        let mut body = Vec::new();
        encoding.encode(spans, &resource(), &mut body);
        body
    }

    fn string_value(value: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        })
    }

    fn attribute<'a>(attributes: &'a [ProtoKeyValue], key: &str) -> Option<&'a AnyValue> {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
    }

    fn named<'a>(spans: &'a [ProtoSpan], name: &str) -> &'a ProtoSpan {
        spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("no span {name} in {spans:?}"))
    }

    #[test]
    fn sdk_spans_decode_from_protobuf_with_service_ids_kind_and_status() {
        let (spans, server_id, client_id) = sdk_spans();
        let body = body_of(Otlp::Protobuf, &spans);
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();

        assert_eq!(request.resource_spans.len(), 1);
        let resource_spans = &request.resource_spans[0];
        let resource = resource_spans.resource.as_ref().expect("a resource");
        assert_eq!(
            attribute(&resource.attributes, "service.name"),
            string_value("api_01").as_ref()
        );
        assert_eq!(resource_spans.scope_spans.len(), 1);
        let scope_spans = &resource_spans.scope_spans[0];
        assert_eq!(scope_spans.scope.as_ref().unwrap().name, "api_01");
        assert_eq!(scope_spans.spans.len(), 2);

        // 16 bytes, the 64-bit id in the last 8.
        let mut trace_id = vec![0u8; 8];
        trace_id.extend(0xa3ce_929d_0e0e_4736u64.to_be_bytes());
        for span in &scope_spans.spans {
            assert_eq!(span.trace_id, trace_id, "{}", span.name);
        }

        let server = named(&scope_spans.spans, "GET /");
        assert_eq!(server.span_id, server_id.to_bytes().to_vec());
        assert!(server.parent_span_id.is_empty(), "a root has no parent");
        assert_eq!(server.kind, ProtoKind::Server as i32);
        assert_eq!(server.status.as_ref().map_or(0, |s| s.code), 0);
        assert!(server.end_time_unix_nano >= server.start_time_unix_nano);
        assert!(server.start_time_unix_nano > 0);

        let client = named(&scope_spans.spans, "GET /items");
        assert_eq!(client.span_id, client_id.to_bytes().to_vec());
        assert_eq!(client.span_id.len(), 8);
        assert_eq!(client.parent_span_id, server_id.to_bytes().to_vec());
        assert_eq!(client.kind, ProtoKind::Client as i32);
        assert_eq!(
            attribute(&client.attributes, PEER_SERVICE),
            string_value("api_02").as_ref()
        );
        assert_eq!(
            attribute(&client.attributes, "http.response.status_code"),
            Some(&AnyValue {
                value: Some(any_value::Value::IntValue(500))
            })
        );
        let status = client.status.as_ref().expect("an error status");
        assert_eq!(status.code, ProtoCode::Error as i32);
        assert_eq!(status.message, "api_02 answered 500");
    }

    fn is_lower_hex(text: &str, digits: usize) -> bool {
        text.len() == digits
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    }

    #[test]
    fn sdk_spans_follow_otlps_json_mapping() {
        let (spans, server_id, _) = sdk_spans();
        assert_eq!(Otlp::Json.content_type(), "application/json");
        assert_eq!(Otlp::Protobuf.content_type(), "application/x-protobuf");
        let body = body_of(Otlp::Json, &spans);
        let json: Value = serde_json::from_slice(&body).unwrap();

        let resource = &json["resourceSpans"][0]["resource"];
        assert!(
            resource["attributes"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!({
                    "key": "service.name",
                    "value": { "stringValue": "api_01" }
                })),
            "{resource}"
        );
        let list = json["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .expect("a list of spans");
        let server = list
            .iter()
            .find(|span| span["name"] == "GET /")
            .expect("the SERVER span");
        let client = list
            .iter()
            .find(|span| span["name"] == "GET /items")
            .expect("the CLIENT span");

        let trace_id = server["traceId"].as_str().unwrap();
        assert!(is_lower_hex(trace_id, 32), "{trace_id}");
        assert_eq!(trace_id, "0000000000000000a3ce929d0e0e4736");
        let span_id = server["spanId"].as_str().unwrap();
        assert!(is_lower_hex(span_id, 16), "{span_id}");
        assert_eq!(span_id, server_id.to_string());
        assert!(
            server.get("parentSpanId").is_none_or(|id| id == ""),
            "a root has no parent: {server}"
        );
        assert_eq!(client["parentSpanId"], server_id.to_string());

        // Enums are integers, 64-bit integers are strings.
        assert_eq!(server["kind"], 2);
        assert_eq!(client["kind"], 3);
        let start = server["startTimeUnixNano"].as_str().expect("a string");
        assert!(start.parse::<u64>().unwrap() > 0, "{start}");
        assert!(server["endTimeUnixNano"].is_string());
        assert_eq!(client["status"]["code"], 2);
        assert_eq!(client["status"]["message"], "api_02 answered 500");
        assert!(
            client["attributes"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!({
                    "key": "peer.service",
                    "value": { "stringValue": "api_02" }
                })),
            "{client}"
        );
    }

    #[test]
    fn which_of_otlps_answers_are_tried_again() {
        for encoding in [Otlp::Protobuf, Otlp::Json] {
            for status in [429, 502, 503, 504] {
                assert!(
                    encoding.is_transient(StatusCode::from_u16(status).unwrap()),
                    "{encoding:?} {status}"
                );
            }
            // OTLP, unlike Zipkin, does not list 408.
            for status in [408, 400, 401, 403, 404, 413, 415, 500, 501] {
                assert!(
                    !encoding.is_transient(StatusCode::from_u16(status).unwrap()),
                    "{encoding:?} {status}"
                );
            }
        }
    }

    fn partial_success(rejected_spans: i64, error_message: &str) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans,
                error_message: error_message.into(),
            }),
        }
    }

    #[test]
    fn a_partial_success_counts_the_spans_refused_with_the_receivers_words() {
        let expected = Some(Rejected {
            spans: 3,
            reason: "the OTLP receiver rejected spans: span too large".into(),
        });
        let answer = partial_success(3, "span too large");
        assert_eq!(
            Otlp::Protobuf.rejected(&answer.encode_to_vec()),
            expected,
            "protobuf"
        );
        assert_eq!(
            Otlp::Json.rejected(&serde_json::to_vec(&answer).unwrap()),
            expected,
            "JSON as opentelemetry-proto writes it"
        );
        // The proto3 JSON mapping writes an int64 as a string, as the
        // Collector does; a reader must take both.
        for body in [
            r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"span too large"}}"#,
            r#"{"partialSuccess":{"rejectedSpans":3,"errorMessage":"span too large"}}"#,
        ] {
            assert_eq!(Otlp::Json.rejected(body.as_bytes()), expected, "{body}");
        }
    }

    #[test]
    fn a_full_success_or_an_unreadable_answer_refuses_nothing() {
        // A warning with nothing refused is a full success.
        let warning = partial_success(0, "attribute names should be lowercase");
        assert_eq!(Otlp::Protobuf.rejected(&warning.encode_to_vec()), None);
        assert_eq!(
            Otlp::Json.rejected(&serde_json::to_vec(&warning).unwrap()),
            None
        );
        assert_eq!(
            Otlp::Json.rejected(
                br#"{"partialSuccess":{"rejectedSpans":"0","errorMessage":"a warning"}}"#
            ),
            None
        );
        let full = ExportTraceServiceResponse::default();
        assert_eq!(Otlp::Protobuf.rejected(&full.encode_to_vec()), None);
        for encoding in [Otlp::Protobuf, Otlp::Json] {
            assert_eq!(encoding.rejected(b""), None, "{encoding:?}: empty");
            for garbage in [&b"\xff\xfe\xfd"[..], b"<html>OK</html>", b"{\"partial"] {
                assert_eq!(
                    encoding.rejected(garbage),
                    None,
                    "{encoding:?}: {garbage:?}"
                );
            }
        }
        assert_eq!(Otlp::Json.rejected(b"{}"), None);
    }

    #[test]
    fn a_refusal_is_explained_in_plain_text_or_by_a_google_rpc_status() {
        for encoding in [Otlp::Protobuf, Otlp::Json] {
            assert_eq!(
                encoding.refusal_text(b"upstream connect error\n"),
                "upstream connect error\n"
            );
            let status = RpcStatus {
                code: 3,
                message: "bad span".into(),
            };
            assert_eq!(encoding.refusal_text(&status.encode_to_vec()), "bad span");
            // With `details` (field 3, an `Any`), as a receiver may add.
            let mut detailed = status.encode_to_vec();
            detailed.extend([0x1a, 0x02, 0x0a, 0x00]);
            assert_eq!(encoding.refusal_text(&detailed), "bad span");
            // Not a status, and a status that says nothing.
            for binary in [&[0xff, 0xfe, 0x00, 0x01][..], &[0x08, 0x05]] {
                assert_eq!(
                    encoding.refusal_text(binary),
                    format!("({} bytes the answer did not explain)", binary.len()),
                    "{binary:?}"
                );
            }
        }
    }
}
