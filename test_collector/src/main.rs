//! Runs the test collector as a process: the Zipkin stand-in of the compose
//! check and the benchmark's span sink.
//!
//! `PORT` (default 9411) sets the port; `--count-only` keeps counts, not spans.
//! Run as `test_collector healthcheck`, it is instead the container's health
//! probe of a running collector on this machine (the image has no shell or
//! curl to make one with).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use anyhow::Context;
use test_collector::{Mode, Store, router};

fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "9411".into())
        .parse()
        .context("PORT must be a port number")?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck(port);
    }
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

/// Asks the collector on this machine at `port` for `GET /health`: `Ok` when
/// it answers `200`, an error saying what happened otherwise (so the process
/// exits 1, as a container health check expects). Plain HTTP/1.0 on a std
/// socket, each step bounded by a 2 s timeout: no runtime, no client crate.
fn healthcheck(port: u16) -> anyhow::Result<()> {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let url = format!("http://{addr}/health");
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).with_context(|| format!("{url}: connect"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .with_context(|| format!("{url}: send the request"))?;
    // Only the status line matters, e.g. "HTTP/1.0 200 OK".
    let mut status_line = String::new();
    BufReader::new(stream.take(1024))
        .read_line(&mut status_line)
        .with_context(|| format!("{url}: read the answer"))?;
    let status_line = status_line.trim_end();
    anyhow::ensure!(
        status_line.split(' ').nth(1) == Some("200"),
        "{url} answered {status_line:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use test_collector::Collector;

    use super::*;

    #[tokio::test]
    async fn healthcheck_passes_while_the_collector_runs() {
        let collector = Collector::start().await.unwrap();
        let port = collector.addr.port();
        tokio::task::spawn_blocking(move || healthcheck(port))
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn healthcheck_fails_when_nothing_listens() {
        // A port held for the test, bound but not listening: connections
        // are refused, and no other test can take it meanwhile.
        let held =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        held.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = held.local_addr().unwrap().as_socket().unwrap().port();
        let error = healthcheck(port).unwrap_err();
        assert!(format!("{error:#}").contains("connect"), "{error:#}");
    }

    #[test]
    fn healthcheck_fails_on_another_status() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0; 256];
            let _ = stream.read(&mut request).unwrap();
            stream
                .write_all(b"HTTP/1.0 503 Service Unavailable\r\n\r\n")
                .unwrap();
        });
        let error = healthcheck(port).unwrap_err();
        server.join().unwrap();
        assert!(error.to_string().contains("503"), "{error:#}");
    }
}
