//! What an upload's failure means, and how long to wait before the next.
//!
//! As OpenTelemetry's exporter specification asks (and its OTLP exporters
//! do), a failure that may pass is tried again, with exponential backoff
//! and jitter, and the receiver's `Retry-After` is honoured; a failure that
//! will not pass is not:
//!
//! - **transient**: no answer at all (connection refused or reset, a
//!   timeout before any answer), and the statuses the wire format names
//!   ([`crate::Encoding::is_transient`]: for Zipkin `408`, `429`, `502`,
//!   `503`, `504`; for OTLP, as its specification lists them, the same
//!   without `408`);
//! - **permanent**: any other answer that is not a success: `400` (the
//!   receiver could not read the spans), `413` (too large), other `4xx`,
//!   and the other `5xx` (`500` is the receiver's own error, which the same
//!   spans would meet again).
//!
//! One backoff holds for the whole exporter, not one per batch: when
//! the receiver is away, no upload goes out until the pause is over, then one
//! alone, whose success lets the rest follow. A receiver coming back is not
//! met by every batch at once, and an absent one costs one attempt a
//! pause, not one per batch.

use std::time::{Duration, Instant, SystemTime};

use reqwest::{StatusCode, header::HeaderMap};

use crate::encoding::Rejected;

/// The first pause; each failure in a row doubles it.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause of our own: a receiver back after a long outage gets
/// its spans within this.
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// The longest `Retry-After` honoured: a proxy that answers "a day" must
/// not stop the export for a day (the queue's bound keeps memory in check
/// meanwhile).
pub(crate) const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How one upload went.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The receiver took the upload; it may say it kept only part of it.
    Delivered { rejected: Option<Rejected> },
    /// Try again later; no sooner than `retry_after`, if the receiver said.
    Transient {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Trying again would meet the same refusal: the spans are lost.
    Permanent { error: String },
}

/// An answer that is not a success, from `receiver`, with its own `text`;
/// `transient` when the wire format says this status may pass.
pub(super) fn answered(
    receiver: &str,
    status: StatusCode,
    transient: bool,
    headers: &HeaderMap,
    text: &str,
) -> Outcome {
    let error = if text.trim().is_empty() {
        format!("{receiver} answered {status}")
    } else {
        format!("{receiver} answered {status}: {}", text.trim())
    };
    if transient {
        Outcome::Transient {
            error,
            retry_after: retry_after(headers, SystemTime::now()),
        }
    } else {
        Outcome::Permanent { error }
    }
}

/// `Retry-After`, in seconds or as an HTTP date, as a wait from `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    // `delay-seconds` is digits and nothing else (RFC 9110): not `+5`,
    // which Rust's integer parsing takes. A number too large for a u64
    // still asks for longer than the longest wait.
    let wait = if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        http_date(value)?
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    };
    Some(wait.min(LONGEST_RETRY_AFTER))
}

/// An HTTP date, in any of its three forms, as `httpdate` reads it: field
/// by field at fixed places, but for one it leaves unchecked. In the
/// obsolete rfc850 form (`Sunday, 06-Nov-94 08:49:37 GMT`, the only one
/// with a `-`), the byte between the year and the time must be a space
/// (the fuzz target `retry_after` found `Tuesday, 14-Nov-23(22:13:27 GMT`
/// read as a date).
fn http_date(value: &str) -> Option<SystemTime> {
    let bytes = value.as_bytes();
    let rfc850 = bytes.contains(&b'-');
    if rfc850 && (bytes.len() < 13 || bytes[bytes.len() - 13] != b' ') {
        return None;
    }
    httpdate::parse_http_date(value).ok()
}

/// The exporter's pause after failures: when it ends, and how many
/// failures in a row led to it.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    failures: u32,
    paused_until: Option<Instant>,
}

impl Backoff {
    /// Failures in a row, since the last upload that succeeded.
    pub(super) fn failures(&self) -> u32 {
        self.failures
    }

    /// When the current pause ends, if one is on.
    pub(super) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// The pause is over: one upload may be sent (the others wait for it).
    pub(super) fn resume(&mut self) {
        self.paused_until = None;
    }

    /// An upload succeeded: no pause, no failures.
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }

    /// An upload failed for a transient reason: pauses, and returns for how
    /// long. A failure during a pause (another upload of the same outage)
    /// does not lengthen it, unless the receiver asks for longer.
    pub(super) fn failed(&mut self, retry_after: Option<Duration>) -> Duration {
        let now = Instant::now();
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            let asked = retry_after
                .map(|wait| now + wait)
                .filter(|asked| *asked > until);
            let until = asked.unwrap_or(until);
            self.paused_until = Some(until);
            return until - now;
        }
        self.failures += 1;
        let pause = jittered(exponential(self.failures)).max(retry_after.unwrap_or_default());
        self.paused_until = Some(now + pause);
        pause
    }
}

/// `FIRST_PAUSE` doubled for each failure after the first, at most
/// `LONGEST_PAUSE`.
fn exponential(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_PAUSE * 2u32.pow(doublings)).min(LONGEST_PAUSE)
}

/// A pause between half of `pause` and all of it, at random: services that
/// lost the receiver together do not all come back to it in the same instant.
fn jittered(pause: Duration) -> Duration {
    pause.mul_f64(rand::random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    #[test]
    fn a_refusal_carries_zipkins_text() {
        let outcome = answered(
            "Zipkin",
            StatusCode::BAD_REQUEST,
            false,
            &HeaderMap::new(),
            "Expected a JSON_V2 encoded list\n",
        );
        assert_eq!(
            outcome,
            Outcome::Permanent {
                error: "Zipkin answered 400 Bad Request: Expected a JSON_V2 encoded list".into()
            }
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_and_bounded() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            retry_after(&headers, now)
        };
        assert_eq!(with("3"), Some(Duration::from_secs(3)));
        assert_eq!(with(" 0 "), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(with(&later), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(with(&earlier), Some(Duration::ZERO));
        assert_eq!(with("86400"), Some(LONGEST_RETRY_AFTER));
        assert_eq!(with("soon"), None);
        // Found by the fuzz target `retry_after`: a sign is no digit, and
        // a number past u64 is a long wait, not none.
        assert_eq!(with("+5"), None);
        assert_eq!(with("99999999999999999999"), Some(LONGEST_RETRY_AFTER));
        // The obsolete forms too; the rfc850 one with its every separator.
        assert_eq!(
            with("Tuesday, 14-Nov-23 22:13:27 GMT"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            with("Tue Nov 14 22:13:27 2023"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(with("Tuesday, 14-Nov-23(22:13:27 GMT"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn pauses_double_with_jitter_up_to_a_bound() {
        let mut backoff = Backoff::default();
        let mut bounds = Vec::new();
        for _ in 0..8 {
            let pause = backoff.failed(None);
            bounds.push(pause);
            // Over at once: the next failure is a new one in the row.
            backoff.paused_until = Some(Instant::now());
        }
        for (i, pause) in bounds.iter().enumerate() {
            let full = exponential(i as u32 + 1);
            assert!(
                *pause >= full / 2 && *pause <= full,
                "{i}: {pause:?} of {full:?}"
            );
        }
        assert_eq!(exponential(1), FIRST_PAUSE);
        assert_eq!(exponential(2), FIRST_PAUSE * 2);
        assert_eq!(exponential(30), LONGEST_PAUSE);
        assert_eq!(backoff.failures(), 8);
        backoff.reset();
        assert_eq!((backoff.failures(), backoff.paused_until()), (0, None));
    }

    #[test]
    fn a_failure_during_a_pause_does_not_lengthen_it_unless_the_receiver_asks() {
        let mut backoff = Backoff::default();
        let first = backoff.failed(None);
        let again = backoff.failed(None);
        assert!(again <= first);
        assert_eq!(backoff.failures(), 1);
        let asked = backoff.failed(Some(Duration::from_secs(30)));
        assert!(asked > Duration::from_secs(29), "{asked:?}");
        assert_eq!(backoff.failures(), 1);
    }

    #[test]
    fn retry_after_is_a_floor_on_the_pause() {
        let mut backoff = Backoff::default();
        let pause = backoff.failed(Some(Duration::from_secs(2)));
        assert!(pause >= Duration::from_secs(2), "{pause:?}");
    }
}
