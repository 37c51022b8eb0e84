//! A steady load: `GET` a URL at a fixed rate, every answer kept with the
//! time it was due. The benchmark's `loadgen` prints its percentiles; the
//! end-to-end fault suite reads every answer.
//!
//! Latency counts from when a request was *due*, not from when it was
//! sent: a slow answer that holds up the next requests adds their wait to
//! their latency, instead of hiding it (coordinated omission, which a
//! closed-loop tool such as wrk has).

pub mod mix;

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::Semaphore,
    task::JoinSet,
    time::{Instant, sleep_until},
};

pub use mix::Mix;

/// One request of a load.
#[derive(Clone, Debug)]
pub struct Answer {
    /// When it was due.
    pub due: Instant,
    /// From when it was due to its whole answer.
    pub latency: Duration,
    /// The answer's status, `None` when there was no answer.
    pub status: Option<u16>,
    /// The answer's body, or why there was none.
    pub text: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// What a load sent and got back.
#[derive(Debug)]
pub struct Run {
    /// Every request, in the order they were due.
    pub answers: Vec<Answer>,
    /// How long sending took: longer than planned when the sending loop
    /// fell behind its schedule.
    pub sending: Duration,
}

/// A fixed-rate load.
#[derive(Clone, Debug)]
pub struct Load {
    pub url: String,
    /// Requests a second.
    pub rate: f64,
    /// At most this many requests wait for an answer at once; waiting for
    /// one of them counts in the latency.
    pub connections: usize,
    /// How long one request may take.
    pub timeout: Duration,
    /// Which of api_01's scenarios each request asks for (as a query
    /// string); `None`: `url` as it is.
    pub mix: Option<Mix>,
}

impl Load {
    pub fn new(url: &str, rate: f64) -> Self {
        Self {
            url: url.to_owned(),
            rate,
            connections: 64,
            timeout: Duration::from_secs(10),
            mix: None,
        }
    }

    /// Sends `rate × duration` requests, evenly spread, starting 100 ms
    /// from now, and waits for every answer.
    pub async fn run(&self, duration: Duration) -> reqwest::Result<Run> {
        self.run_from(Instant::now() + Duration::from_millis(100), duration)
            .await
    }

    /// [`Load::run`], the first request due at `start`: loads started
    /// back to back this way follow one schedule.
    pub async fn run_from(&self, start: Instant, duration: Duration) -> reqwest::Result<Run> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(self.connections)
            .timeout(self.timeout)
            .build()?;
        let slots = Arc::new(Semaphore::new(self.connections));
        let period = Duration::from_secs_f64(1.0 / self.rate);
        let count = (self.rate * duration.as_secs_f64()).round() as u32;
        let mut mix = self.mix.clone();
        let mut requests = JoinSet::new();
        for i in 0..count {
            let due = start + period * i;
            sleep_until(due).await;
            let url = match mix.as_mut().map(Mix::next_query) {
                Some(query) if !query.is_empty() => format!("{}?{query}", self.url),
                _ => self.url.clone(),
            };
            let (http, slots) = (http.clone(), slots.clone());
            requests.spawn(async move {
                let _slot = slots.acquire_owned().await.expect("never closed");
                let (status, text) = match http.get(url).send().await {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        match answer.text().await {
                            Ok(text) => (Some(status), text),
                            Err(error) => (None, error.to_string()),
                        }
                    }
                    Err(error) => (None, error.to_string()),
                };
                Answer {
                    due,
                    latency: due.elapsed(),
                    status,
                    text,
                }
            });
        }
        let sending = start.elapsed();
        let mut answers = Vec::with_capacity(count as usize);
        while let Some(answer) = requests.join_next().await {
            answers.push(answer.expect("a request task does not panic"));
        }
        answers.sort_by_key(|answer| answer.due);
        Ok(Run { answers, sending })
    }
}

/// The `p`-quantile (0 to 1) of `latencies`, by the nearest-rank method;
/// zero when there are none.
pub fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let rank = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted.get(rank).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms = |values: &[u64]| -> Vec<Duration> {
            values.iter().map(|&v| Duration::from_millis(v)).collect()
        };
        let latencies = ms(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
        assert_eq!(percentile(&latencies, 0.5), Duration::from_millis(5));
        assert_eq!(percentile(&latencies, 0.99), Duration::from_millis(10));
        assert_eq!(percentile(&latencies, 1.0), Duration::from_millis(10));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }
}
