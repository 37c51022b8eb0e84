//! api_01's entry point: config, router, serve. Run as `api_01 healthcheck`,
//! it is instead the container's health probe of a running api_01.

use browser_relay::BrowserRelay;
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
    let settings = Settings::from_env("api_01", 5001)?;
    if demo::healthcheck_requested() {
        return demo::healthcheck(&settings);
    }
    let telemetry = Telemetry::init(&settings.telemetry)?;
    // The page, and the relay its spans go through, answered untraced.
    let zipkin = settings.telemetry.relay_endpoint();
    let relay = BrowserRelay::new(&settings.telemetry.service_name, zipkin)?;
    let page = api_01::page::Page::new(&settings)?
        .front()
        .with_routes(relay.router());
    let app = api_01::router(api_01::Api01::from_env(&settings)?);
    demo::serve_with_front(&settings, page, app, telemetry).await
}
