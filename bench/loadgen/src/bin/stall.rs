//! The benchmark's hostile client: COUNT connections to ADDR that each send
//! the start of a request's headers and never finish them, held for
//! SECONDS; then one line of JSON with what the service did to them.
//!
//!     stall ADDR COUNT SECONDS [--once]
//!
//! A connection the service closes is opened again at once, so COUNT stay
//! stalled for the whole run (the harder case: the service must keep making
//! room). With `--once` each is opened once and never again, as a client
//! that fills a service up and waits would do.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Semaphore,
    task::JoinSet,
    time::{Instant, timeout_at},
};

/// Connections being set up at once: thousands at the same instant would
/// overflow the service's listen queue, and the kernel would drop their
/// SYNs, measuring the queue rather than the service.
const CONNECTING_AT_ONCE: usize = 128;
/// A connect that takes longer failed (SYN retransmits come at 1 s and 3 s).
const CONNECT_LIMIT: Duration = Duration::from_secs(4);

/// The start of a request's headers, never ended by the blank line.
const UNFINISHED_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: stall\r\n";

#[derive(Default)]
struct Counts {
    opened: AtomicU64,
    /// Connections the service closed (or reset).
    closed: AtomicU64,
    /// Connects that failed or took longer than `CONNECT_LIMIT`.
    failed: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, count, seconds, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: stall ADDR COUNT SECONDS [--once]");
    };
    let addr: SocketAddr = addr.parse().context("ADDR: host:port")?;
    let count: usize = count.parse().context("COUNT")?;
    let seconds: f64 = seconds.parse().context("SECONDS")?;
    let once = rest.iter().any(|arg| arg == "--once");
    let end = Instant::now() + Duration::from_secs_f64(seconds);

    let counts = Arc::new(Counts::default());
    let connecting = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let mut holders = JoinSet::new();
    for _ in 0..count {
        let (counts, connecting) = (counts.clone(), connecting.clone());
        holders.spawn(async move {
            loop {
                hold_one(addr, end, &counts, &connecting).await;
                if once || Instant::now() >= end {
                    return;
                }
            }
        });
    }
    // Says when the first wave is in, so a script can measure the service
    // with every connection in place.
    let started = Instant::now();
    while counts.opened.load(Ordering::Relaxed) + counts.failed.load(Ordering::Relaxed)
        < count as u64
        && Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "all {count} connections tried after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    while holders.join_next().await.is_some() {}
    let held = counts.opened.load(Ordering::Relaxed) - counts.closed.load(Ordering::Relaxed);
    println!(
        "{{\"count\":{count},\"opened\":{},\"closed_by_service\":{},\"connect_failed\":{},\"held_at_end\":{held}}}",
        counts.opened.load(Ordering::Relaxed),
        counts.closed.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    Ok(())
}

/// Opens one stalled connection and holds it until the service closes it
/// or the run ends.
async fn hold_one(addr: SocketAddr, end: Instant, counts: &Counts, connecting: &Semaphore) {
    let permit = connecting.acquire().await.expect("never closed");
    let connect_by = (Instant::now() + CONNECT_LIMIT).min(end);
    let connected = timeout_at(connect_by, TcpStream::connect(addr)).await;
    drop(permit);
    let Ok(Ok(mut stream)) = connected else {
        counts.failed.fetch_add(1, Ordering::Relaxed);
        // Do not spin on a refusing or full service.
        tokio::time::sleep_until((Instant::now() + Duration::from_millis(100)).min(end)).await;
        return;
    };
    counts.opened.fetch_add(1, Ordering::Relaxed);
    let _ = stream.write_all(UNFINISHED_HEAD).await;
    let mut buf = [0u8; 256];
    let closed = timeout_at(end, async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    if closed.await.is_ok() {
        counts.closed.fetch_add(1, Ordering::Relaxed);
    }
}
