//! Every finding of the fuzz targets, as its minimal input through its
//! target's check: each failed before its fix (the parser's, said at each)
//! and must pass from now on.

use fuzz_checks::{b3_single, retry_after, settings, traceparent};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

/// `b3_single`: a byte that is not ASCII in the single header's parent
/// made the reader drop the whole header (it read the value as text),
/// where `X-B3-ParentSpanId` costs only the parent. Fix: the single header
/// is read as bytes (`telemetry/src/propagation/b3.rs`, `parse_single`).
#[test]
fn a_non_ascii_byte_in_the_single_headers_parent_costs_only_the_parent() {
    let mut value = format!("{TRACE}-{SPAN}-1-").into_bytes();
    value.extend_from_slice(b"00200\xf800000000001");
    b3_single::check(&value);
}

/// `traceparent`: the SDK's `TraceContextPropagator`, which read the
/// header, took ids of any length (`00-1-1-01`: trace 1, span 1), a
/// one-digit version or flags, a `-` after version 00's flags, and the
/// first of two headers. Fix: `traceparent` is read by hand, as the
/// specification says (`telemetry/src/propagation/w3c.rs`, `read`).
#[test]
fn traceparent_refuses_what_the_specification_refuses() {
    for value in [
        "00-1-1-01".to_owned(),
        "00-f753-1-7".to_owned(),
        format!("0-{TRACE}-{SPAN}-01"),
        format!("00-{TRACE}-{SPAN}-01-"),
        format!("00-{TRACE}-{SPAN}-1"),
        format!("00-{TRACE}-{SPAN}-01\ntraceparent:00-{TRACE}-{SPAN}-01"),
    ] {
        traceparent::check(value.as_bytes());
    }
}

/// `retry_after`: `+5` was read as 5 seconds (Rust's integer parsing takes
/// a sign; `delay-seconds` is digits only), and a number past u64 as no
/// wait at all. Fix: `span_export/src/retry.rs`, `retry_after`.
#[test]
fn retry_after_is_digits_only_and_a_huge_number_is_the_longest_wait() {
    for value in [
        "+55",
        "+5\nretry-after:7",
        "99999999999999999999",
        "0666666666666666666660766070",
    ] {
        retry_after::check(value.as_bytes());
    }
}

/// `retry_after`: `httpdate` reads the obsolete rfc850 form of a date
/// without checking the byte between its year and its time, so
/// `Tuesday, 14-Nov-23(22:13:27 GMT` was a date, and a wait. Fix: that
/// byte is checked before `httpdate` reads the rest
/// (`span_export/src/retry.rs`, `http_date`).
#[test]
fn an_rfc850_date_needs_its_space_before_the_time() {
    for value in [
        "Tuesday, 14-Nov-23(22:13:27 GMT",
        "Tuesday, 14-Nov-23)22:13:27 GMT",
        "Tuesday, 14-Nov-23022:13:27 GMT",
        "\t\tTuesday, 14-Nov-23(22:13:27 GMT",
    ] {
        retry_after::check(value.as_bytes());
    }
}

/// `settings`: `OTEL_BSP_SCHEDULE_DELAY=0` was taken, and then the batch
/// thread panicked at start (a tokio interval of zero): no span was ever
/// exported. Fix: the processor's tick is at least 1 ms
/// (`span_export/src/processor.rs`, `ExportProcessor::start`).
#[test]
fn a_schedule_delay_of_zero_starts_the_exporter() {
    settings::check(&settings::encode(&[("OTEL_BSP_SCHEDULE_DELAY", "0")]));
}

/// `settings`: `OTEL_BSP_MAX_EXPORT_BATCH_SIZE=1000000000` was taken, and
/// the exporter then allocated a batch of that many spans up front (352 GB:
/// out of memory at start). Fix: a batch's vector is made for at most 4096
/// spans before they come (`span_export/src/queue.rs`, `PREALLOCATED`).
#[test]
fn a_huge_batch_size_allocates_nothing_up_front() {
    settings::check(&settings::encode(&[
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000000000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1000000000"),
    ]));
}

/// `settings`, once its reference came to read the handlers' own
/// variables too: `API_03_URL=https://api-03` was taken, and then every
/// call to api_03 failed, since the client has no TLS. Fix: a callee's URL
/// is read as every endpoint is, plain HTTP or an error naming the
/// variable (`demo/src/downstream.rs`, through `Env::http_url_or`).
#[test]
fn a_callee_url_the_client_cannot_call_is_refused_by_name() {
    for (name, value) in [
        ("API_02_URL", "https://api-02:5002"),
        ("API_03_URL", "https://api-03:5003"),
        ("API_03_URL", "api-03:5003"),
        ("WORK_MS", "-1"),
    ] {
        settings::check(&settings::encode(&[(name, value)]));
    }
}
