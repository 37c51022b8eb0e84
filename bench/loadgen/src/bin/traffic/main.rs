//! Steady traffic for the demo, so that Zipkin's search and dependency
//! graph have data from the first minute (`docker compose --profile load
//! up`): `GET` api_01 at a fixed rate, for ever, with a mix of the page's
//! scenarios: plain requests, failures, slow callees.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `TRAFFIC_URL` | `http://localhost:5001` | api_01. |
//! | `TRAFFIC_RATE` | `5` | Requests a second. |
//! | `TRAFFIC_MIX` | `plain=80,fail=10,slow=10` | Weights of the scenarios; `fail` and `slow` name api_02 and api_03 in turn. |
//! | `TRAFFIC_SLOW_MS` | `300` | The delay a slow request asks for. |
//! | `TRAFFIC_LOG_EVERY` | `100` | A line of counts by status after this many requests. |
//!
//! Stops on SIGTERM or Ctrl-C, with a last line of counts, and exits 0.
//! At most `MAX_IN_FLIGHT` requests wait at once: past that a request is
//! skipped and counted, so a stuck api_01 never piles up work here.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{Mutex, Semaphore},
    time::{MissedTickBehavior, interval},
};

use loadgen::Mix;

const MAX_IN_FLIGHT: usize = 64;
/// Longer than any answer api_01 gives (10 s of delay at most, plus a
/// callee timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What a run has sent and got back: answers by status, failures to get
/// one, requests skipped.
#[derive(Debug, Default)]
struct Counts {
    sent: u64,
    by_status: BTreeMap<String, u64>,
}

impl Counts {
    fn line(&self) -> String {
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, count)| format!("{status}={count}"))
            .collect();
        format!("traffic: {} sent; {}", self.sent, statuses.join(" "))
    }
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = var("TRAFFIC_URL", "http://localhost:5001");
    let url = reqwest::Url::parse(&url).with_context(|| format!("TRAFFIC_URL={url:?}"))?;
    let rate: f64 = var("TRAFFIC_RATE", "5")
        .parse()
        .context("TRAFFIC_RATE: requests a second")?;
    anyhow::ensure!(
        rate.is_finite() && rate > 0.0 && rate <= 1000.0,
        "TRAFFIC_RATE must be above 0 and at most 1000, got {rate}"
    );
    let slow_ms: u64 = var("TRAFFIC_SLOW_MS", "300")
        .parse()
        .context("TRAFFIC_SLOW_MS: milliseconds")?;
    let log_every: u64 = var("TRAFFIC_LOG_EVERY", "100")
        .parse()
        .context("TRAFFIC_LOG_EVERY: a number of requests")?;
    let mix_text = var("TRAFFIC_MIX", "plain=80,fail=10,slow=10");
    let mut mix =
        Mix::parse(&mix_text, slow_ms).with_context(|| format!("TRAFFIC_MIX={mix_text:?}"))?;

    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let counts = Arc::new(Mutex::new(Counts::default()));
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut ticks = interval(Duration::from_secs_f64(1.0 / rate));
    // After a pause (a stopped container), carry on at the rate; no burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    println!("traffic: GET {url} at {rate}/s, mix {mix_text}");

    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        let query = mix.next_query();
        let mut target = url.clone();
        target.set_query((!query.is_empty()).then_some(query.as_str()));
        let sent = {
            let mut counts = counts.lock().await;
            counts.sent += 1;
            counts.sent
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let (http, counts) = (http.clone(), counts.clone());
                tokio::spawn(async move {
                    let status = match http.get(target).send().await {
                        Ok(answer) => answer.status().as_u16().to_string(),
                        Err(_) => "no-answer".to_owned(),
                    };
                    drop(slot);
                    *counts.lock().await.by_status.entry(status).or_insert(0) += 1;
                });
            }
            Err(_) => {
                *counts
                    .lock()
                    .await
                    .by_status
                    .entry("skipped".into())
                    .or_insert(0) += 1
            }
        }
        if log_every > 0 && sent % log_every == 0 {
            println!("{}", counts.lock().await.line());
        }
    }
    println!("{} (stopping)", counts.lock().await.line());
    Ok(())
}
