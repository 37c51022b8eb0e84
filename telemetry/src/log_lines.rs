//! The log lines: `tracing`'s fmt output, filtered by `RUST_LOG` (default
//! `info`), each line of a request carrying the request's trace id, so that
//! a line leads to its trace:
//!
//! ```text
//! 2026-12-02T01:02:03.123456Z  INFO trace_id=35f7f89176cb0f8ef7f670c7238836f1 request{otel.name="GET /" …}: telemetry::server: answered status=502 elapsed_ms=2
//! ```
//!
//! The id comes from the request itself (`request.rs`), not from a field of
//! its SERVER span: a span field is formatted for the log at every SERVER
//! span, and sent to Zipkin as a tag repeating the span's own trace id
//! (10 % of a span).

use std::{fmt, io::IsTerminal};

use tracing::{Event, Subscriber};
use tracing_subscriber::{
    EnvFilter, Layer,
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{self, Writer},
        time::{FormatTime, SystemTime},
    },
    registry::LookupSpan,
};

use crate::{hex::HexId, request};

/// Log lines to stdout, filtered by `RUST_LOG` (default `info`).
pub(crate) fn log_lines<S>() -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stdout().is_terminal())
        .event_format(WithTraceId(format().without_time().with_level(false)))
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
}

fn format() -> format::Format {
    format::Format::default()
}

/// The time and level, then the trace id of the request the event belongs
/// to, then the rest of the line as tracing-subscriber writes it.
struct WithTraceId<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    N: for<'writer> FormatFields<'writer> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        SystemTime.format_time(&mut writer)?;
        write!(writer, " {:>5} ", event.metadata().level())?;
        if let Some(trace_id) = request::current().and_then(|trace| trace.trace_id()) {
            writer.write_str("trace_id=")?;
            writer.write_str(HexId::trace(trace_id).as_str())?;
            writer.write_char(' ')?;
        }
        self.0.format_event(context, writer, event)
    }
}
