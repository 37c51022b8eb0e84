//! B3, read and written by hand, exactly as the specification
//! (openzipkin/b3-propagation) and real senders have it.
//!
//! Why not `opentelemetry-propagator-b3`: in 0.33 it reads
//! `X-B3-Flags: 0` (which py_zipkin always sends) as "not sampled", over
//! `X-B3-Sampled: 1`; with single-header support on, it refuses the legacy
//! `X-B3-Sampled: true`; it ignores the sampling-only forms (`b3: 0`, a lone
//! `X-B3-Sampled: 0`); it drops `X-B3-ParentSpanId` on the way in and never
//! writes it on the way out; and it reads a missing decision as "not
//! sampled". Correcting each of those around it took more code than reading
//! four headers, so this module reads them itself. A test in
//! `conformance.rs` pins the upstream behaviours, so an upgrade that fixes
//! them is noticed.
//!
//! This module knows B3 only: headers in, [`B3`] out, and back. Where the
//! service puts a caller's span (join) is `super`'s; whether it records
//! the trace is `crate::sampling`'s.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::trace::{SpanId, TraceId};

use crate::hex::{self, HexId};

pub(crate) const TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
pub(crate) const SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
pub(crate) const PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
pub(crate) const SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
pub(crate) const FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");
pub(crate) const SINGLE: HeaderName = HeaderName::from_static("b3");

/// A caller's sampling decision, the four states B3 knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sampling {
    /// No decision sent: the receiver decides.
    Defer,
    /// Do not record this trace.
    Deny,
    /// Record this trace.
    Accept,
    /// Record this trace and mark every span `debug` (an emphasized accept).
    Debug,
}

/// The identifiers of the caller's span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ids {
    pub(crate) trace_id: TraceId,
    /// The caller's span: in B3 the callee may take this id as its own
    /// (a *shared* span) or make it its parent.
    pub(crate) span_id: SpanId,
    /// The caller's parent, when it sent one.
    pub(crate) parent_span_id: Option<SpanId>,
}

/// What a caller sent: identifiers (absent in the sampling-only forms such as
/// `b3: 0`) and a sampling decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct B3 {
    pub(crate) ids: Option<Ids>,
    pub(crate) sampling: Sampling,
}

impl B3 {
    /// Reads B3 from request headers: the single `b3` header first (the
    /// specification gives it precedence), then the `X-B3-*` headers. `None`
    /// when neither holds a usable context; a malformed context is ignored
    /// whole, never half-used.
    pub(crate) fn read(headers: &HeaderMap) -> Option<Self> {
        let found = B3Headers::in_headers(headers);
        found
            .single
            .and_then(|value| parse_single(value.as_bytes()))
            .or_else(|| read_multi(&found))
    }

    /// Writes the multi-header form (`b3multi`), which every B3 reader
    /// understands (py_zipkin's servers read only that one): the ids, then
    /// the decision. Debug is sent as `X-B3-Flags: 1` alone, since it
    /// implies accept.
    pub(crate) fn write_multi(&self, headers: &mut HeaderMap) {
        if let Some(ids) = &self.ids {
            headers.insert(TRACE_ID, id_value(HexId::trace(ids.trace_id)));
            headers.insert(SPAN_ID, id_value(HexId::span(ids.span_id)));
            if let Some(parent) = ids.parent_span_id {
                headers.insert(PARENT_SPAN_ID, id_value(HexId::span(parent)));
            }
        }
        match self.sampling {
            Sampling::Defer => {}
            Sampling::Deny => {
                headers.insert(SAMPLED, HeaderValue::from_static("0"));
            }
            Sampling::Accept => {
                headers.insert(SAMPLED, HeaderValue::from_static("1"));
            }
            Sampling::Debug => {
                headers.insert(FLAGS, HeaderValue::from_static("1"));
            }
        }
    }
}

impl B3 {
    /// Writes the single-header form (`b3`):
    /// `b3: {TraceId}-{SpanId}-{SamplingState}-{ParentSpanId}`, or the
    /// decision alone when there are no ids. Without a decision, the
    /// parent is left out: the specification puts it after the decision.
    pub(crate) fn write_single(&self, headers: &mut HeaderMap) {
        let decision = match self.sampling {
            Sampling::Defer => None,
            Sampling::Deny => Some(b'0'),
            Sampling::Accept => Some(b'1'),
            Sampling::Debug => Some(b'd'),
        };
        let Some(ids) = &self.ids else {
            if let Some(decision) = decision {
                let value = HeaderValue::from_bytes(&[decision]).expect("one ASCII digit");
                headers.insert(SINGLE, value);
            }
            return;
        };
        // 32 + 1 + 16 + 2 + 17 bytes at most: on the stack, then one
        // allocation for the value.
        let mut value = [0u8; 68];
        let mut len = 0;
        let mut push = |bytes: &[u8]| {
            value[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        push(HexId::trace(ids.trace_id).as_bytes());
        push(b"-");
        push(HexId::span(ids.span_id).as_bytes());
        if let Some(decision) = decision {
            push(&[b'-', decision]);
            if let Some(parent) = ids.parent_span_id {
                push(b"-");
                push(HexId::span(parent).as_bytes());
            }
        }
        let value = HeaderValue::from_bytes(&value[..len]).expect("hex digits and dashes");
        headers.insert(SINGLE, value);
    }
}

/// `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`, or the
/// sampling state alone. Read as bytes, not text: a byte that is not ASCII
/// (which HTTP allows in a value) is one more malformed digit, so in the
/// parent it costs only the parent, as in `X-B3-ParentSpanId`.
fn parse_single(value: &[u8]) -> Option<B3> {
    let mut parts = value.split(|&byte| byte == b'-');
    let first = parts.next()?;
    let Some(second) = parts.next() else {
        // Only a decision: `b3: 0`, `b3: 1` or `b3: d`.
        let sampling = match first {
            b"0" => Sampling::Deny,
            b"1" => Sampling::Accept,
            b"d" => Sampling::Debug,
            _ => return None,
        };
        return Some(B3 {
            ids: None,
            sampling,
        });
    };
    let sampling = match parts.next() {
        None => Sampling::Defer,
        Some(b"0") => Sampling::Deny,
        Some(b"1") => Sampling::Accept,
        Some(b"d") => Sampling::Debug,
        Some(_) => return None,
    };
    let parent = parts.next();
    if parts.next().is_some() {
        return None;
    }
    Some(B3 {
        ids: Some(Ids {
            trace_id: parse_trace_id(first)?,
            span_id: parse_span_id(second)?,
            parent_span_id: parent.and_then(parse_span_id),
        }),
        sampling,
    })
}

/// The B3 headers of a request, found in one pass over its headers rather
/// than six look-ups by name, each of which hashes the name (2 % of a span,
/// and on every request, recorded or not). The first value of a header
/// sent twice counts.
#[derive(Default)]
struct B3Headers<'a> {
    single: Option<&'a HeaderValue>,
    trace_id: Option<&'a HeaderValue>,
    span_id: Option<&'a HeaderValue>,
    parent_span_id: Option<&'a HeaderValue>,
    sampled: Option<&'a HeaderValue>,
    flags: Option<&'a HeaderValue>,
}

impl<'a> B3Headers<'a> {
    fn in_headers(headers: &'a HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            let slot = match name.as_str() {
                "b3" => &mut found.single,
                "x-b3-traceid" => &mut found.trace_id,
                "x-b3-spanid" => &mut found.span_id,
                "x-b3-parentspanid" => &mut found.parent_span_id,
                "x-b3-sampled" => &mut found.sampled,
                "x-b3-flags" => &mut found.flags,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        found
    }
}

/// The `X-B3-*` headers.
fn read_multi(found: &B3Headers<'_>) -> Option<B3> {
    fn text(value: Option<&HeaderValue>) -> Option<Option<&str>> {
        value.map(|value| value.to_str().ok())
    }
    let sampled = match text(found.sampled) {
        None => Sampling::Defer,
        Some(value) => parse_sampled(value?)?,
    };
    // Only `1` means debug. py_zipkin sends `X-B3-Flags: 0` on every call;
    // it means "no flags", not "not sampled".
    let sampling = match text(found.flags) {
        Some(Some("1")) => Sampling::Debug,
        _ => sampled,
    };
    let Some(trace_id) = text(found.trace_id) else {
        // No ids: B3 allows a decision on its own (`X-B3-Sampled: 0`).
        return (sampling != Sampling::Defer).then_some(B3 {
            ids: None,
            sampling,
        });
    };
    Some(B3 {
        ids: Some(Ids {
            trace_id: parse_trace_id(trace_id?.as_bytes())?,
            span_id: parse_span_id(text(found.span_id)??.as_bytes())?,
            // A malformed parent costs only the parent, not the trace.
            parent_span_id: text(found.parent_span_id)
                .flatten()
                .and_then(|parent| parse_span_id(parent.as_bytes())),
        }),
        sampling,
    })
}

/// `1` and `0`, and the `true` and `false` of senders older than the
/// specification, which it allows a lenient reader to accept.
fn parse_sampled(value: &str) -> Option<Sampling> {
    match value {
        "1" => Some(Sampling::Accept),
        "0" => Some(Sampling::Deny),
        _ if value.eq_ignore_ascii_case("true") => Some(Sampling::Accept),
        _ if value.eq_ignore_ascii_case("false") => Some(Sampling::Deny),
        _ => None,
    }
}

/// 16 or 32 lower-hex digits, not all zero.
fn parse_trace_id(digits: &[u8]) -> Option<TraceId> {
    let half = |range: std::ops::Range<usize>| hex::parse_16(digits[range].try_into().ok()?);
    let id = match digits.len() {
        16 => u128::from(half(0..16)?),
        32 => u128::from(half(0..16)?) << 64 | u128::from(half(16..32)?),
        _ => return None,
    };
    (id != 0).then(|| TraceId::from(id))
}

/// 16 lower-hex digits, not all zero.
fn parse_span_id(digits: &[u8]) -> Option<SpanId> {
    let id = hex::parse_16(digits.try_into().ok()?)?;
    (id != 0).then(|| SpanId::from(id))
}

/// An id as a header value.
fn id_value(id: HexId) -> HeaderValue {
    HeaderValue::from_bytes(id.as_bytes()).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "463ac35c9f6413ad48485a3953bb6124";
    const TRACE_64: &str = "48485a3953bb6124";
    const SPAN: &str = "a2fb4a1d1a96d312";
    const PARENT: &str = "0020000000000001";

    fn read(pairs: &[(&str, &str)]) -> Option<B3> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        B3::read(&headers)
    }

    fn ids(trace: &str, parent: Option<&str>) -> Option<Ids> {
        Some(Ids {
            trace_id: TraceId::from_hex(trace).unwrap(),
            span_id: SpanId::from_hex(SPAN).unwrap(),
            parent_span_id: parent.map(|p| SpanId::from_hex(p).unwrap()),
        })
    }

    #[test]
    fn the_single_header_in_all_its_forms() {
        let with = |sampling| {
            Some(B3 {
                ids: ids(TRACE, None),
                sampling,
            })
        };
        assert_eq!(
            read(&[("b3", &format!("{TRACE}-{SPAN}"))]),
            with(Sampling::Defer)
        );
        assert_eq!(
            read(&[("b3", &format!("{TRACE}-{SPAN}-1"))]),
            with(Sampling::Accept)
        );
        assert_eq!(
            read(&[("b3", &format!("{TRACE}-{SPAN}-0"))]),
            with(Sampling::Deny)
        );
        assert_eq!(
            read(&[("b3", &format!("{TRACE}-{SPAN}-d"))]),
            with(Sampling::Debug)
        );
        assert_eq!(
            read(&[("b3", &format!("{TRACE}-{SPAN}-1-{PARENT}"))]),
            Some(B3 {
                ids: ids(TRACE, Some(PARENT)),
                sampling: Sampling::Accept
            })
        );
        for (value, sampling) in [
            ("0", Sampling::Deny),
            ("1", Sampling::Accept),
            ("d", Sampling::Debug),
        ] {
            assert_eq!(
                read(&[("b3", value)]),
                Some(B3 {
                    ids: None,
                    sampling
                }),
                "b3: {value}"
            );
        }
    }

    #[test]
    fn the_multi_header_form_with_what_real_senders_add() {
        let multi = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("X-B3-TraceId", TRACE_64), ("X-B3-SpanId", SPAN)];
            pairs.extend_from_slice(extra);
            read(&pairs).map(|b3| b3.sampling)
        };
        assert_eq!(multi(&[]), Some(Sampling::Defer));
        assert_eq!(multi(&[("X-B3-Sampled", "1")]), Some(Sampling::Accept));
        // py_zipkin: Flags 0 on every call.
        assert_eq!(
            multi(&[("X-B3-Sampled", "1"), ("X-B3-Flags", "0")]),
            Some(Sampling::Accept)
        );
        assert_eq!(
            multi(&[("X-B3-Sampled", "0"), ("X-B3-Flags", "0")]),
            Some(Sampling::Deny)
        );
        assert_eq!(multi(&[("X-B3-Flags", "0")]), Some(Sampling::Defer));
        assert_eq!(multi(&[("X-B3-Sampled", "true")]), Some(Sampling::Accept));
        assert_eq!(multi(&[("X-B3-Sampled", "False")]), Some(Sampling::Deny));
        assert_eq!(multi(&[("X-B3-Flags", "1")]), Some(Sampling::Debug));
        assert_eq!(
            multi(&[("X-B3-Sampled", "0"), ("X-B3-Flags", "1")]),
            Some(Sampling::Debug)
        );
        assert_eq!(multi(&[("X-B3-Sampled", "maybe")]), None);
        assert_eq!(
            read(&[
                ("X-B3-TraceId", TRACE),
                ("X-B3-SpanId", SPAN),
                ("X-B3-ParentSpanId", PARENT)
            ]),
            Some(B3 {
                ids: ids(TRACE, Some(PARENT)),
                sampling: Sampling::Defer
            })
        );
        assert_eq!(
            read(&[
                ("X-B3-TraceId", TRACE),
                ("X-B3-SpanId", SPAN),
                ("X-B3-ParentSpanId", "nope")
            ]),
            Some(B3 {
                ids: ids(TRACE, None),
                sampling: Sampling::Defer
            })
        );
    }

    #[test]
    fn a_decision_alone_is_a_sampling_only_context() {
        for (value, sampling) in [
            ("0", Sampling::Deny),
            ("1", Sampling::Accept),
            ("false", Sampling::Deny),
        ] {
            assert_eq!(
                read(&[("X-B3-Sampled", value)]),
                Some(B3 {
                    ids: None,
                    sampling
                })
            );
        }
        assert_eq!(
            read(&[("X-B3-Flags", "1")]),
            Some(B3 {
                ids: None,
                sampling: Sampling::Debug
            })
        );
        assert_eq!(read(&[("X-B3-Flags", "0")]), None);
        assert_eq!(read(&[]), None);
    }

    #[test]
    fn malformed_contexts_are_ignored_whole() {
        for pairs in [
            vec![("X-B3-TraceId", TRACE)],
            vec![
                ("X-B3-TraceId", "xyz"),
                ("X-B3-SpanId", SPAN),
                ("X-B3-Sampled", "0"),
            ],
            vec![("X-B3-TraceId", &TRACE[1..]), ("X-B3-SpanId", SPAN)],
            vec![("X-B3-TraceId", "0000000000000000"), ("X-B3-SpanId", SPAN)],
            vec![("X-B3-TraceId", TRACE), ("X-B3-SpanId", "0000000000000000")],
            vec![
                ("X-B3-TraceId", "463AC35C9F6413AD48485A3953BB6124"),
                ("X-B3-SpanId", SPAN),
            ],
            vec![("b3", "garbage")],
            vec![("b3", "")],
            vec![("b3", "463ac35c9f6413ad48485a3953bb6124-")],
            vec![("b3", "463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-x")],
            vec![(
                "b3",
                "463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-1-a2fb4a1d1a96d312-x",
            )],
        ] {
            assert_eq!(read(&pairs), None, "{pairs:?}");
        }
    }

    #[test]
    fn the_single_header_wins_and_a_bad_one_falls_back_to_the_others() {
        let other = "0af7651916cd43dd8448eb211c80319c";
        let both = read(&[
            ("b3", &format!("{TRACE}-{SPAN}-1")),
            ("X-B3-TraceId", other),
            ("X-B3-SpanId", SPAN),
        ]);
        assert_eq!(both.unwrap().ids, ids(TRACE, None));
        let fallback = read(&[
            ("b3", "garbage"),
            ("X-B3-TraceId", TRACE),
            ("X-B3-SpanId", SPAN),
        ]);
        assert_eq!(fallback.unwrap().ids, ids(TRACE, None));
        let first_wins = read(&[
            ("X-B3-TraceId", TRACE),
            ("X-B3-TraceId", other),
            ("X-B3-SpanId", SPAN),
        ]);
        assert_eq!(first_wins.unwrap().ids, ids(TRACE, None));
    }

    #[test]
    fn written_headers_read_back_the_same() {
        for b3 in [
            B3 {
                ids: ids(TRACE, Some(PARENT)),
                sampling: Sampling::Accept,
            },
            B3 {
                ids: ids(TRACE_64, None),
                sampling: Sampling::Deny,
            },
            B3 {
                ids: ids(TRACE, Some(PARENT)),
                sampling: Sampling::Debug,
            },
            B3 {
                ids: None,
                sampling: Sampling::Deny,
            },
        ] {
            let mut headers = HeaderMap::new();
            b3.write_multi(&mut headers);
            assert_eq!(B3::read(&headers), Some(b3), "{headers:?}");
            let mut headers = HeaderMap::new();
            b3.write_single(&mut headers);
            assert_eq!(headers.len(), 1, "{headers:?}");
            assert_eq!(B3::read(&headers), Some(b3), "{headers:?}");
        }
        let mut headers = HeaderMap::new();
        B3 {
            ids: ids(TRACE_64, None),
            sampling: Sampling::Debug,
        }
        .write_multi(&mut headers);
        assert_eq!(headers[TRACE_ID], TRACE_64, "a 64-bit id stays 16 digits");
        assert_eq!(headers[FLAGS], "1");
        assert!(
            !headers.contains_key(SAMPLED),
            "debug implies accept: no X-B3-Sampled"
        );
    }

    #[test]
    fn the_single_header_is_written_as_the_specification_shows_it() {
        let single = |b3: B3| {
            let mut headers = HeaderMap::new();
            b3.write_single(&mut headers);
            headers
                .get(SINGLE)
                .map(|value| value.to_str().unwrap().to_owned())
        };
        let sampling = |sampling| B3 {
            ids: ids(TRACE, Some(PARENT)),
            sampling,
        };
        assert_eq!(
            single(sampling(Sampling::Accept)).unwrap(),
            format!("{TRACE}-{SPAN}-1-{PARENT}")
        );
        assert_eq!(
            single(sampling(Sampling::Debug)).unwrap(),
            format!("{TRACE}-{SPAN}-d-{PARENT}")
        );
        // No decision: no parent either (it comes after the decision).
        assert_eq!(
            single(sampling(Sampling::Defer)).unwrap(),
            format!("{TRACE}-{SPAN}")
        );
        let alone = B3 {
            ids: None,
            sampling: Sampling::Deny,
        };
        assert_eq!(single(alone).unwrap(), "0");
        let nothing = B3 {
            ids: None,
            sampling: Sampling::Defer,
        };
        assert_eq!(single(nothing), None);
    }
}
