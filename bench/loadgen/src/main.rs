//! The benchmark's fixed-rate load: `GET URL` at RATE requests a second for
//! SECONDS, at most CONNECTIONS at once, then one line of JSON with the
//! latency percentiles.
//!
//!     loadgen URL RATE SECONDS [CONNECTIONS]
//!
//! Latency counts from when a request was *due*, not from when it was sent:
//! a slow answer that holds up the next requests adds their wait to their
//! latency, instead of hiding it (coordinated omission, which a closed-loop
//! tool such as wrk has).
//!
//! Why our own: the fixed-rate tools that correct for this (wrk2, oha) are
//! not in Debian's packages, and `cargo install oha` took 12 minutes on a
//! fresh machine; this builds in seconds from the crates the services
//! already compile.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{sync::Semaphore, task::JoinSet, time::sleep_until};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rate, seconds, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: loadgen URL RATE SECONDS [CONNECTIONS]");
    };
    let rate: f64 = rate.parse().context("RATE: requests a second")?;
    let seconds: f64 = seconds.parse().context("SECONDS")?;
    let connections: usize = match rest.first() {
        Some(count) => count.parse().context("CONNECTIONS")?,
        None => 64,
    };
    anyhow::ensure!(
        rate > 0.0 && seconds > 0.0 && connections > 0,
        "all must be positive"
    );

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(10))
        .build()?;
    let slots = Arc::new(Semaphore::new(connections));
    let period = Duration::from_secs_f64(1.0 / rate);
    let count = (rate * seconds).round() as u32;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut requests = JoinSet::new();
    for i in 0..count {
        let due = start + period * i;
        sleep_until(due).await;
        let (http, slots, url) = (http.clone(), slots.clone(), url.clone());
        requests.spawn(async move {
            // Waiting for a free connection is part of the latency.
            let _slot = slots.acquire_owned().await.expect("never closed");
            let answer = http.get(url).send().await;
            let ok = match answer {
                Ok(answer) => answer.status().is_success() && answer.bytes().await.is_ok(),
                Err(_) => false,
            };
            (due.elapsed(), ok)
        });
    }
    // Requests were sent at RATE unless this loop fell behind its schedule.
    let sending = start.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(count as usize);
    let mut failed = 0u32;
    while let Some(result) = requests.join_next().await {
        let (latency, ok) = result?;
        if ok {
            latencies.push(latency);
        } else {
            failed += 1;
        }
    }
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies
            .get(index)
            .map_or(0.0, |l| l.as_secs_f64() * 1000.0)
    };
    println!(
        "{{\"rate\":{rate},\"achieved\":{:.0},\"ok\":{},\"failed\":{failed},\
         \"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}",
        f64::from(count) / sending,
        latencies.len(),
        percentile(0.50),
        percentile(0.99),
        percentile(1.0),
    );
    Ok(())
}
