//! A page whose click is reported through the relay: `GET /` serves a page
//! with one button; a click fetches `/` again, then posts that call as one
//! Zipkin CLIENT span (service `browser` calling `relay-example`) to
//! `POST /browser/spans`, and the page shows the relay's answer.
//!
//! ```text
//! cargo run -p browser_relay --example relay
//! # then open http://127.0.0.1:8080/ and click the button
//! # another port, or another Zipkin than http://localhost:9411/api/v2/spans:
//! PORT=8081 ZIPKIN=http://zipkin:9411/api/v2/spans cargo run -p browser_relay --example relay
//! ```
//!
//! With Zipkin there, the page says `202` and the trace id, and Zipkin
//! shows the span; with no Zipkin, the page says `502` and why. The page
//! never learns Zipkin's address: it posts to the service that served it.
//!
//! The example has no tracing of its own; in a traced service, merge the
//! relay's router after the traced routes' layer, so its posts make no
//! span.

use std::sync::Arc;

use axum::{Router, extract::State, response::Html, routing::get};
use browser_relay::BrowserRelay;

/// The service the page calls: the span's `remoteEndpoint`, and the name
/// the relay checks it against.
const SERVICE: &str = "relay-example";

/// The page; `{SERVICE}` is replaced by [`SERVICE`] and `{PATH}` by
/// [`BrowserRelay::PATH`]. Its span holds only what the relay accepts
/// (`src/page_span.rs`).
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>relay example</title>
<body data-service="{SERVICE}" data-relay="{PATH}">
<p><button type="button">Click</button></p>
<p><output>Each click is one span in Zipkin, service "browser".</output></p>
<script>
// Lowercase hex ids: a random UUID's digits (its 13th is always "4", so
// neither id is ever all zeros, Zipkin's "no id").
const hexId = (digits) => crypto.randomUUID().replaceAll("-", "").slice(0, digits);
// Epoch microseconds of a performance.now() reading.
const micros = (now) => (performance.timeOrigin + now) * 1000;

const button = document.querySelector("button");
const output = document.querySelector("output");

button.addEventListener("click", async () => {
  button.disabled = true;
  // The click's call: GET / again, timed.
  const started = performance.now();
  let status = 0;
  try {
    status = (await fetch("/", { cache: "no-store" })).status;
  } catch (_) {
    // No answer: the span has no status code.
  }
  const ended = performance.now();
  const timestamp = Math.floor(micros(started));
  const tags = { "http.request.method": "GET", "url.path": "/" };
  if (status) tags["http.response.status_code"] = String(status);
  const span = {
    traceId: hexId(32),
    id: hexId(16),
    kind: "CLIENT",
    name: "click",
    timestamp,
    duration: Math.max(1, Math.ceil(micros(ended)) - timestamp),
    localEndpoint: { serviceName: "browser" },
    remoteEndpoint: { serviceName: document.body.dataset.service },
    tags,
  };
  // The report, to the service that served this page.
  try {
    const answer = await fetch(document.body.dataset.relay, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify([span]),
    });
    const said = answer.ok
      ? `trace ${span.traceId}`
      : await answer.json().then((body) => body.error, () => answer.statusText);
    output.textContent = `The relay answered ${answer.status}: ${said}`;
  } catch (error) {
    output.textContent = `The relay could not be reached: ${error}`;
  }
  button.disabled = false;
});
</script>
</body>
</html>
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let zipkin: reqwest::Url = std::env::var("ZIPKIN")
        .unwrap_or_else(|_| "http://localhost:9411/api/v2/spans".into())
        .parse()?;
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "8080".into())
        .parse()?;

    let page: Arc<str> = PAGE
        .replace("{SERVICE}", SERVICE)
        .replace("{PATH}", BrowserRelay::PATH)
        .into();
    let relay = BrowserRelay::new(SERVICE, Some(zipkin.clone()))?;
    let app = Router::new()
        .route("/", get(serve_page))
        .with_state(page)
        .merge(relay.router());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "http://{}/ (the page's spans go to {zipkin})",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn serve_page(State(page): State<Arc<str>>) -> Html<String> {
    Html(page.to_string())
}
