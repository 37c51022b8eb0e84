//! Spans that never reach Zipkin, counted and reported at a bounded rate:
//! a Zipkin that is down, or a queue that overflows, must show in the log
//! with numbers, but must not flood it.
//!
//! Two causes, reported alike: an upload that failed (Zipkin refused, timed
//! out or was unreachable: its spans are lost), and a queue that was full
//! (the span was dropped before any upload). Each is logged at once the
//! first time, then at most once per [`REPORT_PERIOD`] with the count since
//! the last line and the total, and once more at shutdown for whatever is
//! left unreported.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// At most one log line per cause per this period.
pub(crate) const REPORT_PERIOD: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub(crate) struct Losses {
    /// Spans dropped for a full queue, counted on the request path with a
    /// single atomic add; the batch thread reports them.
    pub(super) queue_full: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Spans Zipkin accepted.
    exported: u64,
    uploads: Tally,
    queue: Tally,
    /// Whether the last upload failed, to say when uploads work again.
    failing: bool,
}

/// One cause's counts and the time of its last report.
#[derive(Debug, Default)]
struct Tally {
    unreported: u64,
    total: u64,
    last_report: Option<Instant>,
}

impl Tally {
    fn add(&mut self, spans: u64) {
        self.unreported += spans;
        self.total += spans;
    }

    /// The counts to report now, if any are due (or `force`d).
    fn due(&mut self, force: bool) -> Option<(u64, u64)> {
        let due = self
            .last_report
            .is_none_or(|last| last.elapsed() >= REPORT_PERIOD);
        if self.unreported == 0 || !(due || force) {
            return None;
        }
        self.last_report = Some(Instant::now());
        Some((std::mem::take(&mut self.unreported), self.total))
    }
}

impl Losses {
    /// A span dropped because the queue was full (on the request path).
    pub(crate) fn queue_full(&self) {
        self.queue_full.fetch_add(1, Ordering::Relaxed);
    }

    /// The outcome of one upload of `spans` spans.
    pub(crate) fn upload(&self, outcome: Result<(), String>, spans: usize) {
        let mut state = self.lock();
        match outcome {
            Ok(()) => {
                state.exported += spans as u64;
                if state.failing {
                    state.failing = false;
                    tracing::info!(
                        spans_lost_total = state.uploads.total,
                        "span export to Zipkin works again"
                    );
                }
            }
            Err(error) => {
                tracing::debug!(%error, spans_lost = spans, "span upload failed");
                state.failing = true;
                state.uploads.add(spans as u64);
                if let Some((lost, total)) = state.uploads.due(false) {
                    warn_upload_failed(&error, lost, total);
                }
            }
        }
    }

    /// Reports what is due: called by the batch thread on every tick, and
    /// with `force` at shutdown, so no loss goes unreported.
    pub(crate) fn report(&self, force: bool) {
        let dropped = self.queue_full.swap(0, Ordering::Relaxed);
        let mut state = self.lock();
        state.queue.add(dropped);
        if let Some((dropped, total)) = state.queue.due(force) {
            tracing::warn!(
                spans_dropped = dropped,
                spans_dropped_total = total,
                "span queue full; spans were dropped (next report in {}s at the earliest)",
                REPORT_PERIOD.as_secs()
            );
        }
        if force && let Some((lost, total)) = state.uploads.due(true) {
            warn_upload_failed("the last uploads failed", lost, total);
        }
        if force {
            // At shutdown, the whole account: every span that ended
            // sampled is in exactly one of these.
            tracing::info!(
                spans_exported = state.exported,
                spans_dropped_total = state.queue.total,
                spans_lost_total = state.uploads.total,
                "span export stopped"
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn warn_upload_failed(error: &str, lost: u64, total: u64) {
    tracing::warn!(
        %error,
        spans_lost = lost,
        spans_lost_total = total,
        "span export to Zipkin failed; spans were dropped (next report in {}s at the earliest)",
        REPORT_PERIOD.as_secs()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_and_reported_at_a_bounded_rate() {
        let losses = Losses::default();
        for _ in 0..5 {
            losses.upload(Err("connection refused".into()), 9);
        }
        let state = losses.lock();
        assert_eq!(state.uploads.total, 45);
        // The first failure was reported at once; the next four wait.
        assert_eq!(state.uploads.unreported, 36);
        assert!(state.failing);
        drop(state);
        losses.upload(Ok(()), 9);
        assert!(!losses.lock().failing);
        losses.report(true);
        assert_eq!(
            losses.lock().uploads.unreported,
            0,
            "shutdown reports the rest"
        );
    }

    #[test]
    fn queue_drops_are_counted_then_reported_by_the_batch_thread() {
        let losses = Losses::default();
        for _ in 0..3 {
            losses.queue_full();
        }
        losses.report(false);
        losses.queue_full();
        losses.report(false);
        let state = losses.lock();
        assert_eq!((state.queue.total, state.queue.unreported), (4, 1));
        drop(state);
        losses.report(true);
        assert_eq!(losses.lock().queue.unreported, 0);
    }
}
