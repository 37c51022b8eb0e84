//! A Zipkin stand-in that a test can kill and start again on its port, or
//! make misbehave, while the services export to it under load.
//!
//! It serves the test collector's routes on a runtime of its own: killing
//! it shuts that runtime down, which closes its listener and every
//! connection it holds, as the kernel does when a process dies, and the
//! services' pooled connections to it break as they would. The port stays
//! held ([`RefusingPort`]), so the services meet connection refused while
//! it is away, and it comes back on the same address. What it received
//! survives (the [`Store`] is the test's), as with a Zipkin whose storage
//! outlives it.

use std::sync::Arc;

use test_collector::{Fault, Mode, Store};
use tokio::runtime::Runtime;

use crate::RefusingPort;

pub struct Zipkin {
    port: RefusingPort,
    pub store: Arc<Store>,
    /// `None` while it is away.
    runtime: Option<Runtime>,
}

impl Zipkin {
    /// Starts it, keeping every span it receives.
    pub fn start() -> Self {
        let mut zipkin = Self {
            port: RefusingPort::new(),
            store: Store::new(Mode::KeepSpans),
            runtime: None,
        };
        zipkin.restart();
        zipkin
    }

    /// The URL to give services as `OTEL_EXPORTER_ZIPKIN_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.port.zipkin_endpoint()
    }

    /// Closes its listener and every connection at once; its port now
    /// refuses connections.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Listens again on its port (after [`Zipkin::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zipkin-stand-in")
            .enable_all()
            .build()
            .expect("a runtime for the stand-in");
        let listener = {
            let _inside = runtime.enter();
            tokio::net::TcpListener::from_std(self.port.listener()).expect("a Tokio listener")
        };
        let app = test_collector::router(self.store.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        self.runtime = Some(runtime);
    }

    /// Answers every upload as `fault` says, from now on.
    pub fn set_fault(&self, fault: Fault) {
        self.store.set_fault(fault);
    }
}

impl Drop for Zipkin {
    fn drop(&mut self) {
        self.kill();
    }
}
