//! How the span batch behaves: the settings OpenTelemetry's batch span
//! processor reads from its `OTEL_BSP_*` variables, with the same meaning.

use std::time::Duration;

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
