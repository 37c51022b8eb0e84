//! api_03: the last service in the chain. It does one unit of work in a span
//! of its own (the Python original sleeps there, to give the waterfall a
//! visible duration) and answers with its name.

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::State, routing::get};
use demo::{Faults, Reply, Settings};
use telemetry::env::Env;
use tracing::Instrument;

/// How long the unit of work takes by default (`WORK_MS`): long enough to
/// see in Zipkin, short against the callers' 2 s timeout.
pub const DEFAULT_WORK_MS: u64 = 100;

/// What api_03's handler needs.
#[derive(Clone, Debug)]
pub struct Api03 {
    pub settings: Settings,
    pub work: Duration,
}

impl Api03 {
    /// Reads `WORK_MS` (milliseconds; 0 is allowed).
    pub fn from_env(settings: &Settings) -> anyhow::Result<Self> {
        Self::read(&Env::process(), settings)
    }

    /// [`Api03::from_env`], the variable read from `env`.
    pub fn read<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        settings: &Settings,
    ) -> anyhow::Result<Self> {
        let work_ms = env.parse("WORK_MS", DEFAULT_WORK_MS)?;
        Ok(Self {
            settings: settings.clone(),
            work: Duration::from_millis(work_ms),
        })
    }
}

/// `GET /`.
pub fn router(api: Api03) -> Router {
    Router::new()
        .route("/", get(hello))
        .with_state(Arc::new(api))
}

async fn hello(State(api): State<Arc<Api03>>, faults: Faults) -> Result<Reply, Reply> {
    let reply = Reply::begin(&api.settings, &faults).await?;
    do_work(api.work).await;
    Ok(reply
        .with("message", "api_03 did its work")
        .with("work_ms", api.work.as_millis() as u64))
}

/// Stands in for real work (a query, a computation) so it shows as a child span.
async fn do_work(duration: Duration) {
    tokio::time::sleep(duration)
        // i64, not u64: tracing-opentelemetry 0.34 has no record_u64, and
        // writes a u64 through Debug into a string attribute.
        .instrument(tracing::info_span!(
            "work",
            work_ms = duration.as_millis() as i64
        ))
        .await;
}
