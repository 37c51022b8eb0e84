//! Every setting read from the environment: OpenTelemetry's (`OTEL_*`,
//! through `TelemetryConfig::read`, OTLP's among them) and the project's
//! (`B3_JOIN`, the services' own through `demo::Settings::read`, and the
//! handlers' through `Api01::read` and `Api03::read`), with any values; and
//! OTLP's headers setting, percent-decoded.
//!
//! Why: a setting is outside input too, typed by a person or templated by
//! a deployment, and the project's promise is that a value that is set
//! but invalid stops the service with an error naming it, never a panic,
//! and never a value silently ignored. The rules:
//!
//! - no set of values panics a reader;
//! - the readers give a configuration exactly when [`reference()`], which
//!   reads each variable by its documentation, finds none invalid; and an
//!   error names a variable that is set, invalid by the reference, with
//!   its value as set (trimmed);
//! - a configuration holds what the variables say, as the reference reads
//!   them (service name, exporter and OTLP's endpoint, protocol, headers,
//!   timeout and compression, sampler, propagators, join, the batch);
//! - the services' settings (`demo::Settings`) read the same telemetry
//!   configuration, and fail only where it or their own variables do;
//! - a configuration whose batch settings are set starts the exporter it
//!   names and stops it cleanly: no accepted value makes the exporter
//!   panic, or allocate beyond its queue, at start;
//! - OTLP's headers setting round-trips: any header value, percent-encoded,
//!   reads back as itself, and a list read, encoded again, reads back the
//!   same.
//!
//! Input: lines, one variable each: the first byte picks the variable
//! ([`VARIABLES`]), the rest is its value (unset when it is not UTF-8, as
//! `std::env::var` gives no value then). A later line sets it again.

use std::{collections::HashMap, time::Duration};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry_sdk::trace::SpanProcessor;
use reqwest::Url;
use telemetry::{
    ConfigError, Propagators, RootSampler, SamplerConfig, TelemetryConfig, TracesExporter,
    env::Env, fuzzing,
};

/// Every variable a service reads at start-up, by number.
pub const VARIABLES: [&str; 33] = [
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PROPAGATORS",
    "B3_JOIN",
    "OTEL_SDK_DISABLED",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "PORT",
    "ZIPKIN_UI_URL",
    "DOWNSTREAM_TIMEOUT_MS",
    "REQUEST_TIMEOUT_MS",
    "HEADER_TIMEOUT_MS",
    "IDLE_TIMEOUT_MS",
    "MAX_CONNECTIONS",
    "API_02_URL",
    "API_03_URL",
    "WORK_MS",
];

/// The service's own defaults, as api_01's `main` gives them.
const SERVICE: &str = "api_01";
const PORT: u16 = 5001;

/// The variables `data` sets.
pub fn decode(data: &[u8]) -> HashMap<&'static str, String> {
    let mut vars = HashMap::new();
    for line in data.split(|&byte| byte == b'\n') {
        let Some((&which, value)) = line.split_first() else {
            continue;
        };
        let name = VARIABLES[usize::from(which) % VARIABLES.len()];
        match String::from_utf8(value.to_vec()) {
            Ok(value) => vars.insert(name, value),
            Err(_) => vars.remove(name),
        };
    }
    vars
}

/// The input [`check`] reads as these variables.
pub fn encode(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (i, (name, value)) in vars.iter().enumerate() {
        let which = VARIABLES
            .iter()
            .position(|known| known == name)
            .unwrap_or_else(|| panic!("{name} is not a variable a service reads"));
        if i > 0 {
            data.push(b'\n');
        }
        // Past the newline's byte: index 10 is written 40.
        let which = if which == usize::from(b'\n') {
            which + VARIABLES.len()
        } else {
            which
        };
        data.push(which as u8);
        data.extend_from_slice(value.as_bytes());
    }
    data
}

pub fn check(data: &[u8]) {
    let vars = decode(data);
    check_vars(&vars);
    for value in vars.values() {
        otlp_headers_round_trip(value);
    }
}

/// The rules of the settings, for the environment `vars`.
pub fn check_vars(vars: &HashMap<&'static str, String>) {
    let env = Env::from_lookup(|name: &str| vars.get(name).cloned());
    let expected = reference(vars);
    let read = TelemetryConfig::read(&env, SERVICE);
    let says = |what: &str| {
        format!(
            "{what}, with {vars:?}: read {read:?}, the reference {:?}",
            expected.telemetry
        )
    };
    let config = match (&read, &expected.telemetry) {
        (Ok(config), Ok(telemetry)) => {
            same_config(config, telemetry, vars);
            Some(config)
        }
        (Err(error), Err(invalid)) => {
            names_an_invalid_variable(error, invalid, vars);
            None
        }
        (Ok(_), Err(_)) => panic!("{}", says("a configuration the reference refuses")),
        (Err(_), Ok(_)) => panic!(
            "{}",
            says("an error where the reference reads a configuration")
        ),
    };

    // The services' settings: the same telemetry, and their own variables.
    let settings = demo::Settings::read(&env, SERVICE, PORT);
    match (&settings, config, &expected.services) {
        (Ok(settings), Some(config), Ok(services)) => {
            assert_eq!(
                format!("{:?}", settings.telemetry),
                format!("{config:?}"),
                "the services read another telemetry configuration with {vars:?}"
            );
            assert_eq!(
                (
                    settings.port,
                    settings.downstream_timeout,
                    settings.connection_limits.max_connections
                ),
                (
                    services.port,
                    Duration::from_millis(services.downstream_timeout_ms),
                    services.max_connections
                ),
                "the services' settings with {vars:?}"
            );
        }
        (Err(error), _, _) if config.is_none() || expected.services.is_err() => {
            let mut invalid = expected
                .telemetry
                .as_ref()
                .err()
                .cloned()
                .unwrap_or_default();
            invalid.extend(
                expected
                    .services
                    .as_ref()
                    .err()
                    .cloned()
                    .unwrap_or_default(),
            );
            names_an_invalid_variable(error, &invalid, vars);
        }
        _ => panic!(
            "the services' settings read {settings:?} with {vars:?}; the reference {:?}",
            expected.services
        ),
    }

    if let Ok(settings) = &settings {
        handlers_read_their_own(&env, settings, vars);
    }
    if let Some(config) = config {
        starts_and_stops_its_exporter(config, vars);
    }
}

/// The handlers' own variables (`API_02_URL`, `API_03_URL`, `WORK_MS`), read
/// by api_01 and api_03 as the reference reads them, or refused with an
/// error that names one the reference refuses.
fn handlers_read_their_own<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    settings: &demo::Settings,
    vars: &HashMap<&'static str, String>,
) {
    let mut invalid = Vec::new();
    let mut url = |name: &'static str, default: &str| {
        let url = http_url(&text(vars, name).unwrap_or_else(|| default.to_owned()));
        if url.is_none() {
            invalid.push(name);
        }
        url
    };
    let api_02 = url("API_02_URL", "http://localhost:5002");
    let api_03 = url("API_03_URL", "http://localhost:5003");
    let work_ms = number(vars, "WORK_MS", integer, 100, &mut invalid);
    let api_01 = api_01::Api01::read(env, settings);
    let worker = api_03::Api03::read(env, settings);
    let urls = api_02.zip(api_03);
    match (&api_01, urls) {
        (Ok(api), Some((api_02, api_03))) => assert_eq!(
            (&api.api_02.url, &api.api_03.url),
            (&api_02, &api_03),
            "api_01's callees with {vars:?}"
        ),
        (Err(error), None) => names_an_invalid_variable(config_error(error), &invalid, vars),
        (read, _) => panic!("api_01 read {read:?} with {vars:?}; the reference {invalid:?}"),
    }
    match (&worker, work_ms) {
        (Ok(api), Some(work_ms)) => assert_eq!(
            api.work,
            Duration::from_millis(work_ms),
            "api_03's work with {vars:?}"
        ),
        (Err(error), None) => names_an_invalid_variable(config_error(error), &invalid, vars),
        (read, _) => panic!("api_03 read {read:?} with {vars:?}; the reference {invalid:?}"),
    }
}

/// The setting's error inside a service's start-up error.
fn config_error(error: &anyhow::Error) -> &ConfigError {
    error
        .downcast_ref::<ConfigError>()
        .unwrap_or_else(|| panic!("not a setting's error: {error:#}"))
}

/// `error` names one of the `invalid` variables, as it is set.
fn names_an_invalid_variable(
    error: &ConfigError,
    invalid: &[&'static str],
    vars: &HashMap<&str, String>,
) {
    assert!(
        invalid.contains(&error.name),
        "the error names {}, but the invalid ones are {invalid:?}, with {vars:?}: {error}",
        error.name
    );
    assert_eq!(
        Some(error.value.as_str()),
        vars.get(error.name).map(|value| value.trim()),
        "the error quotes another value than {}'s: {error}",
        error.name
    );
    assert!(
        error.to_string().contains(error.name),
        "{error} does not say the name"
    );
}

/// What the reference reads, for telemetry and for the services' own
/// variables: the values it expects, or every variable it finds invalid.
#[derive(Debug)]
pub struct Expected {
    telemetry: Result<ExpectedTelemetry, Vec<&'static str>>,
    services: Result<ExpectedServices, Vec<&'static str>>,
}

#[derive(Debug)]
struct ExpectedServices {
    port: u16,
    downstream_timeout_ms: u64,
    max_connections: Option<usize>,
}

#[derive(Debug)]
struct ExpectedTelemetry {
    service_name: String,
    exporter: ExpectedExporter,
    zipkin_endpoint: Url,
    sampler: SamplerConfig,
    /// Sends multi, single, W3C; whether W3C is read first.
    propagators: (bool, bool, bool, bool),
    b3_join: bool,
    disabled: bool,
    /// The batch: delay, queue, batch, timeout, uploads.
    batch: (u64, u64, u64, u64, u64),
}

#[derive(Debug)]
enum ExpectedExporter {
    Zipkin,
    None,
    Otlp {
        endpoint: Url,
        json: bool,
        headers: HeaderMap,
        timeout_ms: u64,
        gzip: bool,
    },
}

/// Set and not blank: the value, trimmed (the project's `Env::text`).
fn text(vars: &HashMap<&'static str, String>, name: &str) -> Option<String> {
    vars.get(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A variable's value by `valid`, or `default` when unset; `None`, and
/// noted in `invalid`, when set but invalid.
fn number(
    vars: &HashMap<&'static str, String>,
    name: &'static str,
    valid: fn(&str) -> Option<u64>,
    default: u64,
    invalid: &mut Vec<&'static str>,
) -> Option<u64> {
    match text(vars, name) {
        None => Some(default),
        Some(value) => {
            let read = valid(&value);
            if read.is_none() {
                invalid.push(name);
            }
            read
        }
    }
}

/// Each variable read as its documentation says (the crate's and
/// OpenTelemetry's), independently of the readers.
pub fn reference(vars: &HashMap<&'static str, String>) -> Expected {
    Expected {
        telemetry: telemetry(vars),
        services: services(vars),
    }
}

/// The services' own variables (`demo::Settings`).
fn services(vars: &HashMap<&'static str, String>) -> Result<ExpectedServices, Vec<&'static str>> {
    let mut invalid = Vec::new();
    let port = number(
        vars,
        "PORT",
        |text| integer(text).filter(|&port| port <= u64::from(u16::MAX)),
        5001,
        &mut invalid,
    );
    let downstream = number(vars, "DOWNSTREAM_TIMEOUT_MS", integer, 2000, &mut invalid);
    for name in ["REQUEST_TIMEOUT_MS", "HEADER_TIMEOUT_MS", "IDLE_TIMEOUT_MS"] {
        number(vars, name, integer, 0, &mut invalid);
    }
    let max_connections = text(vars, "MAX_CONNECTIONS").map(|value| integer(&value));
    if max_connections == Some(None) {
        invalid.push("MAX_CONNECTIONS");
    }
    match (port, downstream) {
        (Some(port), Some(downstream)) if invalid.is_empty() => Ok(ExpectedServices {
            port: port as u16,
            downstream_timeout_ms: downstream,
            max_connections: max_connections.flatten().map(|number| number as usize),
        }),
        _ => Err(invalid),
    }
}

/// Telemetry's variables (`TelemetryConfig`).
fn telemetry(vars: &HashMap<&'static str, String>) -> Result<ExpectedTelemetry, Vec<&'static str>> {
    let mut invalid = Vec::new();
    // The batch.
    let delay = number(vars, "OTEL_BSP_SCHEDULE_DELAY", integer, 5000, &mut invalid);
    let queue = number(vars, "OTEL_BSP_MAX_QUEUE_SIZE", integer, 2048, &mut invalid);
    let batch = number(
        vars,
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        integer,
        128,
        &mut invalid,
    );
    let timeout = number(vars, "OTEL_BSP_EXPORT_TIMEOUT", integer, 5000, &mut invalid);
    let uploads = number(
        vars,
        "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
        integer,
        4,
        &mut invalid,
    );

    let exporter = match text(vars, "OTEL_TRACES_EXPORTER").as_deref() {
        None | Some("zipkin") => Some(ExpectedExporter::Zipkin),
        Some("none") => Some(ExpectedExporter::None),
        Some("otlp") => otlp(vars, &mut invalid),
        Some(_) => {
            invalid.push("OTEL_TRACES_EXPORTER");
            None
        }
    };
    let zipkin_endpoint = http_url(
        &text(vars, "OTEL_EXPORTER_ZIPKIN_ENDPOINT")
            .unwrap_or_else(|| "http://localhost:9411/api/v2/spans".into()),
    );
    if zipkin_endpoint.is_none() {
        invalid.push("OTEL_EXPORTER_ZIPKIN_ENDPOINT");
    }
    let sampler = sampler(
        text(vars, "OTEL_TRACES_SAMPLER"),
        text(vars, "OTEL_TRACES_SAMPLER_ARG"),
        &mut invalid,
    );
    let propagators = match text(vars, "OTEL_PROPAGATORS") {
        None => Some((true, false, false, false)),
        Some(list) => propagators(&list),
    };
    if propagators.is_none() {
        invalid.push("OTEL_PROPAGATORS");
    }
    let b3_join = match text(vars, "B3_JOIN").as_deref() {
        None | Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            invalid.push("B3_JOIN");
            None
        }
    };
    if !invalid.is_empty() {
        return Err(invalid);
    }
    let known = "every invalid value was noted";
    Ok(ExpectedTelemetry {
        service_name: text(vars, "OTEL_SERVICE_NAME").unwrap_or_else(|| SERVICE.to_owned()),
        exporter: exporter.expect(known),
        zipkin_endpoint: zipkin_endpoint.expect(known),
        sampler: sampler.expect(known),
        propagators: propagators.expect(known),
        b3_join: b3_join.expect(known),
        disabled: text(vars, "OTEL_SDK_DISABLED")
            .is_some_and(|value| value.eq_ignore_ascii_case("true")),
        batch: (
            delay.expect(known),
            queue.expect(known),
            batch.expect(known),
            timeout.expect(known),
            uploads.expect(known),
        ),
    })
}

/// A whole number as Rust's integer types read one: an optional `+`,
/// then digits, within 64 bits.
fn integer(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.bytes().try_fold(0u64, |number, digit| {
        number.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// A plain-HTTP URL (the build has no TLS).
fn http_url(text: &str) -> Option<Url> {
    Url::parse(text).ok().filter(|url| url.scheme() == "http")
}

/// `OTEL_TRACES_SAMPLER` and its argument, as OpenTelemetry names them.
fn sampler(
    name: Option<String>,
    arg: Option<String>,
    invalid: &mut Vec<&'static str>,
) -> Option<SamplerConfig> {
    let Some(name) = name else {
        return Some(SamplerConfig::default());
    };
    let (parent_based, root) = match name.strip_prefix("parentbased_") {
        Some(root) => (true, root),
        None => (false, name.as_str()),
    };
    let root = match root {
        "always_on" => RootSampler::AlwaysOn,
        "always_off" => RootSampler::AlwaysOff,
        "traceidratio" => {
            // Without an argument, every trace.
            let ratio = arg.map_or(Some(1.0), |arg| {
                arg.parse::<f64>()
                    .ok()
                    .filter(|ratio| (0.0..=1.0).contains(ratio))
            });
            let Some(ratio) = ratio else {
                invalid.push("OTEL_TRACES_SAMPLER_ARG");
                return None;
            };
            RootSampler::TraceIdRatio(ratio)
        }
        _ => {
            invalid.push("OTEL_TRACES_SAMPLER");
            return None;
        }
    };
    Some(SamplerConfig { parent_based, root })
}

/// `OTEL_PROPAGATORS`: what it sends (multi, single, W3C) and whether W3C
/// is read first (listed last, counting each name where it first
/// appears); `none` alone.
fn propagators(list: &str) -> Option<(bool, bool, bool, bool)> {
    let mut names: Vec<&str> = Vec::new();
    for name in list.split(',').map(str::trim) {
        if !["b3multi", "b3", "tracecontext", "none"].contains(&name) {
            return None;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.contains(&"none") {
        // Alone, and once.
        return (list.split(',').count() == 1).then_some((false, false, false, false));
    }
    Some((
        names.contains(&"b3multi"),
        names.contains(&"b3"),
        names.contains(&"tracecontext"),
        names.last() == Some(&"tracecontext"),
    ))
}

/// OTLP's settings: the form for traces wins over the general one.
fn otlp(
    vars: &HashMap<&'static str, String>,
    invalid: &mut Vec<&'static str>,
) -> Option<ExpectedExporter> {
    let either = |traces: &'static str, general: &'static str| {
        let set = |name: &'static str| text(vars, name).map(|value| (name, value));
        set(traces).or_else(|| set(general))
    };
    let endpoint = match either(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ) {
        Some(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value)) => {
            http_url(&value).ok_or("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        }
        // The general endpoint is a base: `/v1/traces` goes after its path.
        Some((_, value)) => http_url(&value)
            .map(with_traces_path)
            .ok_or("OTEL_EXPORTER_OTLP_ENDPOINT"),
        None => Ok(with_traces_path(
            Url::parse("http://localhost:4318").expect("a URL"),
        )),
    };
    let protocol = match either(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ) {
        None => Ok(false),
        Some((_, value)) if value == "http/protobuf" => Ok(false),
        Some((_, value)) if value == "http/json" => Ok(true),
        Some((name, _)) => Err(name),
    };
    let headers = match either(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ) {
        None => Ok(HeaderMap::new()),
        Some((name, value)) => otlp_headers(&value).ok_or(name),
    };
    let timeout = match either(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ) {
        None => Ok(10_000),
        Some((name, value)) => integer(&value).filter(|&millis| millis > 0).ok_or(name),
    };
    let gzip = match either(
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ) {
        None => Ok(false),
        Some((_, value)) if value == "gzip" => Ok(true),
        Some((_, value)) if value == "none" => Ok(false),
        Some((name, _)) => Err(name),
    };
    let mut all_valid = true;
    for name in [
        endpoint.as_ref().err(),
        protocol.as_ref().err(),
        headers.as_ref().err(),
        timeout.as_ref().err(),
        gzip.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        invalid.push(name);
        all_valid = false;
    }
    all_valid.then(|| ExpectedExporter::Otlp {
        endpoint: endpoint.expect("valid"),
        json: protocol.expect("valid"),
        headers: headers.expect("valid"),
        timeout_ms: timeout.expect("valid"),
        gzip: gzip.expect("valid"),
    })
}

/// `http://collector:4318` and `http://proxy/otlp/` become
/// `.../v1/traces` under their path.
fn with_traces_path(mut base: Url) -> Url {
    let path = format!("{}/v1/traces", base.path().trim_end_matches('/'));
    base.set_path(&path);
    base
}

/// OTLP's headers setting (the W3C Baggage format): `key=value` pairs,
/// comma-separated, blank ones skipped, the key an HTTP token, the value
/// percent-decoded into UTF-8 that an HTTP field may hold.
fn otlp_headers(list: &str) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    for pair in list
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
    {
        let (key, value) = pair.split_once('=')?;
        let key = key.trim();
        let is_tchar =
            |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
        if key.is_empty() || !key.bytes().all(is_tchar) {
            return None;
        }
        let value = String::from_utf8(percent_decode(value.trim().as_bytes())).ok()?;
        // No control byte but the tab (obs-text, any UTF-8, is fine).
        if value
            .bytes()
            .any(|byte| (byte < b' ' && byte != b'\t') || byte == 0x7f)
        {
            return None;
        }
        headers.append(
            HeaderName::from_bytes(key.as_bytes()).ok()?,
            HeaderValue::from_str(&value).ok()?,
        );
    }
    Some(headers)
}

/// `%XX` (either case) as the byte it is; a `%` not followed by two hex
/// digits stays as it is.
fn percent_decode(text: &[u8]) -> Vec<u8> {
    let hex = |byte: u8| (byte as char).to_digit(16).map(|digit| digit as u8);
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%'
            && let (Some(high), Some(low)) = (
                text.get(i + 1).copied().and_then(hex),
                text.get(i + 2).copied().and_then(hex),
            )
        {
            bytes.push(high * 16 + low);
            i += 3;
        } else {
            bytes.push(text[i]);
            i += 1;
        }
    }
    bytes
}

/// Every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(3 * bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            text.push(byte as char);
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text
}

/// The configuration `config` holds what the reference read.
fn same_config(
    config: &TelemetryConfig,
    expected: &ExpectedTelemetry,
    vars: &HashMap<&str, String>,
) {
    let says = |what: &str| format!("{what} with {vars:?}: read {config:?}, expected {expected:?}");
    assert_eq!(
        config.service_name,
        expected.service_name,
        "{}",
        says("the service name")
    );
    assert_eq!(
        config.zipkin_endpoint,
        expected.zipkin_endpoint,
        "{}",
        says("Zipkin's endpoint")
    );
    assert_eq!(config.sampler, expected.sampler, "{}", says("the sampler"));
    let propagators: Propagators = config.propagators;
    assert_eq!(
        (
            propagators.sends_b3_multi(),
            propagators.sends_b3_single(),
            propagators.sends_trace_context(),
            propagators.reads_w3c_first()
        ),
        expected.propagators,
        "{}",
        says("the propagators")
    );
    assert_eq!(config.b3_join, expected.b3_join, "{}", says("B3_JOIN"));
    assert_eq!(
        config.disabled,
        expected.disabled,
        "{}",
        says("OTEL_SDK_DISABLED")
    );
    let batch = &config.batch;
    assert_eq!(
        (
            batch.schedule_delay,
            batch.max_queue_size as u64,
            batch.max_export_batch_size as u64,
            batch.upload_timeout,
            batch.max_concurrent_uploads as u64
        ),
        (
            Duration::from_millis(expected.batch.0),
            expected.batch.1,
            expected.batch.2,
            Duration::from_millis(expected.batch.3),
            expected.batch.4
        ),
        "{}",
        says("the batch")
    );
    match (&config.exporter, &expected.exporter) {
        (TracesExporter::Zipkin, ExpectedExporter::Zipkin)
        | (TracesExporter::None, ExpectedExporter::None) => {}
        (
            TracesExporter::Otlp(otlp),
            ExpectedExporter::Otlp {
                endpoint,
                json,
                headers,
                timeout_ms,
                gzip,
            },
        ) => {
            assert_eq!(otlp.endpoint, *endpoint, "{}", says("OTLP's endpoint"));
            assert_eq!(
                otlp.protocol == span_export::Otlp::Json,
                *json,
                "{}",
                says("OTLP's protocol")
            );
            assert_eq!(otlp.headers, *headers, "{}", says("OTLP's headers"));
            assert_eq!(
                otlp.timeout,
                Duration::from_millis(*timeout_ms),
                "{}",
                says("OTLP's timeout")
            );
            assert_eq!(otlp.gzip, *gzip, "{}", says("OTLP's compression"));
        }
        _ => panic!("{}", says("the exporter")),
    }
}

/// With its batch settings set, a configuration starts the exporter it
/// names, as `Telemetry::init` starts it, and the exporter stops cleanly:
/// an accepted value that made it panic (a zero interval, say) or
/// allocate a huge batch up front fails here.
fn starts_and_stops_its_exporter(config: &TelemetryConfig, vars: &HashMap<&str, String>) {
    // The batch's settings, and OTLP's timeouts (the upload's bound).
    let batch_set = vars.keys().any(|name| {
        name.starts_with("OTEL_BSP_") || (name.starts_with("OTEL_") && name.ends_with("_TIMEOUT"))
    });
    if config.disabled || !batch_set {
        return;
    }
    let processor = fuzzing::start_exporter(config)
        .unwrap_or_else(|error| panic!("the exporter did not start with {vars:?}: {error}"));
    if let Some(processor) = processor {
        processor
            .shutdown_with_timeout(Duration::from_secs(10))
            .unwrap_or_else(|error| {
                panic!("the exporter did not stop cleanly with {vars:?}: {error}")
            });
    }
}

/// OTLP's headers setting round-trips: `value`, percent-encoded, reads
/// back as itself (when an HTTP field may hold it); and when `value` reads
/// as a list, that list encoded again reads back the same.
pub fn otlp_headers_round_trip(value: &str) {
    let encoded = format!("x-key={}", percent_encode(value.as_bytes()));
    let read = fuzzing::otlp_headers(&encoded);
    match HeaderValue::from_str(value) {
        Ok(expected) => assert_eq!(
            read.as_ref().ok().and_then(|headers| headers.get("x-key")),
            Some(&expected),
            "{value:?} encoded as {encoded:?} read back as {read:?}"
        ),
        Err(_) => assert!(
            read.is_err(),
            "{value:?} is no header value, yet {encoded:?} read as {read:?}"
        ),
    }
    if let Ok(headers) = fuzzing::otlp_headers(value) {
        let again: Vec<String> = headers
            .iter()
            .map(|(name, value)| format!("{name}={}", percent_encode(value.as_bytes())))
            .collect();
        let again = again.join(",");
        assert_eq!(
            fuzzing::otlp_headers(&again).as_ref(),
            Ok(&headers),
            "{value:?} read as {headers:?}, encoded again as {again:?}"
        );
    }
}
