//! Zipkin's own rules for turning the spans of a trace into a tree, and the
//! tree into dependency links, re-implemented so tests judge traces exactly
//! as Zipkin's trace view and dependency graph would.
//!
//! Why this exists: a trace can look right span by span and still come out
//! broken in Zipkin. A callee that marks its SERVER span `shared` although
//! its caller never reported the matching CLIENT span is hung under the root,
//! and the dependency graph then draws an edge from the root's service
//! instead of from the real caller; a SERVER span that reuses its client's id
//! without saying so is quietly repaired. Matching `parentId`s by hand misses
//! all of this, so the collector runs Zipkin's rules instead.
//!
//! What it follows, from `openzipkin/zipkin` (module `zipkin`), one file per
//! step:
//!
//! - `span.rs`, what decoding does to a span (`zipkin2.internal.V2SpanReader`,
//!   `zipkin2.Span.Builder`, `zipkin2.Endpoint.Builder`): trace and span id
//!   normalization, lowercase names and service names, `shared`/`debug` only
//!   ever set by `true`, no self-parent, no `shared` on a CLIENT span;
//! - `merge.rs`, `zipkin2.internal.Trace.merge`: sorting a trace's spans,
//!   merging spans reported in pieces, choosing the longest trace id, and
//!   repairing a SERVER span that reuses its CLIENT's id without the `shared`
//!   flag (and without the client's `parentId`);
//! - `tree.rs`, `zipkin2.internal.SpanNode.Builder`: indexing spans by id
//!   (shared spans also by local endpoint), choosing the root, a synthetic
//!   root when there is none, hanging every span whose parent is not found
//!   under the root, ordering siblings by timestamp, and the breadth-first
//!   traversal;
//! - `links.rs`, `zipkin2.internal.DependencyLinker`: which spans make a
//!   link, the nearest remote ancestor, the backfilled link to a CLIENT
//!   span's own service, and error counts; and the in-memory storage's
//!   grouping of spans into traces for `/api/v2/dependencies` (by the low
//!   64 bits of the trace id, whatever `strictTraceId` says).
//!
//! Deliberate differences, all outside what our tests look at:
//!
//! - A span Zipkin would refuse (bad ids, wrong field types) is reported as
//!   an error by [`TraceTree::build`] and [`trace_trees`]; since we do not
//!   know which upload it came in, [`dependency_links`] merely leaves it out,
//!   where Zipkin would have refused its whole upload.
//! - Zipkin reads JSON through Gson, which is lenient about types: like it,
//!   we take an integer written as a string, and a number where a tag value
//!   is expected (kept as serde_json writes it, which may differ from the
//!   text sent, e.g. `1.50`); unlike it, we refuse a number where an id, a
//!   name or a service name is expected.
//! - IP addresses are parsed with `std::net` and kept in its canonical text,
//!   not Zipkin's (which also shortens a single zero group of an IPv6
//!   address); both sides only use them to compare endpoints.
//! - `/api/v2/dependencies` has no time window here: every span counts.
//! - On input Zipkin's rules do not expect (a node that would become its own
//!   parent, where Java throws, or a node claimed by two parents, where Java
//!   lists it under both), we skip that attachment; such a span then shows
//!   in [`TraceTree::unplaced`].

mod links;
mod merge;
mod span;
mod tree;

#[cfg(test)]
mod testing;

pub use links::{Link, call_counts, dependency_links, trace_trees};
pub use span::{Annotation, Endpoint, Kind, Span, normalize_trace_id};
pub use tree::{BreadthFirst, NodeRef, TraceTree, TreeError};
