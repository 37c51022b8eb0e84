//! `SpanNode.Builder`: the merged spans of one trace, arranged in the tree
//! Zipkin's trace view shows.
//!
//! Follows `zipkin2.internal.SpanNode` and its `Builder`: spans are indexed
//! by id (shared spans also by local endpoint), the first span without a
//! parent is the root (a synthetic one when there is none), a span whose
//! parent is not found hangs under the root, and siblings are ordered by
//! timestamp. Tests judge this tree rather than `parentId`s, because it is
//! what Zipkin shows: broken propagation appears as orphans under the root.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
};

use serde_json::Value;

use super::{
    merge::merge_trace,
    span::{Endpoint, Span},
};

/// How the builder addresses a span: by id, or, for a shared span, by id and
/// local endpoint (two servers may have joined the same client span).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Id(String),
    Shared(String, Option<Endpoint>),
}

impl Key {
    fn new(id: &str, shared: bool, endpoint: Option<&Endpoint>) -> Self {
        if shared {
            Self::Shared(id.to_owned(), endpoint.cloned())
        } else {
            Self::Id(id.to_owned())
        }
    }
}

/// Child key → parent key, in insertion order (Zipkin's `LinkedHashMap`:
/// updating a key keeps its place, removing and re-adding moves it last).
/// The order decides the order of siblings with equal timestamps.
#[derive(Default)]
struct ParentIndex {
    entries: Vec<Option<(Key, Option<Key>)>>,
    positions: HashMap<Key, usize>,
}

impl ParentIndex {
    fn insert(&mut self, child: Key, parent: Option<Key>) {
        if let Some(&position) = self.positions.get(&child) {
            if let Some(entry) = &mut self.entries[position] {
                entry.1 = parent;
            }
        } else {
            self.positions.insert(child.clone(), self.entries.len());
            self.entries.push(Some((child, parent)));
        }
    }

    fn contains(&self, child: &Key) -> bool {
        self.positions.contains_key(child)
    }

    fn remove(&mut self, child: &Key) {
        if let Some(position) = self.positions.remove(child) {
            self.entries[position] = None;
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(Key, Option<Key>)> {
        self.entries.iter().flatten()
    }
}

#[derive(Clone, Debug)]
struct Node {
    /// Index into the merged spans; `None` for a synthetic root.
    span: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// Why [`TraceTree::build`] or [`trace_trees`](super::trace_trees) gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// There was no span to build a tree from.
    NoSpans,
    /// Zipkin would refuse this span (index in the input, and why).
    InvalidSpan { index: usize, reason: String },
    /// The spans belong to more than one trace.
    MixedTraces { first: String, other: String },
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSpans => f.write_str("no spans"),
            Self::InvalidSpan { index, reason } => write!(f, "span #{index}: {reason}"),
            Self::MixedTraces { first, other } => {
                write!(f, "spans of two traces: {first} and {other}")
            }
        }
    }
}

impl std::error::Error for TreeError {}

/// Decodes spans of Zipkin's v2 JSON, failing on the first Zipkin would
/// refuse.
pub(super) fn decode_all(spans: &[Value]) -> Result<Vec<Span>, TreeError> {
    spans
        .iter()
        .enumerate()
        .map(|(index, json)| {
            Span::from_json(json).map_err(|reason| TreeError::InvalidSpan { index, reason })
        })
        .collect()
}

/// One trace as Zipkin arranges it: its spans merged, then placed in a tree
/// whose root is the first span without a parent, or a synthetic node when
/// no span lacks a parent. Every span whose parent cannot be found hangs
/// under that root; tests call them orphans.
#[derive(Clone, Debug)]
pub struct TraceTree {
    /// The spans after merging, in Zipkin's clean-up order.
    spans: Vec<Span>,
    /// Node `i` holds span `i`; a synthetic root, if any, comes last.
    nodes: Vec<Node>,
    root: usize,
    /// Nodes hung under the root because their parent was not found.
    orphans: Vec<usize>,
    /// Spans that ended up nowhere in the tree.
    unplaced: Vec<usize>,
}

impl TraceTree {
    /// Builds the tree of one trace from spans in Zipkin's v2 JSON, in any
    /// order, with duplicates or pieces.
    pub fn build(spans: &[Value]) -> Result<Self, TreeError> {
        Self::from_spans(decode_all(spans)?)
    }

    /// Builds the tree of one trace from decoded spans.
    pub fn from_spans(spans: Vec<Span>) -> Result<Self, TreeError> {
        let first = spans.first().ok_or(TreeError::NoSpans)?;
        // One trace; 64- and 128-bit forms of one id may mix, as Zipkin
        // allows when it is not strict about trace ids.
        let low_half = |id: &str| id[id.len().saturating_sub(16)..].to_owned();
        if let Some(other) = spans.iter().find(|span| {
            span.trace_id != first.trace_id
                && (span.trace_id.len() == first.trace_id.len()
                    || low_half(&span.trace_id) != low_half(&first.trace_id))
        }) {
            return Err(TreeError::MixedTraces {
                first: first.trace_id.clone(),
                other: other.trace_id.clone(),
            });
        }
        Ok(Self::assemble(merge_trace(spans)))
    }

    /// `SpanNode.Builder.build` over merged spans.
    pub(super) fn assemble(spans: Vec<Span>) -> Self {
        let mut nodes: Vec<Node> = (0..spans.len())
            .map(|index| Node {
                span: Some(index),
                parent: None,
                children: Vec::new(),
            })
            .collect();

        // First pass: every span's key, and the key of its parent. A shared
        // span's parent is the client span of the same id, which needs no
        // endpoint to be told apart.
        let mut parents = ParentIndex::default();
        for span in &spans {
            if span.shared {
                let key = Key::new(&span.id, true, span.local_endpoint.as_ref());
                parents.insert(key, Some(Key::Id(span.id.clone())));
            } else {
                parents.insert(
                    Key::Id(span.id.clone()),
                    span.parent_id.clone().map(Key::Id),
                );
            }
        }

        // Second pass: refine parents now that every key is known, pick the
        // root, and register each node under its keys.
        let mut by_key: HashMap<Key, usize> = HashMap::new();
        let mut root = None;
        for (index, span) in spans.iter().enumerate() {
            let endpoint = span.local_endpoint.as_ref();
            let key = Key::new(&span.id, span.shared, endpoint);
            let key_without_endpoint = Key::new(&span.id, span.shared, None);
            let has_parent = if span.shared {
                true
            } else if let Some(parent_id) = &span.parent_id {
                // A span under a shared server span of its own host (say a
                // local span in the server) belongs under that server span,
                // not under the client span of the same id.
                let shared_parent = Key::new(parent_id, true, endpoint);
                if parents.contains(&shared_parent) {
                    parents.insert(key_without_endpoint.clone(), Some(shared_parent));
                }
                true
            } else {
                false
            };
            if !has_parent && root.is_none() {
                root = Some(index);
                parents.remove(&key_without_endpoint);
            } else {
                if span.shared {
                    by_key.insert(key, index);
                }
                by_key.insert(key_without_endpoint, index);
            }
        }

        let root = root.unwrap_or_else(|| {
            nodes.push(Node {
                span: None,
                parent: None,
                children: Vec::new(),
            });
            nodes.len() - 1
        });
        let root_id = nodes[root].span.map(|index| spans[index].id.as_str());

        // Attach each span to its parent, or to the root when the parent is
        // not found. The root is never registered under a key, so its own
        // children also take that path; only those are not orphans.
        let mut orphans = Vec::new();
        for (child_key, parent_key) in parents.iter() {
            let Some(&child) = by_key.get(child_key) else {
                continue;
            };
            let found = parent_key.as_ref().and_then(|key| by_key.get(key)).copied();
            let parent = found.unwrap_or(root);
            if parent == child || nodes[child].parent.is_some() {
                continue; // input Zipkin does not expect (see the deliberate differences)
            }
            nodes[parent].children.push(child);
            nodes[child].parent = Some(parent);
            let under_root_by_right = matches!(
                (parent_key, root_id),
                (Some(Key::Id(wanted)), Some(root_id)) if wanted == root_id
            );
            if found.is_none() && !under_root_by_right {
                orphans.push(child);
            }
        }

        // Siblings in timestamp order (absent first); stable, so equal
        // timestamps keep the order above.
        let mut queue = VecDeque::from([root]);
        let mut placed = vec![false; nodes.len()];
        while let Some(index) = queue.pop_front() {
            placed[index] = true;
            let mut children = std::mem::take(&mut nodes[index].children);
            children.sort_by_key(|&child| nodes[child].span.map_or(0, |s| spans[s].timestamp));
            queue.extend(&children);
            nodes[index].children = children;
        }
        let unplaced = (0..spans.len()).filter(|&index| !placed[index]).collect();

        Self {
            spans,
            nodes,
            root,
            orphans,
            unplaced,
        }
    }

    /// The trace id, normalized (the longest form among the spans).
    pub fn trace_id(&self) -> &str {
        &self.spans[0].trace_id
    }

    /// The spans after Zipkin's merge, in its clean-up order (by id).
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// The root node: a real span, or a synthetic node with no span.
    pub fn root(&self) -> NodeRef<'_> {
        self.node(self.root)
    }

    /// The root's span; `None` when Zipkin had to invent a root.
    pub fn root_span(&self) -> Option<&Span> {
        self.root().span()
    }

    /// Spans Zipkin hung under the root because their parent was not in the
    /// trace: a missing `parentId` target, a shared span whose client span
    /// never arrived, or a second span without a parent.
    pub fn orphans(&self) -> impl Iterator<Item = &Span> {
        self.orphans
            .iter()
            .filter_map(|&index| self.node(index).span())
    }

    /// The ids of [`Self::orphans`].
    pub fn orphan_ids(&self) -> Vec<&str> {
        self.orphans().map(|span| span.id.as_str()).collect()
    }

    /// Spans that are nowhere in the tree: Zipkin loses a span when another,
    /// not merged with it, claims the same key (two unshared spans with one
    /// id on different hosts, say).
    pub fn unplaced(&self) -> impl Iterator<Item = &Span> {
        self.unplaced.iter().map(|&index| &self.spans[index])
    }

    /// Exactly one real root, no orphan, and every span in the tree: the
    /// trace shows in Zipkin as one connected tree.
    pub fn is_whole(&self) -> bool {
        self.root_span().is_some() && self.orphans.is_empty() && self.unplaced.is_empty()
    }

    /// Nodes breadth-first from the root, siblings by timestamp, as Zipkin
    /// walks them. A synthetic root is not visited, only its children.
    pub fn traverse(&self) -> BreadthFirst<'_> {
        let queue = if self.nodes[self.root].span.is_some() {
            VecDeque::from([self.root])
        } else {
            self.nodes[self.root].children.iter().copied().collect()
        };
        BreadthFirst { tree: self, queue }
    }

    fn node(&self, index: usize) -> NodeRef<'_> {
        NodeRef { tree: self, index }
    }

    fn write_node(&self, f: &mut fmt::Formatter<'_>, index: usize, depth: usize) -> fmt::Result {
        let indent = depth * 2;
        match self.nodes[index].span {
            None => writeln!(f, "{:indent$}(no root span)", "")?,
            Some(span) => {
                let orphan = if self.orphans.contains(&index) {
                    "  [orphan: parent not found]"
                } else {
                    ""
                };
                writeln!(f, "{:indent$}{}{orphan}", "", self.spans[span])?;
            }
        }
        for &child in &self.nodes[index].children {
            self.write_node(f, child, depth + 1)?;
        }
        Ok(())
    }
}

/// The tree, indented, one span a line; for assertion messages.
impl fmt::Display for TraceTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "trace {}", self.trace_id())?;
        self.write_node(f, self.root, 1)?;
        for span in self.unplaced() {
            writeln!(f, "  [not in the tree] {span}")?;
        }
        Ok(())
    }
}

/// A node of a [`TraceTree`].
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    tree: &'a TraceTree,
    index: usize,
}

impl<'a> NodeRef<'a> {
    /// The node's span; `None` for a synthetic root.
    pub fn span(self) -> Option<&'a Span> {
        Some(&self.tree.spans[self.tree.nodes[self.index].span?])
    }

    pub fn parent(self) -> Option<NodeRef<'a>> {
        Some(self.tree.node(self.tree.nodes[self.index].parent?))
    }

    /// Children in timestamp order.
    pub fn children(self) -> impl Iterator<Item = NodeRef<'a>> {
        let tree = self.tree;
        tree.nodes[self.index]
            .children
            .iter()
            .map(move |&index| tree.node(index))
    }

    pub fn is_root(self) -> bool {
        self.index == self.tree.root
    }
}

impl fmt::Debug for NodeRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span() {
            Some(span) => write!(f, "NodeRef({span})"),
            None => f.write_str("NodeRef(synthetic root)"),
        }
    }
}

/// See [`TraceTree::traverse`].
pub struct BreadthFirst<'a> {
    tree: &'a TraceTree,
    queue: VecDeque<usize>,
}

impl<'a> Iterator for BreadthFirst<'a> {
    type Item = NodeRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.queue.pop_front()?;
        self.queue.extend(&self.tree.nodes[index].children);
        Some(self.tree.node(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zipkin_rules::testing::{S, assert_same_spans, json_of, sp, spans_of, tree};

    fn short_ids<'a>(nodes: impl Iterator<Item = NodeRef<'a>>) -> Vec<&'a str> {
        nodes
            .map(|node| node.span().unwrap().id.trim_start_matches('0'))
            .collect()
    }

    fn child_spans(node: NodeRef<'_>) -> Vec<&Span> {
        node.children().map(|child| child.span().unwrap()).collect()
    }

    // -- SpanNodeTest --------------------------------------------------------

    #[test]
    fn build_redundant_ignored() {
        let tree = tree(&[sp("a"), sp("b"), sp("b")]);
        assert_eq!(tree.root_span(), Some(&sp("a").span()));
        assert_eq!(child_spans(tree.root()), [&sp("b").span()]);
    }

    #[test]
    fn traverses_breadth_first() {
        // a has b, c, d; b has e, f, 1; 1 has 2. Timestamps fix sibling order.
        let tree = tree(&[
            sp("a"),
            sp("a>b ts=1"),
            sp("a>c ts=2"),
            sp("a>d ts=3"),
            sp("b>e ts=4"),
            sp("b>f ts=5"),
            sp("b>1 ts=6"),
            sp("1>2 ts=7"),
        ]);
        let order = short_ids(tree.traverse());
        assert_eq!(order, ["a", "b", "c", "d", "e", "f", "1", "2"]);
    }

    /// `SpanNodeTest.assertAncestry`: built from the spans reversed, the tree
    /// is the chain `trace[0] → trace[1] → …`.
    fn assert_ancestry(trace: &[S]) {
        let reversed: Vec<S> = trace.iter().rev().cloned().collect();
        let tree = tree(&reversed);
        let mut current = tree.root();
        assert_eq!(current.span(), Some(&trace[0].span()), "{tree}");
        for i in 1..trace.len() - 1 {
            current = current.children().next().unwrap();
            assert_eq!(current.span(), Some(&trace[i].span()), "{tree}");
            assert_eq!(child_spans(current), [&trace[i + 1].span()], "{tree}");
        }
        assert!(tree.is_whole(), "{tree}");
    }

    #[test]
    fn constructs_trace_tree() {
        assert_ancestry(&[sp("a"), sp("a>b"), sp("b>c"), sp("c>d")]);
    }

    #[test]
    fn constructs_trace_tree_shared_id() {
        assert_ancestry(&[sp("a"), sp("a>b"), sp("a>b shared"), sp("b>c")]);
    }

    #[test]
    fn constructs_trace_tree_shared_root_id() {
        assert_ancestry(&[sp("a"), sp("a shared"), sp("a>b"), sp("b>c")]);
    }

    /// `SpanNodeTest.assertServerAncestry`: two servers answered client span
    /// `b`; each keeps its own children.
    fn assert_server_ancestry(trace: &[S]) {
        let reversed: Vec<S> = trace.iter().rev().cloned().collect();
        let tree = tree(&reversed);
        let a = tree.root();
        assert_eq!(a.span(), Some(&trace[0].span()));
        let b_client = a.children().next().unwrap();
        assert_eq!(b_client.span(), Some(&trace[1].span()));
        let servers = [&trace[3].span(), &trace[2].span()];
        assert_eq!(child_spans(b_client), servers, "{tree}");
        let mut servers = b_client.children();
        let b_server_bar = servers.next().unwrap();
        assert_eq!(child_spans(b_server_bar), [&trace[4].span()], "{tree}");
        let b_server_foo = servers.next().unwrap();
        assert_eq!(child_spans(b_server_foo), [&trace[5].span()], "{tree}");
    }

    #[test]
    fn qualifies_children_of_duplicate_server_spans() {
        assert_server_ancestry(&[
            sp("a"),
            sp("a>b"),
            sp("a>b foo shared"),
            sp("a>b bar shared"),
            sp("b>c bar"),
            sp("b>d foo"),
        ]);
    }

    #[test]
    fn qualifies_children_of_duplicate_server_spans_mixed_shared() {
        assert_server_ancestry(&[
            sp("a"),
            sp("a>b"),
            sp("b>c foo"),
            sp("a>b bar shared"),
            sp("b>d bar"),
            sp("c>e foo"),
        ]);
    }

    #[test]
    fn constructs_trace_tree_dedupes() {
        let tree = tree(&[sp("a"), sp("a"), sp("a")]);
        assert_eq!(tree.root_span(), Some(&sp("a").span()));
        assert_eq!(tree.root().children().count(), 0);
        assert_eq!(tree.spans().len(), 1);
    }

    #[test]
    fn constructs_trace_tree_duplicate_roots() {
        let tree = tree(&[sp("a"), sp("b")]);
        assert_eq!(tree.root_span(), Some(&sp("a").span()));
        assert_eq!(child_spans(tree.root()), [&sp("b").span()]);
        // The second span without a parent hangs under the first.
        assert_eq!(tree.orphan_ids(), ["000000000000000b"]);
        assert!(!tree.is_whole());
    }

    #[test]
    fn build_no_child_left_behind() {
        let tree = tree(&[
            sp("b name=root-0"),
            sp("b>c name=child-0"),
            sp("b>d name=child-1"),
            sp("e name=lost-0"),
            sp("f name=lost-1"),
        ]);
        assert_eq!(tree.traverse().count(), 5);
        assert_eq!(tree.root_span().unwrap().id, "000000000000000b");
        assert_eq!(tree.orphan_ids(), ["000000000000000e", "000000000000000f"]);
    }

    #[test]
    fn build_headless_in_any_order() {
        let spans = [sp("a>b name=s2"), sp("a>c name=s3"), sp("a>d name=s4")];
        for order in [spans.to_vec(), spans.iter().rev().cloned().collect()] {
            let tree = tree(&order);
            assert_eq!(tree.root_span(), None, "a synthetic root");
            let expected = spans_of(&spans);
            assert_eq!(
                child_spans(tree.root()),
                expected.iter().collect::<Vec<_>>()
            );
            assert_eq!(tree.orphans().count(), 3);
            assert!(!tree.is_whole());
            assert_eq!(
                tree.traverse().count(),
                3,
                "the synthetic root is not visited"
            );
        }
    }

    #[test]
    fn build_skewed_trace() {
        let trace = [
            "74280ae0c10d8062>43210ae0c10d1234 serviceb ip=192.0.0.0 name=async \
             ts=1470150004008762 dur=65000",
            "bf396325699c84bf>43210ae0c10d1234 SERVER serviceb ip=192.0.0.0 name=post \
             ts=1541138169255688 dur=168731 shared",
            "bb1f0e21882325b8 SERVER servicea ip=127.0.0.0 name=get \
             ts=1470150004071068 dur=99411",
            "bb1f0e21882325b8>74280ae0c10d8062 CLIENT servicea ip=127.0.0.0 name=post \
             ts=1470150004074202 dur=94539",
        ]
        .map(|description| sp(description).trace("1e223ff1f80f1c69"));
        let tree = tree(&trace);
        let visited: Vec<Span> = tree.traverse().map(|n| n.span().unwrap().clone()).collect();
        assert_same_spans(visited, &trace);
    }

    #[test]
    fn orders_children_by_timestamp() {
        let tree = tree(&[
            sp("1"),
            sp("1>a name=a ts=2"),
            sp("1>b name=b ts=1"),
            sp("1>c name=c"),
        ]);
        let names: Vec<&str> = child_spans(tree.root())
            .into_iter()
            .map(|span| span.name.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["c", "b", "a"], "absent timestamp first");
    }

    #[test]
    fn build_changing_ips() {
        let trace = [
            sp("a>c SERVER my-service ip=10.2.3.4 ts=1 shared"),
            sp("c>b CLIENT my-service ip=169.2.3.4 ts=2"), // note the IP
            sp("c>a my-service ip=10.2.3.4 ts=3"),
        ];
        let tree = tree(&trace);
        let visited: Vec<Span> = tree.traverse().map(|n| n.span().unwrap().clone()).collect();
        assert_eq!(visited, spans_of(&trace), "{tree}");
    }

    // -- The project's cases -------------------------------------------------

    #[test]
    fn one_tree_refuses_spans_of_two_traces() {
        let spans = json_of(&[sp("1"), sp("1>2").trace("b")]);
        assert!(matches!(
            TraceTree::build(&spans),
            Err(TreeError::MixedTraces { .. })
        ));
        assert_eq!(TraceTree::build(&[]).unwrap_err(), TreeError::NoSpans);
    }

    #[test]
    fn two_unshared_spans_with_one_id_lose_one() {
        // Not merged (different hosts), not a CLIENT/SERVER pair: Zipkin
        // keeps only one of them in the tree.
        let tree = tree(&[
            sp("1 SERVER api_01"),
            sp("1>2 SERVER api_02"),
            sp("1>2 SERVER api_03"),
        ]);
        assert_eq!(tree.unplaced().count(), 1, "{tree}");
        assert!(!tree.is_whole());
    }
}
