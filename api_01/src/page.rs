//! api_01's page for a browser: buttons that send the demo's requests, a
//! row for each answer with its trace link, and a link to Zipkin's
//! dependency graph (`page/index.html`, `page.css`, `page.js`: plain files,
//! no build step, nothing loaded from the internet).
//!
//! Which answer `GET /` gets depends on the first media range of `Accept`:
//! `text/html` (what a browser sends when it opens a page) gets the page;
//! anything else, no `Accept` and curl's `*/*` included, gets the JSON
//! answer as before. A request with a query (`/?fail=api_03`) is a request
//! for a trace, and gets the JSON from a browser too. Both answers say
//! `Vary: Accept`, so no cache hands one to a client that asked for the
//! other.
//!
//! The page is answered in front of tracing ([`demo::Front`]): loading it
//! makes no span and no call downstream, so page loads do not fill Zipkin
//! with one-span traces.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::Response,
};
use browser_relay::BrowserRelay;
use demo::{Front, MAX_DELAY_MS, Settings};
use serde_json::json;

const TEMPLATE: &str = include_str!("page/index.html");
const STYLE: &str = include_str!("page/page.css");
const SCRIPT: &str = include_str!("page/page.js");

/// How far past the callee timeout the "hanging callee" button asks api_03
/// to wait: far enough that its callers give up first, whatever the load.
const HANG_MARGIN_MS: u64 = 1_000;

/// What the page allows itself: its own inline style, script and icon, and
/// calls to api_01; nothing from anywhere else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// A slot of the template that has no value: a mistake in this file,
/// caught by its tests.
#[derive(Debug, thiserror::Error)]
#[error("the page template has a slot with no value: {{{{{0}}}}}")]
pub struct UnknownSlot(String);

/// The page, rendered once at start-up with this service's settings.
#[derive(Clone, Debug)]
pub struct Page {
    html: axum::body::Bytes,
}

impl Page {
    /// Renders the page: the Zipkin UI to link to, and the delays its
    /// buttons ask for, follow `ZIPKIN_UI_URL` and `DOWNSTREAM_TIMEOUT_MS`.
    pub fn new(settings: &Settings) -> Result<Self, UnknownSlot> {
        let timeout_ms = settings.downstream_timeout.as_millis() as u64;
        let hang_delay_ms = hang_delay_ms(timeout_ms);
        let hang_note = match hang_delay_ms {
            Some(delay) => format!(
                "api_03 waits {delay} ms; its callers give up after {timeout_ms} ms \
                 (DOWNSTREAM_TIMEOUT_MS), and api_01 answers 504."
            ),
            None => format!(
                "Off: DOWNSTREAM_TIMEOUT_MS is {timeout_ms} ms, and no delay may be longer \
                 than {MAX_DELAY_MS} ms, so no callee can be made to wait past it."
            ),
        };
        let config = json!({
            "zipkinUiUrl": settings.zipkin_ui_url,
            "downstreamTimeoutMs": timeout_ms,
            "hangDelayMs": hang_delay_ms,
            "maxDelayMs": MAX_DELAY_MS,
            // The page's span names this service as the one it called,
            // and goes through its relay (browser_relay).
            "serviceName": settings.service_name(),
            "relayPath": BrowserRelay::PATH,
        });
        let html = fill(
            TEMPLATE,
            &[
                ("style", STYLE.to_owned()),
                ("script", SCRIPT.to_owned()),
                ("config", json_for_script(&config.to_string())),
                ("zipkin_ui_url", escape_html(&settings.zipkin_ui_url)),
                ("max_delay_ms", MAX_DELAY_MS.to_string()),
                ("hang_note", escape_html(&hang_note)),
            ],
        )?;
        Ok(Self { html: html.into() })
    }

    /// The page as a [`Front`]: it answers a browser's `GET /`, and lets
    /// every other request through.
    pub fn front(self) -> Front {
        Front::new(move |request| wants_page(request).then(|| self.answer()))
    }

    fn answer(&self) -> Response {
        let mut response = Response::new(Body::from(self.html.clone()));
        let headers = response.headers_mut();
        let fixed = HeaderValue::from_static;
        headers.insert(header::CONTENT_TYPE, fixed("text/html; charset=utf-8"));
        headers.insert(header::VARY, fixed("Accept"));
        headers.insert(header::CACHE_CONTROL, fixed("no-cache"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            fixed(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, fixed("nosniff"));
        *response.status_mut() = StatusCode::OK;
        response
    }
}

/// The delay that makes api_03 hang past its callers' timeout, or `None`
/// when the timeout is at least the longest delay a request may ask for.
fn hang_delay_ms(timeout_ms: u64) -> Option<u64> {
    let delay = (timeout_ms + HANG_MARGIN_MS).min(MAX_DELAY_MS);
    (delay > timeout_ms).then_some(delay)
}

/// Whether `request` is a browser opening `/`: a `GET` (or `HEAD`) of `/`
/// with no query, whose first `Accept` media range is `text/html`.
pub fn wants_page(request: &Request) -> bool {
    let method = request.method();
    (method == Method::GET || method == Method::HEAD)
        && request.uri().path() == "/"
        && request.uri().query().is_none_or(str::is_empty)
        && first_media_range(request.headers())
            .is_some_and(|range| range.eq_ignore_ascii_case("text/html"))
}

/// The first media range of the first `Accept` header, without its
/// parameters (`text/html` of `text/html;q=0.9, */*`).
fn first_media_range(headers: &HeaderMap) -> Option<&str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    let first = accept.split(',').next()?;
    Some(first.split(';').next()?.trim())
}

/// Puts each value into its `{{name}}` slot, in one pass: a value is never
/// read as a template itself.
fn fill(template: &str, values: &[(&str, String)]) -> Result<String, UnknownSlot> {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| UnknownSlot(after.chars().take(20).collect()))?;
        let name = &after[..end];
        let (_, value) = values
            .iter()
            .find(|(slot, _)| *slot == name)
            .ok_or_else(|| UnknownSlot(name.to_owned()))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Text or an attribute value, safe inside HTML.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script>` element: no `<`, `>` or `&` can end the
/// element or start a comment there, and `JSON.parse` reads the escapes
/// back as the same characters.
fn json_for_script(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn request(method: Method, uri: &str, accept: Option<&str>) -> Request {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(accept) = accept {
            builder = builder.header(header::ACCEPT, accept);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        };
        Settings::read(&telemetry::env::Env::from_lookup(lookup), "api_01", 5001).unwrap()
    }

    const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    #[test]
    fn only_a_first_range_of_text_html_gets_the_page() {
        for accept in [BROWSER, "text/html", "TEXT/HTML; q=1", " text/html , */*"] {
            assert!(
                wants_page(&request(Method::GET, "/", Some(accept))),
                "{accept}"
            );
        }
        for accept in [
            None,
            Some("*/*"),
            Some("application/json"),
            Some("application/json, text/html"),
            Some("*/*, text/html"),
            Some("text/*"),
            Some("text/htmlx"),
            Some(""),
        ] {
            assert!(
                !wants_page(&request(Method::GET, "/", accept)),
                "{accept:?}"
            );
        }
    }

    #[test]
    fn only_a_plain_get_of_the_root_gets_the_page() {
        assert!(wants_page(&request(Method::HEAD, "/", Some(BROWSER))));
        assert!(wants_page(&request(Method::GET, "/?", Some(BROWSER))));
        for (method, uri) in [
            (Method::POST, "/"),
            (Method::GET, "/health"),
            (Method::GET, "/index.html"),
            (Method::GET, "/?fail=api_03"),
        ] {
            assert!(
                !wants_page(&request(method.clone(), uri, Some(BROWSER))),
                "{method} {uri}"
            );
        }
    }

    #[test]
    fn an_accept_that_is_not_text_is_json_not_a_panic() {
        let mut request = request(Method::GET, "/", None);
        request.headers_mut().insert(
            header::ACCEPT,
            HeaderValue::from_bytes(b"text/html\xff").unwrap(),
        );
        assert!(!wants_page(&request));
    }

    #[test]
    fn the_page_renders_every_slot() {
        let page = Page::new(&settings(&[])).unwrap();
        let html = std::str::from_utf8(&page.html).unwrap();
        assert!(!html.contains("{{"), "an unfilled slot");
        assert!(html.contains(r#"href="http://localhost:9411/zipkin/dependency""#));
        assert!(html.contains(r#""hangDelayMs":3000"#), "2000 ms + 1000 ms");
        // The style and the script end only where the template ends them.
        assert!(!STYLE.to_ascii_lowercase().contains("</style"));
        assert!(!SCRIPT.to_ascii_lowercase().contains("</script"));
    }

    #[test]
    fn settings_are_escaped_where_they_go() {
        let hostile = "http://x/\"><script>alert(1)</script>&";
        let page = Page::new(&settings(&[("ZIPKIN_UI_URL", hostile)])).unwrap();
        let html = std::str::from_utf8(&page.html).unwrap();
        assert_eq!(
            html.matches("<script").count(),
            2,
            "only the page's own two"
        );
        assert!(html.contains("http://x/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;"));
        assert!(html.contains(r#""zipkinUiUrl":"http://x/\"\u003e\u003cscript\u003ealert(1)\u003c/script\u003e\u0026""#));
    }

    #[test]
    fn the_hanging_callee_waits_past_the_timeout_or_is_off() {
        assert_eq!(hang_delay_ms(2_000), Some(3_000));
        assert_eq!(hang_delay_ms(500), Some(1_500));
        assert_eq!(hang_delay_ms(9_500), Some(10_000));
        assert_eq!(hang_delay_ms(10_000), None);
        assert_eq!(hang_delay_ms(30_000), None);
        let off = settings(&[("DOWNSTREAM_TIMEOUT_MS", "10000")]);
        assert_eq!(off.downstream_timeout, Duration::from_secs(10));
        let html = Page::new(&off).unwrap().html;
        assert!(
            std::str::from_utf8(&html)
                .unwrap()
                .contains(r#""hangDelayMs":null"#)
        );
    }

    #[test]
    fn a_slot_without_a_value_is_an_error() {
        assert_eq!(
            fill("a {{x}} b", &[("x", "{{y}}".into())]).unwrap(),
            "a {{y}} b"
        );
        assert!(fill("a {{y}} b", &[("x", String::new())]).is_err());
        assert!(fill("a {{y b", &[]).is_err());
    }

    #[test]
    fn the_answer_is_html_that_varies_on_accept() {
        let page = Page::new(&settings(&[])).unwrap();
        let response = page.answer();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::VARY], "Accept");
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
    }
}
