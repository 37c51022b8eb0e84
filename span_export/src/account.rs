//! The span account: what became of every span that ended sampled, and the
//! log lines that tell it while it happens, at a bounded rate.
//!
//! Every such span is, in the end, in exactly one of three columns:
//! - **exported**: the receiver took it (at the first try, or after retries);
//! - **dropped**: never uploaded, because the queue was full (it, or
//!   another span of its trace; see `queue.rs`);
//! - **lost**: uploaded and refused for good (a `400`, say), or still
//!   failing at the stop.
//!
//! Besides, **retried** counts the spans whose first upload failed and
//! that were tried again, and **sent in part** the traces that reached
//! the receiver without some of their spans.
//!
//! Each cause of trouble is logged at once the first time, then at most
//! once per [`REPORT_PERIOD`] with the count since its last line and the
//! total; the stop logs what no line has yet, and the whole account. A
//! receiver that is away shows in the log without flooding it.
//!
//! Owned by the batch thread: only it counts, so nothing here is shared.

use std::time::{Duration, Instant};

use log_report::{REPORT_PERIOD, Tally};

#[derive(Debug, Default)]
pub(super) struct Account {
    /// Who receives the spans, as the log lines name it ("Zipkin").
    receiver: &'static str,
    exported: u64,
    exported_after_retry: u64,
    retried: u64,
    /// Uploads that failed for a transient reason (one line per period).
    retrying: Tally,
    /// Spans dropped, for a full queue or with their trace.
    dropped: Tally,
    /// Spans refused for good.
    refused: Tally,
    /// Spans still failing at the stop.
    lost_at_stop: u64,
    sent_in_part: Tally,
    /// Since when uploads fail, while they do: to say when they work again.
    failing_since: Option<Instant>,
    /// The last reasons an upload failed and was refused, for the lines
    /// that count.
    last_error: String,
    last_refusal: String,
}

impl Account {
    /// An empty account of the spans sent to `receiver`.
    pub(super) fn new(receiver: &'static str) -> Self {
        Self {
            receiver,
            ..Self::default()
        }
    }

    /// The receiver took `spans` spans; `after_retry` when not at their first try.
    pub(super) fn delivered(&mut self, spans: usize, after_retry: bool) {
        self.exported += spans as u64;
        if after_retry {
            self.exported_after_retry += spans as u64;
        }
        if let Some(since) = self.failing_since.take() {
            tracing::info!(
                failed_for_ms = since.elapsed().as_millis() as u64,
                spans_retried = self.retried,
                spans_exported_after_retry = self.exported_after_retry,
                "span export to {} works again",
                self.receiver
            );
        }
    }

    /// An upload of `spans` spans failed for a transient reason: they are
    /// held, and tried again after `pause`. `first_failure` when it was
    /// their first try; `held`: all the spans now held.
    pub(super) fn retrying(
        &mut self,
        error: &str,
        spans: usize,
        first_failure: bool,
        pause: Duration,
        held: usize,
    ) {
        tracing::debug!(%error, spans, "span upload failed; retrying");
        if first_failure {
            self.retried += spans as u64;
        }
        self.failing_since.get_or_insert_with(Instant::now);
        error.clone_into(&mut self.last_error);
        self.retrying.add(1);
        if let Some((failed, total)) = self.retrying.due(false) {
            tracing::warn!(
                %error,
                uploads_failed = failed,
                uploads_failed_total = total,
                retry_in_ms = pause.as_millis() as u64,
                spans_held = held,
                "span upload to {} failed; the spans are kept and tried again \
                 (next report in {}s at the earliest)",
                self.receiver,
                REPORT_PERIOD.as_secs()
            );
        }
    }

    /// The receiver refused `spans` spans for good: they are lost.
    pub(super) fn refused(&mut self, error: &str, spans: usize) {
        error.clone_into(&mut self.last_refusal);
        self.refused.add(spans as u64);
        if let Some((lost, total)) = self.refused.due(false) {
            warn_refused(self.receiver, error, lost, total);
        }
    }

    /// `spans` spans still failed at the stop, with `error`: they are lost.
    pub(super) fn lost_at_stop(&mut self, error: &str, spans: usize) {
        self.lost_at_stop += spans as u64;
        error.clone_into(&mut self.last_error);
    }

    /// The receiver took a batch with spans of `traces` traces that had dropped
    /// meanwhile: those traces reach it in part.
    pub(super) fn sent_in_part(&mut self, traces: u64) {
        if traces == 0 {
            return;
        }
        self.sent_in_part.add(traces);
        if let Some((traces, total)) = self.sent_in_part.due(false) {
            warn_sent_in_part(self.receiver, traces, total);
        }
    }

    /// Logs what is due: called by the batch thread on every tick with the
    /// spans the queue has `dropped` in all, and once more at the stop,
    /// with every span that `ended`, for the whole account.
    pub(super) fn report(&mut self, dropped: u64, ended: Option<u64>) {
        let stop = ended.is_some();
        self.dropped.add(dropped - self.dropped.total());
        if let Some((dropped, total)) = self.dropped.due(stop) {
            tracing::warn!(
                spans_dropped = dropped,
                spans_dropped_total = total,
                "span queue full; spans were dropped, with the rest of their traces \
                 (next report in {}s at the earliest)",
                REPORT_PERIOD.as_secs()
            );
        }
        if !stop {
            return;
        }
        if let Some((lost, total)) = self.refused.due(true) {
            warn_refused(self.receiver, &self.last_refusal, lost, total);
        }
        if let Some((traces, total)) = self.sent_in_part.due(true) {
            warn_sent_in_part(self.receiver, traces, total);
        }
        if self.lost_at_stop > 0 {
            tracing::warn!(
                error = %self.last_error,
                spans_lost = self.lost_at_stop,
                "span export to {} still failed at the stop; the spans held are lost",
                self.receiver
            );
        }
        // The whole account: every span that ended sampled is in exactly
        // one of exported, dropped and lost.
        tracing::info!(
            spans_ended = ended.unwrap_or_default(),
            spans_exported = self.exported,
            spans_retried = self.retried,
            spans_exported_after_retry = self.exported_after_retry,
            spans_dropped_total = self.dropped.total(),
            spans_lost_total = self.lost(),
            traces_sent_in_part = self.sent_in_part.total(),
            "span export stopped"
        );
    }

    fn lost(&self) -> u64 {
        self.refused.total() + self.lost_at_stop
    }
}

fn warn_refused(receiver: &str, error: &str, lost: u64, total: u64) {
    tracing::warn!(
        %error,
        spans_lost = lost,
        spans_lost_total = total,
        "{receiver} refused spans; they are not sent again, and are lost \
         (next report in {}s at the earliest)",
        REPORT_PERIOD.as_secs()
    );
}

fn warn_sent_in_part(receiver: &str, traces: u64, total: u64) {
    tracing::warn!(
        traces,
        traces_total = total,
        "traces reached {receiver} in part: some of their spans had been dropped \
         while others were in an upload (next report in {}s at the earliest)",
        REPORT_PERIOD.as_secs()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_counted_and_reported_at_a_bounded_rate() {
        let mut account = Account::new("Zipkin");
        for _ in 0..5 {
            account.refused("Zipkin answered 400 Bad Request", 9);
        }
        assert_eq!(account.refused.total(), 45);
        // The first refusal was reported at once; the next four wait.
        assert_eq!(account.refused.unreported(), 36);
        account.report(0, Some(45));
        assert_eq!(account.refused.unreported(), 0, "the stop reports the rest");
        assert_eq!(account.lost(), 45);
    }

    #[test]
    fn retries_are_counted_once_a_span_and_end_when_an_upload_works() {
        let mut account = Account::new("Zipkin");
        let pause = Duration::from_millis(200);
        account.retrying("connection refused", 9, true, pause, 9);
        account.retrying("connection refused", 9, false, pause, 9);
        assert_eq!((account.retried, account.retrying.total()), (9, 2));
        assert!(account.failing_since.is_some());
        account.delivered(9, true);
        assert_eq!((account.exported, account.exported_after_retry), (9, 9));
        assert!(account.failing_since.is_none());
    }

    #[test]
    fn queue_drops_are_reported_by_the_batch_thread() {
        let mut account = Account::new("Zipkin");
        account.report(3, None);
        account.report(4, None);
        assert_eq!(
            (account.dropped.total(), account.dropped.unreported()),
            (4, 1)
        );
        account.report(4, Some(4));
        assert_eq!(account.dropped.unreported(), 0);
    }
}
