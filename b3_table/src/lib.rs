//! "B3 in, B3 out": every form of the B3 specification and of real senders,
//! and what a service does with each, under the default `OTEL_PROPAGATORS`
//! (`b3multi`) and under the other lists that change what is read or sent. One table, checked twice: by the
//! `telemetry` crate's unit test (`propagation/conformance.rs`) and end to
//! end through the three services (`e2e/tests/b3_conformance.rs`). The docs
//! show it, row for row, and a test keeps the two the same.
//!
//! Test data: a crate of its own so that both test suites can use it, and
//! no library ships it.

/// The ids the rows send. `TRACE_64` is py_zipkin's kind of trace id.
pub const TRACE: &str = "463ac35c9f6413ad48485a3953bb6124";
pub const TRACE_64: &str = "48485a3953bb6124";
pub const SPAN: &str = "a2fb4a1d1a96d312";
pub const PARENT: &str = "0020000000000001";
pub const OTHER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// The default `OTEL_PROPAGATORS`.
pub const DEFAULT_PROPAGATORS: &str = "b3multi";

/// What a service does with a caller's context. "Recorded" is under the
/// default sampler (`parentbased_always_on`).
#[derive(Clone, Debug)]
pub struct Row {
    /// The service's `OTEL_PROPAGATORS`.
    pub propagators: &'static str,
    /// Who sends this form.
    pub sender: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub recorded: bool,
    pub trace: Trace,
    /// The SERVER span with join on (the default): its id when it is the
    /// caller's span id (`None`: an id of its own), and its parent.
    pub joined_id: Option<&'static str>,
    pub joined_parent: Option<&'static str>,
    /// The SERVER span's parent with join off (its id is always its own).
    pub own_parent: Option<&'static str>,
    pub debug: bool,
    /// The decision sent downstream, next to the trace id, the CLIENT span's
    /// id and the SERVER span's id as parent, in every format of
    /// [`Row::formats`].
    pub sends: Sends,
}

/// A format a call carries its context in, by its `OTEL_PROPAGATORS` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `b3multi`: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-ParentSpanId`, and
    /// the decision.
    B3Multi,
    /// `b3`: `b3: {trace}-{span}-{decision}-{parent}`.
    B3Single,
    /// `tracecontext`: `traceparent: 00-{trace}-{span}-{flags}`.
    TraceContext,
}

impl Row {
    /// The formats every call of this row carries, as listed.
    pub fn formats(&self) -> Vec<Format> {
        self.propagators
            .split(',')
            .filter_map(|name| match name {
                "b3multi" => Some(Format::B3Multi),
                "b3" => Some(Format::B3Single),
                "tracecontext" => Some(Format::TraceContext),
                "none" => None,
                _ => panic!("not a propagator of the table: {name}"),
            })
            .collect()
    }

    /// Whether the service reads and sends nothing (`none`).
    pub fn propagates_nothing(&self) -> bool {
        self.propagators == "none"
    }
}

/// The trace a request is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trace {
    /// The caller's, with this trace id.
    Continued(&'static str),
    /// A new one this service starts.
    New,
    /// None: not recorded, and no caller established ids, so calls carry
    /// the decision alone (`X-B3-Sampled: 0`), as B3 allows.
    Untraced,
}

/// The decision header of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sends {
    /// `X-B3-Sampled: 1`
    Sampled,
    /// `X-B3-Sampled: 0`
    NotSampled,
    /// `X-B3-Flags: 1` (debug implies sampled, so no `X-B3-Sampled`)
    Debug,
}

impl Sends {
    pub fn header(self) -> (&'static str, &'static str) {
        match self {
            Sends::Sampled => ("x-b3-sampled", "1"),
            Sends::NotSampled => ("x-b3-sampled", "0"),
            Sends::Debug => ("x-b3-flags", "1"),
        }
    }
}

/// A continued trace: the caller's ids, joined or not.
fn continued(
    sender: &'static str,
    headers: Vec<(&'static str, String)>,
    trace: &'static str,
    parent: Option<&'static str>,
    sends: Sends,
) -> Row {
    Row {
        propagators: DEFAULT_PROPAGATORS,
        sender,
        headers,
        recorded: sends != Sends::NotSampled,
        trace: Trace::Continued(trace),
        joined_id: Some(SPAN),
        joined_parent: parent,
        own_parent: Some(SPAN),
        debug: sends == Sends::Debug,
        sends,
    }
}

/// No caller ids: a new trace when recorded, none when not.
fn new_trace(sender: &'static str, headers: Vec<(&'static str, String)>, sends: Sends) -> Row {
    let recorded = sends != Sends::NotSampled;
    Row {
        propagators: DEFAULT_PROPAGATORS,
        sender,
        headers,
        recorded,
        trace: if recorded {
            Trace::New
        } else {
            Trace::Untraced
        },
        joined_id: None,
        joined_parent: None,
        own_parent: None,
        debug: sends == Sends::Debug,
        sends,
    }
}

/// A W3C caller: never joined (W3C has no shared spans).
fn w3c(headers: Vec<(&'static str, String)>, sends: Sends) -> Row {
    Row {
        joined_id: None,
        joined_parent: Some(SPAN),
        ..continued("W3C Trace Context", headers, TRACE, Some(SPAN), sends)
    }
}

fn multi(trace: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("X-B3-TraceId", trace.to_owned()),
        ("X-B3-SpanId", SPAN.to_owned()),
    ];
    headers.extend(
        extra
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    headers
}

fn one(name: &'static str, value: String) -> Vec<(&'static str, String)> {
    vec![(name, value)]
}

/// Every row: the default `OTEL_PROPAGATORS` first, then the others.
pub fn rows() -> Vec<Row> {
    [default_rows(), propagator_rows()].concat()
}

/// `row`, for a service with `OTEL_PROPAGATORS=propagators`.
fn under(propagators: &'static str, row: Row) -> Row {
    Row { propagators, ..row }
}

/// The rows that another `OTEL_PROPAGATORS` changes: what is sent, which
/// format wins a conflict, and `none`.
fn propagator_rows() -> Vec<Row> {
    use Sends::*;
    let b3_in = || {
        multi(
            TRACE,
            &[("X-B3-ParentSpanId", PARENT), ("X-B3-Sampled", "1")],
        )
    };
    let w3c_in = |flags| one("traceparent", format!("00-{TRACE}-{SPAN}-{flags}"));
    let both_in = || {
        [
            multi(TRACE, &[("X-B3-Sampled", "1")]),
            one("traceparent", format!("00-{OTHER_TRACE}-{SPAN}-00")),
        ]
        .concat()
    };
    vec![
        under(
            "b3",
            continued("B3, multi", b3_in(), TRACE, Some(PARENT), Sampled),
        ),
        under(
            "b3",
            new_trace("Zipkin's health check", one("b3", "0".into()), NotSampled),
        ),
        under("tracecontext", new_trace("no context", vec![], Sampled)),
        under("tracecontext", w3c(w3c_in("01"), Sampled)),
        under("tracecontext", w3c(w3c_in("00"), NotSampled)),
        under(
            "tracecontext",
            continued("B3, multi", b3_in(), TRACE, Some(PARENT), Sampled),
        ),
        under(
            "tracecontext",
            continued(
                "B3, multi, debug",
                multi(TRACE, &[("X-B3-Flags", "1")]),
                TRACE,
                None,
                Debug,
            ),
        ),
        under(
            "tracecontext",
            new_trace(
                "B3, multi, sampling only",
                one("X-B3-Sampled", "0".into()),
                NotSampled,
            ),
        ),
        under(
            "b3multi,tracecontext",
            continued("B3, multi", b3_in(), TRACE, Some(PARENT), Sampled),
        ),
        under(
            "b3multi,tracecontext",
            Row {
                sender: "conflicting: W3C listed last wins",
                trace: Trace::Continued(OTHER_TRACE),
                ..w3c(both_in(), NotSampled)
            },
        ),
        under(
            "tracecontext,b3multi",
            continued(
                "conflicting: B3 listed last wins",
                both_in(),
                TRACE,
                None,
                Sampled,
            ),
        ),
        under(
            "none",
            Row {
                sender: "B3, multi: not read",
                ..new_trace("", b3_in(), Sampled)
            },
        ),
    ]
}

/// The rows of the default `OTEL_PROPAGATORS` (`b3multi`).
fn default_rows() -> Vec<Row> {
    use Sends::*;
    let parent = [("X-B3-ParentSpanId", PARENT)];
    let py = |sampled| {
        let extra = [
            ("X-B3-ParentSpanId", PARENT),
            ("X-B3-Sampled", sampled),
            ("X-B3-Flags", "0"),
        ];
        multi(TRACE_64, &extra)
    };
    let b3 = |value: String| one("b3", value);
    vec![
        new_trace("no context", vec![], Sampled),
        continued(
            "B3, multi",
            multi(TRACE, &[parent[0], ("X-B3-Sampled", "1")]),
            TRACE,
            Some(PARENT),
            Sampled,
        ),
        continued(
            "B3, multi, 64-bit",
            multi(TRACE_64, &[("X-B3-Sampled", "1")]),
            TRACE_64,
            None,
            Sampled,
        ),
        continued(
            "B3, multi",
            multi(TRACE, &[("X-B3-Sampled", "0")]),
            TRACE,
            None,
            NotSampled,
        ),
        continued(
            "B3, multi, deferred",
            multi(TRACE, &[]),
            TRACE,
            None,
            Sampled,
        ),
        continued(
            "B3, multi, debug",
            multi(TRACE, &[("X-B3-Flags", "1")]),
            TRACE,
            None,
            Debug,
        ),
        continued(
            "B3, multi, debug",
            multi(TRACE, &[("X-B3-Sampled", "0"), ("X-B3-Flags", "1")]),
            TRACE,
            None,
            Debug,
        ),
        continued(
            "B3, multi, no flags",
            multi(TRACE, &[("X-B3-Flags", "0")]),
            TRACE,
            None,
            Sampled,
        ),
        continued("py_zipkin", py("1"), TRACE_64, Some(PARENT), Sampled),
        continued("py_zipkin", py("0"), TRACE_64, Some(PARENT), NotSampled),
        continued(
            "legacy",
            multi(TRACE, &[("X-B3-Sampled", "true")]),
            TRACE,
            None,
            Sampled,
        ),
        continued(
            "legacy",
            multi(TRACE, &[("X-B3-Sampled", "false")]),
            TRACE,
            None,
            NotSampled,
        ),
        continued(
            "B3, single, deferred",
            b3(format!("{TRACE}-{SPAN}")),
            TRACE,
            None,
            Sampled,
        ),
        continued(
            "B3, single",
            b3(format!("{TRACE}-{SPAN}-1-{PARENT}")),
            TRACE,
            Some(PARENT),
            Sampled,
        ),
        continued(
            "B3, single",
            b3(format!("{TRACE_64}-{SPAN}-0")),
            TRACE_64,
            None,
            NotSampled,
        ),
        continued(
            "B3, single, debug",
            b3(format!("{TRACE}-{SPAN}-d")),
            TRACE,
            None,
            Debug,
        ),
        new_trace("Zipkin's health check", b3("0".into()), NotSampled),
        new_trace("B3, single, sampling only", b3("1".into()), Sampled),
        new_trace("B3, single, sampling only", b3("d".into()), Debug),
        new_trace(
            "B3, multi, sampling only",
            one("X-B3-Sampled", "0".into()),
            NotSampled,
        ),
        new_trace(
            "B3, multi, sampling only",
            one("X-B3-Flags", "1".into()),
            Debug,
        ),
        w3c(one("traceparent", format!("00-{TRACE}-{SPAN}-01")), Sampled),
        w3c(
            one("traceparent", format!("00-{TRACE}-{SPAN}-00")),
            NotSampled,
        ),
        continued(
            "conflicting: single wins",
            [
                b3(format!("{TRACE}-{SPAN}-1")),
                multi(OTHER_TRACE, &[("X-B3-Sampled", "0")]),
            ]
            .concat(),
            TRACE,
            None,
            Sampled,
        ),
        continued(
            "conflicting: B3 wins over W3C",
            [
                multi(TRACE, &[("X-B3-Sampled", "1")]),
                one("traceparent", format!("00-{OTHER_TRACE}-{SPAN}-00")),
            ]
            .concat(),
            TRACE,
            None,
            Sampled,
        ),
        continued(
            "repeated: the first wins",
            [
                one("X-B3-TraceId", TRACE.into()),
                multi(OTHER_TRACE, &[("X-B3-Sampled", "1")]),
            ]
            .concat(),
            TRACE,
            None,
            Sampled,
        ),
        continued(
            "malformed single, valid multi",
            [b3("garbage".into()), multi(TRACE, &[("X-B3-Sampled", "1")])].concat(),
            TRACE,
            None,
            Sampled,
        ),
        continued(
            "malformed parent: ignored",
            multi(TRACE, &[("X-B3-ParentSpanId", "nope")]),
            TRACE,
            None,
            Sampled,
        ),
        new_trace(
            "malformed: no span id",
            one("X-B3-TraceId", TRACE.into()),
            Sampled,
        ),
        new_trace(
            "malformed: sampled",
            multi(TRACE, &[("X-B3-Sampled", "maybe")]),
            Sampled,
        ),
        new_trace(
            "malformed: upper case",
            multi(&TRACE.to_uppercase(), &[("X-B3-Sampled", "1")]),
            Sampled,
        ),
    ]
}
