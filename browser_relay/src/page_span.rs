//! What the relay accepts from a page, and the span it writes for Zipkin.
//!
//! A post is read into [`PageSpan`], a typed struct that refuses any field
//! it does not name, then every field is checked against what a page's
//! click span is ([`PageSpan::check`]). Zipkin then gets a span of the
//! project's one Zipkin model (`span_export::zipkin::Span`), written from
//! the checked fields only: never the bytes the page sent.
//!
//! The rules, and why each:
//!
//! - `kind` is `CLIENT`: the page calls the service; it serves nothing.
//! - `localEndpoint` is exactly `{"serviceName": "browser"}`: a page may
//!   not speak for another service (`api_02`), which would put made-up
//!   spans and links in that service's name. No address: the page has no
//!   honest one to give.
//! - `remoteEndpoint` is exactly `{"serviceName": <this service>}`: the
//!   only service the page called through this relay is the one serving it.
//! - `traceId` is 16 or 32 lowercase hex digits, `id` 16, neither all
//!   zeros (what Zipkin reads as no id); there is no `parentId`: the click
//!   is the root of its trace.
//! - `name` is 1 to 64 of `a-z 0-9 _ - . /` and space: a scenario's name.
//! - `timestamp` is epoch microseconds within the last hour (a report is
//!   sent as the answer arrives) and at most ten minutes ahead (a phone's
//!   clock may run fast); `duration` is 1 µs to 2 minutes (the longest a
//!   click waits is api_01's request timeout).
//! - `tags` are only those the page writes, each bounded:
//!   `http.request.method` (`GET`), `url.path` and `url.query` (URL
//!   characters), `http.response.status_code` (100 to 599) and `error`
//!   (printable ASCII).

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry::trace::{SpanId, TraceId};
use serde::Deserialize;
use span_export::{
    HexId,
    zipkin::{Endpoint, Kind, Span, Tag},
};

/// The service name of every span a page reports.
pub const BROWSER_SERVICE: &str = "browser";

const NAME_LIMIT: usize = 64;
const PATH_LIMIT: usize = 256;
const QUERY_LIMIT: usize = 512;
const ERROR_LIMIT: usize = 256;
const PAST_LIMIT: Duration = Duration::from_secs(60 * 60);
const FUTURE_LIMIT: Duration = Duration::from_secs(10 * 60);
const DURATION_LIMIT: Duration = Duration::from_secs(120);

/// A span as a page posts it: every field it may have, and no other.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct PageSpan {
    trace_id: String,
    id: String,
    kind: String,
    name: String,
    timestamp: u64,
    duration: u64,
    local_endpoint: PageEndpoint,
    remote_endpoint: PageEndpoint,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// An endpoint as a page may name it: a service name and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PageEndpoint {
    service_name: String,
}

/// Why a span was refused: said to the page as it is.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub(super) struct Refusal {
    pub field: &'static str,
    pub reason: String,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        field,
        reason: reason.into(),
    }
}

/// Whether a tag's value is one a page would send.
type TagCheck = fn(&str) -> bool;

/// The tags a page may send, each with its check.
const TAGS: [(&str, TagCheck); 5] = [
    ("http.request.method", |value| value == "GET"),
    ("url.path", |value| {
        value.starts_with('/') && value.len() <= PATH_LIMIT && value.bytes().all(is_url_byte)
    }),
    ("url.query", |value| {
        value.len() <= QUERY_LIMIT && value.bytes().all(is_url_byte)
    }),
    ("http.response.status_code", |value| {
        value.len() == 3
            && value
                .parse::<u16>()
                .is_ok_and(|code| (100..600).contains(&code))
    }),
    ("error", |value| {
        !value.is_empty()
            && value.len() <= ERROR_LIMIT
            && value.bytes().all(|b| (b' '..=b'~').contains(&b))
    }),
];

/// What a URL's path or query may hold here: what `encodeURIComponent`
/// leaves as it is, percent escapes, and the query's separators.
fn is_url_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!*'()/%=&+".contains(&byte)
}

fn is_hex_id(id: &str, lengths: &[usize]) -> bool {
    lengths.contains(&id.len())
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && id.bytes().any(|b| b != b'0')
}

impl PageSpan {
    /// Checks every field (the rules are in this module's documentation)
    /// for a relay in front of the service `service_name`, at `now`; gives
    /// the span to send to Zipkin.
    pub(super) fn check<'a>(
        &'a self,
        service_name: &'a str,
        now: SystemTime,
    ) -> Result<Span<'a>, Refusal> {
        if !is_hex_id(&self.trace_id, &[16, 32]) {
            return Err(refuse(
                "traceId",
                "must be 16 or 32 lowercase hex digits, not all zeros",
            ));
        }
        if !is_hex_id(&self.id, &[16]) {
            return Err(refuse(
                "id",
                "must be 16 lowercase hex digits, not all zeros",
            ));
        }
        if self.kind != "CLIENT" {
            return Err(refuse("kind", "must be CLIENT"));
        }
        let name_ok = (1..=NAME_LIMIT).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'/' | b' '));
        if !name_ok {
            return Err(refuse(
                "name",
                format!("must be 1 to {NAME_LIMIT} of a-z 0-9 _ - . / and space"),
            ));
        }
        if self.local_endpoint.service_name != BROWSER_SERVICE {
            return Err(refuse(
                "localEndpoint.serviceName",
                format!("must be {BROWSER_SERVICE}"),
            ));
        }
        if self.remote_endpoint.service_name != service_name {
            return Err(refuse(
                "remoteEndpoint.serviceName",
                format!("must be {service_name}"),
            ));
        }
        let now_us = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64;
        let earliest = now_us.saturating_sub(PAST_LIMIT.as_micros() as u64);
        let latest = now_us + FUTURE_LIMIT.as_micros() as u64;
        if !(earliest..=latest).contains(&self.timestamp) {
            return Err(refuse(
                "timestamp",
                "must be epoch microseconds within the last hour and at most 10 minutes ahead",
            ));
        }
        if !(1..=DURATION_LIMIT.as_micros() as u64).contains(&self.duration) {
            return Err(refuse("duration", "must be 1 to 120000000 microseconds"));
        }
        let mut tags = Vec::with_capacity(self.tags.len());
        for (key, value) in &self.tags {
            let Some((known, valid)) = TAGS.iter().find(|(known, _)| known == key) else {
                return Err(refuse("tags", format!("only {} are accepted", tag_names())));
            };
            if !valid(value) {
                return Err(refuse(
                    "tags",
                    format!("{known} has a value a page would not send"),
                ));
            }
            tags.push((*known, Tag::Text(value.as_str().into())));
        }
        Ok(Span {
            // As the page wrote it: 16 digits, or 32 even when the first 16
            // are zeros.
            trace_id: {
                let trace_id = TraceId::from_hex(&self.trace_id).expect("checked hex");
                if self.trace_id.len() == 32 {
                    HexId::trace_32(trace_id)
                } else {
                    HexId::trace(trace_id)
                }
            },
            parent_id: None,
            id: HexId::span(SpanId::from_hex(&self.id).expect("checked hex")),
            kind: Some(Kind::Client),
            name: &self.name,
            timestamp: self.timestamp,
            duration: self.duration,
            local_endpoint: Endpoint {
                service_name: BROWSER_SERVICE,
            },
            remote_endpoint: Some(Endpoint { service_name }),
            annotations: Vec::new(),
            tags,
            debug: false,
        })
    }
}

fn tag_names() -> String {
    TAGS.iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const NOW_US: u64 = 1_800_000_000_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(NOW_US)
    }

    fn valid() -> Value {
        json!({
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
            "id": "00f067aa0ba902b7",
            "kind": "CLIENT",
            "name": "fail-api_02",
            "timestamp": NOW_US - 2_000_000,
            "duration": 1_500,
            "localEndpoint": { "serviceName": "browser" },
            "remoteEndpoint": { "serviceName": "api_01" },
            "tags": {
                "http.request.method": "GET",
                "url.path": "/",
                "url.query": "fail=api_02",
                "http.response.status_code": "502",
                "error": "502"
            }
        })
    }

    fn check(span: Value) -> Result<Value, String> {
        let span: PageSpan = serde_json::from_value(span).map_err(|e| e.to_string())?;
        let written = span.check("api_01", now()).map_err(|e| e.to_string())?;
        let mut json = Vec::new();
        written.write(&mut json);
        Ok(serde_json::from_slice(&json).unwrap())
    }

    /// `valid()` with `object.key` (one level down) set to `value`.
    fn with(field: &str, value: Value) -> Value {
        let mut span = valid();
        let (object, key) = field.split_once('.').expect("object.key");
        span[object][key] = value;
        span
    }

    #[test]
    fn a_valid_span_is_written_from_its_fields() {
        assert_eq!(check(valid()).unwrap(), valid());
    }

    #[test]
    fn every_rule_refuses() {
        let mut cases: Vec<(Value, &str)> = Vec::new();
        for (field, value, says) in [
            (
                "traceId",
                json!("4BF92F3577B34DA6A3CE929D0E0E4736"),
                "traceId",
            ),
            (
                "traceId",
                json!("4bf92f3577b34da6a3ce929d0e0e47"),
                "traceId",
            ),
            (
                "traceId",
                json!("00000000000000000000000000000000"),
                "traceId",
            ),
            (
                "traceId",
                json!("zzf92f3577b34da6a3ce929d0e0e4736"),
                "traceId",
            ),
            ("id", json!("00f067aa0ba902b7aa"), "id"),
            ("id", json!("0000000000000000"), "id"),
            ("kind", json!("SERVER"), "kind"),
            ("name", json!(""), "name"),
            ("name", json!("<script>"), "name"),
            ("name", json!("x".repeat(65)), "name"),
            ("timestamp", json!(NOW_US - 3_700_000_000), "timestamp"),
            ("timestamp", json!(NOW_US + 700_000_000), "timestamp"),
            ("timestamp", json!(NOW_US / 1000), "timestamp"),
            ("duration", json!(0), "duration"),
            ("duration", json!(121_000_000), "duration"),
            ("timestamp", json!(-1), "invalid value"),
            ("duration", json!("1500"), "invalid type"),
        ] {
            let mut span = valid();
            span[field] = value;
            cases.push((span, says));
        }
        for (field, value, says) in [
            (
                "localEndpoint.serviceName",
                json!("api_02"),
                "localEndpoint",
            ),
            (
                "localEndpoint.ipv4",
                json!("10.0.0.1"),
                "unknown field `ipv4`",
            ),
            (
                "remoteEndpoint.serviceName",
                json!("api_03"),
                "remoteEndpoint",
            ),
            ("tags.sql", json!("drop table"), "only http.request.method"),
            (
                "tags.http.request.method",
                json!("POST"),
                "http.request.method has a value",
            ),
            (
                "tags.http.response.status_code",
                json!("99"),
                "status_code has a value",
            ),
            ("tags.url.path", json!("/<x>"), "url.path has a value"),
            ("tags.error", json!("x\ny"), "error has a value"),
            ("tags.error", json!(1), "invalid type"),
        ] {
            let span = if let Some(tag) = field.strip_prefix("tags.") {
                let mut span = valid();
                span["tags"][tag] = value;
                span
            } else {
                with(field, value)
            };
            cases.push((span, says));
        }
        let mut parent = valid();
        parent["parentId"] = json!("00f067aa0ba902b8");
        cases.push((parent, "unknown field `parentId`"));
        let mut missing = valid();
        missing.as_object_mut().unwrap().remove("remoteEndpoint");
        cases.push((missing, "missing field `remoteEndpoint`"));

        for (span, says) in cases {
            let error = check(span.clone()).expect_err(&span.to_string());
            assert!(error.contains(says), "{error} should say {says}: {span}");
        }
    }

    #[test]
    fn a_64_bit_trace_id_and_no_tags_are_fine() {
        let mut span = valid();
        span["traceId"] = json!("a3ce929d0e0e4736");
        span.as_object_mut().unwrap().remove("tags");
        let written = check(span.clone()).unwrap();
        assert_eq!(written, span, "no empty tags object either");
    }

    #[test]
    fn a_trace_id_is_written_as_the_page_sent_it() {
        let mut span = valid();
        span["traceId"] = json!("0000000000000000a3ce929d0e0e4736");
        assert_eq!(check(span.clone()).unwrap(), span, "32 digits stay 32");
    }
}
