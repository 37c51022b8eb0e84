//! `Trace.merge`: the clean-up Zipkin runs over the spans of one trace
//! before it builds the tree.
//!
//! Follows `zipkin2.internal.Trace` (with `Span.Builder.merge` and
//! `Endpoint.Builder.merge` for the merging itself). Reporters send one
//! span in pieces, and B3 servers reuse their client's span id, sometimes
//! without saying so; Zipkin sorts this out before building the tree, and
//! what it repairs here (or does not) is what the tree and the links show.

use std::cmp::Ordering;

use super::span::{Endpoint, Kind, Span};

/// `Trace.merge`: sorts the spans of one trace, gives them all the longest
/// trace id, merges the pieces of a span reported more than once from the
/// same host, and repairs B3 id sharing the server side did not declare.
pub(super) fn merge_trace(mut spans: Vec<Span>) -> Vec<Span> {
    if spans.len() <= 1 {
        return spans;
    }
    spans.sort_by(cleanup_order); // stable, as Java's sort

    // The first 32-character trace id in that order, else the last span's.
    let mut trace_id = spans[0].trace_id.clone();
    for span in &spans[1..] {
        if trace_id.len() != 32 {
            trace_id.clone_from(&span.trace_id);
        }
    }

    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    let mut spans = spans.into_iter().peekable();
    while let Some(mut span) = spans.next() {
        // The checks below look at the span as reported, before merging.
        let (kind, mut shared, had_parent) = (span.kind, span.shared, span.parent_id.is_some());
        if span.trace_id.len() != trace_id.len() {
            span.trace_id.clone_from(&trace_id);
        }

        // Pieces of one span: same id, same `shared`, compatible endpoint.
        let mut tracker = EndpointTracker::default();
        tracker.try_merge(span.local_endpoint.as_ref());
        while let Some(next) = spans.next_if(|next| {
            next.id == span.id
                && next.shared == shared
                && tracker.try_merge(next.local_endpoint.as_ref())
        }) {
            span.absorb(next);
        }

        // B3 id sharing: a SERVER span right after a CLIENT span of the same
        // id joins it, even if it forgot to say `shared`; a shared span that
        // was not told its parent takes the client's.
        if let Some(previous) = merged.last().filter(|previous| previous.id == span.id) {
            if previous.kind == Some(Kind::Client) && kind == Some(Kind::Server) && !shared {
                shared = true;
                span.shared = true;
            }
            if shared && !had_parent && previous.parent_id.is_some() {
                span.parent_id.clone_from(&previous.parent_id);
            }
        }
        span.settle();
        merged.push(span);
    }
    merged
}

/// Zipkin's clean-up order: by span id; for one id, spans that are not
/// shared before shared ones, and among those CLIENT spans first; then by
/// local endpoint, spans without one first.
///
/// Zipkin writes this as a pairwise comparator; it amounts to this rank, a
/// proper total order (which Rust's sort insists on).
fn cleanup_order(left: &Span, right: &Span) -> Ordering {
    fn sharing_rank(span: &Span) -> u8 {
        match (span.shared, span.kind) {
            (false, Some(Kind::Client)) => 0,
            (false, _) => 1,
            (true, _) => 2,
        }
    }
    left.id
        .cmp(&right.id)
        .then_with(|| sharing_rank(left).cmp(&sharing_rank(right)))
        .then_with(|| endpoint_order(left.local_endpoint.as_ref(), right.local_endpoint.as_ref()))
}

/// Spans without an endpoint first (so pieces lacking one join the first
/// span of their id); then by service name, IPv4, IPv6, each with absent
/// values last. Ports are not compared, as in Zipkin.
fn endpoint_order(left: Option<&Endpoint>, right: Option<&Endpoint>) -> Ordering {
    fn absent_last(left: &Option<String>, right: &Option<String>) -> Ordering {
        match (left, right) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(left), Some(right)) => left.cmp(right),
        }
    }
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(left), Some(right)) => absent_last(&left.service_name, &right.service_name)
            .then_with(|| absent_last(&left.ipv4, &right.ipv4))
            .then_with(|| absent_last(&left.ipv6, &right.ipv6)),
    }
}

/// Decides whether the next piece of a span came from the same host: its
/// local endpoint must not contradict what the pieces so far said
/// (`Trace.EndpointTracker`).
#[derive(Default)]
struct EndpointTracker(Endpoint);

impl EndpointTracker {
    fn try_merge(&mut self, endpoint: Option<&Endpoint>) -> bool {
        let Some(endpoint) = endpoint else {
            return true;
        };
        let seen = &self.0;
        let clash = |mine: &Option<String>, theirs: &Option<String>| matches!((mine, theirs), (Some(mine), Some(theirs)) if mine != theirs);
        if clash(&seen.service_name, &endpoint.service_name)
            || clash(&seen.ipv4, &endpoint.ipv4)
            || clash(&seen.ipv6, &endpoint.ipv6)
            || (seen.port != 0 && endpoint.port != 0 && seen.port != endpoint.port)
        {
            return false;
        }
        self.0.fill_from(endpoint);
        true
    }
}

impl Span {
    /// Takes in another piece of the same span (`Span.Builder.merge`):
    /// what this piece lacks comes from the other, endpoints are completed
    /// field by field, annotations are pooled, the other's tags win, and
    /// flags set on either stay set.
    fn absorb(&mut self, piece: Span) {
        if self.parent_id.is_none() {
            self.parent_id = piece.parent_id;
        }
        if self.kind.is_none() {
            self.kind = piece.kind;
        }
        if self.name.is_none() {
            self.name = piece.name;
        }
        if self.timestamp == 0 {
            self.timestamp = piece.timestamp;
        }
        if self.duration == 0 {
            self.duration = piece.duration;
        }
        for (mine, theirs) in [
            (&mut self.local_endpoint, piece.local_endpoint),
            (&mut self.remote_endpoint, piece.remote_endpoint),
        ] {
            if let Some(theirs) = theirs {
                match mine {
                    Some(mine) => mine.fill_from(&theirs),
                    None => *mine = Some(theirs),
                }
            }
        }
        self.annotations.extend(piece.annotations);
        self.annotations.sort();
        self.annotations.dedup();
        self.tags.extend(piece.tags);
        self.debug |= piece.debug;
        self.shared |= piece.shared;
    }
}

impl Endpoint {
    /// Fills what this endpoint lacks from `other` (`Endpoint.Builder.merge`).
    fn fill_from(&mut self, other: &Endpoint) {
        if self.service_name.is_none() {
            self.service_name.clone_from(&other.service_name);
        }
        if self.ipv4.is_none() {
            self.ipv4.clone_from(&other.ipv4);
        }
        if self.ipv6.is_none() {
            self.ipv6.clone_from(&other.ipv6);
        }
        if self.port == 0 {
            self.port = other.port;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zipkin_rules::testing::{S, assert_same_spans, sp, spans_of, tree};

    fn merged(spans: &[S]) -> Vec<Span> {
        merge_trace(spans_of(spans))
    }

    // -- TraceTest -----------------------------------------------------------

    #[test]
    fn backfills_missing_parent_id_on_shared_span() {
        let trace = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend"),
            // the parent id was not propagated to the server
            sp("b SERVER backend shared"),
        ];
        let expected = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend"),
            sp("a>b SERVER backend shared"),
        ];
        assert_same_spans(merged(&trace), &expected);
    }

    #[test]
    fn backfills_missing_shared_flag() {
        let trace = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend ip=1.2.3.4"),
            // the server forgot the shared flag
            sp("a>b SERVER backend ip=5.6.7.8"),
        ];
        let expected = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend ip=1.2.3.4"),
            sp("a>b SERVER backend ip=5.6.7.8 shared"),
        ];
        assert_same_spans(merged(&trace), &expected);
    }

    #[test]
    fn chooses_best_trace_id() {
        let long = "7180c278b62e8f6a216a2aea45d08fc9";
        let trace = [
            sp("a SERVER frontend").trace(long),
            sp("a>b CLIENT frontend").trace(long),
            sp("a>b SERVER backend shared").trace("216a2aea45d08fc9"),
        ];
        let trace_ids: Vec<String> = merged(&trace).into_iter().map(|s| s.trace_id).collect();
        assert_eq!(trace_ids, [long; 3]);
        // One tree accepts that mix as one trace, under the long id.
        assert_eq!(tree(&trace).trace_id(), long);
    }

    #[test]
    fn merges_when_missing_endpoints() {
        // Pretend the first hop sends poor data: no endpoints, only tags.
        let root = || {
            sp("a")
                .tag("service", "frontend")
                .tag("span.kind", "SERVER")
        };
        let client = |rest: &str| {
            sp(&format!("a>b {rest}"))
                .tag("service", "frontend")
                .tag("span.kind", "CLIENT")
        };
        let trace = [
            root(),
            client("ts=1"),
            sp("a>b SERVER backend shared"),
            sp("a>b dur=10"),
        ];
        let expected = [
            root(),
            client("ts=1 dur=10"),
            sp("a>b SERVER backend shared"),
        ];
        assert_same_spans(merged(&trace), &expected);
    }

    #[test]
    fn doesnt_merge_shared_spans_on_different_ips() {
        let trace = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend ts=1").annotation(3, "brave.flush"),
            sp("a>b SERVER backend ip=1.2.3.4 shared"),
            sp("a>b SERVER backend ip=1.2.3.5 shared"),
            sp("a>b CLIENT frontend dur=10"),
        ];
        let expected = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend ts=1 dur=10").annotation(3, "brave.flush"),
            sp("a>b SERVER backend ip=1.2.3.4 shared"),
            sp("a>b SERVER backend ip=1.2.3.5 shared"),
        ];
        assert_same_spans(merged(&trace), &expected);
    }

    #[test]
    fn puts_random_data_on_first_span_with_endpoint() {
        let trace = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT"),
            sp("a>b frontend ts=1").annotation(3, "brave.flush"),
            sp("a>b SERVER backend ip=1.2.3.4 shared"),
            sp("a>b SERVER backend ip=1.2.3.5 shared"),
            sp("a>b dur=10"),
        ];
        let expected = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend ts=1 dur=10").annotation(3, "brave.flush"),
            sp("a>b SERVER backend ip=1.2.3.4 shared"),
            sp("a>b SERVER backend ip=1.2.3.5 shared"),
        ];
        assert_same_spans(merged(&trace), &expected);
    }

    #[test]
    fn merges_incomplete_endpoints() {
        let trace = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend"),
            sp("a>b CLIENT ip=1.2.3.4"),
            sp("a>b SERVER ip=1.2.3.5 shared"),
            sp("a>b SERVER backend shared"),
        ];
        let expected = [
            sp("a SERVER frontend"),
            sp("a>b CLIENT frontend ip=1.2.3.4"),
            sp("a>b SERVER backend ip=1.2.3.5 shared"),
        ];
        assert_same_spans(merged(&trace), &expected);
    }

    #[test]
    fn deletes_self_referencing_parent_id() {
        let trace = [sp("a>a SERVER frontend"), sp("a>b CLIENT frontend")];
        let expected = [sp("a SERVER frontend"), sp("a>b CLIENT frontend")];
        assert_same_spans(merged(&trace), &expected);
    }

    #[test]
    fn works_when_missing_parent_span() {
        let trace = [
            sp("a>b SERVER backend ip=1.2.3.4"),
            sp("a>c SERVER backend"),
        ];
        assert_eq!(merged(&trace), spans_of(&trace));
    }

    #[test]
    fn cleanup_order_puts_client_first() {
        let mut trace = [
            sp("a>b SERVER backend ip=1.2.3.5").span(),
            sp("a>b CLIENT frontend").span(),
        ];
        trace.sort_by(cleanup_order);
        assert_eq!(trace[0].kind, Some(Kind::Client));
    }

    #[test]
    fn cleanup_order_is_transitive_over_kind_sharing_and_endpoint() {
        let mut trace = Vec::new();
        for _ in 0..7 {
            for description in ["a b shared", "a CLIENT b", "a a", "a", "a CLIENT a"] {
                trace.push(sp(description).span());
            }
        }
        trace.sort_by(cleanup_order);
        trace.dedup();
        let seen: Vec<(bool, Option<Kind>, Option<&str>)> = trace
            .iter()
            .map(|span| (span.shared, span.kind, span.local_service()))
            .collect();
        assert_eq!(
            seen,
            [
                (false, Some(Kind::Client), Some("a")),
                (false, Some(Kind::Client), Some("b")),
                (false, None, None),
                (false, None, Some("a")),
                (true, None, Some("b")),
            ]
        );
    }
}
