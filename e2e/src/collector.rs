//! The OpenTelemetry Collector, as the judge of our OTLP: its OTLP/HTTP
//! receiver reads what the services send, and its `zipkin` exporter hands
//! the spans to a [`Zipkin`] (the real server in `.ci/run`), which the
//! tests then ask, as for every other test.
//!
//! Why the Collector and not Zipkin's own OTLP module: the Maven Central
//! these machines reach does not serve the module (docs/otlp.md). The
//! Collector is built from the Go module proxy, every module pinned, by
//! `bash ci/otel-collector.sh`, which prints its path; the tests find it
//! through `OTEL_COLLECTOR_BIN`.

use std::path::PathBuf;

use crate::{Program, Service, Zipkin};

/// A Collector on a loopback port of its own choosing, forwarding to a
/// Zipkin. Killed when dropped; its config file goes with it.
pub struct Collector {
    pub service: Service,
    config: PathBuf,
}

impl Collector {
    /// Starts one in front of `zipkin`. Fails, saying how to get it, when
    /// `OTEL_COLLECTOR_BIN` is not set.
    pub async fn start(zipkin: &Zipkin) -> Collector {
        let Some(binary) = std::env::var_os("OTEL_COLLECTOR_BIN") else {
            panic!(
                "this test needs the OpenTelemetry Collector: run it with \
                 OTEL_COLLECTOR_BIN=\"$(bash ci/otel-collector.sh)\""
            )
        };
        // Port 0: the receiver listens where the OS says, and the harness
        // reads that port from the socket table. No metrics port of its
        // own, so that the receiver's is the only one.
        let config = std::env::temp_dir().join(format!(
            "e2e-collector-{}-{}.yaml",
            std::process::id(),
            zipkin.endpoint().replace([':', '/', '.'], "_")
        ));
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n\
             exporters:\n  zipkin:\n    endpoint: {}\n    format: json\n\
             service:\n  telemetry:\n    metrics:\n      level: none\n\
             \x20 pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [zipkin]\n",
            zipkin.endpoint()
        );
        std::fs::write(&config, yaml).expect("a config file in the temporary directory");
        let program = Program::System {
            path: PathBuf::from(binary),
            args: vec![format!("--config={}", config.display())],
        };
        let service = Service::start("otel-collector", &program, &[]).await;
        Collector { service, config }
    }

    /// The base URL the services are given (`OTEL_EXPORTER_OTLP_ENDPOINT`):
    /// they add `/v1/traces`.
    pub fn otlp_endpoint(&self) -> String {
        self.service.url.clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
    }
}
