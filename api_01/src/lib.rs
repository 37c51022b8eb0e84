//! api_01: the front door. It calls api_02 and api_03 at the same time (so
//! their spans overlap in Zipkin's waterfall) and answers with both answers,
//! this request's trace id and a link to the trace in the Zipkin UI. A
//! browser that opens `/` gets a page instead ([`page`]).

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{HeaderValue, header},
    middleware::map_response,
    response::Response,
    routing::get,
};
use demo::{Downstream, DownstreamClient, Faults, Reply, Settings};
use telemetry::env::Env;

pub mod page;

/// What api_01's handler needs.
#[derive(Clone, Debug)]
pub struct Api01 {
    pub settings: Settings,
    pub client: DownstreamClient,
    pub api_02: Downstream,
    pub api_03: Downstream,
}

impl Api01 {
    /// Reads `API_02_URL` and `API_03_URL` (defaults on localhost).
    pub fn from_env(settings: &Settings) -> anyhow::Result<Self> {
        Self::read(&Env::process(), settings)
    }

    /// [`Api01::from_env`], the variables read from `env`.
    pub fn read<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        settings: &Settings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: DownstreamClient::new(settings)?,
            api_02: Downstream::read(env, "api_02", "API_02_URL", "http://localhost:5002")?,
            api_03: Downstream::read(env, "api_03", "API_03_URL", "http://localhost:5003")?,
            // The front door: its answer carries the trace id and the link.
            settings: Settings {
                trace_link: true,
                ..settings.clone()
            },
        })
    }
}

/// `GET /`.
pub fn router(api: Api01) -> Router {
    Router::new()
        .route("/", get(hello).layer(map_response(vary_on_accept)))
        .with_state(Arc::new(api))
}

/// The JSON answer of `/` says so too: a browser asking for `text/html`
/// gets the page instead (see [`page`]).
async fn vary_on_accept(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

async fn hello(State(api): State<Arc<Api01>>, faults: Faults) -> Result<Reply, Reply> {
    let reply = Reply::begin(&api.settings, &faults).await?;
    let query = faults.query_string();
    let (api_02, api_03) = tokio::join!(
        api.client.get_json(&api.api_02, query.as_deref()),
        api.client.get_json(&api.api_03, query.as_deref()),
    );
    Ok(reply
        .with("message", "api_01 called api_02 and api_03")
        .downstream(&api.api_02.service, api_02)
        .downstream(&api.api_03.service, api_03))
}
