//! Runs the test collector as a process: the Zipkin stand-in of the compose
//! check and the benchmark's span sink.
//!
//! `PORT` (default 9411) sets the port; `--count-only` keeps counts, not spans.

use std::net::SocketAddr;

use test_collector::{Mode, Store, router};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "9411".into())
        .parse()?;
    let mode = if std::env::args().any(|arg| arg == "--count-only") {
        Mode::CountOnly
    } else {
        Mode::KeepSpans
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
    println!(
        "test collector listening on {} ({mode:?})",
        listener.local_addr()?
    );
    let shutdown = async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM can be listened for");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = terminate.recv() => {},
        }
    };
    axum::serve(listener, router(Store::new(mode)))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
