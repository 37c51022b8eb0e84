//! Writes the first seeds of every fuzz target into `fuzz/corpus/<target>/`
//! (or the directory given): every row of the `b3_table` crate, the W3C
//! test suite's kinds of `traceparent`, a page's post and the ways it goes
//! wrong, each form of `Retry-After`, and a working value of every
//! setting. A fuzzer finds its way from a valid input much sooner than
//! from nothing (a post's timestamp within the hour, say, is hard to hit
//! by chance); `bench/fuzz.sh` then grows and minimises the corpus.
//!
//! `cargo run -p fuzz_checks --example seeds [corpus directory]`

use std::{fs, path::PathBuf};

use fuzz_checks::{
    headers, inbound, relay_body, retry_after, round_trip, settings,
    table::{self, Listed},
};
use opentelemetry::trace::{SpanId, TraceId};
use telemetry::fuzzing::{Context, Ids, Sampling};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_64: &str = "a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";
const PARENT: &str = "0020000000000001";

fn main() {
    let root = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus"),
        PathBuf::from,
    );
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("b3_multi", b3_multi()),
        ("b3_single", b3_single()),
        ("traceparent", traceparent()),
        ("inbound", inbound()),
        ("round_trip", round_trip()),
        ("relay_body", relay_body()),
        ("retry_after", retry_after()),
        ("settings", settings()),
    ];
    for (target, inputs) in seeds {
        let dir = root.join(target);
        fs::create_dir_all(&dir).expect("the corpus directory");
        // Not checked here: `cargo test -p fuzz_checks` replays them, and a
        // seed that breaks a rule is a finding like any other.
        for (i, input) in inputs.iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:03}")), input).expect("a seed");
        }
        println!("{target}: {} seeds in {}", inputs.len(), dir.display());
    }
}

fn row_headers(listed: &Listed) -> Vec<u8> {
    headers::encode(&listed.row.headers)
}

fn b3_multi() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = table::rows().iter().map(row_headers).collect();
    seeds.push(headers::encode(&[
        ("X-B3-TraceId", TRACE),
        ("X-B3-SpanId", SPAN),
        ("X-B3-ParentSpanId", PARENT),
        ("X-B3-Sampled", "1"),
        ("X-B3-Flags", "0"),
    ]));
    seeds.sort();
    seeds.dedup();
    seeds
}

fn b3_single() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for listed in table::rows() {
        if let Some((_, value)) = listed.row.headers.iter().find(|(name, _)| *name == "b3") {
            let others: Vec<_> = listed
                .row
                .headers
                .iter()
                .filter(|(name, _)| *name != "b3")
                .cloned()
                .collect();
            let mut seed = value.as_bytes().to_vec();
            if !others.is_empty() {
                seed.push(b'\n');
                seed.extend(headers::encode(&others));
            }
            seeds.push(seed);
        }
    }
    for value in [
        format!("{TRACE}-{SPAN}-1-{PARENT}"),
        format!("{TRACE_64}-{SPAN}-d"),
        format!("{TRACE}-{SPAN}"),
        "0".to_owned(),
    ] {
        seeds.push(value.into_bytes());
    }
    seeds.sort();
    seeds.dedup();
    seeds
}

fn traceparent() -> Vec<Vec<u8>> {
    [
        format!("00-{TRACE}-{SPAN}-01"),
        format!("00-{TRACE}-{SPAN}-00\ntracestate:congo=t61rcWkgMzE"),
        format!("00-{TRACE}-{SPAN}-03"),
        format!("cc-{TRACE}-{SPAN}-01-what-the-future-will-be-like"),
        format!("ff-{TRACE}-{SPAN}-01"),
        format!("00-{TRACE}-{SPAN}-01\ntraceparent:00-{TRACE}-{SPAN}-01"),
        format!("00-{TRACE}-{SPAN}-01\nX-B3-TraceId:{TRACE}\nX-B3-SpanId:{SPAN}"),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

fn inbound() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for listed in table::rows() {
        let list = inbound::PROPAGATORS
            .iter()
            .position(|list| {
                list.parse::<telemetry::Propagators>().ok() == Some(listed.propagators)
            })
            .expect("every list of the table") as u8;
        for join in [true, false] {
            seeds.push(inbound::encode(list, join, 0, &row_headers(listed)));
        }
    }
    let b3 = headers::encode(&[("X-B3-TraceId", TRACE), ("X-B3-SpanId", SPAN)]);
    for sampler in 1..6 {
        seeds.push(inbound::encode(0, true, sampler, &b3));
    }
    seeds
}

fn round_trip() -> Vec<Vec<u8>> {
    let ids = |trace: &str, parent: Option<&str>| Ids {
        trace_id: TraceId::from_hex(trace).expect("hex"),
        span_id: SpanId::from_hex(SPAN).expect("hex"),
        parent_span_id: parent.map(|parent| SpanId::from_hex(parent).expect("hex")),
    };
    let mut seeds = Vec::new();
    for list in 0..inbound::PROPAGATORS.len() as u8 {
        for (ids, sampling) in [
            (Some(ids(TRACE, Some(PARENT))), Sampling::Accept),
            (Some(ids(TRACE_64, None)), Sampling::Debug),
            (Some(ids(TRACE, Some(PARENT))), Sampling::Defer),
            (None, Sampling::Deny),
        ] {
            seeds.push(round_trip::encode(list, &Context { ids, sampling }));
        }
    }
    seeds
}

fn relay_body() -> Vec<Vec<u8>> {
    let valid = relay_body::valid_body().to_string().into_bytes();
    let mut seeds: Vec<Vec<u8>> = (0..relay_body::HEADERS.len() as u8)
        .map(|headers| relay_body::encode(headers, true, &valid))
        .collect();
    seeds.push(relay_body::encode(0, false, &valid));
    let mut bare = relay_body::valid_body();
    bare[0].as_object_mut().expect("a span").remove("tags");
    bare[0]["traceId"] = TRACE_64.into();
    seeds.push(relay_body::encode(1, true, bare.to_string().as_bytes()));
    for body in ["[]", "{}", "[{}]", "not json"] {
        seeds.push(relay_body::encode(0, true, body.as_bytes()));
    }
    seeds
}

fn retry_after() -> Vec<Vec<u8>> {
    let now = retry_after::NOW;
    [
        "0".to_owned(),
        "7".to_owned(),
        "120".to_owned(),
        retry_after::imf(now + 7),
        retry_after::imf(now - 7),
        retry_after::imf(now + 3_600),
        "Sunday, 06-Nov-94 08:49:37 GMT".to_owned(),
        "Wed Nov 15 22:13:20 2023".to_owned(),
        "Tue Nov 14 22:13:27 2023".to_owned(),
        "Tuesday, 14-Nov-23 22:13:27 GMT".to_owned(),
        format!("5\nretry-after:{}", retry_after::imf(now + 30)),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

fn settings() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        settings::encode(&[]),
        settings::encode(&[
            ("OTEL_SERVICE_NAME", "checkout"),
            (
                "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                "http://zipkin:9411/api/v2/spans",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_PROPAGATORS", "tracecontext,b3multi"),
            ("B3_JOIN", "false"),
            ("OTEL_SDK_DISABLED", "false"),
        ]),
        settings::encode(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=secret%3D1, x-tenant = blue",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ]),
        settings::encode(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4318/custom",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
        ]),
        settings::encode(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
            ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "2"),
        ]),
        settings::encode(&[
            ("PORT", "8080"),
            ("ZIPKIN_UI_URL", "http://example.test/zipkin/"),
            ("DOWNSTREAM_TIMEOUT_MS", "250"),
            ("REQUEST_TIMEOUT_MS", "1500"),
            ("HEADER_TIMEOUT_MS", "250"),
            ("IDLE_TIMEOUT_MS", "750"),
            ("MAX_CONNECTIONS", "64"),
        ]),
        settings::encode(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_PROPAGATORS", "none"),
        ]),
    ];
    seeds.push(settings::encode(&[("OTEL_TRACES_SAMPLER", "always_off")]));
    seeds
}
