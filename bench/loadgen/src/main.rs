//! The benchmark's fixed-rate load: `GET URL` at RATE requests a second for
//! SECONDS, at most CONNECTIONS at once, then one line of JSON with the
//! answers by status and the latency percentiles of those answered with a
//! success.
//!
//!     loadgen URL RATE SECONDS [CONNECTIONS] [--mix MIX] [--every WINDOW]
//!
//! - `--mix plain=80,fail=10,slow=10`: each request asks for one of api_01's
//!   scenarios, spread by weight, as the compose load profile's `traffic`
//!   does (a slow request asks for 300 ms, `traffic`'s default).
//! - `--every 60`: besides the last line, a line for each WINDOW seconds
//!   of the schedule, printed as soon as that window's answers are all in
//!   (the next window's requests go out meanwhile, on the same schedule).
//!
//! Latency counts from when a request was due (see the library).
//!
//! Why our own: the fixed-rate tools that correct for coordinated omission
//! (wrk2, oha) are not in Debian's packages, and `cargo install oha` took
//! 12 minutes on a fresh machine; this builds in seconds from the crates
//! the services already compile.

use std::{collections::BTreeMap, time::Duration};

use anyhow::Context;
use loadgen::{Answer, Load, Mix, percentile};
use tokio::time::Instant;

/// The delay a slow request of the mix asks for: `traffic`'s default.
const SLOW_MS: u64 = 300;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut positional = Vec::new();
    let (mut mix, mut every) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mix" => {
                let text = args.next().context("--mix needs a mix")?;
                mix = Some(Mix::parse(&text, SLOW_MS).with_context(|| format!("--mix {text:?}"))?);
            }
            "--every" => {
                let text = args.next().context("--every needs a number of seconds")?;
                every = Some(text.parse::<f64>().context("--every: seconds")?);
            }
            _ => positional.push(arg),
        }
    }
    let [url, rate, seconds, rest @ ..] = positional.as_slice() else {
        anyhow::bail!("usage: loadgen URL RATE SECONDS [CONNECTIONS] [--mix MIX] [--every WINDOW]");
    };
    let rate: f64 = rate.parse().context("RATE: requests a second")?;
    let seconds: f64 = seconds.parse().context("SECONDS")?;
    let mut load = Load::new(url, rate);
    load.mix = mix;
    if let Some(count) = rest.first() {
        load.connections = count.parse().context("CONNECTIONS")?;
    }
    let every = every.unwrap_or(seconds);
    anyhow::ensure!(
        rate > 0.0 && seconds > 0.0 && every > 0.0 && load.connections > 0,
        "all must be positive"
    );

    // Every window's load starts now, each waiting for its own part of one
    // schedule.
    let start = Instant::now() + Duration::from_millis(100);
    let windows = (seconds / every).ceil() as usize;
    let runs: Vec<_> = (0..windows)
        .map(|window| {
            let from = every * window as f64;
            let (load, length) = (load.clone(), every.min(seconds - from));
            tokio::spawn(async move {
                load.run_from(
                    start + Duration::from_secs_f64(from),
                    Duration::from_secs_f64(length),
                )
                .await
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut sending = Duration::ZERO;
    for (window, run) in runs.into_iter().enumerate() {
        let run = run.await.context("a window's load")??;
        if windows > 1 {
            println!("{}", line(Some(window), &run.answers, run.sending));
        }
        sending = run.sending + Duration::from_secs_f64(every * window as f64);
        all.extend(run.answers);
    }
    println!("{}", line(None, &all, sending));
    Ok(())
}

/// One line of JSON: the window's number (none for the whole run), the
/// rate achieved, the answers by status (`none`: no answer), and the
/// latency percentiles of the successes.
fn line(window: Option<usize>, answers: &[Answer], sending: Duration) -> String {
    let mut statuses = BTreeMap::<String, usize>::new();
    for answer in answers {
        let status = answer.status.map_or("none".into(), |s| s.to_string());
        *statuses.entry(status).or_default() += 1;
    }
    let statuses: Vec<String> = statuses
        .iter()
        .map(|(status, count)| format!("\"{status}\":{count}"))
        .collect();
    let latencies: Vec<Duration> = answers
        .iter()
        .filter(|answer| answer.ok())
        .map(|answer| answer.latency)
        .collect();
    let ms = |p| percentile(&latencies, p).as_secs_f64() * 1000.0;
    let window = window.map_or("\"all\"".into(), |w| w.to_string());
    format!(
        "{{\"window\":{window},\"achieved\":{:.1},\"ok\":{},\"failed\":{},\
         \"statuses\":{{{}}},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}",
        answers.len() as f64 / sending.as_secs_f64(),
        latencies.len(),
        answers.len() - latencies.len(),
        statuses.join(","),
        ms(0.50),
        ms(0.99),
        ms(1.0),
    )
}
