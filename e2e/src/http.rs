//! The tests' HTTP client.

use std::time::Duration;

use serde_json::Value;

/// An HTTP client for the tests: no proxy, bounded.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `GET url` with `headers`; the status and the JSON answer.
pub async fn fetch(url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = http().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}
