//! The two ends of a service's life that a container sees: the signal that
//! stops it, and the probe that says it is up.
//!
//! The probe is the service's own binary (`service healthcheck`), so the
//! image needs no shell, curl or wget: plain HTTP/1.0 on a std socket, each
//! step bounded, no runtime and no client crate.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// The path of the health check.
pub const HEALTH_PATH: &str = "/health";

/// Completes on Ctrl-C, or on SIGTERM (what `docker stop` sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}

/// Asks the service on this machine at `port` for [`HEALTH_PATH`]: `Ok`
/// when it answers `200`, otherwise an error that says what happened (so
/// the probe exits 1, as a container health check expects).
pub fn healthcheck(port: u16) -> std::io::Result<()> {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let failed = |step: &str, error: std::io::Error| {
        std::io::Error::new(
            error.kind(),
            format!("http://{addr}{HEALTH_PATH}: {step}: {error}"),
        )
    };
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|error| failed("connect", error))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let request = format!("GET {HEALTH_PATH} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|error| failed("send the request", error))?;
    // Only the status line matters, e.g. "HTTP/1.0 200 OK".
    let mut status_line = String::new();
    BufReader::new(stream.take(1024))
        .read_line(&mut status_line)
        .map_err(|error| failed("read the answer", error))?;
    let status_line = status_line.trim_end();
    if status_line.split(' ').nth(1) != Some("200") {
        return Err(std::io::Error::other(format!(
            "http://{addr}{HEALTH_PATH} answered {status_line:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn healthcheck_passes_on_200_and_fails_otherwise() {
        for (answer, healthy) in [("HTTP/1.0 200 OK", true), ("HTTP/1.0 503 Busy", false)] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0; 256];
                let _ = stream.read(&mut request).unwrap();
                stream
                    .write_all(format!("{answer}\r\n\r\n").as_bytes())
                    .unwrap();
            });
            let outcome = healthcheck(port);
            server.join().unwrap();
            assert_eq!(outcome.is_ok(), healthy, "{answer}: {outcome:?}");
        }
    }

    #[test]
    fn healthcheck_fails_when_nothing_listens() {
        // Bound but not listening: connections are refused, and no other
        // test can take the port meanwhile.
        let held =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        held.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = held.local_addr().unwrap().as_socket().unwrap().port();
        let error = healthcheck(port).unwrap_err();
        assert!(error.to_string().contains("connect"), "{error}");
    }
}
