//! api_03's entry point: config, router, serve.

use telemetry::{ServiceConfig, Telemetry, server};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ServiceConfig::from_env("api_03", 5003)?;
    let telemetry = Telemetry::init(&config)?;
    let app = api_03::router(api_03::Api03::from_env(config.clone())?);
    server::serve(config.listen_addr(), app, telemetry).await?;
    Ok(())
}
