//! What the tests of this module share: spans written in one line, and the
//! trees built from them.
//!
//! Zipkin's own tests build spans field by field; a one-line description
//! keeps each ported case as short as its Java original, and lets a reader
//! see the whole trace at a glance.

use serde_json::{Value, json};

use super::{Span, TraceTree};

/// A span in v2 JSON, written in one line (trace id `a` unless changed):
///
/// `"[parent>]id [KIND] [service][->remote] [shared] [error] [ip=…]
/// [ts=…] [dur=…] [name=…]"`, where `->remote` sets the remote endpoint
/// whatever the kind. Ids are hex, so `"a>b"` is span `b` under `a`.
#[derive(Clone)]
pub(super) struct S(Value);

pub(super) fn sp(description: &str) -> S {
    let mut json = json!({ "traceId": "a" });
    let mut words = description.split_whitespace();
    let ids = words.next().expect("an id");
    match ids.split_once('>') {
        Some((parent, id)) => {
            json["parentId"] = json!(parent);
            json["id"] = json!(id);
        }
        None => json["id"] = json!(ids),
    }
    for word in words {
        match word {
            "CLIENT" | "SERVER" | "PRODUCER" | "CONSUMER" => json["kind"] = json!(word),
            "shared" => json["shared"] = json!(true),
            "error" => json["tags"]["error"] = json!(""),
            _ => match word.split_once('=') {
                Some(("ip", ip)) => json["localEndpoint"]["ipv4"] = json!(ip),
                Some(("ts", at)) => json["timestamp"] = json!(at.parse::<u64>().unwrap()),
                Some(("dur", took)) => json["duration"] = json!(took.parse::<u64>().unwrap()),
                Some(("name", name)) => json["name"] = json!(name),
                Some(_) => panic!("unknown field in {word:?}"),
                None => {
                    let (local, remote) = word.split_once("->").unwrap_or((word, ""));
                    if !local.is_empty() {
                        json["localEndpoint"]["serviceName"] = json!(local);
                    }
                    if !remote.is_empty() {
                        json["remoteEndpoint"]["serviceName"] = json!(remote);
                    }
                }
            },
        }
    }
    S(json)
}

impl S {
    pub(super) fn trace(mut self, trace_id: &str) -> Self {
        self.0["traceId"] = json!(trace_id);
        self
    }
    pub(super) fn tag(mut self, key: &str, value: &str) -> Self {
        self.0["tags"][key] = json!(value);
        self
    }
    pub(super) fn annotation(mut self, timestamp: i64, value: &str) -> Self {
        let mut annotations = self.0["annotations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        annotations.push(json!({ "timestamp": timestamp, "value": value }));
        self.0["annotations"] = Value::Array(annotations);
        self
    }
    pub(super) fn error(mut self) -> Self {
        self.0["tags"]["error"] = json!("");
        self
    }
    pub(super) fn id(&self) -> &str {
        self.0["id"].as_str().unwrap()
    }
    pub(super) fn span(&self) -> Span {
        Span::from_json(&self.0).unwrap()
    }
}

pub(super) fn json_of(spans: &[S]) -> Vec<Value> {
    spans.iter().map(|span| span.0.clone()).collect()
}

pub(super) fn spans_of(spans: &[S]) -> Vec<Span> {
    spans.iter().map(S::span).collect()
}

pub(super) fn tree(spans: &[S]) -> TraceTree {
    TraceTree::build(&json_of(spans)).unwrap()
}

/// The same spans, in any order.
pub(super) fn assert_same_spans(mut actual: Vec<Span>, expected: &[S]) {
    let mut expected = spans_of(expected);
    let key = |span: &Span| format!("{span:?}");
    actual.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(actual, expected);
}
