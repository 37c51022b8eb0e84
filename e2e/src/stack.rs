//! The three services wired together and exporting to Zipkin, as a test
//! asks for them with [`Stack::builder`]: which implementation runs each
//! service, what they are told, where a call goes instead, whether every
//! hop is recorded, and whether the uploads cross a [`Wire`].

use std::time::Duration;

use serde_json::Value;

use crate::{Collector, Hop, Program, RefusingPort, Service, Wire, Zipkin};

/// How long spans may take to reach Zipkin.
pub const SPANS_LIMIT: Duration = Duration::from_secs(15);
/// How long a service may take to exit after SIGTERM.
pub const EXIT_LIMIT: Duration = Duration::from_secs(15);

/// One of the three services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Api01,
    Api02,
    Api03,
}

impl Api {
    pub const ALL: [Api; 3] = [Api::Api01, Api::Api02, Api::Api03];

    pub fn name(self) -> &'static str {
        match self {
            Api::Api01 => "api_01",
            Api::Api02 => "api_02",
            Api::Api03 => "api_03",
        }
    }

    /// The variable that tells a caller where this service is.
    fn url_variable(self) -> &'static str {
        match self {
            Api::Api01 => "API_01_URL",
            Api::Api02 => "API_02_URL",
            Api::Api03 => "API_03_URL",
        }
    }

    /// The services this one calls.
    fn callees(self) -> &'static [Api] {
        match self {
            Api::Api01 => &[Api::Api02, Api::Api03],
            Api::Api02 => &[Api::Api03],
            Api::Api03 => &[],
        }
    }
}

/// How a py_zipkin service calls another (see `interop/python/README.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallStyle {
    /// A reported CLIENT span, and its id sent downstream.
    Client,
    /// A fresh span id sent downstream that the caller never reports (the
    /// original demo's way).
    Seed,
}

impl CallStyle {
    pub fn name(self) -> &'static str {
        match self {
            CallStyle::Client => "client",
            CallStyle::Seed => "seed",
        }
    }
}

/// What runs a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    Rust,
    /// The Python originals (Flask + py_zipkin, `interop/python/`): B3 only.
    Python(CallStyle),
    /// OpenTelemetry-Python (`interop/otel-python/`): Flask and requests
    /// auto-instrumented, its default propagators (W3C Trace Context and
    /// baggage: no B3), its own Zipkin JSON exporter.
    OtelPython,
    /// zipkin-js (`interop/zipkin-js/`): express with
    /// zipkin-instrumentation-express, node-fetch wrapped by
    /// zipkin-instrumentation-fetch, zipkin-transport-http's JSON v2: B3
    /// only.
    ZipkinJs,
}

/// How a test wants its [`Stack`].
pub struct StackBuilder {
    env: Vec<(String, String)>,
    env_for: Vec<(Api, String, String)>,
    zipkin_endpoint: Option<String>,
    implementations: [Implementation; 3],
    redirects: Vec<(Api, Api, String)>,
    record_hops: bool,
    open_files: [Option<u64>; 3],
    restartable: [bool; 3],
    zipkin: Option<Zipkin>,
    wire: bool,
    otlp: [bool; 3],
}

impl StackBuilder {
    /// `api` sends its spans over OTLP (`OTEL_TRACES_EXPORTER=otlp`), to
    /// a [`Collector`] that hands them to the stack's Zipkin (across the
    /// [`Wire`], with [`StackBuilder::through_wire`], which then stands in
    /// front of the Collector); the others keep Zipkin's v2 JSON. For our
    /// services and OpenTelemetry-Python.
    pub fn otlp(mut self, api: Api) -> Self {
        self.otlp[api as usize] = true;
        self
    }

    /// Exports to `zipkin`, made by the test, instead of a new one (the
    /// real server whatever the run's judge, or one still away).
    pub fn zipkin(mut self, zipkin: Zipkin) -> Self {
        self.zipkin = Some(zipkin);
        self
    }

    /// Sends every upload across a [`Wire`] on its way to Zipkin, or to
    /// the Collector for the services on OTLP, which records it and can
    /// make faults ([`Stack::wire`]).
    pub fn through_wire(mut self) -> Self {
        self.wire = true;
        self
    }

    /// Sets `name=value` for every service.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets `name=value` for `api` only.
    pub fn env_for(mut self, api: Api, name: &str, value: &str) -> Self {
        self.env_for.push((api, name.to_owned(), value.to_owned()));
        self
    }

    /// Sends the services' spans to `endpoint` instead of Zipkin (which is
    /// then never started).
    pub fn zipkin_endpoint(mut self, endpoint: &str) -> Self {
        self.zipkin_endpoint = Some(endpoint.to_owned());
        self
    }

    /// Runs `api` as `implementation` (our binary by default).
    pub fn implementation(mut self, api: Api, implementation: Implementation) -> Self {
        self.implementations[api as usize] = implementation;
        self
    }

    /// Points `caller`'s calls to `callee` at `url` instead.
    pub fn redirect(mut self, caller: Api, callee: Api, url: &str) -> Self {
        self.redirects.push((caller, callee, url.to_owned()));
        self
    }

    /// Starts `api` with its open-file limit at `limit` (soft and hard).
    pub fn open_file_limit(mut self, api: Api, limit: u64) -> Self {
        self.open_files[api as usize] = Some(limit);
        self
    }

    /// Starts `api` on a port held for the whole test, so that it can be
    /// killed or stopped and started again at the same address
    /// ([`Service::restart`]), its callers meeting connection refused
    /// while it is away, never another program.
    pub fn restartable(mut self, api: Api) -> Self {
        self.restartable[api as usize] = true;
        self
    }

    /// Puts a recording proxy on every hop ([`Stack::hop`]).
    pub fn record_hops(mut self) -> Self {
        self.record_hops = true;
        self
    }

    /// Starts Zipkin (the run's judge, see [`Zipkin`]), then api_03, api_02
    /// and api_01 (callees first, so each caller can be told where they
    /// are).
    pub async fn start(self) -> Stack {
        let zipkin = match self.zipkin {
            Some(zipkin) => zipkin,
            None if self.zipkin_endpoint.is_some() => Zipkin::away(),
            None => Zipkin::start().await,
        };
        let collector = match self.otlp.contains(&true) {
            true => Some(Collector::start(&zipkin).await),
            false => None,
        };
        // In front of the Collector too: its OTLP uploads cross the wire,
        // and the Collector hands the spans straight to Zipkin.
        let wire = match self.wire {
            true => {
                let otlp = collector.as_ref().map(Collector::otlp_endpoint);
                Some(Wire::start_with_otlp(&zipkin.url(), otlp.as_deref()).await)
            }
            false => None,
        };
        let endpoint = match (&self.zipkin_endpoint, &wire) {
            (Some(endpoint), _) => endpoint.clone(),
            (None, Some(wire)) => wire.endpoint(),
            (None, None) => zipkin.endpoint(),
        };
        let mut started: Vec<Service> = Vec::new();
        let mut hops = Vec::new();
        let mut held_ports = Vec::new();
        for api in [Api::Api03, Api::Api02, Api::Api01] {
            let mut env = vec![
                ("OTEL_EXPORTER_ZIPKIN_ENDPOINT".to_owned(), endpoint.clone()),
                // Quick tests: spans leave every 100 ms, api_03 works 20 ms.
                ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
                ("WORK_MS".to_owned(), "20".to_owned()),
                ("RUST_LOG".to_owned(), "info".to_owned()),
            ];
            for &callee in api.callees() {
                let callee_url = &started
                    .iter()
                    .find(|service| service.name == callee.name())
                    .expect("callees start first")
                    .url;
                let redirect = self
                    .redirects
                    .iter()
                    .find(|(from, to, _)| (*from, *to) == (api, callee));
                let url = match redirect {
                    Some((_, _, url)) => url.clone(),
                    None if self.record_hops => {
                        let hop = Hop::start(api.name(), callee.name(), callee_url).await;
                        let url = hop.url.clone();
                        hops.push(hop);
                        url
                    }
                    None => callee_url.clone(),
                };
                env.push((callee.url_variable().to_owned(), url));
            }
            let program = match self.implementations[api as usize] {
                Implementation::Rust => Program::Rust(api.name()),
                Implementation::Python(style) => {
                    env.push(("CALL_STYLE".to_owned(), style.name().to_owned()));
                    Program::Python(match api {
                        Api::Api01 => "api_01.py",
                        Api::Api02 => "api_02.py",
                        Api::Api03 => "api_03.py",
                    })
                }
                Implementation::OtelPython => Program::OtelPython(match api {
                    Api::Api01 => "api_01.py",
                    Api::Api02 => "api_02.py",
                    Api::Api03 => "api_03.py",
                }),
                Implementation::ZipkinJs => Program::ZipkinJs(match api {
                    Api::Api01 => "api_01.js",
                    Api::Api02 => "api_02.js",
                    Api::Api03 => "api_03.js",
                }),
            };
            if let (true, Some(collector)) = (self.otlp[api as usize], &collector) {
                env.push(("OTEL_TRACES_EXPORTER".to_owned(), "otlp".to_owned()));
                let otlp_endpoint = match &wire {
                    Some(wire) => wire.otlp_endpoint(),
                    None => collector.otlp_endpoint(),
                };
                env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), otlp_endpoint));
            }
            if self.restartable[api as usize] {
                let port = RefusingPort::new();
                env.push(("PORT".to_owned(), port.addr.port().to_string()));
                held_ports.push(port);
            }
            env.extend(self.env.iter().cloned());
            env.extend(
                self.env_for
                    .iter()
                    .filter(|(only, _, _)| *only == api)
                    .map(|(_, name, value)| (name.clone(), value.clone())),
            );
            let open_files = self.open_files[api as usize];
            started
                .push(Service::start_with_open_files(api.name(), &program, &env, open_files).await);
        }
        let [api_03, api_02, api_01] = <[Service; 3]>::try_from(started).ok().unwrap();
        Stack {
            zipkin,
            collector,
            wire,
            api_01,
            api_02,
            api_03,
            hops,
            _held_ports: held_ports,
        }
    }
}

/// The three services, wired to each other and to Zipkin.
pub struct Stack {
    pub zipkin: Zipkin,
    /// The OTLP receiver in front of Zipkin ([`StackBuilder::otlp`]).
    pub collector: Option<Collector>,
    wire: Option<Wire>,
    pub api_01: Service,
    pub api_02: Service,
    pub api_03: Service,
    hops: Vec<Hop>,
    /// The ports of the restartable services, held until the stack goes:
    /// only dropped, never read.
    _held_ports: Vec<RefusingPort>,
}

impl Stack {
    /// Our three services, exporting to the stack's Zipkin, each call
    /// going straight to its callee.
    pub fn builder() -> StackBuilder {
        StackBuilder {
            env: Vec::new(),
            env_for: Vec::new(),
            zipkin_endpoint: None,
            implementations: [Implementation::Rust; 3],
            redirects: Vec::new(),
            record_hops: false,
            open_files: [None; 3],
            restartable: [false; 3],
            zipkin: None,
            wire: false,
            otlp: [false; 3],
        }
    }

    /// The default stack, with `env` set for every service.
    pub async fn start(env: &[(&str, &str)]) -> Stack {
        env.iter()
            .fold(Stack::builder(), |builder, (name, value)| {
                builder.env(name, value)
            })
            .start()
            .await
    }

    /// The service `api`.
    pub fn service(&mut self, api: Api) -> &mut Service {
        match api {
            Api::Api01 => &mut self.api_01,
            Api::Api02 => &mut self.api_02,
            Api::Api03 => &mut self.api_03,
        }
    }

    /// The three services, for what a test does to each.
    pub fn services(&mut self) -> [&mut Service; 3] {
        [&mut self.api_01, &mut self.api_02, &mut self.api_03]
    }

    /// The recorded hop `caller → callee` (see [`StackBuilder::record_hops`]).
    pub fn hop(&self, caller: Api, callee: Api) -> &Hop {
        self.hops
            .iter()
            .find(|hop| hop.caller == caller.name() && hop.callee == callee.name())
            .unwrap_or_else(|| panic!("no recorded hop {caller:?} → {callee:?}"))
    }

    /// The wire the uploads cross ([`StackBuilder::through_wire`]).
    pub fn wire(&self) -> &Wire {
        self.wire.as_ref().expect("a stack started through_wire()")
    }

    /// Stops the three services with SIGTERM, which makes each flush its
    /// spans, and gives every span Zipkin holds then: nothing more can
    /// arrive, so a test can count exactly. Zipkin stores a batch just
    /// after it answers it: this waits, with a deadline, until it holds
    /// as many spans as the services say it took.
    pub async fn stop(&mut self) -> Vec<Value> {
        for service in self.services() {
            service.sigterm();
        }
        let mut exported = 0;
        for service in self.services() {
            service.wait_for_exit(EXIT_LIMIT).await;
            exported += service
                .span_accounts()
                .iter()
                .map(|a| a.exported)
                .sum::<u64>();
        }
        if !self.zipkin.is_running() {
            return Vec::new();
        }
        self.zipkin.spans_once_at_least(exported as usize).await
    }

    /// Stops the services (see [`Stack::stop`]) and gives every span of the
    /// trace that `answer` names.
    pub async fn stop_for_trace(&mut self, answer: &Value) -> Vec<Value> {
        let trace_id = answer["trace_id"]
            .as_str()
            .expect("a traced answer")
            .to_owned();
        let spans = self.stop().await;
        crate::of_trace(&spans, &trace_id)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Every recorded hop.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }
}
