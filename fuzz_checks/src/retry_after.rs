//! `Retry-After` in an answer from Zipkin (or an OTLP receiver), read by
//! `span_export` when an upload fails for a reason that may pass: in
//! seconds or as an HTTP date, bounded.
//!
//! Why: the receiver, or any proxy in front of it, sets the exporter's
//! pause with it. The rules:
//!
//! - no value panics the reader;
//! - the wait is never longer than the documented longest
//!   (`LONGEST_RETRY_AFTER`, 60 s), whatever is asked;
//! - the wait is what [`reference()`] reads from RFC 9110 §10.2.3, bounded:
//!   `delay-seconds` (one or more digits, no sign, however many) or an
//!   `HTTP-date` in any of its three forms, as a wait from now (none for
//!   a date past);
//! - a value the reference cannot read is not read either (it asks no
//!   wait): no garbage becomes a pause.
//!
//! An unread value and a wait of zero pause alike, so the two compare as
//! the same wait. Where the reference follows `httpdate` (which
//! `span_export` reads dates with) rather than the RFC's letter, it says
//! so: a date is refused when its weekday is not the date's, or its
//! second is a leap second (`:60`), and an rfc850 date's two-digit year is
//! 19xx from 70 and 20xx below (RFC 9110 reads it as at most 50 years
//! ahead); these are dates no receiver sends, and at worst they change a
//! wait of at most 60 s to none.
//!
//! Input: the first line is the `Retry-After` value (sent first, if HTTP
//! allows it as a value); the other lines are more headers
//! ([`crate::headers`]), another `Retry-After` among them maybe (the first
//! counts). The clock reads [`NOW`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header::RETRY_AFTER};
use span_export::fuzzing::{LONGEST_RETRY_AFTER, retry_after};

use crate::headers;

/// The clock of every check, in seconds since the epoch: Tue, 14 Nov
/// 2023 22:13:20 GMT.
pub const NOW: u64 = 1_700_000_000;

pub fn check(data: &[u8]) {
    let (value, rest) = headers::first_line(data);
    let mut headers = HeaderMap::new();
    headers::append(&mut headers, RETRY_AFTER, value);
    for line in rest.split(|&byte| byte == b'\n') {
        headers::append_line(&mut headers, line);
    }
    check_headers(&headers);
}

/// The rules of `Retry-After`, for an answer with `headers`.
pub fn check_headers(headers: &HeaderMap) {
    let read = retry_after(headers, UNIX_EPOCH + Duration::from_secs(NOW));
    let value = headers.get(RETRY_AFTER);
    let says = || format!("Retry-After {value:?} read as {read:?}");
    if let Some(wait) = read {
        assert!(
            wait <= LONGEST_RETRY_AFTER,
            "{}: over the longest wait",
            says()
        );
    }
    let asked = value.and_then(|value| reference(value.as_bytes(), NOW));
    let expected = asked.map(|seconds| Duration::from_secs(seconds).min(LONGEST_RETRY_AFTER));
    assert!(
        read.is_none() || asked.is_some(),
        "{}: the RFC's grammar does not read it",
        says()
    );
    assert_eq!(
        read.unwrap_or_default(),
        expected.unwrap_or_default(),
        "{}: the RFC's reading asks {asked:?} s",
        says()
    );
}

/// The wait `value` asks for at `now` (seconds since the epoch), in
/// seconds: `None` when it is neither `delay-seconds` nor an `HTTP-date`.
pub fn reference(value: &[u8], now: u64) -> Option<u64> {
    let value = headers::trim_ows(value);
    if !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
        // However many digits: a number past u64 still asks for longer
        // than anyone waits.
        let seconds = value.iter().fold(0u64, |seconds, digit| {
            seconds
                .saturating_mul(10)
                .saturating_add(u64::from(digit - b'0'))
        });
        return Some(seconds);
    }
    let date = http_date(value)?;
    Some(date.saturating_sub(now))
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An `HTTP-date`, as seconds since the epoch (before it: refused, as
/// `httpdate` does; such a date is past anyway).
fn http_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    imf_fixdate(text)
        .or_else(|| rfc850_date(text))
        .or_else(|| asctime_date(text))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(text: &str) -> Option<u64> {
    let (day_name, rest) = text.split_once(", ")?;
    let weekday = DAY_NAMES.iter().position(|name| *name == day_name)?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day = digits(day, 2)?;
    let month = month_number(month)?;
    let year = digits(year, 4)?;
    seconds_at(weekday, year, month, day, time)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850_date(text: &str) -> Option<u64> {
    let (day_name, rest) = text.split_once(", ")?;
    let weekday = LONG_DAY_NAMES.iter().position(|name| *name == day_name)?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [date, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let date: Vec<&str> = date.split('-').collect();
    let [day, month, year] = date.as_slice() else {
        return None;
    };
    let day = digits(day, 2)?;
    let month = month_number(month)?;
    let year = digits(year, 2)?;
    let year = if year < 70 { 2000 + year } else { 1900 + year };
    seconds_at(weekday, year, month, day, time)
}

/// `Sun Nov  6 08:49:37 1994`
fn asctime_date(text: &str) -> Option<u64> {
    let (day_name, rest) = text.split_once(' ')?;
    let weekday = DAY_NAMES.iter().position(|name| *name == day_name)?;
    let (month, rest) = rest.split_once(' ')?;
    let month = month_number(month)?;
    // The day: two digits, or a space and one digit.
    let (day, rest) = match rest.strip_prefix(' ') {
        Some(rest) => (digits(rest.get(..1)?, 1)?, rest.get(1..)?),
        None => (digits(rest.get(..2)?, 2)?, rest.get(2..)?),
    };
    let parts: Vec<&str> = rest.strip_prefix(' ')?.split(' ').collect();
    let [time, year] = parts.as_slice() else {
        return None;
    };
    let year = digits(year, 4)?;
    seconds_at(weekday, year, month, day, time)
}

/// Exactly `count` ASCII digits, as a number.
fn digits(text: &str, count: usize) -> Option<u64> {
    if text.len() != count || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn month_number(text: &str) -> Option<u64> {
    MONTHS
        .iter()
        .position(|name| *name == text)
        .map(|at| at as u64 + 1)
}

/// The date, checked (a real day of a real month, from 1970, its weekday
/// the right one, `HH:MM:SS` a time of day), as seconds since the epoch.
fn seconds_at(weekday: usize, year: u64, month: u64, day: u64, time: &str) -> Option<u64> {
    let parts: Vec<&str> = time.split(':').collect();
    let [hour, minute, second] = parts.as_slice() else {
        return None;
    };
    let (hour, minute, second) = (digits(hour, 2)?, digits(minute, 2)?, digits(second, 2)?);
    if hour > 23 || minute > 59 || second > 59 || year < 1970 {
        return None;
    }
    if day == 0 || day > month_days(year)[month as usize - 1] {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    // 1970-01-01 was a Thursday (3, counting Monday as 0).
    if (days + 3) % 7 != weekday as u64 {
        return None;
    }
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// The Gregorian calendar's leap years.
fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// The days of each month of `year`.
fn month_days(year: u64) -> [u64; 12] {
    let february = if is_leap(year) { 29 } else { 28 };
    [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
}

/// Days from 1970-01-01 to `year-month-day` (from 1970 on), counted a
/// year and a month at a time: slow, and plainly right.
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let mut days = 0;
    for earlier in 1970..year {
        days += if is_leap(earlier) { 366 } else { 365 };
    }
    days += month_days(year)[..month as usize - 1].iter().sum::<u64>();
    days + day - 1
}

/// `seconds` since the epoch as an IMF-fixdate: for seeds and properties.
pub fn imf(seconds: u64) -> String {
    let days = seconds / 86_400;
    let (mut year, mut rest) = (1970, days);
    while rest >= if is_leap(year) { 366 } else { 365 } {
        rest -= if is_leap(year) { 366 } else { 365 };
        year += 1;
    }
    let month_days = month_days(year);
    let mut month = 0;
    while rest >= month_days[month] {
        rest -= month_days[month];
        month += 1;
    }
    let time = seconds % 86_400;
    format!(
        "{}, {:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAY_NAMES[((days + 3) % 7) as usize],
        rest + 1,
        MONTHS[month],
        time / 3_600,
        time / 60 % 60,
        time % 60
    )
}

/// The time every check reads the clock as.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfcs_three_forms_read_the_same_date() {
        let expected = 784_111_777;
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun Nov 06 08:49:37 1994",
        ] {
            assert_eq!(http_date(value.as_bytes()), Some(expected), "{value}");
        }
        assert_eq!(imf(expected), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf(NOW), "Tue, 14 Nov 2023 22:13:20 GMT");
        for refused in [
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun Nov   6 08:49:37 1994",
        ] {
            assert_eq!(http_date(refused.as_bytes()), None, "{refused}");
        }
        assert_eq!(reference(b"0005", NOW), Some(5));
        assert_eq!(reference(b"99999999999999999999999", NOW), Some(u64::MAX));
        assert_eq!(reference(b"+5", NOW), None);
        assert_eq!(reference(imf(NOW + 7).as_bytes(), NOW), Some(7));
        assert_eq!(reference(imf(NOW - 7).as_bytes(), NOW), Some(0));
        assert_eq!(now(), UNIX_EPOCH + Duration::from_secs(NOW));
    }
}
