//! `DependencyLinker`: the dependency links Zipkin draws from trace trees,
//! with their call and error counts.
//!
//! Follows `zipkin2.internal.DependencyLinker` for one trace, and Zipkin's
//! in-memory storage for grouping spans into traces behind
//! `/api/v2/dependencies`: by the low 64 bits of the trace id, whatever
//! `strictTraceId` says (its `getDependencyLinks`), so two traces that
//! share their low half are linked as one.
//! A broken trace often still looks fine span by span but draws an edge
//! from the wrong caller, so tests compare these links with the calls the
//! services really made.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    merge::merge_trace,
    span::{Kind, Span},
    tree::{NodeRef, TraceTree, TreeError, decode_all},
};

/// Calls between two services, and how many of them failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub call_count: u64,
    pub error_count: u64,
}

/// `(caller, callee) → calls and errors` over every trace among `spans`,
/// as Zipkin's `/api/v2/dependencies` would count them. Spans Zipkin would
/// refuse are left out.
pub fn dependency_links(spans: &[Value]) -> BTreeMap<(String, String), Link> {
    let mut links = BTreeMap::new();
    let mut by_low_trace_id: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for span in spans.iter().filter_map(|json| Span::from_json(json).ok()) {
        let low = span.trace_id[span.trace_id.len() - 16..].to_owned();
        by_low_trace_id.entry(low).or_default().push(span);
    }
    for spans in by_low_trace_id.into_values() {
        TraceTree::assemble(merge_trace(spans)).add_links(&mut links);
    }
    links
}

/// Only the call counts of `links`, for tests of the graph's shape.
pub fn call_counts(links: BTreeMap<(String, String), Link>) -> BTreeMap<(String, String), u64> {
    links
        .into_iter()
        .map(|(pair, link)| (pair, link.call_count))
        .collect()
}

/// Every trace among `spans` (any mix of traces, in any order), by
/// normalized trace id. Fails on the first span Zipkin would refuse.
pub fn trace_trees(spans: &[Value]) -> Result<BTreeMap<String, TraceTree>, TreeError> {
    Ok(group_by_trace(decode_all(spans)?)
        .into_iter()
        .map(|(trace_id, spans)| (trace_id, TraceTree::assemble(merge_trace(spans))))
        .collect())
}

/// Groups spans into traces by normalized trace id, strictly (a 16- and a
/// 32-character id are two traces), as Zipkin's storage does by default.
fn group_by_trace(spans: impl IntoIterator<Item = Span>) -> BTreeMap<String, Vec<Span>> {
    let mut traces: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for span in spans {
        traces.entry(span.trace_id.clone()).or_default().push(span);
    }
    traces
}

impl TraceTree {
    /// This trace's dependency links, as Zipkin's linker draws them.
    pub fn links(&self) -> BTreeMap<(String, String), Link> {
        let mut links = BTreeMap::new();
        self.add_links(&mut links);
        links
    }

    /// `DependencyLinker.putTrace`: adds this trace's links to `links`.
    fn add_links(&self, links: &mut BTreeMap<(String, String), Link>) {
        for node in self.traverse() {
            let Some(span) = node.span() else { continue };
            // For an RPC both sides reported, the server side makes the
            // link; a CLIENT span only does when nothing answered below it.
            if span.kind == Some(Kind::Client) && node.children().next().is_some() {
                continue;
            }
            let service = span.local_service();
            let remote = span.remote_service();
            let kind = match span.kind {
                Some(kind) => kind,
                // A local span that knows both sides counts as a client.
                None if service.is_some() && remote.is_some() => Kind::Client,
                None => continue,
            };
            let (mut parent, child) = match kind {
                Kind::Server | Kind::Consumer => {
                    if node.is_root() && remote.is_none() {
                        continue; // nobody known called the root
                    }
                    (remote, service)
                }
                Kind::Client | Kind::Producer => (service, remote),
            };
            let mut is_error = span.is_error();
            if matches!(kind, Kind::Producer | Kind::Consumer) {
                // Messaging links only to and from the broker.
                if let (Some(parent), Some(child)) = (parent, child) {
                    add_link(links, parent, child, is_error);
                }
                continue;
            }

            // Local spans may stand between this span and its remote parent.
            if let Some(ancestor) = node.first_remote_ancestor()
                && let Some(ancestor_service) = ancestor.local_service()
            {
                // A CLIENT span whose service is not its caller's: the hop
                // into its service went unreported, so link it too (its
                // error is unknown).
                if kind == Kind::Client
                    && let Some(service) = service
                    && service != ancestor_service
                {
                    add_link(links, ancestor_service, service, false);
                }
                if kind == Kind::Server || parent.is_none() {
                    parent = Some(ancestor_service);
                }
                // A server directly under its client: the client's error
                // counts for the call too.
                if !is_error
                    && ancestor.kind == Some(Kind::Client)
                    && span.parent_id.as_ref() == Some(&ancestor.id)
                {
                    is_error = ancestor.is_error();
                }
            }
            if let (Some(parent), Some(child)) = (parent, child) {
                add_link(links, parent, child, is_error);
            }
        }
    }
}

fn add_link(links: &mut BTreeMap<(String, String), Link>, parent: &str, child: &str, error: bool) {
    let link = links
        .entry((parent.to_owned(), child.to_owned()))
        .or_default();
    link.call_count += 1;
    if error {
        link.error_count += 1;
    }
}

impl<'a> NodeRef<'a> {
    /// The nearest ancestor with a kind (`DependencyLinker.firstRemoteAncestor`).
    fn first_remote_ancestor(self) -> Option<&'a Span> {
        let mut ancestor = self.parent();
        while let Some(node) = ancestor {
            if let Some(span) = node.span().filter(|span| span.kind.is_some()) {
                return Some(span);
            }
            ancestor = node.parent();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::zipkin_rules::testing::{S, json_of, sp, tree};

    fn links_of(spans: &[S]) -> BTreeMap<(String, String), Link> {
        tree(spans).links()
    }

    /// `(parent, child, calls, errors)` rows as a link map.
    fn links(rows: &[(&str, &str, u64, u64)]) -> BTreeMap<(String, String), Link> {
        let link = |call_count, error_count| Link {
            call_count,
            error_count,
        };
        rows.iter()
            .map(|&(parent, child, calls, errors)| {
                ((parent.to_owned(), child.to_owned()), link(calls, errors))
            })
            .collect()
    }

    // -- DependencyLinkerTest ------------------------------------------------

    /// `DependencyLinkerTest.TRACE`: in reverse, as reporting goes.
    fn linker_trace() -> Vec<S> {
        vec![
            sp("b>c CLIENT app->db error"),
            sp("a>b SERVER app->web shared"),
            sp("a>b CLIENT web->app"),
            sp("a SERVER web"),
        ]
    }

    #[test]
    fn base_case() {
        assert!(dependency_links(&[]).is_empty());
    }

    #[test]
    fn links_spans() {
        let expected = links(&[("web", "app", 1, 0), ("app", "db", 1, 1)]);
        assert_eq!(links_of(&linker_trace()), expected);
    }

    #[test]
    fn trace_id_is_opaque() {
        let other: Vec<S> = linker_trace().into_iter().map(|s| s.trace("123")).collect();
        assert_eq!(links_of(&other), links_of(&linker_trace()));
    }

    #[test]
    fn links_spans_server_missing_parent_id() {
        let trace = [
            sp("b SERVER link->arn shared"), // its parent id was not propagated
            sp("a>b CLIENT arn->link"),
            sp("a SERVER arn"),
        ];
        assert_eq!(links_of(&trace), links(&[("arn", "link", 1, 0)]));
        assert!(tree(&trace).is_whole(), "the parent id is backfilled");
    }

    #[test]
    fn late_parent_id_in_shared_span() {
        let mut trace = linker_trace();
        trace[2] = sp("b CLIENT web->app");
        let expected = links(&[("web", "app", 1, 0), ("app", "db", 1, 1)]);
        assert_eq!(links_of(&trace), expected);
    }

    #[test]
    fn lost_child_and_no_parent_id_in_shared_span() {
        let mut trace = linker_trace();
        trace[2] = sp("b CLIENT web->app");
        trace.remove(1); // the server side never arrived
        let expected = links(&[("web", "app", 1, 0), ("app", "db", 1, 1)]);
        assert_eq!(links_of(&trace), expected);
    }

    #[test]
    fn messaging_spans_dont_link_without_broker_consumer() {
        let trace = [
            sp("a PRODUCER producer"),
            sp("a>b CONSUMER consumer->kafka"),
        ];
        assert_eq!(links_of(&trace), links(&[("kafka", "consumer", 1, 0)]));
    }

    #[test]
    fn messaging_spans_dont_link_without_broker_producer() {
        let trace = [
            sp("a PRODUCER producer->kafka"),
            sp("a>b CONSUMER consumer"),
        ];
        assert_eq!(links_of(&trace), links(&[("producer", "kafka", 1, 0)]));
    }

    #[test]
    fn messaging_with_broker_both_sides_same() {
        let trace = [
            sp("a PRODUCER producer->kafka"),
            sp("a>b CONSUMER consumer->kafka"),
        ];
        let expected = links(&[("producer", "kafka", 1, 0), ("kafka", "consumer", 1, 0)]);
        assert_eq!(links_of(&trace), expected);
    }

    #[test]
    fn messaging_with_broker_different() {
        let trace = [
            sp("a PRODUCER producer->kafka1"),
            sp("a>b CONSUMER consumer->kafka2"),
        ];
        let expected = links(&[("producer", "kafka1", 1, 0), ("kafka2", "consumer", 1, 0)]);
        assert_eq!(links_of(&trace), expected);
    }

    #[test]
    fn messaging_without_broker_no_links() {
        let trace = [sp("a PRODUCER producer"), sp("a>b CONSUMER consumer")];
        assert!(links_of(&trace).is_empty());
    }

    #[test]
    fn producer_links_to_server_child_span() {
        let trace = [sp("a PRODUCER producer"), sp("a>b SERVER server")];
        assert_eq!(links_of(&trace), links(&[("producer", "server", 1, 0)]));
    }

    #[test]
    fn producer_links_to_server_same_span() {
        let trace = [sp("a PRODUCER producer"), sp("a SERVER server shared")];
        assert_eq!(links_of(&trace), links(&[("producer", "server", 1, 0)]));
        assert!(tree(&trace).is_whole());
    }

    #[test]
    fn client_doesnt_link_to_consumer_child() {
        let trace = [sp("a CLIENT client"), sp("a>b CONSUMER consumer")];
        assert!(links_of(&trace).is_empty());
    }

    #[test]
    fn links_spans_directed_by_kind() {
        for root in ["a SERVER server->client", "a CLIENT client->server shared"] {
            let expected = links(&[("client", "server", 1, 0)]);
            assert_eq!(links_of(&[sp(root)]), expected, "{root}");
        }
    }

    #[test]
    fn calls_against_the_same_link_increase_call_count_span() {
        let trace = [
            sp("a SERVER client"),
            sp("a>b CLIENT ->server"),
            sp("a>c CLIENT ->server"),
        ];
        assert_eq!(links_of(&trace), links(&[("client", "server", 2, 0)]));
    }

    #[test]
    fn calls_against_the_same_link_increase_call_count_trace() {
        let trace = [sp("a SERVER client"), sp("a>b CLIENT ->server")];
        let again = trace.clone().map(|span| span.trace("b"));
        let both = json_of(&[trace, again].concat());
        assert_eq!(
            dependency_links(&both),
            links(&[("client", "server", 2, 0)])
        );
    }

    #[test]
    fn single_host_spans_result_in_a_single_call_count() {
        let trace = [sp("a CLIENT client"), sp("a>b SERVER server")];
        assert_eq!(links_of(&trace), links(&[("client", "server", 1, 0)]));
    }

    #[test]
    fn single_host_spans_result_in_a_single_error_count() {
        let trace = [sp("a CLIENT client error"), sp("a>b SERVER server error")];
        assert_eq!(links_of(&trace), links(&[("client", "server", 1, 1)]));
    }

    #[test]
    fn single_host_spans_result_in_a_single_error_count_same_id() {
        let trace = [
            sp("a CLIENT client error"),
            sp("a SERVER server shared error"),
        ];
        assert_eq!(links_of(&trace), links(&[("client", "server", 1, 1)]));
    }

    #[test]
    fn single_host_spans_result_in_a_single_call_count_defers_name_to_server() {
        let trace = [sp("a CLIENT client->server"), sp("a>b SERVER server")];
        assert_eq!(links_of(&trace), links(&[("client", "server", 1, 0)]));
    }

    #[test]
    fn single_host_spans_multiple_children() {
        let trace = [
            sp("a CLIENT client"),
            sp("a>b SERVER server->client error"),
            sp("a>c SERVER server->client"),
        ];
        assert_eq!(links_of(&trace), links(&[("client", "server", 2, 1)]));
    }

    #[test]
    fn single_host_spans_multiple_children_defers_name_to_server() {
        let trace = [
            sp("a CLIENT client->server"),
            sp("a>b SERVER server"),
            sp("a>c SERVER server"),
        ];
        assert_eq!(links_of(&trace), links(&[("client", "server", 2, 0)]));
    }

    #[test]
    fn intermediated_client_spans_missing_local_service_name_link_to_nearest_server() {
        let trace = [
            sp("a SERVER client"),
            sp("a>b"), // possibly a local fan-out span
            sp("b>c CLIENT server"),
            sp("b>d CLIENT server"),
        ];
        assert_eq!(links_of(&trace), links(&[("client", "server", 2, 0)]));
    }

    #[test]
    fn errors_on_uninstrumented_links() {
        let trace = [
            sp("a SERVER client"),
            sp("a>b"),
            // no remote here, so no error count
            sp("b>c CLIENT server error"),
            sp("b>d CLIENT server error"),
        ];
        assert_eq!(links_of(&trace), links(&[("client", "server", 2, 0)]));
    }

    #[test]
    fn errors_on_instrumented_links() {
        let trace = [
            sp("a SERVER foo"),
            sp("a>b"),
            sp("b>c CLIENT bar->baz error"),
            sp("b>d CLIENT bar->baz"),
        ];
        let expected = links(&[("foo", "bar", 2, 0), ("bar", "baz", 2, 1)]);
        assert_eq!(links_of(&trace), expected);
    }

    #[test]
    fn annotation_named_error_doesnt_increment_error_count() {
        let trace = [sp("b>c CLIENT foo->bar").annotation(1, "error")];
        assert_eq!(links_of(&trace), links(&[("foo", "bar", 1, 0)]));
    }

    #[test]
    fn links_loopback_spans() {
        for root in ["a SERVER service->service", "b CLIENT service->service"] {
            let expected = links(&[("service", "service", 1, 0)]);
            assert_eq!(links_of(&[sp(root)]), expected, "{root}");
        }
    }

    #[test]
    fn no_span_kind_treated_same_as_client() {
        let trace = [
            sp("a some-client->web"),
            sp("a>b web->app"),
            sp("b>c app->db"),
        ];
        let expected = links(&[
            ("some-client", "web", 1, 0),
            ("web", "app", 1, 0),
            ("app", "db", 1, 0),
        ]);
        assert_eq!(links_of(&trace), expected);
    }

    #[test]
    fn no_span_kind_with_error() {
        let trace = [
            sp("a some-client->web"),
            sp("a>b web->app error"),
            sp("b>c app->db"),
        ];
        let expected = links(&[
            ("some-client", "web", 1, 0),
            ("web", "app", 1, 1),
            ("app", "db", 1, 0),
        ]);
        assert_eq!(links_of(&trace), expected);
    }

    #[test]
    fn cannot_link_single_span_without_both_service_names() {
        for root in [
            "a SERVER",
            "a SERVER server",
            "a SERVER ->client",
            "a CLIENT",
            "a CLIENT client",
            "a CLIENT ->server",
        ] {
            assert!(links_of(&[sp(root)]).is_empty(), "{root}");
        }
    }

    #[test]
    fn doesnt_link_unrelated_spans_when_missing_root_span() {
        let trace = [sp("a>b SERVER service1"), sp("a>c SERVER service2")];
        assert!(links_of(&trace).is_empty());
    }

    #[test]
    fn links_related_spans_when_missing_root_span() {
        let trace = [sp("a>b SERVER service1"), sp("b>c SERVER service2")];
        assert_eq!(links_of(&trace), links(&[("service1", "service2", 1, 0)]));
        let tree = tree(&trace);
        assert_eq!(tree.orphan_ids(), ["000000000000000b"], "{tree}");
    }

    #[test]
    fn links_single_host_spans() {
        // CLIENT and SERVER spans with distinct ids, each missing its peer.
        let trace = [sp("a CLIENT web"), sp("a>b SERVER app")];
        assert_eq!(links_of(&trace), links(&[("web", "app", 1, 0)]));
    }

    #[test]
    fn links_single_host_spans_error_on_client() {
        let trace = [sp("a CLIENT web error"), sp("a>b SERVER app")];
        assert_eq!(links_of(&trace), links(&[("web", "app", 1, 1)]));
    }

    #[test]
    fn missing_span() {
        // The call from web into app went unreported; app's CLIENT shows it.
        let trace = [sp("a SERVER web"), sp("a>b CLIENT app")];
        assert_eq!(links_of(&trace), links(&[("web", "app", 1, 0)]));
    }

    // -- The project's cases -------------------------------------------------

    const T: &str = "463ac35c9f6413ad48485a3953bb6124";

    /// A span of the trace `T`.
    fn t(description: &str) -> S {
        sp(description).trace(T)
    }

    fn find<'a>(tree: &'a TraceTree, service: &str, kind: Kind, id: &str) -> NodeRef<'a> {
        tree.traverse()
            .find(|node| {
                node.span().is_some_and(|span| {
                    span.local_service() == Some(service)
                        && span.kind == Some(kind)
                        && span.id.trim_start_matches('0') == id
                })
            })
            .unwrap_or_else(|| panic!("no {service} {kind} {id} in\n{tree}"))
    }

    #[test]
    fn b3_join_without_shared_flag_is_repaired() {
        // Servers reuse their client's span id (B3 "join") but never say so.
        let tree = tree(&[
            t("1 SERVER api_01"),
            t("1>a CLIENT api_01->api_02"),
            t("1>a SERVER api_02"),
            t("a>b CLIENT api_02->api_03"),
            t("a>b SERVER api_03"),
        ]);
        assert!(tree.is_whole(), "{tree}");
        assert_eq!(tree.root_span().unwrap().local_service(), Some("api_01"));
        let expected = links(&[("api_01", "api_02", 1, 0), ("api_02", "api_03", 1, 0)]);
        assert_eq!(tree.links(), expected);

        let client_y = find(&tree, "api_02", Kind::Client, "b");
        let parent = client_y.parent().unwrap().span().unwrap();
        let parent_is = (
            parent.local_service(),
            parent.kind,
            parent.id.trim_start_matches('0'),
        );
        assert_eq!(
            parent_is,
            (Some("api_02"), Some(Kind::Server), "a"),
            "{tree}"
        );
        assert!(parent.shared, "the shared flag is backfilled");
    }

    /// api_01 SERVER (root) → api_02 SERVER `2` → api_03 SERVER `5`, whose
    /// caller never reported span `5`.
    fn seeded(callee: &str) -> [S; 3] {
        [t("1 SERVER api_01"), t("1>2 SERVER api_02"), t(callee)]
    }

    #[test]
    fn seeded_shared_span_without_its_client_hangs_under_the_root() {
        let tree = tree(&seeded("2>5 SERVER api_03 shared"));
        assert!(!tree.is_whole(), "{tree}");
        assert_eq!(tree.orphan_ids(), ["0000000000000005"]);
        let callee = find(&tree, "api_03", Kind::Server, "5");
        assert!(callee.parent().unwrap().is_root(), "{tree}");
        let expected = links(&[("api_01", "api_02", 1, 0), ("api_01", "api_03", 1, 0)]);
        assert_eq!(tree.links(), expected);
    }

    #[test]
    fn seeded_unshared_span_stays_under_its_parent() {
        let tree = tree(&seeded("2>5 SERVER api_03"));
        assert!(tree.is_whole(), "{tree}");
        let callee = find(&tree, "api_03", Kind::Server, "5");
        let parent = callee.parent().unwrap().span().unwrap();
        assert_eq!(parent.local_service(), Some("api_02"), "{tree}");
        assert_eq!(parent.id, "0000000000000002", "{tree}");
        let expected = links(&[("api_01", "api_02", 1, 0), ("api_02", "api_03", 1, 0)]);
        assert_eq!(tree.links(), expected);
    }

    /// The project's own shape: every SERVER span is the child of its
    /// caller's CLIENT span, with local spans under api_03's servers.
    fn open_telemetry_trace() -> Vec<S> {
        vec![
            t("1 SERVER api_01 ts=10"),
            t("1>2 CLIENT api_01->api_02 ts=11"),
            t("1>3 CLIENT api_01->api_03 ts=12"),
            t("2>4 SERVER api_02 ts=13"),
            t("4>5 CLIENT api_02->api_03 ts=14"),
            t("5>6 SERVER api_03 ts=15"),
            t("6>7 api_03 name=work ts=16"),
            t("3>8 SERVER api_03 ts=17"),
            t("8>9 api_03 name=work ts=18"),
        ]
    }

    fn open_telemetry_links() -> BTreeMap<(String, String), Link> {
        links(&[
            ("api_01", "api_02", 1, 0),
            ("api_01", "api_03", 1, 0),
            ("api_02", "api_03", 1, 0),
        ])
    }

    #[test]
    fn open_telemetry_shape_links_each_call_once() {
        let trace = open_telemetry_trace();
        let tree = tree(&trace);
        assert!(tree.is_whole(), "{tree}");
        assert_eq!(tree.traverse().count(), trace.len());
        assert_eq!(tree.links(), open_telemetry_links());
        assert_eq!(dependency_links(&json_of(&trace)), open_telemetry_links());
    }

    #[test]
    fn client_error_counts_for_the_server_directly_under_it() {
        let mut trace = open_telemetry_trace();
        trace[4] = trace[4].clone().error(); // api_02's CLIENT span to api_03
        let link = tree(&trace).links()[&("api_02".into(), "api_03".into())];
        assert_eq!((link.call_count, link.error_count), (1, 1));
    }

    #[test]
    fn unanswered_client_span_links_to_its_remote_service() {
        // api_03 is down: api_02's CLIENT span has no SERVER span below it.
        let mut trace = open_telemetry_trace();
        trace.retain(|span| !["6", "7"].contains(&span.id()));
        trace[4] = trace[4].clone().error();
        let links = tree(&trace).links();
        assert_eq!(links.len(), 3, "{links:?}");
        let link = links[&("api_02".into(), "api_03".into())];
        assert_eq!((link.call_count, link.error_count), (1, 1));
    }

    #[test]
    fn links_are_summed_over_traces_grouped_by_normalized_trace_id() {
        let mut spans = json_of(&open_telemetry_trace());
        // The same calls again under a 64-bit id, written once in 32
        // characters and once in 16: one trace for Zipkin.
        for trace_id in ["0000000000000000aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa"] {
            let again: Vec<S> = open_telemetry_trace()
                .into_iter()
                .map(|s| s.trace(trace_id))
                .collect();
            spans.extend(json_of(&again));
        }
        let trees = trace_trees(&spans).unwrap();
        assert_eq!(trees.keys().collect::<Vec<_>>(), [T, "aaaaaaaaaaaaaaaa"]);
        assert!(trees.values().all(TraceTree::is_whole));

        // A span Zipkin would refuse is left out of the links, and fails
        // `trace_trees`.
        spans.push(json!({ "traceId": "not hex", "id": "1" }));
        let doubled = open_telemetry_links().into_iter().map(|(pair, link)| {
            let call_count = link.call_count * 2;
            (pair, Link { call_count, ..link })
        });
        assert_eq!(dependency_links(&spans), doubled.collect());
        let refused = spans.len() - 1;
        assert!(matches!(
            trace_trees(&spans),
            Err(TreeError::InvalidSpan { index, .. }) if index == refused
        ));
    }

    #[test]
    fn traces_sharing_their_low_64_bits_are_linked_as_one() {
        // A 128-bit trace whose low half is a 64-bit trace's id, and whose
        // root's parent is that trace's span: Zipkin's in-memory storage
        // groups both as one trace for links, so web calls itself. The real
        // server drew exactly this edge (docs/tests.md).
        let spans = json_of(&[
            t("1 SERVER web").trace("aaaaaaaaaaaaaaaa"),
            t("1>2 SERVER web").trace("bbbbbbbbbbbbbbbbaaaaaaaaaaaaaaaa"),
        ]);
        assert_eq!(dependency_links(&spans), links(&[("web", "web", 1, 0)]));
    }
}
