//! Runs the test collector as a process: the benchmark's span sink, and a
//! Zipkin-v2 API to run the services against without Java.
//!
//! `PORT` (default 9411) sets the port; `--count-only` keeps counts, not
//! spans, and counts OTLP's too (`POST /v1/traces`, protobuf): a sink for
//! either exporter. On SIGTERM it finishes the uploads in flight and prints
//! its counts (what `GET /stats` gives) as its last line.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use serving::{ConnectionLimits, RequestTimeoutLayer};
use test_collector::{Mode, Store, router};

fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "9411".into())
        .parse()
        .context("PORT must be a port number")?;
    let mode = if std::env::args().any(|arg| arg == "--count-only") {
        Mode::CountOnly
    } else {
        Mode::KeepSpans
    };
    serve(port, mode)
}

#[tokio::main]
async fn serve(port: u16, mode: Mode) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
    println!(
        "test collector listening on {} ({mode:?})",
        listener.local_addr()?
    );
    // Under the same limits as the services: an upload that stalls cannot
    // hold a connection for ever.
    let store = Store::new(mode);
    let app = router(store.clone()).layer(RequestTimeoutLayer::new(Duration::from_secs(30)));
    serving::serve(
        listener,
        app,
        ConnectionLimits::default(),
        serving::shutdown_signal(),
    )
    .await?;
    // Every upload answered has been counted: a benchmark that stops and
    // starts the collector adds up these lines, one a life.
    println!("test collector stopped: {}", store.stats());
    Ok(())
}
