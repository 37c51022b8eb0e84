//! One span as Zipkin holds it once decoded, and the decoding itself.
//!
//! Follows `zipkin2.internal.V2SpanReader` (reading v2 JSON),
//! `zipkin2.Span.Builder` and `zipkin2.Endpoint.Builder` (what they do to
//! the values). Decoding is where Zipkin normalizes ids, lowercases names
//! and drops a self-parent, and those decide which spans later merge and
//! where they land in the tree, so every other step works on spans decoded
//! exactly as Zipkin decodes them.

use std::{collections::BTreeMap, fmt, net::IpAddr};

use serde_json::Value;

/// The kind of a span, as Zipkin's `Span.Kind`. `None` means a local span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Client,
    Server,
    Producer,
    Consumer,
}

impl Kind {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "CLIENT" => Self::Client,
            "SERVER" => Self::Server,
            "PRODUCER" => Self::Producer,
            "CONSUMER" => Self::Consumer,
            _ => return None,
        })
    }

    /// The name Zipkin's JSON uses: `CLIENT`, `SERVER`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "CLIENT",
            Self::Server => "SERVER",
            Self::Producer => "PRODUCER",
            Self::Consumer => "CONSUMER",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A local or remote endpoint. Equality covers every field, as Zipkin's
/// `Endpoint.equals` does: it decides which shared spans are the same node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Lowercased; `None` when absent or empty.
    pub service_name: Option<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    /// 0 when unknown.
    pub port: u16,
}

impl Endpoint {
    fn to_json(&self) -> Value {
        let mut json = serde_json::Map::new();
        let fields = [
            ("serviceName", self.service_name.clone().map(Value::from)),
            ("ipv4", self.ipv4.clone().map(Value::from)),
            ("ipv6", self.ipv6.clone().map(Value::from)),
            ("port", (self.port > 0).then(|| self.port.into())),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                json.insert(key.to_owned(), value);
            }
        }
        Value::Object(json)
    }
}

/// A timestamped event on a span. Ordered by timestamp, then value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Annotation {
    pub timestamp: i64,
    pub value: String,
}

/// One span as Zipkin holds it after decoding: ids normalized, names
/// lowercased, absent numbers as 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// 16 or 32 lowercase hex characters (see [`normalize_trace_id`]).
    pub trace_id: String,
    /// 16 lowercase hex characters; `None` on a root (or all zeros).
    pub parent_id: Option<String>,
    /// 16 lowercase hex characters.
    pub id: String,
    pub kind: Option<Kind>,
    /// Lowercased; `None` when absent or empty.
    pub name: Option<String>,
    /// Microseconds since the epoch; 0 when absent.
    pub timestamp: u64,
    /// Microseconds; 0 when absent.
    pub duration: u64,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    /// Sorted and without duplicates.
    pub annotations: Vec<Annotation>,
    pub tags: BTreeMap<String, String>,
    pub debug: bool,
    /// This span joins a span its caller started (B3 id sharing).
    pub shared: bool,
}

impl Span {
    /// Decodes one span of Zipkin's v2 JSON as Zipkin would, or says why
    /// Zipkin would refuse it.
    pub fn from_json(json: &Value) -> Result<Self, String> {
        let object = json
            .as_object()
            .ok_or_else(|| format!("a span must be a JSON object, got {json}"))?;
        let required = |field: &str| match object.get(field) {
            Some(Value::String(text)) => Ok(text.as_str()),
            other => Err(format!("{field} must be a string, got {other:?}")),
        };
        let mut span = Span {
            trace_id: normalize_trace_id(required("traceId")?)?,
            id: normalize_span_id(required("id")?)?,
            ..Span::default()
        };
        for (field, value) in object {
            if value.is_null() {
                continue; // Zipkin skips null optional fields.
            }
            match field.as_str() {
                "parentId" => span.parent_id = normalize_parent_id(string(value, field)?)?,
                "kind" => {
                    let text = string(value, field)?;
                    span.kind =
                        Some(Kind::parse(text).ok_or_else(|| format!("unknown kind {text:?}"))?);
                }
                "name" => span.name = lowercase_or_none(string(value, field)?),
                "timestamp" => span.timestamp = long(value, field)?.max(0).unsigned_abs(),
                "duration" => span.duration = long(value, field)?.max(0).unsigned_abs(),
                "localEndpoint" => span.local_endpoint = parse_endpoint(value, field)?,
                "remoteEndpoint" => span.remote_endpoint = parse_endpoint(value, field)?,
                "annotations" => span.annotations = parse_annotations(value)?,
                "tags" => span.tags = parse_tags(value)?,
                // Only `true` sets these flags; `false` leaves them unset.
                "debug" => span.debug = boolean(value, field)?,
                "shared" => span.shared = boolean(value, field)?,
                _ => {}
            }
        }
        span.annotations.sort();
        span.annotations.dedup();
        span.settle();
        Ok(span)
    }

    /// The span as Zipkin writes it back (`V2SpanWriter`): its fields in
    /// Zipkin's order, empty ones left out, tags and annotations sorted.
    pub fn to_json(&self) -> Value {
        let mut json = serde_json::Map::new();
        let mut put = |key: &str, value: Value| {
            json.insert(key.to_owned(), value);
        };
        put("traceId", self.trace_id.clone().into());
        if let Some(parent) = &self.parent_id {
            put("parentId", parent.clone().into());
        }
        put("id", self.id.clone().into());
        if let Some(kind) = self.kind {
            put("kind", kind.as_str().into());
        }
        if let Some(name) = &self.name {
            put("name", name.clone().into());
        }
        if self.timestamp > 0 {
            put("timestamp", self.timestamp.into());
        }
        if self.duration > 0 {
            put("duration", self.duration.into());
        }
        for (key, endpoint) in [
            ("localEndpoint", &self.local_endpoint),
            ("remoteEndpoint", &self.remote_endpoint),
        ] {
            if let Some(endpoint) = endpoint {
                put(key, endpoint.to_json());
            }
        }
        if !self.annotations.is_empty() {
            let annotations = self.annotations.iter().map(|annotation| {
                serde_json::json!({ "timestamp": annotation.timestamp, "value": annotation.value })
            });
            put("annotations", annotations.collect());
        }
        if !self.tags.is_empty() {
            put("tags", serde_json::to_value(&self.tags).expect("strings"));
        }
        if self.debug {
            put("debug", true.into());
        }
        if self.shared {
            put("shared", true.into());
        }
        Value::Object(json)
    }

    /// The local endpoint's service name.
    pub fn local_service(&self) -> Option<&str> {
        self.local_endpoint.as_ref()?.service_name.as_deref()
    }

    /// The remote endpoint's service name.
    pub fn remote_service(&self) -> Option<&str> {
        self.remote_endpoint.as_ref()?.service_name.as_deref()
    }

    /// Whether the span carries an `error` tag (an annotation named "error"
    /// does not count, as in Zipkin).
    pub fn is_error(&self) -> bool {
        self.tags.contains_key("error")
    }

    /// The last rules Zipkin applies when it builds a span: a span cannot be
    /// its own parent, and a CLIENT span is never `shared`.
    pub(super) fn settle(&mut self) {
        if self.parent_id.as_ref() == Some(&self.id) {
            self.parent_id = None;
        }
        if self.shared && self.kind == Some(Kind::Client) {
            self.shared = false;
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.local_service().unwrap_or("?"),
            self.kind.map_or("LOCAL", Kind::as_str)
        )?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " id={}", self.id)?;
        if let Some(parent) = &self.parent_id {
            write!(f, " parent={parent}")?;
        }
        if self.shared {
            f.write_str(" shared")?;
        }
        if let Some(remote) = self.remote_service() {
            write!(f, " -> {remote}")?;
        }
        if self.is_error() {
            f.write_str(" error")?;
        }
        Ok(())
    }
}

/// Normalizes a trace id as Zipkin does (`Span.normalizeTraceId`): lowercase
/// hex only, at most 32 characters, not all zeros. 16 and 32 characters are
/// kept, except that a 32-character id whose upper 16 are zeros becomes its
/// lower 16; a shorter id is zero-padded on the left to 16, and one of 17 to
/// 31 characters to 32 (even when the padding makes the upper half zeros).
pub fn normalize_trace_id(trace_id: &str) -> Result<String, String> {
    let length = trace_id.len();
    if length == 0 {
        return Err("traceId is empty".into());
    }
    if length > 32 {
        return Err(format!("traceId {trace_id:?} is longer than 32"));
    }
    let zeros = hex_zero_prefix(trace_id)?;
    if zeros == length {
        return Err("traceId is all zeros".into());
    }
    Ok(match length {
        32 if zeros >= 16 => trace_id[16..].to_owned(),
        16 | 32 => trace_id.to_owned(),
        ..16 => format!("{trace_id:0>16}"),
        _ => format!("{trace_id:0>32}"),
    })
}

/// A span id as Zipkin's `Span.Builder.id` takes it: 1 to 16 lowercase hex
/// characters, zero-padded to 16. Zipkin only refuses an id of 16 zeros, so a
/// shorter all-zero id (say `"0"`) passes; so it does here.
fn normalize_span_id(id: &str) -> Result<String, String> {
    if id.is_empty() {
        return Err("id is empty".into());
    }
    if id.len() > 16 {
        return Err(format!("id {id:?} is longer than 16"));
    }
    if hex_zero_prefix(id)? == 16 {
        return Err("id is all zeros".into());
    }
    Ok(format!("{id:0>16}"))
}

/// A parent id as Zipkin's `Span.Builder.parentId` takes it: like a span id,
/// except that all zeros (of any length) means no parent.
fn normalize_parent_id(id: &str) -> Result<Option<String>, String> {
    if id.is_empty() {
        return Err("parentId is empty".into());
    }
    if id.len() > 16 {
        return Err(format!("parentId {id:?} is longer than 16"));
    }
    if hex_zero_prefix(id)? == id.len() {
        return Ok(None);
    }
    Ok(Some(format!("{id:0>16}")))
}

/// Checks that `id` is lowercase hex, and counts its leading zeros.
fn hex_zero_prefix(id: &str) -> Result<usize, String> {
    if !id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("{id:?} should be lower-hex encoded with no prefix"));
    }
    Ok(id.bytes().take_while(|&b| b == b'0').count())
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{field} must be a string, got {value}"))
}

/// An integer, or (as Gson allows) an integer written as a string.
fn long(value: &Value, field: &str) -> Result<i64, String> {
    match value {
        Value::String(text) => text.parse().ok(),
        _ => value.as_i64(),
    }
    .ok_or_else(|| format!("{field} must be an integer, got {value}"))
}

fn boolean(value: &Value, field: &str) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{field} must be a boolean, got {value}"))
}

fn lowercase_or_none(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_lowercase())
}

/// An endpoint as Zipkin decodes it: `None` when nothing usable is in it.
/// Either of `ipv4`/`ipv6` may hold either family; an address that does not
/// parse is dropped, as Zipkin drops it.
fn parse_endpoint(value: &Value, field: &str) -> Result<Option<Endpoint>, String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("{field} must be an object, got {value}"))?;
    let mut endpoint = Endpoint::default();
    for (name, value) in object {
        if value.is_null() {
            continue;
        }
        match name.as_str() {
            "serviceName" => endpoint.service_name = lowercase_or_none(string(value, name)?),
            "ipv4" | "ipv6" => match parse_ip(string(value, name)?) {
                Some(IpAddr::V4(ip)) => endpoint.ipv4 = Some(ip.to_string()),
                Some(IpAddr::V6(ip)) => endpoint.ipv6 = Some(ip.to_string()),
                None => {}
            },
            "port" => {
                let port = long(value, name)?;
                endpoint.port = u16::try_from(port.max(0))
                    .map_err(|_| format!("invalid port {port} in {field}"))?;
            }
            _ => {}
        }
    }
    Ok((endpoint != Endpoint::default()).then_some(endpoint))
}

/// An IP address as Zipkin reads one. An IPv6 address written with an
/// embedded dotted IPv4 address (`::1.2.3.4`, `::ffff:1.2.3.4`) counts as
/// that IPv4 address; any other IPv6 address stays IPv6.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if text.contains(':') && text.contains('.') {
        let IpAddr::V6(ip) = text.parse().ok()? else {
            return None;
        };
        let segments = ip.segments();
        let embeds_ipv4 = segments[..5] == [0; 5] && matches!(segments[5], 0 | 0xffff);
        return if embeds_ipv4 {
            ip.to_ipv4().map(IpAddr::V4)
        } else {
            None
        };
    }
    text.parse().ok()
}

fn parse_annotations(value: &Value) -> Result<Vec<Annotation>, String> {
    let items = value
        .as_array()
        .ok_or_else(|| format!("annotations must be an array, got {value}"))?;
    items
        .iter()
        .map(|item| {
            let timestamp = item.get("timestamp").filter(|v| !v.is_null());
            let text = item.get("value").filter(|v| !v.is_null());
            match (timestamp, text) {
                (Some(timestamp), Some(text)) => Ok(Annotation {
                    timestamp: long(timestamp, "annotation timestamp")?,
                    value: string(text, "annotation value")?.to_owned(),
                }),
                _ => Err(format!("incomplete annotation {item}")),
            }
        })
        .collect()
}

fn parse_tags(value: &Value) -> Result<BTreeMap<String, String>, String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("tags must be an object, got {value}"))?;
    object
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(_) => value.to_string(), // as Gson reads it
                _ => return Err(format!("tag {key:?} must have a string value, got {value}")),
            };
            Ok((key.clone(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::zipkin_rules::testing::sp;

    // -- Decoding, as Zipkin's Span, Endpoint and V2SpanReader --------------

    #[test]
    fn trace_ids_are_normalized_as_zipkin_does() {
        let normalized = |id: &str| normalize_trace_id(id);
        assert_eq!(normalized("a").unwrap(), "000000000000000a");
        assert_eq!(normalized("48485a3953bb6124").unwrap(), "48485a3953bb6124");
        let long = "463ac35c9f6413ad48485a3953bb6124";
        assert_eq!(normalized(long).unwrap(), long);
        // 32 characters whose upper 16 are zeros: the 64-bit form.
        let padded = "000000000000000048485a3953bb6124";
        assert_eq!(normalized(padded).unwrap(), "48485a3953bb6124");
        // 17 to 31 characters are padded to 32, even to upper zeros.
        let odd = "148485a3953bb6124";
        assert_eq!(normalized(odd).unwrap(), "000000000000000148485a3953bb6124");
        assert!(normalized("").is_err());
        assert!(normalized("00000000").is_err());
        assert!(normalized("463AC35C9F6413AD").is_err(), "uppercase");
        assert!(normalized(&"1".repeat(33)).is_err());
    }

    #[test]
    fn decoding_applies_zipkins_span_rules() {
        let span = Span::from_json(&json!({
            "traceId": "a", "id": "b", "parentId": "0000000000000000",
            "kind": "CLIENT", "shared": true, "debug": false, "name": "GET /Users",
            "localEndpoint": { "serviceName": "API_01", "ipv6": "::ffff:10.0.0.1" },
            "remoteEndpoint": {},
            "annotations": [
                { "timestamp": 2, "value": "b" },
                { "timestamp": 1, "value": "a" },
                { "timestamp": 2, "value": "b" },
            ],
        }))
        .unwrap();
        assert_eq!(span.trace_id, "000000000000000a");
        assert_eq!(span.id, "000000000000000b");
        assert_eq!(span.parent_id, None, "all zeros is no parent");
        assert!(!span.shared, "a CLIENT span is never shared");
        assert_eq!(span.name.as_deref(), Some("get /users"));
        assert_eq!(span.local_service(), Some("api_01"));
        let local = span.local_endpoint.as_ref().unwrap();
        assert_eq!(
            (local.ipv4.as_deref(), local.ipv6.as_deref()),
            (Some("10.0.0.1"), None)
        );
        assert_eq!(span.remote_endpoint, None, "an empty endpoint is none");
        let annotations: Vec<&str> = span.annotations.iter().map(|a| a.value.as_str()).collect();
        assert_eq!(annotations, ["a", "b"], "sorted and deduplicated");

        assert_eq!(sp("b>b").span().parent_id, None, "not its own parent");
        let unshared = json!({ "traceId": "a", "id": "b", "shared": false });
        assert!(!Span::from_json(&unshared).unwrap().shared);
        // Gson's leniency: integers as strings, numbers as tag values.
        let lenient = json!({ "traceId": "a", "id": "b", "timestamp": "5", "tags": { "n": 2 } });
        let lenient = Span::from_json(&lenient).unwrap();
        assert_eq!((lenient.timestamp, lenient.tags["n"].as_str()), (5, "2"));
        for refused in [
            json!({ "traceId": "a" }),
            json!({ "traceId": "a", "id": "B" }),
            json!({ "traceId": "a", "id": "b", "kind": "LOCAL" }),
            json!({ "traceId": "a", "id": "b", "parentId": "" }),
            json!({ "traceId": "a", "id": "b", "localEndpoint": { "port": 70000 } }),
            json!({ "traceId": "a", "id": "b", "tags": { "ok": true } }),
        ] {
            assert!(Span::from_json(&refused).is_err(), "{refused}");
        }
    }
}
