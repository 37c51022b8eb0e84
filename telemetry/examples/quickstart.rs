//! A service traced with `telemetry`: the whole program to copy.
//!
//!     cargo run -p telemetry --example quickstart
//!     curl localhost:8080
//!
//! `GET /` calls `INVENTORY_URL` (by default the demo's api_03, on 5003) in a
//! CLIENT span, inside the request's SERVER span, and both go to Zipkin
//! (`OTEL_EXPORTER_ZIPKIN_ENDPOINT`, by default on localhost). It stops on
//! SIGTERM or Ctrl-C, and sends its last spans before it exits.

use std::time::Duration;

use axum::{Router, extract::State, routing::get};
use serving::{ConnectionLimits, RequestTimeoutLayer};
use telemetry::{Telemetry, TelemetryConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. At start-up: OpenTelemetry's settings from the environment, and
    //    the tracing subscriber that sends spans to Zipkin.
    let telemetry = Telemetry::init(&TelemetryConfig::from_env("checkout")?)?;

    // 2. Every request runs in a SERVER span, in the caller's trace when it
    //    sent one; the time limit sits inside, so a 503 is traced too.
    let inventory = Inventory {
        http: reqwest::Client::new(),
        url: std::env::var("INVENTORY_URL").unwrap_or("http://localhost:5003/".into()),
    };
    let app = Router::new()
        .route("/", get(checkout))
        .with_state(inventory)
        .layer(RequestTimeoutLayer::new(Duration::from_secs(15)))
        .layer(telemetry.layer());

    // 3. Serve until SIGTERM or Ctrl-C, under time limits and a connection
    //    cap; then send the spans still queued.
    let port = std::env::var("PORT").unwrap_or("8080".into()).parse()?;
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    let limits = ConnectionLimits::default();
    serving::serve(listener, app, limits, serving::shutdown_signal()).await?;
    telemetry.shutdown().await;
    Ok(())
}

/// Another service, and one HTTP client for the life of this one.
#[derive(Clone)]
struct Inventory {
    http: reqwest::Client,
    url: String,
}

// 4. A call to another service: a CLIENT span, with B3 headers.
async fn checkout(State(inventory): State<Inventory>) -> String {
    let call = inventory.http.get(&inventory.url);
    match telemetry::client::send(call, "inventory").await {
        Ok(answer) => format!("inventory answered {}\n", answer.status()),
        Err(error) => format!("inventory could not be reached: {error}\n"),
    }
}
