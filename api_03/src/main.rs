//! api_03's entry point: config, router, serve. Run as `api_03 healthcheck`,
//! it is instead the container's health probe of a running api_03.

use demo::Settings;
use telemetry::Telemetry;

// mimalloc, not glibc's malloc: tracing allocates many small, short-lived
// values a span (its attributes, its data for the exporter), and this
// allocator serves them in a fraction of the instructions (see
// docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env("api_03", 5003)?;
    if demo::healthcheck_requested() {
        return demo::healthcheck(&settings);
    }
    let telemetry = Telemetry::init(&settings.telemetry)?;
    let app = api_03::router(api_03::Api03::from_env(&settings)?);
    demo::serve(&settings, app, telemetry).await
}
