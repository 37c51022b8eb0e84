//! Anything a client can post to `POST /browser/spans`: the body's bytes,
//! with a choice of `Content-Type`, `Content-Encoding` and
//! `Content-Length`, through `browser_relay`'s checks of a post (all of
//! the relay's path that the client's bytes go through: its flood limit
//! and the forward depend on none of them).
//!
//! Why: the relay is an open door into Zipkin, from any page. The rules:
//!
//! - no input panics the relay;
//! - every post is forwarded or answered with a 4xx, never a 5xx: a bad
//!   post is the client's mistake;
//! - it forwards exactly the posts that pass the rules of a page's span,
//!   as [`reference()`] reads them from `browser_relay`'s documentation
//!   (its table of answers, `page_span.rs`'s rules), and answers the
//!   others as that table says (`415`, `413`, `400`);
//! - what it forwards is the span it would write for those fields, byte
//!   for byte (`span_export`'s Zipkin writer, given the fields the
//!   reference read), and reads back as the very span the page posted:
//!   nothing added, nothing left out, nothing changed.
//!
//! Input: the first byte picks the headers ([`HEADERS`] by its low bits;
//! bit 7 set: no `Content-Length`, as a chunked post has none); the rest
//! is the body.

use std::{
    collections::BTreeMap,
    sync::LazyLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
};
use serde_json::{Map, Value};
use span_export::{
    HexId,
    zipkin::{Endpoint, Kind, Span, Tag, write_spans},
};

/// The service the relay is in front of.
pub const SERVICE: &str = "api_01";
/// The relay's clock in every check: fixed, so that a post's timestamp
/// reads the same in every run.
pub const NOW_US: u64 = 1_800_000_000_000_000;
/// The relay's body limit (its documentation's table).
const BODY_LIMIT: usize = 4 * 1024;

/// The headers a post may come with: `Content-Type` (`None`: none), and
/// `Content-Encoding`.
pub const HEADERS: [(Option<&str>, Option<&str>); 8] = [
    (Some("application/json"), None),
    (Some("application/json; charset=utf-8"), None),
    (Some("APPLICATION/JSON"), None),
    (None, None),
    (Some("text/plain"), None),
    (Some("application/json"), Some("gzip")),
    (Some("application/json"), Some("identity")),
    (Some("application/jsonp"), None),
];

/// The relay's checks are async; one runtime, built once, runs them all.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
});

/// The input [`check`] reads as a post of `body` with `HEADERS[headers]`.
pub fn encode(headers: u8, with_length: bool, body: &[u8]) -> Vec<u8> {
    let mut data = vec![(headers & 0x7f) | if with_length { 0 } else { 0x80 }];
    data.extend_from_slice(body);
    data
}

pub fn check(data: &[u8]) {
    let choice = data.first().copied().unwrap_or(0);
    let (content_type, encoding) = HEADERS[usize::from(choice & 0x7f) % HEADERS.len()];
    let body = data.get(1..).unwrap_or_default();
    let mut headers = HeaderMap::new();
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    if choice & 0x80 == 0 {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    check_post(&headers, body);
}

/// The rules of the relay, for a post of `body` with `headers`.
pub fn check_post(headers: &HeaderMap, body: &[u8]) {
    let answer = RUNTIME.block_on(browser_relay::fuzzing::post(
        SERVICE,
        headers,
        Body::from(body.to_vec()),
        now(),
    ));
    let expected = reference(headers, body);
    let says = || {
        format!(
            "the relay answered {answer:?} to {headers:?} and {:?}",
            String::from_utf8_lossy(body)
        )
    };
    match (&answer, &expected) {
        (Err((status, _)), _) if !status.is_client_error() => {
            panic!("{}: a post is forwarded or refused with a 4xx", says())
        }
        (Err((status, _)), Err(expected)) => {
            assert_eq!(
                status,
                expected,
                "{}: the reference answers {expected}",
                says()
            )
        }
        (Ok(_), Err(expected)) => panic!("{}: the reference refuses it ({expected})", says()),
        (Err(_), Ok(_)) => panic!("{}: the reference forwards it", says()),
        (Ok(forwarded), Ok(span)) => {
            let written = written(span);
            assert!(
                *forwarded == written,
                "{}: the span it would write is {:?}",
                says(),
                String::from_utf8_lossy(&written)
            );
            let read: Value = serde_json::from_slice(forwarded).expect("the relay writes JSON");
            assert_eq!(
                read,
                Value::Array(vec![as_posted(span)]),
                "{}: not the span posted",
                says()
            );
        }
    }
}

/// A page's span, as the reference reads it from a post.
#[derive(Debug)]
pub struct PageSpan {
    trace_id: String,
    id: String,
    name: String,
    timestamp: u64,
    duration: u64,
    tags: Map<String, Value>,
}

/// What the relay must do with a post: forward this span, or answer with
/// this status. Its documentation's table, in its order: `415` for a
/// body that is not plain JSON, `413` for one over 4 KiB, `400` for one
/// that is not exactly one span that keeps every rule of `page_span.rs`.
pub fn reference(headers: &HeaderMap, body: &[u8]) -> Result<PageSpan, StatusCode> {
    // A header value that is not text (http's `to_str`) says nothing.
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let media_type =
        text(header::CONTENT_TYPE).map(|value| value.split(';').next().unwrap_or_default());
    let json =
        media_type.is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    let plain = headers
        .get(header::CONTENT_ENCODING)
        .is_none_or(|value| value.as_bytes().eq_ignore_ascii_case(b"identity"));
    if !json || !plain {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let declared = text(header::CONTENT_LENGTH).and_then(|value| value.parse::<u64>().ok());
    if body.len() > BODY_LIMIT || declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    page_span(body).ok_or(StatusCode::BAD_REQUEST)
}

/// The one span of `body`, if it keeps every rule.
fn page_span(body: &[u8]) -> Option<PageSpan> {
    // JSON, as serde_json reads it (a key given twice: the last counts).
    let Value::Array(spans) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let [Value::Object(span)] = spans.as_slice() else {
        return None;
    };
    let fields = [
        "traceId",
        "id",
        "kind",
        "name",
        "timestamp",
        "duration",
        "localEndpoint",
        "remoteEndpoint",
        "tags",
    ];
    if span.keys().any(|key| !fields.contains(&key.as_str())) {
        return None;
    }
    let string = |key: &str| span.get(key)?.as_str();
    let is_lower_hex = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let not_zeros = |text: &str| text.bytes().any(|b| b != b'0');

    let trace_id = string("traceId")?;
    if !(trace_id.len() == 16 || trace_id.len() == 32)
        || !is_lower_hex(trace_id)
        || !not_zeros(trace_id)
    {
        return None;
    }
    let id = string("id")?;
    if id.len() != 16 || !is_lower_hex(id) || !not_zeros(id) {
        return None;
    }
    if string("kind")? != "CLIENT" {
        return None;
    }
    let name = string("name")?;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-./ ".contains(&b));
    if !name_ok {
        return None;
    }
    let timestamp = span.get("timestamp")?.as_u64()?;
    // Within the last hour, and at most ten minutes ahead.
    let hour_us = 3_600_000_000;
    let ten_minutes_us = 600_000_000;
    if timestamp < NOW_US - hour_us || timestamp > NOW_US + ten_minutes_us {
        return None;
    }
    let duration = span.get("duration")?.as_u64()?;
    if !(1..=120_000_000).contains(&duration) {
        return None;
    }
    let endpoint_is = |key: &str, service: &str| {
        let Some(Value::Object(endpoint)) = span.get(key) else {
            return false;
        };
        endpoint.len() == 1 && endpoint.get("serviceName").and_then(Value::as_str) == Some(service)
    };
    if !endpoint_is("localEndpoint", "browser") || !endpoint_is("remoteEndpoint", SERVICE) {
        return None;
    }
    let tags = match span.get("tags") {
        None => Map::new(),
        Some(Value::Object(tags)) => tags.clone(),
        Some(_) => return None,
    };
    for (key, value) in &tags {
        let value = value.as_str()?;
        if !tag_allowed(key, value) {
            return None;
        }
    }
    Some(PageSpan {
        trace_id: trace_id.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
        timestamp,
        duration,
        tags,
    })
}

/// The tags a page writes, each with what a page would put in it.
fn tag_allowed(key: &str, value: &str) -> bool {
    // What `encodeURIComponent` leaves as it is, percent escapes, and a
    // query's separators.
    let url_bytes = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!*'()/%=&+".contains(&b))
    };
    match key {
        "http.request.method" => value == "GET",
        "url.path" => value.starts_with('/') && value.len() <= 256 && url_bytes(value),
        "url.query" => value.len() <= 512 && url_bytes(value),
        "http.response.status_code" => {
            value.len() == 3
                && value.bytes().all(|b| b.is_ascii_digit())
                && value
                    .parse::<u16>()
                    .is_ok_and(|code| (100..=599).contains(&code))
        }
        "error" => {
            !value.is_empty()
                && value.len() <= 256
                && value.bytes().all(|b| (b' '..=b'~').contains(&b))
        }
        _ => false,
    }
}

/// The body the relay would write for `span`: `span_export`'s Zipkin
/// writer, given the fields the reference read.
fn written(span: &PageSpan) -> Vec<u8> {
    let trace_id = u128::from_str_radix(&span.trace_id, 16).expect("checked hex");
    let id = u64::from_str_radix(&span.id, 16).expect("checked hex");
    // In the order of their names, as the relay keeps them (a BTreeMap).
    let tags: BTreeMap<&str, &Value> = span
        .tags
        .iter()
        .map(|(key, value)| (key.as_str(), value))
        .collect();
    let tags: Vec<(&str, Tag)> = tags
        .into_iter()
        .map(|(key, value)| {
            let value = value.as_str().expect("checked text");
            (key, Tag::Text(value.into()))
        })
        .collect();
    let zipkin = Span {
        // As the page wrote it: 16 digits or 32.
        trace_id: if span.trace_id.len() == 32 {
            HexId::trace_32(trace_id.into())
        } else {
            HexId::trace(trace_id.into())
        },
        parent_id: None,
        id: HexId::span(id.into()),
        kind: Some(Kind::Client),
        name: &span.name,
        timestamp: span.timestamp,
        duration: span.duration,
        local_endpoint: Endpoint {
            service_name: "browser",
        },
        remote_endpoint: Some(Endpoint {
            service_name: SERVICE,
        }),
        annotations: Vec::new(),
        tags,
        debug: false,
    };
    let mut body = Vec::new();
    write_spans([zipkin], &mut body);
    body
}

/// `span` as the page posted it (no `tags` when it posted none, or none
/// at all: Zipkin writes no empty map).
fn as_posted(span: &PageSpan) -> Value {
    let mut posted = serde_json::json!({
        "traceId": span.trace_id,
        "id": span.id,
        "kind": "CLIENT",
        "name": span.name,
        "timestamp": span.timestamp,
        "duration": span.duration,
        "localEndpoint": { "serviceName": "browser" },
        "remoteEndpoint": { "serviceName": SERVICE },
    });
    if !span.tags.is_empty() {
        posted["tags"] = Value::Object(span.tags.clone());
    }
    posted
}

/// A post the relay forwards: for seeds and properties.
pub fn valid_body() -> Value {
    serde_json::json!([{
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "id": "00f067aa0ba902b7",
        "kind": "CLIENT",
        "name": "fail-api_02",
        "timestamp": NOW_US - 2_000_000,
        "duration": 1_500,
        "localEndpoint": { "serviceName": "browser" },
        "remoteEndpoint": { "serviceName": SERVICE },
        "tags": {
            "http.request.method": "GET",
            "url.path": "/",
            "url.query": "fail=api_02",
            "http.response.status_code": "502",
            "error": "502"
        }
    }])
}

/// The time the relay's checks run at.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(NOW_US)
}
