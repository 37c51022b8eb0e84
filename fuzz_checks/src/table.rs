//! What the `b3_table` crate (docs/b3.md's "B3 in, B3 out") says for the
//! forms it lists, as the checks hold a reading to it: when a request's
//! headers are exactly a row's, what the B3 reader reads and what the
//! SERVER layer does must be what the row says. The rows are also the
//! first seeds of the fuzz targets (`examples/seeds.rs`), so the fuzzers
//! start from every form the table knows.

use std::sync::LazyLock;

use axum::http::HeaderMap;
use b3_table::{Row, SPAN, Trace};
use opentelemetry::trace::{SpanId, TraceId};
use telemetry::{
    Propagators,
    fuzzing::{Context, Inbound, Sampling},
};

use crate::headers;

/// A row of the table, with its headers as a server holds them.
pub struct Listed {
    pub row: Row,
    pub propagators: Propagators,
    pub headers: HeaderMap,
}

static ROWS: LazyLock<Vec<Listed>> = LazyLock::new(|| {
    b3_table::rows()
        .into_iter()
        .map(|row| Listed {
            propagators: row
                .propagators
                .parse()
                .expect("the table's lists are valid"),
            headers: headers::decode(&headers::encode(&row.headers)),
            row,
        })
        .collect()
});

/// Every row.
pub fn rows() -> &'static [Listed] {
    &ROWS
}

/// The rows whose headers are exactly `headers` (names, values, and the
/// order of a repeated name's values).
pub fn rows_for(headers: &HeaderMap) -> impl Iterator<Item = &'static Listed> {
    ROWS.iter().filter(move |listed| listed.headers == *headers)
}

fn trace_id(text: &str) -> TraceId {
    TraceId::from_hex(text).expect("the table's ids are valid")
}

fn span_id(text: &str) -> SpanId {
    SpanId::from_hex(text).expect("the table's ids are valid")
}

/// Holds `read`, B3's reading of `headers`, to every row with these
/// headers where B3 alone is read (no `traceparent` in the row, and not
/// `none`): the ids the row continues with (B3 callers are joined: the
/// SERVER span takes the caller's span id and parent), and its decision
/// under the default sampler (`parentbased_always_on`: only "not sampled"
/// drops the trace).
pub fn check_b3_reading(headers: &HeaderMap, read: Option<Context>) {
    for listed in rows_for(headers) {
        if listed.headers.contains_key("traceparent") || listed.row.propagates_nothing() {
            continue;
        }
        let row = &listed.row;
        let read = read.unwrap_or(Context {
            ids: None,
            sampling: Sampling::Defer,
        });
        let ids = read
            .ids
            .map(|ids| (ids.trace_id, ids.span_id, ids.parent_span_id));
        let expected = match row.trace {
            Trace::Continued(trace) => Some((
                trace_id(trace),
                span_id(row.joined_id.unwrap_or(SPAN)),
                row.joined_parent.map(span_id),
            )),
            Trace::New | Trace::Untraced => None,
        };
        assert_eq!(
            ids, expected,
            "b3_table row {row:?}: B3 read ids {ids:?}, the table says {expected:?}"
        );
        assert_eq!(
            (
                read.sampling != Sampling::Deny,
                read.sampling == Sampling::Debug
            ),
            (row.recorded, row.debug),
            "b3_table row {row:?}: B3 read {:?}, the table says recorded {} and debug {}",
            read.sampling,
            row.recorded,
            row.debug
        );
    }
}

/// Holds `inbound`, what the SERVER layer decided for `headers` under
/// `propagators` with `b3_join` and the default sampler
/// (`parentbased_always_on`, which the table assumes), to every row with
/// these headers and this list.
pub fn check_inbound(
    headers: &HeaderMap,
    propagators: Propagators,
    b3_join: bool,
    inbound: Inbound,
) {
    for listed in rows_for(headers).filter(|listed| listed.propagators == propagators) {
        let row = &listed.row;
        let says =
            |what: &str| format!("b3_table row {row:?}, join {b3_join}: {what}, got {inbound:?}");
        let (recorded, trace, span, parent, debug) = match inbound {
            Inbound::Recorded {
                trace_id,
                span_id,
                parent_span_id,
                debug,
            } => (true, Some(trace_id), Some(span_id), parent_span_id, debug),
            Inbound::Unrecorded(ids) => (
                false,
                ids.map(|(trace, _)| trace),
                ids.map(|(_, span)| span),
                None,
                false,
            ),
        };
        assert_eq!(recorded, row.recorded, "{}", says("recorded"));
        assert_eq!(debug, row.debug, "{}", says("debug"));
        match row.trace {
            Trace::Continued(expected) => {
                assert_eq!(
                    trace,
                    Some(trace_id(expected)),
                    "{}",
                    says("the caller's trace")
                );
                let own = match (b3_join, row.joined_id) {
                    (true, Some(joined)) => {
                        assert_eq!(span, Some(span_id(joined)), "{}", says("the joined span"));
                        false
                    }
                    _ => true,
                };
                if own {
                    // An id of its own: not the caller's.
                    assert_ne!(
                        span,
                        Some(span_id(SPAN)),
                        "{}",
                        says("a span id of its own")
                    );
                }
                if recorded {
                    let expected = if b3_join {
                        row.joined_parent
                    } else {
                        row.own_parent
                    };
                    assert_eq!(parent, expected.map(span_id), "{}", says("the parent"));
                }
            }
            Trace::New => {
                assert!(recorded && parent.is_none(), "{}", says("a new root"));
            }
            Trace::Untraced => {
                assert_eq!(inbound, Inbound::Unrecorded(None), "{}", says("no trace"));
            }
        }
    }
}
