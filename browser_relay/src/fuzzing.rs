//! The checks of a post, opened to the fuzz targets (`fuzz_checks`,
//! `fuzz/`) by the `fuzzing` feature. Not part of the API: it changes with
//! the targets.

use std::time::SystemTime;

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode},
};

/// What the relay in front of `service_name` does at `now` with a post of
/// `headers` and `body`, short of its flood limit and the forward itself
/// (which depend on no byte the client sends): the body it forwards to
/// Zipkin, or its answer's status and error.
pub async fn post(
    service_name: &str,
    headers: &HeaderMap,
    body: Body,
    now: SystemTime,
) -> Result<Vec<u8>, (StatusCode, String)> {
    crate::accepted(service_name, headers, body, now)
        .await
        .map_err(|refused| (refused.status, refused.message))
}
