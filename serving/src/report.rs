//! Connections the limits closed or refused, and failed accepts: counted,
//! and logged at a bounded rate, so that an attack shows in the log with
//! numbers but cannot flood it.
//!
//! Each kind is logged at once the first time, then at most once per
//! [`REPORT_PERIOD`], with the count since the last line and the total
//! (a [`Tally`] each);
//! [`Report::tick`] (every period) logs what is due, and at the stop
//! [`Report::account`] gives every total. Idle connections closed by the
//! idle timeout are the normal end of a kept-alive connection: they are
//! counted, and logged only at DEBUG.

use std::sync::Mutex;

pub(crate) use log_report::REPORT_PERIOD;
use log_report::Tally;

/// Why a connection was closed (or never served).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// It had not sent its headers within the header timeout.
    SlowHeaders,
    /// It waited longer than the idle timeout for its next request.
    Idle,
    /// It was waiting for its client when the cap was reached, and made
    /// room for a new connection.
    MadeRoom,
    /// It arrived at the cap with every connection serving a request.
    Refused,
    /// The accept itself failed (out of file descriptors, say).
    AcceptFailed,
}

const KINDS: [Closed; 5] = [
    Closed::SlowHeaders,
    Closed::Idle,
    Closed::MadeRoom,
    Closed::Refused,
    Closed::AcceptFailed,
];

impl Closed {
    fn what(self) -> &'static str {
        match self {
            Closed::SlowHeaders => "closed connections that did not send their headers in time",
            Closed::Idle => "closed idle kept-alive connections",
            Closed::MadeRoom => {
                "at the connection cap: closed connections waiting for their client, to make room"
            }
            Closed::Refused => {
                "at the connection cap with every connection busy: refused connections"
            }
            Closed::AcceptFailed => "accepting a connection failed; retrying shortly",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Report {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    accepted: u64,
    tallies: [Tally; KINDS.len()],
    last_accept_error: Option<String>,
}

impl Report {
    pub(crate) fn accepted(&self) {
        self.lock().accepted += 1;
    }

    pub(crate) fn closed(&self, why: Closed) {
        let mut state = self.lock();
        state.tallies[why as usize].add(1);
        state.log_due(why, false);
    }

    pub(crate) fn accept_failed(&self, error: &std::io::Error) {
        self.lock().last_accept_error = Some(error.to_string());
        self.closed(Closed::AcceptFailed);
    }

    /// Logs every kind whose period is over.
    pub(crate) fn tick(&self) {
        let mut state = self.lock();
        for why in KINDS {
            state.log_due(why, false);
        }
    }

    /// Logs what is left, then every total: called once, at the stop.
    pub(crate) fn account(&self) {
        let mut state = self.lock();
        for why in KINDS {
            state.log_due(why, true);
        }
        let total = |why: Closed| state.tallies[why as usize].total();
        tracing::info!(
            accepted = state.accepted,
            closed_slow_headers = total(Closed::SlowHeaders),
            closed_idle = total(Closed::Idle),
            closed_to_make_room = total(Closed::MadeRoom),
            refused = total(Closed::Refused),
            accept_errors = total(Closed::AcceptFailed),
            "connections at the stop"
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Logs the kind `why` if it is due, or anyway (`at_stop`).
    fn log_due(&mut self, why: Closed, at_stop: bool) {
        let Some((count, total)) = self.tallies[why as usize].due(at_stop) else {
            return;
        };
        let next_s = REPORT_PERIOD.as_secs();
        match why {
            Closed::Idle => tracing::debug!(count, total, "{}", why.what()),
            Closed::AcceptFailed => tracing::warn!(
                error = self.last_accept_error.as_deref().unwrap_or(""),
                count,
                total,
                "{} (next report in {next_s}s at the earliest)",
                why.what()
            ),
            _ => tracing::warn!(
                count,
                total,
                "{} (next report in {next_s}s at the earliest)",
                why.what()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_logged_at_once_the_rest_within_the_period() {
        let report = Report::default();
        for _ in 0..5 {
            report.closed(Closed::SlowHeaders);
        }
        let state = report.lock();
        let tally = &state.tallies[Closed::SlowHeaders as usize];
        assert_eq!((tally.unreported(), tally.total()), (4, 5));
        drop(state);
        report.tick();
        assert_eq!(
            report.lock().tallies[Closed::SlowHeaders as usize].unreported(),
            4,
            "not due yet"
        );
        report.account();
        assert_eq!(
            report.lock().tallies[Closed::SlowHeaders as usize].unreported(),
            0,
            "the stop reports the rest"
        );
    }
}
