//! The fuzz targets' rules as `proptest` properties, on a fixed seed and a
//! bounded number of cases: every `cargo test` checks the same slice of
//! them, in a few seconds, with no luck in it. The generators make what
//! the rules are about: well-formed inputs and near misses (a valid id
//! with one byte changed, one digit short or long, in upper case, all
//! zeros; a span one microsecond out of its window; a number with a sign).
//! A failure is shrunk to a minimal input; it belongs in `regressions.rs`
//! once fixed.

use fuzz_checks::{
    b3_multi, b3_single, headers, inbound, relay_body, retry_after, round_trip, settings,
    traceparent,
};
use proptest::{
    prelude::*,
    test_runner::{Config, RngSeed},
};
use serde_json::{Value, json};

/// Fixed seed, bounded cases, nothing written to disk.
fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x5eed_b3b3),
        failure_persistence: None,
        ..Config::default()
    }
}

const HEX: &[u8] = b"0123456789abcdef";

/// `len` lower-hex digits.
fn hex(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(HEX), len)
        .prop_map(|digits| String::from_utf8(digits).expect("ASCII"))
}

/// `text` with one near miss: a byte changed (to upper case, a non-hex
/// letter, a dash, a space, a zero, or anything), one cut, one added; or
/// all zeros.
fn near_miss(text: String) -> impl Strategy<Value = String> {
    let len = text.len().max(1);
    (0..6u8, 0..len, any::<u8>()).prop_map(move |(how, at, byte)| {
        let mut bytes = text.clone().into_bytes();
        let at = at.min(bytes.len().saturating_sub(1));
        match how {
            0 if !bytes.is_empty() => bytes[at] = bytes[at].to_ascii_uppercase(),
            1 if !bytes.is_empty() => bytes[at] = b"gz-+ 0"[usize::from(byte) % 6],
            2 if !bytes.is_empty() => bytes[at] = byte.clamp(b' ', b'~'),
            3 if !bytes.is_empty() => {
                bytes.remove(at);
            }
            4 => bytes.insert(at.min(bytes.len()), HEX[usize::from(byte) % 16]),
            _ => bytes.iter_mut().for_each(|byte| *byte = b'0'),
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// An id of one of `lengths`: valid most of the time, else a near miss.
fn id(lengths: &'static [usize]) -> impl Strategy<Value = String> {
    proptest::sample::select(lengths)
        .prop_flat_map(hex)
        .prop_flat_map(|valid| prop_oneof![3 => Just(valid.clone()), 2 => near_miss(valid)])
}

fn one_of(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(values).prop_map(str::to_owned)
}

/// A B3 header, either form, with a value made for its name.
fn b3_header() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        id(&[16, 32]).prop_map(|id| ("X-B3-TraceId".to_owned(), id)),
        id(&[16]).prop_map(|id| ("X-B3-SpanId".to_owned(), id)),
        id(&[16]).prop_map(|id| ("x-b3-parentspanid".to_owned(), id)),
        one_of(&[
            "0", "1", "true", "false", "TRUE", "False", "2", "", "maybe", "01", "d"
        ])
        .prop_map(|value| ("X-B3-Sampled".to_owned(), value)),
        one_of(&["0", "1", "2", "", "01", "true"])
            .prop_map(|value| ("X-B3-Flags".to_owned(), value)),
        b3_single_value().prop_map(|value| ("b3".to_owned(), value)),
    ]
}

/// The single header's value: a decision alone, or ids with up to three
/// more parts.
fn b3_single_value() -> impl Strategy<Value = String> {
    let decision = || one_of(&["0", "1", "d", "", "2", "D", "true"]);
    prop_oneof![
        decision(),
        (
            id(&[16, 32]),
            id(&[16]),
            proptest::option::of(decision()),
            proptest::option::of(id(&[16])),
            proptest::option::of(one_of(&["", "1", "x"])),
        )
            .prop_map(|(trace, span, decision, parent, extra)| {
                let mut value = format!("{trace}-{span}");
                for part in [decision, parent, extra].into_iter().flatten() {
                    value.push('-');
                    value.push_str(&part);
                }
                value
            }),
    ]
}

/// A `traceparent` value: each field valid or a near miss, and what may
/// follow the flags.
fn traceparent_value() -> impl Strategy<Value = String> {
    (
        one_of(&["00", "00", "01", "cc", "fe", "ff", "0", "000", "0A", "+0"]),
        id(&[32]),
        id(&[16]),
        one_of(&["00", "01", "02", "03", "ff", "0", "001", "+1", "0A", "1"]),
        one_of(&["", "", "-", "-what-the-future-will-be-like", ".x", "x"]),
    )
        .prop_map(|(version, trace, span, flags, tail)| {
            format!("{version}-{trace}-{span}-{flags}{tail}")
        })
}

/// Any header a request may carry that the readers look at.
fn trace_header() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        3 => b3_header(),
        2 => traceparent_value().prop_map(|value| ("traceparent".to_owned(), value)),
        1 => one_of(&["congo=t61rcWkgMzE", "", "a=1,b=2", "=", "x"]).prop_map(|value| ("tracestate".to_owned(), value)),
        1 => one_of(&["1", "text/html"]).prop_map(|value| ("accept".to_owned(), value)),
    ]
}

fn header_lines(pairs: &[(String, String)]) -> Vec<u8> {
    headers::encode(pairs)
}

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn b3_multi_reads_as_the_specification(pairs in proptest::collection::vec(b3_header(), 0..7)) {
        b3_multi::check(&header_lines(&pairs));
    }

    #[test]
    fn b3_single_reads_as_the_specification(
        value in b3_single_value(),
        pairs in proptest::collection::vec(b3_header(), 0..4),
    ) {
        let mut data = value.into_bytes();
        if !pairs.is_empty() {
            data.push(b'\n');
            data.extend(header_lines(&pairs));
        }
        b3_single::check(&data);
    }

    #[test]
    fn traceparent_reads_as_the_specification(
        value in traceparent_value(),
        pairs in proptest::collection::vec(trace_header(), 0..3),
    ) {
        let mut data = value.into_bytes();
        if !pairs.is_empty() {
            data.push(b'\n');
            data.extend(header_lines(&pairs));
        }
        traceparent::check(&data);
    }

    #[test]
    fn inbound_places_and_decides_as_the_specifications(
        list in 0..inbound::PROPAGATORS.len() as u8,
        b3_join in any::<bool>(),
        sampler in 0..6u8,
        pairs in proptest::collection::vec(trace_header(), 0..6),
    ) {
        inbound::check(&inbound::encode(list, b3_join, sampler, &header_lines(&pairs)));
    }

    #[test]
    fn what_is_written_reads_back(data in proptest::collection::vec(any::<u8>(), 0..40)) {
        round_trip::check(&data);
    }

    #[test]
    fn retry_after_waits_as_the_rfc_says(value in retry_after_value()) {
        retry_after::check(value.as_bytes());
    }

    #[test]
    fn settings_are_read_or_refused_by_name(vars in proptest::collection::vec(setting(), 0..6)) {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(name, value)| (*name, value.as_str())).collect();
        settings::check(&settings::encode(&vars));
    }

    #[test]
    fn otlp_headers_round_trip(value in "\\PC{0,24}") {
        settings::otlp_headers_round_trip(&value);
    }

    #[test]
    fn the_relay_forwards_exactly_what_passes((headers, with_length, body) in post()) {
        relay_body::check(&relay_body::encode(headers, with_length, &body));
    }
}

/// Every context a call can carry, under every list: the whole space
/// (16 lists, 4 decisions, ids or none, 64 or 128 bits, a parent or none)
/// on one set of ids.
#[test]
fn every_kind_of_context_reads_back_under_every_list() {
    use opentelemetry::trace::{SpanId, TraceId};
    use telemetry::fuzzing::{Context, Ids, Sampling};
    for list in 0..inbound::PROPAGATORS.len() as u8 {
        for sampling in [
            Sampling::Defer,
            Sampling::Deny,
            Sampling::Accept,
            Sampling::Debug,
        ] {
            for (trace, parent) in [
                (None, None),
                (Some(0xa3ce_929d_0e0e_4736u128), None),
                (Some(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736), Some(1u64)),
                (Some(1), Some(u64::MAX)),
            ] {
                let ids = trace.map(|trace| Ids {
                    trace_id: TraceId::from(trace),
                    span_id: SpanId::from(0x00f0_67aa_0ba9_02b7),
                    parent_span_id: parent.map(SpanId::from),
                });
                round_trip::check(&round_trip::encode(list, &Context { ids, sampling }));
            }
        }
    }
}

/// `Retry-After` values: digits (with a sign, or past u64, sometimes), and
/// dates in the three forms around now; each maybe with a byte changed.
fn retry_after_value() -> impl Strategy<Value = String> {
    let now = retry_after::NOW;
    let seconds = prop_oneof![
        (0..200u64).prop_map(|seconds| seconds.to_string()),
        "[0-9]{1,25}",
        one_of(&["+5", "-5", " 7 ", "5s", "1.5", "", "0x10"]),
    ];
    let date = (
        0..3u8,
        -200i64..200,
        prop_oneof![Just(1i64), Just(60), Just(86_400)],
    )
        .prop_map(move |(form, offset, scale)| {
            let at = now.saturating_add_signed(offset * scale);
            let imf = retry_after::imf(at);
            // `Tue, 14 Nov 2023 22:13:20 GMT`: its parts, for the other forms.
            let parts: Vec<&str> = imf
                .split([' ', ','])
                .filter(|part| !part.is_empty())
                .collect();
            let (day_name, day, month, year, time) =
                (parts[0], parts[1], parts[2], parts[3], parts[4]);
            match form {
                0 => imf.clone(),
                1 => {
                    let long = [
                        ("Mon", "Monday"),
                        ("Tue", "Tuesday"),
                        ("Wed", "Wednesday"),
                        ("Thu", "Thursday"),
                        ("Fri", "Friday"),
                        ("Sat", "Saturday"),
                        ("Sun", "Sunday"),
                    ]
                    .iter()
                    .find(|(short, _)| *short == day_name)
                    .expect("a day")
                    .1;
                    format!("{long}, {day}-{month}-{} {time} GMT", &year[2..])
                }
                _ => {
                    let day = day.trim_start_matches('0');
                    format!("{day_name} {month} {day:>2} {time} {year}")
                }
            }
        });
    let value = prop_oneof![seconds, date];
    value.prop_flat_map(|value| prop_oneof![3 => Just(value.clone()), 1 => near_miss(value)])
}

/// A variable a service reads, with a value that works or nearly does.
fn setting() -> impl Strategy<Value = (&'static str, String)> {
    let number = prop_oneof![
        one_of(&[
            "0",
            "1",
            "16",
            "2500",
            "+5",
            "-1",
            "1.5",
            "",
            " ",
            "18446744073709551616",
            "65535",
            "65536"
        ]),
        (0..100_000u64).prop_map(|number| number.to_string()),
    ];
    let url = one_of(&[
        "http://collector:4318",
        "http://collector:4318/",
        "http://proxy/otlp/",
        "https://collector:4318",
        "zipkin:9411",
        "not a url",
        "http://[::1]:9411/api/v2/spans",
        "http://zipkin:99999",
    ]);
    let headers = prop_oneof![
        one_of(&[
            "api-key=secret%3D1, x-tenant = blue ,",
            "a=%0A",
            "a=%FF",
            "novalue",
            "bad header=1",
            "a=%e2%82%ac",
            ""
        ]),
        "[a-z=%,0-9A-F ]{0,20}",
    ];
    prop_oneof![
        (
            proptest::sample::select(
                &[
                    "OTEL_BSP_SCHEDULE_DELAY",
                    "OTEL_BSP_MAX_QUEUE_SIZE",
                    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                    "OTEL_BSP_EXPORT_TIMEOUT",
                    "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
                    "OTEL_EXPORTER_OTLP_TIMEOUT",
                    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                    "PORT",
                    "DOWNSTREAM_TIMEOUT_MS",
                    "REQUEST_TIMEOUT_MS",
                    "HEADER_TIMEOUT_MS",
                    "IDLE_TIMEOUT_MS",
                    "MAX_CONNECTIONS",
                    "WORK_MS",
                ][..]
            ),
            number
        ),
        (
            proptest::sample::select(
                &[
                    "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "ZIPKIN_UI_URL",
                    "API_02_URL",
                    "API_03_URL",
                ][..]
            ),
            url
        ),
        (
            proptest::sample::select(
                &[
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
                ][..]
            ),
            headers
        ),
        (
            Just("OTEL_TRACES_EXPORTER"),
            one_of(&[
                "zipkin",
                "otlp",
                "otlp",
                "none",
                "OTLP",
                "jaeger",
                "otlp,zipkin",
                " otlp "
            ])
        ),
        (
            Just("OTEL_TRACES_SAMPLER"),
            one_of(&[
                "always_on",
                "parentbased_always_off",
                "traceidratio",
                "parentbased_traceidratio",
                "sometimes"
            ])
        ),
        (
            Just("OTEL_TRACES_SAMPLER_ARG"),
            one_of(&["0.25", "1", "0", "1.5", "-0.1", "NaN", "half", "inf"])
        ),
        (
            Just("OTEL_PROPAGATORS"),
            one_of(&[
                "b3multi",
                "b3,tracecontext",
                "tracecontext,b3multi,tracecontext",
                "none",
                "b3,none",
                "B3",
                "b3,",
                "baggage",
                " , "
            ])
        ),
        (
            proptest::sample::select(
                &[
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
                ][..]
            ),
            one_of(&["http/protobuf", "http/json", "grpc", "http"])
        ),
        (
            proptest::sample::select(
                &[
                    "OTEL_EXPORTER_OTLP_COMPRESSION",
                    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
                ][..]
            ),
            one_of(&["gzip", "none", "zstd", "GZIP"])
        ),
        (Just("B3_JOIN"), one_of(&["true", "false", "TRUE", "1", ""])),
        (
            Just("OTEL_SDK_DISABLED"),
            one_of(&["true", "TRUE", "false", "yes"])
        ),
        (
            Just("OTEL_SERVICE_NAME"),
            one_of(&["checkout", "", "  spaced  "])
        ),
    ]
}

/// A post to the relay: a valid span with at most one field changed to a
/// near miss (or removed, or one added), with one of the headers choices.
fn post() -> impl Strategy<Value = (u8, bool, Vec<u8>)> {
    let now = relay_body::NOW_US;
    let hour = 3_600_000_000u64;
    let ten_minutes = 600_000_000u64;
    let change = prop_oneof![
        Just(None),
        id(&[16, 32]).prop_map(|id| Some(("traceId", json!(id)))),
        id(&[16]).prop_map(|id| Some(("id", json!(id)))),
        one_of(&["CLIENT", "SERVER", "client", ""]).prop_map(|kind| Some(("kind", json!(kind)))),
        prop_oneof![
            "[a-z0-9_./ -]{0,66}",
            one_of(&["<script>", "Fail", "x\ny", ""]),
        ]
        .prop_map(|name| Some(("name", json!(name)))),
        prop_oneof![
            Just(now - hour - 1),
            Just(now - hour),
            Just(now + ten_minutes),
            Just(now + ten_minutes + 1),
            Just(now / 1000),
            (now - hour..now + ten_minutes),
        ]
        .prop_map(|timestamp| Some(("timestamp", json!(timestamp)))),
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(120_000_000),
            Just(120_000_001),
            1..200_000_000u64
        ]
        .prop_map(|duration| Some(("duration", json!(duration)))),
        one_of(&["browser", "api_02", ""])
            .prop_map(|name| Some(("localEndpoint", json!({ "serviceName": name })))),
        one_of(&["api_01", "api_03"])
            .prop_map(|name| Some(("remoteEndpoint", json!({ "serviceName": name })))),
        tags().prop_map(|tags| Some(("tags", tags))),
        Just(Some(("parentId", json!("00f067aa0ba902b8")))),
        Just(Some(("timestamp", json!(-1)))),
        Just(Some(("duration", json!("1500")))),
        Just(Some(("tags", Value::Null))),
    ];
    let remove = proptest::option::weighted(
        0.1,
        proptest::sample::select(&["traceId", "tags", "remoteEndpoint", "duration"][..]),
    );
    (
        0..relay_body::HEADERS.len() as u8,
        any::<bool>(),
        change,
        remove,
        0..8u8,
    )
        .prop_map(|(headers, with_length, change, remove, padding)| {
            let mut body = relay_body::valid_body();
            if let Some((field, value)) = change {
                body[0][field] = value;
            }
            if let Some(field) = remove {
                body[0].as_object_mut().expect("a span").remove(field);
            }
            let mut bytes = body.to_string().into_bytes();
            // Valid JSON past the 4 KiB limit, now and then.
            if padding == 0 {
                bytes.splice(1..1, std::iter::repeat_n(b' ', 4_100));
            }
            (headers, with_length, bytes)
        })
}

/// A span's tags: the page's own, each valid or not, and one it never sends.
fn tags() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(
        one_of(&[
            "http.request.method",
            "url.path",
            "url.query",
            "http.response.status_code",
            "error",
            "sql",
        ]),
        prop_oneof![
            one_of(&[
                "GET",
                "POST",
                "/",
                "/a%20b",
                "/<x>",
                "fail=api_02",
                "099",
                "100",
                "599",
                "600",
                "+99",
                "502",
                "x\ny",
                ""
            ]),
            "[ -~]{0,20}",
        ],
        0..5,
    )
    .prop_map(|tags| json!(tags))
}
