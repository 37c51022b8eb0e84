//! The benchmark's fixed-rate load: `GET URL` at RATE requests a second for
//! SECONDS, at most CONNECTIONS at once, then one line of JSON with the
//! latency percentiles of the requests answered with a success.
//!
//!     loadgen URL RATE SECONDS [CONNECTIONS]
//!
//! Latency counts from when a request was due (see the library).
//!
//! Why our own: the fixed-rate tools that correct for coordinated omission
//! (wrk2, oha) are not in Debian's packages, and `cargo install oha` took
//! 12 minutes on a fresh machine; this builds in seconds from the crates
//! the services already compile.

use std::time::Duration;

use anyhow::Context;
use loadgen::{Load, percentile};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rate, seconds, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: loadgen URL RATE SECONDS [CONNECTIONS]");
    };
    let rate: f64 = rate.parse().context("RATE: requests a second")?;
    let seconds: f64 = seconds.parse().context("SECONDS")?;
    let mut load = Load::new(url, rate);
    if let Some(count) = rest.first() {
        load.connections = count.parse().context("CONNECTIONS")?;
    }
    anyhow::ensure!(
        rate > 0.0 && seconds > 0.0 && load.connections > 0,
        "all must be positive"
    );
    let run = load.run(Duration::from_secs_f64(seconds)).await?;
    let latencies: Vec<Duration> = run
        .answers
        .iter()
        .filter(|answer| answer.ok())
        .map(|answer| answer.latency)
        .collect();
    let ms = |p| percentile(&latencies, p).as_secs_f64() * 1000.0;
    println!(
        "{{\"rate\":{rate},\"achieved\":{:.0},\"ok\":{},\"failed\":{},\
         \"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}",
        run.answers.len() as f64 / run.sending.as_secs_f64(),
        latencies.len(),
        run.answers.len() - latencies.len(),
        ms(0.50),
        ms(0.99),
        ms(1.0),
    );
    Ok(())
}
