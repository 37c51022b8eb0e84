//! The processor's settings: how the span batch behaves (the settings
//! OpenTelemetry's batch span processor reads from its `OTEL_BSP_*`
//! variables, with the same meaning), and where uploads go.

use std::{str::FromStr, time::Duration};

use reqwest::{Url, header::HeaderMap};
use url::ParseError;

/// The span batch's settings (`OTEL_BSP_*` in the specification's words);
/// two defaults differ from the specification's, as measured in the
/// project's `docs/performance.md`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchConfig {
    /// `OTEL_BSP_SCHEDULE_DELAY` (ms, 5000): how often spans go out at the
    /// latest.
    pub schedule_delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (2048): how many spans wait at most; beyond
    /// that they are dropped (and counted), so memory stays bounded.
    pub max_queue_size: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (128 here; the specification says
    /// 512): spans per upload.
    pub max_export_batch_size: usize,
    /// `OTEL_BSP_EXPORT_TIMEOUT` (ms; 5000 here, the specification says
    /// 30000): the longest one upload may take. It also bounds the last
    /// upload at shutdown, so a stop never hangs on the receiver.
    pub upload_timeout: Duration,
    /// `OTEL_BSP_MAX_CONCURRENT_EXPORTS` (the Rust SDK's name; 4): uploads
    /// in flight at once.
    pub max_concurrent_uploads: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            schedule_delay: Duration::from_millis(5000),
            max_queue_size: 2048,
            max_export_batch_size: 128,
            upload_timeout: Duration::from_millis(5000),
            max_concurrent_uploads: 4,
        }
    }
}

/// Where uploads go, and what each carries besides its body.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Zipkin's `http://localhost:9411/api/v2/spans`, say.
    pub url: Url,
    /// Headers every upload carries (an API key for a hosted receiver, say).
    pub headers: HeaderMap,
    /// Whether bodies are sent gzip-compressed (`Content-Encoding: gzip`).
    pub gzip: bool,
}

impl FromStr for Endpoint {
    type Err = ParseError;

    /// A URL, with no extra header and no compression.
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(Url::parse(url)?.into())
    }
}

impl From<Url> for Endpoint {
    /// `url`, with no extra header and no compression.
    fn from(url: Url) -> Self {
        Self {
            url,
            headers: HeaderMap::new(),
            gzip: false,
        }
    }
}
