//! api_01's entry point: config, router, serve.

use telemetry::{ServiceConfig, Telemetry, server};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ServiceConfig::from_env("api_01", 5001)?;
    let telemetry = Telemetry::init(&config)?;
    let app = api_01::router(api_01::Api01::from_env(config.clone())?);
    server::serve(config.listen_addr(), app, telemetry).await?;
    Ok(())
}
