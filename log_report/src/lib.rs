//! Trouble in a service's log, told plainly and at a bounded rate.
//!
//! Two small tools that the span export (`span_export`), the relay of a
//! page's spans (`browser_relay`) and the connection limits (`serving`)
//! share, so that each rule is written once:
//!
//! - [`describe`]: an error as one line, with its causes. `reqwest` keeps
//!   the reason a request failed ("connection refused") out of its own
//!   message ("error sending request"), in the error's `source` chain.
//! - [`Tally`]: a count of one kind of trouble, logged at once the first
//!   time, then at most once per [`REPORT_PERIOD`] with the count since the
//!   last line and the total. A Zipkin that is away, or a flood of bad
//!   connections, shows in the log with numbers but cannot flood it
//!   (zipkin-reporter-java's `AsyncReporter` does the same: count a drop,
//!   warn once).
//!
//! ```
//! use log_report::Tally;
//!
//! let mut refused = Tally::default();
//! for _ in 0..3 {
//!     refused.add(9);
//!     if let Some((since_last_line, total)) = refused.due(false) {
//!         println!("spans refused: {since_last_line} ({total} in all)");
//!     }
//! }
//! // Only the first was due; the stop reports the rest.
//! assert_eq!(refused.due(true), Some((18, 27)));
//! ```

use std::time::{Duration, Instant};

/// At most one log line per kind of trouble per this period.
pub const REPORT_PERIOD: Duration = Duration::from_secs(10);

/// `error`'s message, then each of its causes, separated by `: `.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How many times one kind of trouble happened, and when it was last
/// logged.
#[derive(Debug, Default)]
pub struct Tally {
    unreported: u64,
    total: u64,
    last_line: Option<Instant>,
}

impl Tally {
    /// Counts `count` more.
    pub fn add(&mut self, count: u64) {
        self.unreported += count;
        self.total += count;
    }

    /// The counts to log now, as (since the last line, in all): when some
    /// are not logged yet and the period since the last line is over, or
    /// when `now_anyway` (at the stop). Once returned, they count as
    /// logged.
    pub fn due(&mut self, now_anyway: bool) -> Option<(u64, u64)> {
        let period_over = self
            .last_line
            .is_none_or(|last| last.elapsed() >= REPORT_PERIOD);
        if self.unreported == 0 || !(period_over || now_anyway) {
            return None;
        }
        self.last_line = Some(Instant::now());
        Some((std::mem::take(&mut self.unreported), self.total))
    }

    /// The count in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The count not logged yet.
    pub fn unreported(&self) -> u64 {
        self.unreported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_due_at_once_the_rest_after_the_period_or_at_the_stop() {
        let mut tally = Tally::default();
        tally.add(1);
        assert_eq!(tally.due(false), Some((1, 1)));
        tally.add(2);
        tally.add(3);
        assert_eq!(tally.due(false), None, "within the period");
        assert_eq!(tally.due(true), Some((5, 6)), "the stop");
        assert_eq!(tally.due(true), None, "nothing left to say");
    }

    #[test]
    fn an_error_is_told_with_its_causes() {
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = std::io::Error::other(Wrapped(cause));
        assert_eq!(describe(&error), "could not send: refused");
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not send")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
