//! A person's click on api_01's page, for `ci/compose-e2e.sh`: opens the
//! page of the compose stack's api_01 in a headless Chromium, clicks "Plain
//! request", waits until the row says the page's own span was sent, and
//! prints the click's trace id. The script then asks the real Zipkin for
//! that trace (10 spans, 4 services, rooted at the page's span).
//!
//!     compose_click API_01_URL ZIPKIN_URL
//!     compose_click http://localhost:5001 http://localhost:9411
//!
//! The page's trace links lead to ZIPKIN_URL's UI (`<ZIPKIN_URL>/zipkin`,
//! the services' default `ZIPKIN_UI_URL`), which the row's link is checked
//! against. Every wait is for a condition, with a deadline; a failure
//! leaves a screenshot, the console log and the DOM in
//! `target/browser-artifacts/compose_click/`.

use e2e::{
    browser::{DESKTOP, in_browser},
    page::{click, newest_reported},
};

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [api_01, zipkin] = args.as_slice() else {
        return Err("usage: compose_click API_01_URL ZIPKIN_URL".into());
    };
    let page_url = api_01.trim_end_matches('/').to_owned();
    let zipkin_ui = format!("{}/zipkin", zipkin.trim_end_matches('/'));
    let trace_id = in_browser("compose_click", DESKTOP, |tab| async move {
        tab.open(&page_url).await;
        let row = click(&tab, "plain").await;
        assert_eq!(
            (
                row.scenario.as_str(),
                row.status.as_str(),
                row.outcome.as_str()
            ),
            ("Plain request", "200", "ok"),
            "{row:?}"
        );
        // The page sends its own span (through api_01) after the answer:
        // the row says when it went.
        let row = newest_reported(&tab).await;
        assert_eq!(row.report.as_deref(), Some("sent"), "{row:?}");
        row.trace_id(&zipkin_ui)
    })
    .await;
    println!("{trace_id}");
    Ok(())
}
