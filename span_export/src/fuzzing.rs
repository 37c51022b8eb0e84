//! The parsers of outside input, opened to the fuzz targets
//! (`fuzz_checks`, `fuzz/`) by the `fuzzing` feature: the receiver's
//! `Retry-After`. Not part of the API: it changes with the targets.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// The longest `Retry-After` honoured.
pub const LONGEST_RETRY_AFTER: Duration = crate::retry::LONGEST_RETRY_AFTER;

/// `Retry-After` in `headers`, as a wait from `now`, as an upload that
/// failed reads it.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    crate::retry::retry_after(headers, now)
}
