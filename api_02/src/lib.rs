//! api_02: the middle service. It calls api_03 and answers with what api_03
//! said, so its span sits between api_01's and api_03's in the trace.

use std::sync::Arc;

use axum::{Router, extract::State, routing::get};
use demo::{Downstream, DownstreamClient, Faults, Reply, Settings};

/// What api_02's handler needs.
#[derive(Clone, Debug)]
pub struct Api02 {
    pub settings: Settings,
    pub client: DownstreamClient,
    pub api_03: Downstream,
}

impl Api02 {
    /// Reads `API_03_URL` (default `http://localhost:5003`).
    pub fn from_env(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            client: DownstreamClient::new(settings)?,
            api_03: Downstream::from_env("api_03", "API_03_URL", "http://localhost:5003")?,
            settings: settings.clone(),
        })
    }
}

/// `GET /`.
pub fn router(api: Api02) -> Router {
    Router::new()
        .route("/", get(hello))
        .with_state(Arc::new(api))
}

async fn hello(State(api): State<Arc<Api02>>, faults: Faults) -> Result<Reply, Reply> {
    let reply = Reply::begin(&api.settings, &faults).await?;
    let query = faults.query_string();
    let api_03 = api.client.get_json(&api.api_03, query.as_deref()).await;
    Ok(reply
        .with("message", "api_02 called api_03")
        .downstream(&api.api_03.service, api_03))
}
