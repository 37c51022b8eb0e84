//! api_02's entry point: config, router, serve.

use telemetry::{ServiceConfig, Telemetry, server};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ServiceConfig::from_env("api_02", 5002)?;
    let telemetry = Telemetry::init(&config)?;
    let app = api_02::router(api_02::Api02::from_env(config.clone())?);
    server::serve(config.listen_addr(), app, telemetry).await?;
    Ok(())
}
