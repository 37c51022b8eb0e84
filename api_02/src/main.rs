//! api_02's entry point: config, router, serve. Run as `api_02 healthcheck`,
//! it is instead the container's health probe of a running api_02.

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
    let settings = Settings::from_env("api_02", 5002)?;
    if demo::healthcheck_requested() {
        return demo::healthcheck(&settings);
    }
    let telemetry = Telemetry::init(&settings.telemetry)?;
    let app = api_02::router(api_02::Api02::from_env(&settings)?);
    demo::serve(&settings, app, telemetry).await
}
