//! The end-to-end test harness: runs the three real service binaries as
//! processes on loopback, exporting to an in-process [`Collector`], and
//! reads back what Zipkin would have received.
//!
//! Nothing here waits on luck: each service listens on a port the OS picks
//! (`PORT=0`) and reports it in its "listening" log line; every wait has a
//! deadline; every process is killed when its [`Service`] is dropped.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, OnceLock, mpsc},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
pub use test_collector::{Collector, dependency_links};

/// How long a service may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long spans may take to reach the collector.
pub const SPANS_LIMIT: Duration = Duration::from_secs(15);
/// How long a service may take to exit after SIGTERM.
pub const EXIT_LIMIT: Duration = Duration::from_secs(15);

/// The directory holding the service binaries, built once per test binary
/// (a no-op when `cargo test` has them up to date already).
pub fn binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut build = Command::new(env!("CARGO"));
        build.current_dir(workspace).args([
            "build", "--quiet", "-p", "api_01", "-p", "api_02", "-p", "api_03",
        ]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo can be run");
        assert!(status.success(), "building the services failed");
        // This test runs from <target>/<profile>/deps/.
        let test_exe = std::env::current_exe().unwrap();
        test_exe.parent().unwrap().parent().unwrap().to_path_buf()
    })
}

/// One running service process.
pub struct Service {
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts `binary` with `env`, and waits until it listens.
    pub fn start(binary: &str, env: &[(&str, &str)]) -> Service {
        let mut command = Command::new(binaries().join(binary));
        command
            .env_clear()
            .env("PORT", "0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = logs.clone();
            let address_tx = address_tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if line.contains("listening")
                        && let Some(port) = line
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.trim().parse::<u16>().ok())
                    {
                        let _ = address_tx.send(port);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let port = match address_rx.recv_timeout(START_LIMIT) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "{binary} did not start listening: {:#?}",
                    logs.lock().unwrap()
                );
            }
        };
        Service {
            name: binary.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            child,
            logs,
        }
    }

    /// What the service has printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until the service has printed `count` lines containing `text`.
    pub async fn wait_for_log(&self, text: &str, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self
                .logs()
                .iter()
                .filter(|line| line.contains(text))
                .count()
                >= count
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit, at most `limit`.
    pub async fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill can be run");
        assert!(sent.success(), "could not signal {}", self.name);
        self.wait_for_exit(limit).await
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}: {:#?}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The three services, wired to each other and to a collector.
pub struct Stack {
    pub collector: Collector,
    pub api_01: Service,
    pub api_02: Service,
    pub api_03: Service,
}

impl Stack {
    /// Starts a collector, then the three services exporting to it, each
    /// with `env` (see [`start_services`]).
    pub async fn start(env: &[(&str, &str)]) -> Stack {
        let collector = Collector::start().await.expect("the collector starts");
        let (api_01, api_02, api_03) = start_services(&collector.endpoint(), env);
        Stack {
            collector,
            api_01,
            api_02,
            api_03,
        }
    }
}

/// Starts api_03, api_02, api_01, wired to each other and exporting to
/// `zipkin_endpoint`, each with `env` on top of settings that keep the tests
/// quick (spans exported every 100 ms, api_03's work takes 20 ms).
pub fn start_services(zipkin_endpoint: &str, env: &[(&str, &str)]) -> (Service, Service, Service) {
    let mut common = vec![
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", zipkin_endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("WORK_MS", "20"),
    ];
    common.extend_from_slice(env);
    let api_03 = Service::start("api_03", &common);
    let api_02 = Service::start(
        "api_02",
        &[common.as_slice(), &[("API_03_URL", &api_03.url)]].concat(),
    );
    let api_01 = Service::start(
        "api_01",
        &[
            common.as_slice(),
            &[("API_02_URL", &api_02.url), ("API_03_URL", &api_03.url)],
        ]
        .concat(),
    );
    (api_01, api_02, api_03)
}

/// A Zipkin endpoint where nothing listens: connections are refused.
/// (The port was free a moment ago; a test may start a collector on it.)
pub fn refusing_endpoint() -> (String, std::net::SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (format!("http://{addr}/api/v2/spans"), addr)
}

/// A Zipkin endpoint that accepts connections and never answers; it stops
/// when the returned task is dropped or aborted.
pub async fn hanging_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v2/spans", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

/// A stand-in callee that answers `{"service":"recorder"}` and records the
/// headers of every request it receives.
pub struct HeaderRecorder {
    pub url: String,
    pub received: Arc<Mutex<Vec<axum::http::HeaderMap>>>,
}

impl HeaderRecorder {
    pub async fn start() -> HeaderRecorder {
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                record.lock().unwrap().push(headers);
                async { axum::Json(serde_json::json!({ "service": "recorder" })) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        HeaderRecorder { url, received }
    }

    /// The value of `name` in each request received.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|headers| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }
}

/// An HTTP client for the tests: no proxy, bounded.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `GET url` with `headers`; the status and the JSON answer.
pub async fn fetch(url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = http().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The spans of one request to api_01: 3 from api_01 (SERVER, two CLIENT),
/// 2 from api_02 (SERVER, CLIENT) and 4 from api_03 (a SERVER span and a
/// work span for each of its two callers).
pub const SPANS_PER_REQUEST: usize = 9;

/// The spans of `trace_id`.
pub fn of_trace<'a>(spans: &'a [Value], trace_id: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|span| span["traceId"] == trace_id)
        .collect()
}

/// Waits until the collector holds `count` spans of `trace_id`.
pub async fn wait_for_trace(collector: &Collector, trace_id: &str, count: usize) -> Vec<Value> {
    let (spans, complete) = collector
        .store
        .wait_for(SPANS_LIMIT, |spans| {
            of_trace(spans, trace_id).len() >= count
        })
        .await;
    assert!(
        complete,
        "expected {count} spans of trace {trace_id} within {SPANS_LIMIT:?}, got {}: {spans:#?}",
        of_trace(&spans, trace_id).len()
    );
    of_trace(&spans, trace_id).into_iter().cloned().collect()
}

pub fn service(span: &Value) -> &str {
    span["localEndpoint"]["serviceName"]
        .as_str()
        .unwrap_or("<none>")
}

pub fn kind(span: &Value) -> &str {
    span["kind"].as_str().unwrap_or("INTERNAL")
}

pub fn tag<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["tags"][key].as_str()
}

/// The spans of `service` of `kind`.
pub fn spans_of<'a>(spans: &'a [Value], service_name: &str, span_kind: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|span| service(span) == service_name && kind(span) == span_kind)
        .collect()
}

/// The span whose id is `id`.
pub fn by_id<'a>(spans: &'a [Value], id: &str) -> Option<&'a Value> {
    spans.iter().find(|span| span["id"] == id)
}

fn is_lower_hex(text: &str, lengths: &[usize]) -> bool {
    lengths.contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Panics unless `span` is a valid Zipkin v2 span as this project promises.
pub fn assert_valid_zipkin_v2(span: &Value) {
    let text = |key: &str| {
        span[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing: {span}"))
    };
    assert!(is_lower_hex(text("traceId"), &[16, 32]), "traceId: {span}");
    assert!(is_lower_hex(text("id"), &[16]), "id: {span}");
    if let Some(parent) = span.get("parentId") {
        let parent = parent.as_str().unwrap();
        assert!(
            is_lower_hex(parent, &[16]) && parent != "0000000000000000",
            "parentId: {span}"
        );
    }
    assert!(
        span["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000_000),
        "timestamp µs: {span}"
    );
    assert!(
        span["duration"].as_u64().is_some_and(|d| d >= 1),
        "duration: {span}"
    );
    assert!(
        !service(span).is_empty() && service(span) != "<none>",
        "serviceName: {span}"
    );
    if let Some(kind) = span.get("kind") {
        assert!(
            ["CLIENT", "SERVER", "PRODUCER", "CONSUMER"].contains(&kind.as_str().unwrap()),
            "kind: {span}"
        );
    }
    if let Some(tags) = span.get("tags") {
        assert!(
            tags.as_object().unwrap().values().all(Value::is_string),
            "tags must be strings: {span}"
        );
    }
}

/// `(caller, callee) → calls` in `spans`.
pub fn links(spans: &[Value]) -> BTreeMap<(String, String), u64> {
    dependency_links(spans)
}
